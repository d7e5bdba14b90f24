"""One way to build an Elasticsearch client from FlowCEP's options.

The 9.x Python client announces ``compatible-with=9`` in its media types, which an 8.x
server rejects (``media_type_header_exception``). Elasticsearch 9 still serves requests that
ask for version 8 compatibility, so the transport below asks for 8 on every request: one
client then talks to 8.x and 9.x clusters alike.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from elastic_transport import Transport
from elasticsearch import Elasticsearch

from ..errors import ConfigError

__all__ = ["make_client", "split_hosts", "SUPPORTED_MAJORS", "check_version", "CompatTransport"]

#: Server major versions FlowCEP's templates and queries are written for.
SUPPORTED_MAJORS = (8, 9)

_COMPAT_RE = re.compile(r"compatible-with=\d+")


class CompatTransport(Transport):
    """Rewrites the client's REST-compatibility version to 8 (accepted by 8.x and 9.x)."""

    def perform_request(self, method: str, target: str, **kwargs: Any) -> Any:
        headers = kwargs.get("headers")
        if headers:
            for name in ("accept", "content-type"):
                value = headers.get(name)
                if value and "compatible-with=" in value:
                    headers[name] = _COMPAT_RE.sub("compatible-with=8", value)
        return super().perform_request(method, target, **kwargs)


def split_hosts(url: str | Sequence[str] | None) -> list[str]:
    """``"http://a:9200,http://b:9200"`` or a list -> list of host URLs (scheme added)."""
    if url is None:
        return []
    items = url.split(",") if isinstance(url, str) else list(url)
    hosts = []
    for item in items:
        item = item.strip()
        if not item:
            continue
        if "://" not in item:
            item = "http://" + item
        parts = urlsplit(item)
        if not parts.hostname:
            raise ConfigError(f"elasticsearch: {item!r} is not a host URL (expected http://HOST:9200)")
        hosts.append(item.split("?", 1)[0])
    return hosts


def make_client(
    hosts: str | Sequence[str],
    options: Mapping[str, Any] | None = None,
) -> Elasticsearch:
    """A client for ``hosts`` with auth/TLS from ``options`` (the output's config keys:
    ``api_key``, ``username``/``password``, ``ca_file``, ``verify_certs``, ``request_timeout``).

    ``FLOWCEP_ES_API_KEY``, ``FLOWCEP_ES_USERNAME`` and ``FLOWCEP_ES_PASSWORD`` fill in secrets
    that should not sit in a config file.
    """
    opts = dict(options or {})
    # The node pool logs every failed attempt at WARNING; FlowCEP reports failures itself.
    logging.getLogger("elastic_transport.node_pool").setLevel(logging.ERROR)
    host_list = split_hosts(hosts)
    if not host_list:
        raise ConfigError("elasticsearch: no host given (e.g. --output elasticsearch:http://127.0.0.1:9200)")
    api_key = opts.get("api_key") or os.environ.get("FLOWCEP_ES_API_KEY")
    username = opts.get("username") or os.environ.get("FLOWCEP_ES_USERNAME")
    password = opts.get("password") or os.environ.get("FLOWCEP_ES_PASSWORD")
    kwargs: dict[str, Any] = {
        "request_timeout": float(opts.get("request_timeout", 30)),
        # FlowCEP's own loop does backoff; the transport only moves on to another node.
        "max_retries": max(0, len(host_list) - 1),
        "retry_on_timeout": len(host_list) > 1,
        "retry_on_status": (),
        "transport_class": CompatTransport,
    }
    if api_key:
        kwargs["api_key"] = api_key
    elif username:
        kwargs["basic_auth"] = (username, password or "")
    ca_file = opts.get("ca_file")
    if ca_file:
        if not os.path.isfile(ca_file):
            raise ConfigError(f"elasticsearch: CA file {ca_file!r} does not exist")
        kwargs["ca_certs"] = ca_file
    if opts.get("verify_certs") is False:
        kwargs["verify_certs"] = False
        kwargs["ssl_show_warn"] = False
    try:
        return Elasticsearch(host_list, **kwargs)
    except (ValueError, TypeError) as e:
        raise ConfigError(f"elasticsearch: cannot build a client for {', '.join(host_list)}: {e}") from e


def check_version(info: Mapping[str, Any]) -> tuple[int, str]:
    """(major, number) of the server from ``GET /``; ConfigError naming what is wrong."""
    version = info.get("version") or {}
    number = str(version.get("number", ""))
    distribution = version.get("distribution")
    if distribution == "opensearch":
        raise ConfigError(f"elasticsearch: the server is OpenSearch {number}; FlowCEP needs Elasticsearch 8.x or 9.x")
    try:
        major = int(number.split(".")[0])
    except ValueError:
        raise ConfigError(f"elasticsearch: the server reports no usable version ({number!r})") from None
    if major not in SUPPORTED_MAJORS:
        raise ConfigError(
            f"elasticsearch: server version {number} is not supported; FlowCEP needs 8.x or 9.x "
            "(composable index templates, data streams)"
        )
    return major, number
