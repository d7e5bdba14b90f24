"""Traffic statistics as metric events: categories, directions and top talkers per interval.

NetViewer's statistics views, as documents Kibana can chart: every interval (default 5 min)
one ``trafficstats-categories`` document (flows, packets and bytes by service category - web,
mail, DNS, FTP, ... - and by direction - internal, inbound, outbound, external - against the
configured internal networks) and one ``trafficstats-top-talkers`` document (the top N source
addresses by bytes and by packets). They are ``event.kind: metric``: statistics, never alerts,
so the suppressor and Elastic Security leave them alone.

A flow's category is the first category whose ports contain its destination port, else its
source port (the answer of a bi-directional exchange), else ``other``.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Mapping
from ipaddress import ip_address, ip_network
from typing import Any

from flowcep_plugin.api import (
    DURATION_SCHEMA,
    ConfigError,
    Context,
    DetectorSpec,
    Event,
    FlowBatch,
    RuleSpec,
    TumblingWindows,
    address_column,
    hookimpl,
    int_column,
    make_metric,
    parse_duration,
)

__all__ = ["SPEC", "TrafficStats", "flowcep_register_detectors"]

RULES = (
    RuleSpec(id="trafficstats-categories", name="Traffic by category",
             description="Flows, packets and bytes by service category and direction in one interval.",
             kind="metric"),
    RuleSpec(id="trafficstats-top-talkers", name="Top talkers",
             description="Source addresses sending the most bytes and packets in one interval.",
             kind="metric"),
)

CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "interval": {**DURATION_SCHEMA, "description": "statistics interval (5 min)"},
        "top_n": {"type": "integer", "minimum": 1, "maximum": 1000, "description": "talkers listed (10)"},
        "internal_networks": {"type": "array", "items": {"type": "string"},
                              "description": "CIDRs counted as internal (RFC 1918 and RFC 4193 by default)"},
        "categories": {"type": "object",
                       "additionalProperties": {"type": "array",
                                                "items": {"type": "integer", "minimum": 0, "maximum": 65535}},
                       "description": "category name -> service ports"},
    },
}

DEFAULTS: dict[str, Any] = {
    "interval": "5 min",
    "top_n": 10,
    "internal_networks": ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"],
    "categories": {
        "web": [80, 443, 8000, 8080, 8443],
        "mail": [25, 110, 143, 465, 587, 993, 995],
        "dns": [53, 853],
        "ftp": [20, 21, 989, 990],
        "ssh": [22],
        "remote-desktop": [3389, 5900],
        "file-sharing": [137, 138, 139, 445, 873, 2049],
        "ntp": [123],
    },
}


class _State:
    __slots__ = ("cat", "dirn", "talk", "total")

    def __init__(self) -> None:
        self.cat: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
        self.dirn: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
        self.talk: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
        self.total = [0, 0, 0]


def _row(v: list[int]) -> dict[str, int]:
    return {"flows": v[0], "packets": v[1], "bytes": v[2]}


class TrafficStats:
    """Counts flows/packets/bytes per category, direction and source in tumbling intervals."""

    name = "trafficstats"

    def __init__(self, config: Mapping[str, Any], ctx: Context) -> None:
        self.top_n = int(config["top_n"])
        try:
            self.internal = [ip_network(c, strict=False) for c in config["internal_networks"]]
        except ValueError as exc:
            raise ConfigError(f"detectors.trafficstats.internal_networks: {exc}") from None
        self._internal: dict[str, bool] = {}
        self.port_cat: dict[int, str] = {}
        for name, ports in config["categories"].items():
            for p in ports:
                self.port_cat.setdefault(int(p), name)
        self.windows = TumblingWindows(int(parse_duration(config["interval"]) * 1000), _State,
                                       self._finish, "trafficstats", ctx.stats)

    def on_batch(self, batch: FlowBatch) -> list[Event]:
        if not len(batch):
            return []
        cols = (address_column(batch, "source"), address_column(batch, "destination"),
                int_column(batch, "sourceTransportPort"), int_column(batch, "destinationTransportPort"),
                int_column(batch, "packetDeltaCount"), int_column(batch, "octetDeltaCount"))
        return self.windows.add(batch, lambda st, idx, _s: self._acc(st, cols, idx))

    def on_watermark(self, watermark_ms: int) -> list[Event]:
        return self.windows.close_until(watermark_ms)

    def flush(self) -> list[Event]:
        return self.windows.flush()

    def _is_internal(self, addr: str) -> bool:
        hit = self._internal.get(addr)
        if hit is None:
            a = ip_address(addr)
            hit = self._internal[addr] = any(a in n for n in self.internal)
        return hit

    def _acc(self, st: _State, cols: tuple[list[Any], ...], idx: list[int]) -> None:
        src, dst, sport, dport, packets, octets = cols
        pc = self.port_cat
        for i in idx:
            s, d = src[i], dst[i]
            if s is None or d is None:
                continue
            pk, by = packets[i], octets[i]
            cat = pc.get(dport[i]) or pc.get(sport[i]) or "other"
            si, di = self._is_internal(s), self._is_internal(d)
            direction = ("internal" if di else "outbound") if si else ("inbound" if di else "external")
            for v in (st.cat[cat], st.dirn[direction], st.talk[s], st.total):
                v[0] += 1
                v[1] += pk
                v[2] += by

    def _finish(self, st: _State, start: int, end: int) -> list[Event]:
        if not st.total[0]:
            return []
        flows, packets, octets = st.total
        cats = {k: _row(v) for k, v in sorted(st.cat.items())}
        top_cat = max(st.cat.items(), key=lambda kv: (kv[1][2], kv[0]))[0]
        cat_doc = make_metric(
            RULES[0], time_ms=end, detector=self.name, window=(start, end),
            metrics={"flows": flows, "packets": packets, "bytes": octets, "categories": cats,
                     "directions": {k: _row(v) for k, v in sorted(st.dirn.items())}},
            summary=f"{flows} flows, {octets} bytes; most bytes: {top_cat}",
        )

        def top(i: int) -> list[dict[str, Any]]:
            best = heapq.nsmallest(self.top_n, st.talk.items(), key=lambda kv: (-kv[1][i], kv[0]))
            return [{"ip": ip, **_row(v)} for ip, v in best]

        by_bytes = top(2)
        talk_doc = make_metric(
            RULES[1], time_ms=end, detector=self.name, window=(start, end),
            metrics={"by_bytes": by_bytes, "by_packets": top(1), "sources": len(st.talk)},
            summary=f"top talker {by_bytes[0]['ip']} sent {by_bytes[0]['bytes']} bytes",
        )
        return [cat_doc, talk_doc]


SPEC = DetectorSpec(
    name="trafficstats",
    summary="Traffic by service category and direction, and top-N talkers, as metric events per interval",
    factory=TrafficStats,
    rules=RULES,
    config_schema=CONFIG_SCHEMA,
    defaults=DEFAULTS,
    references=("NetViewer (CESNET/MU) statistics views: traffic categories and top talkers",
                "RFC 1918 and RFC 4193 for the default internal networks"),
)


@hookimpl
def flowcep_register_detectors() -> list[DetectorSpec]:
    return [SPEC]
