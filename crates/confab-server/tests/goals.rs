//! Goals end to end over HTTP, on SQLite and PostgreSQL: a bot's `goal_steps` (validated, a bad
//! one named and changing nothing), conversations that reach one listed by `completed=true`,
//! the others by `completed=false`, the `completed` and `completion_rate` stats, and flows in
//! which a completed conversation is no drop-off, with each step's conversations, completions
//! and rates. A goal set later applies from then on; another
//! team's bot of the same id has its own goals.

mod common;

use common::{TestApp, spawn_app, spawn_app_postgres};
use confab_core::time::{DAY, format_rfc3339, now_millis};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// A conversation through `steps` (one bot message each, a second apart) from `at`.
fn conversation(id: &str, at: i64, steps: &[&str]) -> Vec<Value> {
    let mut out = vec![json!({"conversation_id": id, "id": format!("{id}-0"), "role": "user",
                              "content": "hi", "timestamp": format_rfc3339(at)})];
    for (i, step) in steps.iter().enumerate() {
        let ts = format_rfc3339(at + 1_000 * (i as i64 + 1));
        out.push(json!({"conversation_id": id, "id": format!("{id}-{}", i + 1), "role": "bot",
                        "content": *step, "timestamp": ts, "step": {"id": *step}}));
    }
    out
}

/// The ids a list answers, newest first.
async fn ids(app: &TestApp, key: &str, path: &str) -> Vec<String> {
    let (status, body) = app.get(key, path).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    body["data"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_owned()).collect()
}

async fn put_settings(app: &TestApp, key: &str, bot: &str, body: Value) -> (StatusCode, Value) {
    app.call(Method::PUT, key, &format!("/v1/bots/{bot}/settings"), Some(&body)).await
}

