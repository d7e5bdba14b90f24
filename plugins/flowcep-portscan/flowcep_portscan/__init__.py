"""Port scans and host sweeps from flow records.

Which records are probes is decided in ``probes.py`` (never by field order alone: a source
that sent nothing, a SYN-ACK, a RST or a UDP reply from a service port is never a prober).
On top of that, five rules, evaluated each time a counting window (default 5 min, Zeek's
scan.zeek epoch) closes:

* horizontal: one source's TCP probes failed on many hosts. Either Zeek's address-scan
  threshold within one window (``horizontal_hosts``, 25), or, over a sliding ``slow_window``
  (12 h) that catches sweeps paced over hours, at least ``slow_min_targets`` failed hosts
  *and* failures outnumbering completed contacts by ``trw_margin`` hosts: Threshold Random
  Walk (Jung, Paxson, Berger, Balakrishnan, IEEE S&P 2004) with its published operating point
  (success probability 0.8 benign / 0.2 scanner, detection 0.99, false alarm 0.01) decides
  "scanner" after 4 more failed than successful distinct targets. A host the source also
  reached successfully does not count as failed (a browser's retried or raced connections).
* vertical: the same per port of one host (Zeek's port-scan threshold 15 per window, or the
  TRW rule over the slow window).
* flags: FIN, NULL and Xmas probes (``flag_probes`` distinct host/port pairs); such segments
  never occur in a real connection, and Snort/Suricata's GPL SCAN rules alert on one packet.
* UDP: small datagrams that got no answer, to many hosts or ports (Zeek's thresholds), only
  when most of what the source asked stayed unanswered; replies from service ports never
  count.
* sweep: ICMP echo requests to ``sweep_hosts`` hosts in one window, a ``sweep_unanswered``
  share of which (at least 2) did not answer (an echo reply or a TCP contact reached the host:
  a monitoring poller pings hosts that are up).
* ACK scan: ACK-type probes (``probes.ack_probe``: one or two ACK or FIN+ACK segments
  answered by a bare RST) to ``vertical_ports`` ports of one host in one window (nmap -sA,
  -sW, -sM). Only the vertical form: a client whose connections many servers forgot sends
  the same records to one port of each (docs/detectors.md, the ACK-scan limit).

Every table is bounded (``max_sources``, ``max_targets`` per source; the hosts tracing a path
by ``max_sources`` too); what does not fit is counted in the stats
(``portscan.sources_evicted``, ``portscan.targets_dropped``, ``portscan.traced_evicted``,
``portscan.ack_keys_evicted``). A full sources table forgets the sources with the fewest
targets first, an eighth of it at once, and the ACK-probe table the pairs with the fewest
ports: a flood of spoofed one-probe sources cannot push out a scanner with real evidence.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from ipaddress import ip_address, ip_network
from itertools import islice
from operator import itemgetter
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
    weakest_keys,
)

from .probes import (
    ACK,
    EPHEMERAL_LOW,
    FAILED,
    FIN,
    FLAG,
    NONE,
    PSH,
    RST,
    SUCCESS,
    SYN,
    UDP_SERVICE_PORTS,
    URG,
    ack_probe,
    flag_kind,
    tcp_outcome,
)

__all__ = ["SPEC", "PortScanDetector", "flowcep_register_detectors"]

ECHO_REQUEST = {1: 8, 58: 128}  # ICMP / ICMPv6 echo request types
ECHO_REPLY = {1: 0, 58: 129}  # and their replies
TIME_EXCEEDED = {1: 11, 58: 3}  # what a router sends a path trace's probe whose TTL ran out
#: at most this many victim addresses/ports are listed in one alert (counts stay exact)
LIST_LIMIT = 100
#: a full ``sources`` table forgets this fraction of itself (1/8), the sources with the least
#: evidence, at once (``PortScanDetector._evict_sources``)
EVICT_SHARE = 8
#: sampled input: what one reached host (or port) weighs against failed ones in the TRW test
#: (_judge_tcp; docs/detectors.md, "Sampled flow records")
SAMPLED_REACH_WEIGHT = 3

RULES = (
    RuleSpec(
        id="portscan-horizontal", name="Horizontal scan (host sweep)",
        description="One source's connection attempts failed on many hosts.",
        severity="medium", risk_score=47, technique=("T1046", "T1595.001"),
        count_fields=("hosts", "probes"),
    ),
    RuleSpec(
        id="portscan-vertical", name="Vertical port scan",
        description="One source's connection attempts failed on many ports of one host.",
        severity="medium", risk_score=47, technique=("T1046",),
        count_fields=("ports", "probes"),
    ),
    RuleSpec(
        id="portscan-sweep", name="ICMP host sweep",
        description="One source sent ICMP echo requests to many hosts, and a share of them did not answer.",
        severity="low", risk_score=21, technique=("T1018", "T1595.001"),
        transport="icmp", count_fields=("hosts", "probes"),
    ),
    RuleSpec(
        id="portscan-flags", name="TCP flag scan (FIN/NULL/Xmas)",
        description="One source sent TCP segments with flag sets no real connection uses "
                    "(FIN, NULL or Xmas probes without a handshake).",
        severity="medium", risk_score=47, technique=("T1046",), transport="tcp",
        count_fields=("targets", "probes"),
    ),
    RuleSpec(
        id="portscan-ack", name="TCP ACK scan (ACK/Window/Maimon)",
        description="One source sent bare ACK or FIN+ACK segments outside any connection to many "
                    "ports of one host, each answered by RST alone (firewall-rule mapping).",
        severity="medium", risk_score=47, technique=("T1046",), transport="tcp",
        count_fields=("ports", "probes"),
    ),
)

CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "window": {**DURATION_SCHEMA, "description": "length of the counting window (Zeek: 5 min)"},
        "horizontal_hosts": {"type": "integer", "minimum": 2,
                             "description": "failed hosts in one window (Zeek: 25)"},
        "vertical_ports": {"type": "integer", "minimum": 2,
                           "description": "failed ports of one host in one window (Zeek: 15)"},
        "slow_window": {**DURATION_SCHEMA,
                        "description": "sliding horizon of the TRW rule for slow scans (ours: 12 h)"},
        "slow_min_targets": {"type": "integer", "minimum": 1,
                             "description": "failed hosts (or ports of one host) over the slow "
                                            "window, at least (ours: 8, twice TRW's minimum)"},
        "trw_margin": {"type": "integer", "minimum": 1,
                       "description": "failed minus successful targets (TRW at PD 0.99, PF 0.01: 4)"},
        "flag_probes": {"type": "integer", "minimum": 1,
                        "description": "FIN/NULL/Xmas probes to distinct host:port pairs (ours: 2)"},
        "sweep_hosts": {"type": "integer", "minimum": 2,
                        "description": "distinct hosts sent ICMP echo requests in one window (ours: 10)"},
        "sweep_unanswered": {"type": "number", "minimum": 0, "maximum": 1,
                             "description": "share of those hosts that must not answer, at least 2 "
                                            "hosts (ours: 0.2; a poller's hosts all answer)"},
        "max_probe_packets": {"type": "integer", "minimum": 1,
                              "description": "without TCP flags: largest flow, in packets, that "
                                             "counts as a probe (Elastic: 2)"},
        "udp_unanswered_share": {"type": "number", "minimum": 0, "maximum": 1,
                                 "description": "UDP: share of the hosts/ports asked that must stay "
                                                "unanswered (ours: 0.5)"},
        "max_sources": {"type": "integer", "minimum": 1,
                        "description": "sources remembered over the slow window (and hosts "
                                       "remembered as tracing a path)"},
        "max_targets": {"type": "integer", "minimum": 16,
                        "description": "host/port targets remembered per source"},
        "ignore_sources": {"type": "array", "items": {"type": "string"},
                           "description": "CIDRs of sanctioned scanners never reported"},
    },
}

DEFAULTS: dict[str, Any] = {
    "window": "5 min",
    "horizontal_hosts": 25,
    "vertical_ports": 15,
    "slow_window": "12 h",
    "slow_min_targets": 8,
    "trw_margin": 4,
    "flag_probes": 2,
    "sweep_hosts": 10,
    "sweep_unanswered": 0.2,
    "max_probe_packets": 2,
    "udp_unanswered_share": 0.5,
    "max_sources": 200_000,
    "max_targets": 4096,
    "ignore_sources": [],
}

# outcome bits of one (host, port) target; _OPEN: a failed probe the responder answered with
# SYN-ACK (biflows only), i.e. an open port the scanner found and reset or left half-open
_OK, _FAIL, _FLAG, _OPEN = 1, 2, 4, 8
#: failed records to one (host, port) that make it a retried service, not a probed one: a
#: monitor or an application retrying a host that is down (tests/fixtures/realtools/
#: benign_dead_host_retries.pcap: 4 checks of 8 ports); nmap sends a silent port at most two
#: probes in every realtools capture, masscan and zmap one
RETRIED = 3
_SYN_ACK, _SYN_RST = SYN | ACK, SYN | RST
# (source, port) and (source, host) of a UDP candidate (source, host, port)
_S_DP, _S_D = itemgetter(0, 2), itemgetter(0, 1)
_D, _DP = itemgetter(1), itemgetter(2)


def _udp_counts(distinct: set[tuple[str, str, int]], asked: set[tuple[str, str, int]],
                probes: Mapping[tuple[str, str, int], int], key_of: Callable[[Any], Any], member_of: Callable[[Any], Any],
                keys: set[Any]) -> tuple[dict[Any, set[Any]], Counter[Any], Counter[Any]]:
    """For the UDP keys at a threshold (``key_of`` a (source, host, port) triple: (source, port)
    for a horizontal scan, (source, host) for a vertical one): each key's unanswered members
    (hosts, or ports), its distinct triples asked and its unanswered datagrams (``probes``:
    unanswered triple -> datagrams)."""
    members: dict[Any, set[Any]] = defaultdict(set)
    for q in distinct:
        k = key_of(q)
        if k in keys:
            members[k].add(member_of(q))
    asked_n = Counter(k for k in map(key_of, asked) if k in keys)
    probes_n: Counter[Any] = Counter()
    for q, n in probes.items():
        k = key_of(q)
        if k in keys:
            probes_n[k] += n
    return members, asked_n, probes_n
_S = itemgetter(0)
#: the bits a failed or flag probe sets on its target, by outcome
_ADD = {FAILED: _FAIL, FLAG: _FAIL | _FLAG}

#: the flag bits ``tcp_outcome`` reads of a uniflow's own flags (FIN, SYN, RST, ACK; PSH only
#: of the responder's): a uniflow with flags is classified by one lookup of these bits, the
#: table built from ``tcp_outcome`` itself, for a destination port other than 0 (to port 0,
#: what would be a flag probe is nothing)
_OUTCOME_BITS = FIN | SYN | RST | ACK
#: an ACK probe's flags less FIN must be ACK alone (ECE/CWR aside): no SYN, RST, PSH or URG
_ACK_BITS = SYN | RST | PSH | ACK | URG
_UNIFLOW = np.array([tcp_outcome(1, 0, f, -1, 1024, 1, 1) for f in range(_OUTCOME_BITS + 1)],
                    dtype=np.int64)


def _raw(batch: FlowBatch, *names: str) -> list[Any] | None:
    """The first present of ``names``, unconverted (None when absent)."""
    for name in names:
        col = batch.columns.get(name)
        if col is not None:
            return col
    return None


def _echo_kind(proto: int, icmp_type: int, type_code: int) -> int:
    """1 for an ICMP echo request or an ICMP record that says nothing of its type (-1:
    absent), 2 for an echo reply, 3 for a time-exceeded message, 0 for any other."""
    ty = icmp_type if icmp_type >= 0 else (type_code >> 8 if type_code >= 0 else -1)
    if ty == -1 or ty == ECHO_REQUEST[proto]:
        return 1
    if ty == ECHO_REPLY[proto]:
        return 2
    return 3 if ty == TIME_EXCEEDED[proto] else 0


def _plain_ints(col: list[Any] | None, rows: list[int]) -> Any:
    """``col`` at ``rows`` as int64 (-1 for an absent column), or None unless every value is
    a plain int that fits: the caller then falls back on the record-by-record path."""
    if col is None:
        return np.full(len(rows), -1, dtype=np.int64)
    values = list(map(col.__getitem__, rows))
    if not set(map(type, values)) <= {int}:
        return None
    try:
        return np.array(values, dtype=np.int64)
    except OverflowError:
        return None


def _int64(batch: FlowBatch, name: str, default: int) -> Any:
    """``int_column`` as an int64 array (read-only), made once per batch under the key
    volumetric's ``_int64`` uses too, so whichever detector reads it first pays
    (OverflowError when a value does not fit)."""
    col = int_column(batch, name, default=default)
    return batch.derived(("int64", name, default), lambda: np.array(col, dtype=np.int64), col)


def _targets_kept(_s: str, source: _Source) -> int:
    """A source's evidence when the full ``sources`` table forgets the weakest: its targets."""
    return len(source.targets)


