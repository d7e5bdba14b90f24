"""Attack generators: each adds its conversations and the label(s) that describe them.

Shapes follow how the tools really behave on the wire, so detectors are tested on what a
flow meter would show: SYN scans are one-packet flows answered by RST/ACK (closed), SYN/ACK
then the scanner's RST (open) or nothing (filtered); HTTP scans and brute force are complete
short HTTP sessions with the URL exported; SSH guessing connections have the Stream4Flow
shape (10-20 packets, 1800-5000 bytes, under 12 s); a SYN flood comes from spoofed sources;
DNS amplification is seen only as large responses from reflectors to the victim.

Rates are chosen to clear the defaults documented in issue 7 with margin: FlowCEP's
"> 16 per minute", Zeek's 25 hosts / 15 ports in 5 minutes and 30 SSH guesses in 30 minutes,
Elastic's 100-destination sweep and 250-port SYN scan, Stream4Flow's 10 SSH flows in 5 minutes.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

from .builder import Builder
from .model import Label, tcp_counts
from .network import CLIENT_NET, DMZ, SERVER_NET, Network

__all__ = ["ATTACKS", "Attack", "ATTACKERS"]

#: Attacker addresses (TEST-NET-3), one per attack so labels never overlap.
ATTACKERS = {
    "multistage-http": "203.0.113.66",
    "portscan-horizontal": "203.0.113.21",
    "portscan-vertical": "203.0.113.22",
    "portscan-slow": "203.0.113.23",
    "ssh-bruteforce": "203.0.113.44",
    "icmp-sweep": "203.0.113.31",
    "policy-violation": "10.10.1.13",
}

#: Port scans: Network Service Discovery, or Active Scanning: Scanning IP Blocks.
SCAN_TECHNIQUES = ["T1046", "T1595.001"]
LOGIN_URLS = ("/login", "/admin", "/wp-login.php", "/administrator/", "/user/login", "/auth/login",
              "/admin/login.php", "/manager/html")

Attack = Callable[[Builder, Network, list[Label], int], int]


def _label(b: Builder, labels: list[Label], **kw: object) -> Label:
    """Register a label and make it current for the conversations added next."""
    lb = Label(id="", start_ms=0, end_ms=0, flows=0, **kw)  # type: ignore[arg-type]
    lb.id = f"{lb.attack}-{len(labels) + 1}"
    labels.append(lb)
    b.label = len(labels) - 1
    return lb


def _close(b: Builder, lb: Label) -> int:
    """Set the label's span and flow count from its conversations; returns its end."""
    idx = b.label
    convs = [c for c in b.conversations if c.label == idx]
    lb.start_ms = min(c.start_ms for c in convs)
    lb.end_ms = max(c.end_ms for c in convs)
    lb.flows = sum((c.fwd_packets > 0) + (c.rev_packets > 0) for c in convs)
    b.label = -1
    return lb.end_ms


def multistage_http(b: Builder, net: Network, labels: list[Label], t: int) -> int:
    """SYN scan of port 80 over the DMZ /24, HTTP scan of the web servers found for login
    URLs, then password guessing (POST /login) on three of them. Returns the end time."""
    r = b.rng
    atk = ATTACKERS["multistage-http"]
    campaign = f"multistage-http-{len(labels) + 1}"
    web = set(net.web_servers)

    lb = _label(b, labels, attack="multistage-http", pattern="scan-horizontal", technique="T1046",
                techniques=SCAN_TECHNIQUES, attacker=atk, attackers=[atk], victims=[DMZ], ports=[80],
                campaign=campaign,
                description="stage 1: TCP SYN scan of port 80 across the DMZ /24 (254 hosts in ~60 s)")
    hosts = [f"10.20.30.{h}" for h in range(1, 255)]
    r.shuffle(hosts)
    sport = b.eport()
    for i, h in enumerate(hosts):
        ts = t + i * 60_000 // len(hosts) + r.randint(0, 150)
        reply = "synack" if h in web else ("rst" if r.random() < 0.3 else "none")
        b.syn(ts, atk, h, 80, reply, sport=sport, rtt_ms=r.randint(1, 6))
    t = _close(b, lb) + r.randint(10_000, 15_000)

    lb = _label(b, labels, attack="multistage-http", pattern="http-scan", technique="T1595.003",
                techniques=["T1595.002", "T1595.003"], attacker=atk, attackers=[atk],
                victims=sorted(web, key=ipaddress.IPv4Address), ports=[80], campaign=campaign,
                description=f"stage 2: HTTP scan for {len(LOGIN_URLS)} login URLs on each of the "
                            f"{len(web)} web servers found")
    targets = sorted(r.sample(sorted(web), 3), key=ipaddress.IPv4Address)
    for url in LOGIN_URLS:
        order = sorted(web)
        r.shuffle(order)
        for h in order:
            found = url == "/login" and h in targets
            b.http(t, atk, h, h, url, 200 if found else 404, r.randint(1800, 2600) if found else 153,
                   r.randint(5, 40))
            t += r.randint(80, 200)
        t += r.randint(500, 1500)
    t = _close(b, lb) + r.randint(5_000, 10_000)

    lb = _label(b, labels, attack="multistage-http", pattern="bruteforce-http", technique="T1110.001",
                techniques=["T1110", "T1110.001", "T1110.003"], attacker=atk, attackers=[atk],
                victims=targets, ports=[80], campaign=campaign,
                description="stage 3: password guessing, POST /login ~30 times a minute on each of "
                            "3 servers for 2 minutes")
    for h in targets:
        ts = t + r.randint(0, 1000)
        for n in range(60):
            form = f"username=admin&password={r.choice(('123456', 'admin', 'qwerty', 'letmein', 'pass'))}{n}"
            b.http(ts, atk, h, h, "/login", 200, r.randint(1900, 2100), r.randint(10, 60), "POST", form)
            ts += r.randint(1500, 2500)
    return _close(b, lb)


