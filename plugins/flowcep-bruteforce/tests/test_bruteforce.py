"""Brute-force detector: runs of near-identical connections from one client to a login service."""

from __future__ import annotations

from datetime import datetime

import pytest
from flowcep_bruteforce import SPEC

from flowcep_plugin.testing import check_detector, make_flow, run_detector, scenario_records

W = 300_000
BASE = 1_700_000_000_000 - 1_700_000_000_000 % W


def ssh_tries(n: int, src: str = "198.51.100.9", dst: str = "10.0.0.22", step_ms: int = 20_000,
              packets: int = 15, octets: int = 3000, duration_ms: int = 4000) -> list[dict]:
    return [make_flow(src, dst, 22, sport=41000 + i, packets=packets, octets=octets,
                      end_ms=BASE + 5000 + i * step_ms, duration_ms=duration_ms) for i in range(n)]


def interactive_and_backup() -> list[dict]:
    # an admin's long interactive session, a git pull, and rsync-over-ssh backups
    return [
        make_flow("10.10.1.5", "10.0.0.22", 22, packets=900, octets=120_000, end_ms=BASE + 200_000,
                  duration_ms=180_000),
        make_flow("10.10.1.5", "10.0.0.22", 22, packets=30, octets=9000, end_ms=BASE + 60_000,
                  duration_ms=1500),
        *[make_flow(f"10.10.0.8{i}", "10.10.0.40", 22, packets=200_000, octets=300_000_000,
                    end_ms=BASE + 250_000, duration_ms=200_000) for i in range(4)],
    ]


def test_conformance_fires_on_guessing_silent_on_admin_traffic() -> None:
    events = check_detector(SPEC, attack=ssh_tries(12), benign=interactive_and_backup(),
                            expect_rules=["bruteforce-guessing"])
    assert len(events) == 1
    e = events[0]
    assert e["source"]["ip"] == "198.51.100.9"
    assert e["destination"] == {"ip": "10.0.0.22", "port": 22}
    # the alert comes with the tenth alike attempt (a sliding window), not at a window's end
    assert e["flowcep"]["counts"] == {"attempts": 10}
    assert e["threat"]["technique"]["subtechnique"]["id"] == ["T1110.001"]
    assert "10 near-identical ssh connections" in e["message"]


def test_any_size_of_attempt_counts_when_attempts_are_alike() -> None:
    # 10 alike attempts fire, 9 do not
    assert len(run_detector(SPEC, ssh_tries(10))) == 1
    assert run_detector(SPEC, ssh_tries(9)) == []
    # sizes Stream4Flow's 10-20 packet / 12 s band would miss: larger, smaller, longer
    assert len(run_detector(SPEC, ssh_tries(12, packets=40, octets=9000))) == 1
    assert len(run_detector(SPEC, ssh_tries(12, packets=4, octets=240))) == 1
    assert len(run_detector(SPEC, ssh_tries(12, duration_ms=12_800))) == 1
    # but not a handshake alone (a connect scan), an oversized transfer or a long session
    assert run_detector(SPEC, ssh_tries(12, packets=3, octets=180)) == []
    assert run_detector(SPEC, ssh_tries(12, octets=70_000)) == []
    assert run_detector(SPEC, ssh_tries(12, duration_ms=130_000)) == []


def test_unlike_attempts_do_not_add_up() -> None:
    # 12 connections whose sizes differ by more than 25 % from one to the next: a user, not a tool
    varied = [dict(r, octetDeltaCount=1000 * 2 ** (i % 4), packetDeltaCount=10 * 2 ** (i % 4))
              for i, r in enumerate(ssh_tries(12))]
    assert run_detector(SPEC, varied) == []


def test_sliding_window_does_not_split_an_attack() -> None:
    # 10 attempts 20 s apart straddling a 5-minute boundary: one run in 3 minutes
    boundary = BASE + 5 * W
    tries = [make_flow("198.51.100.9", "10.0.0.22", 22, sport=41000 + i, packets=15, octets=3000,
                       end_ms=boundary - 100_000 + i * 20_000, duration_ms=4000) for i in range(10)]
    assert [e["rule"]["id"] for e in run_detector(SPEC, tries)] == ["bruteforce-guessing"]
    # spread over 6 minutes (40 s apart), the fast rule is silent
    slow = [dict(r, flowEndMilliseconds=boundary + i * 40_000, flowStartMilliseconds=boundary + i * 40_000 - 4000)
            for i, r in enumerate(tries)]
    assert run_detector(SPEC, slow) == []


