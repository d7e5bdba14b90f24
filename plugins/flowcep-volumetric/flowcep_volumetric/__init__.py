"""Volumetric attacks on one destination: floods, reflection/amplification and smurf.

Rates are judged on the *peak second* of a short tumbling window (default 10 s), as
Suricata's ``detection_filter ... seconds 1`` counts: an average over a long window hides a
burst, and an alert should come within seconds; the suppressor then merges the windows of one
attack into one alert per victim. A record's packets and bytes are spread evenly over the
seconds it lasted (all in its end second when it lasted less than one). Every rule also looks
at the *asymmetry* between what the victim receives and what it sends back, which is what
separates an attack from a busy server:

* SYN flood: connection attempts that never complete (SYN without ACK from the initiator)
  arriving at one port of one destination at ``syn_rate`` or more in some second (keyed by
  port, so a fast vertical scan - one SYN per port - is a scan, not a flood);
* UDP / ICMP flood: packets to one destination at ``udp_pps`` / ``icmp_pps`` in the peak
  second while the destination sends back less than ``1/asymmetry`` of the bytes and of the
  packets it receives (a download's receiver acknowledges: few bytes, many packets);
  or ICMP echo requests alone at ``icmp_pps`` in the peak second, answered or not: a host's
  kernel echoes every request, so the answers show no service coping, and no benign client
  pings one host a thousand times a second (the echo *replies* the flooder gets back stay
  under the asymmetry test, so the answering victim is never named as a flooder);
* reflection/amplification: responses from a UDP service port that amplifies (the US-CERT
  TA14-017A list: DNS, NTP, SNMP, NetBIOS, SSDP, CharGEN, QOTD, Portmap, CLDAP, memcached,
  ...) arriving from at least ``min_reflectors`` hosts at ``amplification_bps`` or more in the
  peak second, with at least ``asymmetry`` times more response than request bytes (spoofed
  requests never came from the victim at all) and more than ``ASKED_ANSWERS`` response packets
  per request packet seen from the victim (a client of big DNS answers gets one per query);
* SYN-ACK reflection: SYN-ACKs the victim never asked for (it sent no SYN to them) arriving
  from ``min_reflectors`` servers at ``syn_rate`` or more in some second: someone sent SYNs in
  the victim's name. The servers that answered are reflectors, not attackers;
* smurf: ICMP echo requests sent to a multicast or broadcast address at ``smurf_pps`` in some
  second: every member answers the spoofed source (RFC 2644 forbids directed-broadcast pings;
  THC-IPv6 rsmurf6 uses ff02::1).

Floods use spoofed or many sources, so alerts are keyed by the victim (``flowcep.key``), name
it in ``destination.ip`` and carry the number of distinct sources instead of one attacker in
``source.ip``: reflectors appear only under ``flowcep.fields.sample_reflectors``. ``source.ip``
is set only when one unicast source did it all, or, for smurf, when the source address is a
multicast one, which no host can own.

Biflow records (RFC 5103) carry the destination's answer in ``reversePacketDeltaCount`` /
``reverseOctetDeltaCount``; it is counted as the reply uniflow it stands for, so the asymmetry
tests see what the victim sent back. A record whose initiator sent nothing (a capture that
holds only the answers) counts only its reverse side.

A spoofed SYN flood brings one (victim, port, source) triple and one (source, destination)
pair per source: a window keeps at most ``max_sources`` of each and counts what it refuses
(``volumetric.sources_refused``, ``volumetric.asked_refused``); the flood is still found, its
sources then a lower bound.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter, defaultdict
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
    icmp_type_code_column,
    int_column,
    make_alert,
    parse_duration,
    sampling_column,
    sampling_rate,
)

__all__ = ["SPEC", "VolumetricDetector", "flowcep_register_detectors"]

SYN, RST, ACK = 0x02, 0x04, 0x10
_SYN_ACK = SYN | ACK
_BARE_SYN_ACK = SYN | ACK | RST  # the flags a SYN-ACK reflection record may have
#: at most this many source addresses are listed in one alert (counts stay exact)
LIST_LIMIT = 20
#: a record lasting longer is spread over at most this many seconds
MAX_SPREAD_S = 60
ECHO_REQUEST = {1: 8, 58: 128}
#: response packets per request packet up to which a host asked for what it got: DNS answers
#: one datagram per query (two when a big answer is fragmented); NTP monlist and memcached,
#: the amplifiers that need no asking, send many per request
ASKED_ANSWERS = 2
#: sampled input (docs/detectors.md, "Sampled flow records"): a SYN flood needs at least this
#: many sampled SYN-only records to its (host, port) in the window, and SYN_SAMPLED_MARGIN times
#: as many as records carrying the initiators' ACK there. A completed connection of k >= 2
#: initiator packets leaves a SYN-only record with probability (1/N)(1-1/N)^(k-1) and one with
#: its ACK with probability 1-(1-1/N)^(k-1), never less, so sampled busy clients stay under it
MIN_SAMPLED_SYNS = 10
SYN_SAMPLED_MARGIN = 2

RULES = (
    RuleSpec(id="volumetric-syn-flood", name="SYN flood",
             description="Connection attempts that never complete arrive at one service of one host at a flood rate.",
             severity="high", risk_score=73, technique=("T1499", "T1499.001"), transport="tcp",
             count_fields=("syn_flows", "peak_per_second", "sources")),
    RuleSpec(id="volumetric-udp-flood", name="UDP flood",
             description="UDP packets arrive at one destination at a flood rate and are hardly answered.",
             severity="high", risk_score=73, technique=("T1498", "T1498.001"), transport="udp",
             count_fields=("packets", "peak_per_second", "sources")),
    RuleSpec(id="volumetric-icmp-flood", name="ICMP flood",
             description="ICMP packets arrive at one destination at a flood rate and are hardly answered.",
             severity="high", risk_score=73, technique=("T1498", "T1498.001"), transport="icmp",
             count_fields=("packets", "peak_per_second", "sources")),
    RuleSpec(id="volumetric-amplification", name="Reflection amplification",
             description="Large responses from an amplifying UDP service, which the victim never asked for, "
                         "arrive from many reflectors.",
             severity="critical", risk_score=90, technique=("T1498", "T1498.002"), transport="udp",
             count_fields=("bytes", "peak_bits_per_second", "reflectors", "ratio")),
    RuleSpec(id="volumetric-synack-reflection", name="SYN-ACK reflection",
             description="SYN-ACKs the destination never asked for arrive from many servers: SYNs were "
                         "sent in its name (TCP reflection).",
             severity="high", risk_score=73, technique=("T1498", "T1498.002"), transport="tcp",
             count_fields=("synacks", "peak_per_second", "reflectors")),
    RuleSpec(id="volumetric-smurf", name="Smurf (echo requests to a group address)",
             description="ICMP echo requests sent to a multicast or broadcast address at a flood rate: "
                         "every member answers the (spoofed) source.",
             severity="high", risk_score=73, technique=("T1498", "T1498.002"), transport="icmp",
             count_fields=("packets", "peak_per_second")),
)

CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "window": {**DURATION_SCHEMA, "description": "rate measurement window (ours: 10 s)"},
        "syn_rate": {"type": "number", "minimum": 0,
                     "description": "incomplete TCP attempts to one port of one host (or unasked SYN-ACKs "
                                    "to one host) in its busiest second"},
        "udp_pps": {"type": "number", "minimum": 0, "description": "UDP packets to one host in its busiest second"},
        "icmp_pps": {"type": "number", "minimum": 0, "description": "ICMP packets to one host in its busiest second"},
        "smurf_pps": {"type": "number", "minimum": 0,
                      "description": "echo requests to one multicast/broadcast address in its busiest second"},
        "asymmetry": {"type": "number", "minimum": 1,
                      "description": "received / sent bytes of the victim (floods), response / request (amplification)"},
        "amplification_bps": {"type": "number", "minimum": 0,
                              "description": "response bits from amplifying services to one host in its busiest second"},
        "min_reflectors": {"type": "integer", "minimum": 1, "description": "distinct reflectors"},
        "amplification_ports": {"type": "object",
                                "additionalProperties": {"type": "integer", "minimum": 1, "maximum": 65535},
                                "description": "amplifying UDP services: name -> source port"},
        "max_sources": {"type": "integer", "minimum": 1,
                        "description": "(victim, port, source) SYN triples and (source, destination) pairs "
                                       "kept per window; new ones past it are refused, counted"},
        "ignore_sources": {"type": "array", "items": {"type": "string"},
                           "description": "CIDRs of sanctioned senders (load generators, iperf hosts) "
                                          "never named as the source of an alert"},
    },
}

DEFAULTS: dict[str, Any] = {
    "window": "10s",
    "syn_rate": 50,
    "udp_pps": 5000,
    "icmp_pps": 1000,
    "smurf_pps": 100,
    "asymmetry": 10,
    "amplification_bps": 1_000_000,
    "min_reflectors": 5,
    # US-CERT TA14-017A "UDP-Based Amplification Attacks" (services with a fixed port)
    "amplification_ports": {"qotd": 17, "chargen": 19, "dns": 53, "tftp": 69, "portmap": 111,
                            "ntp": 123, "netbios": 137, "snmp": 161, "cldap": 389, "rip": 520,
                            "ssdp": 1900, "ard": 3283, "ws-discovery": 3702, "mdns": 5353,
                            "coap": 5683, "ubiquiti": 10001, "memcached": 11211, "steam": 27015,
                            "quake": 27960, "jenkins": 33848, "dhdiscover": 37810},
    "max_sources": 500_000,
    "ignore_sources": [],
}


def _spread(bins: dict[int, float], start_ms: int, end_ms: int, amount: int) -> None:
    """Spread ``amount`` evenly over the seconds the record lasted, in O(1): a rate starts at
    its first second and stops after its last, kept as a difference under the key ``~second``
    (negative, so it never meets an epoch second); :func:`_profile` integrates them."""
    first, last = (start_ms // 1000 if start_ms >= 0 else end_ms // 1000), end_ms // 1000
    if last <= first:
        bins[last] = bins.get(last, 0) + amount
        return
    first = max(first, last - MAX_SPREAD_S + 1)
    rate = amount / (last - first + 1)
    bins[~first] = bins.get(~first, 0) + rate
    bins[~(last + 1)] = bins.get(~(last + 1), 0) - rate


def _profile(bins: Mapping[int, float]) -> tuple[int, int]:
    """(total, busiest second) of per-second amounts plus spread rates (see :func:`_spread`)."""
    if all(k >= 0 for k in bins):
        return int(sum(bins.values())), int(max(bins.values(), default=0))
    points = {k: v for k, v in bins.items() if k >= 0}
    deltas = {~k: v for k, v in bins.items() if k < 0}
    keys = sorted(set(points) | set(deltas))
    total = float(sum(points.values()))
    running = peak = 0.0
    for n, k in enumerate(keys):
        running += deltas.get(k, 0.0)
        peak = max(peak, points.get(k, 0) + running)
        if n + 1 < len(keys):
            total += running * (keys[n + 1] - k)
    return int(round(total)), int(round(peak))


def _may_reach(bins: Mapping[int, float], limit: float) -> bool:
    """Whether the busiest second of ``bins`` (:func:`_profile`) may reach ``limit``, decided
    without integrating the spread rates: that second holds at most every positive amount and
    rate at once, so bins whose positive sum stays below the limit (by one for the rounding
    of the peak, and a relative 1e-9 for the order of float sums) cannot. In FlowCEP's sample every spread key of a window
    is such a quiet host, and _profile was a fifth of the detector's time."""
    if max(bins.values()) >= limit:
        return True
    if min(bins) >= 0:  # no spread record: the peak is the largest second
        return False
    return sum(v for v in bins.values() if v > 0) * (1 + 1e-9) + 1 >= limit


