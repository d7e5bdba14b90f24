"""Docs that run: every code block of README.md and docs/ is executed or validated.

One test per block (ids like ``README.md:80:toml``).
How a block is checked is decided by its fence language (the table in docs/plugins.md,
"Docs that run"): ``toml`` is a FlowCEP config (validated and resolved into a plan) or a
``pyproject.toml`` fragment (parsed); ``epl`` compiles; ``python`` runs; ``json`` parses;
``sh``/``console``/``shell``/``bash`` have their ``flowcep ...`` commands parsed by the real
argument parser; ``text``, ``ndjson``, ``output`` and unlabelled fences are output, not code.

An HTML comment on the line before a fence changes that, visibly:

* ``<!-- docs-test: skip REASON -->`` — not checked (the reason shows in the test report);
* ``<!-- docs-test: compile-only REASON -->`` — a python block that is compiled, not run;
* ``<!-- docs-test: file PATH -->`` — a file of an example package (``PATH`` relative to the
  package root); the blocks of one document make one package, built and installed by a test;
* ``<!-- docs-test: with-package -->`` — a config block checked (``flowcep validate``) with that
  page's example package installed.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shlex
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from flowcep_plugin.addresses import parse_address
from flowcep_plugin.context import Context
from flowcep_plugin.manager import make_plugin_manager
from flowcep_plugin.plan import resolve
from flowcep_plugin.registry import Registry

ROOT = Path(__file__).resolve().parents[1]

#: fence languages that hold program output or data samples, never run
NOT_CODE = frozenset({"", "text", "ndjson", "output", "log", "diff"})
SHELL = frozenset({"sh", "console", "shell", "bash"})
CHECKED = frozenset({"toml", "epl", "python", "json"}) | SHELL

_FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>```+|~~~+)\s*(?P<lang>[\w+-]*)")
_MARK = re.compile(r"<!--\s*docs-test:\s*(?P<verb>skip|compile-only|file|with-package)\b\s*(?P<arg>.*?)\s*-->")


@dataclass(frozen=True)
class Block:
    doc: str  # path relative to the repository root
    line: int  # 1-based line of the opening fence
    lang: str
    text: str
    marker: str | None = None  # skip | compile-only | file
    marker_arg: str = ""

    @property
    def id(self) -> str:
        return f"{self.doc}:{self.line}:{self.lang or 'text'}"


def documents() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def blocks_of(path: Path, root: Path = ROOT) -> list[Block]:
    lines = path.read_text(encoding="utf-8").splitlines()
    rel = str(path.relative_to(root))
    out: list[Block] = []
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if m is None:
            i += 1
            continue
        fence, indent = m.group("fence"), len(m.group("indent"))
        body: list[str] = []
        j = i + 1
        while j < len(lines) and not lines[j].strip().startswith(fence):
            line = lines[j]
            body.append(line[indent:] if line[:indent].strip() == "" else line.lstrip())
            j += 1
        prev = next((lines[k] for k in range(i - 1, -1, -1) if lines[k].strip()), "")
        mark = _MARK.search(prev)
        out.append(Block(rel, i + 1, m.group("lang").lower(), "\n".join(body) + "\n",
                         mark.group("verb") if mark else None, mark.group("arg") if mark else ""))
        i = j + 1
    return out


def all_blocks() -> list[Block]:
    return [b for doc in documents() for b in blocks_of(doc)]


BLOCKS = all_blocks()
PYPROJECT_KEYS = {"project", "build-system", "tool"}


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.build(make_plugin_manager())


def check_toml(block: Block, registry: Registry) -> None:
    data = tomllib.loads(block.text)
    keys = set(data)
    if keys and keys <= PYPROJECT_KEYS:
        return  # a pyproject.toml fragment: parsing it is the check
    cfg: dict[str, Any] = json.loads(json.dumps(data))
    run = cfg.setdefault("run", {})
    # inputs that name files which only exist on the reader's machine: the address must parse
    # and its scheme exist; everything else resolves exactly as `flowcep run` would
    for raw in run.pop("inputs", []):
        address = parse_address(raw)
        if address.scheme != "file":
            assert any(address.scheme in s.schemes for s in registry.inputs.values()), raw
    modules = (cfg.get("epl") or {}).get("modules", [])
    missing = [m for m in modules if not (ROOT / m).exists()]
    assert not missing, f"EPL modules named in the example do not exist: {missing}"
    plan = resolve(registry, cfg, filename=block.id, base_dir=str(ROOT), require_inputs=False)
    plan.check(Context(config=plan.config))


def check_epl(block: Block) -> None:
    from flowcep_plugin.engine import compile_module

    params = {name: 1 for name in re.findall(r"\$\{(\w+)\}", block.text)}
    compile_module(block.text, block.id, params)


def check_python(block: Block, tmp_path: Path) -> None:
    code = compile(block.text, block.id, "exec")
    if block.marker == "compile-only":
        return
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            exec(code, {"__name__": "__docs__"})  # noqa: S102 - the docs' own examples
    finally:
        os.chdir(cwd)


def shell_commands(text: str) -> list[list[str]]:
    """``flowcep ...`` commands of a shell block (continuations joined, pipes and comments cut)."""
    joined = re.sub(r"\\\n\s*", " ", text)
    out = []
    for line in joined.splitlines():
        line = line.strip().removeprefix("$ ")
        if not line or line.startswith("#"):
            continue
        words = shlex.split(line, comments=True)
        for i, w in enumerate(words):
            if w in ("|", ";", "&&", "||") or w.startswith(("|", ">")):
                words = words[:i]
                break
        while words and re.match(r"^[A-Z_][A-Z0-9_]*=", words[0]):
            words = words[1:]  # FLOWCEP_X=1 flowcep ...
        if words and (words[0] == "flowcep" or words[0].endswith("/flowcep")):
            out.append(words[1:])
        elif words[:3] == ["python", "-m", "flowcep_plugin.cli"]:
            out.append(words[3:])
    return out


def check_shell(block: Block, detectors: set[str] | None = None) -> None:
    """Parse every ``flowcep`` command; ``--detector NAME`` must name an installed detector
    or one the page's example package defines (``detectors``: the names known)."""
    from flowcep_plugin.cli import build_parser

    parser, broken = build_parser()
    assert not broken, broken
    for argv in shell_commands(block.text):
        # "[--json]" style optional brackets are documentation, not arguments
        argv = [a.strip("[]") for a in argv if a.strip("[]")]
        err = io.StringIO()
        try:
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                args = parser.parse_args(argv)
        except SystemExit as exc:
            assert exc.code == 0, f"flowcep {' '.join(argv)}: {err.getvalue().strip()}"
            continue
        unknown = set(getattr(args, "detectors", None) or []) - (detectors or set())
        assert detectors is None or not unknown, f"flowcep {' '.join(argv)}: no detector named {sorted(unknown)}"


