"""A DVS-Gesture-sized spiking CNN compiled for Loihi 2 and run on the emulator.

The network is examples/dvs_cnn.py's (2 x 128 x 128 events -> four convolutions
with IF neurons and sum pooling -> Affine 11 -> LI readout; random weights
scaled so every layer fires about 10 % of the steps).

(a) Compile. ``neurocc compile``'s steps (``compiler/cli/compile.py``: read the
.nir, the pass pipeline normalize -> discretize -> quantize -> partition ->
place-route with default options, the chip's design rules, write the
artifact) run in a child process; the child times each step (each pass
through ``on_pass``) and the parent reads the child's peak RSS with
``resource.getrusage(RUSAGE_CHILDREN)``, so the parent's own memory does not
count (the child reports its own ``RUSAGE_SELF`` peak too, and its RSS after
importing neurocc, the floor any compile pays). "other" is the child's wall
time outside the timed steps (interpreter start and imports). The issue's
goal: under 30 s and under 2 GB peak on 2 cores. A compile that fails
(a user error: the network needs more cores than the target has) is recorded
with the time to the failure, its peak memory and its message; the network is
then also compiled for a Loihi 2 system of ``--system-chips`` chips (a user
TOML written from loihi2.toml with only the chip count and mesh changed), so
that every pass is timed. ``--profile`` adds the child's top functions by
cumulative time (cProfile; slower, so off for the timed figures).

(b) Emulator. ``Emulator(program, loihi2)`` on ``--steps`` steps of random
events (each pixel and polarity on with probability 0.05), at batch 1 and
``--batch``: the first call (trace, compile, run) and the median of the timed
calls after it, as sample-steps per second, and the summation each block got
(``emulator.summation``; "before the scan" where its products are hoisted).
Two programs: the one the quantize pass gives (every convolution one Conv
block, unplaced: what the emulator needs) and, where a compile succeeded, the
partitioned one (its groups cut into core slices). Each layer's spike rate is
printed beside the float reference's on the same events (batch 1), which
shows that activity propagates through the integer program too.

Usage: python bench/dvs_cnn.py [--quick] [--size 128] [--profile]
Writes bench/results/dvs_cnn.json.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from helpers.timing import time_runs  # bench/helpers (this script's folder is on sys.path)

HERE = Path(__file__).resolve().parent
EXAMPLE = HERE.parent / "examples" / "dvs_cnn.py"
RESULTS = HERE / "results" / "dvs_cnn.json"
#: the issue's goal for the full network's compile on 2 cores
GOAL_S, GOAL_MB = 30.0, 2048.0


def example():
    """examples/dvs_cnn.py as a module (examples/ is no package)."""
    spec = importlib.util.spec_from_file_location("dvs_cnn", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def peak_mb(usage: resource.struct_rusage) -> float:
    """ru_maxrss in MiB (Linux reports KiB, macOS bytes)."""
    return usage.ru_maxrss / (1 << 20 if sys.platform == "darwin" else 1 << 10)


# --- (a) the compile, in a child process ---------------------------------------------------


def child_compile(model: Path, target_name: str, out: Path, report: Path, profile: bool) -> int:
    """`neurocc compile MODEL --target TARGET -o OUT`'s steps, each timed; a JSON report.

    Mirrors ``compiler/cli/compile.py``'s ``run_compile`` with default options (no
    calibration, no tuning), calling the same functions in the same order.
    """
    from neurocc import ir
    from neurocc.compiler.api.artifact import resolve_target, write_artifact
    from neurocc.compiler.passes.quantize import QuantizeOptions
    from neurocc.compiler.pipeline import compile_graph, default_pipeline

    rec: dict = {"target": target_name, "steps": [], "passes": [],
                 "rss_after_import_mb": peak_mb(resource.getrusage(resource.RUSAGE_SELF))}
    t_start = time.perf_counter()

    def step(name: str, fn):
        t0 = time.perf_counter()
        try:
            return fn()
        except ir.NeuroccError:
            rec["failed_in"] = name
            raise
        finally:   # a failed step is timed too, up to its failure
            rec["steps"].append({"name": name, "seconds": time.perf_counter() - t0})

    def on_pass(name: str, value, seconds: float) -> None:
        rec["passes"].append({"name": name, "seconds": seconds,
                              "rss_mb": peak_mb(resource.getrusage(resource.RUSAGE_SELF))})

    prof = None
    if profile:
        import cProfile

        prof = cProfile.Profile()
        prof.enable()
    try:
        source_hash = step("hash", lambda: ir.file_hash(model))
        graph = step("load", lambda: ir.load(model))
        target = step("target", lambda: resolve_target(target_name))
        dt = float(graph.metadata["dt"])
        program = step("pipeline", lambda: compile_graph(graph, target, dt, QuantizeOptions(),
                                                          source_hash=source_hash,
                                                          on_pass=on_pass))
        step("design rules", lambda: target.validate(program))
        step("write artifact", lambda: write_artifact(program, model, out, target))
        rec["ok"] = True
        rec["blocks"] = [{"name": b.name, "encoding": b.weights.kind,
                          "shape": list(b.weights.shape), "weight_exp": int(b.weight_exp)}
                         for b in program.synapses]
        rec["groups"] = len(program.groups)
        res = program.info.get("resources") or {}
        rec["resources"] = {k: res[k] for k in ("cores_used", "chips_used", "strategy") if k in res}
        rec["layers"] = {name: {k: layer[k] for k in ("neurons", "slices", "slice_size", "binding")}
                         for name, layer in res.get("layers", {}).items()}
    except ir.NeuroccError as e:
        passes_done = [p["name"] for p in rec["passes"]]
        if rec["failed_in"] == "pipeline":   # the pass that failed: the one after those done
            names = [p.name for p in default_pipeline(target, dt)]
            spent = rec["steps"][-1]["seconds"] - sum(p["seconds"] for p in rec["passes"])
            rec["passes"].append({"name": names[len(passes_done)], "seconds": spent,
                                  "rss_mb": peak_mb(resource.getrusage(resource.RUSAGE_SELF)),
                                  "failed": True})
        rec |= {"ok": False, "error_type": type(e).__name__, "error": str(e),
                "seconds_to_failure": time.perf_counter() - t_start,
                "passes_done": passes_done}
    if prof is not None:
        import pstats

        prof.disable()
        stats = pstats.Stats(prof)
        top = sorted(stats.stats.items(), key=lambda kv: -kv[1][3])
        rec["profile"] = [{"function": f"{Path(f).name}:{line}({fn})", "cumulative_s": round(ct, 2),
                           "own_s": round(tt, 2), "calls": int(nc)}
                          for (f, line, fn), (_, nc, tt, ct, _) in top
                          if "neurocc" in f or str(HERE.parent) in f][:25]
    rec["seconds"] = time.perf_counter() - t_start
    rec["peak_rss_self_mb"] = peak_mb(resource.getrusage(resource.RUSAGE_SELF))
    report.write_text(json.dumps(rec, indent=2))
    return 0 if rec["ok"] else 3


def system_toml(chips: int, out: Path) -> Path:
    """loihi2.toml with only its name, chip count and chip mesh changed (a Loihi 2 system
    as a user-described target, as REFERENCE.md suggests for Kapoho Point and Hala Point)."""
    from neurocc.backends import loihi2

    text = (Path(loihi2.__file__).parent / "loihi2.toml").read_text()
    rows = 1 << (max(chips - 1, 1).bit_length() // 2)
    cols = -(-chips // rows)
    for pattern, new in ((r'(?m)^name = "loihi2"$', f'name = "loihi2_x{rows * cols}"'),
                         (r"(?m)^max_chips = \d+", f"max_chips = {rows * cols}"),
                         (r"(?m)^chip_mesh = \[\d+, \d+\]", f"chip_mesh = [{rows}, {cols}]")):
        text, n = re.subn(pattern, new, text)
        if n != 1:
            raise SystemExit(f"loihi2.toml changed: no single line matches {pattern!r}; update "
                             "bench/dvs_cnn.py's system_toml")
    out.write_text(text)
    return out


def run_compile(model: Path, target: str, artifact: Path, profile: bool, timeout: float) -> dict:
    """The child compile; its report plus the parent's view (wall time, peak RSS)."""
    report = artifact.with_suffix(".json")
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child-compile", str(model), target,
           str(artifact), str(report)] + (["--profile"] if profile else [])
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"target": target, "ok": False, "failed_in": "timeout",
                "error": f"no result within {timeout:.0f} s", "wall_s": timeout}
    wall = time.perf_counter() - t0
    if not report.exists():
        return {"target": target, "ok": False, "failed_in": "crash", "wall_s": wall,
                "error": proc.stderr[-4000:]}
    rec = json.loads(report.read_text())
    rec["wall_s"] = wall
    # the largest peak of any child waited for so far; the compile children run first
    rec["peak_rss_children_mb"] = peak_mb(resource.getrusage(resource.RUSAGE_CHILDREN))
    rec["other_s"] = wall - sum(s["seconds"] for s in rec["steps"])
    return rec


