"""Alerts/s and flows/s through FlowCEP's Elasticsearch output, beside a raw
``helpers.bulk`` of equivalent pre-built documents measured in the same run.

The output's path includes everything it does in production: copying each alert and adding
``data_stream``/``event.ingested`` (alerts), IPFIX -> ECS conversion, orjson serialisation and
the content-hash ``_id`` (flows), the bounded queue, the sender thread and the bulk request
body. The baseline gets the same documents already built as dicts, with the same ``_index``
and ``_id``, and only sends them (the client's default JSON serializer, as a user of
``helpers.bulk`` has it). Target: ours >= 1.0 of raw.

Three measurements, each ours beside its baseline in the same run:

* serialisation alone (no server): ``ecs.batch_to_json`` against a dict per record +
  ``json.dumps``, and orjson against the stdlib ``json`` on the same documents;
* client-bound (``@stub`` lines): a stub bulk server in its own process that acknowledges
  every document without storing it, so the client side is what is measured;
* the loopback stand-in (noida-db), which indexes only a few thousand documents a second: it,
  not the client, sets the pace there; the client CPU columns show what each path costs.

    .venv/bin/python benchmarks/bench_es.py [--alerts 5000] [--flows 20000] [--url URL] [--no-server]

Without --url a noida-db server is started on a free loopback port and stopped at the end.
"""

from __future__ import annotations

import argparse
import copy
import json
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import orjson  # noqa: E402
from elasticsearch import helpers  # noqa: E402

from flowcep_plugin import alerts, ecs  # noqa: E402
from flowcep_plugin.context import Context  # noqa: E402
from flowcep_plugin.es.client import make_client  # noqa: E402
from flowcep_plugin.es.loopback import start_noida  # noqa: E402
from flowcep_plugin.es.setup import install  # noqa: E402
from flowcep_plugin.outputs.elasticsearch import ElasticsearchOutput  # noqa: E402
from flowcep_plugin.records import FlowBatch  # noqa: E402
from flowcep_plugin.specs import RuleSpec  # noqa: E402

CHUNK = 1000


def make_alerts(n: int) -> list[dict[str, Any]]:
    rule = RuleSpec(id="bench-scan", name="Bench scan", description="benchmark", severity="medium",
                    technique=("T1046",))
    return [alerts.make_alert(rule, time_ms=1_700_000_000_000 + i, detector="bench",
                              source_ip=f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}",
                              destination_ip="192.0.2.1", destination_port=22, transport="tcp",
                              counts={"flows": i}) for i in range(n)]


def make_flows(n: int, batch: int = 10_000) -> list[FlowBatch]:
    """Flow batches as the output receives them in a default run: decoded elements plus the
    default enrichers' columns (zones and direction, community id, service)."""
    out = []
    for start in range(0, n, batch):
        rows = range(start, min(n, start + batch))
        k = len(rows)
        out.append(FlowBatch({
            "sourceIPv4Address": [f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}" for i in rows],
            "destinationIPv4Address": ["192.0.2.1"] * k,
            "sourceTransportPort": [1024 + i % 60000 for i in rows],
            "destinationTransportPort": [443] * k,
            "protocolIdentifier": [6] * k,
            "octetDeltaCount": [100 + i for i in rows],
            "packetDeltaCount": [3] * k,
            "flowStartMilliseconds": [1_700_000_000_000 + i for i in rows],
            "flowEndMilliseconds": [1_700_000_000_500 + i for i in rows],
            "source.zone": ["internal"] * k,
            "destination.zone": ["external"] * k,
            "network.direction": ["outbound"] * k,
            "network.community_id": [f"1:{i:027d}=" for i in rows],
            "network.protocol": ["https"] * k,
        }, k))
    return out


def bench_serialiser(batches: list[FlowBatch]) -> dict[str, float]:
    """Client-side only, records/s: ``ecs.batch_to_json`` beside the obvious per-record way
    (row dict, rename to nested ECS, ``json.dumps``); and the same flat documents encoded by
    the stdlib ``json`` and by orjson (the library choice alone)."""
    names = {k: ecs.ecs_name(k) for k in batches[0].columns}
    n = sum(len(b) for b in batches)
    out: dict[str, float] = {}
    t = time.perf_counter()
    for b in batches:
        ecs.batch_to_json(b)
    out["batch_to_json"] = n / (time.perf_counter() - t)
    t = time.perf_counter()
    for b in batches:
        for row in b.rows():
            json.dumps(ecs.nest({names[k]: v for k, v in row.items()}))
    out["naive"] = n / (time.perf_counter() - t)
    docs = [d for b in batches for d in ecs.batch_to_documents(b)]
    t = time.perf_counter()
    for d in docs:
        json.dumps(d)
    out["json"] = n / (time.perf_counter() - t)
    t = time.perf_counter()
    for d in docs:
        orjson.dumps(d)
    out["orjson"] = n / (time.perf_counter() - t)
    return out


