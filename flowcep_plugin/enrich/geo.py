"""GeoIP and ASN from MaxMind-format databases (GeoLite2/GeoIP2 City or Country, ASN; DB-IP
and IPinfo publish the same format), read with the ``maxminddb`` C reader.

Columns per side (``source``/``destination``), ECS names: ``*.geo.country_iso_code``,
``*.geo.country_name``, ``*.geo.city_name``, ``*.geo.location`` (``{"lat", "lon"}``) from
the city/country database; ``*.as.number`` and ``*.as.organization.name`` from the ASN
database. Only the columns of configured databases are added. Each distinct address of a
batch is looked up once; a small cross-batch cache keeps busy hosts from being looked up in
every batch.

Off by default: it needs a database path (``city_database`` and/or ``asn_database``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import maxminddb

from ..context import Context
from ..errors import ConfigError
from ..hookspecs import hookimpl
from ..records import FlowBatch
from ..specs import EnricherSpec
from ._columns import address_column

__all__ = ["GeoEnricher", "DEFAULTS", "CONFIG_SCHEMA", "GEO_FIELDS", "AS_FIELDS"]

GEO_FIELDS = ("geo.country_iso_code", "geo.country_name", "geo.city_name", "geo.location")
AS_FIELDS = ("as.number", "as.organization.name")

DEFAULTS: dict[str, Any] = {"city_database": None, "asn_database": None, "language": "en",
                            "cache_size": 65536}

CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "GeoIP and ASN fields from MaxMind-format (.mmdb) databases.",
    "properties": {
        "city_database": {"type": ["string", "null"], "x-kind": "path",
                          "description": "path of a City or Country .mmdb (GeoLite2-City.mmdb)"},
        "asn_database": {"type": ["string", "null"], "x-kind": "path",
                         "description": "path of an ASN .mmdb (GeoLite2-ASN.mmdb)"},
        "language": {"type": "string", "description": "language of country and city names"},
        "cache_size": {"type": "integer", "minimum": 0,
                       "description": "addresses remembered across batches (0 disables)"},
    },
    "additionalProperties": False,
}

_Geo = tuple[Any, Any, Any, Any]
_As = tuple[Any, Any]
_NO_GEO: _Geo = (None, None, None, None)
_NO_AS: _As = (None, None)


def _open(path: str, key: str) -> maxminddb.Reader:
    try:
        return maxminddb.open_database(path)
    except (OSError, ValueError, maxminddb.InvalidDatabaseError) as exc:
        raise ConfigError(f"enrichers.geoip.{key}: cannot open {path}: {exc}") from None


class GeoEnricher:
    """Adds ``source.geo.*``, ``destination.geo.*``, ``source.as.*``, ``destination.as.*``."""

    def __init__(self, config: Mapping[str, Any], ctx: Context | None = None) -> None:
        city, asn = config.get("city_database"), config.get("asn_database")
        if not city and not asn:
            raise ConfigError("enrichers.geoip: set city_database and/or asn_database (paths of .mmdb files)")
        self.city = _open(city, "city_database") if city else None
        self.asn = _open(asn, "asn_database") if asn else None
        self.language = str(config.get("language", "en"))
        self.cache_size = int(config.get("cache_size", 65536))
        self._geo_cache: dict[str, _Geo] = {}
        self._as_cache: dict[str, _As] = {}
        self._stats = ctx.stats if ctx is not None else None

    def _name(self, record: Any) -> Any:
        names = record.get("names") if isinstance(record, dict) else None
        return names.get(self.language) if isinstance(names, dict) else None

    def _geo(self, address: str) -> _Geo:
        assert self.city is not None
        try:
            rec: Any = self.city.get(address)
        except ValueError:
            return _NO_GEO
        if not isinstance(rec, dict):
            return _NO_GEO
        country = rec.get("country") or rec.get("registered_country") or {}
        loc = rec.get("location") or {}
        location = ({"lat": loc["latitude"], "lon": loc["longitude"]}
                    if "latitude" in loc and "longitude" in loc else None)
        return (country.get("iso_code"), self._name(country), self._name(rec.get("city")), location)

    def _as(self, address: str) -> _As:
        assert self.asn is not None
        try:
            rec: Any = self.asn.get(address)
        except ValueError:
            return _NO_AS
        if not isinstance(rec, dict):
            return _NO_AS
        return rec.get("autonomous_system_number"), rec.get("autonomous_system_organization")

    def _resolve(self, distinct: list[str | None], cache: dict[str, Any], lookup: Any,
                 empty: tuple[Any, ...]) -> dict[str | None, Any]:
        memo: dict[str | None, Any] = {None: empty}
        for a in distinct:
            if a is None:
                continue
            hit = cache.get(a)
            if hit is None:
                hit = lookup(a)
                if self.cache_size:
                    if len(cache) >= self.cache_size:
                        cache.clear()  # cheap bound; busy hosts come back within a batch
                        if self._stats is not None:  # many new hosts (or spoofed ones)
                            self._stats.add("geo.cache_resets")
                    cache[a] = hit
            memo[a] = hit
        return memo

    def enrich(self, batch: FlowBatch) -> None:
        sides = {side: address_column(batch, side) for side in ("source", "destination")}
        distinct = list(dict.fromkeys(sides["source"]) | dict.fromkeys(sides["destination"]))
        if self.city is not None:
            memo = self._resolve(distinct, self._geo_cache, self._geo, _NO_GEO)
            for side, col in sides.items():
                values = list(map(memo.__getitem__, col))
                for j, name in enumerate(GEO_FIELDS):
                    batch.add_column(f"{side}.{name}", [v[j] for v in values])
        if self.asn is not None:
            memo = self._resolve(distinct, self._as_cache, self._as, _NO_AS)
            for side, col in sides.items():
                values = list(map(memo.__getitem__, col))
                for j, name in enumerate(AS_FIELDS):
                    batch.add_column(f"{side}.{name}", [v[j] for v in values])

    def close(self) -> None:
        for reader in (self.city, self.asn):
            if reader is not None:
                reader.close()


def _factory(config: Mapping[str, Any], ctx: Context) -> GeoEnricher:
    return GeoEnricher(config, ctx)


@hookimpl
def flowcep_register_enrichers() -> list[EnricherSpec]:
    return [
        EnricherSpec(
            name="geoip",
            summary="country, city, location and AS of both endpoints from MaxMind .mmdb databases",
            factory=_factory,
            columns=tuple(f"{s}.{f}" for s in ("source", "destination") for f in GEO_FIELDS + AS_FIELDS),
            enabled_by_default=False,
            config_schema=CONFIG_SCHEMA,
            defaults=DEFAULTS,
        )
    ]
