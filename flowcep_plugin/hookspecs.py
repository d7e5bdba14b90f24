"""Every hook FlowCEP calls, in the order a run meets them.

Policy (see docs/plugins.md):

* Hooks run at startup, once per batch, or at shutdown: never once per record.
* Registration hooks return lists of frozen specs (:mod:`flowcep_plugin.specs`); the host
  builds one registry from all of them and rejects duplicate names naming both plugins.
* ``firstresult`` only where exactly one provider must win (which input opens an address).
* No hook is ``historic``: plugins are all loaded before the first hook is called.
* Every hook is called through pluggy's hook caller, so ``wrapper=True``/``hookwrapper``
  implementations wrap the whole call and ``tryfirst``/``trylast``/``firstresult`` behave as
  pluggy documents. The host guards each plain implementation: one that raises returns
  nothing, is counted against its plugin in the stats, and the others still run (after
  ``[run] max_plugin_failures`` failures the plugin is disabled for the rest of the run).
* Signatures only ever gain arguments; pluggy passes an implementation only the arguments it
  names, so old plugins keep working.

Group names below (bootstrap, input, enrichment, detection, output, lifecycle) are the
section titles of docs/plugins.md, and a test checks that every hook is documented there.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from .context import Context
    from .records import FlowBatch
    from .specs import (
        Address,
        DetectorSpec,
        ElementSpec,
        EnricherSpec,
        Event,
        InputSpec,
        OutputSpec,
    )

PROJECT = "flowcep"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

__all__ = ["hookspec", "hookimpl", "PROJECT"]


# -- bootstrap ------------------------------------------------------------------------------


@hookspec
def flowcep_information_elements() -> list[ElementSpec]:
    """Contribute information elements to the decoder registry.

    Use it for enterprise elements an exporter sends (PEN, id, name, type). Elements from
    the config file (``[elements]``) are added after all plugins, so users can override.

    :return: a list of :class:`~flowcep_plugin.specs.ElementSpec`; all results collected.

    Called once at startup, before any input opens.
    """


@hookspec
def flowcep_config_schema() -> Mapping[str, Any] | None:
    """Contribute JSON Schema properties for a top-level config section of your own.

    Components declare their schema on their spec; this hook is for plugins that need a
    section that is not a component (e.g. shared settings of a plugin family).

    :return: ``{"section-name": {<JSON Schema>}}`` or None; all results merged; a section
        claimed twice (or one the host owns) is an error naming both plugins; an
        implementation that raises stops the run with one line naming its plugin (exit 2).

    Called once at startup, when the registry is built; ``flowcep schema``, ``validate`` and
    ``run`` reuse the result.
    """


# -- input ------------------------------------------------------------------------------------


@hookspec
def flowcep_register_inputs() -> list[InputSpec]:
    """Declare input kinds (address schemes, bare-file sniffing, config schema).

    :return: a list of :class:`~flowcep_plugin.specs.InputSpec`; all results collected.

    Called once at startup and by ``flowcep plugins``.
    """


@hookspec(firstresult=True)
def flowcep_resolve_input(address: Address) -> InputSpec | None:
    """Claim an address no registered scheme matches (e.g. ``kafka://``), or override one.

    :param address: the parsed ``--input`` value.
    :return: the spec that opens it; the first non-None result wins (``firstresult``).
        Return None to let the scheme table and file sniffing decide.

    Called once per ``--input`` at startup, when the plan is resolved (never again when the
    input opens). An implementation that raises is counted; if no other claims the address,
    the run stops with one line naming the plugin.
    """


# -- enrichment ------------------------------------------------------------------------------


@hookspec
def flowcep_register_enrichers() -> list[EnricherSpec]:
    """Declare enrichers. Enabled ones run on every batch, in config order.

    :return: a list of :class:`~flowcep_plugin.specs.EnricherSpec`; all results collected.

    Called once at startup and by ``flowcep plugins``.
    """


@hookspec
def flowcep_enrich_batch(batch: FlowBatch, context: Context) -> None:
    """Add columns to a batch without registering a full enricher.

    :param batch: the records just decoded, before detection; add columns in place with
        ``batch.add_column``; never remove records (drop nothing silently).
    :param context: the run's stats, config and logger.
    :return: ignored.

    Called once per batch, after the registered enrichers; an implementation that raises is
    counted against its plugin and skipped for that batch, and the others still run.
    """


# -- detection ------------------------------------------------------------------------------


@hookspec
def flowcep_register_detectors() -> list[DetectorSpec]:
    """Declare detectors: EPL text or file, or a Python factory, with rules and schema.

    :return: a list of :class:`~flowcep_plugin.specs.DetectorSpec`; all results collected.

    Called once at startup and by ``flowcep plugins``/``validate``.
    """


@hookspec
def flowcep_derived_events(stream: str, rows: list[dict[str, Any]], context: Context) -> None:
    """Observe rows an EPL statement inserted into a stream (``INSERT INTO stream``).

    :param stream: the stream name (``TCPSYNscan``).
    :param rows: the rows produced by one engine step, as dicts keyed by select names.
    :param context: the run's stats, config and logger.
    :return: ignored; to act on rows, build a Python detector.

    Called once per engine step that produced rows for ``stream`` (a batch or a window
    closing), never per row; a raising implementation is counted and the others still run.
    """


# -- output ---------------------------------------------------------------------------------


@hookspec
def flowcep_register_outputs() -> list[OutputSpec]:
    """Declare output kinds (``jsonl:``, ``stdout``, ``elasticsearch:``).

    :return: a list of :class:`~flowcep_plugin.specs.OutputSpec`; all results collected.

    Called once at startup and by ``flowcep plugins``.
    """


@hookspec
def flowcep_alerts(events: list[Event], context: Context) -> None:
    """See every alert/metric event after suppression, before the outputs.

    :param events: ECS documents (``event.kind`` is ``alert`` or ``metric``); treat them as
        read-only: the outputs receive the same objects.
    :param context: the run's stats, config and logger.
    :return: ignored.

    Called once per pipeline step that produced events; a raising implementation is counted
    and the others still run.
    """


# -- lifecycle ------------------------------------------------------------------------------


@hookspec
def flowcep_configure(config: Mapping[str, Any], context: Context) -> None:
    """Read the validated config before anything is built.

    :param config: the whole validated configuration (defaults applied).
    :param context: the run's stats, logger and element registry.
    :return: ignored.

    Called once per run, after validation and before components are constructed (first of
    the lifecycle hooks).
    """


@hookspec
def flowcep_start(context: Context) -> None:
    """The pipeline is built, inputs are open and about to be read.

    :param context: the run's stats, config and logger.
    :return: ignored.

    Called once per run, after ``flowcep_configure``, before the first batch.
    """


@hookspec
def flowcep_flush(context: Context) -> None:
    """Every stage has been drained and flushed (end of input, SIGTERM, or SIGINT).

    :param context: the run's stats, config and logger.
    :return: ignored.

    Called once per run, after the outputs flushed and before they close.
    """


@hookspec
def flowcep_shutdown(context: Context, stats: Mapping[str, Any]) -> None:
    """The run is over; release resources.

    :param context: the run's context.
    :param stats: the final stats snapshot (the same as ``--stats-json`` writes).
    :return: ignored.

    Called once per run, last, in a ``finally``: also when building the pipeline failed (a
    factory raised) or the run was interrupted.
    """
