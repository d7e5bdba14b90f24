"""Hostile configuration and EPL files: one line naming the file, exit code 2; never an
``internal error: RecursionError`` (exit 1) and never a multi-megabyte error line."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowcep_plugin import cli
from flowcep_plugin.cli.run import EXIT_USAGE


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[str]]:
    code = cli.main(list(argv))
    return code, capsys.readouterr().err.strip().splitlines()


@pytest.mark.parametrize("where", ["prefix", "minus"])
def test_deeply_nested_epl_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str) -> None:
    path = tmp_path / "deep.epl"
    if where == "prefix":
        expr = "(" * 3_000 + "packetDeltaCount > 1" + ")" * 3_000
    else:
        expr = "packetDeltaCount > " + "-" * 3_000 + "1"
    path.write_text(f"@Name('x') select * from Flow where {expr}\n")
    for argv in (["run", "--input", "list:1", "--epl", str(path), "--output", "stdout", "-q"],
                 ["epl", str(path), "--input", "list:1"]):
        code, err = _run(capsys, *argv)
        assert code == EXIT_USAGE
        assert len(err) == 1 and "deep.epl" in err[0] and "nested too deeply" in err[0]


def test_deeply_nested_toml_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "deep.toml"
    path.write_text("a = " + "[" * 5_000 + "]" * 5_000 + "\n")
    code, err = _run(capsys, "validate", "-c", str(path))
    assert code == EXIT_USAGE
    assert err == [f"flowcep: error: {path}: invalid TOML: arrays or inline tables nested too deeply"]


def test_a_huge_bad_value_gives_a_short_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "big.toml"
    path.write_text('[run]\nobserver = "' + "A" * 1_000_000 + '"\n')
    code, err = _run(capsys, "validate", "-c", str(path))
    assert code == EXIT_USAGE
    assert len(err) == 1 and len(err[0]) < 1_000
    assert err[0].startswith(f"flowcep: error: {path}: run.observer: 'AAA")
    assert "characters)..." in err[0]
