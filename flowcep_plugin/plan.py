"""Resolve once, then run: config + registry -> a :class:`Plan`.

Before this module a run's configuration travelled back and forth between the pipeline and
the registry, inputs were resolved twice, and ``flowcep validate`` checked a different subset
than ``flowcep run``. Now :func:`resolve` validates the config and resolves every input,
enricher, detector and output exactly once; ``flowcep validate`` builds the plan and checks
what building the components would reject (:meth:`Plan.check`), ``flowcep run`` builds the
same plan and hands it to :class:`~flowcep_plugin.pipeline.Pipeline`, which only runs plans.
So validate rejects exactly what run rejects.

Relative paths in a config file (EPL modules, file inputs, file outputs, ``stats_json`` and
any component setting whose schema says ``"x-kind": "path"``) resolve against the folder of
that file; paths given on the command line resolve against the working directory.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from .addresses import parse_address
from .clock import default_lateness_s
from .config import HOST_DEFAULTS, compose_schema, parse_duration, validate_config
from .context import Context
from .errors import ConfigError, FlowcepError, InputError, PluginError
from .registry import Registry, merge_config
from .specs import Address, DetectorSpec, EnricherSpec, InputSpec, OutputSpec, RuleSpec

if TYPE_CHECKING:  # protocols, only in annotations
    from .specs import Detector, Enricher, Event, Output, Source

__all__ = ["Plan", "InputPlan", "ComponentPlan", "OutputPlan", "resolve", "build_config",
           "build_detector", "epl_module_spec", "resolve_paths"]

T = TypeVar("T")
#: called with the stream name, the rows an EPL statement inserted (``INSERT INTO``) and each
#: row's event time (ms)
DerivedSink = Callable[[str, list[dict[str, Any]], list[int]], None]

#: ``[run]`` keys whose explicit empty list means "none" (for inputs/outputs it means "not
#: given on the command line", so the file's list stands)
_EMPTY_MEANS_NONE = ("detectors", "enrichers")


@dataclass(frozen=True)
class InputPlan:
    """One ``--input``: its address (scheme settled by sniffing), the spec that opens it, the
    plugin that provides it and its merged config."""

    raw: str
    address: Address
    spec: InputSpec
    plugin: str
    config: Mapping[str, Any]

    @property
    def live(self) -> bool:
        return self.spec.live


@dataclass(frozen=True)
class ComponentPlan:
    """An enricher or detector: its spec, provider and config (validated, defaults merged)."""

    name: str
    plugin: str
    spec: Any  # EnricherSpec | DetectorSpec
    config: Mapping[str, Any]


@dataclass(frozen=True)
class OutputPlan:
    """One ``--output``: the spec that handles its kind and the target after the colon."""

    raw: str
    spec: OutputSpec
    target: str | None
    plugin: str
    config: Mapping[str, Any]


@dataclass(frozen=True)
class Plan:
    """Everything a run needs, resolved and validated; building it has no side effects."""

    registry: Registry
    config: Mapping[str, Any]
    inputs: tuple[InputPlan, ...]
    enrichers: tuple[ComponentPlan, ...]
    detectors: tuple[ComponentPlan, ...]
    outputs: tuple[OutputPlan, ...]
    lateness_ms: int
    filename: str = "<command line>"
    notes: tuple[str, ...] = field(default=())

    @property
    def live(self) -> bool:
        return any(i.live for i in self.inputs)

    # -- construction (each component built by the one function the host and tests share) ----
    def build_enrichers(self, ctx: Context) -> list[tuple[ComponentPlan, Enricher]]:
        out: list[tuple[ComponentPlan, Enricher]] = []
        for c in self.enrichers:
            factory: Callable[..., Enricher] = c.spec.factory
            out.append((c, _construct("enricher", c.name, c.plugin, partial(factory, c.config, ctx))))
        return out

    def build_detectors(self, ctx: Context, on_derived: DerivedSink | None = None
                        ) -> list[tuple[ComponentPlan, Detector]]:
        return [(c, build_detector(c.spec, c.config, ctx, on_derived, plugin=c.plugin))
                for c in self.detectors]

    def build_outputs(self, ctx: Context) -> list[tuple[OutputPlan, Output]]:
        return [(o, _construct("output", o.raw, o.plugin, partial(o.spec.factory, o.target, o.config, ctx)))
                for o in self.outputs]

    def open_inputs(self, ctx: Context) -> list[tuple[InputPlan, Source]]:
        opened: list[tuple[InputPlan, Source]] = []
        try:
            for i in self.inputs:
                opened.append((i, _construct("input", i.raw, i.plugin,
                                             partial(i.spec.open, i.address, i.config, ctx))))
        except BaseException:
            for _, src in opened:
                try:
                    src.close()
                except Exception:  # noqa: S110 - already failing; the first error is the one to show
                    pass
            raise
        return opened

    def check(self, ctx: Context | None = None) -> int:
        """Build every enricher and detector (then close the enrichers) without opening inputs
        or outputs: what validate needs to reject a bad CIDR or EPL module exactly as run
        would. Returns the number of EPL modules compiled."""
        ctx = ctx or Context(config=self.config)
        for _, enricher in self.build_enrichers(ctx):
            close = getattr(enricher, "close", None)
            if close is not None:
                close()
        self.build_detectors(ctx)
        return sum(1 for d in self.detectors if d.spec.epl is not None or d.spec.epl_path is not None)


def _construct(kind: str, name: str, plugin: str, build: Callable[[], T]) -> T:
    """Call a plugin's factory; what it raises becomes one line naming the plugin (exit 2)."""
    try:
        return build()
    except FlowcepError as exc:
        if repr(name) not in str(exc):  # say whose settings were wrong, once
            exc.args = (f"{kind} {name!r} (plugin {plugin!r}): {exc}", *exc.args[1:])
        raise
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [""])[0]
        raise PluginError(f"{kind} {name!r} (plugin {plugin!r}) failed to start: "
                          f"{type(exc).__name__}: {first}; fix its settings or disable the plugin "
                          f"(FLOWCEP_DISABLE_PLUGINS={plugin})") from exc


