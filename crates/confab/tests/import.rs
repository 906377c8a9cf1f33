//! `confab import`, run as an operator would: the real binary on real SQLite files, fed the
//! server's own `conversations.jsonl` export and `confab generate --jsonl`.

mod common;

use common::confab;

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Value, json};

const BOTS: [&str; 3] = ["shop-assistant", "hotel-concierge", "bank-helpdesk"];

fn import(db: &Path, file: &Path) -> (bool, String) {
    let (ok, _, err) =
        confab(&["import", file.to_str().unwrap(), "--database-url", db.to_str().unwrap()]);
    (ok, err)
}

/// The summary line's counts: lines, stored, duplicates, rejected, explicit datapoints.
fn totals(stderr: &str) -> [u64; 5] {
    let line = stderr.lines().find(|l| l.starts_with("imported ")).expect("a summary line");
    let counts = line.split_once(": ").unwrap().1;
    let numbers: Vec<u64> =
        counts.split([' ', ',', ':', '(']).filter_map(|w| w.parse().ok()).take(5).collect();
    numbers.try_into().unwrap_or_else(|n| panic!("five counts in `{line}`: {n:?}"))
}

fn key(db: &Path, team: &str, scopes: &str) -> String {
    let (ok, out, err) = confab(&[
        "keys",
        "create",
        "--team",
        team,
        "--scopes",
        scopes,
        "--database-url",
        db.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    out.trim().to_owned()
}

async fn get(client: &reqwest::Client, url: &str, key: &str) -> reqwest::Response {
    let r = client.get(url).bearer_auth(key).send().await.unwrap();
    assert!(r.status().is_success(), "GET {url}: {}", r.status());
    r
}

async fn put(client: &reqwest::Client, url: &str, key: &str, body: &Value) {
    let r = client.put(url).bearer_auth(key).json(body).send().await.unwrap();
    assert!(r.status().is_success(), "PUT {url}: {}: {}", r.status(), r.text().await.unwrap());
}

/// Every bot's `conversations.jsonl`, as the server exports it.
async fn export(client: &reqwest::Client, base: &str, key: &str) -> String {
    let mut all = String::new();
    for bot in BOTS {
        let url = format!("{base}/v1/bots/{bot}/export/conversations.jsonl");
        all.push_str(&get(client, &url, key).await.text().await.unwrap());
    }
    all
}

/// Per conversation: what an import must bring back — the transcript, the conversation's own
/// fields, and the explicit datapoints. Status and extracted values depend on when the
/// finaliser ran, so they are left out.
fn comparable(export: &str) -> BTreeMap<(String, String), Value> {
    export
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            let explicit: BTreeMap<&str, &Value> = v["datapoints"]
                .as_object()
                .unwrap()
                .iter()
                .filter(|(_, d)| d["method"] == "explicit")
                .map(|(k, d)| (k.as_str(), &d["value"]))
                .collect();
            let fields = [
                "started_at",
                "last_message_at",
                "message_count",
                "messages_by_role",
                "first_user_message",
                "first_bot_message",
                "channel_type",
                "language",
                "version",
                "user_id",
                "campaign",
                "type",
                "session_id",
                "metadata",
                "messages",
            ];
            let mut kept: serde_json::Map<String, Value> =
                fields.iter().map(|f| (f.to_string(), v[*f].clone())).collect();
            kept.insert("explicit".into(), json!(explicit));
            let id =
                (v["bot_id"].as_str().unwrap().to_owned(), v["id"].as_str().unwrap().to_owned());
            (id, Value::Object(kept))
        })
        .collect()
}