def known_detectors(doc: str, registry: Registry) -> set[str]:
    """Installed detectors plus those the page's example package defines."""
    names = set(registry.detectors)
    for b in BLOCKS:
        if b.doc == doc and b.marker == "file":
            names |= set(re.findall(r"DetectorSpec\(\s*name=\"([^\"]+)\"", b.text))
    return names


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.marker not in ("file", "with-package")],
                         ids=lambda b: b.id)
def test_code_block(block: Block, registry: Registry, tmp_path: Path) -> None:
    if block.marker == "skip":
        pytest.skip(f"docs-test: skip {block.marker_arg}")
    if block.lang in NOT_CODE:
        return  # output and samples: documented as not code
    assert block.lang in CHECKED, (f"{block.id}: no rule for fence language {block.lang!r}; use one "
                                   f"of {sorted(CHECKED | NOT_CODE)} or a docs-test marker")
    if block.lang == "toml":
        check_toml(block, registry)
    elif block.lang == "epl":
        check_epl(block)
    elif block.lang == "python":
        check_python(block, tmp_path)
    elif block.lang == "json":
        json.loads(block.text)
    elif block.lang in SHELL:
        check_shell(block, known_detectors(block.doc, registry))


# -- the checks check something -------------------------------------------------------------------


def _block(lang: str, text: str) -> Block:
    return Block("test.md", 1, lang, text)


def test_a_bad_cidr_in_a_toml_example_fails(registry: Registry) -> None:
    from flowcep_plugin.errors import ConfigError

    with pytest.raises(ConfigError, match="10.0.0.0/33"):
        check_toml(_block("toml", '[enrichers.zones.zones]\ninternal = ["10.0.0.0/33"]\n'
                                  '[run]\nenrichers = ["zones"]\n'), registry)


