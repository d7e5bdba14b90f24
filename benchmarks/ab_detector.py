"""One shipped detector inside the default ``flowcep run``, this tree's plugin against a base
tree's, alternating, in CPU seconds, with the alerts files compared; or its profile.

The generalisation of ``ab_portscan.py`` to the Python detectors issue 19 names (portscan,
volumetric, bruteforce, trafficstats). The input is data.ipfix x ``--copies``, time-shifted
(``bench_engine.build``), written once. Each run is a child process running every detector
(so the columns the detectors share are built by whichever reads them first, as in a user's
run): ``flowcep_plugin`` and the other detectors come from this tree, the measured detector's
package from the tree given (checked with its ``__file__``), and the thread CPU time of its
``on_batch``, ``on_watermark`` and ``flush`` is summed. Per round the ratio new/base of that
time and of the whole process's CPU time (below 1: this tree is cheaper); the median over
rounds is what to quote. The alerts files must be byte-identical, or the run stops. ``all``
swaps the four plugins at once and sums their hooks' times: the detectors share per-batch
conversions (``FlowBatch.derived``), so a change that moves a conversion from one detector to
another shows in this sum and in the whole run, not in one detector's figure.

``--mixed`` instead loads both versions of the detector into one process and runs each on
fresh copies of ``bench_detectors.py``'s batches (the mixed scenario), thread CPU time of the
detector alone, alternating, the events compared. ``--profile`` instead runs this tree once
with cProfile switched on inside the detector's hooks only and prints its top functions by
own time.

Usage: .venv/bin/python benchmarks/ab_detector.py DETECTOR BASE_ROOT [--rounds 3] [--copies 50]
       .venv/bin/python benchmarks/ab_detector.py DETECTOR BASE_ROOT --mixed [--rounds 3]
       .venv/bin/python benchmarks/ab_detector.py DETECTOR --profile [--copies 50]
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import importlib.util
import json
import pickle
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ab_engine import child_json

ROOT = Path(__file__).resolve().parents[1]

#: detector name -> (package folder, module, class)
DETECTORS = {
    "portscan": ("flowcep-portscan", "flowcep_portscan", "PortScanDetector"),
    "volumetric": ("flowcep-volumetric", "flowcep_volumetric", "VolumetricDetector"),
    "bruteforce": ("flowcep-bruteforce", "flowcep_bruteforce", "BruteForceDetector"),
    "trafficstats": ("flowcep-trafficstats", "flowcep_trafficstats", "TrafficStats"),
}

CHILD = r"""
import cProfile, importlib, io, json, pstats, sys, time
from pathlib import Path
plugin_root, which, data, alerts, profile = sys.argv[1:6]
spent = [0.0]
prof = cProfile.Profile() if profile == "1" else None
for folder, module, cls in json.loads(which):
  sys.path.insert(0, plugin_root + "/plugins/" + folder)
  mod = importlib.import_module(module)
  if not Path(mod.__file__).resolve().is_relative_to(Path(plugin_root).resolve()):
    raise SystemExit(f"{module} came from {mod.__file__}, not from {plugin_root}")
  det = getattr(mod, cls)
  for name in ("on_batch", "on_watermark", "flush"):
    def wrap(orig):
        def timed(*a, **k):
            t = time.thread_time()
            if prof is not None:
                prof.enable()
            try:
                return orig(*a, **k)
            finally:
                if prof is not None:
                    prof.disable()
                spent[0] += time.thread_time() - t
        return timed
    setattr(det, name, wrap(getattr(det, name)))
from flowcep_plugin.cli import main
t0 = time.process_time()
code = main(["run", "-i", "ipfix-file:" + data, "-o", "jsonl:" + alerts, "--no-progress", "-q"])
total = time.process_time() - t0
if prof is not None:
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(25)
    Path(alerts + ".profile.txt").write_text(buf.getvalue())
