"""Password guessing on remote-login services, recognised by the shape of its flows.

A failed login is a short TCP connection whose size hardly varies from one try to the next
(the handshake, the key exchange, a few password prompts, the disconnect). Flow-based methods
count such connections from one client to one service; the defaults follow Stream4Flow's
SSH brute-force detector (flows of 10-20 packets, 1800-5000 bytes, shorter than 12 s; at
least 10 of them in 5 minutes). A second, slower rule follows Zeek's SSH guessing policy (30
attempts in 30 minutes from one client, over any number of servers) for attackers who pace
themselves below the fast rule.

Only the client -> server direction is looked at (destination port = the service), so the
rule works with uni- and bi-flows. Other services get shapes of the same kind, chosen by us
from what a failed login of that protocol exchanges (documented in docs/detectors.md); every
shape can be overridden per service in the config.
"""

from __future__ import annotations

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
    make_alert,
    parse_duration,
)

__all__ = ["SPEC", "BruteForceDetector", "flowcep_register_detectors"]

RULES = (
    RuleSpec(
        id="bruteforce-guessing", name="Password guessing",
        description="Many short, same-sized connections from one client to one login service.",
        severity="high", risk_score=73, technique=("T1110", "T1110.001"), transport="tcp",
        count_fields=("attempts",),
    ),
    RuleSpec(
        id="bruteforce-slow", name="Slow password guessing",
        description="Login-shaped connections from one client to a login service, paced over a long window.",
        severity="medium", risk_score=47, technique=("T1110", "T1110.001"), transport="tcp",
        count_fields=("attempts", "servers"),
    ),
)

SERVICE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "ports": {"type": "array", "items": {"type": "integer", "minimum": 1, "maximum": 65535},
                  "minItems": 1},
        "min_packets": {"type": "integer", "minimum": 1},
        "max_packets": {"type": "integer", "minimum": 1},
        "min_bytes": {"type": "integer", "minimum": 0},
        "max_bytes": {"type": "integer", "minimum": 1},
        "max_duration": DURATION_SCHEMA,
    },
}

CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "window": {**DURATION_SCHEMA, "description": "fast rule window (Stream4Flow: 5 min)"},
        "min_attempts": {"type": "integer", "minimum": 2,
                         "description": "login-shaped flows to one server in the window (Stream4Flow: 10)"},
        "slow_window": {**DURATION_SCHEMA, "description": "slow rule window (Zeek: 30 min)"},
        "slow_min_attempts": {"type": "integer", "minimum": 0,
                              "description": "login-shaped flows to any server in the slow window "
                                             "(Zeek: 30); 0 disables the slow rule"},
        "services": {"type": "object", "additionalProperties": SERVICE_SCHEMA,
                     "description": "login services by name and the shape of one attempt's flow"},
        "ignore_sources": {"type": "array", "items": {"type": "string"},
                           "description": "CIDRs of sanctioned automation (configuration management, "
                                          "monitoring) never reported"},
    },
}

DEFAULTS: dict[str, Any] = {
    "window": "5 min",
    "min_attempts": 10,
    "slow_window": "30 min",
    "slow_min_attempts": 30,
    "ignore_sources": [],
    "services": {
        # Stream4Flow (CSIRT-MU) SSH brute force: 10-20 packets, 1800-5000 bytes, < 12 s
        "ssh": {"ports": [22], "min_packets": 10, "max_packets": 20, "min_bytes": 1800,
                "max_bytes": 5000, "max_duration": "12s"},
        # RDP with NLA: TLS + CredSSP exchange, ~1.5-9 KB from the client, a few seconds
        "rdp": {"ports": [3389], "min_packets": 8, "max_packets": 40, "min_bytes": 1500,
                "max_bytes": 9000, "max_duration": "20s"},
        # FTP: banner, USER, PASS, 530, QUIT: a few hundred bytes
        "ftp": {"ports": [21], "min_packets": 5, "max_packets": 20, "min_bytes": 250,
                "max_bytes": 1500, "max_duration": "15s"},
        # telnet: option negotiation, login and password prompts, typed one byte per packet
        "telnet": {"ports": [23], "min_packets": 8, "max_packets": 60, "min_bytes": 400,
                   "max_bytes": 4000, "max_duration": "30s"},
        # mail logins (POP3, IMAP, SMTP submission), plain or TLS
        "mail-login": {"ports": [110, 143, 587, 993, 995], "min_packets": 6, "max_packets": 25,
                       "min_bytes": 300, "max_bytes": 4000, "max_duration": "15s"},
    },
}


class _Shape:
    __slots__ = ("name", "min_packets", "max_packets", "min_bytes", "max_bytes", "max_ms")

    def __init__(self, name: str, cfg: Mapping[str, Any]) -> None:
        generic = DEFAULTS["services"].get(name, DEFAULTS["services"]["ssh"])
        merged = {**generic, **cfg}
        self.name = name
        self.min_packets = int(merged["min_packets"])
        self.max_packets = int(merged["max_packets"])
        self.min_bytes = int(merged["min_bytes"])
        self.max_bytes = int(merged["max_bytes"])
        self.max_ms = int(parse_duration(merged["max_duration"]) * 1000)

    def fits(self, packets: int, octets: int, duration_ms: int) -> bool:
        return (self.min_packets <= packets <= self.max_packets
                and self.min_bytes <= octets <= self.max_bytes
                and 0 <= duration_ms < self.max_ms)


