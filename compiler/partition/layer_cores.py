"""The plan of a layer-per-core target (a convolutional chip): each whole layer takes one core.

A target whose ``[topology]`` says ``mapping = "layer_per_core"`` does not cut
layers into neuron slices. Each spiking layer, with the one convolution or
linear map that feeds it (its shape: ``layers.py``), takes one core, and is
charged by the target's ``[layer_memory]`` formulas (kernel, neuron and bias
words), which differ per core. A layer may send to at most ``max_fan_out``
other layers (a core's destinations). Layers are matched to cores that hold
them by maximum bipartite matching (as Sinabs ``mapping.py`` does with max
flow), on as few chips as possible.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import numpy as np

from neurocc.ir import NeuroccError
from neurocc.ir.target import LayerMemory, LayerWords, TargetSpec

from .layers import LayerShape
from .limits import capacity_error
from .packing import Assignment, cross_traffic
from .plan import PartitionOptions, Plan
from .report import plan_report
from .slices import SliceGraph, slice_edges
from .structure import Structure, spike_rates

_WORDS = (("kernel", "kernel_memory_words"), ("neuron", "neuron_memory_words"),
          ("bias", "bias_memory_words"))


# --- the mapping -------------------------------------------------------------------------


def _words_text(w: LayerWords) -> str:
    return f"{w.kernel} kernel, {w.neuron} neuron and {w.bias} bias words"


def _core_list(cores: list[int]) -> str:
    return ", ".join(str(c) for c in cores)


def _largest_that_fits(lm: LayerMemory, s: LayerShape, field: str) -> int:
    """The largest value of `field` (c_out or c_in), below today's, with which some core holds s.

    The words grow with either, so a bisection finds it; 0 when even 1 does not fit.
    """
    def fits(v: int) -> bool:
        t = dataclasses.replace(s, **{field: v})
        return bool(lm.cores_that_fit(lm.words(t.c_in, t.c_out, t.kernel, t.out, t.bias)))

    lo, hi = 0, getattr(s, field)  # fits(lo) (or lo == 0), not fits(hi)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    return lo


def _no_core_problem(g: str, s: LayerShape, w: LayerWords, lm: LayerMemory,
                     target: TargetSpec) -> tuple[str, str, str]:
    over = []
    for kind, field in _WORDS:
        need, budgets = getattr(w, kind), getattr(lm, f"{kind}_words")
        top = max(budgets)
        if need > top:
            over.append((field, f"{need} {kind} words; the largest {target.name} core holds "
                                f"{top} ({field}, core {budgets.index(top)}): {need - top} over"))
    if over:
        limit, text = over[0][0], "; ".join(t for _, t in over)
    else:  # each kind fits some core, but no core holds all of them
        fits = {kind: [i for i, b in enumerate(getattr(lm, f"{kind}_words"))
                       if getattr(w, kind) <= b] for kind, _ in _WORDS}
        limit = "+".join(f for k, f in _WORDS if len(fits[k]) < len(lm.kernel_words))
        text = (f"{_words_text(w)}: its kernel fits cores {_core_list(fits['kernel'])}, its "
                f"neurons cores {_core_list(fits['neuron'])}, and no core holds both")
    fixes = []
    c_out = _largest_that_fits(lm, s, "c_out")
    if c_out:
        fixes.append(f"at most {c_out} output channels (has {s.c_out})")
    c_in = _largest_that_fits(lm, s, "c_in")
    if c_in:
        fixes.append(f"at most {c_in} input channels (has {s.c_in})")
    fixes.append("a smaller output (stride or pooling before it)" if s.out != (1, 1)
                 else "split it into layers that each fit a core")
    return (g, limit, f"layer '{g}' ({s.c_in} -> {s.c_out} channels, {s.kernel[0]}x{s.kernel[1]} "
                      f"kernel, {s.out[0]}x{s.out[1]} output) needs {text}. Smallest changes: "
                      + ", or ".join(fixes))


def _layer_problems(structure: Structure, target: TargetSpec, lm: LayerMemory
                    ) -> tuple[dict[str, LayerWords], dict[str, list[int]],
                               list[tuple[str, str, str]]]:
    layers: Mapping[str, LayerShape] = structure.layers
    words: dict[str, LayerWords] = {}
    fits: dict[str, list[int]] = {}
    problems: list[tuple[str, str, str]] = []
    for g in structure.groups:
        s = layers[g]
        if len(s.weights) != 1:
            what = (f"{len(s.weights)} weight nodes ({', '.join(repr(w) for w in s.weights)})"
                    if s.weights else "no convolution or linear map")
            recurrent = ", one of them from itself (recurrent)" if g in s.sources else ""
            problems.append((g, "kernels_per_core", (
                f"layer '{g}' receives through {what}{recurrent}; a {target.name} core holds one "
                f"whole layer, fed by exactly one convolution or linear map"
                + (f": {len(s.weights) - 1} too many" if s.weights else "")
                + ". Smallest changes: feed the layer through one convolution or linear map "
                  "(no recurrence or skip connections into it), or a target that cuts layers "
                  "into neuron slices (`neurocc targets` lists them)")))
            continue
        if lm.max_output_channels and s.c_out > lm.max_output_channels:
            problems.append((g, "max_output_channels", (
                f"layer '{g}' has {s.c_out} output channels; a {target.name} core takes at most "
                f"{lm.max_output_channels} (max_output_channels): "
                f"{s.c_out - lm.max_output_channels} too many. Smallest change: split it into layers of at most "
                f"{lm.max_output_channels} channels")))
            continue
        if lm.max_kernel_size and max(s.kernel) > lm.max_kernel_size:
            problems.append((g, "max_kernel_size", (
                f"layer '{g}' has a {s.kernel[0]}x{s.kernel[1]} kernel (a linear map over a "
                f"{s.kernel[0]}x{s.kernel[1]} input counts as one); a {target.name} core takes "
                f"at most {lm.max_kernel_size}x{lm.max_kernel_size} (max_kernel_size). Smallest "
                f"change: pool its input to at most {lm.max_kernel_size}x{lm.max_kernel_size}")))
            continue
        w = lm.words(s.c_in, s.c_out, s.kernel, s.out, s.bias)
        words[g], fits[g] = w, lm.cores_that_fit(w)
        if not fits[g]:
            problems.append(_no_core_problem(g, s, w, lm, target))
    cores = target.cores
    fan_out = cores.max_fan_out if cores is not None else 0
    if fan_out:
        for g in structure.groups:
            dest = sorted(t for t in structure.groups if g in layers[t].sources)
            if len(dest) > fan_out:
                problems.append((g, "max_fan_out", (
                    f"layer '{g}' sends to {len(dest)} layers "
                    f"({', '.join(repr(d) for d in dest)}); "
                    f"a {target.name} core sends to at most {fan_out} (max_fan_out): "
                    f"{len(dest) - fan_out} too many. Smallest changes: at most {fan_out} layers "
                    f"read its spikes (merge the readers into one), or a copy of it for the rest")))
    return words, fits, problems


def _match(groups: list[str], fits: dict[str, list[int]], per_chip: int, chips: int
           ) -> dict[str, int]:
    """A maximum matching of layers onto the cores (global index chip * per_chip + core).

    Augmenting paths (Kuhn's algorithm), layers in program order and cores in index
    order, so the same network always gets the same cores: networkx's Hopcroft-Karp
    walks sets, whose order changes with PYTHONHASHSEED. A handful of layers and cores:
    the quadratic cost is nothing.
    """
    owner: dict[int, str] = {}

    def place(name: str, seen: set[int]) -> bool:
        for h in range(chips):
            for c in fits[name]:
                core = h * per_chip + c
                if core in seen:
                    continue
                seen.add(core)
                if core not in owner or place(owner[core], seen):
                    owner[core] = name
                    return True
        return False

    for name in groups:
        place(name, set())
    core_of = {name: core for core, name in owner.items()}
    return {name: core_of[name] for name in groups if name in core_of}


def _hall_problem(groups: list[str], fits: dict[str, list[int]], matched: dict[str, int],
                  per_chip: int, chips: int, target: TargetSpec) -> tuple[str, str, str]:
    """Layers that together can use fewer cores than they are (Hall's condition fails).

    From an unmatched layer, the layers reachable by alternating paths and the
    cores they may use: every such core is already taken by one of them.
    """
    owner = {c: name for name, c in matched.items()}
    start = next(name for name in groups if name not in matched)
    layers, cores, todo = {start}, set(), [start]
    while todo:
        name = todo.pop()
        for h in range(chips):
            for c in fits[name]:
                c = h * per_chip + c
                if c not in cores:
                    cores.add(c)
                    if c in owner and owner[c] not in layers:
                        layers.add(owner[c])
                        todo.append(owner[c])
    ordered = [g for g in groups if g in layers]
    total = per_chip * chips
    if len(cores) == total:
        text = (f"the network has {len(groups)} layers and each takes a whole core; target "
                f"'{target.name}' has {total} cores ({per_chip} per chip, {chips} chip(s)): "
                f"{len(groups) - total} too many. Smallest changes: fewer layers (merge "
                f"neighbouring ones), or a system of more chips (max_chips in [topology])")
    else:
        text = (f"layers {', '.join(repr(g) for g in ordered)} ({len(ordered)}) fit only cores "
                f"{_core_list(sorted(c % per_chip for c in cores))} ({len(cores)}) of "
                f"'{target.name}' by their memories: {len(ordered) - len(cores)} too many. "
                "Smallest changes: shrink one of them (fewer channels or a smaller output) so "
                "that it fits another core, or a system of more chips")
    return (ordered[0], "cores_per_chip", text)


def plan_layer_per_core(structure: Structure, target: TargetSpec,
                        options: PartitionOptions) -> Plan:
    """The partition Plan of a layer-per-core target: one core per layer (see module doc)."""
    lm, topo, cores = target.layer_memory, target.topology, target.cores
    assert lm is not None and topo is not None and cores is not None
    if structure.layers is None:
        raise NeuroccError(
            f"target '{target.name}' maps each whole layer to one core ([topology] mapping = "
            "'layer_per_core'), which needs the layers' convolution shapes; neurocc reads them "
            "from the float graph only (`neurocc fit MODEL --target ...`), not yet from a "
            "compiled program")
    words, fits, problems = _layer_problems(structure, target, lm)
    if problems:
        raise capacity_error("the network does not fit the target's cores:", problems)
    groups = list(structure.groups)
    per_chip = topo.cores_per_chip
    max_chips = topo.max_chips or 1
    matched: dict[str, int] = {}
    for chips in range(1, max_chips + 1):  # as few chips as will do
        if len(groups) > per_chip * chips:
            continue
        matched = _match(groups, fits, per_chip, chips)
        if len(matched) == len(groups):
            break
    if len(matched) != len(groups):
        if not matched:
            matched = _match(groups, fits, per_chip, max_chips)
        raise capacity_error("", [_hall_problem(groups, fits, matched, per_chip, max_chips,
                                                target)])
    rates = spike_rates(structure, options.activity)
    n = len(groups)
    first = {g: i for i, g in enumerate(groups)}
    src, dst, weight, axons, _ = slice_edges(structure, {g: 1 for g in groups}, first, rates)
    sizes = np.array([structure.groups[g] for g in groups], np.int64)
    synapses = np.zeros(n, np.int64)
    for p in structure.patterns:
        synapses[first[p.target]] += p.nnz
    kernel_bits = np.array([words[g].kernel * cores.dense_weight_bits for g in groups], np.int64)
    fan_in = (np.bincount(dst, weights=axons, minlength=n).astype(np.int64) if dst.size
              else np.zeros(n, np.int64))
    dest = np.bincount(src, minlength=n) if src.size else np.zeros(n, np.int64)
    sg = SliceGraph(list(groups), list(groups), np.zeros(n, np.int64), sizes.copy(), sizes,
                    kernel_bits, fan_in, synapses, dest, src, dst, weight, axons, first,
                    {g: 1 for g in groups}, {})
    where = np.array([matched[g] for g in groups], np.int64)
    chip, core = where // per_chip, where % per_chip
    used = int(chip.max()) + 1
    # one layer per core: the global core number is the key that tells cores apart
    a = Assignment(core, chip, [int((chip == h).sum()) for h in range(used)], "layer_per_core",
                   *cross_traffic(sg, where, chip))
    per_core = []
    for i, g in enumerate(groups):
        c = int(core[i])
        budget = {k: getattr(lm, f"{k}_words")[c] for k, _ in _WORDS}
        per_core.append({
            "chip": int(chip[i]), "core": c, "slices": [g], "neurons": int(sizes[i]),
            **{f"{k}_words": getattr(words[g], k) for k, _ in _WORDS},
            **{f"{k}_budget": budget[k] for k, _ in _WORDS},
            "fan_out": int(np.unique(where[dst[src == i]]).size), "synapses": int(synapses[i])})
    binding, layers = {}, {}
    for i, g in enumerate(groups):
        s, w = structure.layers[g], words[g]
        tight = [f for k, f in _WORDS if getattr(w, k) > min(getattr(lm, f"{k}_words"))]
        binding[g] = (tight[0] if tight else "none",
                      f"{_words_text(w)}: cores {_core_list(fits[g])} hold it" if tight
                      else f"{_words_text(w)}: fits any core")
        layers[g] = {"neurons": int(sizes[i]), "slices": 1, "slice_size": int(sizes[i]),
                     "binding": binding[g][0], "why": binding[g][1],
                     "cores": [[int(chip[i]), int(core[i])]],
                     "shape": {"c_in": s.c_in, "c_out": s.c_out, "kernel": list(s.kernel),
                               "out": list(s.out), "bias": s.bias},
                     "words": dataclasses.asdict(w), "fits_cores": fits[g]}
    limits = {"kernel_memory_words": list(lm.kernel_words),
              "neuron_memory_words": list(lm.neuron_words),
              "bias_memory_words": list(lm.bias_words), "max_fan_out": cores.max_fan_out}
    report = plan_report(target, a, [a], sg, options, rates, limits, layers,
                         _utilization(per_core, lm, cores.max_fan_out), per_core,
                         mapping="layer_per_core")
    return Plan(sg, binding, a, per_core, report, rates)


def _utilization(per_core: list[dict[str, Any]], lm: LayerMemory, max_fan_out: int
                 ) -> dict[str, Any]:
    """Per kind of word, need over the budget of the core each layer took; and fan-out."""
    util = {}
    for k, field in _WORDS:
        need = np.array([c[f"{k}_words"] for c in per_core], np.float64)
        have = np.array([c[f"{k}_budget"] for c in per_core], np.float64)
        frac = need / np.maximum(have, 1)
        util[f"{k}_words"] = {"limit": list(getattr(lm, f"{k}_words")), "max": int(need.max()),
                              "mean": float(need.mean()), "max_fraction": float(frac.max()),
                              "mean_fraction": float(frac.mean())}
    fo = np.array([c["fan_out"] for c in per_core], np.float64)
    util["fan_out"] = {"limit": max_fan_out or None, "max": int(fo.max()),
                       "mean": float(fo.mean()),
                       "max_fraction": float(fo.max() / max_fan_out) if max_fan_out
                       else None,
                       "mean_fraction": float(fo.mean() / max_fan_out) if max_fan_out
                       else None}
    return util
