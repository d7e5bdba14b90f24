#!/usr/bin/env bash
# Quick start: install into .venv and run the bundled sample through every shipped detector.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/bootstrap.sh
exec .venv/bin/flowcep demo "$@"
