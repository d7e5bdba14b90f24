"""Elasticsearch output: alerts (and optionally flows) into data streams, nothing lost,
nothing duplicated.

How each promise is kept:

* **No duplicates.** Every alert carries a deterministic ``alert_id`` (rule + key + window),
  used as ``_id``. Revision 1 is sent with ``op_type=create``: a 409 means it is already
  indexed (an earlier attempt whose answer was lost) and counts as ``es.duplicates``, not an
  error. A later revision (a merged update of the same alert) is also tried as ``create``
  (its first revision may never have arrived); on 409 the stored copy is looked up and
  replaced in its backing index with ``if_seq_no``/``if_primary_term`` (data streams accept
  only ``create`` on the stream itself), unless the stored revision is already as new.
  Flows get an ``_id`` hashed from their bytes, so a retried chunk cannot double them.
* **Nothing lost.** A bounded queue feeds one background sender thread. Whole-request
  failures (429, 5xx, timeouts, connection errors) are retried with bounded exponential
  backoff; per-document 429/5xx likewise. Per-document rejections (mapping conflicts) and
  documents whose retries ran out go to a dead-letter JSONL file with the error, which
  ``flowcep es replay-dead-letters`` re-sends. When the cluster stays down, producers block
  (backpressure) for at most ``block_timeout``; what still does not fit is dropped and counted
  (``queue-full``).
* **ECS.** ``data_stream.*`` is set on every document, ``event.ingested`` when it is sent.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import parse_qsl

import orjson

from .. import ecs
from ..config import parse_duration
from ..context import Context
from ..errors import ConfigError
from ..hookspecs import hookimpl
from ..records import FLOW_STREAM, FlowBatch
from ..specs import Event, OutputSpec

__all__ = ["ElasticsearchOutput", "Sender", "Action", "alert_id_of", "revision_of", "flowcep_register_outputs"]

if TYPE_CHECKING:
    from elasticsearch import ApiError, Elasticsearch, TransportError


def _import_client() -> None:
    """Import the Elasticsearch client when an output or a sender is built, not when the
    plugin registers: every run loads this builtin, and the client's import is 0.13 to 0.15
    CPU s of a run's start-up (docs/deployment.md) that a run without this output never uses."""
    global ApiError, Elasticsearch, TransportError
    from elasticsearch import ApiError, Elasticsearch, TransportError

log = logging.getLogger("flowcep.outputs.elasticsearch")

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
#: The Elastic netflow integration's dataset (``flow_dataset`` for its dashboards).
NETFLOW_DATASET = "netflow.log"

CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "hosts": {"type": "array", "items": {"type": "string"}, "description": "cluster URLs (or give one on --output)"},
        "api_key": {"type": "string", "description": "base64 API key (or FLOWCEP_ES_API_KEY)"},
        "username": {"type": "string"},
        "password": {"type": "string", "description": "or FLOWCEP_ES_PASSWORD"},
        "ca_file": {"type": "string", "description": "PEM CA bundle for https"},
        "verify_certs": {"type": "boolean"},
        "namespace": {"type": "string", "pattern": "^[a-z0-9_]+$", "description": "data stream namespace"},
        "alert_dataset": {"type": "string"},
        "metric_dataset": {"type": "string"},
        "flow_dataset": {"type": "string"},
        "options_dataset": {"type": "string", "description": "data set of exporters' options records, written with the flows (logs-<options_dataset>-<ns>)"},
        "flows": {"type": "boolean", "description": "index the flows the host sends (run --flows) into logs-<flow_dataset>-<ns>; false keeps them out of Elasticsearch"},
        "chunk_size": {"type": "integer", "minimum": 1},
        "queue_size": {"type": "integer", "minimum": 1, "description": "documents held while the cluster is slow"},
        "flush_interval": {"type": ["number", "string"], "description": "send a partial chunk after this long"},
        "block_timeout": {"type": ["number", "string"], "description": "how long a full queue blocks the pipeline before dropping"},
        "flush_timeout": {"type": ["number", "string"], "description": "at flush and shutdown, give up after this long without any document acknowledged; what is left is dead-lettered"},
        "request_timeout": {"type": ["number", "string"]},
        "max_retries": {"type": "integer", "minimum": 0},
        "backoff_initial": {"type": ["number", "string"]},
        "backoff_max": {"type": ["number", "string"]},
        "dead_letter": {"type": "string", "x-kind": "path", "description": "JSONL file for documents the cluster rejected"},
        "check": {"type": "boolean", "description": "at start, check the server version and that the templates exist"},
        "wait": {"type": "boolean", "description": "start even when the cluster is unreachable, queueing alerts until it answers (also run --wait); without it an unreachable cluster fails the run at start"},
        "setup": {"type": "boolean", "description": "at start, install templates and ILM (as flowcep es setup)"},
    },
}

