"""The columns a default ``flowcep run`` reads, shared by the decode and UDP benchmarks (no
flowcep_plugin import here, so ``bench_udp --tree`` still measures the tree it names)."""

#: The columns of data.ipfix that ``flowcep run`` with the default detectors and enrichers
#: makes into lists (traced through ``Columns._make`` on data.ipfix and on its x 20 build,
#: 2026-12-05): every column but ``ipVersion``, ``flowEndMilliseconds`` and the header columns.
RUN_READS = ("octetDeltaCount", "packetDeltaCount", "protocolIdentifier", "sourceIPv4Address",
             "destinationIPv4Address", "icmpTypeCodeIPv4", "flowStartMilliseconds",
             "sourceTransportPort", "destinationTransportPort", "tcpControlBits", "HTTPRequestURL")
