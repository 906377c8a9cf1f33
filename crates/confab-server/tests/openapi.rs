//! The OpenAPI documents: every route the server has is described by one of them (the dashboard's
//! HTML pages aside), each document is OpenAPI 3.1 with what clients need, and every query
//! parameter a document lists is one its handler takes.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use confab_server::{AppState, Config};
use reqwest::StatusCode;
use serde_json::Value;

/// Each route of a router as `(path, methods)`, read from axum's `Debug` output (axum has no other
/// way to list routes): the path table maps route ids to paths, and each route's method router
/// says which methods it has.
fn routes_of(router: &axum::Router) -> BTreeMap<String, BTreeSet<String>> {
    let text = format!("{router:?}");
    let ids = regex::Regex::new(r#"RouteId\((\d+)\): "([^"]+)""#).unwrap();
    let endpoints =
        regex::Regex::new(r"RouteId\((\d+)\): MethodRouter\(MethodRouter \{ (.*?), fallback:")
            .unwrap();
    let method = regex::Regex::new(r"(\w+): (?:None|[A-Z]\w*(?:\([^)]*\))?)").unwrap();
    let mut methods_by_id: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for c in endpoints.captures_iter(&text) {
        let set = methods_by_id.entry(c[1].to_owned()).or_default();
        for m in method.captures_iter(&c[2]) {
            let whole = m.get(0).unwrap().as_str();
            if !whole.ends_with(": None") {
                set.insert(m[1].to_ascii_lowercase());
            }
        }
    }
    let mut routes = BTreeMap::new();
    for c in ids.captures_iter(&text) {
        let path = c[2].to_owned();
        if path.contains("__private__axum") {
            continue;
        }
        let methods = methods_by_id.get(&c[1]).cloned().unwrap_or_default();
        routes.insert(path, methods);
    }
    routes
}

/// A document, served without a key.
async fn get_json(app: &common::TestApp, path: &str) -> Value {
    let resp = app.client.get(app.url(path)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "{path}");
    let kind = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(kind.starts_with("application/json"), "{path}: {kind}");
    resp.json().await.unwrap()
}

async fn state() -> (AppState, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = confab_store::open(dir.path().join("c.db").to_str().unwrap()).await.unwrap();
    (AppState::new(store, Config { background_jobs: false, ..Config::default() }), dir)
}

#[tokio::test]
async fn every_route_is_in_a_document() {
    let app = common::spawn_app().await;
    let (state, _dir) = state().await;
    let routes = routes_of(&confab_server::app(state.clone()));
    let dashboard: BTreeSet<String> =
        routes_of(&confab_server::ui::router().with_state(state)).into_keys().collect();
    assert!(routes.len() > 30, "the router's routes were not read: {routes:?}");
    assert!(!dashboard.is_empty());

    // Every document, by the prefix its paths are served under.
    let mut documented: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut documents = vec![("".to_owned(), get_json(&app, "/openapi.json").await)];
    for vendor in ["botsheets", "botuj", "chatlayer", "chatzuri"] {
        let prefix = format!("/compat/{vendor}");
        documents.push((prefix.clone(), get_json(&app, &format!("{prefix}/openapi.json")).await));
    }
    for (prefix, doc) in &documents {
        // Generated clients name their methods after operation ids: each is given, and unique.
        let mut ids = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            let methods = item.as_object().unwrap().keys().cloned().collect();
            for op in item.as_object().unwrap().values() {
                let id = op["operationId"].as_str().unwrap_or_default();
                assert!(!id.is_empty() && ids.insert(id.to_owned()), "{prefix}{path}: `{id}`");
            }
            documented.insert(format!("{prefix}{path}"), methods);
        }
    }

    let mut missing = vec![];
    for (path, methods) in &routes {
        if dashboard.contains(path) {
            continue;
        }
        match documented.get(path) {
            None => missing.push(format!("{path} (every method)")),
            Some(doc) => {
                for m in methods.iter().filter(|m| *m != "head" && !doc.contains(*m)) {
                    missing.push(format!("{m} {path}"));
                }
            }
        }
    }
    assert!(missing.is_empty(), "routes no document describes: {missing:#?}");
    for path in documented.keys() {
        assert!(routes.contains_key(path), "documented but not routed: {path}");
    }
}

