//! Webhook subscriptions and the delivery outbox (rows are queued by `datapoints::enqueue`).
//! Senders on several servers claim due rows with `FOR UPDATE SKIP LOCKED` and a lease, so each
//! event is sent by one of them.

use std::sync::LazyLock;

use confab_core::time::Millis;
use confab_core::webhook::{DeliveryState, Events, NewWebhook};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

use super::write;
use crate::columns::{DELIVERY_SELECT, WEBHOOK_SELECT};
use crate::{Delivery, DeliveryResult, DueDelivery, Result, StoreError, Webhook};

static WEBHOOKS: LazyLock<String> = LazyLock::new(|| {
    format!("SELECT {WEBHOOK_SELECT} FROM webhooks w JOIN bots b ON b.id = w.bot_pk")
});
static DELIVERIES: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {DELIVERY_SELECT} FROM webhook_deliveries"));

fn webhook(r: &PgRow) -> sqlx::Result<Webhook> {
    Ok(Webhook {
        id: r.try_get(0)?,
        bot_id: r.try_get(1)?,
        url: r.try_get(2)?,
        events: Events::from_bits(r.try_get(3)?),
        secret: r.try_get(4)?,
        created_at: r.try_get(5)?,
    })
}

fn delivery(r: &PgRow) -> sqlx::Result<Delivery> {
    let state = DeliveryState::from_code(r.try_get(4)?).unwrap_or(DeliveryState::Dead);
    let next: Millis = r.try_get(6)?;
    let attempts: i64 = r.try_get(5)?;
    let last_status: Option<i64> = r.try_get(7)?;
    Ok(Delivery {
        id: r.try_get(0)?,
        webhook_id: r.try_get(1)?,
        event_id: r.try_get(2)?,
        event: r.try_get(3)?,
        state,
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        next_attempt_at: (state == DeliveryState::Pending).then_some(next),
        last_status: last_status.and_then(|s| u16::try_from(s).ok()),
        last_error: r.try_get(8)?,
        created_at: r.try_get(9)?,
        delivered_at: r.try_get(10)?,
    })
}

pub(super) async fn create_webhook(
    c: &mut PgConnection,
    team_id: i64,
    bot_id: &str,
    create_bot: bool,
    w: &NewWebhook,
    now: Millis,
) -> Result<Webhook> {
    let bot_pk = write::bot_pk_or_create(c, team_id, bot_id, create_bot).await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO webhooks (bot_pk, url, events, secret, created_at) \
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(bot_pk)
    .bind(&w.url)
    .bind(w.events.bits())
    .bind(&w.secret)
    .bind(now)
    .fetch_one(&mut *c)
    .await?;
    let row = sqlx::query(&format!("{} WHERE w.bot_pk = $1 AND w.id = $2", *WEBHOOKS))
        .bind(bot_pk)
        .bind(id)
        .fetch_one(&mut *c)
        .await?;
    Ok(webhook(&row)?)
}

pub(super) async fn list_webhooks(
    c: &mut PgConnection,
    team_id: i64,
    bot_id: &str,
) -> Result<Vec<Webhook>> {
    let bot_pk = write::bot_pk(c, team_id, bot_id).await?.ok_or(StoreError::NotFound("bot"))?;
    let found = sqlx::query(&format!("{} WHERE w.bot_pk = $1 ORDER BY w.id", *WEBHOOKS))
        .bind(bot_pk)
        .fetch_all(&mut *c)
        .await?;
    Ok(found.iter().map(webhook).collect::<sqlx::Result<_>>()?)
}

/// The subscription and its bot's row id.
async fn find(c: &mut PgConnection, team_id: i64, bot_id: &str, id: i64) -> Result<(i64, Webhook)> {
    let bot_pk = write::bot_pk(c, team_id, bot_id).await?.ok_or(StoreError::NotFound("bot"))?;
    let row = sqlx::query(&format!("{} WHERE w.bot_pk = $1 AND w.id = $2", *WEBHOOKS))
        .bind(bot_pk)
        .bind(id)
        .fetch_optional(&mut *c)
        .await?
        .ok_or(StoreError::NotFound("webhook"))?;
    Ok((bot_pk, webhook(&row)?))
}

pub(super) async fn get_webhook(
    c: &mut PgConnection,
    team_id: i64,
    bot_id: &str,
    id: i64,
) -> Result<Webhook> {
    Ok(find(c, team_id, bot_id, id).await?.1)
}

pub(super) async fn delete_webhook(
    c: &mut PgConnection,
    team_id: i64,
    bot_id: &str,
    id: i64,
) -> Result<()> {
    let (bot_pk, w) = find(c, team_id, bot_id, id).await?;
    sqlx::query("DELETE FROM webhook_deliveries WHERE bot_pk = $1 AND webhook_id = $2")
        .bind(bot_pk)
        .bind(w.id)
        .execute(&mut *c)
        .await?;
    sqlx::query("DELETE FROM webhooks WHERE bot_pk = $1 AND id = $2")
        .bind(bot_pk)
        .bind(w.id)
        .execute(&mut *c)
        .await?;
    Ok(())
}

