//! The PostgreSQL column (`--postgres URL`): scenarios 1, 2 and 4 against one server and against
//! three servers on one database, and the raw-PostgreSQL baseline on the same rows — how ingest
//! grows with servers until the database is the limit (docs/scaling.md). Each run gets a fresh
//! database of its own on the URL's server (`confab_bench`, `confab_bench_raw`), dropped after;
//! no other database there is touched.

use confab_store::postgres::with_database;
use std::path::Path;
use std::str::FromStr;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use confab_bench::generate::{self, Config};
use serde_json::{Value, json};
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection};

use crate::scenarios::{self, BatchFile, Client};
use crate::server::{self, Server};
use crate::stats::Measured;
use crate::{BATCH, BATCH_CLIENTS, SINGLE_BOT, SINGLE_CLIENTS, baseline, baseline_pg, report};

/// The database the servers under test share, created afresh for each run.
const DATABASE: &str = "confab_bench";
/// The raw baseline's database.
const RAW_DATABASE: &str = "confab_bench_raw";
/// The column's default size: the whole data set up to this many conversations — the whole quick
/// size, a tenth of the full one (the whole million would add most of an hour on the benchmark's
/// machine; docs/performance.md).
pub const DEFAULT_CONVERSATIONS: usize = 100_000;

/// What the column runs on: the scenarios' inputs, shared with the SQLite column.
pub struct Inputs<'a> {
    /// The data set's slice for this column.
    pub cfg: Config,
    /// Scenario 1's prepared batches of exactly that slice, if they exist already.
    pub batches: Option<&'a Path>,
    pub schemas: &'a [(String, Value)],
    /// Scenario 2's request bodies (the SQLite column's, or a share of them: [`singles_share`]).
    pub singles: &'a [Vec<u8>],
    /// Scenario 4's list pages (the same as the SQLite column's).
    pub lists: &'a [String],
}

/// Scenario 2's requests for a column of `slice` of the data set's `whole` conversations: the
/// same share of the SQLite column's `singles` (at least one), taken from the end of the list,
/// where the SQLite column's first requests come from (`scenarios::single_ingest` pops them).
pub fn singles_share(singles: &[Vec<u8>], slice: usize, whole: usize) -> &[Vec<u8>] {
    let n = (singles.len() as u128 * slice as u128 / whole.max(1) as u128) as usize;
    &singles[singles.len() - n.clamp(1.min(singles.len()), singles.len())..]
}

/// The server behind `--postgres URL`, through which the column's databases are created and
/// dropped.
pub struct Admin {
    url: String,
    /// The server's version and the settings that bear on ingest.
    settings: Value,
}

impl Admin {
    /// Checks the URL and that the server answers, so that a missing PostgreSQL fails the run
    /// at its start rather than after the SQLite column.
    pub async fn connect(url: &str) -> Result<Admin> {
        let mut admin = Admin::check(url)?;
        admin.settings = admin.settings().await.with_context(|| {
            format!("--postgres: PostgreSQL at {} does not answer", redact(url))
        })?;
        Ok(admin)
    }

