//! SQLite's writer commits concurrent writes together and applies their rollup changes once per
//! group: many writes at once — some of them failing — must leave exactly the rollup rows that
//! the same writes made one at a time leave.

use std::path::Path;
use std::sync::Arc;

use confab_core::{MessageInput, NewMessage};
use confab_store::Store;
use serde_json::json;

/// Message `k` of the data set: 8 conversations over two channels and three days, steps and
/// token usage on the bot's answers.
fn message(k: usize) -> NewMessage {
    let conv = k % 8;
    let role = if k.is_multiple_of(3) { "bot" } else { "user" };
    let v = json!({
        "conversation_id": format!("c{conv}"),
        "id": format!("m{k}"),
        "role": role,
        "content": format!("message {k}"),
        "timestamp": format!("2026-03-0{}T{:02}:{:02}:00Z", 1 + conv % 3, 8 + k / 60, k % 60),
        "channel_type": if conv.is_multiple_of(2) { "web" } else { "sms" },
        "step": {"id": format!("s{}", (k / 8) % 4)},
        "metadata": if role == "bot" {
            json!({"model": "m", "input_tokens": k, "output_tokens": 1})
        } else {
            json!({})
        },
    });
    let now = confab_core::time::parse_rfc3339("now", "2026-06-01T00:00:00Z").unwrap();
    serde_json::from_value::<MessageInput>(v).unwrap().validate(now).unwrap()
}

/// Every rollup row, by the values of its dimensions rather than their row ids.
fn rollup_rows(db: &Path) -> Vec<String> {
    let c = rusqlite::Connection::open(db).unwrap();
    let mut rows = vec![];
    // Rows whose counts went back to zero are left by one-at-a-time writes (their changes
    // cancel out inside one group otherwise): the same answers either way, so not compared.
    for (table, columns, nonzero) in [
        (
            "rollups",
            "r.level, r.slot, r.conversations, r.duration_ms, r.handoffs, r.n_user, r.n_bot, \
             r.n_agent, r.n_system, r.not_handled",
            "r.conversations != 0 OR r.duration_ms != 0 OR r.handoffs != 0 OR r.n_user != 0 \
             OR r.n_bot != 0 OR r.n_agent != 0 OR r.n_system != 0 OR r.not_handled != 0",
        ),
        ("flow_edges", "r.level, r.slot, r.from_id, r.to_id, r.n", "r.n != 0"),
        ("flow_exits", "r.level, r.slot, r.step_id, r.n", "r.n != 0"),
        (
            "token_rollups",
            "r.level, r.slot, r.model, r.input_tokens, r.output_tokens",
            "r.input_tokens != 0 OR r.output_tokens != 0",
        ),
    ] {
        let sql = format!(
            "SELECT '{table}' || ' ' || d.channel_type || ' ' || concat_ws(' ', {columns}) \
             FROM {table} r JOIN rollup_dims d ON d.id = r.dims_id WHERE {nonzero}"
        );
        let mut stmt = c.prepare(&sql).unwrap();
        let found = stmt.query_map([], |r| r.get::<_, String>(0)).unwrap();
        rows.extend(found.map(Result::unwrap));
    }
    let mut stmt = c
        .prepare(
            "SELECT 'dim_rollups ' || concat_ws(' ', dim, day, value, conversations, \
             duration_ms, handoffs, n_user, n_bot, n_agent, n_system, not_handled) \
             FROM dim_rollups WHERE conversations != 0 OR duration_ms != 0 OR handoffs != 0 \
             OR n_user != 0 OR n_bot != 0 OR n_agent != 0 OR n_system != 0 OR not_handled != 0",
        )
        .unwrap();
    let found = stmt.query_map([], |r| r.get::<_, String>(0)).unwrap();
    rows.extend(found.map(Result::unwrap));
    rows.sort();
    rows
}

#[tokio::test]
async fn concurrent_writes_leave_the_rollups_of_sequential_ones() {
    const N: usize = 400;
    let dir = tempfile::tempdir().unwrap();
    let (one_by_one, together) = (dir.path().join("a.db"), dir.path().join("b.db"));

    let store = confab_store::open(one_by_one.to_str().unwrap()).await.unwrap();
    let team = store.create_team("t").await.unwrap().id;
    for k in 0..N {
        store.ingest(team, "bot", true, vec![message(k)]).await.unwrap();
    }
    store.close().await;

    let store: Arc<dyn Store> = confab_store::open(together.to_str().unwrap()).await.unwrap();
    let team = store.create_team("t").await.unwrap().id;
    store.ingest(team, "bot", true, vec![message(0)]).await.unwrap();
    let tasks: Vec<_> = (1..N)
        .map(|k| {
            let store = store.clone();
            tokio::spawn(async move {
                // Writes that fail inside the same groups: a bot that does not exist.
                let failing = store.ingest(team, "no-such-bot", false, vec![message(k)]).await;
                assert!(failing.is_err());
                store.ingest(team, "bot", true, vec![message(k)]).await.unwrap()
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    store.close().await;

    let (want, got) = (rollup_rows(&one_by_one), rollup_rows(&together));
    assert!(want.len() > 50, "{want:?}");
    let missing: Vec<&String> = want.iter().filter(|r| !got.contains(r)).collect();
    let extra: Vec<&String> = got.iter().filter(|r| !want.contains(r)).collect();
    assert!(missing.is_empty() && extra.is_empty(), "missing {missing:#?}\nextra {extra:#?}");
}
