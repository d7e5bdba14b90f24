"""File inputs report how far they got, for the progress bar on stderr."""

from __future__ import annotations

import io

from flowcep_plugin.context import Context
from flowcep_plugin.manager import make_plugin_manager
from flowcep_plugin.registry import Registry


def test_ipfix_and_json_files_report_bytes_read(upstream_ipfix, tmp_path):
    reg = Registry.build(make_plugin_manager())
    jl = tmp_path / "f.jsonl"
    jl.write_text("".join(f'{{"sourceIPv4Address":"10.0.0.{i % 250}","flowEndMilliseconds":{i}}}\n'
                          for i in range(30_000)))
    for raw, size in ((f"ipfix-file:{upstream_ipfix}", upstream_ipfix.stat().st_size),
                      (f"json:{jl}", jl.stat().st_size)):
        src = reg.open_input(raw, {}, Context())
        assert src.progress() == (0, size)
        seen = []
        for _batch in src.batches():
            seen.append(src.progress()[0])
        assert seen == sorted(seen) and 0 < seen[0]
        assert src.progress() == (size, size), raw


def test_progress_bar_is_drawn_and_cleared(upstream_ipfix):
    from flowcep_plugin.pipeline import Pipeline
    from flowcep_plugin.plan import resolve

    reg = Registry.build(make_plugin_manager())
    plan = resolve(reg, {}, {"inputs": [f"ipfix-file:{upstream_ipfix}"], "detectors": []})
    stream = io.StringIO()
    p = Pipeline(plan, Context(), progress_stream=stream)
    p.run()
    p._show_progress()
    assert "[##############################] 100.0%  13,898 records" in stream.getvalue()
