//! Redaction at ingest end to end, on SQLite and PostgreSQL: a bot's `redact` setting masks
//! emails, phone numbers, Luhn-valid card numbers, IBANs with a good checksum and its own
//! patterns in the stored text, so the transcript, search, exports and the compat APIs only see
//! masks, and the database holds none of the values; the schema's email datapoint still fills
//! with the real address, also after the finaliser read the masked transcript. A bot without
//! `redact` stores text as sent.

mod common;

use common::{TestApp, spawn_app, spawn_app_postgres};
use confab_core::time::now_millis;
use confab_server::jobs::finalise::finalise_idle_once;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const EMAIL: &str = "anna.secret@example.org";
const CARD: &str = "4111 1111 1111 1111";
/// Sixteen digits that fail Luhn: not a card, kept.
const NOT_CARD: &str = "4111 1111 1111 1112";
const IBAN: &str = "DE89 3704 0044 0532 0130 00";
/// The same with a bad checksum: kept.
const NOT_IBAN: &str = "DE89 3704 0044 0532 0130 01";
const PHONE: &str = "+1 650-253-0000";
const ORDER: &str = "ORD-123456";

/// Redacted values as they may be written in the database (as sent, compact, as search words).
const NEVER_STORED: [&str; 8] = [
    CARD,
    "4111111111111111",
    IBAN,
    "DE89370400440532013000",
    "650-253-0000",
    "6502530000",
    ORDER,
    "123456",
];

fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).unwrap().to_string()
}

/// The conversation, an hour old (so the finaliser takes it).
fn messages() -> Vec<Value> {
    let t = now_millis() - 3_600_000;
    let texts = [
        ("bot", "Hello! What is your email?".to_owned()),
        ("user", format!("it's {EMAIL}")),
        ("user", format!("my card is {CARD}, the old one {NOT_CARD}")),
        ("user", format!("IBAN {IBAN}, not {NOT_IBAN}")),
        ("user", format!("call me on {PHONE}")),
        ("user", format!("about order {ORDER} please")),
    ];
    texts
        .iter()
        .enumerate()
        .map(|(i, (role, text))| {
            json!({"conversation_id": "c1", "id": format!("m{i}"), "role": role, "content": text,
                   "timestamp": rfc3339(t + i as i64 * 1_000), "user_id": "u1"})
        })
        .collect()
}

const MASKED: [&str; 6] = [
    "Hello! What is your email?",
    "it's [email]",
    "my card is [card], the old one 4111 1111 1111 1112",
    "IBAN [iban], not DE89 3704 0044 0532 0130 01",
    "call me on [phone]",
    "about order [order] please",
];

async fn put(app: &TestApp, path: &str, body: Value) -> (StatusCode, Value) {
    app.call(Method::PUT, &app.admin_key, path, Some(&body)).await
}

async fn text(app: &TestApp, path: &str) -> String {
    let resp = app.client.get(app.url(path)).bearer_auth(&app.admin_key).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "{path}");
    resp.text().await.unwrap()
}

fn assert_masked(what: &str, body: &str) {
    for secret in [EMAIL, CARD, IBAN, PHONE, ORDER] {
        assert!(!body.contains(secret), "{what} shows {secret}: {body}");
    }
    for mask in ["[email]", "[card]", "[iban]", "[phone]", "[order]"] {
        assert!(body.contains(mask), "{what} lacks {mask}: {body}");
    }
}

async fn email_value(app: &TestApp, bot: &str) -> Value {
    let path = format!("/v1/bots/{bot}/conversations/c1/datapoints");
    let (status, body) = app.get(&app.admin_key, &path).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["datapoints"]["email"]["value"].clone()
}

