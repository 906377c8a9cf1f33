//! Webhook delivery from the store's outbox. One round claims the deliveries due, posts each
//! event's stored payload, signed, to its subscriber and records how it went: delivered, due
//! again after a back-off, or dead. A claim is a lease, so two senders never send a delivery at
//! the same time, and a sender that dies mid-round loses nothing: the lease runs out and the
//! delivery is taken again. Delivery is therefore at least once; receivers dedupe on
//! `Confab-Event-Id`.

use std::time::Duration;

use confab_core::time::Millis;
use confab_core::webhook::{next_attempt, signature};
use confab_store::{DeliveryResult, DueDelivery, Result, Store};
use reqwest::header::{CONTENT_TYPE, USER_AGENT};
use tokio::task::JoinSet;

use crate::outbound;

/// How long a claimed delivery stays this sender's before another may take it.
pub const LEASE_MS: Millis = 60_000;
/// Deliveries claimed per round.
const BATCH: u32 = 50;
/// Requests in flight at once: a slow subscriber holds one slot, not the round.
const CONCURRENCY: usize = 16;
/// The longest a subscriber may take to answer, body included.
const TIMEOUT: Duration = Duration::from_secs(10);
const AGENT: &str = concat!("Confab-Webhooks/", env!("CARGO_PKG_VERSION"));
/// How much of a failed answer's body is kept as its error.
const ERROR_BODY_BYTES: usize = 200;

// A round must end well inside the lease, or another sender would send its tail again.
const _: () = assert!(
    (BATCH as u64).div_ceil(CONCURRENCY as u64) * TIMEOUT.as_secs() * 1000 < LEASE_MS as u64
);

/// What one round of sending did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliverOutcome {
    pub delivered: u32,
    /// Failed and due again later.
    pub failed: u32,
    /// Failed for the last time.
    pub dead: u32,
}

impl DeliverOutcome {
    pub fn tried(&self) -> u32 {
        self.delivered + self.failed + self.dead
    }
}

/// The HTTP client deliveries are sent with: a subscriber answers within 10 seconds, and a
/// redirect is an answer (a failed one), never followed — the signed payload goes only to the
/// URL an admin subscribed. Unless `allow_private_targets`, it connects only to public
/// addresses ([`crate::outbound`]).
pub fn client(allow_private_targets: bool) -> Sender {
    let http = outbound::client_builder(allow_private_targets)
        .timeout(TIMEOUT)
        .user_agent(AGENT)
        .build()
        .expect("the webhook client's settings are valid");
    Sender { http, allow_private_targets }
}

/// The webhook client and whether it may reach private addresses.
#[derive(Clone)]
pub struct Sender {
    http: reqwest::Client,
    allow_private_targets: bool,
}

/// Sends the deliveries due at `now`. `now` is also the time signed and recorded, and what
/// back-offs count from; only the HTTP timeout uses the wall clock. A delivery whose result
/// could not be recorded is sent again once its lease runs out; the first such store error is
/// returned after the round.
pub async fn deliver_due_once(
    store: &dyn Store,
    client: &Sender,
    now: Millis,
) -> Result<DeliverOutcome> {
    let mut due = store.claim_deliveries(now, now + LEASE_MS, BATCH).await?.into_iter();
    let mut outcome = DeliverOutcome::default();
    let mut first_error = None;
    let mut sending = JoinSet::new();
    loop {
        while sending.len() < CONCURRENCY {
            let Some(d) = due.next() else { break };
            let client = client.clone();
            sending.spawn(async move {
                let result = send(&client, &d, now).await;
                (d, result)
            });
        }
        let (d, result) = match sending.join_next().await {
            None => break,
            Some(Ok(done)) => done,
            Some(Err(e)) => {
                // Its lease runs out and the next round takes it again.
                tracing::error!(error = %e, "webhook send task failed");
                continue;
            }
        };
        let retry_at = match &result {
            DeliveryResult::Delivered { .. } => None,
            DeliveryResult::Failed { status, error } => {
                let at = next_attempt(d.attempts + 1, now);
                tracing::info!(
                    delivery = d.id, url = %d.url, ?status, %error, dead = at.is_none(),
                    "webhook delivery failed"
                );
                at
            }
        };
        let delivered = matches!(result, DeliveryResult::Delivered { .. });
        match store.record_delivery(d.id, result, retry_at, now).await {
            Ok(()) if delivered => outcome.delivered += 1,
            Ok(()) if retry_at.is_some() => outcome.failed += 1,
            Ok(()) => outcome.dead += 1,
            Err(e) => {
                tracing::warn!(delivery = d.id, error = %e, "could not record a webhook delivery");
                first_error.get_or_insert(e);
            }
        }
    }
    for (name, n) in
        [("delivered", outcome.delivered), ("failed", outcome.failed), ("dead", outcome.dead)]
    {
        if n > 0 {
            metrics::counter!("confab_webhook_deliveries_total", "outcome" => name)
                .increment(n.into());
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(outcome),
    }
}

/// Posts the payload exactly as stored (the signature covers these bytes). A target that is not
/// a public address (unless allowed) is a failed attempt, without a request.
async fn send(client: &Sender, d: &DueDelivery, now: Millis) -> DeliveryResult {
    if let Err(refused) = outbound::check_url(&d.url, client.allow_private_targets) {
        return DeliveryResult::Failed { status: None, error: refused.to_string() };
    }
    let timestamp = now.div_euclid(1000);
    let sent = client
        .http
        .post(&d.url)
        .header(CONTENT_TYPE, "application/json")
        .header(USER_AGENT, AGENT)
        .header("Confab-Event", &d.event)
        .header("Confab-Event-Id", &d.event_id)
        .header("Confab-Timestamp", timestamp.to_string())
        .header("Confab-Signature", signature(&d.secret, timestamp, d.payload.as_bytes()))
        .body(d.payload.clone())
        .send()
        .await;
    match sent {
        Ok(resp) if resp.status().is_success() => {
            DeliveryResult::Delivered { status: resp.status().as_u16() }
        }
        Ok(resp) => DeliveryResult::Failed {
            status: Some(resp.status().as_u16()),
            error: refusal(resp).await,
        },
        Err(e) => DeliveryResult::Failed { status: None, error: transport_error(e) },
    }
}

/// A non-2xx answer as an error: its status and the start of its body, which is where
/// receivers say what they did not like.
async fn refusal(mut resp: reqwest::Response) -> String {
    let status = resp.status();
    let mut body = Vec::new();
    while body.len() < ERROR_BODY_BYTES {
        match resp.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            _ => break,
        }
    }
    body.truncate(ERROR_BODY_BYTES);
    let text = String::from_utf8_lossy(&body).split_whitespace().collect::<Vec<_>>().join(" ");
    let mut error = format!("HTTP {status}");
    if status.is_redirection() {
        error.push_str(" (redirects are not followed)");
    }
    if !text.is_empty() {
        error.push_str(": ");
        error.push_str(&text);
    }
    error
}

/// A failure to get an answer, with its causes ("connection refused" is two levels down).
fn transport_error(e: reqwest::Error) -> String {
    if e.is_timeout() {
        return format!("no answer within {} s", TIMEOUT.as_secs());
    }
    if let Some(refused) = outbound::Refused::find(&e) {
        return refused.to_string();
    }
    let e = e.without_url();
    let mut error = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        let text = cause.to_string();
        if !error.contains(&text) {
            error.push_str(": ");
            error.push_str(&text);
        }
        source = cause.source();
    }
    error
}
