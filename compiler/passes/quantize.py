"""``quantize(target)``: float graph -> integer Program, generic over the target.

What is the same on every chip lives here: the synapse chains between neuron
nodes are composed (``lower``), every group gets its feed-forward depth, every
block the delay that keeps the float timing, every bias a constant source, and
the per-layer report and the Program are assembled. Everything chip-specific
(decays, thresholds, scales, weight formats, extra blocks, the errors that say
which ``--vth`` fits) is asked of ``target.rules`` one neuron node at a time.

Timing: every synapse block adds ``target.synapses.latency`` steps. A group at
feed-forward depth d (inputs at 0) therefore runs d latencies behind the float
model; a block from depth d_s to d_t over r recurrent edges gets the delay
``d_t - d_s + r - latency`` (in latencies' units) so that every float timing
relation holds exactly, and an Affine bias enters through a constant source
that starts at step ``d_t - latency``. Each output port records its latency.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from neurocc.ir import (Graph, InputPort, OutputPort, Program, QuantizationError,
                        UnsupportedNodeError, dynamics)
from neurocc.ir.blocks import Dense
from neurocc.ir.inputs import resolve_dt
from neurocc.ir.target import GroupContext, Incoming

from .linear_ops import DENSE_MAX
from .lower import BIAS, Lowered, lower_synapses


def _for_rules(matrix: Any, rules: Any, name: str, chip: str) -> Any:
    """A contribution as the target's rules take it: in its own encoding where they list
    it, as ``Dense`` where they take encodings but not this one, else a plain matrix."""
    accepted = tuple(getattr(rules, "encodings", ()))
    kind = "dense" if isinstance(matrix, np.ndarray) else matrix.kind
    if kind in accepted and kind != "dense":
        return matrix
    if not isinstance(matrix, np.ndarray):
        n_t, n_s = matrix.shape
        if n_t * n_s > DENSE_MAX:
            raise UnsupportedNodeError(
                f"block '{name}' is a {kind} connection of {n_t} x {n_s} synapses; {chip} "
                f"stores {', '.join(accepted) or 'dense'} blocks, and a dense one this size "
                f"({n_t * n_s:,} weights) is more than neurocc expands. Use a target that "
                "stores it as it is, or a smaller layer")
        matrix = matrix.to_dense().astype(np.float64)
    return Dense(matrix) if accepted else matrix


@dataclasses.dataclass(frozen=True)
class QuantizeOptions:
    """Options of the quantize pass (each target's rules read the ones they use).

    force: per neuron node, integers to use instead of the derived ones, e.g.
        {"1": {"dv": 163, "vth": 25}} (the NIR paper's mapping of one neuron).
    vth: the integer threshold all neurons share (None: the target's default).
    headroom: how many thresholds the integer current and voltage must hold.
    weight_blocks: synapse blocks per connection (2 doubles weight precision; 1 = plain).
    calibration: per neuron node, the peak synaptic current seen on sample inputs, in
        thresholds (``simulators.calibration``, run by the driver); sets that group's vth as
        large as the integer current allows (more resolution for weights and state).
    sparse_below: store a block as sparse when its density is below this.
    """

    force: dict[str, dict[str, int]] = dataclasses.field(default_factory=dict)
    vth: int | None = None
    headroom: int = 128
    weight_blocks: int = 2
    calibration: dict[str, float] = dataclasses.field(default_factory=dict)
    sparse_below: float = 0.25


def quantize(graph: Graph, target: Any, options: QuantizeOptions = QuantizeOptions(),
             dt: float | None = None) -> Program:
    """Lower and quantize `graph` for `target` into a Program, with a per-layer report.

    `dt`: seconds per step; None reads the graph's (the discretize pass sets it).
    """
    rules = getattr(target, "rules", None)
    if rules is None:
        raise UnsupportedNodeError(f"target '{target.name}' describes no integer arithmetic, so "
                                   "neurocc cannot quantize for it yet (it can still be used by "
                                   "`neurocc fit`)")
    dt = resolve_dt(dt, graph.metadata)
    factors = dynamics.discretize(graph, dt)
    lowered: Lowered = lower_synapses(graph, rules)
    unknown = sorted(set(options.force) - set(lowered.groups))
    if unknown:
        raise QuantizationError(f"--force names {unknown}, which are not neuron nodes "
                                f"(neuron nodes: {lowered.groups})")
    depth: dict[str, int] = {n: 0 for n in lowered.inputs}
    # lead: steps the chip runs a group behind the float model; every block adds its
    # latency (``input_latency`` from an input port, ``latency`` from a group)
    lat, max_delay = target.synapses.latency, target.synapses.max_delay
    lat_in = getattr(target.synapses, "input_latency", lat)
    lead: dict[str, int] = {n: 0 for n in lowered.inputs}
    edge_lat = lambda src: lat_in if src in lowered.inputs else lat  # noqa: E731
    for g in lowered.groups:
        ff = [c.source for c in lowered.incoming[g] if c.hops == 0 and c.source in depth]
        depth[g] = 1 + max((depth[c] for c in ff), default=0)
        lead[g] = max((lead[c] + edge_lat(c) for c in ff), default=lat_in)
    readers: dict[str, list[str]] = {g: [] for g in lowered.groups}
    feeds: dict[str, list[str]] = {g: [] for g in lowered.groups}
    for o, g in lowered.outputs.items():
        readers[g].append(o)
    for g in lowered.groups:
        for c in lowered.incoming[g]:
            if c.source in feeds and g not in feeds[c.source]:
                feeds[c.source].append(g)
    groups, blocks = {}, []
    consts: dict[int, InputPort] = {}
    report: dict[str, Any] = {"groups": {}, "blocks": {}}
    deferred: list[Any] = []
    notes: list[str] = []
    voltage_scale: dict[str, float] = {}   # readouts: chip v units per float unit

    def context(g: str) -> GroupContext:
        incoming = []
        for c in lowered.incoming[g]:
            if c.source == BIAS:
                # a constant source, switched on so its first spike lands on the target's
                # first aligned step (later by one step per recurrent edge on the path)
                start = lead[g] - lat_in + c.hops
                port = consts.setdefault(start, InputPort(f"const@{start}", (1,), "const", start))
                source, delay = port.name, 0
            else:
                source = c.source
                delay = lead[g] - lead.get(c.source, 0) + c.hops - edge_lat(c.source)
            if delay < 0 or delay > max_delay:
                why = ("recurrent edges into an earlier layer cannot be expressed" if delay < 0
                       else f"{target.name} delays a synapse by at most {max_delay} step(s), so a "
                       "skip connection past a layer cannot keep the float timing; remove the "
                       "skip, or route it through the layers in between")
                raise UnsupportedNodeError(
                    f"edge '{c.source}' -> '{g}' would need a synaptic delay of {delay} steps to keep "
                    f"the float timing on {target.name} (range 0..{max_delay}); {why}")
            name = f"{source}->{g}" + (f"@{c.hops}" if c.hops and source == c.source else "")
            incoming.append(Incoming(name, source, c.source, delay, c.hops,
                                     _for_rules(c.matrix, rules, name, rules.chip),
                                     c.source == BIAS))
        return GroupContext(g, graph.nodes[g], tuple(graph.shapes[g].output), dt,
                            factors.a_mem[g], factors.a_syn.get(g),
                            depth[g], lead[g], tuple(incoming), options, bool(deferred),
                            tuple(readers[g]), tuple(feeds[g]))

    if hasattr(rules, "quantize_network"):   # a chip whose groups share formats
        results = rules.quantize_network([context(g) for g in lowered.groups])
    else:   # lazily: each context sees whether an earlier group deferred a problem
        results = (rules.quantize_group(context(g)) for g in lowered.groups)
    for g, done in zip(lowered.groups, results):
        groups[g] = done.group
        blocks += done.blocks
        report["groups"][g] = done.report
        report["blocks"].update(done.block_reports)
        notes += done.notes
        deferred += done.deferred
        if done.voltage_scale is not None:
            voltage_scale[g] = done.voltage_scale
    if deferred:
        raise rules.deferred_error(deferred)
    inputs = [InputPort(n, tuple(graph.shapes[n].output)) for n in lowered.inputs]
    used = {b.source for b in blocks}   # a chip may take a bias as a parameter instead
    inputs += [consts[k] for k in sorted(consts) if consts[k].name in used]
    outputs = []
    for o, g in sorted(lowered.outputs.items()):
        shape, latency = tuple(graph.shapes[g].output), lead[g]
        outputs.append(OutputPort(o, g, shape, latency=latency) if g not in voltage_scale else
                       OutputPort(o, g, shape, kind="voltage", scale=voltage_scale[g],
                                  latency=latency))
    semantics = {
        "dt": dt, **rules.semantics(),
        "recurrence": "an edge closing a cycle carries the previous step (chip: one synapse step)",
        "synaptic_latency": lat,
        **({"input_latency": lat_in} if lat_in != lat else {}),
    }
    if notes:
        report["notes"] = notes
    program = Program(target.name, groups, blocks, inputs, outputs, semantics,
                      info={"quantization": report}, dt=dt)
    program.check()
    return program
