"""``flowcep epl``: espercli-like JSON lines, default/explicit --emit, late drops, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flowcep_plugin.cli import main


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[dict], str]:
    rc = main(["epl", *args])
    cap = capsys.readouterr()
    return rc, [json.loads(x) for x in cap.out.splitlines()], cap.err


def test_module_10_prints_the_attacker_row(shared_file, upstream_ipfix, capsys) -> None:
    module = shared_file("flowcep-upstream/queries/10-Multiphase_grouped.epl")
    rc, rows, err = run(capsys, str(module), "--input", str(upstream_ipfix), "--lateness", "400s")
    assert rc == 0 and err == ""
    # the attacker's row, then the group again with empty values when its rows leave the windows
    assert len(rows) == 2 and rows[1]["TCPSYNscanCount"] is None
    row = rows[0]
    assert list(row) == ["Attacker", "TCPSYNscanCount", "HTTPscanCount", "BruteForceCount",
                         "statement", "type", "timestamp"]
    assert row["Attacker"] == "59.2.153.68"
    assert (row["statement"], row["type"]) == ("Output", "DetectionResults")
    assert row["timestamp"].startswith("2018-04-12T") and row["timestamp"].endswith("Z")


def test_emit_names_statements_and_unaliased_columns_keep_their_text(shared_file, upstream_ipfix, capsys) -> None:
    module = shared_file("flowcep-upstream/queries/11-Multiphase_non_grouped.epl")
    rc, rows, _err = run(capsys, str(module), "-i", f"ipfix-file:{upstream_ipfix}", "--lateness", "400s",
                         "--emit", "HTTPscanUniques,HTTPscan")
    assert rc == 0
    types = {r["type"] for r in rows}
    assert types == {"Uniques", "HTTPscan"}
    uniq = next(r for r in rows if r["type"] == "Uniques")
    assert {"ipfix.sourceIPv4Address", "ipfix.HTTPRequestURL", "count(*)"} <= uniq.keys()


def test_short_lateness_counts_late_records(shared_file, upstream_ipfix, capsys) -> None:
    module = shared_file("flowcep-upstream/queries/01-TCPSYNscan.epl")
    rc, _rows, err = run(capsys, str(module), "--input", str(upstream_ipfix), "--lateness", "5s")
    assert rc == 0
    assert "dropped records: late=" in err


def test_file_inputs_default_to_a_long_lateness(shared_file, upstream_ipfix, capsys) -> None:
    """With the file default (10 min) nothing of data.ipfix is late."""
    module = shared_file("flowcep-upstream/queries/01-TCPSYNscan.epl")
    rc, _rows, err = run(capsys, str(module), "--input", str(upstream_ipfix))
    assert rc == 0
    assert "dropped records" not in err


def test_json_lines_input_like_espercli(tmp_path: Path, capsys) -> None:
    data = tmp_path / "flows.jsonl"
    data.write_text("".join(json.dumps({"ipfix.flowEndMilliseconds": 1_000 * i,
                                        "ipfix.sourceIPv4Address": "10.0.0.1",
                                        "ipfix.packetDeltaCount": i}) + "\n" for i in range(5)))
    module = tmp_path / "m.epl"
    module.write_text("""@Name('Schema') @Tag(name='timestamp', value='ipfix.flowEndMilliseconds')
create map schema IPFIX(ipfix.flowEndMilliseconds long, ipfix.sourceIPv4Address string,
                        ipfix.packetDeltaCount int);
