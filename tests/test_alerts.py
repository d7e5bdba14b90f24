"""Alert documents, the alert schema, suppression and tumbling windows."""

from __future__ import annotations

import copy

import pytest

from flowcep_plugin.alerts import (
    Suppressor,
    TumblingWindows,
    alert_from_row,
    alert_id,
    event_errors,
    format_alert_line,
    iso_ms,
    make_metric,
    validate_event,
)
from flowcep_plugin.records import FlowBatch
from flowcep_plugin.specs import RuleSpec

T0 = 1_523_520_000_000  # 2018-04-12T08:00:00Z
RULE = RuleSpec(
    id="test-scan", name="Test scan", description="a scan", statement="Output",
    severity="high", risk_score=73, technique=("T1046", "T1595.001"),
    source_field="Attacker", destination_field="ipfix.destinationIPv4Address",
    destination_port_field="destPort", count_fields=("AtkCount",), transport="tcp",
    summary="{Attacker} probed port {destPort} {AtkCount} times",
)


def row(attacker: str = "10.0.0.1", count: int = 20) -> dict:
    return {"Attacker": attacker, "destPort": 22, "AtkCount": count,
            "ipfix.destinationIPv4Address": "10.0.0.2"}


def test_alert_from_row_maps_fields_to_ecs() -> None:
    d = alert_from_row(RULE, row(), T0, "portscan")
    assert d["@timestamp"] == "2018-04-12T08:00:00.000Z"
    assert d["event"]["kind"] == "alert" and d["event"]["severity"] == 73
    assert d["event"]["risk_score"] == 73
    assert d["source"]["ip"] == "10.0.0.1"
    assert d["destination"] == {"ip": "10.0.0.2", "port": 22}
    assert d["network"]["transport"] == "tcp"
    assert d["message"] == "Test scan: 10.0.0.1 probed port 22 20 times"
    assert d["threat"]["framework"] == "MITRE ATT&CK"
    assert d["threat"]["technique"]["id"] == ["T1046", "T1595"]
    assert d["threat"]["technique"]["subtechnique"]["id"] == ["T1595.001"]
    assert d["threat"]["tactic"]["name"] == ["Discovery", "Reconnaissance"]
    assert d["flowcep"]["counts"] == {"AtkCount": 20}
    assert d["flowcep"]["key"] == "10.0.0.1"
    assert d["flowcep"]["severity"] == "high"
    assert event_errors(d) == []


def test_bare_and_prefixed_names_are_the_same_element() -> None:
    r = dict(row())
    r["destinationIPv4Address"] = r.pop("ipfix.destinationIPv4Address")
    assert alert_from_row(RULE, r, T0, "x")["destination"]["ip"] == "10.0.0.2"


def test_summary_with_unknown_name_does_not_fail() -> None:
    rule = RuleSpec(id="r", name="R", description="d", summary="{nope} and {Attacker}",
                    source_field="Attacker")
    assert alert_from_row(rule, {"Attacker": "1.2.3.4"}, T0, "x")["message"] == "R: ? and 1.2.3.4"


def test_destination_list_and_bytes_are_json() -> None:
    rule = RuleSpec(id="r", name="R", description="d", source_field="a", destination_field="v")
    d = alert_from_row(rule, {"a": "1.2.3.4", "v": ["10.0.0.3", "10.0.0.2", "10.0.0.3"],
                              "raw": b"\x01\xff"}, T0, "x")
    assert d["destination"]["ip"] == ["10.0.0.2", "10.0.0.3"]
    assert d["flowcep"]["fields"]["raw"] == "01ff"
    validate_event(d)


def test_schema_rejects_bad_documents() -> None:
    good = alert_from_row(RULE, row(), T0, "x")
    for path, value in ((("event", "severity"), 50), (("source", "ip"), "not-an-ip"),
                        (("threat", "framework"), "other"), (("flowcep", "alert_id"), "XYZ")):
        bad = copy.deepcopy(good)
        bad[path[0]][path[1]] = value
        assert event_errors(bad), path
    bad = copy.deepcopy(good)
    del bad["rule"]["name"]
    with pytest.raises(ValueError, match="test-scan"):
        validate_event(bad)
    bad = copy.deepcopy(good)
    bad["unexpected"] = 1
    assert event_errors(bad)


