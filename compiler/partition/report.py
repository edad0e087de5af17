"""The resource report of a plan, its exact per-core figures, and refusals after assignment.

``plan_report`` lays out the report both planners return (``program.info
["resources"]``, `neurocc fit` and `compile` print it), so the two mappings
cannot drift apart in its shape; ``slice_report`` fills it for neuron slices.
After assignment, cores over a limit and networks that need more chips than
the target has are refused here, each with the smallest changes that would fit.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import numpy as np

from neurocc.ir import CapacityError
from neurocc.ir.target import CoreLimits, TargetSpec

from .limits import LIMIT_FIELD, RESOURCES, capacity_error
from .packing import Assignment
from .plan import PartitionOptions
from .slices import SliceGraph, slice_network
from .structure import Pattern, Structure


def core_resources(structure: Structure, sg: SliceGraph, a: Assignment) -> list[dict[str, Any]]:
    """Exact per-core figures: neurons, memory, fan-in (union), fan-out, routing entries."""
    n = len(sg.names)
    width = max(a.cores_per_chip, default=1) + 1
    key = a.chip * width + a.core
    cores_list = sorted(set(key.tolist()))
    index = {c: i for i, c in enumerate(cores_list)}
    ci = np.array([index[c] for c in key.tolist()], np.int64) if n else np.zeros(0, np.int64)
    m = len(cores_list)
    neurons = np.bincount(ci, weights=sg.neurons, minlength=m)
    memory = np.bincount(ci, weights=sg.memory, minlength=m)
    synapses = np.bincount(ci, weights=sg.synapses, minlength=m)
    fan_in = np.bincount(ci, weights=sg.fan_in, minlength=m)
    members: list[list[int]] = [[] for _ in range(m)]
    for u in range(n):
        members[ci[u]].append(u)
    incoming: dict[str, list[Pattern]] = {}
    for p in structure.patterns:
        incoming.setdefault(p.target, []).append(p)
    for c, us in enumerate(members):
        if len(us) > 1:  # slices sharing a core may share sources
            fan_in[c] = _union_fan_in(incoming, sg, us)
    # destinations: distinct (core, destination core), and (slice, destination core)
    if sg.src.size:
        pair = np.unique(ci[sg.src] * m + ci[sg.dst])
        fan_out = np.bincount(pair // m, minlength=m)
        routes = np.unique(sg.src * m + ci[sg.dst])
        routing = np.bincount(ci[routes // m], minlength=m)
    else:
        fan_out = routing = np.zeros(m, np.int64)
    out = []
    for c, k in enumerate(cores_list):
        out.append({"chip": int(k // width), "core": int(k % width),
                    "slices": [sg.names[u] for u in members[c]],
                    "neurons": int(neurons[c]), "synapse_memory_bits": int(memory[c]),
                    "fan_in": int(fan_in[c]), "fan_out": int(fan_out[c]),
                    "routing_entries": int(routing[c]), "synapses": int(synapses[c])})
    return out


def _union_fan_in(incoming: dict[str, list[Pattern]], sg: SliceGraph, slices: list[int]) -> int:
    """Distinct source neurons feeding the slices of one core (all of a full pattern's)."""
    seen: dict[str, list[np.ndarray]] = {}
    every: dict[str, int] = {}
    for u in slices:
        a, b = sg.start[u], sg.stop[u]
        for p in incoming.get(sg.group[u], []):
            if p.full is not None:
                if b > a:
                    every[p.source] = p.full[1]
                continue
            inside = (p.rows >= a) & (p.rows < b)
            seen.setdefault(p.source, []).append(p.cols[inside])
    return (sum(every.values())
            + sum(int(np.unique(np.concatenate(c)).size) for s, c in seen.items()
                  if s not in every))


def check_cores(per_core: list[dict[str, Any]], cores: CoreLimits) -> None:
    problems = []
    for c in per_core:
        for r in RESOURCES:
            limit = getattr(cores, LIMIT_FIELD[r])
            if limit and c[r] > limit:
                layer = c["slices"][0].rpartition("@")[0] or c["slices"][0]
                problems.append((layer, LIMIT_FIELD[r],
                                 f"chip {c['chip']} core {c['core']} ({', '.join(c['slices'])}): "
                                 f"{r} {c[r]} > {LIMIT_FIELD[r]} {limit}"))
    if problems:
        raise capacity_error("cores over their limits after assignment:", problems)


def plan_report(target: TargetSpec, a: Assignment, candidates: list[Assignment],
                sg: SliceGraph, options: PartitionOptions, rates: Mapping[str, float],
                limits: dict[str, Any], layers: dict[str, Any], util: dict[str, Any],
                per_core: list[dict[str, Any]], mapping: str | None = None) -> dict[str, Any]:
    """The report of either mapping; `mapping` is named only when it is not neuron slices.

    limits, layers, util and per_core are the mapping's own; the cores and chips
    used, the strategies tried, the rates and the traffic are the same for both.
    """
    cross_core = (a.chip[sg.src] != a.chip[sg.dst]) | (a.core[sg.src] != a.core[sg.dst])
    cross_chip = a.chip[sg.src] != a.chip[sg.dst]
    return {
        "target": target.name,
        **({"mapping": mapping} if mapping is not None else {}),
        "limits": limits,
        "cores_used": a.cores_used,
        "chips_used": len(a.cores_per_chip),
        "cores_per_chip": list(a.cores_per_chip),
        "strategy": a.strategy,
        "strategies": {c.strategy: {"cores": c.cores_used, "chips": len(c.cores_per_chip),
                                    "inter_core_spikes_per_step": c.inter_core,
                                    "inter_chip_spikes_per_step": c.inter_chip,
                                    **({"origin": c.origin} if c.origin else {})}
                       for c in candidates},
        "rates": {"source": "activity" if options.activity else "uniform (1 spike/neuron/step)",
                  "per_group": dict(rates)},
        "layers": layers,
        "utilization": util,
        "edges": {"slice_edges": int(sg.src.size), "inter_core": int(cross_core.sum()),
                  "inter_chip": int(cross_chip.sum())},
        "traffic": {"inter_core_spikes_per_step": a.inter_core,
                    "inter_chip_spikes_per_step": a.inter_chip,
                    "total_spikes_per_step": float(sg.weight.sum())},
        "cores": per_core,
    }


def slice_report(structure: Structure, sg: SliceGraph, binding: dict[str, tuple[str, str]],
                 a: Assignment, candidates: list[Assignment], per_core: list[dict[str, Any]],
                 target: TargetSpec, options: PartitionOptions, rates: Mapping[str, float]
                 ) -> dict[str, Any]:
    """The report of a neuron-slice plan: per-core limits, utilization, per-layer slices."""
    cores = target.cores
    assert cores is not None
    limits = {r: (getattr(cores, LIMIT_FIELD[r]) or None) for r in RESOURCES}
    util = {}
    for r in RESOURCES:
        vals = np.array([c[r] for c in per_core], np.float64)
        lim = limits[r]
        util[r] = {"limit": lim, "max": int(vals.max(initial=0)),
                   "mean": float(vals.mean()) if vals.size else 0.0,
                   "max_fraction": (float(vals.max(initial=0)) / lim) if lim else None,
                   "mean_fraction": (float(vals.mean()) / lim) if lim and vals.size else None}
    layers = {}
    for g, n in structure.groups.items():
        f, k = sg.first[g], sg.count[g]
        layer_cores = sorted({(int(a.chip[u]), int(a.core[u])) for u in range(f, f + k)})
        layers[g] = {"neurons": n, "slices": k,
                     "slice_size": int(sg.neurons[f:f + k].max(initial=0)),
                     "binding": binding[g][0], "why": binding[g][1],
                     "cores": [list(c) for c in layer_cores]}
    return plan_report(target, a, candidates, sg, options, rates, limits, layers, util,
                       per_core)


def too_many_chips(structure: Structure, sg: SliceGraph, binding: dict[str, tuple[str, str]],
                   a: Assignment, target: TargetSpec, rates: Mapping[str, float]) -> CapacityError:
    """A plan needs more chips than the target has: by how much, and the smallest changes.

    The changes: more chips; narrower weights, when synapse memory binds (each
    width re-slices the network to count its cores); fewer neurons.
    """
    t, cores = target.topology, target.cores
    assert t is not None and cores is not None
    have = t.max_chips * t.cores_per_chip
    need = a.cores_used
    chips = len(a.cores_per_chip)
    per_layer: dict[str, int] = {}
    for g in sg.group:
        per_layer[g] = per_layer.get(g, 0) + 1
    top = sorted(per_layer, key=lambda g: -per_layer[g])[:3]
    layers = "; ".join(f"'{g}' {per_layer[g]} slices of {structure.groups[g] // per_layer[g]}"
                       f"-{-(-structure.groups[g] // per_layer[g])} neurons (bound by "
                       f"{binding[g][0]})" for g in top)
    lines = [f"the network needs {need} cores on {chips} chips ({t.cores_per_chip} cores each); "
             f"target '{target.name}' has at most {t.max_chips} chips = {have} cores: "
             f"{need - have} cores too many. Largest layers: {layers}.",
             "Smallest changes:",
             f"  - a system of {chips} chips (max_chips = {chips} in [topology])"]
    memory_bound = [g for g in top if binding[g][0] == "synapse_memory_bits"]
    if memory_bound:
        for bits in range(cores.dense_weight_bits - 1, 0, -1):
            drop = cores.dense_weight_bits - bits
            trial = dataclasses.replace(cores, dense_weight_bits=bits,
                                        sparse_entry_bits=max(cores.sparse_entry_bits - drop, 0))
            try:
                slices = len(slice_network(structure, trial, rates)[0].names)
            except CapacityError:
                continue
            if slices <= have:
                lines.append(f"  - weights of {bits} bits ({memory_bound[0]} is bound by synapse "
                             f"memory): about {slices} cores")
                break
    biggest = top[0]
    spare = need - have
    n_big = structure.groups[biggest]
    lines.append(f"  - fewer neurons: layer '{biggest}' uses {per_layer[biggest]} cores; "
                 f"{spare} fewer cores there means about "
                 f"{min(n_big, spare * n_big // per_layer[biggest])} fewer neurons, or a chip "
                 "whose cores hold more")
    return capacity_error("", [(top[0], "max_chips", "\n".join(lines))])
