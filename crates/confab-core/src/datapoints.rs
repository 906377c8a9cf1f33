//! A bot's datapoint schema: which facts it collects from users (name, email, booking date…),
//! their types, and the questions by which the bot asks for them. Parsed and checked at the
//! edge, so that extraction only ever sees a valid schema. (Issue 4: extraction, the finaliser
//! and the API build on this.)

use std::collections::{BTreeMap, HashSet};

use regex::{Regex, RegexBuilder};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::FieldError;

pub const MAX_DEFINITIONS: usize = 100;
pub const MAX_KEY_CHARS: usize = 100;
pub const MAX_QUESTIONS: usize = 20;
pub const MAX_QUESTION_CHARS: usize = 200;
pub const MAX_CHOICES: usize = 100;
/// Compiled-size limit for a `regex` type's pattern or a question pattern: a schema is posted
/// by a bot owner but runs on every message, so a pathological pattern must be refused.
const REGEX_SIZE_LIMIT: usize = 256 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Text,
    Email,
    Phone,
    Number,
    Money,
    Date,
    Time,
    Datetime,
    Url,
    Name,
    Choice,
    Regex,
}

impl Kind {
    /// Every type, in the order of their discriminants (`kind as usize` indexes it).
    pub const ALL: [Kind; 12] = [
        Kind::Text,
        Kind::Email,
        Kind::Phone,
        Kind::Number,
        Kind::Money,
        Kind::Date,
        Kind::Time,
        Kind::Datetime,
        Kind::Url,
        Kind::Name,
        Kind::Choice,
        Kind::Regex,
    ];

    /// The type's name as a schema spells it.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Text => "text",
            Kind::Email => "email",
            Kind::Phone => "phone",
            Kind::Number => "number",
            Kind::Money => "money",
            Kind::Date => "date",
            Kind::Time => "time",
            Kind::Datetime => "datetime",
            Kind::Url => "url",
            Kind::Name => "name",
            Kind::Choice => "choice",
            Kind::Regex => "regex",
        }
    }

    const NAMES: &'static str =
        "text, email, phone, number, money, date, time, datetime, url, name, choice, regex";
}

/// One datapoint as posted in `PUT /v1/bots/{bot_id}/datapoints/schema`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DefinitionInput {
    /// Unique within the schema.
    #[schema(min_length = 1, max_length = 100)]
    pub key: String,
    #[serde(rename = "type")]
    #[schema(
        pattern = "^(text|email|phone|number|money|date|time|datetime|url|name|choice|regex)$"
    )]
    pub kind: String,
    /// Allowed values of a `choice`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<String>>,
    /// The pattern a `regex` value must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// How the bot asks for it: phrases (matched case-insensitively within the bot's message)
    /// or `/patterns/`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub questions: Vec<String>,
    #[serde(default)]
    pub required: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SchemaInput {
    #[schema(max_items = 100)]
    pub datapoints: Vec<DefinitionInput>,
}

/// A question the bot asks: a phrase or a pattern, both case-insensitive.
#[derive(Debug, Clone)]
pub enum Question {
    Phrase(String),
    Pattern(Regex),
}

impl Question {
    /// Whether the bot's message asks this question.
    pub fn asked_in(&self, text: &str) -> bool {
        self.asked_in_lowered(text, &text.to_lowercase())
    }

    /// [`Question::asked_in`], given the message lower-cased as well (for phrases), so that
    /// one lower-casing serves every question of a schema.
    pub fn asked_in_lowered(&self, text: &str, lower: &str) -> bool {
        match self {
            Question::Phrase(p) => lower.contains(p.as_str()),
            Question::Pattern(r) => r.is_match(text),
        }
    }
}

/// A checked definition.
#[derive(Debug, Clone)]
pub struct Definition {
    pub key: String,
    pub kind: Kind,
    pub values: Vec<String>,
    pub pattern: Option<Regex>,
    pub questions: Vec<Question>,
    pub required: bool,
    /// The stemmed words by which running text names this key rather than another of the
    /// schema (extraction's cues; see `extract::slots`).
    pub cues: Vec<String>,
}

/// A checked schema, with the input it came from (what `GET` returns).
#[derive(Debug, Clone)]
pub struct Schema {
    pub definitions: Vec<Definition>,
    pub input: SchemaInput,
}

