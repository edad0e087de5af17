"""The partition pass: check and plan a network, then rewrite the Program into slices.

``plan_partition`` runs the checks every target shares (a strategy it knows,
a ``[cores]`` table, the ``[network]`` limits) and hands the Structure to the
target's planner: ``layer_cores`` for ``mapping = "layer_per_core"``, else
``neuron_slices``. ``partition`` applies the Plan to a Program: every group cut
into its slices (``"{group}@{k}"``), every block into one block per (source
slice, target slice) pair that holds a non-zero weight (``"{block}@{i}>{j}"``),
in the block's encoding where the cut allows it (a convolution cut on channel
boundaries stays one; ``block_cuts``), else Sparse.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from neurocc.ir import CapacityError, NeuroccError, Program
from neurocc.ir.program import NeuronGroup, SynapseBlock
from neurocc.ir.target import TargetSpec

from .block_cuts import pieces
from .layer_cores import plan_layer_per_core
from .limits import capacity_error
from .network import network_problems
from .neuron_slices import plan_neuron_slices
from .plan import STRATEGIES, PartitionOptions, Plan
from .slices import SliceGraph
from .structure import Structure


def plan_partition(structure: Structure, target: TargetSpec,
                   options: PartitionOptions = PartitionOptions()) -> Plan:
    """Slice, assign, check: everything `partition` decides, on a Structure."""
    if options.strategy not in STRATEGIES:
        raise NeuroccError(f"partition strategy must be one of {', '.join(STRATEGIES)}, "
                           f"got {options.strategy!r}")
    if target.cores is None:
        raise CapacityError(f"target '{target.name}' has no [cores] table: neurocc cannot tell "
                            "what fits on one of its cores; add [cores] to its TOML")
    structure.check()
    problems = network_problems(structure, target)
    if problems:
        raise capacity_error(f"the network does not fit target '{target.name}' as a whole "
                             "([network] limits):", problems)
    if target.topology is not None and target.topology.mapping == "layer_per_core":
        return plan_layer_per_core(structure, target, options)
    return plan_neuron_slices(structure, target, options)


def _check_exact_split(program: Program, sg: SliceGraph) -> None:
    """A block whose sum is shifted right cannot always be cut by source exactly.

    The chip (its oracle, the emulator) shifts each block's accumulated sum
    by its weight exponent, and floor(a/2^k) + floor(b/2^k) != floor((a+b)/2^k).
    A block with a negative exponent is split across source slices only when
    every weight is a multiple of 2^-exp within the 9-bit range (clipping and
    the dropped low bits keep such weights multiples, so the shift is exact).
    """
    problems = []
    for b in program.synapses:
        if b.weight_exp >= 0 or b.source not in sg.count or sg.count[b.source] == 1:
            continue
        low, high = b.weights.value_range()
        unit = 1 << -b.weight_exp
        if (max(-low, high) > 255
                or any(np.any(v.astype(np.int64) % unit) for _, _, v in b.weights.chunks())):
            problems.append((b.target, "weight_exp",
                             f"block '{b.name}' (weight_exp {b.weight_exp}) would be split across "
                             f"{sg.count[b.source]} slices of '{b.source}'"))
    if problems:
        readouts = sorted({t for t, _, _ in problems} & set(program.readout_groups))
        if readouts:   # a readout's exponent follows from its reach, not from --vth
            problems.append(("", "weight_exp", f"a voltage readout ({', '.join(readouts)}) gets "
                             "its weight exponent from the largest voltage it can reach, which "
                             "--vth does not change: read a spiking layer (IF or LIF) out "
                             "instead, or a source layer small enough for one core"))
        problems.append(("", "weight_exp", "requantize so the exponents are >= 0 (e.g. a larger "
                         "--vth), or use a target whose cores hold the whole source layer"))
        raise capacity_error("splitting these blocks by source would change the chip's rounding "
                             "(each part's sum is shifted right on its own):", problems)


def partition(program: Program, target: TargetSpec,
              options: PartitionOptions = PartitionOptions()) -> Program:
    """The Program cut into core-sized slices, placed on cores and chips (see module doc)."""
    structure = Structure.from_program(program)
    plan = plan_partition(structure, target, options)
    _check_exact_split(program, plan.slices)
    return apply_plan(program, plan)


def _slice_params(g: NeuronGroup, a: int, b: int) -> dict[str, np.ndarray]:
    """Neurons a..b-1's parameters: per-neuron arrays cut, values the group shares copied."""
    out = {}
    for k, v in g.params.items():
        arr = np.asarray(v)
        if arr.ndim == 0 or arr.size == 1 and g.size != 1:
            out[k] = arr.copy()
        elif arr.size == g.size:
            out[k] = arr.reshape(-1)[a:b].copy()
        else:
            raise ValueError(f"group '{g.name}': parameter '{k}' has {arr.size} values for "
                             f"{g.size} neurons")
    return out


