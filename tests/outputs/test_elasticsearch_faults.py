"""Faults a real cluster cannot be made to produce on demand, against a scripted HTTP server
(pytest-httpserver) that keeps a tiny in-memory index and applies bulk requests the way
Elasticsearch does (create -> 409 when the id exists; index with if_seq_no). Each test
checks the end state: after recovery every alert is in the index exactly once.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from typing import Any

import pytest
from werkzeug import Request, Response

from flowcep_plugin.context import Context
from flowcep_plugin.es.client import make_client
from flowcep_plugin.outputs.elasticsearch import ElasticsearchOutput, Sender, parse_target
from flowcep_plugin.records import FlowBatch

HEADERS = {"X-Elastic-Product": "Elasticsearch", "Content-Type": "application/json"}
STREAM = "logs-flowcep.alert-default"


class FakeES:
    """In-memory Elasticsearch subset. ``script`` holds one entry per coming bulk request:
    None (behave), or a fault name: '429', '503', 'timeout-after-apply', 'cut-after-apply',
    'partial' (every other item 429), 'reject:<id>' (that doc gets a 400 mapping error)."""

    def __init__(self) -> None:
        self.docs: dict[str, dict[str, Any]] = {}
        self.seq = 0
        self.script: list[str | None] = []
        self.always: str | None = None
        self.bulk_requests = 0
        self.lock = threading.Lock()
        self.reject_ids: set[str] = set()
        self.sleep = 1.5  # longer than the client's request timeout
        self.version = "8.15.0"
        self.max_docs: int | None = None  # more per request -> 413

    def _json(self, body: Any, status: int = 200) -> Response:
        return Response(json.dumps(body), status=status, headers=HEADERS)

    def handle(self, request: Request) -> Response:
        path = request.path
        if path == "/" and request.method in ("GET", "HEAD"):
            return self._json({"version": {"number": self.version}, "tagline": "You Know, for Search"})
        if path.endswith("/_refresh"):
            return self._json({"_shards": {"total": 1, "successful": 1, "failed": 0}})
        if path.endswith("/_search"):
            return self._search(json.loads(request.get_data() or b"{}"))
        if path.endswith("/_bulk"):
            return self._bulk(request)
        return self._json({"error": f"no handler for {path}"}, 404)

    def _search(self, body: dict[str, Any]) -> Response:
        ids = body.get("query", {}).get("ids", {}).get("values", [])
        hits = []
        with self.lock:
            for i in ids:
                d = self.docs.get(i)
                if d:
                    hits.append({"_index": ".ds-" + STREAM + "-000001", "_id": i, "_seq_no": d["seq"],
                                 "_primary_term": 1,
                                 "_source": {"flowcep": {"revision": d["source"]["flowcep"]["revision"]}}})
        return self._json({"hits": {"total": {"value": len(hits)}, "hits": hits}})

    def _bulk(self, request: Request) -> Response:
        with self.lock:
            self.bulk_requests += 1
            fault = self.script.pop(0) if self.script else self.always
        if fault in ("429", "503"):
            return self._json({"error": {"type": "es_rejected_execution_exception", "reason": "busy"},
                               "status": int(fault)}, int(fault))
        lines = [ln for ln in request.get_data().split(b"\n") if ln.strip()]
        if self.max_docs is not None and len(lines) // 2 > self.max_docs:
            return self._json({"error": "request entity too large"}, 413)
        items = []
        with self.lock:
            for n, (meta_line, src_line) in enumerate(zip(lines[::2], lines[1::2], strict=True)):
                (op, meta), = json.loads(meta_line).items()
                src = json.loads(src_line)
                _id = meta.get("_id")
                if fault == "partial" and n % 2 == 1:
                    items.append({op: {"_id": _id, "status": 429, "error": {"type": "es_rejected_execution_exception",
                                                                             "reason": "queue full"}}})
                    continue
                if _id in self.reject_ids:
                    items.append({op: {"_id": _id, "status": 400, "error": {
                        "type": "document_parsing_exception", "reason": "failed to parse field [source.ip] of type [ip]"}}})
                    continue
                have = self.docs.get(_id)
                if op == "create" and have is not None:
                    items.append({op: {"_id": _id, "status": 409, "error": {"type": "version_conflict_engine_exception",
                                                                             "reason": "document already exists"}}})
                    continue
                if op == "index" and "if_seq_no" in meta and (have is None or have["seq"] != meta["if_seq_no"]):
                    items.append({op: {"_id": _id, "status": 409, "error": {"type": "version_conflict_engine_exception",
                                                                             "reason": "seq_no mismatch"}}})
                    continue
                self.seq += 1
                self.docs[_id] = {"source": src, "seq": self.seq, "op": op, "meta": meta}
                items.append({op: {"_id": _id, "status": 201 if have is None else 200,
                                   "result": "created" if have is None else "updated"}})
        if fault == "timeout-after-apply":
            time.sleep(self.sleep)
        if fault == "cut-after-apply":
            sock = request.environ.get("werkzeug.socket")
            assert sock is not None
            sock.shutdown(socket.SHUT_RDWR)
        return self._json({"took": 1, "errors": any("error" in next(iter(i.values())) for i in items), "items": items})


@pytest.fixture
def fake(httpserver: Any) -> FakeES:
    es = FakeES()
    httpserver.expect_request("").respond_with_handler(es.handle)
    return es


@pytest.fixture
def url(httpserver: Any) -> str:
    return httpserver.url_for("/").rstrip("/")


def alert(i: int, revision: int = 1, **extra: Any) -> dict[str, Any]:
    doc = {
        "@timestamp": "2024-03-01T10:00:00.000Z",
        "event": {"kind": "alert", "category": ["network"], "severity": 47, "risk_score": 47},
        "message": f"Port scan from 192.0.2.{i % 250}",
        "rule": {"id": "flowcep.portscan", "name": "Port scan"},
        "source": {"ip": f"192.0.2.{i % 250}"},
        "flowcep": {"counts": {"ports": 10 * revision}, "alert_id": f"alert-{i}", "revision": revision},
    }
    doc.update(extra)
    return doc


def make_output(url: str, tmp_path: Any, ctx: Context | None = None, **cfg: Any) -> ElasticsearchOutput:
    config = {"request_timeout": 1.0, "backoff_initial": 0.01, "backoff_max": 0.05, "flush_interval": 0.05,
              "dead_letter": str(tmp_path / "dead.jsonl"), **cfg}
    hosts, merged = parse_target(url, config)
    return ElasticsearchOutput(hosts, merged, ctx or Context())


def exactly_once(fake: FakeES, n: int) -> None:
    assert sorted(fake.docs) == sorted(f"alert-{i}" for i in range(n))


@pytest.mark.parametrize("fault", ["429", "503", "partial", "timeout-after-apply", "cut-after-apply"])
def test_recovers_from_fault_exactly_once(fake: FakeES, url: str, tmp_path: Any, fault: str) -> None:
    fake.script = [fault, fault, fault]
    ctx = Context()
    extra: dict[str, Any] = {}
    if fault == "timeout-after-apply":
        fake.sleep, extra["request_timeout"] = 0.6, 0.3
    out = make_output(url, tmp_path, ctx, chunk_size=20, **extra)
    out.write_events([alert(i) for i in range(20)])
    out.close()
    exactly_once(fake, 20)
    assert fake.bulk_requests >= 4  # the three faults were really served
    assert not (tmp_path / "dead.jsonl").exists()
    s = ctx.stats.snapshot()
    assert s["drops"] == {}
    if fault in ("timeout-after-apply", "cut-after-apply"):
        # the first attempt was applied; the retry met 409s, counted as duplicates, not errors
        assert out.totals.duplicates == 20 and out.totals.created == 0
    else:
        assert out.totals.created == 20
    assert s["gauges"]["es.retries"] > 0
    assert s["gauges"].get("es.indexed", 0) == out.totals.created  # counted once, not per attempt


def test_revision_updates_replace_in_backing_index(fake: FakeES, url: str, tmp_path: Any) -> None:
    out = make_output(url, tmp_path)
    out.write_events([alert(i) for i in range(5)])
    out.flush()
    out.write_events([alert(i, revision=2) for i in range(3)])
    out.flush()
    # A late, older revision never overwrites a newer one; a repeat is a duplicate.
    out.write_events([alert(0, revision=1), alert(1, revision=2)])
    out.close()
    exactly_once(fake, 5)
    revs = {k: v["source"]["flowcep"]["revision"] for k, v in fake.docs.items()}
    assert revs == {"alert-0": 2, "alert-1": 2, "alert-2": 2, "alert-3": 1, "alert-4": 1}
    assert fake.docs["alert-0"]["source"]["flowcep"]["counts"]["ports"] == 20
    assert out.totals.updated == 3 and out.totals.duplicates == 2


def test_rejected_documents_go_to_dead_letter_then_replay(fake: FakeES, url: str, tmp_path: Any) -> None:
    fake.reject_ids = {"alert-3", "alert-7"}
    out = make_output(url, tmp_path)
    out.write_events([alert(i) for i in range(10)])
    out.close()
    assert sorted(fake.docs) == sorted(f"alert-{i}" for i in range(10) if i not in (3, 7))
    lines = [json.loads(x) for x in (tmp_path / "dead.jsonl").read_text().splitlines()]
    assert sorted(d["id"] for d in lines) == ["alert-3", "alert-7"]
    assert all(d["status"] == 400 and "source.ip" in d["error"] for d in lines)
    assert lines[0]["document"]["rule"]["id"] == "flowcep.portscan"
    assert lines[0]["index"] == STREAM
    # the mapping is fixed; replay sends them once, and a second replay finds nothing to do
    from flowcep_plugin.es.deadletter import replay

    fake.reject_ids = set()
    report = replay(str(tmp_path / "dead.jsonl"), make_client(url), stats=None)
    assert report.sent == 2 and report.failed == 0
    exactly_once(fake, 10)
    assert not (tmp_path / "dead.jsonl").read_text().strip()


def test_cluster_down_backpressure_then_drops_counted(fake: FakeES, url: str, tmp_path: Any) -> None:
    fake.always = "503"
    ctx = Context()
    out = make_output(url, tmp_path, ctx, queue_size=10, chunk_size=5, block_timeout=0.3, max_retries=3)
    started = time.monotonic()
    out.write_events([alert(i) for i in range(40)])
    blocked = time.monotonic() - started
    out.close()
    dropped = ctx.stats.snapshot()["drops"].get("queue-full", 0)
    dead = (tmp_path / "dead.jsonl").read_text().splitlines() if (tmp_path / "dead.jsonl").exists() else []
    assert blocked >= 0.25  # the producer was held back before anything was dropped
    assert dropped > 0
    # nothing vanished: every alert was either dead-lettered (retries ran out) or counted as dropped
    assert dropped + len(dead) == 40
    assert fake.docs == {}


def test_flows_are_not_duplicated_by_retries(fake: FakeES, url: str, tmp_path: Any) -> None:
    fake.script = ["cut-after-apply"]
    out = make_output(url, tmp_path, flows=True, chunk_size=100)
    rows = [{"sourceIPv4Address": f"10.0.{i // 250}.{i % 250}", "destinationIPv4Address": "10.9.9.9",
             "destinationTransportPort": 80, "protocolIdentifier": 6, "octetDeltaCount": i,
             "flowEndMilliseconds": 1_700_000_000_000 + i} for i in range(100)]
    out.write_flows(FlowBatch.from_rows(rows))
    out.close()
    assert len(fake.docs) == 100
    doc = next(iter(fake.docs.values()))["source"]
    assert doc["data_stream.dataset"] == "flowcep.flow" and doc["network.transport"] == "tcp"
    assert doc["event.ingested"].endswith("Z")


def test_flows_into_the_netflow_integrations_stream_skip_its_ingest_pipeline(fake: FakeES, url: str,
                                                                             tmp_path: Any) -> None:
    """flow_dataset = netflow.log: the integration's default pipeline expects Beats' nested
    documents (it would add a second network.direction to FlowCEP's flat ones), so flows are
    sent with pipeline _none; alerts and FlowCEP's own flow stream keep the default."""
    rows = [{"sourceIPv4Address": "10.0.0.1", "destinationIPv4Address": "10.9.9.9", "octetDeltaCount": i,
             "flowEndMilliseconds": 1_700_000_000_000 + i} for i in range(3)]
    out = make_output(url, tmp_path, flows=True, flow_dataset="netflow.log")
    out.write_flows(FlowBatch.from_rows(rows))
    out.write_events([alert(1)])
    out.close()
    metas = {d["meta"]["_index"]: d["meta"] for d in fake.docs.values()}
    assert metas["logs-netflow.log-default"]["pipeline"] == "_none"
    assert "pipeline" not in metas[STREAM]
    assert next(d for d in fake.docs.values() if d["op"] == "create" and "netflow.type" in d["source"])[
        "source"]["event.dataset"] == "netflow.log"
    # a rejected flow keeps its pipeline in the dead-letter file, and a replay sends it so
    fake.docs.clear()
    rejected = make_output(url, tmp_path, flows=True, flow_dataset="netflow.log")
    rejected.write_flows(FlowBatch.from_rows(rows[:1]))
    rejected.flush()
    fake.reject_ids.update(fake.docs)
    fake.docs.clear()
    rejected.write_flows(FlowBatch.from_rows(rows[:1]))
    rejected.close()
    dead = [json.loads(line) for line in (tmp_path / "dead.jsonl").read_text().splitlines()]
    assert dead[-1]["pipeline"] == "_none" and dead[-1]["kind"] == "flow"
    fake.reject_ids.clear()
    from flowcep_plugin.es.deadletter import replay
    replay(str(tmp_path / "dead.jsonl"), make_client(url, {"request_timeout": 1}))
    assert [d["meta"].get("pipeline") for d in fake.docs.values()] == ["_none"]
    fake.docs.clear()
    own = make_output(url, tmp_path, flows=True)
    own.write_flows(FlowBatch.from_rows(rows))
    own.close()
    assert all("pipeline" not in d["meta"] for d in fake.docs.values()) and len(fake.docs) == 3


def test_sender_gives_up_after_bounded_retries(fake: FakeES, url: str, tmp_path: Any) -> None:
    fake.always = "429"
    from flowcep_plugin.outputs.elasticsearch import Action

    sender = Sender(make_client(url, {"request_timeout": 1}), max_retries=2, backoff_initial=0.01,
                    backoff_max=0.02, dead_letter=str(tmp_path / "dl.jsonl"))
    result = sender.send([Action(STREAM, "a", {"x": 1})])
    assert result.dead_lettered == 1 and result.retries == 2
    assert fake.bulk_requests == 3
    assert "gave up after 2 retries" in (tmp_path / "dl.jsonl").read_text()




def test_preflight_refuses_an_unsupported_server(fake: FakeES, url: str, tmp_path: Any) -> None:
    from flowcep_plugin.errors import ConfigError

    fake.version = "7.17.9"
    with pytest.raises(ConfigError, match="7.17.9 is not supported"):
        make_output(url, tmp_path)


def test_unreachable_at_start_fails_fast_with_one_line(tmp_path: Any) -> None:
    from flowcep_plugin.errors import ConfigError
    from flowcep_plugin.es.loopback import free_port

    started = time.monotonic()
    with pytest.raises(ConfigError, match=r"cannot connect to .*; start the cluster or fix the URL, or pass --wait"):
        make_output(f"http://127.0.0.1:{free_port()}", tmp_path, max_retries=0)
    assert time.monotonic() - started < 10


def test_with_wait_an_unreachable_cluster_only_warns(tmp_path: Any, caplog: Any) -> None:
    from flowcep_plugin.es.loopback import free_port

    ctx = Context()
    out = make_output(f"http://127.0.0.1:{free_port()}", tmp_path, ctx, max_retries=0, wait=True)
    assert "documents will be queued and retried" in caplog.text
    out.write_events([alert(1)])
    out.close()  # nothing reachable: the alert is kept in the dead-letter file, not lost
    (line,) = (tmp_path / "dead.jsonl").read_text().splitlines()
    assert json.loads(line)["id"] == "alert-1"
    assert ctx.stats.snapshot()["output_failures"] == {"elasticsearch": 1}


class HungServer:
    """Accepts connections on loopback and never answers: a cluster stuck mid-request."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.conns: list[socket.socket] = []
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)

    def close(self) -> None:
        self.sock.close()
        for c in self.conns:
            c.close()


def test_hung_cluster_at_start_fails_fast(tmp_path: Any) -> None:
    from flowcep_plugin.errors import ConfigError

    hung = HungServer()
    try:
        started = time.monotonic()
        with pytest.raises(ConfigError, match="cannot connect"):
            make_output(f"http://127.0.0.1:{hung.port}", tmp_path, request_timeout=0.5)
        assert time.monotonic() - started < 5
    finally:
        hung.close()


def test_hung_cluster_shutdown_is_bounded_and_every_alert_dead_lettered(tmp_path: Any) -> None:
    hung = HungServer()
    ctx = Context()
    try:
        out = make_output(f"http://127.0.0.1:{hung.port}", tmp_path, ctx, wait=True, request_timeout=3.0,
                          flush_timeout=1.0, max_retries=100, chunk_size=5)
        out.write_events([alert(i) for i in range(12)])
        started = time.monotonic()
        out.flush()  # the pipeline's final flush ...
        out.close()  # ... then close: no second wait
        took = time.monotonic() - started
    finally:
        hung.close()
    assert took < 3.0  # one flush_timeout, not request_timeout x retries, not two flushes
    ids = [json.loads(x)["id"] for x in (tmp_path / "dead.jsonl").read_text().splitlines()]
    assert sorted(ids) == sorted(f"alert-{i}" for i in range(12))  # the hung chunk too, once each
    assert ctx.stats.snapshot()["output_failures"] == {"elasticsearch": 12}
    time.sleep(3.5)  # the hung request times out in the sender thread: nothing is written twice
    assert len((tmp_path / "dead.jsonl").read_text().splitlines()) == 12


def test_request_too_large_is_split(fake: FakeES, url: str, tmp_path: Any) -> None:
    fake.max_docs = 6
    out = make_output(url, tmp_path, chunk_size=40)
    out.write_events([alert(i) for i in range(40)])
    out.close()
    exactly_once(fake, 40)
    assert out.totals.created == 40 and not (tmp_path / "dead.jsonl").exists()


def test_unwritable_dead_letter_file_fails_at_start(fake: FakeES, url: str, tmp_path: Any) -> None:
    import os

    from flowcep_plugin.errors import ConfigError

    if os.geteuid() == 0:  # root writes through file modes; the kernel still refuses this one
        target = "/sys/kernel/notes"
        if not os.path.exists(target):
            pytest.skip("no root-proof read-only file here")
    else:
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        target = str(ro / "dead.jsonl")
    with pytest.raises(ConfigError, match=r"dead-letter file .*: cannot write: Permission denied; set"):
        make_output(url, tmp_path, dead_letter=target)
    out = make_output(url, tmp_path, dead_letter=str(tmp_path / "new" / "dead.jsonl"))
    out.close()
    assert not (tmp_path / "new" / "dead.jsonl").exists()  # checked, not left behind
