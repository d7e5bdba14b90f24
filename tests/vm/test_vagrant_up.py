"""`vagrant up` that has really booted: the demo box, built from the Debian mirror, boots under
KVM, provisions offline from the synced folder, and the demo's alerts reach the box's
Elasticsearch (the loopback stand-in, FLOWCEP_VM_OFFLINE=1) and survive a halt and a second up.

Run with ``make vm-test`` (FLOWCEP_VM_TEST=1, root, /dev/kvm, qemu, mmdebstrap). The box is cached
(FLOWCEP_VM_CACHE, default ~/.cache/flowcep-vm); each step's time is printed at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from .qemu_box import BoxFiles, QemuBox, kvm_boots_kernel, kvm_flavour

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("FLOWCEP_VM_CACHE", Path.home() / ".cache" / "flowcep-vm"))
# The multi-stage attacker of the bundled demo sample (flowcep_plugin/data/demo.labels.json).
ATTACKER = "203.0.113.66"
# FlowCEP upstream's sample (../shared/flowcep-upstream, third-party: a test input pushed to the
# VM's /tmp, never into the project) and the one multi-stage attacker the NOMS 2018 demo found.
SHARED = Path(os.environ.get("FLOWCEP_SHARED", ROOT.parent / "shared"))
UPSTREAM = SHARED / "flowcep-upstream" / "data.ipfix"
UPSTREAM_ATTACKER = "59.2.153.68"
UPSTREAM_STAGES = {"multistage-tcp-syn-scan", "multistage-http-scan", "multistage-http-bruteforce"}
# The replay runs faster than real time so that one pass of the ten-minute sample takes one.
REPLAY_SPEED = os.environ.get("FLOWCEP_VM_REPLAY_SPEED", "10")
# The same excludes as the Vagrantfile's rsync synced folder.
SYNC_EXCLUDES = ("./.git", "./.venv", "./.vagrant", "./build", "./dist", "*.egg-info", "__pycache__",
                 ".pytest_cache", ".mypy_cache", ".ruff_cache", ".hypothesis", "./vagrant/wheels")

T = TypeVar("T")


def _why_not() -> str | None:
    if os.environ.get("FLOWCEP_VM_TEST") != "1":
        return "boots a VM for minutes: run it with `make vm-test` (FLOWCEP_VM_TEST=1)"
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return "/dev/kvm is missing or not usable"
    for tool in ("qemu-system-x86_64", "qemu-img", "mmdebstrap", "mke2fs", "ssh", "ssh-keygen"):
        if shutil.which(tool) is None:
            return f"{tool} is missing (apt-get install qemu-system-x86 qemu-utils mmdebstrap openssh-client)"
    if os.geteuid() != 0:
        return "building the box needs root (mmdebstrap)"
    return None


pytestmark = [
    pytest.mark.vm,
    pytest.mark.timeout(1500),
    pytest.mark.skipif(_why_not() is not None, reason=str(_why_not())),
]


class Steps:
    """Times each step, prints them as they end and once more at the end."""

    def __init__(self) -> None:
        self.times: list[tuple[str, float]] = []
        self.started = time.monotonic()

    def run(self, name: str, fn: Callable[[], T]) -> T:
        t0 = time.monotonic()
        try:
            return fn()
        finally:
            took = time.monotonic() - t0
            self.times.append((name, took))
            print(f"[vm-test] {name}: {took:.1f} s", file=sys.stderr, flush=True)

    def report(self) -> str:
        lines = [f"  {name:<44} {took:7.1f} s" for name, took in self.times]
        lines.append(f"  {'total':<44} {time.monotonic() - self.started:7.1f} s")
        return "\n".join(lines)


def _build_box(steps: Steps) -> tuple[BoxFiles, Path]:
    CACHE.mkdir(parents=True, exist_ok=True)
    key = CACHE / "ssh_key"
    if not key.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "flowcep-vm-test",
                        "-f", str(key)], check=True)
    steps.run("build box (mmdebstrap; cached)", lambda: subprocess.run(
        [str(ROOT / "vagrant" / "build-box.sh"), "--out", str(CACHE / "box"),
         "--pubkey", f"{key}.pub"], check=True))
    return BoxFiles.in_dir(CACHE / "box"), key


def _synced_folder(tmp: Path, steps: Steps) -> Path:
    """What `vagrant up` rsyncs to /vagrant, plus the wheels fetched on the host."""
    sync = tmp / "sync"
    sync.mkdir()
    tar = subprocess.Popen(["tar", "-C", str(ROOT), *[f"--exclude={e}" for e in SYNC_EXCLUDES],
                            "-cf", "-", "."], stdout=subprocess.PIPE)
    subprocess.run(["tar", "-C", str(sync), "-xf", "-"], stdin=tar.stdout, check=True)
    assert tar.wait() == 0
    python = shutil.which("python3.11") or "python3"
    steps.run("fetch wheels on the host (pip)", lambda: subprocess.run(
        [str(ROOT / "vagrant" / "fetch-wheels.sh"), "--source", str(ROOT),
         "--out", str(sync / "vagrant" / "wheels"), "--python", python], check=True))
    return sync


def _alerts(vm: QemuBox, query: str) -> list[dict[str, Any]]:
    """`vagrant ssh -c 'flowcep alerts search ...'` against the box's Elasticsearch."""
    out = vm.ssh(f"/opt/flowcep/venv/bin/flowcep alerts search --url http://127.0.0.1:9200 "
                 f"--since 24h --limit 1000 --format json '{query}'", timeout=60)
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


