#!/usr/bin/env python3
"""Busy benign UDP (and one inetd) for the round-4 realtools captures (capture-realtools.sh).

Why: the volumetric rules judge rates and the asymmetry between what a host receives and what
it sends back; legitimate high-rate UDP (a QUIC-like download, a media call, service discovery
bursts) must be measured against them with real kernels sending the datagrams. No packages
offer these as one command inside a namespace, so this script plays both ends. Usage:

    udpbusy.py bulk-serve ADDR PORT             a download server: on "GET n rate" from a client it
                                                sends n 1200-byte datagrams at rate/s to it (a
                                                QUIC-like stream), resending what the client reports
                                                missing
    udpbusy.py bulk-get SRC DST PORT N RATE     the client: asks, acknowledges every second datagram
                                                with a 48-byte ACK frame (QUIC's default ACK
                                                frequency), ends after N or 3 s of silence
    udpbusy.py rtp LOCAL LPORT REMOTE RPORT SECONDS   one end of a G.711 call: a 172-byte RTP
                                                packet every 20 ms (50 pps), and reads the other end's
    udpbusy.py discovery ADDR... --querier Q    mDNS announcements and SSDP NOTIFYs from every ADDR
                                                to their groups, an M-SEARCH from Q answered unicast
                                                by every ADDR, and LAN-sync broadcasts, in 3 bursts
    udpbusy.py inetd ADDR PORT CMD...           a forking TCP listener that runs CMD on each
                                                connection (stdin/stdout/stderr the socket), as
                                                inetd runs telnetd
"""

from __future__ import annotations

import os
import signal
import socket
import struct
import sys
import time


def bulk_serve(addr: str, port: int) -> None:
    """Serve downloads forever; each request is answered by a paced stream of datagrams."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((addr, port))
    while True:
        data, peer = s.recvfrom(2048)
        if not data.startswith(b"GET "):
            continue  # an ACK frame: the pacing below does not wait for it (no congestion control)
        _, n_s, rate_s = data.split()[:3]
        n, rate = int(n_s), float(rate_s)
        start = time.monotonic()
        s.setblocking(False)
        for i in range(n):
            due = start + i / rate
            while (now := time.monotonic()) < due:
                time.sleep(min(due - now, 0.001))
            s.sendto(struct.pack("!BQ", 0x40, i) + bytes(1191), peer)
            try:
                while True:
                    s.recvfrom(2048)  # drain ACKs
            except BlockingIOError:
                pass
        s.setblocking(True)


def bulk_get(src: str, dst: str, port: int, n: int, rate: float) -> None:
    """Download n datagrams and acknowledge every second one, as a QUIC receiver does."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((src, 0))
    s.settimeout(3.0)
    s.sendto(f"GET {n} {rate} ".encode().ljust(1200), (dst, port))  # QUIC pads its Initial to 1200
    got = 0
    try:
        while got < n:
            data, _ = s.recvfrom(2048)
            got += 1
            if got % 2 == 0:
                s.sendto(struct.pack("!BQ", 0x41, struct.unpack("!BQ", data[:9])[1]) + bytes(39), (dst, port))
    except TimeoutError:
        pass
    print(f"bulk-get: {got} of {n} datagrams", file=sys.stderr)


