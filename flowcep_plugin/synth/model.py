"""The scenario model: conversations (biflows), labels and the scenario they make up.

A generator describes traffic as *conversations*: one connection or request/response
exchange between a client and a server, with packet and byte counts per direction. The
same conversation becomes one or two IPFIX uniflow records (forward, and reverse when the
server answered) or a handful of real packets in a pcap. Keeping one model for both
outputs is what makes the labels true for either file.

Counts follow from payload sizes through :func:`tcp_counts` and friends, so a
conversation's numbers are those a flow meter would compute from the packets the pcap
writer emits (when the conversation is small enough to be written packet by packet; big
transfers are shortened in pcaps, see :mod:`flowcep_plugin.synth.pcap_out`).
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = [
    "FIN", "SYN", "RST", "PSH", "ACK",
    "MSS", "TCP_HDR", "UDP_HDR",
    "Conversation",
    "Label",
    "Scenario",
    "tcp_counts",
    "http_request",
    "iso_ms",
    "DEFAULT_START_MS",
]

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
#: Payload bytes per full TCP segment (Ethernet MTU 1500 minus 40 bytes of IP and TCP).
MSS = 1460
#: IPv4 + TCP header bytes (no options, so pcap packets and counts agree exactly).
TCP_HDR = 40
#: IPv4 + UDP header bytes.
UDP_HDR = 28

#: 2024-04-12T10:00:00Z — a fixed default start so a scenario never depends on the clock.
DEFAULT_START_MS = 1712916000000

#: Conversation kinds, i.e. how the pcap writer turns one into packets.
KINDS = (
    "tcp",        # full session: handshake, messages both ways, FIN close
    "syn",        # SYN only, no answer (filtered port, flood)
    "syn-rst",    # SYN answered by RST/ACK (closed port)
    "syn-synack", # SYN, SYN/ACK, then RST from the client (half-open scan of an open port)
    "udp",        # one datagram or more each way (NTP and the like)
    "dns",        # DNS query and response
    "icmp-echo",  # ICMP echo requests (and replies when the host is up)
)


@dataclass(slots=True)
class Conversation:
    """One exchange between ``client`` and ``server`` (see the module docstring).

    ``fwd_*`` count the client -> server direction, ``rev_*`` the answer; ``rev_packets``
    0 means the server never answered (no reverse flow). ``fwd_msgs``/``rev_msgs`` are the
    application message sizes for ``tcp`` sessions (the pcap writer sends exactly these).
    ``label`` is the index of the label this conversation belongs to, -1 for background.
    """

    start_ms: int
    end_ms: int
    proto: int
    client: str
    server: str
    sport: int
    dport: int
    kind: str
    fwd_packets: int
    fwd_bytes: int
    rev_packets: int = 0
    rev_bytes: int = 0
    fwd_flags: int = 0
    rev_flags: int = 0
    fwd_msgs: tuple[int, ...] = ()
    rev_msgs: tuple[int, ...] = ()
    app: str = ""  # http | tls | ssh | smtp | imap | rsync | smb | telnet | ntp | dns | ""
    http_method: str = ""
    http_host: str = ""
    http_url: str = ""
    http_form: str = ""
    http_status: int = 0
    http_body_len: int = 0
    dns_name: str = ""
    dns_qtype: str = ""
    dns_answers: int = 0
    dns_txt: int = 0
    server_closes: bool = False
    icmp_type: int = -1  # ICMP type of the forward packets (echo request 8); reverse gets the reply 0
    icmp_interval_ms: int = 1000
    label: int = -1


@dataclass(slots=True)
class Label:
    """Ground truth for one attack (or one stage of a multi-stage attack).

    ``technique`` is the MITRE ATT&CK id that best describes it; ``techniques`` the ids an
    alert may carry and still count as detecting it (parents and close siblings).
    ``match`` says how an alert is tied to the label: ``attacker`` (the alert's source is one
    of ``attackers``) or ``victim`` (spoofed or reflected traffic: the alert's destination is
    one of ``victims``, or its source one of ``attackers``). ``pattern`` names the traffic
    shape (``scan-horizontal``, ``bruteforce-ssh``...) so an evaluation can tell which kinds
    of attack a rule covers. ``campaign`` groups the stages of one multi-stage attack.
    """

    id: str
    attack: str
    pattern: str
    technique: str
    techniques: list[str]
    attacker: str | None
    attackers: list[str]
    victims: list[str]
    start_ms: int
    end_ms: int
    description: str
    match: str = "attacker"
    campaign: str = ""
    accept_untagged: bool = False
    ports: list[int] = field(default_factory=list)
    flows: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["start"] = iso_ms(self.start_ms)
        d["end"] = iso_ms(self.end_ms)
        return d


@dataclass(slots=True)
class Scenario:
    """A generated scenario: conversations sorted by start time, and their labels."""

    name: str
    seed: int
    start_ms: int
    duration_ms: int
    conversations: list[Conversation]
    labels: list[Label]
    hints: dict[str, Any] = field(default_factory=dict)

    @property
    def end_ms(self) -> int:
        return self.start_ms + self.duration_ms

    def labels_document(self) -> dict[str, Any]:
        """The ``FILE.labels.json`` document (stable key order, no wall-clock data)."""
        return {
            "format": "flowcep-labels/1",
            "scenario": self.name,
            "seed": self.seed,
            "start": iso_ms(self.start_ms),
            "end": iso_ms(self.end_ms),
            "start_ms": self.start_ms,
            "end_ms": self.end_ms,
            "conversations": len(self.conversations),
            "hints": self.hints,
            "labels": [lb.to_json() for lb in self.labels],
        }


def iso_ms(ms: int) -> str:
    """Epoch milliseconds as ISO 8601 UTC with millisecond precision (``...Z``)."""
    t = _dt.datetime.fromtimestamp(ms / 1000, tz=_dt.UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def segments(msgs: Sequence[int]) -> int:
    """Number of TCP segments needed to carry ``msgs`` (each message starts a segment)."""
    return sum(max(1, math.ceil(m / MSS)) for m in msgs if m > 0)


def tcp_counts(fwd_msgs: Sequence[int], rev_msgs: Sequence[int],
               server_closes: bool = False) -> tuple[int, int, int, int]:
    """Packets and bytes per direction of a complete TCP session carrying these messages.

    Client: SYN, ACK, its data segments, one pure ACK per two server segments.
    Server: SYN/ACK, its data segments, one pure ACK per two client segments.
    Then the closing side sends FIN/ACK, the other FIN/ACK, and the closer the last ACK
    (web servers close idle keep-alive connections; SSH, mail and file clients close theirs).
    The pcap writer emits exactly this sequence, so both outputs agree.
    """
    fd, rd = segments(fwd_msgs), segments(rev_msgs)
    fwd_packets = 2 + fd + rd // 2 + (1 if server_closes else 2)
    rev_packets = 1 + rd + fd // 2 + (2 if server_closes else 1)
    fwd_bytes = TCP_HDR * fwd_packets + sum(fwd_msgs)
    rev_bytes = TCP_HDR * rev_packets + sum(rev_msgs)
    return fwd_packets, fwd_bytes, rev_packets, rev_bytes


def http_request(method: str, host: str, url: str, body: str = "") -> bytes:
    """The exact HTTP/1.1 request text a conversation sends (its size is the message size)."""
    head = (
        f"{method} {url} HTTP/1.1\r\nHost: {host}\r\n"
        "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:124.0) Gecko/20100101 Firefox/124.0\r\n"
        "Accept: */*\r\n"
    )
    if body:
        head += f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n"
    return (head + "\r\n" + body).encode()


def http_response_head(status: int, body_len: int) -> bytes:
    """Response headers for a body of ``body_len`` bytes (the pcap writer pads the body)."""
    reason = {200: "OK", 301: "Moved Permanently", 302: "Found", 401: "Unauthorized",
              403: "Forbidden", 404: "Not Found"}.get(status, "OK")
    return (f"HTTP/1.1 {status} {reason}\r\nServer: nginx\r\nContent-Type: text/html\r\n"
            f"Content-Length: {body_len}\r\n\r\n").encode()