def test_other_services_and_config_override() -> None:
    rdp = [make_flow("198.51.100.3", "10.0.0.5", 3389, sport=40000 + i, packets=20, octets=4000,
                     end_ms=BASE + i * 1000, duration_ms=2000) for i in range(15)]
    assert [e["destination"]["port"] for e in run_detector(SPEC, rdp)] == [3389]
    # VMware authd (902) is a default login port (hydra's vmauthd module)
    authd = [dict(r, destinationTransportPort=902) for r in rdp]
    assert [e["flowcep"]["fields"]["service"] for e in run_detector(SPEC, authd)] == ["vmware-authd"]
    # a custom service on a custom port; web ports are not login services by default
    web = [dict(r, destinationTransportPort=8443) for r in rdp]
    assert run_detector(SPEC, web) == []
    cfg = {"services": {"admin-ui": {"ports": [8443]}}}
    assert len(run_detector(SPEC, web, config=cfg)) == 1


def test_slow_rule_counts_over_servers_and_long_window() -> None:
    # 32 tries over 25 minutes to 4 servers: never 10 in 5 min to one server
    tries = [make_flow("198.51.100.7", f"10.0.0.{20 + i % 4}", 22, sport=40000 + i, packets=14,
                       octets=2500, end_ms=BASE + i * 45_000, duration_ms=3000) for i in range(32)]
    events = run_detector(SPEC, tries)
    assert [e["rule"]["id"] for e in events] == ["bruteforce-slow"]
    assert events[0]["flowcep"]["counts"] == {"attempts": 30, "servers": 4}
    assert run_detector(SPEC, tries, config={"slow_min_attempts": 0}) == []


def test_config_schema_rejects_typos() -> None:
    import jsonschema

    with pytest.raises(jsonschema.ValidationError):
        run_detector(SPEC, [], config={"min_attemps": 3})
    with pytest.raises(jsonschema.ValidationError):
        run_detector(SPEC, [], config={"services": {"ssh": {"port": [22]}}})
    with pytest.raises(jsonschema.ValidationError):
        run_detector(SPEC, [], config={"shape_tolerance": 2})


def test_synthetic_scenarios() -> None:
    records, sc = scenario_records("ssh-bruteforce")
    events = run_detector(SPEC, records)
    attacker = sc.labels[0].attacker
    assert {e["source"]["ip"] for e in events} == {attacker}
    assert "bruteforce-guessing" in {e["rule"]["id"] for e in events}
    benign, _ = scenario_records("benign", duration_s=600)
    assert run_detector(SPEC, benign) == []


def test_ignored_sources() -> None:
    assert run_detector(SPEC, ssh_tries(12), config={"ignore_sources": ["198.51.100.0/24"]}) == []
    assert len(run_detector(SPEC, ssh_tries(12), config={"ignore_sources": ["198.51.101.0/24"]})) == 1


def _reference(records: list[dict], batches: list[list[int]], keep: int = 64, tol: float = 0.25,
               need: int = 10, span: int = W, slow_need: int = 30, slow_span: int = 1_800_000) -> list[tuple]:
    """The rule restated plainly: every queued attempt tested against the new one, no early
    exit and no shortcut for queues in time order. (rule, client, count, first, last) per alert."""
    def alike(a: dict, b: dict) -> bool:
        for k, slack in (("packetDeltaCount", 2), ("octetDeltaCount", 0), ("reverseOctetDeltaCount", 0)):
            x, y = a.get(k, 0), b.get(k, 0)
            if abs(x - y) > slack and abs(x - y) > tol * max(x, y):
                return False
        return True

    def scan(q: list[dict], a: dict, span_: int) -> list[dict]:
        t = a["flowEndMilliseconds"]
        return [b for b in q if t - span_ <= b["flowEndMilliseconds"] <= t and alike(a, b)]

    fast: dict[tuple, list[dict]] = {}
    slow: dict[tuple, list[dict]] = {}
    out = []
    for idx in batches:
        for i in sorted(idx, key=lambda j: records[j]["flowEndMilliseconds"]):
            a = records[i]
            s, t = a["sourceIPv4Address"], a["flowEndMilliseconds"]
            for rule, table, key, n, sp in (("bruteforce-guessing", fast, (s, a["destinationIPv4Address"]), need, span),
                                            ("bruteforce-slow", slow, (s,), slow_need, slow_span)):
                q = table.setdefault(key, [])
                q.append(a)
                del q[:-keep]
                hits = scan(q, a, sp)
                if len(hits) >= n:
                    q.clear()
                    out.append((rule, s, len(hits), min(b["flowEndMilliseconds"] for b in hits), t))
    return out


