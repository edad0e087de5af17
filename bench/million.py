"""A million-neuron Program: 1M Loihi 2 neurons, 100M synapses in Sparse blocks.

The network is bench/partition.py's 1M-neuron small-world one (populations of
1000 neurons on a rewired ring, 100 synapses a neuron, populations in shuffled
order), built as an ``ir.Program`` directly (NIR has no sparse node): the
populations, in that order, grouped into ``--areas`` neuron groups of Loihi 2
CUBA-LIF neurons (``neurocc.backends.loihi2.kernel.MODEL``), every area pair
that holds a synapse one ``Sparse`` block of int8 weights, plus an input port
of 1000 channels with one synapse into every neuron (1M more). Areas rather
than one group a population: the emulator compiles one stage per strongly
connected set of groups, and 1000 groups in one ring take it about a second
each to compile (measured: 20 populations 22 s, 60 populations 70 s).

Stages, each timed and measured (RSS before and after it, freed heap handed back
first; the peak RSS over it, by resetting the high-water mark through
/proc/self/clear_refs):

1. bench/partition.py's connectivity-only path on its own Structure of the same
   network (one group a population): ``plan_partition``, ``place_and_route_plan``;
2. the same path on a Structure of the Program's groups built straight from the
   pairs (no Program): the like-for-like reference;
3. the Program: built (its own time is not the point; its memory is);
4. ``Structure.from_program`` (each block's pattern through its encoding: the CSR
   read directly, int32 pairs), ``plan_partition``, ``place_and_route_plan``;
   with ``--compare-before``, also ``from_program`` as it was before (every
   block's chunks as int64 triples, one lexsort), for time and memory;
5. ``apply_plan``, the Program rewritten into one block per (source slice, target
   slice) pair (``--rewrite``), and ``place_and_route`` of that Program
   (``--route-program``). Off by default: at 1M neurons the pieces number in the
   millions at about 2 KB each (a CSR of ~30 synapses with its row offsets, the
   block record, its name), so the rewritten Program alone is several GB, and its
   routes list every X-then-Y path; run them at 100k-300k neurons;
6. 100 steps of the emulator at batch 1 on the unpartitioned Program.

Target: loihi2's cores on up to 256 chips (bench/partition.py's ``bench_target``).

Usage: python bench/million.py [--neurons 1000000] [--areas 10] [--steps 100]
                               [--compare-before] [--rewrite] [--route-program]
                               [--skip-emulator]
Writes bench/results/million.json.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
import partition as bench_partition  # noqa: E402  (bench/partition.py: network and target)

from neurocc.backends import get_target  # noqa: E402
from neurocc.backends.loihi2.kernel import MODEL  # noqa: E402
from neurocc.compiler.partition import (Pattern, PartitionOptions, Structure,  # noqa: E402
                                        apply_plan, place_and_route, place_and_route_plan,
                                        plan_partition)
from neurocc.compiler.partition.patterns import col_major  # noqa: E402
from neurocc.ir import InputPort, NeuronGroup, OutputPort, Program, SynapseBlock  # noqa: E402
from neurocc.ir.blocks import Sparse  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "million.json"
INPUTS = 1000
#: threshold (compared as v > VTH << 6)
VTH = 800


# --- memory ---------------------------------------------------------------------------


def rss_mib() -> float:
    """Current resident set size (VmRSS)."""
    return _status("VmRSS")


def _status(field: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def trim() -> None:
    """Hand freed heap memory back to the system (glibc), so that RSS shows what is live."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def reset_peak() -> bool:
    """Reset the RSS high-water mark to the current RSS (Linux: clear_refs 5)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_mib() -> float:
    """The RSS high-water mark since the last reset (VmHWM), else since the start."""
    hwm = _status("VmHWM")
    if hwm == hwm:
        return hwm
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Stage:
    """Times one stage and records its RSS after and its peak RSS."""

    def __init__(self, rows: list, name: str) -> None:
        self.rows, self.name = rows, name

    def __enter__(self) -> "Stage":
        gc.collect()
        trim()
        reset_peak()
        self.before = rss_mib()
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            row = {"stage": self.name, "seconds": time.perf_counter() - self.t0,
                   "rss_before_mib": self.before, "rss_after_mib": rss_mib(),
                   "peak_mib": peak_mib()}
            self.rows.append(row)
            print(f"  {row['stage']}: {row['seconds']:.1f} s, RSS {row['rss_before_mib']:.0f} -> "
                  f"{row['rss_after_mib']:.0f} MiB, peak {row['peak_mib']:.0f} MiB", flush=True)


# --- the Program ------------------------------------------------------------------------


def area_structure(pops: Structure, areas: int, seed: int = 0) -> Structure:
    """bench/partition.py's populations, in its order, as `areas` groups: a pattern pop j ->
    pop i lands in the pattern (area of j) -> (area of i) at the populations' offsets. Plus
    an input port of 1000 channels with one synapse into every neuron, from a random
    channel."""
    rng = np.random.default_rng(seed)
    names = list(pops.groups)
    size = bench_partition.POP
    per = -(-len(names) // areas)
    area_of = {g: i // per for i, g in enumerate(names)}
    offset = {g: (i % per) * size for i, g in enumerate(names)}
    n_area = {f"area{a}": size * sum(1 for g in names if area_of[g] == a) for a in range(areas)}
    parts: dict[tuple[int, int], list] = {}
    for p in pops.patterns:
        parts.setdefault((area_of[p.source], area_of[p.target]), []).append(p)
    patterns = []
    for (a, b), ps in sorted(parts.items()):
        rows = np.concatenate([p.rows.astype(np.int32) + offset[p.target] for p in ps])
        cols = np.concatenate([p.cols.astype(np.int32) + offset[p.source] for p in ps])
        cols, rows = col_major(cols, rows, n_area[f"area{b}"], n_area[f"area{a}"])
        patterns.append(Pattern(f"area{a}->area{b}", f"area{a}", f"area{b}", cols, rows))
    for g, n in n_area.items():
        cols, rows = col_major(rng.integers(0, INPUTS, n).astype(np.int32),
                               np.arange(n, dtype=np.int32), n, INPUTS)
        patterns.append(Pattern(f"in->{g}", "in", g, cols, rows))
    return Structure(n_area, {"in": INPUTS}, patterns)


def build_program(areas: Structure, seed: int = 0) -> Program:
    """Every pattern a Sparse block: int8 weights uniform in [-64, 63] without 0 between
    areas, 120 from the input port (strong enough to fire a neuron)."""
    rng = np.random.default_rng(seed)
    params = {"du": np.array(1024, np.int32), "dv": np.array(256, np.int32),
              "vth": np.array(VTH, np.int32)}
    groups = {g: NeuronGroup(g, MODEL, (n,), dict(params)) for g, n in areas.groups.items()}
    blocks = []
    for p in areas.patterns:
        if p.source == "in":
            w = np.full(p.nnz, 120, np.int8)
        else:
            w = rng.integers(-64, 63, p.nnz, dtype=np.int8)
            w[w >= 0] += 1
        shape = (areas.groups[p.target], areas.ports.get(p.source) or areas.groups[p.source])
        blocks.append(SynapseBlock(p.name, p.source, p.target,
                                   Sparse.from_coo(p.rows, p.cols, w, shape), storage="sparse"))
    first = next(iter(groups))
    program = Program("loihi2", groups, blocks, [InputPort("in", (INPUTS,))],
                      [OutputPort("out", first, (groups[first].size,))], {"dt": 1.0})
    program.check()
    return program


def from_program_before(program: Program) -> Structure:
    """``Structure.from_program`` as it was before the encodings (for the comparison only):
    every block's chunks as int64 COO triples, concatenated, then one lexsort."""
    patterns = []
    for b in program.synapses:
        chunks = list(b.weights.chunks()) or [(np.zeros(0, np.int64),) * 3]
        rows, cols = (np.concatenate(p) for p in list(zip(*chunks))[:2])
        order = np.lexsort((rows, cols))
        patterns.append(Pattern(b.name, b.source, b.target, cols[order], rows[order]))
    return Structure({g.name: g.size for g in program.groups.values()},
                     {p.name: p.size for p in program.inputs}, patterns)


