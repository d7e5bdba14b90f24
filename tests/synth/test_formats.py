"""The three output formats describe the same traffic: the detectors see the same flows
from JSON lines and from IPFIX, and the pcap flow meter finds the attack in the packets."""

from __future__ import annotations

import pytest

from flowcep_plugin.synth import generate
from flowcep_plugin.synth.evaluation import installed_detectors
from flowcep_plugin.synth.output import write_scenario


@pytest.fixture(scope="module")
def have_portscan() -> None:
    if "portscan" not in installed_detectors():
        pytest.skip("flowcep-portscan is not installed")


def _messages(events: list[dict]) -> list[str]:
    return sorted(e["message"] for e in events if e.get("event", {}).get("kind") == "alert")


def test_jsonl_and_ipfix_give_the_same_alerts(tmp_path, have_portscan) -> None:
    from flowcep_plugin import api

    s = generate("portscan-horizontal", 2, 180, clients=3)
    write_scenario(s, tmp_path / "s.ipfix")
    write_scenario(s, tmp_path / "s.jsonl")
    a = api.run(inputs=[str(tmp_path / "s.ipfix")], detectors=["portscan"])
    b = api.run(inputs=[f"json:{tmp_path / 's.jsonl'}"], detectors=["portscan"])
    assert _messages(a.events) == _messages(b.events) and len(_messages(a.events)) == 1
    assert "203.0.113.21" in _messages(a.events)[0]


def test_pcap_through_the_flow_meter_finds_the_scan(tmp_path, have_portscan) -> None:
    from flowcep_plugin import api

    s = generate("portscan-vertical", 2, 180, clients=1, busy=False)
    s.conversations = [c for c in s.conversations if c.label >= 0 or c.fwd_packets + c.rev_packets < 30]
    write_scenario(s, tmp_path / "s.pcap")
    res = api.run(inputs=[f"pcap:{tmp_path / 's.pcap'}"], detectors=["portscan"])
    msgs = _messages(res.events)
    assert any("203.0.113.22" in m and "1024" in m for m in msgs), msgs
