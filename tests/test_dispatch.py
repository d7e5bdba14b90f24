"""One dispatcher: every hook goes through pluggy's hook caller, so the pluggy features the
plugin docs promise (wrappers, old-style hookwrappers, tryfirst/trylast, firstresult) work,
while a raising implementation is still counted against its plugin and the others go on.
Each hookspec promise has a test here."""

from __future__ import annotations

import json
from collections.abc import Generator
from typing import Any

import pytest

from flowcep_plugin import DetectorSpec, FlowBatch, InputSpec, OutputSpec, hookimpl
from flowcep_plugin.api import run
from flowcep_plugin.errors import ConfigError, PluginError
from flowcep_plugin.manager import PluginInfo, make_plugin_manager
from flowcep_plugin.plan import resolve
from flowcep_plugin.registry import Registry

T0 = 1_700_000_000_000


class ListSource:
    live = False

    def __init__(self, address: Any, config: Any, ctx: Any) -> None:
        n = int(address.path)
        self.data = [FlowBatch({"sourceIPv4Address": [f"10.0.{b}.{i}" for i in range(10)],
                                "flowEndMilliseconds": [T0 + (b * 10 + i) * 1000 for i in range(10)]},
                               source=address.raw) for b in range(n)]

    def batches(self) -> Any:
        yield from self.data

    def close(self) -> None:
        pass


class Counting:
    def __init__(self, config: Any, ctx: Any) -> None:
        self.seen: list[str] = []

    def on_batch(self, batch: FlowBatch) -> list[Any]:
        self.seen += batch.get("sourceIPv4Address")
        return []

    def on_watermark(self, wm: int) -> list[Any]:
        return []

    def flush(self) -> list[Any]:
        return [{"@timestamp": "2023-11-14T22:13:20Z", "event": {"kind": "alert"},
                 "rule": {"id": "count", "name": "count"}, "flowcep": {"records": len(self.seen)},
                 "source": {"ip": "10.0.0.1"}}]


#: the detector objects built in the last run, by class, so tests can look inside them
BUILT: dict[str, Any] = {}


class Poisoned(Counting):
    """Raises on any batch holding the poison record; fine otherwise."""

    def __init__(self, config: Any, ctx: Any) -> None:
        super().__init__(config, ctx)
        BUILT["poisoned"] = self

    def on_batch(self, batch: FlowBatch) -> list[Any]:
        if "10.0.1.3" in batch.get("sourceIPv4Address"):
            raise ValueError("cannot parse 10.0.1.3")
        return super().on_batch(batch)


class AlwaysRaising(Counting):
    calls = 0

    def on_batch(self, batch: FlowBatch) -> list[Any]:
        AlwaysRaising.calls += 1
        raise RuntimeError("always")


class Memory:
    def write_events(self, events: list[Any]) -> None:
        pass

    def write_flows(self, batch: FlowBatch) -> None:
        pass

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


class Base:
    @hookimpl
    def flowcep_register_inputs(self) -> list[InputSpec]:
        return [InputSpec(name="list", summary="test", schemes=("list",), open=ListSource)]

    @hookimpl
    def flowcep_register_outputs(self) -> list[OutputSpec]:
        return [OutputSpec(name="mem", summary="test", schemes=("mem",), factory=lambda t, c, x: Memory())]

    @hookimpl
    def flowcep_register_detectors(self) -> list[DetectorSpec]:
        return [DetectorSpec(name="counting", summary="t", factory=Counting),
                DetectorSpec(name="poisoned", summary="t", factory=Poisoned),
                DetectorSpec(name="raising", summary="t", factory=AlwaysRaising)]


def manager(*plugins: Any) -> Any:
    pm = make_plugin_manager(load_entry_points=False)
    for i, p in enumerate((Base(), *plugins)):
        pm.register_plugin(p, PluginInfo(name=f"p{i}", module="tests", distribution=f"dist-{i}",
                                         version="0", origin="registered"))
    return pm


# -- pluggy semantics --------------------------------------------------------------------------


def test_new_style_wrapper_wraps_the_whole_per_batch_call() -> None:
    calls: list[str] = []

    class Impl:
        @hookimpl
        def flowcep_enrich_batch(self, batch: FlowBatch) -> None:
            calls.append("impl")

    class Wrapper:
        @hookimpl(wrapper=True)
        def flowcep_enrich_batch(self, batch: FlowBatch) -> Generator[None, Any, Any]:
            calls.append("before")
            result = yield
            calls.append("after")
            return result

    run(["list:2"], detectors=[], pm=manager(Impl(), Wrapper()))
    assert calls == ["before", "impl", "after"] * 2