def test_metric_documents_validate_and_carry_no_severity() -> None:
    rule = RuleSpec(id="m", name="Traffic", description="stats", kind="metric")
    m = make_metric(rule, time_ms=T0, detector="trafficstats", metrics={"flows": 3},
                    window=(T0 - 60_000, T0))
    assert m["event"]["kind"] == "metric" and "severity" not in m["event"]
    assert event_errors(m) == []
    m["event"]["severity"] = 21
    m["threat"] = {"framework": "MITRE ATT&CK", "technique": {"id": ["T1046"], "name": ["x"]}}
    assert event_errors(m)


def test_alert_id_is_deterministic_and_depends_on_each_part() -> None:
    a = alert_id("r", "10.0.0.1", T0)
    assert a == alert_id("r", "10.0.0.1", T0) and len(a) == 32
    assert len({a, alert_id("r2", "10.0.0.1", T0), alert_id("r", "10.0.0.9", T0),
                alert_id("r", "10.0.0.1", T0 + 1)}) == 4


def test_suppressor_merges_repeats_and_reemits_at_interval_end() -> None:
    s = Suppressor(interval_ms=3_600_000)
    first = s.process([alert_from_row(RULE, row(count=20), T0, "x")], T0)
    assert len(first) == 1 and first[0]["flowcep"]["revision"] == 1
    aid = first[0]["flowcep"]["alert_id"]
    assert aid == alert_id("test-scan", "10.0.0.1", T0)
    # two repeats within the hour: nothing emitted now
    assert s.process([alert_from_row(RULE, row(count=35), T0 + 60_000, "x")], T0 + 60_000) == []
    assert s.process([alert_from_row(RULE, row(count=25), T0 + 120_000, "x")], T0 + 120_000) == []
    # another attacker is not suppressed
    other = s.process([alert_from_row(RULE, row("10.0.0.7"), T0 + 130_000, "x")], T0 + 130_000)
    assert [e["source"]["ip"] for e in other] == ["10.0.0.7"]
    # interval closes: the merged alert comes back with the same id, revision 2
    out = s.process([], T0 + 3_600_000)
    assert len(out) == 1
    merged = out[0]
    assert merged["flowcep"]["alert_id"] == aid and merged["flowcep"]["revision"] == 2
    assert merged["flowcep"]["occurrences"] == 3
    assert merged["flowcep"]["counts"]["AtkCount"] == 35
    assert merged["flowcep"]["first_seen"] == iso_ms(T0)
    assert merged["flowcep"]["last_seen"] == iso_ms(T0 + 120_000)
    assert event_errors(merged) == []
    # what was emitted first was not modified by later merges
    assert first[0]["flowcep"]["occurrences"] == 1
    # the other attacker fired once: nothing more at flush
    assert s.flush() == []


def test_suppressor_new_interval_gets_new_id_and_flush_releases_pending() -> None:
    s = Suppressor(interval_ms=600_000)
    a = s.process([alert_from_row(RULE, row(), T0, "x")], T0)
    s.process([alert_from_row(RULE, row(), T0 + 1000, "x")], T0 + 1000)
    # a firing after the interval: the old one closes (rev 2), a new alert starts
    out = s.process([alert_from_row(RULE, row(), T0 + 700_000, "x")], T0 + 700_000)
    assert [e["flowcep"]["revision"] for e in out] == [2, 1]
    assert out[0]["flowcep"]["alert_id"] == a[0]["flowcep"]["alert_id"]
    assert out[1]["flowcep"]["alert_id"] != a[0]["flowcep"]["alert_id"]
    s.process([alert_from_row(RULE, row(), T0 + 701_000, "x")], T0 + 701_000)
    pending = s.flush()
    assert len(pending) == 1 and pending[0]["flowcep"]["occurrences"] == 2


def test_suppressor_passes_metrics_through() -> None:
    rule = RuleSpec(id="m", name="M", description="d", kind="metric")
    m = make_metric(rule, time_ms=T0, detector="t", metrics={"a": 1})
    s = Suppressor()
    assert s.process([m, m], T0) == [m, m]


