//! The exports end to end: `datapoints.csv` (header, one row per conversation, RFC 4180 quoting,
//! formula injection neutralised) and `conversations.jsonl` (one conversation with transcript and
//! datapoints per line), filtered like the list, refusing paging parameters, and complete and
//! duplicate-free over many pages.

mod common;

use std::collections::{BTreeSet, HashMap};

use common::{TestApp, spawn_app};
use confab_core::time::{Millis, format_rfc3339, parse_rfc3339};
use confab_server::jobs::finalise::finalise_idle_once;
use reqwest::header::CONTENT_TYPE;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const SEC: Millis = 1000;
const IDLE: Millis = 600 * SEC;
const CSV: &str = "/v1/bots/shop/export/datapoints.csv";
const JSONL: &str = "/v1/bots/shop/export/conversations.jsonl";
const HEADER: &str =
    "conversation_id,user_id,channel_type,status,started_at,ended_at,Name,Email,Phone,Plan,Note";

fn base() -> Millis {
    parse_rfc3339("base", "2026-01-10T10:00:00Z").unwrap()
}

fn at(s: i64) -> String {
    format_rfc3339(base() + s * SEC)
}

fn msg(conversation: &str, id: &str, role: &str, content: &str, s: i64) -> Value {
    json!({
        "conversation_id": conversation, "id": id, "role": role, "content": content,
        "timestamp": at(s)
    })
}

/// Sets one dimension on a message (the first message that sets it fixes it).
fn with(mut m: Value, field: &str, value: &str) -> Value {
    m[field] = json!(value);
    m
}

