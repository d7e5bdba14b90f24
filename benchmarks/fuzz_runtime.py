"""Fuzz the runtime side of a batch: sanitize -> enrichers -> event-time clock.

Builds batches of hostile values (text in counts, bad addresses, NaN, huge and negative
numbers, lists, bytes, future and far-past and missing times, several exporters in one batch)
and checks that nothing raises and that every record is accounted for: records in = records
released to detectors + records counted as dropped, by reason. The test suite runs a short
round; run it longer by hand:

    .venv/bin/python benchmarks/fuzz_runtime.py [--seconds 60] [--seed N]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from flowcep_plugin.clock import Reorderer, TimePolicy  # noqa: E402
from flowcep_plugin.context import Context  # noqa: E402
from flowcep_plugin.elements import default_registry  # noqa: E402
from flowcep_plugin.enrich.community_id import CommunityIdEnricher  # noqa: E402
from flowcep_plugin.enrich.services import DEFAULTS as SERVICES_DEFAULTS  # noqa: E402
from flowcep_plugin.enrich.services import ServicesEnricher  # noqa: E402
from flowcep_plugin.enrich.zones import DEFAULTS as ZONES_DEFAULTS  # noqa: E402
from flowcep_plugin.enrich.zones import ZonesEnricher  # noqa: E402
from flowcep_plugin.records import FlowBatch  # noqa: E402
from flowcep_plugin.sanitize import Sanitizer  # noqa: E402

T0 = 1_700_000_000_000
COLUMNS = ("sourceIPv4Address", "destinationIPv4Address", "sourceIPv6Address", "destinationIPv6Address",
           "sourceTransportPort", "destinationTransportPort", "protocolIdentifier", "octetDeltaCount",
           "packetDeltaCount", "tcpControlBits", "flowEndMilliseconds", "flowEndSeconds",
           "flowStartMilliseconds", "HTTPRequestHost", "sourceMacAddress", "samplingInterval")


def hostile(rng: random.Random) -> Any:
    return rng.choice([
        None, 0, -1, 2**64, 2**70, -(2**63) - 1, 1.5, float("nan"), float("inf"), True, "", "lots",
        "10.0.0.300", "::zz", "1.2.3.4", "2001:db8::1", "::ffff:10.0.0.1", b"\x00\xff", [1, 2], {"a": 1},
        "x" * 10_000, "\x00", 80, 443, 6, 17, 255, 65_536, T0, T0 * 1000, "2024-01-01T00:00:00Z",
    ])


def good(name: str, rng: random.Random, now: int) -> Any:
    if "IPv4" in name:
        return f"10.{rng.randrange(4)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
    if "IPv6" in name:
        return f"2001:db8::{rng.randrange(1, 65535):x}"
    if name.endswith("Milliseconds"):
        return now + rng.randrange(-60_000, 1_000)
    if name == "flowEndSeconds":
        return (now + rng.randrange(-60_000, 1_000)) // 1000
    if name == "HTTPRequestHost":
        return "example.org"
    if name == "sourceMacAddress":
        return "00:11:22:33:44:55"
    return rng.randrange(0, 256)


def batch(rng: random.Random, now: int) -> FlowBatch:
    n = rng.randrange(1, 200)
    names = rng.sample(COLUMNS, rng.randrange(1, len(COLUMNS)))
    bad_rate = rng.choice([0.0, 0.001, 0.05, 0.5])
    columns: dict[str, list[Any]] = {}
    for name in names:
        columns[name] = [hostile(rng) if rng.random() < bad_rate else good(name, rng, now) for _ in range(n)]
    if rng.random() < 0.3:  # one record far in the future or past
        columns.setdefault("flowEndMilliseconds", [now] * n)[rng.randrange(n)] = rng.choice(
            [now + 10**11, 5, now - 10**10, -5])
    exporter = None
    if rng.random() < 0.4:
        columns["flowcep.exporter"] = [f"192.0.2.{rng.randrange(5)}:2055/0" for _ in range(n)]
    else:
        exporter = f"192.0.2.{rng.randrange(5)}:2055/{rng.randrange(2)}"
    return FlowBatch(columns, n, source="fuzz", exporter=exporter)


def fuzz(seconds: float = 5.0, seed: int = 1, max_batches: int | None = None) -> dict[str, Any]:
    """Run; return counts. Raises AssertionError on an accounting mismatch."""
    rng = random.Random(seed)
    ctx = Context()
    live = rng.random() < 0.5
    clock_now = [T0 / 1000]
    sanitizer = Sanitizer(default_registry(), ctx.stats)
    enrichers = [ZonesEnricher(ZONES_DEFAULTS, ctx), ServicesEnricher(SERVICES_DEFAULTS, ctx),
                 CommunityIdEnricher({}, ctx)]
    clock = Reorderer(5_000, ctx.stats, release_every_ms=rng.choice([0, 1000]), max_pending=5_000,
                      policy=TimePolicy(live=live, max_exporters=3), wall=lambda: clock_now[0])
    records_in = released = batches = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and (max_batches is None or batches < max_batches):
        now = int(clock_now[0] * 1000)
        b = batch(rng, now)
        records_in += b.length
        b = sanitizer.clean(b)
        for e in enrichers:
            e.enrich(b)
        released += sum(x.length for x in clock.push(b))
        clock_now[0] += rng.choice([0, 0.5, 5])
        batches += 1
    released += sum(x.length for x in clock.flush())
    snap = ctx.stats.snapshot()
    dropped = sum(snap["drops"].values())
    assert records_in == released + dropped, (records_in, released, snap["drops"])
    return {"batches": batches, "records": records_in, "released": released, "drops": snap["drops"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--seed", type=int, default=int(time.time()))
    args = ap.parse_args()
    rounds = 0
    end = time.monotonic() + args.seconds
    while time.monotonic() < end:
        r = fuzz(min(5.0, end - time.monotonic()), args.seed + rounds)
        rounds += 1
        print(f"seed {args.seed + rounds - 1}: {r['batches']} batches, {r['records']} records, "
              f"{r['released']} released, drops {r['drops']}")


if __name__ == "__main__":
    main()