def portscan_horizontal(b: Builder, net: Network, labels: list[Label], t: int) -> int:
    """One port (RDP, 3389) on every host of the client /24 in about a minute."""
    r = b.rng
    atk = ATTACKERS["portscan-horizontal"]
    lb = _label(b, labels, attack="portscan-horizontal", pattern="scan-horizontal", technique="T1046",
                techniques=SCAN_TECHNIQUES, attacker=atk, attackers=[atk], victims=[CLIENT_NET], ports=[3389],
                description="TCP SYN sweep of port 3389 over 254 client addresses in ~60 s")
    hosts = [f"10.10.1.{h}" for h in range(1, 255)]
    r.shuffle(hosts)
    live = set(net.clients) | {net.admin, net.busy_client}
    for i, h in enumerate(hosts):
        ts = t + i * 60_000 // len(hosts)
        reply = ("synack" if r.random() < 0.1 else "rst") if h in live else "none"
        b.syn(ts, atk, h, 3389, reply, rtt_ms=r.randint(1, 5))
    return _close(b, lb)


def portscan_vertical(b: Builder, net: Network, labels: list[Label], t: int) -> int:
    """Ports 1-1024 of one DMZ web server in ~40 s: closed ports answer RST/ACK."""
    r = b.rng
    atk = ATTACKERS["portscan-vertical"]
    victim = net.web_servers[1]
    lb = _label(b, labels, attack="portscan-vertical", pattern="scan-vertical", technique="T1046",
                techniques=SCAN_TECHNIQUES, attacker=atk, attackers=[atk], victims=[victim],
                ports=[1, 1024], description=f"TCP SYN scan of ports 1-1024 on {victim} in ~40 s")
    ports = list(range(1, 1025))
    r.shuffle(ports)
    sport = b.eport()
    for i, p in enumerate(ports):
        ts = t + i * 40_000 // len(ports)
        b.syn(ts, atk, victim, p, "synack" if p in (22, 80, 443) else "rst", sport=sport,
              rtt_ms=r.randint(1, 4))
    return _close(b, lb)


def portscan_slow(b: Builder, net: Network, labels: list[Label], t: int) -> int:
    """Port 22 on 60 DMZ hosts, one probe every ~8 s for 8 minutes: under per-minute
    thresholds (7-8 a minute, FlowCEP's is > 16), over Zeek's 25 hosts in 5 minutes (37) —
    in *any* 5-minute window, sliding or aligned: an 8-minute scan covers at least 4 minutes
    (30 probes) of some aligned window however the windows fall."""
    r = b.rng
    atk = ATTACKERS["portscan-slow"]
    lb = _label(b, labels, attack="portscan-slow", pattern="scan-slow", technique="T1046",
                techniques=SCAN_TECHNIQUES, attacker=atk, attackers=[atk], victims=[DMZ], ports=[22],
                description="slow TCP SYN scan of port 22: 60 DMZ hosts, one every ~8 s (8 minutes)")
    hosts = r.sample([f"10.20.30.{h}" for h in range(1, 255)], 60)
    web = set(net.web_servers)
    for i, h in enumerate(hosts):
        reply = "synack" if h in web and r.random() < 0.5 else ("rst" if r.random() < 0.2 else "none")
        b.syn(t + i * 8_000 + r.randint(0, 600), atk, h, 22, reply, rtt_ms=r.randint(1, 5))
    return _close(b, lb)


