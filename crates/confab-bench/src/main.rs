//! `confab-bench all [--quick | --full]`: generates a data set, runs every scenario against a
//! real server (a child process) and the baselines on the same rows, measures what datapoint
//! extraction costs ingest, prints the results and writes them to `bench/results/<date>.json`;
//! with `--postgres URL`, also the PostgreSQL column (`postgres.rs`). See docs/performance.md.

mod baseline;
mod baseline_pg;
mod cost;
mod postgres;
mod profile;
mod scenarios;
mod server;
mod stats;
mod watch;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use confab_bench::generate::{self, Config};
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use scenarios::{BatchFile, Client};
use server::Server;
use stats::Measured;
use watch::Watch;

#[derive(Parser)]
#[command(name = "confab-bench", about = "Confab's benchmark", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate data, run every scenario and baseline, report.
    All(RunArgs),
    /// Score datapoint extraction on dialogues with known values (docs/extraction.md).
    Extraction(confab_bench::extraction::Args),
    /// (internal) The server under test.
    #[command(hide = true)]
    Serve {
        #[arg(long)]
        database_url: String,
    },
}

#[derive(Args)]
struct RunArgs {
    /// 20,000 conversations (~200k messages): finishes in well under two minutes.
    #[arg(long, conflicts_with_all = ["full", "conversations"])]
    quick: bool,
    /// 1M conversations (~10M messages).
    #[arg(long, conflicts_with = "conversations")]
    full: bool,
    /// Any other size.
    #[arg(long)]
    conversations: Option<usize>,
    /// Where the results JSON goes.
    #[arg(long, default_value = "bench/results")]
    out: PathBuf,
    /// Working directory for the databases and data files (emptied first).
    #[arg(long, default_value = "target/bench")]
    workdir: PathBuf,
    /// Skip the DuckDB baseline (it needs Python and the `duckdb` package; see scripts/).
    #[arg(long)]
    no_duckdb: bool,
    /// Also run scenario 1 once more with the server's writer thread under `perf`, for the
    /// share of its time extraction takes and the hottest functions.
    #[arg(long)]
    perf: bool,
    /// Also run scenarios 1, 2 and 4 on PostgreSQL — one server, then three on one database —
    /// and raw COPY into the same table, on the PostgreSQL server at URL. The benchmark creates
    /// and drops its own databases there (`confab_bench`, `confab_bench_raw`).
    #[arg(long, value_name = "URL")]
    postgres: Option<String>,
    /// Conversations for the PostgreSQL column (default: the data set, at most 100,000).
    #[arg(long, requires = "postgres")]
    postgres_conversations: Option<usize>,
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

const DAYS: u32 = 90;
const BATCH: usize = 1_000;
const BATCH_CLIENTS: usize = 8;
const SINGLE_CLIENTS: usize = 64;
/// The bot scenario 2 posts to: its messages come from every generated bot's conversations.
const SINGLE_BOT: &str = "bench-single";

#[tokio::main]
async fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Serve { database_url } => {
            confab_server::memory::tune_allocator();
            server::serve(&database_url).await
        }
        Command::All(args) => run(args).await,
        Command::Extraction(args) => confab_bench::extraction::main(args).await,
    }
}

/// What the generation pass keeps besides the files: ids and words to ask for later.
#[derive(Default)]
struct Samples {
    conversations: u64,
    messages: u64,
    /// (bot, conversation id) of some conversations.
    conversation_ids: Vec<(String, String)>,
    /// Words users wrote, to search for.
    words: Vec<String>,
    channels: Vec<String>,
    languages: Vec<String>,
}