    fn check(url: &str) -> Result<Admin> {
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            bail!("--postgres takes a postgres://… URL (got {:?})", redact(url));
        }
        let options =
            PgConnectOptions::from_str(url).context("--postgres: not a URL sqlx reads")?;
        if let Some(db) = options.get_database()
            && [DATABASE, RAW_DATABASE].contains(&db)
        {
            bail!("--postgres must name another database than {db}, which the benchmark drops");
        }
        Ok(Admin { url: url.to_owned(), settings: Value::Null })
    }

    /// Drops the database `name` if it exists, creates it empty, and returns its URL.
    async fn fresh(&self, name: &str) -> Result<String> {
        self.drop_database(name).await?;
        let mut c = sqlx::PgConnection::connect(&self.url)
            .await
            .with_context(|| format!("connecting to PostgreSQL at {}", redact(&self.url)))?;
        sqlx::raw_sql(&format!("CREATE DATABASE {name}")).execute(&mut c).await?;
        c.close().await?;
        Ok(with_database(&self.url, name))
    }

    async fn drop_database(&self, name: &str) -> Result<()> {
        let mut c = sqlx::PgConnection::connect(&self.url)
            .await
            .with_context(|| format!("connecting to PostgreSQL at {}", redact(&self.url)))?;
        sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut c)
            .await?;
        c.close().await?;
        Ok(())
    }

    /// The server's version and the settings that bear on ingest.
    async fn settings(&self) -> Result<Value> {
        let mut c = PgConnectOptions::from_str(&self.url)?.connect().await?;
        let mut out = serde_json::Map::new();
        for name in
            ["server_version", "synchronous_commit", "fsync", "shared_buffers", "max_connections"]
        {
            let v: String = sqlx::query_scalar("SELECT current_setting($1)")
                .bind(name)
                .fetch_one(&mut c)
                .await?;
            out.insert(name.to_owned(), v.into());
        }
        c.close().await?;
        Ok(out.into())
    }
}

/// `url` without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => match url[s + 3..at].find(':') {
            Some(colon) => format!("{}:***{}", &url[..s + 3 + colon], &url[at..]),
            None => url.to_owned(),
        },
        _ => url.to_owned(),
    }
}

/// Writes scenario 1's batch requests of the data set `cfg` to `file`; returns the messages.
fn write_batches(cfg: &Config, file: &Path) -> Result<u64> {
    let out = std::io::BufWriter::new(std::fs::File::create(file)?);
    let mut batches = BatchFile::new(out, BATCH);
    let mut messages = 0;
    for conv in generate::conversations(cfg) {
        for m in conv.messages {
            batches.push(&conv.bot_id, serde_json::to_value(&m)?)?;
            messages += 1;
        }
    }
    batches.finish()?;
    Ok(messages)
}

/// What one run against one or three servers measured.
struct ServersRun {
    batch: Measured,
    single: Measured,
    list: Measured,
    /// Each server's peak RSS, in MiB.
    rss: Vec<Option<f64>>,
}

impl ServersRun {
    fn to_json(&self) -> Value {
        json!({
            "scenarios": {
                "1_batch_ingest": self.batch,
                "2_single_ingest": self.single,
                "4_list_two_filters": self.list,
            },
            "server_peak_rss_mib": self.rss,
        })
    }
}

