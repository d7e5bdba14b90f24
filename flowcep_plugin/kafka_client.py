"""What ingest and the Kafka workers share: addresses, reaching the broker, creating the topic.

confluent-kafka (librdkafka) is imported only here and only when a kafka:// address is used,
so FlowCEP without Kafka never loads it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl

from .errors import ConfigError

__all__ = ["AckedProducer", "KafkaAddress", "parse_kafka", "wait_for_broker", "ensure_topic", "topic_partitions", "quiet"]


class KafkaAddress:
    """``kafka://HOST:PORT[,HOST:PORT...]/TOPIC[?k=v&...]`` split and checked."""

    def __init__(self, servers: str, topic: str, options: dict[str, str], raw: str) -> None:
        self.servers = servers
        self.topic = topic
        self.options = options
        self.raw = raw


def parse_kafka(raw: str, known: Iterable[str], what: str) -> KafkaAddress:
    """Parse ``raw`` (with or without the ``kafka:`` prefix); ``known`` are the options
    allowed after ``?``; ``what`` names the flag in errors (``ingest --to``)."""
    example = "kafka://127.0.0.1:9092/flows"
    text = raw[len("kafka:"):] if raw.startswith("kafka:") else raw
    if not text.startswith("//"):
        raise ConfigError(f"{what} {raw!r}: write kafka://HOST:PORT/TOPIC (e.g. {example})")
    rest, _, query = text[2:].partition("?")
    servers, slash, topic = rest.partition("/")
    if not servers or not slash or not topic or "/" in topic:
        raise ConfigError(f"{what} {raw!r}: needs brokers and one topic, e.g. {example}")
    for hp in servers.split(","):
        host, colon, port = hp.rpartition(":")
        if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError(f"{what} {raw!r}: broker {hp!r} is not HOST:PORT (e.g. {example})")
    if not all(c.isalnum() or c in "._-" for c in topic) or len(topic) > 249:
        raise ConfigError(f"{what} {raw!r}: topic {topic!r}: Kafka allows letters, digits, '.', '_', '-'")
    opts = dict(parse_qsl(query, keep_blank_values=True))
    allowed = sorted(known)
    unknown = sorted(set(opts) - set(allowed))
    if unknown:
        raise ConfigError(f"{what} {raw!r}: unknown option {unknown[0]!r} (known: {', '.join(allowed) or 'none'})")
    return KafkaAddress(servers, topic, opts, raw)


#: librdkafka's own log lines (connection refused, every 50 ms) go to debug logging: the
#: one-line error FlowCEP prints says what failed
CLIENT_LOGGER = logging.getLogger("flowcep.kafka")
#: where a failure's one line goes, as for every output
_LOG = logging.getLogger("flowcep")


def quiet(settings: dict[str, Any]) -> dict[str, Any]:
    """``settings`` with librdkafka's logs and error callbacks sent to debug logging."""
    return {"logger": CLIENT_LOGGER, "error_cb": lambda err: CLIENT_LOGGER.debug("kafka: %s", err), **settings}


def _admin(servers: str) -> Any:
    try:
        from confluent_kafka.admin import AdminClient
    except ImportError:
        raise ConfigError("the Kafka transport needs the Kafka client: pip install confluent-kafka") from None
    return AdminClient(quiet({"bootstrap.servers": servers, "client.id": "flowcep"}))


def wait_for_broker(addr: KafkaAddress, what: str, wait: bool, stop: threading.Event | None = None) -> Any:
    """An AdminClient whose broker answered. Without ``wait`` an unreachable broker is a
    ConfigError (exit 2) at once; with it we retry every second until it answers or ``stop``."""
    admin = _admin(addr.servers)
    while True:
        try:
            admin.list_topics(timeout=5.0)
            return admin
        except Exception as exc:
            if not wait:
                raise ConfigError(f"{what} {addr.raw}: no Kafka broker answers at {addr.servers} ({exc}); "
                                  "start it or fix the address, or pass --wait") from None
        if stop is not None and stop.wait(1.0):
            raise ConfigError(f"{what} {addr.raw}: stopped while waiting for the broker")
        if stop is None:
            time.sleep(1.0)