def _add_bounded(table: set[Any], items: list[Any], cap: int) -> int:
    """Add ``items`` to ``table`` while it holds fewer than ``cap``; return how many new ones
    were refused. Under the cap (every window of real traffic) it is one C-level update; the
    per-item loop runs only for the batch that fills the table and those after it, so a
    spoofed flood costs no more than its records, and what was kept is counted exactly."""
    if len(table) + len(items) <= cap:
        table.update(items)
        return 0
    refused = 0
    for x in items:
        if x in table:
            continue
        if len(table) >= cap:
            refused += 1
        else:
            table.add(x)
    return refused


def _int64(batch: FlowBatch, name: str, default: int) -> Any:
    """``int_column`` as an int64 array (read-only), made once per batch for ``_reads`` and
    ``_syn_only`` under the key portscan's ``_int64`` uses too, so whichever detector reads
    it first pays (OverflowError when a value does not fit)."""
    col = int_column(batch, name, default=default)
    return batch.derived(("int64", name, default), lambda: np.array(col, dtype=np.int64), col)


def _raw(batch: FlowBatch, *names: str) -> list[Any] | None:
    for name in names:
        col = batch.columns.get(name)
        if col is not None:
            return col
    return None


def _icmp_type(types: list[Any] | None, type_codes: list[Any] | None, i: int) -> int:
    """The ICMP type of record ``i`` from icmpType* or the high byte of icmpTypeCode*; -1 if none."""
    if types is not None and types[i] is not None:
        return int(types[i])
    if type_codes is not None and type_codes[i] is not None:
        return int(type_codes[i]) >> 8
    return -1


