"""``flowcep es setup``: install ILM policies, component and index templates, idempotently.

Each object carries ``version``; an object already installed with the same version is left
alone (``unchanged``), so running setup twice changes nothing, and an upgrade replaces only
what changed. The server version is checked first (8.x or 9.x) and every failure becomes one
line that says what is wrong (unreachable, auth refused, wrong product, too old).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from elasticsearch import (
    ApiError,
    AuthenticationException,
    AuthorizationException,
    Elasticsearch,
    NotFoundError,
    TransportError,
    UnsupportedProductError,
)

from ..errors import ConfigError
from . import templates
from .client import check_version

__all__ = ["SetupReport", "install", "server_version"]


@dataclass
class SetupReport:
    version: str = ""
    installed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # what the server lacks (with why)

    def lines(self) -> list[str]:
        out = [f"elasticsearch {self.version}"]
        out += [f"  installed  {x}" for x in self.installed]
        out += [f"  unchanged  {x}" for x in self.unchanged]
        out += [f"  skipped    {x}" for x in self.skipped]
        return out


def server_version(client: Elasticsearch, where: str = "elasticsearch") -> tuple[int, str]:
    """Check that ``client`` reaches Elasticsearch 8.x/9.x; ConfigError with the reason."""
    try:
        info = client.info()
    except AuthenticationException:
        raise ConfigError(f"{where}: authentication failed (check api_key or username/password)") from None
    except AuthorizationException:
        raise ConfigError(f"{where}: the user may not read cluster info (needs 'monitor')") from None
    except UnsupportedProductError:
        raise ConfigError(f"{where}: the server is not Elasticsearch (no X-Elastic-Product header)") from None
    except ApiError as e:
        raise ConfigError(f"{where}: GET / answered {e.meta.status}: {_reason(e)}") from None
    except TransportError as e:
        hosts = ", ".join(str(n.base_url) for n in client.transport.node_pool.all())
        raise ConfigError(f"{where}: cannot connect to {hosts}: {_first_line(e)}") from None
    body: Any = getattr(info, "body", info)
    return check_version(body)


def _first_line(e: BaseException) -> str:
    return str(e).splitlines()[0][:200] if str(e) else type(e).__name__


def _reason(e: ApiError) -> str:
    body: Any = e.body
    if isinstance(body, Mapping):
        err = body.get("error")
        if isinstance(err, Mapping):
            return f"{err.get('type')}: {err.get('reason')}"
        if err:
            return str(err)
    return _first_line(e)


def _missing_endpoint(e: ApiError) -> bool:
    # A server without the API (the loopback stand-in has no ILM) answers 400/404/405 with
    # "no handler found"; a real cluster with ILM disabled says so too.
    text = str(e.body).lower()
    return e.meta.status in (400, 404, 405, 410) and ("no handler" in text or "not found" in text
                                                      or "unknown" in text)


def _installed_version(getter: Any, name: str, key: str) -> int | None:
    try:
        body = getter(name=name).body
    except NotFoundError:
        return None
    except ApiError as e:
        if _missing_endpoint(e):
            raise
        return None
    if key == "policy":
        item = body.get(name, {})
        meta = item.get("policy", {}).get("_meta", {})
        v = meta.get("flowcep_version")
        return int(v) if isinstance(v, int) else None
    items = body.get(key, [])
    for item in items:
        if item.get("name") == name:
            inner = item.get(key[:-1], {})
            v = inner.get("version")
            return int(v) if isinstance(v, int) else None
    return None


def install(client: Elasticsearch, *, force: bool = False, where: str = "elasticsearch") -> SetupReport:
    """Install everything :mod:`templates` renders. ILM is skipped (and said so) on servers
    without it; templates are required."""
    report = SetupReport()
    _, report.version = server_version(client, where)
    version = templates.TEMPLATE_VERSION

    for name, body in templates.ilm_policies().items():
        body = {"policy": {**body["policy"], "_meta": {**body["policy"]["_meta"], "flowcep_version": version}}}
        try:
            if not force and _installed_version(client.ilm.get_lifecycle, name, "policy") == version:
                report.unchanged.append(f"ilm policy {name}")
                continue
            client.ilm.put_lifecycle(name=name, policy=body["policy"])
            report.installed.append(f"ilm policy {name}")
        except ApiError as e:
            if _missing_endpoint(e):
                report.skipped.append(f"ilm policy {name} (this server has no ILM API)")
                continue
            raise ConfigError(f"{where}: cannot install ILM policy {name}: {_reason(e)}") from None
        except TransportError as e:
            raise ConfigError(f"{where}: cannot connect: {_first_line(e)}") from None

    steps = [
        ("component template", client.cluster.get_component_template, client.cluster.put_component_template,
         "component_templates", templates.component_templates()),
        ("index template", client.indices.get_index_template, client.indices.put_index_template,
         "index_templates", templates.index_templates()),
    ]
    for label, getter, putter, key, objects in steps:
        for name, body in objects.items():
            try:
                if not force and _installed_version(getter, name, key) == version:
                    report.unchanged.append(f"{label} {name}")
                    continue
                putter(name=name, **body)
                report.installed.append(f"{label} {name}")
            except ApiError as e:
                raise ConfigError(f"{where}: cannot install {label} {name}: {_reason(e)}") from None
            except TransportError as e:
                raise ConfigError(f"{where}: cannot connect: {_first_line(e)}") from None
    return report
