"""The shortcuts of the hot path against the plain rules they replace.

* a uniflow's outcome is looked up in a table built from ``tcp_outcome``: every flag value,
  port and packet count must classify as ``tcp_outcome`` does;
* the counts kept on arrival (``_Source.hosts``, ``n_ok``, ``n_failed``, ``n_flagged``,
  ``vhosts``) must equal a recount from the targets after any sequence of records, expiry and
  evictions included, and the time floors that let expiry skip must stay lower bounds;
* ``_may_fire`` may only skip sources ``_judge_tcp`` would not alert on: a detector that
  judges every touched source must give the same alerts.
"""

from __future__ import annotations

import random
from typing import Any

from flowcep_portscan import (
    _OUTCOME_BITS,
    _UNIFLOW,
    SPEC,
    PortScanDetector,
    _Source,
)
from flowcep_portscan.probes import FLAG, NONE, tcp_outcome
from hypothesis import given, settings
from hypothesis import strategies as st

from flowcep_plugin.context import Context
from flowcep_plugin.testing import build_detector, make_flow, run_detector, to_batches

T0 = 1_700_000_100_000
SMALL = {"window": "1 min", "slow_window": "5 min", "horizontal_hosts": 3, "vertical_ports": 3,
         "slow_min_targets": 2, "trw_margin": 1, "flag_probes": 2, "max_sources": 3, "max_targets": 16}
NEVER = 1000
# one rule at a time as well: with every threshold low, the horizontal rule sends nearly every
# source to _judge_tcp, and a wrong bound of another rule would go unseen
ONLY = [{}, {"horizontal_hosts": NEVER, "vertical_ports": NEVER, "slow_min_targets": NEVER},
        {"horizontal_hosts": NEVER, "slow_min_targets": NEVER, "flag_probes": NEVER},
        {"horizontal_hosts": NEVER, "vertical_ports": NEVER, "slow_min_targets": 3, "flag_probes": NEVER},
        {"vertical_ports": NEVER, "slow_min_targets": NEVER, "flag_probes": NEVER}]
CONFIGS = [{**SPEC.defaults, **SMALL, **only} for only in ONLY]


def test_uniflow_table_matches_tcp_outcome() -> None:
    for flags in range(1024):
        looked_up = int(_UNIFLOW[flags & _OUTCOME_BITS])
        for dport in (0, 22, 50000):
            # _tcp drops a flag probe to port 0 itself
            want = NONE if looked_up == FLAG and not dport else looked_up
            for packets in (1, 2, 3, 4, 50):
                for sport in (0, 80, 40000):
                    for maxp in (1, 2, 5):
                        assert want == tcp_outcome(packets, 0, flags, -1, sport, dport, maxp), (
                            flags, dport, packets, sport)


# SYN, SYN-ACK, SYN-RST-ACK, RST-ACK, RST, FIN, NULL, Xmas, FIN-SYN-ACK, ACK, SYN-RST,
# SYN with ECE/CWR, no flags at all (-1: the packet count fallback)
FLAG_VALUES = [0x02, 0x12, 0x16, 0x14, 0x04, 0x01, 0x00, 0x29, 0x1B, 0x10, 0x06, 0xC2, -1]
FLAGS = st.sampled_from(FLAG_VALUES)
RECORD = st.tuples(
    st.integers(0, 3),  # source (one more than max_sources: evictions)
    st.integers(0, 3),  # host
    st.integers(0, 9),  # port
    FLAGS,
    st.integers(0, 4),  # packets
    st.one_of(st.none(), st.tuples(st.integers(0, 8), FLAGS)),  # reverse packets, flags
    st.integers(0, 1000),  # end time, in thousandths of the span
)


