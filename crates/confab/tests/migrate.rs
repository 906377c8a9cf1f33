//! `confab migrate`, run as an operator grows from one server to many: a populated SQLite store
//! copied into PostgreSQL by the real binary, killed once in the middle and resumed, then served
//! by a server on PostgreSQL that must answer exactly as the SQLite one did.

mod common;

use common::confab;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use confab_store::testing::TestDatabase;
use serde_json::{Value, json};
use sqlx::Connection;

const BOTS: [&str; 3] = ["shop-assistant", "hotel-concierge", "bank-helpdesk"];

fn key(db: &str, team: &str, scopes: &str) -> String {
    let (ok, out, err) =
        confab(&["keys", "create", "--team", team, "--scopes", scopes, "--database-url", db]);
    assert!(ok, "{err}");
    out.trim().to_owned()
}

async fn send(r: reqwest::RequestBuilder, what: &str) -> Value {
    let r = r.send().await.unwrap();
    let status = r.status();
    let text = r.text().await.unwrap();
    assert!(status.is_success(), "{what}: {status}: {text}");
    serde_json::from_str(&text).unwrap_or(Value::String(text))
}

/// The reads a team makes, by path: lists, transcripts, values, analytics, flows, search,
/// settings, webhooks and their deliveries, keys, exports and a vendor API.
fn reads(conversations: &[(String, String)], webhooks: &[(String, i64)]) -> Vec<String> {
    let range = "start_time=2020-01-01&end_time=2030-01-01&bucket=1m";
    let mut paths = vec![
        "/v1/bots".to_owned(),
        "/v1/keys".to_owned(),
        format!("/v1/teams/2/analytics/usage?{range}&group_by=bot_id"),
    ];
    for bot in BOTS {
        let b = format!("/v1/bots/{bot}");
        paths.extend([
            format!("{b}/conversations?limit=50"),
            format!("{b}/conversations?limit=20&sort=last_message_at&channel_type=web"),
            format!("{b}/conversations?q=order&limit=100"),
            format!("{b}/datapoints/schema"),
            format!("{b}/settings"),
            format!("{b}/analytics/conversations?{range}&group_by=channel_type"),
            format!("{b}/analytics/messages?{range}&group_by=role"),
            format!("{b}/analytics/users?{range}"),
            format!("{b}/analytics/insights?stat=duration_seconds&{range}"),
            format!("{b}/analytics/flows?start_time=2020-01-01&end_time=2030-01-01"),
            format!("{b}/export/conversations.jsonl"),
            format!("{b}/export/datapoints.csv"),
            format!("{b}/webhooks"),
        ]);
    }
    for (bot, id) in conversations {
        let c = format!("/v1/bots/{bot}/conversations/{id}");
        paths.extend([c.clone(), format!("{c}/datapoints"), format!("{c}/flow")]);
    }
    for (bot, id) in webhooks {
        paths.push(format!("/v1/bots/{bot}/webhooks/{id}/deliveries"));
    }
    paths
}

async fn answers(client: &reqwest::Client, base: &str, key: &str, paths: &[String]) -> Vec<Value> {
    let mut out = vec![];
    for p in paths {
        out.push(send(client.get(format!("{base}{p}")).bearer_auth(key), p).await);
    }
    out
}

