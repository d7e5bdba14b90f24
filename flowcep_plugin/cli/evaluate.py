"""``flowcep evaluate``: run the installed detectors on the standard synthetic scenarios and
print precision and recall per detector and rule against the ground-truth labels; with
``--traces DIR`` score them on labelled real captures instead (``synth/traces.py``)."""

from __future__ import annotations

import argparse
import sys
import tempfile

from ..errors import ConfigError

__all__ = ["add_parser", "run"]


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:

    p = sub.add_parser(
        "evaluate", help="precision/recall of the installed detectors on the synthetic scenarios",
        description="Generate each scenario (IPFIX, in a temporary folder), run the installed detectors "
                    "in-process and match their alerts to the scenario labels by attacker (or victim), "
                    "MITRE technique and time. Prints one row per rule and per detector, then which "
                    "rules found each label. Exit status 1 when a label is missed or an alert is a "
                    "false positive (with --strict). See docs/evaluation.md for the matching rules.",
        epilog="Scenarios: 'flowcep synth --list'. Matching rules: docs/evaluation.md.")
    p.add_argument("--scenario", "-s", action="append", metavar="NAME",
                   help="scenario to evaluate (repeatable; default: all standard scenarios)")
    p.add_argument("--format", "-f", choices=("table", "json", "markdown"), default="table",
                   help="report format (default table)")
    p.add_argument("--seed", type=int, default=1, help="scenario seed (default 1)")
    p.add_argument("--start", default=None,
                   help="scenario start time, ISO 8601 (default 2024-04-12T10:00:00Z); shifting it tests "
                        "that detection does not depend on where window boundaries fall")
    p.add_argument("--detectors", help="comma-separated detectors to run (default: all installed)")
    p.add_argument("--config", "-c", metavar="FILE",
                   help="TOML config merged over the evaluation's own (which only sets the policy "
                        "detector's policy to the scenario organisation's)")
    p.add_argument("--via", choices=("ipfix", "pcap"), default="ipfix",
                   help="feed the detectors IPFIX records (default) or a pcap of real packets metered by "
                        "FlowCEP's flow meter (biflows; light background; about 10 s per scenario)")
    p.add_argument("--keep", metavar="DIR", help="write the scenario files to DIR instead of a temporary folder")
    p.add_argument("--traces", metavar="DIR",
                   help="score real captures instead: every pcap/pcapng in the label file, read from DIR, "
                        "through every installed detector with default settings (or --config)")
    p.add_argument("--labels", metavar="FILE",
                   help="with --traces: JSON list of {file, category (attack|benign|oos), kind, attackers, "
                        "victims} (default DIR/labels.json)")
    p.add_argument("--jobs", "-j", type=int, default=2,
                   help="with --traces: captures run in parallel (default 2)")
    p.add_argument("--strict", action="store_true",
                   help="exit 1 unless every label is detected and no alert is a false positive")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.traces or args.labels:
        return _run_traces(args)
    from ..synth.evaluation import declared_techniques, evaluate, render, run_scenarios
    from ..synth.scenarios import SCENARIOS

    names = args.scenario or list(SCENARIOS)
    for n in names:
        if n not in SCENARIOS:
            raise ConfigError(f"unknown scenario {n!r}; choose from: {', '.join(SCENARIOS)}")
    config = {}
    if args.config:
        from ..config import load_config

        config = load_config(args.config)
    detectors = [d.strip() for d in args.detectors.split(",") if d.strip()] if args.detectors else None
    from .synth import parse_start

    start = parse_start(args.start) if args.start else None
    if args.keep:
        results = run_scenarios(names, args.keep, args.seed, detectors, config, via=args.via, start_ms=start)
    else:
        with tempfile.TemporaryDirectory(prefix="flowcep-eval-") as tmp:
            results = run_scenarios(names, tmp, args.seed, detectors, config, via=args.via, start_ms=start)
    report = evaluate(results, declared_techniques(detectors))
    sys.stdout.write(render(report, args.format))
    if args.strict and (report.labels_detected < len(report.labels) or report.false_positives):
        return 1
    return 0


def _run_traces(args: argparse.Namespace) -> int:
    """Real captures: recall on attacks, alerts on benign captures, false accusations."""
    import os

    from ..synth.traces import evaluate_traces, load_labels, render_traces

    if not args.traces:
        raise ConfigError("--labels needs --traces DIR (the folder holding the captures)")
    if not os.path.isdir(args.traces):
        raise ConfigError(f"--traces {args.traces}: no such folder")
    if args.scenario or args.via != "ipfix" or args.detectors:
        raise ConfigError("--traces runs every installed detector on real captures; "
                          "drop --scenario, --via and --detectors")
    labels = load_labels(args.labels or os.path.join(args.traces, "labels.json"))
    config = {}
    if args.config:
        from ..config import load_config

        config = load_config(args.config)
    report = evaluate_traces(args.traces, labels, config, jobs=max(1, args.jobs))
    sys.stdout.write(render_traces(report, args.format))
    if args.strict and (report.errors or report.benign_alerts or report.false_accusations
                        or (report.recall is not None and report.recall < 0.9)):
        return 1
    return 0
