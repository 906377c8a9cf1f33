//! Native analytics end to end over HTTP, every expected number worked out by hand in comments:
//! buckets laid out in the zone's calendar across DST changes and a quarter-hour offset, range
//! edges inside a 15-minute rollup slot, every stat on a scripted dataset (with erasure and
//! out-of-order arrival), group-by and filters (per bot and team usage, bot-limited keys, other
//! teams), aggregate and per-conversation dialogue flows, and bad input named by field.

mod common;

use std::collections::BTreeMap;

use common::{TestApp, spawn_app};
use confab_core::time::{format_rfc3339, now_millis};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Message `id` (`conv-n`) of conversation `conv`; the fields of `extra` are merged in.
fn m(id: &str, role: &str, ts: &str, extra: Value) -> Value {
    let conv = id.split('-').next().unwrap();
    let mut v =
        json!({"conversation_id": conv, "id": id, "role": role, "content": id, "timestamp": ts});
    v.as_object_mut().unwrap().extend(extra.as_object().cloned().unwrap_or_default());
    v
}

/// The first message of conversation `conv`, from its user.
fn one(conv: &str, ts: &str, extra: Value) -> Value {
    m(&format!("{conv}-1"), "user", ts, extra)
}

/// Message fields from `key=value` words, `campaign=id/source` for the campaign.
fn dims(s: &str) -> Value {
    let mut o = serde_json::Map::new();
    for (k, v) in s.split_whitespace().filter_map(|w| w.split_once('=')) {
        let v = match v.split_once('/') {
            Some((id, source)) => json!({"id": id, "source": source}),
            None => json!(v),
        };
        o.insert(k.to_owned(), v);
    }
    Value::Object(o)
}

/// `data` of a GET that must answer 200.
async fn data(app: &TestApp, key: &str, path: &str) -> Value {
    let (status, body) = app.get(key, path).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    body["data"].clone()
}

/// The values of the first serie.
async fn vals(app: &TestApp, key: &str, path: &str) -> Value {
    data(app, key, path).await["series"][0]["values"].clone()
}

/// Every serie as `label=v,v…`, in the order given, joined by `; `; those that are zero
/// throughout are left out unless `zeros`.
fn lines(d: &Value, zeros: bool) -> String {
    let labels = d["series_labels"].as_array().unwrap();
    let series = d["series"].as_array().unwrap();
    let mut out = vec![];
    for (label, s) in labels.iter().zip(series) {
        let v = s["values"].as_array().unwrap();
        if zeros || v.iter().any(|x| x != &json!(0)) {
            let v: Vec<String> = v.iter().map(Value::to_string).collect();
            out.push(format!("{}={}", label.as_str().unwrap(), v.join(",")));
        }
    }
    out.join("; ")
}

async fn grouped(app: &TestApp, key: &str, path: &str) -> String {
    lines(&data(app, key, path).await, true)
}

fn xs(d: &Value) -> Vec<&str> {
    d["x_values"].as_array().unwrap().iter().map(|x| x.as_str().unwrap()).collect()
}

/// `mean`, `sum`, `min` and `max` of the first serie.
fn summary(d: &Value) -> [Value; 4] {
    ["mean", "sum", "min", "max"].map(|f| d["series"][0][f].clone())
}

/// Values of `n` buckets, 1 at `ones` and 0 elsewhere.
fn sparse(n: usize, ones: &[usize]) -> Value {
    json!((0..n).map(|i| i64::from(ones.contains(&i))).collect::<Vec<_>>())
}

#[tokio::test]
async fn warsaw_days_weeks_months_and_hours_across_spring_forward() {
    let app = spawn_app().await;
    let k = &app.admin_key;
    // 2026-03-29 in Europe/Warsaw: 02:00 +01:00 becomes 03:00 +02:00; the day lasts 23 h,
    // 2026-03-28T23:00Z to 2026-03-29T22:00Z.
    let batch = vec![
        one("w1", "2026-03-28T22:30:00Z", json!({})), // 23:30 +01:00 on the 28th
        one("w2", "2026-03-28T23:30:00Z", json!({})), // 00:30 +01:00 on the 29th
        one("w3", "2026-03-29T21:59:00Z", json!({})), // 23:59 +02:00 on the 29th
        one("w4", "2026-03-29T22:00:00Z", json!({})), // 00:00 +02:00 on the 30th
    ];
    app.ingest("waw", batch).await;
    let q = |rest: &str| format!("/v1/bots/waw/analytics/conversations?{rest}");
    let days = "start_time=2026-03-28&end_time=2026-03-31";
    let d = data(&app, k, &q(&format!("{days}&tz=Europe/Warsaw"))).await;
    let want =
        ["2026-03-28T00:00:00+01:00", "2026-03-29T00:00:00+01:00", "2026-03-30T00:00:00+02:00"];
    assert_eq!(xs(&d), want);
    let s = &d["series"][0];
    assert_eq!(s["values"], json!([1, 2, 1]));
    // Mean 4/3 to three places, sum 4, min 1, max 2; no group: the stat names the serie.
    assert_eq!(summary(&d), [json!(1.333), json!(4), json!(1), json!(2)]);
    assert_eq!((&d["series_labels"], &s["labels"]), (&json!(["num_conversations"]), &json!({})));
    // By UTC days: w1, w2 on the 28th; w3, w4 on the 29th.
    let d = data(&app, k, &q(days)).await;
    assert_eq!(xs(&d)[0], "2026-03-28T00:00:00+00:00");
    assert_eq!(d["series"][0]["values"], json!([2, 2, 0]));
    // Hours of the local 29th: 00:00 and 01:00 at +01:00, then 03:00 … 23:00 at +02:00.
    let hours = "start_time=2026-03-29&end_time=2026-03-30&tz=Europe/Warsaw&bucket=1h";
    let d = data(&app, k, &q(hours)).await;
    let x = xs(&d);
    assert_eq!(x.len(), 23);
    assert_eq!(
        x[..3],
        ["2026-03-29T00:00:00+01:00", "2026-03-29T01:00:00+01:00", "2026-03-29T03:00:00+02:00"]
    );
    assert_eq!(x[22], "2026-03-29T23:00:00+02:00");
    assert_eq!(d["series"][0]["values"], sparse(23, &[0, 22]), "w2 at 00:30, w3 at 23:59");
    // ISO weeks: w1..w3 in the week of Monday 23rd, w4 (Monday 30th locally) in the next; by UTC
    // w4 is on Sunday the 29th.
    let weeks = "start_time=2026-03-23&end_time=2026-04-06&bucket=1w";
    let d = data(&app, k, &q(&format!("{weeks}&tz=Europe/Warsaw"))).await;
    assert_eq!(xs(&d), ["2026-03-23T00:00:00+01:00", "2026-03-30T00:00:00+02:00"]);
    assert_eq!(d["series"][0]["values"], json!([3, 1]));
    assert_eq!(vals(&app, k, &q(weeks)).await, json!([4, 0]));
    let months = "start_time=2026-03-01&end_time=2026-05-01&bucket=1m&tz=Europe/Warsaw";
    let d = data(&app, k, &q(months)).await;
    assert_eq!(xs(&d), ["2026-03-01T00:00:00+01:00", "2026-04-01T00:00:00+02:00"]);
    assert_eq!(d["series"][0]["values"], json!([4, 0]));
}

