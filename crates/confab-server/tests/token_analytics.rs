//! LLM token analytics over HTTP (issue 17): bot messages carry `model`, `input_tokens` and
//! `output_tokens` in their metadata (as the OTLP receiver writes them), and the native series
//! `input_tokens` / `output_tokens` sum them per bucket — by day, by model, filtered, across a
//! team, at a range edge inside a rollup slot, and after erasure. Every number is worked out by
//! hand in the comments.

mod common;

use common::{TestApp, spawn_app};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// A bot's answer `id` (`conv-n`) at `ts` with this metadata.
fn answer(id: &str, ts: &str, metadata: Value) -> Value {
    let conv = id.split('-').next().unwrap();
    json!({"conversation_id": conv, "id": id, "role": "bot", "content": id, "timestamp": ts,
           "metadata": metadata})
}

/// A user's message `id` at `ts` on `channel`.
fn ask(id: &str, ts: &str, channel: &str) -> Value {
    let conv = id.split('-').next().unwrap();
    json!({"conversation_id": conv, "id": id, "role": "user", "content": "hi", "timestamp": ts,
           "channel_type": channel})
}

fn usage(model: Option<&str>, input: Value, output: Value) -> Value {
    let mut v = json!({"input_tokens": input, "output_tokens": output, "finish_reason": "stop"});
    if let Some(m) = model {
        v["model"] = json!(m);
    }
    v
}

