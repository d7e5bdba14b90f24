"""NetFlow v5 and v9 collector on UDP (``netflow+udp://HOST:PORT``, default port 2055).

The same decoder as IPFIX: v9 fields keep their IPFIX element names (the v9 field types are
the IANA element ids), v9 sysUptime timestamps become ``flowStart/EndMilliseconds``, v5
records map to the same names, and the sampling interval (v5 header, v9 options data) is
attached to the exporter's flows as ``samplingInterval``. IPFIX datagrams on the same port
are decoded too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..addresses import DEFAULT_BIND
from ..context import Context
from ..hookspecs import hookimpl
from ..specs import Address, InputSpec
from .collectors import UDPCollector
from .ipfix import UDP_DEFAULTS, UDP_SCHEMA, udp_options

__all__ = ["flowcep_register_inputs"]


def _open(address: Address, config: Mapping[str, Any], ctx: Context) -> UDPCollector:
    host = address.host or DEFAULT_BIND
    port = 2055 if address.port is None else address.port
    return UDPCollector(ctx, address.raw, host, port, **udp_options(address, config))


@hookimpl
def flowcep_register_inputs() -> list[InputSpec]:
    return [
        InputSpec(name="netflow+udp",
                  summary="NetFlow v5/v9 collector on UDP (IPFIX too), default port 2055",
                  schemes=("netflow+udp",), open=_open, live=True,
                  config_schema=UDP_SCHEMA, defaults=UDP_DEFAULTS),
    ]
