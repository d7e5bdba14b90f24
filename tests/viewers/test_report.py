"""``flowcep report``: the demo's alerts rendered in headless Chromium, checked against the
alerts file itself (counted here independently), a screenshot that is not blank, no network
request, hostile alert fields shown as text, and clear errors for bad files."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from flowcep_plugin.cli import main

from .conftest import page_requests

Chromium = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The demo's alerts file and stats, written by the real ``flowcep demo``."""
    d = tmp_path_factory.mktemp("demo")
    alerts, stats = d / "alerts.jsonl", d / "stats.json"
    proc = subprocess.run([sys.executable, "-m", "flowcep_plugin", "demo", "--out", str(alerts),
                           "--stats-json", str(stats), "-q", "--report", str(d / "demo-report.html")],
                          check=True, capture_output=True, text=True, timeout=300)
    assert f"HTML report (opens offline): {d / 'demo-report.html'}" in proc.stderr
    assert (d / "demo-report.html").stat().st_size > 100_000
    return alerts, stats


def newest_revisions(path: Path) -> list[dict[str, Any]]:
    docs: dict[str, dict[str, Any]] = {}
    for line in path.read_text().splitlines():
        doc = json.loads(line)
        if doc["event"]["kind"] != "alert":
            continue
        key = doc["flowcep"]["alert_id"]
        if key not in docs or doc["flowcep"]["revision"] > docs[key]["flowcep"]["revision"]:
            docs[key] = doc
    return list(docs.values())


def test_demo_report_shows_every_rule_and_the_right_totals(
        demo_run: tuple[Path, Path], chromium: Chromium, request_recorder: tuple[str, list[str]],
        tmp_path: Path) -> None:
    alerts, stats = demo_run
    out = tmp_path / "report.html"
    assert main(["report", str(alerts), "--stats", str(stats), "--html", str(out)]) == 0
    expected = newest_revisions(alerts)
    assert expected, "the demo must raise alerts"
    by_rule = Counter(a["rule"]["id"] for a in expected)
    sources = {a["source"]["ip"] for a in expected if a.get("source", {}).get("ip")}

    dom = chromium(out, "--dump-dom").stdout
    assert re.search(r'id="total-alerts">(\d+)<', dom).group(1) == str(len(expected))  # type: ignore[union-attr]
    assert re.search(r'id="total-rules">(\d+)<', dom).group(1) == str(len(by_rule))  # type: ignore[union-attr]
    assert re.search(r'id="total-sources">(\d+)<', dom).group(1) == str(len(sources))  # type: ignore[union-attr]
    shown = dict(re.findall(r'data-rule="([^"]+)">(\d+)<', dom))
    assert shown == {rule: str(n) for rule, n in by_rule.items()}
    body = dom.split("<tbody>", 2)[-1].split("</tbody>", 1)[0]
    assert body.count("<tr>") == len(expected)
    for rule in by_rule:
        assert f"<td>{rule}</td>" in body
    # every chart was drawn by plotly (the attribute is set when Plotly.newPlot resolves)
    for chart in ("chart-time", "chart-severity", "chart-sources", "chart-targets", "chart-categories",
                  "chart-talkers"):
        assert re.search(rf'id="{chart}"[^>]*data-drawn="1"', dom), chart
    assert 'class="main-svg"' in dom  # plotly's SVG is really in the page
    assert "12,220 records" in dom  # from --stats
    _, seen = request_recorder
    assert page_requests(seen) == [], f"the report made network requests: {seen}"
    from plotly.offline import get_plotlyjs

    ours = out.read_text().replace(get_plotlyjs(), "")  # the library's own link texts are not loads
    assert not re.search(r'(?:src|href)\s*=\s*["\']?(?:https?:)?//', ours), "external URL in the page"
    assert "default-src 'none'" in ours  # and the page's CSP forbids any load if one slipped in


def test_the_request_recorder_sees_a_page_that_loads_a_url(
        chromium: Chromium, request_recorder: tuple[str, list[str]], tmp_path: Path) -> None:
    """Control: without this, an empty recorder could mean the recorder saw nothing at all."""
    page = tmp_path / "leaky.html"
    page.write_text('<!DOCTYPE html><img src="http://example.invalid/pixel.png">'
                    '<script src="https://cdn.example.invalid/lib.js"></script>')
    chromium(page, "--dump-dom")
    _, seen = request_recorder
    assert any("example.invalid" in r for r in page_requests(seen)), seen


