"""Policy violations: traffic to restricted hosts or ports from sources that may not use them.

NetViewer's policy checks, as configuration instead of code. Each policy names restricted
destinations (CIDR lists), restricted ports (numbers or ``"low-high"`` ranges), the protocols
it covers, and who is exempt (``allowed_sources``) or, optionally, the only sources it applies
to (``sources``)::

    [[detectors.policy.policies]]
    name = "file-server"
    destinations = ["10.10.0.45/32"]
    ports = [23, 139, 445]
    allowed_sources = ["10.10.1.5/32"]

A flow matches when its destination is in ``destinations`` (any when empty), its destination
port in ``ports`` (any when empty) and its protocol in ``protocols``, and its source is in
``sources`` (any when empty) but not in ``allowed_sources``. Matches are gathered per (policy,
source, destination) over a window (default 5 min) so one session is one alert, not one per
flow; the suppressor merges later windows. Without policies the detector never fires.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from ipaddress import IPv4Network, IPv6Network, ip_address, ip_network
from typing import Any

from flowcep_plugin.api import (
    DURATION_SCHEMA,
    TRANSPORT,
    BoundedMemo,
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

__all__ = ["SPEC", "PolicyDetector", "flowcep_register_detectors"]

RULE = RuleSpec(
    id="policy-violation", name="Policy violation",
    description="A source used a restricted host or port it is not allowed to use.",
    severity="medium", risk_score=50, technique=("T1021",),
    count_fields=("flows", "bytes"),
)

_CIDRS = {"type": "array", "items": {"type": "string", "minLength": 1}}
POLICY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "description": {"type": "string"},
        "destinations": {**_CIDRS, "description": "restricted hosts/networks (any when empty)"},
        "ports": {"type": "array",
                  "items": {"anyOf": [{"type": "integer", "minimum": 0, "maximum": 65535},
                                      {"type": "string", "pattern": r"^\d{1,5}-\d{1,5}$"}]},
                  "description": "restricted destination ports or 'low-high' ranges (any when empty)"},
        "protocols": {"type": "array", "items": {"enum": ["tcp", "udp", "icmp", "sctp"]},
                      "description": "protocols the policy covers (default tcp and udp)"},
        "sources": {**_CIDRS, "description": "the policy applies only to these sources (any when empty)"},
        "allowed_sources": {**_CIDRS, "description": "sources exempt from the policy"},
    },
}

CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "window": {**DURATION_SCHEMA, "description": "matching flows are gathered per window (5 min)"},
        "policies": {"type": "array", "items": POLICY_SCHEMA,
                     "description": "the access policies; none by default"},
    },
}

DEFAULTS: dict[str, Any] = {"window": "5 min", "policies": []}

_PROTO_NUM = {"tcp": 6, "udp": 17, "icmp": 1, "sctp": 132}
Net = IPv4Network | IPv6Network


def _nets(values: Sequence[str], where: str) -> list[Net]:
    try:
        return [ip_network(v, strict=False) for v in values]
    except ValueError as exc:
        raise ConfigError(f"detectors.policy: {where}: {exc}") from exc


def _ports(values: Sequence[int | str], where: str) -> list[tuple[int, int]]:
    out = []
    for v in values:
        lo, hi = (int(v), int(v)) if isinstance(v, int) else map(int, str(v).split("-"))
        if lo > hi or hi > 65535:
            raise ConfigError(f"detectors.policy: {where}: bad port range {v!r}")
        out.append((lo, hi))
    return out


class _Policy:
    def __init__(self, cfg: Mapping[str, Any], i: int) -> None:
        where = f"policies[{i}] ({cfg.get('name')})"
        self.name = str(cfg["name"])
        self.description = str(cfg.get("description", ""))
        self.destinations = _nets(cfg.get("destinations", ()), where)
        self.ports = _ports(cfg.get("ports", ()), where)
        self.protocols = {_PROTO_NUM[p] for p in cfg.get("protocols", ("tcp", "udp"))}
        self.sources = _nets(cfg.get("sources", ()), where)
        self.allowed = _nets(cfg.get("allowed_sources", ()), where)

    def port_ok(self, port: int) -> bool:
        return not self.ports or any(lo <= port <= hi for lo, hi in self.ports)


def _member(cache: dict[str, bool], addr: str, nets: list[Net]) -> bool:
    hit = cache.get(addr)
    if hit is None:
        a = ip_address(addr)
        hit = cache[addr] = any(a in n for n in nets)
    return hit


class PolicyDetector:
    """Matches flows against the configured policies; one alert per (policy, source,
    destination) per window."""

    name = "policy"

    def __init__(self, config: Mapping[str, Any], ctx: Context) -> None:
        self.policies = [_Policy(p, i) for i, p in enumerate(config.get("policies", ()))]
        # per policy: address -> membership, so each address is tested once per run
        # (bounded: addresses come from the network, spoofed ones by the million)
        self._caches: list[tuple[dict[str, bool], dict[str, bool], dict[str, bool]]] = [
            (self._memo(ctx), self._memo(ctx), self._memo(ctx)) for _ in self.policies]
        self.windows = TumblingWindows(int(parse_duration(config["window"]) * 1000),
                                       lambda: defaultdict(lambda: [0, 0, set()]), self._finish,
                                       "policy", ctx.stats)

    @staticmethod
    def _memo(ctx: Context) -> BoundedMemo[str, bool]:
        return BoundedMemo(stats=ctx.stats, counter="policy.memo_resets")

    def on_batch(self, batch: FlowBatch) -> list[Event]:
        if not self.policies:
            return []
        if not len(batch):
            return []
        cols = (address_column(batch, "source"), address_column(batch, "destination"),
                int_column(batch, "protocolIdentifier"), int_column(batch, "destinationTransportPort"),
                int_column(batch, "octetDeltaCount"))  # once per batch, shared by its windows
        return self.windows.add(batch, lambda st, idx, _s: self._acc(st, cols, idx))

    def on_watermark(self, watermark_ms: int) -> list[Event]:
        return self.windows.close_until(watermark_ms)

    def flush(self) -> list[Event]:
        return self.windows.flush()

    def _acc(self, st: dict[tuple[int, str, str, int], list[Any]], cols: tuple[list[Any], ...],
             idx: list[int]) -> None:
        src, dst, proto, dport, octets = cols
        for k, pol in enumerate(self.policies):
            dcache, scache, acache = self._caches[k]
            for i in idx:
                s, d, p = src[i], dst[i], proto[i]
                if s is None or d is None or p not in pol.protocols:
                    continue
                if not pol.port_ok(dport[i]):
                    continue
                if pol.destinations and not _member(dcache, d, pol.destinations):
                    continue
                if pol.sources and not _member(scache, s, pol.sources):
                    continue
                if pol.allowed and _member(acache, s, pol.allowed):
                    continue
                entry = st[(k, s, d, p)]
                entry[0] += 1
                entry[1] += octets[i]
                entry[2].add(dport[i])

    def _finish(self, st: dict[tuple[int, str, str, int], list[Any]], start: int, end: int) -> list[Event]:
        out: list[Event] = []
        for (k, s, d, p), (flows, octets, ports) in sorted(st.items(), key=lambda kv: kv[0]):
            pol = self.policies[k]
            plist = sorted(ports)
            proto = TRANSPORT.get(p, str(p))
            out.append(make_alert(
                RULE, time_ms=end, detector=self.name, source_ip=s, destination_ip=d,
                destination_port=plist[0] if len(plist) == 1 else None, transport=proto,
                counts={"flows": flows, "bytes": octets},
                summary=(f"{s} used {proto} port(s) {', '.join(map(str, plist))} on {d} "
                         f"({flows} flows), restricted by policy {pol.name!r}"),
                window=(start, end), key=s,
                fields={"policy": pol.name, "policy_description": pol.description, "ports": plist},
            ))
        return out


SPEC = DetectorSpec(
    name="policy",
    summary="Access to restricted hosts or ports from sources that may not use them (CIDR lists, port sets)",
    factory=PolicyDetector,
    partition="source",  # every alert is keyed by its source, from the flows that source sent
    rules=(RULE,),
    config_schema=CONFIG_SCHEMA,
    defaults=DEFAULTS,
    references=("NetViewer (CESNET/MU) policy violation views: restricted hosts and ports per source",),
)


@hookimpl
def flowcep_register_detectors() -> list[DetectorSpec]:
    return [SPEC]
