//! Rate limits per API key: a token bucket per key for writes and another for reads, so that
//! one noisy bot cannot starve the others. Off unless the operator sets a rate. Each server
//! keeps its own buckets (in memory, nothing shared through the database): with several
//! servers behind a load balancer, a key gets each server's rate — docs/operations.md.
//!
//! The buckets live in a map split into shards, each behind its own lock, so that requests of
//! different keys rarely wait for one another. The [`track`] middleware tells the request
//! whether it reads or writes (from the full path, before routing strips a prefix); the key's
//! bucket is charged when the key is known, in the `Caller` extractor ([`charge`]); the
//! middleware then adds the `RateLimit-*` headers to the answer.

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::Response;

use crate::AppState;
use crate::error::ApiError;

const SHARDS: usize = 32;
/// Buckets a shard holds before full ones (a key idle long enough) are forgotten.
const SHARD_PRUNE_AT: usize = 4096;

pub const RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
pub const RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
pub const RATELIMIT_RESET: HeaderName = HeaderName::from_static("ratelimit-reset");

/// A rate: requests per second, and how many may come at once (the bucket's size).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub per_second: f64,
    pub burst: u32,
    /// As given, for showing: `count/unit`.
    count: u32,
    unit: &'static str,
}

impl Rate {
    /// `N/s`, `N/m` (or `/min`), `N/h`, optionally `,burst=B`; the burst defaults to `N`.
    pub fn parse(text: &str) -> Result<Rate, String> {
        const FORM: &str =
            "must be N/s, N/m or N/h, optionally with ,burst=B (e.g. 100/s,burst=200)";
        let (rate, burst) = match text.trim().split_once(',') {
            Some((rate, burst)) => {
                let b = burst.trim().strip_prefix("burst=").ok_or(FORM)?;
                (rate, Some(b.trim().parse::<u32>().map_err(|_| FORM)?))
            }
            None => (text.trim(), None),
        };
        let (count, unit) = rate.trim().split_once('/').ok_or(FORM)?;
        let count: u32 = count.trim().parse().map_err(|_| FORM)?;
        let (unit, seconds) = match unit.trim() {
            "s" | "sec" | "second" => ("s", 1.0),
            "m" | "min" | "minute" => ("m", 60.0),
            "h" | "hour" => ("h", 3600.0),
            _ => return Err(FORM.into()),
        };
        let burst = burst.unwrap_or(count);
        if count == 0 || burst == 0 {
            return Err("the rate and the burst must be at least 1".into());
        }
        Ok(Rate { per_second: f64::from(count) / seconds, burst, count, unit })
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.count, self.unit)?;
        if self.burst != self.count {
            write!(f, ",burst={}", self.burst)?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Rate {
    type Err = String;

    fn from_str(s: &str) -> Result<Rate, String> {
        Rate::parse(s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Read,
    Write,
}

impl Kind {
    /// Reads are `GET`/`HEAD` and every vendor-compatible API (all of them read, some by
    /// `POST`); anything else writes.
    fn of(method: &Method, path: &str) -> Kind {
        if method == Method::GET || method == Method::HEAD || path.starts_with("/compat/") {
            Kind::Read
        } else {
            Kind::Write
        }
    }

    fn plural(self) -> &'static str {
        match self {
            Kind::Read => "reads",
            Kind::Write => "writes",
        }
    }
}

/// What a charge found: whether the request may go on, and what its headers say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub kind: Kind,
    pub allowed: bool,
    /// The bucket's size.
    pub limit: u32,
    /// Requests left right now.
    pub remaining: u32,
    /// Seconds until the bucket is full again.
    pub reset: u64,
    /// Seconds until one request is allowed again (refused requests only).
    pub retry_after: u64,
}

impl Decision {
    pub fn headers(&self, headers: &mut HeaderMap) {
        headers.insert(RATELIMIT_LIMIT, HeaderValue::from(self.limit));
        headers.insert(RATELIMIT_REMAINING, HeaderValue::from(self.remaining));
        headers.insert(RATELIMIT_RESET, HeaderValue::from(self.reset));
        if !self.allowed {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(self.retry_after));
        }
    }

    pub fn message(&self) -> String {
        format!(
            "this key has made too many {} (at most {} at once); retry after {} s",
            self.kind.plural(),
            self.limit,
            self.retry_after
        )
    }
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The buckets of every key seen, for writes and reads.
pub struct Limiter {
    writes: Option<Rate>,
    reads: Option<Rate>,
    hasher: RandomState,
    shards: Vec<Mutex<HashMap<(i64, Kind), Bucket>>>,
}

impl Limiter {
    pub fn new(writes: Option<Rate>, reads: Option<Rate>) -> Limiter {
        let shards = match writes.is_some() || reads.is_some() {
            true => (0..SHARDS).map(|_| Mutex::default()).collect(),
            false => vec![],
        };
        Limiter { writes, reads, hasher: RandomState::new(), shards }
    }

    pub fn is_on(&self) -> bool {
        !self.shards.is_empty()
    }

    /// Takes a request from the key's bucket for `kind` at `now`; `None` when that kind is not
    /// limited.
    pub fn take(&self, key_id: i64, kind: Kind, now: Instant) -> Option<Decision> {
        let rate = match kind {
            Kind::Write => self.writes?,
            Kind::Read => self.reads?,
        };
        let burst = f64::from(rate.burst);
        let shard = self.hasher.hash_one((key_id, kind)) as usize % self.shards.len();
        let mut buckets = self.shards[shard].lock().expect("rate limit shard");
        if buckets.len() >= SHARD_PRUNE_AT {
            buckets.retain(|_, b| refilled(b, rate, now) < burst);
        }
        let bucket = buckets.entry((key_id, kind)).or_insert(Bucket { tokens: burst, at: now });
        bucket.tokens = refilled(bucket, rate, now);
        bucket.at = now;
        let allowed = bucket.tokens >= 1.0;
        if allowed {
            bucket.tokens -= 1.0;
        }
        let tokens = bucket.tokens;
        drop(buckets);
        let seconds = |missing: f64| (missing / rate.per_second).ceil().max(0.0) as u64;
        Some(Decision {
            kind,
            allowed,
            limit: rate.burst,
            remaining: tokens.floor() as u32,
            reset: seconds(burst - tokens),
            retry_after: seconds(1.0 - tokens).max(1),
        })
    }
}

fn refilled(bucket: &Bucket, rate: Rate, now: Instant) -> f64 {
    let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
    (bucket.tokens + elapsed * rate.per_second).min(f64::from(rate.burst))
}

/// A request's kind and, once its key is charged, the decision (for the answer's headers).
struct Slot {
    kind: Kind,
    decision: OnceLock<Decision>,
}

/// Middleware (only when limits are on): marks the request as a read or a write, and puts the
/// key's `RateLimit-*` headers on the answer once [`charge`] has charged it.
pub async fn track(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    debug_assert!(state.limits.is_on());
    let slot = Arc::new(Slot {
        kind: Kind::of(req.method(), req.uri().path()),
        decision: OnceLock::new(),
    });
    req.extensions_mut().insert(slot.clone());
    let mut response = next.run(req).await;
    if let Some(decision) = slot.decision.get() {
        decision.headers(response.headers_mut());
    }
    response
}

/// Charges the key's bucket for this request (once, however many extractors ask): an error
/// when it is empty.
pub fn charge(state: &AppState, parts: &Parts, key_id: i64) -> Result<(), ApiError> {
    let Some(slot) = parts.extensions.get::<Arc<Slot>>() else { return Ok(()) };
    if slot.decision.get().is_some() {
        return Ok(());
    }
    let Some(decision) = state.limits.take(key_id, slot.kind, Instant::now()) else {
        return Ok(());
    };
    let _ = slot.decision.set(decision);
    match decision.allowed {
        true => Ok(()),
        false => Err(ApiError::RateLimited(decision)),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn rates_parse_and_show_as_given() {
        let r = Rate::parse("100/s").unwrap();
        assert_eq!((r.per_second, r.burst, r.to_string()), (100.0, 100, "100/s".to_owned()));
        let r = Rate::parse("60/min,burst=5").unwrap();
        assert_eq!((r.per_second, r.burst, r.to_string()), (1.0, 5, "60/m,burst=5".to_owned()));
        let r = Rate::parse(" 3600/h , burst=10 ").unwrap();
        assert_eq!((r.per_second, r.burst), (1.0, 10));
        for bad in ["", "100", "100/d", "x/s", "0/s", "10/s,burst=0", "10/s,b=3", "-1/s"] {
            assert!(Rate::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_bucket_empties_refills_and_is_per_key_and_kind() {
        let limiter = Limiter::new(Some(Rate::parse("2/s,burst=3").unwrap()), None);
        let t0 = Instant::now();
        let take = |key, kind, at: f64| limiter.take(key, kind, t0 + Duration::from_secs_f64(at));
        let seen: Vec<(bool, u32)> = (0..4)
            .map(|_| take(1, Kind::Write, 0.0).unwrap())
            .map(|d| (d.allowed, d.remaining))
            .collect();
        assert_eq!(seen, [(true, 2), (true, 1), (true, 0), (false, 0)]);
        let refused = take(1, Kind::Write, 0.0).unwrap();
        assert_eq!((refused.retry_after, refused.reset, refused.limit), (1, 2, 3));
        // Another key, and reads, are not limited by key 1's writes.
        assert!(take(2, Kind::Write, 0.0).unwrap().allowed);
        assert_eq!(take(1, Kind::Read, 0.0), None);
        // Half a second gives one token back (2/s).
        assert!(take(1, Kind::Write, 0.5).unwrap().allowed);
        assert!(!take(1, Kind::Write, 0.5).unwrap().allowed);
        // Long idle: full again, never more than the burst.
        let d = take(1, Kind::Write, 100.0).unwrap();
        assert_eq!((d.allowed, d.remaining), (true, 2));
    }

    #[test]
    fn off_without_rates() {
        let limiter = Limiter::new(None, None);
        assert!(!limiter.is_on());
        assert_eq!(limiter.take(1, Kind::Write, Instant::now()), None);
    }

    #[test]
    fn reads_are_gets_and_every_compat_api() {
        assert_eq!(Kind::of(&Method::GET, "/v1/bots"), Kind::Read);
        assert_eq!(Kind::of(&Method::POST, "/compat/botsheets/api/v0/x"), Kind::Read);
        assert_eq!(Kind::of(&Method::POST, "/v1/bots/b/messages"), Kind::Write);
        assert_eq!(Kind::of(&Method::DELETE, "/v1/bots/b/conversations/c"), Kind::Write);
    }
}
