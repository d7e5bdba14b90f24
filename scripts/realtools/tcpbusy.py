#!/usr/bin/env python3
"""Busy-but-benign TCP clients for scripts/capture-realtools.sh (round 3).

    tcpbusy.py hold SRC PORT SECONDS HOST...     one idle connection to HOST:PORT each, TCP
                                                 keepalive after 4 s idle (what a connection
                                                 pool or a long-lived session sets), held
    tcpbusy.py peer-serve PORT ADDR...           a BitTorrent-like peer on ADDR:PORT: answers
                                                 the 68-byte handshake, sends a bitfield, closes;
                                                 its DHT node answers pings on UDP PORT
    tcpbusy.py peer SRC PORT SECONDS HOST...     a peer dialling its swarm: one connection to
                                                 each HOST:PORT (some listen, some refuse, some
                                                 do not exist), a handshake where it connects,
                                                 spread over SECONDS; UDP DHT pings to each too

Run inside the capture's network namespaces only. The kernels' TCP stacks write every packet
(keepalive probes, RSTs, SYN retransmissions); these programs only decide whom to call.
"""

from __future__ import annotations

import socket
import sys
import threading
import time

HANDSHAKE = b"\x13BitTorrent protocol" + bytes(8) + bytes(range(20)) + b"-RT0001-" + bytes(12)


def hold(src: str, port: int, seconds: float, hosts: list[str]) -> None:
    socks = []
    for h in hosts:
        s = socket.socket(socket.AF_INET6 if ":" in h else socket.AF_INET, socket.SOCK_STREAM)
        s.bind((src, 0))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 4)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 4)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 3)
        s.settimeout(3)
        try:
            s.connect((h, port))
        except OSError:
            s.close()
            continue
        socks.append(s)
    time.sleep(seconds)
    for s in socks:
        s.close()


def _answer(conn: socket.socket) -> None:
    try:
        conn.settimeout(5)
        if conn.recv(68):
            conn.sendall(HANDSHAKE + b"\x00\x00\x00\x05\x05" + b"\xff\xff\xff\xf0")
            conn.recv(64)
    except OSError:
        pass
    finally:
        conn.close()


def peer_serve(port: int, addrs: list[str]) -> None:
    for a in addrs:
        srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind((a, port))
        srv.listen(16)
        dht = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # the peer's DHT node answers pings
        dht.bind((a, port))
        threading.Thread(target=lambda u=dht: [u.sendto(b"d1:rd2:id20:" + bytes(20) + b"e1:t2:aa1:y1:re", u.recvfrom(2048)[1])
                                                for _ in iter(int, 1)], daemon=True).start()
        threading.Thread(target=lambda s=srv: [threading.Thread(target=_answer, args=(s.accept()[0],),
                                                                daemon=True).start() for _ in iter(int, 1)],
                         daemon=True).start()
    while True:
        time.sleep(60)


def _dial(src: str, host: str, port: int) -> None:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((src, 0))
    s.settimeout(4)
    try:
        s.connect((host, port))
        s.sendall(HANDSHAKE)
        s.recv(128)
        s.sendall(b"\x00\x00\x00\x01\x02")  # interested
        time.sleep(0.5)
    except OSError:
        pass
    finally:
        s.close()


def peer(src: str, port: int, seconds: float, hosts: list[str]) -> None:
    dht = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    dht.bind((src, 6881))
    threads = []
    for k, h in enumerate(hosts):
        dht.sendto(b"d1:ad2:id20:" + bytes(20) + b"e1:q4:ping1:t2:" + k.to_bytes(2, "big") + b"1:y1:qe", (h, port))
        t = threading.Thread(target=_dial, args=(src, h, port), daemon=True)
        t.start()
        threads.append(t)
        time.sleep(seconds / max(1, len(hosts)))
    for t in threads:
        t.join()


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "hold":
        hold(args[0], int(args[1]), float(args[2]), args[3:])
    elif cmd == "peer-serve":
        peer_serve(int(args[0]), args[1:])
    elif cmd == "peer":
        peer(args[0], int(args[1]), float(args[2]), args[3:])
    else:
        raise SystemExit(f"tcpbusy: unknown command {cmd}")