def test_old_style_hookwrapper_sees_the_alerts_call() -> None:
    seen: list[int] = []

    class Timing:
        @hookimpl(hookwrapper=True)
        def flowcep_alerts(self, events: list[Any]) -> Generator[None, Any, None]:
            outcome = yield
            outcome.get_result()
            seen.append(len(events))

    res = run(["list:1"], detectors=["counting"], pm=manager(Timing()))
    assert seen == [len(res.events)] and seen[0] >= 1


def test_tryfirst_and_trylast_order_is_pluggys() -> None:
    order: list[str] = []

    def plugin(tag: str, **opts: bool) -> Any:
        class P:
            @hookimpl(**opts)
            def flowcep_enrich_batch(self) -> None:
                order.append(tag)
        return P()

    # registered first -> called last by pluggy, unless tryfirst/trylast say otherwise
    run(["list:1"], detectors=[], pm=manager(plugin("first", tryfirst=True), plugin("plain"),
                                             plugin("last", trylast=True), plugin("later")))
    assert order == ["first", "later", "plain", "last"]


def test_a_wrapper_can_filter_registered_components() -> None:
    class Filter:
        @hookimpl(wrapper=True)
        def flowcep_register_detectors(self) -> Generator[None, Any, Any]:
            lists = yield
            return [[s for s in specs if s.name != "raising"] for specs in lists]

    reg = Registry.build(manager(Filter()))
    assert sorted(reg.detectors) == ["counting", "poisoned"]
    assert reg.provider[("detectors", "counting")] == "p0"


def test_resolve_input_is_called_once_per_input_and_first_result_wins() -> None:
    calls: list[str] = []

    class Claim:
        @hookimpl
        def flowcep_resolve_input(self, address: Any) -> Any:
            calls.append(address.raw)
            if address.scheme == "mine":
                return InputSpec(name="mine", summary="t", schemes=("mine",),
                                 open=lambda a, c, x: ListSource(type("A", (), {"path": "1", "raw": a.raw})(), c, x))
            return None

    res = run(["mine:x", "list:2"], detectors=["counting"], pm=manager(Claim()))
    assert calls == ["mine:x", "list:2"]
    assert res.stats["stages"]["input"]["in"] == 30


# -- isolation ---------------------------------------------------------------------------------


def test_a_raising_hook_is_counted_and_the_others_still_run() -> None:
    called: list[str] = []

    class Bad:
        @hookimpl(tryfirst=True)
        def flowcep_enrich_batch(self) -> None:
            raise ValueError("bug")

    class Good:
        @hookimpl
        def flowcep_enrich_batch(self) -> None:
            called.append("good")

    res = run(["list:3"], detectors=[], pm=manager(Bad(), Good()))
    assert called == ["good"] * 3
    assert res.stats["plugin_errors"]["p1"] == 3


def test_the_records_a_detector_chokes_on_are_isolated_and_counted() -> None:
    res = run(["list:3"], detectors=["poisoned", "counting"], pm=manager())
    seen = BUILT["poisoned"].seen
    assert len(seen) == 29 and "10.0.1.3" not in seen  # every other record still reached it
    assert res.stats["drops"]["plugin-error"] == 1
    assert res.stats["plugin_errors"]["p0"] == 1  # one failure per failing batch, not per retry
    assert sorted(e["flowcep"]["records"] for e in res.alerts) == [29, 30]


def test_a_detector_is_disabled_after_max_plugin_failures() -> None:
    AlwaysRaising.calls = 0
    res = run(["list:6"], detectors=["raising", "counting"], pm=manager(),
              config={"run": {"max_plugin_failures": 2}}, lateness=0)
    assert res.stats["plugin_errors"]["p0"] == 2  # then disabled: no more calls, no more errors
    assert res.stats["drops"]["plugin-disabled"] == 40  # batches 3..6, counted, not lost silently
    assert res.stats["gauges"]["plugin_disabled.p0"] == 2
    assert AlwaysRaising.calls <= 2 * (1 + 2 * 10)  # bisecting is bounded
    # the others go on; the disabled one is not called again, not even to flush
    assert [e["flowcep"]["records"] for e in res.alerts if e["rule"]["id"] == "count"] == [60]


# -- lifecycle promises ------------------------------------------------------------------------


