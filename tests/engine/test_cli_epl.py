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
    assert len(rows) == 1
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
    rc, _rows, err = run(capsys, str(module), "--input", str(upstream_ipfix))
    assert rc == 0
    assert "dropped records: late=" in err


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
    assert rows == [{"ipfix.sourceIPv4Address": "10.0.0.1", "pkts": 10, "statement": "Sum",
                     "type": "Sum", "timestamp": "1970-01-01T00:01:00.000Z"}]


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