fn compile(field: &str, pattern: &str) -> Result<Regex, FieldError> {
    RegexBuilder::new(pattern)
        .case_insensitive(true)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| FieldError::new(field, format!("is not a valid pattern: {e}")))
}

fn check_text(field: &str, s: &str, max: usize) -> Result<(), FieldError> {
    let trimmed = s.trim();
    if trimmed.is_empty() {
        return Err(FieldError::new(field, "must not be empty"));
    }
    if s.chars().count() > max {
        return Err(FieldError::new(field, format!("must be at most {max} characters")));
    }
    if s.chars().any(char::is_control) {
        return Err(FieldError::new(field, "must not contain control characters"));
    }
    Ok(())
}

impl SchemaInput {
    /// Checks every definition; errors name the field as `datapoints[i].field`.
    pub fn validate(self) -> Result<Schema, FieldError> {
        if self.datapoints.len() > MAX_DEFINITIONS {
            return Err(FieldError::new(
                "datapoints",
                format!("must have at most {MAX_DEFINITIONS} definitions"),
            ));
        }
        let mut keys = HashSet::new();
        let mut definitions = Vec::with_capacity(self.datapoints.len());
        for (i, d) in self.datapoints.iter().enumerate() {
            let f = |name: &str| format!("datapoints[{i}].{name}");
            check_text(&f("key"), &d.key, MAX_KEY_CHARS)?;
            if !keys.insert(d.key.to_lowercase()) {
                return Err(FieldError::new(f("key"), format!("`{}` is defined twice", d.key)));
            }
            let kind: Kind = serde_json::from_value(serde_json::Value::from(d.kind.as_str()))
                .map_err(|_| {
                    FieldError::new(
                        f("type"),
                        format!("unknown type `{}`: use one of {}", d.kind, Kind::NAMES),
                    )
                })?;
            let values = match (kind, &d.values) {
                (Kind::Choice, Some(values)) if !values.is_empty() => {
                    if values.len() > MAX_CHOICES {
                        return Err(FieldError::new(
                            f("values"),
                            format!("must have at most {MAX_CHOICES} values"),
                        ));
                    }
                    let mut seen = HashSet::new();
                    for (j, v) in values.iter().enumerate() {
                        check_text(&format!("datapoints[{i}].values[{j}]"), v, MAX_KEY_CHARS)?;
                        if !seen.insert(v.to_lowercase()) {
                            return Err(FieldError::new(
                                format!("datapoints[{i}].values[{j}]"),
                                format!("`{v}` is listed twice"),
                            ));
                        }
                    }
                    values.clone()
                }
                (Kind::Choice, _) => {
                    return Err(FieldError::new(f("values"), "a choice needs a list of values"));
                }
                (_, Some(_)) => {
                    return Err(FieldError::new(f("values"), "applies to type choice only"));
                }
                (_, None) => vec![],
            };
            let pattern = match (kind, &d.pattern) {
                (Kind::Regex, Some(p)) if !p.is_empty() => Some(compile(&f("pattern"), p)?),
                (Kind::Regex, _) => {
                    return Err(FieldError::new(f("pattern"), "a regex needs a pattern"));
                }
                (_, Some(_)) => {
                    return Err(FieldError::new(f("pattern"), "applies to type regex only"));
                }
                (_, None) => None,
            };
            if d.questions.len() > MAX_QUESTIONS {
                return Err(FieldError::new(
                    f("questions"),
                    format!("must have at most {MAX_QUESTIONS} questions"),
                ));
            }
            let mut questions = Vec::with_capacity(d.questions.len());
            for (j, q) in d.questions.iter().enumerate() {
                let field = format!("datapoints[{i}].questions[{j}]");
                check_text(&field, q, MAX_QUESTION_CHARS)?;
                let q = q.trim();
                questions.push(match q.strip_prefix('/').and_then(|p| p.strip_suffix('/')) {
                    Some(p) if !p.is_empty() => Question::Pattern(compile(&field, p)?),
                    _ => Question::Phrase(q.to_lowercase()),
                });
            }
            definitions.push(Definition {
                key: d.key.clone(),
                kind,
                values,
                pattern,
                questions,
                required: d.required,
                cues: vec![],
            });
        }
        let cues = crate::extract::slots::cues(&definitions);
        for (d, cues) in definitions.iter_mut().zip(cues) {
            d.cues = cues;
        }
        Ok(Schema { definitions, input: self })
    }
}

