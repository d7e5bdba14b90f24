"""``json:`` input reading ECS flow documents: FlowCEP's own ``--flows`` output (the round trip
must give the same records and alerts as the run that wrote it) and Elastic's netflow
documents (shaped by hand after the Beats converter's documented output: nested objects,
ISO 8601 dates, ``aa:bb`` MACs, options records)."""

from __future__ import annotations

import json
import logging
import socket
import tempfile
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowcep_plugin import ecs
from flowcep_plugin.addresses import parse_address
from flowcep_plugin.context import Context
from flowcep_plugin.inprocess import run
from flowcep_plugin.inputs import ecs_flows, jsonlines
from flowcep_plugin.inputs.jsonlines import JsonLinesSource
from flowcep_plugin.records import (
    EXPORT_TIME,
    EXPORT_VERSION,
    FLOW_STREAM,
    HEADER_COLUMNS,
    SYS_UPTIME,
    FlowBatch,
)


def read_batches(path: Path, ctx: Context | None = None, query: str = "") -> list[FlowBatch]:
    src = JsonLinesSource(parse_address(f"json:{path}{query}"), {}, ctx or Context())
    return list(src.batches())


def read(path: Path, ctx: Context | None = None) -> list[dict[str, Any]]:
    return [r for b in read_batches(path, ctx) for r in b.rows()]


def write_docs(path: Path, *batches: FlowBatch) -> Path:
    with path.open("wb") as fh:
        for b in batches:
            fh.writelines(ecs.batch_to_json(b, newline=True))
    return path


def write_lines(path: Path, *lines: Any) -> Path:
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines))
    return path


def elements(row: dict[str, Any]) -> dict[str, Any]:
    """A record's IPFIX elements (enricher columns are dotted and are not read back)."""
    return {k: v for k, v in row.items() if "." not in k}


# -- FlowCEP's own documents -----------------------------------------------------------------

def _flows_and_alerts(path: Path | str, tmp_path: Path, extra_outputs: tuple[str, ...] = ()
                      ) -> tuple[Path, list[dict[str, Any]], list[dict[str, Any]]]:
    """Run every detector on ``path`` writing flows; (flows file, alerts, records as output)."""
    out = tmp_path / "flows.jsonl"
    records: list[dict[str, Any]] = []

    class Rows:
        def write_events(self, events: list[Any]) -> None: ...
        def write_flows(self, batch: FlowBatch) -> None:
            if batch.stream == FLOW_STREAM:  # options records are written as metrics, not read back
                records.extend(batch.rows())
        def flush(self) -> None: ...
        def close(self) -> None: ...

    from flowcep_plugin import hookspecs
    from flowcep_plugin.manager import make_plugin_manager
    from flowcep_plugin.specs import OutputSpec

    class Plugin:
        @hookspecs.hookimpl
        def flowcep_register_outputs(self) -> list[OutputSpec]:
            return [OutputSpec(name="rows", summary="test sink", schemes=("rows",),
                               factory=lambda target, cfg, ctx: Rows(), accepts_flows=True)]

    pm = make_plugin_manager()
    pm.register(Plugin(), name="rows-sink")
    result = run([str(path)], outputs=[f"jsonl:{out}", "rows:", *extra_outputs],
                 config={"outputs": {"jsonl": {"flows": True}}, "run": {"flows": True}}, pm=pm)
    return out, result.alerts, records


def _alert_key(a: dict[str, Any]) -> str:
    flat = ecs.flatten(a)
    return json.dumps([flat["rule.id"], flat.get("source.ip"), flat.get("destination.ip"), flat.get("destination.port"),
                       flat.get("flowcep.window.start"), flat.get("flowcep.window.end"), flat["@timestamp"],
                       flat["message"]], default=str)


