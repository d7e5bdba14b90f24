"""A flood of one-connection clients must not reset a guesser's run.

The keys tables are bounded (``max_keys``); forgetting the oldest key when full let many
addresses with one login-shaped connection each push out a guesser's queue between any two
of its attempts, so no run ever reached ``min_attempts``. Here the tables are full before the
guessing starts and four times the bound of such clients arrive interleaved with it (about
70 between two tries, so the old tables forgot the guesser every third try).

A key with one attempt is no stronger than the crowd's: a guesser whose second try comes after
more than ``max_keys`` new keys is forgotten whatever the policy; what the policy keeps is a
run that has begun.
"""

from __future__ import annotations

import random
from typing import Any

from flowcep_bruteforce import SPEC, BruteForceDetector

from flowcep_plugin.context import Context
from flowcep_plugin.testing import ManualClock, build_detector, make_flow, to_batches

W = 300_000
BASE = 1_700_000_000_000 - 1_700_000_000_000 % W
BOUND = 200
GUESSER, SERVER = "198.51.100.9", "10.0.0.22"
TRIES = 12


def _records(rng: random.Random) -> list[dict[str, Any]]:
    crowd = [make_flow(f"100.64.{k >> 8}.{k & 255}", SERVER, 22, sport=40000 + k % 20000,
                       packets=rng.randrange(12, 40), octets=rng.randrange(2000, 9000), duration_ms=3000)
             for k in range(5 * BOUND)]
    tries = [make_flow(GUESSER, SERVER, 22, sport=41000 + i, packets=15, octets=3000, duration_ms=4000)
             for i in range(TRIES)]
    head, rest = crowd[:BOUND], crowd[BOUND:]
    every = len(rest) // TRIES
    for i, a in enumerate(tries):
        rest.insert(i * (every + 1), a)
    records = head + rest
    for i, r in enumerate(records):  # 4 min in all: every try within the fast rule's 5 min
        r["flowEndMilliseconds"] = BASE + 1000 + i * (240_000 // len(records))
        r["flowStartMilliseconds"] = r["flowEndMilliseconds"] - 3000
    return records


def test_one_connection_flood_keeps_the_guessers_run_and_stays_bounded() -> None:
    ctx = Context()
    det = build_detector(SPEC, {"max_keys": BOUND}, ctx)
    assert isinstance(det, BruteForceDetector)
    clock = ManualClock(det)
    largest = 0
    for batch in to_batches(_records(random.Random(30)), batch_size=100):
        clock.feed(batch)
        largest = max(largest, len(det.fast), len(det.slow))
    kept = len(det.fast) + len(det.slow)
    clock.finish()
    rules = [(e["rule"]["id"], e["source"]["ip"], e["destination"]["ip"]) for e in clock.events]
    assert rules == [("bruteforce-guessing", GUESSER, SERVER)]  # the crowd's one try each accuses no one
    assert clock.events[0]["flowcep"]["counts"]["attempts"] == 10  # min_attempts: the run, whole
    assert largest <= BOUND
    # every client made one key in each table (nothing aged out in 4 min) and the rest were
    # evicted; the guesser's queues, emptied by the alert, may be forgotten and made again
    made = 2 * (5 * BOUND + 1)
    assert made - kept <= ctx.stats.gauges["bruteforce.keys_evicted"] <= made - kept + 2 * TRIES