class Lifecycle:
    def __init__(self) -> None:
        self.calls: list[str] = []

    @hookimpl
    def flowcep_configure(self) -> None:
        self.calls.append("configure")

    @hookimpl
    def flowcep_start(self) -> None:
        self.calls.append("start")

    @hookimpl
    def flowcep_flush(self) -> None:
        self.calls.append("flush")

    @hookimpl
    def flowcep_shutdown(self, stats: Any) -> None:
        self.calls.append("shutdown")
        json.dumps(stats)  # the snapshot, as --stats-json writes it


def test_lifecycle_hooks_run_once_in_order() -> None:
    life = Lifecycle()
    run(["list:2"], detectors=["counting"], pm=manager(life))
    assert life.calls == ["configure", "start", "flush", "shutdown"]


def test_shutdown_runs_when_the_run_fails_at_startup() -> None:
    class BadFactory:
        @hookimpl
        def flowcep_register_detectors(self) -> list[DetectorSpec]:
            def boom(config: Any, ctx: Any) -> Any:
                raise KeyError("model.bin")
            return [DetectorSpec(name="boom", summary="t", factory=boom)]

    life = Lifecycle()
    with pytest.raises(PluginError, match=r"^detector 'boom' \(plugin 'p2'\) failed to start: "
                                          r"KeyError: 'model.bin'; .*\(FLOWCEP_DISABLE_PLUGINS=p2\)$"):
        run(["list:1"], detectors=["boom"], pm=manager(life, BadFactory()))
    assert life.calls == ["configure", "shutdown"]


def test_shutdown_runs_when_the_run_fails_midway() -> None:
    class Interrupt:
        @hookimpl
        def flowcep_alerts(self) -> None:
            raise KeyboardInterrupt  # not an Exception: it must stop the run

    life = Lifecycle()
    with pytest.raises(KeyboardInterrupt):
        run(["list:1"], detectors=["counting"], pm=manager(life, Interrupt()))
    assert life.calls == ["configure", "start", "shutdown"]


def test_a_config_section_claimed_twice_names_both_plugins() -> None:
    def claimer() -> Any:
        class C:
            @hookimpl
            def flowcep_config_schema(self) -> Any:
                return {"shared": {"type": "object"}}
        return C()

    with pytest.raises(PluginError, match=r"config section 'shared' is claimed twice: by plugin "
                                          r"'p\d' \(dist-\d 0\) and by 'p\d' \(dist-\d 0\)"):
        Registry.build(manager(claimer(), claimer()))


def test_a_raising_config_schema_is_one_line_naming_the_plugin() -> None:
    class Bad:
        @hookimpl
        def flowcep_config_schema(self) -> Any:
            raise OSError("schema.json missing")

    pm = manager(Bad())
    reg = Registry.build(pm)  # `flowcep plugins` still lists it, as failed
    assert pm.infos["p1"].status == "failed" and "schema.json missing" in str(pm.infos["p1"].error)
    with pytest.raises(PluginError, match=r"^plugin 'p1' \(dist-1 0\): flowcep_config_schema raised "
                                          r"OSError: schema.json missing; .*$"):
        resolve(reg, {}, {"inputs": ["list:1"]})


def test_a_factorys_own_config_error_keeps_its_words_and_names_the_component() -> None:
    class Strict:
        @hookimpl
        def flowcep_register_detectors(self) -> list[DetectorSpec]:
            def factory(config: Any, ctx: Any) -> Any:
                raise ConfigError("allow: '10.0.0.0/33' is not a CIDR block")
            return [DetectorSpec(name="strict", summary="t", factory=factory)]

    with pytest.raises(ConfigError, match=r"^detector 'strict' \(plugin 'p1'\): allow: '10.0.0.0/33'"):
        run(["list:1"], detectors=["strict"], pm=manager(Strict()))


