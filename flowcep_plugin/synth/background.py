"""Benign background traffic: web browsing, DNS, mail, backups, NTP, an admin's SSH.

Shaped to sit *below* the documented default thresholds of the shipped detectors while
still stressing them: a busy web client opens many TLS connections to many hosts (but
every connection completes, with real byte counts and >= 10 packets), the resolver sends
single-packet UDP queries to hundreds of DNS servers, backups are few huge long flows over
rsync and SSH, and a user logs in to a web application once.
"""

from __future__ import annotations

from collections.abc import Iterator

from .builder import Builder
from .network import Network

__all__ = ["background", "poisson"]

_PAGES = ("/", "/index.html", "/news/{n}", "/articles/{n}.html", "/products/{n}", "/static/app.{n}.js",
          "/img/photo{n}.jpg", "/search?q=item{n}", "/blog/{n}/comments", "/api/v1/items/{n}")


def poisson(b: Builder, t0: int, t1: int, mean_gap_ms: float) -> Iterator[int]:
    """Event times of a Poisson process on [t0, t1) (integer milliseconds)."""
    t = t0 + b.rng.expovariate(1 / mean_gap_ms)
    while t < t1:
        yield int(t)
        t += b.rng.expovariate(1 / mean_gap_ms)


def _lookup(b: Builder, net: Network, t: int, client: str, name: str) -> int:
    """A client's DNS lookup through the resolver (and the resolver's recursion on a cache
    miss). Returns the time the answer arrives."""
    r = b.rng
    rtt = r.randint(1, 3)
    if r.random() < 0.4:
        # cache miss: the resolver walks the hierarchy (root/TLD/authoritative)
        tq = t + 1
        for _ in range(r.randint(1, 3)):
            srv = net.dns_pool[min(int(r.paretovariate(1.2)) - 1, len(net.dns_pool) - 1)
                               if r.random() < 0.3 else r.randrange(len(net.dns_pool))]
            up = r.randint(8, 60)
            b.dns(tq, net.resolver, srv, name, "A", answers=r.randint(1, 4), rtt_ms=up)
            tq += up + 1
        rtt += tq - t
    b.dns(t, client, net.resolver, name, "A", answers=r.randint(1, 4), rtt_ms=rtt)
    return t + rtt


def _visit(b: Builder, net: Network, t: int, client: str, site: int, plain_http: bool) -> None:
    r = b.rng
    addr, host = net.web_pool[site]
    t = _lookup(b, net, t, client, host) + 1
    if plain_http:
        for _ in range(r.randint(1, 4)):
            url = r.choice(_PAGES).format(n=r.randint(1, 9999))
            body = int(r.lognormvariate(9.0, 1.2))
            b.http(t, client, addr, host, url, 200, body, r.randint(30, 900))
            t += r.randint(20, 400)
        return
    sites = [site] + [r.randrange(len(net.web_pool)) for _ in range(r.randint(0, 2))]
    for s in sites:
        a, _h = net.web_pool[s]
        for _ in range(r.randint(1, 3)):
            req = r.randint(300, 2500)
            resp = 8000 + int(r.lognormvariate(10.0, 1.3))
            b.tls(t + r.randint(0, 300), client, a, req, resp, r.randint(150, 30000))
        t += r.randint(50, 500)


def browsing(b: Builder, net: Network, t0: int, t1: int) -> None:
    """Ordinary clients: a page visit every ~45 s each, mostly HTTPS, some plain HTTP."""
    r = b.rng
    for client in net.clients:
        favourites = [r.randrange(len(net.web_pool)) for _ in range(8)]
        for t in poisson(b, t0, t1 - 40_000, 45_000):
            site = r.choice(favourites) if r.random() < 0.6 else r.randrange(len(net.web_pool))
            _visit(b, net, t, client, site, r.random() < 0.12)
    # one user logs in to an intranet application: a single POST, then the dashboard
    user = net.clients[0]
    app = net.web_servers[0]
    t = t0 + (t1 - t0) // 3
    b.http(t, user, app, "intranet.example.org", "/login", 302, 0, 120, "POST",
           "username=jdoe&password=correct-horse")
    b.http(t + 400, user, app, "intranet.example.org", "/dashboard", 200, 23_000, 300)


def busy_client(b: Builder, net: Network, t0: int, t1: int) -> None:
    """A developer's machine with many tabs: ~30 hosts a minute, ~50 in five minutes, every
    connection complete with real byte counts (>= 10 packets each way)."""
    r = b.rng
    working = [r.randrange(len(net.web_pool)) for _ in range(40)]
    for t in poisson(b, t0, t1 - 40_000, 1_800):
        if r.random() < 0.25:
            working[r.randrange(len(working))] = r.randrange(len(net.web_pool))
        site = r.choice(working)
        addr, host = net.web_pool[site]
        if r.random() < 0.3:
            t = _lookup(b, net, t, net.busy_client, host) + 1
        b.tls(t, net.busy_client, addr, r.randint(400, 3000), 8000 + int(r.lognormvariate(9.5, 1.5)),
              r.randint(200, 25_000))