/// How a value was obtained. Explicit values (posted by the bot) win over extraction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    Explicit,
    Rule,
    Llm,
}

impl Method {
    pub fn code(self) -> i64 {
        self as i64
    }

    pub fn from_code(c: i64) -> Option<Method> {
        [Method::Explicit, Method::Rule, Method::Llm].get(usize::try_from(c).ok()?).copied()
    }
}

/// Why extraction gave a key its value, strongest first: the user agreed to the bot's
/// restatement or offer of it; the user corrected an earlier value; the user answered the bot's
/// question for the key; the user named the key beside the value; two values of a type went to
/// two keys of it in the schema's order; the key is the only one of the value's type.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Evidence {
    OnlyKey,
    Order,
    Mentioned,
    Asked,
    Corrected,
    Confirmed,
}

impl Evidence {
    pub const ALL: [Evidence; 6] = [
        Evidence::OnlyKey,
        Evidence::Order,
        Evidence::Mentioned,
        Evidence::Asked,
        Evidence::Corrected,
        Evidence::Confirmed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Evidence::OnlyKey => "only_key",
            Evidence::Order => "order",
            Evidence::Mentioned => "mentioned",
            Evidence::Asked => "asked",
            Evidence::Corrected => "corrected",
            Evidence::Confirmed => "confirmed",
        }
    }

    /// The small integer the stores keep.
    pub fn code(self) -> i64 {
        self as i64
    }

    pub fn from_code(c: i64) -> Option<Evidence> {
        Evidence::ALL.get(usize::try_from(c).ok()?).copied()
    }
}

/// One key's value in a conversation, with where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Datapoint {
    pub key: String,
    pub value: serde_json::Value,
    pub method: Method,
    /// Why extraction gave the key this value (none for explicit and LLM values).
    pub evidence: Option<Evidence>,
    /// The message it was read from: its client id (if it had one) and time.
    pub message_id: Option<String>,
    pub message_at: Option<crate::time::Millis>,
    pub updated_at: crate::time::Millis,
}

/// A value to store: what the store needs besides the key.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDatapoint {
    pub key: String,
    pub value: serde_json::Value,
    pub method: Method,
    /// Why extraction gave the key this value (none for explicit and LLM values).
    pub evidence: Option<Evidence>,
    /// The message's row id, for extracted values.
    pub message_pk: Option<i64>,
}

/// A conversation's values as the API shows them, by key, where `evidence` is null for explicit
/// and LLM values and `status` is `final` once the conversation has ended.
pub fn values_view(values: &[Datapoint], ended: bool) -> BTreeMap<String, DatapointView> {
    let status = if ended { ValueStatus::Final } else { ValueStatus::Provisional };
    values
        .iter()
        .map(|d| {
            let view = DatapointView {
                value: d.value.clone(),
                method: d.method,
                evidence: d.evidence,
                status,
                message_id: d.message_id.clone(),
                message_at: d.message_at.map(crate::time::format_rfc3339),
                updated_at: crate::time::format_rfc3339(d.updated_at),
            };
            (d.key.clone(), view)
        })
        .collect()
}

/// One key's value.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DatapointView {
    /// In the canonical form of the key's type: E.164 phone, ISO 8601 date, `{amount, currency}`…
    pub value: serde_json::Value,
    pub method: Method,
    pub evidence: Option<Evidence>,
    pub status: ValueStatus,
    /// The message it was read from (its client id), if it had one.
    pub message_id: Option<String>,
    pub message_at: Option<String>,
    pub updated_at: String,
}

/// `provisional` while the conversation goes on, `final` once it has ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ValueStatus {
    Provisional,
    Final,
}

