//! Webhook subscriptions and the delivery outbox (rows are queued by `datapoints::enqueue`).

use confab_core::time::Millis;
use confab_core::webhook::{DeliveryState, Events, NewWebhook};
use rusqlite::{Connection, OptionalExtension, Row, params};

use std::sync::LazyLock;

use super::write;
use crate::columns;
use crate::{Delivery, DeliveryResult, DueDelivery, Result, StoreError, Webhook};

static WEBHOOK_SELECT: LazyLock<String> = LazyLock::new(|| {
    format!("SELECT {} FROM webhooks w JOIN bots b ON b.id = w.bot_pk", columns::WEBHOOK_SELECT)
});

fn webhook(r: &Row) -> rusqlite::Result<Webhook> {
    Ok(Webhook {
        id: r.get(0)?,
        bot_id: r.get(1)?,
        url: r.get(2)?,
        events: Events::from_bits(r.get(3)?),
        secret: r.get(4)?,
        created_at: r.get(5)?,
    })
}

static DELIVERY_SELECT: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {} FROM webhook_deliveries", columns::DELIVERY_SELECT));

fn delivery(r: &Row) -> rusqlite::Result<Delivery> {
    let state = DeliveryState::from_code(r.get(4)?).unwrap_or(DeliveryState::Dead);
    let next: Millis = r.get(6)?;
    Ok(Delivery {
        id: r.get(0)?,
        webhook_id: r.get(1)?,
        event_id: r.get(2)?,
        event: r.get(3)?,
        state,
        attempts: r.get(5)?,
        next_attempt_at: (state == DeliveryState::Pending).then_some(next),
        last_status: r.get(7)?,
        last_error: r.get(8)?,
        created_at: r.get(9)?,
        delivered_at: r.get(10)?,
    })
}

