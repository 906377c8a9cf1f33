//! Configuration as a user meets it: the real binary, a real file, the environment and flags;
//! `confab config` says what is in effect. And the settings that shape a running server: a
//! listener of its own for `/metrics`, JSON logs carrying the request id.

use std::io::Write;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Runs `confab ARGS` with these environment variables (and no inherited CONFAB_* or RUST_LOG).
fn confab(args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_confab"));
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("CONFAB_") || k == "RUST_LOG") {
        cmd.env_remove(k);
    }
    let out = cmd.args(args).envs(env.iter().copied()).output().expect("the confab binary runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn write_file(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::File::create(&path).unwrap().write_all(text.as_bytes()).unwrap();
    path.to_str().unwrap().to_owned()
}

/// The line of `confab config`'s output for `key` (`pool_size = 8  # env`).
fn line<'a>(out: &'a str, key: &str) -> &'a str {
    out.lines()
        .find(|l| l.starts_with(&format!("{key} = ")) || l.starts_with(&format!("# {key} is")))
        .unwrap_or_else(|| panic!("{key} not in:\n{out}"))
}

#[test]
fn file_then_environment_then_flags() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(
        dir.path(),
        "confab.toml",
        "[database]\npool_size = 4\nstatement_timeout_seconds = 11\nconnect_timeout_seconds = 7\n\
         [server]\nlisten = \"127.0.0.1:9001\"\ncreate_bots = false\n[log]\nlevel = \"warn\"\n",
    );
    let env = [("CONFAB_DB_POOL_SIZE", "8"), ("CONFAB_DB_STATEMENT_TIMEOUT_SECONDS", "12")];
    let args = [
        "config",
        "--config",
        &file,
        "--db-statement-timeout-seconds",
        "13",
        "--log-level",
        "debug",
    ];
    let (ok, out, err) = confab(&args, &env);
    assert!(ok, "{err}");
    assert_eq!(line(&out, "pool_size"), "pool_size = 8  # env", "env beats the file");
    assert_eq!(
        line(&out, "statement_timeout_seconds"),
        "statement_timeout_seconds = 13  # flag",
        "a flag beats env and file"
    );
    assert_eq!(line(&out, "connect_timeout_seconds"), "connect_timeout_seconds = 7  # file");
    assert_eq!(line(&out, "listen"), "listen = \"127.0.0.1:9001\"  # file");
    assert_eq!(line(&out, "create_bots"), "create_bots = false  # file");
    assert_eq!(line(&out, "timeout_seconds"), "timeout_seconds = 20  # default");
    assert_eq!(line(&out, "url"), "url = \"./confab.db\"  # default");
    assert_eq!(line(&out, "level"), "level = \"debug\"  # flag", "a global flag after the command");

    // The file may also be named by CONFAB_CONFIG.
    let (ok, out, _) = confab(&["config"], &[("CONFAB_CONFIG", &file)]);
    assert!(ok);
    assert_eq!(line(&out, "pool_size"), "pool_size = 4  # file");
}

/// The hardening settings (issue 19) layer like the others; a rate that does not parse is named
/// with its layer.
#[test]
fn private_targets_and_rate_limits_from_every_layer() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(
        dir.path(),
        "confab.toml",
        "[server]
allow_private_targets = true
rate_limit_writes = \"10/s\"
         rate_limit_reads = \"600/min\"
",
    );
    let (ok, out, err) = confab(&["config"], &[]);
    assert!(ok, "{err}");
    assert_eq!(line(&out, "allow_private_targets"), "allow_private_targets = false  # default");
    assert_eq!(line(&out, "rate_limit_writes"), "# rate_limit_writes is unset  # default");
    let env = [("CONFAB_RATE_LIMIT_READS", "50/s,burst=100")];
    let args = ["config", "--config", &file, "--rate-limit-writes", "5/s,burst=20"];
    let (ok, out, err) = confab(&args, &env);
    assert!(ok, "{err}");
    assert_eq!(line(&out, "allow_private_targets"), "allow_private_targets = true  # file");
    assert_eq!(line(&out, "rate_limit_writes"), "rate_limit_writes = \"5/s,burst=20\"  # flag");
    assert_eq!(line(&out, "rate_limit_reads"), "rate_limit_reads = \"50/s,burst=100\"  # env");
    let (ok, _, err) = confab(&["config", "--config", &file], &[]);
    assert!(ok, "{err}");
    let bad = write_file(dir.path(), "bad.toml", "[server]\nrate_limit_reads = \"fast\"\n");
    let (ok, _, err) = confab(&["config", "--config", &bad], &[]);
    assert!(!ok && err.contains("server.rate_limit_reads"), "{err}");
    let (ok, _, err) = confab(&["config"], &[("CONFAB_RATE_LIMIT_WRITES", "10/x")]);
    assert!(!ok && err.contains("CONFAB_RATE_LIMIT_WRITES"), "{err}");
}

