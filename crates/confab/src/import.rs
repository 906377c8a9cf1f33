//! `confab import`: JSONL into the database — lines of the `conversations.jsonl` export and of
//! `confab generate --jsonl`, told apart line by line — through the checks and the
//! `Store::ingest` of the HTTP API, in batches per bot. Streamed: memory holds the pending
//! batches, never the file. Idempotent where the store is: by message id within a conversation.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, IsTerminal};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use confab_core::conversation::IngestOutcome;
use confab_core::datapoints::{Method, Schema, SchemaInput};
use confab_core::extract::{Context, parse_value};
use confab_core::message::check_id;
use confab_core::time::{Millis, now_millis};
use confab_core::{Campaign, FieldError, MessageInput, NewMessage, Step};
use confab_server::ApiError;
use confab_server::extract::from_value;
use confab_store::{Store, StoreError};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Deserialize;
use serde_json::Value;

/// Messages per `Store::ingest` call, as in `POST …/messages/batch`.
const BATCH: usize = 1_000;
/// Messages held across all bots before every batch is written, however small.
const MAX_PENDING: usize = 8 * BATCH;

/// A line of `confab generate --jsonl`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GeneratedLine {
    bot_id: String,
    message: MessageInput,
}

/// What the import reads of a `conversations.jsonl` line. The rest (counts, times, status,
/// first messages, merged metadata) is derived from the messages and is derived again.
#[derive(Deserialize)]
struct ExportedLine {
    id: String,
    bot_id: String,
    channel_type: Option<String>,
    language: Option<String>,
    version: Option<String>,
    user_id: Option<String>,
    campaign: Option<Campaign>,
    #[serde(rename = "type")]
    kind: Option<String>,
    session_id: Option<String>,
    #[serde(default)]
    datapoints: BTreeMap<String, ExportedDatapoint>,
    messages: Vec<ExportedMessage>,
}

#[derive(Deserialize)]
struct ExportedDatapoint {
    value: Value,
    method: Method,
}

#[derive(Deserialize)]
struct ExportedMessage {
    id: Option<String>,
    role: String,
    content: String,
    timestamp: Option<Value>,
    step: Option<Step>,
    metadata: Option<Value>,
}

/// One line, checked: its messages ready for the store and the explicit datapoint values still
/// to check against the bot's schema.
struct Line {
    bot_id: String,
    conversation_id: String,
    messages: Vec<NewMessage>,
    explicit: Vec<(String, Value)>,
}

fn parse_line(text: &[u8], now: Millis) -> Result<Line, FieldError> {
    let value: Value = serde_json::from_slice(text.trim_ascii_end()).map_err(|e| {
        // serde's "at line 1 column 9" would read as the file's line: keep only the column.
        let text = e.to_string();
        let reason = text.split(" at line ").next().unwrap_or(&text);
        FieldError::new("", format!("malformed JSON: {reason} at column {}", e.column()))
    })?;
    let Value::Object(object) = &value else {
        return Err(FieldError::new("", "must be a JSON object"));
    };
    if object.contains_key("messages") {
        exported(field_errors(from_value::<ExportedLine>(value))?, now)
    } else if object.contains_key("message") {
        let line = field_errors(from_value::<GeneratedLine>(value))?;
        check_id("bot_id", &line.bot_id)?;
        let conversation_id = line.message.conversation_id.clone();
        let message = line.message.validate(now).map_err(|e| within("message", e))?;
        Ok(Line { bot_id: line.bot_id, conversation_id, messages: vec![message], explicit: vec![] })
    } else {
        Err(FieldError::new(
            "",
            "neither a conversations.jsonl line (with `messages`) nor a `confab generate \
             --jsonl` line (with `message`)",
        ))
    }
}

