#!/usr/bin/env bash
# On the host: download or build every wheel the demo box installs (FlowCEP, its plugins, their
# dependencies, the build tools, and noida-db, the Elasticsearch stand-in of offline mode) into
# a folder of the synced tree, so provisioning needs no network inside the box.
#
# Usage: fetch-wheels.sh [--source DIR] [--out DIR] [--python PYTHON] [--es-major N]
#
#   --source DIR   the FlowCEP checkout (default: the parent of this script's folder)
#   --out DIR      where the wheels go (default: DIR/vagrant/wheels, which vagrant/provision.sh
#                  uses when it holds wheels)
#   --python PY    interpreter whose pip downloads them (default python3). It must match the
#                  box's CPython 3.11 on x86_64: binary wheels are chosen for it.
#   --es-major N   Elasticsearch client major to fetch (default 8, the stand-in's and the
#                  default Elastic stack's)
set -euo pipefail

usage() {
    sed -n '2,15s/^# \{0,1\}//p' "$0" >&2
    exit 2
}
here=$(cd "$(dirname "$0")" && pwd)
source_dir="$(dirname "$here")"
out=""
python="python3"
es_major="8"
while [ $# -gt 0 ]; do
    case "$1" in
        --source) source_dir="${2:?--source needs a directory}"; shift 2 ;;
        --out) out="${2:?--out needs a directory}"; shift 2 ;;
        --python) python="${2:?--python needs an interpreter}"; shift 2 ;;
        --es-major) es_major="${2:?--es-major needs a number}"; shift 2 ;;
        -h|--help) usage ;;
        *) echo "fetch-wheels.sh: unknown argument: $1" >&2; usage ;;
    esac
done
[ -f "$source_dir/pyproject.toml" ] || {
    echo "fetch-wheels.sh: $source_dir has no pyproject.toml; pass --source with a FlowCEP checkout" >&2
    exit 1
}
case "$es_major" in
    [0-9]|[0-9][0-9]) ;;
    *) echo "fetch-wheels.sh: --es-major wants a major version number, got '$es_major'" >&2; exit 2 ;;
esac
out="${out:-$source_dir/vagrant/wheels}"
"$python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || {
    echo "fetch-wheels.sh: $python is not CPython 3.11, the box's interpreter; pass --python python3.11" >&2
    exit 1
}
mkdir -p "$out"
work=$(mktemp -d "${TMPDIR:-/tmp}/flowcep-wheels.XXXXXX")
trap 'rm -rf "$work"' EXIT

# Build from a clean copy, as flowcep.sh does: no build/ or *.egg-info in the checkout.
tar -C "$source_dir" \
    --exclude=./.git --exclude=./.venv --exclude=./.vagrant --exclude=./build --exclude=./dist \
    --exclude='*.egg-info' --exclude=__pycache__ --exclude=.pytest_cache --exclude=.mypy_cache \
    --exclude=.ruff_cache --exclude=.hypothesis --exclude=./.noida-db --exclude=./vagrant/wheels \
    -cf - . | tar -C "$work" -xf -
projects=("$work")
for plugin in "$work"/plugins/*/; do
    [ -f "$plugin/pyproject.toml" ] && projects+=("${plugin%/}")
done
printf 'elasticsearch>=%s,<%s\n' "$es_major" "$((es_major + 1))" >"$work/constraints.txt"
pip=("$python" -m pip --disable-pip-version-check --no-input)
# The projects' build requirements (build-system.requires) and pip, for the box's venv.
mapfile -t build_requires < <("$python" - "${projects[@]}" <<'PY'
import sys
import tomllib
from pathlib import Path

reqs = {"setuptools>=68", "wheel"}
for project in sys.argv[1:]:
    with Path(project, "pyproject.toml").open("rb") as f:
        reqs.update(tomllib.load(f).get("build-system", {}).get("requires", []))
print("\n".join(sorted(reqs)))
PY
)
"${pip[@]}" download --quiet --only-binary=:all: --dest "$out" "${build_requires[@]}" pip
# One build environment for the seven projects instead of pip's isolated one per project (each
# installed setuptools again: most of this script's time on a busy host).
"$python" -m venv --without-pip "$work/build-env"
"$python" -m pip --disable-pip-version-check --no-input --python "$work/build-env/bin/python" \
    install --quiet --no-index --find-links "$out" "${build_requires[@]}"
# pip wheel builds the local projects and collects every dependency as a wheel next to them.
"${pip[@]}" --python "$work/build-env/bin/python" wheel --quiet --no-build-isolation \
    --wheel-dir "$out" -c "$work/constraints.txt" "${projects[@]}" "noida-db>=0.2.3"
printf 'fetch-wheels.sh: %s wheels in %s\n' "$(find "$out" -name '*.whl' | wc -l)" "$out"