/// A setting that needs another is checked once every layer is in, so the two may come from
/// different layers.
#[test]
fn the_llm_endpoint_and_its_model_from_different_layers() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(dir.path(), "confab.toml", "[llm]\nmodel = \"m\"\n");
    let env = [("CONFAB_LLM_ENDPOINT", "http://127.0.0.1:1/v1")];
    let (ok, out, err) = confab(&["config", "--config", &file], &env);
    assert!(ok, "{err}");
    assert_eq!(line(&out, "endpoint"), "endpoint = \"http://127.0.0.1:1/v1\"  # env");
    assert_eq!(line(&out, "model"), "model = \"m\"  # file");
    let (ok, _, err) = confab(&["config", "--llm-endpoint", "http://127.0.0.1:1/v1"], &[]);
    assert!(!ok && err.contains("llm.model"), "{err}");
    let (ok, _, err) = confab(&["config", "--config", &file], &[]);
    assert!(ok, "a model alone leaves the LLM pass off: {err}");
}

#[test]
fn unknown_keys_and_bad_values_are_errors_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("[server]\nlistn = \"127.0.0.1:1\"\n", "unknown field `listn`"),
        ("[sever]\nlisten = \"127.0.0.1:1\"\n", "unknown field `sever`"),
        ("[server]\nlisten = \"nowhere\"\n", "server.listen"),
        ("[database]\npool_size = \"many\"\n", "pool_size"),
        ("[database]\nsslmode = \"sometimes\"\n", "database.sslmode"),
        ("[server]\nsession_secret = \"short\"\n", "server.session_secret"),
        ("[log]\nformat = \"xml\"\n", "log.format"),
        ("[log]\nlevel = \"a=b=c\"\n", "log.level"),
        ("[llm]\nendpoint = \"http://127.0.0.1:1/v1\"\n", "llm.model"),
    ];
    for (i, (text, named)) in cases.iter().enumerate() {
        let file = write_file(dir.path(), &format!("bad{i}.toml"), text);
        let (ok, _, err) = confab(&["config", "--config", &file], &[]);
        assert!(!ok, "{text} was accepted");
        assert!(err.contains(named), "{text}: the error does not name {named}: {err}");
    }
    let (ok, _, err) = confab(&["config", "--config", "/nonexistent/confab.toml"], &[]);
    assert!(!ok && err.contains("/nonexistent/confab.toml"), "{err}");
}

/// Clap names the flag when a value is refused; a value from the environment names its variable.
#[test]
fn a_bad_environment_value_names_its_variable() {
    let cases = [
        ("CONFAB_DB_POOL_SIZE", "many"),
        ("CONFAB_LISTEN", "nowhere"),
        ("CONFAB_LOG_FORMAT", "xml"),
        ("CONFAB_NO_CREATE_BOTS", "maybe"),
    ];
    for (var, value) in cases {
        let (ok, _, err) = confab(&["config"], &[(var, value)]);
        assert!(!ok, "{var}={value} was accepted");
        assert!(err.contains(&format!("the environment variable {var}")), "{err}");
    }
    // A flag's own bad value still names the flag.
    let (ok, _, err) = confab(&["config"], &[("CONFAB_LOG", "a=b=c")]);
    assert!(!ok && err.contains("CONFAB_LOG"), "{err}");
    let (ok, _, err) = confab(&["config", "--db-pool-size", "lots"], &[]);
    assert!(!ok && err.contains("--db-pool-size") && !err.contains("environment"), "{err}");
    // A refused secret is not repeated.
    let (ok, _, err) = confab(&["config"], &[("CONFAB_SESSION_SECRET", "my-shortish-secret")]);
    assert!(!ok && err.contains("CONFAB_SESSION_SECRET"), "{err}");
    assert!(!err.contains("my-shortish-secret"), "{err}");
}

