//! End to end over HTTP: every number `/compat/chatlayer` sends is an int32, as Sinch's OpenAPI
//! for the Chatlayer Analytics API (1.0.0) declares it. Each answer of every operation and stat
//! of seed 001 is decoded into structs mirroring Sinch's types with `i32` fields (a float,
//! `null` or a number beyond int32 fails the decoding), on a dataset whose means are fractions
//! and whose durations have milliseconds; the rules are in `docs/compat.md`.

mod common;

use std::collections::BTreeMap;

use common::{TestApp, spawn_app};
use confab_core::time::parse_rfc3339;
use reqwest::StatusCode;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

// Sinch's types. The seed lists the whole of `SeriesData` and of the flow answer; `Serie` and
// `FlowTransition` are Sinch's int32 fields plus what `docs/compat.md` says Confab adds.

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SeriesResponse {
    data: SeriesData,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct SeriesData {
    series: Vec<Serie>,
    series_labels: Vec<String>,
    x_values: Vec<String>,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct Serie {
    values: Vec<i32>,
    mean: i32,
    max: i32,
    min: i32,
    sum: i32,
    labels: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct FlowResponse {
    bot_id: String,
    conversation_id: String,
    user_id: Option<String>,
    transitions: Vec<FlowTransition>,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct FlowTransition {
    id: String,
    from_step: Step,
    to_step: Step,
    depth: i32,
    timestamp: String,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct Step {
    id: String,
    #[serde(rename = "type")]
    kind: Option<String>,
}

const CL: &str = "/compat/chatlayer";
const BOT: &str = "/v1/bots/b1/conversations";
const INSIGHTS: &str = "/v1/bots/b1/conversations/insights";
const MARCH_1_TO_3: &str = "start_time=2026-03-01&end_time=2026-03-04";
const DAYS: [&str; 3] =
    ["2026-03-01T00:00:00+00:00", "2026-03-02T00:00:00+00:00", "2026-03-03T00:00:00+00:00"];

fn ms(rfc3339: &str) -> i64 {
    parse_rfc3339("t", rfc3339).unwrap()
}

/// A LIVE conversation of b1 starting at `start`: the first message sets its dimensions, then
/// one message (alternately bot and user) at each offset in milliseconds; the last offset is
/// its duration.
fn conversation(
    id: &str,
    start: &str,
    channel: &str,
    language: &str,
    offsets: &[i64],
) -> Vec<Value> {
    let t0 = ms(start);
    let mut out = vec![json!({"conversation_id": id, "id": format!("{id}-0"), "role": "user",
        "content": "...", "timestamp": t0, "version": "LIVE", "channel_type": channel,
        "language": language})];
    for (i, off) in offsets.iter().enumerate() {
        let role = if i % 2 == 0 { "bot" } else { "user" };
        out.push(json!({"conversation_id": id, "id": format!("{id}-{}", i + 1), "role": role,
            "content": "...", "timestamp": t0 + off}));
    }
    out
}

/// The dataset, all of bot b1, version LIVE:
/// - March 1-3: 7, 8 and 8 conversations (languages en 4/5/4, nl 3/3/4; all web but one
///   whatsapp on March 3), starting at 09:00, 11:00, 13:00, … and lasting 1.5 s each;
/// - March 10, one hour each: 251.252 s (10:00); 0.5 s (11:00); 0.499 s and 0.5 s (12:00,
///   12:30); 1.4 s and 1.6 s (13:00, 13:30); all web, en; and a flow at 14:00 lasting 7.25 s;
async fn dataset() -> TestApp {
    let app = spawn_app().await;
    let mut messages = vec![];
    for (day, en, nl) in [(1, 4, 3), (2, 5, 3), (3, 4, 4)] {
        for i in 0..en + nl {
            let language = if i < en { "en" } else { "nl" };
            let channel = if day == 3 && i == en + nl - 1 { "whatsapp" } else { "web" };
            let start = format!("2026-03-0{day}T{:02}:00:00Z", 9 + 2 * i);
            let id = format!("d{day}-{i}");
            messages.extend(conversation(&id, &start, channel, language, &[1_500]));
        }
    }
    for (id, start, duration) in [
        ("long", "10:00:00", 251_252),
        ("half", "11:00:00", 500),
        ("under-a", "12:00:00", 499),
        ("under-b", "12:30:00", 500),
        ("p14", "13:00:00", 1_400),
        ("p16", "13:30:00", 1_600),
    ] {
        let start = format!("2026-03-10T{start}Z");
        messages.extend(conversation(id, &start, "web", "en", &[duration]));
    }
    app.ingest("b1", messages).await;
    // The flow: START → greet → ask_email → confirm (no type), user messages without steps.
    let t0 = ms("2026-03-10T14:00:00Z");
    let step = |id: &str, kind: Option<&str>| json!({"id": id, "type": kind});
    let say = |id: &str, role: &str, at: i64, step: Option<Value>| {
        let mut m = json!({"conversation_id": "flow", "id": id, "role": role, "content": "...",
                           "timestamp": t0 + at});
        if let Some(s) = step {
            m["step"] = s;
        }
        m
    };
    let mut first = say("m1", "user", 0, None);
    for (k, v) in [("version", "LIVE"), ("channel_type", "web"), ("language", "en")] {
        first[k] = json!(v);
    }
    first["user_id"] = json!("u1");
    app.ingest(
        "b1",
        vec![
            first,
            say("m2", "bot", 1_000, Some(step("greet", Some("message")))),
            say("m3", "user", 5_000, None),
            say("m4", "bot", 6_000, Some(step("ask_email", Some("input")))),
            say("m5", "bot", 7_250, Some(step("confirm", None))),
        ],
    )
    .await;
    app
}

/// A GET under `/compat/chatlayer` with the key as Basic user name, decoded into Sinch's type;
/// the body may hold no number that is not an integer.
async fn decode<T: DeserializeOwned>(app: &TestApp, path: &str) -> T {
    let resp = app.client.get(app.url(&format!("{CL}{path}"))).basic_auth(&app.admin_key, Some(""));
    let resp = resp.send().await.unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{path}: {text}");
    no_floats(path, &serde_json::from_str(&text).unwrap());
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}: {text}"))
}

fn no_floats(path: &str, v: &Value) {
    match v {
        Value::Number(n) => assert!(n.is_i64(), "{path}: {n} is not an integer"),
        Value::Array(a) => a.iter().for_each(|v| no_floats(path, v)),
        Value::Object(o) => o.values().for_each(|v| no_floats(path, v)),
        _ => {}
    }
}

async fn series(app: &TestApp, path: &str) -> SeriesData {
    decode::<SeriesResponse>(app, path).await.data
}

fn serie(values: &[i32], [mean, max, min, sum]: [i32; 4], labels: &[(&str, &str)]) -> Serie {
    Serie {
        values: values.to_vec(),
        mean,
        max,
        min,
        sum,
        labels: labels.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect(),
    }
}

fn data(series: Vec<Serie>, series_labels: &[&str], x_values: &[&str]) -> SeriesData {
    SeriesData {
        series,
        series_labels: series_labels.iter().map(|s| (*s).into()).collect(),
        x_values: x_values.iter().map(|s| (*s).into()).collect(),
    }
}

#[tokio::test]
async fn conversations_means_are_rounded_half_away_from_zero() {
    let app = dataset().await;
    let live = |extra: &str| format!("{BOT}?version=LIVE&{extra}");
    // 23 / 3 = 7.667: 8. Every bucket size the seed allows, its default (1d) too.
    let want = data(vec![serie(&[7, 8, 8], [8, 8, 7, 23], &[])], &["num_conversations"], &DAYS);
    assert_eq!(series(&app, &live(MARCH_1_TO_3)).await, want);
    assert_eq!(series(&app, &live(&format!("{MARCH_1_TO_3}&bucket=1d"))).await, want);
    // 1 and 0: 0.5 rounds away from zero, to 1.
    let hours = "start_time=2026-03-01T09:00:00Z&end_time=2026-03-01T11:00:00Z&bucket=1h";
    let x = ["2026-03-01T09:00:00+00:00", "2026-03-01T10:00:00+00:00"];
    let want = data(vec![serie(&[1, 0], [1, 1, 0, 1], &[])], &["num_conversations"], &x);
    assert_eq!(series(&app, &live(hours)).await, want);
    // March 10, 10:00 to 15:00: 1, 1, 2, 2, 1 → 1.4 rounds to 1.
    let hours = "start_time=2026-03-10T10:00:00Z&end_time=2026-03-10T15:00:00Z&bucket=1h";
    assert_eq!(
        series(&app, &live(hours)).await.series,
        [serie(&[1, 1, 2, 2, 1], [1, 2, 1, 7], &[])]
    );
    // A week from Monday March 2: the 16 conversations of March 2 and 3.
    let week = "start_time=2026-03-02&end_time=2026-03-09&bucket=1w";
    let want = data(
        vec![serie(&[16], [16, 16, 16, 16], &[])],
        &["num_conversations"],
        &["2026-03-02T00:00:00+00:00"],
    );
    assert_eq!(series(&app, &live(week)).await, want);
    // Grouped: en 13 / 3 = 4.333 → 4, nl 10 / 3 = 3.333 → 3; web 22 / 3 → 7, whatsapp 1 / 3 → 0.
    let en = serie(&[4, 5, 4], [4, 5, 4, 13], &[("language", "en")]);
    let nl = serie(&[3, 3, 4], [3, 4, 3, 10], &[("language", "nl")]);
    let want = data(vec![en, nl], &["en", "nl"], &DAYS);
    assert_eq!(series(&app, &live(&format!("{MARCH_1_TO_3}&group_by=language"))).await, want);
    let web = serie(&[7, 8, 7], [7, 8, 7, 22], &[("channel_type", "web")]);
    let whatsapp = serie(&[0, 0, 1], [0, 1, 0, 1], &[("channel_type", "whatsapp")]);
    let want = data(vec![web, whatsapp], &["web", "whatsapp"], &DAYS);
    assert_eq!(series(&app, &live(&format!("{MARCH_1_TO_3}&group_by=channel_type"))).await, want);
    // Filters: nl alone, then nl on whatsapp alone.
    let nl = series(&app, &live(&format!("{MARCH_1_TO_3}&language=nl"))).await;
    assert_eq!(nl.series, [serie(&[3, 3, 4], [3, 4, 3, 10], &[])]);
    let one =
        series(&app, &live(&format!("{MARCH_1_TO_3}&language=nl&channel_type=whatsapp"))).await;
    assert_eq!(one.series, [serie(&[0, 0, 1], [0, 1, 0, 1], &[])]);
}

/// `[num_conversations, num_messages, duration_seconds]` of b1's LIVE conversations over a
/// range, each answer one bucket labelled `start` whose summaries are its one value.
async fn insights(app: &TestApp, range: &str, start: &str, filters: &str) -> [i32; 3] {
    let mut out = [0; 3];
    for (i, stat) in
        ["num_conversations", "num_messages", "duration_seconds"].into_iter().enumerate()
    {
        let path = format!("{INSIGHTS}?version=LIVE&{range}&stat={stat}{filters}");
        let d = series(app, &path).await;
        let v = d.series.first().map_or(-1, |s| s.values[0]);
        assert_eq!(d, data(vec![serie(&[v], [v; 4], &[])], &[stat], &[start]), "{path}");
        out[i] = v;
    }
    out
}

#[tokio::test]
async fn insights_durations_are_whole_seconds_of_the_milliseconds() {
    let app = dataset().await;
    let hour =
        |h: u32| format!("start_time=2026-03-10T{h}:00:00Z&end_time=2026-03-10T{}:00:00Z", h + 1);
    let label = |h: u32| format!("2026-03-10T{h}:00:00+00:00");
    for (h, want) in [
        (10, [1, 2, 251]), // 251.252 s
        (11, [1, 2, 1]),   // 0.5 s: half away from zero
        (12, [2, 4, 0]),   // 499 and 500 ms: 499.5 ms, under half a second
        (13, [2, 4, 2]),   // 1.4 and 1.6 s: 1.5 s, not the mean of whole seconds (1)
        (14, [1, 5, 7]),   // the flow, 7.25 s
    ] {
        assert_eq!(insights(&app, &hour(h), &label(h), "").await, want, "{h}:00");
    }
    // The whole day: 263,001 ms over 7 conversations, 37.57 s.
    let day = "start_time=2026-03-10&end_time=2026-03-11";
    assert_eq!(insights(&app, day, "2026-03-10T00:00:00+00:00", "").await, [7, 17, 38]);
    // March 1-3: 23 conversations of 1.5 s each: 2; filtered to whatsapp, one of them.
    assert_eq!(insights(&app, MARCH_1_TO_3, DAYS[0], "").await, [23, 46, 2]);
    let whatsapp = "&channel_type=whatsapp&language=nl,en";
    assert_eq!(insights(&app, MARCH_1_TO_3, DAYS[0], whatsapp).await, [1, 2, 2]);
    // Nothing: zeros, never null.
    assert_eq!(insights(&app, MARCH_1_TO_3, DAYS[0], "&language=de").await, [0, 0, 0]);
}

#[tokio::test]
async fn flow_depths_are_int32() {
    let app = dataset().await;
    let path = "/v1/bots/b1/conversations/flow/flow?version=LIVE&start_time=2026-03-10&end_time=2026-03-11";
    let step = |id: &str, kind: Option<&str>| Step { id: id.into(), kind: kind.map(Into::into) };
    let transition = |id: &str, from: Step, to: Step, depth: i32, at: &str| FlowTransition {
        id: id.into(),
        from_step: from,
        to_step: to,
        depth,
        timestamp: format!("2026-03-10T{at}Z"),
    };
    let all = vec![
        transition(
            "m2",
            step("START", Some("start")),
            step("greet", Some("message")),
            1,
            "14:00:01.000",
        ),
        transition(
            "m4",
            step("greet", Some("message")),
            step("ask_email", Some("input")),
            2,
            "14:00:06.000",
        ),
        transition(
            "m5",
            step("ask_email", Some("input")),
            step("confirm", None),
            3,
            "14:00:07.250",
        ),
    ];
    let flow: FlowResponse = decode(&app, path).await;
    let want = FlowResponse {
        bot_id: "b1".into(),
        conversation_id: "flow".into(),
        user_id: Some("u1".into()),
        transitions: all,
    };
    assert_eq!(flow, want);
    let one: FlowResponse = decode(&app, &format!("{path}&message_id=m4")).await;
    assert_eq!(one.transitions, want.transitions[1..2]);
}

#[tokio::test]
async fn team_usage_means_are_rounded_half_away_from_zero() {
    let app = dataset().await;
    let team = format!("/v1/teams/{}/conversations", app.team_id);
    let want = data(vec![serie(&[7, 8, 8], [8, 8, 7, 23], &[])], &["num_conversations"], &DAYS);
    assert_eq!(series(&app, &format!("{team}?{MARCH_1_TO_3}&bucket=1d")).await, want);
    let d = series(&app, &format!("{team}?{MARCH_1_TO_3}&bucket=1d&group_by=channel_type")).await;
    let web = serie(&[7, 8, 7], [7, 8, 7, 22], &[("channel_type", "web")]);
    let whatsapp = serie(&[0, 0, 1], [0, 1, 0, 1], &[("channel_type", "whatsapp")]);
    assert_eq!(d, data(vec![web, whatsapp], &["web", "whatsapp"], &DAYS));
    let week = "start_time=2026-03-02&end_time=2026-03-09&bucket=1w";
    let d = series(&app, &format!("{team}?{week}&group_by=language")).await;
    let en = serie(&[9], [9, 9, 9, 9], &[("language", "en")]);
    let nl = serie(&[7], [7, 7, 7, 7], &[("language", "nl")]);
    assert_eq!(d, data(vec![en, nl], &["en", "nl"], &["2026-03-02T00:00:00+00:00"]));
    // March: 23 + 7 conversations; en 13 + 7, nl 10.
    let month = "start_time=2026-03-01&end_time=2026-04-01&bucket=1m";
    let d = series(&app, &format!("{team}?{month}&group_by=bot_id,language")).await;
    let en = serie(&[20], [20, 20, 20, 20], &[("bot_id", "b1"), ("language", "en")]);
    let nl = serie(&[10], [10, 10, 10, 10], &[("bot_id", "b1"), ("language", "nl")]);
    let x = ["2026-03-01T00:00:00+00:00"];
    assert_eq!(d, data(vec![en, nl], &["b1 / en", "b1 / nl"], &x));
}
