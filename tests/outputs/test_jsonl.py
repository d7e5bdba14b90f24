"""The jsonl output: appends, writes through per batch, fsync policy, write errors counted."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import Any

import pytest

from flowcep_plugin.cli import main
from flowcep_plugin.context import Context
from flowcep_plugin.errors import ConfigError
from flowcep_plugin.outputs.jsonl import JsonLinesOutput

ALERT = {"event": {"kind": "alert"}, "rule": {"id": "r"}, "source": {"ip": "192.0.2.1"}}


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text().splitlines()]


def output(path: Path | str, **config: Any) -> tuple[JsonLinesOutput, Context]:
    ctx = Context()
    return JsonLinesOutput(str(path), config, ctx), ctx


def test_restart_with_the_same_file_appends(tmp_path: Path) -> None:
    f = tmp_path / "alerts.jsonl"
    for n in (1, 2):
        out, _ = output(f)
        out.write_events([dict(ALERT, n=n)])
        out.flush()
        out.close()
    assert [d["n"] for d in lines(f)] == [1, 2]


def test_append_false_truncates(tmp_path: Path) -> None:
    f = tmp_path / "alerts.jsonl"
    f.write_text('{"old": 1}\n')
    out, _ = output(f, append=False)
    out.write_events([ALERT])
    out.close()
    assert lines(f) == [ALERT]


def test_each_batch_is_on_disk_before_the_next_call(tmp_path: Path) -> None:
    f = tmp_path / "alerts.jsonl"
    out, _ = output(f, fsync="never")
    out.write_events([ALERT])
    assert lines(f) == [ALERT]  # read through another handle while the output is open
    out.close()


@pytest.mark.parametrize("policy, expected", [("never", 0), ("batch", 3), ("interval", 1)])
def test_fsync_policy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, policy: str, expected: int) -> None:
    calls: list[int] = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append(fd), real(fd))[1])
    out, _ = output(tmp_path / "a.jsonl", fsync=policy, fsync_interval="1h")
    for _ in range(3):
        out.write_events([ALERT])
    assert len(calls) == (0 if policy == "interval" else expected)
    out.close()  # interval: what is unsynced gets synced at close
    assert len(calls) == expected


def test_disk_full_is_counted_reported_once_and_not_fatal(capsys: pytest.CaptureFixture[str]) -> None:
    if not os.path.exists("/dev/full"):
        pytest.skip("/dev/full is not available")
    out, ctx = output("/dev/full")
    out.write_events([ALERT, ALERT])
    out.write_events([ALERT])
    out.close()
    snap = ctx.stats.snapshot()
    assert snap["drops"] == {"output-error": 3}
    assert snap["output_failures"] == {"jsonl:/dev/full": 3}
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "No space left on device" in err[0] and "Traceback" not in err[0]


class FailingFile:
    """A file that writes ``partial`` bytes of the first write, then fails with ``error``."""

    closed = False

    def __init__(self, error: int, partial: int = 0) -> None:
        self.error, self.partial, self.data = error, partial, b""

    def write(self, data: Any) -> int:
        if self.partial:
            n, self.partial = self.partial, 0
            self.data += bytes(data[:n])
            return n
        if self.error:
            e, self.error = self.error, 0
            raise OSError(e, os.strerror(e))
        self.data += bytes(data)
        return len(data)

    def fileno(self) -> int:
        raise OSError(errno.EBADF, "not a file")

    def close(self) -> None:
        self.closed = True


def test_io_error_mid_line_then_recovery_starts_a_fresh_line(tmp_path: Path) -> None:
    out, ctx = output(tmp_path / "a.jsonl", fsync="never")
    fake = FailingFile(errno.EIO, partial=5)
    out._fh = fake  # type: ignore[assignment]
    out.write_events([ALERT])  # 5 bytes written, then EIO
    out.write_events([dict(ALERT, n=2)])
    assert ctx.stats.snapshot()["drops"] == {"output-error": 1}
    assert fake.data.split(b"\n")[1] == json.dumps(dict(ALERT, n=2), separators=(",", ":")).encode()


def test_unwritable_path_is_one_line_config_error(tmp_path: Path) -> None:
    if os.geteuid() == 0:  # root writes through file modes; the kernel still refuses these
        target = "/sys/kernel/notes"
        if not os.path.exists(target):
            pytest.skip("no root-proof read-only file here")
    else:
        d = tmp_path / "ro"
        d.mkdir()
        d.chmod(0o500)
        target = str(d / "alerts.jsonl")
    with pytest.raises(ConfigError, match=r"^output jsonl:.*: cannot open for writing: Permission denied$"):
        output(target)


def test_run_exits_3_when_an_output_cannot_write(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if not os.path.exists("/dev/full"):
        pytest.skip("/dev/full is not available")
    flows = tmp_path / "flows.json"
    flows.write_text("".join(json.dumps({"sourceIPv4Address": "192.0.2.1", "destinationIPv4Address": "192.0.2.2",
                                         "flowEndMilliseconds": 1_700_000_000_000 + i}) + "\n" for i in range(5)))
    cfg = tmp_path / "c.toml"
    cfg.write_text("[outputs.jsonl]\nflows = true\n")
    code = main(["run", "-c", str(cfg), "-i", f"json:{flows}", "-o", "jsonl:/dev/full", "--flows",
                 "--no-enrich", "-d", "portscan", "--no-progress", "-q"])
    assert code == 3
    err = capsys.readouterr().err
    assert "output jsonl:/dev/full: cannot write: No space left on device" in err


class FullStream:
    """A text stream on a full disk: every write fails with ENOSPC, as stdout > /dev/full."""

    def write(self, text: str) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def flush(self) -> None:
        return


def test_stdout_on_a_full_disk_is_an_output_failure(capsys: pytest.CaptureFixture[str]) -> None:
    from flowcep_plugin.outputs.jsonl import StdoutOutput

    ctx = Context()
    out = StdoutOutput("json", {}, ctx, stream=FullStream())  # type: ignore[arg-type]
    out.write_events([ALERT, ALERT])
    out.write_events([ALERT])
    out.close()
    snap = ctx.stats.snapshot()
    assert snap["drops"] == {"output-error": 3} and snap["output_failures"] == {"stdout:json": 3}
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["flowcep: error: output stdout:json: cannot write: No space left on device; "
                   "counted as output-error"]


@pytest.mark.parametrize(("section", "expected"), [("", 5), ("[outputs.jsonl]\nflows = false\n", 0)])
def test_run_flows_reach_the_jsonl_file_unless_its_section_says_no(
        tmp_path: Path, section: str, expected: int) -> None:
    """``--flows`` alone is enough (as for elasticsearch); ``flows = false`` keeps them out."""
    flows = tmp_path / "flows.json"
    flows.write_text("".join(json.dumps({"sourceIPv4Address": "192.0.2.1", "destinationIPv4Address": "192.0.2.2",
                                         "flowEndMilliseconds": 1_700_000_000_000 + i}) + "\n" for i in range(5)))
    cfg = tmp_path / "c.toml"
    cfg.write_text(section)
    out = tmp_path / "out.jsonl"
    assert main(["run", "-c", str(cfg), "-i", f"json:{flows}", "-o", f"jsonl:{out}", "--flows",
                 "--no-enrich", "-d", "portscan", "--no-progress", "-q"]) == 0
    docs = lines(out) if out.exists() else []
    assert sum(1 for d in docs if d.get("event.kind") == "event") == expected  # flows are flat ECS


def test_a_restart_does_not_write_an_alert_revision_the_file_holds(tmp_path: Path) -> None:
    """Alert ids are deterministic: what a restarted Kafka worker replays is written once."""
    path = tmp_path / "a.jsonl"
    first = [{"flowcep": {"alert_id": "a1", "revision": 1}}, {"flowcep": {"alert_id": "a2", "revision": 1}}]
    out, ctx = output(str(path))
    out.write_events(first)
    out.close()
    with open(path, "ab") as fh:
        fh.write(b'{"flowcep": {"alert_id": "a3", "rev')  # a kill -9 mid-line
    out, ctx = output(str(path))
    out.write_events([*first, {"flowcep": {"alert_id": "a1", "revision": 2}}, {"event": {"kind": "metric"}},
                      {"flowcep": {"alert_id": "a3", "revision": 1}}])
    out.write_events([{"flowcep": {"alert_id": "a1", "revision": 2}}])  # within the run too
    out.close()
    lines = path.read_bytes().splitlines()
    docs = [json.loads(x) for x in lines[:2] + lines[3:]]
    assert lines[2].startswith(b'{"flowcep": {"alert_id": "a3", "rev') and len(lines) == 6  # cut line kept apart
    keys = [(d["flowcep"]["alert_id"], d["flowcep"]["revision"]) for d in docs if "flowcep" in d]
    assert keys == [("a1", 1), ("a2", 1), ("a1", 2), ("a3", 1)]
    assert ctx.stats.gauges["jsonl.duplicates_skipped"] == 3


@pytest.mark.parametrize("line", [b'["alert_id"]', b'"alert_id"', b'{"event": "x", "alert_id": 1}',
                                  b'{"event": {"kind": "alert"}, "flowcep": ["alert_id"]}',
                                  b'{"event": [1], "flowcep": {"alert_id": "a1"}}'])
def test_whatever_the_file_already_holds_the_output_starts(tmp_path: Path, line: bytes) -> None:
    """The file is appended to: lines of other shapes (another tool's JSON mentioning
    "alert_id") are not alerts to remember; they used to stop the output from starting
    (AttributeError, exit 2)."""
    path = tmp_path / "a.jsonl"
    path.write_bytes(line + b"\n")
    out, _ctx = output(str(path))
    out.write_events([{"flowcep": {"alert_id": "a2", "revision": 1}}])
    out.close()
    assert path.read_bytes().splitlines()[0] == line
    assert len(path.read_bytes().splitlines()) == 2