DEFAULTS: dict[str, Any] = {
    "namespace": "default",
    "alert_dataset": "flowcep.alert",
    "metric_dataset": "flowcep.metric",
    "flow_dataset": "flowcep.flow",
    "options_dataset": "flowcep.options",
    "flows": True,
    "chunk_size": 1000,
    "queue_size": 100_000,
    "flush_interval": 1.0,
    "block_timeout": 30.0,
    "flush_timeout": 30.0,
    "request_timeout": 30.0,
    "max_retries": 8,
    "backoff_initial": 0.5,
    "backoff_max": 30.0,
    "dead_letter": "flowcep-es-dead-letter.jsonl",
    "check": True,
    "setup": False,
    "wait": False,
}

_DURATIONS = ("flush_interval", "block_timeout", "flush_timeout", "request_timeout", "backoff_initial", "backoff_max")


@dataclass
class Action:
    """One document to send. ``source`` is a dict (alerts; serialised at send time so that
    ``event.ingested`` is the send time) or bytes (flows; pre-serialised by orjson, the
    ingest time is spliced in at send time)."""

    index: str
    id: str | None
    source: dict[str, Any] | bytes
    revision: int = 1
    kind: str = "alert"
    extra: dict[str, Any] = field(default_factory=dict)
    stream: str = ""

    def __post_init__(self) -> None:
        self.stream = self.stream or self.index

    def body(self, ingested: str, stamp: bytes | None = None) -> bytes:
        if isinstance(self.source, bytes):
            return self.source[:-1] + b',"event.ingested":"' + (stamp or ingested.encode()) + b'"}'
        if "event.kind" in self.source:  # a flat flow document (dead-letter replay)
            self.source["event.ingested"] = ingested
        else:
            event = self.source.setdefault("event", {})
            if isinstance(event, dict):
                event["ingested"] = ingested
        return orjson.dumps(self.source, default=str)

    def document(self) -> dict[str, Any]:
        if isinstance(self.source, bytes):
            return dict(orjson.loads(self.source))
        return self.source


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def alert_id_of(event: Mapping[str, Any]) -> str:
    """The event's ``flowcep.alert_id``, or a stable hash of it (without volatile fields) when a
    detector produced none, so that retries still cannot duplicate it."""
    fc = event.get("flowcep")
    aid = fc.get("alert_id") if isinstance(fc, Mapping) else None
    if isinstance(aid, str) and aid:
        return aid
    stable = {k: v for k, v in event.items() if k not in ("event", "flowcep")}
    return hashlib.sha256(orjson.dumps(stable, option=orjson.OPT_SORT_KEYS, default=str)).hexdigest()[:40]


#: A document to send again: (action, last status, last error).
Retry = tuple[Action, int | str, str]


@dataclass
class SendResult:
    """Counts of one :meth:`Sender.send` call (tests and replay read them)."""

    created: int = 0
    updated: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    retries: int = 0
    failed: list[tuple[Action, int | str, str]] = field(default_factory=list)

    def add(self, other: SendResult) -> None:
        self.created += other.created
        self.updated += other.updated
        self.duplicates += other.duplicates
        self.dead_lettered += other.dead_lettered
        self.retries += other.retries
        self.failed.extend(other.failed)


