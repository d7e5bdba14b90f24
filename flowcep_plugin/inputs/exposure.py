"""Who may send to a collector: the ``allow`` list of exporter networks.

A collector decodes whatever reaches its port, and an alert names the hosts in the records, so
a spoofed or stray exporter can put an innocent host in an alert or fill the template tables.
An ``allow`` list (``ipfix+udp://0.0.0.0:4739?allow=192.0.2.0/24,2001:db8::/32``) keeps to the
exporters the operator expects; everything else is dropped before decoding and counted as
``unauthorized-exporter`` (datagrams on UDP, connections on TCP).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

from ..errors import ConfigError

__all__ = ["AllowList", "parse_allow"]

_CACHE_LIMIT = 65536

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_allow(value: Any, where: str) -> list[Network] | None:
    """Networks from a list or a comma-separated string; None (or empty) allows everyone."""
    if value is None or value == "" or value == []:
        return None
    items: Iterable[Any] = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) and not isinstance(value, str):
        raise ConfigError(f"{where}: allow: expected a list of networks like 192.0.2.0/24")
    nets: list[Network] = []
    for item in items:
        text = str(item).strip()
        if not text:
            continue
        try:
            nets.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            raise ConfigError(f"{where}: allow: {text!r} is not a network or address "
                              "(e.g. 192.0.2.0/24, 2001:db8::/32, 198.51.100.7)") from None
    return nets or None


class AllowList:
    """Decides per source address, with a bounded cache (exporters are few, packets many)."""

    def __init__(self, networks: list[Network] | None) -> None:
        self.networks = networks
        self._cache: dict[str, bool] = {}

    def __call__(self, host: str) -> bool:
        if self.networks is None:
            return True
        hit = self._cache.get(host)
        if hit is not None:
            return hit
        try:
            addr = ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
            addr = addr.ipv4_mapped
        ok = any(addr in net for net in self.networks)
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[host] = ok
        return ok
