"""Enterprise information elements of real exporters: names and types, so their records carry
readable, typed columns instead of ``en<PEN>:id<ID>`` octet arrays.

Facts (PEN, id, name, abstract type) taken from the vendors' published element lists, as
collected by open collectors; each table names its source. Where the sources disagree, the
vendor's own document wins (VMware's tenant addresses are IPv4/IPv6 addresses, not integers).
Elements that sources list only as "unknown N" are left out: they decode under
``en<PEN>:id<N>`` like any unregistered element. YAF exports RFC 5103 biflows with its own
reverse elements (id + 16384 in PEN 6871); they are generated from the forward ones.
"""

from __future__ import annotations

from .specs import ElementSpec

__all__ = ["vendor_elements", "PENS", "YAF_REVERSE_BIT"]

#: Private Enterprise Numbers (IANA "Private Enterprise Numbers" registry).
PENS = {
    "netscaler": 5951,   # Citrix Systems (NetScaler AppFlow)
    "yaf": 6871,         # CERT Coordination Center (YAF)
    "procera": 15397,    # Procera Networks (PacketLogic)
    "barracuda": 10704,  # Barracuda Networks (NG Firewall audit log)
    "nokia": 637,        # Alcatel-Lucent, now Nokia (SR OS NAT logging)
    "vmware": 6876,      # VMware (vSphere Distributed Switch / NSX)
    "viptela": 41916,    # Viptela, now Cisco SD-WAN
}
YAF_REVERSE_BIT = 0x4000

_T = {"u8": "unsigned8", "u16": "unsigned16", "u32": "unsigned32", "u64": "unsigned64",
      "s32": "signed32", "f32": "float32", "str": "string", "oct": "octetArray",
      "ip4": "ipv4Address", "ip6": "ipv6Address", "ts": "dateTimeSeconds"}

# NetScaler AppFlow (PEN 5951). Source: Citrix "AppFlow" IPFIX information elements as listed in
# logstash-codec-netflow lib/logstash/codecs/netflow/ipfix.yaml (section 5951) and Wireshark's
# cflow dissector (v9_v10_template_types_netscaler).
_NETSCALER = """
128 netscalerRoundTripTime u32
129 netscalerTransactionId u32
130 netscalerHttpReqUrl str
131 netscalerHttpReqCookie str
132 netscalerFlowFlags u64
133 netscalerConnectionId u32
134 netscalerSyslogPriority u8
135 netscalerSyslogMessage str
136 netscalerSyslogTimestamp u64
140 netscalerHttpReqReferer str
141 netscalerHttpReqMethod str
142 netscalerHttpReqHost str
143 netscalerHttpReqUserAgent str
144 netscalerHttpRspStatus u16
145 netscalerHttpRspLen u64
146 netscalerServerTTFB u64
147 netscalerServerTTLB u64
150 netscalerAppNameIncarnationNumber u32
151 netscalerAppNameAppId u32
152 netscalerAppName str
153 netscalerHttpReqRcvFB u64
156 netscalerHttpReqForwFB u64
157 netscalerHttpResRcvFB u64
158 netscalerHttpResForwFB u64
159 netscalerHttpReqRcvLB u64
160 netscalerHttpReqForwLB u64
161 netscalerMainPageId u32
162 netscalerMainPageCoreId u32
163 netscalerHttpClientInteractionStartTime str
164 netscalerHttpClientRenderEndTime str
165 netscalerHttpClientRenderStartTime str
167 netscalerAppTemplateName str
168 netscalerHttpClientInteractionEndTime str
169 netscalerHttpResRcvLB u64
170 netscalerHttpResForwLB u64
171 netscalerAppUnitNameAppId u32
172 netscalerDbLoginFlags u32
173 netscalerDbReqType u8
174 netscalerDbProtocolName u8
175 netscalerDbUserName str
176 netscalerDbDatabaseName str
177 netscalerDbCltHostName str
178 netscalerDbReqString str
179 netscalerDbRespStatusString str
180 netscalerDbRespStatus u64
181 netscalerDbRespLength u64
182 netscalerClientRTT u32
183 netscalerHttpContentType str
185 netscalerHttpReqAuthorization str
186 netscalerHttpReqVia str
187 netscalerHttpResLocation str
188 netscalerHttpResSetCookie str
189 netscalerHttpResSetCookie2 str
190 netscalerHttpReqXForwardedFor str
192 netscalerConnectionChainID oct
193 netscalerConnectionChainHopCount u8
200 netscalerIcaSessionGuid oct
201 netscalerIcaClientVersion str
202 netscalerIcaClientType u16
203 netscalerIcaClientIP ip4
204 netscalerIcaClientHostName str
205 netscalerAaaUsername str
207 netscalerIcaDomainName str
208 netscalerIcaClientLauncher u16
209 netscalerIcaSessionSetupTime u32
210 netscalerIcaServerName str
214 netscalerIcaSessionReconnects u8
215 netscalerIcaRTT u32
216 netscalerIcaClientsideRXBytes u32
217 netscalerIcaClientsideTXBytes u32
219 netscalerIcaClientsidePacketsRetransmit u16
220 netscalerIcaServersidePacketsRetransmit u16
221 netscalerIcaClientsideRTT u32
222 netscalerIcaServersideRTT u32
223 netscalerIcaSessionUpdateBeginSec u32
224 netscalerIcaSessionUpdateEndSec u32
225 netscalerIcaChannelId1 u32
226 netscalerIcaChannelId1Bytes u32
227 netscalerIcaChannelId2 u32
228 netscalerIcaChannelId2Bytes u32
229 netscalerIcaChannelId3 u32
230 netscalerIcaChannelId3Bytes u32
231 netscalerIcaChannelId4 u32
232 netscalerIcaChannelId4Bytes u32
233 netscalerIcaChannelId5 u32
234 netscalerIcaChannelId5Bytes u32
235 netscalerIcaConnectionPriority u16
236 netscalerApplicationStartupDuration u32
237 netscalerIcaLaunchMechanism u16
238 netscalerIcaApplicationName str
239 netscalerApplicationStartupTime u32
240 netscalerIcaApplicationTerminationType u16
241 netscalerIcaApplicationTerminationTime u32
242 netscalerIcaSessionEndTime u32
243 netscalerIcaClientsideJitter u32
244 netscalerIcaServersideJitter u32
245 netscalerIcaAppProcessID u32
246 netscalerIcaAppModulePath str
247 netscalerIcaDeviceSerialNo u32
248 netscalerMsiClientCookie oct
249 netscalerIcaFlags u64
250 netscalerIcaUsername str
251 netscalerLicenseType u8
252 netscalerMaxLicenseCount u64
253 netscalerCurrentLicenseConsumed u64
254 netscalerIcaNetworkUpdateStartTime u32
255 netscalerIcaNetworkUpdateEndTime u32
256 netscalerIcaClientsideSRTT u32
257 netscalerIcaServersideSRTT u32
258 netscalerIcaClientsideDelay u32
259 netscalerIcaServersideDelay u32
260 netscalerIcaHostDelay u32
261 netscalerIcaClientSideWindowSize u16
262 netscalerIcaServerSideWindowSize u16
263 netscalerIcaClientSideRTOCount u16
264 netscalerIcaServerSideRTOCount u16
265 netscalerIcaL7ClientLatency u32
266 netscalerIcaL7ServerLatency u32
267 netscalerHttpDomainName str
268 netscalerCacheRedirClientConnectionCoreID u32
269 netscalerCacheRedirClientConnectionTransactionID u32
"""