class _EPLWithFactory:
    """EPL plus a Python factory: both see the same batches (EPL first) and their events
    are concatenated; the factory's object receives derived rows if it has ``on_derived``."""

    def __init__(self, epl: Detector, extra: Detector) -> None:
        self.epl = epl
        self.extra = extra

    @property
    def streams(self) -> frozenset[str]:
        """Every stream either part reads (``Alert``/``Metric`` beside flows)."""
        return frozenset(getattr(self.epl, "streams", ())) | frozenset(getattr(self.extra, "streams", ()))

    def on_batch(self, batch: Any) -> list[Event]:
        out: list[Event] = []
        for part in (self.epl, self.extra):  # each gets flows, and the other streams it reads
            if batch.stream == "Flow" or batch.stream in getattr(part, "streams", ()):
                out.extend(part.on_batch(batch) or [])
        return out

    def on_options(self, batch: Any) -> list[Event]:
        out: list[Event] = []
        for part in (self.epl, self.extra):
            on_options = getattr(part, "on_options", None)
            if on_options is not None:
                out.extend(on_options(batch) or [])
        return out

    def on_watermark(self, watermark_ms: int) -> list[Event]:
        return list(self.epl.on_watermark(watermark_ms) or []) + list(self.extra.on_watermark(watermark_ms) or [])

    def flush(self) -> list[Event]:
        return list(self.epl.flush() or []) + list(self.extra.flush() or [])


