//! Confab's load generator and benchmarks. [`generate`] makes deterministic, realistic
//! conversations at any size (also behind `confab generate`); the `confab-bench` binary runs the
//! scenarios against a real server and the baselines on the same rows.

pub mod extraction;
pub mod generate;
pub mod progress;