print(json.dumps({"detector": spent[0], "total": total, "code": code}))
"""


def load_plugin(root: Path, detector: str, tag: str) -> Any:
    """The detector's package of tree ``root`` as module ``tag_<module>`` (two trees' versions
    side by side in one process)."""
    folder, module, _cls = DETECTORS[detector]
    where = root / "plugins" / folder / module
    spec = importlib.util.spec_from_file_location(f"{tag}_{module}", where / "__init__.py",
                                                  submodule_search_locations=[str(where)])
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def mixed(detector: str, base_root: Path, new_root: Path, rounds: int) -> int:
    """Both versions on ``bench_detectors.py``'s batches (the mixed scenario, 186,654 records),
    in this process, thread CPU time, alternating; each run unpickles fresh batches, so no
    column converted by the other version is cached on them; the events must be equal."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_detectors import batches

    from flowcep_plugin.context import Context
    from flowcep_plugin.testing import build_detector

    blob = pickle.dumps(batches(200_000))
    versions = {"base": load_plugin(base_root, detector, "base"), "new": load_plugin(new_root, detector, "new")}

    def run(mod: Any) -> tuple[float, list[Any]]:
        todo = pickle.loads(blob)
        det = build_detector(mod.SPEC, None, Context())
        out: list[Any] = []
        gc.collect()  # the other run's garbage is not collected on this one's time
        t = time.thread_time()
        for b in todo:
            out += det.on_batch(b)
            if len(b):
                out += det.on_watermark(max(b.event_times()))
        out += det.flush()
        return time.thread_time() - t, out

    ratios = []
    for i in range(rounds):
        order = ["base", "new"] if i % 2 == 0 else ["new", "base"]
        got = {label: run(versions[label]) for label in order}
        if got["new"][1] != got["base"][1]:
            print(f"round {i + 1}: the events differ", file=sys.stderr)
            return 1
        ratios.append(got["new"][0] / got["base"][0])
        print(f"round {i + 1}: {detector} {got['new'][0]:.3f} s CPU, base {got['base'][0]:.3f}; "
              f"{len(got['new'][1])} events", flush=True)
    print(f"{detector} new/base median {statistics.median(ratios):.3f}  ("
          + ", ".join(f"{x:.3f}" for x in ratios) + ")")
    return 0


def write_input(copies: int, path: Path) -> None:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_engine import build

    msgs, _ = build(copies)
    with open(path, "wb") as fh:
        for m in msgs:
            fh.write(m)


def run(detector: str, plugin_root: Path, data: Path, alerts: Path, profile: bool = False) -> tuple[dict[str, float], str]:
    alerts.unlink(missing_ok=True)  # the jsonl output appends to an existing file
    which = list(DETECTORS.values()) if detector == "all" else [DETECTORS[detector]]
    got = child_json(CHILD, plugin_root, json.dumps(which), data, alerts, int(profile))
    if got["code"]:
        raise SystemExit(f"flowcep run with the {detector} plugin of {plugin_root} exited {got['code']}")
    return got, hashlib.md5(alerts.read_bytes()).hexdigest()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("detector", choices=[*sorted(DETECTORS), "all"],
                    help="the detector measured, or all four at once (their hooks' times summed)")
    ap.add_argument("base", type=Path, nargs="?", help="root of the tree whose plugin is the baseline")
    ap.add_argument("--new", type=Path, default=ROOT, help="root of the tree measured (default: this one)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--copies", type=int, default=50)
    ap.add_argument("--profile", action="store_true", help="profile the detector's hooks in --new once")
    ap.add_argument("--mixed", action="store_true",
                    help="instead of flowcep run: both versions on bench_detectors.py's mixed batches, in one process")
    args = ap.parse_args()
    if args.base is None and not args.profile:
        ap.error("a BASE_ROOT, or --profile")
    if args.mixed:
        if args.detector == "all":
            ap.error("--mixed measures one detector")
        return mixed(args.detector, args.base, args.new, args.rounds)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        data = folder / f"data-x{args.copies}.ipfix"
        write_input(args.copies, data)
        if args.profile:
            got, md5 = run(args.detector, args.new, data, folder / "new.jsonl", profile=True)
            print((folder / "new.jsonl.profile.txt").read_text())
            print(f"{args.detector} {got['detector']:.3f} s CPU of {got['total']:.2f}; alerts md5 {md5}")
            return 0
        ratios: dict[str, list[float]] = {"detector": [], "total": []}
        for i in range(args.rounds):
            # alternate which tree runs first, so a drift in the machine's load favours neither
            order = [("base", args.base), ("new", args.new)]
            if i % 2:
                order.reverse()
            got: dict[str, tuple[dict[str, float], str]] = {
                label: run(args.detector, root, data, folder / f"{label}.jsonl") for label, root in order}
            (base, base_md5), (new, new_md5) = got["base"], got["new"]
            if new_md5 != base_md5:
                print(f"round {i + 1}: the alerts differ (md5 {new_md5} here, {base_md5} base)", file=sys.stderr)
                return 1
            for k in ratios:
                ratios[k].append(new[k] / base[k])
            print(f"round {i + 1}: {args.detector} {new['detector']:.3f} s CPU, base {base['detector']:.3f}; "
                  f"whole run {new['total']:.2f}, base {base['total']:.2f}; alerts md5 {new_md5}", flush=True)
    for k, rs in ratios.items():
        print(f"{k} new/base median {statistics.median(rs):.3f}  (" + ", ".join(f"{x:.3f}" for x in rs) + ")")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