def _is_group(addr: str, cache: dict[str, bool]) -> bool:
    """Multicast or limited-broadcast address (an IPv4 subnet broadcast needs the netmask)."""
    hit = cache.get(addr)
    if hit is None:
        try:
            a = ip_address(addr)
            hit = a.is_multicast or str(a) == "255.255.255.255"
        except ValueError:
            hit = False
        cache[addr] = hit
    return hit


class _State:
    __slots__ = ("syn", "syn_from", "pps_in", "by_in", "src_in", "by_out", "pk_out", "hot_in",
                 "resp_bins", "refl", "req", "req_pk", "resp_pk", "hot_resp", "synack", "synack_src", "asked", "smurf", "smurf_src",
                 "echo", "sampling", "syn_sampled", "acked", "syn_refused", "asked_refused")

    def __init__(self) -> None:
        # (victim, port, epoch second) -> attempts, and the (victim, port, source) seen: two
        # flat tables a batch's SYNs are counted into at C level (Counter.update, set.update),
        # where one dict per (victim, port) would cost Python work per record; _finish
        # regroups them for the few (victim, port) that reach the rate
        self.syn: Counter[tuple[str, int, int]] = Counter()
        self.syn_from: set[tuple[str, int, str]] = set()
        # new (victim, port, source) triples and (source, destination) pairs refused once
        # syn_from / asked hold max_sources: a window that refused any reports its SYN-flood
        # sources as a lower bound and withholds its SYN-ACK reflection alerts (see _finish)
        self.syn_refused = 0
        self.asked_refused = 0
        # per (proto, host): packets per second (their sum is the total) and bytes received,
        # sources, bytes sent
        self.pps_in: dict[tuple[int, str], dict[int, float]] = defaultdict(dict)
        self.by_in: dict[tuple[int, str], int] = defaultdict(int)
        self.src_in: dict[tuple[int, str], set[str]] = defaultdict(set)
        self.by_out: dict[tuple[int, str], int] = defaultdict(int)
        # packets sent: a receiver that acknowledges (a QUIC or bulk UDP download) sends few
        # bytes back but many packets, a flood victim neither
        self.pk_out: dict[tuple[int, str], int] = defaultdict(int)
        # amplification: (victim, service port) -> response bytes per second, reflectors;
        # request bytes
        self.resp_bins: dict[tuple[str, int], dict[int, float]] = defaultdict(dict)
        # the keys of pps_in / resp_bins that _finish must look at: a second that reached
        # the rate when it was counted, or a spread record. A second's count only grows, so
        # no other key can pass _finish's test; most keys are quiet hosts, never tested again
        self.hot_in: set[tuple[int, str]] = set()
        self.hot_resp: set[tuple[str, int]] = set()
        self.refl: dict[tuple[str, int], set[str]] = defaultdict(set)
        self.req: dict[tuple[str, int], int] = defaultdict(int)
        # request and response packets: a client gets one answer per question it asked
        self.req_pk: dict[tuple[str, int], int] = defaultdict(int)
        self.resp_pk: dict[tuple[str, int], int] = defaultdict(int)
        # SYN-ACK reflection: victim -> SYN-ACKs per second, reflectors; (host, peer) it SYNed
        self.synack: dict[str, dict[int, int]] = defaultdict(dict)
        self.synack_src: dict[str, set[str]] = defaultdict(set)
        self.asked: set[tuple[str, str]] = set()
        # smurf: (group, spoofed source) -> echo requests per second
        self.smurf: dict[tuple[str, str], dict[int, float]] = defaultdict(dict)
        self.smurf_src: set[str] = set()
        # ICMP echo requests per second to one unicast host (the flood test without asymmetry)
        self.echo: dict[str, dict[int, float]] = defaultdict(dict)
        # sampled input: the window's largest sampling rate, and per (host, port) the sampled
        # SYN-only records and the sampled records with the initiators' ACK (MIN_SAMPLED_SYNS)
        self.sampling = 1
        self.syn_sampled: Counter[tuple[str, int]] = Counter()
        self.acked: Counter[tuple[str, int]] = Counter()


