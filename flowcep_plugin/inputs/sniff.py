"""What a file looks like from its first bytes, so a wrong scheme is refused at open.

A pcap read as ``ipfix-file:`` or IPFIX read as ``json:`` used to "succeed": every byte counted
as garbage or every line as malformed, and exit 0. Each file input names the format it expects;
when the first bytes say otherwise the input refuses with one line naming what the file looks
like and which scheme reads it. Gzip is looked through (JSON lines and captures may be gzipped).
"""

from __future__ import annotations

import zlib

from ..errors import InputError

__all__ = ["looks_like", "require_format", "HINTS"]

_PCAP_MAGICS = (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
_PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"

#: kind -> how FlowCEP reads it (the end of the error message).
HINTS = {
    "pcap": "a pcap capture: use pcap:PATH (packets) or pcap+export:PATH (NetFlow/IPFIX export inside)",
    "pcapng": "a pcapng capture: use pcap:PATH (packets) or pcap+export:PATH (NetFlow/IPFIX export inside)",
    "ipfix": "an IPFIX file (RFC 5655): use ipfix-file:PATH",
    "netflow-v9": "a NetFlow v9 export packet: send it to netflow+udp://, or capture it and use pcap+export:PATH",
    "netflow-v5": "a NetFlow v5 export packet: send it to netflow+udp://, or capture it and use pcap+export:PATH",
    "json": "JSON: use json:PATH",
    "binary": "binary data, not text",
}


def _gunzip_head(head: bytes) -> bytes | None:
    try:
        return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head, 256)
    except zlib.error:
        return None


def looks_like(head: bytes) -> str | None:
    """The format the first bytes announce (a key of :data:`HINTS`, with ``gzip+`` when
    compressed), or None when they are empty or say nothing definite."""
    if head[:2] == b"\x1f\x8b":
        inner = _gunzip_head(head)
        kind = looks_like(inner) if inner else None
        return f"gzip+{kind}" if kind else None
    if head[:4] in _PCAP_MAGICS:
        return "pcap"
    if head[:4] == _PCAPNG_MAGIC:
        return "pcapng"
    if len(head) >= 4:
        version, second = (head[0] << 8) | head[1], (head[2] << 8) | head[3]
        if version == 10 and second >= 16:  # second = message length
            return "ipfix"
        if version == 9 and 0 < second <= 1024 and len(head) >= 24:  # second = record count
            return "netflow-v9"
        if version == 5 and 0 < second <= 30:
            return "netflow-v5"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text[:1] in (b"{", b"["):
        return "json"
    if b"\x00" in head[:512]:
        return "binary"
    return None


def require_format(path: str, source: str, expected: tuple[str, ...], *, strict: bool = False) -> None:
    """Refuse a file whose first bytes announce a format other than ``expected``.

    ``expected`` holds :func:`looks_like` kinds (``gzip+json`` where the input reads gzip).
    ``strict`` also refuses a file that announces nothing definite (not empty): for binary
    formats with a magic number, anything else is not that format.
    """
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
    except OSError as exc:
        raise InputError(f"input {source!r}: cannot read: {exc.strerror}") from None
    if not head:
        return
    kind = looks_like(head)
    if kind in expected or (kind is None and not strict):
        return
    if "ipfix" in expected and head[:2] == b"\x00\x0a":
        return  # IPFIX whose first header is damaged: the reader counts it and resynchronises
    base = kind.removeprefix("gzip+") if kind else None
    if base == "binary" and "json" not in expected:
        base = None  # "binary data, not text" says nothing to an input that reads binary
    if base is None:
        want = " or ".join(k for k in expected if "+" not in k)
        raise InputError(f"input {source!r}: does not look like {want} (first bytes {head[:8].hex()}); "
                         "check the file or the scheme")
    zipped = "gzip-compressed " if kind and kind.startswith("gzip+") else ""
    raise InputError(f"input {source!r}: looks like {zipped}{HINTS[base]}")