/// Writes the batch requests of the whole data set, and the raw rows DuckDB reads.
fn prepare_data(cfg: &Config, dir: &Path) -> Result<Samples> {
    let mut conv_csv =
        std::io::BufWriter::new(std::fs::File::create(dir.join("conversations.csv"))?);
    let mut msg_csv = std::io::BufWriter::new(std::fs::File::create(dir.join("messages.csv"))?);
    writeln!(conv_csv, "bot_id,conversation_id,started_at,channel_type")?;
    writeln!(msg_csv, "bot_id,conversation_id,ts,role,channel_type")?;
    let batches = std::io::BufWriter::new(std::fs::File::create(dir.join("batches"))?);
    let mut batches = BatchFile::new(batches, BATCH);
    let mut samples = Samples::default();
    let mut rng = rand::rngs::StdRng::seed_from_u64(cfg.seed ^ 0x5a5a);
    let mut progress = confab_bench::progress::Progress::new(
        "generate",
        cfg.conversations as u64,
        "conversations",
    );
    for conv in generate::conversations(cfg) {
        progress.inc(1);
        let Some(first) = conv.messages.first() else { continue };
        let id = first.conversation_id.clone();
        let started = conv.messages.iter().filter_map(ts).min().unwrap_or_default();
        let channel = conv.messages.iter().find_map(|m| m.channel_type.clone()).unwrap_or_default();
        writeln!(conv_csv, "{},{},{started},{channel}", conv.bot_id, csv(&id))?;
        for m in &conv.messages {
            writeln!(
                msg_csv,
                "{},{},{},{},{channel}",
                conv.bot_id,
                csv(&id),
                ts(m).unwrap_or_default(),
                m.role
            )?;
        }
        samples.conversations += 1;
        samples.messages += conv.messages.len() as u64;
        if rng.random_ratio(1, 50) && samples.conversation_ids.len() < 2_000 {
            samples.conversation_ids.push((conv.bot_id.clone(), id));
        }
        for m in &conv.messages {
            if m.role == "user"
                && samples.words.len() < 500
                && rng.random_ratio(1, 200)
                && let Some(w) =
                    m.content.split(|c: char| !c.is_alphanumeric()).find(|w| w.chars().count() >= 5)
            {
                samples.words.push(w.to_lowercase());
            }
            for (seen, v) in
                [(&mut samples.channels, &m.channel_type), (&mut samples.languages, &m.language)]
            {
                if let Some(v) = v
                    && !seen.contains(v)
                {
                    seen.push(v.clone());
                }
            }
        }
        for m in conv.messages {
            batches.push(&conv.bot_id, serde_json::to_value(&m)?)?;
        }
    }
    progress.finish();
    batches.finish()?;
    conv_csv.flush()?;
    msg_csv.flush()?;
    Ok(samples)
}

fn ts(m: &confab_core::MessageInput) -> Option<i64> {
    m.timestamp.as_ref()?.as_i64()
}

fn csv(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

fn machine() -> Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_default();
    let mem_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines().next().and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map(|kib| (kib / 1024.0 / 1024.0 * 10.0).round() / 10.0);
    json!({
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "cpu": cpu,
        "memory_gib": mem_gib,
        "os": std::env::consts::OS,
    })
}

fn report(name: &str, m: &Measured) {
    println!(
        "{name:<38} {:>10.0} {:<11} p50 {:>8.2} ms  p95 {:>8.2} ms  p99 {:>8.2} ms  ({} in {:.1} s)",
        m.throughput, m.unit, m.p50_ms, m.p95_ms, m.p99_ms, m.count, m.seconds
    );
}

