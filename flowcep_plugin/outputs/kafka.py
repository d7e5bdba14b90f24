"""``kafka://HOST:PORT[,HOST:PORT...]/TOPIC``: alerts (and, if asked, flows) to a Kafka topic.

Stream4Flow and the Elastic/ElastiFlow stacks move flows and alerts through Kafka; this
output hands FlowCEP's alerts to that world as the same ECS JSON documents the jsonl output
writes. Each alert is keyed by its deterministic ``flowcep.alert_id``, so a consumer (or a
compacted topic) can tell a replayed alert from a new one, and the revisions of one alert land
in one partition, in order. With ``flows = true`` (or ``?flows=true``) the ECS flow documents
of ``run --flows`` go to the same topic, unkeyed.

Delivery is confirmed, not assumed: ``acks=all``, and ``flush`` waits for the broker's
acknowledgements (``timeout``, default 30 s). A message the broker refused, or that is still
unconfirmed when the run ends, is counted against this output (``output-error``) and the run
exits with code 3. The broker must answer at start (exit 2 otherwise) unless ``--wait`` or
``wait = true``: then messages queue in the client (bounded by librdkafka's
``queue.buffering.max.messages``) until it does.

With ``?stream=NAME`` the output publishes the rows an EPL ``INSERT INTO NAME`` statement of
the run produces, and nothing else (no alerts, no flows: give another ``-o kafka://...`` for
those), so a level-2 monitor can read a gateway's derived stream (NetViewer's hierarchy) as
events of an EPL type (``--input stream+kafka://...?type=NAME``). One JSON document per row
(:mod:`.streamdocs`, the same as ``jsonl:PATH?stream=NAME`` writes), keyed by the stream name
(so the rows of one stream stay in order in one partition); its ``flowcep.time_ms`` is the
row's own event time. A stream that no running EPL statement inserts into is refused at start
(exit 2). Beside the rows, in the same partition and order (one request in flight, so a retry
cannot reorder them), it writes a progress document each time the engine has closed its
windows at least ``?progress=`` (default 1s of event time; ``off`` for none) past the last one:
the level-2 input advances that gateway's time by it, so a gateway whose statement inserts
nothing does not hold the level-2 monitor back until ``exporter_idle``.

The client is confluent-kafka (librdkafka), the Kafka client the issue chose; it is imported
only when a kafka output is configured.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from .. import ecs
from ..clock import NO_TIME
from ..config import parse_duration
from ..context import Context
from ..errors import ConfigError
from ..hookspecs import hookimpl
from ..kafka_client import AckedProducer
from ..records import FlowBatch
from ..specs import Event, OutputSpec
from .jsonl import dumps
from .streamdocs import observer_of, progress_document, stream_documents

__all__ = ["KafkaOutput", "parse_target"]

log = logging.getLogger("flowcep")

CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object", "additionalProperties": False,
    "properties": {
        "flows": {"type": "boolean", "description": "also send every flow record (with run --flows) as an ECS document"},
        "metrics": {"type": "boolean", "description": "send metric events (trafficstats) too"},
        "timeout": {"type": ["number", "string"], "description": "how long flush and close wait for the broker's acknowledgements (default 30s)"},
        "wait": {"type": "boolean", "description": "start even when the broker is unreachable, queueing messages until it answers (also run --wait)"},
        "client": {"type": "object", "description": "extra librdkafka settings (security.protocol, sasl.*, ssl.*, compression.type ...)",
                   "additionalProperties": {"type": ["string", "number", "boolean"]}},
    },
}
DEFAULTS: dict[str, Any] = {"flows": False, "metrics": True, "timeout": "30s", "wait": False, "client": {}}


def parse_target(target: str | None) -> tuple[str, str, dict[str, str]]:
    """``//HOST:PORT[,HOST:PORT]/TOPIC[?k=v&...]`` -> (bootstrap servers, topic, options)."""
    example = "kafka://127.0.0.1:9092/flowcep-alerts"
    if not target or not target.startswith("//"):
        raise ConfigError(f"output kafka: write kafka://HOST:PORT/TOPIC (e.g. {example})")
    rest, _, query = target[2:].partition("?")
    servers, slash, topic = rest.partition("/")
    if not servers or not slash or not topic or "/" in topic:
        raise ConfigError(f"output kafka:{target}: needs brokers and one topic, e.g. {example}")
    for hp in servers.split(","):
        host, colon, port = hp.rpartition(":")
        if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError(f"output kafka:{target}: broker {hp!r} is not HOST:PORT (e.g. {example})")
    if not all(c.isalnum() or c in "._-" for c in topic) or len(topic) > 249:
        raise ConfigError(f"output kafka:{target}: topic {topic!r}: Kafka allows letters, digits, '.', '_', '-'")
    opts = dict(parse_qsl(query, keep_blank_values=True))
    unknown = sorted(set(opts) - {"flows", "metrics", "stream", "progress"})
    if unknown:
        raise ConfigError(f"output kafka:{target}: unknown option {unknown[0]!r} (known: flows, metrics, "
                          "progress, stream)")
    if "stream" in opts and not opts["stream"].replace("_", "").isalnum():
        raise ConfigError(f"output kafka:{target}: stream {opts['stream']!r}: an EPL stream name (letters, digits, _)")
    if "progress" in opts and "stream" not in opts:
        raise ConfigError(f"output kafka:{target}: progress= goes with stream=NAME (progress documents say how far "
                          "a published stream is written)")
    return servers, topic, opts


def _progress_ms(value: str, name: str) -> int | None:
    """``?progress=``: event time between progress documents (ms), None for ``off``."""
    if value.lower() in ("off", "0", "false", "no"):
        return None
    try:
        return max(0, int(parse_duration(value) * 1000))
    except ValueError as exc:
        raise ConfigError(f"output {name}: progress: {exc} (a duration such as 1s, or off)") from None


