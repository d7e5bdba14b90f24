"""The per-record shortcuts of issue 19 (h-epl29) give what the general code gives.

A flag test ``x % 4 >= 2`` compares an int ``x >= 0``'s remainder directly, ``x = 6`` drops
its null test, and count(distinct x) per group counts non-null (key, value) pairs in C, on
the bare column when the GROUP BY has one expression. Each is checked against a plain
Python oracle written here (Java's remainder, three-valued logic) over values that take the
general branch: null, negative, float, text, boolean, list.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from typing import Any

import pytest

from flowcep_plugin.engine.harness import Harness


def _java_mod(a: Any, b: int) -> Any:
    """Java's remainder (the dividend's sign), null for a null, None for text/lists."""
    if a is None or isinstance(a, (str, list)):
        return None
    if isinstance(a, float):
        return math.fmod(a, b)
    r = abs(int(a)) % b
    return -r if a < 0 else r


HOSTILE: list[Any] = [None, 0, 1, 2, 3, 6, 7, 18, 19, 31, 255, -1, -2, -6, -18, 2.0, 6.0, -3.5, True, False,
                      "6", "x"]


@pytest.mark.parametrize(("cond", "oracle"), [
    ("f % 4 >= 2", lambda m4, m8, m32: m4 is not None and m4 >= 2),
    ("2 <= f % 4", lambda m4, m8, m32: m4 is not None and m4 >= 2),
    ("not (f % 8 < 4)", lambda m4, m8, m32: m8 is not None and not m8 < 4),
    ("f % 32 != 16 and f % 4 = 2", lambda m4, m8, m32: m32 is not None and m32 != 16 and m4 == 2),
    ("f is null or f % 32 < 16", lambda m4, m8, m32: m32 is not None and m32 < 16),
])
def test_flag_tests_match_java_remainder_in_three_valued_logic(cond: str, oracle: Any) -> None:
    h = Harness(f"@Name('S') select f from Flow where {cond}")
    sent = []
    for i, f in enumerate(HOSTILE):
        if isinstance(f, str):  # text % 4 is an error: the record's condition is null
            expect = "is null" in cond and f is None
        else:
            expect = oracle(_java_mod(f, 4), _java_mod(f, 8), _java_mod(f, 32)) or ("is null" in cond and f is None)
        sent.append((i, f, expect))
        h.send(1000 + i, f=f)
    got = [r.values.get("f") for r in h.of("S")]
    want = [f for _i, f, expect in sent if expect]
    assert got == want


def test_equality_with_a_literal_is_never_true_for_null_and_matches_numbers() -> None:
    h = Harness("@Name('S') select p from Flow where p = 6")
    for i, p in enumerate([None, 6, 6.0, "6", 7, True, [6]]):
        h.send(1000 + i, p=p)
    assert [r.values.get("p") for r in h.of("S")] == [6, 6.0]


def _oracle_counts(recs: list[dict[str, Any]], keyf: Any) -> dict[Any, tuple[int, int, int]]:
    """count(*), count(distinct d), count(distinct case when big then d end) per key."""
    groups: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for r in recs:
        groups[keyf(r)].append(r)
    return {k: (len(rs), len({r["d"] for r in rs if r["d"] is not None}),
                len({r["d"] for r in rs if r["d"] is not None and r["n"] is not None and r["n"] >= 10}))
            for k, rs in groups.items()}


@pytest.mark.parametrize("seed", range(4))
def test_count_distinct_per_group_one_and_two_keys(seed: int) -> None:
    rnd = random.Random(seed)
    recs = [{"s": rnd.choice(["a", "b", "c", None, 7]), "p": rnd.choice([22, 80, None]),
             "d": rnd.choice(["x", "y", "z", None, 5]), "n": rnd.choice([None, 1, 9, 10, 50])}
            for _ in range(300)]
    h = Harness(
        "@Name('One') select s, count(*) as c, count(distinct d) as dd, "
        "count(distinct case when n >= 10 then d end) as big from Flow#time_batch(10 sec, 0) group by s;\n"
        "@Name('Two') select s, p, count(*) as c, count(distinct d) as dd, "
        "count(distinct case when n >= 10 then d end) as big from Flow#time_batch(10 sec, 0) group by s, p;\n"
        "@Name('Case') select coalesce(s, p) as k, count(distinct case when n >= 10 then d end) as big "
        "from Flow#time_batch(10 sec, 0) group by coalesce(s, p)")
    h.batch([(1000 + i, r) for i, r in enumerate(recs)])
    h.watermark(10_000)  # the one release of [0, 10 s): the next would report each group at 0
    one = {r.values["s"]: (r.values["c"], r.values["dd"], r.values["big"]) for r in h.of("One")}
    assert one == _oracle_counts(recs, lambda r: r["s"])
    assert list(one) == list(dict.fromkeys(r["s"] for r in recs))  # groups in first-record order
    two = {(r.values["s"], r.values["p"]): (r.values["c"], r.values["dd"], r.values["big"]) for r in h.of("Two")}
    assert two == _oracle_counts(recs, lambda r: (r["s"], r["p"]))
    case = {r.values["k"]: r.values["big"] for r in h.of("Case")}
    want = _oracle_counts(recs, lambda r: r["s"] if r["s"] is not None else r["p"])
    assert case == {k: v[2] for k, v in want.items()}


def test_count_distinct_with_list_valued_keys_groups_by_their_tuple_form() -> None:
    """A basicList key is unhashable: the counting path gives way to the tuple form."""
    h = Harness("@Name('L') select k, count(*) as c, count(distinct d) as dd "
                "from Flow#time_batch(1 sec, 0) group by k")
    h.batch([(1000, {"k": "a", "d": 1}), (1001, {"k": ["x", "y"], "d": 1}), (1002, {"k": ["x", "y"], "d": 2}),
             (1003, {"k": "a", "d": None})])
    h.watermark(2000)
    got = {(k if isinstance(k, str) else tuple(k)): (r.values["c"], r.values["dd"])
           for r in h.of("L") for k in [r.values["k"]]}
    assert got == {"a": (2, 1), ("x", "y"): (2, 2)}
