"""The public API: flowcep_plugin.api is the one face plugins use, and the shipped plugins
import nothing else from FlowCEP (flowcep_plugin.testing only in tests)."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import flowcep_plugin.api as api
from flowcep_plugin import docgen

ROOT = Path(__file__).resolve().parents[1]
ALLOWED = {"flowcep_plugin.api", "flowcep_plugin.testing"}


def flowcep_imports(path: Path) -> list[tuple[int, str]]:
    """Every ``flowcep_plugin`` module ``path`` imports, with its line (``import``,
    ``from ... import`` and ``importlib.import_module("...")``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            mod = node.module
            if mod == "flowcep_plugin":  # from flowcep_plugin import api / testing
                found += [(node.lineno, f"flowcep_plugin.{a.name}") for a in node.names]
            elif mod.startswith("flowcep_plugin."):
                found.append((node.lineno, mod))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "flowcep_plugin"]
        elif (isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module"
              and node.args and isinstance(node.args[0], ast.Constant)
              and str(node.args[0].value).startswith("flowcep_plugin")):
            found.append((node.lineno, str(node.args[0].value)))
    return found


def shipped_modules() -> list[Path]:
    return sorted(p for p in ROOT.glob("plugins/*/flowcep_*/**/*.py"))


def test_shipped_plugins_import_only_the_public_api() -> None:
    assert len(shipped_modules()) >= 6
    bad = [f"{p.relative_to(ROOT)}:{line}: {mod}" for p in shipped_modules()
           for line, mod in flowcep_imports(p) if mod not in ALLOWED]
    assert not bad, "import these from flowcep_plugin.api instead:\n" + "\n".join(bad)


def test_the_walker_sees_every_import_form(tmp_path: Path) -> None:
    f = tmp_path / "m.py"
    f.write_text("import flowcep_plugin.records\nfrom flowcep_plugin import alerts\n"
                 "from flowcep_plugin.api import hookimpl\n"
                 "def f():\n    from flowcep_plugin.engine.compiler import x\n"
                 "    importlib.import_module('flowcep_plugin.cidr')\n")
    assert [m for _, m in flowcep_imports(f)] == ["flowcep_plugin.records", "flowcep_plugin.alerts",
                                                  "flowcep_plugin.api", "flowcep_plugin.engine.compiler",
                                                  "flowcep_plugin.cidr"]


def test_api_exports_what_a_plugin_needs() -> None:
    for name in ("FlowBatch", "DetectorSpec", "RuleSpec", "InputSpec", "OutputSpec", "EnricherSpec",
                 "make_alert", "parse_duration", "check_detector", "hookimpl", "Context",
                 "ConfigError", "TumblingWindows", "run"):
        assert name in api.__all__, name
    assert sorted(api.__all__) == sorted(set(api.__all__)), "a name is exported twice"
    assert api.__all__ == [n for names in api.API_GROUPS.values() for n in names]
    for name in api.__all__:
        obj = getattr(api, name)
        own = inspect.isclass(obj) or inspect.isfunction(obj)
        assert api.DATA_DOCS.get(name) or (own and inspect.getdoc(obj)), f"{name} is undocumented"


def test_api_reference_is_current() -> None:
    text = (ROOT / "docs" / "plugins.md").read_text()
    m = re.search(re.escape(docgen.API_BEGIN) + r"\n\n(.*)\n" + re.escape(docgen.API_END), text, re.S)
    assert m, "API reference markers missing from docs/plugins.md"
    assert m.group(1) == docgen.api_reference(), "run: python -m flowcep_plugin.docgen"
    for name in api.__all__:
        assert f"`{name}" in m.group(1)
