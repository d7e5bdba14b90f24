"""Record isolation: a value its element cannot hold drops that record, not the batch."""

from __future__ import annotations

from typing import Any

import pytest

from flowcep_plugin import DetectorSpec, FlowBatch, InputSpec, hookimpl
from flowcep_plugin.api import run
from flowcep_plugin.elements import default_registry
from flowcep_plugin.manager import PluginInfo, make_plugin_manager
from flowcep_plugin.sanitize import Sanitizer, check_for
from flowcep_plugin.stats import Stats

T0 = 1_700_000_000_000


def clean(columns: dict[str, list[Any]]) -> tuple[FlowBatch, Stats]:
    stats = Stats()
    out = Sanitizer(default_registry(), stats).clean(FlowBatch(columns, source="t"))
    return out, stats


def test_a_clean_batch_is_returned_as_is():
    b = FlowBatch({"sourceIPv4Address": ["10.0.0.1", None, "192.0.2.7"],
                   "sourceIPv6Address": [None, "2001:db8::1", None],
                   "octetDeltaCount": [0, 2**64 - 1, None], "flowEndMilliseconds": [T0, T0, T0],
                   "sourceMacAddress": ["00:11:22:33:44:55", None, None],
                   "HTTPRequestHost": ["a", None, "b"], "source.zone": [object(), 1, "x"]})
    stats = Stats()
    assert Sanitizer(default_registry(), stats).clean(b) is b
    assert stats.drops == {}


@pytest.mark.parametrize("name, bad", [
    ("octetDeltaCount", "lots"),  # text where a count is needed
    ("octetDeltaCount", -1),  # unsigned
    ("octetDeltaCount", 2**64),  # beyond unsigned64
    ("octetDeltaCount", 1.5),
    ("octetDeltaCount", ""),
    ("packetDeltaCount", b""),
    ("destinationTransportPort", 70_000),
    ("destinationTransportPort", [80]),
    ("sourceIPv4Address", "10.0.0.300"),
    ("sourceIPv4Address", ""),
    ("sourceIPv4Address", 167772161),  # an integer is not address text
    ("sourceIPv4Address", ["10.0.0.1"]),  # unhashable: the address memo must not raise
    ("destinationIPv6Address", "2001:db8::zz"),
    ("flowEndMilliseconds", "abc"),
    ("flowEndMilliseconds", -5),
    ("flowEndMilliseconds", {"t": 1}),
    ("sourceMacAddress", "00:11:22:33:44"),
    ("HTTPRequestHost", 5),
    ("reverseOctetDeltaCount", "x"),  # RFC 5103 reverse elements have their base's type
])
def test_one_bad_value_drops_only_its_record(name, bad):
    good = {"octetDeltaCount": 10, "packetDeltaCount": 0, "destinationTransportPort": 80, "sourceIPv4Address": "10.0.0.1",
            "destinationIPv6Address": "2001:db8::1", "flowEndMilliseconds": T0,
            "sourceMacAddress": "00:11:22:33:44:55", "HTTPRequestHost": "example.org",
            "reverseOctetDeltaCount": 3}
    rows = [dict(good, id=i) for i in range(5)]
    rows[2][name] = bad
    rows[4][name] = None  # an absent value beside it is fine
    out, stats = clean(FlowBatch.from_rows(rows).columns)
    assert out.get("id") == [0, 1, 3, 4]
    assert stats.drops == {"bad-value": 1}
    assert stats.drops_by_source == {"t": {"bad-value": 1}}
    assert stats.gauges[f"sanitize.bad.{name}"] == 1


def test_float_columns_refuse_nan_and_infinity():
    check = check_for("float64")
    assert check is not None
    assert check([1.0, None, 2.5]) is None
    assert check([1.0, float("nan"), float("inf"), 3, 10**400, "1.0"]) == [1, 2, 4, 5]