class Sender:
    """Sends actions as bulk requests and applies FlowCEP's retry, dedup and dead-letter
    policy. Synchronous; the output runs it on its own thread, replay runs it directly.

    The request body is put together here rather than by ``helpers.streaming_bulk``: flow
    documents arrive already encoded (orjson, column-wise), and the helper would still
    build an action dict and run the client's stdlib JSON encoder once per document for the
    action line; joining bytes costs a fraction of that (docs/performance.md)."""

    def __init__(
        self,
        client: Elasticsearch,
        *,
        max_retries: int = 8,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        dead_letter: str | None = None,
        stats: Any = None,
        stop: threading.Event | None = None,
    ) -> None:
        _import_client()
        self.client = client
        self.max_retries = max_retries
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.dead_letter = dead_letter
        self.stats = stats
        self._stop = stop or threading.Event()
        self._dl_lock = threading.Lock()
        # Actions the output dead-lettered itself at shutdown while a request for them hung:
        # if that request ever returns, they must not be dead-lettered a second time.
        self.abandoned: set[int] = set()

    # -- public -------------------------------------------------------------------------
    def send(self, actions: Sequence[Action]) -> SendResult:
        """Send ``actions`` until each is indexed, known duplicate, or dead-lettered."""
        result = SendResult()
        pending = list(actions)
        attempt = 0
        while pending:
            retry, conflicts = self._bulk_once(pending, result)
            if conflicts:
                retry.extend(self._resolve_updates(conflicts, result))
            if not retry:
                break
            attempt += 1
            if attempt > self.max_retries or self._stop.is_set() and attempt > 1:
                for action, status, error in retry:
                    self._dead(action, status, f"gave up after {attempt - 1} retries: {error}", result)
                break
            result.retries += len(retry)
            self._count("es.retries", len(retry))
            self._sleep(self._backoff(attempt))
            pending = [a for a, _, _ in retry]
        return result

    # -- internals ----------------------------------------------------------------------
    def _backoff(self, attempt: int) -> float:
        return float(min(self.backoff_max, self.backoff_initial * (2 ** (attempt - 1))))

    def _sleep(self, seconds: float) -> None:
        # Interruptible so that close() on a dead cluster does not hang for the whole backoff.
        self._stop.wait(seconds)

    def _count(self, name: str, n: int) -> None:
        if self.stats is not None and n:
            self.stats.add(name, n)

    def _body(self, actions: Sequence[Action], ingested: str) -> bytes:
        """The NDJSON body of one bulk request: an action line and a source line per action."""
        lines: list[bytes] = []
        heads: dict[tuple[str, str, str | None], bytes] = {}  # -> b'{"op":{"_index":"..."'
        stamp = ingested.encode()
        for a in actions:
            op = a.extra.get("op", "create")
            pipeline = a.extra.get("pipeline")
            head = heads.get((op, a.index, pipeline))
            if head is None:
                first: dict[str, Any] = {"_index": a.index}
                if pipeline is not None:
                    first["pipeline"] = pipeline
                head = heads[(op, a.index, pipeline)] = orjson.dumps({op: first})[:-2]
            if "if_seq_no" in a.extra:
                meta = {"_index": a.index, "_id": a.id, "if_seq_no": a.extra["if_seq_no"],
                        "if_primary_term": a.extra["if_primary_term"]}
                lines.append(orjson.dumps({op: meta}))
            elif a.id is not None:
                lines.append(head + b',"_id":' + orjson.dumps(a.id) + b"}}")
            else:
                lines.append(head + b"}}")
            lines.append(a.body(ingested, stamp))
        lines.append(b"")
        return b"\n".join(lines)

    def _bulk_request(self, actions: Sequence[Action], ingested: str) -> list[tuple[bool, dict[str, Any]]]:
        """One bulk request: per action (acknowledged, ``{op: item}``), as Elasticsearch
        answered, in order. Raises ApiError/TransportError when the request as a whole fails."""
        # The client's NDJSON serializer sends bytes as they are (its typing only lists dicts).
        resp = self.client.bulk(body=cast(Any, self._body(actions, ingested)))
        body = resp.body
        items = body.get("items") if isinstance(body, dict) else None
        if not isinstance(items, list):
            # a proxy's error page, or JSON of another shape, answered with 200: nothing says
            # what was indexed, so it is a failed request to retry (create-by-_id makes a
            # repeat of what did get in a 409, counted as a duplicate)
            raise TransportError(f"bulk answered {type(body).__name__} without items: {str(body)[:100]!r}")
        if len(items) != len(actions):
            raise TransportError(f"bulk answered {len(items)} items for {len(actions)} documents")
        out = []
        for item in items:
            info = next(iter(item.values()), None) if isinstance(item, dict) else None
            status = info.get("status") if isinstance(info, dict) else None
            if not isinstance(status, int):
                raise TransportError(f"bulk answered an item without a status: {str(item)[:100]!r}")
            out.append((200 <= status < 300, item))
        return out

    def _bulk_once(self, actions: list[Action], result: SendResult) -> tuple[list[Retry], list[Action]]:
        """One bulk request. Returns (to retry as (action, status, error), 409s on updates)."""
        ingested = _now_iso()
        retry: list[Retry] = []
        conflicts: list[Action] = []
        try:
            outcomes = self._bulk_request(actions, ingested)
        except (ApiError, TransportError) as e:
            status = getattr(e, "status_code", None) or getattr(e, "status", None) or type(e).__name__
            if isinstance(e, ApiError) and status == 413 and len(actions) > 1:
                # Request larger than http.max_content_length: send it in halves.
                mid = len(actions) // 2
                r1, c1 = self._bulk_once(actions[:mid], result)
                r2, c2 = self._bulk_once(actions[mid:], result)
                return r1 + r2, c1 + c2
            if isinstance(e, ApiError) and isinstance(status, int) and status not in RETRYABLE_STATUS:
                # The request as a whole was refused (400 on a malformed body, 401/403):
                # retrying cannot help; keep the documents.
                for a in actions:
                    self._dead(a, status, f"bulk request refused: {_short(e)}", result)
                return [], []
            log.warning("elasticsearch: bulk of %d failed (%s); will retry", len(actions), _short(e))
            return [(a, status, _short(e)) for a in actions], []
        created = 0
        for action, (ok, item) in zip(actions, outcomes, strict=True):
            info = next(iter(item.values())) if item else {}
            status = info.get("status", 0)
            if ok:
                if info.get("result") == "updated" or action.extra.get("op") == "index":
                    result.updated += 1
                else:
                    created += 1
                continue
            error = info.get("error")
            text = _error_text(error)
            if status == 409:
                if action.revision > 1 and action.id is not None and "if_seq_no" not in action.extra:
                    conflicts.append(action)
                elif "if_seq_no" in action.extra:
                    # Someone replaced it meanwhile: look again.
                    action.extra.clear()
                    action.index = action.stream
                    conflicts.append(action)
                else:
                    result.duplicates += 1
                    if action.kind == "flow":
                        # Same content hash: a retried chunk, or a record repeated verbatim.
                        self._count("es.flow_duplicates", 1)
            elif status in RETRYABLE_STATUS:
                retry.append((action, status, text))
            else:
                self._dead(action, status, text, result)
        result.created += created
        self._count("es.indexed", created)
        return retry, conflicts

    def _resolve_updates(self, actions: list[Action], result: SendResult) -> list[Retry]:
        """Later revisions whose ``_id`` exists: replace the stored copy in its backing index
        if it is older. Returns actions to retry (with ``if_seq_no`` set)."""
        ids = list({a.id for a in actions if a.id})
        indices = sorted({a.index for a in actions})
        try:
            self.client.indices.refresh(index=",".join(indices), ignore_unavailable=True)
            resp = self.client.search(
                index=",".join(indices),
                query={"ids": {"values": ids}},
                size=len(ids),
                seq_no_primary_term=True,
                source_includes=["flowcep.revision"],
            )
        except (ApiError, TransportError) as e:
            return [(a, getattr(e, "status_code", "N/A"), f"cannot look up stored revision: {_short(e)}") for a in actions]
        stored = {h["_id"]: h for h in resp["hits"]["hits"]}
        rest: list[Retry] = []
        direct: list[Action] = []
        for a in actions:
            hit = stored.get(a.id or "")
            if hit is None:
                # Vanished (deleted, or not visible yet): try creating again.
                rest.append((a, 409, "stored copy not found"))
                continue
            have = _revision_of(hit.get("_source") or {})
            if have >= a.revision:
                result.duplicates += 1
                continue
            a.extra.update(op="index", if_seq_no=hit["_seq_no"], if_primary_term=hit["_primary_term"])
            a.index = hit["_index"]
            direct.append(a)
        # Updates are sent at once, without backoff: they are not failures.
        if direct:
            again, conflicts = self._bulk_once(direct, result)
            rest.extend(again)
            for c in conflicts:
                rest.append((c, 409, "concurrent update"))
        return rest

    def _dead(self, action: Action, status: int | str, error: str, result: SendResult,
              force: bool = False) -> None:
        if not force:
            with self._dl_lock:
                if id(action) in self.abandoned:
                    return
        result.dead_lettered += 1
        result.failed.append((action, status, error))
        self._count("es.dead_lettered", 1)
        failure = getattr(self.stats, "output_failure", None)
        if failure is not None:
            failure("elasticsearch", 1, f"{action.kind} {action.id} not indexed: {error[:200]}", dropped=False)
        if not self.dead_letter:
            if self.stats is not None:
                self.stats.drop("es-rejected", 1, source="elasticsearch")
            return
        line = orjson.dumps(
            {
                "time": _now_iso(),
                "index": action.stream,
                "id": action.id,
                "revision": action.revision,
                "kind": action.kind,
                "status": status,
                "error": error,
                "document": action.document(),
                **({"pipeline": action.extra["pipeline"]} if "pipeline" in action.extra else {}),
            },
            default=str,
        )
        try:
            with self._dl_lock:
                parent = os.path.dirname(os.path.abspath(self.dead_letter))
                os.makedirs(parent, exist_ok=True)
                with open(self.dead_letter, "ab") as f:
                    f.write(line + b"\n")
        except OSError as e:
            log.error("elasticsearch: cannot write dead letter to %s: %s", self.dead_letter, e)
            if self.stats is not None:
                self.stats.drop("dead-letter-failed", 1, source="elasticsearch")


