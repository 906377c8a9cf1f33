//! A real Confab server on a loopback port with a fresh SQLite file, for end-to-end tests.
#![allow(dead_code)]

use std::sync::Arc;

use confab_core::auth::{Scopes, generate_key, hash_key, key_hint};
use confab_server::{AppState, Config};
use confab_store::{NewKey, Store};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tokio::sync::oneshot;

pub mod dashboard;
pub mod lifecycle;

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub store: Arc<dyn Store>,
    pub team_id: i64,
    /// An `admin` key of team `team_id`.
    pub admin_key: String,
    pub dir: tempfile::TempDir,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

/// A server whose background jobs are off: tests run the finaliser and sender by hand, with
/// the clock they choose. Private targets are allowed: the tests' receivers are on loopback.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(Config {
        background_jobs: false,
        allow_private_targets: true,
        ..Config::default()
    })
    .await
}

pub async fn spawn_app_with(config: Config) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("confab.db");
    let store = confab_store::open(path.to_str().unwrap()).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = oneshot::channel::<()>();
    let state = AppState::new(store.clone(), config);
    let server = tokio::spawn(confab_server::serve(listener, state, async move {
        let _ = rx.await;
    }));
    let team = store.create_team("test").await.unwrap();
    let mut app = TestApp {
        base,
        client: reqwest::Client::new(),
        store,
        team_id: team.id,
        admin_key: String::new(),
        dir,
        shutdown: Some(tx),
        server: Some(server),
    };
    app.admin_key = app.key(team.id, &["admin"], None).await;
    app
}

impl TestApp {
    /// A new team and an admin key for it.
    pub async fn new_team(&self, name: &str) -> (i64, String) {
        let team = self.store.create_team(name).await.unwrap();
        (team.id, self.key(team.id, &["admin"], None).await)
    }

    /// A new key of `team_id` with these scopes, optionally limited to some bots.
    pub async fn key(&self, team_id: i64, scopes: &[&str], bots: Option<Vec<&str>>) -> String {
        let key = generate_key();
        self.store
            .create_key(NewKey {
                team_id,
                name: "test".into(),
                hash: hash_key(&key),
                hint: key_hint(&key),
                scopes: Scopes::parse("scopes", scopes.iter().copied()).unwrap(),
                bots: bots.map(|b| b.into_iter().map(str::to_owned).collect()),
            })
            .await
            .unwrap();
        key
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Sends a request with a Bearer key and an optional JSON body; returns status and JSON
    /// (`Value::Null` when the body is empty or not JSON).
    pub async fn call(
        &self,
        method: Method,
        key: &str,
        path: &str,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.client.request(method, self.url(path)).bearer_auth(key);
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn get(&self, key: &str, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, key, path, None).await
    }

    pub async fn post(&self, key: &str, path: &str, body: &Value) -> (StatusCode, Value) {
        self.call(Method::POST, key, path, Some(body)).await
    }

    pub async fn delete(&self, key: &str, path: &str) -> (StatusCode, Value) {
        self.call(Method::DELETE, key, path, None).await
    }

    /// Posts a batch with the admin key and asserts every message was stored.
    pub async fn ingest(&self, bot_id: &str, messages: Vec<Value>) {
        let (status, body) = self
            .post(
                &self.admin_key,
                &format!("/v1/bots/{bot_id}/messages/batch"),
                &serde_json::json!({ "messages": messages }),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    /// Everything a key can see: its bots, their conversations and transcripts. `status` is
    /// left out (a finaliser may end a conversation between two snapshots).
    pub async fn snapshot(&self, key: &str) -> Value {
        let (status, bots) = self.get(key, "/v1/bots").await;
        assert_eq!(status, StatusCode::OK, "{bots}");
        let mut out = serde_json::Map::new();
        out.insert("bots".into(), bots.clone());
        for bot in bots["data"].as_array().unwrap() {
            let bot_id = bot["bot_id"].as_str().unwrap();
            let (status, list) =
                self.get(key, &format!("/v1/bots/{bot_id}/conversations?limit=100")).await;
            assert_eq!(status, StatusCode::OK, "{list}");
            let mut convs = vec![];
            for c in list["data"].as_array().unwrap() {
                let id = c["id"].as_str().unwrap();
                let (status, mut conv) =
                    self.get(key, &format!("/v1/bots/{bot_id}/conversations/{id}")).await;
                assert_eq!(status, StatusCode::OK, "{conv}");
                conv.as_object_mut().unwrap().remove("status");
                convs.push(conv);
            }
            out.insert(bot_id.to_owned(), Value::Array(convs));
        }
        Value::Object(out)
    }

    /// Stops the server gracefully and waits for the store to flush.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.server.take() {
            h.await.unwrap().unwrap();
        }
    }
}
