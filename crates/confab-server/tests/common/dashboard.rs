//! Data and a signed-in session for the dashboard's tests (HTML and browser).

use confab_core::time::{format_rfc3339, now_millis};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::TestApp;

pub const BOT: &str = "support-bot";
pub const XSS_SCRIPT: &str = "<script>document.title='pwned'</script>";
pub const XSS_IMG: &str = "<img src=x onerror=\"document.title='pwned'\">";

fn ago(minutes: i64) -> String {
    format_rfc3339(now_millis() - minutes * 60_000)
}

fn msg(
    conv: &str,
    id: &str,
    role: &str,
    content: &str,
    minutes_ago: i64,
    step: Option<&str>,
) -> Value {
    let mut m = json!({
        "conversation_id": conv, "id": id, "role": role, "content": content,
        "timestamp": ago(minutes_ago),
    });
    if let Some(s) = step {
        m["step"] = json!({"id": s, "type": "message"});
    }
    m
}

/// Three conversations this week (web, web, sms), one ten days ago, a schema with `email` and
/// `phone`, steps `greeting → ask_email → done` (the goal), and one message of hostile markup.
pub async fn seed(app: &TestApp) {
    let (status, body) = app
        .call(
            Method::PUT,
            &app.admin_key,
            &format!("/v1/bots/{BOT}/datapoints/schema"),
            Some(&json!({"datapoints": [
                {"key": "email", "type": "email"},
                {"key": "phone", "type": "phone"}
            ]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Reaching `done` completes a conversation.
    let (status, body) = app
        .call(
            Method::PUT,
            &app.admin_key,
            &format!("/v1/bots/{BOT}/settings"),
            Some(&json!({"goal_steps": ["done"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut first = vec![
        msg("c-refund", "r1", "bot", "Hello! How can I help?", 120, Some("greeting")),
        msg("c-refund", "r2", "user", "I want a refund for my order", 119, None),
        msg("c-refund", "r3", "bot", "What is your email?", 118, Some("ask_email")),
        msg("c-refund", "r4", "user", "It is ana@example.com", 117, None),
        msg("c-refund", "r5", "bot", "Thanks, done.", 116, Some("done")),
    ];
    for m in &mut first {
        m["channel_type"] = json!("web");
        m["language"] = json!("en");
        m["user_id"] = json!("u-ana");
    }
    first[1]["metadata"] = json!({"order": "A-1001"});
    let mut second = vec![
        msg("c-hours", "h1", "bot", "Hello! How can I help?", 90, Some("greeting")),
        msg("c-hours", "h2", "user", "What are your opening hours?", 89, None),
        msg("c-hours", "h3", "bot", "What is your email?", 88, Some("ask_email")),
    ];
    for m in &mut second {
        m["channel_type"] = json!("web");
        m["user_id"] = json!("u-bo");
    }
    let mut hostile = vec![
        msg("c-xss", "x1", "user", XSS_SCRIPT, 60, None),
        msg("c-xss", "x2", "user", XSS_IMG, 59, None),
    ];
    for m in &mut hostile {
        m["channel_type"] = json!("sms");
        m["user_id"] = json!("u-eve");
    }
    let mut old = vec![msg("c-old", "o1", "user", "Are you open today?", 10 * 24 * 60, None)];
    old[0]["channel_type"] = json!("web");
    app.ingest(BOT, [first, second, hostile, old].concat()).await;
}

/// Signs in with `key` and returns the session cookie (`name=value`).
pub async fn sign_in(app: &TestApp, key: &str) -> String {
    let client =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let resp =
        client.post(app.url("/signin")).form(&[("key", key), ("next", "/")]).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let set = resp.headers()["set-cookie"].to_str().unwrap();
    set.split(';').next().unwrap().to_owned()
}