async fn goals_end_to_end(app: TestApp) {
    let k = app.admin_key.clone();
    let (_, other) = app.new_team("other").await;
    // 10:00 UTC two days ago: every conversation starts on that day.
    let t0 = now_millis() - 2 * DAY;
    let t0 = t0 - t0.rem_euclid(DAY) + 10 * 3_600_000;
    let (status, body) = put_settings(&app, &k, "shop", json!({"goal_steps": ["confirm"]})).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Bad goals are refused, naming the field, and change nothing.
    for (bad, field) in [
        (json!({"goal_steps": ["confirm", ""]}), "goal_steps[1]"),
        (json!({"goal_steps": ["a", "a"]}), "goal_steps[1]"),
        (json!({"goal_steps": ["x".repeat(300)]}), "goal_steps[0]"),
    ] {
        let (status, body) = put_settings(&app, &k, "shop", bad.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert_eq!(body["error"]["field"], field, "{bad}");
    }
    let (_, settings) = app.get(&k, "/v1/bots/shop/settings").await;
    assert_eq!(settings["goal_steps"], json!(["confirm"]), "{settings}");

    // a: completes; b: drops off at ask_email; c: completes in a later batch; d: no steps.
    app.ingest("shop", conversation("a", t0, &["welcome", "ask_email", "confirm", "bye"])).await;
    app.ingest("shop", conversation("b", t0 + 60_000, &["welcome", "ask_email"])).await;
    app.ingest("shop", conversation("c", t0 + 120_000, &["welcome"])).await;
    app.ingest("shop", conversation("d", t0 + 180_000, &[])).await;
    let mut late = conversation("c", t0 + 120_000, &["welcome", "ask_email", "confirm"]);
    late.drain(..2);
    app.ingest("shop", late).await;
    // The other team's `shop` has no goals: its conversation through `confirm` is not completed.
    let (status, body) = app
        .post(
            &other,
            "/v1/bots/shop/messages/batch",
            &json!({"messages": conversation("z", t0, &["confirm"])}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let list = "/v1/bots/shop/conversations";
    assert_eq!(ids(&app, &k, &format!("{list}?completed=true")).await, ["c", "a"]);
    assert_eq!(ids(&app, &k, &format!("{list}?completed=false")).await, ["d", "b"]);
    assert_eq!(ids(&app, &k, &format!("{list}?completed=true&step=bye")).await, ["a"]);
    assert_eq!(ids(&app, &other, &format!("{list}?completed=true")).await, Vec::<String>::new());
    assert_eq!(ids(&app, &other, &format!("{list}?completed=false")).await, ["z"]);
    let (status, body) = app.get(&k, &format!("{list}?completed=yes")).await;
    assert_eq!((status, &body["error"]["field"]), (StatusCode::BAD_REQUEST, &json!("completed")));

    // Stats over the days around t0: 4 conversations, 2 completed.
    let day = |t: i64| format_rfc3339(t - t.rem_euclid(DAY));
    let range = format!("start_time={}&end_time={}", day(t0), day(t0 + DAY));
    let stat = |s: &str| format!("/v1/bots/shop/analytics/insights?{range}&stat={s}");
    let (status, d) = app.get(&k, &stat("completed")).await;
    assert_eq!(status, StatusCode::OK, "{d}");
    assert_eq!(d["data"]["series"][0]["values"], json!([2]), "{d}");
    let (_, d) = app.get(&k, &stat("completion_rate")).await;
    assert_eq!(d["data"]["series"][0]["values"][0].as_f64(), Some(0.5), "{d}");
    let (_, d) = app.get(&other, &stat("completion_rate")).await;
    assert_eq!(d["data"]["series"][0]["values"][0].as_f64(), Some(0.0), "{d}");

    // Flows: only b dropped off (at ask_email); a and c completed.
    let (status, flow) = app.get(&k, &format!("/v1/bots/shop/analytics/flows?{range}")).await;
    assert_eq!(status, StatusCode::OK, "{flow}");
    let dropoffs: Vec<(String, i64)> = flow["data"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["to"]["id"] == "DROPOFF")
        .map(|e| (e["from"]["id"].as_str().unwrap().to_owned(), e["count"].as_i64().unwrap()))
        .collect();
    assert_eq!(dropoffs, [("ask_email".to_owned(), 1)], "{flow}");
    // Per step: conversations that were there (each once), how many completed, the rates. c
    // reached ask_email and its goal in a later request than its start.
    let node = |id: &str| {
        let n = flow["data"]["nodes"].as_array().unwrap().iter().find(|n| n["id"] == id).unwrap();
        (
            n["conversations"].clone(),
            n["completed"].clone(),
            n["completion_rate"].clone(),
            n["dropoff_rate"].clone(),
        )
    };
    assert_eq!(node("START"), (json!(3), json!(2), json!(0.6667), json!(0.3333)), "{flow}");
    assert_eq!(node("welcome"), (json!(3), json!(2), json!(0.6667), json!(0.0)), "{flow}");
    assert_eq!(node("ask_email"), (json!(3), json!(2), json!(0.6667), json!(0.3333)), "{flow}");
    assert_eq!(node("confirm"), (json!(2), json!(2), json!(1.0), json!(0.0)), "{flow}");
    assert_eq!(node("bye"), (json!(1), json!(1), json!(1.0), json!(0.0)), "{flow}");
    assert_eq!(node("DROPOFF"), (json!(1), json!(0), Value::Null, Value::Null), "{flow}");

    // A goal added later applies to messages stored from then on.
    let (status, _) =
        put_settings(&app, &k, "shop", json!({"goal_steps": ["confirm", "ask_email"]})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ids(&app, &k, &format!("{list}?completed=false")).await, ["d", "b"]);
    app.ingest("shop", conversation("e", t0 + 240_000, &["ask_email"])).await;
    assert_eq!(ids(&app, &k, &format!("{list}?completed=true")).await, ["e", "c", "a"]);
    app.stop().await;
}

#[tokio::test]
async fn goals_on_sqlite() {
    goals_end_to_end(spawn_app().await).await;
}

#[tokio::test]
async fn goals_on_postgres() {
    let Some(app) = spawn_app_postgres().await else { return };
    goals_end_to_end(app).await;
}
