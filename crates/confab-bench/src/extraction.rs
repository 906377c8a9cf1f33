//! `confab-bench extraction`: datapoint extraction scored on real dialogues (the format of
//! `../shared/eval/README.md`). Each case runs through the real path — a SQLite store, the bot's
//! schema, ingest of every message at its time, the finaliser — and the final datapoints are
//! compared with the values the user settled on; the provisional values at the end of ingest
//! are scored too. Scoring: a key in `expected` is a true positive when the final value equals
//! it, a false negative when missing, and both a false positive and a false negative when
//! wrong; a key the user never gave (`informed`) that gets a value is a false positive; a key
//! the user gave in a form the data set could not normalise is not scored.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use anyhow::{Context as _, Result, bail};
use confab_core::datapoints::{Datapoint, Kind};
use serde::Deserialize;
use serde_json::{Value, json};

/// When every case's conversation starts (a Friday), as the data set's README says.
pub const CASE_START: &str = "2019-03-01T10:00:00Z";

#[derive(Debug, Clone, Deserialize)]
pub struct Case {
    pub bot: String,
    pub conversation_id: String,
    pub schema: Vec<Value>,
    pub messages: Vec<CaseMessage>,
    pub expected: BTreeMap<String, Value>,
    #[serde(default)]
    pub informed: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CaseMessage {
    pub role: String,
    pub content: String,
    pub offset_s: i64,
}

/// Reads a JSONL file of cases.
pub fn load(path: &Path) -> Result<Vec<Case>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).with_context(|| format!("{}:{}", path.display(), i + 1))
        })
        .collect()
}

/// Counts of one type (or all).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Tally {
    pub tp: u64,
    pub fp: u64,
    pub fn_: u64,
}

impl Tally {
    pub fn precision(&self) -> f64 {
        ratio(self.tp, self.tp + self.fp)
    }
    pub fn recall(&self) -> f64 {
        ratio(self.tp, self.tp + self.fn_)
    }
    pub fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r == 0.0 { 0.0 } else { 2.0 * p * r / (p + r) }
    }
    fn add(&mut self, o: Tally) {
        self.tp += o.tp;
        self.fp += o.fp;
        self.fn_ += o.fn_;
    }
    fn json(&self) -> Value {
        json!({
            "tp": self.tp, "fp": self.fp, "fn": self.fn_,
            "precision": round3(self.precision()), "recall": round3(self.recall()),
            "f1": round3(self.f1()),
        })
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 1.0 } else { a as f64 / b as f64 }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Scores by type name and overall.
#[derive(Debug, Clone, Default)]
pub struct Scores {
    pub by_type: BTreeMap<String, Tally>,
    pub overall: Tally,
}

impl Scores {
    pub fn json(&self) -> Value {
        let types: serde_json::Map<String, Value> =
            self.by_type.iter().map(|(k, t)| (k.clone(), t.json())).collect();
        json!({ "overall": self.overall.json(), "by_type": types })
    }
}

/// One mismatch, for the report.
#[derive(Debug, Clone)]
pub struct Miss {
    pub conversation_id: String,
    pub key: String,
    pub kind: String,
    pub expected: Option<Value>,
    pub got: Option<Value>,
}

/// A value as the data set writes it: dates and times as they are, numbers as integers, money
/// as a decimal with at least one decimal place, names lower-case.
pub fn normalise(kind: Kind, value: &Value) -> Option<String> {
    let num = |v: &Value| match v {
        Value::String(s) => s.trim().parse::<f64>().ok(),
        other => other.as_f64(),
    };
    Some(match kind {
        Kind::Number => {
            let n = num(value)?;
            if n.fract() == 0.0 { format!("{}", n as i64) } else { format!("{n}") }
        }
        Kind::Money => {
            let n = match value {
                Value::Object(o) => num(o.get("amount")?)?,
                other => num(other)?,
            };
            format!("{n:.2}")
        }
        Kind::Name => value.as_str()?.to_lowercase(),
        _ => match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        },
    })
}

