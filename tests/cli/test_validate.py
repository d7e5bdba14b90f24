"""Resolve once, then run: ``flowcep validate`` builds the plan ``flowcep run`` builds, so it
rejects exactly what run rejects; relative paths in a config resolve against its folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flowcep_plugin.cli import main
from flowcep_plugin.cli.demo import SAMPLE

SWEEP = """@Name('IcmpSweep') @Severity('high') @Technique('T1018') @Source('Sweeper')
@Summary('{Sweeper} swept {Hosts} addresses')
SELECT sourceIPv4Address AS Sweeper, count(distinct destinationIPv4Address) AS Hosts
FROM Flow.win:time_batch(60 seconds) WHERE protocolIdentifier = 1
GROUP BY sourceIPv4Address HAVING count(distinct destinationIPv4Address) >= 50
"""


def errors(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if line.startswith("flowcep: error:")]


@pytest.mark.parametrize("toml, expected", [
    ('[enrichers.zones.zones]\ninternal = ["10.0.0.0/33"]\n[run]\nenrichers = ["zones"]\n', "10.0.0.0/33"),
    ('[detectors.portscan]\nignore_sources = ["10.1.2.300/32"]\n', "10.1.2.300"),
    ('[epl]\nmodules = ["missing.epl"]\n', "missing.epl: cannot read"),
    ('[run]\noutputs = ["stdout", "carrier-pigeon:x"]\n', "unknown kind 'carrier-pigeon'"),
])
def test_validate_rejects_what_run_rejects(toml: str, expected: str, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "flowcep.toml"
    cfg.write_text(toml)
    assert main(["validate", "-c", str(cfg)]) == 2
    from_validate = errors(capsys)
    outputs = [] if "outputs" in toml else ["--output", "stdout"]
    assert main(["run", "-c", str(cfg), "--input", str(SAMPLE), *outputs, "-q",
                 "--detector", "portscan"]) == 2
    from_run = errors(capsys)
    assert len(from_validate) == 1 and expected in from_validate[0], from_validate
    assert from_run == from_validate


def test_relative_paths_resolve_against_the_config_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    site = tmp_path / "site"
    (site / "rules").mkdir(parents=True)
    (site / "rules" / "sweep.epl").write_text(SWEEP)
    (site / "flowcep.toml").write_text(
        '[run]\ndetectors = []\nenrichers = []\noutputs = ["jsonl:out/alerts.jsonl"]\n'
        'stats_json = "out/stats.json"\n[epl]\nmodules = ["rules/sweep.epl"]\n')
    (site / "out").mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert main(["validate", "-c", "../site/flowcep.toml"]) == 0
    assert "valid" in capsys.readouterr().out
    assert main(["run", "-c", "../site/flowcep.toml", "--input", str(SAMPLE), "-q"]) == 0
    alerts = [json.loads(line) for line in (site / "out" / "alerts.jsonl").read_text().splitlines()]
    assert [(a["rule"]["id"], a["source"]["ip"], a["event"]["severity"]) for a in alerts] == [
        ("sweep.IcmpSweep", "203.0.113.31", 73)]
    assert alerts[0]["message"] == "sweep IcmpSweep: 203.0.113.31 swept 254 addresses"
    assert alerts[0]["ecs"]["version"]
    assert (site / "out" / "stats.json").exists()
    assert list(elsewhere.iterdir()) == []  # nothing written relative to the working directory


def test_command_line_paths_stay_relative_to_the_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "sweep.epl").write_text(SWEEP)
    cfg = tmp_path / "conf" / "flowcep.toml"
    cfg.parent.mkdir()
    cfg.write_text("[run]\ndetectors = []\n")
    monkeypatch.chdir(tmp_path)
    assert main(["validate", "-c", str(cfg), "--epl", "sweep.epl"]) == 0
    assert "1 EPL module(s) compiled" in capsys.readouterr().out


def test_a_bad_annotation_is_an_epl_error_at_its_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.epl"
    bad.write_text("// a comment\n@Name('X')\n@Technique('Recon')\nSELECT count(*) AS n FROM Flow\n")
    assert main(["validate", str(bad)]) == 2
    [err] = errors(capsys)
    assert err.startswith(f"flowcep: error: {bad}:") and "'Recon' is not a MITRE ATT&CK technique id" in err
