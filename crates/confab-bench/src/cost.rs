//! Extraction's cost on ingest. The main run's bots have datapoint schemas, so scenarios 1 and 2
//! pay for extraction inside the write transaction; here the same two scenarios run again, on a
//! fresh database of their own, for bots without one. Extraction's share of ingest time is
//! then 1 − rate with / rate without (the target: at most 25 % of the writer's time). With
//! `--perf`, scenario 1 also runs once more with schemas and the writer thread under `perf`, to
//! measure that share directly and name the hot functions.

use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use serde_json::{Value, json};

use crate::scenarios::{self, Client};
use crate::server::{self, Server};
use crate::stats::Measured;
use crate::{BATCH_CLIENTS, SINGLE_BOT, SINGLE_CLIENTS, profile};
use confab_bench::generate::{self, Config};
use confab_core::Role;
use confab_core::datapoints::SchemaInput;
use confab_core::extract::{self, Turn};

/// The thread that owns SQLite's write connection (`confab_store::sqlite::writer`).
const WRITER_THREAD: &str = "confab-sqlite-writer";
/// Extraction may take at most this share of the writer's time.
pub const TARGET_SHARE: f64 = 0.25;

/// A server on a fresh database at `db` whose bots have `schemas`, and a client with its key.
async fn fresh_server(db: &Path, schemas: &[(String, Value)]) -> Result<(Server, Client)> {
    let db = db.to_str().context("a UTF-8 path")?;
    let key = server::prepare(db).await?;
    let srv = Server::start(db)?;
    let client = Client::new(&srv.base, &key);
    scenarios::put_schemas(&client, schemas).await?;
    Ok((srv, client))
}

/// Scenarios 1 and 2 on a fresh database at `db` whose bots get `schemas` (none: no schema).
pub async fn ingest(
    db: &Path,
    batches: &Path,
    schemas: &[(String, Value)],
    singles: Vec<Vec<u8>>,
) -> Result<(Measured, Measured)> {
    let (_server, client) = fresh_server(db, schemas).await?;
    let batch =
        scenarios::batch_ingest(std::slice::from_ref(&client), batches, BATCH_CLIENTS).await?;
    let single = scenarios::single_ingest(
        std::slice::from_ref(&client),
        SINGLE_BOT,
        singles,
        SINGLE_CLIENTS,
    )
    .await?;
    Ok((batch, single))
}

/// Scenario 1 on a fresh database at `db` with `schemas`, the server's writer thread recorded
/// by perf into `perf_file`: the rate (slowed by the recording) and the profile's shares.
pub async fn profiled_batch(
    db: &Path,
    batches: &Path,
    schemas: &[(String, Value)],
    perf_file: &Path,
) -> Result<(Measured, Value)> {
    let (srv, client) = fresh_server(db, schemas).await?;
    let tid = srv.thread(WRITER_THREAD).context("finding the server's writer thread")?;
    let recording = profile::record(tid, perf_file)?;
    let batch =
        scenarios::batch_ingest(std::slice::from_ref(&client), batches, BATCH_CLIENTS).await;
    let file = recording.stop()?;
    let batch = batch?;
    drop(srv);
    Ok((batch, profile::analyse(&file)?))
}

/// The walk alone over the data set (`confab_core::extract`, each conversation with its bot's
/// schema, in process, no store): microseconds per message.
pub fn walk_micros_per_message(cfg: &Config) -> Result<f64> {
    let mut schemas = HashMap::new();
    for (bot, schema) in generate::schemas(cfg) {
        let input: SchemaInput = serde_json::from_value(schema)?;
        let schema = input.validate().map_err(|e| anyhow::anyhow!("{}", e.message))?;
        schemas.insert(bot, schema);
    }
    let ctx = extract::Context::default();
    let (mut messages, mut spent) = (0usize, 0f64);
    for c in generate::conversations(cfg) {
        let turns: Vec<Turn> = c
            .messages
            .iter()
            .filter_map(|m| {
                let role = Role::parse(&m.role)?;
                Some(Turn { role, text: &m.content, at: crate::ts(m)? })
            })
            .collect();
        messages += turns.len();
        let started = Instant::now();
        std::hint::black_box(extract::extract(&schemas[&c.bot_id], &turns, &ctx));
        spent += started.elapsed().as_secs_f64();
    }
    Ok(spent * 1e6 / messages.max(1) as f64)
}

/// 1 − rate with schemas / rate without: the share of ingest time extraction takes.
pub fn share(with: &Measured, without: &Measured) -> f64 {
    1.0 - with.throughput / without.throughput
}

/// The results' `extraction_cost` entry for one scenario.
pub fn entry(with: &Measured, without: &Measured) -> Value {
    json!({
        "unit": with.unit,
        "with_schema": with.throughput,
        "without_schema": without.throughput,
        "share": share(with, without),
    })
}
