//! Latency percentiles and throughput, as the results report them.

use std::time::Duration;

use serde::Serialize;

/// What one scenario measured.
#[derive(Debug, Clone, Serialize)]
pub struct Measured {
    /// Requests (or, for batch ingest, messages) per second over the whole run.
    pub throughput: f64,
    /// What `throughput` counts.
    pub unit: &'static str,
    pub count: u64,
    pub seconds: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Measured {
    /// From each request's latency, `count` units done in `elapsed`.
    pub fn of(
        mut latencies: Vec<Duration>,
        count: u64,
        elapsed: Duration,
        unit: &'static str,
    ) -> Self {
        latencies.sort_unstable();
        let at = |q: f64| -> f64 {
            if latencies.is_empty() {
                return 0.0;
            }
            let i = ((latencies.len() as f64 * q).ceil() as usize).clamp(1, latencies.len()) - 1;
            latencies[i].as_secs_f64() * 1e3
        };
        Measured {
            throughput: count as f64 / elapsed.as_secs_f64().max(1e-9),
            unit,
            count,
            seconds: elapsed.as_secs_f64(),
            p50_ms: at(0.50),
            p95_ms: at(0.95),
            p99_ms: at(0.99),
            max_ms: at(1.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let lat: Vec<Duration> = (1..=100).rev().map(Duration::from_millis).collect();
        let m = Measured::of(lat, 100, Duration::from_secs(2), "requests/s");
        assert_eq!((m.p50_ms, m.p95_ms, m.p99_ms, m.max_ms), (50.0, 95.0, 99.0, 100.0));
        assert_eq!(m.throughput, 50.0);
    }
}
