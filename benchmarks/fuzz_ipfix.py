"""Longer fuzzing run of the IPFIX/NetFlow decoder and stream framer (CI runs a bounded one).

Mutates real messages (../shared data.ipfix, logstash .dat samples, libnetflow9 corpus when
present, plus hand-built ones) for ``--seconds`` and checks that nothing raises, every batch
is rectangular, and drops are only ever counted, never negative.

    .venv/bin/python benchmarks/fuzz_ipfix.py [--seconds 300] [--seed N]
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

from flowcep_plugin.context import Context  # noqa: E402
from flowcep_plugin.inputs.collectors import StreamFramer  # noqa: E402
from flowcep_plugin.inputs.ipfix_decode import MessageDecoder  # noqa: E402

SHARED = ROOT.parent / "shared"


def seeds() -> list[bytes]:
    out: list[bytes] = []
    up = SHARED / "flowcep-upstream" / "data.ipfix"
    if up.exists():
        data = up.read_bytes()
        off = 0
        while off < len(data) and len(out) < 200:
            ln = int.from_bytes(data[off + 2:off + 4], "big")
            out.append(data[off:off + ln])
            off += ln
    for d in (SHARED / "data" / "logstash-netflow", SHARED / "data" / "libnetflow9" / "fuzz-corpus"):
        if d.is_dir():
            out += [p.read_bytes() for p in sorted(d.iterdir()) if p.is_file() and p.suffix in ("", ".dat")]
    if not out:
        out.append(b"\x00\x0a\x00\x10" + bytes(12))
    return out


def mutate(rng: random.Random, base: bytes, pool: list[bytes]) -> bytes:
    b = bytearray(base)
    for _ in range(rng.randint(0, 8)):
        op = rng.randint(0, 5)
        if op == 0 and b:
            b[rng.randrange(len(b))] = rng.randrange(256)
        elif op == 1 and b:
            del b[rng.randrange(len(b)):]
        elif op == 2:
            i = rng.randint(0, len(b))
            b[i:i] = rng.randbytes(rng.randint(1, 32))
        elif op == 3:
            b += rng.choice(pool)
        elif op == 4 and len(b) > 8:  # plausible lengths are where bugs hide
            i = rng.randrange(len(b) - 1)
            b[i:i + 2] = rng.choice([0, 1, 3, 4, 16, 255, 256, 65535]).to_bytes(2, "big")
        elif op == 5 and len(b) > 4:
            i = rng.randrange(len(b) - 2)
            b[i:i + 2] = rng.choice([b"\x00\x0a", b"\x00\x09", b"\x00\x05", b"\x00\x02", b"\x00\x03"])
    return bytes(b)


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
        ctx = Context()
        dec = MessageDecoder(ctx, "fuzz", transport=rng.choice(["udp", "tcp", "file"]),
                             max_buffered_bytes=rng.choice([0, 512, 1 << 20]))
        framer = StreamFramer(lambda n, off: None)
        msgs = [mutate(rng, rng.choice(pool), pool) for _ in range(rng.randint(1, 20))]
        try:
            for m in msgs:
                for b in dec.decode(m, rng.choice(["a:1", "b:2"])):
                    assert all(len(c) == b.length for c in b.columns.values())
                    records += b.length
                framer.feed(m)
                for fm, _ in framer.messages():
                    dec.feed(fm, "stream")
            dec.flush()
            dec.close()
            assert all(v > 0 for v in ctx.stats.drops.values())
        except Exception:
            traceback.print_exc()
            name = Path(f"fuzz-crash-{seed}-{cases}.bin")
            name.write_bytes(b"".join(len(m).to_bytes(4, "big") + m for m in msgs))
            print(f"crash: inputs written to {name}")
            return 1
        cases += 1
    print(f"{cases:,} cases, {records:,} records decoded, no crash")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