def revision_of(doc: Mapping[str, Any]) -> int:
    """``flowcep.revision`` of an alert document (1 when absent)."""
    fc = doc.get("flowcep")
    rev = fc.get("revision") if isinstance(fc, Mapping) else None
    return rev if isinstance(rev, int) and not isinstance(rev, bool) and rev > 0 else 1


_revision_of = revision_of


def _short(e: BaseException) -> str:
    text = str(e).replace("\n", " ")
    return text[:300]


def _error_text(error: Any) -> str:
    if isinstance(error, dict):
        text = f"{error.get('type', 'error')}: {error.get('reason', '')}"
        cause = error.get("caused_by")
        if isinstance(cause, dict):
            text += f" (caused by {cause.get('type')}: {cause.get('reason')})"
        return text
    return str(error)


class ElasticsearchOutput:
    """The ``elasticsearch`` output: a bounded queue and one sender thread."""

    def __init__(self, hosts: Sequence[str], config: Mapping[str, Any], ctx: Context,
                 client: Elasticsearch | None = None) -> None:
        _import_client()
        from ..es.client import make_client

        cfg = {**DEFAULTS, **dict(config)}
        for key in _DURATIONS:
            cfg[key] = parse_duration(cfg[key])
        self.cfg = cfg
        self.ctx = ctx
        self.client = client or make_client(hosts, cfg)
        ns = cfg["namespace"]
        self.alert_stream = f"logs-{cfg['alert_dataset']}-{ns}"
        self.metric_stream = f"logs-{cfg['metric_dataset']}-{ns}"
        self.flow_stream = f"logs-{cfg['flow_dataset']}-{ns}"
        self._alert_ds = {"type": "logs", "dataset": cfg["alert_dataset"], "namespace": ns}
        self._metric_ds = {"type": "logs", "dataset": cfg["metric_dataset"], "namespace": ns}
        self._flow_extra = {
            "data_stream.type": "logs",
            "data_stream.dataset": cfg["flow_dataset"],
            "data_stream.namespace": ns,
            "event.dataset": cfg["flow_dataset"],
        }
        # exporters' options records: metric documents beside the flows, in their own stream
        self.options_stream = f"logs-{cfg['options_dataset']}-{ns}"
        self._options_extra = {**self._flow_extra, "data_stream.dataset": cfg["options_dataset"],
                               "event.dataset": cfg["options_dataset"]}
        self.flows_enabled = bool(cfg["flows"])
        # The netflow integration's data stream runs its ingest pipeline by default. That
        # pipeline is written for Beats' nested documents: on FlowCEP's flat ones it finds no
        # localities and adds a second network.direction ("unknown") beside the right one.
        # FlowCEP's documents already carry what it computes (docs/ecs.md), so it is skipped.
        self._flow_meta: dict[str, Any] = {"pipeline": "_none"} if cfg["flow_dataset"] == NETFLOW_DATASET else {}
        self.chunk_size = int(cfg["chunk_size"])
        self.capacity = int(cfg["queue_size"])
        self._stop = threading.Event()
        self.sender = Sender(
            self.client,
            max_retries=int(cfg["max_retries"]),
            backoff_initial=float(cfg["backoff_initial"]),
            backoff_max=float(cfg["backoff_max"]),
            dead_letter=cfg["dead_letter"],
            stats=ctx.stats,
            stop=self._stop,
        )
        self.totals = SendResult()
        host_cfg = ctx.config if isinstance(ctx.config, Mapping) else {}
        self.wait = bool(cfg.get("wait") or (host_cfg.get("run") or {}).get("wait"))
        self._progress = 0  # chunks finished by the sender (any outcome): flush waits on this
        self._chunk: list[Action] = []  # the chunk being sent
        self._gave_up = False
        if cfg["dead_letter"]:
            _check_writable(str(cfg["dead_letter"]))
        if cfg["check"] or cfg["setup"]:
            self._preflight(bool(cfg["setup"]))
        self._buf: deque[Action] = deque()
        self._cv = threading.Condition()
        self._inflight = 0
        self._flushing = 0
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="flowcep-es-sender", daemon=True)
        self._thread.start()

    def _preflight(self, setup: bool) -> None:
        """Fail fast on a server that can never work (wrong product or version) or that does
        not answer now (a typo in the URL, a cluster not started: better said at once than
        found in the dead-letter file at the end); with ``wait`` an unreachable cluster only
        warns and documents queue and retry. Missing templates only warn."""
        from ..es.setup import install, server_version

        quick = self.client.options(request_timeout=min(5.0, float(self.cfg["request_timeout"])))
        try:
            server_version(quick)
        except ConfigError as e:
            if "cannot connect" not in str(e):
                raise
            if not self.wait:
                raise ConfigError(f"{e}; start the cluster or fix the URL, or pass --wait "
                                  "(outputs.elasticsearch wait = true) to queue alerts until it answers") from None
            log.warning("%s; documents will be queued and retried", e)
            return
        try:
            if setup:
                install(self.client)
            elif not quick.indices.exists_index_template(name=f"logs-{self.cfg['alert_dataset']}"):
                log.warning("elasticsearch: index template logs-%s is not installed; run 'flowcep es setup' "
                            "first, or addresses and dates get dynamic types", self.cfg["alert_dataset"])
        except (ApiError, TransportError) as e:
            log.warning("elasticsearch: cannot check templates: %s", _short(e))

    # -- Output protocol ---------------------------------------------------------------
    def write_events(self, events: list[Event]) -> None:
        actions = []
        for event in events:
            doc = _copy_doc(event)
            ev = doc.setdefault("event", {})
            kind = str(ev.get("kind", "alert")) if isinstance(ev, dict) else "alert"
            if kind == "metric":
                ds, stream = self._metric_ds, self.metric_stream
            else:
                ds, stream = self._alert_ds, self.alert_stream
            doc["data_stream"] = dict(ds)
            if isinstance(ev, dict):
                ev["dataset"] = ds["dataset"]
            actions.append(Action(stream, alert_id_of(event), doc, revision_of(event), kind=kind))
        self._put(actions)

    def write_flows(self, batch: FlowBatch) -> None:
        if not self.flows_enabled or batch.length == 0:
            return
        options = batch.stream != FLOW_STREAM
        raw = ecs.batch_to_json(batch, self._options_extra if options else self._flow_extra)
        exporter = (batch.exporter or "").encode()
        flow_id = ecs.flow_id
        index = self.options_stream if options else self.flow_stream
        meta = {} if options else self._flow_meta  # options: FlowCEP's own data stream, no pipeline
        actions = [Action(index, flow_id(r, exporter), r, kind="flow", extra=dict(meta)) for r in raw]
        self._put(actions)

    def flush(self) -> None:
        """Wait until every queued document is indexed, known duplicate or dead-lettered.

        A cluster that keeps acknowledging is waited for; one that acknowledges nothing for
        ``flush_timeout`` (down, or hung mid-request) is given up on, and ``close`` then
        dead-letters what is left. Once given up, later flushes (the pipeline's final flush
        and close) do not wait again, so shutdown is bounded by one ``flush_timeout`` plus
        one ``request_timeout`` at most."""
        if self._gave_up:
            return
        stall = float(self.cfg["flush_timeout"])
        with self._cv:
            self._flushing += 1
            self._cv.notify_all()
            seen = self._progress
            deadline = time.monotonic() + stall
            try:
                while self._buf or self._inflight:
                    if self._progress != seen:
                        seen = self._progress
                        deadline = time.monotonic() + stall
                    left = deadline - time.monotonic()
                    if left <= 0 or not self._thread.is_alive():
                        n = len(self._buf) + self._inflight
                        self._gave_up = True
                        log.error("elasticsearch: nothing acknowledged for %.0f s; giving up on %d documents "
                                  "(they go to the dead-letter file)", stall, n)
                        break
                    self._cv.wait(min(left, 0.5))
            finally:
                self._flushing -= 1

    def close(self) -> None:
        if self._closed:
            return
        self.flush()
        with self._cv:
            self._closed = True
            unsent = list(self._buf)
            self._buf.clear()
            self._cv.notify_all()
        self._stop.set()  # interrupts backoff sleeps; a request in flight runs to its timeout
        self._thread.join(timeout=0.5 if self._gave_up else 10)
        if self._thread.is_alive():
            # Hung mid-request: nobody will acknowledge that chunk in time. Dead-letter it now
            # (a replay of a document the cluster did take is a 409 duplicate, not a copy).
            with self._cv:
                hung = list(self._chunk)
            with self.sender._dl_lock:  # the sender thread may not dead-letter them again
                self.sender.abandoned.update(id(a) for a in hung)
            unsent.extend(hung)
        if unsent:
            # Flush gave up: keep them in the dead-letter file rather than lose them.
            r = SendResult()
            for a in unsent:
                self.sender._dead(a, "N/A", "unacknowledged at shutdown (cluster unavailable or hung)", r,
                                  force=True)
            self.totals.add(r)
        self.ctx.stats.gauge("es.queue_depth", 0)
        try:
            self.client.close()
        except Exception:  # noqa: BLE001 - closing a broken connection must not mask results
            pass

    # -- queue -------------------------------------------------------------------------
    def _put(self, actions: list[Action]) -> None:
        if not actions:
            return
        deadline = time.monotonic() + float(self.cfg["block_timeout"])
        i = 0
        with self._cv:
            while i < len(actions):
                if self._closed:
                    break
                room = self.capacity - len(self._buf)
                if room > 0:
                    take = actions[i : i + room]
                    self._buf.extend(take)
                    i += len(take)
                    self._cv.notify_all()
                    continue
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cv.wait(min(left, 0.5))
            self.ctx.stats.gauge("es.queue_depth", len(self._buf))
        dropped = len(actions) - i
        if dropped:
            self.ctx.stats.drop("queue-full", dropped, source="elasticsearch")
            self.ctx.stats.output_failure("elasticsearch", dropped, "queue full: documents dropped", dropped=False)
            log.warning("elasticsearch: queue full for %.0f s; dropped %d documents",
                        self.cfg["block_timeout"], dropped)

    def _run(self) -> None:
        interval = float(self.cfg["flush_interval"])
        while True:
            with self._cv:
                # Fill a whole chunk when documents keep coming; send a partial one after
                # flush_interval, at once on flush(), or at close.
                deadline: float | None = None
                while True:
                    if self._buf and (len(self._buf) >= self.chunk_size or self._closed or self._flushing):
                        break
                    if not self._buf:
                        if self._closed:
                            return
                        deadline = None
                        self._cv.wait(0.5)
                        continue
                    now = time.monotonic()
                    if deadline is None:
                        deadline = now + interval
                    if now >= deadline:
                        break
                    self._cv.wait(deadline - now)
                n = min(self.chunk_size, len(self._buf))
                chunk = [self._buf.popleft() for _ in range(n)]
                self._inflight = n
                self._chunk = chunk
                self._cv.notify_all()
            try:
                r = self.sender.send(chunk)
                self.totals.add(r)
                self.ctx.stats.add("es.updated", r.updated)
                self.ctx.stats.add("es.duplicates", r.duplicates)
                self.ctx.stats.count("output:elasticsearch", n, r.created + r.updated + r.duplicates)
            except Exception as e:  # noqa: BLE001 - the sender thread must survive a bug
                log.error("elasticsearch: sender failed: %s", e)
                r = SendResult()
                for a in chunk:
                    self.sender._dead(a, "N/A", f"sender error: {e}", r)
                self.ctx.stats.plugin_error("elasticsearch", str(e))
            finally:
                with self._cv:
                    self._inflight = 0
                    self._chunk = []
                    self._progress += 1
                    self.ctx.stats.gauge("es.queue_depth", len(self._buf))
                    self._cv.notify_all()