# YAF (PEN 6871). Source: CERT NetSA YAF information model (yaf infomodel/cert.xml), as shipped
# in CESNET libfds config/system/elements/cert.xml; DPI elements that YAF sends only inside
# subTemplateMultiLists are not listed (FlowCEP skips those lists).
_YAF = """
14 initialTCPFlags u8
15 unionTCPFlags u8
18 payload oct
21 reverseFlowDeltaMilliseconds u32
30 silkFlowType u8
31 silkFlowSensor u16
32 silkTCPState u8
33 silkAppLabel u16
35 payloadEntropy u8
36 osName str
37 osVersion str
38 firstPacketBanner oct
39 secondPacketBanner oct
40 flowAttributes u16
100 expiredFragmentCount u32
101 assembledFragmentCount u32
102 meanFlowRate u32
103 meanPacketRate u32
104 flowTableFlushEventCount u32
105 flowTablePeakCount u32
106 yafFlowKeyHash u32
107 osFingerPrint str
289 mptcpInitialDataSequenceNumber u64
290 mptcpReceiverToken u32
291 mptcpMaximumSegmentSize u16
292 mptcpAddressID u8
293 mptcpFlags u8
298 sslCertificateSHA1 oct
299 sslCertificateMD5 oct
300 nDPIL7Protocol u16
301 nDPIL7SubProtocol u16
500 smallPacketCount u32
501 nonEmptyPacketCount u32
502 dataByteCount u64
503 averageInterarrivalTime u64
504 standardDeviationInterarrivalTime u64
505 firstNonEmptyPacketSize u16
506 maxPacketSize u16
507 firstEightNonEmptyPacketDirections u8
508 standardDeviationPayloadLength u16
509 tcpUrgentCount u32
510 largePacketCount u32
550 tombstoneId u32
551 exporterConfiguredId u16
552 exporterUniqueId u16
"""
# elements whose reverse (id | 0x4000) YAF never sends: process statistics and identifiers
_YAF_NO_REVERSE = {21, 30, 31, 100, 101, 102, 103, 104, 105, 106, 550, 551, 552}

