"""Enrichment cost against decoding, measured in the same run (the machine is noisy).

1. Decode ``../shared/flowcep-upstream/data.ipfix`` with the IPFIX MessageDecoder, alone and
   followed by zones + services + community-id, interleaved, best of ``--repeat``; prints
   records/s of both and their ratio (the acceptance asks enrichment to keep end-to-end
   throughput within 25 %, i.e. ratio >= 0.75), and each enricher's cost per record. The
   Community ID column is lazy (built when first read); here it is read, so its cost counts.
2. When the ``ipfix-file`` input is installed, the same through ``flowcep_plugin.api.run``
   (whole pipeline, all installed detectors) with and without the three enrichers.
3. CIDR lookup: ``PrefixTable`` (per address and per batch with memo) against a naive loop
   over ``ipaddress`` networks, in lookups/s.

Times are process CPU time (``time.process_time``, all threads), best of the repeats: the
machine is shared, and wall-clock time mostly measures the neighbours.

Usage: .venv/bin/python benchmarks/bench_enrich.py [--repeat 5] [--batch-size 4096] [--copies 1]
"""

from __future__ import annotations

import argparse
import ipaddress
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_engine import build as shifted_copies  # noqa: E402
from bench_engine import messages  # noqa: E402

from flowcep_plugin.cidr import PrefixTable  # noqa: E402
from flowcep_plugin.context import Context  # noqa: E402
from flowcep_plugin.enrich import community_id, services, zones  # noqa: E402
from flowcep_plugin.records import FlowBatch  # noqa: E402

DATA = ROOT.parent / "shared" / "flowcep-upstream" / "data.ipfix"
ENRICHERS = ("zones", "services", "community-id")


def decode(msgs: list[bytes], batch_size: int) -> list[FlowBatch]:
    from flowcep_plugin.inputs.ipfix_decode import MessageDecoder

    dec = MessageDecoder(Context(), "bench")
    out: list[FlowBatch] = []
    for m in msgs:
        dec.feed(m, "bench")
        if dec.pending_records >= batch_size:
            out.extend(dec.flush())
    out.extend(dec.flush())
    return out


def synthetic(n: int, seed: int = 1) -> list[FlowBatch]:
    """Records shaped like data.ipfix, for when the decoder is not installed."""
    rng = random.Random(seed)
    hosts = [f"10.0.{rng.randrange(256)}.{rng.randrange(256)}" for _ in range(500)]
    outside = [f"{rng.randrange(1, 224)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}"
               for _ in range(1500)]
    rows = []
    for _ in range(n):
        s, d = rng.choice(hosts), rng.choice(outside)
        if rng.random() < 0.5:
            s, d = d, s
        rows.append({"sourceIPv4Address": s, "destinationIPv4Address": d, "protocolIdentifier": 6,
                     "sourceTransportPort": rng.randrange(1024, 65536),
                     "destinationTransportPort": rng.choice([80, 443, 22, 25, 3389, 8080, 12345])})
    batch = FlowBatch.from_rows(rows)
    return [batch.slice(i, i + 4096) for i in range(0, n, 4096)]


def build_enrichers() -> list[tuple[str, Any]]:
    return [
        ("zones", zones.ZonesEnricher(zones.DEFAULTS)),
        ("services", services.ServicesEnricher(services.DEFAULTS)),
        ("community-id", community_id.CommunityIdEnricher(community_id.DEFAULTS)),
    ]


def enrich_read(e: Any, batch: FlowBatch) -> None:
    """``e.enrich(batch)``, then read every lazy column it added (Community ID is lazy: built
    on first read), so the figure is what a run that reads the columns pays."""
    e.enrich(batch)
    pending = getattr(batch.columns, "pending", None)
    if pending is not None:
        for name in pending():
            batch.columns[name]


def enrich_all(batches: list[FlowBatch], enrichers: list[tuple[str, Any]]) -> None:
    for batch in batches:
        for _, e in enrichers:
            enrich_read(e, batch)


def timed(fn: Callable[[], Any]) -> float:
    """CPU seconds of ``fn`` (process time: other engineers' load on the machine counts less)."""
    t = time.process_time()
    fn()
    return time.process_time() - t


def bench_pipeline_steps(source: Callable[[], list[FlowBatch]], repeat: int) -> None:
    n = sum(len(b) for b in source())
    plain, enriched = [], []
    per: dict[str, list[float]] = {name: [] for name in ENRICHERS}
    for _ in range(repeat):
        plain.append(timed(source))
        enriched.append(timed(lambda: enrich_all(source(), build_enrichers())))
        # Each enricher alone on freshly decoded batches, for the breakdown.
        for name, e in build_enrichers():
            batches = source()
            per[name].append(timed(lambda e=e, batches=batches: [enrich_read(e, b) for b in batches]))
    p, q = min(plain), min(enriched)
    print(f"records: {n}")
    print(f"decode only:                  {n / p:>12,.0f} records/CPU-s")
    print(f"decode + {' + '.join(ENRICHERS)}: {n / q:>12,.0f} records/CPU-s")
    print(f"throughput ratio enriched/plain: {p / q:.2f}  (acceptance: >= 0.75)")
    for name, ts in per.items():
        print(f"  {name:<13} {min(ts) * 1e9 / n:8.0f} ns/record")