async fn run(args: RunArgs) -> Result<()> {
    let started = Instant::now();
    let conversations = match (args.quick, args.full, args.conversations) {
        (_, true, _) => 1_000_000,
        (_, _, Some(n)) => n,
        _ => 20_000,
    };
    let size = if args.full {
        "full"
    } else if args.conversations.is_some() {
        "custom"
    } else {
        "quick"
    };
    let end = confab_core::time::now_millis() / 86_400_000 * 86_400_000;
    let cfg = Config { seed: args.seed, conversations, bots: 5, end, days: DAYS };
    let pg_admin = match &args.postgres {
        Some(url) => Some(postgres::Admin::connect(url).await?),
        None => None,
    };
    let _ = std::fs::remove_dir_all(&args.workdir);
    std::fs::create_dir_all(&args.workdir)?;
    let dir = args.workdir.canonicalize()?;

    let t = Instant::now();
    let samples = prepare_data(&cfg, &dir)?;
    println!(
        "data: {} conversations, {} messages, {} bots over {DAYS} days (generated in {:.1} s)",
        samples.conversations,
        samples.messages,
        cfg.bots,
        t.elapsed().as_secs_f64()
    );

    let db = dir.join("confab.db");
    let db_url = db.to_str().context("a UTF-8 path")?.to_owned();
    let key = server::prepare(&db_url).await?;
    let srv = Server::start(&db_url)?;
    let client = Client::new(&srv.base, &key);
    let one = std::slice::from_ref(&client);
    let watch = Watch::start(&srv.base, dir.join("confab.db-wal"));
    let mut results = BTreeMap::new();

    // Each bot's datapoint schema, as its owner would PUT it; scenario 2's bot, whose traffic
    // mixes every bot's conversations, takes every field.
    let mut schemas = generate::schemas(&cfg);
    schemas.push((SINGLE_BOT.to_owned(), generate::schema()));
    scenarios::put_schemas(&client, &schemas).await?;

    let s1 = scenarios::batch_ingest(one, &dir.join("batches"), BATCH_CLIENTS).await?;
    report("1 batch ingest (HTTP, 8 clients)", &s1);
    results.insert("1_batch_ingest", s1.clone());
    let import_end = watch.now();

    let singles = single_bodies(&cfg, if args.full { 100_000 } else { 20_000 })?;
    let s2 = scenarios::single_ingest(one, SINGLE_BOT, singles.clone(), SINGLE_CLIENTS).await?;
    report("2 single-message ingest (64 clients)", &s2);
    results.insert("2_single_ingest", s2.clone());

    let bot = generate::bot_ids(&cfg).into_iter().next().context("a bot")?;
    let range = format!(
        "start_time={}&end_time={}",
        confab_core::time::format_rfc3339(end - i64::from(DAYS) * 86_400_000),
        confab_core::time::format_rfc3339(end)
    );
    let series = |stat: &str| {
        format!("/v1/bots/{bot}/analytics/{stat}?{range}&bucket=1d&group_by=channel_type")
    };
    let (s3c, conv_answers) = scenarios::reads(one, &vec![series("conversations"); 41]).await?;
    report("3 daily series by channel (conversations)", &s3c);
    let (s3m, msg_answers) = scenarios::reads(one, &vec![series("messages"); 41]).await?;
    report("3 daily series by channel (messages)", &s3m);
    results.insert("3_series_conversations", s3c.clone());
    results.insert("3_series_messages", s3m.clone());

    let lists = list_pages(&samples, &bot, args.seed);
    let (s4, _) = scenarios::reads(one, &lists).await?;
    report("4 list page, two filters", &s4);
    results.insert("4_list_two_filters", s4.clone());

    let searches: Vec<String> = (0..200)
        .map(|i| {
            let w = &samples.words[i % samples.words.len().max(1)];
            format!("/v1/bots/{bot}/conversations?q={}&limit=50", urlencode(w))
        })
        .collect();
    let (s5, _) = scenarios::reads(one, &searches).await?;
    report("5 full-text search", &s5);
    results.insert("5_search", s5.clone());

    let transcripts: Vec<String> = samples
        .conversation_ids
        .iter()
        .take(500)
        .map(|(b, id)| format!("/v1/bots/{b}/conversations/{}", urlencode(id)))
        .collect();
    let (s6, _) = scenarios::reads(one, &transcripts).await?;
    report("6 transcript fetch", &s6);
    results.insert("6_transcript", s6.clone());

    // What the largest bot could not answer in the 90 days, clustered (target <= 1 s).
    let unhandled = vec![format!("/v1/bots/{bot}/analytics/unhandled?{range}"); 5];
    let (s7, unhandled_answers) = scenarios::reads(one, &unhandled).await?;
    report("7 not-handled clusters, 90 days", &s7);
    let d = &unhandled_answers[0]["data"];
    println!(
        "  {} not-handled messages (truncated: {}), {} clusters",
        d["messages"], d["truncated"], d["clusters_total"]
    );
    results.insert("7_unhandled_clusters", s7.clone());

    // Every conversation of the import is past its bot's inactivity timeout: the finaliser must
    // work through all of them, and keep pace.
    let backlog_at_import_end = watch.backlog_at(import_end);
    let drained = watch.drained_after(import_end, Duration::from_secs(240)).await;
    match drained {
        Some(s) => println!(
            "finaliser: backlog {} at the import's end, empty {s:.0} s after it",
            backlog_at_import_end.unwrap_or(f64::NAN)
        ),
        None => println!(
            "finaliser: backlog {} at the import's end, still {} {:.0} s after it",
            backlog_at_import_end.unwrap_or(f64::NAN),
            watch.backlog_at(watch.now()).unwrap_or(f64::NAN),
            watch.now() - import_end
        ),
    }
    let wal_peak = watch.peak_wal_mib();
    println!("WAL peak during the run: {wal_peak:.1} MiB");
    let background = json!({
        "wal_peak_mib": (wal_peak * 10.0).round() / 10.0,
        "finaliser_backlog_at_import_end": backlog_at_import_end,
        "finaliser_drained_seconds_after_import": drained.map(f64::round),
        "samples_seconds_wal_mib_backlog": watch.series(10.0),
    });
    drop(watch);
    let rss = srv.peak_rss_mib();
    println!("server peak RSS: {:.1} MiB", rss.unwrap_or(f64::NAN));
    drop(srv);

    let (n, clusters, query, clustering) =
        scenarios::unhandled_split(&db, &bot, (end - i64::from(DAYS) * 86_400_000, end)).await?;
    println!(
        "7 split, in process: store query {:.1} ms for {n} messages, clustering {:.1} ms \
         ({clusters} clusters; target <= 1000 ms)",
        query.as_secs_f64() * 1e3,
        clustering.as_secs_f64() * 1e3
    );
    let (worst_n, worst_clusters, worst) = scenarios::clustering_worst_case(args.seed);
    println!(
        "7 clustering's worst case, in process: {worst_n} messages all worded differently, \
         {worst_clusters} clusters in {:.1} ms (target <= 1000 ms)",
        worst.as_secs_f64() * 1e3
    );
    let unhandled_split = json!({
        "messages": n, "clusters": clusters,
        "store_query_ms": (query.as_secs_f64() * 1e4).round() / 10.0,
        "clustering_ms": (clustering.as_secs_f64() * 1e4).round() / 10.0,
        "worst_case": {"messages": worst_n, "clusters": worst_clusters,
                       "clustering_ms": (worst.as_secs_f64() * 1e4).round() / 10.0},
    });

    let batches = dir.join("batches");
    let (s1_plain, s2_plain) =
        cost::ingest(&dir.join("no-schema.db"), &batches, &[], singles.clone()).await?;
    report("1 batch ingest, bots without schema", &s1_plain);
    report("2 single-message, bot without schema", &s2_plain);
    results.insert("1_batch_ingest_no_schema", s1_plain.clone());
    results.insert("2_single_ingest_no_schema", s2_plain.clone());
    let profiled = if !args.perf {
        json!({ "skipped": "run with --perf" })
    } else {
        let file = dir.join("perf-writer.data");
        match cost::profiled_batch(&dir.join("profiled.db"), &batches, &schemas, &file).await {
            Ok((rate, shares)) => {
                report("1 batch ingest, writer under perf", &rate);
                json!({ "batch_ingest_under_perf": rate, "writer": shares })
            }
            Err(e) => {
                println!("perf: {e:#}");
                json!({ "skipped": format!("{e:#}") })
            }
        }
    };
    let walk_us = cost::walk_micros_per_message(&cfg)?;
    println!("extraction's walk alone: {walk_us:.1} µs per message (in process, no store)");
    let extraction = json!({
        "walk_us_per_message": (walk_us * 10.0).round() / 10.0,
        "1_batch_ingest": cost::entry(&s1, &s1_plain),
        "2_single_ingest": cost::entry(&s2, &s2_plain),
        "perf": profiled,
    });
    println!(
        "extraction's share of ingest (1 - with / without schema; target <= {:.0} %): \
         batch {:.1} % ({:.0} vs {:.0} msg/s), single {:.1} % ({:.0} vs {:.0} req/s)",
        cost::TARGET_SHARE * 100.0,
        cost::share(&s1, &s1_plain) * 100.0,
        s1.throughput,
        s1_plain.throughput,
        cost::share(&s2, &s2_plain) * 100.0,
        s2.throughput,
        s2_plain.throughput,
    );
    if let Some(w) = extraction["perf"]["writer"].as_object() {
        println!(
            "perf, writer thread during scenario 1: {} samples, {:.1} % under ingest's extraction \
             ({:.1} % in confab_core::extract)",
            w["samples"],
            w["extraction_share"].as_f64().unwrap_or(0.0) * 100.0,
            w["core_extract_share"].as_f64().unwrap_or(0.0) * 100.0
        );
        for f in w["top_innermost_confab"].as_array().into_iter().flatten().take(8) {
            println!(
                "  {:>5.1} %  {}",
                f["share"].as_f64().unwrap_or(0.0) * 100.0,
                f["function"].as_str().unwrap_or_default()
            );
        }
    }

    let (rows, spent) = baseline::raw_sqlite(&dir.join("raw.db"), baseline::store_rows(&cfg))?;
    let raw = rows as f64 / spent.as_secs_f64();
    println!("baseline raw SQLite inserts: {raw:.0} messages/s ({rows} rows)");

    let duckdb = if args.no_duckdb {
        Err(anyhow::anyhow!("skipped (--no-duckdb)"))
    } else {
        duckdb(&dir, &bot, end)
    };
    let duck = match &duckdb {
        Ok(v) => {
            println!(
                "baseline DuckDB (in-process, raw rows): conversations p50 {} ms, messages p50 {} ms",
                v["conversations_ms"]["p50"], v["messages_ms"]["p50"]
            );
            v.clone()
        }
        Err(e) => {
            println!("baseline DuckDB: {e:#}");
            json!({ "skipped": format!("{e:#}") })
        }
    };
    let same_answer = duckdb.as_ref().ok().map(|d| {
        same_series(&conv_answers[0], &d["conversations_answer"])
            && same_series(&msg_answers[0], &d["messages_answer"])
    });
    let ratio = |ours: f64, theirs: Option<f64>| theirs.map(|t| ours / t);
    let ratios = json!({
        "1_batch_ingest_vs_raw_sqlite": s1.throughput / raw,
        "3_conversations_p50_vs_duckdb": ratio(s3c.p50_ms, duck["conversations_ms"]["p50"].as_f64()),
        "3_messages_p50_vs_duckdb": ratio(s3m.p50_ms, duck["messages_ms"]["p50"].as_f64()),
    });
    println!("ratios: {ratios}");
    if let Some(same) = same_answer {
        println!("scenario 3 answer equals DuckDB's: {same}");
    }
    // The answers were compared above; the results keep the timings.
    let mut duck = duck;
    if let Some(d) = duck.as_object_mut() {
        d.remove("conversations_answer");
        d.remove("messages_answer");
    }
    let postgres = match &pg_admin {
        None => json!({ "skipped": "run with --postgres URL" }),
        Some(admin) => {
            let n = args
                .postgres_conversations
                .unwrap_or(postgres::DEFAULT_CONVERSATIONS)
                .min(conversations);
            let input = postgres::Inputs {
                cfg: Config { conversations: n, ..cfg },
                batches: (n == conversations).then_some(batches.as_path()),
                schemas: &schemas,
                singles: postgres::singles_share(&singles, n, conversations),
                lists: &lists,
            };
            postgres::column(admin, &dir, input).await.context("the PostgreSQL column")?
        }
    };
    let date = jiff::Timestamp::now().strftime("%Y-%m-%d").to_string();
    let out = json!({
        "date": date,
        "size": size,
        "machine": machine(),
        "data": {"conversations": samples.conversations, "messages": samples.messages, "bots": cfg.bots, "days": DAYS, "seed": cfg.seed},
        "scenarios": results,
        "server_peak_rss_mib": rss,
        "background": background,
        "unhandled_split": unhandled_split,
        "baselines": {"raw_sqlite_messages_per_s": raw, "duckdb": duck},
        "ratios": ratios,
        "scenario_3_answer_equals_duckdb": same_answer,
        "extraction_cost": extraction,
        "postgres": postgres,
        "total_seconds": started.elapsed().as_secs_f64(),
        "targets": {
            "1_vs_raw_sqlite": 0.75, "2_single_ingest_requests_per_s": 15_000,
            "3_p50_vs_duckdb": 0.5, "3_p50_ms": 3, "4_list_p50_ms": 2, "5_search_p50_ms": 10,
            "5_search_p95_ms": 40, "server_peak_rss_mib": 150,
            "wal_peak_mib": 256, "finaliser_drained_within_s": 120,
            "extraction_share_of_ingest_max": cost::TARGET_SHARE,
        },
    });
    std::fs::create_dir_all(&args.out)?;
    let file = args.out.join(format!(
        "{date}{}.json",
        if size == "full" { String::new() } else { format!("-{size}") }
    ));
    std::fs::write(&file, serde_json::to_string_pretty(&out)? + "\n")?;
    println!("results: {} (whole run {:.0} s)", file.display(), started.elapsed().as_secs_f64());
    Ok(())
}