def test_format_alert_line() -> None:
    d = alert_from_row(RULE, row(), T0, "x")
    line = format_alert_line(d)
    assert line.startswith("2018-04-12 08:00:00.000")
    assert "HIGH" in line and "test-scan" in line and "10.0.0.1 -> 10.0.0.2:22" in line
    assert "\n" not in line


def test_tumbling_windows_close_on_time_and_flush() -> None:
    closed: list[tuple[int, int, int]] = []

    def finish(state: list[int], start: int, end: int) -> list[dict]:
        closed.append((start, end, len(state)))
        return []

    w = TumblingWindows(60_000, list, finish)
    times = [T0 + 1, T0 + 59_999, T0 + 60_000, T0 + 125_000]
    batch = FlowBatch.from_rows([{"flowEndMilliseconds": t} for t in times])
    w.add(batch, lambda st, idx, start: st.extend(idx))
    # records at T0+60000 and T0+125000 closed the first two windows
    assert closed == [(T0, T0 + 60_000, 2), (T0 + 60_000, T0 + 120_000, 1)]
    w.close_until(T0 + 179_999)
    assert len(closed) == 2
    w.flush()
    assert closed[-1] == (T0 + 120_000, T0 + 180_000, 1)


def test_suppressor_copes_with_values_json_cannot_encode() -> None:
    d = alert_from_row(RULE, row(), T0, "x")
    d["flowcep"]["fields"]["raw"] = b"\x00"  # a third-party detector's raw value
    s = Suppressor()
    assert len(s.process([d], T0)) == 1
    s.process([alert_from_row(RULE, row(), T0 + 1, "x")], T0 + 1)
    assert s.flush()[0]["flowcep"]["occurrences"] == 2


def test_merged_victim_list_is_bounded() -> None:
    rule = RuleSpec(id="r", name="R", description="d", source_field="a", destination_field="v")
    s = Suppressor()
    s.process([alert_from_row(rule, {"a": "1.2.3.4", "v": [f"10.0.{i // 250}.{i % 250}" for i in range(800)]},
                              T0, "x")], T0)
    s.process([alert_from_row(rule, {"a": "1.2.3.4", "v": [f"10.9.{i // 250}.{i % 250}" for i in range(800)]},
                              T0 + 1, "x")], T0 + 1)
    merged = s.flush()[0]
    assert len(merged["destination"]["ip"]) == 1000
    assert event_errors(merged) == []


def test_merged_alert_message_counts_and_targets_agree() -> None:
    """Issue 15 item 8: a merged alert's message, counts and target list describe the same thing."""
    rule = RuleSpec(id="h", name="Sweep", description="d", source_field="a", destination_field="v",
                    count_fields=("hosts", "probes"), summary="{a} probed {hosts} hosts ({probes} probes)")

    def firing(hosts: list[str], probes: int, t: int) -> dict:
        return alert_from_row(rule, {"a": "192.0.2.9", "v": hosts, "hosts": len(hosts), "probes": probes}, t, "x")

    s = Suppressor(interval_ms=3_600_000)
    s.process([firing(["10.0.0.1", "10.0.0.2"], 50, T0)], T0)
    # a bigger firing (5 hosts, 9 probes) then a smaller one with more probes (3 hosts, 99 probes)
    s.process([firing([f"10.0.0.{i}" for i in range(1, 6)], 9, T0 + 60_000)], T0 + 60_000)
    s.process([firing(["10.0.0.7", "10.0.0.8", "10.0.0.9"], 99, T0 + 120_000)], T0 + 120_000)
    merged = s.flush()[0]
    counts = merged["flowcep"]["counts"]
    # the counts are one firing's, whole (never hosts of one and probes of another)
    assert counts == {"hosts": 5, "probes": 9}
    assert "probed 5 hosts (9 probes)" in merged["message"]
    # the targets are the union, and the message says how many
    assert len(merged["destination"]["ip"]) == 8
    assert "8 distinct destinations in all" in merged["message"]
    assert "3 firings" in merged["message"]