#[tokio::test]
async fn new_york_spring_forward_and_fall_back() {
    let app = spawn_app().await;
    let k = &app.admin_key;
    let batch = vec![
        // 2026-03-08: 02:00 -05:00 becomes 03:00 -04:00 (a 23-hour day).
        one("n1", "2026-03-08T06:59:00Z", json!({})), // 01:59 -05:00
        one("n2", "2026-03-08T07:00:00Z", json!({})), // 03:00 -04:00
        one("n3", "2026-03-09T03:59:00Z", json!({})), // 23:59 -04:00 on the 8th
        one("n4", "2026-03-09T04:00:00Z", json!({})), // 00:00 -04:00 on the 9th
        // 2026-11-01: 02:00 -04:00 becomes 01:00 -05:00 (a 25-hour day; 01:xx comes twice).
        one("n5", "2026-11-01T05:30:00Z", json!({})), // 01:30 -04:00
        one("n6", "2026-11-01T06:30:00Z", json!({})), // 01:30 -05:00
        one("n7", "2026-11-02T04:30:00Z", json!({})), // 23:30 -05:00 on the 1st
        one("n8", "2026-11-02T05:00:00Z", json!({})), // 00:00 -05:00 on the 2nd
    ];
    app.ingest("nyc", batch).await;
    let q = |rest: &str| format!("/v1/bots/nyc/analytics/conversations?tz=America/New_York&{rest}");
    let d = data(&app, k, &q("start_time=2026-03-08&end_time=2026-03-10")).await;
    assert_eq!(xs(&d), ["2026-03-08T00:00:00-05:00", "2026-03-09T00:00:00-04:00"]);
    assert_eq!(d["series"][0]["values"], json!([3, 1]));
    let d = data(&app, k, &q("start_time=2026-03-08&end_time=2026-03-09&bucket=1h")).await;
    let x = xs(&d);
    assert_eq!(x.len(), 23);
    assert_eq!(
        [x[1], x[2], x[22]],
        ["2026-03-08T01:00:00-05:00", "2026-03-08T03:00:00-04:00", "2026-03-08T23:00:00-04:00"]
    );
    assert_eq!(d["series"][0]["values"], sparse(23, &[1, 2, 22]));

    let d = data(&app, k, &q("start_time=2026-11-01&end_time=2026-11-03")).await;
    assert_eq!(xs(&d), ["2026-11-01T00:00:00-04:00", "2026-11-02T00:00:00-05:00"]);
    assert_eq!(d["series"][0]["values"], json!([3, 1]));
    let d = data(&app, k, &q("start_time=2026-11-01&end_time=2026-11-02&bucket=1h")).await;
    let x = xs(&d);
    assert_eq!(x.len(), 25);
    assert_eq!(
        x[1..4],
        ["2026-11-01T01:00:00-04:00", "2026-11-01T01:00:00-05:00", "2026-11-01T02:00:00-05:00"]
    );
    assert_eq!(x[24], "2026-11-01T23:00:00-05:00");
    assert_eq!(d["series"][0]["values"], sparse(25, &[1, 2, 24]), "n5, n6 in the two 01:00");
    // A range from inside the repeated hour starts at its second occurrence.
    let repeated = "start_time=2026-11-01T06:30:00Z&end_time=2026-11-01T08:00:00Z&bucket=1h";
    let d = data(&app, k, &q(repeated)).await;
    assert_eq!(xs(&d), ["2026-11-01T01:00:00-05:00", "2026-11-01T02:00:00-05:00"]);
    assert_eq!(d["series"][0]["values"], json!([1, 0]));
    // By UTC days: n5, n6 on the 1st; n7, n8 on the 2nd.
    let utc = "/v1/bots/nyc/analytics/conversations?start_time=2026-11-01&end_time=2026-11-03";
    assert_eq!(vals(&app, k, utc).await, json!([2, 2]));
}

