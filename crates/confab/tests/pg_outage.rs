//! The real binary loses its PostgreSQL and gets it back. The database is reached through a TCP
//! proxy in the test that can freeze, cut every connection and refuse new ones (to the server,
//! PostgreSQL restarting), then accept again. While the database is gone every request — those
//! in flight when it went and those after — is answered 503 with `Retry-After` and a JSON error
//! that says nothing of the internals, within a bounded time; when it is back the same server
//! serves again without a restart, and every message acknowledged at any time is stored once.
//! The database password never appears in the server's output, even at `RUST_LOG=debug`.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

const BOT: &str = "outage";
const PASSWORD: &str = "s3cr3t-pw";
/// The longest any answer may take while the database is gone (the server's own deadline is the
/// statement timeout plus the connect timeout: 7 s).
const BOUND: Duration = Duration::from_secs(15);

/// A TCP proxy to PostgreSQL that can be frozen (bytes are held, not forwarded), switched off
/// (every connection cut, new ones refused: the port is closed) and switched on again.
struct Proxy {
    port: u16,
    target: String,
    hold: watch::Sender<bool>,
    accept: Option<JoinHandle<()>>,
    connections: Arc<Mutex<JoinSet<()>>>,
}

impl Proxy {
    async fn start(target: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut proxy = Proxy {
            port,
            target,
            hold: watch::channel(false).0,
            accept: None,
            connections: Arc::default(),
        };
        proxy.accept = Some(proxy.spawn_accept(listener));
        proxy
    }

    fn spawn_accept(&self, listener: TcpListener) -> JoinHandle<()> {
        let (target, hold, connections) =
            (self.target.clone(), self.hold.clone(), self.connections.clone());
        tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else { continue };
                let Ok(server) = TcpStream::connect(&target).await else { continue };
                let hold = hold.subscribe();
                connections.lock().unwrap().spawn(async move {
                    let (client_read, client_write) = client.into_split();
                    let (server_read, server_write) = server.into_split();
                    // Either side closing closes both.
                    tokio::select! {
                        () = pump(client_read, server_write, hold.clone()) => {}
                        () = pump(server_read, client_write, hold) => {}
                    }
                });
            }
        })
    }

    /// Holds every byte in both directions: queries and answers in flight stall.
    fn freeze(&self) {
        self.hold.send_replace(true);
    }

    /// PostgreSQL goes away: the port is closed and every connection cut.
    async fn switch_off(&mut self) {
        if let Some(accept) = self.accept.take() {
            accept.abort();
            let _ = accept.await;
        }
        let mut connections = std::mem::take(&mut *self.connections.lock().unwrap());
        connections.shutdown().await;
        self.hold.send_replace(false);
    }

    /// PostgreSQL is back, on the same port.
    async fn switch_on(&mut self) {
        let socket = TcpSocket::new_v4().unwrap();
        socket.set_reuseaddr(true).unwrap();
        socket.bind(([127, 0, 0, 1], self.port).into()).unwrap();
        let listener = socket.listen(1024).unwrap();
        self.accept = Some(self.spawn_accept(listener));
    }
}