/// The export's conversation fields are set on every message: a conversation's dimension takes
/// its earliest message's value, so the result is the same whichever message comes first.
fn exported(line: ExportedLine, now: Millis) -> Result<Line, FieldError> {
    check_id("bot_id", &line.bot_id)?;
    check_id("id", &line.id)?;
    if line.messages.is_empty() {
        return Err(FieldError::new("messages", "must contain at least one message"));
    }
    let messages = line
        .messages
        .into_iter()
        .enumerate()
        .map(|(i, m)| {
            let input = MessageInput {
                conversation_id: line.id.clone(),
                id: m.id,
                role: m.role,
                content: m.content,
                timestamp: m.timestamp,
                step: m.step,
                metadata: m.metadata,
                channel_type: line.channel_type.clone(),
                language: line.language.clone(),
                version: line.version.clone(),
                user_id: line.user_id.clone(),
                campaign: line.campaign.clone(),
                kind: line.kind.clone(),
                session_id: line.session_id.clone(),
            };
            input.validate(now).map_err(|e| match conversation_field(&e.field) {
                true => e,
                false => within(&format!("messages[{i}]"), e),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let explicit = line
        .datapoints
        .into_iter()
        .filter(|(_, d)| d.method == Method::Explicit && !d.value.is_null())
        .map(|(key, d)| (key, d.value))
        .collect();
    Ok(Line { bot_id: line.bot_id, conversation_id: line.id, messages, explicit })
}

/// Fields that an export line has once for the conversation, not per message.
fn conversation_field(field: &str) -> bool {
    confab_core::summary::Dim::ALL.iter().any(|d| d.field() == field)
}

fn within(prefix: &str, e: FieldError) -> FieldError {
    FieldError::new(format!("{prefix}.{}", e.field), e.message)
}

fn field_errors<T>(r: Result<T, ApiError>) -> Result<T, FieldError> {
    r.map_err(|e| match e {
        ApiError::Invalid(e) => e,
        other => FieldError::new("", other.to_string()),
    })
}

/// Keys and values as `Store::put_explicit_datapoints` takes them.
type ExplicitValues = Vec<(String, Option<Value>)>;

/// A bot's schema and settings, as `PUT …/datapoints` parses values against them.
struct BotSchema {
    schema: Schema,
    context: Context,
}

/// The explicit values in the canonical form `PUT …/datapoints` stores, each key checked
/// against the schema.
fn explicit_values(
    bot: Option<&BotSchema>,
    explicit: Vec<(String, Value)>,
    now: Millis,
) -> Result<ExplicitValues, FieldError> {
    explicit
        .into_iter()
        .map(|(key, value)| {
            let field = format!("datapoints.{key}");
            let def = bot.and_then(|b| Some((b.schema.definition(&key)?, &b.context)));
            let Some((def, context)) = def else {
                return Err(FieldError::new(
                    field,
                    "is not a key of the bot's datapoint schema (put the schema before importing)",
                ));
            };
            let parsed = parse_value(def, &value, context, now).ok_or_else(|| {
                FieldError::new(&field, format!("is not a valid {}", def.kind.name()))
            })?;
            Ok((key, Some(parsed)))
        })
        .collect()
}

/// What the import did.
#[derive(Default)]
struct Totals {
    lines: u64,
    stored: u64,
    duplicates: u64,
    rejected: u64,
    datapoints: u64,
}

impl Totals {
    fn summary(&self, secs: f64) -> String {
        format!(
            "{} lines: {} messages stored, {} duplicates, {} rejected, {} explicit datapoints \
             ({secs:.1} s, {:.0} messages/s)",
            self.lines,
            self.stored,
            self.duplicates,
            self.rejected,
            self.datapoints,
            (self.stored + self.duplicates) as f64 / secs.max(0.001)
        )
    }
}

/// A bot's messages and explicit values waiting to be written; values after the messages,
/// since they need the conversation to exist.
#[derive(Default)]
struct Pending {
    messages: Vec<NewMessage>,
    datapoints: Vec<(String, ExplicitValues)>,
}

struct Importer<'a> {
    store: &'a Arc<dyn Store>,
    team: i64,
    pending: BTreeMap<String, Pending>,
    pending_messages: usize,
    schemas: HashMap<String, Option<Arc<BotSchema>>>,
    totals: Totals,
}

impl Importer<'_> {
    async fn add(&mut self, line: Line, now: Millis) -> Result<Result<(), FieldError>> {
        let values = match line.explicit.is_empty() {
            true => vec![],
            false => {
                let bot = self.schema(&line.bot_id).await?;
                match explicit_values(bot.as_deref(), line.explicit, now) {
                    Ok(v) => v,
                    Err(e) => return Ok(Err(e)),
                }
            }
        };
        let count = line.messages.len();
        let bot = line.bot_id;
        let full = self.pending.get(&bot).is_some_and(|p| p.messages.len() + count > BATCH);
        if full {
            self.flush(&bot).await?;
        }
        let pending = self.pending.entry(bot.clone()).or_default();
        pending.messages.extend(line.messages);
        if !values.is_empty() {
            pending.datapoints.push((line.conversation_id, values));
        }
        let held = pending.messages.len();
        self.pending_messages += count;
        if held >= BATCH {
            self.flush(&bot).await?;
        } else if self.pending_messages > MAX_PENDING {
            self.flush_all().await?;
        }
        Ok(Ok(()))
    }

    /// Writes a bot's pending messages (in batches of at most [`BATCH`]), then its values.
    async fn flush(&mut self, bot: &str) -> Result<()> {
        let Some(pending) = self.pending.remove(bot) else { return Ok(()) };
        let mut messages = pending.messages;
        self.pending_messages -= messages.len();
        while !messages.is_empty() {
            let rest = messages.split_off(messages.len().min(BATCH));
            let batch = std::mem::replace(&mut messages, rest);
            for outcome in self.store.ingest(self.team, bot, true, batch).await? {
                match outcome {
                    IngestOutcome::Stored => self.totals.stored += 1,
                    IngestOutcome::Duplicate => self.totals.duplicates += 1,
                }
            }
        }
        for (conversation, values) in pending.datapoints {
            self.totals.datapoints += values.len() as u64;
            self.store.put_explicit_datapoints(self.team, bot, &conversation, values).await?;
        }
        Ok(())
    }

    async fn flush_all(&mut self) -> Result<()> {
        let bots: Vec<String> = self.pending.keys().cloned().collect();
        for bot in bots {
            self.flush(&bot).await?;
        }
        Ok(())
    }

    /// The bot's schema, read once; `None` when it has none (or does not exist yet).
    async fn schema(&mut self, bot: &str) -> Result<Option<Arc<BotSchema>>> {
        if let Some(s) = self.schemas.get(bot) {
            return Ok(s.clone());
        }
        let input: Option<SchemaInput> = match self.store.datapoint_schema(self.team, bot).await {
            Err(StoreError::NotFound(_)) => None,
            other => other?,
        };
        let loaded = match input {
            None => None,
            Some(input) => {
                let schema = input
                    .validate()
                    .map_err(|e| anyhow::anyhow!("the stored schema of {bot}: {e}"))?;
                let context = self
                    .store
                    .bot_settings(self.team, bot)
                    .await?
                    .context()
                    .map_err(|e| anyhow::anyhow!("the settings of {bot}: {e}"))?;
                Some(Arc::new(BotSchema { schema, context }))
            }
        };
        self.schemas.insert(bot.to_owned(), loaded.clone());
        Ok(loaded)
    }
}

/// On a terminal: a bar sized by the file's bytes (a spinner for standard input) with the
/// rate, the ETA and the counts so far. Elsewhere nothing until the summary.
struct Progress {
    bar: Option<ProgressBar>,
    by_bytes: bool,
}

impl Progress {
    fn new(size: Option<u64>) -> Progress {
        if !std::io::stderr().is_terminal() {
            return Progress { bar: None, by_bytes: false };
        }
        let (bar, template) = match size {
            Some(len) => (
                ProgressBar::new(len),
                "[{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, ETA {eta}) {msg}",
            ),
            None => (ProgressBar::new_spinner(), "{spinner} {elapsed} {human_pos} lines {msg}"),
        };
        let style = ProgressStyle::with_template(template).expect("a valid template");
        bar.set_style(style.progress_chars("=> "));
        bar.enable_steady_tick(Duration::from_millis(200));
        Progress { bar: Some(bar), by_bytes: size.is_some() }
    }

    fn advance(&self, bytes: usize, totals: &Totals) {
        let Some(bar) = &self.bar else { return };
        match self.by_bytes {
            true => bar.inc(bytes as u64),
            false => bar.set_position(totals.lines),
        }
        if totals.lines.is_multiple_of(256) {
            // indicatif's own `{per_sec}` prints a rate with four decimals.
            let rate = match self.by_bytes {
                true => String::new(),
                false => format!("({:.0}/s) ", bar.per_sec()),
            };
            bar.set_message(format!(
                "{rate}{} stored, {} duplicates, {} rejected",
                totals.stored, totals.duplicates, totals.rejected
            ));
        }
    }

    /// Prints above the bar, which is drawn again after.
    fn report(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| eprintln!("{text}")),
            None => eprintln!("{text}"),
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Imports `path` (`-` for standard input) into `team` (default: the first team). Rejected
/// lines are reported on stderr as they are met; the import goes on and fails at the end.
pub async fn run(store: &Arc<dyn Store>, team: Option<i64>, path: &str) -> Result<()> {
    let teams = store.list_teams().await?;
    let team = match team {
        Some(t) if teams.iter().any(|x| x.id == t) => t,
        Some(t) => bail!("team {t} not found"),
        None => teams.first().context("no team")?.id,
    };
    let (input, size): (Box<dyn BufRead>, Option<u64>) = match path {
        "-" => (Box::new(std::io::stdin().lock()), None),
        _ => {
            let file = std::fs::File::open(path).with_context(|| format!("opening {path}"))?;
            let size = file.metadata().ok().map(|m| m.len());
            (Box::new(std::io::BufReader::with_capacity(1 << 20, file)), size)
        }
    };
    let started = Instant::now();
    let progress = Progress::new(size);
    let mut importer = Importer {
        store,
        team,
        pending: BTreeMap::new(),
        pending_messages: 0,
        schemas: HashMap::new(),
        totals: Totals::default(),
    };
    let result = read_all(&mut importer, input, &progress).await;
    progress.finish();
    result?;
    let totals = importer.totals;
    let name = if path == "-" { "standard input" } else { path };
    eprintln!("imported {name}: {}", totals.summary(started.elapsed().as_secs_f64()));
    if totals.rejected > 0 {
        bail!(
            "{} of {} lines rejected (listed above); every other line is imported",
            totals.rejected,
            totals.lines
        );
    }
    Ok(())
}

async fn read_all(
    importer: &mut Importer<'_>,
    mut input: Box<dyn BufRead>,
    progress: &Progress,
) -> Result<()> {
    let mut buf = Vec::new();
    let mut number = 0u64;
    loop {
        buf.clear();
        // Blocking reads between writes: the store works on its own threads meanwhile.
        let read = input.read_until(b'\n', &mut buf).context("reading the input")?;
        if read == 0 {
            break;
        }
        number += 1;
        if buf.iter().all(u8::is_ascii_whitespace) {
            progress.advance(read, &importer.totals);
            continue;
        }
        importer.totals.lines += 1;
        let now = now_millis();
        let outcome = match parse_line(&buf, now) {
            Ok(line) => importer.add(line, now).await?,
            Err(e) => Err(e),
        };
        if let Err(e) = outcome {
            importer.totals.rejected += 1;
            let at = if e.field.is_empty() { String::new() } else { format!("{}: ", e.field) };
            progress.report(&format!("line {number}: {at}{}", e.message));
        }
        progress.advance(read, &importer.totals);
    }
    importer.flush_all().await
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Millis = 1_800_000_000_000;

    #[test]
    fn an_export_line_sets_the_conversation_on_every_message() {
        let line = br#"{"id":"c1","bot_id":"b","numeric_id":7,"status":"ended",
            "channel_type":"web","campaign":{"id":"x","source":"ads"},"type":"support",
            "datapoints":{"Name":{"value":"Ann","method":"explicit"},"Email":{"value":"a@b.c","method":"rule"}},
            "messages":[{"id":"m0","role":"user","content":"hi","timestamp":"2026-01-01T00:00:00.250Z","step":null,"metadata":{"k":1}},
                        {"id":"m1","role":"bot","content":"hello","timestamp":"2026-01-01T00:00:01Z","step":{"id":"s","type":"message"},"metadata":null}]}"#;
        let line = parse_line(line, NOW).unwrap();
        assert_eq!((line.bot_id.as_str(), line.conversation_id.as_str()), ("b", "c1"));
        assert_eq!(line.messages.len(), 2);
        for m in &line.messages {
            assert_eq!(m.dims[confab_core::Dim::ChannelType as usize].as_deref(), Some("web"));
            assert_eq!(m.dims[confab_core::Dim::CampaignSource as usize].as_deref(), Some("ads"));
            assert_eq!(m.dims[confab_core::Dim::Type as usize].as_deref(), Some("support"));
        }
        assert_eq!(line.messages[0].timestamp % 1000, 250);
        assert_eq!(line.messages[1].client_id.as_deref(), Some("m1"));
        assert_eq!(line.explicit, vec![("Name".to_owned(), Value::from("Ann"))]);
    }

    #[test]
    fn errors_name_the_field_within_the_line() {
        let err = |text: &str| {
            let e = parse_line(text.as_bytes(), NOW).err().expect("rejected");
            format!("{}: {}", e.field, e.message)
        };
        assert!(err("{\"bot_id\": ").starts_with(": malformed JSON"));
        assert!(err("[1]").starts_with(": must be a JSON object"));
        assert!(err("{\"x\": 1}").contains("neither"));
        let generated =
            r#"{"bot_id":"b","message":{"conversation_id":"c","role":"robot","content":""}}"#;
        assert!(err(generated).starts_with("message.role: unknown role"), "{}", err(generated));
        let unknown = r#"{"bot_id":"b","message":{"conversation_id":"c","role":"user","content":"","colour":1}}"#;
        assert_eq!(err(unknown), "message.colour: unknown field `colour`");
        let exported = r#"{"id":"c","bot_id":"b","user_id":"u\u0001","messages":[{"role":"user","content":"a"}]}"#;
        assert!(err(exported).starts_with("user_id: "), "{}", err(exported));
        let exported = r#"{"id":"c","bot_id":"b","messages":[{"role":"user","content":"a"},{"role":"user","content":"b","metadata":[1]}]}"#;
        assert_eq!(err(exported), "messages[1].metadata: must be a JSON object");
        let missing = r#"{"id":"c","bot_id":"b","messages":[{"content":"a"}]}"#;
        assert_eq!(err(missing), "messages[0].role: is required");
    }
}
