"""Network zones: tag each flow's endpoints with a named zone and the flow with a direction.

Zones are CIDR lists from the config (``internal``, ``dmz``, ``guest``, a scanner allowlist
...). An address takes the zone of the longest prefix that covers it, so a ``/32`` allowlist
entry inside ``10.0.0.0/8`` wins over ``internal``. Addresses in no zone get
``default_zone`` (``external``). ``internal_zones`` says which zones count as "ours" for
``network.direction``, which follows ECS: ``inbound`` (external to internal), ``outbound``
(internal to external), ``internal``, ``external``, and ``unknown`` when an address is missing
(NetViewer's internal/external classification, in ECS words).

Enabled by default: with the default zones (RFC 1918, RFC 4193 unique-local, loopback and
link-local space as ``internal``) it costs two dict lookups per record.
"""

from __future__ import annotations

from collections.abc import Mapping
from operator import add
from typing import Any

from ..cidr import PrefixTable, parse_prefix
from ..context import Context
from ..errors import ConfigError
from ..hookspecs import hookimpl
from ..records import FlowBatch
from ..specs import EnricherSpec
from ._columns import address_column

__all__ = ["ZonesEnricher", "COLUMNS", "DEFAULTS", "CONFIG_SCHEMA"]

COLUMNS = ("source.zone", "destination.zone", "network.direction")

DEFAULTS: dict[str, Any] = {
    "zones": {
        "internal": [
            "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",  # RFC 1918
            "127.0.0.0/8", "169.254.0.0/16",  # loopback, link-local
            "fc00::/7", "fe80::/10", "::1/128",  # RFC 4193 ULA, link-local, loopback
        ],
    },
    "internal_zones": ["internal"],
    "default_zone": "external",
    "cache_size": 65536,
}

CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Tag source/destination zones from CIDR lists and derive network.direction.",
    "properties": {
        "zones": {
            "type": "object",
            "description": "zone name -> list of CIDR prefixes or addresses; the longest prefix wins",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
        },
        "internal_zones": {
            "type": "array",
            "items": {"type": "string"},
            "description": "zones counted as internal for network.direction",
        },
        "default_zone": {
            "type": ["string", "null"],
            "description": "zone of addresses no prefix covers (null leaves it empty)",
        },
        "cache_size": {
            "type": "integer", "minimum": 1,
            "description": "addresses whose zone is remembered across batches",
        },
    },
    "additionalProperties": False,
}

# Index = 2 * source internal + destination internal; 4 when either address is missing.
_DIRECTIONS: tuple[str, ...] = ("external", "inbound", "outbound", "internal", "unknown")
_MISSING = 4


class ZonesEnricher:
    """Adds ``source.zone``, ``destination.zone`` and ``network.direction``."""

    def __init__(self, config: Mapping[str, Any], ctx: Context | None = None) -> None:
        zones: Mapping[str, list[str]] = config.get("zones") or {}
        entries: list[tuple[str, str]] = []
        for zone, prefixes in zones.items():
            for p in prefixes:
                try:
                    parse_prefix(p)
                except ValueError as exc:
                    raise ConfigError(f"enrichers.zones.zones.{zone}: {exc}") from None
                entries.append((p, zone))
        self.table: PrefixTable[str] = PrefixTable(entries)
        self.default_zone: str | None = config.get("default_zone", "external")
        internal = set(config.get("internal_zones") or ())
        unknown = internal - set(zones)
        if unknown:
            raise ConfigError(
                f"enrichers.zones.internal_zones: {', '.join(sorted(unknown))} "
                f"not among the zones ({', '.join(sorted(zones)) or 'none'})")
        self.internal = internal
        self.cache_size = int(config.get("cache_size", 65536))
        self._reset_cache()

    def _learn(self, addresses: list[str | None]) -> None:
        """Resolve addresses not seen before into the cross-batch memo dicts."""
        if len(self._zone_of) + len(addresses) > self.cache_size:
            self._reset_cache()
        default, internal = self.default_zone, self.internal
        zone_of, src_w, dst_w = self._zone_of, self._src_w, self._dst_w
        for a, zone in self.table.memo(addresses).items():
            if zone is None:
                zone_of[a], src_w[a], dst_w[a] = default, 0, 0
            elif zone in internal:
                zone_of[a], src_w[a], dst_w[a] = zone, 2, 1
            else:
                zone_of[a], src_w[a], dst_w[a] = zone, 0, 0

    def _reset_cache(self) -> None:
        # Weights: 2 * source internal + destination internal; a missing address adds 4.
        self._zone_of: dict[str | None, str | None] = {None: None}
        self._src_w: dict[str | None, int] = {None: _MISSING}
        self._dst_w: dict[str | None, int] = {None: _MISSING}

    def enrich(self, batch: FlowBatch) -> None:
        src = address_column(batch, "source")
        dst = address_column(batch, "destination")
        # One memo for both sides and across batches: the same hosts keep coming back.
        zone_of = self._zone_of
        distinct = dict.fromkeys(src)
        distinct.update(dict.fromkeys(dst))
        new = [a for a in distinct if a not in zone_of]
        if new:
            self._learn(new)
            zone_of = self._zone_of
        batch.add_column("source.zone", list(map(zone_of.__getitem__, src)))
        batch.add_column("destination.zone", list(map(zone_of.__getitem__, dst)))
        weights = map(add, map(self._src_w.__getitem__, src), map(self._dst_w.__getitem__, dst))
        batch.add_column("network.direction", list(map(_DIRECTION_OF.__getitem__, weights)))

    def close(self) -> None:
        pass


_DIRECTION_OF: dict[int, str] = {i: _DIRECTIONS[i] for i in range(4)}
_DIRECTION_OF.update({i: "unknown" for i in range(4, 4 + 2 * 4 + 1)})


def _factory(config: Mapping[str, Any], ctx: Context) -> ZonesEnricher:
    return ZonesEnricher(config, ctx)


@hookimpl
def flowcep_register_enrichers() -> list[EnricherSpec]:
    return [
        EnricherSpec(
            name="zones",
            summary="source/destination zone from CIDR lists and ECS network.direction",
            factory=_factory,
            columns=COLUMNS,
            enabled_by_default=True,
            config_schema=CONFIG_SCHEMA,
            defaults=DEFAULTS,
        )
    ]
