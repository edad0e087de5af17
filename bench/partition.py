"""The partitioner at scale: 10k to 1M neurons, 1M to 100M synapses, on Loihi 2's cores.

What is measured: ``plan_partition`` (slicing under every per-core limit,
assignment to cores and chips, exact per-core checks) plus
``place_and_route_plan`` (placement on the meshes, X-then-Y routes, link loads)
on a ``Structure`` of the non-zero patterns, which is all partitioning reads
of a Program (``Structure.from_program``, through each block's encoding).
bench/million.py builds the 1M-neuron network as a Program of Sparse blocks
and times that path against this one. Building the network is not timed.

Networks (100 synapses per neuron, all to all at 2 % between connected
populations): populations of 1000 neurons on a small-world ring (Watts-Strogatz
at population level: each population feeds itself and its two neighbours on
each side, each link rewired to a random population with probability 0.1),
listed in shuffled order as a graph file may list them. ``greedy`` fills
cores and chips in that order; ``graph`` partitions the slice graph with
METIS. A second run keeps the ring order (greedy's best case) for context.
A third network is clustered (caveman-style): communities of 6 populations,
each population fed by every population of its community, plus one
long-range link to a random other population with probability 0.2, listed in
shuffled order (which hides the communities from a program-order fill).

``graph`` refines METIS's chips and greedy's chips by moves and swaps that
only ever lower inter-chip traffic, and keeps the best, so in ring order it
can only match or beat greedy; the table says where its winner started.

Target: Loihi 2's cores (8192 neurons, 7.5 Mbit synapse memory, fan-in 4096,
4096 routing entries, 128 cores per chip) with up to 256 chips on a 16 x 16
board, so that the large networks fit.

Usage: python bench/partition.py [--quick] [--sizes 10000,100000,1000000]
Writes bench/results/partition.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import time
import tracemalloc
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from neurocc.backends import loihi2
from neurocc.compiler.partition import (Pattern, PartitionOptions, Structure, place_and_route_plan,
                                        plan_partition)
from neurocc.ir.target import Topology

POP = 1000            # neurons per population
SYN_PER_NEURON = 100
NEIGHBOURS = 2        # on each side of the ring
REWIRE = 0.1


def small_world(neurons: int, shuffled: bool, seed: int = 0) -> Structure:
    """Populations on a rewired ring; every connected pair at the density giving 100 syn/neuron."""
    rng = np.random.default_rng(seed)
    pops = neurons // POP
    sources: dict[int, set[int]] = {i: {i} for i in range(pops)}
    for i in range(pops):
        for d in range(1, NEIGHBOURS + 1):
            for j in ((i + d) % pops, (i - d) % pops):
                if rng.random() < REWIRE:
                    j = int(rng.integers(pops))
                sources[i].add(j)
    order = rng.permutation(pops) if shuffled else np.arange(pops)
    return _populations(sources, order, rng)


COMMUNITY = 6         # populations per community (about 100 slices: one 128-core chip)
LONG_RANGE = 0.2      # chance of one extra link to a random population


def clustered(neurons: int, seed: int = 0) -> Structure:
    """Caveman communities with a few long-range links, populations in shuffled order."""
    rng = np.random.default_rng(seed)
    pops = neurons // POP
    sources: dict[int, set[int]] = {}
    for i in range(pops):
        c0 = (i // COMMUNITY) * COMMUNITY
        sources[i] = set(range(c0, min(c0 + COMMUNITY, pops)))
        if rng.random() < LONG_RANGE:
            sources[i].add(int(rng.integers(pops)))
    return _populations(sources, rng.permutation(pops), rng)


def _populations(sources: dict[int, set[int]], order: np.ndarray,
                 rng: np.random.Generator) -> Structure:
    groups = {f"pop{i}": POP for i in order}
    patterns = []
    for i in range(len(sources)):
        density = SYN_PER_NEURON / (len(sources[i]) * POP)
        for j in sorted(sources[i]):
            nnz = rng.binomial(POP * POP, density)
            # col-major keys, sorted and unique: (source neuron, target neuron)
            key = np.unique(rng.integers(0, POP * POP, nnz, dtype=np.int64))
            patterns.append(Pattern(f"pop{j}->pop{i}", f"pop{j}", f"pop{i}",
                                    (key // POP).astype(np.int32), (key % POP).astype(np.int32)))
    return Structure(groups, {}, patterns)


def bench_target():
    t = loihi2.target()
    return t.replace(topology=Topology(t.topology.cores_per_chip, t.topology.core_mesh, 256,
                                       (16, 16)))


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


NETWORKS = {"small-world, shuffled": lambda n: small_world(n, True),
            "small-world, ring order": lambda n: small_world(n, False),
            "clustered, shuffled": clustered}


def run(neurons: int, network: str) -> dict:
    t0 = time.perf_counter()
    structure = NETWORKS[network](neurons)
    build = time.perf_counter() - t0
    synapses = sum(p.nnz for p in structure.patterns)
    target = bench_target()
    t0 = time.perf_counter()
    plan = plan_partition(structure, target, PartitionOptions(strategy="auto"))
    t_part = time.perf_counter() - t0
    t0 = time.perf_counter()
    routing = place_and_route_plan(plan, target)
    t_route = time.perf_counter() - t0
    # the same again under tracemalloc (numpy reports its buffers), for the peak memory
    # the compile itself allocates, without the network it reads; untimed
    tracemalloc.start()
    place_and_route_plan(plan_partition(structure, target, PartitionOptions()), target)
    traced_peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    rep = plan.report
    strategies = rep["strategies"]
    greedy = strategies["greedy"]["inter_chip_spikes_per_step"]
    graph = strategies.get("graph", {}).get("inter_chip_spikes_per_step")
    bindings: dict[str, int] = {}
    for layer in rep["layers"].values():
        bindings[layer["binding"]] = bindings.get(layer["binding"], 0) + 1
    return {
        "neurons": neurons, "synapses": synapses, "populations": len(structure.groups),
        "network": network,
        "build_s": build, "partition_s": t_part, "place_route_s": t_route,
        "compile_s": t_part + t_route,
        "peak_rss_mib": peak_rss_mib(), "compile_peak_alloc_mib": traced_peak,
        "slices": len(plan.slices.names), "cores": rep["cores_used"], "chips": rep["chips_used"],
        "binding": bindings, "strategy": rep["strategy"],
        "greedy_inter_chip": greedy, "graph_inter_chip": graph,
        "reduction_vs_greedy": (1 - graph / greedy) if graph is not None and greedy else None,
        "greedy_chips": strategies["greedy"]["chips"],
        "graph_chips": strategies.get("graph", {}).get("chips"),
        "graph_origin": strategies.get("graph", {}).get("origin"),
        "mean_hops": routing["mean_hops"], "busiest_link_load": (routing["busiest_link"] or
                                                                 {}).get("load"),
    }


def _short(origin: str | None) -> str:
    """'METIS k-way + refinement' -> 'kway+ref', for a narrow column."""
    if not origin:
        return "-"
    for long, short in (("METIS recursive bisection", "rb"), ("METIS k-way", "kway"),
                        ("program order", "greedy"), (" + refinement", "+ref")):
        origin = origin.replace(long, short)
    return origin


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="10k and 100k neurons only")
    ap.add_argument("--sizes", default=None, help="comma-separated neuron counts")
    args = ap.parse_args()
    sizes = ([int(s) for s in args.sizes.split(",")] if args.sizes else
             [10_000, 100_000] if args.quick else [10_000, 100_000, 1_000_000])
    console = Console(width=200)
    rows = []
    for n in sizes:
        for network in NETWORKS:
            r = run(n, network)
            rows.append(r)
            console.print(f"{n} neurons ({network}): {r['compile_s']:.1f} s", highlight=False)
    table = Table(title="partition + place & route on Loihi 2 cores (populations of 1000 neurons)",
                  title_justify="left")
    for col in ("neurons", "synapses", "network", "compile s", "(partition", "route)",
                "compile peak MiB", "RSS MiB", "cores", "chips", "binding", "inter-chip greedy", "graph",
                "less", "graph from"):
        table.add_column(col, justify="right" if col not in ("network", "binding", "graph from")
                         else "left")
    for r in rows:
        red = r["reduction_vs_greedy"]
        table.add_row(f"{r['neurons']:,}", f"{r['synapses']:,}", r["network"],
                      f"{r['compile_s']:.2f}", f"{r['partition_s']:.2f}",
                      f"{r['place_route_s']:.2f}", f"{r['compile_peak_alloc_mib']:.0f}",
                      f"{r['peak_rss_mib']:.0f}", str(r["cores"]),
                      str(r["chips"]), ", ".join(f"{k} x{v}" for k, v in r["binding"].items()),
                      f"{r['greedy_inter_chip']:.4g}",
                      "-" if r["graph_inter_chip"] is None else f"{r['graph_inter_chip']:.4g}",
                      "-" if red is None else f"{100 * red:.0f} %",
                      _short(r["graph_origin"]))
    console.print(table)
    console.print("inter-chip: expected spikes per step crossing chips (uniform rates: every "
                  "neuron spikes every step; one spike per destination slice). compile peak: the "
                  "most memory partition + place & route held at once (tracemalloc); RSS: the "
                  "process's high-water mark, the network itself included.", highlight=False)
    out = Path(__file__).parent / "results" / "partition.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": {"python": platform.python_version(),
                                           "processor": platform.processor(),
                                           "cpus": __import__("os").cpu_count()},
                               "rows": rows}, indent=2) + "\n")
    console.print(f"wrote {out}", highlight=False)


if __name__ == "__main__":
    main()