pub(super) async fn list_deliveries(
    c: &mut PgConnection,
    team_id: i64,
    bot_id: &str,
    webhook_id: i64,
    state: Option<DeliveryState>,
    before: Option<i64>,
    limit: u32,
) -> Result<Vec<Delivery>> {
    let (bot_pk, w) = find(c, team_id, bot_id, webhook_id).await?;
    let found = sqlx::query(&format!(
        "{} WHERE bot_pk = $1 AND webhook_id = $2 AND ($3::bigint IS NULL OR state = $3) \
         AND ($4::bigint IS NULL OR id < $4) ORDER BY id DESC LIMIT $5",
        *DELIVERIES
    ))
    .bind(bot_pk)
    .bind(w.id)
    .bind(state.map(DeliveryState::code))
    .bind(before)
    .bind(i64::from(limit))
    .fetch_all(&mut *c)
    .await?;
    Ok(found.iter().map(delivery).collect::<sqlx::Result<_>>()?)
}

pub(super) async fn retry_delivery(
    c: &mut PgConnection,
    team_id: i64,
    bot_id: &str,
    webhook_id: i64,
    delivery_id: i64,
    now: Millis,
) -> Result<Delivery> {
    let (bot_pk, w) = find(c, team_id, bot_id, webhook_id).await?;
    let n = sqlx::query(
        "UPDATE webhook_deliveries SET state = 0, attempts = 0, next_attempt_at = $4 \
         WHERE bot_pk = $1 AND id = $2 AND webhook_id = $3 AND state = 2",
    )
    .bind(bot_pk)
    .bind(delivery_id)
    .bind(w.id)
    .bind(now)
    .execute(&mut *c)
    .await?
    .rows_affected();
    let row =
        sqlx::query(&format!("{} WHERE bot_pk = $1 AND id = $2 AND webhook_id = $3", *DELIVERIES))
            .bind(bot_pk)
            .bind(delivery_id)
            .bind(w.id)
            .fetch_optional(&mut *c)
            .await?
            .ok_or(StoreError::NotFound("delivery"))?;
    if n == 0 {
        return Err(StoreError::Conflict("only a dead delivery can be retried"));
    }
    Ok(delivery(&row)?)
}

pub(super) async fn claim_deliveries(
    c: &mut PgConnection,
    now: Millis,
    lease_until: Millis,
    limit: u32,
) -> Result<Vec<DueDelivery>> {
    // Rows another sender holds are skipped, not waited for; the lease keeps them from being
    // taken again after this commits, until it runs out.
    let found = sqlx::query(
        "WITH due AS ( \
             SELECT bot_pk, id FROM webhook_deliveries \
             WHERE state = 0 AND next_attempt_at <= $1 \
             ORDER BY next_attempt_at LIMIT $2 FOR UPDATE SKIP LOCKED) \
         UPDATE webhook_deliveries d SET next_attempt_at = $3 FROM due, webhooks w \
         WHERE d.bot_pk = due.bot_pk AND d.id = due.id \
         AND w.bot_pk = d.bot_pk AND w.id = d.webhook_id \
         RETURNING d.id, w.url, w.secret, d.event_id, d.event, d.payload, d.attempts",
    )
    .bind(now)
    .bind(i64::from(limit))
    .bind(lease_until)
    .fetch_all(&mut *c)
    .await?;
    let mut due = Vec::with_capacity(found.len());
    for r in &found {
        let attempts: i64 = r.try_get(6)?;
        due.push(DueDelivery {
            id: r.try_get(0)?,
            url: r.try_get(1)?,
            secret: r.try_get(2)?,
            event_id: r.try_get(3)?,
            event: r.try_get(4)?,
            payload: r.try_get(5)?,
            attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        });
    }
    due.sort_by_key(|d| d.id);
    Ok(due)
}

pub(super) async fn record_delivery(
    c: &mut PgConnection,
    id: i64,
    result: &DeliveryResult,
    retry_at: Option<Millis>,
    now: Millis,
) -> Result<()> {
    match result {
        DeliveryResult::Delivered { status } => {
            sqlx::query(
                "UPDATE webhook_deliveries SET state = 1, attempts = attempts + 1, \
                 last_status = $2, last_error = NULL, delivered_at = $3 \
                 WHERE id = $1 AND state = 0",
            )
            .bind(id)
            .bind(i64::from(*status))
            .bind(now)
            .execute(&mut *c)
            .await?;
        }
        DeliveryResult::Failed { status, error } => {
            let state =
                if retry_at.is_some() { DeliveryState::Pending } else { DeliveryState::Dead };
            sqlx::query(
                "UPDATE webhook_deliveries SET state = $2, attempts = attempts + 1, \
                 last_status = $3, last_error = $4, next_attempt_at = $5 \
                 WHERE id = $1 AND state = 0",
            )
            .bind(id)
            .bind(state.code())
            .bind(status.map(i64::from))
            .bind(error)
            .bind(retry_at.unwrap_or(now))
            .execute(&mut *c)
            .await?;
        }
    }
    Ok(())
}