def build_detector(spec: DetectorSpec, config: Mapping[str, Any], ctx: Context,
                   on_derived: DerivedSink | None = None, plugin: str = "?") -> Detector:
    """The one way a detector is built, by the host and by :mod:`flowcep_plugin.testing`.

    EPL (text or file) compiles into an EPL detector; a factory is called as
    ``factory(config, ctx)``; with both, they run side by side (see ``DetectorSpec``).
    """
    has_epl = spec.epl is not None or spec.epl_path is not None
    if not has_epl and spec.factory is None:
        raise PluginError(f"detector {spec.name!r} (plugin {plugin!r}) has neither EPL nor a "
                          "factory; fix its plugin")
    epl: Detector | None = None
    extra: Detector | None = None
    if has_epl:
        from .engine.detector import EPLDetector

        def sink(stream: str, rows: list[dict[str, Any]], times: list[int]) -> None:
            if on_derived is not None:
                on_derived(stream, rows, times)
            hook = getattr(extra, "on_derived", None)
            if hook is not None:
                hook(stream, rows)

        epl = _construct("detector", spec.name, plugin,
                         lambda: EPLDetector(spec, config, ctx, on_derived=sink))
    if spec.factory is not None:
        factory = spec.factory
        extra = _construct("detector", spec.name, plugin, lambda: factory(config, ctx))
    if epl is not None and extra is not None:
        return _EPLWithFactory(epl, extra)
    result = epl if epl is not None else extra
    assert result is not None
    return result


# -- config -------------------------------------------------------------------------------------


def build_config(registry: Registry, file_config: Mapping[str, Any] | None = None,
                 overrides: Mapping[str, Any] | None = None, filename: str = "<config>") -> dict[str, Any]:
    """Validate the file, overlay command-line overrides on ``[run]``, fill host defaults."""
    schema = compose_schema(registry)
    cfg = dict(file_config or {})
    validate_config(cfg, schema, filename)
    run = dict(cfg.get("run") or {})
    for k, v in (overrides or {}).items():
        if v is None or ((v == [] or v == ()) and k not in _EMPTY_MEANS_NONE):
            continue
        run[k] = list(v) if isinstance(v, tuple) else v
    cfg["run"] = run
    validate_config(cfg, schema, "command line")
    for section, defaults in HOST_DEFAULTS.items():
        cfg[section] = merge_config(defaults, cfg.get(section))
    return cfg


def _absolute(path: str, base: str) -> str:
    if not path or path == "-" or os.path.isabs(path):
        return path
    return os.path.normpath(os.path.join(base, os.path.expanduser(path)))


def _rebase_address(raw: str, base: str, registry: Registry, kind: str) -> str:
    """``raw`` with its file path made absolute against ``base`` (other addresses unchanged)."""
    if kind == "input":
        address = parse_address(raw)
        if address.path is None or address.host is not None:
            return raw
        spec = None if address.scheme == "file" else next(
            (s for s in registry.inputs.values() if address.scheme in s.schemes), None)
        if address.scheme != "file" and (spec is None or not (spec.reads_file or spec.sniff)):
            return raw  # unknown schemes fail later with their own message; iface:NAME is a name
        prefix = "" if address.scheme == "file" else raw[:raw.index(":") + 1]
        rest = raw[len(prefix):]
        path, sep, query = rest.partition("?")
        return prefix + _absolute(path, base) + sep + query
    scheme, colon, target = raw.partition(":")
    out = next((s for s in registry.outputs.values() if scheme in s.schemes), None)
    if colon and target and out is not None and out.target_is_path:
        return f"{scheme}:{_absolute(target, base)}"
    return raw


def _rebase_section(section: Mapping[str, Any], schema: Mapping[str, Any], base: str) -> dict[str, Any]:
    props = schema.get("properties") or {}
    out = dict(section)
    for key, value in section.items():
        sub = props.get(key) or {}
        if sub.get("x-kind") == "path" and isinstance(value, str):
            out[key] = _absolute(value, base)
        elif sub.get("x-kind") == "path" and isinstance(value, list):
            out[key] = [_absolute(v, base) if isinstance(v, str) else v for v in value]
        elif isinstance(value, Mapping) and sub.get("type") == "object":
            items = sub.get("additionalProperties")
            if isinstance(items, Mapping) and items.get("x-kind") == "path":
                out[key] = {k: _absolute(v, base) if isinstance(v, str) else v for k, v in value.items()}
            else:
                out[key] = _rebase_section(value, sub, base)
    return out


