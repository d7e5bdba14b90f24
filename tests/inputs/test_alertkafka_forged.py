"""A document on one gateway's topic that names another gateway must not move that gateway's clock.

A level-2 monitor reading ``alerts+kafka://`` waits for the slowest gateway: each gateway is an
exporter of the event-time clock, so a gateway whose windows close later holds the watermark
until its alerts are in. The gateway was taken from the document (``observer.name``), so anyone
who can write to one topic (a compromised or misconfigured gateway) could publish two documents
naming the slow gateway and dated ahead: that gateway's clock jumped, stopped holding the
watermark, and its real alerts arrived ``late`` and were dropped. The clock's exporter is now the
named gateway *on the partition the document came in*; the name still fills ``flowcep.gateway``.
No broker is needed: messages are fed to the input's conversion and the clock as the live
reader does (``AlertKafkaSource._live``: rows, batched in consumption order).
"""

from __future__ import annotations

import json
from typing import Any

from flowcep_plugin.clock import Reorderer, TimePolicy
from flowcep_plugin.inputs.alertkafka import AlertKafkaSource
from flowcep_plugin.inputs.ecs_events import EXPORTER_COLUMN, GATEWAY_COLUMN, batches_from_events
from flowcep_plugin.stats import Stats

from .test_ecs_events import T0, alert

MIN = 60_000


class _Msg:
    def __init__(self, topic: str, doc: dict[str, Any], partition: int = 0) -> None:
        self._topic, self._partition, self._value = topic, partition, json.dumps(doc).encode()

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return self._partition

    def value(self) -> bytes:
        return self._value


def _source() -> AlertKafkaSource:
    src = AlertKafkaSource.__new__(AlertKafkaSource)  # the conversion only: no broker
    src.gateway = None
    return src


def _doc(gateway: str, end: int, src_ip: str) -> dict[str, Any]:
    return alert(src_ip, end, observer={"name": gateway})


def _level2(forged: bool) -> tuple[list[str], Stats]:
    """East closes its windows a minute after west: consumption order is west's window k, then
    east's window k-1. Returns the source addresses of the east alerts the clock released."""
    order = [_Msg("east-alerts", _doc("east", T0 - MIN, "203.0.113.99"))]  # both gateways are up
    for k in range(1, 11):
        order.append(_Msg("west-alerts", _doc("west", T0 + k * MIN, f"198.51.100.{k}")))
        if forged and k == 3:  # on west's topic, naming east, a quarter of an hour ahead
            order += [_Msg("west-alerts", _doc("east", T0 + 15 * MIN + i, "192.0.2.250")) for i in range(2)]
        order.append(_Msg("east-alerts", _doc("east", T0 + (k - 1) * MIN, f"203.0.113.{k - 1}")))
    stats = Stats()
    wall = (T0 + 11 * MIN) / 1000
    clock = Reorderer(30_000, stats, release_every_ms=0, policy=TimePolicy(live=True),
                      wall=lambda: wall, mono=lambda: 0.0)
    src = _source()
    released: list[str] = []
    for m in order:
        ev = src._convert(m.value(), m, f"{m.topic()}[0]@0")
        assert isinstance(ev, tuple)
        for b in batches_from_events([ev], "alerts+kafka://l2"):
            for out in clock.push(b):
                released += [row["source.ip"] for row in out.rows()
                             if row[GATEWAY_COLUMN] == "east" and row["source.ip"] != "192.0.2.250"]
    for out in clock.flush():
        released += [row["source.ip"] for row in out.rows()
                     if row[GATEWAY_COLUMN] == "east" and row["source.ip"] != "192.0.2.250"]
    return released, stats


def test_documents_naming_another_gateway_do_not_hide_its_alerts() -> None:
    honest, stats = _level2(forged=False)
    assert len(honest) == 11 and dict(stats.drops) == {}
    attacked, stats = _level2(forged=True)
    assert sorted(attacked) == sorted(honest)
    assert stats.drops.get("late", 0) == 0


def test_the_named_gateway_stays_the_gateway_column_and_the_partition_joins_the_clock_key() -> None:
    src = _source()
    m = _Msg("west-alerts", _doc("east", T0, "192.0.2.1"), partition=2)
    ev = src._convert(m.value(), m, "west-alerts[2]@0")
    assert isinstance(ev, tuple)
    _, row, _ = ev
    assert row[GATEWAY_COLUMN] == "east"
    assert row[EXPORTER_COLUMN] == "east@west-alerts[2]"
