"""The ICMP type-code column portscan and volumetric read (``icmp_type_code_column``): at every
ICMP and ICMPv6 record the type-code element, else the destination port, whichever elements the
exporter sent; None at other records; made once per batch for both detectors."""

from __future__ import annotations

import random
from typing import Any

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


def _expected(batch: FlowBatch, i: int) -> Any:
    cols = batch.columns
    for name in ("icmpTypeCodeIPv4", "icmpTypeCodeIPv6", "destinationTransportPort"):
        col = cols.get(name)
        if col is not None and col[i] is not None:
            return col[i]
    return None


def test_icmp_rows_hold_the_type_code_and_others_none() -> None:
    rng = random.Random(19)
    for trial in range(60):
        flags = [trial & 1, trial & 2, trial & 4]
        batch = _batch(rng, rng.randrange(0, 40), *map(bool, flags), huge_proto=trial % 7 == 0)
        got = icmp_type_code_column(batch)
        if not any(flags[1:]) and not flags[0] and not (flags[2]):
            assert got is None
            continue
        if got is None:  # none of the three elements in this batch
            assert all(_expected(batch, i) is None for i in range(batch.length))
            continue
        assert len(got) == batch.length
        for i, p in enumerate(batch.columns["protocolIdentifier"]):
            assert got[i] == (_expected(batch, i) if p in (1, 58) else None), (trial, i)
        assert icmp_type_code_column(batch) is got  # made once per batch, shared


def test_decoder_arrays_give_the_same_column() -> None:
    """The protocol held as the decoder's numpy array (a part lacking it filled as 0) picks
    the same ICMP records as the list does."""
    import numpy as np

    from flowcep_plugin.records import VALUES, ArrayPart, Columns, array_values

    batch = _batch(random.Random(5), 50, True, True, True)
    want = icmp_type_code_column(batch)
    cols = Columns()
    for name, values in batch.columns.items():
        if name == "protocolIdentifier":
            cols.set_arrays(name, [ArrayPart(np.array(values, dtype=np.uint8), array_values, VALUES),
                                   ArrayPart(3, array_values, VALUES)])  # 3 records lack it
        else:
            cols[name] = list(values) + [None] * 3
    arrays = FlowBatch(cols, length=batch.length + 3)
    assert arrays.array("protocolIdentifier", fill=0) is not None
    got = icmp_type_code_column(arrays)
    assert want is not None and got is not None
    assert got == want + [None] * 3
