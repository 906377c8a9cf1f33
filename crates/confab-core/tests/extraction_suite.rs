//! Table-driven accuracy suite for the offline datapoint extractor: realistic chatbot
//! transcripts in `tests/data/extraction/*.json`, each with the datapoints a careful human would
//! fill in from it. The suite scores the extractor per type (precision and recall), prints every
//! mismatch, and fails below the floors.
//!
//! A data file is an object with `cases` and optional defaults for them (`schema`, `region`,
//! `zone`, `start`). A case:
//!
//! ```json
//! {"id": "contact-001", "about": "what it tests", "region": "US", "zone": "America/New_York",
//!  "schema": [{"key": "Email", "type": "email"}], "start": "2026-11-19T15:00:00Z",
//!  "messages": [{"role": "bot", "text": "Your email?"}, {"role": "user", "text": "a@example.com"}],
//!  "expect": {"Email": "a@example.com"}}
//! ```
//!
//! Messages are 30 s apart from `start`; a message with its own `at` (RFC 3339) is sent then and
//! the ones after it follow it. `region: null` in a case unsets the file's region. Keys absent
//! from `expect` are the ones a careful human would leave empty.
//!
//! Run with `cargo test -p confab-core --test extraction_suite -- --nocapture`.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use confab_core::Role;
use confab_core::datapoints::{Kind, Schema, SchemaInput};
use confab_core::extract::{Context, Found, Turn, extract};
use jiff::Timestamp;
use serde_json::{Map, Value, json};

/// Overall precision the extractor must keep (measured 0.962 when set: a drop is a regression).
const PRECISION_FLOOR: f64 = 0.95;
/// Overall recall the extractor must keep (measured 0.929 when set).
const RECALL_FLOOR: f64 = 0.91;
/// The suite must stay at least this large.
const MIN_CASES: usize = 150;
/// Gap between messages without their own `at`.
const STEP_MS: i64 = 30_000;

/// One transcript, with the file defaults applied.
struct Case {
    file: String,
    id: String,
    about: String,
    region: Option<String>,
    zone: Option<String>,
    schema: Value,
    start: String,
    messages: Vec<Message>,
    expect: Map<String, Value>,
}

struct Message {
    role: String,
    text: String,
    at: Option<String>,
}

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/extraction")
}

fn str_field(obj: &Map<String, Value>, name: &str, ctx: &str) -> Option<String> {
    match obj.get(name) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => panic!("{ctx}: `{name}` must be a string, not {other}"),
    }
}

/// A case's value for `name`, else the file's: a case's explicit `null` unsets the default.
fn inherited(case: &Map<String, Value>, file: &Map<String, Value>, name: &str) -> Option<Value> {
    match case.get(name) {
        Some(v) => Some(v.clone()),
        None => file.get(name).cloned(),
    }
}

fn load_cases() -> Vec<Case> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(data_dir())
        .expect("tests/data/extraction exists")
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no transcript files in {}", data_dir().display());
    let mut cases = Vec::new();
    for path in paths {
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).expect("readable data file");
        let root: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file}: not JSON: {e}"));
        let root = root.as_object().unwrap_or_else(|| panic!("{file}: must be an object"));
        let list = root
            .get("cases")
            .and_then(Value::as_array)
            .unwrap_or_else(|| panic!("{file}: needs a `cases` array"));
        for (i, c) in list.iter().enumerate() {
            let ctx = format!("{file} cases[{i}]");
            let c = c.as_object().unwrap_or_else(|| panic!("{ctx}: must be an object"));
            let id = str_field(c, "id", &ctx).unwrap_or_else(|| panic!("{ctx}: needs an `id`"));
            let ctx = format!("{file} {id}");
            let field = |name: &str| match inherited(c, root, name) {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(s),
                Some(other) => panic!("{ctx}: `{name}` must be a string, not {other}"),
            };
            let messages = c
                .get("messages")
                .and_then(Value::as_array)
                .unwrap_or_else(|| panic!("{ctx}: needs `messages`"))
                .iter()
                .map(|m| {
                    let m =
                        m.as_object().unwrap_or_else(|| panic!("{ctx}: a message is an object"));
                    Message {
                        role: str_field(m, "role", &ctx).expect("a message has a role"),
                        text: str_field(m, "text", &ctx).expect("a message has a text"),
                        at: str_field(m, "at", &ctx),
                    }
                })
                .collect();
            cases.push(Case {
                file: file.clone(),
                about: str_field(c, "about", &ctx).unwrap_or_default(),
                region: field("region"),
                zone: field("zone"),
                schema: inherited(c, root, "schema")
                    .unwrap_or_else(|| panic!("{ctx}: no `schema` in the case or its file")),
                start: field("start").unwrap_or_else(|| panic!("{ctx}: needs a `start`")),
                messages,
                expect: c
                    .get("expect")
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_else(|| panic!("{ctx}: needs an `expect` object")),
                id,
            });
        }
    }
    cases
}