@pytest.mark.parametrize("seed", range(6))
def test_queue_scans_match_the_plain_rule_in_and_out_of_time_order(seed: int) -> None:
    # The scans read a queue newest first and stop at the first attempt older than the window
    # while the queue is in time order; batches here also go back in time (the queue is then
    # scanned whole), and sizes sit near the 25 % and 2-packet edges of "alike".
    import random

    from flowcep_plugin.context import Context
    from flowcep_plugin.records import FlowBatch
    from flowcep_plugin.testing import build_detector

    rng = random.Random(seed)
    records = []
    for i in range(1500):
        pk = rng.choice([8, 10, 12, 13, 15, 40])
        octets = rng.choice([1000, 1200, 1250, 1333, 4000])
        records.append(make_flow(f"198.51.100.{rng.randrange(3)}", f"10.0.0.{rng.randrange(2)}", 22,
                                 sport=40000 + i, packets=pk, octets=octets,
                                 end_ms=BASE + rng.randrange(0, 3_600_000), duration_ms=1000,
                                 reverseOctetDeltaCount=rng.choice([2000, 2400, 2500, 2700])))
    records.sort(key=lambda r: r["flowEndMilliseconds"])
    # batches of 50 in time order, except that some are swapped with the next (late records)
    batches = [list(range(i, min(i + 50, len(records)))) for i in range(0, len(records), 50)]
    for i in range(0, len(batches) - 1, 3 + seed % 3):
        batches[i], batches[i + 1] = batches[i + 1], batches[i]
    det = build_detector(SPEC, None, Context())
    events = []
    for idx in batches:
        events += det.on_batch(FlowBatch.from_rows([records[i] for i in idx]))
    got = [(e["rule"]["id"], e["source"]["ip"], e["flowcep"]["counts"]["attempts"],
            *(int(datetime.fromisoformat(e["flowcep"]["window"][k]).timestamp() * 1000) for k in ("start", "end")))
           for e in events]
    want = _reference(records, batches)
    assert len(want) > 5
    assert got == want


def test_queues_copied_mid_run_go_on_alike() -> None:
    # the queues are a deque subclass with a flag; a copy (pickle, deepcopy) keeps both
    import copy
    import pickle

    from flowcep_plugin.context import Context
    from flowcep_plugin.records import FlowBatch
    from flowcep_plugin.testing import build_detector

    tries = ssh_tries(14)
    dets = [build_detector(SPEC, None, Context()) for _ in range(3)]
    det = dets[0]
    assert det.on_batch(FlowBatch.from_rows(tries[7:8])) == []
    assert det.on_batch(FlowBatch.from_rows(tries[:7])) == []  # earlier attempts after a later one
    dets[1].fast, dets[1].slow = pickle.loads(pickle.dumps((det.fast, det.slow)))
    dets[2].fast, dets[2].slow = copy.deepcopy((det.fast, det.slow))
    assert [(q.in_order, q.maxlen, len(q)) for t in dets for q in t.fast.values()] == [(False, 64, 8)] * 3
    rest = [t.on_batch(FlowBatch.from_rows(tries[8:])) for t in dets]
    assert len(rest[0]) == 1 and rest[1] == rest[0] and rest[2] == rest[0]


@pytest.mark.parametrize("port", [-1, 65536, 2**64 - 1, 2**70])
def test_a_hostile_port_in_the_batch_leaves_the_login_ports_found(port: int) -> None:
    # login ports come from a table indexed by the ports' int64 array; a port outside 0-65535
    # (or beyond 64 bits) sends the batch through the C-level pass over the list instead, with
    # the same attempts found. A port just inside the table (65535) takes the table.
    want = run_detector(SPEC, ssh_tries(12))
    assert len(want) == 1
    for other in (port, 65535):
        odd = make_flow("203.0.113.7", "10.0.0.99", 22, packets=15, octets=3000, end_ms=BASE + 6000,
                        duration_ms=4000)
        odd["destinationTransportPort"] = other
        got = run_detector(SPEC, [*ssh_tries(12), odd])
        assert [e["flowcep"]["counts"] for e in got] == [e["flowcep"]["counts"] for e in want]
        assert [e["source"]["ip"] for e in got] == ["198.51.100.9"]
