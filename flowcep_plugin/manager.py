"""Plugin manager factory: loads every entry point of group ``flowcep``, builtin or not.

Builtin inputs, enrichers and outputs are entry points of the ``flowcep`` distribution itself,
so they load exactly like third-party plugins. A plugin that fails to import or registers a
misspelled hook is skipped with a warning and listed as failed; ``strict`` re-raises.

Environment switches (read once per manager):
  FLOWCEP_LOAD_PLUGINS     comma-separated entry-point names: load only these
  FLOWCEP_DISABLE_PLUGINS  comma-separated entry-point names: skip these (listed as disabled)
  FLOWCEP_TRACE_HOOKS      set to 1: log every hook call to stderr (pluggy tracing)
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from typing import TYPE_CHECKING, Any

import pluggy

from . import hookspecs
from .errors import PluginError

if TYPE_CHECKING:
    from .stats import Stats

__all__ = ["FlowcepPluginManager", "PluginInfo", "Isolation", "HookFailure", "make_plugin_manager",
           "ENTRY_POINT_GROUP", "DEFAULT_MAX_PLUGIN_FAILURES"]

ENTRY_POINT_GROUP = "flowcep"
log = logging.getLogger("flowcep.plugins")


@dataclass
class PluginInfo:
    """What ``flowcep plugins`` shows for one plugin: its name, where it came from, its
    status (``loaded``, ``failed`` or ``disabled``) and what it provides."""

    name: str
    module: str
    distribution: str
    version: str
    origin: str  # "builtin", "entry point", or "registered" (in-process)
    status: str = "loaded"  # loaded | failed | disabled
    error: str | None = None
    hooks: list[str] = field(default_factory=list)
    components: list[str] = field(default_factory=list)
    location: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "module": self.module, "distribution": self.distribution,
            "version": self.version, "origin": self.origin, "status": self.status,
            "error": self.error, "hooks": self.hooks, "components": self.components,
            "location": self.location,
        }


#: A plugin whose hooks or components raise this many times in one run is disabled for the
#: rest of it (``[run] max_plugin_failures``); its earlier failures are all counted.
DEFAULT_MAX_PLUGIN_FAILURES = 10


@dataclass(frozen=True)
class HookFailure:
    """One implementation that raised inside a hook call."""

    plugin: str
    hook: str
    error: str  # one line: "ValueError: ..."
    exception: Exception


class Isolation:
    """Per-plugin failure accounting for hooks called through pluggy's hook caller.

    pluggy stops a hook call at the first implementation that raises. The host wants pluggy's
    semantics (wrappers around the whole call, ``tryfirst``/``trylast`` order, ``firstresult``)
    *and* a raising plugin counted against that plugin while the others go on. So each plain
    implementation's function is wrapped once in a guard: it returns None instead of raising
    (pluggy then treats it as "no result") and reports here. Wrappers are left alone: they
    see the call exactly as pluggy documents it.
    """

    def __init__(self) -> None:
        self.failures: list[HookFailure] = []
        self.counts: dict[str, int] = {}
        self.disabled: set[str] = set()
        self.max_failures: int | None = None
        self.stats: Stats | None = None
        self.dropped = 0  # failures beyond the bounded ``failures`` list, counted not kept
        #: when a list, every guarded implementation appends ``(plugin, result)`` to it, so
        #: registration can tell which plugin contributed which spec (for error messages)
        self.recording: list[tuple[str, Any]] | None = None

    def report(self, plugin: str, hook: str, exc: Exception) -> None:
        n = self.counts.get(plugin, 0) + 1
        self.counts[plugin] = n
        line = _one_line(exc)
        if len(self.failures) < 1000:
            self.failures.append(HookFailure(plugin, hook, line, exc))
        else:
            self.dropped += 1
        if self.stats is not None:
            self.stats.plugin_error(plugin, f"{hook}: {line}")
        if n <= 3:
            log.error("flowcep: plugin %r raised in %s: %s", plugin, hook, line)
        if self.max_failures is not None and n >= self.max_failures and plugin not in self.disabled:
            self.disabled.add(plugin)
            log.error("flowcep: plugin %r disabled for the rest of the run after %d failures "
                      "(raise [run] max_plugin_failures to keep it longer)", plugin, n)
            if self.stats is not None:
                self.stats.gauge(f"plugin_disabled.{plugin}", n)

    def since(self, mark: int) -> list[HookFailure]:
        """Failures reported after ``mark`` (``len(self.failures)`` taken before a call)."""
        return self.failures[mark:]


def _guard(fn: Callable[..., Any], plugin: str, hook: str, iso: Isolation) -> Callable[..., Any]:
    def guarded(*args: Any, **kwargs: Any) -> Any:
        if plugin in iso.disabled:
            return None
        try:
            result = fn(*args, **kwargs)
        except Exception as exc:  # never BaseException: Ctrl-C and exits go through
            iso.report(plugin, hook, exc)
            return None
        if iso.recording is not None and result is not None:
            iso.recording.append((plugin, result))
        return result

    guarded.__flowcep_guarded__ = True  # type: ignore[attr-defined]
    guarded.__wrapped__ = fn  # type: ignore[attr-defined]
    return guarded


class FlowcepPluginManager(pluggy.PluginManager):
    """A pluggy manager that also remembers how each plugin was loaded."""

    def __init__(self) -> None:
        super().__init__(hookspecs.PROJECT)
        self.add_hookspecs(hookspecs)
        self.infos: dict[str, PluginInfo] = {}
        self.isolation = Isolation()

    def isolated(self, name: str) -> pluggy.HookCaller:
        """The hook caller of ``name`` with every plain implementation guarded.

        Call the returned caller as usual; an implementation that raises yields None and is
        reported to :attr:`isolation` (``since(mark)`` lists what failed in this call).
        Guarding is idempotent and covers plugins registered since the last call.
        """
        caller: pluggy.HookCaller = getattr(self.hook, name)
        for impl in caller.get_hookimpls():
            if impl.hookwrapper or impl.wrapper or getattr(impl.function, "__flowcep_guarded__", False):
                continue
            impl.function = _guard(impl.function, impl.plugin_name, name, self.isolation)  # type: ignore[misc]
        return caller

    def register_plugin(self, plugin: Any, info: PluginInfo, strict: bool = False) -> bool:
        """Register one plugin object, validating its hook names; False if it was rejected."""
        try:
            self.register(plugin, name=info.name)
            self.check_pending()
        except Exception as exc:  # a bad plugin must not take the others down
            if self.is_registered(plugin):
                self.unregister(plugin)
            info.status, info.error = "failed", _one_line(exc)
            self.infos[info.name] = info
            if strict:
                raise PluginError(f"plugin {info.name!r} ({info.distribution}): {info.error}") from exc
            return False
        info.hooks = sorted(
            impl_name for impl_name in dir(plugin)
            if impl_name.startswith("flowcep_") and hasattr(self.hook, impl_name)
        )
        self.infos[info.name] = info
        return True


def _one_line(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _names(var: str) -> set[str] | None:
    raw = os.environ.get(var)
    if raw is None:
        return None
    return {n.strip() for n in raw.split(",") if n.strip()}


def make_plugin_manager(strict: bool = False, load_entry_points: bool = True) -> FlowcepPluginManager:
    """A fresh plugin manager for one run (never a module global), with every installed
    ``flowcep`` entry point loaded (unless ``load_entry_points`` is False). Register more
    plugin objects in-process with ``pm.register_plugin(obj, PluginInfo(...))`` and pass the
    manager to :func:`run`."""
    pm = FlowcepPluginManager()
    only = _names("FLOWCEP_LOAD_PLUGINS")
    disabled = _names("FLOWCEP_DISABLE_PLUGINS") or set()
    if load_entry_points:
        seen: set[str] = set()
        # each read of a distribution's metadata parses its METADATA file again: once per
        # distribution, not once per entry point (the builtins are 17 entry points of one)
        described: dict[int, tuple[str, str]] = {}
        eps = sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name)
        for ep in eps:
            if ep.name in seen:
                continue  # the same distribution visible twice on sys.path
            seen.add(ep.name)
            dist = ep.dist
            if dist is None:
                dist_name, version = "?", "?"
            else:
                if id(dist) not in described:
                    meta = dist.metadata
                    described[id(dist)] = (meta["Name"], meta["Version"])
                dist_name, version = described[id(dist)]
            info = PluginInfo(
                name=ep.name, module=ep.value, distribution=dist_name, version=version,
                origin="builtin" if dist_name == "flowcep" else "entry point",
            )
            if (only is not None and ep.name not in only) or ep.name in disabled:
                info.status = "disabled"
                pm.infos[ep.name] = info
                continue
            try:
                plugin = ep.load()
            except Exception as exc:
                info.status, info.error = "failed", _one_line(exc)
                pm.infos[ep.name] = info
                if strict:
                    raise PluginError(
                        f"plugin {ep.name!r} ({dist_name} {version}) failed to load: {info.error}"
                    ) from exc
                log.warning("flowcep: plugin %r (%s %s) failed to load and is skipped: %s",
                            ep.name, dist_name, version, info.error)
                continue
            info.location = getattr(plugin, "__file__", None)
            if not pm.register_plugin(plugin, info, strict=strict):
                log.warning("flowcep: plugin %r (%s) rejected: %s", ep.name, dist_name, info.error)
    if os.environ.get("FLOWCEP_TRACE_HOOKS"):
        pm.trace.root.setwriter(lambda s: sys.stderr.write(s))
        pm.enable_tracing()
    return pm