# Procera PacketLogic (PEN 15397). Source: PacketLogic product guide 15.1 element list, as
# collected in logstash-codec-netflow ipfix.yaml (section 15397).
_PROCERA = """
1 proceraService str
2 proceraBaseService str
3 proceraIncomingOctets u64
4 proceraOutgoingOctets u64
5 proceraIncomingPackets u64
6 proceraOutgoingPackets u64
7 proceraIncomingShapingLatency u16
8 proceraOutgoingShapingLatency u16
9 proceraIncomingShapingDrops u32
10 proceraOutgoingShapingDrops u32
11 proceraInternalRtt s32
12 proceraExternalRtt s32
15 proceraFlowBehavior str
16 proceraContentCategories str
17 proceraProperty str
18 proceraServerHostname str
19 proceraHttpRequestMethod str
20 proceraHttpUserAgent str
21 proceraHttpContentType str
22 proceraHttpUrl str
23 proceraHttpReferer str
24 proceraHttpResponseStatus u16
25 proceraHttpFileLength u32
26 proceraHttpLocation str
27 proceraHttpLanguage str
28 proceraSubscriberIdentifier str
29 proceraMsisdn u64
30 proceraImsi u64
31 proceraRat str
32 proceraDeviceId u64
33 proceraSgsn str
34 proceraRnc u16
35 proceraApn str
36 proceraUserLocationInformation str
37 proceraGgsn str
38 proceraQoeIncomingInternal f32
39 proceraQoeIncomingExternal f32
40 proceraQoeOutgoingInternal f32
41 proceraQoeOutgoingExternal f32
42 proceraLocalIPv4Host ip4
43 proceraLocalIPv6Host ip6
44 proceraRemoteIPv4Host ip4
45 proceraRemoteIPv6Host ip6
46 proceraHttpRequestVersion str
47 proceraTemplateName str
"""

# Barracuda NG Firewall audit/IPFIX (PEN 10704). Source: Barracuda "IPFIX" documentation element
# list (published names Timestamp, LogOp, TrafficType, FW_Rule, ServiceName, Reason, ReasonText,
# BindIPv4Address, BindTransportPort, ConnIPv4Address, ConnTransportPort, AuditCounter), as in
# logstash-codec-netflow ipfix.yaml (section 10704). Prefixed with "barracuda" here because the
# bare names (Timestamp, Reason) would be ambiguous next to other exporters' columns.
_BARRACUDA = """
1 barracudaTimestamp ts
2 barracudaLogOp u8
3 barracudaTrafficType u8
4 barracudaFwRule str
5 barracudaServiceName str
6 barracudaReason u32
7 barracudaReasonText str
8 barracudaBindIPv4Address ip4
9 barracudaBindTransportPort u16
10 barracudaConnIPv4Address ip4
11 barracudaConnTransportPort u16
12 barracudaAuditCounter u32
"""

# Nokia / Alcatel-Lucent SR OS NAT logging (PEN 637). Source: logstash-codec-netflow ipfix.yaml
# (section 637), from Nokia's NAT IPFIX template documentation.
_NOKIA = """
91 natInsideSvcid u16
92 natOutsideSvcid u16
93 natSubString str
"""

# VMware vSphere Distributed Switch (PEN 6876). Source: VMware NSX for vSphere 6.4 "Flows
# Monitored by the IPFIX for vSphere Distributed Switch", as in CESNET libfds
# config/system/elements/vmware.xml.
_VMWARE = """
880 tenantProtocol u8
881 tenantSourceIPv4 ip4
882 tenantDestIPv4 ip4
883 tenantSourceIPv6 ip6
884 tenantDestIPv6 ip6
886 tenantSourcePort u16
887 tenantDestPort u16
888 egressInterfaceAttr u16
889 vxlanExportRole u8
890 ingressInterfaceAttr u16
"""

# Viptela / Cisco SD-WAN cflowd (PEN 41916). Source: logstash-codec-netflow ipfix.yaml (section
# 41916) and Wireshark's cflow dissector.
_VIPTELA = """
4321 viptelaVPNId u64
"""


def _table(pen: int, text: str) -> list[ElementSpec]:
    out = []
    for line in text.strip().splitlines():
        eid, name, short = line.split()
        out.append(ElementSpec(pen, int(eid), name, _T[short]))
    return out


def vendor_elements() -> list[ElementSpec]:
    """Every vendor element above, YAF reverse elements included."""
    yaf = _table(PENS["yaf"], _YAF)
    out = _table(PENS["netscaler"], _NETSCALER) + yaf
    out += [ElementSpec(s.pen, s.id | YAF_REVERSE_BIT, "reverse" + s.name[:1].upper() + s.name[1:], s.type)
            for s in yaf if s.id not in _YAF_NO_REVERSE]
    for key, text in (("procera", _PROCERA), ("barracuda", _BARRACUDA), ("nokia", _NOKIA),
                      ("vmware", _VMWARE), ("viptela", _VIPTELA)):
        out += _table(PENS[key], text)
    return out