@pytest.mark.shared
def test_upstream_sample_round_trip_raises_the_same_alerts(upstream_ipfix: Path, tmp_path: Path) -> None:
    """data.ipfix -> flows (ECS) -> json: input: the same alerts (rule, source, destination,
    window, time, message). The flows file also holds the first run's alerts: skipped."""
    flows, first, _ = _flows_and_alerts(upstream_ipfix, tmp_path)
    assert len(first) > 10
    again = run([f"json:{flows}"])
    assert sorted(map(_alert_key, again.alerts)) == sorted(map(_alert_key, first))
    stats = again.stats
    assert stats["drops"] == {}
    written = [orjson.loads(line) for line in flows.read_bytes().splitlines()]
    non_flows = sum(1 for d in written if d.get("event.kind") != "event")
    assert non_flows > 0
    assert stats["gauges"]["json non-flow records skipped"] == non_flows
    assert stats["stages"]["input"]["in"] == len(written) - non_flows


def with_header(row: dict[str, Any]) -> dict[str, Any]:
    """A record's elements and the message-header columns of the export it was decoded from."""
    return {k: v for k, v in row.items() if "." not in k or k in HEADER_COLUMNS}


@pytest.mark.shared
@pytest.mark.parametrize("rel", ["data/traces/ndpi_reddit_ipv6.pcap", "data/traces/ndpi_web_sqli.pcap",
                                 "data/traces/pcapplusplus_dns_client.pcap", "data/ipfixcol2/example_flows.ipfix",
                                 "flowcep-upstream/data.ipfix", "pcap+export:data/akvorado/nfv5.pcap",
                                 "pcap+export:data/akvorado/data+templates.pcap"])
def test_records_round_trip_field_by_field(shared_file: Any, tmp_path: Path, rel: str) -> None:
    """What the pipeline handed its outputs (pcap-derived biflows with reverse counters, IPv6,
    collector files with vendor elements, NetFlow v5 and v9 exports) comes back element by
    element, with each record's message header, in order."""
    scheme, _, rel = rel.rpartition(":")
    path = shared_file(rel)
    flows, _, records = _flows_and_alerts(f"{scheme}:{path}" if scheme else path, tmp_path)
    back = read(flows)
    assert len(back) == len(records) > 0
    assert [with_header(r) for r in back] == [with_header(r) for r in records]
    if "traces" in rel:
        assert any("reverseOctetDeltaCount" in r for r in back)
    else:
        assert all(r[EXPORT_VERSION] in (5, 9, 10) and r[EXPORT_TIME] > 0 for r in back)


@pytest.mark.shared
def test_elasticsearch_hits_read_back_as_the_records(shared_file: Any, es_url: str, tmp_path: Path) -> None:
    """Flows indexed by the Elasticsearch output, searched back as hits (``_source`` inside,
    the form search results and dumps take): the same records, IPv6 biflows included."""
    import uuid

    from flowcep_plugin.es.client import make_client
    from flowcep_plugin.es.setup import install

    client = make_client(es_url)
    install(client)
    ns = "j" + uuid.uuid4().hex[:10]
    _, _, records = _flows_and_alerts(
        shared_file("data/traces/ndpi_reddit_ipv6.pcap"), tmp_path,
        (f"elasticsearch:{es_url}?namespace={ns}&flush_interval=0.05&dead_letter={tmp_path / 'dead.jsonl'}",))
    index = f"logs-flowcep.flow-{ns}"
    client.indices.refresh(index=index)
    hits = client.search(index=index, size=1000)["hits"]["hits"]
    path = write_lines(tmp_path / "hits.jsonl", *(dict(h) for h in hits))
    key = lambda r: orjson.dumps(elements(r), option=orjson.OPT_SORT_KEYS)  # noqa: E731
    assert len(hits) == len(records) > 0
    assert sorted(map(key, read(path))) == sorted(map(key, records))


T0 = 1_700_000_000_123  # epoch ms


