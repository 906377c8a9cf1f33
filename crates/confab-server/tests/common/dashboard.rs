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

/// The shape of `confab demo`'s bots (`crates/confab/src/demo.rs`): welcome → ask_name →
/// ask_email → ask_phone → ask_date → confirm → goodbye, a user answer after each, some
/// conversations leaving early and some confused once, which sends them to `fallback` and on
/// to the next step; `confirm` is its goal. Deterministic; all of it two hours ago and more, so
/// ended.
pub const SHOP_BOT: &str = "shop-assistant";
pub const SHOP_STEPS: [&str; 7] =
    ["welcome", "ask_name", "ask_email", "ask_phone", "ask_date", "confirm", "goodbye"];

/// A flow of 32 steps with skips ahead and retries back, for the layout at size.
pub const LONG_BOT: &str = "long-flow";

pub async fn seed_flows(app: &TestApp) {
    // The demo's goal: a conversation that reached `confirm` completed.
    let goals = json!({"goal_steps": ["confirm"]});
    let path = format!("/v1/bots/{SHOP_BOT}/settings");
    let (status, body) = app.call(Method::PUT, &app.admin_key, &path, Some(&goals)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut batch = vec![];
    for n in 0..40usize {
        let conv = format!("shop-{n:02}");
        let keep = if n % 5 < 3 { SHOP_STEPS.len() } else { 1 + n % SHOP_STEPS.len() };
        let confused = (n % 3 == 0).then_some(n % keep.max(1));
        let mut t = 600 - n as i64;
        let mut i = 0;
        for (s, step) in SHOP_STEPS.iter().take(keep).enumerate() {
            batch.push(msg(&conv, &format!("b{i}"), "bot", &format!("{step}?"), t, Some(step)));
            i += 1;
            t -= 1;
            if s + 1 < keep {
                batch.push(msg(&conv, &format!("u{i}"), "user", "answer", t, None));
                i += 1;
                if confused == Some(s) {
                    let fb = msg(&conv, &format!("f{i}"), "bot", "Sorry?", t, Some("fallback"));
                    batch.push(fb);
                }
            }
        }
    }
    app.ingest(SHOP_BOT, std::mem::take(&mut batch)).await;
    let step = |k: usize| format!("s{k:02}");
    for n in 0..30usize {
        let conv = format!("long-{n:02}");
        let (mut k, mut t, mut i, mut retried) = (1usize, 900 - n as i64, 0, false);
        while k <= 32 {
            batch.push(msg(&conv, &format!("m{i}"), "bot", "next?", t, Some(&step(k))));
            i += 1;
            t -= 1;
            if (k * 7 + n) % 53 == 0 {
                break; // leaves here
            }
            k = if k % 7 == 0 && !retried && n % 2 == 0 {
                retried = true;
                k - 3 // back to an earlier step
            } else if k % 4 == 0 && n % 3 == 0 {
                k + 2 // skips one
            } else {
                k + 1
            };
        }
        if batch.len() > 400 {
            app.ingest(LONG_BOT, std::mem::take(&mut batch)).await;
        }
    }
    app.ingest(LONG_BOT, batch).await;
}
