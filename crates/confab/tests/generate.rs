//! `confab generate`: the same seeded data set into the database, over HTTP to a running
//! server, or as JSONL — the same conversations and messages whichever way it goes.

mod common;

use common::confab;

use serde_json::Value;

/// (conversations, messages) the summary line reports.
fn counts(stderr: &str) -> (u64, u64) {
    let line = stderr.lines().find(|l| l.starts_with("generated ")).expect("a summary line");
    let words: Vec<&str> = line.split_whitespace().collect();
    (words[1].parse().unwrap(), words[3].parse().unwrap())
}

#[tokio::test]
async fn the_same_data_whichever_way_it_goes() {
    let dir = tempfile::tempdir().unwrap();
    let jsonl = dir.path().join("data.jsonl");
    let (ok, _, err) =
        confab(&["generate", "--conversations", "300", "--jsonl", jsonl.to_str().unwrap()]);
    assert!(ok, "{err}");
    let (conversations, messages) = counts(&err);
    assert_eq!(conversations, 300);
    let lines: Vec<Value> = std::fs::read_to_string(&jsonl)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len() as u64, messages);
    let ids: std::collections::BTreeSet<&str> =
        lines.iter().map(|l| l["message"]["conversation_id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 300);
    // The same seed gives the same lines.
    let (_, again, _) = confab(&["generate", "--conversations", "300", "--jsonl", "-"]);
    let again: Vec<Value> = again.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(again == lines, "the same seed gives the same data set");

    // Into the database: every message stored, each bot with the datapoint schema.
    let db = dir.path().join("direct.db");
    let db = db.to_str().unwrap();
    let (ok, _, err) = confab(&["generate", "--conversations", "300", "--database-url", db]);
    assert!(ok, "{err}");
    let server = common::start(db);
    let key = server.first_key.clone().unwrap_or_default();
    let key = if key.is_empty() {
        let (_, out, _) =
            confab(&["keys", "create", "--team", "1", "--scopes", "admin", "--database-url", db]);
        out.lines().find(|l| l.trim().starts_with("cfb_")).unwrap().trim().to_owned()
    } else {
        key
    };
    let client = reqwest::Client::new();
    let bots: Vec<String> =
        lines.iter().map(|l| l["bot_id"].as_str().unwrap().to_owned()).collect();
    let bots: std::collections::BTreeSet<String> = bots.into_iter().collect();
    for bot in &bots {
        let r: Value = client
            .get(format!("{}/v1/bots/{bot}/datapoints/schema", server.base))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(r["datapoints"].as_array().is_some_and(|d| d.len() >= 4), "{r}");
    }
    assert_eq!(stored_messages(&client, &server.base, &key, &bots).await, messages);

    // Over HTTP to a running server: the same messages again are all duplicates.
    let (ok, _, err) =
        confab(&["generate", "--conversations", "300", "--url", &server.base, "--key", &key]);
    assert!(ok, "{err}");
    let again = stored_messages(&client, &server.base, &key, &bots).await;
    assert_eq!(again, messages, "posting the same data set stores nothing twice");
}

/// Messages stored for these bots, all time, as the analytics count them.
async fn stored_messages(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    bots: &std::collections::BTreeSet<String>,
) -> u64 {
    let mut total = 0;
    for bot in bots {
        let url = format!(
            "{base}/v1/bots/{bot}/analytics/messages?start_time=2000-01-01&end_time=2100-01-01&bucket=1m"
        );
        let r: Value = client.get(url).bearer_auth(key).send().await.unwrap().json().await.unwrap();
        total += r["data"]["series"][0]["sum"].as_u64().unwrap_or(0);
    }
    total
}
