//! A bot's settings: how long a conversation may idle before it is finalised, where its users'
//! phone numbers are local, and the zone their dates are said in.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::FieldError;
use crate::extract::Context;

pub const DEFAULT_INACTIVITY_SECONDS: u32 = 600;
const MIN_INACTIVITY_SECONDS: u32 = 60;
const MAX_INACTIVITY_SECONDS: u32 = 7 * 24 * 3600;

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
        self.phone_region = self.phone_region.map(|r| r.to_ascii_uppercase());
        self.context()?;
        Ok(self)
    }

    /// What extraction needs from these settings.
    pub fn context(&self) -> Result<Context, FieldError> {
        Context::new(self.phone_region.as_deref(), self.timezone.as_deref())
    }

    pub fn inactivity_ms(&self) -> i64 {
        i64::from(self.inactivity_timeout_seconds) * 1000
    }
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
        for (json, field) in [
            (r#"{"inactivity_timeout_seconds": 5}"#, "inactivity_timeout_seconds"),
            (r#"{"phone_region": "XX"}"#, "phone_region"),
            (r#"{"timezone": "Mars/Base"}"#, "timezone"),
        ] {
            let s: BotSettings = serde_json::from_str(json).unwrap();
            assert_eq!(s.validate().unwrap_err().field, field, "{json}");
        }
    }
}