fn schema_of(case: &Case) -> Schema {
    serde_json::from_value::<SchemaInput>(json!({ "datapoints": case.schema }))
        .unwrap_or_else(|e| panic!("{}: schema does not parse: {e}", case.id))
        .validate()
        .unwrap_or_else(|e| panic!("{}: schema is invalid: {} {}", case.id, e.field, e.message))
}

fn context_of(case: &Case) -> Context {
    Context::new(case.region.as_deref(), case.zone.as_deref())
        .unwrap_or_else(|e| panic!("{}: bad region or zone: {} {}", case.id, e.field, e.message))
}

fn millis(case: &Case, s: &str) -> i64 {
    s.parse::<Timestamp>()
        .unwrap_or_else(|e| panic!("{}: `{s}` is not an RFC 3339 time: {e}", case.id))
        .as_millisecond()
}

fn turns_of(case: &Case) -> Vec<Turn<'_>> {
    let mut at = millis(case, &case.start) - STEP_MS;
    case.messages
        .iter()
        .map(|m| {
            at = match &m.at {
                Some(s) => millis(case, s),
                None => at + STEP_MS,
            };
            Turn {
                role: Role::parse(&m.role)
                    .unwrap_or_else(|| panic!("{}: unknown role `{}`", case.id, m.role)),
                text: &m.text,
                at,
            }
        })
        .collect()
}

fn kind_name(kind: Kind) -> String {
    serde_json::to_value(kind).unwrap().as_str().unwrap().to_owned()
}

#[derive(Default, Clone, Copy)]
struct Score {
    tp: usize,
    fp: usize,
    fn_: usize,
}

impl Score {
    fn add(&mut self, o: Score) {
        self.tp += o.tp;
        self.fp += o.fp;
        self.fn_ += o.fn_;
    }
    fn precision(&self) -> f64 {
        ratio(self.tp, self.tp + self.fp)
    }
    fn recall(&self) -> f64 {
        ratio(self.tp, self.tp + self.fn_)
    }
}

/// An empty denominator scores 1: nothing predicted is nothing wrong.
fn ratio(n: usize, d: usize) -> f64 {
    if d == 0 { 1.0 } else { n as f64 / d as f64 }
}

fn row(label: &str, s: &Score) -> String {
    format!(
        "{label:<22} {:>5} {:>5} {:>5} {:>8.3} {:>8.3}",
        s.tp,
        s.fp,
        s.fn_,
        s.precision(),
        s.recall()
    )
}

fn header(first: &str) -> String {
    format!("{first:<22} {:>5} {:>5} {:>5} {:>8} {:>8}", "tp", "fp", "fn", "prec", "recall")
}

#[test]
fn extraction_accuracy() {
    let cases = load_cases();
    let mut by_kind: BTreeMap<String, Score> = BTreeMap::new();
    let mut by_file: BTreeMap<String, Score> = BTreeMap::new();
    let mut total = Score::default();
    let mut mismatches = Vec::new();
    let mut perfect = 0;

    for case in &cases {
        let schema = schema_of(case);
        let found: BTreeMap<String, Found> = extract(&schema, &turns_of(case), &context_of(case));
        let mut case_ok = true;
        for def in &schema.definitions {
            let kind = kind_name(def.kind);
            let expected = case.expect.get(&def.key);
            let got = found.get(&def.key);
            let score = match (expected, got) {
                (None, None) => continue,
                (Some(e), Some(g)) if *e == g.value => Score { tp: 1, fp: 0, fn_: 0 },
                (Some(_), Some(_)) => Score { tp: 0, fp: 1, fn_: 1 },
                (None, Some(_)) => Score { tp: 0, fp: 1, fn_: 0 },
                (Some(_), None) => Score { tp: 0, fp: 0, fn_: 1 },
            };
            if score.tp == 0 {
                case_ok = false;
                mismatches.push(format!(
                    "{:<16} {:<18} {:<8} expected {:<40} got {}",
                    case.id,
                    def.key,
                    kind,
                    expected.map_or("(nothing)".to_owned(), Value::to_string),
                    got.map_or("(nothing)".to_owned(), |g| format!(
                        "{} (turn {})",
                        g.value, g.turn
                    )),
                ));
            }
            by_kind.entry(kind).or_default().add(score);
            by_file.entry(case.file.clone()).or_default().add(score);
            total.add(score);
        }
        if case_ok {
            perfect += 1;
        }
    }

    println!("\n== extraction suite: {} cases, {perfect} fully right ==", cases.len());
    println!("{}", header("type"));
    for (kind, s) in &by_kind {
        println!("{}", row(kind, s));
    }
    println!("{}", row("OVERALL", &total));
    println!("\n{}", header("file"));
    for (file, s) in &by_file {
        println!("{}", row(file, s));
    }
    println!("\n== {} mismatches ==", mismatches.len());
    for m in &mismatches {
        println!("{m}");
    }
    println!(
        "\noverall precision {:.3} (floor {PRECISION_FLOOR}), recall {:.3} (floor {RECALL_FLOOR})",
        total.precision(),
        total.recall()
    );

    assert!(
        cases.len() >= MIN_CASES,
        "the suite has {} cases, fewer than {MIN_CASES}",
        cases.len()
    );
    assert!(
        total.precision() >= PRECISION_FLOOR,
        "precision {:.3} is below {PRECISION_FLOOR}",
        total.precision()
    );
    assert!(total.recall() >= RECALL_FLOOR, "recall {:.3} is below {RECALL_FLOOR}", total.recall());
}

