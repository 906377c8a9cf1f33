//! The store side of datapoint extraction, the same for every backend: compiled schemas (and
//! redaction rules) cached by their stored text, and how a write continues a conversation's
//! walk. The backends only read and write the rows.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use confab_core::NewMessage;
use confab_core::bot::BotSettings;
use confab_core::conversation::Message;
use confab_core::datapoints::{Method, NewDatapoint, Schema, SchemaInput};
use confab_core::extract::{self, Context, State, Turn};
use confab_core::redact::Redactor;
use confab_core::time::Millis;

/// A bot's compiled schema and extraction context.
pub(crate) struct Extractor {
    schema: Schema,
    ctx: Context,
    /// Whether the bot masks stored text: a walk re-run over it cannot see the masked values.
    redacts: bool,
}

/// Compiled schemas by their stored text (schema and settings JSON): compiling the regexes
/// on every ingest would cost more than the extraction, and keying by content needs no
/// invalidation when a schema changes.
static EXTRACTORS: LazyLock<Mutex<HashMap<String, Option<Arc<Extractor>>>>> =
    LazyLock::new(Mutex::default);
const MAX_CACHED: usize = 1024;

/// The extractor of a bot with this stored schema and settings; `None` when the schema has no
/// definitions (or no longer validates).
pub(crate) fn extractor(schema_json: &str, settings_json: &str) -> Option<Arc<Extractor>> {
    let cache_key = format!("{schema_json}\u{0}{settings_json}");
    if let Some(hit) = EXTRACTORS.lock().expect("extractor cache").get(&cache_key) {
        return hit.clone();
    }
    let built = (|| {
        let input: SchemaInput = serde_json::from_str(schema_json).ok()?;
        let schema = input.validate().ok()?;
        let settings: BotSettings = serde_json::from_str(settings_json).unwrap_or_default();
        let ctx = settings.context().ok()?;
        let redacts = !settings.redact.is_empty();
        (!schema.definitions.is_empty()).then(|| Arc::new(Extractor { schema, ctx, redacts }))
    })();
    let mut cache = EXTRACTORS.lock().expect("extractor cache");
    if cache.len() >= MAX_CACHED {
        cache.clear();
    }
    cache.insert(cache_key, built.clone());
    built
}

/// Compiled redaction rules by the settings' stored text, as [`EXTRACTORS`].
static REDACTORS: LazyLock<Mutex<HashMap<String, Option<Arc<Redactor>>>>> =
    LazyLock::new(Mutex::default);

/// What an ingest applies for a bot: its extractor and its redaction rules, each if any, and
/// its goal steps.
pub(crate) type BotRules = (Option<Arc<Extractor>>, Option<Arc<Redactor>>, Vec<String>);

/// The goal steps of a bot with these stored settings (most bots have none: no parse).
pub(crate) fn goals(settings_json: &str) -> Vec<String> {
    if !settings_json.contains("\"goal_steps\"") {
        return vec![];
    }
    serde_json::from_str::<BotSettings>(settings_json).map(|s| s.goal_steps).unwrap_or_default()
}

/// The redaction rules of a bot with these stored settings; `None` when it masks nothing.
pub(crate) fn redactor(settings_json: &str) -> Option<Arc<Redactor>> {
    // Most bots mask nothing: no lock, no parse.
    if !settings_json.contains("\"redact\"") {
        return None;
    }
    if let Some(hit) = REDACTORS.lock().expect("redactor cache").get(settings_json) {
        return hit.clone();
    }
    let settings: BotSettings = serde_json::from_str(settings_json).unwrap_or_default();
    let built = settings.redactor().map(Arc::new);
    let mut cache = REDACTORS.lock().expect("redactor cache");
    if cache.len() >= MAX_CACHED {
        cache.clear();
    }
    cache.insert(settings_json.to_owned(), built.clone());
    built
}

/// The messages as they are stored for a bot that redacts: every text with its spans masked.
/// The originals stay with the caller for extraction, and go no further.
pub(crate) fn redact_messages(r: &Redactor, messages: &[NewMessage]) -> Vec<NewMessage> {
    messages
        .iter()
        .map(|m| NewMessage { content: r.redact(&m.content).into_owned(), ..m.clone() })
        .collect()
}

/// Where a conversation's walk stands after a write: the stored state (JSON) and the time of
/// the last message it took in.
pub(crate) struct Walked {
    pub state: String,
    pub last_ts: Option<Millis>,
}

impl Extractor {
    /// Whether the bot masks stored text, so that values re-extracted from it are incomplete.
    pub(crate) fn redacts(&self) -> bool {
        self.redacts
    }

    /// Continues the walk stored as `state`/`last_ts` with the messages a write stored (`new`,
    /// with their row ids): the values found, each with the row it came from. `None` when a new
    /// message is older than the walk's last, so the walk must be re-run over the whole stored
    /// transcript ([`Extractor::rerun`]) for out-of-order arrival to end with the same values.
    pub(crate) fn continue_walk(
        &self,
        state: Option<&str>,
        last_ts: Option<Millis>,
        new: &mut [(i64, &NewMessage)],
    ) -> Option<(Vec<NewDatapoint>, Walked)> {
        new.sort_by_key(|(rowid, m)| (m.timestamp, *rowid));
        if let (Some(last), Some((_, first))) = (last_ts, new.first())
            && first.timestamp < last
        {
            return None;
        }
        let mut walk: State = state.and_then(|j| serde_json::from_str(j).ok()).unwrap_or_default();
        let mut found = vec![];
        for (rowid, m) in new.iter() {
            let turn = Turn { role: m.role, text: &m.content, at: m.timestamp };
            for f in extract::step(&self.schema, &mut walk, &turn, &self.ctx) {
                found.push(NewDatapoint {
                    key: f.key,
                    value: f.value,
                    method: Method::Rule,
                    evidence: Some(f.evidence),
                    message_pk: Some(*rowid),
                });
            }
        }
        let walked = Walked {
            state: serde_json::to_string(&walk).unwrap_or_default(),
            last_ts: new.last().map(|(_, m)| m.timestamp).or(last_ts),
        };
        Some((found, walked))
    }

    /// The walk over a whole transcript (in time order): every value found, and the state.
    pub(crate) fn rerun(&self, messages: &[Message]) -> (Vec<NewDatapoint>, Walked) {
        let turns: Vec<Turn> = messages
            .iter()
            .map(|m| Turn { role: m.role, text: &m.content, at: m.timestamp })
            .collect();
        let (found, walk) = extract::extract_with_state(&self.schema, &turns, &self.ctx);
        let values = found
            .into_iter()
            .map(|(key, f)| NewDatapoint {
                key,
                value: f.value,
                method: Method::Rule,
                evidence: Some(f.evidence),
                message_pk: messages.get(f.turn).map(|m| m.pk),
            })
            .collect();
        let walked = Walked {
            state: serde_json::to_string(&walk).unwrap_or_default(),
            last_ts: messages.last().map(|m| m.timestamp),
        };
        (values, walked)
    }
}
