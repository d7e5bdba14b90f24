"""Exporters' options records (RFC 7011 3.4.2.2, RFC 3954 6.1) travel as their own stream.

They describe the exporter (statistics, samplers, interfaces), not traffic: they must reach
what asks for them (EPL ``from Options``, ``on_options``, outputs writing flows, ``flowcep dump
--options``) and never a detector's ``on_batch``. The real records here are the ones tshark
decodes from the captures (values quoted from ``tshark -V -d udp.port==N,cflow``).
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import pytest

from flowcep_plugin.context import Context
from flowcep_plugin.inputs.ipfix_decode import MAX_SAMPLERS, MessageDecoder
from flowcep_plugin.records import FlowBatch

from .test_ipfix_decode import dset, elements, ip, msg, tset, v9


def decode_captures(*paths: Path, apply_sampling: bool = False) -> tuple[list[FlowBatch], Context]:
    from scapy.all import UDP, rdpcap

    ctx = Context()
    dec = MessageDecoder(ctx, "cap", transport="udp", apply_sampling=apply_sampling)
    out: list[FlowBatch] = []
    for path in paths:
        for pkt in rdpcap(str(path)):
            udp = pkt[UDP]
            out += dec.decode(bytes(udp.payload)[: udp.len - 8], f"{pkt['IP'].src}:{udp.sport}")
    return out, ctx


def split(batches: list[FlowBatch]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    flows = [r for b in batches if b.stream == "Flow" for r in b.rows()]
    options = [r for b in batches if b.stream == "Options" for r in b.rows()]
    return flows, options


@pytest.mark.shared
def test_akvorado_v9_sampler_options_are_their_own_stream_and_set_each_flows_rate(shared_file) -> None:
    d = "data/akvorado/"
    batches, ctx = decode_captures(*(shared_file(d + f) for f in (
        "options-template.pcap", "options-data.pcap", "template.pcap", "data.pcap")), apply_sampling=True)
    flows, options = split(batches)
    # tshark: 4 records of options template 257, scope System ac13c8e4, SamplerID 1,
    # SamplerRandomInterval 30000, SamplerMode Random (2), SamplerName sampler1, interval 30000
    assert options == [{"scopeSystem": 0xAC13C8E4, "samplerId": 1, "samplerRandomInterval": 30000,
                        "samplerMode": 2, "samplerName": "sampler1", "samplingInterval": 30000,
                        "flowcep.template_id": 257, "exportTime": 1647285925,
                        "flowcep.exporter": "192.0.2.100:47873/0"}] * 4
    assert ctx.stats.gauges["input.option_records"] == 4
    # the 4 flows of template 260 carry FLOW_SAMPLER_ID 1: that sampler's rate (akvorado's
    # test expects SamplingRate 30000), and their counters scaled by it
    assert len(flows) == 4 and {f["samplingInterval"] for f in flows} == {30000}
    assert all("flowcep.template_id" not in f and "samplerName" not in f for f in flows)
    assert flows[0]["packetDeltaCount"] == 30000 and flows[0]["octetDeltaCount"] == 1500 * 30000


@pytest.mark.shared
def test_juniper_ipfix_exporter_statistics_record(shared_file) -> None:
    from scapy.all import IP, UDP, Ether

    d = "data/logstash-netflow/"
    dec = MessageDecoder(Context(), "mx240", transport="udp")
    out: list[FlowBatch] = []
    for f in ("ipfix_test_juniper_mx240_junos151r6s3_opttpl512.dat", "ipfix_test_juniper_mx240_junos151r6s3_data512.dat"):
        pkt = Ether() / IP(src="10.0.0.1") / UDP(sport=50000, dport=4739) / shared_file(d + f).read_bytes()
        out += dec.decode(bytes(pkt[UDP].payload), "10.0.0.1:50000")
    flows, options = split(out)
    # tshark: FlowExporter 2, PacketsExp 76, FlowsExp 76, System Init Time 2010-01-06 07:06:38,
    # ExporterAddr 10.0.0.1 and ::, Sampling interval 1000, timeouts 60/60, protocol 10, UDP
    assert flows == [] and options == [{
        "exportingProcessId": 2, "exportedMessageTotalCount": 76, "exportedFlowRecordTotalCount": 76,
        "systemInitTimeMilliseconds": 1262761598000, "exporterIPv4Address": "10.0.0.1",
        "exporterIPv6Address": "::", "samplingInterval": 1000, "flowActiveTimeout": 60,
        "flowIdleTimeout": 60, "exportProtocolVersion": 10, "exportTransportProtocol": 17,
        "flowcep.template_id": 512, "exportTime": 1527865913, "flowcep.exporter": "10.0.0.1:50000/524288"}]
    (b,) = [b for b in out if b.stream == "Options"]
    assert b.event_times() == [1527865913000]


def _sampler_options(*pairs: tuple[int, int]) -> bytes:
    """v9 options template 300 (scope System; samplerId, samplerRandomInterval) and records."""
    ot = struct.pack(">HH", 1, 4 + 6 + 4 + 8) + struct.pack(">HHH", 300, 4, 8) \
        + struct.pack(">HH", 1, 4) + struct.pack(">HHHH", 48, 1, 50, 4)
    body = b"".join(struct.pack(">IBI", 0, sid, rate) for sid, rate in pairs)
    pad = b"\0" * (-len(body) % 4)
    return ot + struct.pack(">HH", 300, 4 + len(body) + len(pad)) + body + pad


def test_each_flow_takes_the_rate_of_the_sampler_it_names() -> None:
    """A router with two samplers (1 in 100 on one interface, 1 in 1000 on another) sends
    one options record per sampler; each flow names its sampler (FLOW_SAMPLER_ID). The last
    announced rate must not be applied to every flow."""
    dec = MessageDecoder(Context(), "t", transport="udp", apply_sampling=True)
    t = struct.pack(">HH", 0, 4 + 4 + 12) + struct.pack(">HH", 256, 3) + struct.pack(">HHHHHH", 8, 4, 2, 4, 48, 1)
    recs = ip("10.0.0.1") + struct.pack(">IB", 3, 1) + ip("10.0.0.2") + struct.pack(">IB", 5, 2) \
        + ip("10.0.0.3") + struct.pack(">IB", 7, 9)
    data = struct.pack(">HH", 256, 4 + len(recs) + 1) + recs + b"\0"
    flows, options = split(dec.decode(v9([_sampler_options((1, 100), (2, 1000)), t, data]), "r:1"))
    assert [o["samplerRandomInterval"] for o in options] == [100, 1000]
    assert [(f["samplingInterval"], f["packetDeltaCount"]) for f in flows] == [
        (100, 300), (1000, 5000), (1000, 7000)]  # sampler 9 unknown: the exporter's last rate


def test_the_sampler_table_is_bounded_per_exporter() -> None:
    ctx = Context()
    dec = MessageDecoder(ctx, "t", transport="udp")
    n = MAX_SAMPLERS + 44
    for sid in range(n):
        dec.decode(v9([_sampler_options((sid % 256, 10 + sid))]), "hostile:1")
    sess = next(iter(dec.sessions.values()))
    assert len(sess.samplers) <= MAX_SAMPLERS
    assert ctx.stats.gauges["input.option_records"] == n


def test_psamp_selector_algorithms() -> None:
    """RFC 5475/5477: n-out-of-N gives population/size; time-based systematic sampling
    (selectorAlgorithm 2) counts microseconds, not packets, and announces no packet rate;
    records name their selector (selectorId, the options record's scope)."""
    opt = tset(400, [(302, 8), (304, 2), (309, 4), (310, 4), (305, 4), (306, 4)], set_id=3, scope=1)
    recs = struct.pack(">QHIIII", 7, 3, 1, 64, 0, 0) + struct.pack(">QHIIII", 8, 2, 0, 0, 1000, 9000)
    data_t = tset(256, [(8, 4), (2, 8), (302, 8)])
    flows = dset(256, ip("10.0.0.1") + struct.pack(">QQ", 2, 7) + ip("10.0.0.2") + struct.pack(">QQ", 2, 8))
    dec = MessageDecoder(Context(), "s", apply_sampling=True)
    f, o = split(dec.decode(msg([opt, dset(400, recs), data_t, flows]), "e:1"))
    assert [r["selectorId"] for r in o] == [7, 8]
    assert f[0]["samplingInterval"] == 64 and f[0]["packetDeltaCount"] == 128
    assert "samplingInterval" not in f[1] and f[1]["packetDeltaCount"] == 2


def test_flush_never_merges_options_into_flows() -> None:
    dec = MessageDecoder(Context(), "t", transport="udp")
    t = struct.pack(">HH", 0, 12) + struct.pack(">HHHH", 256, 1, 8, 4)
    dec.feed(v9([_sampler_options((1, 100)), t, struct.pack(">HH", 256, 8) + ip("10.0.0.1")]), "a:1")
    dec.feed(v9([t, struct.pack(">HH", 256, 8) + ip("10.0.0.2")]), "b:1")
    out = dec.flush(merged=True)
    assert [(b.stream, b.length) for b in out] == [("Flow", 2), ("Options", 1)]
    with pytest.raises(ValueError, match="different streams"):
        FlowBatch.concat(out)


class _Spy:
    """A Python detector recording what reaches each of its methods."""

    def __init__(self) -> None:
        self.batches: list[FlowBatch] = []
        self.options: list[FlowBatch] = []

    def on_batch(self, batch: FlowBatch) -> list[Any]:
        self.batches.append(batch)
        return []

    def on_options(self, batch: FlowBatch) -> list[Any]:
        self.options.append(batch)
        return []

    def on_watermark(self, watermark_ms: int) -> list[Any]:
        return []

    def flush(self) -> list[Any]:
        return []


@pytest.mark.shared
def test_pipeline_routes_options_to_epl_outputs_and_on_options_only(shared_file, tmp_path: Path) -> None:
    from scapy.all import rdpcap, wrpcap

    from flowcep_plugin.manager import make_plugin_manager
    from flowcep_plugin.pipeline import Pipeline
    from flowcep_plugin.plan import resolve
    from flowcep_plugin.registry import Registry

    d = "data/akvorado/"
    pcap = tmp_path / "akv.pcap"
    wrpcap(str(pcap), [p for f in ("options-template.pcap", "options-data.pcap", "template.pcap", "data.pcap")
                       for p in rdpcap(str(shared_file(d + f)))])
    epl = tmp_path / "samplers.epl"
    epl.write_text("@Name('Sampler') @Kind('metric')\n"
                   "select samplerId as sampler, samplingInterval as rate from Options where samplerId = 1\n")
    out = tmp_path / "out.jsonl"
    registry = Registry.build(make_plugin_manager())
    plan = resolve(registry, {"epl": {"modules": [str(epl)]}, "run": {"flows": True}},
                   {"inputs": [f"pcap+export:{pcap}"], "outputs": [f"jsonl:{out}"], "detectors": [],
                    "progress": False})
    spy = _Spy()
    stats = Pipeline(plan, Context(), extra_detectors=[spy]).run()
    assert sum(b.length for b in spy.batches) == 4 and all(b.stream == "Flow" for b in spy.batches)
    assert all("samplerName" not in b.columns for b in spy.batches)
    assert [b.length for b in spy.options] == [4] and spy.options[0].stream == "Options"
    assert stats["stages"]["options"] == {"in": 4, "out": 4}
    docs = [json.loads(line) for line in out.read_text().splitlines()]
    kinds = [(doc["event"]["kind"] if "event" in doc else doc["event.kind"]) for doc in docs]
    metrics = [doc for doc in docs if doc.get("event.action") == "netflow_options"]
    assert len(metrics) == 4 and kinds.count("event") == 4
    m = metrics[0]
    assert m["event.kind"] == "metric" and m["event.dataset"] == "flowcep.options"
    assert m["netflow.sampler_name"] == "sampler1" and m["netflow.sampler_random_interval"] == 30000
    assert m["@timestamp"] == 1647285925000 and m["observer.ip"] == ["192.0.2.100"]
    assert "source.ip" not in m and "network.direction" not in m
    from flowcep_plugin.ecs_validate import errors

    assert [e for doc in metrics for e in errors(doc)] == []  # ECS types and allowed values
    rows = [doc for doc in docs if doc.get("rule", {}).get("name") == "Sampler"
            or "Sampler" in json.dumps(doc.get("rule", ""))]
    assert len(rows) == 4


RFC7011_OPTIONS = {
    # RFC 7011 4.1 Metering Process Statistics (scope: observation domain)
    256: ([("observationDomainId", 4), ("exportedMessageTotalCount", 8),
           ("exportedFlowRecordTotalCount", 8), ("exportedOctetTotalCount", 8)], (7, 1234, 56789, 9_876_543)),
    # RFC 7011 4.3 Exporting Process Reliability Statistics (scope: exporting process)
    257: ([("exportingProcessId", 4), ("notSentFlowTotalCount", 8), ("notSentPacketTotalCount", 8),
           ("notSentOctetTotalCount", 8)], (1, 12, 340, 56_000)),
    # RFC 7011 4.4 Flow Keys (scope: the template they describe)
    258: ([("templateId", 2), ("flowKeyIndicator", 8)], (300, 0b101)),
    # RFC 5477 PSAMP systematic count-based selector: 1 packet in every 100
    259: ([("selectorId", 8), ("selectorAlgorithm", 2), ("samplingPacketInterval", 4),
           ("samplingPacketSpace", 4)], (5, 1, 1, 99)),
}


@pytest.mark.tools
def test_rfc7011_options_written_by_ipfix_writer_decode_as_tshark_reads_them(require_tool, tmp_path: Path) -> None:
    import subprocess

    from flowcep_plugin.inputs.ipfix import IPFIXFileSource
    from flowcep_plugin.ipfix_writer import IPFIXWriter

    path = tmp_path / "options.ipfix"
    with path.open("wb") as fp:
        w = IPFIXWriter(fp, observation_domain=7)
        for tid, (fields, _row) in RFC7011_OPTIONS.items():
            w.add_template(tid, fields, scope=1)
        w.add_template(300, [("sourceIPv4Address", 4), ("packetDeltaCount", 8), ("selectorId", 8),
                             ("flowEndMilliseconds", 8)])
        for tid, (_fields, row) in RFC7011_OPTIONS.items():
            w.write(tid, [row], 1_700_000_000)
        w.write(300, [("192.0.2.1", 3, 5, 1_700_000_000_000)], 1_700_000_000)
    fields = ["cflow.packetsexp", "cflow.flowsexp", "cflow.octetsexp", "cflow.notsent_flows",
              "cflow.notsent_packets", "cflow.notsent_octets", "cflow.template_id", "cflow.post_key",
              "cflow.selector_id", "cflow.sampling_packet_interval", "cflow.sampling_packet_space"]
    cmd = [require_tool("tshark"), "-n", "-r", str(path), "-T", "fields", "-E", "separator=/t",
           "-E", "occurrence=a", "-E", "aggregator=|"] + [a for f in fields for a in ("-e", f)]
    seen: dict[str, list[str]] = {f: [] for f in fields}
    for line in subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=60).stdout.splitlines():
        for f, cell in zip(fields, line.split("\t"), strict=False):
            seen[f] += [v for v in cell.split("|") if v]
    ctx = Context()
    batches = list(IPFIXFileSource(str(path), ctx, apply_sampling=True).batches())
    flows, options = split(batches)
    by_tid = {o["flowcep.template_id"]: o for o in options}
    assert sorted(by_tid) == [256, 257, 258, 259]
    # each value as tshark decoded it (template ids: the 5 definitions, then the Flow Keys scope)
    assert seen["cflow.packetsexp"] == [str(by_tid[256]["exportedMessageTotalCount"])] == ["1234"]
    assert seen["cflow.flowsexp"] == [str(by_tid[256]["exportedFlowRecordTotalCount"])]
    assert seen["cflow.octetsexp"] == [str(by_tid[256]["exportedOctetTotalCount"])]
    assert seen["cflow.notsent_flows"] == [str(by_tid[257]["notSentFlowTotalCount"])] == ["12"]
    assert seen["cflow.notsent_packets"] == [str(by_tid[257]["notSentPacketTotalCount"])]
    assert seen["cflow.notsent_octets"] == [str(by_tid[257]["notSentOctetTotalCount"])]
    assert seen["cflow.template_id"][-1] == str(by_tid[258]["templateId"]) == "300"  # its scope
    assert int(seen["cflow.post_key"][0], 16) == by_tid[258]["flowKeyIndicator"] == 5
    assert seen["cflow.sampling_packet_space"] == [str(by_tid[259]["samplingPacketSpace"])] == ["99"]
    assert str(by_tid[259]["selectorId"]) in seen["cflow.selector_id"]
    # the flow names selector 5 (1 in 100): its counter is scaled by that rate, and marked so
    # (detectors that estimate traffic must not scale it again)
    assert [elements(f) for f in flows] == [{
        "sourceIPv4Address": "192.0.2.1", "packetDeltaCount": 300, "selectorId": 5,
        "flowEndMilliseconds": 1_700_000_000_000, "samplingInterval": 100,
        "flowcep.sampling_applied": True}]
    assert ctx.stats.gauges["input.option_records"] == 4
