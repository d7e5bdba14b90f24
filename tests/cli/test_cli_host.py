"""The CLI's promises: --help on every verb, one-line errors with exit code 2."""

from __future__ import annotations

import subprocess
import sys

import pytest

from flowcep_plugin.cli import VERBS, build_parser


def flowcep(*args: str, **kw) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "flowcep_plugin", *args], capture_output=True,
                          text=True, timeout=120, **kw)


def test_every_verb_is_available():
    _parser, broken = build_parser()
    assert broken == {}, f"verbs failing to import: {broken}"


@pytest.mark.parametrize("verb", VERBS)
def test_help_of_every_verb(verb):
    parser, _ = build_parser()
    with pytest.raises(SystemExit) as exc:
        parser.parse_args([verb, "--help"])
    assert exc.value.code == 0


def test_no_command_prints_help_and_exits_2():
    res = flowcep()
    assert res.returncode == 2 and "commands:" in res.stdout


@pytest.mark.parametrize("args,expected", [
    (["run", "-c", "/nonexistent/flowcep.toml"], "config file not found"),
    (["run", "--input", "/nonexistent/x.ipfix", "--output", "stdout"], "no such file"),
    (["run", "--input", "amqp://x:1", "--output", "stdout"], "unknown scheme 'amqp'"),
    (["run", "--input", "ipfix+udp://h:99999", "--output", "stdout"], "port 99999 is out of range"),
    (["run", "--output", "stdout"], "no input given"),
    (["run", "--input", "x", "--output", "carrier-pigeon:x"], "unknown kind 'carrier-pigeon'"),
    (["run", "--lateness", "soon", "--input", "x", "--output", "stdout"], "run.lateness: 'soon' is not a duration"),
    (["validate"], "nothing to validate"),
])
def test_errors_are_one_line_exit_2(args, expected, tmp_path):
    res = flowcep(*args, cwd=tmp_path)
    assert res.returncode == 2, res.stderr
    errors = [line for line in res.stderr.splitlines() if line.startswith("flowcep: error:")]
    assert len(errors) == 1 and expected in errors[0], res.stderr
    assert "Traceback" not in res.stderr


def test_unknown_config_key_names_file_and_key(tmp_path):
    cfg = tmp_path / "flowcep.toml"
    cfg.write_text('[run]\ninputs = ["x.ipfix"]\nlatenes = "30s"\n')
    res = flowcep("validate", "-c", str(cfg))
    assert res.returncode == 2
    assert f"flowcep: error: {cfg}: run: unknown key 'latenes'; expected one of:" in res.stderr


def test_schema_prints_the_composed_schema():
    import json

    res = flowcep("schema")
    schema = json.loads(res.stdout)
    assert {"run", "alerts", "inputs", "detectors", "outputs", "enrichers"} <= set(schema["properties"])
    assert "jsonl" in schema["properties"]["outputs"]["properties"]