def resolve_paths(file_config: Mapping[str, Any], base_dir: str, registry: Registry) -> dict[str, Any]:
    """The file's config with its relative paths made absolute against ``base_dir``."""
    cfg = dict(file_config)
    run = dict(cfg.get("run") or {})
    if isinstance(run.get("inputs"), list):
        run["inputs"] = [_rebase_address(r, base_dir, registry, "input") if isinstance(r, str) else r
                         for r in run["inputs"]]
    if isinstance(run.get("outputs"), list):
        run["outputs"] = [_rebase_address(r, base_dir, registry, "output") if isinstance(r, str) else r
                          for r in run["outputs"]]
    if isinstance(run.get("stats_json"), str):
        run["stats_json"] = _absolute(run["stats_json"], base_dir)
    if "run" in cfg:
        cfg["run"] = run
    epl = cfg.get("epl")
    if isinstance(epl, Mapping) and isinstance(epl.get("modules"), list):
        cfg["epl"] = dict(epl, modules=[_absolute(m, base_dir) if isinstance(m, str) else m
                                        for m in epl["modules"]])
    for kind in ("inputs", "enrichers", "detectors", "outputs"):
        sections = cfg.get(kind)
        if not isinstance(sections, Mapping):
            continue
        table = getattr(registry, kind)
        cfg[kind] = {name: (_rebase_section(sec, table[name].config_schema or {}, base_dir)
                            if name in table and isinstance(sec, Mapping) else sec)
                     for name, sec in sections.items()}
    return cfg


# -- EPL modules given by path ------------------------------------------------------------------

_ATTACKER_KEYS = ("attacker", "scanner", "source", "src", "srcip", "sourceipv4address",
                  "ipfix.sourceipv4address", "sourceipv6address", "ipfix.sourceipv6address")
_VICTIM_KEYS = ("destination", "victim", "target", "dst", "dstip", "destinationipv4address",
                "ipfix.destinationipv4address", "destinationipv6address")


def epl_module_spec(path: str) -> DetectorSpec:
    """A detector for a user's own EPL file: its output statements (no INSERT INTO, plus the
    last one) become alerts named after the file and statement, with whatever metadata the
    statements' annotations give (``@Summary``, ``@Severity``, ``@Technique``...)."""
    from .engine import compile_module
    from .engine.detector import rule_metadata, statement_annotations

    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        raise InputError(f"EPL module {path}: cannot read: {exc.strerror}; check the path "
                         "(relative paths in a config file resolve against its folder)") from None
    module = compile_module(text, path)
    annotations = statement_annotations(text, path)
    stem = os.path.splitext(os.path.basename(path))[0]
    stmts = list(module.statements)
    outputs = [s for s in stmts if s.insert_into is None]
    if stmts and stmts[-1] not in outputs:
        outputs.append(stmts[-1])
    rules = []
    for st in outputs:
        names = list(st.select_names)
        lower = {n.lower(): n for n in names}
        src = next((lower[k] for k in _ATTACKER_KEYS if k in lower), None)
        dst = next((lower[k] for k in _VICTIM_KEYS if k in lower), None)
        counts = tuple(n for n in names if "count" in n.lower())
        base = RuleSpec(id=f"{stem}.{st.name}", name=f"{stem} {st.name}",
                        description=f"output of statement {st.name} in {os.path.basename(path)}",
                        statement=st.name, source_field=src, destination_field=dst,
                        count_fields=counts, summary="")
        rules.append(rule_metadata(base, annotations.get(st.name, ()), path, override=True))
    return DetectorSpec(name=f"epl:{stem}", summary=f"EPL module {path}", epl=text,
                        epl_path=None, rules=tuple(rules))