#[tokio::test]
async fn kathmandu_quarter_hour_offset() {
    let app = spawn_app().await;
    let k = &app.admin_key;
    // +05:45: local midnight of 2026-01-02 is 2026-01-01T18:15Z.
    let batch = vec![
        m("k1-1", "user", "2026-01-01T18:14:59Z", json!({})), // 23:59:59 on the 1st
        m("k1-2", "bot", "2026-01-01T18:15:00Z", json!({})),  // 00:00:00 on the 2nd
    ];
    app.ingest("ktm", batch).await;
    let q = |path: &str, rest: &str| format!("/v1/bots/ktm/analytics/{path}?{rest}");
    let days = "start_time=2026-01-01&end_time=2026-01-03";
    let local = format!("{days}&tz=Asia/Kathmandu");
    let d = data(&app, k, &q("messages", &local)).await;
    assert_eq!(xs(&d), ["2026-01-01T00:00:00+05:45", "2026-01-02T00:00:00+05:45"]);
    assert_eq!(d["series"][0]["values"], json!([1, 1]));
    assert_eq!(vals(&app, k, &q("conversations", &local)).await, json!([1, 0]), "by its start");
    assert_eq!(vals(&app, k, &q("messages", days)).await, json!([2, 0]), "both on the UTC 1st");
    // Local hours start at :15 UTC: 17:00Z (22:45 local) lies in 22:00 local, from 16:15Z.
    let hours = "bucket=1h&tz=Asia/Kathmandu&start_time=2026-01-01T17:00:00Z";
    let d = data(&app, k, &q("messages", &format!("{hours}&end_time=2026-01-01T19:00:00Z"))).await;
    assert_eq!(
        xs(&d),
        ["2026-01-01T22:00:00+05:45", "2026-01-01T23:00:00+05:45", "2026-01-02T00:00:00+05:45"]
    );
    assert_eq!(d["series"][0]["values"], json!([0, 1, 1]));
}

#[tokio::test]
async fn range_edges_inside_a_slot_are_counted_exactly() {
    let app = spawn_app().await;
    let k = &app.admin_key;
    let batch = vec![
        one("e1", "2026-02-02T10:06:00Z", json!({})), // starts before 10:07: out
        m("e1-2", "bot", "2026-02-02T10:09:00Z", json!({"metadata": {"handled": false}})), // in
        one("e2", "2026-02-02T10:08:00Z", dims("channel_type=web")),
        m("e2-2", "agent", "2026-02-02T10:10:00Z", json!({})), // a hand-off
        one("e3", "2026-02-02T10:20:00Z", dims("channel_type=sms")),
        one("e4", "2026-02-02T11:30:00Z", dims("channel_type=web")),
        m("e4-2", "bot", "2026-02-02T11:52:29Z", json!({})), // just before the end: in
        one("e5", "2026-02-02T11:52:30Z", json!({})),        // at the end: out
    ];
    app.ingest("edge", batch).await;
    let range = "start_time=2026-02-02T10:07:00Z&end_time=2026-02-02T11:52:30Z&bucket=1h";
    let q = |path: &str, more: &str| format!("/v1/bots/edge/analytics/{path}?{range}{more}");
    let d = data(&app, k, &q("conversations", "")).await;
    assert_eq!(xs(&d), ["2026-02-02T10:00:00+00:00", "2026-02-02T11:00:00+00:00"]);
    assert_eq!(d["series"][0]["values"], json!([2, 1]), "e2, e3 | e4");
    assert_eq!(vals(&app, k, &q("messages", "")).await, json!([4, 2]), "e1-2, e2 ×2, e3 | e4 ×2");
    // e1 (no channel type) has a message in range: a "" serie of zeros may come too.
    let d = data(&app, k, &q("conversations", "&group_by=channel_type")).await;
    assert_eq!(lines(&d, false), "web=1,1; sms=1,0");
    assert_eq!(d["series"][0]["labels"], json!({"channel_type": "web"}));
    // Durations: e2 120 s, e3 0 s | e4 22 min 29 s. Hand-offs: e2. Not handled: e1-2.
    for (stat, want) in [
        ("duration_seconds", json!([60, 1349])),
        ("handoffs", json!([1, 0])),
        ("containment_rate", json!([0.5, 1])),
        ("not_handled", json!([1, 0])),
    ] {
        assert_eq!(vals(&app, k, &q("insights", &format!("&stat={stat}"))).await, want, "{stat}");
    }
    let from_ten = "start_time=2026-02-02T10:00:00Z&end_time=2026-02-02T11:00:00Z&bucket=1h";
    let from_ten = format!("/v1/bots/edge/analytics/conversations?{from_ten}");
    assert_eq!(vals(&app, k, &from_ten).await, json!([3]), "from 10:00 e1 is in");
}

