//! `Store::stats`, what `/metrics` reads at each scrape, on every backend: the finaliser's
//! backlog follows each bot's inactivity timeout and empties as conversations end, the webhook
//! outbox counts what waits to be sent, and the sizes and queues are the backend's own.

#[macro_use]
mod backends;

use std::sync::Arc;

use confab_core::MessageInput;
use confab_core::bot::BotSettings;
use confab_core::time::{self, Millis};
use confab_core::webhook::WebhookInput;
use confab_store::Store;
use serde_json::json;

const MINUTE: Millis = 60_000;

fn now() -> Millis {
    time::parse_rfc3339("now", "2026-06-01T12:00:00Z").unwrap()
}

async fn say(store: &Arc<dyn Store>, team: i64, bot: &str, conversation: &str, at: Millis) {
    let m = json!({"conversation_id": conversation, "role": "user", "content": "hi",
                   "timestamp": at});
    let m = serde_json::from_value::<MessageInput>(m).unwrap().validate(now()).unwrap();
    store.ingest(team, bot, true, vec![m]).await.unwrap();
}

async fn backlog_outbox_and_sizes(store: Arc<dyn Store>) {
    let team = store.create_team("t").await.unwrap().id;
    let empty = store.stats(now()).await.unwrap();
    assert_eq!((empty.finaliser_backlog, empty.webhook_outbox), (0, 0));
    assert!(empty.database_bytes > 0, "{empty:?}");

    let hook = WebhookInput {
        url: "https://x.test/h".into(),
        events: vec!["conversation.ended".into()],
        secret: None,
    };
    store.create_webhook(team, "shop", true, &hook.validate().unwrap()).await.unwrap();
    // The default timeout is 10 minutes: two conversations quiet for 30, one for 2.
    say(&store, team, "shop", "old-1", now() - 30 * MINUTE).await;
    say(&store, team, "shop", "old-2", now() - 31 * MINUTE).await;
    say(&store, team, "shop", "recent", now() - 2 * MINUTE).await;
    let stats = store.stats(now()).await.unwrap();
    assert_eq!(stats.finaliser_backlog, 2, "{stats:?}");
    assert_eq!(stats.webhook_outbox, 0);
    // Later, the recent one is idle too.
    assert_eq!(store.stats(now() + 20 * MINUTE).await.unwrap().finaliser_backlog, 3);

    // Finalising the two queues one `conversation.ended` delivery each.
    let idle = store.idle_conversations(now(), now() + MINUTE, 10).await.unwrap();
    assert_eq!(idle.len(), 2);
    for c in idle {
        let ended =
            store.finalise(c.pk, c.last_message_at, c.message_count, vec![], now()).await.unwrap();
        assert!(ended);
    }
    let stats = store.stats(now()).await.unwrap();
    assert_eq!((stats.finaliser_backlog, stats.webhook_outbox), (0, 2), "{stats:?}");

    // What only one backend has.
    match (stats.wal_bytes, stats.writer_queue, stats.pool) {
        (Some(_), Some(queue), None) => assert_eq!(queue, 0, "nothing is being written"),
        (None, None, Some(pool)) => {
            assert!(pool.open >= 1 && pool.open <= pool.max, "{pool:?}");
            assert!(pool.idle <= pool.open, "{pool:?}");
        }
        other => panic!("neither SQLite's nor PostgreSQL's figures: {other:?}"),
    }

    // Each bot's own timeout counts: an hour for "slow", a minute for "fast".
    for (bot, seconds) in [("slow", 3600), ("fast", 60)] {
        let settings = BotSettings { inactivity_timeout_seconds: seconds, ..Default::default() };
        store.put_bot_settings(team, bot, true, &settings).await.unwrap();
    }
    say(&store, team, "slow", "slow-quiet-30", now() - 30 * MINUTE).await;
    say(&store, team, "slow", "slow-quiet-70", now() - 70 * MINUTE).await;
    say(&store, team, "fast", "fast-quiet-2", now() - 2 * MINUTE).await;
    let stats = store.stats(now()).await.unwrap();
    assert_eq!(stats.finaliser_backlog, 2, "slow-quiet-70 and fast-quiet-2: {stats:?}");
    let idle = store.idle_conversations(now(), now() + MINUTE, 10).await.unwrap();
    let mut ids: Vec<_> = idle.iter().map(|c| c.bot_id.as_str()).collect();
    ids.sort();
    assert_eq!(ids, ["fast", "slow"], "the finaliser's own query agrees");
}

backend_tests!([backlog_outbox_and_sizes]);
