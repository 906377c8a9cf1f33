//! A bot's settings: how long a conversation may idle before it is finalised, where its users'
//! phone numbers are local, the zone their dates are said in, how long its conversations are
//! kept and what is masked in their text.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::FieldError;
use crate::extract::Context;
use crate::message::MAX_ID_CHARS;
use crate::redact::{RedactRule, Redactor};

pub const DEFAULT_INACTIVITY_SECONDS: u32 = 600;
const MIN_INACTIVITY_SECONDS: u32 = 60;
const MAX_INACTIVITY_SECONDS: u32 = 7 * 24 * 3600;
/// Retention is at least a day and at most a hundred years.
const MIN_RETENTION_DAYS: u32 = 1;
const MAX_RETENTION_DAYS: u32 = 36_500;
const DAY_MS: i64 = 24 * 3600 * 1000;

/// As posted in `PUT /v1/bots/{bot_id}/settings` and stored with the bot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BotSettings {
    /// Idle time after which a conversation is finalised.
    #[serde(default = "default_inactivity")]
    #[schema(minimum = 60, maximum = 604800, default = 600)]
    pub inactivity_timeout_seconds: u32,
    /// ISO 3166 region (`US`, `PL`) a phone number without a country code belongs to.
    #[serde(default)]
    pub phone_region: Option<String>,
    /// IANA zone in which "tomorrow at 5" is understood; UTC when unset.
    #[serde(default)]
    pub timezone: Option<String>,
    /// Conversations whose last message is older than this many days are deleted (as by
    /// `DELETE`); kept forever when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 36500)]
    pub retention_days: Option<u32>,
    /// What is masked in message text before it is stored: any of `email`, `phone`, `card`,
    /// `iban`, and `{"pattern", "mask"}` objects (see docs/extraction.md).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub redact: Vec<RedactRule>,
    /// Step ids that mean the conversation reached what the bot wanted (`confirm`,
    /// `order_placed`): a conversation with a message at one of them is *completed*. Applies to
    /// messages stored from the time it is set on (see docs/api.md#goals).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(max_items = 50)]
    pub goal_steps: Vec<String>,
}

fn default_inactivity() -> u32 {
    DEFAULT_INACTIVITY_SECONDS
}

impl Default for BotSettings {
    fn default() -> Self {
        BotSettings {
            inactivity_timeout_seconds: DEFAULT_INACTIVITY_SECONDS,
            phone_region: None,
            timezone: None,
            retention_days: None,
            redact: vec![],
            goal_steps: vec![],
        }
    }
}

impl BotSettings {
    /// Checks every field; the region is upper-cased.
    pub fn validate(mut self) -> Result<BotSettings, FieldError> {
        let t = self.inactivity_timeout_seconds;
        if !(MIN_INACTIVITY_SECONDS..=MAX_INACTIVITY_SECONDS).contains(&t) {
            return Err(FieldError::new(
                "inactivity_timeout_seconds",
                format!("must be between {MIN_INACTIVITY_SECONDS} and {MAX_INACTIVITY_SECONDS}"),
            ));
        }
        if let Some(days) = self.retention_days
            && !(MIN_RETENTION_DAYS..=MAX_RETENTION_DAYS).contains(&days)
        {
            return Err(FieldError::new(
                "retention_days",
                format!("must be between {MIN_RETENTION_DAYS} and {MAX_RETENTION_DAYS}"),
            ));
        }
        self.phone_region = self.phone_region.map(|r| r.to_ascii_uppercase());
        self.context()?;
        crate::redact::validate(&self.redact, "redact")?;
        validate_goals(&self.goal_steps)?;
        Ok(self)
    }

    /// How long conversations are kept, if not forever.
    pub fn retention_ms(&self) -> Option<i64> {
        self.retention_days.map(|d| i64::from(d) * DAY_MS)
    }

    /// The compiled `redact` rules; `None` when nothing is masked (or the stored rules no longer
    /// compile, which validation prevents).
    pub fn redactor(&self) -> Option<Redactor> {
        Redactor::new(&self.redact, self.context().ok()?).ok().flatten()
    }