def apply_plan(program: Program, plan: Plan) -> Program:
    """`program` rewritten into the plan's slices, each placed on its chip and core.

    The plan's resource report goes to ``info["resources"]``; nothing else changes.
    """
    sg, a = plan.slices, plan.assignment
    groups: dict[str, NeuronGroup] = {}
    placement: dict[str, dict[str, Any]] = {}
    for u, name in enumerate(sg.names):
        g = program.groups[sg.group[u]]
        lo, hi = int(sg.start[u]), int(sg.stop[u])
        if sg.count[g.name] == 1:
            groups[name] = dataclasses.replace(g, params={k: np.asarray(v).copy()
                                                          for k, v in g.params.items()})
        else:
            groups[name] = NeuronGroup(name, g.model, (hi - lo,), _slice_params(g, lo, hi),
                                       g.source)
        placement[name] = {"slice_of": g.name, "start": lo, "stop": hi,
                           "core": int(a.core[u]), "chip": int(a.chip[u])}
    synapses: list[SynapseBlock] = []
    for b in program.synapses:
        w = b.weights
        t0, kt = sg.first[b.target], sg.count[b.target]
        if b.source in sg.count:
            s0, ks = sg.first[b.source], sg.count[b.source]
            s_bounds = np.append(sg.start[s0:s0 + ks], sg.stop[s0 + ks - 1])
        else:
            s0, ks = -1, 1
            s_bounds = np.array([0, w.shape[1]], np.int64)
        t_bounds = np.append(sg.start[t0:t0 + kt], sg.stop[t0 + kt - 1])
        split = kt > 1 or ks > 1
        if not split:
            synapses.append(dataclasses.replace(
                b, source=b.source if s0 < 0 else sg.names[s0], target=sg.names[t0],
                weights=w.map_values(np.ascontiguousarray),
                storage="dense" if sg.dense.get((b.name, 0), b.storage == "dense") else "sparse"))
            continue
        for j, i, sub in pieces(w, t_bounds, s_bounds):
            if not sub.nnz():
                continue
            enc = "dense" if sg.dense.get((b.name, j), b.storage == "dense") else "sparse"
            synapses.append(dataclasses.replace(
                b, name=f"{b.name}@{i}>{j}", source=sg.names[s0 + i] if s0 >= 0 else b.source,
                target=sg.names[t0 + j], weights=sub, storage=enc))
    outputs = []
    for o in program.outputs:
        f, k = sg.first[o.group], sg.count[o.group]
        outputs.append(dataclasses.replace(o, parts=tuple(sg.names[f:f + k])))
    info = dict(program.info, resources=plan.report)
    # the rates the plan weighed traffic by: a typed field, which place & route reads
    rates = {g: float(r) for g, r in plan.report["rates"]["per_group"].items()}
    out = dataclasses.replace(program, groups=groups, synapses=synapses,
                              inputs=list(program.inputs), outputs=outputs,
                              semantics=dict(program.semantics), pass_log=list(program.pass_log),
                              info=info, placement=placement, rates=rates)
    out.check()
    return out