def _es_count(vm: QemuBox) -> int:
    out = vm.ssh("curl -fsS 'http://127.0.0.1:9200/logs-flowcep.alert-*/_count'", timeout=30,
                 check=False)
    if out.returncode != 0:
        return -1
    return int(json.loads(out.stdout)["count"])


def _wait(what: str, timeout: float, probe: Callable[[], T | None], vm: QemuBox) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            journal = vm.ssh("sudo journalctl -b --no-pager -n 80 -u flowcep-collector "
                             "-u flowcep-replay -u flowcep-es-standin", check=False, timeout=30)
            raise AssertionError(f"{what}: not within {timeout:.0f} s\n{journal.stdout[-5000:]}")
        time.sleep(10)


def _accelerator(box: BoxFiles, steps: Steps) -> str:
    """KVM when the guest kernel starts under it; else qemu's emulator (TCG), said loudly: on
    nested hosts whose KVM hangs the guest, the test still boots the real box, only slower."""
    wanted = os.environ.get("FLOWCEP_VM_ACCEL", "auto")
    if wanted in ("kvm", "tcg"):
        return wanted
    why = kvm_flavour()
    if why is None:
        boots, last = steps.run("probe KVM (guest kernel starts?)", lambda: kvm_boots_kernel(box))
        if boots:
            return "kvm"
        why = f"the guest kernel hangs under KVM on this host (last console line: {last!r})"
    print(f"[vm-test] WARNING: {why}; booting with TCG (emulation) instead. "
          "FLOWCEP_VM_ACCEL=kvm forces KVM.", file=sys.stderr, flush=True)
    return "tcg"


@pytest.fixture
def vm(tmp_path: Path) -> Iterator[tuple[QemuBox, Steps, Path]]:
    steps = Steps()
    box, key = _build_box(steps)
    sync = _synced_folder(tmp_path, steps)
    accel = _accelerator(box, steps)
    print(f"[vm-test] accelerator: {accel}", file=sys.stderr, flush=True)
    machine = QemuBox(box, tmp_path / "machine", key, memory_mib=2048, cpus=2, accel=accel)
    try:
        yield machine, steps, sync
    finally:
        machine.destroy()  # `vagrant destroy -f`, also when a step failed
        print("\n[vm-test] step times:\n" + steps.report(), file=sys.stderr, flush=True)