pub(super) fn create_webhook(
    c: &Connection,
    team_id: i64,
    bot_id: &str,
    create_bot: bool,
    w: &NewWebhook,
    now: Millis,
) -> Result<Webhook> {
    let bot_pk = write::bot_pk_or_create(c, team_id, bot_id, create_bot)?;
    c.prepare_cached(
        "INSERT INTO webhooks (bot_pk, url, events, secret, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![bot_pk, w.url, w.events.bits(), w.secret, now])?;
    let id = c.last_insert_rowid();
    Ok(c.prepare_cached(&format!("{} WHERE w.id = ?1", *WEBHOOK_SELECT))?
        .query_row([id], webhook)?)
}

pub(super) fn list_webhooks(c: &Connection, team_id: i64, bot_id: &str) -> Result<Vec<Webhook>> {
    let bot_pk = write::bot_pk(c, team_id, bot_id)?.ok_or(StoreError::NotFound("bot"))?;
    Ok(c.prepare_cached(&format!("{} WHERE w.bot_pk = ?1 ORDER BY w.id", *WEBHOOK_SELECT))?
        .query_map([bot_pk], webhook)?
        .collect::<rusqlite::Result<_>>()?)
}

pub(super) fn get_webhook(c: &Connection, team_id: i64, bot_id: &str, id: i64) -> Result<Webhook> {
    let bot_pk = write::bot_pk(c, team_id, bot_id)?.ok_or(StoreError::NotFound("bot"))?;
    c.prepare_cached(&format!("{} WHERE w.id = ?1 AND w.bot_pk = ?2", *WEBHOOK_SELECT))?
        .query_row(params![id, bot_pk], webhook)
        .optional()?
        .ok_or(StoreError::NotFound("webhook"))
}

pub(super) fn delete_webhook(c: &Connection, team_id: i64, bot_id: &str, id: i64) -> Result<()> {
    let w = get_webhook(c, team_id, bot_id, id)?;
    c.prepare_cached("DELETE FROM webhook_deliveries WHERE webhook_id = ?1")?.execute([w.id])?;
    c.prepare_cached("DELETE FROM webhooks WHERE id = ?1")?.execute([w.id])?;
    Ok(())
}

pub(super) fn list_deliveries(
    c: &Connection,
    team_id: i64,
    bot_id: &str,
    webhook_id: i64,
    state: Option<DeliveryState>,
    before: Option<i64>,
    limit: u32,
) -> Result<Vec<Delivery>> {
    let w = get_webhook(c, team_id, bot_id, webhook_id)?;
    Ok(c.prepare_cached(&format!(
        "{} WHERE webhook_id = ?1 AND (?2 IS NULL OR state = ?2) \
         AND (?3 IS NULL OR id < ?3) ORDER BY id DESC LIMIT ?4",
        *DELIVERY_SELECT
    ))?
    .query_map(params![w.id, state.map(DeliveryState::code), before, limit], delivery)?
    .collect::<rusqlite::Result<_>>()?)
}

pub(super) fn retry_delivery(
    c: &Connection,
    team_id: i64,
    bot_id: &str,
    webhook_id: i64,
    delivery_id: i64,
    now: Millis,
) -> Result<Delivery> {
    let w = get_webhook(c, team_id, bot_id, webhook_id)?;
    let n = c
        .prepare_cached(
            "UPDATE webhook_deliveries SET state = 0, attempts = 0, next_attempt_at = ?3 \
             WHERE id = ?1 AND webhook_id = ?2 AND state = 2",
        )?
        .execute(params![delivery_id, w.id, now])?;
    let found = c
        .prepare_cached(&format!("{} WHERE id = ?1 AND webhook_id = ?2", *DELIVERY_SELECT))?
        .query_row(params![delivery_id, w.id], delivery)
        .optional()?
        .ok_or(StoreError::NotFound("delivery"))?;
    if n == 0 {
        return Err(StoreError::Conflict("only a dead delivery can be retried"));
    }
    Ok(found)
}

pub(super) fn claim_deliveries(
    c: &Connection,
    now: Millis,
    lease_until: Millis,
    limit: u32,
) -> Result<Vec<DueDelivery>> {
    let due: Vec<DueDelivery> = c
        .prepare_cached(
            "SELECT d.id, w.url, w.secret, d.event_id, d.event, d.payload, d.attempts \
             FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id \
             WHERE d.state = 0 AND d.next_attempt_at <= ?1 ORDER BY d.next_attempt_at LIMIT ?2",
        )?
        .query_map(params![now, limit], |r| {
            Ok(DueDelivery {
                id: r.get(0)?,
                url: r.get(1)?,
                secret: r.get(2)?,
                event_id: r.get(3)?,
                event: r.get(4)?,
                payload: r.get(5)?,
                attempts: r.get(6)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    for d in &due {
        c.prepare_cached("UPDATE webhook_deliveries SET next_attempt_at = ?2 WHERE id = ?1")?
            .execute(params![d.id, lease_until])?;
    }
    Ok(due)
}

pub(super) fn record_delivery(
    c: &Connection,
    id: i64,
    result: &DeliveryResult,
    retry_at: Option<Millis>,
    now: Millis,
) -> Result<()> {
    match result {
        DeliveryResult::Delivered { status } => {
            c.prepare_cached(
                "UPDATE webhook_deliveries SET state = 1, attempts = attempts + 1, \
                 last_status = ?2, last_error = NULL, delivered_at = ?3 WHERE id = ?1 AND state = 0",
            )?
            .execute(params![id, status, now])?;
        }
        DeliveryResult::Failed { status, error } => {
            let state =
                if retry_at.is_some() { DeliveryState::Pending } else { DeliveryState::Dead };
            c.prepare_cached(
                "UPDATE webhook_deliveries SET state = ?2, attempts = attempts + 1, \
                 last_status = ?3, last_error = ?4, next_attempt_at = ?5 \
                 WHERE id = ?1 AND state = 0",
            )?
            .execute(params![
                id,
                state.code(),
                status,
                error,
                retry_at.unwrap_or(now)
            ])?;
        }
    }
    Ok(())
}
