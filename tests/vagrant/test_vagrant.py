"""The Vagrant demo box, tested without a VM (none can boot here).

- the Vagrantfile passes ``vagrant validate`` with plain Debian vagrant (no plugins) and, when the
  vagrant-libvirt plugin is installed, with the libvirt provider's own checks;
- every provisioning script passes shellcheck;
- the systemd units pass ``systemd-analyze verify`` (ExecStart rewritten to a binary that exists);
- the FlowCEP part of provisioning (vagrant/flowcep.sh) runs for real into a throwaway prefix,
  twice, and the units' own ExecStart lines, with only their paths and ports substituted, replay
  the bundled sample into the collector, which delivers alerts to the Elasticsearch stand-in and
  to the alerts file.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
VAGRANT = ROOT / "vagrant"
SCRIPTS = sorted(VAGRANT.glob("*.sh"))
# The demo's FlowCEP units; flowcep-es-standin.service (offline boxes only) is checked apart.
STANDIN = VAGRANT / "flowcep-es-standin.service"
UNITS = sorted(u for u in VAGRANT.glob("*.service") if u != STANDIN)
VENV_FLOWCEP = "/opt/flowcep/venv/bin/flowcep"

pytestmark = pytest.mark.tools


# --- helpers -----------------------------------------------------------------------------------


def parse_unit(text: str) -> dict[str, list[tuple[str, str]]]:
    """A systemd unit as {section: [(key, value), ...]}; keys repeat, so a list, not a dict."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = pending + raw.strip()
        pending = ""
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], [])
        else:
            key, _, value = line.partition("=")
            current.append((key.strip(), value.strip()))
    return sections


def unit_values(unit: Path, section: str, key: str) -> list[str]:
    return [v for k, v in parse_unit(unit.read_text()).get(section, []) if k == key]


def exec_start(unit: Path, replace: dict[str, str], environment: dict[str, str] | None = None) -> list[str]:
    """The unit's ExecStart as argv, as systemd would run it: ``${VAR}`` from its Environment=
    lines (overridable, as a drop-in would), then the given path substitutions."""
    env: dict[str, str] = {}
    for assignment in unit_values(unit, "Service", "Environment"):
        for word in shlex.split(assignment):
            name, _, value = word.partition("=")
            env[name] = value
    env.update(environment or {})
    (line,) = unit_values(unit, "Service", "ExecStart")
    line = re.sub(r"\$\{(\w+)\}", lambda m: env[m.group(1)], line)
    for old, new in replace.items():
        line = line.replace(old, new)
    return shlex.split(line)


def copy_box(dest: Path) -> Path:
    """Vagrantfile + vagrant/ in a temporary folder: validate writes .vagrant/ next to them."""
    shutil.copy(ROOT / "Vagrantfile", dest / "Vagrantfile")
    shutil.copytree(VAGRANT, dest / "vagrant")
    return dest


