"""IPFIX -> ECS flow documents (flowcep_plugin.ecs)."""

from __future__ import annotations

import json

import orjson

from flowcep_plugin.ecs import batch_to_documents, batch_to_json, ecs_name, flatten, nest, transport_name
from flowcep_plugin.records import FlowBatch


def _batch() -> FlowBatch:
    return FlowBatch.from_rows(
        [
            {
                "sourceIPv4Address": "192.0.2.10",
                "destinationIPv4Address": "198.51.100.7",
                "sourceTransportPort": 51514,
                "destinationTransportPort": 443,
                "protocolIdentifier": 6,
                "octetDeltaCount": 1500,
                "packetDeltaCount": 3,
                "flowStartSeconds": 1700000000,
                "flowEndSeconds": 1700000002,
                "sourceMacAddress": "00:1b:21:3a:4f:aa",
                "someVendorThing": b"\x01\xff",
            },
            {
                "sourceIPv6Address": "2001:db8::1",
                "destinationIPv6Address": "2001:db8::2",
                "protocolIdentifier": 17,
                "destinationTransportPort": 53,
                "octetDeltaCount": 80,
                "flowEndMilliseconds": 1700000005123,
            },
        ]
    )


def test_names_follow_ecs() -> None:
    assert ecs_name("sourceIPv4Address") == "source.ip"
    assert ecs_name("destinationTransportPort") == "destination.port"
    assert ecs_name("octetDeltaCount") == "network.bytes"
    assert ecs_name("flowStartMilliseconds") == "event.start"
    assert ecs_name("flowEndSeconds") == "event.end"
    assert ecs_name("fooBar") == "flowcep.ipfix.fooBar"
    assert ecs_name("postNATSourceIPv4Address") == "netflow.post_nat_source_ipv4_address"
    assert ecs_name("source.geo.country_iso_code") == "source.geo.country_iso_code"
    assert ecs_name("source.zone") == "flowcep.source.zone"  # custom: never inside an ECS field set
    assert transport_name(6) == "tcp" and transport_name(17) == "udp" and transport_name(1) == "icmp"
    assert transport_name(253) == "253"


def test_documents_hand_checked() -> None:
    docs = batch_to_documents(_batch(), {"data_stream.namespace": "default"})
    a, b = docs
    assert a["source.ip"] == "192.0.2.10" and a["destination.ip"] == "198.51.100.7"
    assert a["source.port"] == 51514 and a["destination.port"] == 443
    assert a["network.iana_number"] == "6" and a["network.transport"] == "tcp"
    assert a["network.bytes"] == 1500 and a["source.bytes"] == 1500
    assert a["network.packets"] == 3 and a["source.packets"] == 3
    # seconds -> epoch milliseconds; the flow's end is @timestamp
    assert a["event.start"] == 1_700_000_000_000 and a["event.end"] == 1_700_000_002_000
    assert a["@timestamp"] == 1_700_000_002_000
    assert a["source.mac"] == "00-1B-21-3A-4F-AA"
    assert a["flowcep.ipfix.someVendorThing"] == "01ff"
    assert a["netflow.source_ipv4_address"] == "192.0.2.10" and a["netflow.octet_delta_count"] == 1500
    assert a["netflow.flow_start_seconds"] == 1_700_000_000_000  # Elastic maps it as a date
    assert a["event.duration"] == 2_000_000_000 and a["related.ip"] == ["192.0.2.10", "198.51.100.7"]
    assert a["network.type"] == "ipv4" and b["network.type"] == "ipv6"
    assert a["event.action"] == "netflow_flow" and a["ecs.version"]
    assert a["event.kind"] == "event" and a["event.category"] == ["network"]
    assert a["data_stream.namespace"] == "default"
    # absent elements are left out, not null
    assert "source.port" not in b and "event.start" not in b
    assert b["source.ip"] == "2001:db8::1" and b["network.transport"] == "udp"
    assert b["@timestamp"] == 1700000005123


def test_json_bytes_and_nesting() -> None:
    raw = batch_to_json(_batch())
    doc = orjson.loads(raw[0])
    doc.pop("event.created")
    nested = nest(doc)
    assert nested["source"]["ip"] == "192.0.2.10"
    assert nested["network"]["transport"] == "tcp"
    assert flatten(nested) == doc


def test_empty_batch() -> None:
    assert batch_to_documents(FlowBatch({}, 0)) == []


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_values = st.one_of(
    st.none(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.text(alphabet=st.sampled_from(list('ab",\\:{}[] \u00e9\u2603\n')), max_size=8),
    st.binary(max_size=4),
    st.lists(st.sampled_from(["x", "y"]), max_size=2),
)


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=1, max_value=6).flatmap(
    lambda n: st.dictionaries(
        st.sampled_from(["sourceIPv4Address", "HTTPRequestURL", "octetDeltaCount", "vendorThing",
                         "source.geo.city_name", "flowEndMilliseconds", "protocolIdentifier",
                         "reverseOctetDeltaCount", "destinationIPv6Address", "biflowDirection",
                         "source.zone", "flowStartSeconds", "applicationId", "flowDirection"]),
        st.lists(_values, min_size=n, max_size=n), min_size=1)))
def test_json_equals_documents(columns: dict[str, list]) -> None:
    """The column-wise encoder gives the same JSON as encoding each document dict."""
    if "protocolIdentifier" in columns:
        columns["protocolIdentifier"] = [v if isinstance(v, int) and not isinstance(v, bool) else None
                                         for v in columns["protocolIdentifier"]]
    for name in ("biflowDirection", "flowDirection"):
        if name in columns:
            columns[name] = [v if isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 256 else None
                             for v in columns[name]]
    if "flowStartSeconds" in columns:
        columns["flowStartSeconds"] = [v if isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2**32
                                       else None for v in columns["flowStartSeconds"]]
    if "flowEndMilliseconds" in columns:
        columns["flowEndMilliseconds"] = [v if isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2**53
                                          else None for v in columns["flowEndMilliseconds"]]
    batch = FlowBatch(columns)
    expected = batch_to_documents(batch, {"data_stream.namespace": "x"})
    got = [json.loads(raw) for raw in batch_to_json(batch, {"data_stream.namespace": "x"})]
    for doc in got:  # when the document was made: only in the encoded form
        assert len(doc.pop("event.created")) == 24
    # octets in a mapped field are written as hex, as in flowcep.ipfix.* columns; integers
    # beyond 64 bits (sums of huge counters) as plain numbers
    assert got == [json.loads(json.dumps(d, default=lambda o: o.hex())) for d in expected]


def test_json_of_tricky_strings() -> None:
    urls = ['/a","b', 'x\\",\\"y', "caf\u00e9 \u2603", '{"k":[1,2]}', ""]
    batch = FlowBatch({"HTTPRequestURL": urls, "octetDeltaCount": [1, 2, 3, 4, 5]})
    docs = [orjson.loads(r) for r in batch_to_json(batch)]
    assert [d["url.original"] for d in docs] == urls
    assert [d["network.bytes"] for d in docs] == [1, 2, 3, 4, 5]