#[tokio::test]
async fn every_stat_on_a_scripted_dataset_and_after_erasure() {
    let app = spawn_app().await;
    let k = &app.admin_key;
    let (may1, may2) = (|t: &str| format!("2026-05-01T{t}Z"), |t: &str| format!("2026-05-02T{t}Z"));
    let (none, unhandled) = (json!({}), json!({"metadata": {"handled": false}}));
    let batch = vec![
        // 1 May. s1: 120 s, 2 user + 2 bot messages, one not handled.
        m("s1-1", "user", &may1("09:00:00"), dims("user_id=u1 channel_type=web")),
        m("s1-2", "bot", &may1("09:00:30"), unhandled.clone()),
        m("s1-3", "user", &may1("09:01:00"), none.clone()),
        m("s1-4", "bot", &may1("09:02:00"), json!({"metadata": {"handled": true}})),
        // s2: 300 s, user + bot + agent: a hand-off.
        m("s2-1", "user", &may1("15:07:00"), dims("user_id=u2 channel_type=web")),
        m("s2-2", "bot", &may1("15:08:00"), none.clone()),
        m("s2-3", "agent", &may1("15:12:00"), none.clone()),
        // s3: u1 again, 60 s, one not handled.
        m("s3-1", "user", &may1("20:00:00"), dims("user_id=u1")),
        m("s3-2", "bot", &may1("20:01:00"), unhandled),
        // 2 May. s4: 1200 s, user + agent + user: a hand-off. s5: no user id, 0 s.
        m("s4-1", "user", &may2("10:00:00"), dims("user_id=u3 channel_type=sms")),
        m("s4-2", "agent", &may2("10:10:00"), none.clone()),
        m("s4-3", "user", &may2("10:20:00"), none.clone()),
        one("s5", &may2("12:00:00"), none),
    ];
    app.ingest("st", batch.clone()).await;
    app.ingest("st", batch).await; // a retry: all duplicates, counted once
    let q = |path: &str, more: &str| {
        format!("/v1/bots/st/analytics/{path}?start_time=2026-05-01&end_time=2026-05-04{more}")
    };
    let stat = |s: &str| q("insights", &format!("&stat={s}"));
    // 1 May: 3 conversations, 9 messages, durations 120/300/60 s, users {u1, u2}, 1 hand-off,
    // 2 not handled. 2 May: 2, 4, 1200/0 s, {u3}, 1, 0. 3 May: nothing at all.
    let expected = [
        ("num_conversations", json!([3, 2, 0])),
        ("num_messages", json!([9, 4, 0])),
        ("duration_seconds", json!([160, 600, null])),
        ("duration_seconds&agg=mean", json!([160, 600, null])),
        ("duration_seconds&agg=sum", json!([480, 1200, 0])),
        ("duration_seconds&agg=min", json!([60, 0, null])),
        ("duration_seconds&agg=max", json!([300, 1200, null])),
        ("unique_users", json!([2, 1, 0])),
        ("handoffs", json!([1, 1, 0])),
        ("not_handled", json!([2, 0, 0])),
        ("containment_rate", json!([0.667, 0.5, null])), // 2/3, 1/2, no conversations
    ];
    for (s, want) in &expected {
        assert_eq!(vals(&app, k, &stat(s)).await, *want, "{s}");
    }
    // Summaries cover the defined values: mean (2/3 + 1/2) / 2 = 0.583, sum 1.167.
    let d = data(&app, k, &stat("containment_rate")).await;
    assert_eq!(summary(&d), [0.583, 1.167, 0.5, 0.667].map(|v| json!(v)));
    let d = data(&app, k, &stat("duration_seconds")).await;
    assert_eq!(summary(&d), [380, 760, 160, 600].map(|v| json!(v)));
    assert_eq!(vals(&app, k, &q("conversations", "")).await, json!([3, 2, 0]));
    assert_eq!(vals(&app, k, &q("users", "")).await, json!([2, 1, 0]));
    assert_eq!(vals(&app, k, &q("messages", "")).await, json!([9, 4, 0]));
    // By role: users 4 | 3, bots 4 | 0, agents 1 | 1, no system messages.
    assert_eq!(vals(&app, k, &q("messages", "&role=user,bot")).await, json!([8, 3, 0]));
    assert_eq!(vals(&app, k, &q("messages", "&role=user&role=agent")).await, json!([5, 4, 0]));
    let d = data(&app, k, &q("messages", "&group_by=role")).await;
    assert_eq!(lines(&d, true), "user=4,3,0; bot=4,0,0; agent=1,1,0");
    assert_eq!(d["series"][2]["labels"], json!({"role": "agent"}));
    // A range edge inside a slot (15:05 … 15:15) holds all of s2.
    let at_edge = "start_time=2026-05-01T15:05:00Z&end_time=2026-05-01T17:00:00Z&bucket=1h";
    let edge = |path: &str| format!("/v1/bots/st/analytics/{path}?{at_edge}");
    assert_eq!(vals(&app, k, &edge("conversations")).await, json!([1, 0]));
    assert_eq!(vals(&app, k, &edge("messages")).await, json!([3, 0]));

    // Erasing s2 keeps it in the anonymous counts but takes u2 out of the users.
    let (status, body) = app.delete(&app.admin_key, "/v1/bots/st/conversations/s2").await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(app.get(k, "/v1/bots/st/conversations/s2").await.0, StatusCode::NOT_FOUND);
    for (s, want) in [
        ("num_conversations", json!([3, 2, 0])),
        ("num_messages", json!([9, 4, 0])),
        ("handoffs", json!([1, 1, 0])),
        ("duration_seconds", json!([160, 600, null])),
        ("unique_users", json!([1, 1, 0])),
    ] {
        assert_eq!(vals(&app, k, &stat(s)).await, want, "after erasure: {s}");
    }
    // Read from the stored conversations, as docs/api.md says: u2 and s2's 300 s are gone, and
    // so is s2 from the minutes of an unaligned edge (counted from stored rows).
    assert_eq!(vals(&app, k, &q("users", "")).await, json!([1, 1, 0]));
    assert_eq!(vals(&app, k, &stat("duration_seconds&agg=max")).await, json!([120, 1200, null]));
    assert_eq!(vals(&app, k, &edge("conversations")).await, json!([0, 0]), "erased s2, edge");
    assert_eq!(vals(&app, k, &edge("messages")).await, json!([0, 0]), "erased s2, edge");
}

