"""Same seed, same bytes; different seeds differ; nothing depends on global random or the clock."""

from __future__ import annotations

import io
import json
import random

import pytest

from flowcep_plugin.synth import DEFAULT_START_MS, generate
from flowcep_plugin.synth.flows import write_ipfix, write_jsonl
from flowcep_plugin.synth.output import labels_json
from flowcep_plugin.synth.pcap_out import write_pcap
from flowcep_plugin.synth.scenarios import SCENARIOS


def _ipfix(name: str, seed: int, duration: float, **kw: object) -> bytes:
    buf = io.BytesIO()
    write_ipfix(generate(name, seed, duration, **kw), buf)  # type: ignore[arg-type]
    return buf.getvalue()


@pytest.mark.parametrize("name", ["mixed", "benign"])
def test_same_seed_same_ipfix_bytes_and_labels(name: str) -> None:
    a = _ipfix(name, 7, 600)
    random.seed(12345)  # perturb the global generator: the scenario must not use it
    random.random()
    b = _ipfix(name, 7, 600)
    assert a == b and len(a) > 100_000
    assert labels_json(generate(name, 7, 600)) == labels_json(generate(name, 7, 600))


def test_different_seeds_differ() -> None:
    assert _ipfix("multistage-http", 1, 360) != _ipfix("multistage-http", 2, 360)
    la = json.loads(labels_json(generate("multistage-http", 1, 360)))
    lb = json.loads(labels_json(generate("multistage-http", 2, 360)))
    # the web servers found (victims of stage 2) are drawn per seed
    assert la["labels"][1]["victims"] != lb["labels"][1]["victims"]


def test_start_time_shifts_every_record_and_nothing_else() -> None:
    one_hour = 3_600_000
    a = generate("portscan-vertical", 3, 180)
    b = generate("portscan-vertical", 3, 180, start_ms=DEFAULT_START_MS + one_hour)
    assert len(a.conversations) == len(b.conversations)
    for ca, cb in zip(a.conversations, b.conversations, strict=True):
        assert cb.start_ms - ca.start_ms == one_hour and cb.end_ms - ca.end_ms == one_hour
        assert (ca.client, ca.server, ca.dport, ca.fwd_bytes) == (cb.client, cb.server, cb.dport, cb.fwd_bytes)
    assert b.labels[0].start_ms - a.labels[0].start_ms == one_hour


@pytest.mark.slow
def test_same_seed_same_pcap_bytes(tmp_path) -> None:
    s = generate("portscan-horizontal", 5, 180, clients=1, busy=False)
    write_pcap(s, str(tmp_path / "a.pcap"))
    random.seed(999)
    write_pcap(generate("portscan-horizontal", 5, 180, clients=1, busy=False), str(tmp_path / "b.pcap"))
    a, b = (tmp_path / "a.pcap").read_bytes(), (tmp_path / "b.pcap").read_bytes()
    assert a == b and len(a) > 10_000
    write_pcap(generate("portscan-horizontal", 6, 180, clients=1, busy=False), str(tmp_path / "c.pcap"))
    assert (tmp_path / "c.pcap").read_bytes() != a


def test_jsonl_records_are_the_ipfix_records(tmp_path) -> None:
    s = generate("policy-violation", 1, 180, clients=2)
    buf = io.StringIO()
    n = write_jsonl(s, buf)
    rows = [json.loads(line) for line in buf.getvalue().splitlines()]
    assert n == len(rows) == sum((c.fwd_packets > 0) + (c.rev_packets > 0) for c in s.conversations)
    ends = [r["flowEndMilliseconds"] for r in rows]
    assert ends == sorted(ends)
    assert all(r["flowStartMilliseconds"] <= r["flowEndMilliseconds"] for r in rows)


def test_every_scenario_generates_within_its_window() -> None:
    for name, sdef in SCENARIOS.items():
        s = generate(name, 1, max(600, sdef.min_duration_s), clients=3)
        assert s.conversations, name
        assert min(c.start_ms for c in s.conversations) >= s.start_ms, name
        assert max(c.end_ms for c in s.conversations) <= s.end_ms, name
        assert (len(s.labels) == 0) == (name == "benign"), name


def test_too_short_or_unknown_is_a_config_error() -> None:
    from flowcep_plugin.errors import ConfigError

    with pytest.raises(ConfigError, match="at least 540"):
        generate("portscan-slow", 1, 120)
    with pytest.raises(ConfigError, match="unknown scenario"):
        generate("nope")