def _records(spec: list[tuple[Any, ...]], biflows: bool, span: int) -> list[dict[str, Any]]:
    out = []
    for s, d, port, flags, packets, reverse, t in spec:
        extra: dict[str, Any] = {}
        if biflows and reverse is not None:
            extra = {"reversePacketDeltaCount": reverse[0], "reverseTcpControlBits": max(reverse[1], 0)}
        rec = make_flow(f"192.0.2.{s}", f"10.0.0.{d}", 20 + port, packets=packets, end_ms=T0 + t * span // 1000,
                        sport=80 if port == 9 else 40000, **extra)
        if flags < 0:
            del rec["tcpControlBits"]
        else:
            rec["tcpControlBits"] = flags
        out.append(rec)
    return sorted(out, key=lambda r: r["flowEndMilliseconds"])


class _Checked(PortScanDetector):
    """Recounts every source after each batch and window and compares with the kept counts."""

    def _check(self) -> None:
        for s, source in self.sources.items():
            # lower bounds that let expiry skip: the detector's floor, each source's oldest
            assert self._floor <= source.oldest <= min((t for t, _ in source.targets.values()),
                                                        default=source.oldest), s
            kept = (source.hosts, source.n_ok, source.n_failed, source.n_flagged)
            fresh = _Source(0)
            fresh.targets = source.targets
            fresh.recount(self.v_least)
            assert kept == (fresh.hosts, fresh.n_ok, fresh.n_failed, fresh.n_flagged), s
            # vhosts may keep a host whose failed ports fell back (the check reads the count)
            assert fresh.vhosts <= source.vhosts, s

    def on_batch(self, batch: Any) -> list[Any]:
        out = super().on_batch(batch)
        self._check()
        return out

    def on_watermark(self, watermark_ms: int) -> list[Any]:
        out = super().on_watermark(watermark_ms)
        self._check()
        return out


class _JudgeAll(PortScanDetector):
    """Judges every touched source, as before the counts existed."""

    def _may_fire(self, source: _Source) -> bool:
        return True


@settings(max_examples=300, deadline=None)
@given(st.lists(RECORD, min_size=1, max_size=120), st.booleans(), st.integers(1, 40),
       st.sampled_from(range(len(CONFIGS))), st.sampled_from([90_000, 12 * 60_000]))
def test_counts_and_skips_match_the_full_judgement(spec: list[tuple[Any, ...]], biflows: bool,
                                                    batch: int, which: int, span: int) -> None:
    # spans of two windows (dense: thresholds met exactly) and of twelve (expiry after five)
    records = _records(spec, biflows, span)
    got = run_detector(_Checked(CONFIGS[which], Context()), records, batch_size=batch)
    want = run_detector(_JudgeAll(CONFIGS[which], Context()), records, batch_size=batch)
    assert got == want


def test_counts_and_skips_on_dense_random_traffic() -> None:
    # hypothesis keeps most lists short; thresholds met exactly (the boundaries of _may_fire)
    # need a few sources and hosts hit often, which seeded lists of 40-150 records give
    for seed in range(40):
        rng = random.Random(seed)
        spec = [(rng.randint(0, 3), rng.randint(0, 3), rng.randint(0, 9), rng.choice(FLAG_VALUES),
                 rng.randint(0, 4), rng.choice([None, (rng.randint(0, 8), rng.choice(FLAG_VALUES))]),
                 rng.randint(0, 1000)) for _ in range(rng.randint(40, 150))]
        for config in CONFIGS:
            for span, biflows in ((90_000, False), (12 * 60_000, True)):
                records = _records(spec, biflows, span)
                got = run_detector(_Checked(config, Context()), records, batch_size=1 + seed % 9)
                want = run_detector(_JudgeAll(config, Context()), records, batch_size=1 + seed % 9)
                assert got == want, (seed, config, span)


def test_small_configs_are_valid() -> None:
    for only in ONLY:  # the schema accepts the thresholds the property test uses
        build_detector(SPEC, {**SMALL, **only})


