"""Community ID v1 flow hash (Corelight specification; ECS ``network.community_id``).

The hash is SHA-1 over, in network byte order: the 2-byte seed, the two addresses, the
protocol number, one zero byte, and for TCP/UDP/SCTP/ICMP/ICMPv6 the two 16-bit ports; the
endpoints are ordered so the smaller (address, port) comes first, which makes both directions
of a conversation hash alike. The result is ``"1:" + base64(digest)``. ICMP has no ports: its
type takes the source port's place and the type of the counterpart message (echo reply for
echo ...) the destination's; a type with no counterpart keeps its code and is never reordered
("one-way"), as in Zeek. Other protocols hash the addresses and protocol only.

ICMP type and code come from ``icmpTypeCodeIPv4``/``icmpTypeCodeIPv6`` (type * 256 + code),
else from ``destinationTransportPort``, where many exporters put the same value. A record
whose addresses, protocol, or needed ports are missing gets None (the specification allows an
empty value for flows it does not cover).

Tests check the specification's published baseline vectors and Wireshark's implementation on
real captures. Each distinct 5-tuple of a batch is hashed once. Enabled by default because
ECS documents and alerts pivot on it (Zeek, Suricata, Elastic); it is the costliest default
enricher, about 1.3 µs per distinct flow on the benchmark machine, most of it the SHA-1 call
and Python's per-call overhead (``benchmarks/bench_enrich.py``). The column is lazy (:meth:`FlowBatch.add_lazy_column`): a batch pays for it
only when something reads it (flow documents for Elasticsearch/jsonl/Kafka, EPL that names
it, ``flowcep dump``), and the stats count the records hashed (``community_id.computed``).
Disable it with ``[run] enrichers = ["zones", "services"]`` to leave the field out.
"""

from __future__ import annotations

import binascii
import hashlib
import socket
import struct
from collections.abc import Mapping, Sequence
from typing import Any

from ..context import Context
from ..hookspecs import hookimpl
from ..records import FlowBatch
from ..specs import EnricherSpec
from ._columns import merge_columns

__all__ = ["community_id", "CommunityIdEnricher", "DEFAULTS", "CONFIG_SCHEMA", "COLUMN", "BUILT_COUNTER"]

#: The column the enricher adds (ECS ``network.community_id``).
COLUMN = "network.community_id"
#: Stats counter (``--stats-json`` gauges): records whose Community ID was computed, i.e. of
#: batches in which something read the lazy column.
BUILT_COUNTER = "community_id.computed"

# Request/reply pairs (Zeek's ICMP4_counterpart / ICMP6_counterpart). Router advertisement
# (9) has no IPv4 counterpart entry: unsolicited adverts are one-way.
ICMP4_COUNTERPART: dict[int, int] = {
    8: 0, 0: 8,  # echo
    13: 14, 14: 13,  # timestamp
    15: 16, 16: 15,  # information
    10: 9,  # router solicitation -> advertisement
    17: 18, 18: 17,  # address mask
}
ICMP6_COUNTERPART: dict[int, int] = {
    128: 129, 129: 128,  # echo
    133: 134, 134: 133,  # router solicitation / advertisement
    135: 136, 136: 135,  # neighbor solicitation / advertisement
    130: 131, 131: 130,  # multicast listener query / report
    139: 140, 140: 139,  # node information query / reply
    144: 145, 145: 144,  # home agent address discovery
}
_PORTED = frozenset((6, 17, 132))
_ICMP = {1: ICMP4_COUNTERPART, 58: ICMP6_COUNTERPART}

_pack_ports = struct.Struct("!HH").pack
_pton = socket.inet_pton
_AF_INET, _AF_INET6 = socket.AF_INET, socket.AF_INET6
_sha1 = hashlib.sha1
_b2a = binascii.b2a_base64
# seed, addresses, protocol, the zero pad byte, ports: the whole v1 hash input in one call.
_pack_v4 = struct.Struct("!H4s4sBxHH").pack
_pack_v6 = struct.Struct("!H16s16sBxHH").pack


def _packed(address: str) -> bytes | None:
    try:
        return _pton(_AF_INET6 if ":" in address else _AF_INET, address)
    except (OSError, TypeError, ValueError):
        return None


def _hash(seed: bytes, saddr: bytes, daddr: bytes, proto: int, sport: int | None,
          dport: int | None, one_way: bool) -> str:
    if sport is not None and dport is not None:
        if not one_way and (daddr < saddr or (daddr == saddr and dport < sport)):
            saddr, daddr, sport, dport = daddr, saddr, dport, sport
        data = seed + saddr + daddr + bytes((proto, 0)) + _pack_ports(sport, dport)
    else:
        if daddr < saddr:
            saddr, daddr = daddr, saddr
        data = seed + saddr + daddr + bytes((proto, 0))
    return "1:" + _b2a(_sha1(data).digest(), newline=False).decode("ascii")


def _ports(proto: int, sport: Any, dport: Any, type_code: Any) -> tuple[int | None, int | None, bool] | None:
    """Ports to hash and the one-way flag; None when the protocol needs ports that are missing."""
    counterpart = _ICMP.get(proto)
    if counterpart is not None:
        if type_code is None:
            type_code = dport
        if type_code is None:
            return None
        icmp_type, code = (type_code >> 8) & 0xFF, type_code & 0xFF
        other = counterpart.get(icmp_type)
        if other is None:
            return icmp_type, code, True
        return icmp_type, other, False
    if proto in _PORTED:
        if sport is None or dport is None:
            return None
        return sport, dport, False
    return None, None, False