// sum per source over the whole (short) input
@Name('Sum') select ipfix.sourceIPv4Address, sum(ipfix.packetDeltaCount) as pkts
from IPFIX#time_batch(1 min) group by ipfix.sourceIPv4Address
""")
    rc, rows, _ = run(capsys, str(module), "--input", f"json:{data}")
    assert rc == 0
    # the group, then (next batch, empty) the group that left with sum null, as Esper does
    assert rows == [{"ipfix.sourceIPv4Address": "10.0.0.1", "pkts": 10, "statement": "Sum",
                     "type": "Sum", "timestamp": "1970-01-01T00:01:00.000Z"},
                    {"ipfix.sourceIPv4Address": "10.0.0.1", "pkts": None, "statement": "Sum",
                     "type": "Sum", "timestamp": "1970-01-01T00:02:00.000Z"}]


def test_errors_are_one_line_with_place(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.epl"
    bad.write_text("@Name('A')\nselect a from Flow where\n")
    assert main(["epl", str(bad), "--input", "nothing.ipfix"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"flowcep: error: {bad}:3:1: syntax error") and "\n" not in err
    good = tmp_path / "good.epl"
    good.write_text("@Name('A') select a from Flow")
    assert main(["epl", str(good), "--input", "nothing.ipfix", "--emit", "B"]) == 2
    assert "--emit B: no such statement" in capsys.readouterr().err


def test_live_udp_input_closes_windows_by_wall_clock_when_idle(tmp_path: Path) -> None:
    """A silent live input must not hold a window open: idle time moves the watermark."""
    import io
    import os
    import signal
    import socket
    import subprocess
    import sys
    import time

    from flowcep_plugin.ipfix_writer import IPFIXWriter

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    module = tmp_path / "live.epl"
    module.write_text("@Name('Per') select sourceIPv4Address as src, count(*) as n "
                      "from Flow#time_batch(1 sec) group by sourceIPv4Address")
    early = ""
    # block-buffered stdout, as in a real pipe: the command itself must flush each row
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "flowcep_plugin.cli", "epl", str(module), "--input",
         f"ipfix+udp://127.0.0.1:{port}", "--lateness", "1s"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        buf = io.BytesIO()
        w = IPFIXWriter(buf)
        w.add_template(256, [("sourceIPv4Address", 4), ("flowEndMilliseconds", 8)])
        now = int(time.time() * 1000)
        w.write(256, [("10.1.1.1", now), ("10.1.1.1", now + 10), ("10.2.2.2", now + 20)], now // 1000)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # wait until the collector holds the port
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
                try:
                    probe.bind(("127.0.0.1", port))
                except OSError:
                    break
            time.sleep(0.1)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
            tx.sendto(buf.getvalue(), ("127.0.0.1", port))
        # nothing more arrives: after ~2 s idle the batch must be printed, before any stop
        import selectors

        sel = selectors.DefaultSelector()
        assert proc.stdout is not None
        sel.register(proc.stdout, selectors.EVENT_READ)
        assert sel.select(timeout=15), "no row while the input stayed silent"
        early = proc.stdout.readline()
        assert json.loads(early)["n"] in (1, 2)
        time.sleep(0.5)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        # read through the file objects: readline() above may have buffered more lines
        assert proc.stdout is not None and proc.stderr is not None
        out, err = proc.stdout.read(), proc.stderr.read()
    rows = [json.loads(x) for x in [early, *out.splitlines()]]
    # then, from the next (empty) batch, both groups again with count 0
    assert sorted((r["src"], r["n"]) for r in rows) == [
        ("10.1.1.1", 0), ("10.1.1.1", 2), ("10.2.2.2", 0), ("10.2.2.2", 1)], err


def test_division_by_zero_prints_javas_text_and_stays_json() -> None:
    """`/` by zero is Infinity or NaN as in Esper; JSON has no such numbers, so `flowcep epl`
    prints Java's text for them and every line still parses as strict JSON."""
    from flowcep_plugin.cli.epl import format_row
    from flowcep_plugin.engine.harness import Harness

    h = Harness("@Name('s0') select i / j as q, i as i from Flow")
    for t, (i, j) in enumerate([(100, 0), (-5, 0), (0, 0), (6, 4)]):
        h.send(t, i=i, j=j)
    lines = [format_row(r) for r in h.of("s0")]
    docs = [json.loads(ln, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}")) for ln in lines]
    assert [d["q"] for d in docs] == ["Infinity", "-Infinity", "NaN", 1.5]
    assert [d["i"] for d in docs] == [100, -5, 0, 6]


def test_emit_names_a_create_window_statement(tmp_path: Path, capsys) -> None:
    """A create window's rows (the window's insert and remove streams, as Esper's create
    listener gets them) print only when --emit names the statement."""
    data = tmp_path / "flows.jsonl"
    data.write_text("".join(json.dumps({"flowEndMilliseconds": 1_000 * i, "k": k}) + "\n"
                            for i, k in enumerate(["a", "b"])))
    module = tmp_path / "w.epl"
    module.write_text("@Name('create') create window W#length(1) as (k string);\n"
                      "insert into W select k from Flow;\n"
                      "@Name('c') select k from W;\n")
    rc, rows, _ = run(capsys, str(module), "--input", f"json:{data}")
    assert rc == 0 and {r["statement"] for r in rows} == {"c"}
    rc, rows, _ = run(capsys, str(module), "--input", f"json:{data}", "--emit", "create")
    assert rc == 0
    assert [(r["k"], r.get("removed", False), r["type"]) for r in rows] == [
        ("a", False, "create"), ("b", False, "create"), ("a", True, "create")]
