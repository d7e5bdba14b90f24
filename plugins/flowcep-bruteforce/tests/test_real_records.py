"""Brute-force detector on records as FlowCEP's pcap meter produces them from real captures.

Excerpts are copied from ``flowcep run`` output on captures of ../shared/data/traces (named
below), one tuple per record in the order of ``flowcep_plugin.testing.METER_FIELDS``.
"""

from __future__ import annotations

from flowcep_bruteforce import SPEC

from flowcep_plugin.testing import meter_records, run_detector

records = meter_records


# traceshare_ssh_hydra_1task.pcapng, first 40 TCP records: hydra (one task) at 240.0.1.2 makes one
# SSH attempt every ~20 s, each 16 packets / 1973 bytes from the client, 12-13 s long (outside
# Stream4Flow's < 12 s band); each attempt leaves a one-packet ACK record behind (timestamps start
# at epoch 0 as published).
HYDRA = [
    (682, 801, '240.0.1.2', '240.125.0.2', 34808, 22, 6, 11, 1261, 27, 12, 2023, 27),
    (801, 801, '240.0.1.2', '240.125.0.2', 34808, 22, 6, 1, 52, 16, 0, 0, 0),
    (326, 13158, '240.0.1.2', '240.125.0.2', 34810, 22, 6, 16, 1973, 27, 24, 3119, 27),
    (13158, 13158, '240.125.0.2', '240.0.1.2', 22, 34810, 6, 1, 52, 16, 0, 0, 0),
    (21007, 34320, '240.0.1.2', '240.125.0.2', 34812, 22, 6, 16, 1973, 27, 24, 3119, 27),
    (34320, 34320, '240.125.0.2', '240.0.1.2', 22, 34812, 6, 1, 52, 16, 0, 0, 0),
    (41950, 53895, '240.0.1.2', '240.125.0.2', 34814, 22, 6, 16, 1973, 27, 24, 3119, 27),
    (53895, 53895, '240.125.0.2', '240.0.1.2', 22, 34814, 6, 1, 52, 16, 0, 0, 0),
    (62120, 73640, '240.0.1.2', '240.125.0.2', 34816, 22, 6, 16, 1973, 27, 24, 3119, 27),
    (73640, 73640, '240.125.0.2', '240.0.1.2', 22, 34816, 6, 1, 52, 16, 0, 0, 0),
    (81786, 94128, '240.0.1.2', '240.125.0.2', 34818, 22, 6, 16, 1973, 27, 24, 3119, 27),
    (94129, 94129, '240.125.0.2', '240.0.1.2', 22, 34818, 6, 1, 52, 16, 0, 0, 0),
    (102195, 114417, '240.0.1.2', '240.125.0.2', 34820, 22, 6, 16, 1973, 27, 24, 3119, 27),
    (114417, 114417, '240.125.0.2', '240.0.1.2', 22, 34820, 6, 1, 52, 16, 0, 0, 0),
    (121740, 133631, '240.0.1.2', '240.125.0.2', 34822, 22, 6, 16, 1973, 27, 24, 3119, 27),
    (133631, 133631, '240.125.0.2', '240.0.1.2', 22, 34822, 6, 1, 52, 16, 0, 0, 0),
    (142211, 152701, '240.0.1.2', '240.125.0.2', 34824, 22, 6, 16, 1973, 27, 24, 3119, 27),
    (152701, 152701, '240.125.0.2', '240.0.1.2', 22, 34824, 6, 1, 52, 16, 0, 0, 0),
    (161004, 171464, '240.0.1.2', '240.125.0.2', 34826, 22, 6, 16, 1973, 27, 24, 3119, 27),
    (171465, 171465, '240.125.0.2', '240.0.1.2', 22, 34826, 6, 1, 52, 16, 0, 0, 0),
    (179490, 191228, '240.0.1.2', '240.125.0.2', 34828, 22, 6, 16, 1973, 27, 24, 3119, 27),
    (191228, 191228, '240.125.0.2', '240.0.1.2', 22, 34828, 6, 1, 52, 16, 0, 0, 0),
    (199508, 211376, '240.0.1.2', '240.125.0.2', 34830, 22, 6, 16, 1973, 27, 24, 3119, 27),
    (211376, 211376, '240.125.0.2', '240.0.1.2', 22, 34830, 6, 1, 52, 16, 0, 0, 0),
    (219914, 232529, '240.0.1.2', '240.125.0.2', 34832, 22, 6, 16, 1973, 27, 24, 3119, 27),
    (232529, 232529, '240.125.0.2', '240.0.1.2', 22, 34832, 6, 1, 52, 16, 0, 0, 0),
    (240513, 252416, '240.0.1.2', '240.125.0.2', 34834, 22, 6, 16, 1973, 27, 24, 3119, 27),
    (252416, 252416, '240.125.0.2', '240.0.1.2', 22, 34834, 6, 1, 52, 16, 0, 0, 0),
    (260122, 272220, '240.0.1.2', '240.125.0.2', 34836, 22, 6, 16, 1973, 27, 24, 3119, 27),
    (272220, 272220, '240.125.0.2', '240.0.1.2', 22, 34836, 6, 1, 52, 16, 0, 0, 0),
    (280183, 293027, '240.0.1.2', '240.125.0.2', 34838, 22, 6, 16, 1973, 27, 24, 3119, 27),
    (293027, 293027, '240.125.0.2', '240.0.1.2', 22, 34838, 6, 1, 52, 16, 0, 0, 0),
    (300438, 312844, '240.0.1.2', '240.125.0.2', 34840, 22, 6, 16, 1973, 27, 24, 3119, 27),
    (312844, 312844, '240.125.0.2', '240.0.1.2', 22, 34840, 6, 1, 52, 16, 0, 0, 0),
    (321182, 334962, '240.0.1.2', '240.125.0.2', 34842, 22, 6, 16, 1973, 27, 24, 3119, 27),
    (334962, 334962, '240.125.0.2', '240.0.1.2', 22, 34842, 6, 1, 52, 16, 1, 52, 16),
    (342610, 355264, '240.0.1.2', '240.125.0.2', 34844, 22, 6, 16, 1973, 27, 24, 3119, 27),
    (355264, 355264, '240.125.0.2', '240.0.1.2', 22, 34844, 6, 1, 52, 16, 0, 0, 0),
    (363171, 376180, '240.0.1.2', '240.125.0.2', 34846, 22, 6, 16, 1973, 27, 24, 3119, 27),
    (376180, 376180, '240.125.0.2', '240.0.1.2', 22, 34846, 6, 1, 52, 16, 0, 0, 0),
]