def _mixed(rng: random.Random, n: int, typeless: bool) -> list[dict[str, Any]]:
    """TCP, UDP (with answers, some of them empty) and ICMP records; ICMP types in either
    column, in none of some records, or (``typeless``) in none at all."""
    out = []
    for _ in range(n):
        s, d, t = f"192.0.2.{rng.randint(0, 3)}", f"10.0.0.{rng.randint(0, 5)}", T0 + rng.randint(0, 150_000)
        kind = rng.random()
        if kind < 0.4:
            out.append(make_flow(s, d, 20 + rng.randint(0, 6), packets=rng.randint(0, 3), end_ms=t,
                                 flags=rng.choice([f for f in FLAG_VALUES if f >= 0])))
        elif kind < 0.7:
            port, sport = 20 + rng.randint(0, 6), rng.choice([53, 40000, 40001])
            out.append(make_flow(s, d, port, proto="udp", sport=sport, packets=rng.randint(0, 3), end_ms=t))
            if rng.random() < 0.3:  # the answer
                out.append(make_flow(d, s, sport, proto="udp", sport=port, packets=rng.randint(0, 1),
                                     end_ms=t + 5))
        else:
            extra: dict[str, Any] = rng.choice([
                {"icmpTypeCodeIPv4": 8 * 256}, {"icmpTypeCodeIPv4": 0}, {"icmpTypeCodeIPv4": 3 * 256 + 1},
                {}, {"icmpTypeIPv4": 8}, {"icmpTypeIPv4": 0, "icmpTypeCodeIPv4": 8 * 256},
                {"icmpTypeIPv4": -1, "icmpTypeCodeIPv4": 8 * 256}]) if not typeless else {}
            out.append(make_flow(s, d, proto="icmp", packets=rng.randint(0, 2), end_ms=t, **extra))
    return sorted(out, key=lambda r: r["flowEndMilliseconds"])


def test_numpy_kinds_match_the_record_by_record_lists(monkeypatch: Any) -> None:
    """_Kinds (numpy, once per batch) against the comprehensions used when a value does not
    fit 64 bits: the same alerts on mixed TCP, UDP and ICMP traffic."""
    import flowcep_portscan

    config = {**CONFIGS[0], "sweep_hosts": 2}
    fired: dict[str, int] = {}
    for seed in range(30):
        records = _mixed(random.Random(seed), 200, typeless=seed % 3 == 0)
        with_kinds = run_detector(PortScanDetector(config, Context()), records, batch_size=1 + seed % 13)
        with monkeypatch.context() as m:
            m.setattr(flowcep_portscan._Kinds, "of", classmethod(lambda cls, cols, batch=None: None))
            without = run_detector(PortScanDetector(config, Context()), records, batch_size=1 + seed % 13)
        assert with_kinds == without, seed
        for e in with_kinds:
            key = e["rule"]["id"] + "/" + str(e.get("network", {}).get("transport"))
            fired[key] = fired.get(key, 0) + 1
    # not vacuous: each kind of record made alerts
    assert {"portscan-sweep/icmp", "portscan-horizontal/udp", "portscan-vertical/udp",
            "portscan-horizontal/tcp", "portscan-flags/tcp"} <= set(fired), fired


def test_a_counter_beyond_64_bits_takes_the_record_by_record_path() -> None:
    """packetDeltaCount is unsigned64: 2**64 - 1 does not fit numpy's int64, and the batch
    goes through the comprehensions with the same outcome (a SYN is a failed contact)."""
    import flowcep_portscan

    scan = [make_flow("192.0.2.66", f"10.1.0.{i}", 22, packets=1, flags="S", end_ms=T0 + i * 100)
            for i in range(1, 31)]
    huge = [dict(r, packetDeltaCount=2**64 - 1) for r in scan]
    batch = to_batches(huge)[0]
    cols = PortScanDetector._columns(batch)
    assert flowcep_portscan._Kinds.of(cols) is None
    assert flowcep_portscan._Kinds.of(cols, batch) is None  # the shared int64 arrays too
    want, got = run_detector(SPEC, scan), run_detector(SPEC, huge)
    assert [e["flowcep"]["counts"] for e in got] == [e["flowcep"]["counts"] for e in want] == [
        {"hosts": 30, "probes": 30}]
