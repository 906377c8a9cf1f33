//! Erasure is physical: after a conversation (or an end user) is deleted and the store closed,
//! the deleted text occurs nowhere in the database files: not in free pages, not in the FTS5
//! index, not in the write-ahead log.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use confab_core::MessageInput;
use confab_core::NewMessage;
use confab_core::conversation::IngestOutcome;
use confab_core::query::{ConversationFilter, PageRequest};
use confab_core::time::{self, Millis};
use confab_store::Store;
use serde_json::json;

/// The secret as said, and a token of it as the search index keeps it (lower-cased, alone).
const SECRET: &str = "secret-7f3a9c-zebra";
const SECRET_TOKEN: &str = "7f3a9c";
const NEEDLES: [&str; 2] = [SECRET, SECRET_TOKEN];

fn now() -> Millis {
    time::parse_rfc3339("now", "2026-06-01T00:00:00Z").unwrap()
}

fn t0() -> Millis {
    time::parse_rfc3339("t0", "2026-01-10T00:00:00Z").unwrap()
}

fn msg(conversation: &str, user: &str, role: &str, content: &str, ms: Millis) -> NewMessage {
    serde_json::from_value::<MessageInput>(json!({
        "conversation_id": conversation, "role": role, "content": content, "timestamp": ms,
        "user_id": user,
    }))
    .unwrap()
    .validate(now())
    .unwrap()
}

/// Filler text: words only, none sharing a prefix with the secret's tokens, so that the index
/// would keep those tokens whole.
fn filler(i: usize) -> String {
    const WORDS: [&str; 12] = [
        "hello", "table", "booking", "friday", "window", "dinner", "guests", "menu", "wine",
        "garden", "evening", "thanks",
    ];
    (0..8).map(|k| WORDS[(i * 7 + k * 5) % WORDS.len()]).collect::<Vec<_>>().join(" ")
}

/// Every file of the database: the main file, the WAL and its index, a rollback journal.
fn db_files(db: &Path) -> Vec<PathBuf> {
    ["", "-wal", "-shm", "-journal"]
        .iter()
        .map(|s| PathBuf::from(format!("{}{s}", db.display())))
        .filter(|p| p.exists())
        .collect()
}

fn count(haystack: &[u8], needle: &str) -> usize {
    haystack.windows(needle.len()).filter(|w| *w == needle.as_bytes()).count()
}

/// `(file, needle, occurrences)` for every needle found in the database files.
fn occurrences(db: &Path) -> Vec<(String, &'static str, usize)> {
    let mut found = vec![];
    for file in db_files(db) {
        let bytes = std::fs::read(&file).unwrap();
        for needle in NEEDLES {
            let n = count(&bytes, needle);
            if n > 0 {
                found.push((file.display().to_string(), needle, n));
            }
        }
    }
    found
}

async fn search(store: &Arc<dyn Store>, team: i64, bot: &str, q: &str) -> Vec<String> {
    let params = vec![("q".to_owned(), q.to_owned())];
    let (filter, _) = ConversationFilter::from_params(&params).unwrap();
    let page = PageRequest { limit: 100, cursor: None };
    let page = store.list_conversations(team, bot, &filter, &page).await.unwrap();
    page.items.into_iter().map(|c| c.conversation_id).collect()
}

/// How the secret is erased.
#[derive(Clone, Copy, Debug)]
enum Erase {
    Conversation,
    User,
}

