"""``flowcep run``: inputs through enrichers and detectors to outputs."""

from __future__ import annotations

import argparse
import gc
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from ..context import Context
from ..errors import ConfigError, FlowcepError
from .common import add_plugin_options, handle_signals, load_file_config, load_registry, report_stats

if TYPE_CHECKING:
    from ..plan import Plan

HELP = "run inputs through the enrichers and detectors to the outputs"
DESCRIPTION = """\
Run a pipeline from a config file (-c FILE), from flags alone, or both (flags override the
file). Every installed detector runs when none is named. Stops at the end of file inputs;
live inputs run until SIGINT/SIGTERM, which drain and flush every stage. SIGUSR1 prints the
stats so far; the final stats go to stderr (and to --stats-json FILE).

exit codes: 0 done; 1 an input failed; 2 bad command line, configuration or unreachable
output at start; 3 an output could not write or deliver some alerts or flows (counted in the
stats, dead-lettered by Elasticsearch); 130 interrupted before the pipeline started.

examples:
  flowcep run --input data.ipfix --output stdout --output jsonl:alerts.jsonl
  flowcep run --input ipfix+udp://0.0.0.0:4739 --detector portscan --output stdout
  flowcep run -c flowcep.toml --stats-json stats.json
"""


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("run", help=HELP, description=DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_options(p)
    p.set_defaults(func=run)


def add_run_options(p: argparse.ArgumentParser, inputs_required: bool = False) -> None:
    add_plan_options(p)
    p.add_argument("--flows", action="store_true", default=None,
                   help="also send every enriched flow the event-time clock admits, in event-time order, as "
                        "an ECS document, to the jsonl and elasticsearch outputs (unless their "
                        "flows = false) and to stdout:json with flows = true")
    p.add_argument("--wait", action="store_true", default=None,
                   help="start even when Elasticsearch is unreachable, queueing alerts until it answers "
                        "(default: fail at once with exit code 2)")
    p.add_argument("--workers", type=int, metavar="N",
                   help="run in N processes, each enriching and detecting the flows of the hosts it owns "
                        "(same alerts as 1; not with --flows; [run] workers)")
    p.add_argument("--observer", metavar="NAME",
                   help="this gateway's name: written as observer.name into every alert and metric and "
                        "mixed into flowcep.alert_id, for a level-2 monitor over several gateways "
                        "([run] observer; docs/level2.md)")
    p.add_argument("--stats-json", metavar="FILE", help="write the final stats as JSON to FILE")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.add_argument("--view", action="store_true",
                   help="live terminal view: records/s, drops by reason, alerts as they fire, top "
                        "talkers, traffic categories, watermark lag (plain lines when stdout is "
                        "not a terminal)")
    p.add_argument("-q", "--quiet", action="store_true", help="do not print the stats at the end")
    add_plugin_options(p)


def add_plan_options(p: argparse.ArgumentParser) -> None:
    """What decides the plan: ``flowcep run`` and ``flowcep validate`` take the same."""
    p.add_argument("-c", "--config", metavar="FILE",
                   help="TOML configuration file (relative paths in it resolve against its folder)")
    p.add_argument("-i", "--input", dest="inputs", action="append", metavar="ADDRESS",
                   help="input address (repeatable): ipfix-file:PATH, pcap:PATH, json:PATH, "
                        "ipfix+udp://HOST:PORT, ipfix+tcp://HOST:PORT, netflow+udp://HOST:PORT, "
                        "iface:NAME, pcap+export:PATH, or a bare file path; for run, also "
                        "kafka://HOST:PORT/TOPIC?group=NAME&instance=ID (a worker reading flowcep "
                        "ingest's topic)")
    p.add_argument("-o", "--output", dest="outputs", action="append", metavar="OUTPUT",
                   help="output (repeatable): stdout, stdout:json, jsonl:PATH, elasticsearch:URL")
    p.add_argument("-d", "--detector", dest="detectors", action="append", metavar="NAME",
                   help="detector to run (repeatable; default: every installed detector)")
    p.add_argument("-e", "--enricher", dest="enrichers", action="append", metavar="NAME",
                   help="enricher to run (repeatable; default: those enabled by default)")
    p.add_argument("--no-enrich", action="store_true", help="run no enricher")
    p.add_argument("--epl", dest="epl_modules", action="append", metavar="FILE",
                   help="also run this EPL module as a detector (repeatable)")
    p.add_argument("--lateness", metavar="DURATION",
                   help="allowed lateness of out-of-order flows, e.g. 30s (default: 30s with live "
                        "inputs, 10 min when every input is a file)")


def overrides_from(args: argparse.Namespace) -> dict[str, Any]:
    ov: dict[str, Any] = {
        "inputs": args.inputs, "outputs": args.outputs, "detectors": args.detectors,
        "enrichers": args.enrichers, "lateness": args.lateness, "flows": args.flows,
        "stats_json": args.stats_json, "wait": args.wait, "workers": getattr(args, "workers", None),
        "observer": getattr(args, "observer", None),
    }
    if args.no_progress:
        ov["progress"] = False
    return ov


def plan_from(args: argparse.Namespace, overrides: dict[str, Any] | None = None,
              require_inputs: bool = True) -> Plan:
    """The plan ``flowcep run`` would run with these arguments (``flowcep validate`` builds
    the same one and stops). Paths in the config file resolve against its folder."""
    from ..plan import resolve  # imported when a plan is built: not for --help

    registry = load_registry(args)
    file_cfg, filename = load_file_config(args)
    ov = overrides_from(args)
    ov.update(overrides or {})
    if getattr(args, "no_enrich", False):
        ov["enrichers"] = []
    config_path = getattr(args, "config", None)
    base_dir = os.path.dirname(os.path.abspath(config_path)) if config_path else None
    return resolve(registry, file_cfg, ov, filename=filename, base_dir=base_dir,
                   epl_modules=getattr(args, "epl_modules", None) or (),
                   require_inputs=require_inputs)


#: generation-0 threshold while a pipeline runs (CPython's default is 700)
GC_GEN0 = 20_000


@contextmanager
def _long_run_gc() -> Iterator[None]:
    """Cheaper cyclic garbage collection while the pipeline runs.

    The detectors keep large, long-lived tables (sources, targets, attempt queues) and every
    batch allocates thousands of short-lived objects that reference counting frees; with the
    default thresholds the collector runs every 700 allocations and keeps walking the long-
    lived tables (on data.ipfix x 20, 10 % of the CPU time). Objects made at start-up (modules,
    plugins, compiled EPL) are frozen out of collection and generation 0 is collected every
    GC_GEN0 allocations instead; cycles are still collected. Both settings are restored after.
    """
    old = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(GC_GEN0, old[1], old[2])
    try:
        yield
    finally:
        gc.set_threshold(*old)
        gc.unfreeze()


def execute(args: argparse.Namespace, extra_outputs: list[Any] | None = None,
            overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Build and run a pipeline for a verb; returns the final stats snapshot."""
    kafka = [i for i in (getattr(args, "inputs", None) or []) if i.startswith("kafka:")]
    if kafka:
        return _execute_kafka_worker(args, kafka, extra_outputs)
    from ..pipeline import Pipeline

    plan = plan_from(args, overrides)
    view = getattr(args, "view", False)
    if not plan.outputs and not extra_outputs and not view:
        raise ConfigError("no output given: use --output stdout, --output jsonl:PATH, or [run] outputs")
    ctx = Context(strict=bool(args.strict))
    progress = plan.config["run"].get("progress", True) and sys.stderr.isatty() and not view
    extra = list(extra_outputs or [])
    if view:
        from ..viewers.live import LiveView
        extra.append(LiveView(ctx))
    pipeline = Pipeline(plan, ctx, extra_outputs=extra,
                        progress_stream=sys.stderr if progress else None)
    with handle_signals(pipeline.stop, pipeline.print_stats), _long_run_gc():
        stats = pipeline.run()
    report_stats(stats, plan.config["run"].get("stats_json"), args.quiet, ctx.stats.render())
    return stats


def _execute_kafka_worker(args: argparse.Namespace, kafka: list[str],
                          extra_outputs: list[Any] | None) -> dict[str, Any]:
    """``--input kafka://...?group=``: a detection worker of a consumer group (ingest decoded
    and enriched the flows, so no input is opened and no enricher runs here)."""
    from ..kafka_worker import KafkaWorker

    if len(args.inputs) != 1:
        raise ConfigError("a Kafka worker reads one input: --input kafka://HOST:PORT/TOPIC?group=NAME&instance=ID "
                          "and nothing else")
    if getattr(args, "workers", None) not in (None, 1):
        raise ConfigError("a Kafka worker runs in one process: start more workers in its group instead of --workers")
    plan = plan_from(args, {"inputs": [], "enrichers": []}, require_inputs=False)
    if not plan.outputs and not extra_outputs:
        raise ConfigError("no output given: use --output stdout, --output jsonl:PATH, or [run] outputs")
    ctx = Context(strict=bool(args.strict))
    worker = KafkaWorker(plan, ctx, kafka[0], extra_outputs=extra_outputs or [])
    try:
        with handle_signals(worker.stop, worker.print_stats), _long_run_gc():
            stats = worker.run()
    except FlowcepError as exc:
        # a fatal Kafka error (a fenced member, a lost topic) ends the worker; what it counted
        # until then still goes to --stats-json, with the error, before the one-line error
        ctx.stats.errors.append(str(exc))
        report_stats(ctx.stats.snapshot(), plan.config["run"].get("stats_json"), args.quiet, ctx.stats.render())
        raise
    report_stats(stats, plan.config["run"].get("stats_json"), args.quiet, ctx.stats.render())
    return stats


#: Exit codes of ``flowcep run`` (docs/operations.md explains each).
EXIT_OK, EXIT_INPUT_FAILED, EXIT_USAGE, EXIT_OUTPUT_FAILED = 0, 1, 2, 3


def exit_code(stats: dict[str, Any]) -> int:
    """3 when an output could not deliver something (it outranks 1: data did not arrive),
    1 when an input failed, else 0."""
    if stats.get("output_failures"):
        return EXIT_OUTPUT_FAILED
    return EXIT_INPUT_FAILED if stats["gauges"].get("input_errors") else EXIT_OK


def run(args: argparse.Namespace) -> int:
    return exit_code(execute(args))