/// Scenario 4's requests: 200 list pages of `bot`'s, each filtered by a channel and a language.
fn list_pages(samples: &Samples, bot: &str, seed: u64) -> Vec<String> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    (0..200)
        .map(|_| {
            let ch = &samples.channels[rng.random_range(0..samples.channels.len().max(1))];
            let lang = &samples.languages[rng.random_range(0..samples.languages.len().max(1))];
            format!("/v1/bots/{bot}/conversations?channel_type={ch}&language={lang}&limit=50")
        })
        .collect()
}

/// Single-message request bodies from a separate slice of generated data.
fn single_bodies(cfg: &Config, n: usize) -> Result<Vec<Vec<u8>>> {
    let cfg = Config { seed: cfg.seed.wrapping_add(1), conversations: n / 5 + 1, ..*cfg };
    let mut out = Vec::with_capacity(n);
    for conv in generate::conversations(&cfg) {
        for m in conv.messages {
            if out.len() == n {
                return Ok(out);
            }
            out.push(serde_json::to_vec(&m)?);
        }
    }
    Ok(out)
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Runs the DuckDB baseline script on the raw rows.
fn duckdb(dir: &Path, bot: &str, end: i64) -> Result<Value> {
    let root = std::env::current_dir()?;
    let venv =
        std::process::Command::new("bash").arg(root.join("scripts/duckdb-venv.sh")).output()?;
    if !venv.status.success() {
        anyhow::bail!("setting up DuckDB failed: {}", String::from_utf8_lossy(&venv.stderr).trim());
    }
    let python =
        String::from_utf8(venv.stdout)?.lines().last().unwrap_or_default().trim().to_owned();
    let start = end - i64::from(DAYS) * 86_400_000;
    let out = std::process::Command::new(python)
        .arg(root.join("scripts/bench_duckdb.py"))
        .args(["--dir", dir.to_str().unwrap_or_default(), "--bot", bot])
        .args(["--start", &start.to_string(), "--end", &end.to_string()])
        .output()?;
    if !out.status.success() {
        anyhow::bail!("the DuckDB script failed: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(serde_json::from_slice(&out.stdout)?)
}

/// Whether a Confab series answer and DuckDB's `{channel: [count per day]}` agree.
fn same_series(confab: &Value, duck: &Value) -> bool {
    let Some(series) = confab["data"]["series"].as_array() else { return false };
    let ours: BTreeMap<String, Vec<i64>> = series
        .iter()
        .map(|s| {
            let label = s["labels"]["channel_type"].as_str().unwrap_or_default().to_owned();
            let values = s["values"]
                .as_array()
                .map(|v| v.iter().map(|x| x.as_i64().unwrap_or(-1)).collect())
                .unwrap_or_default();
            (label, values)
        })
        .collect();
    let Some(theirs) = duck.as_object() else { return false };
    let theirs: BTreeMap<String, Vec<i64>> = theirs
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                v.as_array()
                    .map(|v| v.iter().map(|x| x.as_i64().unwrap_or(-1)).collect())
                    .unwrap_or_default(),
            )
        })
        .filter(|(_, v): &(String, Vec<i64>)| v.iter().any(|x| *x != 0))
        .collect();
    ours == theirs
}
