"""Password guessing: repeated, near-identical connections from one client to one login service.

A guessing tool opens connection after connection to the same service, each doing the same
thing (handshake, key exchange or banner, one to a few password tries, disconnect), so the
connections are nearly the same size; legitimate use of a login service is a few sessions of
very different sizes. The detector therefore does not ask for a fixed size band (Stream4Flow's
SSH band of 10-20 packets misses hydra's 16-packet, 12.8 s attempts and nmap's 4-packet ones):
it looks for ``min_attempts`` connections whose packets and bytes (both directions when the
record is a biflow) lie within ``shape_tolerance`` of each other, from one client to one
server port, in a *sliding* window (an attack across a window boundary is not split):

* fast rule: ``min_attempts`` (Stream4Flow: 10) similar attempts within ``window`` (5 min);
* slow rule: ``slow_min_attempts`` (Zeek detect-bruteforcing: 30) within ``slow_window``
  (30 min), over any number of servers of that service (one attempt every 20 s is caught).

An attempt is a connection the client opened, completed and sent data on (SYN, ACK and PSH
from it: credentials are data; a banner check that reads the server's greeting and closes
sends none; without TCP flags, at least ``min_packets`` packets) with at least ``min_packets``
packets (a handshake alone, 3 packets, is a connect scan, not a login) and at most ``max_bytes`` bytes and
``max_duration``. Only login services count: the default ports are those password-guessing
tools (THC-Hydra, Medusa, Ncrack) attack by default, VMware's authd on 902 included; any port
can be added. Web ports are not in the list: a client polling an HTTPS API every few seconds
makes connections as alike as a guessing tool's, and HTTP login guessing is seen by its URLs
(the multistage detector). Each (client, server, port) keeps at most ``max_attempts`` recent
attempts and the detector at most ``max_keys`` keys; evictions are counted in the stats. A full
table forgets the keys with the fewest attempts first, an eighth of it at once: a flood of
one-connection clients cannot push out a guesser's run.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
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
    address_column,
    hookimpl,
    int_column,
    make_alert,
    parse_duration,
    weakest_keys,
)

__all__ = ["SPEC", "BruteForceDetector", "flowcep_register_detectors"]

SYN, ACK = 0x02, 0x10
_SYN_ACK_PSH = SYN | ACK | 0x08  # PSH: the client sent data (Linux, BSD and Windows set it on each send's last segment)

RULES = (
    RuleSpec(
        id="bruteforce-guessing", name="Password guessing",
        description="Many near-identical connections from one client to one login service.",
        severity="high", risk_score=73, technique=("T1110", "T1110.001"), transport="tcp",
        count_fields=("attempts",),
    ),
    RuleSpec(
        id="bruteforce-slow", name="Slow password guessing",
        description="Near-identical connections from one client to a login service, paced over a long window.",
        severity="medium", risk_score=47, technique=("T1110", "T1110.001"), transport="tcp",
        count_fields=("attempts", "servers"),
    ),
)

SERVICE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["ports"],
    "properties": {
        "ports": {"type": "array", "items": {"type": "integer", "minimum": 1, "maximum": 65535},
                  "minItems": 1},
    },
}

CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "window": {**DURATION_SCHEMA, "description": "fast rule sliding window (Stream4Flow: 5 min)"},
        "min_attempts": {"type": "integer", "minimum": 2,
                         "description": "similar attempts to one server port in the window (Stream4Flow: 10)"},
        "slow_window": {**DURATION_SCHEMA, "description": "slow rule sliding window (Zeek: 30 min)"},
        "slow_min_attempts": {"type": "integer", "minimum": 0,
                              "description": "similar attempts to any server of the service in the slow "
                                             "window (Zeek: 30); 0 disables the slow rule"},
        "shape_tolerance": {"type": "number", "minimum": 0, "maximum": 1,
                            "description": "relative difference of packets and bytes between two "
                                           "attempts still called alike (ours: 0.25)"},
        "min_packets": {"type": "integer", "minimum": 1,
                        "description": "client packets of one attempt, at least (ours: 4, more than "
                                       "a handshake)"},
        "max_bytes": {"type": "integer", "minimum": 1,
                      "description": "client bytes of one attempt, at most (ours: 64 KB)"},
        "max_duration": {**DURATION_SCHEMA, "description": "length of one attempt, at most (ours: 2 min)"},
        "services": {"type": "object", "additionalProperties": SERVICE_SCHEMA,
                     "description": "login services by name and their ports"},
        "max_attempts": {"type": "integer", "minimum": 2,
                         "description": "recent attempts kept per client, server and port"},
        "max_keys": {"type": "integer", "minimum": 1, "description": "client/server/port keys kept"},
        "ignore_sources": {"type": "array", "items": {"type": "string"},
                           "description": "CIDRs of sanctioned automation (configuration management, "
                                          "monitoring) never reported"},
    },
}

DEFAULTS: dict[str, Any] = {
    "window": "5 min",
    "min_attempts": 10,
    "slow_window": "30 min",
    "slow_min_attempts": 30,
    "shape_tolerance": 0.25,
    "min_packets": 4,
    "max_bytes": 65536,
    "max_duration": "2 min",
    "max_attempts": 64,
    "max_keys": 100_000,
    "ignore_sources": [],
    # default ports of the services THC-Hydra, Medusa and Ncrack guess passwords on
    "services": {
        "ssh": {"ports": [22, 2222]},
        "telnet": {"ports": [23, 2323]},
        "ftp": {"ports": [21]},
        "rdp": {"ports": [3389]},
        "vnc": {"ports": [5900, 5901]},
        "smb": {"ports": [139, 445]},
        # not 25: mail delivery, where a relay or an application's notifications are many
        # alike connections to one MX (tests/fixtures/realtools/benign_smtp.pcap); SMTP AUTH
        # belongs on submission (465, 587)
        "mail-login": {"ports": [110, 143, 465, 587, 993, 995]},
        "database": {"ports": [1433, 1521, 3306, 5432, 6379, 27017]},
        "ldap": {"ports": [389, 636]},
        "r-services": {"ports": [512, 513, 514]},
        "vmware-authd": {"ports": [902]},
        "winrm": {"ports": [5985, 5986]},
        "socks": {"ports": [1080]},
    },
}


#: a full table forgets this fraction of itself (1/8), the keys with the fewest attempts, at
#: once (``BruteForceDetector._evict``)
EVICT_SHARE = 8

#: One attempt: (end time ms, client packets, client bytes, server bytes, server address).
#: A tuple, not an object: the queue scans unpack it in one step, and building one costs a
#: fraction of a slotted instance's __init__ (it is made for every login flow).
_Attempt = tuple[int, int, int, int, str]


def _int64(batch: FlowBatch, name: str, default: int) -> Any:
    """``int_column`` as an int64 array (read-only), made once per batch under the key the
    other detectors' ``_int64`` use, so whichever reads it first pays (OverflowError when a
    value does not fit)."""
    col = int_column(batch, name, default=default)
    return batch.derived(("int64", name, default), lambda: np.array(col, dtype=np.int64), col)


def _at(batch: FlowBatch, name: str, rows: list[int], at: Any, default: int) -> list[int]:
    """``int_column(batch, name, default=default)`` at ``rows`` (``at``: the same rows as a
    numpy index): picked from the decoder's array while the column is still one (its
    ``tolist`` gives the same Python ints), else from the list, made once per batch and
    shared with the other detectors. The login-port records are a few of a batch, so the
    pick is far cheaper than making the column's list."""
    arr = batch.array(name)
    if arr is not None and arr.dtype.kind in "iu":
        picked: list[int] = arr[at].tolist()
        return picked
    return list(map(int_column(batch, name, default=default).__getitem__, rows))