def test_every_abstract_type_comes_back_as_written(tmp_path: Path) -> None:
    """One record per IPFIX type family, through ecs.batch_to_json and back. Dates of other
    units are stored in milliseconds (Elastic's date type): exact when whole milliseconds."""
    row: dict[str, Any] = {
        "flowStartSeconds": T0 // 1000,
        "flowEndMilliseconds": T0,
        "flowStartMicroseconds": T0 * 1000,
        "flowEndNanoseconds": (T0 + 5) * 1_000_000,
        "reverseFlowDeltaMilliseconds": 7,
        "sourceIPv6Address": "2001:db8::1",
        "destinationIPv6Address": "::ffff:192.0.2.7",  # mapped v4 keeps inet_ntop's form
        "sourceTransportPort": 443,
        "destinationTransportPort": 51000,
        "protocolIdentifier": 6,
        "tcpControlBits": 0x1B,
        "sourceMacAddress": "00:1b:21:3a:4f:aa",
        "mplsTopLabelStackSection": b"\x00\x01\x41",  # octetArray Elastic maps as a number
        "applicationId": b"\x03\x00\x00\x50",
        "interfaceName": "ge-0/0/1 \u00e9",
        "samplingProbability": 0.25,
        "dataRecordsReliability": True,
        "mibObjectValueInteger": -5,
        "octetDeltaCount": 1 << 40,
        "reverseOctetDeltaCount": 10,
        "HTTPRequestURL": "/index.php?id=1",
        "netscalerRoundTripTime": 12,  # enterprise element: flowcep.ipfix.*
        "en12345:id7": b"\xde\xad",  # unknown element: hex under flowcep.ipfix.*
    }
    back = read(write_docs(tmp_path / "t.jsonl", FlowBatch.from_rows([row])))
    assert back == [row]


def test_sub_millisecond_dates_are_truncated_to_the_millisecond(tmp_path: Path) -> None:
    row = {"flowEndMicroseconds": T0 * 1000 + 999, "flowStartNanoseconds": T0 * 1_000_000 + 123_456}
    (back,) = read(write_docs(tmp_path / "t.jsonl", FlowBatch.from_rows([row])))
    assert back == {"flowEndMicroseconds": T0 * 1000, "flowStartNanoseconds": T0 * 1_000_000}


def test_reversed_biflows_come_back_unswapped(tmp_path: Path) -> None:
    """biflowDirection 2: ecs.py swaps source and destination in ECS; the elements are read
    from netflow.*, so the record is the one the exporter sent."""
    rows = [{"sourceIPv4Address": "10.0.0.1", "destinationIPv4Address": "192.0.2.9", "sourceTransportPort": 80,
             "destinationTransportPort": 40000, "protocolIdentifier": 6, "octetDeltaCount": 5000,
             "reverseOctetDeltaCount": 300, "biflowDirection": d, "flowEndMilliseconds": T0 + i}
            for i, d in enumerate((2, 1, 0))]
    path = write_docs(tmp_path / "b.jsonl", FlowBatch.from_rows(rows))
    docs = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    assert docs[0]["source.ip"] == "192.0.2.9"  # ECS swapped: the precondition of this test
    assert read(path) == rows


def test_exporters_are_restored_per_record(tmp_path: Path) -> None:
    """netflow.exporter.* gives back the decoder's exporter key (each exporter keeps its own
    event-time clock); several exporters in one batch keep it per record."""
    a = FlowBatch.from_rows([{"sourceIPv4Address": "10.0.0.1", "flowEndMilliseconds": T0}],
                            exporter="192.0.2.1:4739/7")
    b = FlowBatch.from_rows([{"sourceIPv4Address": "10.0.0.2", "flowEndMilliseconds": T0}],
                            exporter="[2001:db8::9]:2055/0")
    (one,) = read_batches(write_docs(tmp_path / "a.jsonl", a, a))
    assert one.exporter == "192.0.2.1:4739/7" and "flowcep.exporter" not in one.columns
    (mixed,) = read_batches(write_docs(tmp_path / "m.jsonl", a, b, a))
    assert mixed.exporter is None
    assert mixed.columns["flowcep.exporter"] == ["192.0.2.1:4739/7", "[2001:db8::9]:2055/0", "192.0.2.1:4739/7"]
    merged = FlowBatch.from_rows([{"sourceIPv4Address": "10.0.0.3", "flowEndMilliseconds": T0,
                                   "flowcep.exporter": "192.0.2.5:4739/1"}])
    (m,) = read_batches(write_docs(tmp_path / "f.jsonl", merged))
    assert m.exporter == "192.0.2.5:4739/1"


