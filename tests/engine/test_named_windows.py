"""Named windows and contexts: bounds, compile errors, batching (engine behaviour beyond Esper's rows)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from flowcep_plugin.engine import compile_module
from flowcep_plugin.engine.harness import Harness
from flowcep_plugin.errors import EPLError
from flowcep_plugin.plan import epl_module_spec


def vals(rows: list[Any], *keys: str) -> list[tuple[Any, ...]]:
    return [tuple(r.values[k] for k in keys) for r in rows]


def test_keepall_window_is_bounded_and_counts_evictions() -> None:
    h = Harness("""
        create window W#keepall as (k int);
        insert into W select k from Flow;
        @Name('agg') select count(*) as n from W;
    """)
    h.rt.named_windows["W"].max_rows = 3
    for i in range(5):
        h.send(i, k=i)
    assert vals(h.of("agg"), "n") == [(1,), (2,), (3,), (3,), (3,)]
    assert h.rt.counters["engine.window_rows_evicted"] == 2
    assert [r[1]["k"] for r in h.rt.named_windows["W"].rows.values()] == [2, 3, 4]


def test_keyed_partitions_are_bounded_and_count_evictions() -> None:
    h = Harness("""
        create context C partition by k from Flow;
        @Name('s') context C select context.id as id, count(*) as n from Flow;
    """)
    st = next(s for s in h.rt.stmts if getattr(s, "name", None) == "s")
    st.max_partitions = 2
    for t, k in enumerate(["a", "b", "a", "c", "b"]):
        h.send(t, k=k)
    # c evicts b (least recently used); b comes back as a new partition with a new id
    assert vals(h.of("s"), "id", "n") == [(0, 1), (1, 1), (0, 2), (2, 1), (3, 1)]
    assert h.rt.counters["engine.partitions_evicted"] == 2


@pytest.mark.parametrize("text, message", [
    ("on Flow delete from W", "not a named window"),
    ("create window W#keepall as (a string); insert into W select b from Flow", "not a column"),
    ("create window W#keepall as (a string); select a from W#length(2)", "data window on named window"),
    ("create window W#time_batch(1 sec) as (a string)", "view #time_batch on named window"),
    ("create window W#keepall as (a string); select prior(1, a) as p from W", "prior() over named window W"),
    ("create window W#keepall as (a string); on W delete from W", "named window as the trigger"),
    ("create window W#keepall as (a string); on Flow update W set b = 1", "not a column"),
    ("create window W#keepall as (a string); on Flow merge W when not matched then delete", "when not matched"),
    ("context C select count(*) from Flow", "unknown context"),
    ("create schema S(a string); create context C partition by a from S; context C select count(*) from Flow",
     "not partitioned by context C"),
    ("create context C partition by a from Flow; context C select context.key2 from Flow", "context.key2"),
    ("create context C start @now end after 1 min; context C select context.key1 from Flow", "context.key1"),
    ("create context C start @now end after 1 min; context C select context.id from Flow", "context.id"),
    ("create context C start @later end after 1 min", "start @later"),
    ("create context C initiated by Flow as f terminated after 1 min; context C select context.g.x from Flow",
     "context.g.x"),
    ("create window W#keepall as (a string); create context C start @now end after 1 min; "
     "context C select count(*) from W", "context statement reading named window W"),
])
def test_errors_name_the_construct(text: str, message: str) -> None:
    with pytest.raises(EPLError) as info:
        compile_module(text)
    assert message in str(info.value)
    assert info.value.line


NW_MODULE = """
    create window W#time(2 sec) as (k string, v int);
    insert into W select k, v from Flow(kind = 'row');
    @Name('agg') select k, count(*) as n, sum(v) as s from W group by k;
    @Name('del') on Flow(kind = 'del') as d delete from W as w where w.k = d.k;
    @Name('hit') on Flow(kind = 'q') as q select w.k as k, w.v as v from W as w where w.k = q.k;
    create window M#time(1 sec) as (k string, n int);
    on Flow(kind = 'row') as r merge M as m where m.k = r.k
        when matched and m.n >= 2 then delete
        when matched then update set n = m.n + 1
        when not matched then insert select r.k as k, 1 as n;
    @Name('mcount') select count(*) as c, sum(n) as s from M;
    create context ByK partition by k from Flow;
    @Name('ctx') context ByK select context.key1 as key, count(*) as n from Flow#time(1 sec);