def test_cli_turns_a_plugin_startup_error_into_one_line_exit_2(monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    from flowcep_plugin import cli
    from flowcep_plugin.cli import common

    class BadFactory:
        @hookimpl
        def flowcep_register_detectors(self) -> list[DetectorSpec]:
            return [DetectorSpec(name="boom", summary="t", factory=lambda c, x: 1 / 0)]

    monkeypatch.setattr(common, "make_plugin_manager", lambda strict=False: manager(BadFactory()))
    code = cli.main(["run", "--input", "list:1", "--detector", "boom", "--output", "mem", "-q"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err == ["flowcep: error: detector 'boom' (plugin 'p1') failed to start: ZeroDivisionError: "
                   "division by zero; fix its settings or disable the plugin (FLOWCEP_DISABLE_PLUGINS=p1)"]


def test_an_output_that_keeps_failing_is_never_disabled() -> None:
    """Disabling an output would lose alerts silently: every failure is counted instead."""
    class Flaky(Memory):
        calls = 0

        def write_events(self, events: list[Any]) -> None:
            Flaky.calls += 1
            raise OSError("disk full")

    class Out:
        @hookimpl
        def flowcep_register_outputs(self) -> list[OutputSpec]:
            return [OutputSpec(name="flaky", summary="t", schemes=("flaky",), factory=lambda t, c, x: Flaky())]

    class EveryBatch(Counting):
        def on_batch(self, batch: FlowBatch) -> list[Any]:
            return self.flush()

    class Det:
        @hookimpl
        def flowcep_register_detectors(self) -> list[DetectorSpec]:
            return [DetectorSpec(name="every", summary="t", factory=EveryBatch)]

    res = run(["list:5"], detectors=["every"], outputs=["flaky:x"], pm=manager(Out(), Det()),
              config={"run": {"max_plugin_failures": 2}, "alerts": {"suppression": 0}}, lateness=0)
    assert Flaky.calls == res.stats["plugin_errors"]["p1"] >= 5


def test_registration_and_schema_hooks_are_called_once_per_run() -> None:
    calls: dict[str, int] = {}

    class Counter:
        @hookimpl
        def flowcep_register_detectors(self) -> list[DetectorSpec]:
            calls["detectors"] = calls.get("detectors", 0) + 1
            return []

        @hookimpl
        def flowcep_config_schema(self) -> Any:
            calls["schema"] = calls.get("schema", 0) + 1
            return {"counter": {"type": "object"}}

    run(["list:1"], detectors=["counting"], pm=manager(Counter()), config={"counter": {}})
    assert calls == {"detectors": 1, "schema": 1}


def test_flush_comes_after_the_outputs_flushed_and_before_they_close() -> None:
    seen: list[str] = []

    class Recorder(Memory):
        def flush(self) -> None:
            seen.append("output flush")

        def close(self) -> None:
            seen.append("output close")

    class Hooks:
        @hookimpl
        def flowcep_register_outputs(self) -> list[OutputSpec]:
            return [OutputSpec(name="rec", summary="t", schemes=("rec",), factory=lambda t, c, x: Recorder())]

        @hookimpl
        def flowcep_flush(self) -> None:
            seen.append("flowcep_flush")

        @hookimpl
        def flowcep_shutdown(self) -> None:
            seen.append("flowcep_shutdown")

    run(["list:1"], detectors=["counting"], outputs=["rec:x"], pm=manager(Hooks()))
    assert seen == ["output flush", "flowcep_flush", "output close", "flowcep_shutdown"]


def test_strict_stops_at_the_first_plugin_failure_with_one_line() -> None:
    from flowcep_plugin.context import Context
    from flowcep_plugin.pipeline import Pipeline

    plan = resolve(Registry.build(manager()), {}, {"inputs": ["list:1"], "detectors": ["raising"]})
    with pytest.raises(PluginError, match=r"^detector 'raising' \(plugin p0\) raised in on_batch: "
                                          r"RuntimeError: always \(--strict"):
        Pipeline(plan, Context(strict=True)).run()


def test_derived_events_come_once_per_engine_step_with_all_its_rows() -> None:
    calls: list[tuple[str, int]] = []

    class Derived:
        @hookimpl
        def flowcep_register_detectors(self) -> list[DetectorSpec]:
            epl = ("@Name('PerSource') INSERT INTO Sources SELECT sourceIPv4Address AS Src, count(*) AS N "
                   "FROM Flow.win:time_batch(10 seconds) GROUP BY sourceIPv4Address\n"
                   # without it, Esper (and the engine) also output each window's groups again,
                   # with count 0, when the next window releases
                   "HAVING count(*) > 0;\n"
                   "@Name('Out') SELECT Src FROM Sources")
            return [DetectorSpec(name="derived", summary="t", epl=epl)]

        @hookimpl
        def flowcep_derived_events(self, stream: str, rows: list[dict[str, Any]]) -> None:
            calls.append((stream, len(rows)))

    run(["list:3"], detectors=["derived"], pm=manager(Derived()), lateness=0)
    # 30 records, 10 distinct sources per 10 s window, three windows: three steps of 10 rows
    assert calls == [("Sources", 10)] * 3