def test_enricher_fields_are_left_to_the_enrichers(tmp_path: Path) -> None:
    row = {"sourceIPv4Address": "10.0.0.1", "flowEndMilliseconds": T0, "source.zone": "internal",
           "network.community_id": "1:abc", "source.as.number": 64500}
    (back,) = read(write_docs(tmp_path / "e.jsonl", FlowBatch.from_rows([row])))
    assert back == {"sourceIPv4Address": "10.0.0.1", "flowEndMilliseconds": T0}


# -- Elastic's documents -----------------------------------------------------------------------

def beats_flow(**netflow: Any) -> dict[str, Any]:
    """A document shaped like the Filebeat netflow input's output (nested, ISO dates)."""
    return {
        "@timestamp": "2016-12-25T13:03:38.000Z",
        "event": {"kind": "event", "action": "netflow_flow", "category": ["network"]},
        "source": {"ip": "172.16.32.201", "port": 46086, "bytes": 132},
        "destination": {"ip": "172.16.32.100", "port": 53},
        "network": {"transport": "udp", "bytes": 332, "direction": "unknown"},
        "netflow": {"type": "netflow_flow",
                    "exporter": {"address": "192.0.2.1:4444", "source_id": 3, "version": 10,
                                 "timestamp": "2016-12-25T13:03:38Z", "uptime_millis": 0},
                    **netflow},
        "flow": {"id": "x", "locality": "private"},
        "observer": {"ip": ["192.0.2.1"]},
    }


def test_filebeat_documents(tmp_path: Path) -> None:
    full = beats_flow(source_ipv4_address="172.16.32.201", destination_ipv4_address="172.16.32.100",
                      source_transport_port=46086, destination_transport_port=53, protocol_identifier=17,
                      flow_start_milliseconds="2016-12-25T12:58:35.818Z",
                      flow_end_milliseconds="2016-12-25T12:58:35.819Z", octet_total_count=132,
                      reverse_octet_total_count=200, source_mac_address="00:0c:29:70:86:09",
                      silk_app_label=53, some_vendor_field_flowcep_lacks=1)
    v9 = beats_flow(source_ipv4_address="172.16.32.1", destination_ipv4_address="172.16.32.201",
                    protocol_identifier=6, flow_start_sys_up_time=1000, flow_end_sys_up_time=2000)
    v9["event"].update(start="2016-12-25T12:58:30.000Z", end="2016-12-25T12:58:31.000Z")
    v9["netflow"]["exporter"].update(version=9, uptime_millis=34488)
    bare = beats_flow(source_ipv4_address="172.16.32.1", destination_ipv4_address="172.16.32.201")
    options = {"event": {"kind": "event", "action": "netflow_options"},
               "netflow": {"type": "netflow_options", "options": {"packet_total_count": 1960}}}
    hit = {"_index": ".ds-logs-netflow.log-default", "_id": "x", "_source": beats_flow(
        source_ipv4_address="10.1.1.1", destination_ipv4_address="10.1.1.2",
        flow_end_milliseconds="2016-12-25T12:58:36Z")}
    ctx = Context()
    batches = read_batches(write_lines(tmp_path / "fb.jsonl", full, v9, bare, options, hit), ctx)
    rows = [r for b in batches for r in b.rows()]
    assert batches[0].exporter == "192.0.2.1:4444/3"
    got, v9_row, bare_row, hit_row = rows
    assert got == {
        "sourceIPv4Address": "172.16.32.201", "destinationIPv4Address": "172.16.32.100",
        "sourceTransportPort": 46086, "destinationTransportPort": 53, "protocolIdentifier": 17,
        "flowStartMilliseconds": 1482670715818, "flowEndMilliseconds": 1482670715819,
        "octetTotalCount": 132, "reverseOctetTotalCount": 200, "sourceMacAddress": "00:0c:29:70:86:09",
        "silkAppLabel": 53,
        # the message header: Beats' ISO export time as epoch ms; its uptime_millis 0 of an
        # IPFIX message (whose header has no uptime) is not read as an uptime
        EXPORT_VERSION: 10, EXPORT_TIME: 1482671018000,
    }
    # NetFlow v9: Beats gives absolute times only as event.start/end
    assert v9_row["flowStartMilliseconds"] == 1482670710000 and v9_row["flowEndMilliseconds"] == 1482670711000
    assert v9_row["flowStartSysUpTime"] == 1000
    assert (v9_row[EXPORT_VERSION], v9_row[EXPORT_TIME], v9_row[SYS_UPTIME]) == (9, 1482671018000, 34488)
    # no time at all: the export time (@timestamp) is the flow's end, or it would have none
    assert bare_row["flowEndMilliseconds"] == 1482671018000
    assert hit_row["sourceIPv4Address"] == "10.1.1.1"
    snap = ctx.stats.snapshot()
    assert snap["gauges"]["json non-flow records skipped"] == 1
    assert snap["gauges"]["json ECS netflow fields without an element"] == 1
    assert "drops" not in snap or not snap["drops"]


