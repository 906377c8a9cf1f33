//! The scenarios, each against the running server over HTTP: what it sends, how many at once,
//! and the latency of every request.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::sync::Mutex;

use confab_bench::progress::Progress;

use crate::stats::Measured;

/// The HTTP client every scenario uses, with the admin key.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    key: String,
}

impl Client {
    pub fn new(base: &str, key: &str) -> Client {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(128)
            .timeout(Duration::from_secs(120))
            .build()
            .expect("an HTTP client");
        Client { http, base: base.to_owned(), key: key.to_owned() }
    }

    /// `GET path`, failing on anything but 200; returns the body and the latency.
    pub async fn get(&self, path: &str) -> Result<(Value, Duration)> {
        let started = Instant::now();
        let r = self.http.get(format!("{}{path}", self.base)).bearer_auth(&self.key).send().await?;
        let status = r.status();
        let body = r.bytes().await?;
        let took = started.elapsed();
        if !status.is_success() {
            bail!("GET {path}: {status}: {}", String::from_utf8_lossy(&body));
        }
        Ok((serde_json::from_slice(&body).context("a JSON answer")?, took))
    }

    /// `POST path` with a JSON body, failing on anything but 2xx; returns the latency.
    pub async fn post(&self, path: &str, body: Vec<u8>) -> Result<Duration> {
        self.send(reqwest::Method::POST, path, body).await
    }

    /// `PUT path` with a JSON body, failing on anything but 2xx.
    pub async fn put(&self, path: &str, body: &Value) -> Result<()> {
        self.send(reqwest::Method::PUT, path, serde_json::to_vec(body)?).await.map(drop)
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Vec<u8>) -> Result<Duration> {
        let started = Instant::now();
        let r = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .bearer_auth(&self.key)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await?;
        let status = r.status();
        let text = r.bytes().await?;
        let took = started.elapsed();
        if !status.is_success() {
            bail!("{method} {path}: {status}: {}", String::from_utf8_lossy(&text));
        }
        Ok(took)
    }
}

/// Gives each bot its datapoint schema through the API (`PUT /v1/bots/{bot}/datapoints/schema`),
/// as a real bot's owner would before its traffic arrives; ingest then extracts values.
pub async fn put_schemas(client: &Client, schemas: &[(String, Value)]) -> Result<()> {
    for (bot, schema) in schemas {
        client.put(&format!("/v1/bots/{bot}/datapoints/schema"), schema).await?;
    }
    Ok(())
}

/// The header of one batch in the file of prepared batch requests: a line
/// `bot_id messages bytes`, then the body ([`next_batch`] reads it back).
pub fn batch_header(bot: &str, messages: usize, body: &[u8]) -> String {
    format!("{bot} {messages} {}\n", body.len())
}

/// Scenario 1's batch requests as they are written to its file: each bot's messages in the
/// order given, `size` to a request (the last of each bot's may be smaller).
pub struct BatchFile<W: std::io::Write> {
    out: W,
    size: usize,
    pending: BTreeMap<String, Vec<Value>>,
}

impl<W: std::io::Write> BatchFile<W> {
    pub fn new(out: W, size: usize) -> Self {
        BatchFile { out, size, pending: BTreeMap::new() }
    }

    /// Adds one message (as the API takes it) of `bot`'s; writes a request once it has `size`.
    pub fn push(&mut self, bot: &str, message: Value) -> Result<()> {
        let msgs = self.pending.entry(bot.to_owned()).or_default();
        msgs.push(message);
        if msgs.len() == self.size {
            let msgs = std::mem::take(msgs);
            self.write(bot, &msgs)?;
        }
        Ok(())
    }

    /// Writes what is left of every bot's messages; returns the writer.
    pub fn finish(mut self) -> Result<W> {
        for (bot, msgs) in std::mem::take(&mut self.pending) {
            if !msgs.is_empty() {
                self.write(&bot, &msgs)?;
            }
        }
        self.out.flush()?;
        Ok(self.out)
    }

    fn write(&mut self, bot: &str, msgs: &[Value]) -> Result<()> {
        let body = serde_json::to_vec(&serde_json::json!({ "messages": msgs }))?;
        self.out.write_all(batch_header(bot, msgs.len(), &body).as_bytes())?;
        self.out.write_all(&body)?;
        Ok(())
    }
}

