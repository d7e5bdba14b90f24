"""Third-party plugins installed from their own pyproject: discovered, listed, configured,
called; a broken one reported and skipped; SIGTERM drains and flushes every alert."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures" / "thirdparty"


@pytest.fixture(scope="module")
def plugin_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """pip-install both fixture plugins into a private target dir; PYTHONPATH exposes them."""
    target = tmp_path_factory.mktemp("site")
    for name in ("good", "broken"):
        src = tmp_path_factory.mktemp(name)
        subprocess.run(["cp", "-r", f"{FIXTURES / name}/.", str(src)], check=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
             "--disable-pip-version-check", "--target", str(target), str(src)],
            check=True, capture_output=True,
        )
    env = dict(os.environ)
    env["PYTHONPATH"] = str(target)
    env.pop("FLOWCEP_LOAD_PLUGINS", None)
    env.pop("FLOWCEP_DISABLE_PLUGINS", None)
    return env


def flowcep(env: dict[str, str], *args: str, **kw) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "flowcep_plugin.cli", *args], env=env,
                          capture_output=True, text=True, timeout=120, **kw)


def test_listed_with_distribution_and_broken_one_reported(plugin_env):
    res = flowcep(plugin_env, "plugins", "--json")
    assert res.returncode == 0, res.stderr
    plugins = {p["name"]: p for p in json.loads(res.stdout)["plugins"]}
    good = plugins["testplugin"]
    assert good["distribution"] == "flowcep-testplugin"
    assert good["version"] == "1.2.3"
    assert good["origin"] == "entry point"
    assert good["status"] == "loaded"
    assert set(good["components"]) == {"input:counter", "detector:every-k", "output:memory"}
    bad = plugins["brokenplugin"]
    assert bad["status"] == "failed"
    assert "broken on purpose" in bad["error"]
    # builtin components come through the same entry-point group
    assert plugins["jsonl"]["origin"] == "builtin"
    # the table names the failure too, and stderr carries a one-line warning
    table = flowcep(plugin_env, "plugins")
    assert "brokenplugin" in table.stdout and "broken on purpose" in table.stdout


def test_strict_refuses_a_broken_plugin(plugin_env):
    res = flowcep(plugin_env, "plugins", "--strict")
    assert res.returncode == 2
    assert "brokenplugin" in res.stderr and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_configured_and_called(plugin_env, tmp_path):
    cfg = tmp_path / "flowcep.toml"
    out = tmp_path / "alerts.jsonl"
    cfg.write_text('[run]\ninputs = ["counter:1000"]\ndetectors = ["every-k"]\n'
                   '[detectors.every-k]\nk = 250\n[alerts]\nsuppression = 0\n')
    res = flowcep(plugin_env, "run", "-c", str(cfg), "--output", f"jsonl:{out}", "--quiet")
    assert res.returncode == 0, res.stderr
    seqs = [json.loads(line)["flowcep"]["seq"] for line in out.read_text().splitlines()]
    assert seqs == [249, 499, 749, 999]


def test_bad_plugin_config_is_one_line_exit_2(plugin_env, tmp_path):
    cfg = tmp_path / "flowcep.toml"
    cfg.write_text('[detectors.every-k]\nk = "many"\n')
    res = flowcep(plugin_env, "run", "-c", str(cfg), "--input", "counter:10", "--output", "stdout")
    assert res.returncode == 2
    errors = [line for line in res.stderr.splitlines() if line.startswith("flowcep: error:")]
    assert errors == [f"flowcep: error: {cfg}: detectors.every-k.k: expected integer, got str 'many'"]
    assert "Traceback" not in res.stderr


def test_disable_plugins_by_environment(plugin_env):
    env = dict(plugin_env, FLOWCEP_DISABLE_PLUGINS="testplugin,brokenplugin")
    plugins = {p["name"]: p for p in json.loads(flowcep(env, "plugins", "--json").stdout)["plugins"]}
    assert plugins["testplugin"]["status"] == "disabled"
    assert plugins["testplugin"]["components"] == []


def test_sigterm_drains_and_flushes_every_alert(plugin_env, tmp_path):
    """Stop a slow run with SIGTERM: every alert for every record read reaches the file."""
    out = tmp_path / "alerts.jsonl"
    stats_path = tmp_path / "stats.json"
    cfg = tmp_path / "c.toml"
    cfg.write_text('[detectors.every-k]\nk = 7\n[alerts]\nsuppression = 0\n')
    proc = subprocess.Popen(
        [sys.executable, "-m", "flowcep_plugin.cli", "run", "-c", str(cfg),
         "--input", "counter:1000000?delay=0.02&batch=50", "--detector", "every-k",
         "--output", f"jsonl:{out}", "--stats-json", str(stats_path), "--lateness", "3600s"],
        env=plugin_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    time.sleep(3.0)  # start-up plus a few hundred records
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    stats = json.loads(stats_path.read_text())
    read = stats["stages"]["input"]["in"]
    assert 0 < read < 1_000_000
    # The lateness holds an hour of records back: only the drain can release them.
    seqs = [json.loads(line)["flowcep"]["seq"] for line in out.read_text().splitlines()]
    assert seqs == [s for s in range(read) if (s + 1) % 7 == 0]
    assert stats["alerts_by_rule"]["every-k"] == len(seqs)
    assert "SIGTERM received" in err