def test_ecs_only_documents_fall_back_to_ecs_fields(tmp_path: Path) -> None:
    """A flow document without netflow.* (another ECS producer) gives the elements detectors
    need from its ECS fields; a reversed biflow's ECS sides are swapped back."""
    plain = {"ecs.version": "8.11.0", "event.kind": "event", "event.dataset": "flow", "@timestamp": T0 + 10,
             "event.start": T0, "event.end": T0 + 9, "source.ip": "2001:db8::1", "source.port": 5353,
             "destination.ip": "192.0.2.8", "destination.port": 53, "network.transport": "unknown (47)",
             "source.bytes": 120, "source.packets": 2, "destination.bytes": 300, "source.mac": "00-1B-21-3A-4F-AA",
             "source.as.number": 64500}
    flipped = {"ecs": {"version": "8.11.0"}, "event": {"kind": "event", "end": "2023-11-14T22:13:20.123Z"},
               "source": {"ip": "192.0.2.9", "bytes": 300}, "destination": {"ip": "10.0.0.1", "bytes": 5000},
               "network": {"iana_number": "6"}, "netflow": {"biflow_direction": 2}}
    # an application log is an event too, but not a connection record: skipped, not a flow
    http_log = {"ecs.version": "8.11.0", "event": {"kind": "event", "dataset": "zeek.http"},
                "source": {"ip": "10.0.0.5", "port": 50000}, "destination": {"ip": "192.0.2.80", "port": 80}}
    ctx = Context()
    a, b = read(write_lines(tmp_path / "e.jsonl", plain, http_log, flipped), ctx)
    assert ctx.stats.snapshot()["gauges"]["json non-flow records skipped"] == 1
    assert a == {"sourceIPv6Address": "2001:db8::1", "sourceTransportPort": 5353,
                 "destinationIPv4Address": "192.0.2.8", "destinationTransportPort": 53,
                 "protocolIdentifier": 47, "octetDeltaCount": 120, "packetDeltaCount": 2,
                 "reverseOctetDeltaCount": 300, "sourceMacAddress": "00:1b:21:3a:4f:aa",
                 "flowStartMilliseconds": T0, "flowEndMilliseconds": T0 + 9}
    assert b == {"biflowDirection": 2, "sourceIPv4Address": "10.0.0.1", "destinationIPv4Address": "192.0.2.9",
                 "protocolIdentifier": 6, "octetDeltaCount": 5000, "reverseOctetDeltaCount": 300,
                 "flowEndMilliseconds": 1700000000123}


# -- hostile documents -------------------------------------------------------------------------

