//! The not-handled messages a store hands the clustering, on every backend: user messages marked
//! `handled: false` and the user message before a marked reply, each once, newest first; the
//! cap keeps the ones marked last and is filled with distinct messages (a question answered by
//! two marked fallbacks takes one place), reading past marks that resolve to nothing. The
//! server's `tests/unhandled.rs` checks the clusters over HTTP.

#[macro_use]
mod backends;

use std::sync::Arc;

use confab_core::time::{format_rfc3339, parse_rfc3339};
use confab_core::{MessageInput, NewMessage};
use confab_store::Store;
use serde_json::json;

fn ms(s: &str) -> i64 {
    parse_rfc3339("t", s).unwrap()
}

/// A message `min` minutes after 10:00 on 1 March; `marked`: `handled: false`.
fn msg(conv: &str, id: &str, role: &str, min: i64, content: &str, marked: bool) -> NewMessage {
    let ts = format_rfc3339(ms("2026-03-01T10:00:00Z") + min * 60_000);
    let mut v = json!({"conversation_id": conv, "id": id, "role": role, "content": content,
                       "timestamp": ts});
    if marked {
        v["metadata"] = json!({"handled": false});
    }
    serde_json::from_value::<MessageInput>(v).unwrap().validate(ms("2026-06-01T00:00:00Z")).unwrap()
}

async fn newest_first_distinct_and_capped(store: Arc<dyn Store>) {
    let team = store.create_team("t").await.unwrap().id;
    let messages = vec![
        // a: a question before two marked fallbacks in a row; counted once, at 10:01.
        msg("a", "a1", "user", 1, "where is my parcel", false),
        msg("a", "a2", "bot", 2, "sorry?", true),
        msg("a", "a3", "bot", 3, "sorry, again?", true),
        // b: a marked user message, and a handled one after it.
        msg("b", "b1", "user", 4, "cancel my plan", true),
        msg("b", "b2", "user", 5, "thanks", false),
        msg("b", "b3", "bot", 6, "done", false),
        // c: a marked greeting before any user message: nothing to count.
        msg("c", "c1", "bot", 7, "hello?", true),
        // d: the newest.
        msg("d", "d1", "user", 8, "refund please", false),
        msg("d", "d2", "agent", 9, "I could not help", true),
    ];
    store.ingest(team, "bot", true, messages).await.unwrap();
    // e: the newest marks, 300 fallbacks after one question — more than a page of marks
    // (PostgreSQL reads them a page at a time) that all resolve to one message.
    let mut e = vec![msg("e", "e0", "user", 10, "status of my order", false)];
    e.extend((1..=300).map(|i| msg("e", &format!("e{i}"), "bot", 10 + i, "sorry?", true)));
    store.ingest(team, "bot", true, e).await.unwrap();
    let range = (ms("2026-03-01T00:00:00Z"), ms("2026-03-02T00:00:00Z"));
    let got = |limit: u32| {
        let store = store.clone();
        async move {
            let found = store.unhandled_messages(team, "bot", range, limit).await.unwrap();
            found.into_iter().map(|m| m.content).collect::<Vec<_>>()
        }
    };
    let all = ["status of my order", "refund please", "cancel my plan", "where is my parcel"];
    assert_eq!(got(10).await, all);
    // The cap keeps those marked last, each once: e's 300 marks take one place.
    assert_eq!(got(2).await, all[..2]);
    assert_eq!(got(3).await, all[..3]);
    // c's mark resolves to nothing and takes no place; a's two marks are one message.
    assert_eq!(got(4).await, all);
    // A range holding only a's second fallback still counts the question before it.
    let late = (ms("2026-03-01T10:02:30Z"), ms("2026-03-01T10:03:30Z"));
    let found = store.unhandled_messages(team, "bot", late, 10).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!((found[0].conversation_id.as_str(), found[0].ts), ("a", ms("2026-03-01T10:01:00Z")));
    // Another team's bot of the same id sees none of it.
    let other = store.create_team("other").await.unwrap().id;
    store.ingest(other, "bot", true, vec![msg("z", "z1", "user", 1, "hi", false)]).await.unwrap();
    assert!(store.unhandled_messages(other, "bot", range, 10).await.unwrap().is_empty());
}

backend_tests!([newest_first_distinct_and_capped]);