#[tokio::test]
async fn documents_are_openapi_3_1_with_auth_and_errors() {
    let app = common::spawn_app().await;
    let doc = get_json(&app, "/openapi.json").await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{}", doc["openapi"]);
    assert_eq!(doc["info"]["title"], "Confab");
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["basic"]["scheme"], "basic");

    let list = &doc["paths"]["/v1/bots/{bot_id}/conversations"]["get"];
    let names: Vec<&str> = list["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for name in ["bot_id", "status", "start_time", "q", "limit", "cursor"] {
        assert!(names.contains(&name), "{name} in {names:?}");
    }
    let limit = list["parameters"].as_array().unwrap().iter().find(|p| p["name"] == "limit");
    let limit = &limit.unwrap()["schema"];
    assert_eq!((&limit["minimum"], &limit["maximum"]), (&Value::from(1), &Value::from(100)));
    for status in ["200", "400", "401", "403", "404", "503"] {
        assert!(list["responses"][status].is_object(), "{status}: {}", list["responses"]);
    }
    assert_eq!(
        list["responses"]["400"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/ErrorBody"
    );
    let ingest = &doc["paths"]["/v1/bots/{bot_id}/messages"]["post"];
    assert_eq!(
        ingest["requestBody"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/MessageInput"
    );
    assert!(ingest["responses"]["413"].is_object());
    // A full disk refuses writes (507, with Retry-After); reads are not affected.
    assert!(ingest["responses"]["507"]["headers"]["Retry-After"].is_object(), "{ingest}");
    assert!(list["responses"]["507"].is_null());
    assert_eq!(doc["components"]["schemas"]["MessageInput"]["additionalProperties"], false);
    // What needs no key says so.
    assert_eq!(doc["paths"]["/healthz"]["get"]["security"], serde_json::json!([{}]));

    let chatlayer = get_json(&app, "/compat/chatlayer/openapi.json").await;
    assert_eq!(chatlayer["servers"][0]["url"], "/compat/chatlayer");
    // Sinch's own document types a serie's numbers as int32; so does ours.
    let serie = &chatlayer["components"]["schemas"]["Serie"]["properties"];
    for field in ["mean", "max", "min", "sum"] {
        assert_eq!(serie[field]["format"], "int32", "{field}: {}", serie[field]);
    }
    assert_eq!(serie["values"]["items"]["format"], "int32", "{}", serie["values"]);
}

/// The handlers parse their query strings themselves: each parameter a document lists must be
/// one they take (an unknown one is a 400 naming it), so the document cannot list a parameter
/// that does not exist.
#[tokio::test]
async fn every_documented_query_parameter_is_taken() {
    let app = common::spawn_app().await;
    let message = serde_json::json!({"conversation_id": "c1", "role": "user", "content": "hi"});
    app.ingest("shop", vec![message]).await;
    let doc = get_json(&app, "/openapi.json").await;
    for (path, item) in doc["paths"].as_object().unwrap() {
        let Some(get) = item.get("get") else { continue };
        let params = get["parameters"].as_array().cloned().unwrap_or_default();
        let concrete = path
            .replace("{bot_id}", "shop")
            .replace("{conversation_id}", "c1")
            .replace("{team_id}", &app.team_id.to_string())
            .replace("{webhook_id}", "1");
        for p in params.iter().filter(|p| p["in"] == "query") {
            let name = p["name"].as_str().unwrap();
            let url = format!("{concrete}?{name}=zzz-not-a-value");
            let (status, body) = app.get(&app.admin_key, &url).await;
            let field = body["error"]["field"].as_str().unwrap_or_default();
            let message = body["error"]["message"].as_str().unwrap_or_default();
            assert!(
                !(status == StatusCode::BAD_REQUEST
                    && message.contains("unknown")
                    && field == name
                    && message.contains("parameter")),
                "{path}: documented parameter {name} is unknown to its handler: {body}"
            );
        }
    }
}
