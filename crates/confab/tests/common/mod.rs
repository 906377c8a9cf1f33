//! The real binary as the end-to-end tests start it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// Runs `confab ARGS` to the end: whether it succeeded, its stdout and its stderr.
pub fn confab(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_confab"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("the confab binary runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A running `confab serve`; killed when dropped, so a failing test leaves no server behind.
pub struct Server {
    pub child: Child,
    pub base: String,
    /// The admin key printed on first start, if this start printed one.
    pub first_key: Option<String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `confab serve` on a free loopback port with this database (a SQLite path or a
/// PostgreSQL URL) and waits until it listens. Private targets are allowed: the tests'
/// webhook receivers are on loopback.
pub fn start(database_url: &str) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_confab"))
        .args(["serve", "--listen", "127.0.0.1:0", "--database-url", database_url])
        .arg("--allow-private-targets")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the confab binary starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut first_key = None;
    let base = loop {
        let line = lines.next().expect("confab printed its address").unwrap();
        if let Some(key) = line.trim().strip_prefix("cfb_") {
            first_key = Some(format!("cfb_{key}"));
        }
        if let Some(addr) = line.strip_prefix("Confab is listening on ") {
            break addr.trim().to_owned();
        }
    };
    // Keep draining stdout so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Server { child, base, first_key }
}