/// The client of request or task `i` when the load is spread round-robin over `clients` (one
/// per server).
pub fn spread(clients: &[Client], i: usize) -> &Client {
    &clients[i % clients.len()]
}

/// The next batch written after a [`batch_header`]: bot, messages, body.
pub async fn next_batch(
    reader: &mut BufReader<tokio::fs::File>,
) -> Result<Option<(String, u64, Vec<u8>)>> {
    let mut header = Vec::new();
    if reader.read_until(b'\n', &mut header).await? == 0 {
        return Ok(None);
    }
    let header = String::from_utf8(header)?;
    let mut parts = header.trim_end().split(' ');
    let (Some(bot), Some(n), Some(len)) = (parts.next(), parts.next(), parts.next()) else {
        bail!("a damaged batch file");
    };
    let mut body = vec![0; len.parse()?];
    reader.read_exact(&mut body).await?;
    Ok(Some((bot.to_owned(), n.parse()?, body)))
}

/// Scenario 1: the prepared batches posted by `concurrency` concurrent clients, spread over
/// `clients` (one per server).
pub async fn batch_ingest(clients: &[Client], file: &Path, concurrency: usize) -> Result<Measured> {
    let reader =
        Arc::new(Mutex::new(BufReader::with_capacity(1 << 20, tokio::fs::File::open(file).await?)));
    let size = tokio::fs::metadata(file).await?.len();
    let progress = Arc::new(std::sync::Mutex::new(Progress::new("batch ingest", size, "bytes")));
    let started = Instant::now();
    let mut tasks = vec![];
    for i in 0..concurrency {
        let (reader, client, progress) =
            (reader.clone(), spread(clients, i).clone(), progress.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = vec![];
            let mut messages = 0u64;
            loop {
                let next = next_batch(&mut *reader.lock().await).await?;
                let Some((bot, n, body)) = next else { break };
                let bytes = body.len() as u64;
                latencies.push(client.post(&format!("/v1/bots/{bot}/messages/batch"), body).await?);
                messages += n;
                progress.lock().expect("progress").inc(bytes);
            }
            Ok::<_, anyhow::Error>((latencies, messages))
        }));
    }
    let (mut latencies, mut messages) = (vec![], 0);
    for t in tasks {
        let (l, n) = t.await??;
        latencies.extend(l);
        messages += n;
    }
    progress.lock().expect("progress").finish();
    Ok(Measured::of(latencies, messages, started.elapsed(), "messages/s"))
}

/// Scenario 2: single messages, `concurrency` at once, spread over `clients` (one per server).
pub async fn single_ingest(
    clients: &[Client],
    bot: &str,
    bodies: Vec<Vec<u8>>,
    concurrency: usize,
) -> Result<Measured> {
    let count = bodies.len() as u64;
    let queue = Arc::new(std::sync::Mutex::new(bodies));
    let started = Instant::now();
    let mut tasks = vec![];
    for i in 0..concurrency {
        let (queue, client, path) =
            (queue.clone(), spread(clients, i).clone(), format!("/v1/bots/{bot}/messages"));
        tasks.push(tokio::spawn(async move {
            let mut latencies = vec![];
            loop {
                let next = queue.lock().expect("queue").pop();
                let Some(body) = next else { break };
                latencies.push(client.post(&path, body).await?);
            }
            Ok::<_, anyhow::Error>(latencies)
        }));
    }
    let mut latencies = vec![];
    for t in tasks {
        latencies.extend(t.await??);
    }
    Ok(Measured::of(latencies, count, started.elapsed(), "requests/s"))
}

/// A read scenario: `paths` fetched one after another (latency, not load), in turn from each of
/// `clients` (one per server); returns the measurement and every answer.
pub async fn reads(clients: &[Client], paths: &[String]) -> Result<(Measured, Vec<Value>)> {
    let started = Instant::now();
    let mut latencies = Vec::with_capacity(paths.len());
    let mut answers = vec![];
    for (i, path) in paths.iter().enumerate() {
        let (answer, took) = spread(clients, i).get(path).await?;
        latencies.push(took);
        answers.push(answer);
    }
    Ok((Measured::of(latencies, paths.len() as u64, started.elapsed(), "requests/s"), answers))
}

