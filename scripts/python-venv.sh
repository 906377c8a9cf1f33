#!/usr/bin/env bash
# Sets up a Python virtualenv under target/ with one pinned package: `python-venv.sh NAME PACKAGE
# VERSION` makes target/NAME with PACKAGE==VERSION. Idempotent and quick once set up (no pip call
# then). Progress goes to stderr; the last line on stdout is the venv's python, so callers can do
# `PY=$(scripts/python-venv.sh bench-venv duckdb 2.0.0 | tail -n1)`.
set -euo pipefail

[ $# -eq 3 ] || { echo "usage: $0 NAME PACKAGE VERSION" >&2; exit 2; }
name=$1 package=$2 version=$3

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv="$root/target/$name"
py="$venv/bin/python"

log() { echo "python-venv ($name): $*" >&2; }

# Already set up: the venv's python runs and has the pinned package (read from its metadata,
# which is quicker than importing it).
installed() {
    [ -x "$py" ] && [ "$("$py" -c "import importlib.metadata as m; print(m.version('$package'))" \
        2>/dev/null)" = "$version" ]
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

log "installing $package==$version"
"$py" -m pip install --quiet --disable-pip-version-check "$package==$version" >&2

if ! installed; then
    log "$package==$version is not importable from $venv after installing it"
    exit 1
fi
echo "$py"
