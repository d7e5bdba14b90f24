"""Services: the IANA service name of a flow's well-known port and a traffic category.

Columns (ECS where ECS has a field):

* ``network.transport`` — ``tcp``, ``udp``, ``icmp`` ... from ``protocolIdentifier``
  (ECS: "same as network.iana_number, but instead using the keyword name").
* ``network.protocol`` — the application protocol as an IANA service name (``http``,
  ``domain``, ``ms-wbt-server``). ECS defines ``network.protocol`` as the application-layer
  protocol; here it is derived from the port, not from payload inspection, which is the
  only evidence a flow record carries. (``destination.service`` is not an ECS field.)
* ``flowcep.category`` — a coarse traffic category (web, mail, dns, file-transfer,
  remote-access ...), our own namespace because ECS has none.

The service is that of the destination port when it is in the table, else that of the source
port (the reply direction of a bidirectional export), else none. ICMP flows get ``icmp`` /
``ipv6-icmp``. The table below is written for FlowCEP from the IANA registry's well-known
names; ``ports`` and ``categories`` in the config add to it or override it.

Enabled by default: two C-level dict lookups per record (about 0.1 µs here), paid only for
batches whose columns something reads (they are lazy columns).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..context import Context
from ..errors import ConfigError
from ..hookspecs import hookimpl
from ..records import FlowBatch
from ..specs import EnricherSpec

__all__ = ["ServicesEnricher", "COLUMNS", "DEFAULTS", "CONFIG_SCHEMA", "PORTS", "CATEGORIES",
           "TRANSPORTS"]

COLUMNS = ("network.transport", "network.protocol", "flowcep.category")

TRANSPORTS: dict[int, str] = {
    1: "icmp", 2: "igmp", 4: "ipv4", 6: "tcp", 17: "udp", 41: "ipv6", 47: "gre", 50: "esp",
    51: "ah", 58: "ipv6-icmp", 88: "eigrp", 89: "ospf", 103: "pim", 112: "vrrp", 132: "sctp",
}
_PROTO_NUMBER = {v: k for k, v in TRANSPORTS.items()}

# service name: (category, "port/transports" ...). Transports: t=tcp, u=udp, s=sctp.
_TABLE = """
http            web              80/t 8080/t:http-alt
https           web              443/tu
ftp-data        file-transfer    20/t
ftp             file-transfer    21/t
ftps-data       file-transfer    989/t
ftps            file-transfer    990/t
tftp            file-transfer    69/u
rsync           file-transfer    873/t
git             file-transfer    9418/t
ssh             remote-access    22/t
telnet          remote-access    23/t
shell           remote-access    514/t
ms-wbt-server   remote-access    3389/tu
rfb             remote-access    5900/t
wsman           remote-access    5985/t 5986/t:wsmans
smtp            mail             25/t
submission      mail             587/t
submissions     mail             465/t
pop3            mail             110/t
pop3s           mail             995/t
imap            mail             143/t
imaps           mail             993/t
domain          dns              53/tu
domain-s        dns              853/tu
mdns            dns              5353/u
llmnr           dns              5355/tu
netbios-ns      dns              137/u
netbios-dgm     file-sharing     138/u
netbios-ssn     file-sharing     139/t
microsoft-ds    file-sharing     445/t
nfs             file-sharing     2049/tu
afpovertcp      file-sharing     548/t
kerberos        auth             88/tu
ldap            directory        389/tu
ldaps           directory        636/t
msft-gc         directory        3268/t 3269/t:msft-gc-ssl
radius          auth             1812/u 1813/u:radius-acct
epmap           rpc              135/tu
sunrpc          rpc              111/tu
ms-sql-s        database         1433/t
ms-sql-m        database         1434/u
mysql           database         3306/t
postgresql      database         5432/t
redis           database         6379/t
memcache        database         11211/tu
mongodb         database         27017/t
isakmp          vpn              500/u
ipsec-nat-t     vpn              4500/u
openvpn         vpn              1194/tu
l2tp            vpn              1701/u
pptp            vpn              1723/t
sip             voip             5060/tu 5061/t:sips
stun            voip             3478/tu
mqtt            messaging        1883/t 8883/t:secure-mqtt
amqp            messaging        5672/t 5671/t:amqps
socks           proxy            1080/t
bootps          network-services 67/u 68/u:bootpc
dhcpv6-client   network-services 546/u 547/u:dhcpv6-server
ntp             network-services 123/u
snmp            management       161/u 162/u:snmptrap
syslog          logging          514/u 6514/t:syslog-tls
ipfix           logging          4739/tus 4740/tus:ipfixs
bgp             routing          179/t
router          routing          520/u
ssdp            discovery        1900/u
ipp             printing         631/t
printer         printing         515/t
pdl-datastream  printing         9100/t
icmp            network-control
ipv6-icmp       network-control
"""


def _parse_table(text: str) -> tuple[dict[tuple[int, int], str], dict[str, str]]:
    """``{(proto, port): name}`` and ``{name: category}`` from the compact table above."""
    letters = {"t": 6, "u": 17, "s": 132}
    ports: dict[tuple[int, int], str] = {}
    categories: dict[str, str] = {}
    for line in text.strip().splitlines():
        name, category, *specs = line.split()
        categories[name] = category
        for spec in specs:
            port_protos, _, alias = spec.partition(":")
            port, _, protos = port_protos.partition("/")
            service = alias or name
            categories.setdefault(service, category)
            for letter in protos:
                ports[(letters[letter], int(port))] = service
    return ports, categories


PORTS, CATEGORIES = _parse_table(_TABLE)

DEFAULTS: dict[str, Any] = {"ports": {}, "categories": {}, "unknown_category": None}

CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "IANA service names for well-known ports and a traffic category.",
    "properties": {
        "ports": {
            "type": "object",
            "description": "'PORT/TRANSPORT' (e.g. '8443/tcp') or 'PORT' (tcp and udp) -> service name; "
                           "adds to or overrides the builtin table",
            "propertyNames": {"pattern": "^[0-9]{1,5}(/(tcp|udp|sctp))?$"},
            "additionalProperties": {"type": "string"},
        },
        "categories": {
            "type": "object",
            "description": "service name -> category; adds to or overrides the builtin categories",
            "additionalProperties": {"type": "string"},
        },
        "unknown_category": {
            "type": ["string", "null"],
            "description": "category of flows with no known service (null leaves it empty)",
        },
    },
    "additionalProperties": False,
}


class ServicesEnricher:
    """Adds ``network.transport``, ``network.protocol`` and ``flowcep.category``."""

    def __init__(self, config: Mapping[str, Any], ctx: Context | None = None) -> None:
        ports = dict(PORTS)
        for key, name in (config.get("ports") or {}).items():
            port_text, _, proto = str(key).partition("/")
            port = int(port_text)
            if not 0 <= port <= 65535:
                raise ConfigError(f"enrichers.services.ports: {key!r}: port out of range 0-65535")
            for p in ([_PROTO_NUMBER[proto]] if proto else [6, 17]):
                ports[(p, port)] = name
        categories = dict(CATEGORIES)
        categories.update(config.get("categories") or {})
        unknown = config.get("unknown_category")
        self._by_pair: dict[tuple[Any, Any], str] = ports
        self._by_proto: dict[int, dict[Any, str]] = {}
        for (p, port), name in ports.items():
            self._by_proto.setdefault(p, {})[port] = name
        self._category_of: dict[str | None, str | None] = {}
        self._category_of.update(categories)
        self._category_of[None] = unknown
        self._unknown: str | None = unknown

    def services(self, protos: list[Any], sports: list[Any], dports: list[Any]) -> list[str | None]:
        """The service of each record: the destination port's, else the source port's.

        ``table.get(destination port, source port's name)`` does the fallback in one
        C-level ``map`` pass; a missing port (None) simply finds nothing, so no record needs
        a Python-level branch. Batches hold one template, so usually one protocol.
        """
        kinds = set(protos)
        if len(kinds) == 1:
            (proto,) = kinds
            portless = _PORTLESS.get(proto)
            if portless is not None:
                return [portless] * len(protos)
            table = self._by_proto.get(proto)
            if table is None:
                return [None] * len(protos)
            return list(map(table.get, dports, map(table.get, sports)))
        by_pair = self._by_pair
        by_source = map(by_pair.get, zip(protos, sports, strict=True))
        names: list[str | None] = list(map(by_pair.get, zip(protos, dports, strict=True), by_source))
        if 1 in kinds or 58 in kinds:
            for i, p in enumerate(protos):
                if p == 1 or p == 58:
                    names[i] = _PORTLESS[p]
        return names

    def transport_column(self, columns: Mapping[str, list[Any]], n: int) -> list[str | None]:
        """``network.transport`` of a batch's columns (a lazy column's build)."""
        protos = columns.get("protocolIdentifier") or [None] * n
        kinds = set(protos)
        if len(kinds) == 1:
            return [_transport_of.get(kinds.pop())] * len(protos)
        return list(map(_transport_of.get, protos))

    def protocol_column(self, columns: Mapping[str, list[Any]], n: int) -> list[str | None]:
        """``network.protocol`` of a batch's columns (a lazy column's build)."""
        none = [None] * n
        return self.services(columns.get("protocolIdentifier") or none,
                             columns.get("sourceTransportPort") or none,
                             columns.get("destinationTransportPort") or none)

    def category_column(self, columns: Mapping[str, list[Any]], n: int) -> list[str | None]:
        """``flowcep.category`` of a batch's columns (a lazy column's build): from the
        services again rather than from ``network.protocol``, which a later stage could have
        replaced."""
        names = self.protocol_column(columns, n)
        category_of, unknown = self._category_of, self._unknown
        cats = {name: category_of.get(name, unknown) for name in dict.fromkeys(names)}
        return list(map(cats.__getitem__, names))

    def enrich(self, batch: FlowBatch) -> None:
        """Adds the three columns as lazy columns (:meth:`FlowBatch.add_lazy_column`): they
        are computed for a batch when something reads them (flow documents, EPL naming them),
        and never in a run where nothing does (the shipped detectors do not). Each record's
        values depend only on its own protocol and ports, so they are what an eager column
        would have held."""
        batch.add_lazy_column("network.transport", self.transport_column)
        batch.add_lazy_column("network.protocol", self.protocol_column)
        batch.add_lazy_column("flowcep.category", self.category_column)

    def close(self) -> None:
        pass


_transport_of: dict[Any, str] = dict(TRANSPORTS)
_PORTLESS: dict[Any, str] = {1: "icmp", 58: "ipv6-icmp"}


def _factory(config: Mapping[str, Any], ctx: Context) -> ServicesEnricher:
    return ServicesEnricher(config, ctx)


@hookimpl
def flowcep_register_enrichers() -> list[EnricherSpec]:
    return [
        EnricherSpec(
            name="services",
            summary="IANA service name (network.protocol) and traffic category of well-known ports",
            factory=_factory,
            columns=COLUMNS,
            enabled_by_default=True,
            config_schema=CONFIG_SCHEMA,
            defaults=DEFAULTS,
        )
    ]