def test_hydra_one_task_is_found_within_five_minutes() -> None:
    events = run_detector(SPEC, records(HYDRA))
    fast = [e for e in events if e["rule"]["id"] == "bruteforce-guessing"]
    assert len(fast) == 1
    e = fast[0]
    assert e["source"]["ip"] == "240.0.1.2"
    assert e["destination"] == {"ip": "240.125.0.2", "port": 22}
    assert e["flowcep"]["counts"] == {"attempts": 10}
    # the first attempt (11 packets, 1261 bytes) is unlike the others; the tenth 16-packet one
    # ends at 191.228 s, and the alert comes with it, not at a window's end
    assert e["@timestamp"] == "1970-01-01T00:03:11.228Z"
    assert e["flowcep"]["window"]["start"] == "1970-01-01T00:00:13.158Z"
    # the server's lone ACK records are never attempts by the server
    assert all(x["source"]["ip"] == "240.0.1.2" for x in events)


def test_attempts_must_be_alike() -> None:
    # the same attempts with sizes spread over 1x-3x are not one tool repeating itself
    varied = [dict(r, octetDeltaCount=r["octetDeltaCount"] * (1 + (n % 5) / 2),
                   packetDeltaCount=r["packetDeltaCount"] * (1 + (n % 5) // 2))
              for n, r in enumerate(records(HYDRA))]
    assert run_detector(SPEC, varied) == []


# tests/fixtures/realtools/benign_poller.pcap: a monitoring poller's ssh banner check (connect,
# read the greeting, close): 5 client packets, 268 bytes, flags SYN|ACK|FIN (0x13), no payload;
# the server's greeting is the only data. 11 servers, three rounds 30 s apart.
BANNER_CHECK = (1796433677870, 1796433677887, '192.0.2.33', '198.51.100.10', 39225, 22, 6, 5, 268, 19, 4, 257, 27)


def _checks(flags: int) -> list[tuple[object, ...]]:
    rows = []
    for k in range(33):  # round k // 11, server k % 11
        r = list(BANNER_CHECK)
        r[0] = r[1] = 1796433677870 + (k // 11) * 30_000 + (k % 11) * 300
        r[3] = f"198.51.100.{20 + k % 11}"
        r[4] = 39225 + k
        r[9] = flags
        rows.append(tuple(r))
    return rows


def test_banner_checks_send_no_credentials() -> None:
    """33 alike connections to 11 ssh servers in a minute: slow guessing by shape alone, but the
    client sent no data (no PSH), so none is a login attempt."""
    assert run_detector(SPEC, records(_checks(0x13))) == []
    # the same records with data from the client (PSH) are 33 alike attempts: the slow rule
    events = run_detector(SPEC, records(_checks(0x1B)))
    assert [(e["rule"]["id"], e["source"]["ip"]) for e in events] == [("bruteforce-slow", "192.0.2.33")]