def resolver_upkeep(b: Builder, net: Network, t0: int, t1: int) -> None:
    """The resolver's own traffic: prefetch and DNSSEC queries to many servers; some time out."""
    r = b.rng
    for t in poisson(b, t0, t1 - 5_000, 900):
        srv = r.choice(net.dns_pool)
        name = f"{r.choice(('ns1', 'ns2', 'www', 'mail'))}.zone{r.randint(1, 500)}.{r.choice(('com', 'net', 'org'))}"
        if r.random() < 0.04:
            b.dns(t, net.resolver, srv, name, r.choice(("A", "AAAA")), answers=0, rtt_ms=0)
            conv = b.conversations[-1]
            conv.rev_packets = conv.rev_bytes = 0
            conv.rev_msgs = ()
        else:
            b.dns(t, net.resolver, srv, name, r.choice(("A", "AAAA", "NS")), answers=r.randint(1, 3),
                  rtt_ms=r.randint(5, 120))


def mail(b: Builder, net: Network, t0: int, t1: int) -> None:
    """SMTP in and out of the mail server, IMAPS sessions and submissions from clients."""
    r = b.rng
    for t in poisson(b, t0, t1 - 20_000, 20_000):
        size = int(r.lognormvariate(10.0, 1.4))
        fwd = [40, 30, 40, 30, 20, size, 10]  # EHLO, MAIL, RCPT, DATA, message, QUIT
        rev = [60, 200, 20, 20, 40, 50, 30]
        b.tcp(t, r.choice(net.mta_pool), net.mail, 25, fwd, rev, r.randint(500, 6000), "smtp")
    for t in poisson(b, t0, t1 - 20_000, 40_000):
        size = int(r.lognormvariate(9.5, 1.2))
        b.tcp(t, net.mail, r.choice(net.mta_pool), 25, [40, 30, 40, 30, size, 10],
              [60, 200, 20, 20, 40, 50], r.randint(500, 6000), "smtp")
    for client in net.clients:
        start = t0 + r.randint(0, 60_000)
        msgs = r.randint(6, 40)
        b.tcp(start, client, net.mail, 993, [517, 126] + [r.randint(60, 200) for _ in range(msgs)],
              [3800, 51] + [r.randint(200, 40_000) for _ in range(msgs)],
              (t1 - 20_000) - start, "imap")
        if r.random() < 0.4:
            t = r.randint(start, t1 - 30_000)
            b.tcp(t, client, net.mail, 587, [517, 126, 200, int(r.lognormvariate(9.0, 1.0))],
                  [3800, 51, 300], r.randint(300, 3000), "smtp")


def backups(b: Builder, net: Network, t0: int, t1: int) -> None:
    """Nightly-style backups: a few flows of hundreds of megabytes lasting minutes."""
    r = b.rng
    span = t1 - t0
    for i, host in enumerate(net.backup_clients):
        start = t0 + (i * span) // (len(net.backup_clients) + 1) + r.randint(0, 20_000)
        dur = min(r.randint(90_000, 240_000), t1 - start - 5_000)
        size = r.randint(150, 900) * 1_000_000
        if i == len(net.backup_clients) - 1:
            # rsync over SSH: one huge port-22 flow (must never look like SSH guessing)
            b.tcp(start, host, net.backup_server, 22, [21, 1400, 48, 16, 64, size], [21, 1100, 300, 16, 64],
                  dur, "ssh")
        else:
            b.tcp(start, host, net.backup_server, 873, [40, 2000, size], [40, 800, 500], dur, "rsync")


def ntp(b: Builder, net: Network, t0: int, t1: int) -> None:
    """Clients poll the site NTP server; the server polls a few public pool servers."""
    r = b.rng
    for client in (*net.clients, net.busy_client, net.admin, *net.backup_clients):
        t = t0 + r.randint(0, 64_000)
        while t < t1 - 2_000:
            b.udp(t, client, net.ntp, 123, [48], [48], r.randint(1, 4), "ntp", sport=123)
            t += r.choice((64_000, 128_000))
    for srv in net.ntp_pool:
        t = t0 + r.randint(0, 64_000)
        while t < t1 - 2_000:
            b.udp(t, net.ntp, srv, 123, [48], [48], r.randint(8, 40), "ntp", sport=123)
            t += 64_000


def admin_ssh(b: Builder, net: Network, t0: int, t1: int) -> None:
    """An administrator's interactive session and one quick git pull over SSH."""
    r = b.rng
    start = t0 + r.randint(5_000, 60_000)
    keys = r.randint(300, 600)
    b.tcp(start, net.admin, net.ssh_server, 22,
          [21, 1400, 48, 16, 96, 96] + [36] * keys,
          [21, 1100, 300, 16, 96, 500] + [36 + r.randint(0, 400) for _ in range(keys)],
          min(r.randint(300_000, 500_000), t1 - start - 10_000), "ssh")
    t = t0 + (t1 - t0) // 2
    b.tcp(t, net.admin, net.ssh_server, 22, [21, 1400, 48, 16, 96, 96, 500],
          [21, 1100, 300, 16, 96, 500, 48_000], r.randint(1500, 4000), "ssh")


def background(b: Builder, net: Network, t0: int, t1: int, busy: bool = True) -> None:
    """All benign traffic between ``t0`` and ``t1`` (epoch ms)."""
    browsing(b, net, t0, t1)
    if busy:
        busy_client(b, net, t0, t1)
    resolver_upkeep(b, net, t0, t1)
    mail(b, net, t0, t1)
    backups(b, net, t0, t1)
    ntp(b, net, t0, t1)
    admin_ssh(b, net, t0, t1)
