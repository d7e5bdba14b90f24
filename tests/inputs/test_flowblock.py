"""The block path of the flow meter (numpy, per connection) against the per-packet path.

Both meter every capture in ``../shared/data/traces`` with several settings; the FlowBatches
taken after every chunk, the malformed packets (index and reason) and every counter must be
identical. The settings push the block path into its fallbacks: short timeouts (records ending
inside a block), a table small enough to evict, small chunks, uniflow, no TCP end.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from flowcep_plugin.inputs.capfile import Block, CaptureError, read_blocks, read_frames
from flowcep_plugin.inputs.flowmeter import FAST_LINKTYPES, FlowMeter

SETTINGS: dict[str, dict[str, Any]] = {
    "default": {},
    "uniflow": {"biflow": False},
    "short": {"inactive_timeout": 1.0, "active_timeout": 5.0, "close_linger": 2.0},
    "evict": {"max_flows": 50},
    "no-tcp-end": {"tcp_end": False, "http": False},
    "linger0": {"close_linger": 0.0},
}
CHUNKS = {"default": 8192, "uniflow": 8192, "short": 500, "evict": 300, "no-tcp-end": 2000, "linger0": 8192}


def _traces(shared: Path) -> list[Path]:
    return sorted(p for p in (shared / "data" / "traces").glob("*.pcap*"))


def _counters(m: FlowMeter) -> tuple[int, ...]:
    return (m.packets, m.non_ip, m.forced, m.fragments_attributed, m.fragments_orphaned,
            m.fragment_entries_evicted, m.fragments_held_evicted, len(m.flows), m.pending)


def _run(path: Path, settings: dict[str, Any], chunk: int, blocks: bool) -> list[Any]:
    meter = FlowMeter(**settings)
    out: list[Any] = []
    reader = read_blocks if blocks else read_frames
    try:
        for linktype, packets in reader(str(path), None, chunk):
            if linktype not in FAST_LINKTYPES:
                continue  # dissected by scapy in pcap.py; none of the traces has one
            if blocks:
                assert isinstance(packets, Block)
                bad = meter.process_block(packets, linktype)
            else:
                assert isinstance(packets, list)
                bad = meter.process(packets, linktype)
            out.append(("bad", bad))
            out.extend(("batch", b.columns, b.length) for b in meter.take_batches())
            out.append(("counters", _counters(meter)))
    except CaptureError as e:
        out.append(("error", str(e)))
    meter.flush()
    out.extend(("batch", b.columns, b.length) for b in meter.take_batches())
    out.append(("counters", _counters(meter)))
    return out


@pytest.mark.parametrize("setting", sorted(SETTINGS))
def test_block_path_equals_per_packet_path_on_every_trace(setting: str, shared: Path) -> None:
    traces = _traces(shared)
    if not traces:
        pytest.skip("no traces in ../shared/data/traces")
    records = 0
    for path in traces:
        ref = _run(path, SETTINGS[setting], CHUNKS[setting], blocks=False)
        new = _run(path, SETTINGS[setting], CHUNKS[setting], blocks=True)
        assert len(new) == len(ref), path.name
        for i, (a, b) in enumerate(zip(ref, new, strict=True)):
            assert a == b, f"{path.name} ({setting}): item {i} differs"
        records += sum(item[2] for item in ref if item[0] == "batch")
    assert records > 1000  # the comparison covered real records
