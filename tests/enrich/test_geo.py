"""GeoIP/ASN with small .mmdb files built here (mmdb-writer), read back through maxminddb."""

from __future__ import annotations

import pytest

from flowcep_plugin.enrich.geo import GeoEnricher, flowcep_register_enrichers
from flowcep_plugin.errors import ConfigError
from flowcep_plugin.records import FlowBatch

mmdb_writer = pytest.importorskip("mmdb_writer")
netaddr = pytest.importorskip("netaddr")


@pytest.fixture(scope="module")
def dbs(tmp_path_factory):
    d = tmp_path_factory.mktemp("mmdb")
    city = mmdb_writer.MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoIP2-City")
    city.insert_network(netaddr.IPSet(["203.0.113.0/24"]), {
        "country": {"iso_code": "FR", "names": {"en": "France", "de": "Frankreich"}},
        "city": {"names": {"en": "Paris"}},
        "location": {"latitude": 48.8566, "longitude": 2.3522},
    })
    city.insert_network(netaddr.IPSet(["2001:db8::/32"]), {
        "country": {"iso_code": "JP", "names": {"en": "Japan"}},
    })
    city.to_db_file(str(d / "city.mmdb"))
    asn = mmdb_writer.MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoLite2-ASN")
    asn.insert_network(netaddr.IPSet(["198.51.100.0/24"]), {
        "autonomous_system_number": 64500, "autonomous_system_organization": "Example Transit"})
    asn.to_db_file(str(d / "asn.mmdb"))
    return d


def test_geo_and_asn_columns(dbs):
    e = GeoEnricher({"city_database": str(dbs / "city.mmdb"), "asn_database": str(dbs / "asn.mmdb"),
                     "language": "en", "cache_size": 100})
    batch = FlowBatch.from_rows([
        {"sourceIPv4Address": "203.0.113.9", "destinationIPv4Address": "198.51.100.1"},
        {"sourceIPv4Address": "10.0.0.1", "destinationIPv4Address": "203.0.113.200"},
        {"sourceIPv6Address": "2001:db8::1", "destinationIPv6Address": "2001:db9::1"},
        {"sourceIPv4Address": None},
    ])
    e.enrich(batch)
    assert batch.get("source.geo.country_iso_code") == ["FR", None, "JP", None]
    assert batch.get("source.geo.country_name") == ["France", None, "Japan", None]
    assert batch.get("source.geo.city_name") == ["Paris", None, None, None]
    assert batch.get("source.geo.location") == [{"lat": 48.8566, "lon": 2.3522}, None, None, None]
    assert batch.get("destination.geo.country_iso_code") == [None, "FR", None, None]
    assert batch.get("destination.as.number") == [64500, None, None, None]
    assert batch.get("destination.as.organization.name") == ["Example Transit", None, None, None]
    assert batch.get("source.as.number") == [None, None, None, None]
    # Second batch served from the cross-batch cache gives the same answer.
    again = FlowBatch.from_rows([{"sourceIPv4Address": "203.0.113.9"}])
    e.enrich(again)
    assert again.get("source.geo.city_name") == ["Paris"]
    e.close()


def test_language_and_only_asn(dbs):
    e = GeoEnricher({"city_database": str(dbs / "city.mmdb"), "language": "de"})
    batch = FlowBatch.from_rows([{"sourceIPv4Address": "203.0.113.9", "destinationIPv4Address": "1.1.1.1"}])
    e.enrich(batch)
    assert batch.get("source.geo.country_name") == ["Frankreich"]
    assert "source.as.number" not in batch.columns  # no ASN database configured
    e.close()


def test_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="set city_database"):
        GeoEnricher({"city_database": None, "asn_database": None})
    with pytest.raises(ConfigError, match="asn_database: cannot open"):
        GeoEnricher({"asn_database": str(tmp_path / "missing.mmdb")})
    bad = tmp_path / "bad.mmdb"
    bad.write_bytes(b"not a database")
    with pytest.raises(ConfigError, match="city_database: cannot open"):
        GeoEnricher({"city_database": str(bad)})


def test_registration():
    (spec,) = flowcep_register_enrichers()
    assert spec.name == "geoip" and not spec.enabled_by_default
    assert spec.config_schema["additionalProperties"] is False


def test_a_flood_of_new_addresses_resets_the_cache_counted_and_answers_stay_right(dbs):
    """Spoofed sources (a SYN flood from random addresses) fill the cross-batch cache; it
    starts over when full, which costs lookups and loses nothing, and says so in the stats."""
    from flowcep_plugin.context import Context

    ctx = Context()
    e = GeoEnricher({"city_database": str(dbs / "city.mmdb"), "cache_size": 50}, ctx)
    flood = FlowBatch.from_rows([{"sourceIPv4Address": f"100.64.{i // 250}.{i % 250}",
                                  "destinationIPv4Address": "203.0.113.9"} for i in range(1_000)])
    e.enrich(flood)
    assert len(e._geo_cache) <= 50
    assert ctx.stats.snapshot()["gauges"]["geo.cache_resets"] >= 1_000 // 50 - 1
    assert set(flood.get("destination.geo.city_name")) == {"Paris"}
    e.close()
