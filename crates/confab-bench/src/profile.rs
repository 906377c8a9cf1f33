//! `perf` on one thread of the server while a scenario runs, and what share of that thread's
//! samples fall under datapoint extraction, and where inside it. Optional (`--perf`): it needs
//! `perf` and leave to profile one's own processes (`kernel.perf_event_paranoid` ≤ 2).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

/// Samples per second; with 16 KiB of stack per sample (enough for the writer's deepest calls,
/// through SQLite or the regex engine) a quick run's recording stays well under 100 MB.
const FREQUENCY: &str = "499";
const STACK: &str = "dwarf,16384";
/// How many functions each list of the report names.
const TOP: usize = 12;

/// A `perf record` attached to one thread; [`Recording::stop`] ends it.
pub struct Recording {
    child: Child,
    file: PathBuf,
}

/// Starts recording thread `tid` (call graphs by DWARF unwinding: release builds keep no frame
/// pointers) into `file`.
pub fn record(tid: u32, file: &Path) -> Result<Recording> {
    let mut child = Command::new("perf")
        .args(["record", "-q", "-F", FREQUENCY, "--call-graph", STACK, "-t", &tid.to_string()])
        .arg("-o")
        .arg(file)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting perf record")?;
    // perf has no "attached" signal; it is well attached after this.
    std::thread::sleep(Duration::from_millis(500));
    if let Some(status) = child.try_wait()? {
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            std::io::Read::read_to_string(&mut e, &mut err).ok();
        }
        bail!("perf record stopped at once ({status}): {}", err.trim());
    }
    Ok(Recording { child, file: file.to_owned() })
}

impl Recording {
    /// Stops perf (SIGINT, as at a terminal, so that it writes its file) and waits for it.
    pub fn stop(mut self) -> Result<PathBuf> {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-INT", &pid]).status().context("signalling perf")?;
        self.child.wait()?;
        Ok(self.file)
    }
}

/// Reads a recording back: the share of samples under extraction, and the hottest functions.
pub fn analyse(file: &Path) -> Result<Value> {
    let out = Command::new("perf")
        .args(["script", "--no-inline", "-F", "comm,tid,ip,sym", "-i"])
        .arg(file)
        .stderr(Stdio::null())
        .output()
        .context("running perf script")?;
    if !out.status.success() {
        bail!("perf script failed: {}", out.status);
    }
    Ok(shares(&String::from_utf8_lossy(&out.stdout)))
}

/// The store's side of extraction on ingest: continuing the walk (`confab_store::extraction`),
/// with its SQL (reading and writing the walk's state and the values) in `on_ingest`.
fn is_ingest_extraction(frame: &str) -> bool {
    frame.contains("confab_store::extraction::") || frame.contains("datapoints::on_ingest")
}

fn is_core_extraction(frame: &str) -> bool {
    frame.contains("confab_core::extract::")
}

/// Confab's own functions, the ones a fix would change.
fn is_ours(frame: &str) -> bool {
    frame.contains("confab_core::") || frame.contains("confab_store::")
}

/// A symbol without Rust's legacy hash suffix (`::h0123456789abcdef`).
fn clean(sym: &str) -> &str {
    match sym.rsplit_once("::h") {
        Some((name, hash)) if hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => {
            name
        }
        _ => sym,
    }
}

/// `perf script -F comm,tid,ip,sym` output (a header line per sample, then its frames, leaf
/// first, each `address symbol`) → shares of all samples.
fn shares(text: &str) -> Value {
    let mut samples = 0usize;
    let (mut ingest, mut core) = (0usize, 0usize);
    let mut leaf: HashMap<String, usize> = HashMap::new();
    let mut innermost: HashMap<String, usize> = HashMap::new();
    let mut inclusive: HashMap<String, usize> = HashMap::new();
    let mut take = |frames: &[&str]| {
        if frames.is_empty() {
            return;
        }
        samples += 1;
        if !frames.iter().any(|f| is_ingest_extraction(f)) {
            return;
        }
        ingest += 1;
        core += usize::from(frames.iter().any(|f| is_core_extraction(f)));
        *leaf.entry(frames[0].to_owned()).or_default() += 1;
        if let Some(f) = frames.iter().find(|f| is_ours(f)) {
            *innermost.entry((*f).to_owned()).or_default() += 1;
        }
        let mut seen: Vec<&str> = frames.iter().copied().filter(|f| is_ours(f)).collect();
        seen.sort_unstable();
        seen.dedup();
        for f in seen {
            *inclusive.entry(f.to_owned()).or_default() += 1;
        }
    };
    let mut frames: Vec<&str> = vec![];
    for line in text.lines() {
        if line.trim().is_empty() {
            take(&frames);
            frames.clear();
        } else if line.starts_with(char::is_whitespace) {
            // `address symbol`, the symbol possibly with spaces (`<A as B>::f`).
            let sym = line.trim().split_once(' ').map_or("", |(_, sym)| sym.trim());
            frames.push(clean(sym));
        } else {
            take(&frames);
            frames.clear();
        }
    }
    take(&frames);
    let share = |n: usize| if samples == 0 { 0.0 } else { n as f64 / samples as f64 };
    let top = |counts: HashMap<String, usize>| -> Vec<Value> {
        let mut v: Vec<(String, usize)> = counts.into_iter().collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        v.into_iter().take(TOP).map(|(f, n)| json!({"function": f, "share": share(n)})).collect()
    };
    json!({
        "samples": samples,
        "extraction_share": share(ingest),
        "core_extract_share": share(core),
        "top_leaf": top(leaf),
        "top_innermost_confab": top(innermost),
        "top_inclusive_confab": top(inclusive),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_count_samples_under_extraction() {
        let text = "\
confab-sqlite-w 12
\t    1 regex_automata::meta::Regex::search::h0123456789abcdef
\t    2 confab_core::extract::candidates::find::h0123456789abcdef
\t    3 confab_core::extract::step::haaaaaaaaaaaaaaaa
\t    4 confab_store::sqlite::datapoints::on_ingest::hbbbbbbbbbbbbbbbb
\t    5 confab_store::sqlite::write::ingest::hcccccccccccccccc

confab-sqlite-w 12
\t    6 sqlite3VdbeExec
\t    7 confab_store::sqlite::datapoints::on_ingest::hbbbbbbbbbbbbbbbb

confab-sqlite-w 12
\t    8 sqlite3VdbeExec
\t    9 confab_store::sqlite::write::ingest::hcccccccccccccccc

confab-sqlite-w 12
\t   10 pwrite64
";
        let v = shares(text);
        assert_eq!(v["samples"], 4);
        assert_eq!(v["extraction_share"], 0.5);
        assert_eq!(v["core_extract_share"], 0.25);
        assert_eq!(
            v["top_innermost_confab"][0]["function"],
            "confab_core::extract::candidates::find"
        );
        assert_eq!(v["top_innermost_confab"][0]["share"], 0.25);
        assert_eq!(v["top_leaf"][0]["function"], "regex_automata::meta::Regex::search");
        let inclusive = v["top_inclusive_confab"].as_array().unwrap();
        let on_ingest = inclusive
            .iter()
            .find(|f| f["function"] == "confab_store::sqlite::datapoints::on_ingest")
            .unwrap();
        assert_eq!(on_ingest["share"], 0.5);
    }
}
