"""The component registry: every spec the plugins registered, by kind and name.

Registration hooks are called once, through pluggy's hook caller (so wrappers and
``tryfirst``/``trylast`` work as pluggy documents), with each plain implementation guarded: a
plugin that raises while registering is reported (and skipped unless strict) without hiding
the others' components.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .addresses import parse_address
from .context import Context
from .errors import ConfigError, InputError, PluginError
from .manager import FlowcepPluginManager
from .specs import Address, DetectorSpec, ElementSpec, EnricherSpec, InputSpec, OutputSpec, Source

__all__ = ["Registry", "merge_config"]

KINDS = ("inputs", "enrichers", "detectors", "outputs")
#: sections the host owns; no plugin may claim them through ``flowcep_config_schema``
_HOST_SECTIONS = frozenset({"run", "alerts", "epl", "elements", *KINDS})
_HOOK_OF_KIND = {
    "inputs": "flowcep_register_inputs",
    "enrichers": "flowcep_register_enrichers",
    "detectors": "flowcep_register_detectors",
    "outputs": "flowcep_register_outputs",
}
_SPEC_TYPE = {"inputs": InputSpec, "enrichers": EnricherSpec, "detectors": DetectorSpec,
              "outputs": OutputSpec}


def merge_config(defaults: Mapping[str, Any], section: Mapping[str, Any] | None) -> dict[str, Any]:
    """Defaults overlaid by the user's section; nested tables merge key by key."""
    out = dict(defaults)
    for k, v in (section or {}).items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = merge_config(out[k], v)
        else:
            out[k] = v
    return out