def test_screenshot_is_not_blank(demo_run: tuple[Path, Path], chromium: Chromium, tmp_path: Path) -> None:
    from PIL import Image

    alerts, _ = demo_run
    out, png = tmp_path / "report.html", tmp_path / "report.png"
    main(["report", str(alerts), "--html", str(out)])
    chromium(out, f"--screenshot={png}", "--window-size=1400,1800")
    if os.environ.get("FLOWCEP_UPDATE_SCREENSHOTS"):
        docs = Path(__file__).resolve().parents[2] / "docs" / "images"
        docs.mkdir(parents=True, exist_ok=True)
        Image.open(png).convert("RGB").resize((1050, 1350)).quantize(colors=96).save(
            docs / "viewer-report.png", optimize=True)
    img = Image.open(png).convert("RGB").resize((280, 360))
    colours = img.getcolors(maxcolors=280 * 360) or []
    assert len(colours) > 200, "a rendered report has charts in many colours"
    background = max(colours)[0] / (280 * 360)
    assert background < 0.8, f"{background:.0%} of the screenshot is one colour"


def test_hostile_alert_fields_are_text_not_markup(chromium: Chromium, tmp_path: Path) -> None:
    evil = '</script><img src=x onerror="document.title=\'pwned\'"><b id=injected>x</b>'
    doc = {"@timestamp": "2024-01-01T00:00:00Z", "message": evil,
           "event": {"kind": "alert", "severity": 73},
           "rule": {"id": "r<i>1", "name": evil}, "source": {"ip": "192.0.2.1"},
           "destination": {"ip": [evil]}, "flowcep": {"alert_id": "a", "revision": 1, "severity": "high"}}
    alerts = tmp_path / "alerts.jsonl"
    alerts.write_text(json.dumps(doc) + "\n")
    out = tmp_path / "report.html"
    assert main(["report", str(alerts), "--html", str(out)]) == 0
    dom = chromium(out, "--dump-dom").stdout
    assert 'id="injected"' not in dom and "<img src" not in dom
    assert "<title>FlowCEP report" in dom and "pwned" not in dom.split("</title>")[0]
    assert "&lt;/script&gt;&lt;img" in dom  # shown, as text


@pytest.mark.parametrize(("content", "message"), [
    ("", "no alert or metric documents"),
    ('{"event": {"kind": "alert"}}\n{not json\n', ":2: not a JSON document"),
    ("[1, 2]\n", ":1: expected a JSON object"),
])
def test_empty_or_corrupt_file_is_one_clear_line(content: str, message: str, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    alerts = tmp_path / "alerts.jsonl"
    alerts.write_text(content)
    assert main(["report", str(alerts), "--html", str(tmp_path / "r.html")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err and str(alerts) in err
    assert not (tmp_path / "r.html").exists()


def test_binary_file_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    alerts = tmp_path / "capture.pcap"
    alerts.write_bytes(b"\xd4\xc3\xb2\xa1\x02\x00\x04\x00" + bytes(range(200, 256)) * 4)
    assert main(["report", str(alerts), "--html", str(tmp_path / "r.html")]) == 2
    assert "not a text file of JSON lines" in capsys.readouterr().err


def test_revisions_count_once_and_the_newest_wins(tmp_path: Path) -> None:
    from flowcep_plugin.viewers.alertfile import read_alert_file
    from flowcep_plugin.viewers.report import summarise

    def doc(rev: int, msg: str) -> str:
        return json.dumps({"@timestamp": f"2024-01-01T00:00:0{rev}Z", "message": msg,
                           "event": {"kind": "alert"}, "rule": {"id": "r"},
                           "flowcep": {"alert_id": "same", "revision": rev}})

    alerts = tmp_path / "a.jsonl"
    alerts.write_text("\n".join([doc(1, "first"), doc(3, "third"), doc(2, "second")]) + "\n")
    data = summarise(read_alert_file(alerts))
    assert [r["message"] for r in data.rows] == ["third"]
    assert data.by_rule == Counter({"r": 1})