def _reached(source: _Source, d: str, bits: int) -> None:
    """A failed-only target of host ``d`` was reached: it moves to the reached count."""
    h = source.hosts[d]
    h[1] -= 1
    h[0] += 1
    if bits & _FLAG:
        source.n_flagged -= 1
    if h[0] == 1:  # the host's first reached target: it was a failed host until now
        source.n_ok += 1
        source.n_failed -= 1


def _int(col: list[Any] | None, i: int, default: int) -> int:
    v = col[i] if col is not None else None
    return default if v is None else int(v)


class _Kinds:
    """Which records of a batch go to which loop of ``_accumulate``, decided with numpy once
    per batch: the completed contacts (TCP SYN and ACK, no RST), the other TCP records that
    could be probes, with a uniflow's outcome from ``_UNIFLOW`` (-1: ask ``tcp_outcome``),
    every UDP record, and ICMP/ICMPv6 echo requests, replies and time-exceeded messages (``typed``; all ICMP records when a type
    column holds something other than plain ints). Each list keeps record order. Records whose
    source sent no packets are left out of all but UDP (whose flows are matched as answers)."""

    __slots__ = ("ok", "tcp", "outcome", "udp", "pings", "typed", "acks")

    def __init__(self, ok: Any, tcp: Any, outcome: Any, udp: Any, pings: Any, typed: bool,
                 acks: Any = None) -> None:
        self.ok, self.tcp, self.outcome, self.udp, self.pings = ok, tcp, outcome, udp, pings
        self.typed = typed  # pings holds echo requests, replies (and typeless ICMP) only
        # biflow records that may be ACK probes (one or two ACK or FIN+ACK segments): the
        # rest of ``ack_probe`` is asked of these few only; None when the batch has none
        self.acks = acks

    @classmethod
    def of(cls, cols: tuple[Any, ...], batch: FlowBatch | None = None) -> _Kinds | None:
        """None when a value does not fit 64 bits (hostile input): comprehensions decide then.
        With the ``batch`` the columns came from, the protocol and flags arrays are the ones
        volumetric makes of the same columns (``_int64``): one conversion serves both."""
        try:
            if batch is not None:
                proto = _int64(batch, "protocolIdentifier", 0)
                flags = _int64(batch, "tcpControlBits", -1)
            else:
                proto = np.array(cols[2], dtype=np.int64)
                flags = np.array(cols[5], dtype=np.int64)
            # np.array reads a list at C level, over twice as fast as fromiter's iterator
            packets = np.array(cols[4], dtype=np.int64)
        except OverflowError:
            return None
        tcp = proto == 6
        sent = packets > 0
        ok = tcp & sent & (flags >= 0) & ((flags & (_SYN_ACK | RST)) == _SYN_ACK)
        rest = tcp & sent & ((flags < 0) | ((flags & ACK) == 0) | ((flags & _SYN_RST) == _SYN_RST))
        if cols[10] is None and cols[11] is None:  # uniflows: the flags alone decide
            outcome = np.where(flags >= 0, _UNIFLOW[flags & _OUTCOME_BITS], -1)
            rest &= outcome != NONE
        else:
            outcome = np.full(len(proto), -1, dtype=np.int64)
        pings = ((proto == 1) | (proto == 58)) & sent
        typed = False
        at = np.flatnonzero(pings)
        if len(at):  # the ICMP type from its column or the type-code's high byte (_is_echo)
            rows = at.tolist()
            ty, code = _plain_ints(cols[9], rows), _plain_ints(cols[8], rows)
            if ty is not None and code is not None:
                ty = np.where(ty >= 0, ty, np.where(code >= 0, code >> 8, -1))
                v4 = proto[at] == 1
                want = np.where(v4, ECHO_REQUEST[1], ECHO_REQUEST[58])
                reply = np.where(v4, ECHO_REPLY[1], ECHO_REPLY[58])
                exceeded = np.where(v4, TIME_EXCEEDED[1], TIME_EXCEEDED[58])
                pings[at] = (ty == -1) | (ty == want) | (ty == reply) | (ty == exceeded)
                typed = True
        acks = None
        if cols[10] is not None and cols[11] is not None:
            acks = tcp & (packets > 0) & (packets <= 2) & (flags >= 0) & ((flags & _ACK_BITS) == ACK)
            if not acks.any():
                acks = None
        return cls(ok, rest, outcome, proto == 17, pings, typed, acks)

    def pick(self, idx: list[int]) -> tuple[list[int], list[int], list[int], list[int], list[int]]:
        """The lists for the records at ``idx`` (ascending, as ``TumblingWindows`` hands them):
        contacts, TCP records, their outcomes, UDP records, ICMP records."""
        lo, hi = idx[0], idx[-1] + 1
        if hi - lo == len(idx):  # a run of the batch (the common case): slices, no gather
            tcp = np.flatnonzero(self.tcp[lo:hi]) + lo
            return ((np.flatnonzero(self.ok[lo:hi]) + lo).tolist(), tcp.tolist(),
                    self.outcome[tcp].tolist(), (np.flatnonzero(self.udp[lo:hi]) + lo).tolist(),
                    (np.flatnonzero(self.pings[lo:hi]) + lo).tolist())
        at = np.array(idx, dtype=np.intp)
        tcp = at[self.tcp[at]]
        return (at[self.ok[at]].tolist(), tcp.tolist(), self.outcome[tcp].tolist(),
                at[self.udp[at]].tolist(), at[self.pings[at]].tolist())


