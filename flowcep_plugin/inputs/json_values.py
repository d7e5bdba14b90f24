"""Value parsing shared by the JSON readers (collector records and ECS flow documents).

Collectors and Beats format the same element in several ways (ISO 8601 or epoch numbers,
``".AP.S."`` or 26, ``"TCP"`` or 6, ``"0x1f"``); both readers of the ``json:`` input parse
them with these functions, so a value is read the same whichever key style carried it.
"""

from __future__ import annotations

import calendar
import re
import socket
from collections.abc import Iterator, Mapping
from typing import Any

__all__ = ["MAX_DEPTH", "PROTOCOLS", "TIME_UNITS", "flatten", "parse_int", "parse_protocol",
           "parse_tcp_flags", "parse_timestamp_ms"]

PROTOCOLS = {"TCP": 6, "UDP": 17, "ICMP": 1, "IPV6-ICMP": 58, "ICMPV6": 58, "ICMP6": 58, "GRE": 47,
             "ESP": 50, "AH": 51, "SCTP": 132, "IGMP": 2, "IPV4": 4, "IPIP": 4, "IPV6": 41, "OSPF": 89,
             "OSPFIGP": 89, "PIM": 103, "VRRP": 112, "UDPLITE": 136}
#: Factor from epoch milliseconds to a dateTime element's own unit.
TIME_UNITS: dict[str, float] = {"dateTimeSeconds": 0.001, "dateTimeMilliseconds": 1,
                                "dateTimeMicroseconds": 1000, "dateTimeNanoseconds": 1_000_000}
#: Nesting a flow record needs (``{"ipfix": {...}}``, RFC 6313 lists, ECS objects); deeper is hostile.
MAX_DEPTH = 8

_FLAG_BITS = {"F": 0x01, "S": 0x02, "R": 0x04, "P": 0x08, "A": 0x10, "U": 0x20, "E": 0x40, "C": 0x80}
_ISO = re.compile(
    r"\s*(\d{4})-(\d{1,2})-(\d{1,2})[T ](\d{1,2}):(\d{1,2}):(\d{1,2})(?:[.,](\d{1,9}))?"
    r"\s*(Z|[+-]\d{2}:?\d{2})?\s*$"
)
#: Beats writes protocols it has no name for as ``unknown (N)``.
_BEATS_UNKNOWN = re.compile(r"unknown \((\d{1,3})\)")


def parse_timestamp_ms(text: str) -> int:
    """Epoch milliseconds from ISO 8601 text; no zone means UTC (both collectors write UTC)."""
    m = _ISO.match(text)
    if m is None:
        raise ValueError(f"not a timestamp: {text[:60]!r}")
    y, mo, d, h, mi, s = (int(g) for g in m.groups()[:6])
    frac = m.group(7) or ""
    try:
        seconds = calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0))
    except (OverflowError, ValueError):
        raise ValueError(f"not a timestamp: {text[:60]!r}") from None
    ms = seconds * 1000 + (int(frac[:3].ljust(3, "0")) if frac else 0)
    zone = m.group(8)
    if zone and zone != "Z":
        sign = -1 if zone[0] == "-" else 1
        zone = zone[1:].replace(":", "")
        ms -= sign * (int(zone[:2]) * 3600 + int(zone[2:]) * 60) * 1000
    return ms


def parse_tcp_flags(value: Any) -> int:
    """TCP flags from a number or ipfixcol's text (``".AP.S."``, ``"CE.A..SF"``)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = str(value).strip()
    if text.isdigit():
        return int(text)
    if text.lower().startswith("0x"):
        return int(text, 16)
    bits = 0
    for ch in text.upper():
        if ch == ".":
            continue
        bit = _FLAG_BITS.get(ch)
        if bit is None:
            raise ValueError(f"not TCP flags: {value!r}")
        bits |= bit
    return bits


def parse_protocol(value: Any) -> int:
    """An IANA protocol number from a number, its keyword (``"TCP"``, ``"ipv6-icmp"``) or
    Beats' ``"unknown (47)"``."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if not isinstance(value, str):
        raise ValueError(f"not a protocol: {value!r}")
    text = value.strip()
    if text.isdigit():
        return int(text)
    num = PROTOCOLS.get(text.upper())
    if num is None:
        m = _BEATS_UNKNOWN.fullmatch(text)
        if m is not None:
            return int(m.group(1))
        try:
            num = socket.getprotobyname(text)
        except OSError:
            raise ValueError(f"unknown protocol {value!r}") from None
    return num


def parse_int(value: Any) -> int:
    """An integer from a number, decimal text or ``0x`` hex text (collectors write all three)."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        return int(text, 16) if text.lower().startswith("0x") else int(text)
    raise ValueError(f"not an integer: {value!r}")


def flatten(obj: Mapping[str, Any], prefix: str = "", depth: int = 0) -> Iterator[tuple[str, Any]]:
    """Dotted keys and leaf values of nested objects; RFC 6313 lists (``@type`` + ``data``)
    stay whole. Deeper than :data:`MAX_DEPTH` is refused: a record never nests that far, and
    recursion must not be the attacker's to choose."""
    if depth >= MAX_DEPTH:
        raise ValueError(f"objects nested deeper than {MAX_DEPTH} levels")
    for k, v in obj.items():
        if isinstance(v, dict) and not ("@type" in v and "data" in v):
            yield from flatten(v, f"{prefix}{k}.", depth + 1)
        else:
            yield f"{prefix}{k}", v
