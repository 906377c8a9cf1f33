//! Webhook subscriptions and deliveries: which events a bot's subscribers get, how a delivery is
//! signed, and when a failed one is tried again. Sending is the server's job; the outbox that
//! makes delivery survive a restart is the store's.

use hmac::{Hmac, Mac};
use rand::Rng;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::FieldError;
use crate::time::Millis;

/// Tries before a delivery is dead-lettered.
pub const MAX_ATTEMPTS: u32 = 10;
const FIRST_RETRY_MS: i64 = 30_000;
const MAX_RETRY_MS: i64 = 3_600_000;
pub const MAX_URL_CHARS: usize = 2048;
const MIN_SECRET_CHARS: usize = 16;
const MAX_SECRET_CHARS: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub enum Event {
    /// A conversation was finalised; carries its final datapoints.
    #[serde(rename = "conversation.ended")]
    ConversationEnded,
    /// A conversation's datapoints changed (while active: provisional values).
    #[serde(rename = "datapoints.updated")]
    DatapointsUpdated,
}

impl Event {
    pub const ALL: [Event; 2] = [Event::ConversationEnded, Event::DatapointsUpdated];

    pub fn as_str(self) -> &'static str {
        match self {
            Event::ConversationEnded => "conversation.ended",
            Event::DatapointsUpdated => "datapoints.updated",
        }
    }

    pub fn parse(s: &str) -> Option<Event> {
        Event::ALL.into_iter().find(|e| e.as_str() == s)
    }

    fn bit(self) -> i64 {
        1 << self as i64
    }
}

/// A set of events, stored as bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Events(i64);

impl Events {
    pub fn from_bits(bits: i64) -> Events {
        Events(bits)
    }

    pub fn bits(self) -> i64 {
        self.0
    }

    pub fn contains(self, e: Event) -> bool {
        self.0 & e.bit() != 0
    }

    pub fn names(self) -> Vec<&'static str> {
        Event::ALL.into_iter().filter(|e| self.contains(*e)).map(Event::as_str).collect()
    }
}

/// A subscription as posted to `POST /v1/bots/{bot_id}/webhooks`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookInput {
    /// Where events are POSTed: an http:// or https:// URL with a host, at most 2,048 characters.
    #[schema(max_length = 2048, pattern = "^https?://[^/?#\\s]+[^\\s]*$")]
    pub url: String,
    #[schema(value_type = Vec<Event>, min_items = 1)]
    pub events: Vec<String>,
    /// The signing secret, 16 to 256 characters; generated when not given.
    #[serde(default)]
    #[schema(min_length = 16, max_length = 256)]
    pub secret: Option<String>,
}

/// A checked subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewWebhook {
    pub url: String,
    pub events: Events,
    pub secret: String,
}

impl WebhookInput {
    pub fn validate(self) -> Result<NewWebhook, FieldError> {
        let url = self.url.trim();
        let rest = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"))
            .ok_or_else(|| FieldError::new("url", "must be an http:// or https:// URL"))?;
        let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if host.is_empty() || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(FieldError::new("url", "must be an http:// or https:// URL with a host"));
        }
        if url.len() > MAX_URL_CHARS {
            return Err(FieldError::new(
                "url",
                format!("must be at most {MAX_URL_CHARS} characters"),
            ));
        }
        if self.events.is_empty() {
            return Err(FieldError::new("events", "must name at least one event"));
        }
        let mut bits = 0;
        for (i, e) in self.events.iter().enumerate() {
            let event = Event::parse(e).ok_or_else(|| {
                FieldError::new(
                    format!("events[{i}]"),
                    format!("unknown event `{e}`: use conversation.ended or datapoints.updated"),
                )
            })?;
            bits |= event.bit();
        }
        let secret = match self.secret {
            Some(s) => {
                let n = s.chars().count();
                if !(MIN_SECRET_CHARS..=MAX_SECRET_CHARS).contains(&n)
                    || s.chars().any(|c| c.is_whitespace() || c.is_control())
                {
                    return Err(FieldError::new(
                        "secret",
                        format!(
                            "must be {MIN_SECRET_CHARS} to {MAX_SECRET_CHARS} characters without spaces"
                        ),
                    ));
                }
                s
            }
            None => generate_secret(),
        };
        Ok(NewWebhook { url: url.to_owned(), events: Events(bits), secret })
    }
}