class _Source:
    """One source's TCP targets over the slow window: (host, port) -> [last ms, outcome bits].

    Beside the targets, counts kept on arrival (``hosts``, ``n_ok``, ``n_failed``,
    ``n_flagged``, ``vhosts``) say, without walking the targets, whether a rule could fire:
    most judged sources cannot (a client with a few unanswered SYNs, or a scanner that must
    double its last alert's count), and rescanning their targets every window was most of the
    detector's judging time. The targets stay the authority: a source the counts let through
    is judged from its targets exactly as before.
    """

    __slots__ = ("targets", "probes", "flag_kinds", "reported", "oldest", "newest",
                 "hosts", "n_ok", "n_failed", "n_flagged", "vhosts", "tries")

    def __init__(self, t: int) -> None:
        self.targets: dict[tuple[str, int], list[int]] = {}
        self.oldest = t  # no target was last seen before this (expiry skips younger sources)
        self.newest = t
        self.probes = 0
        self.flag_kinds: dict[str, int] = {}
        # what the last alert of each rule ("h", "f", "v" + host) counted: the next one waits
        # for twice as much, so a 72-hour sweep is a handful of alerts, not one per window
        self.reported: dict[str, int] = {}
        # host -> [targets reached (OK bit), failed-only targets]: what _judge_tcp would count
        self.hosts: dict[str, list[int]] = {}
        self.n_ok = 0  # hosts with a target reached
        self.n_failed = 0  # hosts with failed targets and none reached
        self.n_flagged = 0  # failed-only targets with a flag probe
        self.vhosts: set[str] = set()  # hosts whose failed ports reached the vertical minimum
        # failed records to a target after its first (keys of ``targets`` only): _judge_tcp
        # leaves out the targets retried RETRIED times; the counts above stay upper bounds
        self.tries: dict[tuple[str, int], int] = {}

    def recount(self, vertical_least: int) -> None:
        """Rebuild the counts from the targets (after expiry removed some of them)."""
        hosts: dict[str, list[int]] = {}
        flagged = 0
        for (d, _port), (_t, bits) in self.targets.items():
            h = hosts.get(d)
            if h is None:
                h = hosts[d] = [0, 0]
            if bits & _OK:
                h[0] += 1
            elif bits & _FAIL:
                h[1] += 1
                if bits & _FLAG:
                    flagged += 1
        self.hosts = hosts
        self.n_ok = sum(1 for ok, _ in hosts.values() if ok)
        self.n_failed = sum(1 for ok, fail in hosts.values() if fail and not ok)
        self.n_flagged = flagged
        self.vhosts = {d for d, (_, fail) in hosts.items() if fail >= vertical_least}


class _Window:
    __slots__ = ("touched", "udp", "udp_seen", "pings", "s_probes", "echoed", "acks", "ack_ports")

    def __init__(self) -> None:
        self.touched: set[str] = set()
        # UDP candidates wait for the window end: a reply flow may follow the request.
        # (source, host, port) -> datagram records: a count, not a list, so one client
        # repeating a query grows it by nothing (a list grew by one entry per record)
        self.udp: Counter[tuple[str, str, int]] = Counter()
        # (dst, src, sport) of every UDP flow: the candidate (source, host, port) it answers,
        # so the answered candidates are a set difference
        self.udp_seen: set[tuple[str, str, int]] = set()
        # (source, host) of every echo request, and requests per source: filled in C (set and
        # Counter updates), grouped per source only when the window closes
        self.pings: set[tuple[str, str]] = set()
        self.s_probes: Counter[str] = Counter()
        # (source, host) of every echo request the host answered (a reply uniflow from the
        # host, or reverse packets in a biflow): an answered host was reached, not probed
        self.echoed: set[tuple[str, str]] = set()
        # ACK probes (source, host, port) -> probes; bounded by max_sources per window, the
        # pairs with the fewest ports evicted first (_evict_acks), which ``ack_ports`` counts
        self.acks: Counter[tuple[str, str, int]] = Counter()
        self.ack_ports: Counter[tuple[str, str]] = Counter()


