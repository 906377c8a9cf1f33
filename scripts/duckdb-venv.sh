#!/usr/bin/env bash
# The Python virtualenv the DuckDB baseline (scripts/bench_duckdb.py) runs in: target/bench-venv
# with the pinned `duckdb` package (see python-venv.sh). The last line on stdout is its python.
set -euo pipefail
exec bash "$(dirname "${BASH_SOURCE[0]}")/python-venv.sh" bench-venv duckdb 2.0.0