def _check_writable(path: str) -> None:
    """The dead-letter file is the last place an alert can go: find out at start, not during
    an outage, that it cannot be written (a read-only or missing directory)."""
    existed = os.path.exists(path)
    try:
        parent = os.path.dirname(os.path.abspath(path))
        os.makedirs(parent, exist_ok=True)
        with open(path, "ab"):
            pass
    except OSError as e:
        raise ConfigError(f"elasticsearch: dead-letter file {path}: cannot write: {e.strerror}; "
                          "set outputs.elasticsearch dead_letter to a writable path") from None
    if not existed:
        try:
            os.remove(path)  # leave no empty file behind when nothing fails
        except OSError:
            pass


def _copy_doc(event: Mapping[str, Any]) -> dict[str, Any]:
    """A copy deep enough that setting ``event.ingested``/``data_stream`` leaves the
    caller's event (shared with other outputs) untouched."""
    out = dict(event)
    for key in ("event", "data_stream", "flowcep"):
        value = out.get(key)
        if isinstance(value, dict):
            out[key] = dict(value)
    return out


def parse_target(target: str | None, config: Mapping[str, Any]) -> tuple[list[str], dict[str, Any]]:
    """``http://h:9200,http://h2:9200?namespace=prod&flows=true`` -> (hosts, config)."""
    cfg = dict(config)
    rest = (target or "").strip()
    for prefix in ("elasticsearch:", "es:"):
        if rest.startswith(prefix) and not rest.startswith(prefix + "//"):
            rest = rest[len(prefix):]
            break
    if rest.startswith(("elasticsearch://", "es://")):
        rest = "http://" + rest.split("://", 1)[1]
    elif rest.startswith("//"):  # --output elasticsearch://HOST:9200 (the registry strips the scheme)
        rest = "http:" + rest
    if "?" in rest:
        rest, query = rest.split("?", 1)
        for k, v in parse_qsl(query):
            if k not in CONFIG_SCHEMA["properties"]:
                raise ConfigError(f"elasticsearch: unknown option {k!r} in {target!r}")
            kind = CONFIG_SCHEMA["properties"][k]["type"]
            cfg[k] = (v.lower() in ("1", "true", "yes")) if kind == "boolean" else int(v) if kind == "integer" else v
    from ..es.client import split_hosts  # an ES output is configured: the client is needed

    hosts = split_hosts(rest) if rest else list(cfg.get("hosts") or [])
    if not hosts:
        env = os.environ.get("FLOWCEP_ES_URL")
        hosts = split_hosts(env) if env else []
    if not hosts:
        raise ConfigError("elasticsearch: no cluster URL; use --output elasticsearch:http://HOST:9200 "
                          "or [outputs.elasticsearch] hosts")
    return hosts, cfg


def _factory(target: str | None, config: Mapping[str, Any], ctx: Context) -> ElasticsearchOutput:
    hosts, cfg = parse_target(target, config)
    return ElasticsearchOutput(hosts, cfg, ctx)


@hookimpl
def flowcep_register_outputs() -> list[OutputSpec]:
    return [
        OutputSpec(
            name="elasticsearch",
            summary="Alerts (and optionally flows) into Elasticsearch data streams logs-flowcep.*; "
            "deterministic ids, retries, dead-letter file",
            schemes=("elasticsearch", "es"),
            factory=_factory,
            accepts_flows=True,
            config_schema=CONFIG_SCHEMA,
            defaults=DEFAULTS,
        )
    ]