def test_an_unknown_detector_in_a_toml_example_fails(registry: Registry) -> None:
    from flowcep_plugin.errors import ConfigError

    with pytest.raises(ConfigError, match="multistage-http"):
        check_toml(_block("toml", '[run]\ndetectors = ["multistage-http"]\n'), registry)


def test_a_shell_example_naming_a_missing_detector_fails(registry: Registry) -> None:
    with pytest.raises(AssertionError, match=r"no detector named \['multistage-http'\]"):
        check_shell(_block("sh", "flowcep run -i x.ipfix --detector multistage-http -o stdout\n"),
                    known_detectors("README.md", registry))


def test_a_misspelled_option_in_a_shell_example_fails() -> None:
    with pytest.raises(AssertionError, match="unrecognized arguments: --detectr"):
        check_shell(_block("sh", "flowcep run --input x.ipfix \\\n  --detectr portscan --output stdout\n"))
    assert shell_commands("FLOWCEP_DEBUG=1 flowcep plugins --json | jq .  # list\n") == [["plugins", "--json"]]


def test_markers_are_read(tmp_path: Path) -> None:
    doc = tmp_path / "x.md"
    doc.write_text("<!-- docs-test: skip needs a cluster -->\n```sh\nflowcep es setup\n```\n\n"
                   "```python\nx = 1\n```\n")
    got = blocks_of(doc, root=tmp_path)
    assert [(b.lang, b.marker, b.marker_arg, b.line) for b in got] == [
        ("sh", "skip", "needs a cluster", 2), ("python", None, "", 6)]


def test_every_document_is_seen() -> None:
    docs = {b.doc for b in BLOCKS}
    assert "README.md" in docs and "docs/plugins.md" in docs


# -- example packages ---------------------------------------------------------------------------

PACKAGES: dict[str, list[Block]] = {}
WITH_PACKAGE: dict[str, list[Block]] = {}
for _b in BLOCKS:
    if _b.marker == "file":
        PACKAGES.setdefault(_b.doc, []).append(_b)
    elif _b.marker == "with-package":
        WITH_PACKAGE.setdefault(_b.doc, []).append(_b)


def test_with_package_blocks_have_a_package() -> None:
    assert set(WITH_PACKAGE) <= set(PACKAGES), "docs-test: with-package on a page without file blocks"


@pytest.mark.parametrize("doc", sorted(PACKAGES), ids=str)
def test_example_package_installs_is_listed_and_passes_its_tests(doc: str, tmp_path: Path) -> None:
    """The files a page marks ``docs-test: file PATH`` are a complete package: it installs,
    ``flowcep plugins`` lists each of its entry points as loaded, and its own tests pass."""
    import subprocess
    import sys

    src = tmp_path / "pkg"
    for block in PACKAGES[doc]:
        dest = src / block.marker_arg
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(block.text, encoding="utf-8")
    pyproject = tomllib.loads((src / "pyproject.toml").read_text())
    entry_points = set(pyproject["project"]["entry-points"]["flowcep"])
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--disable-pip-version-check", "--target", str(target), str(src)],
                   check=True, capture_output=True, text=True)
    env = dict(os.environ, PYTHONPATH=str(target))
    for var in ("FLOWCEP_LOAD_PLUGINS", "FLOWCEP_DISABLE_PLUGINS"):
        env.pop(var, None)
    listed = subprocess.run([sys.executable, "-m", "flowcep_plugin.cli", "plugins", "--json"],
                            env=env, capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0, listed.stderr
    plugins = {p["name"]: p for p in json.loads(listed.stdout)["plugins"]}
    for name in entry_points:
        assert plugins[name]["status"] == "loaded", plugins[name]
        assert plugins[name]["distribution"] == pyproject["project"]["name"]
    for block in WITH_PACKAGE.get(doc, []):
        cfg = tmp_path / f"line{block.line}.toml"
        cfg.write_text(block.text, encoding="utf-8")
        checked = subprocess.run([sys.executable, "-m", "flowcep_plugin.cli", "validate", "-c", str(cfg)],
                                 env=env, capture_output=True, text=True, timeout=120)
        assert checked.returncode == 0, f"{block.id}: {checked.stderr}"
    if (src / "tests").is_dir():
        tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                                str(src / "tests")], cwd=tmp_path, env=env, capture_output=True,
                               text=True, timeout=600)
        assert tests.returncode == 0, tests.stdout[-3000:] + tests.stderr[-2000:]
