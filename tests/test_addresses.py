from __future__ import annotations

import pytest

from flowcep_plugin.addresses import parse_address
from flowcep_plugin.errors import ConfigError


@pytest.mark.parametrize("raw,scheme,path,host,port", [
    ("ipfix-file:/data/x.ipfix", "ipfix-file", "/data/x.ipfix", None, None),
    ("pcap:cap.pcap", "pcap", "cap.pcap", None, None),
    ("json:-", "json", "-", None, None),
    ("iface:eth0", "iface", "eth0", None, None),
    ("ipfix+udp://0.0.0.0:4739", "ipfix+udp", None, "0.0.0.0", 4739),
    ("ipfix+tcp://[::1]:4739", "ipfix+tcp", None, "::1", 4739),
    ("netflow+udp://:2055", "netflow+udp", None, "127.0.0.1", 2055),
    ("ipfix+udp://", "ipfix+udp", None, "127.0.0.1", None),
    ("ipfix+tcp://localhost:4739", "ipfix+tcp", None, "localhost", 4739),
    ("ipfix+udp://[::]:4739", "ipfix+udp", None, "::", 4739),
    ("some/dir/data.ipfix", "file", "some/dir/data.ipfix", None, None),
    ("C:\\data.ipfix", "file", "C:\\data.ipfix", None, None),
])
def test_parse(raw, scheme, path, host, port):
    a = parse_address(raw)
    assert (a.scheme, a.path, a.host, a.port) == (scheme, path, host, port)


def test_params():
    a = parse_address("pcap:x.pcap?filter=tcp port 80&biflow=1")
    assert a.path == "x.pcap" and a.params == {"filter": "tcp port 80", "biflow": "1"}


@pytest.mark.parametrize("raw", [
    "", "ipfix+udp://host:99999", "pcap:", "ipfix+udp://a:b:c",
    # typos that used to listen on every interface
    "ipfix+udp:/127.0.0.1:4739", "ipfix+tcp:4739", "netflow+udp:2055", "ipfix+udp:127.0.0.1:4739",
    "IPFIX+UDP:/0.0.0.0:4739",
    # hosts that are neither an address nor a name
    "ipfix+udp://300.1.1.1:4739", "ipfix+udp://10.1.1:4739", "ipfix+udp://[10.0.0.1]:4739",
    "ipfix+udp://ho st:4739", "ipfix+udp://-bad-:4739", "ipfix+tcp://*:4739",
])
def test_bad(raw):
    with pytest.raises(ConfigError) as info:
        parse_address(raw)
    assert "\n" not in str(info.value)


def test_collector_without_host_binds_loopback_not_every_interface():
    from flowcep_plugin.addresses import DEFAULT_BIND

    assert DEFAULT_BIND == "127.0.0.1"
    assert parse_address("ipfix+tcp://:4739").host == "127.0.0.1"


@pytest.mark.parametrize("raw", ["ipfix+tcp:4739", "ipfix+udp:/127.0.0.1:4739", "ipfix+udp://nope nope"])
def test_cli_exits_2_with_one_line_on_malformed_address(raw, capsys):
    from flowcep_plugin.cli import main

    assert main(["dump", raw]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and raw in err, err
