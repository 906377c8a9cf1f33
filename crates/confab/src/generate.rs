//! `confab generate`: the benchmark's data set (`confab_bench::generate`) at any size, written
//! straight through the store (fastest), posted to a running server over HTTP, or to JSONL.

use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use confab_bench::generate::{self, Config};
use confab_bench::progress::Progress;
use confab_core::MessageInput;
use confab_core::datapoints::SchemaInput;
use confab_store::Store;
use serde_json::json;

const BATCH: usize = 1_000;

/// Where the data goes.
pub enum Target {
    /// Into this store, team `team`.
    Store { store: Arc<dyn Store>, team: i64 },
    /// To a running server at `url` with an `ingest`+`admin` key.
    Http { url: String, key: String },
    /// One `{"bot_id", "message"}` object a line, to a file or `-` (stdout).
    Jsonl(String),
}

pub async fn run(cfg: &Config, target: Target) -> Result<()> {
    let started = Instant::now();
    let schema = generate::schema();
    let mut out: Option<Box<dyn Write>> = None;
    let http = reqwest::Client::new();
    match &target {
        Target::Store { store, team } => {
            let schema: SchemaInput = serde_json::from_value(schema.clone())?;
            for bot in generate::bot_ids(cfg) {
                store.put_datapoint_schema(*team, &bot, true, &schema).await?;
            }
        }
        Target::Http { url, key } => {
            for bot in generate::bot_ids(cfg) {
                let r = http
                    .put(format!("{url}/v1/bots/{bot}/datapoints/schema"))
                    .bearer_auth(key)
                    .json(&schema)
                    .send()
                    .await?;
                if !r.status().is_success() {
                    bail!("PUT schema of {bot}: {}: {}", r.status(), r.text().await?);
                }
            }
        }
        Target::Jsonl(path) => {
            out = Some(if path == "-" {
                Box::new(std::io::BufWriter::new(std::io::stdout()))
            } else {
                Box::new(std::io::BufWriter::new(
                    std::fs::File::create(path).with_context(|| format!("creating {path}"))?,
                ))
            });
        }
    }
    let mut pending: std::collections::BTreeMap<String, Vec<MessageInput>> = Default::default();
    let (mut conversations, mut messages) = (0u64, 0u64);
    let mut progress = Progress::new("generate", cfg.conversations as u64, "conversations");
    for conv in generate::conversations(cfg) {
        progress.inc(1);
        conversations += 1;
        messages += conv.messages.len() as u64;
        if let Some(out) = &mut out {
            for m in &conv.messages {
                serde_json::to_writer(&mut *out, &json!({"bot_id": conv.bot_id, "message": m}))?;
                out.write_all(b"\n")?;
            }
            continue;
        }
        let batch = pending.entry(conv.bot_id.clone()).or_default();
        batch.extend(conv.messages);
        while batch.len() >= BATCH {
            let rest = batch.split_off(BATCH);
            let full = std::mem::replace(batch, rest);
            send(&target, &http, cfg, &conv.bot_id, full).await?;
        }
    }
    for (bot, batch) in pending {
        if !batch.is_empty() {
            send(&target, &http, cfg, &bot, batch).await?;
        }
    }
    if let Some(mut out) = out {
        out.flush()?;
    }
    progress.finish();
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "generated {conversations} conversations, {messages} messages over {} bots in {secs:.1} s \
         ({:.0} messages/s)",
        cfg.bots,
        messages as f64 / secs
    );
    Ok(())
}

async fn send(
    target: &Target,
    http: &reqwest::Client,
    cfg: &Config,
    bot: &str,
    batch: Vec<MessageInput>,
) -> Result<()> {
    match target {
        Target::Store { store, team } => {
            let msgs = batch
                .into_iter()
                .map(|m| {
                    m.validate(cfg.end).map_err(|e| anyhow::anyhow!("{}: {}", e.field, e.message))
                })
                .collect::<Result<Vec<_>>>()?;
            store.ingest(*team, bot, true, msgs).await?;
        }
        Target::Http { url, key } => {
            let r = http
                .post(format!("{url}/v1/bots/{bot}/messages/batch"))
                .bearer_auth(key)
                .json(&json!({ "messages": batch }))
                .send()
                .await?;
            if r.status() != reqwest::StatusCode::OK {
                bail!("POST batch to {bot}: {}: {}", r.status(), r.text().await?);
            }
        }
        // JSONL lines are written as they are generated, never batched.
        Target::Jsonl(_) => {}
    }
    Ok(())
}
