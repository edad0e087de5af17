"""A 0.9-billion-synapse spiking language model on Hala Point: partition and place & route.

The network is shaped like a NeuronSpark-sized model (a pure-SNN language model of
about 0.9 billion parameters): an embedding (one-hot tokens -> d), ``blocks``
blocks of d = 1536, each four d x d projections in a chain and a feed-forward
pair d -> 4d -> d, a residual edge around the block, and a head d -> vocabulary;
LIF neurons after every linear map. With the defaults (24 blocks, d = 1536,
vocabulary 65,536): 24 x 12 d^2 + 2 x 65,536 d = 880.8M synapses, 398,848 neurons.
(The public NeuronSpark-0.9B model card lists D = 896, 20 layers, FFN 2688 and a
vocabulary of 6144, with selective state-space neurons; the shape here is the one
this benchmark was asked for, with plain LIF neurons: the compile sees only
sizes and connectivity.)

1. Write: the graph is a ``nir.NIRGraph`` of ``nir.Affine`` / ``nir.Linear`` and
   ``nir.LIF`` nodes whose weights are zero-stride placeholders (no memory); the
   file is written in NIR's HDF5 layout by ``write_streamed``, each weight
   generated and written a block of rows at a time (random, never 0, float16),
   so the weights are never all in memory during the write.
2. Compile, as `neurocc fit` does for a model, to the point of placement:
   ``ir.load`` (the weights held once, in the file's dtype), ``Structure.
   from_graph`` (every connection one Affine / Linear: read node by node, each
   dense weight without a zero a full pattern, nothing listed), ``plan_partition``
   and ``place_and_route_plan`` on ``hala_point``.
3. What does not fit, and why: the refusal on Hala Point as described. Then the
   same compile with the per-core fan-in limit lifted (``max_fan_in`` = 0: a
   what-if, since 4096 input axons is Loihi 1's figure, which loihi2.toml borrows),
   for the chips, binding limits and traffic the rest of the model needs.

Memory bound (stated, then measured): the interpreter with numpy and JAX, plus
the loaded weights at 2 bytes each (1.64 GiB at the default size), plus the
larger of two temporaries (``ir.load``'s finiteness check, one bool per entry
of the largest weight: 96 MiB; the Structure reading one block of at most
2**24 entries), plus 64 MiB of working buffers. The Structure (full patterns:
nothing listed; biases and residual edges: one int32 pair a neuron) and the
plan (O(slices) arrays, O(slice pairs) edges) are small beside the weights,
which are dropped before planning.

Usage: python bench/neuronspark.py [--blocks 24] [--d 1536] [--vocab 65536]
                                   [--path FILE] [--keep]
Writes bench/results/neuronspark.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import h5py
import nir
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

RESULTS = Path(__file__).resolve().parent / "results" / "neuronspark.json"
#: weight entries generated and written at a time
ROWS_AT_ONCE = 1 << 22


def _lif(n: int) -> nir.LIF:
    return nir.LIF(tau=np.full(n, 0.02), r=np.ones(n), v_leak=np.zeros(n),
                   v_threshold=np.ones(n))


def _placeholder(shape: tuple[int, ...]) -> np.ndarray:
    """A weight of this shape that takes no memory: ``write_streamed`` fills it in."""
    return np.broadcast_to(np.float16(1), shape)


def model(blocks: int = 24, d: int = 1536, ffn: int = 4, vocab: int = 65536,
          seed: int = 0) -> nir.NIRGraph:
    """The network (see the module doc), weights as placeholders, small random biases."""
    rng = np.random.default_rng(seed)
    nodes: dict[str, Any] = {"tokens": nir.Input(np.array([vocab])),
                             "embed": nir.Linear(_placeholder((d, vocab))),
                             "embed.lif": _lif(d)}
    edges = [("tokens", "embed"), ("embed", "embed.lif")]
    x = "embed.lif"

    def affine(name: str, n_out: int, n_in: int, src: str) -> str:
        nodes[name] = nir.Affine(_placeholder((n_out, n_in)),
                                 rng.uniform(-0.1, 0.1, n_out).astype(np.float16))
        nodes[f"{name}.lif"] = _lif(n_out)
        edges.extend([(src, name), (name, f"{name}.lif")])
        return f"{name}.lif"

    for b in range(blocks):
        h = x
        for j in range(4):
            h = affine(f"b{b}.mix{j}", d, d, h)
        h = affine(f"b{b}.up", ffn * d, d, h)
        nodes[f"b{b}.down"] = nir.Affine(_placeholder((d, ffn * d)),
                                         rng.uniform(-0.1, 0.1, d).astype(np.float16))
        nodes[f"b{b}.out"] = _lif(d)
        edges += [(h, f"b{b}.down"), (f"b{b}.down", f"b{b}.out"), (x, f"b{b}.out")]  # residual
        x = f"b{b}.out"
    nodes["head"] = nir.Linear(_placeholder((vocab, d)))
    nodes["head.lif"] = _lif(vocab)
    nodes["logits"] = nir.Output(np.array([vocab]))
    edges += [(x, "head"), ("head", "head.lif"), ("head.lif", "logits")]
    return nir.NIRGraph(nodes=nodes, edges=edges)


def synapses(graph: nir.NIRGraph) -> int:
    return int(sum(n.weight.size for n in graph.nodes.values() if hasattr(n, "weight")))


def _fill(dataset: h5py.Dataset, rng: np.random.Generator) -> None:
    """Random weights, a block of rows at a time: sign x U(0.01, 1) / sqrt(fan-in), never 0
    (float16 keeps 0.01 / sqrt(65536) = 3.8e-5, above its smallest subnormal)."""
    n_out, n_in = dataset.shape
    scale = 1.0 / np.sqrt(n_in)
    step = max(1, ROWS_AT_ONCE // n_in)
    for a in range(0, n_out, step):
        u = rng.random((min(step, n_out - a), n_in), dtype=np.float32)
        w = (u - 0.5) * (1.98 * scale)            # in (-0.99, 0.99) x scale
        w += np.where(w >= 0, 0.01 * scale, -0.01 * scale).astype(np.float32)
        dataset[a:a + w.shape[0]] = w.astype(np.float16)


def _write_value(group: h5py.Group, key: str, value: Any, rng: np.random.Generator) -> None:
    if isinstance(value, dict):
        sub = group.create_group(key)
        for k, v in value.items():
            _write_value(sub, k, v, rng)
    elif isinstance(value, str):
        group.create_dataset(key, data=value, dtype=h5py.string_dtype())
    else:
        arr = np.asarray(value)
        if arr.ndim == 2 and arr.size > 1 and arr.strides == (0, 0):   # a placeholder weight
            ds = group.create_dataset(key, shape=arr.shape, dtype=np.float16,
                                      chunks=(max(1, min(arr.shape[0],
                                                         (1 << 20) // arr.shape[1])),
                                              arr.shape[1]))
            _fill(ds, rng)
        elif arr.dtype.kind in "OU":
            group.create_dataset(key, data=arr.astype(object), dtype=h5py.string_dtype())
        else:
            group.create_dataset(key, data=arr)


def _node_dict(node: Any) -> dict[str, Any]:
    """What ``nir.write`` stores of a node, without ``dataclasses.asdict`` (which deep-copies
    every array: a placeholder would become the whole matrix)."""
    out = {f.name: getattr(node, f.name) for f in dataclasses.fields(node)
           if f.name not in ("input_type", "output_type", "metadata")}
    if isinstance(node, nir.Input):
        out = {"shape": node.input_type["input"]}
    elif isinstance(node, nir.Output):
        out = {"shape": node.output_type["output"]}
    if getattr(node, "metadata", None):
        out["metadata"] = node.metadata
    return {"type": type(node).__name__, **out}


def write_streamed(graph: nir.NIRGraph, path: str | Path, seed: int = 0) -> None:
    """`graph` as a NIR file (nir.write's layout), placeholder weights generated as written.

    Written under a temporary name and renamed, so a failure leaves no half file.
    """
    rng = np.random.default_rng(seed)
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with h5py.File(tmp, "w") as f:
        f.create_dataset("version", data=nir.version, dtype=h5py.string_dtype())
        root = f.create_group("node")
        root.create_dataset("type", data="NIRGraph", dtype=h5py.string_dtype())
        nodes = root.create_group("nodes")
        for name, node in graph.nodes.items():
            g = nodes.create_group(name)
            for k, v in _node_dict(node).items():
                _write_value(g, k, v, rng)
        root.create_dataset("edges", data=np.array(graph.edges, dtype=object).reshape(-1, 2),
                            dtype=h5py.string_dtype())
    os.replace(tmp, path)


# --- the compile --------------------------------------------------------------------------


def _layer_kind(name: str) -> str:
    """'b3.mix1.lif' -> 'mix', 'b3.up.lif' -> 'up', 'b3.out' -> 'down', 'embed.lif', 'head.lif'."""
    parts = name.split(".")
    if parts[0].startswith("b") and parts[0][1:].isdigit():
        return {"out": "down"}.get(parts[1], parts[1].rstrip("0123456789"))
    return parts[0]


def compile_report(structure: Any, target: Any) -> dict[str, Any]:
    from neurocc.compiler.partition import PartitionOptions, place_and_route_plan, plan_partition
    from neurocc.ir import CapacityError

    t0 = time.perf_counter()
    try:
        plan = plan_partition(structure, target, PartitionOptions())
    except CapacityError as e:
        lines = str(e).splitlines()
        by_limit: dict[str, list[str]] = {}
        for f in getattr(e, "failures", []):
            by_limit.setdefault(f["limit"], []).append(f["layer"])
        return {"fits": False, "seconds": time.perf_counter() - t0,
                "failures": {k: v for k, v in by_limit.items()},
                "first_lines": lines[:4] + ([f"... ({len(lines) - 4} more lines)"]
                                            if len(lines) > 4 else [])}
    t_plan = time.perf_counter() - t0
    t0 = time.perf_counter()
    routing = place_and_route_plan(plan, target)
    t_route = time.perf_counter() - t0
    rep = plan.report
    per_kind: dict[str, dict[str, Any]] = {}
    for name, layer in rep["layers"].items():
        k = per_kind.setdefault(_layer_kind(name), {"layers": 0, "slices": 0, "bindings": {}})
        k["layers"] += 1
        k["slices"] += layer["slices"]
        k["bindings"][layer["binding"]] = k["bindings"].get(layer["binding"], 0) + 1
    return {"fits": True, "plan_s": t_plan, "place_route_s": t_route,
            "slices": len(plan.slices.names), "cores": rep["cores_used"],
            "chips": rep["chips_used"], "strategy": rep["strategy"], "per_layer_kind": per_kind,
            "traffic": rep["traffic"],
            "routing": {k: routing[k] for k in ("routes", "spikes_per_step", "mean_hops",
                                                "max_hops", "inter_chip_spikes_per_step",
                                                "inter_chip_link_crossings")}
            | {"busiest_link": routing["busiest_link"],
               "routing_entries_max_per_core": routing["routing_entries"]["max_per_core"]},
            "utilization": {r: {"max_fraction": u["max_fraction"],
                                "mean_fraction": u["mean_fraction"]}
                            for r, u in rep["utilization"].items()}}


def main() -> None:
    from rich.console import Console
    from rich.table import Table

    from million import Stage  # the same timing and memory records as bench/million.py

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--blocks", type=int, default=24)
    ap.add_argument("--d", type=int, default=1536)
    ap.add_argument("--ffn", type=int, default=4)
    ap.add_argument("--vocab", type=int, default=65536)
    ap.add_argument("--path", default=None, help="the NIR file (default: a temporary one)")
    ap.add_argument("--keep", action="store_true", help="keep the NIR file")
    args = ap.parse_args()
    console = Console(width=160)
    say = lambda *a: console.print(*a, highlight=False)  # noqa: E731
    stages: list[dict] = []
    out: dict[str, Any] = {"machine": {"python": platform.python_version(),
                                       "cpus": os.cpu_count(),
                                       "loadavg_at_start": os.getloadavg()},
                           "shape": dict(vars(args)), "stages": stages}
    graph = model(args.blocks, args.d, args.ffn, args.vocab)
    out["synapses"] = synapses(graph)
    out["neurons"] = int(sum(n.r.size for n in graph.nodes.values() if isinstance(n, nir.LIF)))
    largest = max(n.weight.size for n in graph.nodes.values() if hasattr(n, "weight"))
    out["memory_bound_mib"] = {"weights_as_loaded": out["synapses"] * 2 / 2**20,
                               "largest_weight_as_bool": largest / 2**20,
                               "one_weight_block": (1 << 24) * 2 / 2**20,
                               "working_buffers": 64.0}
    say(f"model: {out['synapses']:,} synapses, {out['neurons']:,} neurons")
    path = Path(args.path) if args.path else Path(tempfile.mkdtemp()) / "neuronspark.nir"
    try:
        with Stage(stages, "write the NIR file, streamed"):
            write_streamed(graph, path)
        out["file_mib"] = path.stat().st_size / 2**20
        del graph
        from neurocc import ir
        from neurocc.backends import get_target
        from neurocc.compiler.partition import Structure

        target = get_target("hala_point")
        with Stage(stages, "ir.load"):
            loaded = ir.load(path)
        with Stage(stages, "Structure.from_graph"):
            structure = Structure.from_graph(loaded)
        out["patterns"] = {"full": sum(p.full is not None for p in structure.patterns),
                           "listed": sum(p.full is None for p in structure.patterns),
                           "listed_pairs": int(sum(p.cols.size for p in structure.patterns))}
        del loaded
        with Stage(stages, "plan on hala_point (as described)"):
            out["hala_point"] = compile_report(structure, target)
        what_if = target.replace(cores=dataclasses.replace(target.cores, max_fan_in=0))
        with Stage(stages, "plan + place & route, fan-in limit lifted"):
            out["hala_point_no_fan_in_limit"] = compile_report(structure, what_if)
    finally:
        if not args.keep and path.exists():
            path.unlink()
            if not args.path:
                path.parent.rmdir()
    # each stage resets the high-water mark (and ru_maxrss with it): the run's peak is theirs
    out["peak_rss_mib_whole_run"] = max(r["peak_mib"] for r in stages)
    load = next(r for r in stages if r["stage"] == "ir.load")
    bound = out["memory_bound_mib"]
    temporary = max(bound["largest_weight_as_bool"], bound["one_weight_block"])
    bound["total"] = (load["rss_before_mib"] + bound["weights_as_loaded"] + temporary
                      + bound["working_buffers"])
    say(f"peak RSS of the whole run: {out['peak_rss_mib_whole_run']:.0f} MiB; stated bound "
        f"{bound['total']:.0f} MiB = the interpreter before loading "
        f"{load['rss_before_mib']:.0f} + the weights at 2 bytes "
        f"{bound['weights_as_loaded']:.0f} + the larger temporary ({temporary:.0f}: the "
        "loader's finiteness check, a bool per entry of the largest weight, or one block "
        f"of 2**24 entries read by the Structure) + {bound['working_buffers']:.0f} of "
        "working buffers")
    say(f"patterns: {out['patterns']}")
    refused = out["hala_point"]
    if not refused["fits"]:
        say("on hala_point as described: refused, by " + "; ".join(
            f"{limit} in {len(layers)} layers ({', '.join(layers[:3])}"
            + (", ..." if len(layers) > 3 else "") + ")"
            for limit, layers in refused["failures"].items()))
        for line in refused["first_lines"][1:]:
            say(line)
    for key in ("hala_point", "hala_point_no_fan_in_limit"):
        r = out[key]
        if not r["fits"]:
            continue
        say(f"{key}: {r['cores']} cores on {r['chips']} chips, plan {r['plan_s']:.1f} s + "
            f"place & route {r['place_route_s']:.1f} s")
        table = Table()
        for col in ("layer kind", "layers", "slices", "binding"):
            table.add_column(col)
        for kind, k in r["per_layer_kind"].items():
            table.add_row(kind, str(k["layers"]), str(k["slices"]),
                          ", ".join(f"{b} x{n}" for b, n in k["bindings"].items()))
        say(table)
        say(f"traffic (every neuron spiking every step): {r['traffic']}; routes "
            f"{r['routing']['routes']}, mean hops {r['routing']['mean_hops']:.2f}, inter-chip "
            f"{r['routing']['inter_chip_spikes_per_step']:.0f} spikes/step; memory use "
            f"max {r['utilization']['synapse_memory_bits']['max_fraction']:.3f} of a core")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")
    say(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