impl Schema {
    pub fn definition(&self, key: &str) -> Option<&Definition> {
        self.definitions.iter().find(|d| d.key == key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: serde_json::Value) -> Result<Schema, FieldError> {
        serde_json::from_value::<SchemaInput>(v).unwrap().validate()
    }

    #[test]
    fn all_kinds_in_discriminant_order() {
        for (i, k) in Kind::ALL.iter().enumerate() {
            assert_eq!(*k as usize, i, "{}", k.name());
        }
    }

    #[test]
    fn a_full_schema_parses() {
        let s = parse(json!({"datapoints": [
            {"key": "Name", "type": "name", "questions": ["what's your name", "/how (should|may) I call you/"], "required": true},
            {"key": "Email", "type": "email"},
            {"key": "Plan", "type": "choice", "values": ["Basic", "Pro"]},
            {"key": "Order number", "type": "regex", "pattern": "^[A-Z]{2}\\d{6}$"},
            {"key": "Booking", "type": "datetime"}
        ]}))
        .unwrap();
        assert_eq!(s.definitions.len(), 5);
        assert_eq!(s.definitions[0].kind, Kind::Name);
        assert!(s.definitions[0].required);
        assert!(s.definitions[0].questions[0].asked_in("Hi! What's your name?"));
        assert!(s.definitions[0].questions[1].asked_in("How may I call you?"));
        assert!(!s.definitions[0].questions[1].asked_in("What's your email?"));
        assert_eq!(s.definitions[2].values, ["Basic", "Pro"]);
        assert!(s.definitions[3].pattern.as_ref().unwrap().is_match("ab123456"));
    }

    #[test]
    fn bad_schemas_name_the_field() {
        let cases = [
            (json!([{"key": "", "type": "text"}]), "datapoints[0].key"),
            (
                json!([{"key": "a", "type": "text"}, {"key": "A", "type": "email"}]),
                "datapoints[1].key",
            ),
            (json!([{"key": "a", "type": "colour"}]), "datapoints[0].type"),
            (json!([{"key": "a", "type": "choice"}]), "datapoints[0].values"),
            (json!([{"key": "a", "type": "choice", "values": []}]), "datapoints[0].values"),
            (
                json!([{"key": "a", "type": "choice", "values": ["x", "X"]}]),
                "datapoints[0].values[1]",
            ),
            (json!([{"key": "a", "type": "text", "values": ["x"]}]), "datapoints[0].values"),
            (json!([{"key": "a", "type": "regex"}]), "datapoints[0].pattern"),
            (
                json!([{"key": "a", "type": "regex", "pattern": "(unclosed"}]),
                "datapoints[0].pattern",
            ),
            (
                json!([{"key": "a", "type": "regex", "pattern": "a{1000}{1000}"}]),
                "datapoints[0].pattern",
            ),
            (json!([{"key": "a", "type": "email", "pattern": "x"}]), "datapoints[0].pattern"),
            (
                json!([{"key": "a", "type": "email", "questions": ["/[/"]}]),
                "datapoints[0].questions[0]",
            ),
            (
                json!([{"key": "a", "type": "email", "questions": ["  "]}]),
                "datapoints[0].questions[0]",
            ),
            (json!([{"key": "a\u{7}", "type": "email"}]), "datapoints[0].key"),
        ];
        for (datapoints, field) in cases {
            let err = parse(json!({ "datapoints": datapoints })).unwrap_err();
            assert_eq!(err.field, field, "{datapoints}");
        }
        let many: Vec<_> = (0..=MAX_DEFINITIONS)
            .map(|i| json!({"key": format!("k{i}"), "type": "text"}))
            .collect();
        assert_eq!(parse(json!({ "datapoints": many })).unwrap_err().field, "datapoints");
    }

    #[test]
    fn values_show_their_evidence_by_name() {
        let value = |key: &str, method, evidence| Datapoint {
            key: key.into(),
            value: json!("x"),
            method,
            evidence,
            message_id: None,
            message_at: None,
            updated_at: 0,
        };
        let shown = serde_json::to_value(values_view(
            &[
                value("a", Method::Rule, Some(Evidence::OnlyKey)),
                value("b", Method::Explicit, None),
            ],
            true,
        ))
        .unwrap();
        assert_eq!(shown["a"]["evidence"], "only_key");
        assert_eq!(shown["b"]["evidence"], serde_json::Value::Null);
        assert!(shown["b"].as_object().unwrap().contains_key("evidence"), "null, not left out");
        for e in Evidence::ALL {
            assert_eq!(json!(e), e.as_str());
            assert_eq!(Evidence::from_code(e.code()), Some(e));
        }
    }

    #[test]
    fn unknown_fields_are_refused() {
        let r = serde_json::from_value::<SchemaInput>(
            json!({"datapoints": [{"key": "a", "type": "text", "colour": "red"}]}),
        );
        assert!(r.is_err());
    }
}
