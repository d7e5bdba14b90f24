"""A file given with the wrong scheme is refused at open, naming what it looks like (exit 2),
instead of "succeeding" with every byte counted as garbage."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from flowcep_plugin.cli import main
from flowcep_plugin.inputs.sniff import looks_like


@pytest.mark.parametrize("rel,kind", [
    ("data/scapy/ipfix.pcap", "pcap"),
    ("data/ipfixcol2/example_flows.ipfix", "ipfix"),
    ("data/logstash-netflow/netflow9_test_cisco_asa_1_tpl.dat", "netflow-v9"),
    ("data/logstash-netflow/netflow5.dat", "netflow-v5"),
])
def test_real_files_are_recognised(shared_file, rel: str, kind: str) -> None:
    assert looks_like(shared_file(rel).read_bytes()[:4096]) == kind


@pytest.mark.parametrize("scheme,rel,says", [
    ("ipfix-file", "data/scapy/ipfix.pcap", "use pcap:PATH (packets) or pcap+export:PATH"),
    ("ipfix-file", "data/logstash-netflow/netflow9_test_cisco_asa_1_tpl.dat", "NetFlow v9"),
    ("json", "data/ipfixcol2/example_flows.ipfix", "use ipfix-file:PATH"),
    ("json", "data/scapy/netflowv9.pcap", "pcap capture"),
    ("pcap+export", "data/ipfixcol2/example_flows.ipfix", "use ipfix-file:PATH"),
])
def test_wrong_scheme_exits_2_naming_the_format(shared_file, capsys, scheme: str, rel: str, says: str) -> None:
    path = shared_file(rel)
    assert main(["dump", f"{scheme}:{path}"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert "looks like" in err and says in err, err


def test_json_and_gzip_are_looked_through(tmp_path: Path, shared_file, capsys) -> None:
    jz = tmp_path / "flows.jsonl.gz"
    jz.write_bytes(gzip.compress(b'{"sourceIPv4Address": "10.0.0.1"}\n'))
    assert looks_like(jz.read_bytes()) == "gzip+json"
    assert main(["dump", f"json:{jz}"]) == 0
    capsys.readouterr()
    pz = tmp_path / "cap.pcap.gz"
    pz.write_bytes(gzip.compress(shared_file("data/scapy/ipfix.pcap").read_bytes()))
    assert main(["dump", f"json:{pz}"]) == 2
    assert "gzip-compressed a pcap capture" in capsys.readouterr().err


def test_ipfix_file_that_starts_with_garbage_is_refused(tmp_path: Path, capsys) -> None:
    f = tmp_path / "x.ipfix"
    f.write_bytes(b"hello, this is not IPFIX at all\n" * 4)
    assert main(["dump", f"ipfix-file:{f}"]) == 2
    err = capsys.readouterr().err
    assert "does not look like ipfix" in err and "68656c6c" in err


def test_empty_file_is_not_an_error(tmp_path: Path, capsys) -> None:
    f = tmp_path / "empty.ipfix"
    f.write_bytes(b"")
    assert main(["dump", f"ipfix-file:{f}"]) == 0