/// Whether `v` is in the canonical form the extractor gives values of `kind`, so that a typo in
/// an expectation shows here rather than as an extractor miss.
fn canonical_problem(
    def: &confab_core::datapoints::Definition,
    v: &Value,
    case: &Case,
) -> Option<String> {
    let s = v.as_str();
    let zone = jiff::tz::TimeZone::get(case.zone.as_deref().unwrap_or("UTC")).unwrap();
    match def.kind {
        Kind::Text | Kind::Name => match s {
            Some(s) if !s.trim().is_empty() && s.trim() == s => None,
            _ => Some("a trimmed, non-empty string".into()),
        },
        Kind::Email => match s {
            Some(s) if s.contains('@') && s.to_lowercase() == s => None,
            _ => Some("a lower-cased address".into()),
        },
        Kind::Url => match s {
            Some(s) if !s.contains(char::is_whitespace) && s.contains('.') => None,
            _ => Some("a URL as written".into()),
        },
        Kind::Phone => {
            let ok = s.is_some_and(|s| {
                s.starts_with('+')
                    && s[1..].chars().all(|c| c.is_ascii_digit())
                    && phonenumber::parse(None, s).is_ok_and(|n| n.is_valid())
            });
            (!ok).then(|| "a valid E.164 number".into())
        }
        Kind::Number => (!v.is_number()).then(|| "a JSON number".into()),
        Kind::Money => {
            let ok = v.as_object().is_some_and(|o| {
                o.len() == 2
                    && o.get("amount").is_some_and(Value::is_number)
                    && match o.get("currency") {
                        Some(Value::Null) => true,
                        Some(Value::String(c)) => {
                            c.len() == 3 && c.chars().all(|x| x.is_ascii_uppercase())
                        }
                        _ => false,
                    }
            });
            (!ok).then(|| "{\"amount\": n, \"currency\": ISO code or null}".into())
        }
        Kind::Date => {
            let ok = s.is_some_and(|s| s.len() == 10 && s.parse::<jiff::civil::Date>().is_ok());
            (!ok).then(|| "YYYY-MM-DD".into())
        }
        Kind::Time => {
            let ok = s.is_some_and(|s| s.len() == 5 && s.parse::<jiff::civil::Time>().is_ok());
            (!ok).then(|| "HH:MM".into())
        }
        Kind::Datetime => {
            // RFC 3339 with seconds, and the offset the case's zone has at that instant.
            let ok = s.is_some_and(|s| {
                let Ok(ts) = s.parse::<Timestamp>() else { return false };
                let z = ts.to_zoned(zone.clone());
                z.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string() == s
            });
            (!ok).then(|| "RFC 3339 with seconds in the case's zone".into())
        }
        Kind::Choice => match s {
            Some(s) if def.values.iter().any(|x| x == s) => None,
            _ => Some(format!("one of {:?}", def.values)),
        },
        Kind::Regex => {
            let re = def.pattern.as_ref().unwrap();
            match s {
                Some(s) if re.find(s).is_some_and(|m| m.as_str() == s) => None,
                _ => Some("a whole match of the pattern".into()),
            }
        }
    }
}

#[test]
fn cases_are_well_formed() {
    let cases = load_cases();
    let mut ids = HashSet::new();
    let mut problems = Vec::new();
    for case in &cases {
        if !ids.insert(case.id.clone()) {
            problems.push(format!("{}: duplicate id", case.id));
        }
        if case.about.trim().is_empty() {
            problems.push(format!("{}: no `about`", case.id));
        }
        let schema = schema_of(case);
        context_of(case);
        let turns = turns_of(case);
        if !turns.iter().any(|t| t.role == Role::User) {
            problems.push(format!("{}: no user message", case.id));
        }
        for (key, v) in &case.expect {
            match schema.definitions.iter().find(|d| d.key == *key) {
                None => problems.push(format!("{}: expects `{key}`, not in its schema", case.id)),
                Some(def) => {
                    if let Some(p) = canonical_problem(def, v, case) {
                        problems.push(format!("{}: `{key}` = {v} is not {p}", case.id));
                    }
                }
            }
        }
    }
    assert!(problems.is_empty(), "malformed cases:\n{}", problems.join("\n"));
}
