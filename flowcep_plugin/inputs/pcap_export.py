"""``pcap+export:PATH``: NetFlow v5/v9 and IPFIX messages carried as UDP payloads in a capture.

Captures of export traffic are how users send bug reports and how most public samples are
shared; Wireshark decodes them with its "Decode As cflow" on the export ports. This input does
the same, on any UDP port: exporters are configured on whatever port the collector uses
(6343, 9996, 2056...), so a datagram to another port is decoded when its payload validates as
an export message (version 5, 9 or 10, lengths that add up, set headers with legal ids) and
counted by reason when it does not (``pcap+export.skipped.<reason>``). Datagrams to the usual
export ports (2055, 4739, 9995, 4432, 6343) are always decoded, so a damaged message is
counted as malformed by the decoder instead of skipped. ``?ports=2055,4739`` restricts the
input to those ports. Each datagram is handed to the shared :class:`MessageDecoder`, with the exporter
taken from the packet (``source address:source port``), so templates stay scoped per exporter
exactly as on a live UDP collector. IPv4 fragments are reassembled (big IPFIX messages over
UDP are often fragmented); a datagram whose fragments never all arrive is counted.

Options: ``[inputs.pcap+export]`` or ``pcap+export:f.pcap?ports=2055,9990``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from typing import Any

from ..context import Context
from ..errors import ConfigError, InputError
from ..hookspecs import hookimpl
from ..records import FlowBatch
from ..specs import Address, InputSpec
from .flowmeter import FAST_LINKTYPES, link_offset
from .pcap import CaptureError, Skipped, _scapy_to_ip, count_skipped, iter_frames
from .sniff import require_format

__all__ = ["ExportCaptureSource", "DEFAULT_PORTS", "udp_payload"]

DEFAULT_PORTS = (2055, 4739, 9995, 4432, 6343)
MAX_FRAGMENTED = 1024  # datagrams being reassembled at once; beyond it the oldest is dropped
MAX_FRAGMENT_BYTES = 32 << 20  # bytes held for reassembly; beyond it the oldest datagram is dropped

SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "ports": {"type": ["array", "null"], "items": {"type": "integer", "minimum": 1, "maximum": 65535},
                  "description": "only these UDP destination ports (default: any port whose payload "
                                 "validates as NetFlow/IPFIX)"},
        "batch_size": {"type": "integer", "minimum": 1, "description": "records per batch"},
        "apply_sampling": {"type": ["boolean", "string"],
                           "description": "multiply packet and byte counts by the exporter's sampling rate"},
    },
}
DEFAULTS: dict[str, Any] = {"ports": None, "batch_size": 10_000, "apply_sampling": False}


def export_problem(payload: bytes) -> str | None:
    """Why a UDP payload is not a NetFlow v5/v9 or IPFIX message (None when it is one).

    Checks what a collector can check without templates: version, header and record or set
    lengths adding up, and set ids in their legal ranges (RFC 7011 3.3.2, RFC 3954 5).
    """
    n = len(payload)
    if n < 4:
        return "too-short"
    version = (payload[0] << 8) | payload[1]
    if version == 5:
        count = (payload[2] << 8) | payload[3]
        if not 1 <= count <= 30 or n < 24 + 48 * count:
            return "bad-v5-count"
        return None
    if version == 10:
        length = (payload[2] << 8) | payload[3]
        if n < 16 or length < 20 or length > n:
            return "bad-ipfix-length"
        pos, end, legal = 16, length, (2, 3)
    elif version == 9:
        if n < 24:
            return "bad-v9-length"
        pos, end, legal = 20, n, (0, 1)
    else:
        return "not-netflow-ipfix"
    sets = 0
    while end - pos >= 4:
        set_id = (payload[pos] << 8) | payload[pos + 1]
        set_len = (payload[pos + 2] << 8) | payload[pos + 3]
        if set_id == 0 and set_len == 0 and version == 9 and sets and not any(payload[pos:end]):
            break  # zero padding after the last flowset (Palo Alto)
        if set_len < 4 or pos + set_len > end or not (set_id in legal or set_id >= 256):
            return "bad-set-header"
        pos += set_len
        sets += 1
    if not sets or (version == 10 and pos != end):
        return "bad-set-header"
    return None


def udp_payload(ip: bytes, off: int = 0) -> tuple[str, int, int, bytes] | str | None:
    """(source address, source port, destination port, payload) of a UDP datagram starting
    at ``ip[off]``; a reason string when it is malformed; None when it is not UDP (or is an
    IPv4 fragment: see :class:`_Reassembler`)."""
    import socket

    if len(ip) < off + 20:
        return "truncated IP header"
    ver = ip[off] >> 4
    if ver == 4:
        ihl = (ip[off] & 15) * 4
        total = (ip[off + 2] << 8) | ip[off + 3]
        if ihl < 20 or total < ihl:
            return "bad IPv4 header length"
        if ip[off + 9] != 17:
            return None
        if ((ip[off + 6] & 0x3F) << 8) | ip[off + 7]:  # MF flag or an offset: a fragment
            return None
        src = socket.inet_ntoa(ip[off + 12:off + 16])
        l4 = off + ihl
        end = off + total
    elif ver == 6:
        if len(ip) < off + 40:
            return "truncated IPv6 header"
        if ip[off + 6] != 17:  # export over IPv6 with extension headers is not seen in practice
            return None
        src = socket.inet_ntop(socket.AF_INET6, ip[off + 8:off + 24])
        l4 = off + 40
        end = l4 + ((ip[off + 4] << 8) | ip[off + 5])
    else:
        return f"bad IP version {ver}"
    if len(ip) < l4 + 8:
        return "truncated UDP header"
    sport = (ip[l4] << 8) | ip[l4 + 1]
    dport = (ip[l4 + 2] << 8) | ip[l4 + 3]
    ulen = (ip[l4 + 4] << 8) | ip[l4 + 5]
    stop = min(l4 + ulen, end) if ulen >= 8 else end
    if stop > len(ip):
        return "datagram cut by the capture's snap length"
    return src, sport, dport, ip[l4 + 8:stop]


class _Reassembler:
    """Minimal IPv4 reassembly (RFC 791) for UDP export datagrams: enough for exporters that
    send messages bigger than the path MTU. Overlaps keep the first copy."""

    def __init__(self) -> None:
        self.parts: dict[tuple[bytes, bytes, int], dict[int, bytes]] = {}
        self.last: dict[tuple[bytes, bytes, int], int] = {}
        self.header: dict[tuple[bytes, bytes, int], bytes] = {}
        self.dropped = 0
        self.held = 0

    def add(self, ip: bytes, off: int) -> bytes | None:
        """Add one fragment; return the whole IP datagram (header + payload) once complete."""
        ihl = (ip[off] & 15) * 4
        total = (ip[off + 2] << 8) | ip[off + 3]
        flags_frag = ((ip[off + 6] & 0x3F) << 8) | ip[off + 7]
        key = (ip[off + 12:off + 20], ip[off + 4:off + 6], ip[off + 9])
        k = (key[0], key[1], key[2])
        start = (flags_frag & 0x1FFF) * 8
        more = bool(flags_frag & 0x2000)
        payload = ip[off + ihl:off + total]
        if start + len(payload) > 65535 or ihl < 20:  # no IPv4 datagram is that long
            self.dropped += 1
            return None
        parts = self.parts.setdefault(k, {})
        if start not in parts:
            parts[start] = payload
            self.held += len(payload)
        while self.held > MAX_FRAGMENT_BYTES and self.parts:
            self._forget(next(iter(self.parts)))
            self.dropped += 1
        if k not in self.parts:
            return None
        if start == 0:
            self.header[k] = ip[off:off + ihl]
        if not more:
            self.last[k] = start + len(payload)
        if len(self.parts) > MAX_FRAGMENTED:
            oldest = next(iter(self.parts))
            self._forget(oldest)
            self.dropped += 1
        end = self.last.get(k)
        if end is None or k not in self.header:
            return None
        pos = 0
        chunks = []
        for s in sorted(parts):
            if s > pos:
                return None  # a hole
            piece = parts[s][pos - s:]
            chunks.append(piece)
            pos = max(pos, s + len(parts[s]))
        if pos < end:
            return None
        header = bytearray(self.header[k])
        body = b"".join(chunks)[:end]
        length = len(header) + len(body)
        header[2:4] = length.to_bytes(2, "big")
        header[6:8] = b"\x00\x00"
        self._forget(k)
        return bytes(header) + body

    def _forget(self, k: tuple[bytes, bytes, int]) -> None:
        self.held -= sum(len(p) for p in self.parts.pop(k, {}).values())
        self.last.pop(k, None)
        self.header.pop(k, None)

    @property
    def incomplete(self) -> int:
        return len(self.parts)


def _ports(config: Mapping[str, Any], params: Mapping[str, str], where: str) -> frozenset[int] | None:
    raw: Any = params.get("ports", config.get("ports"))
    if raw is None or raw in ("", "any"):
        return None
    if isinstance(raw, str):
        raw = [p for p in raw.replace(" ", "").split(",") if p]
    try:
        ports = frozenset(int(p) for p in raw)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: ports: expected port numbers like 2055,4739, got {raw!r}") from None
    if not ports or not all(0 < p < 65536 for p in ports):
        raise ConfigError(f"{where}: ports: expected port numbers 1..65535, got {sorted(ports)}")
    return ports


class ExportCaptureSource:
    """Decodes the flow-export datagrams inside a pcap/pcapng file; ends at end of file."""

    def __init__(self, address: Address, config: Mapping[str, Any], ctx: Context) -> None:
        self.address = address
        self.source = address.raw
        self.path = address.path or ""
        self.ctx = ctx
        unknown = set(address.params) - {"ports", "batch_size", "apply_sampling"}
        if unknown:
            raise ConfigError(f"{address.raw}: unknown option(s) {', '.join(sorted(unknown))}; "
                              "known: ports, batch_size, apply_sampling")
        from .ipfix import flag

        self.apply_sampling = flag(address.params.get("apply_sampling", config.get("apply_sampling", False)),
                                   f"{address.raw}: apply_sampling")
        self.ports = _ports(config, address.params, address.raw)
        try:
            self.batch_size = int(address.params.get("batch_size", config.get("batch_size", 10_000)))
        except ValueError:
            raise ConfigError(f"{address.raw}: batch_size: expected an integer") from None
        if not os.path.isfile(self.path):
            raise InputError(f"input {address.raw!r}: no such file")
        require_format(self.path, address.raw, ("pcap", "pcapng", "gzip+pcap", "gzip+pcapng"), strict=True)
        self._closed = False

    def batches(self) -> Iterator[FlowBatch]:
        from .ipfix_decode import MessageDecoder

        decoder = MessageDecoder(self.ctx, self.source, transport="udp", apply_sampling=self.apply_sampling)
        frags = _Reassembler()
        ports = self.ports
        usual = frozenset(DEFAULT_PORTS)
        skipped: dict[str, int] = {}
        stats = self.ctx.stats
        number = 0
        malformed = 0
        datagrams = 0
        hostile = Skipped(self.source, self.ctx.logger)
        try:
            for lt, packets in iter_frames(self.path, skipped=hostile):
                count_skipped(self.ctx, hostile, self.source)
                for _ts, data in packets:
                    number += 1
                    ip, off = self._ip(lt, data)
                    if ip is None:
                        continue
                    got = udp_payload(ip, off)
                    if got is None and off >= 0 and len(ip) >= off + 20 and ip[off] >> 4 == 4 \
                            and ip[off + 9] == 17 and (((ip[off + 6] & 0x3F) << 8) | ip[off + 7]):
                        whole = frags.add(ip, off)
                        got = udp_payload(whole) if whole is not None else None
                    if got is None:
                        continue
                    if isinstance(got, str):
                        malformed += 1
                        if malformed <= 20:
                            self.ctx.logger.debug("%s: packet %d: %s", self.source, number, got)
                        stats.drop("malformed", 1, source=self.source)
                        continue
                    src, sport, dport, payload = got
                    if ports is not None:
                        if dport not in ports:
                            continue
                    elif dport not in usual:
                        why = export_problem(payload)
                        if why is not None:
                            skipped[why] = skipped.get(why, 0) + 1
                            continue
                    datagrams += 1
                    exporter = f"[{src}]:{sport}" if ":" in src else f"{src}:{sport}"
                    decoder.feed(payload, exporter)
                    if decoder.pending_records >= self.batch_size:
                        yield from decoder.flush(merged=True)
                yield from decoder.flush(merged=True)
                if self._closed:
                    break
        except CaptureError as e:
            self.ctx.logger.error("%s", e)
            stats.add("pcap corrupt captures")
        count_skipped(self.ctx, hostile, self.source)
        yield from decoder.flush(merged=True)
        decoder.close()
        if frags.incomplete or frags.dropped:
            stats.drop("malformed", frags.incomplete + frags.dropped, source=self.source)
            self.ctx.logger.debug("%s: %d fragmented datagrams never completed", self.source,
                                  frags.incomplete + frags.dropped)
        stats.add("pcap+export datagrams", datagrams)
        for why, n in sorted(skipped.items()):
            stats.add(f"pcap+export.skipped.{why}", n)

    def _ip(self, linktype: int, data: bytes) -> tuple[bytes | None, int]:
        if linktype in FAST_LINKTYPES:
            off = link_offset(linktype, data)
            if off is None or off < 0:
                return None, -1
            return data, off
        ip_packets, _ = _scapy_to_ip(linktype, [(0, data)])
        return (ip_packets[0][1], 0) if ip_packets else (None, -1)

    def close(self) -> None:
        self._closed = True


def _open(address: Address, config: Mapping[str, Any], ctx: Context) -> ExportCaptureSource:
    return ExportCaptureSource(address, config, ctx)


@hookimpl
def flowcep_register_inputs() -> list[InputSpec]:
    return [
        InputSpec(
            name="pcap+export",
            summary="NetFlow/IPFIX export datagrams inside a pcap/pcapng (as Wireshark's cflow decodes them)",
            schemes=("pcap+export",),
            reads_file=True,
            open=_open,
            config_schema=SCHEMA,
            defaults=dict(DEFAULTS),
        )
    ]
