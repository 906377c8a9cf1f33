//! The flow's per-step conversations (`flow_steps`) on every backend: each step counts a
//! conversation once however often it comes back, and as completed once the conversation
//! reaches a goal step — also when that happens in a later write, when a late message moves the
//! conversation to another channel, and after an erasure (its counts stay, like the other
//! rollups). The migration that creates them (SQLite's 14, PostgreSQL's 8) fills each
//! conversation's visited steps and the rows from the stored messages as ingest would have.
//! (`analytics_property.rs` checks them against a brute force on random histories.)

// Only its openers: each test here changes the database between two stores.
#[allow(unused_macros)]
mod backends;

use std::sync::Arc;

use confab_core::bot::BotSettings;
use confab_core::flow::FlowRequest;
use confab_core::rollup::Plan;
use confab_core::summary::Dim;
use confab_core::time::parse_rfc3339;
use confab_core::{MessageInput, NewMessage};
use confab_store::Store;
use serde_json::json;

fn ms(s: &str) -> i64 {
    parse_rfc3339("t", s).unwrap()
}

fn msg(conv: &str, id: &str, ts: &str, step: Option<&str>, channel: Option<&str>) -> NewMessage {
    let mut v = json!({"conversation_id": conv, "id": id, "role": "bot", "content": "hi",
                       "timestamp": ts});
    if let Some(s) = step {
        v["step"] = json!({"id": s, "type": "node"});
    }
    if let Some(c) = channel {
        v["channel_type"] = json!(c);
    }
    serde_json::from_value::<MessageInput>(v).unwrap().validate(ms("2026-06-01T00:00:00Z")).unwrap()
}

/// Per step of the flow of conversations started on 1–3 March (optionally on one channel):
/// `id=conversations/completed`, by id.
async fn visits(store: &Arc<dyn Store>, team: i64, channel: Option<&str>) -> Vec<String> {
    // Edges inside a slot at both ends: the conversations there are counted from their rows.
    // (Steps are listed by id: `START` first.)
    let (start, end) = (ms("2026-03-01T00:07:00Z"), ms("2026-03-03T23:53:00Z"));
    let filters = channel.map(|c| vec![(Dim::ChannelType, vec![c.to_owned()])]);
    let req = FlowRequest {
        start,
        end,
        plan: Plan::span(start, end),
        filters: filters.unwrap_or_default(),
        active_after: ms("2026-06-01T00:00:00Z"),
    };
    let totals = store.flow_totals(team, "bot", &req).await.unwrap();
    totals
        .visits
        .iter()
        .map(|(k, v)| format!("{}={}/{}", k.id, v.conversations, v.completed))
        .collect()
}

