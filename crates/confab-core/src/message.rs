//! A message as a bot sends it (`MessageInput`, the wire shape, strict about unknown fields) and
//! as Confab keeps it (`NewMessage`, validated: every limit checked, every field named on error).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::FieldError;
use crate::summary::{DIM_COUNT, Dim};
use crate::time::{self, Millis};

pub const MAX_ID_CHARS: usize = 256;
pub const MAX_CONTENT_BYTES: usize = 64 * 1024;
pub const MAX_METADATA_BYTES: usize = 16 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Bot,
    Agent,
    System,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::User, Role::Bot, Role::Agent, Role::System];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Bot => "bot",
            Role::Agent => "agent",
            Role::System => "system",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// The small integer the stores keep.
    pub fn code(self) -> i64 {
        self as i64
    }

    pub fn from_code(c: i64) -> Option<Role> {
        Role::ALL.get(usize::try_from(c).ok()?).copied()
    }
}

/// The dialogue node the bot was in when the message was said.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Step {
    #[schema(min_length = 1, max_length = 256, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]+$")]
    pub id: String,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    #[schema(min_length = 1, max_length = 256, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]+$")]
    pub kind: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = CampaignInput)]
pub struct Campaign {
    #[serde(default)]
    #[schema(min_length = 1, max_length = 256, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]+$")]
    pub id: Option<String>,
    #[serde(default)]
    #[schema(min_length = 1, max_length = 256, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]+$")]
    pub source: Option<String>,
}

/// One message as posted to `POST /v1/bots/{bot_id}/messages`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageInput {
    /// The bot's id for the conversation; messages with one id make one conversation.
    #[schema(min_length = 1, max_length = 256, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]+$")]
    pub conversation_id: String,
    /// The client's message id: the idempotency key within the conversation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_length = 1, max_length = 256, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]+$")]
    pub id: Option<String>,
    #[schema(pattern = "^(user|bot|agent|system)$")]
    pub role: String,
    /// At most 64 KiB of UTF-8, no NUL characters.
    #[schema(max_length = 65536, pattern = "^[^\\u0000]*$")]
    pub content: String,
    /// RFC 3339 text or epoch milliseconds, from 2000-01-01 to 24 hours after the server's
    /// clock; the server's clock when absent or null.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = timestamp_schema)]
    pub timestamp: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<Step>,
    /// A JSON object of at most 16 KiB; merged into the conversation's metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_length = 1, max_length = 256, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]+$")]
    pub channel_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_length = 1, max_length = 256, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]+$")]
    pub language: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_length = 1, max_length = 256, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]+$")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_length = 1, max_length = 256, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]+$")]
    pub user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign: Option<Campaign>,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    #[schema(min_length = 1, max_length = 256, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]+$")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_length = 1, max_length = 256, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]+$")]
    pub session_id: Option<String>,
}

/// A message's time: RFC 3339 text, epoch milliseconds, or null for the server's clock.
fn timestamp_schema() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, OneOfBuilder, SchemaFormat, Type};
    let format = |f| Some(SchemaFormat::KnownFormat(f));
    OneOfBuilder::new()
        .item(ObjectBuilder::new().schema_type(Type::String).format(format(KnownFormat::DateTime)))
        .item(ObjectBuilder::new().schema_type(Type::Integer).format(format(KnownFormat::Int64)))
        .item(ObjectBuilder::new().schema_type(Type::Null))
        .build()
        .into()
}

/// A validated message, ready for the store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMessage {
    pub conversation_id: String,
    pub client_id: Option<String>,
    pub role: Role,
    pub content: String,
    pub timestamp: Millis,
    pub step: Option<Step>,
    pub metadata: Option<Map<String, Value>>,
    /// Conversation dimensions this message sets, indexed by [`Dim`].
    pub dims: [Option<String>; DIM_COUNT],
}

/// Whether a JSON value holds a NUL character in any string or key.
fn has_nul(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(has_nul),
        Value::Object(m) => m.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        _ => false,
    }
}

/// Checks an identifier-like string: present, at most 256 characters, no control characters.
pub fn check_id(field: &str, s: &str) -> Result<(), FieldError> {
    if s.is_empty() {
        return Err(FieldError::new(field, "must not be empty"));
    }
    if s.chars().count() > MAX_ID_CHARS {
        return Err(FieldError::new(field, format!("must be at most {MAX_ID_CHARS} characters")));
    }
    if s.chars().any(char::is_control) {
        return Err(FieldError::new(field, "must not contain control characters"));
    }
    Ok(())
}

fn opt_id(field: &str, v: Option<String>) -> Result<Option<String>, FieldError> {
    match v {
        Some(s) => check_id(field, &s).map(|()| Some(s)),
        None => Ok(None),
    }
}