def test_addresses_of_the_other_family_are_still_addresses():
    # dual-stack exporters and JSON tools write IPv4-mapped text in IPv4 columns
    out, stats = clean({"sourceIPv4Address": ["::ffff:10.0.0.1", "10.0.0.2"]})
    assert out.length == 2 and stats.drops == {}


def test_a_column_of_the_wrong_length_is_dropped_not_the_records():
    b = FlowBatch({"octetDeltaCount": [1, 2, 3], "sourceIPv4Address": ["10.0.0.1"]}, 3)
    stats = Stats()
    out = Sanitizer(default_registry(), stats).clean(b)
    assert out.length == 3 and "sourceIPv4Address" not in out.columns
    assert stats.gauges["sanitize.bad_columns"] == 1


class BadValues:
    live = False

    def __init__(self, address: Any, config: Any, ctx: Any) -> None:
        self.raw = address.raw

    def batches(self) -> Any:
        rows = [{"sourceIPv4Address": "10.0.0.1", "octetDeltaCount": 100 + i,
                 "flowEndMilliseconds": T0 + i * 1000} for i in range(10)]
        rows[3]["octetDeltaCount"] = "lots"
        rows[5]["flowEndMilliseconds"] = "yesterday"
        rows[7]["sourceIPv4Address"] = "not-an-ip"
        yield FlowBatch.from_rows(rows, source=self.raw)

    def close(self) -> None:
        pass


class Summing:
    total: list[int] = []

    def __init__(self, config: Any, ctx: Any) -> None:
        Summing.total = []

    def on_batch(self, batch: FlowBatch) -> list[Any]:
        Summing.total.append(sum(batch.get("octetDeltaCount")))  # raises on text
        return []

    def on_watermark(self, wm: int) -> list[Any]:
        return []

    def flush(self) -> list[Any]:
        return []


class Plugin:
    @hookimpl
    def flowcep_register_inputs(self) -> list[InputSpec]:
        return [InputSpec(name="bad", summary="test", schemes=("bad",), open=BadValues)]

    @hookimpl
    def flowcep_register_detectors(self) -> list[DetectorSpec]:
        return [DetectorSpec(name="summing", summary="t", factory=Summing)]


def test_pipeline_drops_bad_records_and_the_rest_of_the_batch_goes_on():
    pm = make_plugin_manager()
    pm.register_plugin(Plugin(), PluginInfo(name="t", module="tests", distribution="tests",
                                            version="0", origin="registered"))
    res = run(["bad:x"], detectors=["summing"], pm=pm)
    assert res.stats["drops"] == {"bad-value": 3}
    assert res.stats["plugin_errors"] == {}
    assert sum(Summing.total) == sum(100 + i for i in range(10) if i not in (3, 5, 7))


def test_address_memo_is_bounded_and_resets_counted():
    stats = Stats()
    san = Sanitizer(default_registry(), stats)
    for k in range(100):  # 100 x 1000 distinct addresses: more than the memo holds
        col = [f"10.{k}.{i // 250}.{i % 250}" for i in range(1000)]
        assert san.clean(FlowBatch({"sourceIPv4Address": col})).length == 1000
    memo = san._checks["sourceIPv4Address"]
    assert len(memo.known) <= 65_536 + 1  # type: ignore[union-attr]
    assert stats.gauges["sanitize.memo_resets"] >= 1


def test_a_start_after_its_end_is_clamped_to_the_end_and_counted():
    b = FlowBatch({"flowStartMilliseconds": [T0 - 5, T0 + 9, None, T0 + 1, T0],
                   "flowEndMilliseconds": [T0, T0, T0, None, T0],
                   "octetDeltaCount": [1, 2, 3, 4, 5]}, source="t")
    original = list(b.columns["flowStartMilliseconds"])
    stats = Stats()
    out = Sanitizer(default_registry(), stats).clean(b)
    assert len(out) == 5 and out.columns["octetDeltaCount"] == [1, 2, 3, 4, 5]  # nothing dropped
    # only the record starting after it ends changes; absent values stay absent
    assert out.columns["flowStartMilliseconds"] == [T0 - 5, T0, None, T0 + 1, T0]
    assert out.event_times()[:3] == [T0, T0, T0]  # event time is the end, untouched
    assert stats.gauges["sanitize.start_after_end"] == 1
    assert stats.drops == {}
    assert original == [T0 - 5, T0 + 9, None, T0 + 1, T0]  # a new column, not an edit in place