/// Four conversations of a bot whose goal is `done`, written the ways that change per-step
/// counts; returns the team and the answers to check an upgraded store against.
async fn ingest_and_answer(store: &Arc<dyn Store>) -> (i64, Vec<Vec<String>>) {
    let team = store.create_team("t").await.unwrap().id;
    let goals = BotSettings { goal_steps: vec!["done".into()], ..BotSettings::default() };
    store.put_bot_settings(team, "bot", true, &goals).await.unwrap();
    let day = "2026-03-01T";
    let at = |t: &str| format!("{day}{t}Z");
    // a loops a → b → a and completes at done; b stops at b; c reaches done in a later write;
    // d is erased after it was counted.
    let first = vec![
        msg("a", "a1", &at("10:00:00"), Some("ask"), Some("web")),
        msg("a", "a2", &at("10:00:10"), Some("fix"), None),
        msg("a", "a3", &at("10:00:20"), Some("ask"), None),
        msg("a", "a4", &at("10:00:30"), Some("done"), None),
        msg("b", "b1", &at("11:00:00"), Some("ask"), Some("sms")),
        msg("b", "b2", &at("11:00:10"), Some("fix"), None),
        msg("c", "c1", &at("00:08:00"), Some("ask"), Some("web")),
        msg("d", "d1", &at("12:00:00"), Some("ask"), Some("web")),
    ];
    store.ingest(team, "bot", true, first).await.unwrap();
    // c goes on, one message at a time (the common write), and completes.
    for (id, t, step) in
        [("c2", "00:08:10", "ask"), ("c3", "00:08:20", "fix"), ("c4", "00:09:00", "done")]
    {
        store
            .ingest(team, "bot", true, vec![msg("c", id, &at(t), Some(step), None)])
            .await
            .unwrap();
    }
    // A late earlier message moves b to the web channel and an earlier slot.
    let early = msg("b", "b0", "2026-03-01T09:00:00Z", None, Some("web"));
    store.ingest(team, "bot", true, vec![early]).await.unwrap();
    store.delete_conversation(team, "bot", "d").await.unwrap();
    let all = visits(store, team, None).await;
    // c started inside the first slot's window and is counted from its row there.
    assert_eq!(all, ["START=4/2", "ask=4/2", "done=2/2", "fix=3/2"], "{all:?}");
    let web = visits(store, team, Some("web")).await;
    assert_eq!(web, ["START=4/2", "ask=4/2", "done=2/2", "fix=3/2"], "b moved to web: {web:?}");
    assert!(visits(store, team, Some("sms")).await.is_empty());
    (team, vec![all, web])
}

#[tokio::test]
async fn sqlite_visits_and_migration_14() {
    let (dir, store) = backends::open_sqlite().await;
    let (team, expected) = ingest_and_answer(&store).await;
    store.close().await;

    // Back to version 13: no per-step rows, no visited steps in the stamps.
    let path = dir.path().join("confab.db");
    let c = rusqlite::Connection::open(&path).unwrap();
    c.execute_batch(
        "DELETE FROM schema_migrations WHERE version = 14; DROP TABLE flow_steps; \
         UPDATE conversations SET stamps = json_remove(stamps, '$.v');",
    )
    .unwrap();
    drop(c);
    let store = confab_store::open(path.to_str().unwrap()).await.unwrap();
    check_upgraded(&store, team, &expected).await;
}

/// After the migration: the counts filled in from the stored messages, and ingest going on
/// from the filled-in stamps.
async fn check_upgraded(store: &Arc<dyn Store>, team: i64, expected: &[Vec<String>]) {
    let upgraded = [visits(store, team, None).await, visits(store, team, Some("web")).await];
    // d was erased before the upgrade: the backfill cannot count what is gone.
    let without_d = ["START=3/2", "ask=3/2", "done=2/2", "fix=3/2"];
    assert_eq!(upgraded, [without_d, without_d], "expected before the upgrade: {expected:?}");
    // A new step for c counts it once more there, and not again where it was.
    let more = msg("c", "c5", "2026-03-01T00:09:30Z", Some("bye"), None);
    store.ingest(team, "bot", true, vec![more]).await.unwrap();
    let after = visits(store, team, None).await;
    assert_eq!(after, ["START=3/2", "ask=3/2", "bye=1/1", "done=2/2", "fix=3/2"]);
    store.close().await;
}

#[tokio::test]
async fn postgres_visits_and_migration_8() {
    use sqlx::Connection;
    let Some((db, store)) = backends::open_postgres().await else { return };
    let (team, expected) = ingest_and_answer(&store).await;
    store.close().await;

    // Back to version 7: no per-step rows, no visited steps in the stamps.
    let mut c = sqlx::PgConnection::connect(&db.url).await.unwrap();
    sqlx::raw_sql(
        "DELETE FROM schema_migrations WHERE version = 8; DROP TABLE flow_steps; \
         UPDATE conversations SET stamps = (stamps::jsonb - 'v')::text;",
    )
    .execute(&mut c)
    .await
    .unwrap();
    c.close().await.unwrap();
    let store = confab_store::open(&db.url).await.unwrap();
    check_upgraded(&store, team, &expected).await;
}
