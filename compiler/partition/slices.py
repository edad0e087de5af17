"""The whole network cut into slices, and the slice graph: who sends how many spikes to whom.

Each group gets the fewest balanced contiguous slices under which every
slice respects neurons, memory and fan-in (``slicer.py``); a limit on fan-out
or routing entries then cuts a group further while one of its slices would
reach more destination slices than allowed. The result, a ``SliceGraph``, is
what both planners assign to cores (the layer-per-core one builds it with one
slice per layer).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Mapping

import numpy as np

from neurocc.ir.target import CoreLimits

from .cuts import Cut, merge, slice_pairs
from .limits import as_limit, capacity_error
from .patterns import Pattern
from .slicer import GroupSlicer, NoCut, binding_of, single_neuron_problems
from .structure import Structure


@dataclasses.dataclass
class SliceGraph:
    """Slices (in group order) and the spikes per step between them."""

    names: list[str]
    group: list[str]
    start: np.ndarray
    stop: np.ndarray
    neurons: np.ndarray
    memory: np.ndarray
    fan_in: np.ndarray
    synapses: np.ndarray
    #: slice -> number of distinct destination slices
    dest: np.ndarray
    #: edges u -> v (slice indices) with expected spikes per step and distinct source neurons
    src: np.ndarray
    dst: np.ndarray
    weight: np.ndarray
    axons: np.ndarray
    first: dict[str, int]        # group -> index of its first slice
    count: dict[str, int]        # group -> slices
    dense: dict[tuple[str, int], bool]  # (pattern, target slice index within group) -> dense
    #: groups cut on a convolution's channel boundaries rather than evenly
    aligned: tuple[str, ...] = ()
    #: per slice (neurons, memory, fan-in, destinations) as Python numbers, for packing.pack's loop
    _needs: list[tuple[Any, ...]] | None = dataclasses.field(default=None, repr=False,
                                                               compare=False)

    def needs(self) -> list[tuple[Any, ...]]:
        if self._needs is None:
            self._needs = list(zip(self.neurons.tolist(), self.memory.tolist(),
                                   self.fan_in.tolist(), self.dest.tolist()))
        return self._needs


def slice_edges(structure: Structure, cuts: Mapping[str, "int | Cut"], first: dict[str, int],
                rates: Mapping[str, float]) -> tuple[np.ndarray, ...]:
    """(src, dst, spikes per step, distinct source neurons) per slice pair, plus per-neuron
    destination slices of every group. `cuts`: each group's Cut, or its number of
    slices for the balanced cut."""
    cut = {g: c if isinstance(c, Cut) else Cut.even(int(c), structure.groups[g])
           for g, c in cuts.items()}
    by_pair: dict[tuple[str, str], list[Pattern]] = {}
    for p in structure.patterns:
        if p.source in structure.groups:
            by_pair.setdefault((p.source, p.target), []).append(p)
    srcs, dsts, counts, weights = [], [], [], []
    per_neuron = {g: np.zeros(n, np.int64) for g, n in structure.groups.items()}
    for (s, t), ps in by_pair.items():
        k_t = cut[t].k
        uniq, cnt, reach = slice_pairs(merge(ps, structure.groups[t]), cut[s], cut[t])
        per_neuron[s] += reach
        srcs.append(first[s] + uniq // k_t)
        dsts.append(first[t] + uniq % k_t)
        counts.append(cnt)
        weights.append(cnt * float(rates[s]))
    cat = lambda xs, dt: np.concatenate(xs).astype(dt) if xs else np.zeros(0, dt)  # noqa: E731
    return (cat(srcs, np.int64), cat(dsts, np.int64), cat(weights, np.float64),
            cat(counts, np.int64), per_neuron)


def channel_units(structure: Structure) -> dict[str, int]:
    """Per group, the neurons per channel its cut should respect to keep convolution blocks
    whole: the least common multiple of the output-channel size of the convolutions into
    it and the input-channel size of those out of it (1: none)."""
    unit = {g: 1 for g in structure.groups}
    for p in structure.patterns:
        if p.row_unit > 1:
            unit[p.target] = math.lcm(unit[p.target], p.row_unit)
        if p.col_unit > 1 and p.source in unit:
            unit[p.source] = math.lcm(unit[p.source], p.col_unit)
    return unit


def slice_network(structure: Structure, cores: CoreLimits, rates: Mapping[str, float],
                  align: bool = True) -> tuple[SliceGraph, dict[str, tuple[str, str]]]:
    """Cut every group under every per-core limit; the slice graph and each group's binding.

    With `align`, a group a convolution feeds (or reads) whose balanced cut splits a
    channel is cut on channel boundaries instead, into as many slices, where that
    still fits every limit (``GroupSlicer.aligned``): its blocks' slices stay
    convolutions. ``SliceGraph.aligned`` names those groups.
    """
    incoming: dict[str, list[Pattern]] = {g: [] for g in structure.groups}
    for p in structure.patterns:
        incoming[p.target].append(p)
    unit = channel_units(structure) if align else {}
    slicers = {g: GroupSlicer(g, n, incoming[g], cores, unit.get(g, 1))
               for g, n in structure.groups.items()}
    problems = [msg for s in slicers.values() if s.n for msg in single_neuron_problems(s)]
    if problems:
        raise capacity_error("the network does not fit the target's cores:", problems)
    k = {g: (s.search() if s.n else 1) for g, s in slicers.items()}
    dest_limit = min(as_limit(cores.max_fan_out), as_limit(cores.routing_entries))
    dest_field = ("max_fan_out" if as_limit(cores.max_fan_out) <= as_limit(cores.routing_entries)
                  else "routing_entries")
    dest_bound: set[str] = set()
    for _ in range(16):
        first, at = {}, 0
        for g in structure.groups:
            first[g], at = at, at + k[g]
        src, dst, weight, axons, per_neuron = slice_edges(structure, k, first, rates)
        dest = np.bincount(src, minlength=at) if src.size else np.zeros(at, np.int64)
        if math.isinf(dest_limit) or dest.max(initial=0) <= dest_limit:
            break
        problems += _fan_out_problems(structure, per_neuron, dest_limit, cores)
        if problems:
            break
        # cut further the groups with a slice that reaches too many slices
        bad = {g for g in structure.groups if
               dest[first[g]:first[g] + k[g]].max(initial=0) > dest_limit}
        for g in sorted(bad):
            try:
                k[g] = _search_dest(structure, slicers[g], k, dest_limit)
            except NoCut:
                problems.append((g, dest_field, (
                    f"layer '{g}': even one neuron per slice, a slice would send to more than "
                    f"{int(dest_limit)} cores (max_fan_out {cores.max_fan_out}, routing_entries "
                    f"{cores.routing_entries}): cutting it also cuts the layers it feeds "
                    "(itself, when recurrent). Smallest changes: fewer connections, or a chip "
                    "with more routing entries per core")))
            dest_bound.add(g)
        if problems:
            break
    else:
        problems.append(("", dest_field, "fan-out / routing entries: cutting the layers finer "
                         f"did not bring every core under {int(dest_limit)} destinations"))
    if problems:
        raise capacity_error("the network does not fit the target's cores:", problems)
    cuts: dict[str, Cut] = {g: Cut.even(k[g], structure.groups[g]) for g in structure.groups}
    moved = {g: c for g, s in slicers.items() if (c := s.aligned(k[g])) is not None}
    if moved:
        # the same slices, other bounds: keep them only if no slice then reaches more
        # destination slices than a core may send to
        trial = cuts | moved
        edges = slice_edges(structure, trial, first, rates)
        dest_t = np.bincount(edges[0], minlength=at) if edges[0].size else np.zeros(at, np.int64)
        if math.isinf(dest_limit) or dest_t.max(initial=0) <= dest_limit:
            cuts = trial
            src, dst, weight, axons, _ = edges
            dest = dest_t
        else:
            moved = {}
    names, group, start, stop = [], [], [], []
    neurons, memory, fan_in, synapses = [], [], [], []
    dense: dict[tuple[str, int], bool] = {}
    count = {}
    for g, s in slicers.items():
        st = s.evaluate(cuts[g] if g in moved else k[g])
        b = cuts[g].bounds
        count[g] = k[g]
        for j in range(k[g]):
            names.append(g if k[g] == 1 else f"{g}@{j}")
            group.append(g)
        start.append(b[:-1])
        stop.append(b[1:])
        neurons.append(st.neurons)
        memory.append(st.memory)
        fan_in.append(st.fan_in)
        synapses.append(st.synapses)
        for p in s.patterns:
            for j, d in enumerate(st.dense[p.name]):
                dense[(p.name, j)] = bool(d)
    cat = lambda xs: (np.concatenate(xs).astype(np.int64) if xs  # noqa: E731
                      else np.zeros(0, np.int64))
    graph = SliceGraph(names, group, cat(start), cat(stop), cat(neurons), cat(memory),
                       cat(fan_in), cat(synapses), dest, src, dst, weight, axons, first, count,
                       dense, aligned=tuple(moved))
    binding = {g: binding_of(slicers[g], k[g], dest_field if g in dest_bound else None)
               for g in structure.groups}
    return graph, binding


def _fan_out_problems(structure: Structure, per_neuron: dict[str, np.ndarray], limit: float,
                      cores: CoreLimits) -> list[tuple[str, str, str]]:
    out = []
    for g, d in per_neuron.items():
        if d.size and d.max() > limit:
            i = int(np.argmax(d))
            field = ("max_fan_out" if as_limit(cores.max_fan_out) <= as_limit(cores.routing_entries)
                     else "routing_entries")
            out.append((g, field,
                        f"layer '{g}': neuron {i} sends to {int(d[i])} slices of other layers, "
                       f"each on its own core; a core may send to at most {int(limit)} cores "
                       f"(max_fan_out {cores.max_fan_out}, routing_entries "
                       f"{cores.routing_entries}). Smallest changes: connect it to fewer "
                       "neurons, or a chip whose cores take more neurons so its targets need "
                       "fewer cores"))
    return out


def _search_dest(structure: Structure, slicer: GroupSlicer, k: dict[str, int],
                 limit: float) -> int:
    """Fewest slices of one group under which none reaches more than `limit` slices."""
    g = slicer.name

    def fits(kg: int) -> bool:
        trial = dict(k, **{g: kg})
        first, at = {}, 0
        for name in structure.groups:
            first[name], at = at, at + trial[name]
        sub = Structure(structure.groups, structure.ports,
                        [p for p in structure.patterns if p.source == g])
        src = slice_edges(sub, trial, first, {name: 1.0 for name in structure.groups})[0]
        return np.bincount(src - first[g], minlength=kg).max(initial=0) <= limit

    return slicer.search(k[g] + 1, fits)
