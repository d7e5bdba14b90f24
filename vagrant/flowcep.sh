#!/usr/bin/env bash
# Install FlowCEP and its shipped detector plugins from a source tree into a virtual environment.
#
# Usage: flowcep.sh --source DIR --prefix DIR [--python PYTHON] [--es-major N] [--wheels DIR]
#                   [--also REQUIREMENT]...
#
#   --source DIR   the FlowCEP checkout (in the box: the synced folder /vagrant)
#   --prefix DIR   where to install: DIR/venv (the venv), DIR/src (a clean copy of the sources),
#                  DIR/share/demo.ipfix (the bundled sample the replayer loops)
#   --python PY    interpreter to build the venv with (default python3; FlowCEP needs >= 3.11)
#   --es-major N   pin the Elasticsearch Python client to major N: a 9.x client is refused by an
#                  8.x server, so the client must follow the server the box runs
#   --wheels DIR   install the projects' wheels and their dependencies from DIR only, never from
#                  an index and without building (an offline box: vagrant/fetch-wheels.sh fills
#                  DIR on the host from the same tree; run it again after editing the sources)
#   --also REQ     one more requirement to install into the venv (e.g. noida-db, the
#                  Elasticsearch stand-in of FLOWCEP_VM_OFFLINE=1); repeatable
#
# Needs no root and touches nothing outside --prefix, so the test suite runs it for real in a
# throwaway directory (tests/vagrant). Idempotent: a second run reinstalls from the current sources.
set -euo pipefail

usage() {
    sed -n '2,18s/^# \{0,1\}//p' "$0" >&2
    exit 2
}

source_dir=""
prefix=""
python="python3"
es_major=""
wheels=""
also=()
while [ $# -gt 0 ]; do
    case "$1" in
        --source) source_dir="${2:?--source needs a directory}"; shift 2 ;;
        --prefix) prefix="${2:?--prefix needs a directory}"; shift 2 ;;
        --python) python="${2:?--python needs an interpreter}"; shift 2 ;;
        --es-major) es_major="${2:?--es-major needs a number}"; shift 2 ;;
        --wheels) wheels="${2:?--wheels needs a directory}"; shift 2 ;;
        --also) also+=("${2:?--also needs a requirement}"); shift 2 ;;
        -h|--help) usage ;;
        *) echo "flowcep.sh: unknown argument: $1" >&2; usage ;;
    esac
done
if [ -z "$source_dir" ] || [ -z "$prefix" ]; then usage; fi
[ -f "$source_dir/pyproject.toml" ] || {
    echo "flowcep.sh: $source_dir has no pyproject.toml; is it a FlowCEP checkout?" >&2
    exit 1
}
case "$es_major" in
    ""|[0-9]|[0-9][0-9]) ;;
    *) echo "flowcep.sh: --es-major wants a major version number, got '$es_major'" >&2; exit 2 ;;
esac

log() { printf 'flowcep.sh: %s\n' "$*"; }

"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
    echo "flowcep.sh: $python is older than 3.11, which FlowCEP requires" >&2
    exit 1
}

mkdir -p "$prefix"
prefix=$(cd "$prefix" && pwd)
source_dir=$(cd "$source_dir" && pwd)
venv="$prefix/venv"
stage="$prefix/src"

fresh_venv=""
if ! "$venv/bin/python" -c 'import sys' 2>/dev/null; then
    log "creating virtual environment $venv"
    fresh_venv=1
    if [ -n "$wheels" ]; then
        # Offline, pip comes from the wheels folder (below): ensurepip byte-compiles pip and
        # setuptools, which took minutes on an emulated (TCG) guest.
        "$python" -m venv --without-pip "$venv"
    else
        "$python" -m venv "$venv"
    fi
fi

# Build from a clean copy: an in-tree build would write build/ and *.egg-info into the synced
# folder (the developer's checkout), and the checkout's own .venv must not be copied.
log "staging sources from $source_dir"
rm -rf "$stage"
mkdir -p "$stage"
tar -C "$source_dir" \
    --exclude=./.git --exclude=./.venv --exclude=./.vagrant --exclude=./build --exclude=./dist \
    --exclude='*.egg-info' --exclude=__pycache__ --exclude=.pytest_cache --exclude=.mypy_cache \
    --exclude=.ruff_cache --exclude=.hypothesis --exclude=./.noida-db --exclude=./vagrant/wheels \
    -cf - . | tar -C "$stage" -xf -