class BruteForceDetector:
    """Counts login-shaped flows per (client, server, service) and per (client, service)."""

    name = "bruteforce"

    def __init__(self, config: Mapping[str, Any], ctx: Context) -> None:
        self.min_attempts = int(config["min_attempts"])
        self.slow_min = int(config["slow_min_attempts"])
        try:
            self.ignore = [ip_network(c, strict=False) for c in config.get("ignore_sources", ())]
        except ValueError as exc:
            raise ConfigError(f"detectors.bruteforce.ignore_sources: {exc}") from None
        self._ignored: dict[str, bool] = {}
        self.by_port: dict[int, _Shape] = {}
        for name, svc in sorted(config["services"].items()):
            shape = _Shape(name, svc)
            for port in svc.get("ports", DEFAULTS["services"].get(name, {}).get("ports", [])):
                self.by_port[int(port)] = shape
        self.fast = TumblingWindows(int(parse_duration(config["window"]) * 1000),
                                    lambda: defaultdict(list), self._finish_fast, "bruteforce", ctx.stats)
        self.slow = TumblingWindows(int(parse_duration(config["slow_window"]) * 1000),
                                    lambda: defaultdict(list), self._finish_slow, "bruteforce", ctx.stats)

    # a window's state: key -> list of (end time, bytes) of the attempts
    def on_batch(self, batch: FlowBatch) -> list[Event]:
        if not len(batch):
            return []
        hits = self._attempts(batch)
        out = self.fast.add(batch, lambda st, idx, _s: self._acc(st, idx, hits, slow=False))
        if self.slow_min > 0:
            out += self.slow.add(batch, lambda st, idx, _s: self._acc(st, idx, hits, slow=True))
        return out

    def on_watermark(self, watermark_ms: int) -> list[Event]:
        return self.fast.close_until(watermark_ms) + self.slow.close_until(watermark_ms)

    def flush(self) -> list[Event]:
        return self.fast.flush() + self.slow.flush()

    def _attempts(self, batch: FlowBatch) -> dict[int, tuple[str, str, int, str, int]]:
        """Indices of login-shaped flows -> (client, server, port, service, bytes)."""
        proto = int_column(batch, "protocolIdentifier")
        dport = int_column(batch, "destinationTransportPort")
        by_port = self.by_port
        cand = [i for i in range(batch.length) if proto[i] == 6 and dport[i] in by_port]
        if not cand:
            return {}
        src = address_column(batch, "source")
        dst = address_column(batch, "destination")
        packets = int_column(batch, "packetDeltaCount")
        octets = int_column(batch, "octetDeltaCount")
        start = int_column(batch, "flowStartMilliseconds", default=-1)
        end = batch.event_times()
        out: dict[int, tuple[str, str, int, str, int]] = {}
        for i in cand:
            shape = by_port[dport[i]]
            dur = end[i] - start[i] if start[i] >= 0 else 0
            s, d = src[i], dst[i]
            if s is not None and d is not None and shape.fits(packets[i], octets[i], dur):
                if self.ignore and self._is_ignored(s):
                    continue
                out[i] = (s, d, dport[i], shape.name, octets[i])
        return out

    def _is_ignored(self, src: str) -> bool:
        hit = self._ignored.get(src)
        if hit is None:
            addr = ip_address(src)
            hit = self._ignored[src] = any(addr in net for net in self.ignore)
        return hit

    @staticmethod
    def _acc(st: dict[tuple[Any, ...], list[tuple[str, int]]], idx: list[int],
             hits: dict[int, tuple[str, str, int, str, int]], slow: bool) -> None:
        for i in idx:
            h = hits.get(i)
            if h is None:
                continue
            s, d, port, svc, octets = h
            key = (s, svc) if slow else (s, d, port, svc)
            st[key].append((d, octets))

    def _finish_fast(self, st: dict[Any, list[tuple[str, int]]], start: int, end: int) -> list[Event]:
        out: list[Event] = []
        minutes = (end - start) / 60000
        for (s, d, port, svc), tries in sorted(st.items()):
            if len(tries) >= self.min_attempts:
                sizes = [b for _, b in tries]
                out.append(make_alert(
                    RULES[0], time_ms=end, detector=self.name, source_ip=s, destination_ip=d,
                    destination_port=port, counts={"attempts": len(tries)},
                    summary=(f"{s} made {len(tries)} {svc} login-sized connections to {d}:{port} "
                             f"in {minutes:g} min ({min(sizes)}-{max(sizes)} bytes each)"),
                    window=(start, end), fields={"service": svc}, key=s,
                ))
        return out

    def _finish_slow(self, st: dict[Any, list[tuple[str, int]]], start: int, end: int) -> list[Event]:
        out: list[Event] = []
        minutes = (end - start) / 60000
        for (s, svc), tries in sorted(st.items()):
            if len(tries) >= self.slow_min:
                servers = sorted({d for d, _ in tries})
                out.append(make_alert(
                    RULES[1], time_ms=end, detector=self.name, source_ip=s, destination_ip=servers,
                    counts={"attempts": len(tries), "servers": len(servers)},
                    summary=(f"{s} made {len(tries)} {svc} login-sized connections to "
                             f"{len(servers)} server(s) in {minutes:g} min"),
                    window=(start, end), fields={"service": svc}, key=s,
                ))
        return out


SPEC = DetectorSpec(
    name="bruteforce",
    summary="Password guessing on SSH, RDP, FTP, telnet and mail logins from the shape of the flows",
    factory=BruteForceDetector,
    rules=RULES,
    config_schema=CONFIG_SCHEMA,
    defaults=DEFAULTS,
    references=(
        "Stream4Flow (CSIRT-MU) SSH brute force: flows of 10-20 packets, 1800-5000 bytes, < 12 s; >= 10 in 5 min",
        "Zeek policy/protocols/ssh/detect-bruteforcing.zeek: password_guesses_limit 30 in 30 min",
    ),
)


@hookimpl
def flowcep_register_detectors() -> list[DetectorSpec]:
    return [SPEC]