def rtp(local: str, lport: int, remote: str, rport: int, seconds: float) -> None:
    """One end of a call: RTP (version 2, PT 0 = PCMU) every 20 ms, 160 bytes of audio."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((local, lport))
    s.setblocking(False)
    ssrc = hash(local) & 0xFFFFFFFF
    start = time.monotonic()
    i = 0
    while (elapsed := time.monotonic() - start) < seconds:
        due = start + i * 0.02
        if elapsed >= due - start:
            s.sendto(struct.pack("!BBHII", 0x80, 0, i & 0xFFFF, i * 160 & 0xFFFFFFFF, ssrc) + bytes(160), (remote, rport))
            i += 1
        try:
            while True:
                s.recvfrom(2048)
        except BlockingIOError:
            pass
        time.sleep(0.002)


def discovery(addrs: list[str], querier: str) -> None:
    """Three bursts of service discovery from many hosts on one LAN (printers, TVs, phones)."""
    mdns_grp, ssdp_grp = ("224.0.0.251", 5353), ("239.255.255.250", 1900)
    socks: dict[str, tuple[socket.socket, socket.socket]] = {}
    for a in addrs:
        pair = []
        for port in (5353, 1900):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
            s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(a))
            s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 255 if port == 5353 else 4)
            s.bind((a, port))
            pair.append(s)
        socks[a] = (pair[0], pair[1])
    q = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    q.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(querier))
    q.bind((querier, 0))
    name = b"\x0bLivingRoomTV\x08_airplay\x04_tcp\x05local\x00"
    answer = (b"\x00\x00\x84\x00\x00\x00\x00\x04\x00\x00\x00\x00" + name + b"\x00\x10\x80\x01\x00\x00\x11\x94\x01\x40"
              + b"\x3fmodel=AppleTV5,3;features=0x5A7FFFF7,0x1E;flags=0x4;srcvers=220.68" * 5
              + (name + b"\x00\x21\x80\x01\x00\x00\x00\x78\x00\x14\x00\x00\x00\x00\x1b\x58" + name[:13] + b"\x00") * 3)
    for _burst in range(3):
        for a, (m, u) in socks.items():
            m.sendto(answer, mdns_grp)
            u.sendto((f"NOTIFY * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nCACHE-CONTROL: max-age=1800\r\n"
                      f"LOCATION: http://{a}:49152/description.xml\r\nNT: upnp:rootdevice\r\nNTS: ssdp:alive\r\n"
                      f"SERVER: Linux/5.10 UPnP/1.0 Portable SDK for UPnP devices/1.14.13\r\nUSN: uuid:{a}::upnp:rootdevice\r\n\r\n").encode(), ssdp_grp)
            m.sendto(b"\x00" * 4 + b"LAN-sync " + a.encode() + bytes(120), ("192.0.2.255", 17500))
        q.sendto(b"M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: \"ssdp:discover\"\r\nMX: 1\r\nST: ssdp:all\r\n\r\n", ssdp_grp)
        for a, (_, u) in socks.items():
            u.sendto((f"HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=1800\r\nEXT:\r\nLOCATION: http://{a}:49152/description.xml\r\n"
                      f"SERVER: Linux/5.10 UPnP/1.0 Portable SDK for UPnP devices/1.14.13\r\nST: upnp:rootdevice\r\n"
                      f"USN: uuid:{a}::upnp:rootdevice\r\n\r\n").encode(), q.getsockname())
        time.sleep(1.0)


def inetd(addr: str, port: int, cmd: list[str]) -> None:
    """Accept forever; each connection runs cmd with the socket as its standard streams."""
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((addr, port))
    ls.listen(64)
    while True:
        conn, _ = ls.accept()
        if os.fork() == 0:
            ls.close()
            for fd in (0, 1, 2):
                os.dup2(conn.fileno(), fd)
            os.execv(cmd[0], cmd)
        conn.close()


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    mode, args = argv[0], argv[1:]
    if mode == "bulk-serve":
        bulk_serve(args[0], int(args[1]))
    elif mode == "bulk-get":
        bulk_get(args[0], args[1], int(args[2]), int(args[3]), float(args[4]))
    elif mode == "rtp":
        rtp(args[0], int(args[1]), args[2], int(args[3]), float(args[4]))
    elif mode == "discovery":
        i = args.index("--querier")
        discovery(args[:i], args[i + 1])
    elif mode == "inetd":
        inetd(args[0], int(args[1]), args[2:])
    else:
        print(f"udpbusy: unknown mode {mode!r}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
