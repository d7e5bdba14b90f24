"""The ICMP type-code column portscan and volumetric read (``_icmp_codes``): the values of
``icmp_type_code_column`` at every ICMP and ICMPv6 record, whichever elements the exporter
sent, made once per batch for both detectors."""

from __future__ import annotations

import random
from typing import Any

import pytest
from flowcep_portscan import _icmp_codes as portscan_codes
from flowcep_volumetric import _icmp_codes as volumetric_codes

from flowcep_plugin import FlowBatch
from flowcep_plugin.api import icmp_type_code_column


def _batch(rng: random.Random, n: int, with_v4: bool, with_v6: bool, with_port: bool,
           huge_proto: bool = False) -> FlowBatch:
    rows: list[dict[str, Any]] = []
    for i in range(n):
        proto = rng.choice([1, 6, 17, 58, 1, 58])
        row: dict[str, Any] = {"protocolIdentifier": proto, "sourceIPv4Address": "10.0.0.1"}
        if with_port:
            row["destinationTransportPort"] = rng.choice([0, 2048, 771, 33024, 443, None])
        if with_v4 and proto == 1 and rng.random() < 0.7:
            row["icmpTypeCodeIPv4"] = rng.choice([0, 2048, 771])
        if with_v6 and proto == 58 and rng.random() < 0.7:
            row["icmpTypeCodeIPv6"] = rng.choice([32768, 33024, 34560])
        if huge_proto and i == 0:
            row["protocolIdentifier"] = 2**70  # hostile: not an int64
        rows.append(row)
    return FlowBatch.from_rows(rows)


@pytest.mark.parametrize("codes", [portscan_codes, volumetric_codes], ids=["portscan", "volumetric"])
def test_icmp_rows_match_the_full_column(codes: Any) -> None:
    rng = random.Random(19)
    for trial in range(60):
        flags = [trial & 1, trial & 2, trial & 4]
        batch = _batch(rng, rng.randrange(0, 40), *map(bool, flags), huge_proto=trial % 7 == 0)
        full = icmp_type_code_column(batch)
        got = codes(batch)
        if full is None:
            assert got is None
            continue
        assert got is not None and len(got) == batch.length
        for i, p in enumerate(batch.columns["protocolIdentifier"]):
            if p in (1, 58):
                assert got[i] == full[i], (trial, i)
        assert codes(batch) is got  # made once per batch, shared


def test_both_detectors_share_one_column() -> None:
    batch = _batch(random.Random(3), 30, True, True, True)
    assert volumetric_codes(batch) is portscan_codes(batch)
