"""One address syntax for every input and output.

``ipfix-file:PATH``, ``pcap:PATH``, ``pcap+export:PATH``, ``json:PATH``, ``iface:NAME``,
``ipfix+udp://HOST:PORT``, ``ipfix+tcp://HOST:PORT``, ``netflow+udp://HOST:PORT``; a bare path
gets scheme ``file`` and is recognised later by its first bytes. ``?key=value`` options may
follow any address (``pcap:x.pcap?filter=tcp port 80``).
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl

from .errors import ConfigError
from .specs import Address

__all__ = ["parse_address", "NETWORK_SCHEMES"]

NETWORK_SCHEMES = ("ipfix+udp", "ipfix+tcp", "netflow+udp")
_SCHEME = re.compile(r"^([a-z][a-z0-9+\-.]*):(//)?(.*)$", re.IGNORECASE)
_HOSTPORT = re.compile(r"^(?:\[(?P<v6>[0-9a-fA-F:.]+)\]|(?P<host>[^:/\[\]]*))(?::(?P<port>\d+))?/?$")


def parse_address(raw: str) -> Address:
    """Parse an address; raises ConfigError with a hint on malformed ones."""
    text = raw.strip()
    if not text:
        raise ConfigError("empty address: give e.g. ipfix-file:PATH or ipfix+udp://0.0.0.0:4739")
    params: dict[str, str] = {}
    m = _SCHEME.match(text)
    # A Windows-style drive letter or a plain relative path is not a scheme.
    if m is None or (len(m.group(1)) == 1 and not m.group(2)):
        return Address(raw=raw, scheme="file", path=text)
    scheme, slashes, rest = m.group(1).lower(), m.group(2), m.group(3)
    if "?" in rest:
        rest, query = rest.split("?", 1)
        params = dict(parse_qsl(query, keep_blank_values=True))
    if slashes:
        hm = _HOSTPORT.match(rest)
        if hm is None:
            raise ConfigError(f"address {raw!r}: expected {scheme}://HOST:PORT")
        host = hm.group("v6") or hm.group("host") or "0.0.0.0"
        port = int(hm.group("port")) if hm.group("port") else None
        if port is not None and not 0 <= port <= 65535:
            raise ConfigError(f"address {raw!r}: port {port} is out of range 0-65535")
        return Address(raw=raw, scheme=scheme, host=host, port=port, params=params)
    if not rest:
        raise ConfigError(f"address {raw!r}: nothing after '{scheme}:' (expected a path or name)")
    return Address(raw=raw, scheme=scheme, path=rest, params=params)
