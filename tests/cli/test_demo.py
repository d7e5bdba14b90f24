"""`flowcep demo`: the bundled sample through every installed detector, no server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from flowcep_plugin.alerts import validate_event

DATA = Path(__file__).resolve().parents[2] / "flowcep_plugin" / "data"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("demo")
    res = subprocess.run([sys.executable, "-m", "flowcep_plugin", "demo", "--out", "alerts.jsonl",
                          "--stats-json", "stats.json"], cwd=tmp, capture_output=True, text=True,
                         timeout=300)
    return res, tmp


def test_demo_succeeds_and_prints_readable_lines(demo):
    res, _ = demo
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines, "no alert printed"
    assert all(not line.startswith("{") for line in lines), "stdout should be readable, not JSON"
    assert any("multistage-attack" in line for line in lines)


def test_demo_alerts_are_valid_ecs_and_match_the_labels(demo):
    res, tmp = demo
    docs = [json.loads(line) for line in (tmp / "alerts.jsonl").read_text().splitlines()]
    stats = json.loads((tmp / "stats.json").read_text())
    assert len([d for d in docs if d["event"]["kind"] == "alert"]) == sum(stats["alerts_by_rule"].values())
    for d in docs:
        validate_event(d)
    labels = json.loads((DATA / "demo.labels.json").read_text())["labels"]
    multistage = {lab["attacker"] for lab in labels if lab["attack"].startswith("multistage")}
    reported = {d["source"]["ip"] for d in docs if d["rule"]["id"] == "multistage-attack"}
    assert reported == multistage and len(reported) == 1
    attackers = {lab["attacker"] for lab in labels}
    alerted = {d["source"]["ip"] for d in docs if (d.get("source") or {}).get("ip")}
    assert alerted <= attackers, f"alerts on hosts that did not attack: {alerted - attackers}"
    assert stats["drops"] == {}


def test_demo_config_matches_the_sample_labels():
    import tomllib

    from flowcep_plugin.synth.evaluation import policy_config

    hints = json.loads((DATA / "demo.labels.json").read_text())["hints"]
    cfg = tomllib.loads((DATA / "demo.toml").read_text())
    assert cfg["detectors"]["policy"] == policy_config(hints)["detectors"]["policy"]
    zones = cfg["enrichers"]["zones"]["zones"]
    assert [zones["clients"][0], zones["servers"][0], zones["dmz"][0]] == \
        [hints["networks"]["clients"], hints["networks"]["servers"], hints["networks"]["dmz"]]


def test_demo_reports_every_labelled_attacker(demo):
    _res, tmp = demo
    docs = [json.loads(line) for line in (tmp / "alerts.jsonl").read_text().splitlines()]
    labels = json.loads((DATA / "demo.labels.json").read_text())["labels"]
    alerted_src = {d["source"]["ip"] for d in docs if (d.get("source") or {}).get("ip")}
    alerted_dst = {ip for d in docs for ip in (lambda v: v if isinstance(v, list) else [v])(
        (d.get("destination") or {}).get("ip")) if ip}
    for lab in labels:
        if lab.get("match", "attacker") == "attacker":
            assert lab["attacker"] in alerted_src, f"{lab['id']}: attacker {lab['attacker']} not alerted"
        else:  # floods and reflection: the victim is what the alert names
            assert set(lab["victims"]) & alerted_dst, f"{lab['id']}: victim {lab['victims']} not alerted"


def test_demo_prints_an_aligned_table_sorted_by_time_and_ends_with_where_to_search(demo):
    res, tmp = demo
    lines = res.stdout.splitlines()
    assert lines[0].split()[:3] == ["TIME", "SEVERITY", "RULE"]
    column = lines[0].index("SEVERITY")
    times = [line[:23] for line in lines[1:]]
    assert times == sorted(times) and len(times) >= 5
    assert all(line[column - 2:column] == "  " for line in lines[1:]), "columns are not aligned"
    last = res.stderr.strip().splitlines()[-1]
    out = str(tmp / "alerts.jsonl")
    assert f"Alerts file: {out}" in last and f"flowcep alerts search 'event.severity >= 73' --file {out}" in last


def test_progress_reaches_100_only_at_the_end(upstream_ipfix):
    """Reading the last byte is not the end of the run: 100 % is drawn once, after the drain."""
    import io

    from flowcep_plugin.context import Context
    from flowcep_plugin.manager import make_plugin_manager
    from flowcep_plugin.pipeline import Pipeline
    from flowcep_plugin.plan import resolve
    from flowcep_plugin.registry import Registry

    plan = resolve(Registry.build(make_plugin_manager()), {}, {"inputs": [f"ipfix-file:{upstream_ipfix}"]})
    stream = io.StringIO()
    pipeline = Pipeline(plan, Context(), progress_stream=stream)
    drawn_before_finish: list[str] = []
    real_finish = pipeline.finish

    def finish() -> None:
        pipeline._show_progress()  # as the progress timer would, with every byte read
        drawn_before_finish.append(stream.getvalue().rsplit("\r", 1)[-1])
        real_finish()

    pipeline.finish = finish  # type: ignore[method-assign]
    pipeline.run()
    assert "99.9%" in drawn_before_finish[0] and "100.0%" not in drawn_before_finish[0]
    assert stream.getvalue().count("100.0%") == 1 and stream.getvalue().endswith("records\n")


def test_demo_sh_install_is_one_line_and_shows_the_log_on_failure(tmp_path):
    import shutil

    root = Path(__file__).resolve().parents[2]
    fake = tmp_path / "repo"
    (fake / "scripts").mkdir(parents=True)
    shutil.copy(root / "scripts" / "demo.sh", fake / "scripts" / "demo.sh")
    (fake / "scripts" / "bootstrap.sh").write_text(
        "#!/usr/bin/env bash\necho collecting pip 1/3\necho 'ERROR: no wheel for x' >&2\nexit 3\n")
    (fake / "scripts" / "bootstrap.sh").chmod(0o755)
    res = subprocess.run(["bash", str(fake / "scripts" / "demo.sh")], capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 3
    assert res.stderr.splitlines()[0].startswith("flowcep: installing into .venv (log: .venv-install.log) ... failed")
    assert "ERROR: no wheel for x" in res.stderr and "collecting pip 1/3" in res.stderr
    (fake / "scripts" / "bootstrap.sh").write_text("#!/usr/bin/env bash\necho lots of pip noise\n")
    (fake / ".venv" / "bin").mkdir(parents=True)
    (fake / ".venv" / "bin" / "flowcep").write_text("#!/usr/bin/env bash\necho demo ran \"$@\"\n")
    (fake / ".venv" / "bin" / "flowcep").chmod(0o755)
    res = subprocess.run(["bash", str(fake / "scripts" / "demo.sh"), "--out", "x"], capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 0
    assert res.stderr == "flowcep: installing into .venv (log: .venv-install.log) ... done\n"
    assert res.stdout == "demo ran demo --out x\n"
