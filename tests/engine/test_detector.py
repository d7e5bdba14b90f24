"""EPLDetector: rules become alerts through alerts.alert_from_row, derived rows go out once per step."""

from __future__ import annotations

import pytest

from flowcep_plugin.context import Context
from flowcep_plugin.engine.detector import EPLDetector
from flowcep_plugin.engine.harness import flows
from flowcep_plugin.errors import EPLError
from flowcep_plugin.specs import DetectorSpec, RuleSpec

EPL = """
@Name('PerSrc') insert into PerSrc
select src as Attacker, count(*) as Flows from Flow#time_batch(1 min) group by src;
@Name('Heavy') select Attacker, Flows from PerSrc where Flows >= ${min_flows}
"""

RULE = RuleSpec(id="test-heavy", name="Heavy hitter", description="many flows", statement="Heavy",
                source_field="Attacker", count_fields=("Flows",), summary="{Attacker} sent {Flows} flows")


def make(config: dict | None = None, derived: list | None = None) -> EPLDetector:
    spec = DetectorSpec(name="heavy", summary="test", epl=EPL, rules=(RULE,))
    cb = (lambda stream, rows, times: derived.append((stream, rows))) if derived is not None else None
    return EPLDetector(spec, config or {"min_flows": 3}, Context(), on_derived=cb)


def test_rows_of_rule_statements_become_alerts_and_derived_rows_are_passed_on() -> None:
    derived: list = []
    det = make(derived=derived)
    batch = flows(*[(i * 1000, {"src": "10.0.0.1"}) for i in range(4)], (5000, {"src": "10.0.0.2"}))
    assert det.on_batch(batch) == []
    assert det.on_watermark(59_999) == []
    events = det.on_watermark(60_000)
    assert len(events) == 1
    ev = events[0]
    assert ev["rule"]["id"] == "test-heavy"
    assert "10.0.0.1" in str(ev) and "4" in str(ev)
    # both PerSrc rows in one call, in group order
    assert derived == [("PerSrc", [{"Attacker": "10.0.0.1", "Flows": 4}, {"Attacker": "10.0.0.2", "Flows": 1}])]
    assert det.flush() == []


def test_config_fills_placeholders() -> None:
    det = make({"min_flows": 1})
    det.on_batch(flows((0, {"src": "a"}), (1, {"src": "b"})))
    assert len(det.flush()) == 2


def test_rule_naming_a_missing_statement_fails_at_construction() -> None:
    spec = DetectorSpec(name="x", summary="", epl="@Name('A') select a from Flow",
                        rules=(RuleSpec(id="r", name="r", description="", statement="Nope"),))
    with pytest.raises(EPLError, match="statement 'Nope'"):
        EPLDetector(spec, {}, Context())


def test_missing_placeholder_value_is_an_epl_error() -> None:
    with pytest.raises(EPLError, match=r"unknown parameter \$\{min_flows\}"):
        make({"other": 1})


def test_epl_path(tmp_path) -> None:
    p = tmp_path / "m.epl"
    p.write_text(EPL)
    spec = DetectorSpec(name="f", summary="", epl_path=str(p), rules=(RULE,))
    det = EPLDetector(spec, {"min_flows": 1}, Context())
    det.on_batch(flows((0, {"src": "a"})))
    assert [e["rule"]["id"] for e in det.flush()] == ["test-heavy"]
    with pytest.raises(EPLError, match="cannot read"):
        EPLDetector(DetectorSpec(name="g", summary="", epl_path=str(tmp_path / "none.epl")), {}, Context())


def test_remove_stream_rows_are_alerts_marked_removed_and_printed_so() -> None:
    import json

    from flowcep_plugin.cli.epl import format_row
    from flowcep_plugin.engine.harness import Harness

    text = "@Name('Seen') select irstream src from Flow#length(1)"
    rule = RuleSpec(id="t-seen", name="Seen", description="d", statement="Seen", source_field="src")
    det = EPLDetector(DetectorSpec(name="seen", summary="t", epl=text, rules=(rule,)), {}, Context())
    events = det.on_batch(flows((0, {"src": "10.0.0.1"}), (1, {"src": "10.0.0.2"})))
    assert [(e["flowcep"]["fields"]["src"], e["flowcep"]["fields"].get("removed")) for e in events] == [
        ("10.0.0.1", None), ("10.0.0.2", None), ("10.0.0.1", True)]
    h = Harness(text)
    h.send(0, src="a")
    h.send(1, src="b")
    docs = [json.loads(format_row(r)) for r in h.rows]
    assert [(d["src"], d.get("removed")) for d in docs] == [("a", None), ("b", None), ("a", True)]


def test_a_filter_or_short_join_over_batch_rows_keeps_the_batch_window() -> None:
    """An alert from a statement that reads only the rows of batch statements of one period,
    holding them less than that period (a filter, a join of two counts of the same minute),
    covers that minute; a correlation that keeps rows across batches covers no batch."""
    epl = """
@Name('A') insert into A select src as S, count(*) as N from Flow#time_batch(1 min, 0) group by src;
@Name('B') insert into B select src as S, count(distinct dst) as H from Flow#time_batch(1 min, 0) group by src;
@Name('Filter') select S, N from A where N >= 1;
@Name('Pair') select A.S as S, A.N as N from A#time(1 sec), B#time(1 sec) where A.S = B.S;
@Name('Across') select A.S as S, A.N as N from A#time(5 min), B#time(5 min) where A.S = B.S;
"""
    rules = tuple(RuleSpec(id=f"r-{n.lower()}", name=n, description=n, statement=n, source_field="S")
                  for n in ("Filter", "Pair", "Across"))
    det = EPLDetector(DetectorSpec(name="w", summary="", epl=epl, rules=rules), {}, Context())
    assert det.periods == {"A": 60_000, "B": 60_000, "Filter": 60_000, "Pair": 60_000}
    det.on_batch(flows((1_000, {"src": "10.0.0.1", "dst": "10.0.0.9"})))
    assert det.on_watermark(59_999) == []
    events = det.on_watermark(60_000)
    windows = {e["rule"]["id"]: (e["flowcep"].get("window") or {}) for e in events}
    assert set(windows) == {"r-filter", "r-pair", "r-across"}
    for rule in ("r-filter", "r-pair"):
        assert windows[rule]["start"].endswith("00:00:00.000Z") and windows[rule]["end"].endswith("00:01:00.000Z")
    assert windows["r-across"]["start"] == windows["r-across"]["end"]
