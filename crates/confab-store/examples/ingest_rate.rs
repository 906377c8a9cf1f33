//! Store-level batch ingest rate on a backend, for comparing backends until the benchmark crate
//! measures over HTTP: `cargo run -p confab-store --release --example ingest_rate -- URL
//! [MESSAGES] [WRITERS]`. 10-message conversations, 1,000-message batches, `WRITERS` concurrent
//! writers (default 1). Use an empty database: it writes into bot `rate` of a new team.

use std::time::Instant;

use confab_core::{MessageInput, NewMessage};
use serde_json::json;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let url = args.next().expect("usage: ingest_rate URL [MESSAGES] [WRITERS]");
    let total: usize = args.next().map_or(200_000, |n| n.parse().expect("MESSAGES"));
    let writers: usize = args.next().map_or(1, |n| n.parse().expect("WRITERS"));
    let store = confab_store::open(&url).await.expect("opening the store");
    let team = store.create_team("rate").await.unwrap().id;
    let now = confab_core::time::now_millis();
    let start_at = now - 3_600_000;
    let batches: Vec<Vec<NewMessage>> = (0..total / 1_000)
        .map(|b| {
            (0..1_000)
                .map(|i| {
                    let n = b * 1_000 + i;
                    let channel = ["web", "whatsapp", "messenger"][n / 10 % 3];
                    let input: MessageInput = serde_json::from_value(json!({
                        "conversation_id": format!("c{}", n / 10),
                        "id": format!("m{n}"),
                        "role": if n % 2 == 0 { "user" } else { "bot" },
                        "content": format!("message {n} about an order, delivery to Kraków on Friday"),
                        "timestamp": start_at + n as i64,
                        "channel_type": channel,
                        "step": {"id": format!("step-{}", n % 10), "type": "message"},
                    }))
                    .unwrap();
                    input.validate(now).unwrap()
                })
                .collect()
        })
        .collect();
    let started = Instant::now();
    let mut tasks = vec![];
    for w in 0..writers {
        let store = store.clone();
        let mine: Vec<Vec<NewMessage>> = batches.iter().skip(w).step_by(writers).cloned().collect();
        tasks.push(tokio::spawn(async move {
            for batch in mine {
                store.ingest(team, "rate", true, batch).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{} messages in {secs:.2} s with {writers} writer(s): {:.0} messages/s",
        batches.len() * 1_000,
        (batches.len() * 1_000) as f64 / secs
    );
    store.close().await;
}
