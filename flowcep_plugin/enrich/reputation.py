"""IP reputation lists: tag flows whose source or destination is on a blocklist.

Each list is a plain text file, one address or CIDR prefix per line; ``#`` starts a comment
and anything after the first blank on a line is ignored (so ``1.2.3.4  # seen 2024-05``
works). Files are re-read when their modification time or size changes, checked at most
every ``reload_interval`` (a duration; default 60 s) from the pipeline thread, so a feed
updater can rewrite them while FlowCEP runs. A list that vanishes or becomes unreadable keeps
its last good content and logs one warning.

Columns (ECS threat fields): ``threat.indicator.ip`` the listed address of the flow (the
source if both match), ``threat.enrichments.matched.field`` ``source.ip`` or
``destination.ip``, and ``threat.feed.name`` the list's name. A flow on no list has None in
all three. When nested prefixes of different lists cover an address, the longest prefix
names the list; lists that share an identical prefix are all named, comma-separated.

Off by default: it needs list files.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping
from itertools import compress
from typing import Any

from ..cidr import PrefixTable, parse_prefix
from ..config import parse_duration
from ..context import Context
from ..errors import ConfigError
from ..hookspecs import hookimpl
from ..records import FlowBatch
from ..specs import EnricherSpec
from ._columns import address_column

__all__ = ["ReputationEnricher", "read_list", "COLUMNS", "DEFAULTS", "CONFIG_SCHEMA"]

COLUMNS = ("threat.indicator.ip", "threat.enrichments.matched.field", "threat.feed.name")

DEFAULTS: dict[str, Any] = {"lists": {}, "reload_interval": "60s"}

CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Tag flows whose addresses are on IP reputation lists (threat.* fields).",
    "properties": {
        "lists": {
            "type": "object",
            "description": "list (feed) name -> path of a file of addresses/CIDR prefixes, one per line",
            "propertyNames": {"minLength": 1},
            "additionalProperties": {"type": "string", "x-kind": "path"},
        },
        "reload_interval": {
            "type": ["string", "number"],
            "description": "how often to check the files for changes ('60s', '5 min')",
        },
    },
    "additionalProperties": False,
}

_log = logging.getLogger("flowcep.enrich.reputation")


def read_list(path: str) -> tuple[list[str], list[str]]:
    """Prefixes of one list file and a message per bad line (``path:line: text``)."""
    prefixes: list[str] = []
    bad: list[str] = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for lineno, line in enumerate(f, 1):
            text = line.split("#", 1)[0].strip()
            if not text:
                continue
            token = text.split()[0]
            try:
                parse_prefix(token)
            except ValueError:
                bad.append(f"{path}:{lineno}: not an address or prefix: {token!r}")
                continue
            prefixes.append(token)
    return prefixes, bad


class ReputationEnricher:
    """Adds the ``threat.*`` columns for flows whose addresses are listed."""

    def __init__(self, config: Mapping[str, Any], ctx: Context | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ctx = ctx
        self.lists: dict[str, str] = dict(config.get("lists") or {})
        if "" in self.lists:
            raise ConfigError("enrichers.reputation.lists: a list needs a non-empty name")
        try:
            self.interval = parse_duration(config.get("reload_interval", 60))
        except ValueError as exc:
            raise ConfigError(f"enrichers.reputation.reload_interval: {exc}") from None
        self.clock = clock
        self._content: dict[str, list[str]] = {}
        self._signature: dict[str, tuple[int, int] | None] = {}
        for name, path in self.lists.items():
            try:
                self._load(name, path)
            except OSError as exc:
                raise ConfigError(f"enrichers.reputation.lists.{name}: cannot read {path}: "
                                  f"{exc.strerror or exc}") from None
        self._build()
        self._checked = clock()
        self.reloads = 0

    @staticmethod
    def _stat(path: str) -> tuple[int, int] | None:
        try:
            st = os.stat(path)
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size

    def _load(self, name: str, path: str) -> None:
        signature = self._stat(path)
        prefixes, bad = read_list(path)
        if bad:
            _log.warning("reputation list %s: %d bad line(s) skipped, first: %s", name, len(bad), bad[0])
            if self.ctx is not None:
                self.ctx.stats.add("reputation.bad_lines", len(bad))
        self._content[name] = prefixes
        self._signature[name] = signature

    def _build(self) -> None:
        names_of: dict[tuple[int, int, int], list[str]] = {}
        text_of: dict[tuple[int, int, int], str] = {}
        for name, prefixes in self._content.items():
            for p in prefixes:
                key = parse_prefix(p)
                text_of.setdefault(key, p)
                if name not in names_of.setdefault(key, []):
                    names_of[key].append(name)
        self.table: PrefixTable[str] = PrefixTable(
            (text_of[k], ",".join(sorted(v))) for k, v in names_of.items())

    def maybe_reload(self) -> bool:
        """Re-read changed lists if ``reload_interval`` has passed; True when any changed."""
        now = self.clock()
        if now - self._checked < self.interval:
            return False
        self._checked = now
        changed = False
        for name, path in self.lists.items():
            signature = self._stat(path)
            if signature == self._signature.get(name):
                continue
            if signature is None:
                _log.warning("reputation list %s: %s is gone; keeping its last content", name, path)
                self._signature[name] = None
                continue
            try:
                self._load(name, path)
            except OSError as exc:
                _log.warning("reputation list %s: cannot read %s (%s); keeping its last content",
                             name, path, exc.strerror or exc)
                continue
            changed = True
        if changed:
            self._build()
            self.reloads += 1
        return changed

    def enrich(self, batch: FlowBatch) -> None:
        self.maybe_reload()
        n = batch.length
        if not self.table:
            for col in COLUMNS:
                batch.add_column(col, [None] * n)
            return
        src = address_column(batch, "source")
        dst = address_column(batch, "destination")
        memo = self.table.memo(src)
        memo.update(self.table.memo(a for a in dst if a not in memo))
        src_feed = list(map(memo.__getitem__, src))
        dst_feed = list(map(memo.__getitem__, dst))
        ips: list[str | None] = [None] * n
        fields: list[str | None] = [None] * n
        feeds: list[str | None] = [None] * n
        # compress() walks the columns in C and yields only the listed records (feed names
        # are non-empty strings); destinations first so a listed source wins.
        for i in compress(range(n), dst_feed):
            ips[i], fields[i], feeds[i] = dst[i], "destination.ip", dst_feed[i]
        for i in compress(range(n), src_feed):
            ips[i], fields[i], feeds[i] = src[i], "source.ip", src_feed[i]
        batch.add_column("threat.indicator.ip", ips)
        batch.add_column("threat.enrichments.matched.field", fields)
        batch.add_column("threat.feed.name", feeds)

    def close(self) -> None:
        pass


def _factory(config: Mapping[str, Any], ctx: Context) -> ReputationEnricher:
    return ReputationEnricher(config, ctx)


@hookimpl
def flowcep_register_enrichers() -> list[EnricherSpec]:
    return [
        EnricherSpec(
            name="reputation",
            summary="tag flows to/from addresses on IP reputation list files (threat.*), reloaded on change",
            factory=_factory,
            columns=COLUMNS,
            enabled_by_default=False,
            config_schema=CONFIG_SCHEMA,
            defaults=DEFAULTS,
        )
    ]
