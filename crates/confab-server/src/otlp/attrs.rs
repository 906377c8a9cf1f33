//! OTLP attribute values as JSON: strings, booleans and numbers as themselves, arrays and
//! key-value lists as arrays and objects, bytes as base64. The mapping reads conventions from
//! these, whichever encoding the exporter used.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use serde_json::Value;

pub fn value(v: &AnyValue) -> Value {
    match &v.value {
        None => Value::Null,
        Some(any_value::Value::StringValue(s)) => Value::String(s.clone()),
        Some(any_value::Value::BoolValue(b)) => Value::Bool(*b),
        Some(any_value::Value::IntValue(i)) => Value::from(*i),
        Some(any_value::Value::DoubleValue(d)) => Value::from(*d),
        Some(any_value::Value::ArrayValue(a)) => Value::Array(a.values.iter().map(value).collect()),
        Some(any_value::Value::KvlistValue(kv)) => Value::Object(
            kv.values.iter().map(|kv| (kv.key.clone(), optional(&kv.value))).collect(),
        ),
        Some(any_value::Value::BytesValue(b)) => Value::String(STANDARD.encode(b)),
        // An index into a profile's string table: profiles only, never a span's.
        Some(any_value::Value::StringValueStrindex(_)) => Value::Null,
    }
}

fn optional(v: &Option<AnyValue>) -> Value {
    v.as_ref().map_or(Value::Null, value)
}

pub fn map(attributes: &[KeyValue]) -> BTreeMap<String, Value> {
    attributes.iter().map(|kv| (kv.key.clone(), optional(&kv.value))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::{ArrayValue, KeyValueList};
    use serde_json::json;

    fn any(v: any_value::Value) -> AnyValue {
        AnyValue { value: Some(v) }
    }

    #[test]
    fn every_kind_of_value() {
        let kv = |k: &str, v| KeyValue { key: k.into(), value: Some(any(v)), ..Default::default() };
        let attrs = [
            kv("s", any_value::Value::StringValue("x".into())),
            kv("b", any_value::Value::BoolValue(true)),
            kv("i", any_value::Value::IntValue(-3)),
            kv("d", any_value::Value::DoubleValue(0.5)),
            kv(
                "a",
                any_value::Value::ArrayValue(ArrayValue {
                    values: vec![any(any_value::Value::IntValue(1)), AnyValue { value: None }],
                }),
            ),
            kv(
                "k",
                any_value::Value::KvlistValue(KeyValueList {
                    values: vec![kv("in", any_value::Value::StringValue("y".into()))],
                }),
            ),
            kv("y", any_value::Value::BytesValue(vec![1, 2])),
        ];
        let got = Value::Object(map(&attrs).into_iter().collect());
        assert_eq!(
            got,
            json!({"s": "x", "b": true, "i": -3, "d": 0.5, "a": [1, null], "k": {"in": "y"}, "y": "AQI="})
        );
    }
}