def test_start_after_end_compares_each_unit_with_its_own_unit():
    stats = Stats()
    b = FlowBatch({"flowStartSeconds": [10, 30, 20], "flowEndSeconds": [20, 20, 20],
                   "flowStartMilliseconds": [1, 2, 3], "flowEndMicroseconds": [0, 0, 0]}, source="t")
    out = Sanitizer(default_registry(), stats).clean(b)
    assert out.columns["flowStartSeconds"] == [10, 20, 20]
    assert out.columns["flowStartMilliseconds"] == [1, 2, 3]  # no end in milliseconds: not compared
    assert stats.gauges["sanitize.start_after_end"] == 1


def test_records_in_order_are_returned_as_is_and_not_counted():
    b = FlowBatch({"flowStartMilliseconds": [T0 - 1, T0, None], "flowEndMilliseconds": [T0, T0, T0]},
                  source="t")
    stats = Stats()
    cols = dict(b.columns)
    assert Sanitizer(default_registry(), stats).clean(b) is b
    assert b.columns["flowStartMilliseconds"] is cols["flowStartMilliseconds"]
    assert "sanitize.start_after_end" not in stats.gauges


def test_start_after_end_after_a_bad_record_is_dropped():
    b = FlowBatch({"flowStartMilliseconds": ["soon", T0 + 3, T0], "flowEndMilliseconds": [T0, T0, T0]},
                  source="t")
    stats = Stats()
    out = Sanitizer(default_registry(), stats).clean(b)
    assert out.columns["flowStartMilliseconds"] == [T0, T0]
    assert stats.gauges["sanitize.start_after_end"] == 1
    assert sum(stats.drops.values()) == 1


class Backwards(BadValues):
    def batches(self) -> Any:
        rows = [{"sourceIPv4Address": "10.0.0.1", "octetDeltaCount": 100 + i,
                 "flowStartMilliseconds": T0 + i * 1000 - 500, "flowEndMilliseconds": T0 + i * 1000}
                for i in range(10)]
        rows[4]["flowStartMilliseconds"] = T0 + 99_000  # starts 95 s after it ends
        yield FlowBatch.from_rows(rows, source=self.raw)


class Durations(Summing):
    seen: list[int] = []

    def __init__(self, config: Any, ctx: Any) -> None:
        Durations.seen = []

    def on_batch(self, batch: FlowBatch) -> list[Any]:
        Durations.seen.extend(e - s for s, e in zip(batch.get("flowStartMilliseconds"),
                                                    batch.get("flowEndMilliseconds"), strict=True))
        return []


class BackwardsPlugin:
    @hookimpl
    def flowcep_register_inputs(self) -> list[InputSpec]:
        return [InputSpec(name="backwards", summary="test", schemes=("backwards",), open=Backwards)]

    @hookimpl
    def flowcep_register_detectors(self) -> list[DetectorSpec]:
        return [DetectorSpec(name="durations", summary="t", factory=Durations)]


def test_pipeline_keeps_a_flow_that_starts_after_it_ends_with_duration_zero():
    pm = make_plugin_manager()
    pm.register_plugin(BackwardsPlugin(), PluginInfo(name="t", module="tests", distribution="tests",
                                                     version="0", origin="registered"))
    res = run(["backwards:x"], detectors=["durations"], pm=pm)
    assert res.stats["drops"] == {}
    assert res.stats["gauges"]["sanitize.start_after_end"] == 1
    assert sorted(Durations.seen) == [0] + [500] * 9  # every record reached the detector
