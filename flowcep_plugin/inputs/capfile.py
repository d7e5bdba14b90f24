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

Damage is judged by whether the file's framing survives it:

* framing broken (a pcapng block whose total length is impossible or differs from the copy at
  its end, a section header whose byte-order magic is unknown, a classic pcap record header
  claiming more than ``max(snaplen, 262144)`` bytes, a file cut inside a record or block) ends
  the input at the last whole record with :class:`CaptureError` naming the file, the number of
  good packets and the byte offset (of the uncompressed stream) where reading stopped; every
  packet before it has been yielded. A classic pcap record header is the file's only framing:
  with no length repeated after the record, a lying caplen leaves no trustworthy place to read
  the next record from, and guessing one (scanning for a plausible header) would read packet
  bytes as packets; libpcap and Wireshark stop there too;
* framing intact (a pcapng block whose two total lengths agree) but the block lies about
  itself: a packet block whose captured length runs past the block or that is shorter than its
  fixed fields (reason ``malformed-packet``), a packet on an interface no Interface
  Description Block described, a Simple Packet Block before any, or a packet on an interface
  whose description was damaged (reason ``unknown-interface``). That block is skipped and
  counted in :class:`Skipped` (by reason, the first :data:`LOG_FIRST_SKIPPED` logged with
  file and byte offset) and the file is read on: one hostile packet does not end detection
  for the rest of the capture. A damaged Interface Description Block (shorter than its fields,
  an option running past it) keeps its place in the section's interface numbering, so the
  other interfaces' packets are still read; its own packets are skipped as above, since their
  link type and time resolution cannot be trusted.

