"""Traffic statistics as metric events: categories, directions and top talkers per interval.

NetViewer's statistics views, as documents Kibana can chart: every interval (default 5 min)
one ``trafficstats-categories`` document (flows, packets and bytes by service category - web,
mail, DNS, FTP, ... - and by direction - internal, inbound, outbound, external - against the
configured internal networks) and one ``trafficstats-top-talkers`` document (the top N source
addresses by bytes and by packets). They are ``event.kind: metric``: statistics, never alerts,
so the suppressor and Elastic Security leave them alone.

A flow's category is the first category whose ports contain its destination port, else its
source port (the answer of a bi-directional exchange), else ``other``.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Mapping
from ipaddress import ip_address, ip_network
from itertools import compress
from typing import Any

import numpy as np

from flowcep_plugin.api import (
    DURATION_SCHEMA,
    BoundedMemo,
    ConfigError,
    Context,
    DetectorSpec,
    Event,
    FlowBatch,
    RuleSpec,
    TumblingWindows,
    address_column,
    hookimpl,
    int_column,
    make_metric,
    ms_from_iso,
    parse_duration,
)

__all__ = ["SPEC", "TrafficStats", "flowcep_register_detectors"]

RULES = (
    RuleSpec(id="trafficstats-categories", name="Traffic by category",
             description="Flows, packets and bytes by service category and direction in one interval.",
             kind="metric"),
    RuleSpec(id="trafficstats-top-talkers", name="Top talkers",
             description="Source addresses sending the most bytes and packets in one interval.",
             kind="metric"),
)

CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "interval": {**DURATION_SCHEMA, "description": "statistics interval (5 min)"},
        "top_n": {"type": "integer", "minimum": 1, "maximum": 1000, "description": "talkers listed (10)"},
        "internal_networks": {"type": "array", "items": {"type": "string"},
                              "description": "CIDRs counted as internal (RFC 1918 and RFC 4193 by default)"},
        "categories": {"type": "object",
                       "additionalProperties": {"type": "array",
                                                "items": {"type": "integer", "minimum": 0, "maximum": 65535}},
                       "description": "category name -> service ports"},
    },
}

DEFAULTS: dict[str, Any] = {
    "interval": "5 min",
    "top_n": 10,
    "internal_networks": ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"],
    "categories": {
        "web": [80, 443, 8000, 8080, 8443],
        "mail": [25, 110, 143, 465, 587, 993, 995],
        "dns": [53, 853],
        "ftp": [20, 21, 989, 990],
        "ssh": [22],
        "remote-desktop": [3389, 5900],
        "file-sharing": [137, 138, 139, 445, 873, 2049],
        "ntp": [123],
    },
}


class _State:
    __slots__ = ("cat", "dirn", "talk", "total")

    def __init__(self) -> None:
        self.cat: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
        self.dirn: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
        self.talk: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
        self.total = [0, 0, 0]


#: direction per code 2 * (source internal) + (destination internal)
_DIRECTIONS = ("external", "inbound", "outbound", "internal")


def _group_sums(codes: Any, packets: Any, octets: Any) -> tuple[Any, Any, Any]:
    """Per code: flows, packet sum and byte sum (exact int64; the caller checked the range)."""
    size = int(codes.max()) + 1
    flows = np.bincount(codes, minlength=size)
    psum = np.zeros(size, np.int64)
    bsum = np.zeros(size, np.int64)
    np.add.at(psum, codes, packets)
    np.add.at(bsum, codes, octets)
    return flows, psum, bsum


def _int64(batch: FlowBatch, name: str, default: int) -> Any:
    """``int_column`` as an int64 array (read-only), made once per batch under the key the
    other detectors' ``_int64`` use, so whichever reads it first pays; ``np.array`` reads the
    list at C level, over twice as fast as ``np.fromiter`` (OverflowError when a value does
    not fit)."""
    col = int_column(batch, name, default=default)
    return batch.derived(("int64", name, default), lambda: np.array(col, dtype=np.int64), col)


def _counts(batch: FlowBatch, name: str) -> Any:
    """``int_column(batch, name)`` as an int64 array: the decoder's array converted when the
    column is still one (no list made: a counter column is read here before any other
    detector makes it), else the list through ``np.array``; OverflowError when a value does
    not fit, as ``np.array`` of the list raises it."""
    arr = batch.array(name)
    if arr is None or arr.dtype.kind not in "iu":
        return np.array(int_column(batch, name), dtype=np.int64)
    if arr.dtype == np.uint64 and len(arr) and int(arr.max()) > np.iinfo(np.int64).max:
        raise OverflowError(f"{name}: a value beyond int64")
    return arr.astype(np.int64)


def _row(v: list[int]) -> dict[str, int]:
    return {"flows": v[0], "packets": v[1], "bytes": v[2]}


class TrafficStats:
    """Counts flows/packets/bytes per category, direction and source in tumbling intervals."""

    name = "trafficstats"

    def __init__(self, config: Mapping[str, Any], ctx: Context) -> None:
        self.top_n = int(config["top_n"])
        try:
            self.internal = [ip_network(c, strict=False) for c in config["internal_networks"]]
        except ValueError as exc:
            raise ConfigError(f"detectors.trafficstats.internal_networks: {exc}") from None
        self._internal: BoundedMemo[str, bool] = BoundedMemo(stats=ctx.stats, counter="trafficstats.memo_resets")
        self.port_cat: dict[int, str] = {}
        for name, ports in config["categories"].items():
            for p in ports:
                self.port_cat.setdefault(int(p), name)
        # category codes: one per configured category, then "other"; a port -> code table
        self._cat_names: list[str] = list(dict.fromkeys(self.port_cat.values())) + ["other"]
        self._cat_code = {p: self._cat_names.index(n) for p, n in self.port_cat.items()}
        self._port_table = np.full(65536, len(self._cat_names) - 1, dtype=np.int64)
        for p, c in self._cat_code.items():
            if 0 <= p < 65536:
                self._port_table[p] = c
        self.windows = TumblingWindows(int(parse_duration(config["interval"]) * 1000), _State,
                                       self._finish, "trafficstats", ctx.stats)

    def on_batch(self, batch: FlowBatch) -> list[Event]:
        if not len(batch):
            return []
        cols = self._columns(batch)  # per batch, shared by every window in it
        return self.windows.add(batch, lambda st, idx, _s: self._acc(st, cols, idx))

    def _columns(self, batch: FlowBatch) -> tuple[Any, ...]:
        """Per record: source code, category code, direction code, packets, bytes, as arrays.

        Counting is a group-by (flows, packets and bytes per category, per direction and per
        source), so each record is reduced to small integer codes once and each window's
        sums come from ``numpy.bincount``/``add.at`` instead of a Python loop per record.
        Records without both addresses get the source code -1 and are left out. Packets and
        bytes are int64 arrays too (the decoder's own while a column is one, ``_counts``),
        with the batch's largest magnitude, unless a value does not fit (hostile input): then
        ``_acc`` reads the lists and decides per window.
        """
        src = address_column(batch, "source")
        dst = address_column(batch, "destination")
        n = batch.length
        names = list(dict.fromkeys(src))
        pos = dict(zip(names, range(len(names)), strict=True))
        scode = np.fromiter(map(pos.__getitem__, src), np.int64, n)
        # direction code: 2 * (source internal) + (destination internal); a source's answer
        # is looked up once per distinct source, then spread to its records by their codes
        dirn = self._inside(names)[scode] * 2 + self._inside(dst)
        if None in pos:
            scode[scode == pos[None]] = -1
        if None in dst:
            scode[np.fromiter((a is None for a in dst), bool, n)] = -1
        cat = self._categories(batch)
        counts: tuple[Any, Any, int] | None
        try:
            pk, by = _counts(batch, "packetDeltaCount"), _counts(batch, "octetDeltaCount")
        except OverflowError:
            counts = None
        else:
            # no abs(): -(-2**63) does not fit; the larger of max and -min is the magnitude
            top = max(int(pk.max()), int(by.max()), -int(pk.min()), -int(by.min())) if n else 0
            counts = (pk, by, top)
        return names, scode, dirn, cat, batch, counts

    def _categories(self, batch: FlowBatch) -> Any:
        """Category code per record: the destination port's, else the source port's, else
        ``other`` (the last code)."""
        dport = int_column(batch, "destinationTransportPort")
        sport = int_column(batch, "sourceTransportPort")
        table = self._port_table
        n = len(dport)
        other = len(self._cat_names) - 1
        try:
            # the ports as int64 arrays shared with bruteforce's login-port test (_int64)
            dp = _int64(batch, "destinationTransportPort", 0)
            sp = _int64(batch, "sourceTransportPort", 0)
            in_range = not n or (min(int(dp.min()), int(sp.min())) >= 0
                                 and max(int(dp.max()), int(sp.max())) < len(table))
        except OverflowError:
            in_range = False
        if in_range:
            d = table[dp]
            s_ = table[sp]
        else:  # ports out of range (hostile input): look each one up
            d = np.fromiter((self._cat_code.get(p, other) for p in dport), np.int64, n)
            s_ = np.fromiter((self._cat_code.get(p, other) for p in sport), np.int64, n)
        return np.where(d != other, d, s_)

    def on_watermark(self, watermark_ms: int) -> list[Event]:
        return self.windows.close_until(watermark_ms)

    def flush(self) -> list[Event]:
        return self.windows.flush()

    def _inside(self, addresses: list[Any]) -> Any:
        """1 per record whose address is internal, else 0, as an array; the remembered
        answers are looked up at C level and only addresses new to this run are tested (the
        memo may restart while they are, so this batch's answers are kept aside)."""
        try:
            # every address remembered (nearly always): the answers straight into the array
            return np.fromiter(map(self._internal.get, addresses), np.int64, len(addresses))
        except TypeError:  # a None: an address new to the memo, or a missing one
            pass
        hits = list(map(self._internal.get, addresses))
        if None in hits:
            fresh = {a: a is not None and self._is_internal(a)
                     for a in dict.fromkeys(a for a, hit in zip(addresses, hits, strict=True) if hit is None)}
            hits = list(map(fresh.get, addresses, hits))  # the fresh answer, else the known one
        return np.fromiter(hits, np.int64, len(hits))

    def _is_internal(self, addr: str) -> bool:
        hit = self._internal.get(addr)
        if hit is None:
            a = ip_address(addr)
            hit = self._internal[addr] = any(a in n for n in self.internal)
        return hit

    def _acc(self, st: _State, cols: tuple[Any, ...], idx: list[int]) -> None:
        names, scode, dirn, cat, batch, counts = cols
        whole = len(idx) == len(scode)
        pick: Any = slice(None) if whole else np.asarray(idx, dtype=np.int64)
        codes = scode[pick]
        keep = codes >= 0
        everyone = bool(keep.all())
        if not everyone:
            codes = codes[keep]
        n = len(codes)
        if not n:
            return
        # int64 sums are exact when n values of at most ``top`` cannot reach 2**62; the
        # batch's largest value bounds this window's, so the test is made once per batch
        if counts is None or counts[2] * n >= 2**62:
            # the lists, made only here: counters beyond int64 or sums that could leave it
            packets = int_column(batch, "packetDeltaCount")
            octets = int_column(batch, "octetDeltaCount")
            pk_list = packets if whole else [packets[i] for i in idx]
            by_list = octets if whole else [octets[i] for i in idx]
            if not everyone:
                pk_list = list(compress(pk_list, keep.tolist()))
                by_list = list(compress(by_list, keep.tolist()))
            top = max(max(pk_list), max(by_list), -min(pk_list), -min(by_list))
            if top * n >= 2**62:  # sums could leave int64: exact Python integers instead
                self._acc_slow(st, names, codes.tolist(), dirn[pick][keep].tolist(),
                               cat[pick][keep].tolist(), pk_list, by_list)
                return
            pk = np.fromiter(pk_list, np.int64, n)
            by = np.fromiter(by_list, np.int64, n)
        else:
            pk, by = counts[0][pick], counts[1][pick]
            if not everyone:
                pk, by = pk[keep], by[keep]
        st.total[0] += n
        st.total[1] += int(pk.sum())
        st.total[2] += int(by.sum())
        for table, keys, code in ((st.cat, self._cat_names, cat[pick][keep]),
                                  (st.dirn, _DIRECTIONS, dirn[pick][keep]),
                                  (st.talk, names, codes)):
            flows, psum, bsum = _group_sums(code, pk, by)
            hit = np.flatnonzero(flows)
            # one list per column instead of a numpy scalar per value: the talkers of a
            # window number in the thousands
            for key, f, p, b in zip(map(keys.__getitem__, hit.tolist()), flows[hit].tolist(),
                                    psum[hit].tolist(), bsum[hit].tolist(), strict=True):
                v = table.get(key)
                if v is None:
                    table[key] = [f, p, b]
                else:
                    v[0] += f
                    v[1] += p
                    v[2] += b

    def _acc_slow(self, st: _State, names: list[Any], codes: list[int], dirn: list[int],
                  cat: list[int], packets: list[int], octets: list[int]) -> None:
        """Record by record, for counters too large for int64 sums (hostile input)."""
        cat_names = self._cat_names
        for s, dr, c, pk, by in zip(codes, dirn, cat, packets, octets, strict=True):
            for v in (st.cat[cat_names[c]], st.dirn[_DIRECTIONS[dr]], st.talk[names[s]], st.total):
                v[0] += 1
                v[1] += pk
                v[2] += by

    def _finish(self, st: _State, start: int, end: int) -> list[Event]:
        if not st.total[0]:
            return []
        flows, packets, octets = st.total
        cats = {k: _row(v) for k, v in sorted(st.cat.items())}
        top_cat = max(st.cat.items(), key=lambda kv: (kv[1][2], kv[0]))[0]
        cat_doc = make_metric(
            RULES[0], time_ms=end, detector=self.name, window=(start, end),
            metrics={"flows": flows, "packets": packets, "bytes": octets, "categories": cats,
                     "directions": {k: _row(v) for k, v in sorted(st.dirn.items())}},
            summary=f"{flows} flows, {octets} bytes; most bytes: {top_cat}",
        )

        def top(i: int) -> list[dict[str, Any]]:
            # the N-th largest value first (on plain ints), then only the talkers at or above
            # it are ordered by (value, address): the same N as ordering all of them
            floor = heapq.nlargest(self.top_n, [v[i] for v in st.talk.values()])[-1]
            best = sorted(((ip, v) for ip, v in st.talk.items() if v[i] >= floor),
                          key=lambda kv: (-kv[1][i], kv[0]))[:self.top_n]
            return [{"ip": ip, **_row(v)} for ip, v in best]

        by_bytes = top(2)
        talk_doc = make_metric(
            RULES[1], time_ms=end, detector=self.name, window=(start, end),
            metrics={"by_bytes": by_bytes, "by_packets": top(1), "sources": len(st.talk)},
            summary=f"top talker {by_bytes[0]['ip']} sent {by_bytes[0]['bytes']} bytes",
        )
        return [cat_doc, talk_doc]

    def merge_partials(self, parts: list[Event]) -> list[Event]:
        """One window's documents from every worker of ``flowcep run --workers N``, as one
        process would have made them.

        With ``partition="source"`` each worker counts the flows whose source it owns: every
        flow is counted once, so the window's totals, categories and directions are the sums
        of the workers' documents, and each source's totals are complete in its owner, so the
        top N of the union of the workers' top-N lists (same order, same tie-break) is the top
        N over all sources. ``sources`` is the sum of the workers' (disjoint) source counts.
        """
        st = _State()
        sources = 0
        window: tuple[int, int] | None = None
        for doc in parts:
            fc = doc.get("flowcep") or {}
            m = fc.get("metrics") or {}
            win = fc.get("window") or {}
            window = (ms_from_iso(win["start"]), ms_from_iso(win["end"]))
            rule = (doc.get("rule") or {}).get("id")
            if rule == RULES[0].id:
                for i, k in enumerate(("flows", "packets", "bytes")):
                    st.total[i] += int(m[k])
                for table, rows in ((st.cat, m.get("categories") or {}), (st.dirn, m.get("directions") or {})):
                    for name, row in rows.items():
                        v = table[name]
                        v[0] += int(row["flows"])
                        v[1] += int(row["packets"])
                        v[2] += int(row["bytes"])
            elif rule == RULES[1].id:
                sources += int(m.get("sources") or 0)
                for row in list(m.get("by_bytes") or ()) + list(m.get("by_packets") or ()):
                    st.talk[row["ip"]] = [int(row["flows"]), int(row["packets"]), int(row["bytes"])]
        if window is None:
            return []
        out = self._finish(st, *window)
        for doc in out:
            if doc["rule"]["id"] == RULES[1].id:
                doc["flowcep"]["metrics"]["sources"] = sources
        return out


SPEC = DetectorSpec(
    name="trafficstats",
    summary="Traffic by service category and direction, and top-N talkers, as metric events per interval",
    factory=TrafficStats,
    rules=RULES,
    # counts per source are complete in the source's owner and each flow is counted once
    # there; the workers' per-window documents are combined by TrafficStats.merge_partials
    partition="source",
    config_schema=CONFIG_SCHEMA,
    defaults=DEFAULTS,
    references=("NetViewer (CESNET/MU) statistics views: traffic categories and top talkers",
                "RFC 1918 and RFC 4193 for the default internal networks"),
)


@hookimpl
def flowcep_register_detectors() -> list[DetectorSpec]:
    return [SPEC]
