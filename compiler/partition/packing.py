"""Slices onto cores: the Assignment, next-fit packing, and the ``greedy`` strategy.

``greedy`` fills cores and then chips in program order. ``pack`` is also the
test the ``graph`` strategy (``chips.py``) runs after every move: a chip's
slices fit when they pack into its cores.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Iterable

import numpy as np

from neurocc.ir.target import CoreLimits

from .limits import as_limit
from .slices import SliceGraph


@dataclasses.dataclass
class Assignment:
    core: np.ndarray   # per slice: core number on its chip
    chip: np.ndarray   # per slice
    cores_per_chip: list[int]
    strategy: str
    inter_core: float  # spikes per step between slices on different cores
    inter_chip: float
    #: how the chips were chosen (for `graph`: which start the refinement improved)
    origin: str = ""

    @property
    def cores_used(self) -> int:
        return sum(self.cores_per_chip)


def pack(order: Iterable[int], sg: SliceGraph, cores: CoreLimits) -> list[list[int]]:
    """Next-fit: slices in `order` fill a core until one more would break a limit.

    Fan-in and destinations are summed over the core's slices (a bound from
    above: slices may share sources and destinations), so a packed core always
    fits; the exact figures are computed afterwards.
    """
    lim_n, lim_m, lim_f = (as_limit(cores.max_neurons), as_limit(cores.synapse_memory_bits),
                           as_limit(cores.max_fan_in))
    lim_d = min(as_limit(cores.max_fan_out), as_limit(cores.routing_entries))
    needs = sg.needs()
    if isinstance(order, np.ndarray):
        order = order.tolist()
    # plain Python numbers and one comparison per resource: the refinement packs a chip
    # after every move it tries, so this loop is most of its time
    bins: list[list[int]] = []
    a = b = c = d = 0.0
    for u in order:
        n, m, f, x = needs[u]
        if bins and a + n <= lim_n and b + m <= lim_m and c + f <= lim_f and d + x <= lim_d:
            bins[-1].append(u)
            a, b, c, d = a + n, b + m, c + f, d + x
        else:
            bins.append([u])
            a, b, c, d = float(n), float(m), float(f), float(x)
    return bins


def cross_traffic(sg: SliceGraph, core_key: np.ndarray, chip: np.ndarray) -> tuple[float, float]:
    """(inter-core, inter-chip) spikes per step; `core_key` tells cores apart across chips."""
    cross_core = core_key[sg.src] != core_key[sg.dst]
    cross_chip = chip[sg.src] != chip[sg.dst]
    return float(sg.weight[cross_core].sum()), float(sg.weight[cross_chip].sum())


def finish(bins_per_chip: list[list[list[int]]], sg: SliceGraph, strategy: str,
            origin: str = "") -> Assignment:
    n = len(sg.names)
    core = np.zeros(n, np.int64)
    chip = np.zeros(n, np.int64)
    counts = []
    for h, bins in enumerate(b for b in bins_per_chip if b):
        counts.append(len(bins))
        for c, members in enumerate(bins):
            core[members] = c
            chip[members] = h
    key = chip * (max(counts, default=1) + 1) + core
    inter_core, inter_chip = cross_traffic(sg, key, chip)
    return Assignment(core, chip, counts, strategy, inter_core, inter_chip, origin)


def assign_greedy(sg: SliceGraph, cores: CoreLimits, cores_per_chip: float) -> Assignment:
    bins = pack(range(len(sg.names)), sg, cores)
    per = len(bins) if math.isinf(cores_per_chip) else int(cores_per_chip)
    return finish([bins[i:i + per] for i in range(0, len(bins), max(per, 1))], sg, "greedy")
