"""The plan of a target that cuts layers into neuron slices: slice, assign to cores, check.

Slices are packed into cores and cores into chips so that few spikes cross
cores, and fewer still chips. ``greedy`` fills cores and chips in program
order; ``graph`` partitions the slice graph into chips with METIS, then fills
cores chip by chip; ``auto`` runs both and keeps the one that fits with less
inter-chip traffic (then less inter-core traffic, then fewer cores).
"""

from __future__ import annotations

import math

from neurocc.ir.target import TargetSpec

from .chips import assign_graph
from .limits import as_limit
from .packing import assign_greedy
from .plan import PartitionOptions, Plan
from .report import check_cores, core_resources, slice_report, too_many_chips
from .slices import slice_network
from .structure import Structure, spike_rates


def _topology(target: TargetSpec) -> tuple[float, float]:
    """(cores per chip, chips): unbounded cores on one chip when the target names no topology."""
    t = target.topology
    if t is None:
        return math.inf, 1.0
    return (as_limit(t.cores_per_chip), as_limit(t.max_chips))


def plan_neuron_slices(structure: Structure, target: TargetSpec,
                       options: PartitionOptions) -> Plan:
    """Slice, assign, check and report, for a target whose [cores] table is set."""
    cores = target.cores
    assert cores is not None  # plan_partition refuses a target without one
    rates = spike_rates(structure, options.activity)
    sg, binding = slice_network(structure, cores, rates)
    per_chip, max_chips = _topology(target)
    greedy = assign_greedy(sg, cores, per_chip)
    if sg.aligned:
        # cuts on channel boundaries keep convolution blocks whole, unless they cost a core
        even, even_binding = slice_network(structure, cores, rates, align=False)
        even_greedy = assign_greedy(even, cores, per_chip)
        if even_greedy.cores_used < greedy.cores_used:
            sg, binding, greedy = even, even_binding, even_greedy
    candidates = [greedy]
    if options.strategy in ("auto", "graph") and len(greedy.cores_per_chip) > 1:
        graph = assign_graph(sg, cores, per_chip, len(greedy.cores_per_chip), max_chips,
                             options.seed, start=greedy)
        if graph is not None:
            candidates.append(graph)
    if options.strategy == "greedy":
        chosen = greedy
    elif options.strategy == "graph":
        chosen = candidates[-1]
    else:
        fitting = [c for c in candidates if len(c.cores_per_chip) <= max_chips]
        chosen = min(fitting or candidates, key=lambda c: (c.inter_chip, c.inter_core,
                                                           c.cores_used))
    if len(chosen.cores_per_chip) > max_chips:
        raise too_many_chips(structure, sg, binding, chosen, target, rates)
    per_core = core_resources(structure, sg, chosen)
    check_cores(per_core, cores)
    report = slice_report(structure, sg, binding, chosen, candidates, per_core, target,
                          options, rates)
    return Plan(sg, binding, chosen, per_core, report, rates)
