"""Reading pcap and pcapng capture files: raw frames with millisecond times, in chunks.

The flow meter parses headers itself, so a reader only has to cut records out of the file.
scapy's ``RawPcapReader`` does that with two ``read`` calls and a named tuple per packet,
which was more than half of the ``pcap:`` input's time; here the file is read in 1 MiB
blocks and each record is one ``struct.unpack_from`` and one slice. Formats:

* classic pcap (libpcap, ``pcap-savefile(5)``; draft-ietf-opsawg-pcap): either byte order,
  microsecond or nanosecond magic; the link type is the low 16 bits of the header's
  LinkType field (the upper bits carry FCS information);
* pcapng (draft-ietf-opsawg-pcapng): Section Header (byte order per section), Interface
  Description (link type, ``if_tsresol``, ``if_tsoffset``), Enhanced, Simple and the obsolete
  Packet blocks; other blocks are skipped. A Simple Packet Block has no time stamp: it takes
  the time of the packet before it, so the meter's clock does not jump. A time stamp outside
  classic pcap's range (before 1970, after 2106: an extreme ``if_tsoffset`` or resolution) is
  read as the nearest bound, for the event-time clock to judge, and never ends the file;
* either one gzip-compressed (as tcpdump ``-w - | gzip`` writes), read through :mod:`gzip`.

:func:`read_blocks` gives the same packets as :class:`Block` columns (the buffer, frame
offsets, lengths and times as numpy arrays) for the flow meter's vectorised path: a classic pcap
is then cut with one ``struct`` call per record and nothing is sliced or copied per packet.

Damage ends the input at the last whole record with :class:`CaptureError` naming the file,
the number of good packets and the byte offset (of the uncompressed stream) where reading
stopped; every packet before it has been yielded. Nothing is skipped silently: trailing
bytes too short for a record and a cut pcapng block are errors too.
"""

from __future__ import annotations

import gzip
import struct
from collections.abc import Iterator
from typing import IO, cast

import numpy as np
import numpy.typing as npt

__all__ = ["Block", "CaptureError", "read_blocks", "read_frames", "PCAP_MAGICS", "PCAPNG_MAGIC",
           "MAX_RECORD"]

