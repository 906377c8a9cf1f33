//! The server under test: this same binary re-run as `confab-bench serve`, a child process of
//! its own so that its memory is measured apart from the load generator's.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use confab_core::auth::{Scopes, generate_key, hash_key, key_hint};
use confab_server::{AppState, Config};
use confab_store::{NewKey, Store};

/// A running server; killed when dropped.
pub struct Server {
    child: Child,
    /// Run under a wrapper, in a process group of its own: the group is killed, as the wrapper
    /// may not pass the signal on to the server.
    wrapped: bool,
    pub base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.wrapped {
            let group = format!("-{}", self.child.id());
            let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Starts a server on `database_url` and waits until it listens.
    pub fn start(database_url: &str) -> Result<Server> {
        let exe = std::env::current_exe().context("finding the benchmark binary")?;
        // A profiler to run the server under, e.g. `CONFAB_BENCH_SERVER_WRAPPER="heaptrack -o
        // /tmp/server"` (docs/performance.md); its peak RSS is then the wrapper's.
        let wrapper = std::env::var("CONFAB_BENCH_SERVER_WRAPPER").unwrap_or_default();
        let mut command = match wrapper.split_whitespace().collect::<Vec<_>>().split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(exe).process_group(0);
                c
            }
            None => Command::new(exe),
        };
        let mut child = command
            .args(["serve", "--database-url", database_url])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting the server")?;
        let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
        let base = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(addr) = line.strip_prefix("listening on ") {
                        break addr.trim().to_owned();
                    }
                }
                _ => bail!("the server stopped before listening"),
            }
        };
        std::thread::spawn(move || for _ in lines {});
        Ok(Server { child, wrapped: !wrapper.trim().is_empty(), base })
    }

    /// The id of the server's thread named `name` (Linux truncates thread names to 15 bytes).
    pub fn thread(&self, name: &str) -> Option<u32> {
        let name = &name[..name.len().min(15)];
        std::fs::read_dir(format!("/proc/{}/task", self.child.id())).ok()?.flatten().find_map(|t| {
            let comm = std::fs::read_to_string(t.path().join("comm")).ok()?;
            (comm.trim_end() == name).then(|| t.file_name().to_str()?.parse().ok())?
        })
    }

    /// The server's peak resident memory so far, in MiB (Linux `VmHWM`).
    pub fn peak_rss_mib(&self) -> Option<f64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib / 1024.0)
    }
}

/// Creates a team and an admin key in the store at `database_url` before the server starts;
/// returns the key.
pub async fn prepare(database_url: &str) -> Result<String> {
    let store = confab_store::open(database_url).await.map_err(anyhow::Error::msg)?;
    let team = store.create_team("bench").await?;
    let key = generate_key();
    store
        .create_key(NewKey {
            team_id: team.id,
            name: "bench".into(),
            hash: hash_key(&key),
            hint: key_hint(&key),
            scopes: Scopes::parse("scopes", ["admin"]).map_err(|e| anyhow::anyhow!("{e}"))?,
            bots: None,
        })
        .await?;
    store.close().await;
    Ok(key)
}

/// The child's side: serves `database_url` on a free loopback port until killed. Background
/// jobs run, as in production.
pub async fn serve(database_url: &str) -> Result<()> {
    let store: Arc<dyn Store> =
        confab_store::open(database_url).await.map_err(anyhow::Error::msg)?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("listening on http://{}", listener.local_addr()?);
    let state = AppState::new(store, Config::default());
    confab_server::serve(listener, state, std::future::pending()).await?;
    Ok(())
}
