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
    ("netflow+udp://:2055", "netflow+udp", None, "0.0.0.0", 2055),
    ("some/dir/data.ipfix", "file", "some/dir/data.ipfix", None, None),
    ("C:\\data.ipfix", "file", "C:\\data.ipfix", None, None),
])
def test_parse(raw, scheme, path, host, port):
    a = parse_address(raw)
    assert (a.scheme, a.path, a.host, a.port) == (scheme, path, host, port)


def test_params():
    a = parse_address("pcap:x.pcap?filter=tcp port 80&biflow=1")
    assert a.path == "x.pcap" and a.params == {"filter": "tcp port 80", "biflow": "1"}


@pytest.mark.parametrize("raw", ["", "ipfix+udp://host:99999", "pcap:", "ipfix+udp://a:b:c"])
def test_bad(raw):
    with pytest.raises(ConfigError):
        parse_address(raw)
