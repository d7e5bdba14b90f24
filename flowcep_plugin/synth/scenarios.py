"""The standard scenarios: background traffic plus zero or more attacks at fixed offsets.

A scenario is a pure function of (name, seed, duration, start): one ``random.Random(seed)``
drives every choice, times are offsets from ``start``, nothing reads the clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import ConfigError
from .attacks import ATTACKS
from .background import background
from .builder import Builder
from .model import DEFAULT_START_MS, Label, Scenario
from .network import CLIENT_NET, DMZ, SERVER_NET, make_network

__all__ = ["SCENARIOS", "ScenarioDef", "generate", "scenario_names"]


@dataclass(frozen=True)
class ScenarioDef:
    """``attacks`` are (attack name, offset in seconds from the start)."""

    name: str
    summary: str
    attacks: tuple[tuple[str, int], ...]
    min_duration_s: int


_ONE = 60  # single-attack scenarios start their attack after a minute of background

SCENARIOS: dict[str, ScenarioDef] = {d.name: d for d in (
    ScenarioDef("benign", "background only: browsing (incl. a busy client), DNS, mail, backups, NTP, SSH",
                (), 180),
    ScenarioDef("multistage-http", "SYN scan of port 80 -> HTTP scan for login URLs -> POST /login brute force",
                (("multistage-http", _ONE),), 360),
    ScenarioDef("portscan-horizontal", "SYN sweep of port 3389 over the client /24",
                (("portscan-horizontal", _ONE),), 180),
    ScenarioDef("portscan-vertical", "SYN scan of ports 1-1024 on one server",
                (("portscan-vertical", _ONE),), 180),
    ScenarioDef("portscan-slow", "slow SYN scan of port 22, one DMZ host every ~8 s for 8 minutes",
                (("portscan-slow", 30),), 540),
    ScenarioDef("ssh-bruteforce", "SSH password guessing on the bastion for 4 minutes",
                (("ssh-bruteforce", _ONE),), 360),
    ScenarioDef("syn-flood", "SYN flood from spoofed sources on a web server",
                (("syn-flood", _ONE),), 180),
    ScenarioDef("dns-amplification", "DNS ANY responses from 40 reflectors to a DMZ host",
                (("dns-amplification", _ONE),), 180),
    ScenarioDef("policy-violation", "SMB and telnet from a client to the restricted file server",
                (("policy-violation", _ONE),), 180),
    ScenarioDef("icmp-sweep", "ICMP echo sweep of the server /24",
                (("icmp-sweep", _ONE),), 180),
    ScenarioDef("udp-flood", "UDP flood from 30 sources on a DMZ host",
                (("udp-flood", _ONE),), 180),
    ScenarioDef("icmp-flood", "ICMP echo flood from 25 sources on the mail server",
                (("icmp-flood", _ONE),), 180),
    ScenarioDef("mixed", "every attack above, staggered, over the same background",
                (("portscan-slow", 30), ("multistage-http", 60), ("icmp-sweep", 250), ("portscan-horizontal", 330),
                 ("portscan-vertical", 400), ("ssh-bruteforce", 300), ("syn-flood", 460),
                 ("dns-amplification", 470), ("policy-violation", 380), ("udp-flood", 520),
                 ("icmp-flood", 545)), 600),
)}

#: Policy the policy-violation scenario breaks, for detector configuration (labels "hints").
POLICY = {
    "restricted_hosts": ["10.10.0.45/32"],
    "restricted_ports": [23, 139, 445],
    "allowed_sources": ["10.10.1.5/32"],
}


def scenario_names() -> list[str]:
    return list(SCENARIOS)


def generate(name: str, seed: int = 1, duration_s: float = 600, start_ms: int = DEFAULT_START_MS,
             clients: int = 16, busy: bool = True, attacks: Sequence[str] | None = None) -> Scenario:
    """Generate scenario ``name``; raises ConfigError for unknown names or too short durations.

    ``clients`` and ``busy`` size the background (the bundled demo uses a light one);
    ``attacks`` restricts which of the scenario's attacks run (default: all of them).
    """
    if name not in SCENARIOS:
        raise ConfigError(f"unknown scenario {name!r}; choose one of: {', '.join(SCENARIOS)}")
    sdef = SCENARIOS[name]
    if duration_s < sdef.min_duration_s:
        raise ConfigError(f"scenario {name!r} needs --duration of at least {sdef.min_duration_s} s "
                          f"(got {duration_s:g} s)")
    from random import Random

    rng = Random(seed)
    net = make_network(rng, n_clients=clients)
    b = Builder(rng)
    duration_ms = int(duration_s * 1000)
    t0, t1 = start_ms, start_ms + duration_ms
    background(b, net, t0, t1, busy=busy)
    labels: list[Label] = []
    for attack, offset in sdef.attacks:
        if attacks is not None and attack not in attacks:
            continue
        ATTACKS[attack](b, net, labels, t0 + offset * 1000)
    convs = sorted(b.conversations, key=lambda c: (c.start_ms, c.end_ms, c.client, c.sport))
    # label indexes survive the sort because they point into ``labels``, not into ``convs``
    hints = {
        "networks": {"clients": CLIENT_NET, "servers": SERVER_NET, "dmz": DMZ},
        "resolver": net.resolver, "mail": net.mail, "busy_client": net.busy_client,
        "web_servers": list(net.web_servers),
        "policy": POLICY,
    }
    return Scenario(name, seed, start_ms, duration_ms, convs, labels, hints)