/// Scenarios 1, 2 and 4 against `servers` servers on a fresh database, the clients spread over
/// them round-robin.
async fn servers_run(
    admin: &Admin,
    servers: usize,
    batches: &Path,
    input: &Inputs<'_>,
) -> Result<ServersRun> {
    let url = admin.fresh(DATABASE).await?;
    let key = server::prepare(&url).await?;
    let running: Vec<Server> = (0..servers).map(|_| Server::start(&url)).collect::<Result<_>>()?;
    let clients: Vec<Client> = running.iter().map(|s| Client::new(&s.base, &key)).collect();
    scenarios::put_schemas(&clients[0], input.schemas).await?;
    let label =
        |what: &str| format!("{what} ({servers} server{})", if servers == 1 { "" } else { "s" });
    let s1 = scenarios::batch_ingest(&clients, batches, BATCH_CLIENTS).await?;
    report(&label("PG 1 batch ingest"), &s1);
    let s2 = scenarios::single_ingest(&clients, SINGLE_BOT, input.singles.to_vec(), SINGLE_CLIENTS)
        .await?;
    report(&label("PG 2 single-message"), &s2);
    let (s4, _) = scenarios::reads(&clients, input.lists).await?;
    report(&label("PG 4 list page"), &s4);
    let rss: Vec<Option<f64>> = running.iter().map(Server::peak_rss_mib).collect();
    println!(
        "server peak RSS ({servers} on PostgreSQL): {}",
        rss.iter()
            .map(|r| format!("{:.1} MiB", r.unwrap_or(f64::NAN)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    drop(running);
    admin.drop_database(DATABASE).await?;
    Ok(ServersRun { batch: s1, single: s2, list: s4, rss })
}

/// Runs the column on `admin`'s PostgreSQL server, with scratch files in `dir`; prints the
/// measurements and returns them for the results' `postgres` key.
pub async fn column(admin: &Admin, dir: &Path, input: Inputs<'_>) -> Result<Value> {
    let started = Instant::now();
    let settings = &admin.settings;
    println!(
        "PostgreSQL column: {} conversations on PostgreSQL {} (synchronous_commit {})",
        input.cfg.conversations,
        settings["server_version"].as_str().unwrap_or("?"),
        settings["synchronous_commit"].as_str().unwrap_or("?")
    );
    let own_batches;
    let batches = match input.batches {
        Some(file) => file,
        None => {
            own_batches = dir.join("pg-batches");
            write_batches(&input.cfg, &own_batches)?;
            &own_batches
        }
    };
    let one = servers_run(admin, 1, batches, &input).await?;
    let three = servers_run(admin, 3, batches, &input).await?;

    let copy_file = dir.join("pg-raw-copy");
    baseline_pg::write_copy_batches(baseline::store_rows(&input.cfg), &copy_file)?;
    let raw_url = admin.fresh(RAW_DATABASE).await?;
    let raw = baseline_pg::raw_postgres(&raw_url, &copy_file, BATCH_CLIENTS).await;
    admin.drop_database(RAW_DATABASE).await?;
    let raw = raw?;
    report("PG baseline: raw COPY (8 connections)", &raw);

    let ratios = json!({
        "1_one_server_vs_raw_postgres": one.batch.throughput / raw.throughput,
        "1_three_servers_vs_one_server": three.batch.throughput / one.batch.throughput,
        "1_three_servers_vs_raw_postgres": three.batch.throughput / raw.throughput,
        "2_three_servers_vs_one_server": three.single.throughput / one.single.throughput,
    });
    println!("PostgreSQL ratios: {ratios}");
    Ok(json!({
        "postgres": settings,
        "data": { "conversations": input.cfg.conversations, "messages": one.batch.count },
        "one_server": one.to_json(),
        "three_servers": three.to_json(),
        "raw_postgres": raw,
        "ratios": ratios,
        "seconds": started.elapsed().as_secs_f64(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swaps_the_database_name() {
        assert_eq!(
            with_database("postgres://u:p@h:5432/postgres?sslmode=disable", "x"),
            "postgres://u:p@h:5432/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h", "x"), "postgres://h/x");
        assert_eq!(with_database("postgresql://h/db", "x"), "postgresql://h/x");
    }

    #[test]
    fn refuses_urls_it_would_drop_or_cannot_use() {
        assert!(Admin::check("postgres://postgres@127.0.0.1:5432/postgres").is_ok());
        assert!(Admin::check("postgres://h/confab_bench").is_err());
        assert!(Admin::check("postgres://h/confab_bench_raw?sslmode=disable").is_err());
        assert!(Admin::check("").is_err());
        assert!(Admin::check("sqlite://x.db").is_err());
    }

    #[test]
    fn a_slice_posts_its_share_of_the_single_messages_the_sqlite_column_posts_first() {
        let singles: Vec<Vec<u8>> = (0..20_000u32).map(|i| i.to_le_bytes().to_vec()).collect();
        assert_eq!(singles_share(&singles, 20_000, 20_000).len(), 20_000);
        let share = singles_share(&singles, 1_000, 20_000);
        assert_eq!(share.len(), 1_000);
        assert_eq!(share.last(), singles.last(), "the SQLite column pops from the end");
        assert_eq!(singles_share(&singles, 1, 1_000_000).len(), 1);
        assert!(singles_share(&[], 10, 10).is_empty());
    }

    #[test]
    fn passwords_are_not_printed() {
        assert_eq!(redact("postgres://u:secret@h:5432/db"), "postgres://u:***@h:5432/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
    }
}
