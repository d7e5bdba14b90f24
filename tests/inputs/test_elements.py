"""Information-element registry: IANA ids, names, reverse and enterprise HTTP elements."""

from __future__ import annotations

import pytest

from flowcep_plugin.elements import Registry, builtin_elements, flowcep_information_elements
from flowcep_plugin.specs import ElementSpec

# (id, name, type) straight from the IANA "IPFIX Information Elements" registry
IANA_SAMPLE = [
    (1, "octetDeltaCount", "unsigned64"), (2, "packetDeltaCount", "unsigned64"),
    (4, "protocolIdentifier", "unsigned8"), (6, "tcpControlBits", "unsigned16"),
    (7, "sourceTransportPort", "unsigned16"), (8, "sourceIPv4Address", "ipv4Address"),
    (10, "ingressInterface", "unsigned32"), (11, "destinationTransportPort", "unsigned16"),
    (12, "destinationIPv4Address", "ipv4Address"), (27, "sourceIPv6Address", "ipv6Address"),
    (28, "destinationIPv6Address", "ipv6Address"), (32, "icmpTypeCodeIPv4", "unsigned16"),
    (34, "samplingInterval", "unsigned32"), (56, "sourceMacAddress", "macAddress"),
    (58, "vlanId", "unsigned16"), (60, "ipVersion", "unsigned8"), (82, "interfaceName", "string"),
    (95, "applicationId", "octetArray"), (136, "flowEndReason", "unsigned8"),
    (139, "icmpTypeCodeIPv6", "unsigned16"), (150, "flowStartSeconds", "dateTimeSeconds"),
    (152, "flowStartMilliseconds", "dateTimeMilliseconds"),
    (153, "flowEndMilliseconds", "dateTimeMilliseconds"),
    (154, "flowStartMicroseconds", "dateTimeMicroseconds"),
    (157, "flowEndNanoseconds", "dateTimeNanoseconds"), (176, "icmpTypeIPv4", "unsigned8"),
    (225, "postNATSourceIPv4Address", "ipv4Address"), (243, "dot1qVlanId", "unsigned16"),
    (276, "dataRecordsReliability", "boolean"), (291, "basicList", "basicList"),
    (292, "subTemplateList", "subTemplateList"), (293, "subTemplateMultiList", "subTemplateMultiList"),
    (311, "samplingProbability", "float64"), (457, "httpStatusCode", "unsigned16"),
    (459, "httpRequestMethod", "string"), (468, "httpUserAgent", "string"),
]


@pytest.mark.parametrize("eid,name,typ", IANA_SAMPLE)
def test_iana_elements(eid: int, name: str, typ: str) -> None:
    r = Registry()
    spec = r.get(0, eid)
    assert (spec.name, spec.type) == (name, typ)
    assert r.by_name(name) == spec


def test_http_elements_share_flowcep_names() -> None:
    r = Registry()
    for key in ((0, 460), (39499, 1), (8057, 800)):
        assert r.get(*key).name == "HTTPRequestHost", key
    for key in ((0, 461), (39499, 2), (8057, 801)):
        assert r.get(*key).name == "HTTPRequestURL", key
    assert r.get(39499, 3).name == r.get(8057, 802).name == "HTTPRequestReferer"
    # the IANA names remain valid for lookups by name
    assert r.by_name("httpRequestHost") == r.get(0, 460)
    assert r.by_name("httpRequestTarget") == r.get(0, 461)


def test_reverse_elements_rfc5103() -> None:
    r = Registry()
    assert r.get(29305, 1) == ElementSpec(29305, 1, "reverseOctetDeltaCount", "unsigned64")
    assert r.get(29305, 8).name == "reverseSourceIPv4Address"
    assert r.by_name("reverseTcpControlBits") == ElementSpec(29305, 6, "reverseTcpControlBits", "unsigned16")


def test_unknown_elements_decode_as_octets_with_stable_names() -> None:
    r = Registry()
    assert r.get(39499, 99) == ElementSpec(39499, 99, "en39499:id99", "octetArray")
    assert r.get(0, 9999) == ElementSpec(0, 9999, "iana:id9999", "octetArray")
    assert r.lookup(39499, 99) is None
    assert r.by_name("en39499:id99") == r.get(39499, 99)
    assert r.by_name("iana:id8") == r.get(0, 8)


def test_extra_elements_extend_and_override() -> None:
    r = Registry([ElementSpec(6871, 18, "yafAppLabel", "unsigned16"),
                  ElementSpec(39499, 2, "flowmonUrl", "string")])
    assert r.get(6871, 18).name == "yafAppLabel"
    assert r.by_name("yafAppLabel") == ElementSpec(6871, 18, "yafAppLabel", "unsigned16")
    assert r.get(39499, 2).name == "flowmonUrl"
    with pytest.raises(ValueError, match="unknown type"):
        r.add(ElementSpec(1, 1, "x", "int"))


def test_hook_returns_builtin_elements_without_duplicate_keys() -> None:
    specs = flowcep_information_elements()
    assert specs == builtin_elements()
    keys = [(s.pen, s.id) for s in specs]
    assert len(keys) == len(set(keys))
    assert len([k for k in keys if k[0] == 0]) >= 450
