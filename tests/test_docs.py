"""Docs generated from the code stay in step with it (datasette's test_docs pattern)."""

from __future__ import annotations

import re
from pathlib import Path

from flowcep_plugin import docgen, hookspecs

ROOT = Path(__file__).resolve().parents[1]


def test_every_hook_is_grouped_and_documented():
    grouped = sorted(n for names in docgen.HOOK_GROUPS.values() for n in names)
    assert grouped == docgen.all_hooks()
    text = (ROOT / "docs" / "plugins.md").read_text()
    for name in docgen.all_hooks():
        assert f"#### `{name}(" in text, f"{name} is missing from docs/plugins.md"
        doc = getattr(hookspecs, name).__doc__ or ""
        # the policy: what it is for, params, return semantics, when it is called
        assert ":return:" in doc and "Called" in doc, f"{name} docstring lacks return/when"


def test_hook_reference_is_current():
    text = (ROOT / "docs" / "plugins.md").read_text()
    m = re.search(re.escape(docgen.BEGIN) + r"\n\n(.*)\n" + re.escape(docgen.END), text, re.S)
    assert m, "hook reference markers missing from docs/plugins.md"
    assert m.group(1) == docgen.hook_reference(), "run: python -m flowcep_plugin.docgen"


def test_cli_reference_is_current():
    assert (ROOT / "docs" / "cli.md").read_text() == docgen.cli_reference(), \
        "docs/cli.md is stale: run python -m flowcep_plugin.docgen"


def test_readme_quick_start_matches_ci():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "scripts/test.sh" in ci
    assert "scripts/demo.sh" in readme and "scripts/test.sh" in readme


def test_components_reference_is_current():
    assert (ROOT / "docs" / "components.md").read_text() == docgen.components_reference(), \
        "docs/components.md is stale: run python -m flowcep_plugin.docgen"