/// Waits until the server's finaliser has ended every idle conversation, so that nothing
/// changes under the reads.
async fn settled(client: &reqwest::Client, base: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let metrics = client.get(format!("{base}/metrics")).send().await.unwrap();
        let text = metrics.text().await.unwrap();
        if text.lines().any(|l| l == "confab_finaliser_backlog 0") {
            return;
        }
        assert!(Instant::now() < deadline, "the finaliser did not catch up:\n{text}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn a_sqlite_store_migrated_into_postgres_answers_the_same() {
    let Some(pg) = TestDatabase::create().await else { return };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("confab.db");
    let db = db.to_str().unwrap();
    let (ok, out, err) =
        confab(&["demo", "--no-serve", "--conversations", "300", "--database-url", db]);
    assert!(ok, "{out}{err}");
    let team_key = key(db, "2", "read,ingest,admin");
    key(db, "1", "read");

    // Values posted by a bot, and webhooks whose receiver is down: deliveries wait in the outbox.
    let server = common::start(db);
    let client = reqwest::Client::new();
    let (mut webhooks, mut conversations) = (vec![], vec![]);
    for bot in BOTS {
        let url = format!("{}/v1/bots/{bot}/conversations?limit=2", server.base);
        let list = send(client.get(url).bearer_auth(&team_key), "list").await;
        for c in list["data"].as_array().unwrap() {
            conversations.push((bot.to_owned(), c["id"].as_str().unwrap().to_owned()));
        }
        let id = &conversations.last().unwrap().1;
        let url = format!("{}/v1/bots/{bot}/webhooks", server.base);
        let body = json!({"url": "http://127.0.0.1:9/hook", "events": ["datapoints.updated"]});
        let hook = send(client.post(url).bearer_auth(&team_key).json(&body), "webhook").await;
        webhooks.push((bot.to_owned(), hook["id"].as_i64().expect("a webhook id")));
        let url = format!("{}/v1/bots/{bot}/conversations/{id}/datapoints", server.base);
        let body = json!({"datapoints": {"Name": "Ada Lovelace"}});
        send(client.put(url).bearer_auth(&team_key).json(&body), "datapoints").await;
    }
    settled(&client, &server.base).await;
    // Each delivery tried once (the next try is 30 s later), so that neither server's sender
    // changes one between the reads.
    for (bot, id) in &webhooks {
        let url = format!("{}/v1/bots/{bot}/webhooks/{id}/deliveries", server.base);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let page = send(client.get(&url).bearer_auth(&team_key), "deliveries").await;
            let tried = page["deliveries"].as_array().unwrap().iter().all(|d| d["attempts"] != 0);
            if tried {
                break;
            }
            assert!(Instant::now() < deadline, "deliveries not tried: {page}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let paths = reads(&conversations, &webhooks);
    let before = answers(&client, &server.base, &team_key, &paths).await;
    let outbox = &before[before.len() - 1];
    assert_eq!(outbox["deliveries"][0]["state"], "pending", "a waiting delivery: {outbox}");
    drop(server);

    // The copy, killed once while it copies the messages.
    let mut child = Command::new(env!("CARGO_BIN_EXE_confab"))
        .args(["migrate", "--from", db, "--to", &pg.url, "--batch-size", "20"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let line = lines.next().expect("the copy reports progress").unwrap();
    assert_eq!(line, "teams: 2 rows copied");
    // Keep draining stderr so the copy never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    let mut conn = sqlx::PgConnection::connect(&pg.url).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let copied: Option<i64> =
            sqlx::query_scalar("SELECT rows FROM confab_migration WHERE tbl = 'messages'")
                .fetch_optional(&mut conn)
                .await
                .unwrap();
        if copied.is_some_and(|n| n > 0) {
            break;
        }
        assert!(Instant::now() < deadline, "the copy did not reach the messages");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();

    // Running it again on the wrong file is refused; on the right one it resumes.
    let other = dir.path().join("other.db");
    std::fs::copy(db, &other).unwrap();
    let (ok, _, err) = confab(&["migrate", "--from", other.to_str().unwrap(), "--to", &pg.url]);
    assert!(!ok && err.contains("holds an unfinished copy of"), "{err}");
    let (ok, out, err) = confab(&["migrate", "--from", db, "--to", &pg.url, "--batch-size", "500"]);
    assert!(ok, "{out}{err}");
    let resumed = err.lines().find(|l| l.starts_with("messages: resuming after ")).expect(&err);
    let counts: Vec<u64> = resumed.split(' ').filter_map(|w| w.parse().ok()).collect();
    assert!(counts[0] > 0 && counts[0] < counts[1], "{resumed}");
    assert!(out.contains("copied (resumed) and verified"), "{out}");
    for table in ["teams", "api_keys", "conversations", "messages", "datapoints", "webhooks"] {
        assert!(out.lines().any(|l| l.starts_with(table)), "{table} verified: {out}");
    }
    // A finished copy leaves a database in use: another run refuses to write into it.
    let (ok, _, err) = confab(&["migrate", "--from", db, "--to", &pg.url]);
    assert!(!ok && err.contains("already holds Confab data"), "{err}");

    // The same keys work on the PostgreSQL server, and every answer is the same.
    let server = common::start(&pg.url);
    assert!(server.first_key.is_none(), "the copied teams and keys are used");
    let after = answers(&client, &server.base, &team_key, &paths).await;
    for ((path, a), b) in paths.iter().zip(&before).zip(&after) {
        assert_eq!(a, b, "GET {path}");
    }
    // New rows get new ids after the copied ones.
    let url = format!("{}/v1/bots/shop-assistant/messages", server.base);
    let body = json!({"conversation_id": "after-migration", "role": "user", "content": "Hello"});
    send(client.post(url).bearer_auth(&team_key).json(&body), "ingest").await;
    let url = format!("{}/v1/bots/shop-assistant/conversations/after-migration", server.base);
    let got = send(client.get(url).bearer_auth(&team_key), "read back").await;
    assert_eq!(got["messages"][0]["content"], "Hello", "{got}");
}

#[test]
fn refuses_what_it_cannot_copy() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.db");
    let (ok, _, err) =
        confab(&["migrate", "--from", missing.to_str().unwrap(), "--to", "postgres://127.0.0.1/x"]);
    assert!(!ok && err.contains("is not a file"), "{err}");
    let (ok, _, err) = confab(&["migrate", "--from", "postgres://h/db", "--to", "postgres://h/x"]);
    assert!(!ok && err.contains("--from"), "{err}");
    let (ok, _, err) = confab(&["migrate", "--from", "a.db", "--to", "./b.db"]);
    assert!(!ok && err.contains("--to"), "{err}");
}
