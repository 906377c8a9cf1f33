//! End to end over HTTP: Sinch Chatlayer's analytics API (seed 001) under `/compat/chatlayer`.
//! A scripted dataset (two bots and a second team; three days of March 2026 on two channels, two
//! languages, versions LIVE and DRAFT, campaigns) and a scripted dialogue; every expected number
//! is worked out by hand from [`OURS`]. Covers every parameter, default and error of the four
//! operations, Basic auth, bot-limited keys and team isolation (see `docs/compat.md`).

mod common;

use common::{TestApp, spawn_app};
use confab_core::time::{format_rfc3339, parse_rfc3339};
use reqwest::StatusCode;
use serde_json::{Value, json};

const CL: &str = "/compat/chatlayer";
const B1: &str = "/v1/bots/b1/conversations";
const INSIGHTS: &str = "/v1/bots/b1/conversations/insights";
/// Three daily buckets: March 1, 2 and 3.
const MARCH: &str = "start_time=2026-03-01&end_time=2026-03-04";
const DAYS: [&str; 3] =
    ["2026-03-01T00:00:00+00:00", "2026-03-02T00:00:00+00:00", "2026-03-03T00:00:00+00:00"];

type S = &'static str;
/// bot, conversation, channel_type, language, version, campaign `id/source` (`""`: none), start
/// (2026, UTC) and the messages' offsets from it in seconds, alternately user and bot; the first
/// message sets the dimensions, the last offset is the duration.
type Conv = (S, S, S, S, S, S, S, &'static [i64]);

/// The harness's team. c0 starts before March but sends a message on 03-01; c3 sends one on
/// 03-02; c8 starts at the end of the range.
const OURS: &[Conv] = &[
    ("b1", "c0", "sms", "en", "LIVE", "", "02-28T23:59:00", &[0, 90]),
    ("b1", "c1", "web", "en", "LIVE", "spring/ads", "03-01T09:00:00", &[0, 30, 120]),
    ("b1", "c2", "whatsapp", "nl", "LIVE", "", "03-01T15:30:00", &[0, 60]),
    ("b1", "c3", "web", "nl", "DRAFT", "spring/email", "03-01T23:50:00", &[0, 1200]),
    ("b1", "c4", "web", "en", "LIVE", "summer/ads", "03-02T10:00:00", &[0, 10, 60, 90]),
    ("b1", "c5", "whatsapp", "en", "LIVE", "", "03-02T10:07:00", &[0, 20]),
    ("b1", "c6", "whatsapp", "nl", "LIVE", "summer/email", "03-03T08:00:00", &[0, 300]),
    ("b1", "c7", "web", "en", "DRAFT", "", "03-03T12:00:00", &[0]),
    ("b1", "c8", "web", "en", "LIVE", "", "03-04T00:00:00", &[0, 40]),
    ("b2", "d1", "web", "en", "LIVE", "spring/ads", "03-01T12:00:00", &[0, 60]),
    ("b2", "d2", "whatsapp", "nl", "DRAFT", "", "03-02T18:00:00", &[0]),
];

/// The other team: a bot of the same name `b1`, and `ob` that only it has. Never in our numbers.
const THEIRS: &[Conv] = &[
    ("b1", "x1", "web", "en", "LIVE", "spring/ads", "03-01T10:00:00", &[0, 5]),
    ("b1", "x2", "whatsapp", "nl", "LIVE", "", "03-02T10:30:00", &[0]),
    ("ob", "x3", "web", "en", "LIVE", "", "03-01T11:00:00", &[0]),
];

/// `v` with the fields of `extra` added.
fn with(mut v: Value, extra: Value) -> Value {
    v.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    v
}

async fn post(app: &TestApp, key: &str, bot: &str, messages: Vec<Value>) {
    let path = format!("/v1/bots/{bot}/messages/batch");
    let (status, body) = app.post(key, &path, &json!({ "messages": messages })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn post_all(app: &TestApp, key: &str, convs: &[Conv]) {
    for &(bot, id, channel, language, version, campaign, start, offsets) in convs {
        let start = parse_rfc3339("start", &format!("2026-{start}Z")).unwrap();
        let mut messages = vec![];
        for (i, secs) in offsets.iter().enumerate() {
            let role = if i % 2 == 0 { "user" } else { "bot" };
            let ts = format_rfc3339(start + secs * 1000);
            let mut m = json!({"conversation_id": id, "id": format!("{id}-{i}"), "role": role,
                               "content": "...", "timestamp": ts});
            if i == 0 {
                let dims =
                    json!({"channel_type": channel, "language": language, "version": version});
                m = with(m, dims);
                if let Some((cid, source)) = campaign.split_once('/') {
                    m["campaign"] = json!({"id": cid, "source": source});
                }
            }
            messages.push(m);
        }
        post(app, key, bot, messages).await;
    }
}

struct World {
    app: TestApp,
    other_team: i64,
    /// An admin key of the other team.
    other_key: String,
}

async fn world() -> World {
    let app = spawn_app().await;
    post_all(&app, &app.admin_key, OURS).await;
    let (other_team, other_key) = app.new_team("other").await;
    post_all(&app, &other_key, THEIRS).await;
    World { app, other_team, other_key }
}

/// A GET under `/compat/chatlayer` with the key as Basic user name.
async fn get(app: &TestApp, key: &str, path: &str) -> (StatusCode, Value) {
    let resp = app.client.get(app.url(&format!("{CL}{path}"))).basic_auth(key, Some(""));
    let resp = resp.send().await.unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn status_as(app: &TestApp, key: &str, path: &str) -> StatusCode {
    get(app, key, path).await.0
}

/// The status and error code of an answer.
async fn error(app: &TestApp, key: &str, path: &str) -> (StatusCode, Value) {
    let (status, body) = get(app, key, path).await;
    (status, body["error"]["code"].clone())
}

/// The `data` of a successful answer to the admin key.
async fn data(app: &TestApp, path: &str) -> Value {
    let (status, body) = get(app, &app.admin_key, path).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    body["data"].clone()
}

/// The values of the only serie, which has no labels.
async fn values(app: &TestApp, path: &str) -> Value {
    let d = data(app, path).await;
    assert_eq!(d["series"].as_array().map(Vec::len), Some(1), "{path}: {d}");
    assert_eq!(d["series"][0]["labels"], json!({}), "{path}");
    d["series"][0]["values"].clone()
}

/// `(series label, values)` of each serie, in order, checking that its `labels` map `names` to
/// the values its series label lists (`"b1 / LIVE"`).
fn grouped<'a>(d: &'a Value, names: &[&str]) -> Vec<(&'a str, Vec<i64>)> {
    let series = d["series"].as_array().unwrap_or_else(|| panic!("no series: {d}"));
    let labels = d["series_labels"].as_array().unwrap();
    assert_eq!(labels.len(), series.len(), "{d}");
    let mut out = vec![];
    for (label, serie) in labels.iter().zip(series) {
        let label = label.as_str().unwrap();
        let want: serde_json::Map<String, Value> =
            names.iter().zip(label.split(" / ")).map(|(n, v)| ((*n).into(), json!(v))).collect();
        assert_eq!(serie["labels"], Value::Object(want), "{d}");
        let values = serie["values"].as_array().unwrap().iter().map(|v| v.as_i64().unwrap());
        out.push((label, values.collect()));
    }
    out
}

/// Asserts a 400 naming `field`; returns the message.
async fn rejects(app: &TestApp, path: &str, field: &str) -> String {
    let (status, body) = get(app, &app.admin_key, path).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
    assert_eq!(body["error"]["code"], "invalid_request", "{path}: {body}");
    assert_eq!(body["error"]["field"], field, "{path}: {body}");
    body["error"]["message"].as_str().unwrap().to_owned()
}

fn team_path(team: impl std::fmt::Display) -> String {
    format!("/v1/teams/{team}/conversations")
}

// ---------------------------------------------------------------------------------------------
// GET /v1/bots/{bot_id}/conversations
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn conversations_count_by_start_in_daily_buckets() {
    let w = world().await;
    let app = &w.app;
    // LIVE b1: c1, c2 | c4, c5 | c6 (not c0 nor c8; nor x1, x2 of the other team's b1). The mean,
    // 5/3, is an integer as Sinch's int32 says: rounded to 2.
    let (status, body) = get(app, &app.admin_key, &format!("{B1}?version=LIVE&{MARCH}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let want = json!({"data": {
        "series": [{"values": [2, 2, 1], "mean": 2, "max": 2, "min": 1, "sum": 5,
                    "labels": {}}],
        "series_labels": ["num_conversations"],
        "x_values": DAYS,
    }});
    assert_eq!(body, want);
    // bucket=1d is the default; RFC 3339 bounds, in any offset, give the same range.
    for range in [
        format!("{MARCH}&bucket=1d"),
        "start_time=2026-03-01T00:00:00Z&end_time=2026-03-04T00:00:00Z".into(),
        "start_time=2026-03-01T01:00:00%2B01:00&end_time=2026-03-03T19:00:00-05:00".into(),
    ] {
        assert_eq!(data(app, &format!("{B1}?version=LIVE&{range}")).await, want["data"]);
    }
    // DRAFT b1: c3 | - | c7; an empty bucket is 0, not null. 2/3 rounds to 1.
    let d = data(app, &format!("{B1}?version=DRAFT&{MARCH}")).await;
    let draft = json!({"values": [1, 0, 1], "mean": 1, "max": 1, "min": 0, "sum": 2, "labels": {}});
    assert_eq!(d["series"], json!([draft]));
    // A version nobody sent: one serie of zeros, every bucket present.
    let d = data(app, &format!("{B1}?version=PREVIEW&{MARCH}")).await;
    let zeros = json!({"values": [0, 0, 0], "mean": 0, "max": 0, "min": 0, "sum": 0, "labels": {}});
    assert_eq!((d["series"].clone(), d["x_values"].clone()), (json!([zeros]), json!(DAYS)));
    // Mid-day to mid-day: labelled with midnights, counted from 03-01 12:00 (c2) to 03-03 12:00
    // (c6).
    let range = "start_time=2026-03-01T12:00:00Z&end_time=2026-03-03T12:00:00Z";
    let d = data(app, &format!("{B1}?version=LIVE&{range}")).await;
    assert_eq!(
        (d["series"][0]["values"].clone(), d["x_values"].clone()),
        (json!([1, 2, 1]), json!(DAYS))
    );
    // b2, LIVE: d1.
    let b2 = format!("/v1/bots/b2/conversations?version=LIVE&{MARCH}");
    assert_eq!(values(app, &b2).await, json!([1, 0, 0]));
}

#[tokio::test]
async fn conversations_filter_and_group_by_channel_type_or_language() {
    let w = world().await;
    let app = &w.app;
    let live = |extra: &str| format!("{B1}?version=LIVE&{MARCH}&{extra}");
    for (filter, want) in [
        ("channel_type=web", json!([1, 1, 0])),      // c1 | c4
        ("channel_type=whatsapp", json!([1, 1, 1])), // c2 | c5 | c6
        ("channel_type=web,whatsapp", json!([2, 2, 1])),
        ("channel_type=web&channel_type=whatsapp", json!([2, 2, 1])),
        ("channel_type=sms", json!([0, 0, 0])), // c0 started in February
        ("language=nl", json!([1, 0, 1])),      // c2 | c6
        ("language=en,nl", json!([2, 2, 1])),
        ("language=en&language=de", json!([1, 2, 0])), // c1 | c4, c5
        ("channel_type=whatsapp&language=en", json!([0, 1, 0])), // c5
        ("channel_type=web,whatsapp&language=nl&bucket=1d", json!([1, 0, 1])),
    ] {
        assert_eq!(values(app, &live(filter)).await, want, "{filter}");
    }
    // en: c1 | c4, c5; nl: c2 | c6. Largest sum first.
    let d = data(app, &live("group_by=language")).await;
    assert_eq!(grouped(&d, &["language"]), [("en", vec![1, 2, 0]), ("nl", vec![1, 0, 1])]);
    assert_eq!(d["x_values"], json!(DAYS));
    let en = json!({"values": [1, 2, 0], "mean": 1, "max": 2, "min": 0, "sum": 3,
                    "labels": {"language": "en"}});
    assert_eq!(d["series"][0], en);
    let d = data(app, &live("group_by=language&channel_type=web")).await;
    assert_eq!(grouped(&d, &["language"]), [("en", vec![1, 1, 0])]);
    // Nothing matches: no serie, every bucket.
    let d = data(app, &format!("{B1}?version=PREVIEW&{MARCH}&group_by=language")).await;
    assert_eq!((&d["series"], &d["x_values"]), (&json!([]), &json!(DAYS)));
    // whatsapp: c2 | c5 | c6; web: c1 | c4. No sms conversation started in the range.
    let d = data(app, &live("group_by=channel_type")).await;
    // c0 (sms) started on 02-28: its message sent on 03-01 makes no sms serie.
    let want = [("whatsapp", vec![1, 1, 1]), ("web", vec![1, 1, 0])];
    assert_eq!(grouped(&d, &["channel_type"]), want);
}

#[tokio::test]
async fn conversations_hourly_and_weekly_buckets() {
    let w = world().await;
    let app = &w.app;
    let live = |range: &str| format!("{B1}?version=LIVE&{range}");
    // Hours 09, 10, 11 on 03-02: c4 (10:00) and c5 (10:07).
    let d =
        data(app, &live("start_time=2026-03-02T09:00:00Z&end_time=2026-03-02T12:00:00Z&bucket=1h"))
            .await;
    assert_eq!(d["series"][0]["values"], json!([0, 2, 0]));
    let hours =
        ["2026-03-02T09:00:00+00:00", "2026-03-02T10:00:00+00:00", "2026-03-02T11:00:00+00:00"];
    assert_eq!(d["x_values"], json!(hours));
    // Weeks start on Monday: 03-01 is a Sunday, so the first bucket is labelled 02-23 but counts
    // from 03-01 (c1, c2, not c0); the second holds c4, c5, c6, c8.
    let d = data(app, &live("start_time=2026-03-01&end_time=2026-03-08&bucket=1w")).await;
    assert_eq!(d["series"][0]["values"], json!([2, 4]));
    assert_eq!(d["x_values"], json!(["2026-02-23T00:00:00+00:00", "2026-03-02T00:00:00+00:00"]));
    // A bucket exactly as long as the range is allowed.
    let one_week = live("start_time=2026-03-02&end_time=2026-03-09&bucket=1w");
    assert_eq!(values(app, &one_week).await, json!([4]));
    assert_eq!(values(app, &live("start_time=2026-03-02&end_time=2026-03-03")).await, json!([2]));
    // 10,000 hourly buckets (416 days and 16 hours) are allowed; 10,001 are not (see
    // `every_operation_names_missing_unknown_and_invalid_parameters`).
    let d = data(app, &live("start_time=2025-01-01&end_time=2026-02-21T16:00:00Z&bucket=1h")).await;
    assert_eq!(
        (d["x_values"].as_array().unwrap().len(), &d["series"][0]["sum"]),
        (10_000, &json!(0))
    );
}

// ---------------------------------------------------------------------------------------------
// GET /v1/bots/{bot_id}/conversations/insights
// ---------------------------------------------------------------------------------------------

const STATS: [&str; 3] = ["num_conversations", "num_messages", "duration_seconds"];

/// The three stats over a range, checking that each answer is one bucket starting at
/// `start_label`.
async fn insights(app: &TestApp, query: &str, start_label: &str) -> Value {
    let mut out = vec![];
    for stat in STATS {
        let d = data(app, &format!("{INSIGHTS}?{query}&stat={stat}")).await;
        let v = &d["series"][0]["values"][0];
        let serie = json!({"values": [v], "mean": v, "max": v, "min": v, "sum": v, "labels": {}});
        let want = json!({"series": [serie], "series_labels": [stat], "x_values": [start_label]});
        assert_eq!(d, want, "{query}&stat={stat}");
        out.push(v.clone());
    }
    Value::Array(out)
}

#[tokio::test]
async fn insights_give_each_stat_over_exactly_the_range() {
    let w = world().await;
    let app = &w.app;
    // [num_conversations, num_messages, duration_seconds] over March 1-3.
    for (filter, want) in [
        // Started: c1, c2, c4, c5, c6. Sent: c0's second message, 3 + 2 + 4 + 2 + 2. Seconds:
        // (120 + 60 + 90 + 20 + 300) / 5.
        ("version=LIVE", json!([5, 14, 118])),
        ("version=LIVE&language=en,nl", json!([5, 14, 118])),
        ("version=DRAFT", json!([2, 3, 600])), // c3, c7
        ("version=LIVE&channel_type=web", json!([2, 7, 105])), // c1, c4
        // c2, c5, c6, and c0's message; 380 s / 3 rounds to 127 (whole seconds, as int32).
        ("version=LIVE&channel_type=whatsapp,sms", json!([3, 7, 127])),
        ("version=LIVE&channel_type=whatsapp&channel_type=sms", json!([3, 7, 127])),
        // c1, c4, c5, and c0's message; 230 s / 3 rounds to 77.
        ("version=LIVE&language=en", json!([3, 10, 77])),
        ("version=LIVE&channel_type=whatsapp&language=en", json!([1, 2, 20])), // c5
        // Nothing: zeros, the mean of no durations too.
        ("version=PREVIEW", json!([0, 0, 0])),
        ("version=LIVE&language=de", json!([0, 0, 0])),
    ] {
        assert_eq!(insights(app, &format!("{filter}&{MARCH}"), DAYS[0]).await, want, "{filter}");
    }
    // Range edges inside 15-minute slots count exactly: from 03-02 10:01 (after c4's start and
    // two of its messages, before c5) to 03-03 08:00 (c6 starts then: out) or 08:03 (c6 and its
    // first message in); the same instant in another offset is labelled in UTC.
    let label = "2026-03-02T10:01:00+00:00";
    for (range, want) in [
        ("start_time=2026-03-02T10:01:00Z&end_time=2026-03-03T08:00:00Z", json!([1, 4, 20])),
        ("start_time=2026-03-02T10:01:00Z&end_time=2026-03-03T08:03:00Z", json!([2, 5, 160])),
        (
            "start_time=2026-03-02T11:01:00%2B01:00&end_time=2026-03-03T08:03:00Z",
            json!([2, 5, 160]),
        ),
    ] {
        assert_eq!(insights(app, &format!("version=LIVE&{range}"), label).await, want, "{range}");
    }
    // One second holding c1's start (its whole duration counts); 30 years, no bucket limit: all
    // of b1's LIVE conversations (c0, c1, c2, c4, c5, c6, c8: 17 messages, 720 s / 7 = 102.9,
    // rounded to 103).
    let second = "version=LIVE&start_time=2026-03-01T09:00:00Z&end_time=2026-03-01T09:00:01Z";
    let want = json!([1, 1, 120]);
    assert_eq!(insights(app, second, "2026-03-01T09:00:00+00:00").await, want);
    let years = "version=LIVE&start_time=2000-01-01&end_time=2030-01-01";
    let want = json!([7, 17, 103]);
    assert_eq!(insights(app, years, "2000-01-01T00:00:00+00:00").await, want);
}

// ---------------------------------------------------------------------------------------------
// GET /v1/bots/{bot_id}/conversations/{conversation_id}/flow
// ---------------------------------------------------------------------------------------------

/// A message on 2026-03-02 at `hms`, with an optional client id and step.
fn say(conv: &str, id: Option<&str>, role: &str, hms: &str, step: Option<Value>) -> Value {
    let mut m = json!({"conversation_id": conv, "role": role, "content": "...",
                       "timestamp": format!("2026-03-02T{hms}Z")});
    if let Some(id) = id {
        m["id"] = json!(id);
    }
    if let Some(step) = step {
        m["step"] = step;
    }
    m
}

/// b1/f1 (LIVE, user u-flow): greet → ask_email → ask_email again → confirm (no type, no client
/// id) → greet, with user messages without steps between; the later half is posted first.
/// b1/f2 (LIVE, no user, no steps), b1/f3 (DRAFT), b2/f1 (LIVE, another path); the other team's
/// b1/f1 and b1/g1.
async fn dialogue() -> (TestApp, String) {
    let app = spawn_app().await;
    let greet = json!({"id": "greet", "type": "message"});
    let ask = json!({"id": "ask_email", "type": "input"});
    let live = |m: Value| with(m, json!({"version": "LIVE", "channel_type": "web"}));
    let f1 = vec![
        with(live(say("f1", Some("m1"), "user", "09:00:00", None)), json!({"user_id": "u-flow"})),
        say("f1", Some("m2"), "bot", "09:00:05", Some(greet.clone())),
        say("f1", Some("m3"), "user", "09:00:20", None),
        say("f1", Some("m4"), "bot", "09:00:25", Some(ask.clone())),
        say("f1", Some("m5"), "user", "09:01:00", None),
        say("f1", Some("m6"), "bot", "09:01:05", Some(ask)),
        say("f1", Some("m7"), "user", "09:01:30", None),
        say("f1", None, "bot", "09:01:35", Some(json!({"id": "confirm"}))),
        say("f1", Some("m9"), "bot", "09:02:00", Some(greet.clone())),
        say("f1", Some("m10"), "user", "09:02:10", None),
    ];
    app.ingest("b1", f1[5..].to_vec()).await;
    app.ingest("b1", f1[..5].to_vec()).await;
    app.ingest(
        "b1",
        vec![
            live(say("f2", Some("n1"), "user", "10:00:00", None)),
            say("f2", Some("n2"), "bot", "10:00:05", None),
            with(say("f3", Some("o1"), "user", "11:00:00", None), json!({"version": "DRAFT"})),
            say("f3", Some("o2"), "bot", "11:00:05", Some(greet)),
        ],
    )
    .await;
    app.ingest(
        "b2",
        vec![live(say("f1", Some("p1"), "bot", "09:30:00", Some(json!({"id": "other"}))))],
    )
    .await;
    let (_, other_key) = app.new_team("other").await;
    let foreign =
        |c: &str| live(say(c, Some("q1"), "bot", "09:00:00", Some(json!({"id": "foreign"}))));
    post(&app, &other_key, "b1", vec![foreign("f1"), foreign("g1")]).await;
    (app, other_key)
}

const F1: &str = "/v1/bots/b1/conversations/f1/flow";
const ON_0302: &str = "version=LIVE&start_time=2026-03-02&end_time=2026-03-03";

fn step(id: &str, kind: Option<&str>) -> Value {
    json!({"id": id, "type": kind})
}

fn transition(id: &str, from: &Value, to: &Value, depth: u32, hms: &str) -> Value {
    json!({"id": id, "from_step": from, "to_step": to, "depth": depth,
           "timestamp": format!("2026-03-02T{hms}.000Z")})
}

#[tokio::test]
async fn flow_lists_the_transitions_of_one_conversation() {
    let (app, other_key) = dialogue().await;
    let key = app.admin_key.as_str();
    // The message without a client id is named by its numeric id.
    let (_, messages) = app.store.get_conversation(app.team_id, "b1", "f1").await.unwrap();
    let pk = messages.iter().find(|m| m.client_id.is_none()).unwrap().pk.to_string();
    let (start, greet) = (step("START", Some("start")), step("greet", Some("message")));
    let (ask, confirm) = (step("ask_email", Some("input")), step("confirm", None));
    let all = vec![
        transition("m2", &start, &greet, 1, "09:00:05"),
        transition("m4", &greet, &ask, 2, "09:00:25"),
        transition(&pk, &ask, &confirm, 3, "09:01:35"),
        transition("m9", &confirm, &greet, 4, "09:02:00"),
    ];
    let (status, body) = get(&app, key, &format!("{F1}?{ON_0302}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let want =
        json!({"bot_id": "b1", "conversation_id": "f1", "user_id": "u-flow", "transitions": all});
    assert_eq!(body, want);
    // The range only has to hold the start (inclusive), not the later messages.
    for range in [
        "start_time=2026-03-02T09:00:00Z&end_time=2026-03-02T09:00:00.001Z",
        "start_time=2026-03-01&end_time=2026-03-02T09:01:00Z",
        "start_time=2026-03-02T10:00:00%2B01:00&end_time=2026-04-01",
    ] {
        assert_eq!(
            get(&app, key, &format!("{F1}?version=LIVE&{range}")).await,
            (StatusCode::OK, want.clone())
        );
    }
    // message_id keeps the transition that message made; repeats and user messages made none.
    for (message_id, want) in [
        ("m2", json!([all[0]])),
        ("m4", json!([all[1]])),
        (pk.as_str(), json!([all[2]])),
        ("m9", json!([all[3]])),
        ("m6", json!([])),
        ("m1", json!([])),
        ("m10", json!([])),
        ("nope", json!([])),
    ] {
        let (status, body) =
            get(&app, key, &format!("{F1}?{ON_0302}&message_id={message_id}")).await;
        assert_eq!(status, StatusCode::OK, "{message_id}: {body}");
        let whole = json!({"bot_id": "b1", "conversation_id": "f1", "user_id": "u-flow",
                           "transitions": want});
        assert_eq!(body, whole, "{message_id}");
    }

    // No steps: no transitions; no user: null.
    let (status, body) =
        get(&app, key, &format!("/v1/bots/b1/conversations/f2/flow?{ON_0302}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({"bot_id": "b1", "conversation_id": "f2", "user_id": null, "transitions": []})
    );
    // The version names the conversation: f3 is DRAFT.
    let f3 = "/v1/bots/b1/conversations/f3/flow?start_time=2026-03-02&end_time=2026-03-03";
    let (status, body) = get(&app, key, &format!("{f3}&version=DRAFT")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["transitions"], json!([transition("o2", &start, &greet, 1, "11:00:05")]));
    assert_eq!(status_as(&app, key, &format!("{f3}&version=LIVE")).await, StatusCode::NOT_FOUND);
    // The same conversation id in another bot, or in another team, is another conversation.
    let (_, body) = get(&app, key, &format!("/v1/bots/b2/conversations/f1/flow?{ON_0302}")).await;
    let other = transition("p1", &start, &step("other", None), 1, "09:30:00");
    assert_eq!((&body["bot_id"], &body["transitions"]), (&json!("b2"), &json!([other])));
    let (_, body) = get(&app, &other_key, &format!("{F1}?{ON_0302}")).await;
    let foreign = transition("q1", &start, &step("foreign", None), 1, "09:00:00");
    assert_eq!(body["transitions"], json!([foreign]));
    let g1 = format!("/v1/bots/b1/conversations/g1/flow?{ON_0302}");
    assert_eq!(status_as(&app, key, &g1).await, StatusCode::NOT_FOUND);
    assert_eq!(status_as(&app, &other_key, &g1).await, StatusCode::OK);
    // Not found: f1 outside the range or of another version, an unknown conversation or bot.
    for path in [
        format!("{F1}?version=LIVE&start_time=2026-03-02T09:00:00.001Z&end_time=2026-03-03"),
        format!("{F1}?version=LIVE&start_time=2026-03-01&end_time=2026-03-02T09:00:00Z"),
        format!("{F1}?version=LIVE&start_time=2026-03-03&end_time=2026-03-10"),
        format!("{F1}?version=DRAFT&start_time=2026-03-02&end_time=2026-03-03"),
        format!("{F1}?version=live&start_time=2026-03-02&end_time=2026-03-03"),
        format!("/v1/bots/b1/conversations/nope/flow?{ON_0302}"),
        format!("/v1/bots/nope/conversations/f1/flow?{ON_0302}"),
    ] {
        let not_found = (StatusCode::NOT_FOUND, json!("not_found"));
        assert_eq!(error(&app, key, &path).await, not_found, "{path}");
    }
}

// ---------------------------------------------------------------------------------------------
// GET /v1/teams/{team_id}/conversations
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn team_usage_counts_every_bot_of_the_team() {
    let w = world().await;
    let app = &w.app;
    let team = team_path(app.team_id);
    // Only the key's own numeric team id.
    for id in [w.other_team.to_string(), "0".into(), "junk".into(), "1.0".into(), " ".into()] {
        let (status, body) =
            get(app, &app.admin_key, &format!("{}?{MARCH}&bucket=1d", team_path(&id))).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "team {id:?}: {body}");
    }
    // c1, c2, c3, d1 | c4, c5, d2 | c6, c7: both bots, all versions, not the other team's.
    let d = data(app, &format!("{team}?{MARCH}&bucket=1d")).await;
    let serie = json!({"values": [4, 3, 2], "mean": 3, "max": 4, "min": 2, "sum": 9, "labels": {}});
    assert_eq!(
        d,
        json!({"series": [serie], "series_labels": ["num_conversations"], "x_values": DAYS})
    );
    // Weeks: 03-01 (c1, c2, c3, d1) | 03-02 to 03-07 (c4, c5, d2, c6, c7, c8).
    let d = data(app, &format!("{team}?start_time=2026-03-01&end_time=2026-03-08&bucket=1w")).await;
    assert_eq!(d["series"][0]["values"], json!([4, 6]));
    assert_eq!(d["x_values"], json!(["2026-02-23T00:00:00+00:00", "2026-03-02T00:00:00+00:00"]));
    // Months: February (c0) | March (the nine above and c8); a range of exactly one month is fine.
    for range in [
        "start_time=2026-02-01&end_time=2026-04-01",
        "start_time=2026-02-15T00:00:00Z&end_time=2026-03-15T00:00:00Z",
    ] {
        let d = data(app, &format!("{team}?{range}&bucket=1m")).await;
        assert_eq!(d["series"][0]["values"], json!([1, 10]), "{range}");
        assert_eq!(
            d["x_values"],
            json!(["2026-02-01T00:00:00+00:00", "2026-03-01T00:00:00+00:00"])
        );
    }
    // 30 years in months: all eleven conversations.
    let d = data(app, &format!("{team}?start_time=2000-01-01&end_time=2030-01-01&bucket=1m")).await;
    assert_eq!(
        (d["x_values"].as_array().unwrap().len(), &d["series"][0]["sum"]),
        (360, &json!(11))
    );
    // A key limited to some bots sees only those.
    let only_b2 = app.key(app.team_id, &["read"], Some(vec!["b2"])).await;
    let (_, body) = get(app, &only_b2, &format!("{team}?{MARCH}&bucket=1d")).await;
    assert_eq!(body["data"]["series"][0]["values"], json!([1, 1, 0]));
    let b1_and_more = app.key(app.team_id, &["read"], Some(vec!["b1", "nope"])).await;
    let (_, body) =
        get(app, &b1_and_more, &format!("{team}?{MARCH}&bucket=1d&group_by=bot_id")).await;
    assert_eq!(grouped(&body["data"], &["bot_id"]), [("b1", vec![3, 2, 2])]);
    // The other team sees its own: x1, x3 | x2.
    let theirs = format!("{}?{MARCH}&bucket=1d&group_by=team_id", team_path(w.other_team));
    let (_, body) = get(app, &w.other_key, &theirs).await;
    let label = w.other_team.to_string();
    assert_eq!(grouped(&body["data"], &["team_id"]), [(label.as_str(), vec![2, 1, 0])]);
}

#[tokio::test]
async fn team_usage_groups_by_any_list_of_fields() {
    let w = world().await;
    let app = &w.app;
    let t = &*app.team_id.to_string();
    for (group_by, want) in [
        ("bot_id", vec![("b1", vec![3, 2, 2]), ("b2", vec![1, 1, 0])]),
        ("team_id", vec![(t, vec![4, 3, 2])]),
        ("language", vec![("en", vec![2, 2, 1]), ("nl", vec![2, 1, 1])]),
        (
            "bot_id,bot_version",
            vec![
                ("b1 / LIVE", vec![2, 2, 1]),
                ("b1 / DRAFT", vec![1, 0, 1]),
                ("b2 / DRAFT", vec![0, 1, 0]),
                ("b2 / LIVE", vec![1, 0, 0]),
            ],
        ),
        // Repeated parameters add up.
        (
            "bot_version&group_by=language",
            vec![
                ("LIVE / en", vec![2, 2, 0]),
                ("DRAFT / nl", vec![1, 1, 0]),
                ("LIVE / nl", vec![1, 0, 1]),
                ("DRAFT / en", vec![0, 0, 1]),
            ],
        ),
        // Conversations without a campaign are labelled "".
        (
            "campaign_id",
            vec![("", vec![1, 2, 1]), ("spring", vec![3, 0, 0]), ("summer", vec![0, 1, 1])],
        ),
        (
            "campaign_source",
            vec![("", vec![1, 2, 1]), ("ads", vec![2, 1, 0]), ("email", vec![1, 0, 1])],
        ),
        (
            "campaign_id,campaign_source",
            vec![
                (" / ", vec![1, 2, 1]),
                ("spring / ads", vec![2, 0, 0]),
                ("spring / email", vec![1, 0, 0]),
                ("summer / ads", vec![0, 1, 0]),
                ("summer / email", vec![0, 0, 1]),
            ],
        ),
        // c0 (sms) started on 02-28: its message sent on 03-01 makes no sms serie.
        ("channel_type", vec![("web", vec![3, 1, 1]), ("whatsapp", vec![1, 2, 1])]),
    ] {
        let path = format!("{}?{MARCH}&bucket=1d&group_by={group_by}", team_path(t));
        let d = data(app, &path).await;
        let names: Vec<&str> =
            group_by.split([',', '&']).map(|g| g.trim_start_matches("group_by=")).collect();
        assert_eq!(grouped(&d, &names), want, "group_by={group_by}");
        assert_eq!(d["x_values"], json!(DAYS), "group_by={group_by}");
    }
}

// ---------------------------------------------------------------------------------------------
// Parameters of all four operations: missing, unknown, invalid
// ---------------------------------------------------------------------------------------------

/// An operation's path, and a valid query for it without the range.
fn op(app: &TestApp, name: &str) -> (String, &'static str) {
    match name {
        "conv" => (B1.into(), "version=LIVE"),
        "insights" => (INSIGHTS.into(), "version=LIVE&stat=num_messages"),
        "flow" => (format!("{B1}/c1/flow"), "version=LIVE"),
        "team" => (team_path(app.team_id), "bucket=1d"),
        _ => unreachable!("{name}"),
    }
}

#[tokio::test]
async fn every_operation_names_missing_unknown_and_invalid_parameters() {
    let w = world().await;
    let app = &w.app;
    // Missing (or empty): the first is named; the message lists all of them, and no other.
    for (name, query, missing) in [
        ("conv", "", "version start_time end_time"),
        ("conv", "version=LIVE&end_time=2026-03-04", "start_time"),
        ("conv", "version=LIVE&bucket=1d", "start_time end_time"),
        ("conv", "version=&start_time=2026-03-01&end_time=&bucket=1d", "version end_time"),
        ("conv", "channel_type=web&start_time=2026-03-01&end_time=2026-03-04", "version"),
        ("insights", "", "version start_time end_time stat"),
        ("insights", "version=LIVE&start_time=2026-03-01&end_time=2026-03-04", "stat"),
        ("insights", "stat=num_messages&end_time=2026-03-04", "version start_time"),
        ("flow", "", "version start_time end_time"),
        ("flow", "version=LIVE&start_time=2026-03-01", "end_time"),
        ("flow", "start_time=2026-03-01&end_time=2026-03-04&message_id=c1-1", "version"),
        ("team", "", "start_time end_time bucket"),
        ("team", "start_time=2026-03-01&end_time=2026-03-04", "bucket"),
        ("team", "start_time=2026-03-01&end_time=2026-03-04&bucket=", "bucket"),
        ("team", "start_time=2026-03-01&bucket=1d&group_by=bot_id", "end_time"),
    ] {
        let missing: Vec<&str> = missing.split(' ').collect();
        let m = rejects(app, &format!("{}?{query}", op(app, name).0), missing[0]).await;
        for p in ["version", "start_time", "end_time", "stat", "bucket"] {
            assert_eq!(m.contains(p), missing.contains(&p), "{name}?{query}: {m}");
        }
    }
    // Unknown parameters (the native API's, the other operations', another spelling), each
    // named; invalid values. Each is added to a valid query over March 1-3 (the last of a
    // repeated parameter counts).
    for (name, field, extras) in [
        ("conv", "", "stat=num_conversations tz=UTC campaign_id=spring Version=LIVE limit=5"),
        ("conv", "bucket", "bucket=1m bucket=2d bucket=1D bucket="),
        ("conv", "group_by", "group_by=version group_by=channel_type,language group_by="),
        ("conv", "channel_type", "channel_type= channel_type=web,"),
        ("conv", "language", "language=en,,nl"),
        ("insights", "", "bucket=1d group_by=language agg=max tz=UTC campaign_id=spring"),
        ("insights", "stat", "stat=unique_users stat=handoffs stat=NUM_MESSAGES stat="),
        ("insights", "channel_type", "channel_type="),
        ("flow", "", "depth=1 bucket=1d channel_type=web messageId=c1-1"),
        ("flow", "message_id", "message_id="),
        ("team", "", "version=LIVE channel_type=web bot_id=b1 stat=num_messages tz=UTC"),
        ("team", "bucket", "bucket=1h bucket=1y"),
        ("team", "group_by", "group_by=version group_by=role group_by=bot_id,bot_id group_by="),
        ("team", "group_by", "group_by=bot_id&group_by=bot_id group_by=bot_id,"),
    ] {
        let (path, base) = op(app, name);
        for extra in extras.split(' ') {
            let field = if field.is_empty() { extra.split('=').next().unwrap() } else { field };
            rejects(app, &format!("{path}?{base}&{MARCH}&{extra}"), field).await;
        }
    }
    // Bounds: RFC 3339 with an offset or a plain date, end after start; a bucket no longer than
    // the range, and at most 10,000 of them.
    for (name, range, field) in [
        ("conv", "start_time=2026-03-04&end_time=2026-03-04", "end_time"),
        ("conv", "start_time=2026-03-01T10:00:00Z&end_time=2026-03-01T10:00:00Z", "end_time"),
        ("conv", "start_time=2026-03-01&end_time=2026-03-01T10:00:00%2B11:00", "end_time"),
        ("conv", "start_time=yesterday&end_time=2026-03-04", "start_time"),
        ("conv", "start_time=2026-3-1&end_time=2026-03-04", "start_time"),
        ("conv", "start_time=2026-03-01T00:00:00&end_time=2026-03-04", "start_time"),
        ("conv", "start_time=2026-03-01&end_time=2026-02-30", "end_time"),
        ("conv", "start_time=2026-03-01&end_time=1772582400", "end_time"),
        ("conv", "start_time=2026-03-01&end_time=2026-03-03&bucket=1w", "bucket"),
        ("conv", "start_time=2026-03-01&end_time=2026-03-07T23:59:59Z&bucket=1w", "bucket"),
        ("conv", "start_time=2026-03-01&end_time=2026-03-01T12:00:00Z", "bucket"),
        ("conv", "start_time=2026-03-01&end_time=2026-03-01T00:30:00Z&bucket=1h", "bucket"),
        ("conv", "start_time=2025-01-01&end_time=2026-02-21T17:00:00Z&bucket=1h", "bucket"),
        ("insights", "start_time=2026-03-02&end_time=2026-03-01", "end_time"),
        ("insights", "start_time=2026-03-02&end_time=2026-03-02", "end_time"),
        ("insights", "start_time=03/01/2026&end_time=2026-03-02", "start_time"),
        ("flow", "start_time=2026-03-02&end_time=2026-03-02", "end_time"),
        ("flow", "start_time=today&end_time=2026-03-03", "start_time"),
        ("flow", "start_time=2026-03-02&end_time=2026-13-01", "end_time"),
        ("team", "start_time=2026-03-02&end_time=2026-03-01", "end_time"),
        ("team", "start_time=March&end_time=2026-03-04", "start_time"),
        ("team", "start_time=2026-03-01&end_time=2026-03-07&bucket=1w", "bucket"),
        ("team", "start_time=2026-02-15&end_time=2026-03-14&bucket=1m", "bucket"),
        ("team", "start_time=2026-03-01&end_time=2026-03-01T23:00:00Z", "bucket"),
        ("team", "start_time=2000-01-01&end_time=2030-01-01", "bucket"), // 10,958 days
    ] {
        let (path, base) = op(app, name);
        rejects(app, &format!("{path}?{base}&{range}"), field).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Auth, keys and teams, on all four operations
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn basic_auth_bot_limited_keys_and_other_teams() {
    let w = world().await;
    let app = &w.app;
    let ops = [
        format!("{B1}?version=LIVE&{MARCH}"),
        format!("{INSIGHTS}?version=LIVE&{MARCH}&stat=num_conversations"),
        format!("{B1}/c1/flow?version=LIVE&start_time=2026-03-01&end_time=2026-03-02"),
        format!("{}?{MARCH}&bucket=1d", team_path(app.team_id)),
    ];
    let key = app.admin_key.as_str();
    let ingest_only = app.key(app.team_id, &["ingest"], None).await;
    let send = |req: reqwest::RequestBuilder| async move {
        let resp = req.send().await.unwrap();
        (resp.status(), resp.json::<Value>().await.unwrap_or(Value::Null))
    };
    for path in &ops {
        let url = app.url(&format!("{CL}{path}"));
        // The key as user name or as password; Bearer works too.
        for req in [
            app.client.get(&url).basic_auth(key, Some("")),
            app.client.get(&url).basic_auth(key, None::<&str>),
            app.client.get(&url).basic_auth("anything", Some(key)),
            app.client.get(&url).basic_auth("", Some(key)),
            app.client.get(&url).bearer_auth(key),
        ] {
            let (status, body) = send(req).await;
            assert_eq!(status, StatusCode::OK, "{path}: {body}");
        }
        // No key, a wrong one, an empty one, a malformed header.
        let unauthorized = (StatusCode::UNAUTHORIZED, json!("unauthorized"));
        for req in [
            app.client.get(&url),
            app.client.get(&url).basic_auth("anything", Some("cfb_not_a_key")),
            app.client.get(&url).basic_auth("cfb_not_a_key", Some("")),
            app.client.get(&url).basic_auth("", Some("")),
            app.client.get(&url).header("authorization", "Basic !!!"),
        ] {
            let (status, body) = send(req).await;
            assert_eq!((status, body["error"]["code"].clone()), unauthorized, "{path}");
        }
        // A key without the read scope.
        assert_eq!(status_as(app, &ingest_only, path).await, StatusCode::FORBIDDEN, "{path}");
    }

    // A key limited to b2: b1 is not found on the bot operations, b2 is served.
    let only_b2 = app.key(app.team_id, &["read"], Some(vec!["b2"])).await;
    for path in &ops[..3] {
        let not_found = (StatusCode::NOT_FOUND, json!("not_found"));
        assert_eq!(error(app, &only_b2, path).await, not_found, "{path}");
        let b2 = path.replace("/bots/b1/", "/bots/b2/").replace("/c1/", "/d1/");
        assert_eq!(status_as(app, &only_b2, &b2).await, StatusCode::OK, "{b2}");
    }
    let b2 = format!("/v1/bots/b2/conversations/insights?version=LIVE&{MARCH}&stat=num_messages");
    assert_eq!(values(app, &b2).await, json!([2]));

    // Unknown bots, and a bot only the other team has, are not found.
    for bot in ["nope", "ob"] {
        for path in &ops[..3] {
            let path = path.replace("/bots/b1/", &format!("/bots/{bot}/"));
            assert_eq!(status_as(app, key, &path).await, StatusCode::NOT_FOUND, "{path}");
        }
    }
    // The other team's key sees its own b1 (x1 | x2) and ob (x3), never ours.
    let other = &w.other_key;
    let (_, body) = get(app, other, &ops[0]).await;
    assert_eq!(body["data"]["series"][0]["values"], json!([1, 1, 0]));
    let (_, body) = get(app, other, &ops[1]).await;
    assert_eq!(body["data"]["series"][0]["values"], json!([2]));
    assert_eq!(status_as(app, other, &ops[2]).await, StatusCode::NOT_FOUND);
    assert_eq!(status_as(app, other, &ops[3]).await, StatusCode::NOT_FOUND);
    let (_, body) =
        get(app, other, &format!("/v1/bots/ob/conversations?version=LIVE&{MARCH}")).await;
    assert_eq!(body["data"]["series"][0]["values"], json!([1, 0, 0]));
}
