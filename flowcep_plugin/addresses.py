"""One address syntax for every input and output.

``ipfix-file:PATH``, ``pcap:PATH``, ``pcap+export:PATH``, ``json:PATH``, ``iface:NAME``,
``ipfix+udp://HOST:PORT``, ``ipfix+tcp://HOST:PORT``, ``netflow+udp://HOST:PORT``; a bare path
gets scheme ``file`` and is recognised later by its first bytes. ``?key=value`` options may
follow any address (``pcap:x.pcap?filter=tcp port 80``).

A collector listens on the network for anyone who can reach it, so an address that leaves the
host out binds the loopback address (:data:`DEFAULT_BIND`), never every interface; listening
on a network takes an explicit ``0.0.0.0`` or ``[::]``. A network scheme written like a path
(``ipfix+udp:/127.0.0.1:4739``, ``ipfix+tcp:4739``) is an error rather than a guess.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import parse_qsl

from .errors import ConfigError
from .specs import Address

__all__ = ["parse_address", "NETWORK_SCHEMES", "BROKER_SCHEMES", "TYPED_SCHEMES", "DEFAULT_BIND"]

NETWORK_SCHEMES = ("ipfix+udp", "ipfix+tcp", "netflow+udp")
#: Inputs that read a message broker: their address is brokers and topics, not one host.
BROKER_SCHEMES = ("alerts+kafka", "stream+kafka")
#: Inputs that deliver events of a declared EPL type (``?type=NAME``): a level-1 run's INSERT
#: INTO stream read back by a level-2 run (inputs/streamrows.py).
TYPED_SCHEMES = ("stream", "stream+kafka")
#: Host a collector binds when its address names none.
DEFAULT_BIND = "127.0.0.1"
_SCHEME = re.compile(r"^([a-z][a-z0-9+\-.]*):(//)?(.*)$", re.IGNORECASE | re.DOTALL)
_HOSTPORT = re.compile(r"^(?:\[(?P<v6>[^\]]*)\]|(?P<host>[^:/\[\]]*))(?::(?P<port>\d+))?/?$")
_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


def _host(raw: str, scheme: str, text: str, v6: bool) -> str:
    """The host as written, checked: an IP literal or a DNS name, nothing else."""
    hint = f"expected {scheme}://HOST:PORT, e.g. {scheme}://{DEFAULT_BIND}:4739"
    if v6:
        try:
            return str(ipaddress.IPv6Address(text))
        except ValueError:
            raise ConfigError(f"address {raw!r}: [{text}] is not an IPv6 address; {hint}") from None
    if not text:
        return DEFAULT_BIND
    try:
        return str(ipaddress.IPv4Address(text))
    except ValueError:
        pass
    labels = text.rstrip(".").split(".")
    # a dotted number that is not an IPv4 address (300.1.1.1, 10.1.1) is a typo, not a name
    if all(lb.isdigit() for lb in labels) or not all(_LABEL.match(lb) for lb in labels) or len(text) > 253:
        raise ConfigError(f"address {raw!r}: {text!r} is neither an IP address nor a host name; {hint}")
    return text


def parse_address(raw: str) -> Address:
    """Parse an address; raises ConfigError with a hint on malformed ones."""
    text = raw.strip()
    if not text:
        raise ConfigError("empty address: give e.g. ipfix-file:PATH or ipfix+udp://127.0.0.1:4739")
    params: dict[str, str] = {}
    m = _SCHEME.match(text)
    # A Windows-style drive letter or a plain relative path is not a scheme.
    if m is None or (len(m.group(1)) == 1 and not m.group(2)):
        return Address(raw=raw, scheme="file", path=text)
    scheme, slashes, rest = m.group(1).lower(), m.group(2), m.group(3)
    if "?" in rest:
        rest, query = rest.split("?", 1)
        params = dict(parse_qsl(query, keep_blank_values=True))
    if scheme in NETWORK_SCHEMES and not slashes:
        raise ConfigError(f"address {raw!r}: a collector address is {scheme}://HOST:PORT "
                          f"(e.g. {scheme}://{DEFAULT_BIND}:4739, or {scheme}://0.0.0.0:4739 to listen "
                          "on every interface)")
    if slashes and scheme in BROKER_SCHEMES:
        # brokers and a topic (``HOST:PORT[,HOST:PORT]/TOPIC[,TOPIC]``): the input checks them
        return Address(raw=raw, scheme=scheme, path=rest, params=params)
    if slashes:
        hm = _HOSTPORT.match(rest)
        if hm is None:
            raise ConfigError(f"address {raw!r}: expected {scheme}://HOST:PORT, "
                              f"e.g. {scheme}://{DEFAULT_BIND}:4739")
        host = _host(raw, scheme, hm.group("v6") if hm.group("v6") is not None else hm.group("host"),
                     hm.group("v6") is not None)
        port = int(hm.group("port")) if hm.group("port") else None
        if port is not None and not 0 <= port <= 65535:
            raise ConfigError(f"address {raw!r}: port {port} is out of range 0-65535")
        return Address(raw=raw, scheme=scheme, host=host, port=port, params=params)
    if not rest:
        raise ConfigError(f"address {raw!r}: nothing after '{scheme}:' (expected a path or name)")
    return Address(raw=raw, scheme=scheme, path=rest, params=params)