def test_suppressor_holds_a_bounded_number_of_open_alerts() -> None:
    """Spoofed attackers by the thousand each fire once an hour: the table of open alerts
    stays at its bound; the alerts that would close first are closed early (their merged
    revision goes out now), counted, and nothing is lost."""
    from flowcep_plugin.stats import Stats

    stats = Stats()
    s = Suppressor(interval_ms=3_600_000, stats=stats, max_open=100)
    sent = []
    for i in range(1000):
        ip = f"10.{i >> 8}.{i & 255}.1"
        t = T0 + i
        sent += s.process([alert_from_row(RULE, row(ip), t, "x"), alert_from_row(RULE, row(ip), t, "x")], t)
        assert len(s) <= 100
    assert stats.gauges["alerts.closed_early"] == 900
    revisions = [e["flowcep"]["revision"] for e in sent]
    assert revisions.count(1) == 1000 and revisions.count(2) == 900
    assert len(s.flush()) == 100


def test_suppressor_remembers_a_bounded_number_of_victims(monkeypatch: pytest.MonkeyPatch) -> None:
    """One scanner hitting a new host in every firing: the open alert keeps a bounded set of
    victims (and says "at least"), and the merges stay cheap (the victims are sorted once,
    when the alert goes out, not at every firing)."""
    import time

    from flowcep_plugin import alerts
    from flowcep_plugin.stats import Stats

    monkeypatch.setattr(alerts, "MAX_DESTINATIONS", 5000)
    stats = Stats()
    s = Suppressor(interval_ms=3_600_000, stats=stats)
    s.process([alert_from_row(RULE, row(), T0, "x")], T0)
    batch = []
    for i in range(alerts.MAX_DESTINATIONS + 500):
        r = row()
        r["ipfix.destinationIPv4Address"] = f"10.{i >> 16}.{(i >> 8) & 255}.{i & 255}"
        batch.append(alert_from_row(RULE, r, T0 + 1, "x"))
    started = time.perf_counter()
    s.process(batch, T0 + 1)
    assert time.perf_counter() - started < 5.0  # sorting at every merge: quadratic
    (merged,) = s.flush()
    assert len(s._open) == 0 and stats.gauges["alerts.destinations_not_kept"] >= 500
    assert f"at least {alerts.MAX_DESTINATIONS} distinct destinations" in merged["message"]
    assert len(merged["destination"]["ip"]) == alerts.MERGED_DESTINATIONS


def test_stamp_observer_names_the_gateway_and_keeps_ids_deterministic() -> None:
    from flowcep_plugin.alerts import make_alert, stamp_observer, validate_event
    from flowcep_plugin.specs import RuleSpec

    rule = RuleSpec(id="r", name="R", description="d")

    def doc() -> dict[str, object]:
        return make_alert(rule, time_ms=1_000_000, detector="x", source_ip="192.0.2.1", window=(0, 1_000_000))

    plain = doc()["flowcep"]["alert_id"]
    a1, a2, b = stamp_observer([doc()], "a")[0], stamp_observer([doc()], "a")[0], stamp_observer([doc()], "b")[0]
    assert a1["observer"] == {"name": "a"} and b["observer"] == {"name": "b"}
    assert a1["flowcep"]["alert_id"] == a2["flowcep"]["alert_id"]  # replays keep their ids
    assert len({plain, a1["flowcep"]["alert_id"], b["flowcep"]["alert_id"]}) == 3
    validate_event(a1)


def test_observer_setting_is_checked() -> None:
    from flowcep_plugin.errors import ConfigError
    from flowcep_plugin.inprocess import run

    with pytest.raises(ConfigError, match="observer"):
        run(["counter:1"], config={"run": {"observer": ""}})


def test_int_column_converts_what_is_not_an_int_and_copies_what_is() -> None:
    from flowcep_plugin.alerts import int_column
    from flowcep_plugin.records import FlowBatch

    batch = FlowBatch({"a": [1, 2, 3], "b": [1, None, 3], "c": [True, 2.9, "7"], "d": [None, 4.5, None]})
    a = int_column(batch, "a")
    assert a == [1, 2, 3] and a is not batch.columns["a"]
    assert int_column(batch, "b", default=-1) == [1, -1, 3]
    c = int_column(batch, "c")
    assert c == [1, 2, 7] and [type(v) for v in c] == [int, int, int]
    assert int_column(batch, "d", default=9) == [9, 4, 9]
    assert int_column(batch, "missing", "a") is a  # cached per batch
    assert int_column(batch, "missing", default=5) == [5, 5, 5]
