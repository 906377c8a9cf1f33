//! The real binary, killed with SIGKILL right after its last acknowledgement, loses nothing it
//! acknowledged; stopped with SIGTERM, it finishes cleanly. Also checks the first-start key.

mod common;

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use common::start;
use serde_json::{Value, json};

async fn get(client: &reqwest::Client, key: &str, url: &str) -> (u16, Value) {
    let r = client.get(url).bearer_auth(key).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn sigkill_after_acknowledgement_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("confab.db");
    let mut server = start(db.to_str().unwrap());
    let key = Arc::new(server.first_key.clone().expect("first start prints an admin key"));
    let base = Arc::new(server.base.clone());
    let client = reqwest::Client::new();

    // 8 clients send single messages; 2 send batches; every 2xx is recorded.
    let mut tasks = vec![];
    for c in 0..10 {
        let (client, key, base) = (client.clone(), key.clone(), base.clone());
        tasks.push(tokio::spawn(async move {
            let mut acked: Vec<(String, String)> = vec![];
            for i in 0..60 {
                let conv = format!("conv-{c}");
                if c < 8 {
                    let body = json!({"conversation_id": conv, "id": format!("{c}-{i}"), "role": "user", "content": format!("durable {c} {i}")});
                    let r = client.post(format!("{base}/v1/bots/crash/messages")).bearer_auth(&*key).json(&body).send().await.unwrap();
                    assert!(r.status().is_success());
                    acked.push((conv, format!("{c}-{i}")));
                } else {
                    let msgs: Vec<Value> = (0..20)
                        .map(|j| json!({"conversation_id": conv, "id": format!("{c}-{i}-{j}"), "role": "bot", "content": "batch"}))
                        .collect();
                    let r = client
                        .post(format!("{base}/v1/bots/crash/messages/batch"))
                        .bearer_auth(&*key)
                        .json(&json!({ "messages": msgs }))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(r.status().as_u16(), 200);
                    acked.extend((0..20).map(|j| (conv.clone(), format!("{c}-{i}-{j}"))));
                }
            }
            acked
        }));
    }
    let mut acked = vec![];
    for t in tasks {
        acked.extend(t.await.unwrap());
    }
    // SIGKILL right after the last acknowledgement: no chance to flush anything.
    server.child.kill().unwrap();
    server.child.wait().unwrap();

    let mut server = start(db.to_str().unwrap());
    assert!(server.first_key.is_none(), "the admin key is printed only on the first start");
    let base = server.base.clone();
    let mut by_conv: std::collections::HashMap<String, Vec<String>> = Default::default();
    for (conv, id) in &acked {
        by_conv.entry(conv.clone()).or_default().push(id.clone());
    }
    for (conv, ids) in by_conv {
        let (status, body) =
            get(&client, &key, &format!("{base}/v1/bots/crash/conversations/{conv}")).await;
        assert_eq!(status, 200, "{body}");
        let stored: std::collections::HashSet<&str> = body["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap())
            .collect();
        for id in &ids {
            assert!(stored.contains(id.as_str()), "acknowledged message {id} of {conv} was lost");
        }
        assert_eq!(stored.len(), ids.len());
        assert_eq!(body["message_count"], ids.len());
    }
    assert_eq!(acked.len(), 8 * 60 + 2 * 60 * 20);
    server.child.kill().unwrap();
    server.child.wait().unwrap();
}

#[tokio::test]
async fn sigterm_stops_cleanly_and_keeps_data() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("confab.db");
    let mut server = start(db.to_str().unwrap());
    let key = server.first_key.clone().unwrap();
    let client = reqwest::Client::new();
    let r = client
        .post(format!("{}/v1/bots/b/messages", server.base))
        .bearer_auth(&key)
        .json(&json!({"conversation_id": "c", "role": "user", "content": "before stop"}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let (status, _) = get(&client, &key, &format!("{}/readyz", server.base)).await;
    assert_eq!(status, 200);
    let pid = server.child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let mut waited = Duration::ZERO;
    let status = loop {
        if let Some(s) = server.child.try_wait().unwrap() {
            break s;
        }
        assert!(waited < Duration::from_secs(20), "confab did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
        waited += Duration::from_millis(50);
    };
    assert!(status.success(), "exit status {status}");
    let mut server = start(db.to_str().unwrap());
    let (status, body) =
        get(&client, &key, &format!("{}/v1/bots/b/conversations/c", server.base)).await;
    assert_eq!(status, 200);
    assert_eq!(body["messages"][0]["content"], "before stop");
    server.child.kill().unwrap();
    server.child.wait().unwrap();
}
