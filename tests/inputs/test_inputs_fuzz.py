"""CI-sized fuzzing of the input side under tight limits (benchmarks/fuzz_netflow.py runs
longer): mutated real NetFlow/IPFIX messages from many exporters never make the decoder raise,
and the state limits and their books hold after every message; the validators that see hostile
bytes first (export validation, format sniffing, address parsing) never raise unexpectedly."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowcep_plugin.addresses import parse_address
from flowcep_plugin.errors import ConfigError
from flowcep_plugin.inputs.pcap_export import export_problem
from flowcep_plugin.inputs.sniff import looks_like

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import fuzz_netflow  # noqa: E402


@pytest.mark.parametrize("seed", range(4))
def test_decoder_under_tight_limits_never_raises_and_books_balance(seed: int) -> None:
    rng = random.Random(seed)
    pool = fuzz_netflow.seeds()
    for _ in range(40):
        fuzz_netflow.one_case(rng, pool)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_validators_never_raise(data: bytes) -> None:
    why = export_problem(data)
    assert why is None or isinstance(why, str)
    kind = looks_like(data)
    assert kind is None or isinstance(kind, str)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["", "ipfix+udp:", "ipfix+tcp://", "netflow+udp://[", "json:", "pcap+export:"]),
       st.text(alphabet="ipfx+udtcpnelow:/[]0123456789.?=&a- %", max_size=30))
def test_address_parser_raises_only_config_errors(prefix: str, text: str) -> None:
    try:
        parse_address(prefix + text)
    except ConfigError as exc:
        assert "\n" not in str(exc)