# -- a stub bulk server, so that the client is what is measured --------------------------------

class _StubHandler(BaseHTTPRequestHandler):
    """Acknowledges every document of a bulk request as created, without parsing it."""

    protocol_version = "HTTP/1.1"
    item = b'{"create":{"_index":"x","_id":"x","_version":1,"result":"created","status":201}}'

    def _send(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Elastic-Product", "Elasticsearch")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        n = data.count(b"\n") // 2
        self._send(b'{"took":1,"errors":false,"items":[' + b",".join([self.item] * n) + b"]}")

    do_PUT = do_POST  # noqa: N815 - the client sends bulk requests as PUT

    def do_GET(self) -> None:  # noqa: N802
        self._send(b'{"version":{"number":"8.15.0"},"tagline":"You Know, for Search"}')

    def log_message(self, *args: object) -> None:
        pass


def stub_server_main(port: int) -> None:
    ThreadingHTTPServer(("127.0.0.1", port), _StubHandler).serve_forever()


def start_stub() -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, __file__, "--stub-server", str(port)])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("stub server did not start")


# -- the two paths -----------------------------------------------------------------------------

def _output(url: str, flows: bool) -> ElasticsearchOutput:
    ns = "b" + uuid.uuid4().hex[:8]
    return ElasticsearchOutput([url], {"namespace": ns, "chunk_size": CHUNK, "flush_interval": 0.01, "flows": flows,
                                       "dead_letter": "/dev/null", "check": False}, Context())


def ours_alerts(url: str, docs: list[dict[str, Any]]) -> float:
    out = _output(url, False)
    t = time.perf_counter()
    for i in range(0, len(docs), 500):  # the pipeline hands events over per batch
        out.write_events(docs[i : i + 500])
    out.flush()
    elapsed = time.perf_counter() - t
    assert out.totals.created == len(docs), (out.totals.created, out.totals.dead_lettered)
    out.close()
    return elapsed


