"""The create-window statement's own rows: in Esper a listener on ``create window`` receives the
window's insert stream (rows arriving, an update's new values) and remove stream (rows leaving:
a full length window, expiry, on-delete, an update's previous values). Expected rows from
Esper's regression tests (espertechinc/esper, regression-lib ``suite/infra/namedwindow``:
InfraNamedWindowViews, InfraNWTableOnUpdate) where the assertions read ``listener("create")``.
Here a remove-stream row is a row marked ``removed``, in the same list (docs/epl.md)."""

from __future__ import annotations

from typing import Any

import pytest

from flowcep_plugin.engine.harness import Harness

V = "espertechinc/esper InfraNamedWindowViews.{}"


def _rows(h: Harness, name: str = "create") -> list[tuple[int, str, Any, Any]]:
    """(time, '+' insert stream | '-' remove stream, key, value) of the create statement."""
    return [(r.time_ms, "-" if r.removed else "+", r.values["key"], r.values["value"]) for r in h.of(name)]


def _length_window(view: str) -> Harness:
    return Harness(f"""
        @Name('create') create window MyWindowLW{view} as (key string, value long);
        insert into MyWindowLW select theString as key, longBoxed as value from Flow(kind = 'bean');
        @Name('s0') select key, value from MyWindowLW;
        @Name('delete') on Flow(kind = 'market') as m delete from MyWindowLW where m.symbol = key;
    """)


@pytest.mark.esper("nw-create-rows", cite=V.format("InfraLengthWindow: the create listener's new data, "
                                                    "old data on delete, and the I/R pair when the window is full"))
def test_length_window_create_statement_posts_insert_and_remove_streams() -> None:
    h = _length_window("#length(3)")
    script: list[tuple[str, str, int | None]] = [("bean", "E1", 1), ("bean", "E2", 2), ("bean", "E3", 3),
                                                 ("market", "E2", None), ("bean", "E4", 4), ("bean", "E5", 5),
                                                 ("bean", "E6", 6)]
    for t, (kind, k, v) in enumerate(script, start=1):
        if kind == "bean":
            h.send(t, kind=kind, theString=k, longBoxed=v)
        else:
            h.send(t, kind=kind, symbol=k)
    assert _rows(h) == [(1, "+", "E1", 1), (2, "+", "E2", 2), (3, "+", "E3", 3), (4, "-", "E2", 2),
                        (5, "+", "E4", 4), (6, "+", "E5", 5), (6, "-", "E1", 1), (7, "+", "E6", 6),
                        (7, "-", "E3", 3)]
    # the consumer (Esper's s0 without irstream) sees only the insert stream
    assert [(r.time_ms, r.values["key"]) for r in h.of("s0")] == [(1, "E1"), (2, "E2"), (3, "E3"), (5, "E4"),
                                                                  (6, "E5"), (7, "E6")]


@pytest.mark.esper("nw-create-rows", cite=V.format("InfraLengthFirstWindow analog for #firstunique: a row "
                                                    "the window keeps out posts nothing (assertListenerNotInvoked)"))
def test_firstunique_window_posts_nothing_for_a_repeated_key() -> None:
    h = _length_window("#firstunique(key)")
    for t, (k, v) in enumerate([("E1", 1), ("E1", 2), ("E2", 3)], start=1):
        h.send(t, kind="bean", theString=k, longBoxed=v)
    assert _rows(h) == [(1, "+", "E1", 1), (3, "+", "E2", 3)]


@pytest.mark.esper("nw-create-rows", cite=V.format("InfraTimeWindow: rows leaving by expiry are the create "
                                                    "listener's old data at the expiry time, deleted ones at the delete"))
def test_time_window_expiry_is_the_create_statements_remove_stream() -> None:
    h = _length_window("#time(10 sec)")
    h.send(1000, kind="bean", theString="E1", longBoxed=1)
    h.send(5000, kind="bean", theString="E2", longBoxed=2)
    h.send(10000, kind="bean", theString="E3", longBoxed=3)
    h.watermark(10999)
    assert _rows(h) == [(1000, "+", "E1", 1), (5000, "+", "E2", 2), (10000, "+", "E3", 3)]
    h.watermark(11000)
    h.send(11000, kind="bean", theString="E4", longBoxed=4)
    h.send(11000, kind="market", symbol="E2")
    h.watermark(19999)
    assert _rows(h)[3:] == [(11000, "-", "E1", 1), (11000, "+", "E4", 4), (11000, "-", "E2", 2)]
    h.watermark(20000)
    h.send(20000, kind="market", symbol="E4")
    h.watermark(100000)
    assert _rows(h)[6:] == [(20000, "-", "E3", 3), (20000, "-", "E4", 4)]


@pytest.mark.esper("nw-create-rows", cite="espertechinc/esper InfraNWTableOnUpdate (the window's listener "
                   "gets the updated row as new data and its previous values as old data)")
def test_on_update_posts_new_and_previous_values() -> None:
    h = Harness("""
        @Name('create') create window W#keepall as (key string, value long);
        insert into W select theString as key, longBoxed as value from Flow(kind = 'bean');
        on Flow(kind = 'upd') as u update W set value = u.longBoxed where key = u.theString;
    """)
    h.send(1, kind="bean", theString="E1", longBoxed=1)
    h.send(2, kind="upd", theString="E1", longBoxed=10)
    h.send(3, kind="upd", theString="nope", longBoxed=20)
    assert _rows(h) == [(1, "+", "E1", 1), (2, "+", "E1", 10), (2, "-", "E1", 1)]


@pytest.mark.esper("nw-create-rows", cite="Esper reference, 'Named Windows and Tables' (an unnamed create window: "
                   "its rows carry the window's name here)")
def test_an_unnamed_create_window_rows_carry_the_window_name() -> None:
    h = Harness("""
        create window W#lastevent as (key string, value long);
        insert into W select theString as key, longBoxed as value from Flow;
    """)
    h.send(1, theString="a", longBoxed=1)
    h.send(2, theString="b", longBoxed=2)
    assert _rows(h, "W") == [(1, "+", "a", 1), (2, "+", "b", 2), (2, "-", "a", 1)]
