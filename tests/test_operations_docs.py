"""docs/operations.md names every drop reason the code can count, and the exit codes of run."""

from __future__ import annotations

import re
from pathlib import Path

from flowcep_plugin.cli.run import EXIT_INPUT_FAILED, EXIT_OK, EXIT_OUTPUT_FAILED, EXIT_USAGE

ROOT = Path(__file__).resolve().parents[1]
#: literal reasons passed to Stats.drop or a decoder's _bad, and the named constants
_LITERAL = re.compile(r"""(?:\.drop|\b_bad)\(\s*["']([a-z0-9-]+)["']""")
_NAMED = {"future", "too-old", "bad-value", "output-error"}  # passed through variables


def reasons_in_code() -> set[str]:
    found = set(_NAMED)
    for path in [*(ROOT / "flowcep_plugin").rglob("*.py"), *(ROOT / "plugins").rglob("*.py")]:
        found.update(_LITERAL.findall(path.read_text(encoding="utf-8")))
    return found


def documented() -> str:
    return (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")


def test_every_drop_reason_is_documented() -> None:
    text = documented()
    missing = sorted(r for r in reasons_in_code() if f"`{r}`" not in text)
    assert not missing, f"docs/operations.md does not explain drop reasons: {', '.join(missing)}"
    assert {"late", "malformed", "unknown-template"} <= reasons_in_code()  # the scan finds them


def test_exit_codes_are_documented() -> None:
    text = documented()
    for code in (EXIT_OK, EXIT_INPUT_FAILED, EXIT_USAGE, EXIT_OUTPUT_FAILED):
        assert f"| {code} |" in text