# --- (b) the emulator -------------------------------------------------------------------


def layer_rates(spikes: dict, sizes: dict) -> dict[str, float]:
    """Spikes per neuron and step of each layer (a partitioned layer's slices 'if2@3' summed)."""
    total: dict[str, list[float]] = {}
    for g, s in spikes.items():
        layer = g.split("@")[0]
        t = total.setdefault(layer, [0.0, 0.0])
        t[0] += float(s.sum())
        t[1] += s.shape[0] * s.shape[1] * sizes[g]
    return {k: v[0] / v[1] for k, v in total.items()}


def time_emulator(program, target, x, repeats: int) -> dict:
    from neurocc.simulators.emulator import Emulator

    emu = Emulator(program, target)
    first, times, result = time_runs(emu, x, repeats)
    med = statistics.median(times) if times else first
    steps, batch = x.shape[:2]
    hoisted = getattr(emu, "hoisted", ())
    return {"steps": steps, "batch": batch, "first_call_s": first, "run_s": med,
            "runs_s": times, "sample_steps_per_s": steps * batch / med,
            "summation": {n: m + (" before the scan" if n in hoisted else "")
                          for n, m in emu.summation.items()},
            "encodings": {b.name: b.weights.kind for b in program.synapses},
            "rates": layer_rates(result.spikes, {g: grp.size for g, grp in program.groups.items()}),
            "overflows": result.overflow_report()}