/// Copies `from` to `to` until either ends, holding bytes while `hold` is true.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut hold: watch::Receiver<bool>,
) {
    let mut buf = vec![0; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if hold.wait_for(|held| !*held).await.is_err() || to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// The parts of a `postgres://user[:password]@host[:port]/db[?query]` URL this test needs.
struct PgUrl {
    user: String,
    host_port: String,
    database: String,
    query: String,
}

fn parse_pg_url(url: &str) -> PgUrl {
    let rest = url.split_once("://").expect("a postgres:// URL").1;
    let (rest, query) = match rest.split_once('?') {
        Some((r, q)) => (r, format!("?{q}")),
        None => (rest, String::new()),
    };
    let (authority, database) = rest.split_once('/').expect("the URL names a database");
    let (userinfo, host_port) = authority.rsplit_once('@').unwrap_or(("postgres", authority));
    let user = userinfo.split(':').next().unwrap().to_owned();
    let host_port = match host_port.rsplit_once(':') {
        Some(_) if !host_port.ends_with(']') => host_port.to_owned(),
        _ => format!("{host_port}:5432"),
    };
    PgUrl { user, host_port, database: database.to_owned(), query }
}

/// A running `confab serve` whose stdout and stderr are kept whole; killed when dropped.
struct Server {
    child: Child,
    base: String,
    key: String,
    output: Arc<Mutex<String>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl Server {
    /// Kills the server and returns all it wrote to stdout and stderr.
    fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        for reader in self.readers.drain(..) {
            reader.join().unwrap();
        }
        self.output.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(database_url: &str) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_confab"))
        .args(["serve", "--listen", "127.0.0.1:0", "--database-url", database_url])
        .args(["--db-connect-timeout-seconds", "2", "--db-statement-timeout-seconds", "5"])
        .env("RUST_LOG", "debug")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the confab binary starts");
    let output = Arc::new(Mutex::new(String::new()));
    let mut stderr = child.stderr.take().unwrap();
    let stderr_output = output.clone();
    let stderr_reader = std::thread::spawn(move || {
        let mut buf = [0; 8192];
        while let Ok(n) = stderr.read(&mut buf) {
            if n == 0 {
                break;
            }
            stderr_output.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let stdout_output = output.clone();
    let stdout_reader = std::thread::spawn(move || {
        let mut key = None;
        for line in stdout.lines() {
            let Ok(line) = line else { break };
            stdout_output.lock().unwrap().push_str(&format!("{line}\n"));
            if let Some(k) = line.trim().strip_prefix("cfb_") {
                key = Some(format!("cfb_{k}"));
            }
            if let Some(addr) = line.strip_prefix("Confab is listening on ") {
                let _ = tx.send((key.take(), Some(addr.trim().to_owned())));
            }
        }
        let _ = tx.send((None, None));
    });
    let (key, base) = rx.recv_timeout(Duration::from_secs(30)).expect("confab started");
    let base = base.unwrap_or_else(|| {
        let _ = child.kill();
        panic!("confab did not start: {}", output.lock().unwrap())
    });
    let key = key.expect("the first start prints an admin key");
    Server { child, base, key, output, readers: vec![stderr_reader, stdout_reader] }
}

/// One answer, timed.
struct Answer {
    what: String,
    status: u16,
    retry_after: Option<String>,
    body: String,
    took: Duration,
}

impl Answer {
    /// A 503 with `Retry-After`, a JSON error and no internals, inside the bound.
    fn assert_unavailable(&self, leaks: &[&str]) {
        let Answer { what, status, body, took, .. } = self;
        assert!(*took < BOUND, "{what} took {took:?} while the database was gone");
        assert_eq!(*status, 503, "{what} while the database was gone: {body}");
        assert!(self.retry_after.is_some(), "{what}: a 503 without Retry-After");
        if what.starts_with("GET /readyz") {
            return;
        }
        let json: Value = serde_json::from_str(body)
            .unwrap_or_else(|e| panic!("{what}: the 503 body is not JSON ({e}): {body}"));
        assert_eq!(json["error"]["code"], "unavailable", "{what}: {body}");
        assert!(json["error"]["message"].is_string(), "{what}: {body}");
        for leak in leaks {
            assert!(
                !body.to_lowercase().contains(&leak.to_lowercase()),
                "{what}: the 503 body shows `{leak}`: {body}"
            );
        }
    }
}

#[derive(Clone)]
struct Api {
    client: reqwest::Client,
    base: String,
    key: String,
}

impl Api {
    async fn send(&self, what: String, request: reqwest::RequestBuilder) -> Answer {
        let started = Instant::now();
        let r = request
            .bearer_auth(&self.key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{what}: no answer after {:?}: {e}", started.elapsed()));
        let status = r.status().as_u16();
        let retry_after =
            r.headers().get("retry-after").map(|v| v.to_str().unwrap_or_default().to_owned());
        let body = r.text().await.unwrap_or_else(|e| panic!("{what}: body cut: {e}"));
        Answer { what, status, retry_after, body, took: started.elapsed() }
    }

    async fn post_message(&self, conv: &str, id: &str) -> Answer {
        let body = json!({"conversation_id": conv, "id": id, "role": "user", "content": id});
        let request = self.client.post(format!("{}/v1/bots/{BOT}/messages", self.base)).json(&body);
        self.send(format!("POST message {conv}/{id}"), request).await
    }

    async fn list(&self) -> Answer {
        let url = format!("{}/v1/bots/{BOT}/conversations?limit=100", self.base);
        self.send("GET conversations".into(), self.client.get(url)).await
    }

    async fn conversation(&self, conv: &str) -> Answer {
        let url = format!("{}/v1/bots/{BOT}/conversations/{conv}", self.base);
        self.send(format!("GET conversation {conv}"), self.client.get(url)).await
    }

    async fn ready(&self) -> Answer {
        self.send("GET /readyz".into(), self.client.get(format!("{}/readyz", self.base))).await
    }
}

/// The messages a client sent, and those the server acknowledged.
#[derive(Default)]
struct Ledger {
    acknowledged: Vec<(String, String)>,
    /// Answered 503: to be sent again once the database is back.
    pending: Vec<(String, String)>,
}

impl Ledger {
    fn record(&mut self, conv: &str, id: &str, answer: &Answer) {
        let entry = (conv.to_owned(), id.to_owned());
        match answer.status {
            200 => self.acknowledged.push(entry),
            503 => self.pending.push(entry),
            other => panic!("{} answered {other}: {}", answer.what, answer.body),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn database_outage_answers_503_and_recovers_without_restart() {
    let Some(db) = confab_store::testing::TestDatabase::create().await else { return };
    let test_started = Instant::now();
    let pg = parse_pg_url(&db.url);
    let mut proxy = Proxy::start(pg.host_port.clone()).await;
    let url = format!(
        "postgres://{}:{PASSWORD}@127.0.0.1:{}/{}{}",
        pg.user, proxy.port, pg.database, pg.query
    );
    let server = start(&url);
    let client = reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap();
    let api = Api { client, base: server.base.clone(), key: server.key.clone() };
    let port = proxy.port.to_string();
    let leaks = [
        PASSWORD,
        pg.database.as_str(),
        port.as_str(),
        "127.0.0.1",
        "sqlx",
        "os error",
        "connection refused",
        "pool timed out",
        "io error",
        "postgres",
    ];
    let ledger = Arc::new(Mutex::new(Ledger::default()));

    // With the database: messages are acknowledged, the server is ready.
    for i in 0..10 {
        let (conv, id) = ("before", format!("before-{i}"));
        let a = api.post_message(conv, &id).await;
        assert_eq!(a.status, 200, "{}: {}", a.what, a.body);
        ledger.lock().unwrap().record(conv, &id, &a);
    }
    assert_eq!(api.ready().await.status, 200);
    assert_eq!(api.list().await.status, 200);

    // A client that keeps writing through the whole outage: each answer is a 200 or a 503.
    let (stop_tx, stop_rx) = watch::channel(false);
    let steady = {
        let (api, ledger) = (api.clone(), ledger.clone());
        tokio::spawn(async move {
            let mut sent = 0;
            while !*stop_rx.borrow() {
                let id = format!("steady-{sent}");
                let a = api.post_message("steady", &id).await;
                assert!(a.took < BOUND, "{} took {:?}", a.what, a.took);
                if a.status == 503 {
                    a.assert_unavailable(&[PASSWORD, "sqlx", "os error"]);
                }
                ledger.lock().unwrap().record("steady", &id, &a);
                sent += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Requests in flight when the database goes: frozen mid-query, then cut.
    proxy.freeze();
    let mut in_flight = JoinSet::new();
    for i in 0..4 {
        let api = api.clone();
        in_flight.spawn(async move {
            let id = format!("inflight-{i}");
            let a = api.post_message("inflight", &id).await;
            (Some(("inflight".to_owned(), id)), a)
        });
    }
    for _ in 0..2 {
        let (a, b) = (api.clone(), api.clone());
        in_flight.spawn(async move { (None, a.list().await) });
        in_flight.spawn(async move { (None, b.conversation("before").await) });
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    proxy.switch_off().await;
    let went_away = Instant::now();
    while let Some(done) = in_flight.join_next().await {
        let (message, answer) = done.unwrap();
        answer.assert_unavailable(&leaks);
        if let Some((conv, id)) = message {
            ledger.lock().unwrap().record(&conv, &id, &answer);
        }
    }

    // New requests while it is gone, once at once and once after the key cache (5 s) expired, so
    // that the key itself must be looked up in the missing database.
    for round in 0..2 {
        if round == 1 {
            tokio::time::sleep(Duration::from_secs(6).saturating_sub(went_away.elapsed())).await;
        }
        let id = format!("during-{round}");
        let (post, list, get, ready) = tokio::join!(
            api.post_message("during", &id),
            api.list(),
            api.conversation("before"),
            api.ready()
        );
        for a in [&post, &list, &get, &ready] {
            a.assert_unavailable(&leaks);
        }
        ledger.lock().unwrap().record("during", &id, &post);
    }
    let outage = went_away.elapsed();

    // The database is back: the same server serves again, without a restart.
    proxy.switch_on().await;
    let back = Instant::now();
    loop {
        let (list, get, ready) = tokio::join!(api.list(), api.conversation("before"), api.ready());
        let post = api.post_message("after", "after-0").await;
        let answers = [&list, &get, &ready, &post];
        for a in answers {
            assert!(a.took < BOUND, "{} took {:?} after the database came back", a.what, a.took);
            assert!(matches!(a.status, 200 | 503), "{} answered {}: {}", a.what, a.status, a.body);
        }
        if answers.iter().all(|a| a.status == 200) {
            ledger.lock().unwrap().record("after", "after-0", &post);
            break;
        }
        assert!(
            back.elapsed() < Duration::from_secs(15),
            "not serving 15 s after the database came back: {}",
            answers
                .iter()
                .map(|a| format!("{} {}", a.what, a.status))
                .collect::<Vec<_>>()
                .join(", ")
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let recovered_in = back.elapsed();
    stop_tx.send_replace(true);
    steady.await.expect("the steady client saw something other than 200 or 503");

    // Messages answered 503 are sent again with the same id: each is stored once.
    let pending = std::mem::take(&mut ledger.lock().unwrap().pending);
    let resent = pending.len();
    for (conv, id) in pending {
        let a = api.post_message(&conv, &id).await;
        assert_eq!(a.status, 200, "{}: {}", a.what, a.body);
        ledger.lock().unwrap().record(&conv, &id, &a);
    }
    let acknowledged = std::mem::take(&mut ledger.lock().unwrap().acknowledged);
    let mut by_conversation: HashMap<String, HashSet<String>> = HashMap::new();
    for (conv, id) in &acknowledged {
        assert!(
            by_conversation.entry(conv.clone()).or_default().insert(id.clone()),
            "{conv}/{id} acknowledged twice"
        );
    }
    for (conv, ids) in &by_conversation {
        let a = api.conversation(conv).await;
        assert_eq!(a.status, 200, "{}: {}", a.what, a.body);
        let body: Value = serde_json::from_str(&a.body).unwrap();
        let stored: Vec<&str> = body["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap())
            .collect();
        let distinct: HashSet<&str> = stored.iter().copied().collect();
        assert_eq!(distinct.len(), stored.len(), "{conv}: a message stored twice: {stored:?}");
        assert_eq!(distinct, ids.iter().map(String::as_str).collect(), "{conv}");
        assert_eq!(body["message_count"], ids.len(), "{conv}");
    }
    let list: Value = serde_json::from_str(&api.list().await.body).unwrap();
    assert_eq!(list["data"].as_array().unwrap().len(), by_conversation.len(), "{list}");

    // Nothing the server wrote, at debug level, through an outage, shows the password.
    let output = server.stop();
    assert!(output.contains("Confab is listening on"), "the output was captured: {output}");
    assert!(output.contains("store unavailable"), "the outage was logged: {output}");
    if let Some(at) = output.find(PASSWORD) {
        let line = output[..at].rfind('\n').map_or(0, |i| i + 1);
        let end = output[at..].find('\n').map_or(output.len(), |i| at + i);
        panic!("the server's output shows the database password: {}", &output[line..end]);
    }
    eprintln!(
        "{} messages acknowledged ({resent} after a 503); outage {outage:?}, serving again \
         {recovered_in:?} after the database came back; total {:?}",
        acknowledged.len(),
        test_started.elapsed()
    );
    drop(db);
}