fn random_id(prefix: &str, n: usize) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut rng = rand::rng();
    let random: String =
        (0..n).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char).collect();
    format!("{prefix}{random}")
}

fn generate_secret() -> String {
    random_id("whsec_", 32)
}

/// A new event's id: what receivers deduplicate on, the same for every try of a delivery.
pub fn event_id() -> String {
    random_id("evt_", 24)
}

/// An event's body: the conversation as the API shows it and its datapoints.
pub fn payload(
    event_id: &str,
    event: Event,
    at: Millis,
    conversation: &crate::conversation::Conversation,
    datapoints: &[crate::datapoints::Datapoint],
) -> String {
    let ended = conversation.status == crate::conversation::Status::Ended;
    serde_json::json!({
        "id": event_id,
        "event": event.as_str(),
        "created_at": crate::time::format_rfc3339(at),
        "bot_id": conversation.bot_id,
        "conversation": conversation.view(),
        "datapoints": crate::datapoints::values_view(datapoints, ended),
    })
    .to_string()
}

/// The `Confab-Signature` header: `v1=` and the hex HMAC-SHA256, keyed by the secret, of
/// `{timestamp}.{body}` — the timestamp (Unix seconds, also sent as `Confab-Timestamp`) is
/// signed so that a captured delivery cannot be replayed later with a fresh one.
pub fn signature(secret: &str, timestamp_secs: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(timestamp_secs.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// When a delivery that failed for the `attempts`-th time is tried again, or `None` when it is
/// dead: 30 s, doubling, at most an hour apart, [`MAX_ATTEMPTS`] tries in all (about three hours).
pub fn next_attempt(attempts: u32, now: Millis) -> Option<Millis> {
    if attempts >= MAX_ATTEMPTS {
        return None;
    }
    let delay = FIRST_RETRY_MS.saturating_mul(1 << attempts.saturating_sub(1).min(20));
    Some(now + delay.min(MAX_RETRY_MS))
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryState {
    Pending,
    Delivered,
    Dead,
}

impl DeliveryState {
    pub fn code(self) -> i64 {
        self as i64
    }

    pub fn from_code(c: i64) -> Option<DeliveryState> {
        [DeliveryState::Pending, DeliveryState::Delivered, DeliveryState::Dead]
            .get(usize::try_from(c).ok()?)
            .copied()
    }

    pub fn parse(s: &str) -> Option<DeliveryState> {
        serde_json::from_value(serde_json::Value::from(s)).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscriptions_are_checked() {
        let ok = WebhookInput {
            url: "https://example.com/hook".into(),
            events: vec!["conversation.ended".into()],
            secret: None,
        }
        .validate()
        .unwrap();
        assert!(ok.events.contains(Event::ConversationEnded));
        assert!(!ok.events.contains(Event::DatapointsUpdated));
        assert!(ok.secret.starts_with("whsec_"));
        let bad = |url: &str, events: &[&str], secret: Option<&str>| {
            WebhookInput {
                url: url.into(),
                events: events.iter().map(|e| e.to_string()).collect(),
                secret: secret.map(str::to_owned),
            }
            .validate()
            .unwrap_err()
            .field
        };
        assert_eq!(bad("ftp://x", &["conversation.ended"], None), "url");
        assert_eq!(bad("http://", &["conversation.ended"], None), "url");
        assert_eq!(bad("http://x", &[], None), "events");
        assert_eq!(bad("http://x", &["datapoints.updated", "x"], None), "events[1]");
        assert_eq!(bad("http://x", &["conversation.ended"], Some("short")), "secret");
    }

    #[test]
    fn signatures_are_hmac_sha256_of_timestamp_and_body() {
        // Reference value from `printf '1700000000.{}' | openssl dgst -sha256 -hmac secret`.
        assert_eq!(
            signature("secret", 1_700_000_000, b"{}"),
            "v1=b8569b78799ff9e3cbff0fc2d63a33a2b57f3282abd07c37ae5e8e7d79a5f163"
        );
        assert_ne!(
            signature("secret", 1_700_000_001, b"{}"),
            signature("secret", 1_700_000_000, b"{}")
        );
    }

    #[test]
    fn retries_back_off_then_die() {
        assert_eq!(next_attempt(1, 0), Some(30_000));
        assert_eq!(next_attempt(2, 0), Some(60_000));
        assert_eq!(next_attempt(9, 0), Some(3_600_000));
        assert_eq!(next_attempt(MAX_ATTEMPTS, 0), None);
    }
}