def _ssh_attempt(b: Builder) -> tuple[list[int], list[int]]:
    """Messages of one guessing connection, redrawn until the flow has the documented shape
    (both directions 10-20 packets and 1800-5000 bytes)."""
    r = b.rng
    while True:
        tries = r.randint(1, 3)
        fwd = [21, r.randint(900, 1500), 48, 16, 52] + [84] * tries + [36]
        rev = [21, r.randint(800, 1100), r.randint(450, 600), 16, 52] + [52] * tries
        fp, fb, rp, rb = tcp_counts(fwd, rev)
        if 10 <= fp <= 20 and 1800 <= fb <= 5000 and 10 <= rp <= 20 and 1800 <= rb <= 5000:
            return fwd, rev


def ssh_bruteforce(b: Builder, net: Network, labels: list[Label], t: int) -> int:
    """About 60 password-guessing connections to the SSH bastion over four minutes."""
    r = b.rng
    atk = ATTACKERS["ssh-bruteforce"]
    lb = _label(b, labels, attack="ssh-bruteforce", pattern="bruteforce-ssh", technique="T1110.001",
                techniques=["T1110", "T1110.001", "T1110.003"], attacker=atk, attackers=[atk],
                victims=[net.ssh_server], ports=[22],
                description="SSH password guessing: ~60 connections in 4 minutes, each 10-20 packets, "
                            "1800-5000 bytes, 2-9 s")
    end = t + 240_000
    while t < end:
        fwd, rev = _ssh_attempt(b)
        b.tcp(t, atk, net.ssh_server, 22, fwd, rev, r.randint(2_000, 9_000), "ssh")
        t += r.randint(2_500, 5_500)
    return _close(b, lb)


def _spoofed(b: Builder) -> str:
    while True:
        a = ipaddress.IPv4Address(b.rng.getrandbits(32))
        if a.is_global and not a.is_multicast and int(a) >> 24 < 224:
            return str(a)


def syn_flood(b: Builder, net: Network, labels: list[Label], t: int) -> int:
    """~100 SYNs a second for 40 s to one web server's port 80, from spoofed sources; the
    server answers SYN/ACK (twice) until its backlog is full, then stays silent."""
    r = b.rng
    victim = net.web_servers[2]
    lb = _label(b, labels, attack="syn-flood", pattern="syn-flood", technique="T1499.001",
                techniques=["T1498", "T1498.001", "T1499", "T1499.001"], attacker=None, attackers=[],
                victims=[victim], ports=[80], match="victim",
                description=f"SYN flood on {victim}:80 from ~4000 spoofed sources (100/s for 40 s)")
    for i in range(4000):
        ts = t + i * 10 + r.randint(0, 9)
        b.syn(ts, _spoofed(b), victim, 80, "half" if i < 600 else "none", tries=2 if i < 600 else 1)
    return _close(b, lb)


def dns_amplification(b: Builder, net: Network, labels: list[Label], t: int) -> int:
    """40 open resolvers answer spoofed ANY queries: ~3.5 KB responses (fragmented) to a
    DMZ host that never asked, for a minute."""
    r = b.rng
    victim = net.web_servers[3]
    lb = _label(b, labels, attack="dns-amplification", pattern="amplification", technique="T1498.002",
                techniques=["T1498", "T1498.002"], attacker=None, attackers=list(net.reflectors),
                victims=[victim], ports=[53], match="victim",
                description=f"DNS amplification on {victim}: 40 reflectors send ANY responses of "
                            "~3.5 KB, ~120 a second for 60 s; no queries from the victim")
    for refl in net.reflectors:
        for chunk in range(6):
            ts = t + chunk * 10_000 + r.randint(0, 500)
            b.dns(ts, victim, refl, "isc.org", "ANY", txt_size=r.randint(3200, 3800), rtt_ms=0,
                  queries_seen=False, repeat=r.randint(25, 35), spacing_ms=300, sport=r.randint(1024, 65535))
    return _close(b, lb)