/// Stores `filler_conversations` conversations of filler around one conversation holding the
/// secret (in a user message, so also in the summary's first user message), erases it, closes
/// the store and searches the files' bytes.
async fn secret_leaves_no_trace(filler_conversations: usize, how: Erase) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("confab.db");
    let store = confab_store::open(db.to_str().unwrap()).await.unwrap();
    let team = store.create_team("t").await.unwrap().id;

    // Filler before and after the secret, in many small commits, so that the secret's rows share
    // pages with other rows, get moved when pages split, the summary row holding it is rewritten
    // several times, and the search index merges segments that hold it.
    let half = filler_conversations / 2;
    let victim = [
        ("victim", "user", format!("my code is {SECRET}, keep it")),
        ("victim", "bot", "noted".to_owned()),
        ("victim", "user", format!("again: {SECRET}")),
        // Another conversation of the same user, for the user erasure.
        ("victim-2", "user", format!("{SECRET} once more")),
        ("victim", "bot", "bye".to_owned()),
    ];
    for i in 0..filler_conversations.max(victim.len()) {
        if let Some((conv, role, content)) = i.checked_sub(half).and_then(|k| victim.get(k)) {
            let ms = t0() + i as Millis * 1_000;
            let m = vec![msg(conv, "vic", role, content, ms)];
            assert_eq!(store.ingest(team, "b", true, m).await.unwrap(), [IngestOutcome::Stored]);
        }
        if i >= filler_conversations {
            continue;
        }
        let conv = format!("f{i}");
        let ms = t0() + i as Millis * 60_000;
        let m = (0..4)
            .map(|k| {
                let role = if k % 2 == 0 { "user" } else { "bot" };
                msg(&conv, &format!("u{i}"), role, &filler(i + k), ms + k as Millis)
            })
            .collect();
        store.ingest(team, "b", true, m).await.unwrap();
    }
    assert_eq!(search(&store, team, "b", "7f3a9c zebra").await.len(), 2);

    // The check below can see the secret: before erasure it is in the files.
    let before = occurrences(&db);
    assert!(
        before.iter().any(|(_, n, _)| *n == SECRET),
        "the secret is written somewhere before erasure: {before:?}"
    );

    match how {
        Erase::Conversation => {
            store.delete_conversation(team, "b", "victim").await.unwrap();
            store.delete_conversation(team, "b", "victim-2").await.unwrap();
        }
        Erase::User => assert_eq!(store.delete_user(team, "b", "vic").await.unwrap(), 2),
    }
    // Already when the erasure returns, not only after a clean stop.
    let at_once = occurrences(&db);
    assert!(
        at_once.is_empty(),
        "erased text still in the files when DELETE returned ({how:?}): {at_once:?}"
    );
    assert!(search(&store, team, "b", "7f3a9c").await.is_empty());
    assert!(search(&store, team, "b", "zebra").await.is_empty());
    // The rest is intact.
    assert_eq!(search(&store, team, "b", "hello").await.len(), filler_conversations.min(100));
    store.close().await;

    let after = occurrences(&db);
    assert!(after.is_empty(), "erased text still in the database files ({how:?}): {after:?}");

    // The store opens again and the filler is all there.
    let store = confab_store::open(db.to_str().unwrap()).await.unwrap();
    let bots = store.list_bots(team).await.unwrap();
    assert_eq!(bots[0].conversations, filler_conversations as i64);
    store.close().await;
}

#[tokio::test]
async fn deleted_conversation_leaves_no_trace_small() {
    secret_leaves_no_trace(2, Erase::Conversation).await;
}

#[tokio::test]
async fn deleted_conversation_leaves_no_trace_among_many() {
    secret_leaves_no_trace(400, Erase::Conversation).await;
}

#[tokio::test]
async fn deleted_user_leaves_no_trace() {
    secret_leaves_no_trace(400, Erase::User).await;
}

/// A conversation erased in the same write transaction that stored it (the writer groups
/// concurrent requests): its text must not reach the search index afterwards.
#[tokio::test]
async fn conversation_erased_in_the_transaction_that_stored_it_leaves_no_trace() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("confab.db");
    let store = confab_store::open(db.to_str().unwrap()).await.unwrap();
    let team = store.create_team("t").await.unwrap().id;
    for round in 0..20 {
        // A large write ahead of them keeps the writer busy, so the two requests queued behind
        // it are taken into one transaction.
        let filler: Vec<NewMessage> = (0..1_000)
            .map(|k| {
                msg(&format!("f{round}-{}", k % 5), "u", "user", &filler(k), t0() + k as Millis)
            })
            .collect();
        let victim = format!("victim-{round}");
        let secret = vec![msg(&victim, "vic", "user", &format!("my code is {SECRET}"), t0())];
        let (filled, stored, erased) = tokio::join!(
            store.ingest(team, "b", true, filler),
            store.ingest(team, "b", true, secret),
            store.delete_conversation(team, "b", &victim),
        );
        filled.unwrap();
        assert_eq!(stored.unwrap(), [IngestOutcome::Stored]);
        erased.unwrap();
    }
    assert!(search(&store, team, "b", "7f3a9c").await.is_empty());
    assert_eq!(search(&store, team, "b", "hello").await.len(), 100);
    store.close().await;
    let after = occurrences(&db);
    assert!(after.is_empty(), "erased text still in the database files: {after:?}");
}
