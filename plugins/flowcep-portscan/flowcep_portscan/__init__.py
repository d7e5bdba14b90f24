"""Port scans and host sweeps from flow records.

Three rules share one pass over the records, per tumbling window (Zeek's scan policy counts in
5-minute epochs):

* horizontal: one source probes one port on many hosts (Zeek "Address_Scan", 25 hosts);
* vertical: one source probes many ports of one host (Zeek "Port_Scan", 15 ports);
* sweep: one source sends ICMP echo requests to many hosts (Elastic's network sweep, 100).

Only *probes* count, so busy clients stay silent. A TCP probe is a flow of at most
``max_probe_packets`` packets (Elastic's SYN-scan rule: <= 2) whose sender never set ACK: the
handshake never completed (SYN, NULL, FIN and Xmas scans; a victim's RST/ACK reply has ACK and
so never makes the victim a scanner). Without ``tcpControlBits`` the packet count alone decides.
A UDP probe is an equally small flow that got no reply flow in the same window (a DNS resolver
asking many servers gets answers; a UDP scan of closed ports does not), and UDP counts only when
at least ``udp_unanswered_share`` of what the source asked stayed unanswered (a busy resolver
whose queries time out now and then is a client, not a scanner).

Biflow records (RFC 5103, e.g. from FlowCEP's pcap flow meter) carry the reply in the same
record: a UDP request with ``reversePacketDeltaCount > 0`` was answered, exactly as if a
separate reply uniflow had been seen. For TCP the forward direction is the initiator's, so the
probe test applies to it (packets, no ACK), and a flow whose responder sent more than
``max_probe_packets`` packets is a conversation, not a probe. Without the reverse columns
(uniflows) behaviour is unchanged.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from ipaddress import ip_address, ip_network
from typing import Any

from flowcep_plugin.api import (
    DURATION_SCHEMA,
    TRANSPORT,
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
    make_alert,
    parse_duration,
)

__all__ = ["SPEC", "PortScanDetector", "flowcep_register_detectors"]

ACK = 0x10
ECHO_REQUEST = {1: 8, 58: 128}  # ICMP / ICMPv6 echo request types
#: at most this many victim addresses/ports are listed in one alert (counts stay exact)
LIST_LIMIT = 100

RULES = (
    RuleSpec(
        id="portscan-horizontal", name="Horizontal port scan",
        description="One source probed the same port on many hosts (handshakes never completed).",
        severity="medium", risk_score=47, technique=("T1046", "T1595.001"),
        count_fields=("hosts", "probes"),
    ),
    RuleSpec(
        id="portscan-vertical", name="Vertical port scan",
        description="One source probed many ports of one host (handshakes never completed).",
        severity="medium", risk_score=47, technique=("T1046",),
        count_fields=("ports", "probes"),
    ),
    RuleSpec(
        id="portscan-sweep", name="ICMP host sweep",
        description="One source sent ICMP echo requests to many hosts.",
        severity="low", risk_score=21, technique=("T1018", "T1595.001"),
        transport="icmp", count_fields=("hosts", "probes"),
    ),
)

CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "window": {**DURATION_SCHEMA, "description": "length of the counting window (Zeek: 5 min)"},
        "horizontal_hosts": {"type": "integer", "minimum": 2,
                             "description": "distinct hosts probed on one port (Zeek: 25)"},
        "vertical_ports": {"type": "integer", "minimum": 2,
                           "description": "distinct ports probed on one host (Zeek: 15)"},
        "sweep_hosts": {"type": "integer", "minimum": 2,
                        "description": "distinct hosts sent ICMP echo requests (Elastic: 100)"},
        "max_probe_packets": {"type": "integer", "minimum": 1,
                              "description": "largest flow, in packets, that counts as a probe (Elastic: 2)"},
        "udp_unanswered_share": {"type": "number", "minimum": 0, "maximum": 1,
                                 "description": "UDP: share of the hosts/ports asked that must stay "
                                                "unanswered (ours: 0.5)"},
        "ignore_sources": {"type": "array", "items": {"type": "string"},
                           "description": "CIDRs of sanctioned scanners never reported"},
    },
}

DEFAULTS: dict[str, Any] = {
    "window": "5 min",
    "horizontal_hosts": 25,
    "vertical_ports": 15,
    "sweep_hosts": 100,
    "max_probe_packets": 2,
    "udp_unanswered_share": 0.5,
    "ignore_sources": [],
}


class _State:
    __slots__ = ("horizontal", "vertical", "sweep", "udp", "udp_seen", "h_probes", "v_probes", "s_probes")

    def __init__(self) -> None:
        self.horizontal: dict[tuple[str, int, int], set[str]] = defaultdict(set)
        self.vertical: dict[tuple[str, str, int], set[int]] = defaultdict(set)
        self.sweep: dict[str, set[str]] = defaultdict(set)
        # UDP candidates wait for the window end: a reply flow may follow the request
        self.udp: list[tuple[str, str, int]] = []
        self.udp_seen: set[tuple[str, str, int]] = set()  # (src, dst, sport) of every UDP flow
        # probe counts under the same keys as the sets above
        self.h_probes: dict[tuple[str, int, int], int] = defaultdict(int)
        self.v_probes: dict[tuple[str, str, int], int] = defaultdict(int)
        self.s_probes: dict[str, int] = defaultdict(int)


class PortScanDetector:
    """Counts probes per source in tumbling windows; fires when a window closes."""

    name = "portscan"

    def __init__(self, config: Mapping[str, Any], ctx: Context) -> None:
        self.window_ms = int(parse_duration(config["window"]) * 1000)
        self.h_hosts = int(config["horizontal_hosts"])
        self.v_ports = int(config["vertical_ports"])
        self.s_hosts = int(config["sweep_hosts"])
        self.max_packets = int(config["max_probe_packets"])
        self.udp_share = float(config["udp_unanswered_share"])
        try:
            self.ignore = [ip_network(c, strict=False) for c in config.get("ignore_sources", ())]
        except ValueError as exc:
            raise ConfigError(f"detectors.portscan.ignore_sources: {exc}") from None
        self._ignored: dict[str, bool] = {}
        self.windows = TumblingWindows(self.window_ms, _State, self._finish, "portscan", ctx.stats)

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
        return self.windows.add(batch, lambda st, idx, _start: self._accumulate(st, cols, idx))

    def on_watermark(self, watermark_ms: int) -> list[Event]:
        return self.windows.close_until(watermark_ms)

    def flush(self) -> list[Event]:
        return self.windows.flush()

    @staticmethod
    def _columns(batch: FlowBatch) -> tuple[Any, ...]:
        return (address_column(batch, "source"), address_column(batch, "destination"),
                int_column(batch, "protocolIdentifier"), int_column(batch, "destinationTransportPort"),
                int_column(batch, "sourceTransportPort"), int_column(batch, "packetDeltaCount", default=1),
                "tcpControlBits" in batch.columns, int_column(batch, "tcpControlBits", default=-1),
                int_column(batch, "icmpTypeCodeIPv4", "icmpTypeCodeIPv6", default=-1),
                int_column(batch, "icmpTypeIPv4", "icmpTypeIPv6", default=-1),
                # biflows: packets the responder sent back in the same record (0 for uniflows)
                int_column(batch, "reversePacketDeltaCount", default=0))

    def _accumulate(self, st: _State, cols: tuple[Any, ...], idx: list[int]) -> None:
        src, dst, proto, dport, sport, packets, has_flags, flags, icmp, icmp_type, rpackets = cols
        maxp = self.max_packets
        ignore = self.ignore
        for i in idx:
            s, d, p = src[i], dst[i], proto[i]
            if s is None or d is None:
                continue
            if p == 17:
                st.udp_seen.add((s, d, sport[i]))
                if rpackets[i] > 0:  # biflow answered in the same record: same as a reply uniflow
                    st.udp_seen.add((d, s, dport[i]))
            if ignore and self._is_ignored(s):
                continue
            if p == 6:
                if packets[i] > maxp or rpackets[i] > maxp:
                    continue
                f = flags[i]
                if has_flags and f >= 0 and f & ACK:
                    continue
                hk = (s, 6, dport[i])
                vk = (s, d, 6)
                st.horizontal[hk].add(d)
                st.vertical[vk].add(dport[i])
                st.h_probes[hk] += 1
                st.v_probes[vk] += 1
            elif p == 17:
                if packets[i] <= maxp:
                    st.udp.append((s, d, dport[i]))
            elif p in ECHO_REQUEST:
                t = icmp_type[i] if icmp_type[i] >= 0 else (icmp[i] >> 8 if icmp[i] >= 0 else -1)
                if t in (ECHO_REQUEST[p], -1):
                    st.sweep[s].add(d)
                    st.s_probes[s] += 1

    def _finish(self, st: _State, start: int, end: int) -> list[Event]:
        # UDP: every small flow is asked; only unanswered ones are probes, and a source most of
        # whose questions were answered is a client (a resolver whose queries sometimes time out)
        h_asked: dict[tuple[str, int, int], set[str]] = defaultdict(set)
        v_asked: dict[tuple[str, str, int], set[int]] = defaultdict(set)
        for s, d, dp in st.udp:
            h_asked[(s, 17, dp)].add(d)
            v_asked[(s, d, 17)].add(dp)
            if (d, s, dp) in st.udp_seen:  # answered: not a probe
                continue
            st.horizontal[(s, 17, dp)].add(d)
            st.vertical[(s, d, 17)].add(dp)
            st.h_probes[(s, 17, dp)] += 1
            st.v_probes[(s, d, 17)] += 1
        share = self.udp_share
        out: list[Event] = []
        minutes = (end - start) / 60000
        # most keys are one probe or a client's few connections: filter before sorting
        h_min, v_min = self.h_hosts, self.v_ports
        for (s, p, dp), hosts in sorted(kv for kv in st.horizontal.items() if len(kv[1]) >= h_min):
            if p == 17 and len(hosts) < share * len(h_asked[(s, p, dp)]):
                continue
            proto = TRANSPORT.get(p, str(p))
            out.append(make_alert(
                RULES[0], time_ms=end, detector=self.name, source_ip=s,
                destination_ip=sorted(hosts)[:LIST_LIMIT], destination_port=dp, transport=proto,
                counts={"hosts": len(hosts), "probes": st.h_probes[(s, p, dp)]},
                summary=f"{s} probed {proto} port {dp} on {len(hosts)} hosts in {minutes:g} min",
                window=(start, end), key=s,
            ))
        for (s, d, p), ports in sorted(kv for kv in st.vertical.items() if len(kv[1]) >= v_min):
            if p == 17 and len(ports) < share * len(v_asked[(s, d, p)]):
                continue
            proto = TRANSPORT.get(p, str(p))
            ordered = sorted(ports)
            out.append(make_alert(
                RULES[1], time_ms=end, detector=self.name, source_ip=s, destination_ip=d,
                transport=proto,
                counts={"ports": len(ports), "probes": st.v_probes[(s, d, p)]},
                summary=(f"{s} probed {len(ports)} {proto} ports of {d} in {minutes:g} min "
                         f"({ordered[0]}-{ordered[-1]})"),
                window=(start, end), fields={"ports": ordered[:LIST_LIMIT]}, key=s,
            ))
        for s, hosts in sorted(st.sweep.items()):
            if len(hosts) >= self.s_hosts:
                out.append(make_alert(
                    RULES[2], time_ms=end, detector=self.name, source_ip=s,
                    destination_ip=sorted(hosts)[:LIST_LIMIT],
                    counts={"hosts": len(hosts), "probes": st.s_probes[s]},
                    summary=f"{s} pinged {len(hosts)} hosts in {minutes:g} min",
                    window=(start, end), key=s,
                ))
        return out


SPEC = DetectorSpec(
    name="portscan",
    summary="Horizontal and vertical port scans (probes that never complete a handshake) and ICMP host sweeps",
    factory=PortScanDetector,
    rules=RULES,
    config_schema=CONFIG_SCHEMA,
    defaults=DEFAULTS,
    references=(
        "Zeek policy/misc/scan.zeek: addr_scan_threshold 25, port_scan_threshold 15, 5 min interval",
        "Elastic detection rules: network sweep >= 100 destinations; SYN port scan with <= 2 packets per flow",
    ),
)


@hookimpl
def flowcep_register_detectors() -> list[DetectorSpec]:
    return [SPEC]
