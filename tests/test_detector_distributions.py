"""A detector distribution installed alone next to the host works; uninstalled, it is gone.

A fresh virtual environment sees the host's dependencies (and the host itself) through a
filtered copy of the project venv's site-packages that leaves out every ``flowcep_*``
detector distribution; then one plugin is pip-installed (non-editable, from a copy of its
folder) and uninstalled again, and ``flowcep plugins --json`` is asked each time.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PLUGINS = ROOT / "plugins"
_PLUGIN_ENTRY = re.compile(r"flowcep_[a-z]")  # flowcep_portscan..., not flowcep-0.1.0 / flowcep_0_1_0


def _py(venv: Path) -> str:
    return str(venv / "bin" / "python")


def _listed(venv: Path) -> dict[str, dict]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOWCEP_")}
    env.pop("PYTHONPATH", None)
    res = subprocess.run([_py(venv), "-m", "flowcep_plugin.cli", "plugins", "--json"], env=env,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    return {p["name"]: p for p in json.loads(res.stdout)["plugins"]}


def _pip(venv: Path, *args: str) -> None:
    res = subprocess.run([sys.executable, "-m", "pip", "--python", _py(venv), "--disable-pip-version-check",
                          *args], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("fresh")
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    deps = base / "deps"
    deps.mkdir()
    site = Path(sysconfig.get_paths()["purelib"])
    for entry in site.iterdir():
        if not _PLUGIN_ENTRY.search(entry.name):
            (deps / entry.name).symlink_to(entry)
    res = subprocess.run([_py(venv), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                         capture_output=True, text=True, check=True)
    Path(res.stdout.strip(), "_flowcep_host.pth").write_text(f"import site; site.addsitedir({str(deps)!r})\n")
    return venv


@pytest.mark.slow
def test_plugin_installed_alone_is_listed_and_works_then_uninstalled(fresh_venv: Path, tmp_path: Path) -> None:
    detectors = {"multistage", "portscan", "bruteforce", "volumetric", "policy", "trafficstats"}
    before = _listed(fresh_venv)
    assert "jsonl" in before  # the host itself loads
    assert not detectors & set(before), "the fresh venv must start without detector plugins"

    src = tmp_path / "flowcep-portscan"
    shutil.copytree(PLUGINS / "flowcep-portscan", src, ignore=shutil.ignore_patterns("*.egg-info", "build",
                                                                                   "__pycache__"))
    _pip(fresh_venv, "install", "-q", "--no-deps", "--no-build-isolation", str(src))
    after = _listed(fresh_venv)
    assert after["portscan"]["distribution"] == "flowcep-portscan"
    assert after["portscan"]["status"] == "loaded"
    assert "detector:portscan" in after["portscan"]["components"]
    assert not (detectors - {"portscan"}) & set(after)

    # the installed copy detects: a 30-host SYN sweep of port 22 through the harness
    code = (
        "from flowcep_portscan import SPEC\n"
        "import flowcep_portscan\n"
        "from flowcep_plugin.testing import make_flow, run_detector\n"
        "assert 'site-packages' in flowcep_portscan.__file__, flowcep_portscan.__file__\n"
        "recs = [make_flow('192.0.2.1', f'10.0.0.{i}', 22, end_ms=1_700_000_100_000 + i) for i in range(30)]\n"
        "print(run_detector(SPEC, recs)[0]['flowcep']['counts']['hosts'])\n"
    )
    res = subprocess.run([_py(fresh_venv), "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "30"

    _pip(fresh_venv, "uninstall", "-y", "-q", "flowcep-portscan")
    assert "portscan" not in _listed(fresh_venv)