def community_id(saddr: str, daddr: str, proto: int, sport: int | None = None,
                 dport: int | None = None, seed: int = 0, *, icmp_type: int | None = None,
                 icmp_code: int | None = None) -> str | None:
    """The Community ID v1 of one flow, or None when the tuple is incomplete.

    For ICMP/ICMPv6 pass ``icmp_type``/``icmp_code`` (or ``sport``=type, ``dport``=code,
    the layout of the specification's baseline files).
    """
    a, b = _packed(saddr), _packed(daddr)
    if a is None or b is None or len(a) != len(b):
        return None
    if proto in _ICMP:
        t = icmp_type if icmp_type is not None else sport
        c = icmp_code if icmp_code is not None else dport
        if t is None or c is None:
            return None
        ports = _ports(proto, None, None, (t << 8) | c)
    else:
        ports = _ports(proto, sport, dport, None)
    if ports is None:
        return None
    return _hash(struct.pack("!H", seed), a, b, proto, *ports)


DEFAULTS: dict[str, Any] = {"seed": 0}

CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Community ID v1 flow hash in network.community_id.",
    "properties": {
        "seed": {"type": "integer", "minimum": 0, "maximum": 65535,
                 "description": "hash seed; all sensors that compare IDs must use the same"},
    },
    "additionalProperties": False,
}


class CommunityIdEnricher:
    """Adds ``network.community_id``, hashing each distinct flow tuple of a batch once."""

    def __init__(self, config: Mapping[str, Any], ctx: Context | None = None) -> None:
        self.seed_value = int(config.get("seed", 0))
        self.seed = struct.pack("!H", self.seed_value)
        self.stats = ctx.stats if ctx is not None else None

    def ids(self, src: Sequence[Any], dst: Sequence[Any], protos: Sequence[Any],
            sports: Sequence[Any], dports: Sequence[Any], type_codes: Sequence[Any]) -> list[str | None]:
        """The Community ID of each record; each distinct tuple is hashed once.

        The loop is written out (no helper calls for the TCP/UDP case) because it runs once
        per distinct flow, which in flow exports is nearly once per record: the SHA-1 itself
        is most of the ~1 µs it costs.
        """
        seed = self.seed_value
        distinct = dict.fromkeys(src)
        distinct.update(dict.fromkeys(dst))
        packed = {a: _packed(a) if a is not None else None for a in distinct}
        # Keys hold the packed addresses, so the loop needs no address lookups; one
        # struct.pack builds the whole hash input of a TCP/UDP/SCTP flow.
        keys = list(zip(map(packed.__getitem__, src), map(packed.__getitem__, dst),
                        protos, sports, dports, type_codes, strict=True))
        memo: dict[tuple[Any, ...], str | None] = {}
        sha1, b2a, ported, pack4, pack6 = _sha1, _b2a, _PORTED, _pack_v4, _pack_v6
        for key in dict.fromkeys(keys):
            a, b, proto, sport, dport, tc = key
            if (proto in ported and a is not None and b is not None and sport is not None
                    and dport is not None and len(a) == len(b)):
                pack = pack4 if len(a) == 4 else pack6
                if b < a or (a == b and dport < sport):
                    data = pack(seed, b, a, proto, dport, sport)
                else:
                    data = pack(seed, a, b, proto, sport, dport)
                memo[key] = "1:" + b2a(sha1(data).digest(), newline=False).decode("ascii")
            elif a is None or b is None or len(a) != len(b) or proto.__class__ is not int:
                memo[key] = None
            else:
                ports = _ports(proto, sport, dport, tc)
                memo[key] = None if ports is None else _hash(self.seed, a, b, proto, *ports)
        return list(map(memo.__getitem__, keys))

    def column(self, columns: Mapping[str, list[Any]], n: int) -> list[str | None]:
        """The Community ID column of a batch's ``columns`` (``n`` records): a lazy column's
        build (:data:`flowcep_plugin.records.LazyBuild`), counted in the run's stats."""
        type_codes = merge_columns(columns.get("icmpTypeCodeIPv4"), columns.get("icmpTypeCodeIPv6"), n)
        none = [None] * n
        src = merge_columns(columns.get("sourceIPv4Address"), columns.get("sourceIPv6Address"), n)
        dst = merge_columns(columns.get("destinationIPv4Address"), columns.get("destinationIPv6Address"), n)
        ids = self.ids(src, dst, columns.get("protocolIdentifier") or none,
                       columns.get("sourceTransportPort") or none,
                       columns.get("destinationTransportPort") or none, type_codes)
        if self.stats is not None:
            self.stats.add(BUILT_COUNTER, n)
        return ids

    def enrich(self, batch: FlowBatch) -> None:
        """Adds ``network.community_id`` as a lazy column: it is hashed, for the whole batch,
        when something first reads its values (a flow document, EPL naming it, ``dump``), and
        never in a run where nothing does (the shipped detectors do not read it). Readers get
        the values an eager column would have held: each record's hash depends only on that
        record's own addresses, protocol, ports and ICMP type/code."""
        batch.add_lazy_column(COLUMN, self.column)

    def close(self) -> None:
        pass


def _factory(config: Mapping[str, Any], ctx: Context) -> CommunityIdEnricher:
    return CommunityIdEnricher(config, ctx)


@hookimpl
def flowcep_register_enrichers() -> list[EnricherSpec]:
    return [
        EnricherSpec(
            name="community-id",
            summary="Community ID v1 flow hash (network.community_id), as Zeek and Suricata",
            factory=_factory,
            columns=(COLUMN,),
            enabled_by_default=True,
            config_schema=CONFIG_SCHEMA,
            defaults=DEFAULTS,
        )
    ]
