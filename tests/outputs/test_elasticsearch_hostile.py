"""A bulk answer that is not one (a proxy's HTML page, JSON of another shape) is a failed
request to retry, like a 503: the documents reach the index once when the cluster answers
properly again. It used to fall into the sender's catch-all and dead-letter the whole chunk
at the first such answer."""

from __future__ import annotations

import json
from typing import Any

import pytest
from werkzeug import Request, Response

from flowcep_plugin.context import Context

from .test_elasticsearch_faults import HEADERS, FakeES, alert, exactly_once, make_output

GARBAGE = {
    "html": Response("<html><body>502 Bad Gateway</body></html>", status=200,
                     headers={"X-Elastic-Product": "Elasticsearch", "Content-Type": "text/html"}),
    "list": Response(json.dumps(["not", "a", "bulk", "answer"]), status=200, headers=HEADERS),
    "items-junk": Response(json.dumps({"took": 1, "errors": False, "items": ["x"] * 20}), status=200, headers=HEADERS),
    "status-text": Response(json.dumps({"took": 1, "errors": False,
                                        "items": [{"create": {"status": "201"}}] * 20}), status=200, headers=HEADERS),
}


class HostileES(FakeES):
    def __init__(self) -> None:
        super().__init__()
        self.garbage: list[str] = []

    def handle(self, request: Request) -> Response:
        if request.path.endswith("/_bulk") and self.garbage:
            with self.lock:
                self.bulk_requests += 1
            return GARBAGE[self.garbage.pop(0)]
        return super().handle(request)


@pytest.fixture
def hostile(httpserver: Any) -> HostileES:
    es = HostileES()
    httpserver.expect_request("").respond_with_handler(es.handle)
    return es


@pytest.mark.parametrize("kind", sorted(GARBAGE))
def test_a_garbled_bulk_answer_is_retried_not_dead_lettered(hostile: HostileES, httpserver: Any, tmp_path: Any,
                                                             kind: str) -> None:
    hostile.garbage = [kind, kind]
    ctx = Context()
    out = make_output(httpserver.url_for("/").rstrip("/"), tmp_path, ctx, chunk_size=20)
    out.write_events([alert(i) for i in range(20)])
    out.close()
    exactly_once(hostile, 20)
    assert not (tmp_path / "dead.jsonl").exists()
    s = ctx.stats.snapshot()
    assert s["output_failures"] == {} and s["plugin_errors"] == {}
    assert s["gauges"]["es.retries"] > 0