def _flag(value: str, what: str) -> bool:
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"output kafka: {what}={value!r}: write true or false")


class KafkaOutput:
    """Produces alerts (keyed by alert id) and optionally flows; counts what is not acknowledged."""

    def __init__(self, target: str | None, config: Mapping[str, Any], ctx: Context) -> None:
        servers, self.topic, opts = parse_target(target)
        self.name = f"kafka:{target}"
        self.ctx = ctx
        self.flows = _flag(opts["flows"], "flows") if "flows" in opts else bool(config.get("flows", False))
        self.metrics = _flag(opts["metrics"], "metrics") if "metrics" in opts else bool(config.get("metrics", True))
        #: the INSERT INTO stream this output publishes instead of alerts (the pipeline binds it)
        self.derived_stream: str | None = opts.get("stream") or None
        self._stream_key = self.derived_stream.encode() if self.derived_stream else None
        self.progress_ms = _progress_ms(opts.get("progress", "1s"), self.name)
        self._progress_at = NO_TIME  # the engine time of the last progress document
        try:
            self.timeout = parse_duration(config.get("timeout", "30s"))
        except ValueError as exc:
            raise ConfigError(f"output {self.name}: timeout: {exc}") from None
        host_cfg = ctx.config if isinstance(ctx.config, Mapping) else {}
        wait = bool(config.get("wait") or (host_cfg.get("run") or {}).get("wait"))
        try:
            from confluent_kafka import Producer
        except ImportError:
            raise ConfigError(f"output {self.name}: needs the Kafka client: pip install confluent-kafka") from None
        settings: dict[str, Any] = {
            "bootstrap.servers": servers,
            "acks": "all",
            "linger.ms": 20,
            "message.timeout.ms": max(1000, int(self.timeout * 1000)),
            "client.id": "flowcep",
            "error_cb": self._client_error,
        }
        if self.derived_stream:  # rows and progress documents keep their order through retries
            settings["max.in.flight.requests.per.connection"] = 1
        settings.update(dict(config.get("client") or {}))
        try:
            self._producer = Producer(settings)
        except Exception as exc:  # librdkafka rejects a setting: name it
            raise ConfigError(f"output {self.name}: {exc}") from None
        self._acked = AckedProducer(self._producer, ctx.stats, self.name, "output", self.timeout)
        if not wait:
            self._preflight(servers)

    def _preflight(self, servers: str) -> None:
        """Fail at start when no broker answers (a typo, a broker not started), not after the
        whole input was read."""
        try:
            self._producer.list_topics(timeout=min(5.0, self.timeout))
        except Exception as exc:
            raise ConfigError(f"output {self.name}: no Kafka broker answers at {servers} ({exc}); start it or "
                              "fix the address, or pass --wait to queue alerts until it answers") from None

    def _client_error(self, err: Any) -> None:
        log.debug("kafka %s: %s", self.name, err)

    def _produce(self, value: bytes, key: bytes | None) -> None:
        self._acked.produce(self.topic, value, key=key)

    def write_stream(self, stream: str, rows: list[dict[str, Any]], times: list[int]) -> None:
        """Rows of the chosen INSERT INTO stream with their event times, one document each
        (called once per engine step)."""
        if stream != self.derived_stream:
            return
        for doc in stream_documents(stream, rows, times, observer_of(self.ctx)):
            self._produce(doc, self._stream_key)
        self.ctx.stats.add(f"kafka.stream_rows.{stream}", len(rows))
        self._producer.poll(0)

    def write_progress(self, time_ms: int) -> None:
        """The engine closed its windows up to ``time_ms``: every row of the stream up to it is
        produced, so a progress document follows them (at most one per ``progress_ms``)."""
        if self.progress_ms is None or time_ms < self._progress_at + self.progress_ms:
            return
        assert self.derived_stream is not None
        self._progress_at = time_ms
        self._produce(progress_document(self.derived_stream, time_ms, observer_of(self.ctx)), self._stream_key)
        self.ctx.stats.add(f"kafka.stream_progress.{self.derived_stream}")
        self._producer.poll(0)

    def write_events(self, events: list[Event]) -> None:
        if self.derived_stream:
            return  # a stream topic carries the stream's rows only
        for e in events:
            if not self.metrics and (e.get("event") or {}).get("kind") == "metric":
                continue
            alert_id = (e.get("flowcep") or {}).get("alert_id")
            self._produce(dumps(e), str(alert_id).encode() if alert_id else None)
        self._producer.poll(0)

    def write_flows(self, batch: FlowBatch) -> None:
        if self.flows and batch.length and not self.derived_stream:
            for line in ecs.batch_to_json(batch):
                self._produce(line, None)
            self._producer.poll(0)

    def flush(self) -> None:
        self._acked.flush()

    def close(self) -> None:
        self.flush()


def _factory(target: str | None, config: Mapping[str, Any], ctx: Context) -> KafkaOutput:
    return KafkaOutput(target, config, ctx)


@hookimpl
def flowcep_register_outputs() -> list[OutputSpec]:
    return [
        OutputSpec(
            name="kafka",
            summary="Alerts (keyed by alert id; flows with flows = true) as ECS JSON to a Kafka topic: "
                    "kafka://HOST:PORT/TOPIC; ?stream=NAME publishes an EPL INSERT INTO stream's rows instead "
                    "(with progress documents, ?progress=1s|off)",
            schemes=("kafka",),
            factory=_factory,
            accepts_flows=True,
            config_schema=CONFIG_SCHEMA,
            defaults=DEFAULTS,
        ),
    ]