#[tokio::test]
async fn an_export_imported_into_a_fresh_database_is_the_same_data() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.db"), dir.path().join("b.db"));
    let (ok, out, err) = confab(&[
        "demo",
        "--no-serve",
        "--conversations",
        "50",
        "--database-url",
        a.to_str().unwrap(),
    ]);
    assert!(ok && out.contains("Demo data: 50 conversations"), "{out}{err}");
    // `demo` writes into the team `demo`, made after `default`.
    let a_key = key(&a, "2", "read,ingest,admin");
    let server_a = common::start(a.to_str().unwrap());
    let client = reqwest::Client::new();
    // Explicit values on one conversation of each bot, as a bot would post them.
    let explicit = [
        (
            "shop-assistant",
            "demo-shop-assistant-00000",
            json!({"Name": "Ada Lovelace", "Date": "2026-03-14"}),
        ),
        ("hotel-concierge", "demo-hotel-concierge-00001", json!({"Phone": "+48 600 100 200"})),
        ("bank-helpdesk", "demo-bank-helpdesk-00002", json!({"Email": "ada@example.com"})),
    ];
    for (bot, id, values) in &explicit {
        let url = format!("{}/v1/bots/{bot}/conversations/{id}/datapoints", server_a.base);
        put(&client, &url, &a_key, &json!({ "datapoints": values })).await;
    }
    let exported = export(&client, &server_a.base, &a_key).await;
    assert_eq!(exported.lines().count(), 50);
    let file = dir.path().join("conversations.jsonl");
    std::fs::write(&file, &exported).unwrap();

    // The target has the bots' schemas and settings first, as an operator would put them.
    let server_b = common::start(b.to_str().unwrap());
    let b_key = server_b.first_key.clone().expect("a first start prints a key");
    for bot in BOTS {
        for path in ["datapoints/schema", "settings"] {
            let from = format!("{}/v1/bots/{bot}/{path}", server_a.base);
            let body: Value = get(&client, &from, &a_key).await.json().await.unwrap();
            put(&client, &format!("{}/v1/bots/{bot}/{path}", server_b.base), &b_key, &body).await;
        }
    }
    drop(server_b);

    let messages: u64 = comparable(&exported)
        .values()
        .map(|c| c["messages"].as_array().unwrap().len() as u64)
        .sum();
    let (ok, err) = import(&b, &file);
    assert!(ok, "{err}");
    assert_eq!(totals(&err), [50, messages, 0, 0, 4], "{err}");
    // Importing the same file again stores nothing twice.
    let (ok, err) = import(&b, &file);
    assert!(ok, "{err}");
    assert_eq!(totals(&err), [50, 0, messages, 0, 4], "{err}");

    let server_b = common::start(b.to_str().unwrap());
    let reimported = export(&client, &server_b.base, &b_key).await;
    let (before, after) = (comparable(&exported), comparable(&reimported));
    assert_eq!(before.len(), after.len());
    for (id, conversation) in &before {
        assert_eq!(Some(conversation), after.get(id), "{id:?}");
    }
    for (bot, id, values) in &explicit {
        let got = &after[&(bot.to_string(), id.to_string())]["explicit"];
        assert_eq!(got.as_object().unwrap().len(), values.as_object().unwrap().len(), "{got}");
    }
}

/// A `confab generate --jsonl` line with this conversation, message id and role.
fn generated(conversation: &str, id: &str, role: &str) -> String {
    json!({"bot_id": "b", "message": {"conversation_id": conversation, "id": id, "role": role,
        "content": format!("{role} says {id}"), "timestamp": "2025-01-05T10:00:00Z"}})
    .to_string()
}

#[test]
fn rejected_lines_are_named_and_the_rest_imported() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("c.db");
    let message = |id: &str, content: &str| json!({"id": id, "role": "user", "content": content, "timestamp": "2025-01-05T10:00:00Z"});
    let conversation = |id: &str, messages: Vec<Value>, datapoints: Value| {
        json!({"id": id, "bot_id": "b", "channel_type": "web", "datapoints": datapoints,
            "messages": messages})
        .to_string()
    };
    let lines = [
        generated("g1", "m1", "user"),
        r#"{"bot_id": "b", "message": {"#.to_owned(),
        conversation("e1", vec![message("m1", "hi"), message("m2", "there")], json!({})),
        generated("g2", "m1", "robot"),
        conversation("e2", vec![message("m1", "ok"), message("m2", "nul \u{0} inside")], json!({})),
        String::new(),
        generated("g1", "m2", "bot"),
        conversation(
            "e3",
            vec![message("m1", "hi")],
            json!({"Name": {"value": "Ann", "method": "explicit"}}),
        ),
    ];
    let file = dir.path().join("mixed.jsonl");
    std::fs::write(&file, lines.join("\n")).unwrap();
    let (ok, err) = import(&db, &file);
    assert!(!ok, "a rejected line fails the import: {err}");
    for expected in [
        "line 2: malformed JSON: EOF while parsing an object at column",
        "line 4: message.role: unknown role `robot`",
        "line 5: messages[1].content: must not contain NUL characters",
        "line 8: datapoints.Name: is not a key of the bot's datapoint schema",
        "4 of 7 lines rejected",
    ] {
        assert!(err.contains(expected), "`{expected}` in:\n{err}");
    }
    assert_eq!(totals(&err), [7, 4, 0, 4, 0], "{err}");
    // The valid lines were stored: a second run finds them all.
    let (_, err) = import(&db, &file);
    assert_eq!(totals(&err), [7, 0, 4, 4, 0], "{err}");
}

#[tokio::test]
async fn generated_jsonl_imports_once() {
    let dir = tempfile::tempdir().unwrap();
    imports_once(&dir.path().join("d.db"), dir.path()).await;
}

