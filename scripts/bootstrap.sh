#!/usr/bin/env bash
# Create .venv (Python >= 3.11) and install FlowCEP with every shipped plugin into it.
# Sourced by demo.sh and test.sh; safe to run again (pip skips what is already there).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

VENV=${FLOWCEP_VENV:-.venv}
EXTRAS=${1:-}

pick_python() {
    for py in "${PYTHON:-}" python3.13 python3.12 python3.11 python3; do
        [ -n "$py" ] || continue
        if command -v "$py" >/dev/null 2>&1 &&
           "$py" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
            echo "$py"; return 0
        fi
    done
    echo "flowcep: Python >= 3.11 is needed (Debian: apt-get install python3 python3-venv)" >&2
    return 1
}

if [ ! -x "$VENV/bin/python" ]; then
    PY=$(pick_python)
    if ! "$PY" -m venv "$VENV" 2>/dev/null; then
        rm -rf "$VENV"
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
            echo "flowcep: installing python3-venv (Debian splits venv out of python3)" >&2
            apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
            "$PY" -m venv "$VENV"
        else
            echo "flowcep: '$PY -m venv' failed; on Debian run: sudo apt-get install python3-venv" >&2
            exit 1
        fi
    fi
fi

PIP=("$VENV/bin/python" -m pip --disable-pip-version-check -q)
"${PIP[@]}" install --upgrade pip >/dev/null 2>&1 || true
plugins=()
for d in plugins/*/; do
    [ -f "$d/pyproject.toml" ] && plugins+=(-e "$d")
done
"${PIP[@]}" install -e ".${EXTRAS}" "${plugins[@]}"
# Byte-compile the editable sources: where PYTHONDONTWRITEBYTECODE is set (CI images,
# containers) Python would otherwise compile every module from source on every start, about
# 0.1 s of `flowcep run --help` and more with the detectors and the engine loaded.
"$VENV/bin/python" -m compileall -q -j 0 flowcep_plugin plugins >/dev/null || true