class _Queue(deque[_Attempt]):
    """Recent attempts of one key, oldest first.

    ``in_order`` holds while no attempt came earlier than the one queued before it, which is
    nearly always (the host's clock releases records in time order, and each batch is visited
    by end time). Then the attempts before a window are a prefix of the queue, and a scan that
    reads it newest first stops at the first of them: in FlowCEP's sample most queued attempts
    of a busy client are older than the fast rule's five minutes.
    """

    __slots__ = ("in_order",)

    def __init__(self, maxlen: int, items: Iterable[_Attempt] = (), in_order: bool = True) -> None:
        super().__init__(items, maxlen)
        self.in_order = in_order

    def __reduce__(self) -> tuple[Any, ...]:
        # deque's own would call _Queue(items, maxlen) and drop in_order
        return _Queue, (self.maxlen, list(self), self.in_order)


def _queued(_key: Any, q: _Queue) -> int:
    """A key's evidence when a full table forgets the weakest: its attempts queued."""
    return len(q)


class BruteForceDetector:
    """Keeps each client's recent attempts per server port and per service; alerts on a run."""

    name = "bruteforce"

    def __init__(self, config: Mapping[str, Any], ctx: Context) -> None:
        self.window_ms = int(parse_duration(config["window"]) * 1000)
        self.min_attempts = int(config["min_attempts"])
        self.slow_ms = int(parse_duration(config["slow_window"]) * 1000)
        self.slow_min = int(config["slow_min_attempts"])
        self.tol = float(config["shape_tolerance"])
        self.min_packets = int(config["min_packets"])
        self.max_bytes = int(config["max_bytes"])
        self.max_ms = int(parse_duration(config["max_duration"]) * 1000)
        self.keep = max(int(config["max_attempts"]), self.min_attempts, self.slow_min)
        self.max_keys = int(config["max_keys"])
        self.stats = ctx.stats
        try:
            self.ignore = [ip_network(c, strict=False) for c in config.get("ignore_sources", ())]
        except ValueError as exc:
            raise ConfigError(f"detectors.bruteforce.ignore_sources: {exc}") from None
        self._ignored: BoundedMemo[str, bool] = BoundedMemo(stats=ctx.stats, counter="bruteforce.memo_resets")
        self.by_port: dict[int, str] = {}
        for name, svc in sorted(config["services"].items()):
            for port in svc["ports"]:
                self.by_port[int(port)] = name
        # whether each 16-bit port is a login port (the table on_batch indexes)
        self._login = np.zeros(65536, dtype=bool)
        self._login[[p for p in self.by_port if 0 <= p < 65536]] = True
        # (client, server, port) and (client, service) -> recent attempts, oldest first
        self.fast: dict[tuple[str, str, int], _Queue] = {}
        self.slow: dict[tuple[str, str], _Queue] = {}

    def on_batch(self, batch: FlowBatch) -> list[Event]:
        if not len(batch):
            return []
        by_port = self.by_port
        # Login ports first (most records go to other ports), then the protocol and the
        # attempt tests for those few, still in record order: a lookup table indexed by the
        # destination ports' int64 array (shared with trafficstats, _int64), or one C-level
        # pass over the list when a port is outside 0-65535 or beyond 64 bits (hostile input)
        try:
            dp = _int64(batch, "destinationTransportPort", 0)
            in_range = not len(dp) or (int(dp.min()) >= 0 and int(dp.max()) < len(self._login))
        except OverflowError:
            in_range = False
        if in_range:
            on_port = np.flatnonzero(self._login[dp]).tolist()
        else:
            on_port = list(compress(range(batch.length),
                                    map(by_port.__contains__, int_column(batch, "destinationTransportPort"))))
        if not on_port:
            return []
        # The protocol and the attempt tests read the login-port records' values only: the
        # decoder's arrays picked at those rows when a column is still one (_at), so this
        # detector makes no list of the batch's protocols, packets, bytes, flags or start
        # times; the tests themselves are one Python pass over those few values.
        at = np.array(on_port, dtype=np.intp)
        keep = [j for j, p in enumerate(_at(batch, "protocolIdentifier", on_port, at, 0)) if p == 6]
        if not keep:
            return []
        if len(keep) < len(on_port):
            on_port, at = [on_port[j] for j in keep], at[keep]
        packets = _at(batch, "packetDeltaCount", on_port, at, 0)
        octets = _at(batch, "octetDeltaCount", on_port, at, 0)
        flags = _at(batch, "tcpControlBits", on_port, at, -1)
        start = _at(batch, "flowStartMilliseconds", on_port, at, -1)
        times = batch.event_times()
        end = [times[i] for i in on_port]
        min_packets, max_bytes, max_ms = self.min_packets, self.max_bytes, self.max_ms
        # The attempt tests that read only this record's numbers, before the sort: a stable
        # sort of the survivors visits them in the order the sort of all candidates would.
        ok = [j for j in range(len(on_port))
              if packets[j] >= min_packets and octets[j] <= max_bytes
              # a connection the client opened, completed and sent data on, in this record
              and (flags[j] < 0 or flags[j] & _SYN_ACK_PSH == _SYN_ACK_PSH)
              and (end[j] - start[j] if start[j] >= 0 else 0) <= max_ms]
        if not ok:
            return []
        rows = [on_port[j] for j in ok]
        roctets = _at(batch, "reverseOctetDeltaCount", rows, at[ok], 0)
        attempts = [(end[j], packets[j], octets[j], ro) for j, ro in zip(ok, roctets, strict=True)]
        ends = [a[0] for a in attempts]
        src = address_column(batch, "source")
        dst = address_column(batch, "destination")
        dport = int_column(batch, "destinationTransportPort")
        out: list[Event] = []
        fast, slow = self.fast, self.slow
        need_fast, need_slow = self.min_attempts, self.slow_min
        fast_ms, slow_ms = self.window_ms, self.slow_ms
        ignore = self.ignore
        for k in sorted(range(len(rows)), key=ends.__getitem__):
            i = rows[k]
            s, d = src[i], dst[i]
            if s is None or d is None or (ignore and self._is_ignored(s)):
                continue
            port = dport[i]
            svc = by_port[port]
            a = (*attempts[k], d)
            # the queues inline: this runs for every login flow, and a queue shorter than
            # the rule's count cannot alert, so it is not scanned at all
            key = (s, d, port)
            q = fast.get(key)
            if q is None:
                q = self._queue(fast, key)
            elif q and a[0] < q[-1][0]:
                q.in_order = False
            q.append(a)
            # in time order, the window's attempts are the newest ones: when the need-th
            # newest is older than the window, fewer than need are in it and nothing can fire
            # (most queues of a busy client past the count; one look instead of a scan)
            if len(q) >= need_fast and not (q.in_order and q[-need_fast][0] < a[0] - fast_ms):
                out.extend(self._fire_fast(q, s, d, port, svc, a))
            if need_slow > 0:
                skey = (s, svc)
                q = slow.get(skey)
                if q is None:
                    q = self._queue(slow, skey)
                elif q and a[0] < q[-1][0]:
                    q.in_order = False
                q.append(a)
                if len(q) >= need_slow and not (q.in_order and q[-need_slow][0] < a[0] - slow_ms):
                    out.extend(self._fire_slow(q, s, svc, a))
        return out

    def on_watermark(self, watermark_ms: int) -> list[Event]:
        oldest = watermark_ms - max(self.window_ms, self.slow_ms)
        for table in (self.fast, self.slow):
            stale = [k for k, q in table.items() if not q or q[-1][0] < oldest]
            for k in stale:
                del table[k]  # type: ignore[arg-type]
        return []

    def flush(self) -> list[Event]:
        self.fast.clear()
        self.slow.clear()
        return []

    def _is_ignored(self, src: str) -> bool:
        hit = self._ignored.get(src)
        if hit is None:
            addr = ip_address(src)
            hit = self._ignored[src] = any(addr in net for net in self.ignore)
        return hit

    def _queue(self, table: dict[Any, _Queue], key: Any) -> _Queue:
        q = table.get(key)
        if q is None:
            if len(table) >= self.max_keys:
                self._evict(table)
            q = table[key] = _Queue(self.keep)
        return q

    def _evict(self, table: dict[Any, _Queue]) -> None:
        """Make room in a full table by forgetting the keys with the fewest attempts queued,
        ``1/EVICT_SHARE`` of it at once.

        Forgetting the oldest key let a flood of one-connection clients (many addresses, one
        login-shaped connection each) push out a guesser one attempt short of its alert, over
        and over. The cheap pass takes the keys with at most one attempt (an alert's cleared
        queue has none) in creation order and stops when it has enough; only when there are
        too few are all keys ranked by their attempts (stable: the oldest first among equals).
        One pass per burst that frees a fixed share keeps the cost per new key constant."""
        victims = weakest_keys(table, _queued, EVICT_SHARE)
        for k in victims:
            del table[k]
        self.stats.add("bruteforce.keys_evicted", len(victims))

    def _alike(self, q: _Queue, a: _Attempt, span_ms: int, need: int) -> list[_Attempt]:
        """The attempts of ``q`` (``a``, the newest, included) within ``span_ms`` before ``a``
        and shaped like it, in no particular order; or fewer than ``need`` of them (maybe none)
        as soon as fewer than ``need`` can be: the callers alert only on ``need`` or more, and
        most queues never get there."""
        misses = len(q) - need  # attempts that may still fail the test before the answer is no
        if misses < 0:
            return []
        # Two sizes are alike when |a - b| <= max(slack, tol * max(a, b)); slack is 2 packets
        # and 0 bytes. Written out inline (no helper call) because it runs for every queued
        # attempt of every new one, up to max_attempts times per login flow; tol * (a's size)
        # is the same product for every b, so it is computed once.
        tol = self.tol
        hi, ap, ao, ar, _ = a
        lo = hi - span_ms
        tp, to, tr = tol * ap, tol * ao, tol * ar
        out: list[_Attempt] = []
        in_order = q.in_order  # then no attempt is later than a, and the old ones lead
        left = len(q)
        for b in reversed(q):
            t, x, y, z, _ = b
            if t < lo and in_order:
                misses -= left  # b and every attempt before it are older than the window
                return out if misses >= 0 else []
            left -= 1
            if (t < lo or t > hi
                    or (ap - x > 2 and ap - x > tp if ap >= x else x - ap > 2 and x - ap > tol * x)
                    or (ao - y > 0 and ao - y > to if ao >= y else y - ao > 0 and y - ao > tol * y)
                    or (ar - z > 0 and ar - z > tr if ar >= z else z - ar > 0 and z - ar > tol * z)):
                misses -= 1
                if misses < 0:
                    return []
                continue
            out.append(b)
        return out

    def _fire_fast(self, q: _Queue, s: str, d: str, port: int, svc: str, a: _Attempt) -> list[Event]:
        """The fast rule's alert when ``a``, just queued in ``q``, completes a run."""
        alike = self._alike(q, a, self.window_ms, self.min_attempts)
        if len(alike) < self.min_attempts:
            return []
        q.clear()  # one alert per run of attempts; the suppressor merges the next ones
        q.in_order = True
        first = min(b[0] for b in alike)
        sizes = sorted(b[2] for b in alike)
        t = a[0]
        return [make_alert(
            RULES[0], time_ms=t, detector=self.name, source_ip=s, destination_ip=d,
            destination_port=port, counts={"attempts": len(alike)},
            summary=(f"{s} made {len(alike)} near-identical {svc} connections to {d}:{port} "
                     f"in {(t - first) / 60000:.1f} min ({sizes[0]}-{sizes[-1]} bytes each)"),
            window=(first, t), fields={"service": svc}, key=s,
        )]

    def _fire_slow(self, q: _Queue, s: str, svc: str, a: _Attempt) -> list[Event]:
        """The slow rule's alert when ``a``, just queued in ``q``, completes a run."""
        alike = self._alike(q, a, self.slow_ms, self.slow_min)
        if len(alike) < self.slow_min:
            return []
        q.clear()
        q.in_order = True
        first = min(b[0] for b in alike)
        servers = sorted({b[4] for b in alike})
        t = a[0]
        return [make_alert(
            RULES[1], time_ms=t, detector=self.name, source_ip=s, destination_ip=servers,
            counts={"attempts": len(alike), "servers": len(servers)},
            summary=(f"{s} made {len(alike)} near-identical {svc} connections to "
                     f"{len(servers)} server(s) in {(t - first) / 60000:.1f} min"),
            window=(first, t), fields={"service": svc}, key=s,
        )]


SPEC = DetectorSpec(
    name="bruteforce",
    summary="Password guessing on login services: runs of near-identical connections from one client",
    factory=BruteForceDetector,
    # every queue is keyed by the client and filled only from the flows it sent: with
    # --workers N the owner of a client sees all of them, and no other worker needs them
    partition="source",
    rules=RULES,
    config_schema=CONFIG_SCHEMA,
    defaults=DEFAULTS,
    references=(
        "Stream4Flow (CSIRT-MU) SSH brute force: >= 10 attempts in 5 min (its fixed 10-20 packet band is not used)",
        "Zeek policy/protocols/ssh/detect-bruteforcing.zeek: password_guesses_limit 30 in 30 min",
        "THC-Hydra, Medusa and Ncrack service modules: the default login ports",
    ),
)


@hookimpl
def flowcep_register_detectors() -> list[DetectorSpec]:
    return [SPEC]