#[tokio::test]
async fn generated_jsonl_imports_once_into_postgres() {
    let Some(pg) = confab_store::testing::TestDatabase::create().await else { return };
    let dir = tempfile::tempdir().unwrap();
    imports_once(Path::new(&pg.url), dir.path()).await;
}

/// `confab generate --jsonl` imported twice into `db` (a file or a PostgreSQL URL): stored once,
/// each conversation with its lines' messages in order.
async fn imports_once(db: &Path, dir: &Path) {
    let file = dir.join("generated.jsonl");
    let (ok, _, err) = confab(&[
        "generate",
        "--conversations",
        "40",
        "--bots",
        "2",
        "--jsonl",
        file.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let text = std::fs::read_to_string(&file).unwrap();
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let n = lines.len() as u64;
    let (ok, err) = import(db, &file);
    assert!(ok, "{err}");
    assert_eq!(totals(&err), [n, n, 0, 0, 0], "{err}");
    let (ok, err) = import(db, &file);
    assert!(ok, "{err}");
    assert_eq!(totals(&err), [n, 0, n, 0, 0], "{err}");

    // Each conversation holds its lines' messages, in order.
    // The import's first start made the team `default` (and printed its key).
    let key = key(db, "1", "read");
    let server = common::start(db.to_str().unwrap());
    let client = reqwest::Client::new();
    let mut expected: BTreeMap<(String, String), Vec<(String, String)>> = BTreeMap::new();
    for l in &lines {
        let m = &l["message"];
        let id = (
            l["bot_id"].as_str().unwrap().to_owned(),
            m["conversation_id"].as_str().unwrap().to_owned(),
        );
        let message =
            (m["id"].as_str().unwrap().to_owned(), m["content"].as_str().unwrap().to_owned());
        expected.entry(id).or_default().push(message);
    }
    let bots: std::collections::BTreeSet<&str> = expected.keys().map(|(b, _)| b.as_str()).collect();
    let mut seen = 0;
    for bot in bots {
        let url = format!("{}/v1/bots/{bot}/export/conversations.jsonl", server.base);
        for line in get(&client, &url, &key).await.text().await.unwrap().lines() {
            let v: Value = serde_json::from_str(line).unwrap();
            let id = (bot.to_owned(), v["id"].as_str().unwrap().to_owned());
            let got: Vec<(String, String)> = v["messages"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| {
                    (
                        m["id"].as_str().unwrap().to_owned(),
                        m["content"].as_str().unwrap().to_owned(),
                    )
                })
                .collect();
            assert_eq!(Some(&got), expected.get(&id), "{id:?}");
            seen += 1;
        }
    }
    assert_eq!(seen, expected.len());
}

/// `confab import` stores through the same ingest as the API: a bot that redacts gets only
/// masked text, and the schema's email still fills with the address as sent.
#[tokio::test]
async fn imported_text_of_a_redacting_bot_is_masked() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("r.db");
    let store = confab_store::open(db.to_str().unwrap()).await.unwrap();
    let team = store.create_first_team().await.unwrap().unwrap().id;
    let settings = serde_json::from_value(json!({"redact": ["email", "card"]})).unwrap();
    store.put_bot_settings(team, "b", true, &settings).await.unwrap();
    let schema = serde_json::from_value(json!({"datapoints": [{"key": "email", "type": "email"}]}));
    store.put_datapoint_schema(team, "b", true, &schema.unwrap()).await.unwrap();
    store.close().await;

    let line = |id: &str, role: &str, content: &str| {
        json!({"bot_id": "b", "message": {"conversation_id": "c", "id": id, "role": role,
            "content": content, "timestamp": "2025-01-05T10:00:00Z"}})
        .to_string()
    };
    let lines = [
        line("m1", "bot", "Your email?"),
        line("m2", "user", "ann@example.com, card 4111 1111 1111 1111"),
    ];
    let file = dir.path().join("r.jsonl");
    std::fs::write(&file, lines.join("\n")).unwrap();
    let (ok, err) = import(&db, &file);
    assert!(ok, "{err}");

    let store = confab_store::open(db.to_str().unwrap()).await.unwrap();
    let (_, messages) = store.get_conversation(team, "b", "c").await.unwrap();
    assert_eq!(messages[1].content, "[email], card [card]");
    let (_, values) = store.conversation_datapoints(team, "b", "c").await.unwrap();
    assert_eq!(values[0].value, json!("ann@example.com"));
    store.close().await;
    let bytes = std::fs::read(&db).unwrap();
    let card = b"4111 1111 1111 1111";
    assert!(!bytes.windows(card.len()).any(|w| w == card), "the card number is in the file");
}