impl MessageInput {
    /// Validates every field against Confab's limits; `now` bounds the timestamp.
    pub fn validate(self, now: Millis) -> Result<NewMessage, FieldError> {
        check_id("conversation_id", &self.conversation_id)?;
        let client_id = opt_id("id", self.id)?;
        let role = Role::parse(&self.role).ok_or_else(|| {
            FieldError::new(
                "role",
                format!("unknown role `{}`: use user, bot, agent or system", self.role),
            )
        })?;
        if self.content.len() > MAX_CONTENT_BYTES {
            return Err(FieldError::new("content", "must be at most 64 KiB"));
        }
        // No database text type takes NUL everywhere (PostgreSQL refuses it), so no store does.
        if self.content.contains('\0') {
            return Err(FieldError::new("content", "must not contain NUL characters"));
        }
        let timestamp = match &self.timestamp {
            None | Some(Value::Null) => now,
            Some(v) => {
                time::check_window("timestamp", time::parse_json_timestamp("timestamp", v)?, now)?
            }
        };
        let step = match self.step {
            Some(s) => {
                check_id("step.id", &s.id)?;
                if let Some(k) = &s.kind {
                    check_id("step.type", k)?;
                }
                Some(s)
            }
            None => None,
        };
        let metadata = match self.metadata {
            None | Some(Value::Null) => None,
            Some(Value::Object(m)) => {
                let size = serde_json::to_vec(&m).map(|v| v.len()).unwrap_or(usize::MAX);
                if size > MAX_METADATA_BYTES {
                    return Err(FieldError::new("metadata", "must be at most 16 KiB as JSON"));
                }
                if m.iter().any(|(k, v)| k.contains('\0') || has_nul(v)) {
                    return Err(FieldError::new("metadata", "must not contain NUL characters"));
                }
                Some(m)
            }
            Some(_) => return Err(FieldError::new("metadata", "must be a JSON object")),
        };
        let campaign = self.campaign.unwrap_or_default();
        let mut dims: [Option<String>; DIM_COUNT] = Default::default();
        for (dim, value) in [
            (Dim::ChannelType, self.channel_type),
            (Dim::Language, self.language),
            (Dim::Version, self.version),
            (Dim::UserId, self.user_id),
            (Dim::CampaignId, campaign.id),
            (Dim::CampaignSource, campaign.source),
            (Dim::Type, self.kind),
            (Dim::SessionId, self.session_id),
        ] {
            dims[dim as usize] = opt_id(dim.field(), value)?;
        }
        Ok(NewMessage {
            conversation_id: self.conversation_id,
            client_id,
            role,
            content: self.content,
            timestamp,
            step,
            metadata,
            dims,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn input(v: Value) -> Result<NewMessage, FieldError> {
        let now = time::parse_rfc3339("now", "2026-01-01T00:00:00Z").unwrap();
        serde_json::from_value::<MessageInput>(v).unwrap().validate(now)
    }

    #[test]
    fn valid_message_keeps_everything() {
        let m = input(json!({
            "conversation_id": "c1", "id": "m1", "role": "user", "content": "hi",
            "timestamp": "2025-12-31T23:00:00Z", "step": {"id": "greet", "type": "message"},
            "metadata": {"handled": true}, "channel_type": "web", "campaign": {"id": "x", "source": "ads"}
        }))
        .unwrap();
        assert_eq!(m.role, Role::User);
        assert_eq!(m.dims[Dim::ChannelType as usize].as_deref(), Some("web"));
        assert_eq!(m.dims[Dim::CampaignSource as usize].as_deref(), Some("ads"));
        assert_eq!(m.step.unwrap().kind.as_deref(), Some("message"));
    }

    #[test]
    fn each_limit_names_its_field() {
        let base = json!({"conversation_id": "c", "role": "user", "content": "x"});
        let with = |k: &str, v: Value| {
            let mut b = base.clone();
            b[k] = v;
            input(b).unwrap_err().field
        };
        assert_eq!(with("role", json!("robot")), "role");
        assert_eq!(with("conversation_id", json!("a".repeat(257))), "conversation_id");
        assert_eq!(with("conversation_id", json!("")), "conversation_id");
        assert_eq!(with("id", json!("a".repeat(257))), "id");
        assert_eq!(with("content", json!("a".repeat(64 * 1024 + 1))), "content");
        assert_eq!(with("content", json!("nul \u{0} inside")), "content");
        assert_eq!(with("metadata", json!({"note": ["deep", {"x": "a\u{0}b"}]})), "metadata");
        assert_eq!(with("metadata", json!({"k\u{0}": 1})), "metadata");
        assert_eq!(with("metadata", json!({"k": "a".repeat(16 * 1024)})), "metadata");
        assert_eq!(with("metadata", json!([1])), "metadata");
        assert_eq!(with("timestamp", json!("1999-12-31T23:59:59Z")), "timestamp");
        assert_eq!(with("timestamp", json!("2026-01-02T00:00:01Z")), "timestamp");
        assert_eq!(with("user_id", json!("u\u{0}")), "user_id");
        assert!(
            input(
                json!({"conversation_id": "c", "role": "user", "content": "a".repeat(64 * 1024)})
            )
            .is_ok()
        );
    }

    #[test]
    fn unknown_fields_are_rejected_by_name() {
        let err = serde_json::from_value::<MessageInput>(
            json!({"conversation_id": "c", "role": "user", "content": "x", "colour": 1}),
        )
        .unwrap_err();
        assert!(err.to_string().contains("colour"), "{err}");
    }

    #[test]
    fn missing_timestamp_is_now() {
        let m = input(json!({"conversation_id": "c", "role": "bot", "content": ""})).unwrap();
        assert_eq!(m.timestamp, time::parse_rfc3339("now", "2026-01-01T00:00:00Z").unwrap());
    }
}