# -- resolve ------------------------------------------------------------------------------------


def resolve(registry: Registry, file_config: Mapping[str, Any] | None = None,
            overrides: Mapping[str, Any] | None = None, *, filename: str = "<command line>",
            base_dir: str | None = None, epl_modules: Sequence[str] = (),
            require_inputs: bool = True) -> Plan:
    """Validate the config and resolve every component once.

    ``base_dir`` is the folder relative paths in ``file_config`` are relative to (the config
    file's folder; None leaves them as given). ``overrides`` are command-line values for
    ``[run]``; ``epl_modules`` are extra EPL files from the command line.
    """
    cfg_in = dict(file_config or {})
    if base_dir is not None:
        cfg_in = resolve_paths(cfg_in, base_dir, registry)
    cfg = build_config(registry, cfg_in, overrides, filename)
    if epl_modules:
        cfg["epl"] = dict(cfg.get("epl") or {})
        cfg["epl"]["modules"] = list(cfg["epl"].get("modules", [])) + list(epl_modules)
    run = cfg["run"]

    # names and kinds first (cheap, config-only errors), then inputs (they look at files)
    enr_names = run.get("enrichers")
    if enr_names is None:
        enr_names = [n for n, s in sorted(registry.enrichers.items()) if s.enabled_by_default]
    enrichers = [_component(registry, "enrichers", n, cfg) for n in enr_names]

    det_names = run.get("detectors")
    detectors = [_component(registry, "detectors", n, cfg)
                 for n in (sorted(registry.detectors) if det_names is None else det_names)]
    for path in (cfg.get("epl") or {}).get("modules", []):
        module_spec = epl_module_spec(path)
        detectors.append(ComponentPlan(module_spec.name, "epl-module", module_spec, {}))

    outputs = []
    for raw in run.get("outputs") or []:
        ospec, target = registry.resolve_output(raw)
        outputs.append(OutputPlan(raw, ospec, target, registry.provider[("outputs", ospec.name)],
                                  registry.component_config("outputs", ospec.name, cfg)))

    inputs: list[InputPlan] = []
    for raw in run.get("inputs") or []:
        address = parse_address(raw)
        spec = registry.resolve_input(address)
        if address.scheme == "file" and spec.schemes:
            address = Address(raw=address.raw, scheme=spec.schemes[0], path=address.path,
                              params=address.params)
        plugin = registry.provider.get(("inputs", spec.name), "(flowcep_resolve_input)")
        section = (cfg.get("inputs") or {}).get(spec.name)
        inputs.append(InputPlan(raw, address, spec, plugin, merge_config(spec.defaults, section)))
    if require_inputs and not inputs:
        raise ConfigError("no input given: use --input ADDRESS or [run] inputs = [...] in the config")

    lateness = run.get("lateness")
    live = any(i.live for i in inputs)
    lateness_ms = int((parse_duration(lateness) if lateness is not None
                       else default_lateness_s(live)) * 1000)
    return Plan(registry=registry, config=cfg, inputs=tuple(inputs), enrichers=tuple(enrichers),
                detectors=tuple(detectors), outputs=tuple(outputs), lateness_ms=lateness_ms,
                filename=filename)


def _component(registry: Registry, kind: str, name: str, cfg: Mapping[str, Any]) -> ComponentPlan:
    table: Mapping[str, EnricherSpec | DetectorSpec] = getattr(registry, kind)
    spec = table.get(name)
    if spec is None:
        raise ConfigError(f"unknown {kind[:-1]} {name!r}; installed: {', '.join(sorted(table)) or 'none'}")
    return ComponentPlan(name, registry.provider[(kind, name)], spec,
                         registry.component_config(kind, name, cfg))