Nothing is skipped silently: trailing bytes too short for a record and a cut pcapng block are
errors too.
"""

from __future__ import annotations

import gzip
import logging
import struct
from collections.abc import Callable, Iterator
from typing import IO, cast

import numpy as np
import numpy.typing as npt

__all__ = ["Block", "CaptureError", "Skipped", "read_blocks", "read_frames", "PCAP_MAGICS", "PCAPNG_MAGIC",
           "MAX_RECORD", "LOG_FIRST_SKIPPED"]

log = logging.getLogger("flowcep.inputs.capfile")

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
#: shorter block would have its fields read from the next block (or past the file's end). A
#: section header shorter than this ends the file (its byte order cannot be known); a shorter
#: packet or interface block whose lengths agree is skipped (see the module docstring)
MIN_BLOCK = {0x0A0D0D0A: 28, 1: 20, 2: 32, 3: 16, 6: 32}

Frames = list[tuple[int, bytes]]
#: skipped blocks logged one by one per file; later ones are only counted
LOG_FIRST_SKIPPED = 10
#: drop reasons of :class:`Skipped` (``input.drops`` in the run's statistics)
MALFORMED_PACKET = "malformed-packet"
UNKNOWN_INTERFACE = "unknown-interface"


class Skipped:
    """pcapng blocks a reader passed over because they lied about themselves while the file's
    framing held. A reader notes each one here instead of ending the file; the input takes the
    new counts after every chunk (:meth:`take`) and adds them to its drops, so a skipped packet
    is counted like any other lost record. The first ``log_first`` are logged (warning) with the
    file and byte offset, so a flood of hostile blocks costs bounded log lines."""

    __slots__ = ("path", "logger", "log_first", "logged", "counts", "_new")

    def __init__(self, path: str, logger: logging.Logger | None = None,
                 log_first: int = LOG_FIRST_SKIPPED) -> None:
        self.path = path
        self.logger = logger or log
        self.log_first = log_first
        self.logged = 0
        self.counts: dict[str, int] = {}  # every skip so far, by reason
        self._new: dict[str, int] = {}  # since the last take()

    def note(self, reason: str | None, offset: int, after: int, problem: str) -> None:
        """One skipped block at byte ``offset`` after ``after`` good packets; a ``reason`` of
        None logs without counting (a damaged interface description is not a packet)."""
        if reason is not None:
            self.counts[reason] = self.counts.get(reason, 0) + 1
            self._new[reason] = self._new.get(reason, 0) + 1
        if self.logged < self.log_first:
            self.logged += 1
            more = "" if self.logged < self.log_first else " (later ones are only counted)"
            self.logger.warning("%s: skipped a block after packet %d at byte %d: %s; reading on%s",
                                self.path, after, offset, problem, more)

    def take(self) -> dict[str, int]:
        """Skips by reason since the last call."""
        new, self._new = self._new, {}
        return new


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


def read_frames(path: str, fh: IO[bytes] | None = None, chunk: int = 8192,
                skipped: Skipped | None = None) -> Iterator[tuple[int, Frames]]:
    """Yield ``(linktype, [(timestamp_ms, frame), ...])``, up to ``chunk`` frames at a time; a
    chunk ends early where the link type changes (pcapng files with several interfaces).

    ``fh`` is an already open stream (a pipe); otherwise ``path`` is opened (gzip allowed).
    Raises :class:`CaptureError` after the last good frame when the file's framing is
    damaged; packet blocks that lie inside intact framing are skipped and noted in ``skipped``
    (a fresh :class:`Skipped` logging to this module's logger when None).
    """
    stream, owned = _open(path, fh)
    try:
        st = _Stream(stream)
        st.fill(0, 4)
        magic = st.buf[:4]
        if magic in PCAP_MAGICS:
            yield from _pcap_frames(path, st, chunk)
        elif magic == PCAPNG_MAGIC:
            yield from _pcapng(path, st, chunk, skipped or Skipped(path))
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


def read_blocks(path: str, fh: IO[bytes] | None = None, chunk: int = 8192,
                skipped: Skipped | None = None) -> Iterator[tuple[int, Block]]:
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
            for linktype, frames in _pcapng(path, st, chunk, skipped or Skipped(path)):
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


def _pcap_heads(buf: bytes, starts: list[int],
                dtype: np.dtype[np.uint32]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint32]]:
    """Offsets and 16-byte record headers (seconds, sub-seconds, caplen, wire length) of the
    records at ``starts``: one gather of rows from a view whose row ``i`` is the four words at
    byte ``i`` (stride 1), which copies 16 bytes a record without building an index per byte."""
    at = np.array(starts, np.int64)
    rows = np.ndarray((len(buf) - 15, 4), dtype, buf, 0, (1, 4))
    return at, rows[at]


def _lying(heads: npt.NDArray[np.uint32], snap: int) -> int:
    """The index of the first record whose header claims more than ``snap`` bytes, or -1. The
    hot loop does not compare each caplen (a fifth of its time): a lying one only sends it far
    ahead, and is found here, on the headers gathered anyway, before any record is yielded."""
    over = heads[:, 2] > snap
    return int(over.argmax()) if over.any() else -1


def _pcap_block(buf: bytes, at: npt.NDArray[np.int64], heads: npt.NDArray[np.uint32], div: int) -> Block:
    """Columns for records whose headers (``heads``) begin at ``at``."""
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
    caplen_of = struct.Struct(endian + "8xI").unpack_from  # a record's caplen, from its start
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
            # buffer is taken back below (only the last one can), a lying caplen is found by
            # _lying before anything is yielded
            for _ in range(chunk - len(starts)):
                if pos > limit:
                    break
                append(pos)
                pos += 16 + caplen_of(buf, pos)[0]
            if pos > n:
                pos = starts.pop()
            if len(starts) < chunk:
                break
            at, heads = _pcap_heads(buf, starts, dtype)
            bad = _lying(heads, snap)
            if bad >= 0:
                yield from _lie(path, buf, linktype, starts, at, heads, div, bad, done, st.base, caplen_of)
            done += len(starts)
            yield linktype, _pcap_block(buf, at, heads, div)
            starts = []
            append = starts.append
        # before reading on: the records cut so far and the one at pos must not lie (a lying
        # caplen would have more than 4 GiB read for it)
        if starts:
            at, heads = _pcap_heads(buf, starts, dtype)
            bad = _lying(heads, snap)
            if bad >= 0:
                yield from _lie(path, buf, linktype, starts, at, heads, div, bad, done, st.base, caplen_of)
        if n - pos >= 16 and caplen_of(buf, pos)[0] > snap:
            if starts:
                yield linktype, _pcap_block(buf, at, heads, div)
            raise _damaged(path, done + len(starts), st.base + pos,
                           f"record header claims {caplen_of(buf, pos)[0]} bytes")
        if st.eof:
            break
        need = 16 if n - pos < 16 else 16 + caplen_of(buf, pos)[0]
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
        at, heads = _pcap_heads(buf, starts, dtype)
        yield linktype, _pcap_block(buf, at, heads, div)
    left = len(buf) - pos
    if left:
        if left >= 16:
            caplen = caplen_of(buf, pos)[0]
            problem = f"packet {number + 1} cut short ({left - 16} of {caplen} bytes)"
        else:
            problem = f"{left} trailing bytes could not be read"
        raise _damaged(path, number, st.base + pos, problem)


def _lie(path: str, buf: bytes, linktype: int, starts: list[int], at: npt.NDArray[np.int64],
         heads: npt.NDArray[np.uint32], div: int, bad: int, done: int, base: int,
         caplen_of: Callable[[bytes, int], tuple[int, ...]]) -> Iterator[tuple[int, Block]]:
    """Yield the records before the lying one at ``starts[bad]``, then end the file there: a
    classic record header is the file's only framing (see the module docstring)."""
    if bad:
        yield linktype, _pcap_block(buf, at[:bad], heads[:bad], div)
    raise _damaged(path, done + bad, base + starts[bad],
                   f"record header claims {caplen_of(buf, starts[bad])[0]} bytes")


def _pcapng(path: str, st: _Stream, chunk: int, skipped: Skipped) -> Iterator[tuple[int, Frames]]:
    pos = 0
    number = 0
    endian = "<"
    u32 = struct.Struct("<I").unpack_from
    head = struct.Struct("<II").unpack_from  # block type and total length
    epb = struct.Struct("<5I").unpack_from
    epb_head = struct.Struct("<6I").unpack_from  # an EPB's type, length, interface, time, caplen
    # interfaces of the current section: (linktype, snaplen, units per second, offset in s), or
    # None for a damaged description (it keeps its number; its packets are skipped)
    ifaces: list[tuple[int, int, int, int] | None] = []
    out: Frames = []
    current = -1
    last_ms = 0
    buf = st.buf
    while True:
        n = len(buf)
        # the common case first: enhanced packet blocks whole in the buffer, honest about their
        # length and caplen, on a described interface, read with two struct calls each. Any
        # other block, or one that fails a check, leaves this loop for the general path below,
        # which reads it again and decides (skip, end, or read) as for every block.
        described_count = len(ifaces)
        while n - pos >= 32:
            btype, length, iface, high, low, caplen = epb_head(buf, pos)
            if (btype != 6 or length > n - pos or length < 32 or length & 3 or length > MAX_BLOCK
                    or 28 + caplen > length - 4
                    or iface >= described_count or u32(buf, pos + length - 4)[0] != length):
                break
            described = ifaces[iface]
            if described is None:
                break
            linktype, _snap, per_second, offset_s = described
            ms = ((high << 32) | low) * 1000 // per_second + offset_s * 1000
            last_ms = ms if 0 <= ms <= MAX_TIME_MS else 0 if ms < 0 else MAX_TIME_MS
            number += 1
            if linktype != current:
                if out:
                    yield current, out
                    out = []
                current = linktype
            out.append((last_ms, buf[pos + 28:pos + 28 + caplen]))
            pos += length
            if len(out) >= chunk:
                yield current, out
                out = []
        if n - pos < 12:
            if st.eof:
                break
            pos = st.fill(pos, 12)
            buf = st.buf
            continue
        btype, length = head(buf, pos)
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
            head = struct.Struct(endian + "II").unpack_from
            epb = struct.Struct(endian + "5I").unpack_from
            epb_head = struct.Struct(endian + "6I").unpack_from
            ifaces = []
            length = u32(buf, pos + 4)[0]  # in the section's own byte order
        # framing: a length that cannot be, or differs from its copy at the block's end, leaves
        # no trustworthy start for the next block, so it ends the file
        if length < 12 or length % 4 or length > MAX_BLOCK or (btype == 0x0A0D0D0A and length < 28):
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
        start = pos
        pos += length
        # from here the block is whole and the next one starts at pos: a block lying about its
        # contents is skipped and counted, never the end of the file
        if btype != 6 and btype != 3 and btype != 2:
            if btype == 1:  # interface description
                try:
                    if length < MIN_BLOCK[1]:
                        raise ValueError(f"interface description of {length} bytes, shorter than its fields")
                    ifaces.append(_interface(buf, start + 8, pos - 4, endian))
                except ValueError as e:
                    skipped.note(None, st.base + start, number,
                                 f"interface {len(ifaces)} unreadable ({e}); its packets are skipped")
                    ifaces.append(None)
            continue
        body = start + 8
        if length < MIN_BLOCK[btype]:
            skipped.note(MALFORMED_PACKET, st.base + start, number,
                         f"packet block of type {btype:#x} claims {length} bytes, shorter than its fields")
            continue
        iface = 0
        ticks = -1
        if btype == 3:  # simple packet block: interface 0, no time stamp
            wire = u32(buf, body)[0]
            first = ifaces[0] if ifaces else None
            caplen = min(wire, first[1] or wire) if first else wire
            caplen = min(caplen, length - 16)
            data = body + 4
        else:  # enhanced packet block; the obsolete one it replaced
            if btype == 6:
                iface, high, low, caplen, _wire = epb(buf, body)
            else:
                iface = struct.unpack_from(endian + "H", buf, body)[0]
                high, low, caplen = struct.unpack_from(endian + "3I", buf, body + 4)
            data = body + 20
            if data + caplen > pos - 4:
                skipped.note(MALFORMED_PACKET, st.base + start, number,
                             f"packet block claims {caplen} bytes, past its own end")
                continue
            ticks = (high << 32) | low
        described = ifaces[iface] if iface < len(ifaces) else None
        if described is None:
            why = ("whose description was damaged" if iface < len(ifaces)
                   else "which the file never described")
            skipped.note(UNKNOWN_INTERFACE, st.base + start, number, f"packet on interface {iface}, {why}")
            continue
        linktype, _snap, per_second, offset_s = described
        if ticks >= 0:
            ms = ticks * 1000 // per_second + offset_s * 1000
            last_ms = ms if 0 <= ms <= MAX_TIME_MS else 0 if ms < 0 else MAX_TIME_MS
        number += 1
        if linktype != current:
            if out:
                yield current, out
                out = []
            current = linktype
        out.append((last_ms, buf[data:data + caplen]))
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
