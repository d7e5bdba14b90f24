"""EPL detector metadata: statement annotations set what an alert says, validated, and every
alert carries ecs.version and validates against the alert schema."""

from __future__ import annotations

from typing import Any

import pytest

from flowcep_plugin.alerts import event_errors
from flowcep_plugin.errors import EPLError
from flowcep_plugin.plan import build_detector, epl_module_spec
from flowcep_plugin.specs import DetectorSpec, RuleSpec
from flowcep_plugin.testing import make_flow, run_detector

T0 = 1_700_000_000_000
SWEEP = [make_flow("192.0.2.9", f"10.0.0.{i}", proto="icmp", end_ms=T0 + i * 100) for i in range(40)]
QUERY = """SELECT sourceIPv4Address AS Src, count(distinct destinationIPv4Address) AS Hosts
FROM Flow.win:time_batch(60 seconds) WHERE protocolIdentifier = 1
GROUP BY sourceIPv4Address HAVING count(distinct destinationIPv4Address) >= 30"""


def module(tmp_path: Any, annotations: str) -> DetectorSpec:
    path = tmp_path / "sweep.epl"
    path.write_text(f"{annotations}\n{QUERY}\n")
    return epl_module_spec(str(path))


def test_annotations_set_the_rule_of_a_users_module(tmp_path: Any) -> None:
    spec = module(tmp_path, "@Name('Sweep') @Description('one source, many addresses')\n"
                            "@Summary('{Src} reached {Hosts} hosts') @Severity('critical') @RiskScore(90)\n"
                            "@Technique('T1018') @Technique('T1595.001, T1046') @Tactic('TA0007')\n"
                            "@Reference('https://example.org/sweep https://example.org/more') @Source('Src')")
    [rule] = spec.rules
    assert (rule.id, rule.description, rule.severity, rule.risk_score) == (
        "sweep.Sweep", "one source, many addresses", "critical", 90)
    assert rule.technique == ("T1018", "T1595.001", "T1046") and rule.tactic == ("TA0007",)
    assert rule.source_field == "Src"
    [alert] = run_detector(spec, SWEEP)
    assert alert["message"] == "sweep Sweep: 192.0.2.9 reached 40 hosts"
    assert alert["event"]["severity"] == 99 and alert["event"]["risk_score"] == 90
    assert alert["threat"]["technique"]["id"] == ["T1018", "T1595", "T1046"]
    assert alert["rule"]["reference"] == "https://example.org/sweep https://example.org/more"
    assert alert["ecs"]["version"].count(".") == 2
    assert event_errors(alert) == []


def test_esper_tag_form_works_for_every_key(tmp_path: Any) -> None:
    spec = module(tmp_path, "@Name('Sweep') @Tag(name='severity', value='high') "
                            "@Tag(name='technique', value='T1018') @Tag(name='source', value='Src')")
    [rule] = spec.rules
    assert (rule.severity, rule.technique, rule.source_field) == ("high", ("T1018",), "Src")


@pytest.mark.parametrize("annotation, message", [
    ("@Severity('severe')", "severity 'severe' is not one of low, medium, high, critical"),
    ("@Technique('T18')", "'T18' is not a MITRE ATT&CK technique id"),
    ("@Tactic('Discovery')", "'Discovery' is not a MITRE ATT&CK tactic id"),
    ("@RiskScore('lots')", "expected a number 0-100"),
    ("@Summary", "@Summary needs a value"),
])
def test_bad_metadata_is_an_epl_error_at_the_annotation(tmp_path: Any, annotation: str, message: str) -> None:
    with pytest.raises(EPLError, match=message) as err:
        module(tmp_path, f"@Name('Sweep')\n{annotation}")
    assert err.value.line == 2


def test_a_plugins_explicit_rule_fields_win_and_annotations_fill_the_rest() -> None:
    epl = "@Name('Sweep') @Severity('critical') @Summary('{Src} swept') @Technique('T1018')\n" + QUERY
    spec = DetectorSpec(name="sweep", summary="t", epl=epl, rules=(
        RuleSpec(id="sweep", name="Sweep", description="d", statement="Sweep", severity="low",
                 source_field="Src"),))
    [alert] = run_detector(spec, SWEEP)
    assert alert["event"]["severity"] == 21  # the RuleSpec said low: explicit wins
    assert alert["message"] == "Sweep: 192.0.2.9 swept"  # left empty in the RuleSpec: filled
    assert alert["threat"]["technique"]["id"] == ["T1018"]


def test_testing_and_the_host_build_epl_plus_factory_the_same_way() -> None:
    from flowcep_plugin.context import Context
    from flowcep_plugin.testing import build_detector as testing_build

    class Extra:
        def __init__(self, config: Any, ctx: Any) -> None:
            self.derived: list[str] = []

        def on_batch(self, batch: Any) -> list[Any]:
            return []

        def on_watermark(self, wm: int) -> list[Any]:
            return []

        def flush(self) -> list[Any]:
            return []

        def on_derived(self, stream: str, rows: list[dict[str, Any]]) -> None:
            self.derived += [stream] * len(rows)

    epl = "@Name('Sweep') INSERT INTO Sweeps " + QUERY + ";\n@Name('Out') SELECT Src FROM Sweeps"
    spec = DetectorSpec(name="both", summary="t", epl=epl, factory=Extra,
                        rules=(RuleSpec(id="out", name="Out", description="d", statement="Out",
                                        source_field="Src"),))
    for det in (testing_build(spec), build_detector(spec, {}, Context())):
        events = run_detector(det, SWEEP)
        assert [e["source"]["ip"] for e in events] == ["192.0.2.9"]  # the EPL ran
        assert det.extra.derived == ["Sweeps"]  # type: ignore[attr-defined]  # and so did the factory
