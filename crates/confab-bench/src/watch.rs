//! The server's background work through the run, as an operator's dashboard would see it: the
//! WAL's size, read from the file twice a second, and the finaliser's backlog, read from
//! `/metrics` every 5 seconds — as a scraper would; the backlog is a count over the idle
//! conversations, and at a million of them reading it twice a second took most of a core from
//! the server under test.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

#[derive(Debug, Clone, Copy)]
struct Sample {
    /// Seconds since the watch started.
    at: f64,
    wal_bytes: f64,
    backlog: f64,
}

pub struct Watch {
    started: Instant,
    samples: Arc<Mutex<Vec<Sample>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A gauge's value in Prometheus' text format.
fn gauge(text: &str, name: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

impl Watch {
    pub fn start(base: &str, wal: PathBuf) -> Watch {
        let started = Instant::now();
        let samples = Arc::new(Mutex::new(vec![]));
        let url = format!("{base}/metrics");
        let into = Arc::clone(&samples);
        let task = tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut tick = tokio::time::interval(Duration::from_millis(500));
            let mut backlog = f64::NAN;
            for n in 0u64.. {
                tick.tick().await;
                if n % 10 == 0 {
                    let text = match http.get(&url).send().await {
                        Ok(r) => r.text().await.unwrap_or_default(),
                        Err(_) => String::new(),
                    };
                    backlog = gauge(&text, "confab_finaliser_backlog").unwrap_or(backlog);
                }
                let sample = Sample {
                    at: started.elapsed().as_secs_f64(),
                    wal_bytes: std::fs::metadata(&wal).map_or(0.0, |m| m.len() as f64),
                    backlog,
                };
                into.lock().expect("samples").push(sample);
            }
        });
        Watch { started, samples, task }
    }

    /// Seconds since the watch started, to mark a moment of the run.
    pub fn now(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    fn samples(&self) -> Vec<Sample> {
        self.samples.lock().expect("samples").clone()
    }

    pub fn peak_wal_mib(&self) -> f64 {
        self.samples().iter().map(|s| s.wal_bytes).fold(0.0, f64::max) / 1_048_576.0
    }

    /// The backlog at the last sample before `at`.
    pub fn backlog_at(&self, at: f64) -> Option<f64> {
        self.samples().iter().rev().find(|s| s.at <= at).map(|s| s.backlog)
    }

    /// Seconds from `since` to the first sample after it with an empty backlog, waiting up to
    /// `limit` more for it; `None` if it did not empty by then.
    pub async fn drained_after(&self, since: f64, limit: Duration) -> Option<f64> {
        let deadline = Instant::now() + limit;
        loop {
            let first = self.samples().into_iter().find(|s| s.at >= since && s.backlog == 0.0);
            if let Some(s) = first {
                return Some(s.at - since);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// The samples, one per `every` seconds: `[seconds, WAL MiB, backlog]`.
    pub fn series(&self, every: f64) -> Value {
        let mut next = 0.0;
        let mut out = vec![];
        for s in self.samples() {
            if s.at >= next {
                let mib = (s.wal_bytes / 1_048_576.0 * 10.0).round() / 10.0;
                out.push(json!([s.at.round(), mib, s.backlog]));
                next = s.at + every;
            }
        }
        Value::Array(out)
    }
}

#[cfg(test)]
mod tests {
    use super::gauge;

    #[test]
    fn reads_a_gauge_by_its_exact_name() {
        let text =
            "# TYPE x gauge\nconfab_finaliser_backlog_total 9\nconfab_finaliser_backlog 42\n";
        assert_eq!(gauge(text, "confab_finaliser_backlog"), Some(42.0));
        assert_eq!(gauge(text, "confab_sqlite_wal_bytes"), None);
    }
}