def bench_api(repeat: int, copies: int = 1) -> None:
    """The whole pipeline through api.run, all detectors; without detectors if they fail.

    ``copies`` > 1 runs a temporary file holding data.ipfix that many times over, each copy's
    timestamps shifted past the previous one (bench_engine's builder), so start-up weighs less
    and every copy goes through every detector, not only the first (unshifted copies would be
    dropped as late after enrichment and understate the detectors' share).
    """
    try:
        from flowcep_plugin.manager import make_plugin_manager
        from flowcep_plugin.registry import Registry

        schemes = {s for spec in Registry.build(make_plugin_manager()).inputs.values() for s in spec.schemes}
    except Exception as exc:  # the pipeline belongs to others and may be mid-build
        print(f"end-to-end (api.run): skipped, {type(exc).__name__}: {exc}")
        return
    if "ipfix-file" not in schemes:
        print("end-to-end (api.run): skipped, no ipfix-file input installed yet")
        return
    path = DATA
    if copies > 1:
        import tempfile

        tmp = tempfile.NamedTemporaryFile(suffix=".ipfix", delete=False)
        tmp.write(b"".join(shifted_copies(copies)[0]))
        tmp.close()
        path = Path(tmp.name)
    addr = f"ipfix-file:{path}"
    try:
        _bench_api(addr, repeat)
    finally:
        if path != DATA:
            path.unlink()


def _bench_api(addr: str, repeat: int) -> None:
    from flowcep_plugin import api

    for detectors, label in ((None, "all detectors"), ([], "no detectors")):
        plain, enriched = [], []
        records = 0
        try:
            for _ in range(repeat):
                t = time.process_time()
                res = api.run([addr], detectors=detectors, enrichers=[])
                plain.append(time.process_time() - t)
                records = res.stats.get("stages", {}).get("decode", {}).get("in", 0)
                t = time.process_time()
                api.run([addr], detectors=detectors, enrichers=list(ENRICHERS))
                enriched.append(time.process_time() - t)
        except Exception as exc:
            print(f"end-to-end (api.run, {label}): failed, {type(exc).__name__}: {exc}")
            continue
        p, q = min(plain), min(enriched)
        print(f"end-to-end api.run, {records} records, {label}:")
        print(f"  without enrichers: {records / p:>10,.0f} records/CPU-s ({p:.3f} s)")
        print(f"  with {', '.join(ENRICHERS)}: {records / q:>10,.0f} records/CPU-s ({q:.3f} s)")
        print(f"  throughput ratio: {p / q:.2f}  (acceptance: >= 0.75)")
        return


def bench_cidr(repeat: int) -> None:
    rng = random.Random(42)
    prefixes: list[tuple[str, int]] = []
    for i in range(1000):
        plen = rng.choice([8, 12, 16, 20, 24, 28, 32])
        net = ipaddress.ip_network(f"{ipaddress.ip_address(rng.getrandbits(32))}/{plen}", strict=False)
        prefixes.append((str(net), i))
    for i in range(200):
        plen = rng.choice([32, 48, 56, 64, 128])
        net = ipaddress.ip_network(f"{ipaddress.ip_address(rng.getrandbits(128))}/{plen}", strict=False)
        prefixes.append((str(net), 1000 + i))
    table = PrefixTable(prefixes)
    pool = [str(ipaddress.ip_address(rng.getrandbits(32))) for _ in range(20000)]
    pool += [str(ipaddress.ip_address(rng.getrandbits(128))) for _ in range(2000)]
    column = [rng.choice(pool) for _ in range(200000)]  # addresses repeat, as in flows
    nets = [(ipaddress.ip_network(p), v) for p, v in prefixes]

    def naive(addrs: list[str]) -> list[Any]:
        out = []
        for a in addrs:
            ip = ipaddress.ip_address(a)
            best, best_len = None, -1
            for net, v in nets:  # a later duplicate prefix wins, as in PrefixTable
                if ip.version == net.version and ip in net and net.prefixlen >= best_len:
                    best, best_len = v, net.prefixlen
            out.append(best)
        return out

    sample = column[:1000]
    assert naive(sample) == [table.lookup(a) for a in sample]
    t_naive = min(timed(lambda: naive(sample)) for _ in range(max(1, repeat // 2)))
    t_one = min(timed(lambda: [table.lookup(a) for a in column]) for _ in range(repeat))
    t_many = min(timed(lambda: table.lookup_many(column)) for _ in range(repeat))
    print(f"CIDR lookup, {len(prefixes)} prefixes (IPv4+IPv6), {len(column)} addresses "
          f"({len(set(column))} distinct):")
    print(f"  naive ipaddress loop:        {len(sample) / t_naive:>12,.0f} lookups/s")
    print(f"  PrefixTable.lookup:          {len(column) / t_one:>12,.0f} lookups/s "
          f"({t_naive / len(sample) / (t_one / len(column)):,.0f}x)")
    print(f"  PrefixTable.lookup_many:     {len(column) / t_many:>12,.0f} lookups/s "
          f"({t_naive / len(sample) / (t_many / len(column)):,.0f}x)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=4096)
    ap.add_argument("--no-api", action="store_true", help="skip the end-to-end api.run measurement")
    ap.add_argument("--copies", type=int, default=1,
                    help="end-to-end run over data.ipfix repeated this many times (less start-up weight)")
    args = ap.parse_args()
    source: Callable[[], list[FlowBatch]]
    try:
        import flowcep_plugin.inputs.ipfix_decode  # noqa: F401

        if not DATA.exists():
            raise FileNotFoundError(DATA)
        msgs = messages(DATA.read_bytes())
        print(f"decoding {DATA} ({len(msgs)} messages), batch size {args.batch_size}")
        source = lambda: decode(msgs, args.batch_size)  # noqa: E731
    except (ImportError, FileNotFoundError) as exc:
        print(f"no decoder or data ({exc}); synthetic batches of similar records")
        batches = synthetic(14000)
        source = lambda: [FlowBatch({k: list(v) for k, v in b.columns.items()}, len(b))  # noqa: E731
                          for b in batches]
    bench_pipeline_steps(source, args.repeat)
    if not args.no_api:
        bench_api(max(3, args.repeat), args.copies)
    bench_cidr(args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