def prebuilt_alerts(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What ours sends, as dicts: data_stream, event.dataset and event.ingested added."""
    index = f"logs-flowcep.alert-r{uuid.uuid4().hex[:8]}"
    ds = {"type": "logs", "dataset": "flowcep.alert", "namespace": index[-9:]}
    ready = []
    for d in docs:
        src = copy.deepcopy(d)
        src["data_stream"] = ds
        src.setdefault("event", {}).update(dataset="flowcep.alert", ingested="2026-01-01T00:00:00.000Z")
        ready.append({"_op_type": "create", "_index": index, "_id": d["flowcep"]["alert_id"], "_source": src})
    return ready


def ours_flows(url: str, batches: list[FlowBatch]) -> float:
    out = _output(url, True)
    t = time.perf_counter()
    for b in batches:
        out.write_flows(b)
    out.flush()
    elapsed = time.perf_counter() - t
    total = sum(len(b) for b in batches)
    assert out.totals.created == total, (out.totals.created, out.totals.dead_lettered)
    out.close()
    return elapsed


def prebuilt_flows(batches: list[FlowBatch]) -> list[dict[str, Any]]:
    """What ours sends, as dicts: the same documents, ids and data stream fields."""
    index = f"logs-flowcep.flow-r{uuid.uuid4().hex[:8]}"
    extra = {"data_stream.type": "logs", "data_stream.dataset": "flowcep.flow",
             "data_stream.namespace": index[-9:], "event.dataset": "flowcep.flow"}
    ready = []
    for b in batches:
        for raw in ecs.batch_to_json(b, extra):
            doc = orjson.loads(raw)
            doc["event.ingested"] = doc["event.created"]
            ready.append({"_op_type": "create", "_index": index, "_id": ecs.flow_id(raw), "_source": doc})
    return ready


def raw_bulk(client: Any, ready: list[dict[str, Any]]) -> float:
    t = time.perf_counter()
    ok, errors = helpers.bulk(client, ready, chunk_size=CHUNK, raise_on_error=False)
    elapsed = time.perf_counter() - t
    assert ok == len(ready) and not errors
    return elapsed


def compare(label: str, n: int, rounds: int, ours: Callable[[], float], raw: Callable[[int], float]) -> bool:
    """Runs ours and raw back to back ``rounds`` times (alternating which goes first), prints
    the median throughput ratio and the least client CPU of each."""
    ratios: list[float] = []
    rates: dict[str, list[float]] = {"ours": [], "raw": []}
    cpu: dict[str, float] = {}
    for r in range(rounds):
        times: dict[str, float] = {}
        order: list[tuple[str, Callable[[], float]]] = [("ours", ours), ("raw", partial(raw, r))]
        for name, fn in order if r % 2 == 0 else order[::-1]:
            c = time.process_time()
            times[name] = fn()
            cpu[name] = min(cpu.get(name, float("inf")), time.process_time() - c)
            rates[name].append(n / times[name])
        ratios.append(times["raw"] / times["ours"])
    ratio = statistics.median(ratios)  # >1: ours faster
    print(f"{label:11} ours {statistics.median(rates['ours']):>8,.0f}/s   raw helpers.bulk "
          f"{statistics.median(rates['raw']):>8,.0f}/s   ours/raw throughput {ratio:.2f} "
          f"(rounds {', '.join(f'{x:.2f}' for x in ratios)}; {'reaches' if ratio >= 1.0 else 'BELOW'} 1.0)   "
          f"client CPU ours {cpu['ours']:.2f} s / raw {cpu['raw']:.2f} s (ratio {cpu['raw'] / cpu['ours']:.2f})",
          flush=True)
    return ratio >= 1.0


def run_against(url: str, suffix: str, docs: list[dict[str, Any]], batches: list[FlowBatch], rounds: int) -> bool:
    client = make_client(url, {"request_timeout": 120})
    if not suffix:
        install(client)
    n_flows = sum(len(b) for b in batches)
    # documents for the baseline are built untimed, fresh ones per round (new index, new ids)
    alert_sets = [prebuilt_alerts(docs) for _ in range(rounds)]
    flow_sets = [prebuilt_flows(batches) for _ in range(rounds)]
    copies = [copy.deepcopy(docs) for _ in range(rounds)]  # fresh events per run, copied untimed
    ok_alerts = compare(f"alerts{suffix}", len(docs), rounds, lambda: ours_alerts(url, copies.pop()),
                        lambda r: raw_bulk(client, alert_sets[r]))
    ok_flows = compare(f"flows{suffix}", n_flows, rounds, lambda: ours_flows(url, batches),
                       lambda r: raw_bulk(client, flow_sets[r]))
    return ok_alerts and ok_flows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--alerts", type=int, default=5_000)
    ap.add_argument("--flows", type=int, default=20_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--url", help="an existing server (default: start noida-db on loopback)")
    ap.add_argument("--no-server", action="store_true", help="only the serialiser and the stub server")
    ap.add_argument("--stub-server", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.stub_server:
        stub_server_main(args.stub_server)
        return 0
    ser = bench_serialiser(make_flows(100_000))
    print(f"ecs serialiser (no server): batch_to_json {ser['batch_to_json']:,.0f} records/s, per-record dict + "
          f"json.dumps {ser['naive']:,.0f} records/s, ratio {ser['batch_to_json'] / ser['naive']:.2f}")
    print(f"json library (same flat documents): orjson {ser['orjson']:,.0f} docs/s, stdlib json "
          f"{ser['json']:,.0f} docs/s, ratio {ser['orjson'] / ser['json']:.2f}", flush=True)
    docs = make_alerts(args.alerts)
    batches = make_flows(args.flows)
    stub, stub_url = start_stub()
    try:
        print(f"client-bound: stub bulk server {stub_url} (acknowledges without indexing), chunk {CHUNK}, "
              f"{args.rounds} rounds", flush=True)
        ok = run_against(stub_url, "@stub", docs, batches, args.rounds)
    finally:
        stub.terminate()
        stub.wait()
    if args.no_server:
        return 0 if ok else 1
    server = None if args.url else start_noida()
    url = args.url or (server.url if server else "")
    try:
        print(f"server: {url} ({'noida-db loopback' if server else 'given'}), chunk {CHUNK}, {args.rounds} rounds",
              flush=True)
        # the loopback stand-in is noisy and sets the pace: its ratio is reported, the verdict
        # (exit status) is the client-bound one
        run_against(url, "", docs, batches, args.rounds)
    finally:
        if server:
            server.stop()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