PCAP_MAGICS = (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"
MAX_RECORD = 262_144  # libpcap's largest snap length; a bigger record length means corruption
MAX_BLOCK = 16 * 1024 * 1024  # a pcapng block claiming more than this is corrupt
BLOCK_READ = 1 << 20
MAX_READ = 64 << 20  # the most read at once to finish a chunk of large frames
READ_AHEAD = 3  # chunks read ahead of the one being cut (see _pcap)
#: the latest time a capture can state, in ms: classic pcap's unsigned 32-bit seconds (2106).
#: A pcapng time beyond it, or before 1970, is read as that bound: the event-time clock then
#: judges the packet's flow ('future'/'too-old') instead of one packet ending the whole file.
MAX_TIME_MS = (1 << 32) * 1000 - 1
#: pcapng blocks' smallest lengths: the block header and trailer plus their fixed fields; a
#: shorter block would have its fields read from the next block (or past the file's end)
MIN_BLOCK = {0x0A0D0D0A: 28, 1: 20, 2: 32, 3: 16, 6: 32}

Frames = list[tuple[int, bytes]]


class Block:
    """Packets as columns over one buffer: frame ``i`` is ``buf[starts[i]:starts[i] + lengths[i]]``,
    captured at ``times[i]`` (milliseconds). Columns let the flow meter parse a whole block's
    headers with numpy instead of a Python loop per packet. A block made from frames joins them
    into one buffer only when the buffer is asked for (the meter may take the frames as they are)."""

    __slots__ = ("_buf", "_starts", "_lengths", "times", "_frames")

    def __init__(self, buf: bytes, starts: npt.NDArray[np.int64], lengths: npt.NDArray[np.int64],
                 times: npt.NDArray[np.int64]) -> None:
        self._buf: bytes | None = buf
        self._starts: npt.NDArray[np.int64] | None = starts
        self._lengths: npt.NDArray[np.int64] | None = lengths
        self.times = times
        self._frames: Frames | None = None

    def __len__(self) -> int:
        return len(self.times)

    @classmethod
    def from_frames(cls, frames: Frames) -> Block:
        """A block holding ``(timestamp_ms, frame)`` items (pcapng, live capture, tests)."""
        block = cls(b"", np.zeros(0, np.int64), np.zeros(0, np.int64),
                    np.fromiter((t for t, _ in frames), np.int64, len(frames)))
        block._buf = block._starts = block._lengths = None
        block._frames = frames
        return block

    def _join(self) -> None:
        frames = self._frames or []
        lengths = np.fromiter((len(f) for _, f in frames), np.int64, len(frames))
        starts = np.zeros(len(frames), np.int64)
        if len(frames) > 1:
            np.cumsum(lengths[:-1], out=starts[1:])
        self._buf = b"".join(f for _, f in frames)
        self._starts = starts
        self._lengths = lengths

    @property
    def buf(self) -> bytes:
        if self._buf is None:
            self._join()
        assert self._buf is not None
        return self._buf

    @property
    def starts(self) -> npt.NDArray[np.int64]:
        if self._starts is None:
            self._join()
        assert self._starts is not None
        return self._starts

    @property
    def lengths(self) -> npt.NDArray[np.int64]:
        if self._lengths is None:
            self._join()
        assert self._lengths is not None
        return self._lengths

    def frames(self) -> Frames:
        """The packets as ``(timestamp_ms, frame)`` items (what the per-packet path takes)."""
        if self._frames is not None:
            return self._frames
        buf = self.buf
        return [(t, buf[s:s + n]) for t, s, n in
                zip(self.times.tolist(), self.starts.tolist(), self.lengths.tolist(), strict=True)]


class CaptureError(Exception):
    """A capture file is corrupt past some point; the message names the file and position."""


class _Stream:
    """A byte buffer over a file read in large blocks; ``base`` is the file offset of buf[0]."""

    def __init__(self, fh: IO[bytes]) -> None:
        self.fh = fh
        self.buf = b""
        self.base = 0
        self.eof = False

    def fill(self, pos: int, need: int) -> int:
        """Keep buf[pos:] and read until ``need`` bytes follow it (or EOF); return the new pos."""
        keep = self.buf[pos:]
        self.base += pos
        parts = [keep]
        have = len(keep)
        while have < need and not self.eof:
            data = self.fh.read(max(BLOCK_READ, need - have))
            if not data:
                self.eof = True
                break
            parts.append(data)
            have += len(data)
        self.buf = b"".join(parts)
        return 0


def _open(path: str, fh: IO[bytes] | None) -> tuple[IO[bytes], bool]:
    """The stream to read and whether this function opened it (and must close it)."""
    if fh is None:
        raw = open(path, "rb")  # noqa: SIM115  (closed by read_frames)
        head = raw.read(2)
        raw.seek(0)
        if head == b"\x1f\x8b":
            return cast(IO[bytes], gzip.GzipFile(fileobj=raw)), True  # reads like a file
        return raw, True
    return fh, False


def read_frames(path: str, fh: IO[bytes] | None = None,
                chunk: int = 8192) -> Iterator[tuple[int, Frames]]:
    """Yield ``(linktype, [(timestamp_ms, frame), ...])``, up to ``chunk`` frames at a time; a
    chunk ends early where the link type changes (pcapng files with several interfaces).

    ``fh`` is an already open stream (a pipe); otherwise ``path`` is opened (gzip allowed).
    Raises :class:`CaptureError` after the last good frame when the file is damaged.
    """
    stream, owned = _open(path, fh)
    try:
        st = _Stream(stream)
        st.fill(0, 4)
        magic = st.buf[:4]
        if magic in PCAP_MAGICS:
            yield from _pcap_frames(path, st, chunk)
        elif magic == PCAPNG_MAGIC:
            yield from _pcapng(path, st, chunk)
        else:
            what = magic.hex() or "nothing"
            raise CaptureError(f"{path}: not a readable pcap/pcapng capture (starts with {what})")
    except (OSError, EOFError, gzip.BadGzipFile) as e:  # an unreadable or cut gzip stream
        raise CaptureError(f"{path}: capture could not be read further ({e}); input ended there") from None
    finally:
        if owned:
            stream.close()


def _damaged(path: str, number: int, offset: int, problem: str) -> CaptureError:
    return CaptureError(f"{path}: corrupt capture after packet {number} near byte {offset}: {problem}; "
                        f"input ended there")


def read_blocks(path: str, fh: IO[bytes] | None = None, chunk: int = 8192) -> Iterator[tuple[int, Block]]:
    """Like :func:`read_frames`, with each chunk as a :class:`Block` (the same packets, the same
    chunk boundaries). Classic pcap is cut without a slice per packet; pcapng goes through
    :func:`read_frames` (its blocks vary more and are rarer in bulk)."""
    stream, owned = _open(path, fh)
    try:
        st = _Stream(stream)
        st.fill(0, 4)
        magic = st.buf[:4]
        if magic in PCAP_MAGICS:
            yield from _pcap(path, st, chunk)
        elif magic == PCAPNG_MAGIC:
            for linktype, frames in _pcapng(path, st, chunk):
                yield linktype, Block.from_frames(frames)
        else:
            what = magic.hex() or "nothing"
            raise CaptureError(f"{path}: not a readable pcap/pcapng capture (starts with {what})")
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise CaptureError(f"{path}: capture could not be read further ({e}); input ended there") from None
    finally:
        if owned:
            stream.close()


def _pcap_frames(path: str, st: _Stream, chunk: int) -> Iterator[tuple[int, Frames]]:
    for linktype, block in _pcap(path, st, chunk):
        yield linktype, block.frames()


def _pcap_block(buf: bytes, starts: list[int], dtype: np.dtype[np.uint32], div: int) -> Block:
    """Columns for records whose headers begin at ``starts``: one gather of all 16-byte headers."""
    at = np.array(starts, np.int64)
    heads = np.frombuffer(buf, np.uint8)[at[:, None] + np.arange(16)].view(dtype)
    times = heads[:, 0].astype(np.int64) * 1000 + heads[:, 1].astype(np.int64) // div
    return Block(buf, at + 16, heads[:, 2].astype(np.int64), times)


def _pcap(path: str, st: _Stream, chunk: int) -> Iterator[tuple[int, Block]]:
    pos = st.fill(0, 24)
    buf = st.buf
    if len(buf) < 24:
        raise CaptureError(f"{path}: not a readable pcap/pcapng capture (header cut short)")
    magic = buf[:4]
    endian = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    nano = magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
    snaplen, network = struct.unpack_from(endian + "II", buf, 16)
    linktype = network & 0xFFFF
    snap = max(snaplen, MAX_RECORD)
    div = 1_000_000 if nano else 1000  # sub-second units per millisecond
    dtype = np.dtype(endian + "u4")
    caplen_of = struct.Struct(endian + "I").unpack_from
    pos = 24
    done = 0  # frames yielded
    # record header offsets of the chunk being cut; they point into ``buf``, so when more of
    # the file is read the buffer keeps every byte from the chunk's first record on
    starts: list[int] = []
    append = starts.append
    while True:
        n = len(buf)
        limit = n - 16
        while True:
            # the hot loop: one C call and an append per record; a record running past the
            # buffer is taken back below (only the last one can)
            for _ in range(chunk - len(starts)):
                if pos > limit:
                    break
                caplen = caplen_of(buf, pos + 8)[0]
                if caplen > snap:
                    break
                append(pos)
                pos += 16 + caplen
            if pos > n:
                pos = starts.pop()
            elif pos <= limit and caplen_of(buf, pos + 8)[0] > snap:
                number = done + len(starts)
                if starts:
                    yield linktype, _pcap_block(buf, starts, dtype, div)
                caplen = caplen_of(buf, pos + 8)[0]
                raise _damaged(path, number, st.base + pos, f"record header claims {caplen} bytes")
            if len(starts) < chunk:
                break
            done += len(starts)
            yield linktype, _pcap_block(buf, starts, dtype, div)
            starts = []
            append = starts.append
        if st.eof:
            break
        need = 16 if n - pos < 16 else 16 + caplen_of(buf, pos + 8)[0]
        keep = starts[0] if starts else pos
        kept = pos - keep
        # read what the rest of the chunk and READ_AHEAD more chunks should take at the mean
        # record size so far, and at least READ_AHEAD times what is kept: what is kept is
        # copied again, so this bounds the copies of a byte near 1 + 1 / READ_AHEAD
        mean = (st.base + pos - 24) // max(1, done + len(starts))
        ahead = (chunk * (READ_AHEAD + 1) - len(starts)) * mean
        st.fill(keep, kept + max(need, kept, min(MAX_READ, max(ahead, kept * READ_AHEAD))))
        buf = st.buf
        if keep:
            starts = [s - keep for s in starts]
            append = starts.append
        pos = kept
    number = done + len(starts)
    if starts:
        yield linktype, _pcap_block(buf, starts, dtype, div)
    left = len(buf) - pos
    if left:
        if left >= 16:
            caplen = caplen_of(buf, pos + 8)[0]
            problem = f"packet {number + 1} cut short ({left - 16} of {caplen} bytes)"
        else:
            problem = f"{left} trailing bytes could not be read"
        raise _damaged(path, number, st.base + pos, problem)


def _pcapng(path: str, st: _Stream, chunk: int) -> Iterator[tuple[int, Frames]]:
    pos = 0
    number = 0
    endian = "<"
    u32 = struct.Struct("<I").unpack_from
    epb = struct.Struct("<5I").unpack_from
    # interfaces of the current section: (linktype, snaplen, units per second, offset in s)
    ifaces: list[tuple[int, int, int, int]] = []
    out: Frames = []
    current = -1
    last_ms = 0
    buf = st.buf
    while True:
        n = len(buf)
        if n - pos < 12:
            if st.eof:
                break
            pos = st.fill(pos, 12)
            buf = st.buf
            continue
        btype = u32(buf, pos)[0]
        if btype == 0x0A0D0D0A:  # section header: its byte-order magic sets the endianness
            bom = buf[pos + 8:pos + 12]
            if bom == b"\x4d\x3c\x2b\x1a":
                endian = "<"
            elif bom == b"\x1a\x2b\x3c\x4d":
                endian = ">"
            else:
                if out:
                    yield current, out
                raise _damaged(path, number, st.base + pos, "bad section header byte-order magic")
            u32 = struct.Struct(endian + "I").unpack_from
            epb = struct.Struct(endian + "5I").unpack_from
            ifaces = []
        length = u32(buf, pos + 4)[0]
        if length < MIN_BLOCK.get(btype, 12) or length % 4 or length > MAX_BLOCK:
            if out:
                yield current, out
            raise _damaged(path, number, st.base + pos, f"block of type {btype:#x} claims {length} bytes")
        if n - pos < length:
            if st.eof:
                break
            pos = st.fill(pos, length)
            buf = st.buf
            continue
        if u32(buf, pos + length - 4)[0] != length:
            if out:
                yield current, out
            raise _damaged(path, number, st.base + pos, f"block of type {btype:#x} has mismatched lengths")
        body = pos + 8
        frame: bytes | None = None
        iface = 0
        ticks = -1
        if btype == 6 or btype == 2:  # enhanced packet block; the obsolete one it replaced
            if btype == 6:
                iface, high, low, caplen, _wire = epb(buf, body)
            else:
                iface = struct.unpack_from(endian + "H", buf, body)[0]
                high, low, caplen = struct.unpack_from(endian + "3I", buf, body + 4)
            if body + 20 + caplen > pos + length - 4:
                if out:
                    yield current, out
                raise _damaged(path, number, st.base + pos, f"packet block claims {caplen} bytes")
            frame = buf[body + 20:body + 20 + caplen]
            ticks = (high << 32) | low
        elif btype == 3:  # simple packet block: interface 0, no time stamp
            wire = u32(buf, body)[0]
            caplen = min(wire, ifaces[0][1] or wire) if ifaces else wire
            caplen = min(caplen, length - 16)
            frame = buf[body + 4:body + 4 + caplen]
        elif btype == 1:  # interface description
            try:
                ifaces.append(_interface(buf, body, pos + length - 4, endian))
            except ValueError as e:
                if out:
                    yield current, out
                raise _damaged(path, number, st.base + pos, str(e)) from None
        pos += length
        if frame is None:
            continue
        if iface >= len(ifaces):
            if out:
                yield current, out
            raise _damaged(path, number, st.base + pos - length,
                           f"packet on interface {iface}, which the file never described")
        linktype, _snap, per_second, offset_s = ifaces[iface]
        if ticks >= 0:
            last_ms = min(max(ticks * 1000 // per_second + offset_s * 1000, 0), MAX_TIME_MS)
        number += 1
        if linktype != current:
            if out:
                yield current, out
                out = []
            current = linktype
        out.append((last_ms, frame))
        if len(out) >= chunk:
            yield current, out
            out = []
    if out:
        yield current, out
    if len(buf) - pos:
        raise _damaged(path, number, st.base + pos, "the last block is cut short")


def _interface(buf: bytes, body: int, end: int, endian: str) -> tuple[int, int, int, int]:
    """(linktype, snaplen, time units per second, time offset in seconds) of an IDB."""
    linktype, snaplen = struct.unpack_from(endian + "HxxI", buf, body)
    per_second = 1_000_000
    offset_s = 0
    opt = body + 8
    head = struct.Struct(endian + "HH").unpack_from
    while opt + 4 <= end:
        code, size = head(buf, opt)
        if code == 0:
            break
        if opt + 4 + size > end:
            raise ValueError(f"interface option {code} claims {size} bytes, past the end of its block")
        value = buf[opt + 4:opt + 4 + size]
        if code == 9 and size == 1:  # if_tsresol: 10^-n, or 2^-n with the top bit set
            per_second = (2 if value[0] & 0x80 else 10) ** (value[0] & 0x7F)
        elif code == 14 and size == 8:  # if_tsoffset: seconds added to every time stamp
            offset_s = struct.unpack(endian + "q", value)[0]
        opt += 4 + size + (-size % 4)
    return linktype, snaplen, per_second or 1_000_000, offset_s