/// Every serie as `label=v,v…` in the order served, joined by `; `.
async fn lines(app: &TestApp, path: &str) -> String {
    let (status, body) = app.get(&app.admin_key, path).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    let d = &body["data"];
    assert_eq!(
        d["x_values"],
        json!(["2026-05-04T00:00:00+00:00", "2026-05-05T00:00:00+00:00"]),
        "{path}"
    );
    let labels = d["series_labels"].as_array().unwrap();
    let series = d["series"].as_array().unwrap();
    labels
        .iter()
        .zip(series)
        .map(|(l, s)| {
            let v: Vec<String> =
                s["values"].as_array().unwrap().iter().map(Value::to_string).collect();
            format!("{}={}", l.as_str().unwrap(), v.join(","))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

async fn seed(app: &TestApp) {
    // Conversation a (web), day 1: gpt-4o 100 in / 20 out, claude 50 / 5.
    app.ingest(
        "llm",
        vec![
            ask("a-1", "2026-05-04T10:00:00Z", "web"),
            answer("a-2", "2026-05-04T10:05:00Z", usage(Some("gpt-4o"), json!(100), json!(20))),
            answer("a-3", "2026-05-04T23:59:59Z", usage(Some("claude"), json!(50), json!(5))),
        ],
    )
    .await;
    // Conversation b (sms), day 2: gpt-4o 7 / 3; a model not named 1 / 2; counts that are not
    // counts (a string, a negative, a fraction) add nothing, the valid one beside them does
    // (claude's output 4); an answer without usage adds nothing.
    app.ingest(
        "llm",
        vec![
            ask("b-1", "2026-05-05T00:00:00Z", "sms"),
            answer("b-2", "2026-05-05T00:00:00Z", usage(Some("gpt-4o"), json!(7), json!(3))),
            answer("b-3", "2026-05-05T12:00:00Z", usage(None, json!(1), json!(2))),
            answer("b-4", "2026-05-05T13:00:00Z", usage(Some("claude"), json!("12"), json!(4))),
            answer("b-5", "2026-05-05T14:00:00Z", usage(Some("claude"), json!(-5), json!(2.5))),
            answer("b-6", "2026-05-05T15:00:00Z", json!({"latency_ms": 900})),
        ],
    )
    .await;
    // Outside the range (day 3) and on another bot: never in the bot's days.
    app.ingest(
        "llm",
        vec![answer("c-1", "2026-05-06T00:00:00Z", usage(Some("gpt-4o"), json!(1000), json!(1)))],
    )
    .await;
    app.ingest(
        "other",
        vec![answer("d-1", "2026-05-04T08:00:00Z", usage(Some("gpt-4o"), json!(9), json!(9)))],
    )
    .await;
}

const RANGE: &str = "start_time=2026-05-04&end_time=2026-05-06&bucket=1d";

fn insights(q: &str) -> String {
    format!("/v1/bots/llm/analytics/insights?{RANGE}&{q}")
}

#[tokio::test]
async fn token_sums_by_day_model_filter_and_team() {
    let app = spawn_app().await;
    seed(&app).await;

    // Day 1: 100 + 50 in, 20 + 5 out. Day 2: 7 + 1 in, 3 + 2 + 4 out.
    assert_eq!(lines(&app, &insights("stat=input_tokens")).await, "input_tokens=150,8");
    assert_eq!(lines(&app, &insights("stat=output_tokens")).await, "output_tokens=25,9");

    // By model, largest first; a message naming no model is labelled "" like any label
    // without a value.
    assert_eq!(
        lines(&app, &insights("stat=input_tokens&group_by=model")).await,
        "gpt-4o=100,7; claude=50,0; =0,1"
    );
    // claude's output: 5 on day 1, the valid 4 on day 2 (its 2.5 is not a count).
    assert_eq!(
        lines(&app, &insights("stat=output_tokens&group_by=model")).await,
        "gpt-4o=20,3; claude=5,4; =0,2"
    );
    let (_, body) = app.get(&app.admin_key, &insights("stat=output_tokens&group_by=model")).await;
    assert_eq!(body["data"]["series"][0]["labels"], json!({"model": "gpt-4o"}));
    assert_eq!(body["data"]["series"][0]["sum"], json!(23));

    // Filters and other group-bys work as for every stat.
    assert_eq!(
        lines(&app, &insights("stat=input_tokens&channel_type=sms")).await,
        "input_tokens=0,8"
    );
    assert_eq!(
        lines(&app, &insights("stat=input_tokens&group_by=channel_type,model")).await,
        "web / gpt-4o=100,0; web / claude=50,0; sms / gpt-4o=0,7; sms / =0,1"
    );
    assert_eq!(
        lines(&app, &insights("stat=input_tokens&channel_type=whatsapp")).await,
        "input_tokens=0,0"
    );

    // Across the team, by bot and model: the other bot's 9 on day 1.
    let team = format!(
        "/v1/teams/{}/analytics/usage?{RANGE}&stat=input_tokens&group_by=bot_id,model",
        app.team_id
    );
    assert_eq!(
        lines(&app, &team).await,
        "llm / gpt-4o=100,7; llm / claude=50,0; other / gpt-4o=9,0; llm / =0,1"
    );

    // In another zone the buckets follow it: Warsaw's 2026-05-04 is 22:00Z the day before to
    // 22:00Z, so claude's 23:59Z answer and b's are on day 2 there.
    let (status, body) = app
        .get(
            &app.admin_key,
            "/v1/bots/llm/analytics/insights?start_time=2026-05-04&end_time=2026-05-06\
             &tz=Europe/Warsaw&stat=input_tokens",
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["series"][0]["values"], json!([100, 58]));
    app.stop().await;
}

#[tokio::test]
async fn range_edges_inside_a_slot_and_erasure() {
    let app = spawn_app().await;
    seed(&app).await;
    let path = |start: &str| {
        format!(
            "/v1/bots/llm/analytics/insights?start_time={start}&end_time=2026-05-05T00:00:00Z\
             &bucket=1h&stat=input_tokens"
        )
    };
    let total = |body: &Value| body["data"]["series"][0]["sum"].clone();
    // From 10:03 the 10:05 answer (gpt-4o, 100) is in the edge window [10:03, 10:15),
    // counted from the stored message; from 10:06 it is not.
    let (status, body) = app.get(&app.admin_key, &path("2026-05-04T10:03:00Z")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(total(&body), json!(150));
    let (_, body) = app.get(&app.admin_key, &path("2026-05-04T10:06:00Z")).await;
    assert_eq!(total(&body), json!(50));

    // Erasing conversation a keeps its tokens in the rollups (anonymous aggregates), as it
    // keeps its message counts.
    let (status, body) = app.delete(&app.admin_key, "/v1/bots/llm/conversations/a").await;
    assert!(status.is_success(), "{status} {body}");
    assert_eq!(lines(&app, &insights("stat=input_tokens")).await, "input_tokens=150,8");
    assert_eq!(
        lines(&app, &insights("stat=output_tokens&group_by=model")).await,
        "gpt-4o=20,3; claude=5,4; =0,2"
    );
    app.stop().await;
}

#[tokio::test]
async fn model_groups_only_token_stats() {
    let app = spawn_app().await;
    seed(&app).await;
    let cases = [
        insights("stat=num_messages&group_by=model"),
        insights("stat=num_conversations&group_by=model"),
        insights("stat=unique_users&group_by=model"),
        format!("/v1/bots/llm/analytics/messages?{RANGE}&group_by=model"),
        format!("/v1/teams/{}/analytics/usage?{RANGE}&group_by=bot_id,model", app.team_id),
        insights("stat=input_tokens&group_by=role"),
        insights("stat=input_tokens&group_by=model,model"),
    ];
    for path in &cases {
        let (status, body) = app.get(&app.admin_key, path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert_eq!(body["error"]["field"], "group_by", "{path}: {body}");
    }
    let (_, body) = app.get(&app.admin_key, &cases[0]).await;
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("input_tokens and output_tokens"), "{message}");
    // Tokens take no role or agg.
    for (q, field) in
        [("stat=input_tokens&role=bot", "role"), ("stat=output_tokens&agg=sum", "agg")]
    {
        let (status, body) = app.get(&app.admin_key, &insights(q)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{q}: {body}");
        assert_eq!(body["error"]["field"], field, "{q}: {body}");
    }
    app.stop().await;
}
