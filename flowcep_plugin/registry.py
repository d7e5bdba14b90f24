"""The component registry: every spec the plugins registered, by kind and name.

Registration hooks are called one implementation at a time, so a plugin that raises while
registering is reported (and skipped unless strict) without hiding the others' components.
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
    pm: FlowcepPluginManager
    inputs: dict[str, InputSpec] = field(default_factory=dict)
    enrichers: dict[str, EnricherSpec] = field(default_factory=dict)
    detectors: dict[str, DetectorSpec] = field(default_factory=dict)
    outputs: dict[str, OutputSpec] = field(default_factory=dict)
    provider: dict[tuple[str, str], str] = field(default_factory=dict)  # (kind, name) -> plugin
    element_specs: list[ElementSpec] = field(default_factory=list)

    @classmethod
    def build(cls, pm: FlowcepPluginManager, strict: bool = False) -> Registry:
        reg = cls(pm)
        for kind in KINDS:
            hook = getattr(pm.hook, _HOOK_OF_KIND[kind])
            table: dict[str, Any] = getattr(reg, kind)
            for impl in hook.get_hookimpls():  # registration order
                plugin = impl.plugin_name
                try:
                    specs = impl.function() or []
                    for spec in specs:
                        if not isinstance(spec, _SPEC_TYPE[kind]):
                            raise TypeError(f"{_HOOK_OF_KIND[kind]} returned {type(spec).__name__}, "
                                            f"expected {_SPEC_TYPE[kind].__name__}")
                except Exception as exc:
                    reg._fail(plugin, f"{_HOOK_OF_KIND[kind]} raised {type(exc).__name__}: {exc}", strict)
                    continue
                for spec in specs:
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
        for impl in pm.hook.flowcep_information_elements.get_hookimpls():
            try:
                found: Any = impl.function()
                reg.element_specs.extend(found or [])
            except Exception as exc:
                reg._fail(impl.plugin_name, f"flowcep_information_elements raised {exc}", strict)
        return reg

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
        claimed = self.pm.hook.flowcep_resolve_input(address=address)
        if claimed is not None:
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
        """Open ``raw`` with the input plugin that claims it, with its merged config."""
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
