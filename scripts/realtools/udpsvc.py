#!/usr/bin/env python3
"""NTP answerer and syslog sink for scripts/capture-realtools.sh, and their clients.

    udpsvc.py serve ADDR                    answer NTP (mode 3 -> mode 4) on ADDR:123, take syslog on ADDR:514
    udpsvc.py client SRC SERVER N SPORT     N rounds: one NTP query (from port SPORT, 0 = ephemeral)
                                            and two syslog messages, about a second apart

Run inside the capture's network namespaces only. The payloads are what ntpd/chrony and
rsyslog send in shape (48-byte NTP packets, RFC 5424 lines); the kernels' UDP stacks do the
rest. The sink never answers syslog, as a real collector does not.
"""

from __future__ import annotations

import random
import selectors
import socket
import struct
import sys
import time

NTP_EPOCH = 2208988800


def serve(addr: str) -> None:
    ntp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    ntp.bind((addr, 123))
    log = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    log.bind((addr, 514))
    sel = selectors.DefaultSelector()
    sel.register(ntp, selectors.EVENT_READ)
    sel.register(log, selectors.EVENT_READ)
    while True:
        for key, _ in sel.select():
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            data, peer = sock.recvfrom(2048)
            if sock is ntp and len(data) >= 48 and data[0] & 7 == 3:
                now = time.time() + NTP_EPOCH
                sec, frac = int(now), int((now % 1) * 2**32)
                reply = struct.pack("!BBbb4s4s4s8s8sII8s", 0x24, 2, 6, -20, b"\0\0\0\x10", b"\0\0\0\x20",
                                    b"GPS\0", struct.pack("!II", sec - 60, 0), data[40:48], sec, frac,
                                    struct.pack("!II", sec, frac))
                sock.sendto(reply, peer)


def client(src: str, server: str, rounds: int, sport: int) -> None:
    ntp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    ntp.bind((src, sport))
    ntp.settimeout(1.0)
    log = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    log.bind((src, 0))
    host = "host-" + src.rsplit(".", 1)[1]
    for k in range(rounds):
        now = time.time() + NTP_EPOCH
        ntp.sendto(struct.pack("!B47xII", 0x23, int(now), int((now % 1) * 2**32)), (server, 123))
        try:
            ntp.recvfrom(2048)
        except TimeoutError:
            pass
        for msg in (f"systemd[1]: Started session {k} of user alice.", f"CRON[{900 + k}]: (root) CMD (run-parts /etc/cron.hourly)"):
            stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            log.sendto(f"<30>1 {stamp} {host} - - - - {msg}".encode(), (server, 514))
        time.sleep(0.6 + random.random() * 0.8)


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(sys.argv[2])
    else:
        client(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
