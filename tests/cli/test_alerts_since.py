"""``flowcep alerts search`` searches every alert unless --since is given, in a cluster as in
a file (a cluster search used to hide alerts older than 24 hours, e.g. a replayed capture)."""

from __future__ import annotations

from typing import Any

import pytest

from flowcep_plugin.cli import es as cli_es
from flowcep_plugin.cli import main


class FakeES:
    def __init__(self) -> None:
        self.queries: list[dict[str, Any]] = []

    def search(self, **kwargs: Any) -> dict[str, Any]:
        self.queries.append(kwargs["query"])
        return {"hits": {"hits": []}}

    def close(self) -> None:
        pass


@pytest.mark.parametrize("extra, bounded", [([], False), (["--since", "24h"], True)])
def test_cluster_search_is_unbounded_unless_since(extra: list[str], bounded: bool,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeES()
    monkeypatch.setattr(cli_es, "connect", lambda args: fake)
    assert main(["alerts", "search", "event.severity >= 73", "--url", "http://127.0.0.1:9", *extra]) == 0
    [query] = fake.queries
    ranges = [f for f in query["bool"]["filter"] if "range" in f and "@timestamp" in f["range"]]
    assert bool(ranges) is bounded


def test_file_search_finds_old_alerts(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from flowcep_plugin.alerts import make_alert
    from flowcep_plugin.specs import RuleSpec

    doc = make_alert(RuleSpec(id="r", name="R", description="d", severity="high"),
                     time_ms=1_000_000_000_000, detector="t", source_ip="192.0.2.1")  # 2001
    f = tmp_path / "a.jsonl"
    f.write_text(json.dumps(doc) + "\n")
    assert main(["alerts", "search", "--file", str(f)]) == 0
    assert "192.0.2.1" in capsys.readouterr().out
    assert main(["alerts", "search", "--file", str(f), "--since", "24h"]) == 0
    assert "192.0.2.1" not in capsys.readouterr().out