def test_vagrant_up_boots_provisions_and_keeps_alerts(vm: tuple[QemuBox, Steps, Path]) -> None:
    machine, steps, sync = vm
    steps.run("create disk over the box", machine.create)

    def up() -> None:
        machine.boot()
        machine.wait_for_ssh(timeout=180)

    steps.run("boot to SSH (vagrant up, 1st)", up)
    # The guest has no route out: offline provisioning is not a pretence.
    route = machine.ssh("ip route show default; curl -sS --max-time 5 http://deb.debian.org/ "
                        ">/dev/null && echo REACHED", check=False)
    assert "REACHED" not in route.stdout, "the VM can reach the outside network"
    assert "default" not in route.stdout or "10.0.2.2" in route.stdout

    steps.run("rsync the synced folder", lambda: machine.push(sync, "/vagrant"))
    provision = steps.run("provision (offline)", lambda: machine.ssh(
        f"sudo env FLOWCEP_VM_OFFLINE=1 FLOWCEP_REPLAY_SPEED={REPLAY_SPEED} "
        "bash /vagrant/vagrant/provision.sh", timeout=900, check=False))
    output = provision.stdout + provision.stderr
    # Where provisioning spent its time: its step lines carry the seconds since it started.
    print("".join(f"[vm-test]   provision.sh {line}\n" for line in output.splitlines()
                  if line.startswith("==> ")), end="", file=sys.stderr, flush=True)
    assert provision.returncode == 0, f"provisioning failed:\n{output[-6000:]}"
    # Said in one line, and Kibana never reported as imported.
    assert "FLOWCEP_VM_OFFLINE=1: not installing Elastic's packages" in output
    assert "SKIPPED: Kibana import" in output
    assert "Kibana is up" not in output and "FlowCEP demo box is ready (OFFLINE" in output
    for unit in ("flowcep-es-standin", "flowcep-collector", "flowcep-replay"):
        machine.ssh(f"sudo systemctl is-active --quiet {unit}")

    found = steps.run("wait for the attacker's alerts in ES", lambda: _wait(
        f"multi-stage alerts from {ATTACKER} in the VM's Elasticsearch", 600,
        lambda: _alerts(machine, f"rule.id:multistage-* and source.ip:{ATTACKER}"), machine))
    assert all(a["source"]["ip"] == ATTACKER for a in found)
    assert all(a["rule"]["id"].startswith("multistage-") for a in found)
    # The Elasticsearch data stream holds them, not just the local file.
    count = _es_count(machine)
    assert count >= len(found) > 0
    # The table a user sees from `vagrant ssh -c 'flowcep alerts search ...'`.
    table = machine.ssh(f"/opt/flowcep/venv/bin/flowcep alerts search --url http://127.0.0.1:9200 "
                        f"'source.ip:{ATTACKER}'")
    assert ATTACKER in table.stdout and "multistage" in table.stdout
    # flowcep.alert_id: rule + key + window, the document's _id in Elasticsearch.
    ids = {a["flowcep"]["alert_id"] for a in found}

    # A second exporter next to the looping replayer: the upstream sample, replayed once into the
    # same collector, must bring its multi-stage attacker into the same Elasticsearch.
    if UPSTREAM.is_file():
        def replay_upstream() -> None:
            machine.push(UPSTREAM.parent, "/tmp/flowcep-upstream")
            # --retime: its 2018 timestamps become current, as the demo replayer's are.
            machine.ssh("/opt/flowcep/venv/bin/flowcep replay /tmp/flowcep-upstream/data.ipfix "
                        "--to ipfix+tcp://127.0.0.1:4739 --retime --speed 20", timeout=300)

        steps.run("replay the upstream sample once", replay_upstream)
        def all_stages() -> list[dict[str, Any]] | None:
            # The three stages, each an alert. Not the joining multistage-attack: it is emitted
            # when its 5-minute correlation batch closes, which live took longer than the
            # test waits (a run stopped early emits it on shutdown).
            alerts = _alerts(machine, f"rule.id:multistage-* and source.ip:{UPSTREAM_ATTACKER}")
            return alerts if UPSTREAM_STAGES <= {a["rule"]["id"] for a in alerts} else None

        upstream = steps.run(f"wait for {UPSTREAM_ATTACKER}'s alerts in ES", lambda: _wait(
            # 91 s and 199 s in two runs here: the stages come out at the end of their 1- and
            # 2-minute batches, wherever the replay fell in them.
            f"the three multi-stage alerts of {UPSTREAM_ATTACKER} in the VM's Elasticsearch", 420,
            all_stages, machine))
        ids |= {a["flowcep"]["alert_id"] for a in upstream}
    else:
        print(f"[vm-test] SKIPPED: {UPSTREAM} is missing, so the upstream attacker "
              f"{UPSTREAM_ATTACKER} was not checked (set FLOWCEP_SHARED)", file=sys.stderr, flush=True)
    count = _es_count(machine)

    steps.run("vagrant halt", machine.halt)
    steps.run("boot to SSH (vagrant up, 2nd)", up)
    steps.run("services active again", lambda: _wait(
        "the collector and the Elasticsearch stand-in after the reboot", 180,
        lambda: machine.ssh("sudo systemctl is-active --quiet flowcep-es-standin flowcep-collector "
                            "&& curl -fsS http://127.0.0.1:9200/ >/dev/null",
                            check=False).returncode == 0, machine))
    kept = {a["flowcep"]["alert_id"] for a in _alerts(
        machine, f"source.ip:{ATTACKER} or source.ip:{UPSTREAM_ATTACKER}")}
    assert ids <= kept, f"alerts lost over halt/up: {sorted(ids - kept)}"
    assert _es_count(machine) >= count

    steps.run("vagrant destroy -f", machine.destroy)
    assert not machine.disk.exists()