def own(**fields: Any) -> dict[str, Any]:
    base = {"ecs.version": "8.11.0", "event.kind": "event", "event.module": "flowcep",
            "netflow.flow_end_milliseconds": T0, "netflow.source_ipv4_address": "10.0.0.1"}
    base.update(fields)
    return base


@pytest.mark.parametrize(("doc", "message"), [
    (own(**{"netflow.source_ipv4_address": "10.0.0.256"}), "netflow.source_ipv4_address: not an IPv4 address"),
    (own(**{"netflow.source_ipv4_address": "::1"}), "netflow.source_ipv4_address: not an IPv4 address"),
    (own(**{"netflow.source_ipv4_address": ["10.0.0.1"]}), "netflow.source_ipv4_address: not an address"),
    (own(**{"netflow.destination_ipv6_address": "2001:db8::g"}), "not an IPv6 address"),
    (own(**{"netflow.source_transport_port": 70000}), "netflow.source_transport_port: 70000 is out of range"),
    (own(**{"netflow.octet_delta_count": -1}), "is out of range"),
    (own(**{"netflow.octet_delta_count": True}), "not an integer"),
    (own(**{"netflow.protocol_identifier": "nosuchproto"}), "unknown protocol"),
    (own(**{"netflow.flow_end_milliseconds": "yesterday"}), "not a timestamp"),
    (own(**{"netflow.flow_end_milliseconds": "2023-13-45T99:00:00Z"}), "not a timestamp"),
    (own(**{"netflow.flow_end_milliseconds": -1}), "out of range"),
    (own(**{"netflow.flow_start_seconds": 1 << 62}), "out of range"),
    (own(**{"netflow.flow_end_milliseconds": 1e300}), "out of range"),
    (own(**{"netflow.source_mac_address": "00:1b:zz:3a:4f:aa"}), "not a MAC address"),
    (own(**{"netflow.application_id": [3, 0, 256]}), "not a list of byte values"),
    (own(**{"netflow.interface_name": {"@type": "x", "data": 1}}), "not a string"),
    (own(**{"netflow.data_records_reliability": "yes"}), "not a boolean"),
    (own(**{"flowcep.ipfix.sourceIPv4Address": "10.6.6.6"}), "sourceIPv4Address given twice"),
    (own(**{"netflow.exporter.address": "not-an-ip:4739"}), "netflow.exporter.address: not an ip:port"),
    (own(**{"netflow.exporter.address": "192.0.2.1:4739", "netflow.exporter.source_id": -3}),
     "netflow.exporter.source_id"),
    (own(**{"flowcep.exporter": "x" * 400}), "flowcep.exporter: not an exporter"),
    (own(**{"netflow.exporter.version": 70000}), "netflow.exporter.version: 70000 is out of range"),
    (own(**{"netflow.exporter.timestamp": "tuesday"}), "netflow.exporter.timestamp: not a timestamp"),
    (own(**{"netflow.exporter.uptime_millis": 1 << 32}), "netflow.exporter.uptime_millis"),
    ({"ecs.version": "8", "event": {"kind": "event", "dataset": "zeek.connection"}, "source": {"ip": "10.0.0.300"}},
     "source.ip: not an IPv"),
])
def test_hostile_values_make_the_document_malformed(tmp_path: Path, caplog: Any, doc: dict[str, Any],
                                                    message: str) -> None:
    """A value that cannot be its element's makes the document malformed (counted, one line
    naming file, line and field), never a record naming a host nobody saw."""
    path = write_lines(tmp_path / "h.jsonl", own(), doc, own(**{"netflow.source_ipv4_address": "10.0.0.2"}))
    ctx = Context()
    with caplog.at_level(logging.WARNING, logger="flowcep"):
        rows = read(path, ctx)
    assert [r["sourceIPv4Address"] for r in rows] == ["10.0.0.1", "10.0.0.2"]
    assert ctx.stats.snapshot()["drops"] == {"malformed": 1}
    (record,) = caplog.records
    text = record.getMessage()
    assert text.startswith(f"{path}:2: ") and message in text and "\n" not in text


