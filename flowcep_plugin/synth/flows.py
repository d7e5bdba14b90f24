"""Conversations -> uniflow records (IPFIX element names), and the IPFIX / JSON-lines writers.

A conversation gives a forward record (client -> server) and, when the server answered, a
reverse record — what a uniflow exporter such as the ones FlowCEP was built on reports.
HTTP Host and URL go on the forward record of HTTP conversations only, as HTTP-aware
exporters (Flowmon, CESNET's ipfixprobe) do.

Records are exported in flow-end order, one export second at a time (``export_time`` is the
second after the last flow end in the message), so a reader sees what a collector would.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import IO, Any, BinaryIO, NamedTuple

from .model import Conversation, Scenario

__all__ = ["FlowRecord", "uniflows", "write_ipfix", "write_jsonl", "BASIC_FIELDS", "HTTP_ELEMENTS"]


class FlowRecord(NamedTuple):
    """One uniflow; ``label`` is the label index (-1 background), not exported."""

    sourceIPv4Address: str
    destinationIPv4Address: str
    sourceTransportPort: int
    destinationTransportPort: int
    protocolIdentifier: int
    tcpControlBits: int
    packetDeltaCount: int
    octetDeltaCount: int
    flowStartMilliseconds: int
    flowEndMilliseconds: int
    HTTPRequestHost: str
    HTTPRequestURL: str
    icmpTypeCodeIPv4: int
    label: int


#: Template fields before the two HTTP elements; counters use reduced-size (4-byte)
#: encoding, RFC 7011 6.2, as many exporters do; ICMP type/code is 0 on other protocols.
BASIC_FIELDS: list[tuple[str, int]] = [
    ("sourceIPv4Address", 4), ("destinationIPv4Address", 4),
    ("sourceTransportPort", 2), ("destinationTransportPort", 2),
    ("protocolIdentifier", 1), ("tcpControlBits", 2),
    ("packetDeltaCount", 4), ("octetDeltaCount", 4),
    ("flowStartMilliseconds", 8), ("flowEndMilliseconds", 8),
    ("icmpTypeCodeIPv4", 2),
]

#: Which information elements carry HTTP Host and URL. ``flowmon`` (PEN 39499, ids 1 and 2)
#: is what the FlowCEP upstream sample uses; ``cesnet`` is PEN 8057 ids 800/801; ``iana``
#: is httpRequestHost (460) / httpRequestTarget (461). All decode as HTTPRequestHost/URL.
HTTP_ELEMENTS: dict[str, tuple[str, str]] = {
    "flowmon": ("en39499:id1", "en39499:id2"),
    "cesnet": ("en8057:id800", "en8057:id801"),
    "iana": ("iana:id460", "iana:id461"),
}

TEMPLATE_ID = 256


def _records(c: Conversation) -> Iterator[FlowRecord]:
    # ICMP: ports 0, type and code in icmpTypeCodeIPv4 (echo request 8/0, reply 0/0)
    fwd_icmp = c.icmp_type << 8 if c.proto == 1 else 0
    if c.fwd_packets:
        yield FlowRecord(c.client, c.server, c.sport, c.dport, c.proto, c.fwd_flags, c.fwd_packets,
                         c.fwd_bytes, c.start_ms, c.end_ms, c.http_host, c.http_url, fwd_icmp, c.label)
    if c.rev_packets:
        # the answer starts one round trip later (never after the end)
        start = min(c.end_ms, c.start_ms + 1) if c.fwd_packets else c.start_ms
        yield FlowRecord(c.server, c.client, c.dport, c.sport, c.proto, c.rev_flags, c.rev_packets,
                         c.rev_bytes, start, c.end_ms, "", "", 0, c.label)


def uniflows(scenario: Scenario) -> list[FlowRecord]:
    """Every uniflow of the scenario, in export order (flow end, then start, then addresses)."""
    recs = [r for c in scenario.conversations for r in _records(c)]
    recs.sort(key=lambda r: (r.flowEndMilliseconds, r.flowStartMilliseconds, r.sourceIPv4Address,
                             r.sourceTransportPort, r.destinationIPv4Address, r.destinationTransportPort))
    return recs


def write_ipfix(scenario: Scenario, fp: BinaryIO, http_elements: str = "flowmon",
                observation_domain: int = 1) -> int:
    """Write the scenario as an IPFIX file; returns the number of data records written.

    One template carries every record (HTTP Host/URL are empty, one length byte each, on
    non-HTTP flows): records then reach a reader strictly in export order, whatever it does
    with several templates (a reader that batches per template would reorder them).
    """
    from ..ipfix_writer import IPFIXWriter

    host_el, url_el = HTTP_ELEMENTS[http_elements]
    w = IPFIXWriter(fp, observation_domain=observation_domain)
    w.add_template(TEMPLATE_ID, BASIC_FIELDS + [(host_el, 65535), (url_el, 65535)])
    n = 0
    second: int | None = None
    rows: list[tuple[Any, ...]] = []
    for r in uniflows(scenario):
        s = r.flowEndMilliseconds // 1000
        if second is not None and s != second:
            w.write(TEMPLATE_ID, rows, second + 1)
            rows = []
        second = s
        rows.append(tuple(r[:10]) + (r.icmpTypeCodeIPv4, r.HTTPRequestHost, r.HTTPRequestURL))
        n += 1
    if second is not None:
        w.write(TEMPLATE_ID, rows, second + 1)
    w.flush()
    return n


def write_jsonl(scenario: Scenario, fp: IO[str]) -> int:
    """One JSON object per flow with IPFIX element names (empty HTTP fields left out)."""
    n = 0
    for r in uniflows(scenario):
        d = r._asdict()
        del d["label"]
        if not d["HTTPRequestURL"]:
            del d["HTTPRequestURL"], d["HTTPRequestHost"]
        if d["protocolIdentifier"] != 1:
            del d["icmpTypeCodeIPv4"]
        fp.write(json.dumps(d, separators=(",", ":")) + "\n")
        n += 1
    return n