def topic_partitions(admin: Any, topic: str) -> int | None:
    """The topic's partition count, None when it does not exist. (Asking for the one topic
    would let a broker with auto-creation create it with its default partition count.)"""
    md = admin.list_topics(timeout=10.0)
    t = md.topics.get(topic)
    if t is None or t.error is not None or not t.partitions:
        return None
    return len(t.partitions)


def ensure_topic(admin: Any, addr: KafkaAddress, partitions: int, what: str) -> int:
    """Create the topic when missing (``partitions``, ``retention.ms=-1``: flows carry their
    own old timestamps, which a time-based retention would delete at once); return the
    topic's partition count (an existing topic keeps its own)."""
    from confluent_kafka.admin import NewTopic  # type: ignore[attr-defined]

    have = topic_partitions(admin, addr.topic)
    if have is not None:
        return have
    fut = admin.create_topics([NewTopic(addr.topic, num_partitions=partitions, replication_factor=-1,
                                        config={"retention.ms": "-1"})])[addr.topic]
    try:
        fut.result(timeout=30)
    except Exception as exc:
        if "TOPIC_ALREADY_EXISTS" not in str(exc) and "already exists" not in str(exc):
            raise ConfigError(f"{what} {addr.raw}: cannot create topic {addr.topic!r}: {exc}") from None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        have = topic_partitions(admin, addr.topic)
        if have is not None:
            return have
        time.sleep(0.2)
    raise ConfigError(f"{what} {addr.raw}: topic {addr.topic!r} was created but has no partitions after 30 s")


class AckedProducer:
    """A librdkafka producer whose every message is either acknowledged by the broker or
    counted against ``name`` as an output failure (the run then exits 3).

    ``produce`` waits for deliveries while the client's bounded queue is full and gives up on a
    message only when a whole ``timeout_s`` flush frees nothing; a message the client rejects
    (too large, unknown partition) fails alone. ``flush`` counts what is still unacknowledged
    after ``timeout_s`` and purges it, so close cannot wait for it again (its callbacks then
    count nothing twice). The first failure is one log line, ``flowcep: WHAT NAME: reason``.
    Shared by ``ingest --to`` and the Kafka output."""

    def __init__(self, producer: Any, stats: Any, name: str, what: str, timeout_s: float,
                 full_counter: str | None = None) -> None:
        self.producer = producer
        self.stats = stats
        self.name = name
        self.what = what
        self.timeout_s = timeout_s
        self.full_counter = full_counter
        self._reported = False
        self._written_off = False

    def _delivered(self, err: Any, _msg: Any) -> None:
        if err is not None and not self._written_off:
            self.fail(1, f"the broker did not take a message: {err}")

    def fail(self, n: int, reason: str) -> None:
        self.stats.output_failure(self.name, n, reason)
        if not self._reported:
            self._reported = True
            _LOG.error("flowcep: %s %s: %s", self.what, self.name, reason)

    def produce(self, topic: str, value: bytes, **kwargs: Any) -> bool:
        """Queue one message; False when it failed (already counted)."""
        while True:
            try:
                self.producer.produce(topic, value=value, on_delivery=self._delivered, **kwargs)
                return True
            except BufferError:  # the client's queue is full: let deliveries drain it
                if self.full_counter:
                    self.stats.add(self.full_counter)
                if self.producer.poll(1.0) == 0 and self.producer.flush(self.timeout_s) > 0:
                    self.fail(1, "the client's queue stayed full (broker too slow or gone)")
                    return False
            except Exception as exc:  # too large, unknown topic or partition...: this message only
                self.fail(1, f"cannot produce: {exc}")
                return False

    def flush(self) -> None:
        left = self.producer.flush(self.timeout_s)
        if left:
            self.fail(left, f"{left} message(s) not acknowledged within {self.timeout_s:g} s")
            self._written_off = True  # counted as lost
            self.producer.purge()
            self.producer.poll(0)
            self._written_off = False
