#!/usr/bin/env bash
# Sets up a Python virtualenv under target/ with pinned packages: `python-venv.sh NAME PACKAGE
# VERSION [PACKAGE VERSION ...]` makes target/NAME with each PACKAGE==VERSION. Idempotent and
# quick once set up (no pip call then). Progress goes to stderr; the last line on stdout is the
# venv's python, so callers can do `PY=$(scripts/python-venv.sh bench-venv duckdb 2.0.0 | tail -n1)`.
set -euo pipefail

[ $# -ge 3 ] && [ $(( $# % 2 )) -eq 1 ] \
    || { echo "usage: $0 NAME PACKAGE VERSION [PACKAGE VERSION ...]" >&2; exit 2; }
name=$1
shift
pins=()
while [ $# -gt 0 ]; do
    pins+=("$1==$2")
    shift 2
done

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv="$root/target/$name"
py="$venv/bin/python"

log() { echo "python-venv ($name): $*" >&2; }

# Already set up: the venv's python runs and has every pinned package (read from their metadata,
# which is quicker than importing them).
installed() {
    [ -x "$py" ] || return 1
    local pin
    for pin in "${pins[@]}"; do
        [ "$("$py" -c "import importlib.metadata as m; print(m.version('${pin%%==*}'))" \
            2>/dev/null)" = "${pin##*==}" ] || return 1
    done
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

log "installing ${pins[*]}"
"$py" -m pip install --quiet --disable-pip-version-check "${pins[@]}" >&2

if ! installed; then
    log "${pins[*]} are not all installed in $venv after installing them"
    exit 1
fi
echo "$py"