#[tokio::test]
async fn a_late_earlier_message_moves_the_conversation() {
    let app = spawn_app().await;
    let k = &app.admin_key;
    let first = dims("channel_type=whatsapp version=v2 user_id=u9");
    let l1 = m("L-1", "user", "2026-05-01T23:50:00Z", first);
    let l2 = m("L-2", "user", "2026-05-02T00:10:00Z", dims("channel_type=web"));
    let l3 = m("L-3", "bot", "2026-05-02T00:20:00Z", dims("language=pl"));
    let q = |bot: &str, path: &str, more: &str| {
        format!("/v1/bots/{bot}/analytics/{path}?start_time=2026-05-01&end_time=2026-05-03{more}")
    };
    app.ingest("late", vec![l2.clone()]).await;
    let by = |bot: &str, g: &str| q(bot, "conversations", &format!("&group_by={g}"));
    assert_eq!(grouped(&app, k, &by("late", "channel_type")).await, "web=0,1");
    // L-1 arrives later but happened earlier: the start moves to 1 May, its channel type (the
    // earliest wins) and version become the conversation's; L-3 then adds a language.
    app.ingest("late", vec![l1.clone()]).await;
    app.ingest("late", vec![l3.clone()]).await;
    app.ingest("inorder", vec![l1, l2, l3]).await;
    for (path, more, want) in [
        ("conversations", "", json!([1, 0])),
        ("conversations", "&channel_type=whatsapp", json!([1, 0])),
        ("conversations", "&channel_type=web", json!([0, 0])),
        ("conversations", "&version=v2", json!([1, 0])),
        ("conversations", "&language=pl", json!([1, 0])),
        ("messages", "", json!([1, 2])),
        ("users", "", json!([1, 0])),
        ("insights", "&stat=duration_seconds", json!([1800, null])), // 23:50 → 00:20
    ] {
        for bot in ["late", "inorder"] {
            assert_eq!(vals(&app, k, &q(bot, path, more)).await, want, "{bot}: {path}{more}");
        }
    }
    // The rows of the dimensions it had before it moved are left at zero: they make no series
    // ("web=0,0"), so arrival order does not show.
    for (g, want) in
        [("channel_type", "whatsapp=1,0"), ("version", "v2=1,0"), ("language", "pl=1,0")]
    {
        let late = data(&app, k, &by("late", g)).await;
        assert_eq!(lines(&late, true), want, "group_by={g}");
        assert_eq!(late, data(&app, k, &by("inorder", g)).await, "group_by={g}: arrival order");
    }
}

#[tokio::test]
async fn group_by_filters_team_usage_and_isolation() {
    let app = spawn_app().await;
    let k = &app.admin_key;
    let day = "2026-06-01T12:00:00Z";
    let g1 = [
        ("a", "channel_type=web language=en version=v1 user_id=u1 campaign=spring/ads"),
        ("b", "channel_type=web language=pl version=v2 user_id=u2"),
        ("c", "channel_type=sms language=en version=v1 user_id=u1"),
        ("d", "channel_type=whatsapp language=de version=v1 campaign=spring/fb"),
    ];
    app.ingest("g1", g1.iter().map(|(c, f)| one(c, day, dims(f))).collect()).await;
    let g2 = vec![
        one("e", day, dims("channel_type=web language=en user_id=u1")),
        m("e-2", "bot", "2026-06-01T12:00:05Z", json!({})),
        one("f", day, dims("channel_type=sms language=en user_id=u5")),
    ];
    app.ingest("g2", g2).await;
    let (other_team, other) = app.new_team("other").await;
    let x = json!({"messages": [one("x", day, dims("channel_type=web language=en"))]});
    assert_eq!(app.post(&other, "/v1/bots/g1/messages/batch", &x).await.0, StatusCode::OK);

    let range = "start_time=2026-06-01&end_time=2026-06-02";
    let bot = |b: &str, q: &str| format!("/v1/bots/{b}/analytics/conversations?{range}&{q}");
    for (q, want) in [
        ("", 4),
        ("channel_type=web,sms", 3),
        ("channel_type=web&channel_type=sms", 3),
        ("channel_type=web&language=en", 1), // different dimensions: all must match
        ("version=v1", 3),
        ("version=v1,v2&language=de", 1),
        ("campaign_id=spring", 2),
        ("campaign_source=fb", 1),
        ("channel_type=telegram", 0),
    ] {
        assert_eq!(vals(&app, k, &bot("g1", q)).await, json!([want]), "{q}");
    }
    // Largest first, ties by label; a label joins the values in group_by order.
    for (q, want) in [
        ("group_by=channel_type", "web=2; sms=1; whatsapp=1"),
        ("group_by=channel_type,language", "sms / en=1; web / en=1; web / pl=1; whatsapp / de=1"),
        (
            "group_by=language&group_by=channel_type",
            "de / whatsapp=1; en / sms=1; en / web=1; pl / web=1",
        ),
        ("campaign_id=spring&group_by=campaign_source", "ads=1; fb=1"),
        ("language=en&group_by=version", "v1=2"),
        ("group_by=campaign_id", "=2; spring=2"), // b, c have none: labelled ""
    ] {
        assert_eq!(grouped(&app, k, &bot("g1", q)).await, want, "{q}");
    }
    let d = data(&app, k, &bot("g1", "group_by=channel_type,language")).await;
    assert_eq!(d["series"][0]["labels"], json!({"channel_type": "sms", "language": "en"}));
    // Users {u1, u2}, {u1}, {}.
    let users = format!("/v1/bots/g1/analytics/users?{range}&group_by=channel_type");
    assert_eq!(grouped(&app, k, &users).await, "web=2; sms=1; whatsapp=0");

    let me = app.team_id;
    let usage = |team: i64, q: &str| format!("/v1/teams/{team}/analytics/usage?{range}&{q}");
    // g1: a b c d; g2: e f. Messages g1 4, g2 3. Users g1 {u1, u2}, g2 {u1, u5}, all {u1, u2, u5}.
    for (q, want) in [
        ("", "num_conversations=6"),
        ("group_by=bot_id", "g1=4; g2=2"),
        (
            "group_by=bot_id,channel_type",
            "g1 / web=2; g1 / sms=1; g1 / whatsapp=1; g2 / sms=1; g2 / web=1",
        ),
        (
            "group_by=channel_type&group_by=bot_id&language=en",
            "sms / g1=1; sms / g2=1; web / g1=1; web / g2=1",
        ),
        ("bot_id=g2", "num_conversations=2"),
        ("bot_id=g1,g2", "num_conversations=6"),
        ("bot_id=g1&bot_id=g2", "num_conversations=6"),
        ("bot_id=nope", "num_conversations=0"),
        ("stat=num_messages&group_by=bot_id", "g1=4; g2=3"),
        ("stat=unique_users", "unique_users=3"),
        ("stat=unique_users&group_by=bot_id", "g1=2; g2=2"),
        ("stat=handoffs&group_by=bot_id", "g1=0; g2=0"),
    ] {
        assert_eq!(grouped(&app, k, &usage(me, q)).await, want, "usage {q}");
    }
    let d = data(&app, k, &usage(me, "group_by=bot_id,channel_type,language")).await;
    let labels = json!({"bot_id": "g1", "channel_type": "sms", "language": "en"});
    assert_eq!(d["series"][0]["labels"], labels);
    assert_eq!(d["series"].as_array().unwrap().len(), 6, "a to f all differ");

    // A key limited to g2 sees g2 only, whatever it asks for.
    let limited = app.key(me, &["read"], Some(vec!["g2"])).await;
    for (q, want) in [
        ("", "num_conversations=2"),
        ("group_by=bot_id", "g2=2"),
        ("bot_id=g1", "num_conversations=0"),
        ("bot_id=g1,g2", "num_conversations=2"),
        ("stat=unique_users", "unique_users=2"),
    ] {
        assert_eq!(grouped(&app, &limited, &usage(me, q)).await, want, "limited: {q}");
    }
    assert_eq!(vals(&app, &limited, &bot("g2", "")).await, json!([2]));
    // Not found: another team's bots and ids, or a bot outside the key's list.
    assert_eq!(vals(&app, &other, &bot("g1", "")).await, json!([1]), "the other team's own g1");
    assert_eq!(grouped(&app, &other, &usage(other_team, "group_by=bot_id")).await, "g1=1");
    for (key, path) in [
        (&limited, bot("g1", "")),
        (&limited, format!("/v1/bots/g1/analytics/flows?{range}")),
        (&other, bot("g2", "")),
        (&other, usage(me, "")),
        (k, usage(other_team, "")),
        (k, format!("/v1/teams/abc/analytics/usage?{range}")),
    ] {
        let (status, body) = app.get(key, &path).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::NOT_FOUND, Some("not_found"))
        );
    }
}