def test_deep_nesting_and_other_ecs_documents(tmp_path: Path) -> None:
    deep: dict[str, Any] = {"x": 1}
    for _ in range(40):
        deep = {"n": deep}
    path = write_lines(tmp_path / "d.jsonl",
                       {"ecs.version": "8", "event": {"kind": "event"}, "netflow": deep},
                       {"ecs": {"version": "8"}, "event": {"kind": "alert"}, "rule": {"id": "r"}},
                       {"ecs.version": "8", "event.kind": "metric"},
                       own())
    ctx = Context()
    assert len(read(path, ctx)) == 1
    snap = ctx.stats.snapshot()
    assert snap["drops"] == {"malformed": 1}
    assert snap["gauges"]["json non-flow records skipped"] == 2


def test_batches_stay_bounded_whatever_the_keys(tmp_path: Path, monkeypatch: Any) -> None:
    """Lines with ever new keys: a batch is cut before records x keys passes MAX_CELLS, and
    the key caches stop growing at their bound (the rest is counted, not cached)."""
    monkeypatch.setattr(jsonlines, "MAX_CELLS", 100)
    monkeypatch.setattr(jsonlines, "MAX_CACHED_KEYS", 8)
    monkeypatch.setattr(ecs_flows, "MAX_CACHED_KEYS", 8)
    lines = [{f"k{i}_{j}": j for j in range(5)} for i in range(30)]
    lines += [own(**{f"netflow.vendor_{i}": 1}) for i in range(30)]
    ctx = Context()
    batches = read_batches(write_lines(tmp_path / "k.jsonl", *lines), ctx)
    assert sum(len(b) for b in batches) == 60
    assert all(len(b) * len(b.columns) <= 100 + len(b.columns) for b in batches)
    assert max(len(b.columns) for b in batches) < 40
    gauges = ctx.stats.snapshot()["gauges"]
    assert gauges["json keys resolved uncached (key cache full)"] > 100
    assert gauges["json ECS netflow fields without an element"] == 30


_JSON = st.recursive(st.none() | st.booleans() | st.integers(min_value=-(1 << 70), max_value=1 << 70)
                     | st.floats(allow_nan=False) | st.text(max_size=20),
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                     max_leaves=6)
_TEMPLATE = orjson.loads(ecs.batch_to_json(FlowBatch.from_rows([{
    "sourceIPv4Address": "10.0.0.1", "destinationIPv6Address": "2001:db8::2", "sourceTransportPort": 1,
    "protocolIdentifier": 6, "flowEndMilliseconds": T0, "flowStartSeconds": T0 // 1000,
    "sourceMacAddress": "00:1b:21:3a:4f:aa", "applicationId": b"\x03\x00", "biflowDirection": 2,
    "netscalerRoundTripTime": 3, "interfaceName": "x", "samplingProbability": 0.5,
    "dataRecordsReliability": False}], exporter="192.0.2.1:4739/1"))[0])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(sorted(_TEMPLATE) + ["netflow.exporter.source_id", "flowcep.exporter"]),
                          _JSON), min_size=1, max_size=4))
def test_mutated_documents_never_raise_and_books_balance(changes: list[tuple[str, Any]]) -> None:
    """Any JSON value in any field: the line is a record, malformed or skipped (never an
    exception), and a record's addresses are addresses."""
    doc = dict(_TEMPLATE)
    for key, value in changes:
        doc[key] = value
    with tempfile.TemporaryDirectory() as tmp:
        path = write_lines(Path(tmp) / "m.jsonl", doc, _TEMPLATE)
        ctx = Context()
        rows = read(path, ctx)
    snap = ctx.stats.snapshot()
    malformed = snap["drops"].get("malformed", 0)
    skipped = snap["gauges"].get("json non-flow records skipped", 0)
    assert len(rows) + malformed + skipped == 2
    for r in rows:
        for name in ("sourceIPv4Address", "destinationIPv6Address"):
            if name in r:
                socket.inet_pton(socket.AF_INET if "IPv4" in name else socket.AF_INET6, r[name])
