"""Template cache file: IPFIX/NetFlow v9 templates persisted across restarts.

UDP exporters resend templates only every few minutes (or every N packets); a collector that
restarts without their templates drops everything until then. Like Logstash's
``cache_save_path`` and pmacct's templates file, the decoder's templates are written to a JSON
file (atomically: write then rename) and loaded when the input opens. Templates stay keyed by
exporter address, observation domain and protocol version, so two exporters never mix.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from ..errors import InputError

__all__ = ["TemplateCache"]

FORMAT = 1


class TemplateCache:
    """Load and save decoder templates (``MessageDecoder.export_templates`` items)."""

    def __init__(self, path: str | os.PathLike[str], min_interval: float = 1.0) -> None:
        self.path = Path(path)
        self.min_interval = min_interval
        self._last_save = 0.0

    def load(self) -> list[dict[str, Any]]:
        """Saved templates, or [] when there is no cache yet; a corrupt file is an InputError."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise InputError(f"template cache {self.path}: cannot read: {exc.strerror}") from exc
        try:
            doc = json.loads(text)
            if doc.get("format") != FORMAT or not isinstance(doc.get("templates"), list):
                raise ValueError("unexpected layout")
        except (ValueError, AttributeError) as exc:
            raise InputError(
                f"template cache {self.path}: not a FlowCEP template cache ({exc}); delete it or "
                "point template_cache elsewhere") from exc
        return list(doc["templates"])

    def save(self, templates: list[dict[str, Any]], force: bool = False) -> bool:
        """Write the templates atomically; at most once per ``min_interval`` unless forced."""
        now = time.monotonic()
        if not force and now - self._last_save < self.min_interval:
            return False
        self._last_save = now
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".templates-", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fp:
                json.dump({"format": FORMAT, "saved": time.time(), "templates": templates}, fp)
            os.replace(tmp, self.path)
        except OSError:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        return True