async fn setup_bot(app: &TestApp) {
    let schema = json!({"datapoints": [
        {"key": "Name", "type": "name"},
        {"key": "Email", "type": "email"},
        {"key": "Phone", "type": "phone"},
        {"key": "Plan", "type": "choice", "values": ["Basic", "Pro"]},
        {"key": "Note", "type": "text"}
    ]});
    let (status, body) = app
        .call(Method::PUT, &app.admin_key, "/v1/bots/shop/datapoints/schema", Some(&schema))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app
        .call(
            Method::PUT,
            &app.admin_key,
            "/v1/bots/shop/settings",
            Some(&json!({"phone_region": "US"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// GET with an optional key; status, content type and body text.
async fn fetch(app: &TestApp, key: Option<&str>, path: &str) -> (StatusCode, String, String) {
    let mut req = app.client.get(app.url(path));
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let content_type = resp
        .headers()
        .get(CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, content_type, resp.text().await.unwrap())
}

async fn csv(app: &TestApp, query: &str) -> String {
    let (status, content_type, body) =
        fetch(app, Some(&app.admin_key), &format!("{CSV}{query}")).await;
    assert_eq!(status, StatusCode::OK, "{query}: {body}");
    assert!(content_type.starts_with("text/csv"), "{content_type}");
    body
}

async fn jsonl(app: &TestApp, query: &str) -> Vec<Value> {
    let (status, content_type, body) =
        fetch(app, Some(&app.admin_key), &format!("{JSONL}{query}")).await;
    assert_eq!(status, StatusCode::OK, "{query}: {body}");
    assert!(content_type.starts_with("application/x-ndjson"), "{content_type}");
    assert!(body.is_empty() || body.ends_with('\n'), "every line ends with a newline");
    body.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect()
}

/// The first cell of each data row of a CSV without quoted line breaks.
fn csv_ids(body: &str) -> Vec<String> {
    assert!(body.ends_with("\r\n"), "{body:?}");
    body.trim_end_matches("\r\n")
        .split("\r\n")
        .skip(1)
        .map(|row| row.split(',').next().unwrap().to_owned())
        .collect()
}

fn jsonl_ids(lines: &[Value]) -> Vec<String> {
    lines.iter().map(|l| l["id"].as_str().unwrap().to_owned()).collect()
}

async fn list_ids(app: &TestApp, query: &str) -> Vec<String> {
    let sep = if query.is_empty() { "?" } else { "&" };
    let path = format!("/v1/bots/shop/conversations{query}{sep}limit=100");
    let (status, body) = app.get(&app.admin_key, &path).await;
    assert_eq!(status, StatusCode::OK, "{query}: {body}");
    body["data"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_owned()).collect()
}

/// Three conversations: `c1` (web, ended, values from the dialogue), `c2` (whatsapp, explicit
/// values with commas, quotes and a line break), `c3` (web, a user id and an answer written
/// as spreadsheet formulas).
async fn three_conversations(app: &TestApp) {
    setup_bot(app).await;
    app.ingest(
        "shop",
        vec![
            with(
                with(msg("c1", "m1", "bot", "Hi! What's your name?", 0), "channel_type", "web"),
                "user_id",
                "u1",
            ),
            msg("c1", "m2", "user", "Anna Kowalska", 10),
            msg("c1", "m3", "bot", "Thanks! What's your email?", 20),
            msg("c1", "m4", "user", "anna@example.com", 25),
            msg("c1", "m5", "user", "and call me on (415) 555-2671", 30),
            with(
                with(
                    msg("c2", "m1", "user", "my email is bob@example.com", 100),
                    "channel_type",
                    "whatsapp",
                ),
                "user_id",
                "u2",
            ),
            msg("c2", "m2", "bot", "Noted, thank you.", 110),
            with(
                with(
                    msg("c3", "m1", "bot", "Anything we should note?", 200),
                    "channel_type",
                    "web",
                ),
                "user_id",
                "@SUM(A1)",
            ),
            msg("c3", "m2", "user", "=HYPERLINK(\"http://evil\")", 210),
        ],
    )
    .await;
    let explicit =
        json!({"datapoints": {"Plan": "basic", "Note": "He said \"hi\", then left\nsecond line"}});
    let (status, body) = app
        .call(
            Method::PUT,
            &app.admin_key,
            "/v1/bots/shop/conversations/c2/datapoints",
            Some(&explicit),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Only c1 is idle this long after its last message.
    let done = finalise_idle_once(&*app.store, None, base() + 30 * SEC + IDLE).await.unwrap();
    assert_eq!(done.finalised, 1);
}

#[tokio::test]
async fn the_csv_has_a_header_and_a_row_per_conversation() {
    let app = spawn_app().await;
    three_conversations(&app).await;
    let body = csv(&app, "").await;
    let want = [
        HEADER,
        // Newest first, as the list.
        &format!("c3,'@SUM(A1),web,active,{},,,,,,\"'=HYPERLINK(\"\"http://evil\"\")\"", at(200)),
        &format!(
            "c2,u2,whatsapp,active,{},,,bob@example.com,,Basic,\
             \"He said \"\"hi\"\", then left\nsecond line\"",
            at(100)
        ),
        &format!(
            "c1,u1,web,ended,{},{},Anna Kowalska,anna@example.com,'+14155552671,,",
            at(0),
            at(30)
        ),
    ];
    assert_eq!(body, format!("{}\r\n", want.join("\r\n")));
    // Every record ends with CRLF; the only bare LF is inside the quoted note.
    assert_eq!(body.matches("\r\n").count(), 4);
    assert_eq!(body.matches('\n').count(), 5);
    app.stop().await;
}

#[tokio::test]
async fn formulas_are_neutralised_wherever_they_appear() {
    let app = spawn_app().await;
    setup_bot(&app).await;
    // Risky text in an id, a user id, a channel and values: every such cell starts with `'`.
    app.ingest(
        "shop",
        vec![
            with(
                with(
                    msg("=1+1", "m1", "bot", "Anything we should note?", 0),
                    "user_id",
                    "+33 1 23",
                ),
                "channel_type",
                "-web",
            ),
            msg("=1+1", "m2", "user", "@SUM(A1)", 10),
            with(msg("minus", "m1", "bot", "Anything we should note?", 20), "user_id", "-u1"),
            msg("minus", "m2", "user", "-2+3, \"quoted\"", 30),
        ],
    )
    .await;
    let body = csv(&app, "").await;
    let rows: Vec<&str> = body.trim_end_matches("\r\n").split("\r\n").collect();
    assert_eq!(rows.len(), 3, "{body:?}");
    assert_eq!(rows[1], format!("minus,'-u1,,active,{},,,,,,\"'-2+3, \"\"quoted\"\"\"", at(20)));
    assert_eq!(rows[2], format!("'=1+1,'+33 1 23,'-web,active,{},,,,,,'@SUM(A1)", at(0)));
    // The JSON export keeps the values as they were given.
    let lines = jsonl(&app, "").await;
    assert_eq!(lines[1]["id"], "=1+1");
    assert_eq!(lines[1]["datapoints"]["Note"]["value"], "@SUM(A1)");
    assert_eq!(lines[0]["datapoints"]["Note"]["value"], "-2+3, \"quoted\"");
    app.stop().await;
}

#[tokio::test]
async fn jsonl_lines_carry_the_transcript_and_datapoints() {
    let app = spawn_app().await;
    three_conversations(&app).await;
    let lines = jsonl(&app, "").await;
    assert_eq!(jsonl_ids(&lines), ["c3", "c2", "c1"]);
    let by_id: HashMap<&str, &Value> =
        lines.iter().map(|l| (l["id"].as_str().unwrap(), l)).collect();

    let c1 = by_id["c1"];
    assert_eq!(c1["status"], "ended");
    assert_eq!(c1["channel_type"], "web");
    assert_eq!(c1["user_id"], "u1");
    assert_eq!(c1["message_count"], 5);
    assert_eq!(c1["ended_at"], at(30));
    let contents: Vec<&str> =
        c1["messages"].as_array().unwrap().iter().map(|m| m["content"].as_str().unwrap()).collect();
    assert_eq!(
        contents,
        [
            "Hi! What's your name?",
            "Anna Kowalska",
            "Thanks! What's your email?",
            "anna@example.com",
            "and call me on (415) 555-2671"
        ]
    );
    assert_eq!(c1["messages"][1]["id"], "m2");
    assert_eq!(c1["messages"][1]["role"], "user");
    assert_eq!(c1["messages"][1]["timestamp"], at(10));
    let dp = &c1["datapoints"];
    assert_eq!(dp["Name"]["value"], "Anna Kowalska");
    assert_eq!(dp["Email"]["value"], "anna@example.com");
    assert_eq!(dp["Email"]["message_id"], "m4");
    assert_eq!(dp["Phone"]["value"], "+14155552671");
    for key in ["Name", "Email", "Phone"] {
        assert_eq!(dp[key]["status"], "final", "{key}");
        assert_eq!(dp[key]["method"], "rule", "{key}");
        assert!(dp[key]["evidence"].is_string(), "{key}: {dp}");
    }
    // The answer to the bot's question for the key.
    assert_eq!(dp["Email"]["evidence"], "asked");

    let c2 = by_id["c2"];
    assert_eq!(c2["status"], "active");
    assert_eq!(c2["messages"].as_array().unwrap().len(), 2);
    assert_eq!(c2["datapoints"]["Plan"]["value"], "Basic");
    assert_eq!(c2["datapoints"]["Plan"]["method"], "explicit");
    assert!(c2["datapoints"]["Plan"]["evidence"].is_null(), "{c2}");
    assert_eq!(c2["datapoints"]["Plan"]["status"], "provisional");
    assert_eq!(c2["datapoints"]["Note"]["value"], "He said \"hi\", then left\nsecond line");
    assert_eq!(c2["datapoints"]["Email"]["value"], "bob@example.com");

    let c3 = by_id["c3"];
    assert_eq!(c3["user_id"], "@SUM(A1)");
    assert_eq!(c3["datapoints"]["Note"]["value"], "=HYPERLINK(\"http://evil\")");
    assert_eq!(c3["messages"][1]["content"], "=HYPERLINK(\"http://evil\")");

    // Each line equals the conversation as the transcript endpoint shows it.
    for line in &lines {
        let id = line["id"].as_str().unwrap();
        let (_, conv) = app.get(&app.admin_key, &format!("/v1/bots/shop/conversations/{id}")).await;
        for field in
            ["id", "status", "started_at", "last_message_at", "ended_at", "messages", "datapoints"]
        {
            assert_eq!(line[field], conv[field], "{id}.{field}");
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn exports_are_filtered_like_the_list() {
    let app = spawn_app().await;
    three_conversations(&app).await;
    let cases: [(&str, &[&str]); 14] = [
        ("", &["c3", "c2", "c1"]),
        ("?status=ended", &["c1"]),
        ("?status=active", &["c3", "c2"]),
        ("?channel_type=web", &["c3", "c1"]),
        ("?channel_type=whatsapp", &["c2"]),
        ("?channel_type=web&status=active", &["c3"]),
        ("?datapoint=Email", &["c2", "c1"]),
        ("?datapoint=Note", &["c3", "c2"]),
        ("?datapoint=Plan=Basic", &["c2"]),
        ("?datapoint=Plan=Pro", &[]),
        ("?datapoint=Email=anna@example.com", &["c1"]),
        ("?q=hyperlink", &["c3"]),
        ("?user_id=u2", &["c2"]),
        ("?start_time=2026-01-10T10:01:40Z&end_time=2026-01-10T10:03:20Z", &["c2"]),
    ];
    for (query, want) in cases {
        assert_eq!(list_ids(&app, query).await, want, "list {query}");
        assert_eq!(csv_ids(&csv(&app, query).await), want, "csv {query}");
        assert_eq!(jsonl_ids(&jsonl(&app, query).await), want, "jsonl {query}");
    }
    // No match: the CSV still has its header; the JSONL is empty.
    assert_eq!(csv(&app, "?datapoint=Plan=Pro").await, format!("{HEADER}\r\n"));
    assert_eq!(jsonl(&app, "?datapoint=Plan=Pro").await, Vec::<Value>::new());
    app.stop().await;
}

#[tokio::test]
async fn paging_parameters_keys_and_unknown_bots_are_refused() {
    let app = spawn_app().await;
    three_conversations(&app).await;
    let admin = app.admin_key.clone();
    for export in [CSV, JSONL] {
        for (query, field) in [
            ("?limit=10", "limit"),
            ("?cursor=abc", "cursor"),
            ("?status=ended&limit=100", "limit"),
            ("?status=done", "status"),
            ("?colour=red", "colour"),
            ("?start_time=yesterday", "start_time"),
        ] {
            let (status, _, body) = fetch(&app, Some(&admin), &format!("{export}{query}")).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{export}{query}: {body}");
            let body: Value = serde_json::from_str(&body).unwrap();
            assert_eq!(body["error"]["field"], field, "{export}{query}: {body}");
        }
        let unknown = export.replace("/shop/", "/nobot/");
        let (status, _, body) = fetch(&app, Some(&admin), &unknown).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{unknown}: {body}");
        let (status, _, body) = fetch(&app, None, export).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{export}: {body}");
        let (status, _, _) = fetch(&app, Some("cfk_wrong"), export).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{export}");
        // Read keys may export; keys without read, or for other bots or teams, may not.
        let read = app.key(app.team_id, &["read"], None).await;
        assert_eq!(fetch(&app, Some(&read), export).await.0, StatusCode::OK);
        let ingest = app.key(app.team_id, &["ingest"], None).await;
        assert_eq!(fetch(&app, Some(&ingest), export).await.0, StatusCode::FORBIDDEN);
        let other_bot = app.key(app.team_id, &["read"], Some(vec!["other"])).await;
        assert_eq!(fetch(&app, Some(&other_bot), export).await.0, StatusCode::NOT_FOUND);
        let (_, other_team) = app.new_team(&format!("other {export}")).await;
        assert_eq!(fetch(&app, Some(&other_team), export).await.0, StatusCode::NOT_FOUND);
    }
    app.stop().await;
}

#[tokio::test]
async fn a_large_export_has_every_conversation_exactly_once() {
    let app = spawn_app().await;
    setup_bot(&app).await;
    // 260 conversations (more than two pages of 100), three at a time starting in the same
    // second, so that the pages must break ties.
    const N: usize = 260;
    let messages: Vec<Value> = (0..N)
        .map(|i| {
            let channel = if i % 2 == 0 { "web" } else { "sms" };
            let m = msg(
                &format!("conv-{i:03}"),
                "m1",
                "user",
                &format!("my email is u{i}@example.com"),
                (i / 3) as i64,
            );
            with(m, "channel_type", channel)
        })
        .collect();
    app.ingest("shop", messages).await;
    let all: BTreeSet<String> = (0..N).map(|i| format!("conv-{i:03}")).collect();

    let body = csv(&app, "").await;
    let rows: Vec<&str> = body.trim_end_matches("\r\n").split("\r\n").collect();
    assert_eq!(rows.len(), N + 1, "a header and one row per conversation");
    let ids = csv_ids(&body);
    assert_eq!(ids.iter().cloned().collect::<BTreeSet<_>>(), all, "every conversation");
    assert_eq!(ids.len(), N, "none twice");
    for row in &rows[1..] {
        let cells: Vec<&str> = row.split(',').collect();
        let i: usize = cells[0].trim_start_matches("conv-").parse().unwrap();
        assert_eq!(cells[7], format!("u{i}@example.com"), "{row}");
    }
    // Newest first across page boundaries.
    let started: Vec<&str> = rows[1..].iter().map(|r| r.split(',').nth(4).unwrap()).collect();
    assert!(started.windows(2).all(|w| w[0] >= w[1]), "sorted newest first");

    let lines = jsonl(&app, "").await;
    let ids = jsonl_ids(&lines);
    assert_eq!(ids.len(), N);
    assert_eq!(ids.iter().cloned().collect::<BTreeSet<_>>(), all);
    for line in &lines {
        assert_eq!(line["messages"].as_array().unwrap().len(), 1);
        assert!(line["datapoints"]["Email"]["value"].is_string(), "{line}");
    }

    // A filter that still spans more than one page.
    let web = csv_ids(&csv(&app, "?channel_type=web").await);
    let want: BTreeSet<String> = (0..N).step_by(2).map(|i| format!("conv-{i:03}")).collect();
    assert_eq!(web.len(), want.len());
    assert_eq!(web.into_iter().collect::<BTreeSet<_>>(), want);
    app.stop().await;
}