@dataclass
class Registry:
    """Every component and config section the plugins registered, with who registered it.

    Built once per run by :meth:`build`; :func:`flowcep_plugin.plan.resolve` turns it and a
    config into a :class:`~flowcep_plugin.plan.Plan`.
    """

    pm: FlowcepPluginManager
    inputs: dict[str, InputSpec] = field(default_factory=dict)
    enrichers: dict[str, EnricherSpec] = field(default_factory=dict)
    detectors: dict[str, DetectorSpec] = field(default_factory=dict)
    outputs: dict[str, OutputSpec] = field(default_factory=dict)
    provider: dict[tuple[str, str], str] = field(default_factory=dict)  # (kind, name) -> plugin
    element_specs: list[ElementSpec] = field(default_factory=list)
    #: top-level config sections from ``flowcep_config_schema``: section -> (plugin, schema)
    config_sections: dict[str, tuple[str, Mapping[str, Any]]] = field(default_factory=dict)
    #: one line per plugin whose ``flowcep_config_schema`` raised (the schema cannot be composed)
    section_errors: list[str] = field(default_factory=list)

    @classmethod
    def build(cls, pm: FlowcepPluginManager, strict: bool = False) -> Registry:
        """Call every registration hook once, through pluggy, each plugin isolated.

        A plugin whose registration hook raises (or returns something that is not a spec) is
        marked failed and its components left out; ``strict`` makes that an error. Two
        plugins registering one name is always an error naming both.
        """
        reg = cls(pm)
        for kind in KINDS:
            for plugin, spec in reg._collect(_HOOK_OF_KIND[kind], _SPEC_TYPE[kind], strict):
                table: dict[str, Any] = getattr(reg, kind)
                other = reg.provider.get((kind, spec.name))
                if other is not None:
                    raise PluginError(
                        f"{kind[:-1]} {spec.name!r} is registered twice: by plugin {other!r} "
                        f"({reg._dist(other)}) and by {plugin!r} ({reg._dist(plugin)}); "
                        f"uninstall or disable one (FLOWCEP_DISABLE_PLUGINS={plugin})"
                    )
                table[spec.name] = spec
                reg.provider[(kind, spec.name)] = plugin
                info = pm.infos.get(plugin)
                if info is not None:
                    info.components.append(f"{kind[:-1]}:{spec.name}")
        reg.element_specs = [spec for _, spec in reg._collect("flowcep_information_elements",
                                                              ElementSpec, strict)]
        reg._collect_sections(strict)
        return reg

    def _collect(self, hook: str, spec_type: type, strict: bool) -> list[tuple[str, Any]]:
        """``(plugin, spec)`` pairs from one registration hook, in pluggy's call order."""
        iso = self.pm.isolation
        caller = self.pm.isolated(hook)
        mark = len(iso.failures)
        recorded: list[tuple[str, Any]] = []
        iso.recording = recorded
        try:
            results: list[Any] = caller()
        finally:
            iso.recording = None
        for failure in iso.since(mark):
            self._fail(failure.plugin, f"{hook} raised {failure.error}", strict)
        origin = {id(item): plugin for plugin, items in recorded for item in (items or [])}
        out: list[tuple[str, Any]] = []
        for items in results:
            for item in items or []:
                plugin = origin.get(id(item), "(a hook wrapper)")
                if not isinstance(item, spec_type):
                    self._fail(plugin, f"{hook} returned {type(item).__name__}, expected "
                                       f"{spec_type.__name__}", strict)
                    continue
                out.append((plugin, item))
        return out

    def _collect_sections(self, strict: bool) -> None:
        iso = self.pm.isolation
        caller = self.pm.isolated("flowcep_config_schema")
        mark = len(iso.failures)
        recorded: list[tuple[str, Any]] = []
        iso.recording = recorded
        try:
            caller()
        finally:
            iso.recording = None
        for failure in iso.since(mark):
            # `flowcep plugins` still lists it (failed); composing the schema (run, validate,
            # schema) refuses: its section would be missing and its settings look unknown
            message = (f"plugin {failure.plugin!r} ({self._dist(failure.plugin)}): "
                       f"flowcep_config_schema raised {failure.error}; fix or uninstall it "
                       f"(FLOWCEP_DISABLE_PLUGINS={failure.plugin})")
            self.section_errors.append(message)
            self._fail(failure.plugin, f"flowcep_config_schema raised {failure.error}", strict)
        for plugin, part in recorded:
            if not isinstance(part, Mapping):
                raise PluginError(f"plugin {plugin!r}: flowcep_config_schema returned "
                                  f"{type(part).__name__}, expected a mapping of section -> schema")
            for key, sub in part.items():
                if key in _HOST_SECTIONS:
                    raise PluginError(f"plugin {plugin!r} claims config section {key!r}, which "
                                      "belongs to the host; pick another name")
                other = self.config_sections.get(key)
                if other is not None:
                    raise PluginError(
                        f"config section {key!r} is claimed twice: by plugin {other[0]!r} "
                        f"({self._dist(other[0])}) and by {plugin!r} ({self._dist(plugin)}); "
                        f"uninstall or disable one (FLOWCEP_DISABLE_PLUGINS={plugin})")
                self.config_sections[key] = (plugin, sub)

    def _dist(self, plugin: str) -> str:
        info = self.pm.infos.get(plugin)
        return f"{info.distribution} {info.version}" if info else "registered in-process"

    def _fail(self, plugin: str, message: str, strict: bool) -> None:
        info = self.pm.infos.get(plugin)
        if info is not None:
            info.status, info.error = "failed", message
        if strict:
            raise PluginError(f"plugin {plugin!r}: {message}")

    # -- element registry ---------------------------------------------------------------------
    def element_registry(self, extra: list[Mapping[str, Any]] | None = None) -> Any:
        """The decoder's information-element registry with plugin and config elements."""
        try:
            from .elements import Registry as ElementRegistry
        except ImportError:
            return None
        specs = list(self.element_specs)
        for e in extra or ():
            specs.append(ElementSpec(pen=int(e.get("pen", 0)), id=int(e["id"]), name=str(e["name"]),
                                     type=str(e.get("type", "octetArray"))))
        return ElementRegistry(specs) if specs else ElementRegistry()

    # -- inputs -------------------------------------------------------------------------------
    def resolve_input(self, address: Address) -> InputSpec:
        """The spec that opens ``address``: a ``flowcep_resolve_input`` claim (first non-None
        wins), else the scheme table, else the first sniffer that recognises the file."""
        iso = self.pm.isolation
        mark = len(iso.failures)
        claimed: InputSpec | None = self.pm.isolated("flowcep_resolve_input")(address=address)
        failed = iso.since(mark)
        if failed and claimed is None:
            f = failed[0]
            raise PluginError(f"input {address.raw!r}: plugin {f.plugin!r} raised in "
                              f"flowcep_resolve_input: {f.error}")
        if claimed is not None:
            if not isinstance(claimed, InputSpec):
                raise PluginError(f"input {address.raw!r}: flowcep_resolve_input returned "
                                  f"{type(claimed).__name__}, expected InputSpec")
            return claimed
        if address.scheme != "file":
            for spec in self.inputs.values():
                if address.scheme in spec.schemes:
                    return spec
            known = sorted({s for spec in self.inputs.values() for s in spec.schemes})
            raise ConfigError(f"input {address.raw!r}: unknown scheme {address.scheme!r}; "
                              f"known: {', '.join(known) or 'none (no input plugin loaded)'}")
        path = address.path or ""
        if not os.path.exists(path):
            raise InputError(f"input {address.raw!r}: no such file")
        if os.path.isdir(path):
            raise InputError(f"input {address.raw!r}: is a directory, expected a file")
        with open(path, "rb") as fh:
            head = fh.read(64)
        for spec in self.inputs.values():
            if spec.sniff is not None:
                try:
                    if spec.sniff(head):
                        return spec
                except Exception:  # a sniffer bug must not hide the other sniffers
                    continue
        raise InputError(
            f"input {address.raw!r}: cannot tell the format from its first bytes "
            f"({head[:8].hex() or 'empty file'}); prefix it with ipfix-file:, pcap: or json:"
        )

    def open_input(self, raw: str, config: Mapping[str, Any], ctx: Context) -> Source:
        """Open ``raw`` with the input plugin that claims it, with its merged config
        (for verbs that read one input without a pipeline, e.g. ``flowcep dump``)."""
        address = parse_address(raw)
        spec = self.resolve_input(address)
        if address.scheme == "file" and spec.schemes:
            address = Address(raw=address.raw, scheme=spec.schemes[0], path=address.path,
                              params=address.params)
        section = (config.get("inputs") or {}).get(spec.name)
        merged = merge_config(spec.defaults, section)
        return spec.open(address, merged, ctx)

    # -- outputs ------------------------------------------------------------------------------
    def resolve_output(self, raw: str) -> tuple[OutputSpec, str | None]:
        scheme, _, target = raw.partition(":")
        for spec in self.outputs.values():
            if scheme in spec.schemes:
                return spec, (target or None)
        known = sorted({s for spec in self.outputs.values() for s in spec.schemes})
        raise ConfigError(f"output {raw!r}: unknown kind {scheme!r}; known: {', '.join(known)}")

    def component_config(self, kind: str, name: str, config: Mapping[str, Any]) -> dict[str, Any]:
        spec = getattr(self, kind)[name]
        return merge_config(spec.defaults, (config.get(kind) or {}).get(name))

    def describe(self) -> dict[str, list[dict[str, Any]]]:
        """Every component with its summary and provider, for listings and docs."""
        out: dict[str, list[dict[str, Any]]] = {}
        for kind in KINDS:
            rows = []
            for name, spec in sorted(getattr(self, kind).items()):
                plugin = self.provider.get((kind, name), "?")
                rows.append({"name": name, "summary": spec.summary, "plugin": plugin,
                             "distribution": self._dist(plugin),
                             "defaults": dict(spec.defaults)})
            out[kind] = rows
        return out


Factory = Callable[..., Any]
