#!/usr/bin/env bash
# The whole benchmark in one command:
#   bash scripts/bench.sh [--quick | --full] [--no-duckdb] [--postgres URL [--postgres-conversations N]]
# Builds the release binary, then generates the data, runs every scenario against a real server
# and the baselines (raw SQLite; DuckDB in a virtualenv it sets up under target/), prints the
# results and writes bench/results/<date>.json. Every option goes to `confab-bench all` as is;
# with --postgres URL it also runs the PostgreSQL column (one server, three servers, raw COPY) on
# that PostgreSQL server, in databases of its own (confab_bench, confab_bench_raw) that it
# creates and drops. See docs/performance.md.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p confab-bench
exec target/release/confab-bench all "$@"