class PortScanDetector:
    """Classifies records per source; judges the touched sources when a window closes."""

    name = "portscan"

    def __init__(self, config: Mapping[str, Any], ctx: Context) -> None:
        self.window_ms = int(parse_duration(config["window"]) * 1000)
        self.slow_ms = int(parse_duration(config["slow_window"]) * 1000)
        self.h_hosts = int(config["horizontal_hosts"])
        self.v_ports = int(config["vertical_ports"])
        self.slow_min = int(config["slow_min_targets"])
        self.margin = int(config["trw_margin"])
        self.flag_min = int(config["flag_probes"])
        self.s_hosts = int(config["sweep_hosts"])
        self.s_unanswered = float(config["sweep_unanswered"])
        self.max_packets = int(config["max_probe_packets"])
        self.udp_share = float(config["udp_unanswered_share"])
        self.max_sources = int(config["max_sources"])
        self.max_targets = int(config["max_targets"])
        # a host with fewer failed ports than this cannot make a vertical alert
        self.v_least = min(self.v_ports, self.slow_min)
        try:
            self.ignore = [ip_network(c, strict=False) for c in config.get("ignore_sources", ())]
        except ValueError as exc:
            raise ConfigError(f"detectors.portscan.ignore_sources: {exc}") from None
        self._ignored: BoundedMemo[str, bool] = BoundedMemo(stats=ctx.stats, counter="portscan.memo_resets")
        self.stats = ctx.stats
        self.sources: dict[str, _Source] = {}
        # no source's ``oldest`` is below this: while it is within the slow window, expiry has
        # nothing to look at (lowered where a source's ``oldest`` is, reset by each expiry pass)
        self._floor: float = math.inf
        # host -> when it was last sent an ICMP time-exceeded: it is tracing a path (traceroute,
        # mtr, tracepath), and its datagrams to ephemeral ports then are the trace's probes
        # (_judge_udp). Kept a window longer than the window it came in: a trace to a silent
        # host goes on probing after the last router answered (tracepath: a probe a second)
        self.traced: dict[str, int] = {}
        self.windows = TumblingWindows(self.window_ms, _Window, self._finish, "portscan", ctx.stats)
        # source -> the largest packet sampling rate of its records (docs/detectors.md,
        # "Sampled flow records"); empty unless an exporter samples. Past max_sources it is
        # emptied and its largest rate becomes every source's floor: fewer alerts, never more
        self.sampled: dict[str, int] = {}
        self.sampled_floor = 1

    def _is_ignored(self, src: str) -> bool:
        hit = self._ignored.get(src)
        if hit is None:
            addr = ip_address(src)
            hit = self._ignored[src] = any(addr in net for net in self.ignore)
        return hit

    def on_batch(self, batch: FlowBatch) -> list[Event]:
        if not len(batch):
            return []
        cols = self._columns(batch)  # converted once per batch, shared by every window in it
        kinds = _Kinds.of(cols, batch)
        mid = self._sampled_contacts(batch, cols)
        return self.windows.add(batch, lambda st, idx, _start: self._accumulate(st, cols, kinds, idx, mid))

    def _sampled_contacts(self, batch: FlowBatch, cols: tuple[Any, ...]) -> Any:
        """Notes each source's sampling rate; returns the sampled records that show an
        established connection (ACK without SYN or RST), or None for an unsampled batch.

        Under 1-in-N sampling a connection's SYN and its ACK are seldom both in one record, so
        the reached-host evidence of unsampled input (SYN and ACK) is mostly lost while a lone
        sampled SYN still looks like a failed probe. A sampled later segment of the connection
        shows the host answered, and counts as a contact: a connection whose client sent k
        segments leaves a SYN-only record with probability (1/N)(1-1/N)^(k-1), never more than
        one with a later segment, so a client whose connections complete never has failures
        outnumbering its reached hosts in expectation (TRW's test). A bare ACK counts too,
        though nmap's host discovery sends one: when a segment may be either, the doubt goes
        to the accused (a P2P peer's sampled handshakes were otherwise read as failures)."""
        if sampling_rate(batch) <= 1:
            return None
        rates = sampling_column(batch)
        src, packets, flags = cols[0], cols[4], cols[5]
        seen = self.sampled
        for s, r in zip(src, rates, strict=True):
            if r > 1 and s is not None and r > seen.get(s, 1):
                seen[s] = r
        if len(seen) > self.max_sources:  # bounded like the sources (see __init__)
            self.sampled_floor = max(self.sampled_floor, *seen.values())
            self.stats.add("portscan.sampled_evicted", len(seen))
            seen.clear()
        try:
            rate, proto, pk, fl = (np.array(c, dtype=np.int64) for c in (rates, cols[2], packets, flags))
        except OverflowError:
            return None
        return (rate > 1) & (proto == 6) & (pk > 0) & (fl >= 0) & ((fl & ACK) != 0) & ((fl & _SYN_RST) == 0)

    def on_watermark(self, watermark_ms: int) -> list[Event]:
        return self.windows.close_until(watermark_ms)

    def flush(self) -> list[Event]:
        return self.windows.flush()

    @staticmethod
    def partition_rows(batch: FlowBatch, end: str) -> list[bool] | None:
        """What ``flowcep run --workers N`` feeds it of the flows of a host a worker owns at
        ``end``: everything the host sent (its probes and contacts; every alert is keyed by
        the sender), and of what it received only UDP (the answers that make its datagrams
        answered). Whatever else it received is the sender's business, in the sender's owner."""
        if end == "source":
            return None
        return [p == 17 for p in int_column(batch, "protocolIdentifier")]

    @staticmethod
    def _columns(batch: FlowBatch) -> tuple[Any, ...]:
        # columns every record needs are converted; the rest are read raw, on the rare paths
        return (address_column(batch, "source"), address_column(batch, "destination"),
                int_column(batch, "protocolIdentifier"), int_column(batch, "destinationTransportPort"),
                int_column(batch, "packetDeltaCount", default=1),
                int_column(batch, "tcpControlBits", default=-1), batch.event_times(),
                _raw(batch, "sourceTransportPort"),
                icmp_type_code_column(batch), _raw(batch, "icmpTypeIPv4", "icmpTypeIPv6"),
                # biflows: what the responder sent back in the same record (absent for uniflows)
                _raw(batch, "reversePacketDeltaCount"), _raw(batch, "reverseTcpControlBits"))

    def _new_source(self, s: str, t: int) -> _Source:
        if t < self._floor:
            self._floor = t
        if len(self.sources) >= self.max_sources:
            self._evict_sources()
        src = self.sources[s] = _Source(t)
        return src

    def _evict_sources(self) -> None:
        """Make room in the full ``sources`` table by forgetting the sources with the least
        evidence, ``1/EVICT_SHARE`` of the table at once.

        Evicting the oldest-created source let a flood of spoofed one-SYN sources (300,000
        past a bound of 200,000) push out a real scanner mid-window, whose alert then listed
        50 of its 150 ports. Evidence is the number of targets kept: the cheap pass takes the
        one-target sources in creation order and stops when it has enough (what a flood is
        made of); only when there are too few of them are all sources ranked by their targets
        (a stable sort: among equals the oldest created goes first). Each burst is one pass
        over the table and frees a fixed share of it, so the cost per new source stays
        constant; a source that must outdo ``n`` targets to survive cost its sender ``n``
        records per spoofed address."""
        sources = self.sources
        victims = weakest_keys(sources, _targets_kept, EVICT_SHARE)
        for s in victims:
            del sources[s]
        self.stats.add("portscan.sources_evicted", len(victims))

    def _accumulate(self, st: _Window, cols: tuple[Any, ...], kinds: _Kinds | None,
                    idx: list[int], mid: Any = None) -> None:
        src, dst, proto, dport, packets, flags, times = cols[:7]
        if kinds is not None:
            ok_idx, tcp, outcomes, udp, pings = kinds.pick(idx)
            typed = kinds.typed
        else:  # a value beyond 64 bits: the same lists, record by record
            ok_idx = [i for i in idx if proto[i] == 6 and flags[i] & _SYN_ACK == _SYN_ACK
                      and not flags[i] & RST and flags[i] >= 0 and packets[i] > 0]
            tcp = [i for i in idx if proto[i] == 6 and packets[i] > 0 and (
                flags[i] < 0 or not flags[i] & ACK or flags[i] & _SYN_RST == _SYN_RST)]
            outcomes = [-1] * len(tcp)
            udp = [i for i in idx if proto[i] == 17]
            pings = [i for i in idx if proto[i] in ECHO_REQUEST and packets[i] > 0]
            typed = False
        if mid is not None:  # sampled segments of established connections (_sampled_contacts)
            at = np.array(idx, dtype=np.intp)
            ok_idx = sorted(ok_idx + at[mid[at]].tolist())
        # Most records are TCP with ACK set: a completed handshake (SYN too: a successful
        # contact) or the middle of a connection (neither probe nor contact); the contacts are
        # folded by (source, host, port), the last of the batch giving the time, as before.
        ok = {(src[i], dst[i], dport[i]): times[i] for i in ok_idx}
        # each protocol changes tables of its own (TCP the sources, UDP and ICMP the window's),
        # so one loop per protocol leaves every table as one loop over the records would
        self._tcp(st, cols, ok, tcp, outcomes)
        if udp:
            self._udp(st, cols, udp)
        if pings:
            self._pings(st, cols, pings, typed)
        if kinds is None:
            acks = [i for i in idx if proto[i] == 6 and 0 < packets[i] <= 2 and flags[i] >= 0
                    and flags[i] & _ACK_BITS == ACK]
        elif kinds.acks is None:
            return
        else:
            at = np.array(idx, dtype=np.intp)
            acks = at[kinds.acks[at]].tolist()
        if acks:
            self._acks(st, cols, acks)

    def _acks(self, st: _Window, cols: tuple[Any, ...], rows: list[int]) -> None:
        """ACK-probe candidates into the window's ACK-scan counts (``probes.ack_probe``)."""
        src, dst, _proto, dport, packets, flags, _times, sport, _icmp, _icmp_type, rpackets, rflags = cols
        if rpackets is None or rflags is None:
            return  # uniflows: the answer is not in the record
        counts, pairs = st.acks, st.ack_ports
        for i in rows:
            s, d, rp, rf = src[i], dst[i], rpackets[i], rflags[i]
            if s is None or d is None or rp is None or rf is None:
                continue
            sp = sport[i] if sport is not None else None
            if not ack_probe(packets[i], flags[i], int(rp), int(rf), -1 if sp is None else int(sp), dport[i]):
                continue
            if self.ignore and self._is_ignored(s):
                continue
            key = (s, d, dport[i])
            if key not in counts:
                if len(counts) >= self.max_sources:
                    self._evict_acks(st)
                pairs[(s, d)] += 1
            counts[key] += 1

    def _evict_acks(self, st: _Window) -> None:
        """Make room in the window's full ACK-probe table by forgetting the (source, host, port)
        keys of the (source, host) pairs with the fewest ports, ``1/EVICT_SHARE`` of it at
        once (counted in ``portscan.ack_keys_evicted``).

        Refusing new keys once full let spoofed ACK probes, one port each, fill the table and
        hide a real ACK scan that began after them; the rule counts ports per pair, so that is
        the evidence ranked, as ``_evict_sources`` ranks sources by their targets."""
        counts, pairs = st.acks, st.ack_ports
        victims = weakest_keys(counts, lambda k, _n: pairs[k[:2]], EVICT_SHARE)
        for k in victims:
            del counts[k]
            pair = k[:2]
            pairs[pair] -= 1
            if not pairs[pair]:
                del pairs[pair]
        self.stats.add("portscan.ack_keys_evicted", len(victims))

    def _contact(self, source: _Source, d: str, port: int, t: int, max_targets: int) -> bool:
        """A completed contact of ``source`` with (host ``d``, ``port``) at ``t`` into its
        targets and the counts beside them; False when the table is full (the caller counts
        it). A target that had only failed until now counts as reached from here on."""
        targets = source.targets
        target = targets.get((d, port))
        if target is None:
            if len(targets) >= max_targets:
                return False
            targets[(d, port)] = [t, _OK]
            if t < source.oldest:
                source.oldest = t
                if t < self._floor:
                    self._floor = t
            h = source.hosts.get(d)
            if h is None:
                source.hosts[d] = [1, 0]
                source.n_ok += 1
            else:
                h[0] += 1
                if h[0] == 1:  # the host's first reached target: no longer a failed host
                    source.n_ok += 1
                    if h[1]:
                        source.n_failed -= 1
            return True
        bits = target[1]
        if not bits & _OK:  # failed-only until now: counts as reached from here on
            target[1] = bits | _OK
            _reached(source, d, bits)
        if t > target[0]:
            target[0] = t
        return True

    def _tcp(self, st: _Window, cols: tuple[Any, ...], ok: dict[tuple[str, str, int], int],
             tcp: list[int], outcomes: list[int]) -> None:
        """Completed contacts (``ok``), then the other TCP records in order, into the targets
        and the counts beside them (``_Source``): the targets are created, dropped and stamped
        in the same order as records arrive, so what a full table drops is unchanged.
        ``outcomes``: each ``tcp`` record's outcome from ``_Kinds``, or -1 for ``tcp_outcome``."""
        src, dst, _proto, dport, packets, flags, times, sport, _icmp, _icmp_type, rpackets, rflags = cols
        ignore = self.ignore
        sources = self.sources
        max_targets = self.max_targets
        vleast = self.v_least
        touched = st.touched
        dropped = 0
        for (s, d, port), t in ok.items():
            if s is None or d is None or (ignore and self._is_ignored(s)):
                continue
            source = sources.get(s)
            if source is None:
                source = self._new_source(s, t)
            elif t > source.newest:
                source.newest = t
            if not self._contact(source, d, port, t, max_targets):
                dropped += 1
        # every record here sent packets (the source sent nothing: nothing of it is a probe)
        for i, outcome in zip(tcp, outcomes, strict=True):
            s, d = src[i], dst[i]
            if s is None or d is None or (ignore and self._is_ignored(s)):
                continue
            port = dport[i]
            if outcome < 0:
                # uniflows have no reverse columns; _int(col, i, default) written out
                rp = rpackets[i] if rpackets is not None else None
                rf = rflags[i] if rflags is not None else None
                tsp = sport[i] if sport is not None else None
                outcome = tcp_outcome(packets[i], 0 if rp is None else int(rp), flags[i],
                                      -1 if rf is None else int(rf), 0 if tsp is None else int(tsp),
                                      port, self.max_packets)
                if outcome == NONE:
                    continue
                # the responder answered SYN-ACK: an open port (biflows only)
                opened = rf is not None and int(rf) & _SYN_ACK == _SYN_ACK
            elif outcome == FLAG and not port:
                continue  # the table's outcomes are for a port: port 0 is never a flag probe
            else:
                opened = False
            t = times[i]
            source = sources.get(s)
            if source is None:
                source = self._new_source(s, t)
            elif t > source.newest:
                source.newest = t
            targets = source.targets
            key = (d, port)
            target = targets.get(key)
            if outcome == SUCCESS:
                if not self._contact(source, d, port, t, max_targets):
                    dropped += 1
                continue
            add = _ADD[outcome] | _OPEN if opened else _ADD[outcome]
            if target is None:
                if len(targets) >= max_targets:
                    dropped += 1
                    continue
                targets[key] = [t, add]
                if t < source.oldest:
                    source.oldest = t
                    if t < self._floor:
                        self._floor = t
                h = source.hosts.get(d)
                if h is None:
                    h = source.hosts[d] = [0, 1]
                    source.n_failed += 1
                else:
                    h[1] += 1
                    if h[1] == 1 and not h[0]:
                        source.n_failed += 1
                if h[1] >= vleast:
                    source.vhosts.add(d)
                if add & _FLAG:
                    source.n_flagged += 1
            else:
                if t > target[0]:
                    target[0] = t
                bits = target[1]
                if not bits & _OK:  # only failed-only targets are judged by their tries
                    tries = source.tries
                    tries[key] = tries.get(key, 1) + 1
                if bits | add != bits:
                    if add & _FLAG and not bits & (_OK | _FLAG):  # failed-only, now flagged too
                        source.n_flagged += 1
                    target[1] = bits | add
            if outcome == FLAG:
                kind = flag_kind(flags[i])
                source.flag_kinds[kind] = source.flag_kinds.get(kind, 0) + 1
            source.probes += 1
            touched.add(s)
        if dropped:
            self.stats.add("portscan.targets_dropped", dropped)

    def _udp(self, st: _Window, cols: tuple[Any, ...], udp: list[int]) -> None:
        """Every UDP flow into ``udp_seen`` as the candidate it would answer (answers are
        matched at the window end); small datagrams that are not replies from a service port
        into the candidates."""
        src, dst, _proto, dport, packets, _flags, _times, sport, _icmp, _icmp_type, rpackets, _rflags = cols
        live = [i for i in udp if src[i] is not None and dst[i] is not None]
        seen = st.udp_seen
        if sport is None:
            seen.update([(dst[i], src[i], 0) for i in live])
        else:
            seen.update([(dst[i], src[i], sport[i]) for i in live])
        if rpackets is not None:  # biflow answered in the same record: as a reply uniflow would be
            seen.update([(src[i], dst[i], dport[i]) for i in live if rpackets[i]])
        maxp = self.max_packets
        small = [i for i in live if 0 < packets[i] <= maxp]
        if self.ignore:
            small = [i for i in small if not self._is_ignored(src[i])]
        services = UDP_SERVICE_PORTS
        asked: list[tuple[str, str, int]] = []
        for i in small:
            dp = dport[i]
            sp = (sport[i] if sport is not None else 0) or 0
            # a reply from a service port to an ephemeral one (udp_is_reply, inlined)
            if not ((sp < 1024 or sp in services) and dp >= 1024 and sp != dp):
                asked.append((src[i], dst[i], dp))
        st.udp.update(asked)

    def _pings(self, st: _Window, cols: tuple[Any, ...], pings: list[int], typed: bool) -> None:
        """ICMP echo requests (or ICMP records without a type) into the window's sweep sets,
        and the echoes answered into ``echoed``; ``typed``: ``pings`` holds echo requests,
        replies and typeless records only (else every ICMP record)."""
        src, dst, proto, _dport, _packets, _flags, times, _sport, icmp, icmp_type, rp, _rf = cols
        live = [i for i in pings if src[i] is not None and dst[i] is not None]  # all sent packets
        kinds = [_echo_kind(proto[i], _int(icmp_type, i, -1), _int(icmp, i, -1)) for i in live]
        # a reply from the host answers its requester: the pair is (requester, host)
        st.echoed.update([(dst[i], src[i]) for i, k in zip(live, kinds, strict=True) if k == 2])
        for i in [i for i, k in zip(live, kinds, strict=True) if k == 3]:
            self._traced(dst[i], times[i])
        live = [i for i, k in zip(live, kinds, strict=True) if k == 1]
        if rp is not None:  # a biflow whose host sent packets back answered in the record
            st.echoed.update([(src[i], dst[i]) for i in live if rp[i]])
        if self.ignore:
            live = [i for i in live if not self._is_ignored(src[i])]
        # a set and a count: the order of the records does not matter, so C does the looping
        sources = list(map(src.__getitem__, live))
        st.s_probes.update(sources)
        st.pings.update(zip(sources, map(dst.__getitem__, live), strict=True))

    def _traced(self, host: str, t: int) -> None:
        """``host`` was sent a time-exceeded at ``t``: it is tracing a path. Each answer moves
        the host to the end of ``traced``, and a full table forgets its least recently
        answered eighth: spoofed low-TTL packets make routers send time-exceeded to many
        addresses, and forgetting the least recently *added* host pushed out a trace still
        being answered, whose probes then named it a UDP scanner."""
        traced = self.traced
        last = traced.pop(host, None)
        if last is None and len(traced) >= self.max_sources:
            gone = list(islice(traced, max(1, len(traced) // EVICT_SHARE)))
            for h in gone:
                del traced[h]
            self.stats.add("portscan.traced_evicted", len(gone))
        traced[host] = t if last is None or t > last else last

    # -- judging ---------------------------------------------------------------------------

    def _rate(self, s: str) -> int:
        """The packet sampling rate of ``s``'s records (1: unsampled)."""
        return max(self.sampled.get(s, 1), self.sampled_floor) if self.sampled else self.sampled_floor

    def _silence_sampled(self, s: str) -> bool:
        """Whether an alert on ``s`` that rests on silence (no answer, no echo reply, no
        handshake) must be withheld: its records are sampled, and a 1-in-N sample drops the
        answer N-1 times in N, so sampling alone explains the silence (docs/detectors.md,
        "Sampled flow records"). Counted in ``portscan.sampled_withheld``."""
        if self._rate(s) > 1:
            self.stats.add("portscan.sampled_withheld")
            return True
        return False

    def _sampling_fields(self, s: str) -> dict[str, int]:
        """``sampling_interval`` for an alert whose evidence was sampled, for the analyst."""
        rate = self._rate(s)
        return {"sampling_interval": rate} if rate > 1 else {}

    def _expire(self, now: int) -> None:
        """Forget targets last seen before the slow window; sources wholly older go at once,
        and sources with nothing old are skipped without looking at their targets."""
        oldest = now - self.slow_ms
        if self._floor >= oldest:
            return
        sources = self.sources
        for s in [s for s, src in sources.items() if src.oldest < oldest]:
            source = sources[s]
            if source.newest < oldest:
                del sources[s]
                continue
            targets = source.targets
            for k in [k for k, (t, _) in targets.items() if t < oldest]:
                del targets[k]
                source.tries.pop(k, None)
            if not targets:
                del sources[s]
            else:
                source.oldest = min(t for t, _ in targets.values())
                source.recount(self.v_least)
        self._floor = min((src.oldest for src in sources.values()), default=math.inf)

    def _finish(self, st: _Window, start: int, end: int) -> list[Event]:
        self._expire(end)
        out: list[Event] = []
        minutes = (end - start) / 60000
        # a source below every rule's smallest count is not even asked (_may_fire is exact;
        # this only spares the call); judging changes only the judged source's state
        sources = self.sources
        least_h, least_f = min(self.h_hosts, self.slow_min), self.flag_min
        judged = [s for s in st.touched if (source := sources.get(s)) is not None
                  and (source.n_failed >= least_h or source.n_flagged >= least_f or source.vhosts)
                  and self._may_fire(source)]
        for s in sorted(judged):
            out.extend(self._judge_tcp(s, sources[s], start, end))
        out.extend(self._judge_udp(st, start, end, minutes))
        if st.acks:
            out.extend(self._judge_acks(st, start, end))
        if st.pings:
            out.extend(self._judge_pings(st, start, end, minutes))
        return out

    def _judge_pings(self, st: _Window, start: int, end: int, minutes: float) -> list[Event]:
        """A sweep is echo requests to ``sweep_hosts`` hosts of which at least
        ``sweep_unanswered`` (a share, and never fewer than 2) did not answer. A monitoring
        poller pings hosts it knows are up, and all of them answer; a sweep looks for hosts,
        and some addresses it tries have none (a real sweep of a home /24: 7 of 18). A host that
        sent an echo reply back, or that the source reached over TCP in the slow window, was
        reached, not probed: the TCP rules' rule."""
        many = [s for s, n in Counter(map(_S, st.pings)).items() if n >= self.s_hosts]
        if not many:
            return []
        wanted = set(many)
        hosts_of: dict[str, list[str]] = defaultdict(list)
        for s, d in st.pings:
            if s in wanted:
                hosts_of[s].append(d)
        echoed = st.echoed
        out: list[Event] = []
        for s in sorted(many):
            hosts = hosts_of[s]
            source = self.sources.get(s)
            silent = [d for d in hosts if (s, d) not in echoed and (
                source is None or (h := source.hosts.get(d)) is None or not h[0])]
            if len(silent) < max(2, math.ceil(self.s_unanswered * len(hosts))) or self._silence_sampled(s):
                continue
            out.append(make_alert(
                RULES[2], time_ms=end, detector=self.name, source_ip=s,
                destination_ip=sorted(hosts)[:LIST_LIMIT],
                counts={"hosts": len(hosts), "probes": st.s_probes[s]},
                summary=f"{s} pinged {len(hosts)} hosts in {minutes:g} min, "
                        f"{len(silent)} of which did not answer",
                window=(start, end), key=s,
            ))
        return out

    def _may_fire(self, source: _Source) -> bool:
        """Whether ``_judge_tcp`` could alert, from the counts kept on arrival: each rule's
        condition with the window's share (failed hosts or ports seen since the window start)
        replaced by the whole count, which bounds it. False means ``_judge_tcp`` would return
        nothing and change nothing; true sends the source to it."""
        reported = source.reported
        failed = source.n_failed
        if failed >= 2 * reported.get("h", 0) and (
                failed >= self.h_hosts
                or (failed >= self.slow_min and failed - source.n_ok >= self.margin)):
            return True
        if source.n_flagged >= max(self.flag_min, 2 * reported.get("f", 0)):
            return True
        hosts = source.hosts
        for d in source.vhosts:
            ok, fails = hosts[d]
            if fails >= 2 * reported.get("v" + d, 0) and (
                    fails >= self.v_ports or (fails >= self.slow_min and fails - ok >= self.margin)):
                return True
        return False

    def _judge_tcp(self, s: str, source: _Source, start: int, end: int) -> list[Event]:
        """TRW over the slow window, Zeek's counts over the current one, flag probes."""
        ok_hosts: set[str] = set()
        fail_hosts: dict[str, int] = {}  # host -> last failure
        ports_ok: dict[str, set[int]] = defaultdict(set)
        ports_fail: dict[str, dict[int, int]] = defaultdict(dict)
        ports_open: dict[str, set[int]] = defaultdict(set)
        flagged: list[tuple[str, int]] = []
        first = end
        tries = source.tries
        retried: set[tuple[str, int]] = set()  # failed targets retried: the slow rule's exception
        for (d, port), (t, bits) in source.targets.items():
            if bits & _OK:
                ok_hosts.add(d)
                ports_ok[d].add(port)
            elif bits & _FAIL:
                fail_hosts[d] = max(t, fail_hosts.get(d, t))
                ports_fail[d][port] = t
                if bits & _OPEN:
                    ports_open[d].add(port)
                first = min(first, t)
                if bits & _FLAG:
                    flagged.append((d, port))
                if tries.get((d, port), 1) >= RETRIED:
                    retried.add((d, port))
        out: list[Event] = []
        reported = source.reported
        failed = {d: t for d, t in fail_hosts.items() if d not in ok_hosts}
        in_window = sum(1 for t in failed.values() if t >= start)
        # sampled: failures alone are what sampling makes of busy clients; only failures
        # outnumbering the hosts reached (TRW) name the source (docs/detectors.md)
        sampled = self._rate(s) > 1
        # sampled: a failed connection retransmits its SYN (Linux: 3 segments in the first 3 s)
        # and is seen up to SAMPLED_REACH_WEIGHT times as often as a completed one, so each
        # reached host weighs that much against the failures (a P2P peer that reached 20 of 41
        # peers showed 8 failed and 0 reached hosts at 1 in 10)
        reached = len(ok_hosts) * (SAMPLED_REACH_WEIGHT if sampled else 1)
        # TRW's evidence is first contacts; a target failed RETRIED times is a service being
        # retried (a monitor checking a host that is down), not a probe
        slow = len([d for d in failed if any((d, p) not in retried for p in ports_fail[d])]) if retried else len(failed)
        if len(failed) >= 2 * reported.get("h", 0) and (
                (in_window >= self.h_hosts and not sampled)
                or (slow >= self.slow_min and slow - reached >= self.margin)):
            reported["h"] = len(failed)
            hosts = sorted(failed)
            ports = sorted({p for d in hosts for p in ports_fail[d]})
            span = (end - first) / 60000
            port_text = f"port {ports[0]}" if len(ports) == 1 else f"{len(ports)} ports"
            out.append(make_alert(
                RULES[0], time_ms=end, detector=self.name, source_ip=s,
                destination_ip=hosts[:LIST_LIMIT], destination_port=ports[0] if len(ports) == 1 else None,
                transport="tcp", counts={"hosts": len(hosts), "probes": source.probes},
                summary=(f"{s} probed TCP {port_text} on {len(hosts)} hosts that never answered it "
                         f"in {span:.0f} min ({len(ok_hosts)} hosts reached)"),
                window=(first, end), key=s, fields={"ports": ports[:LIST_LIMIT], **self._sampling_fields(s)},
            ))
        for d in sorted(ports_fail):
            fails = {p: t for p, t in ports_fail[d].items() if p not in ports_ok[d]}
            ok = len(ports_ok[d])
            recent = sum(1 for t in fails.values() if t >= start)
            if len(fails) < 2 * reported.get("v" + d, 0):
                continue
            slow = len([p for p in fails if (d, p) not in retried]) if retried else len(fails)
            if (recent >= self.v_ports and not sampled) or (
                    slow >= self.slow_min
                    and slow - ok * (SAMPLED_REACH_WEIGHT if sampled else 1) >= self.margin):
                reported["v" + d] = len(fails)
                ordered = sorted(fails)
                # "answered" used to count completed connections only, so a SYN or connect scan
                # that found 22 and 80 open said "0 ports answered it"
                found = sorted(p for p in ports_open[d] if p in fails)
                open_text = (f"{len(found)} open: {', '.join(map(str, found[:10]))}"
                             f"{', ...' if len(found) > 10 else ''}" if found else "none open")
                out.append(make_alert(
                    RULES[1], time_ms=end, detector=self.name, source_ip=s, destination_ip=d,
                    transport="tcp", counts={"ports": len(ordered), "probes": source.probes},
                    summary=(f"{s} probed {len(ordered)} TCP ports of {d} "
                             f"({ordered[0]}-{ordered[-1]}; {open_text}; {ok} ports reached)"),
                    window=(min(fails.values()), end),
                    fields={"ports": ordered[:LIST_LIMIT], "open_ports": found[:LIST_LIMIT],
                            **self._sampling_fields(s)}, key=s,
                ))
        if len(flagged) >= max(self.flag_min, 2 * reported.get("f", 0)):
            reported["f"] = len(flagged)
            kinds = ", ".join(f"{n} {k}" for k, n in sorted(source.flag_kinds.items()))
            targets = sorted({d for d, _ in flagged})
            out.append(make_alert(
                RULES[3], time_ms=end, detector=self.name, source_ip=s,
                destination_ip=targets[:LIST_LIMIT],
                counts={"targets": len(flagged), "probes": sum(source.flag_kinds.values())},
                summary=(f"{s} sent {kinds} probes to {len(flagged)} ports on "
                         f"{len(targets)} host(s)"),
                window=(first, end), key=s,
                fields={"ports": sorted({p for _, p in flagged})[:LIST_LIMIT],
                        "probe_types": dict(sorted(source.flag_kinds.items())), **self._sampling_fields(s)},
            ))
        return out

    def _judge_acks(self, st: _Window, start: int, end: int) -> list[Event]:
        """ACK probes to ``vertical_ports`` ports of one host in the window: an ACK scan."""
        ports: dict[tuple[str, str], dict[int, int]] = defaultdict(dict)
        for (s, d, port), n in st.acks.items():
            ports[(s, d)][port] = n
        out: list[Event] = []
        for (s, d), by_port in sorted(ports.items()):
            if len(by_port) < self.v_ports or self._silence_sampled(s):
                continue
            ordered = sorted(by_port)
            probes = sum(by_port.values())
            out.append(make_alert(
                RULES[4], time_ms=end, detector=self.name, source_ip=s, destination_ip=d,
                transport="tcp", counts={"ports": len(ordered), "probes": probes},
                summary=(f"{s} sent {probes} ACK probes outside any connection to {len(ordered)} TCP ports "
                         f"of {d} ({ordered[0]}-{ordered[-1]}), each answered by RST alone"),
                window=(start, end), fields={"ports": ordered[:LIST_LIMIT]}, key=s,
            ))
        return out

    def _judge_udp(self, st: _Window, start: int, end: int, minutes: float) -> list[Event]:
        # every small datagram is asked; only unanswered ones are probes, and a source most of
        # whose questions were answered is a client (a resolver whose queries sometimes time out)
        # distinct unanswered (source, host, port), then hosts per (source, port) and ports per
        # (source, host), counted in C; most windows have no key at a threshold, and only those
        # that have build their sets
        asked = set(st.udp)
        if self.traced:  # a path trace's probes (UDP to ports no service uses) ask no service
            since = start - self.window_ms
            for h in [h for h, t in self.traced.items() if t < since]:
                del self.traced[h]
            traced = self.traced
            asked = {q for q in asked if q[2] < EPHEMERAL_LOW or q[0] not in traced}
        distinct = asked - st.udp_seen
        if not distinct:
            return []
        h_hosts = sorted(k for k, n in Counter(map(_S_DP, distinct)).items() if n >= self.h_hosts)
        v_hosts = sorted(k for k, n in Counter(map(_S_D, distinct)).items() if n >= self.v_ports)
        if not h_hosts and not v_hosts:
            return []
        probes = {q: n for q, n in st.udp.items() if q in distinct}  # unanswered datagrams, repeats too
        share = self.udp_share
        out: list[Event] = []
        if h_hosts:
            horizontal, h_asked, h_probes = _udp_counts(distinct, asked, probes, _S_DP, _D, set(h_hosts))
            for key in h_hosts:
                hosts = horizontal[key]
                s, dp = key
                if len(hosts) < share * h_asked[key] or self._silence_sampled(s):
                    continue
                out.append(make_alert(
                    RULES[0], time_ms=end, detector=self.name, source_ip=s,
                    destination_ip=sorted(hosts)[:LIST_LIMIT], destination_port=dp, transport="udp",
                    counts={"hosts": len(hosts), "probes": h_probes[key]},
                    summary=f"{s} probed UDP port {dp} on {len(hosts)} hosts in {minutes:g} min, unanswered",
                    window=(start, end), key=s,
                ))
        if v_hosts:
            vertical, v_asked, v_probes = _udp_counts(distinct, asked, probes, _S_D, _DP, set(v_hosts))
            for key2 in v_hosts:
                ports = vertical[key2]
                s, d = key2
                if len(ports) < share * v_asked[key2] or self._silence_sampled(s):
                    continue
                ordered = sorted(ports)
                out.append(make_alert(
                    RULES[1], time_ms=end, detector=self.name, source_ip=s, destination_ip=d,
                    transport="udp", counts={"ports": len(ports), "probes": v_probes[key2]},
                    summary=(f"{s} probed {len(ports)} UDP ports of {d} in {minutes:g} min "
                             f"({ordered[0]}-{ordered[-1]}), unanswered"),
                    window=(start, end), fields={"ports": ordered[:LIST_LIMIT]}, key=s,
                ))
        return out


SPEC = DetectorSpec(
    name="portscan",
    summary="Horizontal and vertical scans (failed, half-open, refused or FIN/NULL/Xmas probes; ACK scans; "
            "slow sweeps by Threshold Random Walk), UDP scans and ICMP host sweeps",
    factory=PortScanDetector,
    partition="address",  # every alert is keyed by the address whose flows it counted
    rules=RULES,
    config_schema=CONFIG_SCHEMA,
    defaults=DEFAULTS,
    references=(
        "Zeek policy/misc/scan.zeek: addr_scan_threshold 25, port_scan_threshold 15, 5 min interval",
        "Jung, Paxson, Berger, Balakrishnan: Fast Portscan Detection Using Sequential Hypothesis "
        "Testing (IEEE S&P 2004): theta0 0.8, theta1 0.2, PD 0.99, PF 0.01",
        "Snort/Suricata GPL SCAN FIN, NULL and XMAS rules: one segment with those flags and no ACK",
        "Elastic detection rules: SYN port scan with <= 2 packets per flow (the flag-less fallback)",
    ),
)


@hookimpl
def flowcep_register_detectors() -> list[DetectorSpec]:
    return [SPEC]