    /// What extraction needs from these settings.
    pub fn context(&self) -> Result<Context, FieldError> {
        Context::new(self.phone_region.as_deref(), self.timezone.as_deref())
    }

    pub fn inactivity_ms(&self) -> i64 {
        i64::from(self.inactivity_timeout_seconds) * 1000
    }

    /// Whether a message at this step completes a conversation.
    pub fn is_goal(&self, step_id: &str) -> bool {
        self.goal_steps.iter().any(|g| g == step_id)
    }
}

/// At most this many goal steps.
const MAX_GOAL_STEPS: usize = 50;

/// Goal steps are step ids: non-empty, at most [`MAX_ID_CHARS`] characters, each named once.
fn validate_goals(goals: &[String]) -> Result<(), FieldError> {
    if goals.len() > MAX_GOAL_STEPS {
        return Err(FieldError::new("goal_steps", format!("at most {MAX_GOAL_STEPS} steps")));
    }
    for (i, g) in goals.iter().enumerate() {
        let field = format!("goal_steps[{i}]");
        if g.trim().is_empty() {
            return Err(FieldError::new(field, "must be a non-empty step id"));
        }
        if g.chars().count() > MAX_ID_CHARS {
            return Err(FieldError::new(field, format!("at most {MAX_ID_CHARS} characters")));
        }
        if goals[..i].contains(g) {
            return Err(FieldError::new(field, format!("`{g}` is named twice")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_checked() {
        let ok: BotSettings =
            serde_json::from_str(r#"{"phone_region": "pl", "timezone": "Europe/Warsaw"}"#).unwrap();
        let ok = ok.validate().unwrap();
        assert_eq!(ok.phone_region.as_deref(), Some("PL"));
        assert_eq!(ok.inactivity_timeout_seconds, 600);
        assert_eq!(ok.retention_ms(), None);
        assert!(ok.redactor().is_none());
        let kept: BotSettings =
            serde_json::from_str(r#"{"retention_days": 30, "redact": ["iban"]}"#).unwrap();
        let kept = kept.validate().unwrap();
        assert_eq!(kept.retention_ms(), Some(30 * DAY_MS));
        assert!(kept.redactor().is_some());
        let goals: BotSettings =
            serde_json::from_str(r#"{"goal_steps": ["confirm", "order_placed"]}"#).unwrap();
        let goals = goals.validate().unwrap();
        assert!(goals.is_goal("order_placed") && !goals.is_goal("ask_name"));
        let long = format!(r#"{{"goal_steps": ["{}"]}}"#, "s".repeat(MAX_ID_CHARS + 1));
        let long: BotSettings = serde_json::from_str(&long).unwrap();
        assert_eq!(long.validate().unwrap_err().field, "goal_steps[0]");
        // Unset settings are not written out, so stored settings read back the same.
        assert_eq!(
            serde_json::to_string(&BotSettings::default()).unwrap(),
            r#"{"inactivity_timeout_seconds":600,"phone_region":null,"timezone":null}"#
        );
        for (json, field) in [
            (r#"{"inactivity_timeout_seconds": 5}"#, "inactivity_timeout_seconds"),
            (r#"{"phone_region": "XX"}"#, "phone_region"),
            (r#"{"timezone": "Mars/Base"}"#, "timezone"),
            (r#"{"retention_days": 0}"#, "retention_days"),
            (r#"{"retention_days": 36501}"#, "retention_days"),
            (
                r#"{"redact": ["email", "card", {"pattern": "ORD-(", "mask": "order"}]}"#,
                "redact[2].pattern",
            ),
            (r#"{"goal_steps": ["confirm", ""]}"#, "goal_steps[1]"),
            (r#"{"goal_steps": ["confirm", "confirm"]}"#, "goal_steps[1]"),
        ] {
            let s: BotSettings = serde_json::from_str(json).unwrap();
            assert_eq!(s.validate().unwrap_err().field, field, "{json}");
        }
    }
}