def policy_violation(b: Builder, net: Network, labels: list[Label], t: int) -> int:
    """A client opens SMB and telnet sessions to the restricted file server (only the admin
    host may); the admin's own SMB session just before is allowed and unlabelled."""
    r = b.rng
    b.tcp(t - 30_000, net.admin, net.file_server, 445, [72, 104, 300, 2000], [180, 300, 220, 120_000],
          r.randint(2_000, 8_000), "smb")
    atk = ATTACKERS["policy-violation"]
    lb = _label(b, labels, attack="policy-violation", pattern="policy", technique="T1021",
                techniques=["T1021", "T1021.002"], attacker=atk, attackers=[atk],
                victims=[net.file_server], ports=[23, 445], accept_untagged=True,
                description=f"{atk} uses SMB (445) and telnet (23) on the restricted file server "
                            f"{net.file_server}; only {net.admin} is allowed")
    b.tcp(t, atk, net.file_server, 445, [72, 104, 300, 250, 900], [180, 300, 220, 150, 64_000],
          r.randint(2_000, 8_000), "smb")
    b.tcp(t + 45_000, atk, net.file_server, 23, [3, 6, 12] + [1] * 40, [12, 30, 80] + [200] * 20,
          r.randint(20_000, 60_000), "telnet")
    return _close(b, lb)


def icmp_sweep(b: Builder, net: Network, labels: list[Label], t: int) -> int:
    """ICMP echo to every address of the server /24 in ~50 s; live hosts answer (Elastic's
    network sweep: >= 100 destinations)."""
    r = b.rng
    atk = ATTACKERS["icmp-sweep"]
    lb = _label(b, labels, attack="icmp-sweep", pattern="sweep", technique="T1018",
                techniques=["T1018", "T1595.001"], attacker=atk, attackers=[atk], victims=[SERVER_NET],
                description="ICMP echo sweep of the server /24 (254 addresses in ~50 s)")
    live = {net.resolver, net.mail, net.backup_server, net.ntp, net.ssh_server, net.file_server,
            *net.backup_clients}
    hosts = [f"10.10.0.{h}" for h in range(1, 255)]
    r.shuffle(hosts)
    for i, h in enumerate(hosts):
        b.ping(t + i * 200 + r.randint(0, 50), atk, h, 1, h in live, r.randint(1, 4))
    return _close(b, lb)


def udp_flood(b: Builder, net: Network, labels: list[Label], t: int) -> int:
    """30 bots send ~250 UDP packets a second each (~7,500 pps) of 512-1200 bytes to random
    ports of a DMZ host for 30 s; the host sends nothing back. Flow records are cut every 5 s
    (an exporter's active timeout under load)."""
    r = b.rng
    victim = net.web_servers[4]
    bots = sorted({_spoofed(b) for _ in range(30)})
    lb = _label(b, labels, attack="udp-flood", pattern="udp-flood", technique="T1498.001",
                techniques=["T1498", "T1498.001"], attacker=None, attackers=bots, victims=[victim],
                match="victim",
                description=f"UDP flood on {victim}: 30 sources, ~7,500 packets a second for 30 s")
    for bot in bots:
        sport, dport = r.randint(1024, 65535), r.randint(1024, 65535)
        for chunk in range(6):
            n = r.randint(1150, 1350)
            size = r.randint(484, 1172)  # UDP payload: 512-1200 bytes on the wire
            b.udp(t + chunk * 5_000 + r.randint(0, 40), bot, victim, dport, [size] * n, [], 4_950, "",
                  sport=sport)
    return _close(b, lb)


def icmp_flood(b: Builder, net: Network, labels: list[Label], t: int) -> int:
    """25 sources send ~60 echo requests a second each (~1,500 pps, 1,000-byte packets) to
    the mail server for 30 s; it stops answering. Records are cut every 5 s."""
    r = b.rng
    victim = net.mail
    bots = sorted({_spoofed(b) for _ in range(25)})
    lb = _label(b, labels, attack="icmp-flood", pattern="icmp-flood", technique="T1498.001",
                techniques=["T1498", "T1498.001"], attacker=None, attackers=bots, victims=[victim],
                match="victim",
                description=f"ICMP flood on {victim}: 25 sources, ~1,500 echo requests a second for 30 s")
    for bot in bots:
        for chunk in range(6):
            n = r.randint(290, 310)
            b.ping(t + chunk * 5_000 + r.randint(0, 40), bot, victim, n, answered=False, payload=972,
                   interval_ms=16)
    return _close(b, lb)


ATTACKS: dict[str, Attack] = {
    "multistage-http": multistage_http,
    "portscan-horizontal": portscan_horizontal,
    "portscan-vertical": portscan_vertical,
    "portscan-slow": portscan_slow,
    "ssh-bruteforce": ssh_bruteforce,
    "syn-flood": syn_flood,
    "dns-amplification": dns_amplification,
    "policy-violation": policy_violation,
    "icmp-sweep": icmp_sweep,
    "udp-flood": udp_flood,
    "icmp-flood": icmp_flood,
}
