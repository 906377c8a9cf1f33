#!/usr/bin/env bash
# Sets up the Python virtualenv the DuckDB baseline (scripts/bench_duckdb.py) runs in:
# target/bench-venv under the repository root, with the pinned `duckdb` package. Idempotent and
# quick once set up (no pip call then). Progress goes to stderr; the last line on stdout is the
# venv's python, so callers can do `PY=$(scripts/duckdb-venv.sh | tail -n1)`.
set -euo pipefail

DUCKDB_VERSION=2.0.0

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv="$root/target/bench-venv"
py="$venv/bin/python"

log() { echo "duckdb-venv: $*" >&2; }

# Already set up: the venv's python runs and has the pinned duckdb (read from its metadata, which
# is quicker than importing duckdb).
installed() {
    [ -x "$py" ] && [ "$("$py" -c 'import importlib.metadata as m; print(m.version("duckdb"))' \
        2>/dev/null)" = "$DUCKDB_VERSION" ]
}

if installed; then
    echo "$py"
    exit 0
fi

# A working venv needs the venv module and ensurepip (Debian ships the latter in python3-venv).
if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        log "python3 cannot make virtualenvs: installing python3-venv"
        apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >&2
    else
        log "python3 cannot make virtualenvs (no venv/ensurepip module): install python3-venv" \
            "(e.g. 'sudo apt-get install python3-venv') and run this again"
        exit 1
    fi
fi

# A venv left half-made (no pip) by an earlier failed run is made anew.
if [ -d "$venv" ] && ! "$py" -m pip --version >/dev/null 2>&1; then
    log "removing the incomplete virtualenv $venv"
    rm -rf "$venv"
fi
if [ ! -d "$venv" ]; then
    log "creating $venv"
    mkdir -p "$root/target"
    python3 -m venv "$venv" >&2
fi

log "installing duckdb==$DUCKDB_VERSION"
"$py" -m pip install --quiet --disable-pip-version-check "duckdb==$DUCKDB_VERSION" >&2

if ! installed; then
    log "duckdb==$DUCKDB_VERSION is not importable from $venv after installing it"
    exit 1
fi
echo "$py"