def run_vagrant(vagrant: str, cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "VAGRANT_CHECKPOINT_DISABLE": "1", **env}
    return subprocess.run([vagrant, *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=120)


def free_port() -> int:
    """A port free on 127.0.0.1 for both TCP and UDP (the collector listens on both)."""
    for _ in range(50):
        with socket.socket() as tcp:
            tcp.bind(("127.0.0.1", 0))
            port = int(tcp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind(("127.0.0.1", port))
                except OSError:
                    continue
        return port
    raise RuntimeError("no free port")


def http_json(url: str, method: str = "GET") -> dict[str, Any]:
    req = urllib.request.Request(url, method=method)
    with urllib.request.urlopen(req, timeout=10) as resp:
        body: dict[str, Any] = json.load(resp)
        return body


def wait_until(what: str, predicate: Callable[[], object], timeout: float,
               proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"{what}: process exited with {proc.returncode} first:\n{_output(proc)[-3000:]}")
        time.sleep(0.2)
    pytest.fail(f"{what}: not within {timeout} s")


def tcp_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


# --- Vagrantfile -------------------------------------------------------------------------------


def test_vagrantfile_validates_with_plain_vagrant(require_tool: Callable[[str], str], tmp_path: Path) -> None:
    """Debian's vagrant package alone (third-party plugins off) accepts the Vagrantfile."""
    vagrant = require_tool("vagrant")
    box = copy_box(tmp_path)
    # --ignore-provider: no provider (VirtualBox, libvirt) can be installed here.
    res = run_vagrant(vagrant, box, "validate", "--ignore-provider", VAGRANT_NO_PLUGINS="1")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "validated successfully" in res.stdout


def test_vagrant_validate_rejects_a_broken_vagrantfile(require_tool: Callable[[str], str], tmp_path: Path) -> None:
    """The check above can fail: a misspelled option in the same file is reported."""
    vagrant = require_tool("vagrant")
    box = copy_box(tmp_path)
    text = (box / "Vagrantfile").read_text()
    assert 'config.vm.hostname = "flowcep-demo"' in text
    (box / "Vagrantfile").write_text(text.replace("config.vm.hostname =", "config.vm.hostnmae ="))
    res = run_vagrant(vagrant, box, "validate", "--ignore-provider", VAGRANT_NO_PLUGINS="1")
    assert res.returncode != 0
    assert "hostnmae" in res.stdout + res.stderr


def _has_libvirt_plugin(vagrant: str) -> bool:
    res = subprocess.run([vagrant, "plugin", "list"], capture_output=True, text=True, timeout=60)
    return "vagrant-libvirt" in res.stdout


def test_vagrantfile_validates_for_libvirt(require_tool: Callable[[str], str], tmp_path: Path) -> None:
    """With vagrant-libvirt installed, its provider block (memory, cpus, forwards) is checked too,
    and a misspelled libvirt option is caught."""
    vagrant = require_tool("vagrant")
    if not _has_libvirt_plugin(vagrant):
        pytest.skip("the vagrant-libvirt plugin is not installed (optional; apt-get install vagrant-libvirt)")
    box = copy_box(tmp_path)
    res = run_vagrant(vagrant, box, "validate", VAGRANT_DEFAULT_PROVIDER="libvirt")
    assert res.returncode == 0, res.stdout + res.stderr
    text = (box / "Vagrantfile").read_text()
    (box / "Vagrantfile").write_text(text.replace("lv.memory = memory", "lv.memroy = memory"))
    res = run_vagrant(vagrant, box, "validate", VAGRANT_DEFAULT_PROVIDER="libvirt")
    assert res.returncode != 0
    assert "memroy" in res.stdout + res.stderr


def test_elastic_ports_are_forwarded_to_host_loopback_only() -> None:
    """Security is off inside the box, so Kibana and Elasticsearch must never face the network."""
    text = (ROOT / "Vagrantfile").read_text()
    # Join continuation lines: one forwarded_port declaration per entry.
    decls = re.findall(r'vm\.network\s+"forwarded_port",(.*?)(?=\n\s*(?:config|override)\.|\n\s*end\b)', text, re.S)
    by_guest: dict[int, list[str]] = {}
    for decl in decls:
        guest = int(re.search(r"guest:\s*(\d+)", decl).group(1))  # type: ignore[union-attr]
        by_guest.setdefault(guest, []).append(decl)
    for guest in (5601, 9200):
        assert by_guest.get(guest), f"port {guest} is not forwarded"
        for decl in by_guest[guest]:
            assert re.search(r'host_ip:\s*"127\.0\.0\.1"', decl), decl
    assert 4739 in by_guest, "the IPFIX collector port is not forwarded"


# --- shell scripts -----------------------------------------------------------------------------


def test_there_are_scripts_to_check() -> None:
    names = {p.name for p in SCRIPTS}
    assert {"provision.sh", "flowcep.sh", "elastic.sh", "build-box.sh", "fetch-wheels.sh"} <= names


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_shellcheck(require_tool: Callable[[str], str], script: Path) -> None:
    shellcheck = require_tool("shellcheck")
    res = subprocess.run([shellcheck, "-x", "--severity=style", str(script)], cwd=VAGRANT,
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr


def test_flowcep_sh_rejects_bad_arguments(tmp_path: Path) -> None:
    res = subprocess.run(["bash", str(VAGRANT / "flowcep.sh"), "--prefix", str(tmp_path)],
                         capture_output=True, text=True, timeout=30)
    assert res.returncode == 2
    assert "Usage: flowcep.sh" in res.stderr
    res = subprocess.run(["bash", str(VAGRANT / "flowcep.sh"), "--source", str(tmp_path), "--prefix", str(tmp_path)],
                         capture_output=True, text=True, timeout=30)
    assert res.returncode == 1
    assert "no pyproject.toml" in res.stderr


def test_flowcep_sh_refuses_an_empty_wheel_folder(tmp_path: Path) -> None:
    """Offline, an empty --wheels folder is a clear error before pip tries an index."""
    (tmp_path / "wheels").mkdir()
    res = subprocess.run(["bash", str(VAGRANT / "flowcep.sh"), "--source", str(ROOT), "--prefix",
                          str(tmp_path / "p"), "--wheels", str(tmp_path / "wheels")],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 1
    assert "holds no wheels: run vagrant/fetch-wheels.sh" in res.stderr


def test_flowcep_sh_refuses_wheels_without_the_projects(tmp_path: Path) -> None:
    """Wheels of the dependencies only (fetch-wheels.sh not run on this tree): said, not built."""
    (tmp_path / "wheels").mkdir()
    (tmp_path / "wheels" / "pluggy-1.5.0-py3-none-any.whl").write_bytes(b"")
    res = subprocess.run(["bash", str(VAGRANT / "flowcep.sh"), "--source", str(ROOT), "--prefix",
                          str(tmp_path / "p"), "--wheels", str(tmp_path / "wheels")],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 1
    assert "no wheel of flowcep in" in res.stderr and "fetch-wheels.sh" in res.stderr


def test_fetch_wheels_and_build_box_reject_bad_arguments(tmp_path: Path) -> None:
    res = subprocess.run(["bash", str(VAGRANT / "fetch-wheels.sh"), "--source", str(tmp_path)],
                         capture_output=True, text=True, timeout=30)
    assert res.returncode == 1 and "has no pyproject.toml" in res.stderr
    res = subprocess.run(["bash", str(VAGRANT / "fetch-wheels.sh"), "--bogus"], capture_output=True, text=True,
                         timeout=30)
    assert res.returncode == 2 and "Usage: fetch-wheels.sh" in res.stderr
    res = subprocess.run(["bash", str(VAGRANT / "build-box.sh"), "--bogus"], capture_output=True, text=True,
                         timeout=30)
    assert res.returncode == 2 and "Usage: build-box.sh" in res.stderr


def test_provision_offline_mode_is_explicit() -> None:
    """FLOWCEP_VM_OFFLINE=1 never tries Elastic, says so in one line, runs the stand-in and
    reports Kibana's import as skipped; online, a failed Elastic install is an error."""
    text = (VAGRANT / "provision.sh").read_text()
    offline, online = text.split('if [ -n "$OFFLINE" ]; then\n    log "Elasticsearch stand-in (offline)"', 1)[1].split("else", 1)
    assert "elastic.sh" not in offline and "flowcep-es-standin" in offline
    assert "FLOWCEP_VM_OFFLINE=1: not installing Elastic's packages" in offline
    assert 'if ! bash "$SOURCE/vagrant/elastic.sh"; then' in online
    assert "SKIPPED: Kibana import" in text


def test_standin_unit_listens_on_loopback_and_stands_for_elasticsearch() -> None:
    service = dict(parse_unit(STANDIN.read_text())["Service"])
    argv = shlex.split(service["ExecStart"])
    assert argv[argv.index("--host") + 1] == "127.0.0.1"
    assert argv[argv.index("--elasticsearch-port") + 1] == "9200"
    assert service["DynamicUser"] == "yes" and service["Restart"] == "on-failure"
    # The collector's Wants=/After=elasticsearch.service reach the stand-in through its alias.
    assert "elasticsearch.service" in " ".join(unit_values(STANDIN, "Install", "Alias")).split()


# --- systemd units -----------------------------------------------------------------------------


def _verifiable_copies(dest: Path) -> list[Path]:
    """systemd-analyze verify insists that ExecStart's binary exists: point it at one that does."""
    target = shutil.which("flowcep") or sys.executable
    copies = []
    for unit in UNITS:
        copy = dest / unit.name
        copy.write_text(unit.read_text().replace(VENV_FLOWCEP, target))
        copies.append(copy)
    return copies


def _verify(systemd_analyze: str, units: list[Path]) -> subprocess.CompletedProcess[str]:
    res = subprocess.run([systemd_analyze, "verify", *map(str, units)], capture_output=True, text=True,
                         timeout=120, cwd=units[0].parent)
    if "Failed to initialize manager" in res.stderr or "Operation not permitted" in res.stderr:
        pytest.skip(f"systemd-analyze verify cannot run in this environment: {res.stderr.strip()[:200]}")
    return res


def test_units_pass_systemd_analyze_verify(require_tool: Callable[[str], str], tmp_path: Path) -> None:
    systemd_analyze = require_tool("systemd-analyze")
    assert {u.name for u in UNITS} == {"flowcep-collector.service", "flowcep-replay.service"}
    copies = _verifiable_copies(tmp_path)
    res = _verify(systemd_analyze, copies)
    # verify exits 0 on mere warnings (unknown keys, bad values): any line about our units fails.
    ours = [line for line in (res.stdout + res.stderr).splitlines() if "flowcep-" in line]
    assert res.returncode == 0 and not ours, res.stdout + res.stderr


def test_systemd_analyze_verify_reports_a_broken_unit(require_tool: Callable[[str], str], tmp_path: Path) -> None:
    """The check above can fail here: a misspelled directive is reported."""
    systemd_analyze = require_tool("systemd-analyze")
    copy = _verifiable_copies(tmp_path)[0]
    copy.write_text(copy.read_text().replace("Restart=on-failure", "Restrat=on-failure"))
    res = _verify(systemd_analyze, [copy])
    assert "Restrat" in res.stdout + res.stderr


@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_units_are_hardened_and_restart(unit: Path) -> None:
    service = dict(parse_unit(unit.read_text())["Service"])
    assert service["DynamicUser"] == "yes"
    assert service["Restart"] == "on-failure"
    assert service["NoNewPrivileges"] == "yes"
    assert service["ProtectSystem"] == "strict"
    assert service["CapabilityBoundingSet"] == ""
    assert shlex.split(service["ExecStart"])[0] == VENV_FLOWCEP


def test_unit_ordering() -> None:
    collector, replay = VAGRANT / "flowcep-collector.service", VAGRANT / "flowcep-replay.service"
    for key in ("After", "Wants"):
        assert "elasticsearch.service" in " ".join(unit_values(collector, "Unit", key)).split()
        assert "flowcep-collector.service" in " ".join(unit_values(replay, "Unit", key)).split()
    argv = exec_start(replay, {})
    assert argv[1:3] == ["replay", "/opt/flowcep/share/demo.ipfix"]
    assert {"--loop", "--retime"} <= set(argv)
    assert argv[argv.index("--to") + 1] == "ipfix+tcp://127.0.0.1:4739"
    assert exec_start(collector, {})[1:] == ["run", "-c", "/etc/flowcep/flowcep.toml"]


# --- the FlowCEP part of provisioning, for real ------------------------------------------------


@pytest.fixture
def es_standin(es_url: str) -> str:
    """An Elasticsearch REST endpoint on loopback (the shared ``es_url`` fixture)."""
    return es_url


def _install(prefix: Path, cwd: Path, es_major: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(VAGRANT / "flowcep.sh"), "--source", str(ROOT), "--prefix", str(prefix),
         "--python", sys.executable, "--es-major", es_major],
        cwd=cwd, capture_output=True, text=True, timeout=300,
    )


def spawn(argv: list[str], cwd: Path, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start a unit's command with its output in a file (a pipe nobody reads could fill up)."""
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
    proc.log = log  # type: ignore[attr-defined]
    return proc


def _output(proc: subprocess.Popen[bytes]) -> str:
    log = getattr(proc, "log", None)
    return log.read_text(errors="replace") if log is not None else ""


def _stop(proc: subprocess.Popen[bytes], timeout: float) -> str:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
            pytest.fail(f"{proc.args!r} did not stop within {timeout} s of SIGTERM:\n{_output(proc)[-3000:]}")
    return _output(proc)


def export_time_span(path: Path) -> int:
    """Seconds between the first and last IPFIX message export times (RFC 7011 header:
    version, length, export time, ...), read independently of FlowCEP's decoder."""
    data = path.read_bytes()
    times: list[int] = []
    offset = 0
    while offset + 16 <= len(data):
        version, length, export = struct.unpack_from(">HHI", data, offset)
        assert version == 10 and length >= 16, f"not IPFIX at offset {offset}"
        times.append(export)
        offset += length
    return int(max(times) - min(times))


@pytest.mark.slow
def test_provisioned_units_replay_the_sample_into_elasticsearch(tmp_path: Path, es_standin: str) -> None:
    prefix, work = tmp_path / "opt-flowcep", tmp_path / "work"
    work.mkdir()
    server = http_json(es_standin)["version"]["number"]
    es_major = server.split(".")[0]

    # provision.sh runs this; a second run (vagrant provision) must succeed as well.
    for attempt in (1, 2):
        res = _install(prefix, work, es_major)
        assert res.returncode == 0, f"flowcep.sh run {attempt} failed:\n{res.stdout}\n{res.stderr}"
    venv_python = prefix / "venv" / "bin" / "python"
    assert (prefix / "venv" / "bin" / "flowcep").exists()
    # The client follows the server's major (a 9.x client is refused by an 8.x server).
    client = subprocess.run([str(venv_python), "-I", "-c", "import elasticsearch; print(elasticsearch.__versionstr__)"],
                            capture_output=True, text=True, check=True).stdout.strip()
    assert client.split(".")[0] == es_major, (client, server)
    # The installed copy, not the checkout, is what runs.
    where = subprocess.run([str(venv_python), "-I", "-c", "import flowcep_plugin; print(flowcep_plugin.__file__)"],
                           capture_output=True, text=True, check=True).stdout.strip()
    assert Path(where).is_relative_to(prefix / "venv"), where
    sample = prefix / "share" / "demo.ipfix"
    assert sample.read_bytes() == (ROOT / "flowcep_plugin" / "data" / "demo.ipfix").read_bytes()

    # The box's config and units, with only paths and ports moved into the sandbox.
    port = free_port()
    logs, state = tmp_path / "log", tmp_path / "state"
    logs.mkdir()
    state.mkdir()
    config = tmp_path / "flowcep.toml"
    text = (VAGRANT / "flowcep.toml").read_text()
    for old, new in {"0.0.0.0:4739": f"127.0.0.1:{port}", "http://127.0.0.1:9200": es_standin,
                     "/var/log/flowcep": str(logs), "/var/lib/flowcep": str(state)}.items():
        assert old in text, old
        text = text.replace(old, new)
    # A namespace of its own: on a real cluster (FLOWCEP_TEST_ES_URL) earlier runs leave alerts.
    namespace = "vagrant" + uuid.uuid4().hex[:8]
    assert "[outputs.elasticsearch]\n" in text
    text = text.replace("[outputs.elasticsearch]\n", f'[outputs.elasticsearch]\nnamespace = "{namespace}"\n')
    config.write_text(text)
    paths = {"/opt/flowcep": str(prefix), "/etc/flowcep/flowcep.toml": str(config), "127.0.0.1:4739": f"127.0.0.1:{port}"}
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")} | {"PYTHONUNBUFFERED": "1"}

    # provision.sh: the configuration is checked, then templates go in before the collector starts.
    res = subprocess.run([str(prefix / "venv/bin/flowcep"), "validate", "-c", str(config)],
                         cwd=state, env=env, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr
    res = subprocess.run([str(prefix / "venv/bin/flowcep"), "es", "setup", "--url", es_standin],
                         cwd=state, env=env, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr

    collector_argv = exec_start(VAGRANT / "flowcep-collector.service", paths)
    # --retime stamps each message with the wall time it is sent, so the detectors' windows
    # close in real time (minutes, as in the box). Here: one pass of the sample at a pace that
    # takes about 8 s (the documented FLOWCEP_REPLAY_SPEED knob), then SIGTERM, whose flush
    # must deliver every pending alert to both outputs.
    span = export_time_span(sample)
    assert span > 0
    speed = span / 8
    replay_argv = exec_start(VAGRANT / "flowcep-replay.service", paths, {"FLOWCEP_REPLAY_SPEED": f"{speed:g}"})
    started = datetime.now(UTC)
    alerts_file = logs / "alerts.jsonl"
    collector = spawn(collector_argv, state, env, tmp_path / "collector.out")
    replay = None
    try:
        wait_until("collector listening", lambda: tcp_open(port), 30, collector)
        replay = spawn(replay_argv, state, env, tmp_path / "replay.out")
        time.sleep(span / speed + 3)
        assert replay.poll() is None, "the looping replayer stopped:\n" + _stop(replay, 5)
    finally:
        replay_out = _stop(replay, 15) if replay is not None else ""
        collector_out = _stop(collector, 60)
    assert collector.returncode == 0, collector_out[-3000:]

    alerts = [json.loads(line) for line in alerts_file.read_text().splitlines()]
    assert alerts, collector_out[-3000:]
    kinds = {a.get("event", {}).get("kind") for a in alerts}
    assert "alert" in kinds, kinds
    # The sample's ground truth (written by its generator, not by the detectors): every labelled
    # attack is alerted, policy violations included (the box's config describes the sample's
    # network): by its attacker (source.ip), or for floods, whose sources are spoofed or
    # reflectors, by its victim (destination.ip).
    labels = json.loads((ROOT / "flowcep_plugin" / "data" / "demo.labels.json").read_text())["labels"]

    def ips(field: str) -> set[str]:
        found: set[str] = set()
        for a in alerts:
            ip = a.get(field, {}).get("ip")
            found.update(ip if isinstance(ip, list) else [ip] if ip else [])
        return found

    sources, destinations = ips("source"), ips("destination")
    missed = [label["id"] for label in labels
              if (label["attacker"] not in sources if label["match"] == "attacker"
                  else not set(label["victims"]) & destinations)]
    assert labels and not missed, missed
    # --retime: replayed flows, hence alerts, carry today's timestamps, not the sample's.
    stamps = [datetime.fromisoformat(a["@timestamp"].replace("Z", "+00:00")) for a in alerts if "@timestamp" in a]
    assert stamps and all(abs((s - started).total_seconds()) < 86400 for s in stamps), (stamps[:3], replay_out[-500:])

    # The collector flushed on SIGTERM: every alert of the file is in Elasticsearch, once (an
    # alert updated by suppression appears in the file once per revision, in the index once).
    urllib.request.urlopen(urllib.request.Request(f"{es_standin}/logs-flowcep.alert-{namespace}/_refresh", method="POST"),
                           timeout=10).close()
    indexed = http_json(f"{es_standin}/logs-flowcep.alert-{namespace}/_search?size=10000")["hits"]["hits"]
    in_file = {a["flowcep"]["alert_id"] for a in alerts if a.get("event", {}).get("kind") == "alert"}
    in_index = [h["_source"]["flowcep"]["alert_id"] for h in indexed]
    assert len(in_index) == len(set(in_index))
    assert set(in_index) == in_file


# --- documentation stays in step --------------------------------------------------------------


def test_docs_cover_the_knobs_and_the_pinned_version() -> None:
    doc = (ROOT / "docs" / "vagrant.md").read_text()
    knobs = set(re.findall(r'ENV\.fetch\("(\w+)"', (ROOT / "Vagrantfile").read_text()))
    assert knobs >= {"FLOWCEP_VM_MEMORY", "FLOWCEP_VM_CPUS", "FLOWCEP_ELASTIC_VERSION", "FLOWCEP_EXPORTER_HOST_IP"}
    assert not {k for k in knobs if k not in doc}, "knobs missing from docs/vagrant.md"
    defaults = {
        script: re.search(r'FLOWCEP_ELASTIC_VERSION:-([0-9.]+)\}', (VAGRANT / script).read_text()).group(1)  # type: ignore[union-attr]
        for script in ("provision.sh", "elastic.sh")
    }
    (version,) = set(defaults.values())
    assert f"`{version}`" in doc
    assert "sudo systemctl stop flowcep-replay" in doc
    assert "http://127.0.0.1:5601" in doc


def test_box_config_describes_the_samples_network_like_the_demo() -> None:
    """The box replays the bundled sample, so it needs the same network description as
    `flowcep demo` (flowcep_plugin/data/demo.toml) for the zone and policy detections."""
    box = tomllib.loads((VAGRANT / "flowcep.toml").read_text())
    demo = tomllib.loads((ROOT / "flowcep_plugin" / "data" / "demo.toml").read_text())
    for section in ("enrichers", "detectors"):
        assert box.get(section) == demo.get(section), section


# --- offline provisioning: wheels fetched on the host, no index in the box ----------------------


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_flowcep_sh_installs_offline_from_fetched_wheels(tmp_path: Path) -> None:
    """fetch-wheels.sh on the host, then flowcep.sh --wheels with every index unreachable (a dead
    loopback port): what the offline box does (tests/vm boots it for real)."""
    wheels = tmp_path / "wheels"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    python = shutil.which("python3.11") or sys.executable
    res = subprocess.run(["bash", str(VAGRANT / "fetch-wheels.sh"), "--out", str(wheels), "--python", python],
                         capture_output=True, text=True, timeout=600, env=env)
    assert res.returncode == 0, res.stderr[-3000:]
    names = {p.name.split("-")[0].lower() for p in wheels.glob("*.whl")}
    assert {"flowcep", "flowcep_multistage", "elasticsearch", "noida_db", "setuptools"} <= names
    assert next(wheels.glob("elasticsearch-8.*.whl"))  # the stand-in answers as 8.x
    dead = {"PIP_INDEX_URL": "http://127.0.0.1:9/simple", "PIP_EXTRA_INDEX_URL": "", "PIP_FIND_LINKS": ""}
    res = subprocess.run(["bash", str(VAGRANT / "flowcep.sh"), "--source", str(ROOT), "--prefix",
                          str(tmp_path / "p"), "--python", python, "--es-major", "8", "--wheels", str(wheels),
                          "--also", "noida-db>=0.2.3"],
                         capture_output=True, text=True, timeout=600, env=env | dead)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    assert "offline: installing from the wheels" in res.stdout
    venv_python = tmp_path / "p" / "venv" / "bin" / "python"
    out = subprocess.run([str(venv_python), "-I", "-c",
                          "import elasticsearch, noida_db, flowcep_multistage; print(elasticsearch.__versionstr__)"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.startswith("8."), out.stderr
