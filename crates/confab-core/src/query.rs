//! Listing conversations: filters, sort, and opaque cursors, parsed from query parameters at the
//! edge so that every store receives only valid input.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::FieldError;
use crate::conversation::Status;
use crate::message::check_id;
use crate::summary::Dim;
use crate::time::{self, Millis};

pub const DEFAULT_LIMIT: u32 = 20;
pub const MAX_LIMIT: u32 = 100;
const MAX_Q_CHARS: usize = 500;
const MAX_SEARCH_TERMS: usize = 16;
/// Each `step` is a subquery on the conversation's messages; a page stays cheap with a few.
const MAX_STEPS: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimeField {
    #[default]
    StartedAt,
    LastMessageAt,
}

impl TimeField {
    pub fn parse(field: &str, s: &str) -> Result<TimeField, FieldError> {
        match s {
            "started_at" => Ok(TimeField::StartedAt),
            "last_message_at" => Ok(TimeField::LastMessageAt),
            _ => Err(FieldError::new(field, "must be started_at or last_message_at")),
        }
    }

    fn tag(self) -> char {
        match self {
            TimeField::StartedAt => 's',
            TimeField::LastMessageAt => 'l',
        }
    }
}

/// Where the next page starts: strictly after `(key, pk)` in newest-first order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub sort: TimeField,
    pub key: Millis,
    pub pk: i64,
}

