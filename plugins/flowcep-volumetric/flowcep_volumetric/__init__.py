"""Volumetric attacks on one destination: floods and reflection/amplification.

Rates are measured per victim over short tumbling windows (default 10 s) because a flood is a
rate, and an alert should come within seconds; the suppressor then merges the windows of one
attack into one alert per victim. Every rule also looks at the *asymmetry* between what the
victim receives and what it sends back, which is what separates an attack from a busy server:

* SYN flood: connection attempts that never complete (SYN without ACK from the initiator)
  arriving at one port of one destination at ``syn_rate`` or more in some second of the window
  (the peak second, as Suricata's ``detection_filter ... count N, seconds 1`` counts; keyed by
  port, so a fast vertical scan - one SYN per port - is a scan, not a flood);
* UDP / ICMP flood: packets per second to one destination above ``udp_pps`` / ``icmp_pps``
  while the destination sends back less than ``1/asymmetry`` of the bytes it receives;
* reflection/amplification: responses from a UDP service port that amplifies (DNS 53, NTP
  123, SSDP 1900, memcached 11211, CharGEN 19, CLDAP 389) arriving from at least
  ``min_reflectors`` hosts at more than ``amplification_bps`` bits per second, with at least
  ``asymmetry`` times more response than request bytes (spoofed requests never came from the
  victim at all). US-CERT TA14-017A lists amplification factors from 28 (DNS) to 557 (NTP).

Floods use spoofed or many sources, so alerts are keyed by the victim (``flowcep.key``) and
carry the number of distinct sources instead of one attacker address.

Biflow records (RFC 5103) carry the destination's answer in ``reversePacketDeltaCount`` /
``reverseOctetDeltaCount``; it is counted as the reply uniflow it stands for, so the asymmetry
tests see what the victim sent back. Uniflow records behave as before.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from flowcep_plugin.api import (
    DURATION_SCHEMA,
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

__all__ = ["SPEC", "VolumetricDetector", "flowcep_register_detectors"]

SYN, ACK = 0x02, 0x10
#: at most this many source addresses are listed in one alert (counts stay exact)
LIST_LIMIT = 20

RULES = (
    RuleSpec(id="volumetric-syn-flood", name="SYN flood",
             description="Connection attempts that never complete arrive at one service of one host at a flood rate.",
             severity="high", risk_score=73, technique=("T1499", "T1499.001"), transport="tcp",
             count_fields=("syn_flows", "peak_per_second", "sources")),
    RuleSpec(id="volumetric-udp-flood", name="UDP flood",
             description="UDP packets arrive at one destination at a flood rate and are hardly answered.",
             severity="high", risk_score=73, technique=("T1498", "T1498.001"), transport="udp",
             count_fields=("packets", "per_second", "sources")),
    RuleSpec(id="volumetric-icmp-flood", name="ICMP flood",
             description="ICMP packets arrive at one destination at a flood rate and are hardly answered.",
             severity="high", risk_score=73, technique=("T1498", "T1498.001"), transport="icmp",
             count_fields=("packets", "per_second", "sources")),
    RuleSpec(id="volumetric-amplification", name="Reflection amplification",
             description="Large responses from an amplifying UDP service, which the victim never asked for, "
                         "arrive from many reflectors.",
             severity="critical", risk_score=90, technique=("T1498", "T1498.002"), transport="udp",
             count_fields=("bytes", "bits_per_second", "reflectors", "ratio")),
)

CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "window": {**DURATION_SCHEMA, "description": "rate measurement window (ours: 10 s)"},
        "syn_rate": {"type": "number", "minimum": 0,
                     "description": "incomplete TCP attempts to one port of one host in its busiest second"},
        "udp_pps": {"type": "number", "minimum": 0, "description": "UDP packets per second to one host"},
        "icmp_pps": {"type": "number", "minimum": 0, "description": "ICMP packets per second to one host"},
        "asymmetry": {"type": "number", "minimum": 1,
                      "description": "received / sent bytes of the victim (floods), response / request (amplification)"},
        "amplification_bps": {"type": "number", "minimum": 0,
                              "description": "response bits per second from amplifying services to one host"},
        "min_reflectors": {"type": "integer", "minimum": 1, "description": "distinct reflectors"},
        "amplification_ports": {"type": "object",
                                "additionalProperties": {"type": "integer", "minimum": 1, "maximum": 65535},
                                "description": "amplifying UDP services: name -> source port"},
    },
}

DEFAULTS: dict[str, Any] = {
    "window": "10s",
    "syn_rate": 50,
    "udp_pps": 5000,
    "icmp_pps": 1000,
    "asymmetry": 10,
    "amplification_bps": 1_000_000,
    "min_reflectors": 5,
    "amplification_ports": {"dns": 53, "ntp": 123, "ssdp": 1900, "memcached": 11211, "chargen": 19,
                            "cldap": 389},
}


class _State:
    __slots__ = ("syn", "syn_src", "pk_in", "by_in", "src_in", "by_out", "resp", "refl", "req")

    def __init__(self) -> None:
        # (victim, port) -> attempts per second (epoch second), and the sources
        self.syn: dict[tuple[str, int], dict[int, int]] = defaultdict(lambda: defaultdict(int))
        self.syn_src: dict[tuple[str, int], set[str]] = defaultdict(set)
        # per (proto, host): packets/bytes received, sources, bytes sent
        self.pk_in: dict[tuple[int, str], int] = defaultdict(int)
        self.by_in: dict[tuple[int, str], int] = defaultdict(int)
        self.src_in: dict[tuple[int, str], set[str]] = defaultdict(set)
        self.by_out: dict[tuple[int, str], int] = defaultdict(int)
        # amplification: (victim, service port) -> response bytes / reflectors; request bytes
        self.resp: dict[tuple[str, int], int] = defaultdict(int)
        self.refl: dict[tuple[str, int], set[str]] = defaultdict(set)
        self.req: dict[tuple[str, int], int] = defaultdict(int)


class VolumetricDetector:
    """Rates and asymmetry per destination in short tumbling windows."""

    name = "volumetric"

    def __init__(self, config: Mapping[str, Any], ctx: Context) -> None:
        self.window_ms = int(parse_duration(config["window"]) * 1000)
        self.syn_rate = float(config["syn_rate"])
        self.udp_pps = float(config["udp_pps"])
        self.icmp_pps = float(config["icmp_pps"])
        self.asym = float(config["asymmetry"])
        self.amp_bps = float(config["amplification_bps"])
        self.min_refl = int(config["min_reflectors"])
        self.amp_ports = {int(p): n for n, p in config["amplification_ports"].items()}
        self.windows = TumblingWindows(self.window_ms, _State, self._finish, "volumetric", ctx.stats)

    def on_batch(self, batch: FlowBatch) -> list[Event]:
        if not len(batch):
            return []
        cols = self._columns(batch)  # converted once per batch, shared by every window in it
        return self.windows.add(batch, lambda st, idx, _s: self._acc(st, cols, idx))

    def on_watermark(self, watermark_ms: int) -> list[Event]:
        return self.windows.close_until(watermark_ms)

    def flush(self) -> list[Event]:
        return self.windows.flush()

    @staticmethod
    def _columns(batch: FlowBatch) -> tuple[list[Any], ...]:
        return (address_column(batch, "source"), address_column(batch, "destination"),
                int_column(batch, "protocolIdentifier"), int_column(batch, "sourceTransportPort"),
                int_column(batch, "destinationTransportPort"),
                int_column(batch, "packetDeltaCount", default=1), int_column(batch, "octetDeltaCount"),
                int_column(batch, "tcpControlBits", default=-1), batch.event_times(),
                # biflows (RFC 5103): what the destination sent back in the same record
                int_column(batch, "reversePacketDeltaCount"), int_column(batch, "reverseOctetDeltaCount"))

    def _acc(self, st: _State, cols: tuple[list[Any], ...], idx: list[int]) -> None:
        src, dst, proto, sport, dport, packets, octets, flags, times, rpackets, roctets = cols
        amp = self.amp_ports
        for i in idx:
            s, d, p = src[i], dst[i], proto[i]
            if s is None or d is None:
                continue
            if p == 6:
                f = flags[i]
                if f >= 0 and f & SYN and not f & ACK:
                    st.syn[(d, dport[i])][times[i] // 1000] += 1
                    st.syn_src[(d, dport[i])].add(s)
                continue
            if p not in (17, 1, 58):
                continue
            proto_key = 1 if p == 58 else p
            st.pk_in[(proto_key, d)] += packets[i]
            st.by_in[(proto_key, d)] += octets[i]
            st.src_in[(proto_key, d)].add(s)
            st.by_out[(proto_key, s)] += octets[i]
            if p == 17:
                if sport[i] in amp:
                    st.resp[(d, sport[i])] += octets[i]
                    st.refl[(d, sport[i])].add(s)
                if dport[i] in amp:
                    st.req[(s, dport[i])] += octets[i]
            if rpackets[i] > 0:
                # biflow: the reverse direction counts exactly as a reply uniflow d -> s would,
                # so a server answering its clients is not taken for a flood victim
                ro = roctets[i]
                st.pk_in[(proto_key, s)] += rpackets[i]
                st.by_in[(proto_key, s)] += ro
                st.src_in[(proto_key, s)].add(d)
                st.by_out[(proto_key, d)] += ro
                if p == 17:
                    if dport[i] in amp:
                        st.resp[(s, dport[i])] += ro
                        st.refl[(s, dport[i])].add(d)
                    if sport[i] in amp:
                        st.req[(d, sport[i])] += ro

    def _finish(self, st: _State, start: int, end: int) -> list[Event]:
        secs = (end - start) / 1000
        out: list[Event] = []
        for (d, port), per_second in sorted(st.syn.items()):
            peak = max(per_second.values())
            if peak < self.syn_rate:
                continue
            n = sum(per_second.values())
            srcs = st.syn_src[(d, port)]
            out.append(make_alert(
                RULES[0], time_ms=end, detector=self.name, source_ip=next(iter(srcs)) if len(srcs) == 1 else None,
                destination_ip=d, destination_port=port,
                counts={"syn_flows": n, "peak_per_second": peak, "sources": len(srcs)},
                summary=(f"{n} incomplete connections to {d}:{port} in {secs:g} s "
                         f"(peak {peak} in one second) from {len(srcs)} sources"),
                window=(start, end), key=d,
                fields={"sample_sources": sorted(srcs)[:LIST_LIMIT]},
            ))
        for (p, d), pk in sorted(st.pk_in.items()):
            limit, rule, label = ((self.udp_pps, RULES[1], "UDP") if p == 17
                                  else (self.icmp_pps, RULES[2], "ICMP"))
            pps = pk / secs
            if pps < limit:
                continue
            received, sent = st.by_in[(p, d)], st.by_out.get((p, d), 0)
            if received < self.asym * sent:
                continue  # the host answers: a busy server, not a flood
            srcs = st.src_in[(p, d)]
            single = next(iter(srcs)) if len(srcs) == 1 else None
            out.append(make_alert(
                rule, time_ms=end, detector=self.name, source_ip=single, destination_ip=d,
                counts={"packets": pk, "per_second": round(pps, 1), "sources": len(srcs)},
                summary=(f"{pk} {label} packets to {d} in {secs:g} s ({pps:.0f}/s) from "
                         f"{len(srcs)} sources; it sent back {sent} of {received} bytes"),
                window=(start, end), key=d, fields={"sample_sources": sorted(srcs)[:LIST_LIMIT]},
            ))
        for (d, port), resp in sorted(st.resp.items()):
            bps = resp * 8 / secs
            refl = st.refl[(d, port)]
            if bps < self.amp_bps or len(refl) < self.min_refl:
                continue
            req = st.req.get((d, port), 0)
            if resp < self.asym * req:
                continue  # the host asked for these answers (a resolver, an NTP client)
            ratio = round(resp / req, 1) if req else None
            svc = self.amp_ports[port]
            out.append(make_alert(
                RULES[3], time_ms=end, detector=self.name, destination_ip=d,
                counts={"bytes": resp, "bits_per_second": round(bps), "reflectors": len(refl),
                        "ratio": ratio},
                summary=(f"{len(refl)} {svc} reflectors (UDP source port {port}) sent {d} "
                         f"{bps / 1e6:.1f} Mbit/s in {secs:g} s; it sent {req} request bytes"),
                window=(start, end), key=d,
                fields={"service": svc, "sample_reflectors": sorted(refl)[:LIST_LIMIT]},
            ))
        return out


SPEC = DetectorSpec(
    name="volumetric",
    summary="SYN, UDP and ICMP floods and DNS/NTP/SSDP/memcached reflection amplification, by rate and asymmetry",
    factory=VolumetricDetector,
    rules=RULES,
    config_schema=CONFIG_SCHEMA,
    defaults=DEFAULTS,
    references=(
        "US-CERT TA14-017A UDP-based amplification attacks: amplifying ports and bandwidth amplification factors",
        "suricata-verify SYN-flood test rule: detection_filter count 100, seconds 1 (syn_rate is half that)",
        "rates (udp_pps, icmp_pps, amplification_bps) and the 10 s window are FlowCEP's own choices",
    ),
)


@hookimpl
def flowcep_register_detectors() -> list[DetectorSpec]:
    return [SPEC]