# --- the driver ---------------------------------------------------------------------------


def machine() -> dict:
    cpu = ""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        cpu = next((line.split(":", 1)[1].strip() for line in lines
                    if line.startswith("model name")), "")
    except OSError:
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {"platform": platform.platform(), "cpu": cpu, "cpus": os.cpu_count(),
            "cpus_usable": usable,
            "load_average": list(os.getloadavg()), "python": platform.python_version()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="20 steps, batch 1 and 4, one timed call, no larger system (a smoke run)")
    ap.add_argument("--size", type=int, default=128, help="image side (128: DVS Gesture)")
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--batch", type=int, default=16, help="the larger batch (and batch 1)")
    ap.add_argument("--system-chips", type=int, default=64,
                    help="chips of the Loihi 2 system compiled for when loihi2's 8 are too few "
                         "(0: skip)")
    ap.add_argument("--readout", choices=("li", "if"), default="li",
                    help="the network's readout (examples/dvs_cnn.py): LI voltage or IF spikes")
    ap.add_argument("--profile", action="store_true", help="cProfile the compile children")
    ap.add_argument("--compile-timeout", type=float, default=1800.0)
    ap.add_argument("--skip-compile", action="store_true")
    ap.add_argument("--skip-emulator", action="store_true")
    ap.add_argument("--child-compile", nargs=4, metavar=("MODEL", "TARGET", "OUT", "REPORT"),
                    help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child_compile:
        model, target, out, json_path = args.child_compile
        sys.exit(child_compile(Path(model), target, Path(out), Path(json_path), args.profile))
    if args.quick:
        args.steps, args.batch, args.system_chips = 20, 4, 0
    with tempfile.TemporaryDirectory(prefix="neurocc-dvs-bench-") as tmp:
        record = measure(args, Path(tmp))
    report(record, args)


def measure(args: argparse.Namespace, tmp: Path) -> dict:
    import jax
    import nir
    import numpy as np

    from neurocc import ir
    from neurocc.backends import get_target
    from neurocc.compiler.pipeline import Discretize, Normalize, Quantize
    from neurocc.simulators import reference

    dvs = example()
    loihi2 = get_target("loihi2")
    record: dict = {"size": args.size, "readout": args.readout, "density": dvs.DENSITY,
                    "machine_before": machine(), "compile": [], "emulator": []}
    model = tmp / f"dvs{args.size}.nir"
    nir.write(model, dvs.build(args.size, readout=args.readout))
    artifacts: list[tuple[str, Path]] = []

    if not args.skip_compile:
        targets = ["loihi2"]
        for i, target in enumerate(targets):   # a second target is appended on failure
            print(f"compiling {model.name} for {Path(target).stem} in a child process ...",
                  flush=True)
            rec = run_compile(model, target, tmp / f"artifact{i}", args.profile,
                              args.compile_timeout)
            rec["target"] = Path(target).stem
            record["compile"].append(rec)
            if rec.get("ok"):
                artifacts.append((rec["target"], tmp / f"artifact{i}"))
            elif rec.get("error_type") == "CapacityError" and args.system_chips and i == 0:
                targets.append(str(system_toml(args.system_chips, tmp / "loihi2_system.toml")))

    if not args.skip_emulator:
        graph = ir.load(model)
        unplaced = Quantize(loihi2)(Discretize(float(graph.metadata["dt"]))(Normalize()(graph)))
        programs = [("quantized (unplaced)", unplaced, loihi2)]
        if artifacts:
            from neurocc.compiler.api.artifact import artifact_target, load_artifact

            name, path = artifacts[0]
            placed = load_artifact(path)
            programs.append((f"compiled for {name}", placed, artifact_target(path, placed)))
        xs = dvs.events(args.steps, args.batch, args.size, seed=1)
        x1 = xs[:, :1]
        layers = [n for n in graph.order if graph.nodes[n].kind == "IF"]
        ref = reference.run(graph, x1.astype(np.float32), record=tuple(layers)).traces
        record["reference_rates_batch1"] = {n: float(ref[n]["out"].mean()) for n in layers}
        for label, program, target in programs:
            for x, repeats in ((x1, 1 if args.quick else 2), (xs, 1)):
                print(f"emulating {label}, batch {x.shape[1]}, {x.shape[0]} steps ...", flush=True)
                r = time_emulator(program, target, x, repeats)
                r["program"] = label
                record["emulator"].append(r)
    record["machine_after"] = machine()
    record["backend"] = jax.default_backend()
    return record


def report(record: dict, args: argparse.Namespace) -> None:
    """Print the tables; write bench/results/dvs_cnn.json."""
    from rich.console import Console
    from rich.table import Table

    console = Console(width=160)
    emulated = record["emulator"]
    for rec in record["compile"]:
        t = Table(title=f"compile 2x{args.size}x{args.size} for {rec['target']} (child process)",
                  title_justify="left")
        for col in ("step", "seconds", "peak RSS after (MiB)"):
            t.add_column(col, justify="right" if col != "step" else "left")
        for s in rec.get("steps", []):
            t.add_row(s["name"], f"{s['seconds']:.2f}", "")
            if s["name"] == "pipeline":
                for p in rec["passes"]:
                    t.add_row(f"  pass {p['name']}" + (" (FAILED)" if p.get("failed") else ""),
                              f"{p['seconds']:.2f}", f"{p['rss_mb']:.0f}")
        if "other_s" in rec:
            t.add_row("other (start, imports)", f"{rec['other_s']:.2f}",
                      f"{rec['rss_after_import_mb']:.0f}")
        console.print(t)
        if "peak_rss_children_mb" in rec:
            wall, peak = rec["wall_s"], rec["peak_rss_children_mb"]
            verdict = ("meets" if rec.get("ok") and wall < GOAL_S and peak < GOAL_MB else "misses")
            console.print(f"  wall {wall:.1f} s, peak RSS {peak:.0f} MiB (child's own "
                          f"{rec['peak_rss_self_mb']:.0f} MiB): {verdict} the goal of "
                          f"{GOAL_S:.0f} s and {GOAL_MB:.0f} MiB")
        if rec.get("ok"):
            kinds: dict[str, int] = {}
            for b in rec["blocks"]:
                kinds[b["encoding"]] = kinds.get(b["encoding"], 0) + 1
            console.print(f"  {len(rec['blocks'])} blocks ({kinds}) into {rec['groups']} groups; "
                          f"resources: {rec.get('resources')}")
            for name, layer in rec.get("layers", {}).items():
                console.print(f"    {name}: {layer['neurons']} neurons in {layer['slices']} slices "
                              f"of {layer['slice_size']} ({layer['binding']})")
        else:
            console.print(f"  FAILED in {rec.get('failed_in')} after "
                          f"{rec.get('seconds_to_failure', rec.get('wall_s', 0)):.1f} s: "
                          f"{rec.get('error_type', '')}: {rec.get('error')}", markup=False)
        for p in rec.get("profile", [])[:12]:
            console.print(f"    {p['cumulative_s']:8.2f} s cum {p['own_s']:8.2f} s own "
                          f"{p['calls']:>9} x {p['function']}", markup=False)
    if emulated:
        t = Table(title=f"emulator ({record['backend']}, {platform.machine()}), "
                        f"{args.steps} steps of random events at density {record['density']}",
                  title_justify="left")
        for col in ("program", "batch", "first call", "run", "sample-steps/s", "blocks: summation"):
            left = col in ("program", "blocks: summation")
            t.add_column(col, justify="left" if left else "right")
        for r in emulated:
            modes: dict[str, int] = {}
            for m in r["summation"].values():
                modes[m] = modes.get(m, 0) + 1
            t.add_row(r["program"], str(r["batch"]), f"{r['first_call_s']:.1f} s",
                      f"{r['run_s']:.2f} s", f"{r['sample_steps_per_s']:,.1f}",
                      ", ".join(f"{n} x {m}" for m, n in modes.items()))
        console.print(t)
        rates = Table(title="spikes per neuron and step, batch 1", title_justify="left")
        rates.add_column("layer")
        rates.add_column("float reference", justify="right")
        for r in emulated:
            if r["batch"] == 1:
                rates.add_column(r["program"], justify="right")
        for layer, rf in record["reference_rates_batch1"].items():
            rates.add_row(layer, f"{rf:.4f}", *[f"{r['rates'].get(layer, 0.0):.4f}"
                                                 for r in emulated if r["batch"] == 1])
        console.print(rates)
        for r in emulated:
            for line in r["overflows"]:
                console.print(f"  {r['program']} batch {r['batch']}: {line}", markup=False)
    console.print(f"machine: {record['machine_before']['cpus_usable']} usable CPUs "
                  f"({record['machine_before']['cpu']}), load average before "
                  f"{record['machine_before']['load_average'][0]:.1f}, after "
                  f"{record['machine_after']['load_average'][0]:.1f}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(record, indent=2, default=float))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