/// Adds one case's outcome: `got` is the final value of each key.
pub fn score_case(
    case: &Case,
    got: &BTreeMap<String, Value>,
    scores: &mut Scores,
    misses: &mut Vec<Miss>,
) {
    for def in &case.schema {
        let Some(key) = def.get("key").and_then(Value::as_str) else { continue };
        let kind_name = def.get("type").and_then(Value::as_str).unwrap_or("text");
        let Ok(kind) = serde_json::from_value::<Kind>(json!(kind_name)) else { continue };
        let want = case.expected.get(key).and_then(|v| normalise(kind, v));
        let have = got.get(key).and_then(|v| normalise(kind, v));
        let mut t = Tally::default();
        match (&want, &have) {
            (Some(w), Some(h)) if w == h => t.tp = 1,
            (Some(_), Some(_)) => {
                t.fp = 1;
                t.fn_ = 1;
            }
            (Some(_), None) => t.fn_ = 1,
            (None, Some(_)) if !case.informed.iter().any(|k| k == key) => t.fp = 1,
            _ => {}
        }
        if t.fp + t.fn_ > 0 {
            misses.push(Miss {
                conversation_id: case.conversation_id.clone(),
                key: key.to_owned(),
                kind: kind_name.to_owned(),
                expected: case.expected.get(key).cloned(),
                got: got.get(key).cloned(),
            });
        }
        scores.by_type.entry(kind_name.to_owned()).or_default().add(t);
        scores.overall.add(t);
    }
}

/// The latest value of each key among a conversation's datapoints.
pub fn values_of(datapoints: &[Datapoint]) -> BTreeMap<String, Value> {
    datapoints.iter().map(|d| (d.key.clone(), d.value.clone())).collect()
}

/// Fails when a score is under its floor.
pub fn check_floors(scores: &Scores, overall: Option<f64>, per_type: Option<f64>) -> Result<()> {
    if let Some(min) = overall
        && scores.overall.f1() < min
    {
        bail!("overall F1 {:.3} is under the floor {min:.3}", scores.overall.f1());
    }
    if let Some(min) = per_type {
        for (kind, t) in &scores.by_type {
            if t.tp + t.fn_ > 0 && t.f1() < min {
                bail!("{kind} F1 {:.3} is under the floor {min:.3}", t.f1());
            }
        }
    }
    Ok(())
}

/// Cases grouped by bot, in file order, so that each bot's schema is put once.
pub fn by_bot(cases: &[Case]) -> Vec<(&str, Vec<&Case>)> {
    let mut order: Vec<&str> = Vec::new();
    let mut groups: HashMap<&str, Vec<&Case>> = HashMap::new();
    for c in cases {
        groups
            .entry(&c.bot)
            .or_insert_with(|| {
                order.push(&c.bot);
                Vec::new()
            })
            .push(c);
    }
    order.into_iter().map(|b| (b, groups.remove(b).unwrap_or_default())).collect()
}

/// The extraction walk's own cost: every case's transcript through `confab_core::extract`
/// (the fold ingest runs message by message), without a store, in microseconds per message.
fn walk_micros_per_message(cases: &[Case]) -> Result<f64> {
    use confab_core::datapoints::SchemaInput;
    use confab_core::extract::{Context, Turn, extract};
    let start = confab_core::time::parse_rfc3339("start", CASE_START)
        .map_err(|e| anyhow::anyhow!("{}", e.message))?;
    let mut schemas = HashMap::new();
    for c in cases {
        if !schemas.contains_key(&c.bot) {
            let input: SchemaInput = serde_json::from_value(json!({ "datapoints": c.schema }))?;
            let schema = input.validate().map_err(|e| anyhow::anyhow!("{}", e.message))?;
            schemas.insert(c.bot.clone(), schema);
        }
    }
    let ctx = Context::default();
    let mut messages = 0usize;
    let started = std::time::Instant::now();
    for c in cases {
        let turns: Vec<Turn> = c
            .messages
            .iter()
            .filter_map(|m| {
                let role = confab_core::Role::parse(&m.role)?;
                Some(Turn { role, text: &m.content, at: start + m.offset_s * 1000 })
            })
            .collect();
        messages += turns.len();
        std::hint::black_box(extract(&schemas[&c.bot], &turns, &ctx));
    }
    Ok(started.elapsed().as_secs_f64() * 1e6 / messages.max(1) as f64)
}

