"""The synthetic organisation every scenario runs in (addresses are documented in
docs/evaluation.md; change them here only together with that page).

Internal: clients 10.10.1.0/24, servers 10.10.0.0/24, the DMZ web farm 10.20.30.0/24.
Attackers live in TEST-NET-3 (203.0.113.0/24), open DNS reflectors in TEST-NET-2
(198.51.100.0/24). Public web, mail and DNS peers are drawn (per seed) from prefixes of
large CDNs and hosting providers so they look like ordinary Internet destinations.
"""

from __future__ import annotations

import ipaddress
import random
from dataclasses import dataclass

__all__ = ["Network", "make_network"]

RESOLVER = "10.10.0.53"
MAIL = "10.10.0.25"
BACKUP_SERVER = "10.10.0.40"
NTP = "10.10.0.123"
SSH_SERVER = "10.10.0.22"
FILE_SERVER = "10.10.0.45"  # restricted: only the admin network may use SMB/telnet on it
ADMIN = "10.10.1.5"
BUSY_CLIENT = "10.10.1.200"
BACKUP_CLIENTS = ("10.10.0.80", "10.10.0.81", "10.10.0.82", "10.10.0.83")
DMZ = "10.20.30.0/24"
CLIENT_NET = "10.10.1.0/24"
SERVER_NET = "10.10.0.0/24"

_PUBLIC_PREFIXES = ("151.101.0.0/16", "104.16.0.0/13", "142.250.0.0/15", "23.32.0.0/11",
                    "13.32.0.0/15", "185.199.108.0/22", "172.217.0.0/16", "52.84.0.0/15")
_DNS_PREFIXES = ("192.5.5.0/24", "199.7.83.0/24", "192.33.4.0/24", "205.251.192.0/21",
                 "108.162.192.0/18", "173.245.58.0/23", "216.239.32.0/20", "194.0.0.0/12")
_MTA_PREFIXES = ("209.85.128.0/17", "40.92.0.0/15", "52.100.0.0/14", "17.57.0.0/16")

_WORDS = ("news", "shop", "cloud", "cdn", "media", "maps", "mail", "docs", "static", "video",
          "social", "weather", "travel", "bank", "forum", "wiki", "code", "music", "sport", "games")
_TLDS = ("com", "net", "org", "io", "eu", "cz", "de")


def _pick_addresses(rng: random.Random, prefixes: tuple[str, ...], n: int) -> list[str]:
    seen: dict[str, None] = {}
    nets = [ipaddress.IPv4Network(p) for p in prefixes]
    while len(seen) < n:
        net = nets[rng.randrange(len(nets))]
        addr = net.network_address + rng.randrange(1, net.num_addresses - 1)
        seen[str(addr)] = None
    return list(seen)


@dataclass(frozen=True)
class Network:
    """Hosts of one scenario; pools are fixed for a seed."""

    clients: tuple[str, ...]
    web_servers: tuple[str, ...]      # DMZ hosts with port 80 open
    web_pool: tuple[tuple[str, str], ...]  # (address, host name) of public web sites
    dns_pool: tuple[str, ...]          # authoritative/root/TLD servers the resolver asks
    mta_pool: tuple[str, ...]
    ntp_pool: tuple[str, ...]
    reflectors: tuple[str, ...]

    resolver: str = RESOLVER
    mail: str = MAIL
    backup_server: str = BACKUP_SERVER
    ntp: str = NTP
    ssh_server: str = SSH_SERVER
    file_server: str = FILE_SERVER
    admin: str = ADMIN
    busy_client: str = BUSY_CLIENT
    backup_clients: tuple[str, ...] = BACKUP_CLIENTS


def make_network(rng: random.Random, n_clients: int = 16, n_web: int = 24) -> Network:
    """Draw the per-seed parts of the organisation (which DMZ hosts serve HTTP, peers...)."""
    clients = tuple(f"10.10.1.{10 + i}" for i in range(n_clients))
    dmz_hosts = list(range(2, 255))
    rng.shuffle(dmz_hosts)
    web = tuple(f"10.20.30.{h}" for h in sorted(dmz_hosts[:n_web]))
    addrs = _pick_addresses(rng, _PUBLIC_PREFIXES, 400)
    names = []
    for i, _ in enumerate(addrs):
        names.append(f"{rng.choice(('www', 'static', 'api', 'img', 'cdn'))}.{rng.choice(_WORDS)}{i}."
                     f"{rng.choice(_TLDS)}")
    web_pool = tuple(zip(addrs, names, strict=True))
    dns_pool = tuple(_pick_addresses(rng, _DNS_PREFIXES, 300))
    mta_pool = tuple(_pick_addresses(rng, _MTA_PREFIXES, 60))
    ntp_pool = tuple(_pick_addresses(rng, ("162.159.200.0/24", "193.29.63.0/24"), 4))
    reflectors = tuple(f"198.51.100.{h}" for h in sorted(rng.sample(range(2, 255), 40)))
    return Network(clients, web, web_pool, dns_pool, mta_pool, ntp_pool, reflectors)