projects=("$stage")
for plugin in "$stage"/plugins/*/; do
    if [ -f "$plugin/pyproject.toml" ] || [ -f "$plugin/setup.py" ]; then
        projects+=("${plugin%/}")
    fi
done
log "projects: ${projects[*]#"$stage"/}"

pip=("$venv/bin/python" -m pip --disable-pip-version-check --no-input)
if [ -n "$wheels" ]; then
    [ -n "$(find "$wheels" -maxdepth 1 -name '*.whl' -print -quit 2>/dev/null)" ] || {
        echo "flowcep.sh: --wheels $wheels holds no wheels: run vagrant/fetch-wheels.sh on the host first" >&2
        exit 1
    }
    wheels=$(cd "$wheels" && pwd)
    log "offline: installing from the wheels in $wheels only"
    # pip's environment, not options: they must reach every pip command below, whatever its verb.
    export PIP_NO_INDEX=1 PIP_FIND_LINKS="$wheels"
fi
constraints="$prefix/constraints.txt"
: >"$constraints"
if [ -n "$es_major" ]; then
    printf 'elasticsearch>=%s,<%s\n' "$es_major" "$((es_major + 1))" >>"$constraints"
fi

if [ -n "$wheels" ]; then
    # Offline: the projects' own wheels, built on the host from this tree by fetch-wheels.sh;
    # nothing is compiled in the box (a slow guest took minutes to build seven projects).
    mapfile -t names < <("$venv/bin/python" - "${projects[@]}" <<'PY'
import sys
import tomllib
from pathlib import Path

for project in sys.argv[1:]:
    with Path(project, "pyproject.toml").open("rb") as f:
        print(tomllib.load(f)["project"]["name"])
PY
)
    for name in "${names[@]}"; do
        [ -n "$(find "$wheels" -maxdepth 1 -iname "${name//-/_}-*.whl" -print -quit)" ] || {
            echo "flowcep.sh: no wheel of $name in $wheels: run vagrant/fetch-wheels.sh on the host again" >&2
            exit 1
        }
    done
    if ! "$venv/bin/python" -c 'import pip' 2>/dev/null; then
        pip_wheel=$(find "$wheels" -maxdepth 1 -name 'pip-*.whl' -print -quit)
        [ -n "$pip_wheel" ] || {
            echo "flowcep.sh: no pip wheel in $wheels: run vagrant/fetch-wheels.sh on the host again" >&2
            exit 1
        }
        # pip runs from its own wheel to install itself into the venv.
        "$venv/bin/python" "$pip_wheel/pip" install --quiet --disable-pip-version-check --no-compile pip
    fi
    log "installing ${#names[@]} project wheel(s) into $venv: ${names[*]}"
    # --no-compile: byte-compiling every module of the dependencies (4,000 files, plotly alone
    # 1,500) was most of the install on an emulated guest. Python compiles what is imported
    # when it is first imported; provisioning's own flowcep commands, run as root before the
    # services start, leave those .pyc files for the services, whose /opt is read-only.
    "${pip[@]}" install --quiet --no-compile -c "$constraints" "${names[@]}" "${also[@]}"
    # Same version number as an earlier install, new code: replace them (a new venv has no
    # earlier install, and each pip run costs half a minute on an emulated guest).
    if [ -z "$fresh_venv" ]; then
        "${pip[@]}" install --quiet --no-compile --no-deps --force-reinstall "${names[@]}"
    fi
else
# One shared build environment instead of pip's isolated one per project: the build requirements
# of every project are installed into the venv once, which makes a reinstall take seconds.
mapfile -t build_requires < <("$venv/bin/python" - "${projects[@]}" <<'PY'
import sys
import tomllib
from pathlib import Path

reqs = {"setuptools>=68", "wheel"}
for project in sys.argv[1:]:
    pyproject = Path(project, "pyproject.toml")
    if pyproject.is_file():
        with pyproject.open("rb") as f:
            reqs.update(tomllib.load(f).get("build-system", {}).get("requires", []))
print("\n".join(sorted(reqs)))
PY
)
log "build requirements: ${build_requires[*]}"
"${pip[@]}" install --quiet --upgrade -c "$constraints" "${build_requires[@]}"

log "installing FlowCEP and ${#projects[@]} project(s) into $venv"
# --force-reinstall --no-deps on the local projects: same version number, new code after a
# `vagrant rsync`; dependencies are resolved by the first, ordinary install.
"${pip[@]}" install --quiet --no-build-isolation -c "$constraints" "${projects[@]}" "${also[@]}"
"${pip[@]}" install --quiet --no-build-isolation --no-deps --force-reinstall "${projects[@]}"
fi

# The replayer's input: the sample FlowCEP generates and ships in the package.
sample=$("$venv/bin/python" -I -c \
    'import flowcep_plugin, pathlib; print(pathlib.Path(flowcep_plugin.__file__).parent / "data" / "demo.ipfix")')
if [ ! -f "$sample" ]; then
    echo "flowcep.sh: the bundled sample $sample is missing from the installed package" >&2
    exit 1
fi
install -D -m 0644 "$sample" "$prefix/share/demo.ipfix"

"$venv/bin/flowcep" --help >/dev/null
# importlib.metadata rather than `pip list`: the same names, without starting pip once more.
log "installed: $("$venv/bin/python" -I -c 'import importlib.metadata as m
print("  ".join(sorted(f"{d.name} {d.version}" for d in m.distributions()
                       if d.name.lower().startswith("flowcep"))))')"
log "command: $venv/bin/flowcep; sample: $prefix/share/demo.ipfix"
