"""A Vagrant-like life cycle (up, ssh, halt, destroy) for the box of vagrant/build-box.sh, run with
qemu directly so that the host reaches the guest only through a loopback port forward.

Why not vagrant-libvirt: libvirt's management network is a bridge on a private subnet in the
host's own network namespace, which this project's network rule forbids; qemu's user-mode
network with ``restrict=on`` gives the guest no route out and the host one loopback port (SSH).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["BoxFiles", "QemuBox", "free_loopback_port", "kvm_boots_kernel", "kvm_flavour"]


def kvm_flavour() -> str | None:
    """Why KVM may not boot an ordinary kernel here, or None. A host whose /dev/kvm comes from
    kvm_pvm (Pagetable-based Virtual Machine, for nested hosts without VMX/SVM, e.g. inside a
    Firecracker microVM) runs only guest kernels built with CONFIG_PVM_GUEST; Debian's is not."""
    if Path("/sys/module/kvm_pvm").is_dir() and not Path("/sys/module/kvm_intel").is_dir() \
            and not Path("/sys/module/kvm_amd").is_dir():
        return ("/dev/kvm is kvm_pvm (no VMX/SVM on this host), which boots only kernels built "
                "with CONFIG_PVM_GUEST; Debian's linux-image-amd64 is not one")
    return None


def kvm_boots_kernel(box: BoxFiles, timeout: float = 30) -> tuple[bool, str]:
    """Whether the box's kernel starts under KVM here: on some nested hosts /dev/kvm opens and
    qemu runs, but the guest kernel hangs right after the boot loader (no "Linux version" on
    the serial console). Returns (boots, the console's last line)."""
    cmd = ["qemu-system-x86_64", "-accel", "kvm", "-m", "512", "-smp", "1", "-nic", "none",
           "-display", "none", "-monitor", "none", "-serial", "stdio", "-no-reboot",
           "-kernel", str(box.kernel), "-initrd", str(box.initrd),
           "-append", "console=ttyS0 earlyprintk=ttyS0 panic=-1"]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    assert proc.stdout is not None
    os.set_blocking(proc.stdout.fileno(), False)
    seen = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            chunk = proc.stdout.read() or b""
            seen += chunk
            if b"Linux version" in seen:
                return True, "Linux version ..."
            time.sleep(0.2)
        seen += proc.stdout.read() or b""
        return b"Linux version" in seen, (seen.decode(errors="replace").strip().splitlines() or [""])[-1]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        proc.stdout.close()


def free_loopback_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class BoxFiles:
    """What build-box.sh writes: a root file system image and the kernel that boots it."""

    rootfs: Path
    kernel: Path
    initrd: Path

    @classmethod
    def in_dir(cls, folder: Path) -> BoxFiles:
        return cls(folder / "rootfs.qcow2", folder / "vmlinuz", folder / "initrd.img")


@dataclass
class QemuBox:
    """One machine: a copy-on-write disk over the box (``vagrant up`` makes the same), booted and
    halted as often as wanted, and destroyed with its disk."""

    box: BoxFiles
    workdir: Path
    ssh_key: Path
    memory_mib: int = 2048
    cpus: int = 2
    accel: str = "kvm"
    ssh_port: int = field(default_factory=free_loopback_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def disk(self) -> Path:
        return self.workdir / "disk.qcow2"

    @property
    def console_log(self) -> Path:
        return self.workdir / "console.log"

    def create(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", str(self.box.rootfs),
             str(self.disk)], check=True)

    def boot(self) -> None:
        """Start qemu (returns at once); wait_for_ssh() says when the guest is up."""
        if self.process is not None and self.process.poll() is None:
            raise RuntimeError("the machine is already running")
        # restrict=on: the guest cannot reach anything outside (no route out); the only way in
        # is the SSH forward bound to the host's 127.0.0.1.
        nic = (f"user,model=virtio-net-pci,restrict=on,"
               f"hostfwd=tcp:127.0.0.1:{self.ssh_port}-:22")
        cmd = [
            # The CPU model matters: qemu's default (qemu64) lacks SSE4.2/POPCNT, and the numpy
            # and orjson wheels FlowCEP installs die with "Illegal instruction" on it.
            "qemu-system-x86_64", "-accel", self.accel, "-cpu", "host" if self.accel == "kvm" else "max",
            "-machine", "q35",
            "-m", str(self.memory_mib), "-smp", str(self.cpus),
            "-kernel", str(self.box.kernel), "-initrd", str(self.box.initrd),
            "-append", "root=/dev/vda rw console=ttyS0 net.ifnames=1",
            "-drive", f"file={self.disk},if=virtio,format=qcow2",
            "-nic", nic,
            "-display", "none", "-monitor", "none",
            "-serial", f"file:{self.console_log}",
        ]
        with open(self.workdir / "qemu.stderr", "ab") as stderr:
            self.process = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                            stderr=stderr, start_new_session=True)

    def ssh_command(self, command: str) -> list[str]:
        return ["ssh", "-i", str(self.ssh_key), "-p", str(self.ssh_port),
                "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
                "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
                "-o", "ConnectTimeout=5", "-o", "ServerAliveInterval=10",
                "vagrant@127.0.0.1", command]

    def ssh(self, command: str, *, timeout: float = 120,
            check: bool = True) -> subprocess.CompletedProcess[str]:
        """``vagrant ssh -c COMMAND``: run COMMAND as the vagrant user, output captured."""
        proc = subprocess.run(self.ssh_command(command), stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"in the VM, `{command}` exited {proc.returncode}:\n"
                                 f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        return proc

    def wait_for_ssh(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                raise AssertionError(f"qemu exited while booting:\n{self.console_tail()}")
            try:
                if self.ssh("true", timeout=15, check=False).returncode == 0:
                    return
            except subprocess.TimeoutExpired:
                pass
            time.sleep(2)
        raise AssertionError(f"no SSH on 127.0.0.1:{self.ssh_port} after {timeout:.0f} s:\n"
                             f"{self.console_tail()}")

    def push(self, source: Path, dest: str, excludes: Sequence[str] = ()) -> None:
        """``vagrant rsync``: copy the tree SOURCE into DEST in the guest (over SSH: tar)."""
        tar = subprocess.Popen(
            ["tar", "-C", str(source), *[f"--exclude={e}" for e in excludes], "-cf", "-", "."],
            stdout=subprocess.PIPE)
        ssh = subprocess.run(
            self.ssh_command(f"sudo rm -rf {dest} && sudo mkdir -p {dest} && sudo tar -C {dest} -xf -"),
            stdin=tar.stdout, capture_output=True, text=True, timeout=300)
        assert tar.stdout is not None
        tar.stdout.close()
        if tar.wait() != 0 or ssh.returncode != 0:
            raise AssertionError(f"copying {source} into the VM failed: {ssh.stderr[-2000:]}")

    def halt(self, timeout: float = 120) -> None:
        """``vagrant halt``: a clean shutdown from inside, then wait for qemu to exit."""
        assert self.process is not None
        self.ssh("sudo systemctl poweroff", timeout=30, check=False)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the VM did not power off within {timeout:.0f} s:\n"
                                 f"{self.console_tail()}") from None

    def kill(self) -> None:
        """Stop qemu by the process id this object started, whatever its state."""
        if self.process is not None and self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait(timeout=30)

    def destroy(self) -> None:
        """``vagrant destroy -f``: the machine and its disk are gone."""
        self.kill()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def console_tail(self, chars: int = 4000) -> str:
        try:
            return self.console_log.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no console log)"
