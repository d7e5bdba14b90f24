#!/usr/bin/env bash
# The whole test suite: install into .venv (with test extras), the Debian tools the
# cross-checks use, then lint, type-check and run every test. .ci/run calls exactly this.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/bootstrap.sh "[test]"

# Independent implementations the tests compare against (tshark's dissectors, nfdump,
# softflowd, pmacct), and the tools the Vagrant checks use. Installed when we are root; otherwise
# the tests that need them skip (and fail under CI, where they must run).
TOOLS=(tshark:tshark nfdump:nfdump softflowd:softflowd pmacctd:pmacct tcpdump:tcpdump shellcheck:shellcheck
       vagrant:vagrant systemd-analyze:systemd openssl:openssl chromium:chromium)
missing=()
for pair in "${TOOLS[@]}"; do
    cmd=${pair%%:*}; pkg=${pair##*:}
    command -v "$cmd" >/dev/null 2>&1 || PATH="$PATH:/usr/sbin:/sbin" command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "flowcep tests: installing ${missing[*]}" >&2
        apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    else
        echo "flowcep tests: missing ${missing[*]}; tests needing them will skip (sudo apt-get install ${missing[*]})" >&2
    fi
fi
export PATH="$PATH:/usr/sbin:/sbin"

echo "== ruff"
# ruff's worker threads overflowed their default stack now and then on this tree (an abort,
# not a lint finding); a larger minimum stack for Rust threads keeps the check deterministic
RUST_MIN_STACK=33554432 .venv/bin/ruff check flowcep_plugin plugins tests benchmarks
echo "== mypy"
.venv/bin/mypy
echo "== detection quality (flowcep evaluate: every shipped detector on the labelled scenarios)"
.venv/bin/flowcep evaluate
echo "== pytest"
exec .venv/bin/python -m pytest "$@"