"""


def _events(seed: int) -> list[tuple[int, dict[str, Any]]]:
    import random

    rnd = random.Random(seed)
    t, out = 0, []
    for _ in range(60):
        t += rnd.choice((0, 1, 300, 700))
        out.append((t, {"kind": rnd.choice(("row", "row", "del", "q")), "k": rnd.choice("ab"),
                        "v": rnd.randrange(5)}))
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_batches_give_the_rows_of_events_sent_one_by_one(seed: int) -> None:
    evs = _events(seed)

    def run(cut: int) -> list[tuple[Any, ...]]:
        h = Harness(NW_MODULE)
        for i in range(0, len(evs), cut):
            h.batch(evs[i:i + cut])
        h.flush()
        return [(r.statement, r.time_ms, tuple(sorted(r.values.items()))) for r in h.rows]

    assert run(1) == run(7) == run(len(evs))


@pytest.mark.parametrize("window", ["#time(2 sec)", "#length(3)", "#time_batch(1 sec)", ""])
def test_a_keyed_context_gives_the_rows_of_group_by_over_a_window_per_key(window: str) -> None:
    """A partition per source with its own window is ``group by`` over ``#groupwin(src)``: the
    same rows (ordered alike within one time), whatever the batching."""
    import random

    rnd = random.Random(7)
    t, evs = 0, []
    for _ in range(300):
        t += rnd.choice((0, 1, 150, 400))
        evs.append((t, {"src": rnd.choice("abcd"), "port": rnd.randrange(6)}))
    ctx = Harness(f"""
        create context PerSource partition by src from Flow;
        @Name('s') context PerSource select context.key1 as src, count(distinct port) as ports,
            count(*) as n from Flow{window};
    """)
    grp_window = {"#time(2 sec)": "#time(2 sec)", "#length(3)": "#groupwin(src)#length(3)", "": ""}.get(window)
    for i in range(0, len(evs), 17):
        ctx.batch(evs[i:i + 17])
    ctx.flush()
    got = sorted((r.time_ms, r.values["src"], r.values["ports"], r.values["n"]) for r in ctx.of("s"))
    if grp_window is None:  # time_batch: each partition's batches start with its own first event
        by_src: dict[str, list[tuple[int, int]]] = {}
        for t0, e in evs:
            by_src.setdefault(e["src"], []).append((t0, e["port"]))
        expected = []
        for src, items in by_src.items():
            start = items[0][0]
            batches: dict[int, list[int]] = {}
            for t0, p in items:
                batches.setdefault((t0 - start) // 1000, []).append(p)
            last = max(batches)
            for k in range(last + 2):  # a release per period until an empty one after a non-empty
                ports = batches.get(k, [])
                if ports or k - 1 in batches:
                    expected.append((start + (k + 1) * 1000, src, len(set(ports)), len(ports)))
        assert got == sorted(expected)
        return
    grp = Harness(f"""
        @Name('s') select src, count(distinct port) as ports, count(*) as n from Flow{grp_window} group by src;
    """)
    grp.batch(evs)
    grp.flush()
    want = sorted((r.time_ms, r.values["src"], r.values["ports"], r.values["n"]) for r in grp.of("s"))
    assert got == want


def test_a_context_statement_can_insert_into_a_stream_others_read() -> None:
    h = Harness("""
        create context PerSrc partition by src from Flow;
        context PerSrc insert into Counts select context.key1 as src, count(*) as n from Flow;
        @Name('big') select src, n from Counts where n >= 2;
    """)
    for t, src in enumerate(["a", "b", "a", "a"]):
        h.send(t, src=src)
    assert vals(h.of("big"), "src", "n") == [("a", 2), ("a", 3)]


def test_updates_keep_the_lookup_index_to_the_values_rows_have() -> None:
    h = Harness("""
        create window W#keepall as (k string, v int);
        insert into W select k, v from Flow(kind = 'row');
        on Flow(kind = 'upd') as u update W as w set v = u.v where w.k = u.k;
        @Name('q') on Flow(kind = 'q') as q select w.k as k from W as w where w.v = q.v;
    """)
    h.send(0, kind="row", k="a", v=0)
    for i in range(1, 200):
        h.send(i, kind="upd", k="a", v=i)
    h.send(300, kind="q", v=199)
    h.send(301, kind="q", v=5)
    assert [r.values["k"] for r in h.of("q")] == ["a"]
    assert len(h.rt.named_windows["W"].indexes["v"]) == 1


def test_create_window_statement_outputs_the_windows_streams_but_no_alert_rule(tmp_path: Path) -> None:
    """The create-window statement's own rows are the window's insert and remove streams
    (Esper's create listener; cases in conformance/test_named_window_create_rows.py); they carry
    the statement's @Name, are never routed anywhere, and a module's window does not become an
    alert rule (the statement is not among the module's outputs)."""
    text = """
        @Name('create') create window W#length(1) as (k string);
        insert into W select k from Flow;
        @Name('c') select count(*) as n from W;
    """
    h = Harness(text)
    h.send(0, k="a")
    h.send(1, k="b")
    assert [(r.time_ms, r.values["k"], r.removed) for r in h.of("create")] == [
        (0, "a", False), (1, "b", False), (1, "a", True)]
    assert {r.stream for r in h.of("create")} == {"create"}
    assert "create" not in {s.name for s in h.module.statements}
    (tmp_path / "m.epl").write_text(text)
    assert [r.statement for r in epl_module_spec(str(tmp_path / "m.epl")).rules] == ["c"]
    assert [r.values["n"] for r in h.of("c")] == [1, 1]