impl Cursor {
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("1{}{}.{}", self.sort.tag(), self.key, self.pk))
    }

    pub fn decode(field: &str, s: &str) -> Result<Cursor, FieldError> {
        let bad = || FieldError::new(field, "is not a cursor returned by this API");
        let raw = URL_SAFE_NO_PAD.decode(s).map_err(|_| bad())?;
        let raw = std::str::from_utf8(&raw).map_err(|_| bad())?;
        let rest = raw.strip_prefix('1').ok_or_else(bad)?;
        let (sort, rest) = match rest.chars().next() {
            Some('s') => (TimeField::StartedAt, &rest[1..]),
            Some('l') => (TimeField::LastMessageAt, &rest[1..]),
            _ => return Err(bad()),
        };
        let (key, pk) = rest.split_once('.').ok_or_else(bad)?;
        Ok(Cursor {
            sort,
            key: key.parse().map_err(|_| bad())?,
            pk: pk.parse().map_err(|_| bad())?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct ConversationFilter {
    /// Which time the range and the sort apply to.
    pub time_field: TimeField,
    /// `[from, to)` on `time_field`.
    pub from: Option<Millis>,
    pub to: Option<Millis>,
    /// Each dimension matches any of its values (repeated parameters, or comma-separated
    /// lists for `channel_type`, `language` and `version`).
    pub dims: Vec<(Dim, Vec<String>)>,
    pub status: Option<Status>,
    /// `metadata.<key>=<value>`: the conversation's merged metadata has `key` equal to `value`
    /// (strings compare as they are; numbers and booleans by their JSON text).
    pub metadata: Vec<(String, String)>,
    /// `datapoint=<key>` (has a value for the key) or `datapoint=<key>=<value>` (that value;
    /// numbers by their JSON text).
    pub datapoints: Vec<(String, Option<String>)>,
    /// `step=<step id>`: one of the conversation's messages was at that dialogue step; with
    /// several, every one of them (a path through the flow).
    pub steps: Vec<String>,
    /// `last_step=<step id>`: the conversation's last step (that of its latest message with a
    /// step) is this one.
    pub last_step: Option<String>,
    /// Full-text terms, all of which must occur in one of the conversation's messages.
    pub search: Vec<String>,
    pub min_messages: Option<i64>,
    /// `completed=true|false`: whether the conversation reached one of its bot's goal steps
    /// (see `BotSettings::goal_steps`).
    pub completed: Option<bool>,
    pub sort: TimeField,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PageRequest {
    pub limit: u32,
    pub cursor: Option<Cursor>,
}

impl Default for PageRequest {
    fn default() -> Self {
        PageRequest { limit: DEFAULT_LIMIT, cursor: None }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<Cursor>,
}

const FILTER_DIMS: [Dim; 5] =
    [Dim::ChannelType, Dim::Language, Dim::Version, Dim::UserId, Dim::CampaignId];

/// Splits free text into search terms: runs of letters and digits, lower-cased.
pub fn search_terms(field: &str, q: &str) -> Result<Vec<String>, FieldError> {
    if q.chars().count() > MAX_Q_CHARS {
        return Err(FieldError::new(field, format!("must be at most {MAX_Q_CHARS} characters")));
    }
    let terms: Vec<String> = q
        .split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(str::to_lowercase)
        .collect();
    if terms.len() > MAX_SEARCH_TERMS {
        return Err(FieldError::new(field, format!("must have at most {MAX_SEARCH_TERMS} words")));
    }
    if terms.is_empty() && !q.trim().is_empty() {
        return Err(FieldError::new(field, "must contain at least one letter or digit"));
    }
    Ok(terms)
}

fn parse_time(field: &str, v: &str) -> Result<Millis, FieldError> {
    if v.len() == 10 {
        return time::parse_date_strict(field, v).map(time::date_start_utc);
    }
    time::parse_rfc3339(field, v)
}

pub fn parse_limit(field: &str, v: &str, max: u32) -> Result<u32, FieldError> {
    match v.parse::<u32>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(FieldError::new(field, format!("must be an integer from 1 to {max}"))),
    }
}

/// The filters [`ConversationFilter::from_params`] takes, for the API's documents (a test checks
/// each is accepted). Besides these: `metadata.<key>=<value>` matches a metadata value (keys of
/// 1 to 64 of `A-Za-z0-9_-`).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FilterParams {
    /// Only conversations in this state.
    #[param(pattern = "^(active|ended)$")]
    pub status: Option<String>,
    /// Conversations from this time on (RFC 3339, or `YYYY-MM-DD` for midnight UTC).
    pub start_time: Option<String>,
    /// Conversations before this time (exclusive).
    pub end_time: Option<String>,
    /// Which time the range and the order use.
    #[param(pattern = "^(started_at|last_message_at)$")]
    pub time_field: Option<String>,
    /// The order, newest first: by `started_at` (default) or `last_message_at`.
    #[param(pattern = "^(started_at|last_message_at)$")]
    pub sort: Option<String>,
    /// Words every matching transcript contains (at most 500 characters, 16 words).
    #[param(max_length = 500)]
    pub q: Option<String>,
    /// At least this many messages.
    #[param(minimum = 0)]
    pub min_messages: Option<i64>,
    /// Only conversations that reached (`true`) or did not reach (`false`) one of the bot's
    /// `goal_steps`.
    pub completed: Option<bool>,
    /// Channels, comma-separated.
    pub channel_type: Option<String>,
    /// Languages, comma-separated.
    pub language: Option<String>,
    /// Bot versions, comma-separated.
    pub version: Option<String>,
    pub user_id: Option<String>,
    pub campaign_id: Option<String>,
    /// `<key>` (the conversation has a value for it) or `<key>=<value>`.
    pub datapoint: Option<String>,
    /// A step the conversation went through (repeat for all of several, at most 16).
    pub step: Option<String>,
    /// The step the conversation was last in.
    pub last_step: Option<String>,
}

/// The paging of a list.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Conversations per page.
    #[param(minimum = 1, maximum = 100, default = 20)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl ConversationFilter {
    /// Parses the query string of `GET /v1/bots/{bot_id}/conversations`. Unknown parameters are
    /// an error: a typo must not silently widen a query.
    pub fn from_params(
        params: &[(String, String)],
    ) -> Result<(ConversationFilter, PageRequest), FieldError> {
        let mut f = ConversationFilter::default();
        let mut page = PageRequest::default();
        let mut cursor = None;
        let mut sort = None;
        for (k, v) in params {
            let k = k.as_str();
            match k {
                "time_field" => f.time_field = TimeField::parse(k, v)?,
                "sort" => sort = Some(TimeField::parse(k, v)?),
                "start_time" => f.from = Some(parse_time(k, v)?),
                "end_time" => f.to = Some(parse_time(k, v)?),
                "status" => {
                    f.status = Some(
                        Status::parse(v)
                            .ok_or_else(|| FieldError::new(k, "must be active or ended"))?,
                    )
                }
                "q" => f.search.extend(search_terms(k, v)?),
                "min_messages" => {
                    f.min_messages = Some(
                        v.parse::<i64>()
                            .ok()
                            .filter(|n| *n >= 0)
                            .ok_or_else(|| FieldError::new(k, "must be a non-negative integer"))?,
                    )
                }
                "completed" => {
                    f.completed = Some(match v.as_str() {
                        "true" => true,
                        "false" => false,
                        _ => return Err(FieldError::new(k, "must be true or false")),
                    })
                }
                "limit" => page.limit = parse_limit(k, v, MAX_LIMIT)?,
                "cursor" => cursor = Some(Cursor::decode(k, v)?),
                "datapoint" => {
                    let (key, value) = match v.split_once('=') {
                        Some((key, value)) => (key, Some(value.to_owned())),
                        None => (v.as_str(), None),
                    };
                    if key.trim().is_empty()
                        || key.chars().count() > crate::datapoints::MAX_KEY_CHARS
                    {
                        return Err(FieldError::new(k, "must be <key> or <key>=<value>"));
                    }
                    f.datapoints.push((key.to_owned(), value));
                }
                "step" => {
                    check_id(k, v)?;
                    if f.steps.len() == MAX_STEPS {
                        return Err(FieldError::new(
                            k,
                            format!("must be given at most {MAX_STEPS} times"),
                        ));
                    }
                    f.steps.push(v.clone());
                }
                "last_step" => {
                    check_id(k, v)?;
                    f.last_step = Some(v.clone());
                }
                _ => {
                    if let Some(key) = k.strip_prefix("metadata.") {
                        let plain =
                            key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
                        if key.is_empty() || key.len() > 64 || !plain {
                            return Err(FieldError::new(
                                k,
                                "metadata keys are 1 to 64 of A-Z, a-z, 0-9, _ and -",
                            ));
                        }
                        f.metadata.push((key.to_owned(), v.clone()));
                    } else if let Some(dim) = FILTER_DIMS.into_iter().find(|d| d.name() == k) {
                        let listed = matches!(dim, Dim::ChannelType | Dim::Language | Dim::Version);
                        let values: Vec<&str> = if listed {
                            v.split(',').map(str::trim).collect()
                        } else {
                            vec![v.as_str()]
                        };
                        let slot = match f.dims.iter().position(|(d, _)| *d == dim) {
                            Some(i) => &mut f.dims[i].1,
                            None => {
                                f.dims.push((dim, vec![]));
                                &mut f.dims.last_mut().expect("just pushed").1
                            }
                        };
                        for value in values {
                            check_id(k, value)?;
                            slot.push(value.to_owned());
                        }
                    } else {
                        return Err(FieldError::new(k, "unknown query parameter"));
                    }
                }
            }
        }
        if let (Some(a), Some(b)) = (f.from, f.to)
            && b < a
        {
            return Err(FieldError::new("end_time", "must not be before start_time"));
        }
        if f.search.len() > MAX_SEARCH_TERMS {
            return Err(FieldError::new(
                "q",
                format!("must have at most {MAX_SEARCH_TERMS} words"),
            ));
        }
        f.sort = sort.unwrap_or(f.time_field);
        if let Some(c) = cursor {
            if c.sort != f.sort {
                return Err(FieldError::new("cursor", "was made for another sort order"));
            }
            page.cursor = Some(c);
        }
        Ok((f, page))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    }

    #[test]
    fn cursor_round_trips_and_rejects_junk() {
        let c = Cursor { sort: TimeField::LastMessageAt, key: 1_700_000_000_123, pk: 42 };
        assert_eq!(Cursor::decode("cursor", &c.encode()).unwrap(), c);
        assert!(Cursor::decode("cursor", "nonsense!").is_err());
        assert!(Cursor::decode("cursor", &URL_SAFE_NO_PAD.encode("1x1.2")).is_err());
    }

    #[test]
    fn filters_parse() {
        let (f, p) = ConversationFilter::from_params(&params(&[
            ("channel_type", "web,sms"),
            ("channel_type", "whatsapp"),
            ("user_id", "a,b"),
            ("metadata.plan", "pro"),
            ("q", "Zażółć gęślą"),
            ("min_messages", "3"),
            ("completed", "false"),
            ("limit", "100"),
            ("start_time", "2026-01-01"),
            ("sort", "last_message_at"),
        ]))
        .unwrap();
        let owned = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            f.dims,
            vec![
                (Dim::ChannelType, owned(&["web", "sms", "whatsapp"])),
                (Dim::UserId, owned(&["a,b"]))
            ]
        );
        assert_eq!(f.metadata, vec![("plan".to_owned(), "pro".to_owned())]);
        assert_eq!(f.search, vec!["zażółć", "gęślą"]);
        assert_eq!(f.sort, TimeField::LastMessageAt);
        assert_eq!(p.limit, 100);
        assert_eq!(f.completed, Some(false));
        assert_eq!((f.steps, f.last_step), (vec![], None));
    }

    #[test]
    fn step_filters_parse() {
        let (f, _) = ConversationFilter::from_params(&params(&[
            ("step", "greet"),
            ("last_step", "ask email"),
            ("step", "a,b"),
            ("step", "greet"),
        ]))
        .unwrap();
        // Every `step` is kept as given (a comma is part of an id), and all must match.
        assert_eq!(f.steps, vec!["greet", "a,b", "greet"]);
        assert_eq!(f.last_step.as_deref(), Some("ask email"));
        let (f, _) =
            ConversationFilter::from_params(&params(&[("last_step", "a"), ("last_step", "b")]))
                .unwrap();
        assert_eq!(f.last_step.as_deref(), Some("b"), "the last one given counts, like status");
        let many: Vec<(&str, &str)> = vec![("step", "s"); MAX_STEPS];
        assert_eq!(
            ConversationFilter::from_params(&params(&many)).unwrap().0.steps.len(),
            MAX_STEPS
        );
    }

    #[test]
    fn bad_params_name_the_field() {
        for (k, v) in [
            ("limit", "0"),
            ("limit", "101"),
            ("limit", "ten"),
            ("status", "done"),
            ("min_messages", "-1"),
            ("completed", "yes"),
            ("start_time", "2026-1-1"),
            ("cursor", "xyz"),
            ("colour", "red"),
            ("q", "!!!"),
            ("step", ""),
            ("step", "bad\u{7}step"),
            ("last_step", ""),
            ("last_step", "\n"),
        ] {
            assert_eq!(ConversationFilter::from_params(&params(&[(k, v)])).unwrap_err().field, k);
        }
        let err = ConversationFilter::from_params(&params(&[
            ("start_time", "2026-01-02"),
            ("end_time", "2026-01-01"),
        ]))
        .unwrap_err();
        assert_eq!(err.field, "end_time");
        let long = "x".repeat(crate::message::MAX_ID_CHARS + 1);
        for k in ["step", "last_step"] {
            let err = ConversationFilter::from_params(&params(&[(k, &long)])).unwrap_err();
            assert_eq!(err.field, k);
        }
        let too_many: Vec<(&str, &str)> = vec![("step", "s"); MAX_STEPS + 1];
        assert_eq!(ConversationFilter::from_params(&params(&too_many)).unwrap_err().field, "step");
    }
}