async fn redacted_everywhere(app: &TestApp) {
    let settings = json!({
        "phone_region": "US",
        "redact": ["email", "phone", "card", "iban", {"pattern": "ORD-\\d{6}", "mask": "order"}],
    });
    let (status, body) = put(app, "/v1/bots/red/settings", settings.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["redact"], settings["redact"]);
    let schema = json!({"datapoints": [{"key": "email", "type": "email"}]});
    for bot in ["red", "plain"] {
        let (status, body) =
            put(app, &format!("/v1/bots/{bot}/datapoints/schema"), schema.clone()).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    app.ingest("red", messages()).await;
    app.ingest("plain", messages()).await;

    // The transcript.
    let (status, conv) = app.get(&app.admin_key, "/v1/bots/red/conversations/c1").await;
    assert_eq!(status, StatusCode::OK, "{conv}");
    let contents: Vec<&str> = conv["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(contents, MASKED);
    // Search finds the masked text, not the values.
    let search = |q: &str| format!("/v1/bots/red/conversations?q={q}");
    for q in ["anna", "4111111111111111", "DE89370400440532013000", "123456", "650"] {
        let (_, found) = app.get(&app.admin_key, &search(q)).await;
        assert_eq!(found["data"], json!([]), "search {q}: {found}");
    }
    let (_, found) = app.get(&app.admin_key, &search("order")).await;
    assert_eq!(found["data"].as_array().unwrap().len(), 1, "{found}");
    // Lists, exports and a compat API.
    let list = text(app, "/v1/bots/red/conversations").await;
    assert!(list.contains("it's [email]") && !list.contains(EMAIL), "{list}");
    // The export carries the transcript masked, and the schema's value beside it.
    let jsonl = text(app, "/v1/bots/red/export/conversations.jsonl").await;
    let exported: Value = serde_json::from_str(jsonl.trim()).unwrap();
    assert_masked("the export", &exported["messages"].to_string());
    assert_eq!(exported["first_user_message"], "it's [email]");
    assert_eq!(exported["datapoints"]["email"]["value"], EMAIL);
    let compat = text(app, "/compat/chatzuri/api/v1/get-conversations?chatbotId=red").await;
    assert_masked("Chatzuri", &compat);

    // The schema asks for the email: it fills with the real one, before and after finalising.
    assert_eq!(email_value(app, "red").await, EMAIL);
    let ended = finalise_idle_once(&*app.store, None, now_millis()).await.unwrap();
    assert_eq!(ended.finalised, 2);
    assert_eq!(email_value(app, "red").await, EMAIL);
    let (_, dps) = app.get(&app.admin_key, "/v1/bots/red/conversations/c1/datapoints").await;
    assert_eq!(dps["status"], "ended", "{dps}");
    let csv = text(app, "/v1/bots/red/export/datapoints.csv").await;
    assert!(csv.contains(EMAIL), "{csv}");

    // OTLP writes through the same ingest: masked too.
    let start = (now_millis() - 60_000) as u64 * 1_000_000;
    let said = |role: &str, text: &str| {
        json!([{"role": role, "parts": [{"type": "text", "content": text}]}]).to_string()
    };
    let attr = |k: &str, v: &str| json!({"key": k, "value": {"stringValue": v}});
    let traces = json!({"resourceSpans": [{
        "resource": {"attributes": [attr("service.name", "red")]},
        "scopeSpans": [{"spans": [{
            "traceId": "07070707070707070707070707070707", "spanId": "0101010101010101",
            "name": "chat", "startTimeUnixNano": start.to_string(),
            "endTimeUnixNano": (start + 1_000_000_000).to_string(),
            "attributes": [
                attr("gen_ai.operation.name", "chat"),
                attr("gen_ai.conversation.id", "otel-1"),
                attr("gen_ai.input.messages", &said("user", &format!("card {CARD}, mail {EMAIL}"))),
                attr("gen_ai.output.messages", &said("assistant", "Noted.")),
            ],
        }]}],
    }]});
    let (status, body) = app.post(&app.admin_key, "/v1/traces", &traces).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, otel) = app.get(&app.admin_key, "/v1/bots/red/conversations/otel-1").await;
    assert_eq!(status, StatusCode::OK, "{otel}");
    assert_eq!(otel["messages"][0]["content"], "card [card], mail [email]", "{otel}");

    // Without `redact`, text is stored as sent.
    let (_, plain) = app.get(&app.admin_key, "/v1/bots/plain/conversations/c1").await;
    assert_eq!(
        plain["messages"][2]["content"],
        format!("my card is {CARD}, the old one {NOT_CARD}")
    );
    assert_eq!(email_value(app, "plain").await, EMAIL);
}

#[tokio::test]
async fn sqlite_stores_only_masked_text() {
    let app = spawn_app().await;
    redacted_everywhere(&app).await;
    // Only the plain bot's copy is in the file: take it out, then nothing redacted may be left.
    let (status, _) = app.delete(&app.admin_key, "/v1/bots/plain/conversations/c1").await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let db = app.dir.path().join("confab.db");
    let files: Vec<Vec<u8>> = ["", "-wal"]
        .iter()
        .filter_map(|s| std::fs::read(format!("{}{s}", db.display())).ok())
        .collect();
    let count = |needle: &str| -> usize {
        files
            .iter()
            .map(|b| b.windows(needle.len()).filter(|w| *w == needle.as_bytes()).count())
            .sum()
    };
    for value in NEVER_STORED {
        assert_eq!(count(value), 0, "{value} is in the database files");
    }
    // The scan sees what is there: the masks, the kept digits and the email datapoint.
    assert!(count("[card]") > 0 && count(NOT_CARD) > 0 && count(EMAIL) > 0);
    app.stop().await;
}

#[tokio::test]
async fn postgres_stores_only_masked_text() {
    let Some(app) = spawn_app_postgres().await else { return };
    redacted_everywhere(&app).await;
    let url = &app.postgres.as_ref().unwrap().url;
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(url).await.unwrap();
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT b.bot_id, m.content, m.search::text FROM messages m JOIN bots b ON b.id = m.bot_pk",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let red: Vec<&(String, String, String)> = rows.iter().filter(|r| r.0 == "red").collect();
    // The conversation's messages and the OTLP one's.
    assert_eq!(red.len(), MASKED.len() + 2);
    for (_, content, search) in red {
        for value in NEVER_STORED.iter().chain(&[EMAIL, "anna"]) {
            assert!(
                !content.contains(value) && !search.contains(value),
                "{value}: {content} {search}"
            );
        }
    }
    let plain = rows.iter().filter(|r| r.0 == "plain").any(|r| r.1.contains(CARD));
    assert!(plain, "the bot without redact keeps its text");
    app.stop().await;
}

#[tokio::test]
async fn bad_redact_settings_are_refused_and_change_nothing() {
    let app = spawn_app().await;
    let (status, _) = put(&app, "/v1/bots/b/settings", json!({"redact": ["email"]})).await;
    assert_eq!(status, StatusCode::OK);
    for (bad, field) in [
        (json!(["email", "card", {"pattern": "ORD-(\\d", "mask": "order"}]), "redact[2].pattern"),
        (json!([{"pattern": "x*"}]), "redact[0].pattern"),
        (json!([{"pattern": "a".repeat(501)}]), "redact[0].pattern"),
        (json!([{"pattern": "x", "mask": "not a name"}]), "redact[0].mask"),
        (json!(["ssn"]), "redact[0]"),
        (json!([42]), "redact[0]"),
        (json!("email"), "redact"),
    ] {
        let (status, err) = put(&app, "/v1/bots/b/settings", json!({ "redact": bad })).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {err}");
        assert_eq!(err["error"]["field"], field, "{bad}: {err}");
    }
    let (_, settings) = app.get(&app.admin_key, "/v1/bots/b/settings").await;
    assert_eq!(settings["redact"], json!(["email"]));
    app.stop().await;
}
