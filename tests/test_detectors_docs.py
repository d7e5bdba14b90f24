"""docs/detectors.md must follow the registered detector specs (names, rules, defaults)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

DOC = Path(__file__).resolve().parents[1] / "docs" / "detectors.md"
MODULES = ["flowcep_multistage", "flowcep_portscan", "flowcep_bruteforce", "flowcep_volumetric",
           "flowcep_policy", "flowcep_trafficstats", "flowcep_level2"]


def _specs() -> list[Any]:
    out = []
    for name in MODULES:
        mod = pytest.importorskip(name)
        out.extend(mod.flowcep_register_detectors())
    return out


def _sections() -> dict[str, str]:
    text = DOC.read_text(encoding="utf-8")
    parts = re.split(r"^## (.+)$", text, flags=re.M)
    return {parts[i].strip(): parts[i + 1] for i in range(1, len(parts), 2)}


def _line(section: str, param: str) -> str:
    for line in section.splitlines():
        if line.startswith(f"| `{param}` |"):
            return line
    raise AssertionError(f"no table row for parameter {param!r}")


def _check_default(name: str, section: str, param: str, value: Any) -> None:
    line = _line(section, param)
    if isinstance(value, bool) or isinstance(value, int | float):
        assert f"`{value}`" in line, f"{name}.{param}: default {value} not in {line!r}"
    elif isinstance(value, str):
        assert f"`{value}`" in line, f"{name}.{param}: default {value!r} not in {line!r}"
    elif isinstance(value, list):
        if not value:
            assert "`[]`" in line, f"{name}.{param}: empty default not shown"
        for item in value:
            assert str(item) in line, f"{name}.{param}: {item!r} missing from {line!r}"
    elif isinstance(value, dict):
        for key, sub in value.items():
            if isinstance(sub, dict):  # a table of its own (bruteforce services)
                row = next((ln for ln in section.splitlines() if ln.startswith(f"| `{key}` |")), None)
                assert row is not None, f"{name}.{param}.{key}: no table row"
                cells = [c.strip() for c in row.strip("|").split("|")]
                assert cells[1] == ", ".join(map(str, sub["ports"])), (key, cells)
            elif isinstance(sub, list):
                assert f"{key} {' '.join(map(str, sub))}" in line, f"{name}.{param}.{key} ports differ"
            else:
                assert f"{key} {sub}" in line, f"{name}.{param}.{key}: {sub!r} missing from {line!r}"
    else:  # pragma: no cover - a new kind of default needs a rule here
        raise AssertionError(f"{name}.{param}: cannot check a default of type {type(value)}")


def test_every_detector_rule_and_default_is_documented() -> None:
    sections = _sections()
    for spec in _specs():
        assert spec.name in sections, f"docs/detectors.md has no '## {spec.name}' section"
        section = sections[spec.name]
        for rule in spec.rules:
            row = next((ln for ln in section.splitlines() if ln.startswith(f"| `{rule.id}` |")), None)
            assert row is not None, f"rule {rule.id} is not in the {spec.name} table"
            if rule.kind == "alert":
                assert f"| {rule.severity} |" in row, f"{rule.id}: severity {rule.severity} not documented"
                for t in rule.technique:
                    assert t in row, f"{rule.id}: technique {t} not documented"
        documented = re.findall(r"^\| `([a-z_]+)` \|", section, flags=re.M)
        params = set(spec.defaults)
        for param, value in spec.defaults.items():
            _check_default(spec.name, section, param, value)
        rule_ids = {r.id for r in spec.rules}
        service_rows = set()
        for v in spec.defaults.values():
            if isinstance(v, dict) and all(isinstance(s, dict) for s in v.values()):
                service_rows |= set(v)
        stray = set(documented) - params - rule_ids - service_rows
        assert not stray, f"{spec.name}: documented parameters that do not exist: {sorted(stray)}"


def test_no_section_for_a_detector_that_does_not_exist() -> None:
    names = {s.name for s in _specs()}
    extra = set(_sections()) - names - {"Writing a detector", "Writing tests for a detector"}
    assert not extra, f"docs/detectors.md documents unknown detectors: {sorted(extra)}"


def test_plugins_are_registered_through_entry_points() -> None:
    from flowcep_plugin.manager import make_plugin_manager
    from flowcep_plugin.registry import Registry

    reg = Registry.build(make_plugin_manager())
    for spec in _specs():
        assert spec.name in reg.detectors, f"detector {spec.name} is not registered (pip install -e plugins/...)"


def test_the_writing_a_detector_example_works(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The page's example plugin and its test run as written."""
    pytest.importorskip("flowcep_plugin.engine.detector")
    section = _sections()["Writing a detector"]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 2
    pkg = tmp_path / "flowcep_telnet"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(blocks[0])
    monkeypatch.syspath_prepend(str(tmp_path))
    namespace: dict[str, Any] = {}
    exec(compile(blocks[1], "test_telnet.py", "exec"), namespace)
    namespace["test_telnet"]()
    import flowcep_telnet

    assert [s.name for s in flowcep_telnet.flowcep_register_detectors()] == ["telnet"]