/// What one run gives for each case (in file order): the provisional values at the end of
/// ingest and the final ones after the finaliser.
pub struct Outcome {
    pub provisional: Vec<BTreeMap<String, Value>>,
    pub finals: Vec<BTreeMap<String, Value>>,
}

/// Runs every case through a store: each bot's schema put once, every message ingested on its
/// own at its time (as a bot sends them), the finaliser (with `llm`, if given) run until no
/// conversation is left, the datapoints read back.
pub async fn run(
    store: &dyn confab_store::Store,
    cases: &[Case],
    llm: Option<&confab_server::jobs::finalise::Llm>,
) -> Result<Outcome> {
    use confab_core::{MessageInput, datapoints::SchemaInput};
    use futures_util::StreamExt;

    let team = store.create_first_team().await?.map(|t| t.id).unwrap_or(1);
    let start = confab_core::time::parse_rfc3339("start", CASE_START)
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    // Past every conversation's inactivity timeout.
    let later = start + 30 * 86_400_000;
    for (bot, group) in by_bot(cases) {
        let schema: SchemaInput = serde_json::from_value(json!({ "datapoints": group[0].schema }))?;
        schema.clone().validate().map_err(|e| anyhow::anyhow!("{bot}: {}", e.message))?;
        store.put_datapoint_schema(team, bot, true, &schema).await?;
    }
    // A case's messages go one after another; cases go side by side, as bots' users do.
    let ingest_case = |case: &Case| {
        let case = case.clone();
        async move {
            for (i, m) in case.messages.iter().enumerate() {
                let input: MessageInput = serde_json::from_value(json!({
                    "conversation_id": case.conversation_id,
                    "id": format!("m{i}"),
                    "role": m.role,
                    "content": m.content,
                    "timestamp": start + m.offset_s * 1000,
                }))?;
                let msg = input.validate(later).map_err(|e| {
                    anyhow::anyhow!("{}: message {i}: {}", case.conversation_id, e.message)
                })?;
                store.ingest(team, &case.bot, true, vec![msg]).await?;
            }
            anyhow::Ok(())
        }
    };
    let mut ingests =
        futures_util::stream::iter(cases.iter().map(ingest_case)).buffer_unordered(64);
    while let Some(done) = ingests.next().await {
        done?;
    }
    let read = |case: &Case| {
        let (bot, id) = (case.bot.clone(), case.conversation_id.clone());
        async move { anyhow::Ok(values_of(&store.conversation_datapoints(team, &bot, &id).await?.1)) }
    };
    let provisional = futures_util::stream::iter(cases.iter().map(read))
        .buffered(32)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<Vec<_>>>()?;
    loop {
        let round = confab_server::jobs::finalise::finalise_idle_once(store, llm, later).await?;
        if round.finalised + round.skipped == 0 {
            break;
        }
    }
    let finals = futures_util::stream::iter(cases.iter().map(read))
        .buffered(32)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<Vec<_>>>()?;
    Ok(Outcome { provisional, finals })
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The cases (JSONL, the format of ../shared/eval/README.md).
    #[arg(long)]
    pub cases: std::path::PathBuf,
    /// An OpenAI-compatible endpoint for the finaliser's LLM pass (e.g. http://127.0.0.1:8080/v1).
    #[arg(long)]
    pub llm_endpoint: Option<String>,
    #[arg(long, default_value = "gpt-4o-mini", requires = "llm_endpoint")]
    pub llm_model: String,
    /// Where the results JSON goes.
    #[arg(long, default_value = "bench/results")]
    pub out: std::path::PathBuf,
    /// Working directory for the database (emptied first).
    #[arg(long, default_value = "target/bench-extraction")]
    pub workdir: std::path::PathBuf,
    /// Fail when the final values' overall F1 is under this.
    #[arg(long)]
    pub min_f1: Option<f64>,
    /// Fail when any type's final F1 is under this.
    #[arg(long)]
    pub min_type_f1: Option<f64>,
    /// Print this many of the final values' mismatches.
    #[arg(long, default_value_t = 0)]
    pub show_misses: usize,
}

