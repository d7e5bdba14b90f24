"""Service names and categories: expectations from the IANA registry, checked by hand."""

from __future__ import annotations

import jsonschema
import pytest

from flowcep_plugin.enrich.services import ServicesEnricher, flowcep_register_enrichers
from flowcep_plugin.records import FlowBatch


def _run(rows, config=None):
    batch = FlowBatch.from_rows(rows)
    ServicesEnricher(config or {"ports": {}, "categories": {}, "unknown_category": None}).enrich(batch)
    return batch


def _flow(proto, sport, dport):
    return {"protocolIdentifier": proto, "sourceTransportPort": sport, "destinationTransportPort": dport}


def test_well_known_ports():
    b = _run([
        _flow(6, 51000, 443),  # https
        _flow(6, 443, 51000),  # reply direction: source port decides
        _flow(17, 53211, 53),  # domain (IANA name of DNS)
        _flow(6, 50000, 3389),  # ms-wbt-server (RDP)
        _flow(6, 50000, 22),  # ssh
        _flow(6, 50000, 25),  # smtp
        _flow(6, 50000, 21),  # ftp
        _flow(17, 50000, 22),  # 22/udp is not in the table
        _flow(6, 50000, 50001),  # nothing
        _flow(6, 50000, 8080),  # http-alt, same category as http
    ])
    assert b.get("network.protocol") == ["https", "https", "domain", "ms-wbt-server", "ssh", "smtp", "ftp",
                                         None, None, "http-alt"]
    assert b.get("flowcep.category") == ["web", "web", "dns", "remote-access", "remote-access", "mail",
                                         "file-transfer", None, None, "web"]
    assert b.get("network.transport") == ["tcp", "tcp", "udp", "tcp", "tcp", "tcp", "tcp", "udp", "tcp", "tcp"]


def test_destination_port_wins_over_source():
    # 53 -> 80: a DNS server port talking to a web port; the destination decides.
    b = _run([_flow(6, 53, 80)])
    assert b.get("network.protocol") == ["http"]


def test_icmp_and_missing_values():
    b = _run([
        {"protocolIdentifier": 1, "destinationTransportPort": 2048},
        {"protocolIdentifier": 58},
        {"protocolIdentifier": 6, "destinationTransportPort": 22},  # no source port
        {"protocolIdentifier": None},
        {"protocolIdentifier": 47},  # GRE
    ])
    assert b.get("network.protocol") == ["icmp", "ipv6-icmp", "ssh", None, None]
    assert b.get("flowcep.category") == ["network-control", "network-control", "remote-access", None, None]
    assert b.get("network.transport") == ["icmp", "ipv6-icmp", "tcp", None, "gre"]


def test_icmp_on_fast_path():
    b = _run([_flow(1, 0, 2048), _flow(6, 1, 80)])
    assert b.get("network.protocol") == ["icmp", "http"]


def test_config_overrides():
    config = {
        "ports": {"8443/tcp": "https-alt", "9200": "elasticsearch", "22/tcp": "sftp-gateway"},
        "categories": {"https-alt": "web", "elasticsearch": "database", "domain": "name-resolution"},
        "unknown_category": "other",
    }
    jsonschema.validate(config, flowcep_register_enrichers()[0].config_schema)
    b = _run([_flow(6, 1, 8443), _flow(17, 1, 9200), _flow(6, 1, 9200), _flow(17, 1, 53),
              _flow(6, 1, 22), _flow(6, 1, 2)], config)
    assert b.get("network.protocol") == ["https-alt", "elasticsearch", "elasticsearch", "domain",
                                         "sftp-gateway", None]
    # sftp-gateway has no category: unknown_category applies, as for no service at all.
    assert b.get("flowcep.category") == ["web", "database", "database", "name-resolution", "other", "other"]


def test_schema_rejects_bad_port_keys():
    (spec,) = flowcep_register_enrichers()
    assert spec.name == "services" and spec.enabled_by_default
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"ports": {"http": "x"}}, spec.config_schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"extra": 1}, spec.config_schema)


def test_single_protocol_batch_with_missing_ports():
    b = _run([{"protocolIdentifier": 6, "destinationTransportPort": 443},
              {"protocolIdentifier": 6, "sourceTransportPort": 22},
              {"protocolIdentifier": 6}])
    assert b.get("network.protocol") == ["https", "ssh", None]
    assert b.get("network.transport") == ["tcp", "tcp", "tcp"]