/// Scenario 7's split, in process on the stopped server's database: the store's query for the
/// range's not-handled messages of `bot` (in the first team), then the clustering alone.
/// Returns the messages, the clusters, and both times.
pub async fn unhandled_split(
    db: &Path,
    bot: &str,
    range: (i64, i64),
) -> Result<(usize, u64, Duration, Duration)> {
    use confab_core::cluster::{MESSAGE_CAP, report};
    let store = confab_store::open(&db.display().to_string()).await.map_err(anyhow::Error::msg)?;
    let team = store.list_teams().await?.first().context("a team")?.id;
    let started = Instant::now();
    let mut messages = store.unhandled_messages(team, bot, range, MESSAGE_CAP + 1).await?;
    let query = started.elapsed();
    let truncated = messages.len() > MESSAGE_CAP as usize;
    messages.truncate(MESSAGE_CAP as usize);
    let started = Instant::now();
    let r = report(&messages, range, truncated);
    let clustering = started.elapsed();
    store.close().await;
    Ok((messages.len(), r.clusters_total, query, clustering))
}

/// The clustering's worst case at the cap: [`MESSAGE_CAP`] messages that are all worded
/// differently (the benchmark's fallbacks come from a bank of phrasings, so its distinct
/// wordings are few), 3–10 words each from a vocabulary of 4,000 made-up words with a long tail
/// of frequencies. Returns the messages, the clusters and the time of the clustering alone.
///
/// [`MESSAGE_CAP`]: confab_core::cluster::MESSAGE_CAP
pub fn clustering_worst_case(seed: u64) -> (usize, u64, Duration) {
    use confab_core::cluster::{MESSAGE_CAP, UnhandledMessage, report};
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    let mut rng = StdRng::seed_from_u64(seed);
    const SYLLABLES: [&str; 24] = [
        "ka", "lo", "mi", "ne", "su", "ra", "to", "vi", "de", "po", "ga", "shi", "an", "er", "or",
        "un", "bel", "tar", "zen", "fo", "qui", "lu", "ma", "sto",
    ];
    let words: Vec<String> = (0..4_000)
        .map(|_| {
            let n = rng.random_range(2..=4);
            (0..n).map(|_| SYLLABLES[rng.random_range(0..SYLLABLES.len())]).collect()
        })
        .collect();
    let mut seen = std::collections::HashSet::new();
    let mut messages = Vec::with_capacity(MESSAGE_CAP as usize);
    while messages.len() < MESSAGE_CAP as usize {
        let n = rng.random_range(3..=10);
        // Squaring a uniform draw favours the first words: a few frequent, a long tail.
        let text: Vec<&str> = (0..n)
            .map(|_| {
                let u: f64 = rng.random();
                words[(u * u * words.len() as f64) as usize].as_str()
            })
            .collect();
        let text = text.join(" ");
        if seen.insert(text.clone()) {
            let ts = messages.len() as i64 * 1_000;
            messages.push(UnhandledMessage { conversation_id: "c".into(), ts, content: text });
        }
    }
    let end = messages.len() as i64 * 1_000;
    let started = Instant::now();
    let r = report(&messages, (0, end), true);
    (messages.len(), r.clusters_total, started.elapsed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worst_case_has_the_cap_in_distinct_wordings() {
        let (n, clusters, _) = clustering_worst_case(7);
        assert_eq!(n, confab_core::cluster::MESSAGE_CAP as usize);
        // Distinct random wordings: many groups, but still groups (shared frequent words).
        assert!(clusters > 100 && (clusters as usize) < n, "{clusters}");
    }

    #[test]
    fn load_is_spread_round_robin_over_the_servers() {
        let clients: Vec<Client> =
            ["http://a", "http://b", "http://c"].iter().map(|b| Client::new(b, "k")).collect();
        let mut per_server = [0; 3];
        for i in 0..8 {
            let base = &spread(&clients, i).base;
            per_server[clients.iter().position(|c| &c.base == base).unwrap()] += 1;
        }
        assert_eq!(per_server, [3, 3, 2]);
        let one = [Client::new("http://a", "k")];
        assert!((0..64).all(|i| spread(&one, i).base == "http://a"));
    }
}
