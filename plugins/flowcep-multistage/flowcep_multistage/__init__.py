"""Multi-stage HTTP attack detection, written in EPL (``multistage.epl``).

FlowCEP's showcase (CSIRT-MU, "Rapid Prototyping of Flow-Based Detection Methods Using
Complex Event Processing", NOMS 2018): three detections whose rows are streams of their own,
and a fourth statement that joins them per attacker. Each stage is also an alert, so an
analyst sees the scan before the brute force begins; the correlated alert is critical.

Defaults are FlowCEP's (more than 16 flows/URLs/requests per window; 1-minute windows, 2 for
the HTTP scan, 5 for the correlation; scans are flows of fewer than 10 packets) plus two
restrictions of ours: the SYN scan counts TCP probes only and needs at least 25 distinct hosts
(Zeek's address-scan threshold), so a client opening many short connections to one server is
not a scanner, and 25 hosts the source never reached (a completed handshake, any port, in the
same minute), so a NAT address whose browsers fall back from a refused https to http is not
one either (portscan's rule; docs/detectors.md, multistage).
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from flowcep_plugin.api import DetectorSpec, RuleSpec, hookimpl

__all__ = ["SPEC", "EPL_TEXT", "flowcep_register_detectors"]

EPL_TEXT = resources.files(__name__).joinpath("multistage.epl").read_text(encoding="utf-8")

RULES = (
    RuleSpec(
        id="multistage-tcp-syn-scan", name="TCP SYN scan", statement="TCPSYNscan",
        description="Stage 1: many small TCP flows from one source to one port on many hosts it never reached.",
        severity="low", risk_score=30, technique=("T1046", "T1595.001"), transport="tcp",
        source_field="Attacker", destination_port_field="destPort",
        count_fields=("AtkCount", "Hosts"),
        summary="{Attacker} sent {AtkCount} small TCP flows to port {destPort} on {Hosts} hosts",
    ),
    RuleSpec(
        id="multistage-http-scan", name="HTTP scan", statement="HTTPscan",
        description="Stage 2: one source requested the same URL from many web servers.",
        severity="medium", risk_score=47, technique=("T1595", "T1595.003"), transport="tcp",
        source_field="Scanner", count_fields=("AtkCount",),
        summary="{Scanner} requested {URL} from {AtkCount} servers",
    ),
    RuleSpec(
        id="multistage-http-bruteforce", name="HTTP login brute force", statement="BruteForce",
        description="Stage 3: many requests for a login/admin/auth URL on one server.",
        severity="high", risk_score=73, technique=("T1110", "T1110.001"), transport="tcp",
        source_field="Attacker", destination_field="Destination", count_fields=("AtkCount",),
        summary="{Attacker} requested {URL} {AtkCount} times on {Destination}",
    ),
    RuleSpec(
        id="multistage-attack", name="Multi-stage HTTP attack", statement="MultiStage",
        description="One attacker scanned, probed web servers for login pages and guessed passwords.",
        severity="critical", risk_score=99,
        technique=("T1046", "T1595.003", "T1110.001"), transport="tcp",
        source_field="Attacker",
        count_fields=("TCPSYNscanCount", "HTTPscanCount", "BruteForceCount"),
        summary=("{Attacker}: SYN scan ({TCPSYNscanCount} flows), HTTP scan ({HTTPscanCount} servers), "
                 "login brute force ({BruteForceCount} requests)"),
    ),
)


def _seconds(desc: str) -> dict[str, Any]:
    return {"type": "integer", "minimum": 1, "description": desc + " (seconds)"}


def _count(desc: str) -> dict[str, Any]:
    return {"type": "integer", "minimum": 0, "description": desc}


CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "scan_window_seconds": _seconds("SYN scan window (FlowCEP: 1 minute)"),
        "scan_max_packets": _count("a scan flow has fewer packets than this (FlowCEP: 10)"),
        "scan_min_flows": _count("scan flows to one port must exceed this (FlowCEP: 16)"),
        "scan_min_hosts": _count("distinct hosts probed on that port, and hosts of the source never reached, "
                                 "at least (Zeek: 25)"),
        "http_unique_window_seconds": _seconds("window for counting URL repeats (FlowCEP: 1 minute)"),
        "http_max_repeats": _count("a probe asks a server for a URL fewer times than this (FlowCEP: 3)"),
        "http_scan_window_seconds": _seconds("HTTP scan window (FlowCEP: 2 minutes)"),
        "http_min_servers": _count("servers probed for one URL must exceed this (FlowCEP: 16)"),
        "bruteforce_window_seconds": _seconds("login brute-force window (FlowCEP: 1 minute)"),
        "bruteforce_min_requests": _count("requests for one login URL on one server must exceed this (FlowCEP: 16)"),
        "correlation_window_seconds": _seconds("window joining the three stages (FlowCEP: 5 minutes)"),
    },
}

DEFAULTS: dict[str, Any] = {
    "scan_window_seconds": 60,
    "scan_max_packets": 10,
    "scan_min_flows": 16,
    "scan_min_hosts": 25,
    "http_unique_window_seconds": 60,
    "http_max_repeats": 3,
    "http_scan_window_seconds": 120,
    "http_min_servers": 16,
    "bruteforce_window_seconds": 60,
    "bruteforce_min_requests": 16,
    "correlation_window_seconds": 300,
}

SPEC = DetectorSpec(
    name="multistage",
    summary="Multi-stage HTTP attack in EPL: TCP SYN scan -> HTTP scan -> login brute force, per attacker",
    epl=EPL_TEXT,
    partition="source",  # every statement groups by the source first; alerts are keyed by it
    rules=RULES,
    config_schema=CONFIG_SCHEMA,
    defaults=DEFAULTS,
    references=(
        "FlowCEP (CSIRT-MU, NOMS 2018) modules 01-03 and 10: > 16 per window, 1/2/5-minute windows, < 10 packets",
        "Zeek policy/misc/scan.zeek: 25 hosts for an address scan",
    ),
)


@hookimpl
def flowcep_register_detectors() -> list[DetectorSpec]:
    return [SPEC]