#[test]
fn secrets_are_never_printed() {
    let dir = tempfile::tempdir().unwrap();
    let secret = "a-session-secret-of-at-least-32-characters";
    let file = write_file(
        dir.path(),
        "confab.toml",
        &format!(
            "[database]\nurl = \"postgres://confab:hunter2@db:5432/confab\"\n\
             [server]\nsession_secret = \"{secret}\"\n\
             [llm]\nendpoint = \"http://127.0.0.1:1/v1\"\nmodel = \"m\"\n"
        ),
    );
    let (ok, out, err) =
        confab(&["config", "--config", &file], &[("CONFAB_LLM_API_KEY", "sk-top-secret")]);
    assert!(ok, "{err}");
    for hidden in ["hunter2", secret, "sk-top-secret"] {
        assert!(!out.contains(hidden) && !err.contains(hidden), "{hidden} printed:\n{out}");
    }
    assert_eq!(line(&out, "url"), "url = \"postgres://confab:<redacted>@db:5432/confab\"  # file");
    assert_eq!(line(&out, "session_secret"), "session_secret = \"<redacted>\"  # file");
    assert_eq!(line(&out, "api_key"), "api_key = \"<redacted>\"  # env");
}

#[test]
fn the_example_file_is_accepted() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../../confab.example.toml");
    let (ok, out, err) = confab(&["config", "--config", example], &[]);
    assert!(ok, "{err}");
    assert_eq!(line(&out, "listen"), "listen = \"127.0.0.1:8080\"  # default");
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A server on a fresh database; stopped (SIGKILL) when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(dir: &Path, args: &[&str], log: &Path) -> Server {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_confab"));
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("CONFAB_") || k == "RUST_LOG") {
        cmd.env_remove(k);
    }
    let db = dir.join("confab.db");
    let child = cmd
        .arg("serve")
        .arg("--database-url")
        .arg(&db)
        .args(args)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    Server(child)
}

async fn wait_until_up(client: &reqwest::Client, url: &str) {
    let start = Instant::now();
    while client.get(url).send().await.is_err() {
        assert!(start.elapsed() < Duration::from_secs(30), "{url} never answered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn metrics_on_a_listener_of_their_own() {
    let dir = tempfile::tempdir().unwrap();
    let (main, metrics) =
        (format!("127.0.0.1:{}", free_port()), format!("127.0.0.1:{}", free_port()));
    let log = dir.path().join("server.log");
    let _server = serve(dir.path(), &["--listen", &main, "--metrics-listen", &metrics], &log);
    let client = reqwest::Client::new();
    wait_until_up(&client, &format!("http://{main}/healthz")).await;
    wait_until_up(&client, &format!("http://{metrics}/metrics")).await;

    let resp = client.get(format!("http://{metrics}/metrics")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    assert!(text.contains("confab_store_up"), "{text}");
    let resp = client.get(format!("http://{main}/metrics")).send().await.unwrap();
    assert_eq!(resp.status(), 404, "not on the main listener too");
    let doc: serde_json::Value = client
        .get(format!("http://{main}/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["paths"].get("/metrics").is_none(), "nor in its document");
}

#[tokio::test]
async fn json_logs_carry_the_request_id() {
    let dir = tempfile::tempdir().unwrap();
    let main = format!("127.0.0.1:{}", free_port());
    let log = dir.path().join("server.log");
    let file = write_file(dir.path(), "confab.toml", "[log]\nformat = \"json\"\n");
    let args = ["--listen", &main, "--config", &file, "--log-level", "confab_server=debug,info"];
    let server = serve(dir.path(), &args, &log);
    let client = reqwest::Client::new();
    wait_until_up(&client, &format!("http://{main}/healthz")).await;
    let resp = client
        .get(format!("http://{main}/v1/bots"))
        .header("x-request-id", "trace-me-42")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(resp.headers()["x-request-id"], "trace-me-42");
    drop(server);

    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let ours: Vec<&serde_json::Value> =
        lines.iter().filter(|l| l["span"]["request_id"] == "trace-me-42").collect();
    assert!(!ours.is_empty(), "no line of the request carries its id:\n{text}");
    assert!(ours.iter().all(|l| l["span"]["route"].is_string()), "{ours:?}");
}