class VolumetricDetector:
    """Peak-second rates and asymmetry per destination in short tumbling windows."""

    name = "volumetric"

    def __init__(self, config: Mapping[str, Any], ctx: Context) -> None:
        self.window_ms = int(parse_duration(config["window"]) * 1000)
        self.syn_rate = float(config["syn_rate"])
        self.udp_pps = float(config["udp_pps"])
        self.icmp_pps = float(config["icmp_pps"])
        self.smurf_pps = float(config["smurf_pps"])
        self.asym = float(config["asymmetry"])
        self.amp_bps = float(config["amplification_bps"])
        self.min_refl = int(config["min_reflectors"])
        self.amp_ports = {int(p): n for n, p in config["amplification_ports"].items()}
        self.max_sources = int(config["max_sources"])
        self._group: BoundedMemo[str, bool] = BoundedMemo(stats=ctx.stats, counter="volumetric.memo_resets")
        try:
            self.ignore = [ip_network(c, strict=False) for c in config.get("ignore_sources", ())]
        except ValueError as exc:
            raise ConfigError(f"detectors.volumetric.ignore_sources: {exc}") from None
        self.stats = ctx.stats
        finish = self._finish_sanctioned if self.ignore else self._finish
        self.windows = TumblingWindows(self.window_ms, _State, finish, "volumetric", ctx.stats)

    def _finish_sanctioned(self, st: _State, start: int, end: int) -> list[Event]:
        """A window's alerts less those that name a sanctioned sender as their source: the
        rates are measured as without the list (a flood from several hosts, one of them
        sanctioned, still names the victim), only the accusation is withheld, counted."""
        out = self._finish(st, start, end)
        kept = [e for e in out if not self._sanctioned(e)]
        if len(kept) != len(out):
            self.stats.add("volumetric.ignored_alerts", len(out) - len(kept))
        return kept

    def _sanctioned(self, event: Event) -> bool:
        ip = (event.get("source") or {}).get("ip")
        if not isinstance(ip, str):
            return False
        try:
            addr = ip_address(ip)
        except ValueError:
            return False
        return any(addr.version == net.version and addr in net for net in self.ignore)

    def on_batch(self, batch: FlowBatch) -> list[Event]:
        if not len(batch):
            return []
        cols = self._columns(batch)  # converted once per batch, shared by every window in it
        keep = self._reads(batch)
        split = self._syn_only(batch, keep)
        if sampling_rate(batch) > 1:
            return self._on_sampled(batch, cols, keep, split, sampling_column(batch))
        if split is None:
            return self.windows.add(
                batch, lambda st, idx, _s: self._acc(st, cols, list(compress(idx, map(keep.__getitem__, idx)))))
        loop, syn, loop_mask, syn_mask = split
        every = list(range(len(batch)))

        def acc(st: _State, idx: list[int], _s: int) -> None:
            lo, hi = idx[0], idx[-1] + 1
            if hi - lo == len(idx) and idx == every[lo:hi]:
                # the window is a run of the batch (records in time order, as the clock
                # releases them): its share of each sorted index list is a slice
                self._acc_syn(st, cols, syn[bisect_left(syn, lo):bisect_left(syn, hi)])
                self._acc(st, cols, loop[bisect_left(loop, lo):bisect_left(loop, hi)])
            else:
                self._acc_syn(st, cols, list(compress(idx, map(syn_mask.__getitem__, idx))))
                self._acc(st, cols, list(compress(idx, map(loop_mask.__getitem__, idx))))
        return self.windows.add(batch, acc)

    def _on_sampled(self, batch: FlowBatch, cols: tuple[Any, ...], keep: list[bool],
                    split: tuple[list[int], list[int], list[bool], list[bool]] | None,
                    rates: list[int]) -> list[Event]:
        """A batch with sampled records: packets and bytes (both directions) and SYN-only
        records count times the rate, estimating the traffic the rates are set for; the
        window notes the rate and, per (host, port), the sampled SYN-only records and the
        records with the initiators' ACK (:data:`MIN_SAMPLED_SYNS`)."""
        factor = sampling_column(batch, counters=True)
        scaled = list(cols)
        for at in (5, 6, 9, 10):  # packets, octets, reverse packets, reverse octets
            scaled[at] = [v * f for v, f in zip(cols[at], factor, strict=True)]
        cols = tuple(scaled)
        dst, dport, packets, flags = cols[1], cols[4], cols[5], cols[7]
        syn_mask = split[3] if split is not None else [False] * len(batch)
        loop_mask = split[2] if split is not None else keep
        # an initiator's record with ACK and without SYN: a sampled piece of a connection
        acked = [f >= 0 and f & ACK != 0 and f & SYN == 0 and p > 0 and r > 1 and c == 6
                 for f, p, r, c in zip(flags, packets, rates, cols[2], strict=True)]

        def acc(st: _State, idx: list[int], _s: int) -> None:
            st.sampling = max(st.sampling, max(map(rates.__getitem__, idx)))
            syn = list(compress(idx, map(syn_mask.__getitem__, idx)))
            self._acc_syn(st, cols, syn, factor)
            st.syn_sampled.update((dst[i], dport[i]) for i in syn if rates[i] > 1 and dst[i] is not None)
            st.acked.update((dst[i], dport[i]) for i in compress(idx, map(acked.__getitem__, idx)))
            self._acc(st, cols, list(compress(idx, map(loop_mask.__getitem__, idx))))
        return self.windows.add(batch, acc)

    def on_watermark(self, watermark_ms: int) -> list[Event]:
        return self.windows.close_until(watermark_ms)

    def flush(self) -> list[Event]:
        return self.windows.flush()

    @staticmethod
    def partition_rows(batch: FlowBatch, end: str) -> list[bool] | None:
        """What ``flowcep run --workers N`` feeds it of the flows of a host a worker owns at
        ``end``: the records ``_acc`` reads at all (UDP, ICMP; TCP: a SYN without ACK, a bare
        SYN-ACK, a biflow's answering SYN-ACK). A whole connection (SYN, ACK and data or FIN),
        its middle (no SYN) or another protocol changes no table. Of what a host sent it
        takes everything: the worker holds those flows anyway (for the source-keyed
        detectors), and skipping them in ``_acc`` costs less than telling them apart here.
        The records it takes are those ``on_batch`` hands ``_acc`` (:meth:`_reads`)."""
        if end == "source":
            return None
        return VolumetricDetector._reads(batch)

    @staticmethod
    def _reads(batch: FlowBatch) -> list[bool]:
        """Per record: may ``_acc`` change a table for it? Decided with numpy for the whole
        batch, so the per-record loop runs only over UDP, ICMP, SYNs without ACK, bare
        SYN-ACKs and biflows answered with a SYN-ACK: most TCP records are whole or partial
        connections (SYN, ACK and data or FIN; or no SYN) that ``_acc`` would read only to skip.
        A superset of what ``_acc`` uses (it still tests every record it is given), so the
        tables, and the order in which each is updated, are those of the loop over all."""
        try:
            proto = _int64(batch, "protocolIdentifier", 0)
            flags = _int64(batch, "tcpControlBits", -1)
            rflags = (np.array(int_column(batch, "reverseTcpControlBits", default=-1), dtype=np.int64)
                      if batch.columns.get("reverseTcpControlBits") is not None else None)
        except OverflowError:  # hostile values beyond 64 bits: the loop reads every record
            return [True] * len(batch)
        keep = (proto == 17) | (proto == 1) | (proto == 58)
        tcp = proto == 6
        keep |= tcp & (flags >= 0) & (flags & SYN != 0) & ((flags & ACK == 0) | (flags & ~_BARE_SYN_ACK == 0))
        if rflags is not None:
            keep |= tcp & (rflags >= 0) & (rflags & _SYN_ACK == _SYN_ACK)
        return keep.tolist()  # type: ignore[no-any-return]

    @staticmethod
    def _syn_only(batch: FlowBatch, keep: list[bool]) -> tuple[list[int], list[int], list[bool], list[bool]] | None:
        """Split the records ``_acc`` reads (``keep``) into the SYNs without ACK their
        initiator sent (the bulk of it: scans and floods) and the rest: the indices of each,
        in order, and the same as a mask. None when the batch has none of those SYNs or a
        value does not fit int64: the loop then reads every kept record (:meth:`_acc` counts
        a SYN exactly as :meth:`_acc_syn` does).

        Such a record changes the SYN tables only (one more attempt to its destination port
        in its second, its source, and that it asked its destination), all of them counts and
        sets, so they may be counted apart from the loop and in any order."""
        try:
            proto = _int64(batch, "protocolIdentifier", 0)
            flags = _int64(batch, "tcpControlBits", -1)
        except OverflowError:
            return None
        cand = np.flatnonzero((proto == 6) & (flags >= 0) & (flags & SYN != 0) & (flags & ACK == 0))
        if not len(cand):
            return None
        # the initiator sent packets (a SYN record without them is a biflow's answer side,
        # which the loop reads); only the candidates' counts are looked at
        packets = int_column(batch, "packetDeltaCount", default=1)
        cand_l = cand.tolist()
        syn = list(compress(cand_l, [packets[i] > 0 for i in cand_l]))
        if not syn:
            return None
        syn_mask = np.zeros(len(batch), dtype=bool)
        syn_mask[syn] = True
        loop_mask = np.asarray(keep, dtype=bool) & ~syn_mask
        return np.flatnonzero(loop_mask).tolist(), syn, loop_mask.tolist(), syn_mask.tolist()

    def _acc_syn(self, st: _State, cols: tuple[Any, ...], idx: list[int], weights: list[int] | None = None) -> None:
        """The SYNs without ACK among ``idx`` (see :meth:`_syn_only`), counted at C level
        (sampled: each record counts as the ``weights`` attempts it stands for); the sources
        and pairs bounded by ``max_sources`` (:func:`_add_bounded`)."""
        if not idx:
            return
        src, dst, dport, times = cols[0], cols[1], cols[4], cols[8]
        ss = list(map(src.__getitem__, idx))
        ds = list(map(dst.__getitem__, idx))
        ports = list(map(dport.__getitem__, idx))
        when = [t // 1000 for t in map(times.__getitem__, idx)]
        ws = list(map(weights.__getitem__, idx)) if weights is not None else None
        if None in ss or None in ds:  # a record without both addresses counts nowhere
            ok = [a is not None and b is not None for a, b in zip(ss, ds, strict=True)]
            ss, ds, ports, when = (list(compress(c, ok)) for c in (ss, ds, ports, when))
            ws = list(compress(ws, ok)) if ws is not None else None
        if ws is None:
            st.syn.update(zip(ds, ports, when, strict=True))
        else:
            syn = st.syn
            for key, w in zip(zip(ds, ports, when, strict=True), ws, strict=True):
                syn[key] += w
        self._refused(st, _add_bounded(st.syn_from, list(zip(ds, ports, ss, strict=True)), self.max_sources),
                      _add_bounded(st.asked, list(zip(ss, ds, strict=True)), self.max_sources))

    def _refused(self, st: _State, sources: int, pairs: int) -> None:
        """Count what ``max_sources`` refused, in the window and in the stats."""
        if sources:
            st.syn_refused += sources
            self.stats.add("volumetric.sources_refused", sources)
        if pairs:
            st.asked_refused += pairs
            self.stats.add("volumetric.asked_refused", pairs)

    @staticmethod
    def _columns(batch: FlowBatch) -> tuple[Any, ...]:
        return (address_column(batch, "source"), address_column(batch, "destination"),
                int_column(batch, "protocolIdentifier"), int_column(batch, "sourceTransportPort"),
                int_column(batch, "destinationTransportPort"),
                int_column(batch, "packetDeltaCount", default=1), int_column(batch, "octetDeltaCount"),
                int_column(batch, "tcpControlBits", default=-1), batch.event_times(),
                # biflows (RFC 5103): what the destination sent back in the same record
                int_column(batch, "reversePacketDeltaCount"), int_column(batch, "reverseOctetDeltaCount"),
                _raw(batch, "reverseTcpControlBits"),
                int_column(batch, "flowStartMilliseconds", default=-1),
                # ICMP types are read for the few records sent to group addresses only
                icmp_type_code_column(batch), _raw(batch, "icmpTypeIPv4", "icmpTypeIPv6"))

    def _acc(self, st: _State, cols: tuple[Any, ...], idx: list[int]) -> None:
        (src, dst, proto, sport, dport, packets, octets, flags, times, rpackets, roctets, rflags,
         starts, icmp, icmp_type) = cols
        amp = self.amp_ports
        group = self._group
        # the tables as locals, and each record's key built once: this loop runs for every
        # UDP and ICMP record, whose keys are nearly all distinct per window (one flow per
        # host and second), so grouping them in numpy first would not shorten it
        pps_in, by_in, src_in, by_out, pk_out = st.pps_in, st.by_in, st.src_in, st.by_out, st.pk_out
        resp_bins, refl, req = st.resp_bins, st.refl, st.req
        hot_in, hot_resp = st.hot_in, st.hot_resp
        udp_pps, icmp_pps, amp_bps = self.udp_pps, self.icmp_pps, self.amp_bps
        group_get = group.get
        for i in idx:
            s, d, p = src[i], dst[i], proto[i]
            if s is None or d is None:
                continue
            t, t0 = times[i], starts[i]
            fwd = packets[i] > 0
            if p == 6:
                f = flags[i]
                rf = -1
                if rflags is not None and rpackets[i] > 0 and rflags[i] is not None:
                    rf = rflags[i]
                if fwd and f >= 0 and f & SYN:
                    if f & ACK:
                        # a SYN-ACK (maybe retransmitted, maybe reset) and nothing else, whose peer
                        # sent no SYN: s answered a SYN it never saw here. A client's own record
                        # (SYN, then ACK with data or FIN) or a normal biflow never qualifies.
                        if f & ~(SYN | ACK | RST) == 0 and not (rf >= 0 and rf & SYN):
                            st.synack[d][t // 1000] = st.synack[d].get(t // 1000, 0) + 1
                            st.synack_src[d].add(s)
                    else:
                        st.syn[(d, dport[i], t // 1000)] += 1
                        self._refused(st, _add_bounded(st.syn_from, [(d, dport[i], s)], self.max_sources),
                                      _add_bounded(st.asked, [(s, d)], self.max_sources))
                if rf >= 0 and rf & SYN and rf & ACK and not (fwd and f >= 0 and f & SYN):
                    # biflow whose initiator sent no SYN in it: the SYN-ACK came unasked
                    st.synack[s][t // 1000] = st.synack[s].get(t // 1000, 0) + 1
                    st.synack_src[s].add(d)
                continue
            if p not in (17, 1, 58):
                continue
            proto_key = 1 if p == 58 else p
            sec = t // 1000
            one_second = t0 < 0 or t0 // 1000 == sec
            if fwd:
                # packets per second: the window's total is their sum (no second counter)
                key = (proto_key, d)
                bins = pps_in[key]
                n = packets[i]
                if one_second:
                    v = bins[sec] = bins.get(sec, 0) + n
                    if v >= (udp_pps if proto_key == 17 else icmp_pps):
                        hot_in.add(key)
                else:
                    _spread(bins, t0, t, n)
                    hot_in.add(key)
                o = octets[i]
                by_in[key] += o
                src_in[key].add(s)
                by_out[(proto_key, s)] += o
                pk_out[(proto_key, s)] += n
                if p == 17:
                    sp = sport[i]
                    if sp in amp:
                        bins = resp_bins[(d, sp)]
                        if one_second:
                            v = bins[sec] = bins.get(sec, 0) + o
                            if v * 8 >= amp_bps:
                                hot_resp.add((d, sp))
                        else:
                            _spread(bins, t0, t, o)
                            hot_resp.add((d, sp))
                        refl[(d, sp)].add(s)
                        st.resp_pk[(d, sp)] += n
                    if dport[i] in amp:
                        req[(s, dport[i])] += o
                        st.req_pk[(s, dport[i])] += n
                elif _icmp_type(icmp_type, icmp, i) == ECHO_REQUEST[p]:
                    # the memo's answer without a call; an address new to it goes through
                    # _is_group, which remembers it. Echo requests to a unicast host count
                    # towards the answered-echo flood test (st.echo), to a group towards smurf
                    if group_get(d) or (group_get(d) is None and _is_group(d, group)):
                        _spread(st.smurf[(d, s)], t0, t, packets[i])
                    else:
                        _spread(st.echo[d], t0, t, packets[i])
            if rpackets[i] > 0:
                # biflow: the reverse direction counts exactly as a reply uniflow d -> s would,
                # so a server answering its clients is not taken for a flood victim
                ro = roctets[i]
                key = (proto_key, s)
                _spread(pps_in[key], t0, t, rpackets[i])
                hot_in.add(key)
                by_in[key] += ro
                src_in[key].add(d)
                by_out[(proto_key, d)] += ro
                pk_out[(proto_key, d)] += rpackets[i]
                if p == 17:
                    if dport[i] in amp:
                        _spread(resp_bins[(s, dport[i])], t0, t, ro)
                        hot_resp.add((s, dport[i]))
                        refl[(s, dport[i])].add(d)
                        st.resp_pk[(s, dport[i])] += rpackets[i]
                    if sport[i] in amp:
                        req[(d, sport[i])] += ro
                        st.req_pk[(d, sport[i])] += rpackets[i]

    def _loud_syn(self, st: _State) -> list[tuple[tuple[str, int], dict[int, int], set[str]]]:
        """((victim, port), attempts per second, sources) of each (victim, port) with
        ``syn_rate`` or more attempts in some second, in order of (victim, port)."""
        syn_rate = self.syn_rate
        if not st.syn or max(st.syn.values()) < syn_rate:  # one C-level pass: most windows
            return []
        loud: dict[tuple[str, int], tuple[dict[int, int], set[str]]] = {
            (d, port): ({}, set()) for (d, port, _sec), n in st.syn.items() if n >= syn_rate}
        for (d, port, sec), n in st.syn.items():
            got = loud.get((d, port))
            if got is not None:
                got[0][sec] = n
        for d, port, s in st.syn_from:
            got = loud.get((d, port))
            if got is not None:
                got[1].add(s)
        return [(key, *loud[key]) for key in sorted(loud)]

    def _sampled_syns(self, st: _State, d: str, port: int) -> bool:
        """Whether a window of sampled records holds positive evidence of a SYN flood on
        ``d:port`` beyond the estimated rate: enough sampled SYN-only records, and more than
        sampled completed connections would leave (:data:`MIN_SAMPLED_SYNS`). Withheld
        alerts are counted in ``volumetric.sampled_withheld``."""
        syns = st.syn_sampled.get((d, port), 0)
        if syns >= MIN_SAMPLED_SYNS and syns >= SYN_SAMPLED_MARGIN * st.acked.get((d, port), 0):
            return True
        self.stats.add("volumetric.sampled_withheld")
        return False

    def _finish(self, st: _State, start: int, end: int) -> list[Event]:
        secs = (end - start) / 1000
        out: list[Event] = []
        # Each table is filtered by its cheap test before it is sorted: most keys are quiet
        # hosts, and sorting only the loud ones gives the same alerts in the same order.
        sampled = {"sampling_interval": st.sampling} if st.sampling > 1 else {}
        for (d, port), per_second, srcs in self._loud_syn(st):
            if sampled and not self._sampled_syns(st, d, port):
                continue
            peak = max(per_second.values())
            n = sum(per_second.values())
            # past max_sources the sources kept are a lower bound, and one kept is no proof
            # that one host did it all
            at_least = {"sources_at_least": True} if st.syn_refused else {}
            out.append(make_alert(
                RULES[0], time_ms=end, detector=self.name,
                source_ip=next(iter(srcs)) if len(srcs) == 1 and not at_least else None,
                destination_ip=d, destination_port=port,
                counts={"syn_flows": n, "peak_per_second": peak, "sources": len(srcs)},
                summary=(f"{n} incomplete connections to {d}:{port} in {secs:g} s "
                         f"(peak {peak} in one second) from {'at least ' if at_least else ''}{len(srcs)} sources"),
                window=(start, end), key=d,
                fields={"sample_sources": sorted(srcs)[:LIST_LIMIT], **sampled, **at_least},
            ))
        udp_pps, icmp_pps = self.udp_pps, self.icmp_pps
        loud = [kv for kv in ((k, st.pps_in[k]) for k in st.hot_in)
                # no second at the limit and no spread that can reach it: most hosts, cheaply
                if _may_reach(kv[1], udp_pps if kv[0][0] == 17 else icmp_pps)]
        for (p, d), per_second_in in sorted(loud):
            limit, rule, label = ((self.udp_pps, RULES[1], "UDP") if p == 17
                                  else (self.icmp_pps, RULES[2], "ICMP"))
            pk, peak = _profile(per_second_in)
            if peak < limit or _is_group(d, self._group):
                continue  # a group address is no host to flood (multicast streams; smurf has its rule)
            received, sent = st.by_in[(p, d)], st.by_out.get((p, d), 0)
            answers = received < self.asym * sent or pk < self.asym * st.pk_out.get((p, d), 0)
            if answers and (p == 17 or _profile(st.echo.get(d, {}))[1] < limit):
                # the host answers: a busy server, not a flood; or it acknowledges, one small
                # packet per few it gets: a download's receiver (a QUIC-like stream at 6000/s
                # sent back 1/32 of the bytes but 1/2 of the packets, which named its server a
                # flooder before). Not for echo requests at the ICMP rate: the kernel echoes
                # every one (hping3 --icmp: 6000 answered, 1 to 1 bytes)
                continue
            srcs = st.src_in[(p, d)]
            single = next(iter(srcs)) if len(srcs) == 1 else None
            out.append(make_alert(
                rule, time_ms=end, detector=self.name, source_ip=single, destination_ip=d,
                counts={"packets": pk, "peak_per_second": peak, "sources": len(srcs)},
                summary=(f"{pk} {label} packets to {d} in {secs:g} s (peak {peak} in one second) from "
                         f"{len(srcs)} sources; it sent back {sent} of {received} bytes"),
                window=(start, end), key=d, fields={"sample_sources": sorted(srcs)[:LIST_LIMIT], **sampled},
            ))
        amp_bps = self.amp_bps
        for (d, port), resp_bins in sorted(kv for kv in ((k, st.resp_bins[k]) for k in st.hot_resp)
                                           if _may_reach(kv[1], amp_bps / 8)):
            resp, peak_bytes = _profile(resp_bins)
            peak_bps = peak_bytes * 8
            refl = st.refl[(d, port)]
            if peak_bps < self.amp_bps or len(refl) < self.min_refl:
                continue
            req = st.req.get((d, port), 0)
            if resp < self.asym * req:
                continue  # the host asked for these answers (a resolver, an NTP client)
            if st.resp_pk.get((d, port), 0) <= ASKED_ANSWERS * st.req_pk.get((d, port), 0):
                # one answer (or two) per question the host was seen asking: a client of big
                # answers (TXT, DNSSEC: 1.3 KB for an 80-byte query, 14.6x) is no victim. At a
                # vantage that carries the queries, spoofed ones look the same (documented)
                continue
            ratio = round(resp / req, 1) if req else None
            svc = self.amp_ports[port]
            out.append(make_alert(
                RULES[3], time_ms=end, detector=self.name, destination_ip=d,
                counts={"bytes": resp, "peak_bits_per_second": peak_bps, "reflectors": len(refl),
                        "ratio": ratio},
                summary=(f"{len(refl)} {svc} reflectors (UDP source port {port}) sent {d} {resp} bytes "
                         f"in {secs:g} s, peak {peak_bps / 1e6:.1f} Mbit/s; it sent {req} request bytes"),
                window=(start, end), key=d,
                fields={"service": svc, "sample_reflectors": sorted(refl)[:LIST_LIMIT], **sampled},
            ))
        for d, per_second in sorted(st.synack.items()):
            peak = max(per_second.values())
            refl = {r for r in st.synack_src[d] if (d, r) not in st.asked}
            if peak < self.syn_rate or len(refl) < self.min_refl:
                continue
            if sampled:
                # "never asked" is the victim's SYN not seen, which a 1-in-N sample explains
                self.stats.add("volumetric.sampled_withheld")
                continue
            if st.asked_refused:
                # past max_sources a SYN the victim sent may not have been kept: "never asked"
                # is unproven, so the alert is withheld, counted (the flood that filled the
                # table is reported by its own rule)
                self.stats.add("volumetric.synack_withheld")
                continue
            n = sum(per_second.values())
            out.append(make_alert(
                RULES[4], time_ms=end, detector=self.name, destination_ip=d,
                counts={"synacks": n, "peak_per_second": peak, "reflectors": len(refl)},
                summary=(f"{n} SYN-ACKs from {len(refl)} servers to {d} in {secs:g} s (peak {peak} in one "
                         f"second) that it never asked for"),
                window=(start, end), key=d, fields={"sample_reflectors": sorted(refl)[:LIST_LIMIT]},
            ))
        for (group, spoofed), echo_bins in sorted(st.smurf.items()):
            n, peak = _profile(echo_bins)
            if peak < self.smurf_pps:
                continue
            victim_is_group = _is_group(spoofed, self._group)
            out.append(make_alert(
                RULES[5], time_ms=end, detector=self.name,
                # a multicast source is no host, so naming it accuses nobody; a unicast one is the victim
                source_ip=spoofed if victim_is_group else None,
                destination_ip=spoofed if not victim_is_group else group,
                counts={"packets": n, "peak_per_second": peak},
                summary=(f"{n} echo requests to the group address {group} in {secs:g} s (peak {peak} in one "
                         f"second) with source {spoofed}: every member answers {spoofed}"),
                window=(start, end), key=spoofed, fields={"group": group, **sampled},
            ))
        return out


SPEC = DetectorSpec(
    name="volumetric",
    summary="SYN, UDP and ICMP floods, UDP amplification (TA14-017A ports), SYN-ACK reflection and smurf, "
            "by peak-second rate and asymmetry",
    factory=VolumetricDetector,
    partition="address",  # every alert is keyed by the address whose flows it counted
    rules=RULES,
    config_schema=CONFIG_SCHEMA,
    defaults=DEFAULTS,
    references=(
        "US-CERT TA14-017A UDP-based amplification attacks: amplifying ports and bandwidth amplification factors",
        "suricata-verify SYN-flood test rule: detection_filter count 100, seconds 1 (syn_rate is half that)",
        "RFC 2644 / THC-IPv6 rsmurf6: echo requests to broadcast or all-nodes addresses",
        "rates (udp_pps, icmp_pps, smurf_pps, amplification_bps) and the 10 s window are FlowCEP's own choices",
    ),
)


@hookimpl
def flowcep_register_detectors() -> list[DetectorSpec]:
    return [SPEC]