/// Edges as `from>to` → count and nodes as id → (type, count).
type Graph = (BTreeMap<String, i64>, BTreeMap<String, (String, i64)>);

fn graph(d: &Value) -> Graph {
    let (mut edges, mut nodes) = Graph::default();
    for e in d["edges"].as_array().unwrap() {
        let key =
            format!("{}>{}", e["from"]["id"].as_str().unwrap(), e["to"]["id"].as_str().unwrap());
        edges.insert(key, e["count"].as_i64().unwrap());
    }
    for n in d["nodes"].as_array().unwrap() {
        let value = (n["type"].as_str().unwrap().to_owned(), n["count"].as_i64().unwrap());
        nodes.insert(n["id"].as_str().unwrap().to_owned(), value);
    }
    (edges, nodes)
}

/// Edges from `from>to=count` words.
fn edges(s: &str) -> BTreeMap<String, i64> {
    let words = s.split_whitespace().map(|w| w.split_once('=').unwrap());
    words.map(|(e, n)| (e.to_owned(), n.parse().unwrap())).collect()
}

#[tokio::test]
async fn flows_aggregate_and_per_conversation() {
    let app = spawn_app().await;
    let k = &app.admin_key;
    let now = now_millis();
    let ago = |s: i64| format_rfc3339(now - s * 1000);
    let step = |id: &str, kind: &str| json!({"step": {"id": id, "type": kind}});
    let (greet, ask, confirm) =
        (step("greet", "message"), step("ask_email", "question"), step("confirm", "message"));
    let (fallback, none) = (step("fallback", "fallback"), json!({}));
    let t1 = 3 * 3600;
    // f1 (3 h ago, web): greet → ask_email → confirm (twice, collapsed), then silence: a drop-off
    // at confirm. Its ask_email arrives last, so the path already stored is rewritten.
    let f1 = |n: i64, role: &str, s: i64, extra: &Value| {
        m(&format!("f1-{n}"), role, &ago(t1 - s), extra.clone())
    };
    let batch = vec![
        f1(1, "user", 0, &dims("channel_type=web")),
        f1(2, "bot", 1, &greet),
        f1(5, "user", 20, &none),
        f1(6, "bot", 21, &confirm),
        f1(7, "bot", 22, &confirm),
    ];
    app.ingest("flow", batch).await;
    app.ingest("flow", vec![f1(3, "user", 10, &none), f1(4, "bot", 11, &ask)]).await;
    // f6: greet 15 minutes ago (no client id) and nothing since: a drop-off at greet.
    let mut f6 = m("f6", "bot", &ago(900), greet.clone());
    f6.as_object_mut().unwrap().remove("id");
    let batch = vec![
        // f2 (2 h ago): greet → ask_email, a drop-off at ask_email.
        m("f2-1", "bot", &ago(7200), greet.clone()),
        m("f2-2", "user", &ago(7190), none.clone()),
        m("f2-3", "bot", &ago(7180), ask.clone()),
        // f3: greet → fallback → greet → confirm, the last a minute ago: still active.
        m(
            "f3-1",
            "bot",
            &ago(300),
            json!({"step": {"id": "greet", "type": "message"}, "user_id": "u3"}),
        ),
        m("f3-2", "user", &ago(280), none.clone()),
        m("f3-3", "bot", &ago(240), fallback),
        m("f3-4", "bot", &ago(180), greet.clone()),
        m("f3-5", "bot", &ago(60), confirm),
        f6,
        // f4: no steps at all; f5: started before the range.
        one("f4", &ago(3600), none),
        m("f5-1", "bot", &ago(2 * 86400), greet),
    ];
    app.ingest("flow", batch).await;
    // Millisecond bounds: both range edges are read exactly.
    let (fl, end) = ("/v1/bots/flow/analytics/flows", ago(-3600));
    let flows =
        |start: i64, more: &str| format!("{fl}?start_time={}&end_time={end}{more}", ago(start));
    let d = data(&app, k, &flows(86400, "")).await;
    assert_eq!(
        [&d["bot_id"], &d["start_time"], &d["end_time"]],
        [&json!("flow"), &json!(ago(86400)), &json!(end)]
    );
    let (got_edges, got_nodes) = graph(&d);
    let mut want = edges(concat!(
        "START>greet=4 ",                                        // f1, f2, f3, f6
        "greet>ask_email=2 ask_email>confirm=1 ",                // f1, f2 | f1
        "greet>fallback=1 fallback>greet=1 greet>confirm=1 ",    // f3
        "confirm>DROPOFF=1 ask_email>DROPOFF=1 greet>DROPOFF=1", // f1 (f3 is active), f2, f6
    ));
    assert_eq!(got_edges, want);
    let n = |id: &str, kind: &str, count: i64| (id.to_owned(), (kind.to_owned(), count));
    let nodes = BTreeMap::from([
        n("START", "start", 4),
        n("greet", "message", 5), // 4 from START, 1 from fallback
        n("ask_email", "question", 2),
        n("confirm", "message", 2),
        n("fallback", "fallback", 1),
        n("DROPOFF", "dropoff", 3),
    ]);
    assert_eq!(got_nodes, nodes);
    let first = d["edges"].as_array().unwrap().iter().find(|e| e["from"]["id"] == "START");
    let want_first = json!({"from": {"id": "START", "type": "start"},
                            "to": {"id": "greet", "type": "message"}, "count": 4});
    assert_eq!(first, Some(&want_first));
    let web = edges("START>greet=1 greet>ask_email=1 ask_email>confirm=1 confirm>DROPOFF=1");
    assert_eq!(graph(&data(&app, k, &flows(86400, "&channel_type=web")).await).0, web);
    // From just before f6: f6 and f3 only.
    let recent =
        edges("START>greet=2 greet>DROPOFF=1 greet>fallback=1 fallback>greet=1 greet>confirm=1");
    assert_eq!(graph(&data(&app, k, &flows(901, "")).await).0, recent);
    // Dates in Warsaw, read from day rows: f5 (two days ago) is in too, and drops off at greet.
    let date = |s: i64| ago(s)[..10].to_owned();
    let by_dates = format!(
        "{fl}?start_time={}&end_time={}&tz=Europe/Warsaw",
        date(2 * 86400),
        date(-2 * 86400)
    );
    want.insert("START>greet".into(), 5);
    want.insert("greet>DROPOFF".into(), 2);
    assert_eq!(graph(&data(&app, k, &by_dates).await).0, want);

    // Per conversation: each transition with its depth and the id and time of its message.
    let t = |id: &str, from: (&str, &str), to: (&str, &str), depth: u32, ts: String| {
        json!({"id": id, "from_step": {"id": from.0, "type": from.1},
               "to_step": {"id": to.0, "type": to.1}, "depth": depth, "timestamp": ts})
    };
    let (s, g, f) = (("START", "start"), ("greet", "message"), ("fallback", "fallback"));
    let (c, a) = (("confirm", "message"), ("ask_email", "question"));
    let f3 = json!([
        t("f3-1", s, g, 1, ago(300)),
        t("f3-3", g, f, 2, ago(240)), // f3-2 has no step
        t("f3-4", f, g, 3, ago(180)),
        t("f3-5", g, c, 4, ago(60)),
    ]);
    let (status, body) = app.get(k, "/v1/bots/flow/conversations/f3/flow").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let want =
        json!({"bot_id": "flow", "conversation_id": "f3", "user_id": "u3", "transitions": f3});
    assert_eq!(body, want);
    let f1 = json!([
        t("f1-2", s, g, 1, ago(t1 - 1)),
        t("f1-4", g, a, 2, ago(t1 - 11)),
        t("f1-6", a, c, 3, ago(t1 - 21)), // f1-7 stays in confirm
    ]);
    let path = |conv: &str, q: &str| format!("/v1/bots/flow/conversations/{conv}{q}");
    assert_eq!(app.get(k, &path("f1", "/flow")).await.1["transitions"], f1);
    assert_eq!(app.get(k, &path("f1", "")).await.1["flow"], f1, "in the transcript");
    let only = app.get(k, &path("f1", "/flow?message_id=f1-4")).await.1;
    assert_eq!(only["transitions"], json!([f1[1]]));
    for id in ["f1-7", "f1-3", "nope"] {
        let (status, body) = app.get(k, &path("f1", &format!("/flow?message_id={id}"))).await;
        assert_eq!((status, &body["transitions"]), (StatusCode::OK, &json!([])), "{id}: none");
    }
    // Without a client id a message is known by its numeric id.
    let (_, body) = app.get(k, &path("f6", "/flow")).await;
    let id = body["transitions"][0]["id"].as_str().unwrap().to_owned();
    assert!(!id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()), "{body}");
    let (_, by_id) = app.get(k, &path("f6", &format!("/flow?message_id={id}"))).await;
    assert_eq!(by_id["transitions"], body["transitions"]);
    let (_, body) = app.get(k, &path("f4", "/flow")).await;
    assert_eq!((&body["transitions"], &body["user_id"]), (&json!([]), &Value::Null));
    assert_eq!(app.get(k, &path("nope", "/flow")).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn bad_input_names_the_parameter() {
    let app = spawn_app().await;
    let k = &app.admin_key;
    app.ingest("b", vec![one("c", "2026-05-01T10:00:00Z", json!({}))]).await;
    let ok = "start_time=2026-05-01&end_time=2026-05-03";
    let a = |path: &str, q: &str| format!("/v1/bots/b/analytics/{path}?{q}");
    let conv = |q: &str| a("conversations", &format!("{ok}&{q}"));
    let usage = |q: &str| format!("/v1/teams/{}/analytics/usage?{ok}&{q}", app.team_id);
    let c = |q: &str| a("conversations", q);
    let ten_k_hours = "start_time=2025-01-01T00:00:00Z&end_time=2026-02-21T16:00:00Z&bucket=1h";
    let warsaw_day = "start_time=2026-03-28T23:00:00Z&end_time=2026-03-29T22:00:00Z";
    let cases = [
        (c(""), "start_time"),
        (c("end_time=2026-05-03"), "start_time"),
        (c("start_time=2026-05-01"), "end_time"),
        (c("start_time=2026-5-01&end_time=2026-05-03"), "start_time"),
        (c("start_time=2026-05-01&end_time=yesterday"), "end_time"),
        (c("start_time=2026-05-03&end_time=2026-05-03"), "end_time"),
        (c("start_time=2026-05-03&end_time=2026-05-01"), "end_time"),
        (conv("bucket=2d"), "bucket"),
        (conv("bucket=1w"), "bucket"), // two days
        (c("start_time=2026-05-01T00:00:00Z&end_time=2026-05-01T23:00:00Z"), "bucket"),
        (c(warsaw_day), "bucket"), // 23 hours: a whole day in Warsaw (below), not in UTC
        (c("start_time=2026-01-15&end_time=2026-02-14&bucket=1m"), "bucket"),
        // 10,000 hours from 2025-01-01 end at 2026-02-21T16:00Z; one more is too many.
        (c(&ten_k_hours.replace("T16:", "T17:")), "bucket"),
        (c("start_time=2020-01-01&end_time=2026-01-01&bucket=1h"), "bucket"),
        (conv("tz=Mars/Olympus"), "tz"),
        (conv("stat=num_messages"), "stat"),
        (conv("colour=red"), "colour"),
        (conv("bot_id=b"), "bot_id"),
        (conv("group_by=user_id"), "group_by"),
        (conv("group_by=bot_id"), "group_by"),
        (conv("group_by=role"), "group_by"),
        (conv("group_by=language,language"), "group_by"),
        (conv("group_by="), "group_by"),
        (conv("role=user"), "role"),
        (conv("channel_type="), "channel_type"),
        (conv("agg=sum"), "agg"),
        (a("messages", &format!("{ok}&role=robot")), "role"),
        (a("users", &format!("{ok}&group_by=role")), "group_by"),
        (a("insights", ok), "stat"),
        (a("insights", &format!("{ok}&stat=bogus")), "stat"),
        (a("insights", &format!("{ok}&stat=duration_seconds&agg=median")), "agg"),
        (a("insights", &format!("{ok}&stat=handoffs&agg=max")), "agg"),
        (a("flows", "end_time=2026-05-03"), "start_time"),
        (a("flows", &format!("{ok}&bucket=1d")), "bucket"),
        (a("flows", &format!("{ok}&tz=Nowhere")), "tz"),
        (a("flows", &format!("{ok}&group_by=language")), "group_by"),
        (a("flows", "start_time=2026-05-03&end_time=2026-05-01"), "end_time"),
        (usage("stat=bogus"), "stat"),
        (usage("group_by=role"), "group_by"),
        (usage("bot_id="), "bot_id"),
        (usage("bucket=1h&end_time=2026-05-01T00:30:00Z"), "bucket"), // the last end_time wins
        ("/v1/bots/b/conversations/c/flow?colour=red".into(), "colour"),
        ("/v1/bots/b/conversations/c/flow?message_id=".into(), "message_id"),
    ];
    for (path, field) in &cases {
        let (status, body) = app.get(k, path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert_eq!(body["error"]["code"], "invalid_request", "{path}");
        assert_eq!(body["error"]["field"], *field, "{path}");
    }
    // At the limits: exactly 10,000 hours; the 23-hour day in Warsaw.
    assert_eq!(xs(&data(&app, k, &c(ten_k_hours)).await).len(), 10_000);
    let d = data(&app, k, &c(&format!("{warsaw_day}&tz=Europe/Warsaw"))).await;
    assert_eq!(xs(&d), ["2026-03-29T00:00:00+01:00"]);

    // 401 without a key or with a wrong one; 403 for a key without `read`; 404 for no such bot.
    let ingest_only = app.key(app.team_id, &["ingest"], None).await;
    let paths = [
        a("conversations", ok),
        a("messages", ok),
        a("users", ok),
        a("insights", &format!("{ok}&stat=handoffs")),
        a("flows", ok),
        usage(""),
        "/v1/bots/b/conversations/c/flow".into(),
    ];
    for path in &paths {
        let resp = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(app.get("cfb_wrong", path).await.0, StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(app.get(&ingest_only, path).await.0, StatusCode::FORBIDDEN, "{path}");
        assert_eq!(app.get(k, path).await.0, StatusCode::OK, "{path}");
    }
    let nobot = format!("/v1/bots/nobot/analytics/conversations?{ok}");
    assert_eq!(app.get(k, &nobot).await.0, StatusCode::NOT_FOUND);
}