/// The whole command: run, print, write the results, check the floors.
pub async fn main(args: Args) -> Result<()> {
    let cases = load(&args.cases)?;
    if cases.is_empty() {
        bail!("{}: no cases", args.cases.display());
    }
    if args.workdir.exists() {
        std::fs::remove_dir_all(&args.workdir)?;
    }
    std::fs::create_dir_all(&args.workdir)?;
    let db = args.workdir.join("extraction.db");
    let store = confab_store::open(&db.to_string_lossy()).await.map_err(anyhow::Error::msg)?;
    let llm = args.llm_endpoint.as_ref().map(|endpoint| {
        let config = confab_server::jobs::finalise::LlmConfig {
            endpoint: endpoint.clone(),
            model: args.llm_model.clone(),
            api_key: std::env::var("CONFAB_LLM_API_KEY").ok(),
            timeout: std::time::Duration::from_secs(60),
        };
        // The benchmark's user names the endpoint (often a model on this machine): no guard.
        confab_server::jobs::finalise::Llm::new(config, true)
    });
    let started = std::time::Instant::now();
    let outcome = run(&*store, &cases, llm.as_ref()).await?;
    let seconds = started.elapsed().as_secs_f64();
    store.close().await;

    let walk_us = walk_micros_per_message(&cases)?;
    let mut finals = Scores::default();
    let mut provisional = Scores::default();
    let mut misses = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        score_case(case, &outcome.finals[i], &mut finals, &mut misses);
        score_case(case, &outcome.provisional[i], &mut provisional, &mut Vec::new());
    }
    let messages: usize = cases.iter().map(|c| c.messages.len()).sum();
    println!(
        "extraction: {} cases, {messages} messages, {} ({seconds:.1} s{})",
        cases.len(),
        args.cases.display(),
        if llm.is_some() { ", with the LLM pass" } else { "" }
    );
    println!(
        "{:<12} {:>9} {:>7} {:>6} {:>6}   provisional F1",
        "type", "precision", "recall", "F1", "n"
    );
    let rows = finals.by_type.iter().map(|(k, t)| (k.as_str(), t, provisional.by_type.get(k)));
    for (kind, t, p) in rows.chain([("overall", &finals.overall, Some(&provisional.overall))]) {
        println!(
            "{kind:<12} {:>9.3} {:>7.3} {:>6.3} {:>6}   {:.3}",
            t.precision(),
            t.recall(),
            t.f1(),
            t.tp + t.fn_,
            p.map_or(0.0, Tally::f1)
        );
    }
    for m in misses.iter().take(args.show_misses) {
        println!(
            "miss {} {} ({}): expected {}, got {}",
            m.conversation_id,
            m.key,
            m.kind,
            m.expected.as_ref().map_or("nothing".into(), Value::to_string),
            m.got.as_ref().map_or("nothing".into(), Value::to_string),
        );
    }
    std::fs::create_dir_all(&args.out)?;
    let date = jiff::Zoned::now().strftime("%Y-%m-%d").to_string();
    let file = args.out.join(format!("{date}-extraction.json"));
    let out = json!({
        "cases_file": args.cases.display().to_string(),
        "cases": cases.len(),
        "messages": messages,
        "llm": args.llm_endpoint,
        "seconds": (seconds * 10.0).round() / 10.0,
        "walk_us_per_message": (walk_us * 10.0).round() / 10.0,
        "final": finals.json(),
        "provisional": provisional.json(),
    });
    std::fs::write(&file, serde_json::to_string_pretty(&out)? + "\n")?;
    println!("the walk alone: {walk_us:.1} µs per message (in process, no store)");
    println!("results: {}", file.display());
    check_floors(&finals, args.min_f1, args.min_type_f1)
}
