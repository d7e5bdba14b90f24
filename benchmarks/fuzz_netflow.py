"""Longer fuzzing of NetFlow v5/v9 (and IPFIX) decoding under tight state limits, plus the
input-side validators that see hostile bytes first (CI runs a bounded version in
tests/inputs/test_inputs_fuzz.py).

Each case feeds mutated real messages (logstash-codec-netflow .dat samples, the libnetflow9
corpus, hand-built ones) from many exporters to a decoder with tiny limits, and checks: nothing
raises; batches are rectangular; drops are counted, never negative; the state limits hold
(sessions, templates per session, template bytes, whose books must balance exactly); the export
validator (pcap+export), the format sniffer and the address parser never raise anything but
their documented error.

    .venv/bin/python benchmarks/fuzz_netflow.py [--seconds 300] [--seed N]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from fuzz_ipfix import mutate, seeds  # noqa: E402

from flowcep_plugin.addresses import parse_address  # noqa: E402
from flowcep_plugin.context import Context  # noqa: E402
from flowcep_plugin.errors import ConfigError  # noqa: E402
from flowcep_plugin.inputs.ipfix_decode import MessageDecoder  # noqa: E402
from flowcep_plugin.inputs.limits import DecoderLimits, template_cost  # noqa: E402
from flowcep_plugin.inputs.pcap_export import export_problem  # noqa: E402
from flowcep_plugin.inputs.sniff import looks_like  # noqa: E402


def check_books(dec: MessageDecoder) -> None:
    """The limits hold and the decoder's accounting matches its tables."""
    lim = dec.limits
    assert len(dec.sessions) <= lim.max_sessions, len(dec.sessions)
    total = 0
    for sess in dec.sessions.values():
        assert len(sess.templates) <= lim.max_templates
        for t in sess.templates.values():
            assert len(t.fields) <= lim.max_fields
            total += template_cost(len(t.fields))
    assert total == dec.template_bytes, (total, dec.template_bytes)
    assert total <= lim.max_template_bytes
    assert set(dec._lru_new) | set(dec._lru_est) == set(dec.sessions)
    assert {k for keys in dec._by_exporter.values() for k in keys} == set(dec.sessions)
    assert dec._early_bytes >= 0 and dec.pending_records >= 0


def one_case(rng: random.Random, pool: list[bytes]) -> int:
    ctx = Context()
    limits = DecoderLimits(max_sessions=rng.choice([1, 2, 8]), max_templates=rng.choice([1, 3, 64]),
                           max_fields=rng.choice([2, 8, 512]),
                           max_template_bytes=rng.choice([3000, 20_000, 1 << 20]),
                           session_timeout=rng.choice([None, 0.0, 60.0]))
    dec = MessageDecoder(ctx, "fuzz", transport=rng.choice(["udp", "tcp", "file"]),
                         max_buffered_bytes=rng.choice([0, 512, 1 << 16]), limits=limits,
                         apply_sampling=rng.random() < 0.5)
    records = 0
    for _ in range(rng.randint(1, 30)):
        m = mutate(rng, rng.choice(pool), pool)
        exporter = f"10.0.0.{rng.randint(1, 12)}:{rng.choice([2055, 4739, 50000])}"
        for b in dec.decode(m, exporter):
            assert all(len(c) == b.length for c in b.columns.values())
            records += b.length
        if rng.random() < 0.1:
            dec._sweep(time.monotonic() + rng.choice([0, 100, 10_000]))
        if rng.random() < 0.05:
            dec.forget(exporter)
        check_books(dec)
        export_problem(m)
        looks_like(m)
    dec.flush()
    dec.close()
    assert all(v > 0 for v in ctx.stats.drops.values())
    return records


def address_case(rng: random.Random) -> None:
    alphabet = "ipfx+udtcpnelow:/[]0123456789.:?=&a- "
    text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
    if rng.random() < 0.5:
        text = rng.choice(["ipfix+udp:", "ipfix+tcp://", "netflow+udp://[", "json:"]) + text
    try:
        parse_address(text)
    except ConfigError as exc:
        assert "\n" not in str(exc)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=300)
    ap.add_argument("--seed", type=int, default=None)
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    pool = seeds()
    print(f"seed {seed}; {len(pool)} seed messages; running {args.seconds:.0f} s")
    end = time.monotonic() + args.seconds
    cases = records = 0
    while time.monotonic() < end:
        state = rng.getstate()
        try:
            records += one_case(rng, pool)
            address_case(rng)
        except Exception:
            traceback.print_exc()
            print(f"crash in case {cases}; reproduce with --seed {seed} (state before the case saved)")
            Path(f"fuzz-netflow-crash-{seed}-{cases}.txt").write_text(repr(state))
            return 1
        cases += 1
    print(f"{cases:,} cases, {records:,} records decoded, limits held, no crash")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
