#!/usr/bin/env bash
# Quick start: install into .venv and run the bundled sample through every shipped detector.
# The install prints one line (its full log is shown only if it fails); then the demo prints
# the alerts as a table sorted by time and, last, where the alerts file is and how to search it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
LOG=${FLOWCEP_INSTALL_LOG:-.venv-install.log}
printf 'flowcep: installing into .venv (log: %s) ... ' "$LOG" >&2
if scripts/bootstrap.sh >"$LOG" 2>&1; then
    echo "done" >&2
else
    status=$?
    echo "failed (exit $status); the install log follows" >&2
    cat "$LOG" >&2
    exit "$status"
fi
exec .venv/bin/flowcep demo "$@"
