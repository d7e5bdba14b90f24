"""The shortcuts of the hot path against the plain rules they replace.

* a uniflow's outcome is looked up in a table built from ``tcp_outcome``: every flag value,
  port and packet count must classify as ``tcp_outcome`` does;
* the counts kept on arrival (``_Source.hosts``, ``n_ok``, ``n_failed``, ``n_flagged``,
  ``vhosts``) must equal a recount from the targets after any sequence of records, expiry and
  evictions included;
* ``_may_fire`` may only skip sources ``_judge_tcp`` would not alert on: a detector that
  judges every touched source must give the same alerts.
"""

from __future__ import annotations

import random
from typing import Any

from flowcep_portscan import (
    _OUTCOME_BITS,
    _UNIFLOW,
    _UNIFLOW_PORT0,
    SPEC,
    PortScanDetector,
    _Source,
)
from flowcep_portscan.probes import tcp_outcome
from hypothesis import given, settings
from hypothesis import strategies as st

from flowcep_plugin.context import Context
from flowcep_plugin.testing import build_detector, make_flow, run_detector

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
        for dport in (0, 22, 50000):
            table = _UNIFLOW if dport else _UNIFLOW_PORT0
            for packets in (1, 2, 3, 4, 50):
                for sport in (0, 80, 40000):
                    for maxp in (1, 2, 5):
                        assert table[flags & _OUTCOME_BITS] == tcp_outcome(
                            packets, 0, flags, -1, sport, dport, maxp), (flags, dport, packets, sport)


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