def program_bytes(program: Program) -> int:
    return sum(a.nbytes for b in program.synapses for a in b.weights.arrays().values())


# --- the run --------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--neurons", type=int, default=1_000_000)
    ap.add_argument("--areas", type=int, default=10)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--rewrite", action="store_true",
                    help="also rewrite the Program into its slices (apply_plan)")
    ap.add_argument("--route-program", action="store_true",
                    help="and place & route that Program (needs --rewrite)")
    ap.add_argument("--skip-emulator", action="store_true")
    ap.add_argument("--compare-before", action="store_true",
                    help="also time Structure.from_program as it was (int64, one lexsort)")
    args = ap.parse_args()
    console = Console(width=160)
    say = lambda *a: console.print(*a, highlight=False)  # noqa: E731
    target = bench_partition.bench_target()
    stages: list[dict] = []
    out: dict = {"machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                             "processor": platform.processor(),
                             "loadavg_at_start": os.getloadavg()},
                 "neurons": args.neurons, "areas": args.areas, "stages": stages}

    t0 = time.perf_counter()
    pops = bench_partition.small_world(args.neurons, True)
    say(f"network: {len(pops.groups)} populations, {sum(p.nnz for p in pops.patterns):,} "
        f"synapses, built in {time.perf_counter() - t0:.0f} s")

    with Stage(stages, "bench/partition.py's path (a group a population): plan_partition"):
        plan = plan_partition(pops, target, PartitionOptions())
    with Stage(stages, "bench/partition.py's path: place_and_route_plan"):
        routing = place_and_route_plan(plan, target)
    out["populations_as_groups"] = _summary(plan, routing)
    del plan, routing

    areas = area_structure(pops, args.areas)
    del pops
    with Stage(stages, "connectivity only, the Program's groups: plan_partition"):
        plan = plan_partition(areas, target, PartitionOptions())
    with Stage(stages, "connectivity only, the Program's groups: place_and_route_plan"):
        routing = place_and_route_plan(plan, target)
    out["connectivity_only"] = _summary(plan, routing)
    del plan, routing

    with Stage(stages, "build the Program (untimed work, for its memory)"):
        program = build_program(areas)
        del areas
    out["program"] = {"groups": len(program.groups), "blocks": len(program.synapses),
                      "synapses": int(sum(b.weights.nnz() for b in program.synapses)),
                      "weight_arrays_mib": program_bytes(program) / 2**20}
    say(f"program: {out['program']}")

    if args.compare_before:
        with Stage(stages, "before: from_program (chunks, int64, lexsort)"):
            before = from_program_before(program)
        out["structure_pairs_mib_before"] = sum(p.cols.nbytes + p.rows.nbytes
                                                for p in before.patterns) / 2**20
        del before
    with Stage(stages, "Program: Structure.from_program"):
        structure = Structure.from_program(program)
    out["structure_pairs_mib"] = sum(p.cols.nbytes + p.rows.nbytes
                                     for p in structure.patterns) / 2**20
    with Stage(stages, "Program: plan_partition"):
        plan = plan_partition(structure, target, PartitionOptions())
    with Stage(stages, "Program: place_and_route_plan"):
        routing = place_and_route_plan(plan, target)
    out["program_path"] = _summary(plan, routing)
    del structure, routing

    if args.rewrite:
        with Stage(stages, "Program: apply_plan (rewrite into slices)"):
            placed = apply_plan(program, plan)
        out["rewritten"] = {"groups": len(placed.groups), "blocks": len(placed.synapses)}
        if args.route_program:
            with Stage(stages, "Program: place_and_route (partitioned Program)"):
                placed = place_and_route(placed, target)
            out["rewritten"]["routes"] = len(placed.routes)
        del placed
    del plan

    if not args.skip_emulator:
        rng = np.random.default_rng(1)
        x = (rng.random((args.steps, 1, INPUTS)) < 0.05).astype(np.int8)
        from neurocc.simulators.emulator import Emulator
        with Stage(stages, f"emulator: compile + {args.steps} steps, batch 1"):
            emulator = Emulator(program, get_target("loihi2"))
            result = emulator.run(x)
        with Stage(stages, f"emulator: {args.steps} steps again (compiled)"):
            result = emulator.run(x)
        spikes = sum(int(np.count_nonzero(s)) for s in result.spikes.values())
        out["emulator"] = {"steps": args.steps, "spikes": spikes,
                           "spikes_per_neuron_step": spikes / args.neurons / args.steps}
    # each stage resets the high-water mark (and ru_maxrss with it): the run's peak is theirs
    out["peak_rss_mib_whole_run"] = max(r["peak_mib"] for r in stages)

    table = Table(title=f"{args.neurons:,} neurons, {out['program']['synapses']:,} synapses "
                        f"({args.areas} groups in the Program) on loihi2 cores, 256 chips",
                  title_justify="left")
    for col in ("stage", "seconds", "RSS before MiB", "RSS after MiB", "peak MiB"):
        table.add_column(col, justify="left" if col == "stage" else "right")
    for r in stages:
        table.add_row(r["stage"], f"{r['seconds']:.1f}", f"{r['rss_before_mib']:.0f}",
                      f"{r['rss_after_mib']:.0f}", f"{r['peak_mib']:.0f}")
    say(table)
    for key in ("populations_as_groups", "connectivity_only", "program_path"):
        say(f"{key}: {out[key]}")
    if "emulator" in out:
        say(f"emulator: {out['emulator']}")
    say(f"Structure pairs: {out['structure_pairs_mib']:.0f} MiB"
        + (f" (before: {out['structure_pairs_mib_before']:.0f} MiB)"
           if "structure_pairs_mib_before" in out else ""))
    say(f"peak RSS of the whole run: {out['peak_rss_mib_whole_run']:.0f} MiB")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")
    say(f"wrote {RESULTS}")


def _summary(plan, routing) -> dict:
    rep = plan.report
    bindings: dict[str, int] = {}
    for layer in rep["layers"].values():
        bindings[layer["binding"]] = bindings.get(layer["binding"], 0) + 1
    return {"slices": len(plan.slices.names), "cores": rep["cores_used"],
            "chips": rep["chips_used"], "strategy": rep["strategy"], "binding": bindings,
            "inter_chip_spikes_per_step": rep["traffic"]["inter_chip_spikes_per_step"],
            "mean_hops": routing["mean_hops"], "routes": routing["routes"]}


if __name__ == "__main__":
    main()
