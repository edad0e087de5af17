"""The patterns of a float graph whose every synapse chain is one weight node, read directly.

``Structure.from_graph`` lowers a graph to learn its connectivity; lowering
holds every composed map at once (a dense Affine as a float64 copy), which a
0.9-billion-parameter model cannot afford. Most large models need none of it:
every connection is a neuron (or Input) node, Flatten / Identity nodes, at most
one Affine or Linear, more Flatten / Identity nodes, and a neuron node. For
such a graph the pattern of each connection is its weight's non-zeros (full
when there is no zero) and the bias's, read here node by node in the weight's
own dtype, with the names, hops and order lowering gives them.

Anything else (a convolution, pooling, a scale, two weight nodes in a chain,
two chains from one source into one node, which lowering sums) returns None
and the caller lowers the graph as before; tests check that both give the same
Structure.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..passes.lower import NEURON_KINDS, READOUT_KINDS
from .patterns import Pattern

_PASS = ("Flatten", "Identity")
_WEIGHT = ("Affine", "Linear")


def _chain(graph: Any, rec: frozenset, start: str, target: str, neurons: tuple[str, ...]
           ) -> tuple[str, str | None, int, int] | None:
    """Walk back from `start` (a predecessor of `target`) to a neuron or Input node.

    Returns (source, weight node or None, hops on the whole chain, hops after the weight
    node), or None when the chain is not neuron -> [pass] -> [one weight] -> [pass].
    """
    hops = 1 if (start, target) in rec else 0
    after = hops
    weight = None
    node = start
    while True:
        kind = graph.nodes[node].kind
        if kind in neurons or kind == "Input":
            return node, weight, hops, (after if weight is not None else 0)
        if kind in _WEIGHT:
            if weight is not None:
                return None
            weight = node
        elif kind not in _PASS:
            return None
        preds = graph.predecessors(node)
        if len(preds) != 1:
            return None
        edge = 1 if (preds[0], node) in rec else 0
        hops += edge
        if weight is None:
            after += edge
        node = preds[0]


def direct_patterns(graph: Any) -> tuple[dict[str, int], dict[str, int], list[Pattern],
                                        tuple[str, ...], tuple[str, ...]] | None:
    """(groups, ports, patterns, outputs, constants) as ``Structure.from_graph`` builds
    them, read straight off the weight nodes; None when a chain needs lowering."""
    neurons = NEURON_KINDS + READOUT_KINDS
    allowed = neurons + _PASS + _WEIGHT + ("Input", "Output")
    if any(node.kind not in allowed for node in graph.nodes.values()):
        return None
    shapes, rec = graph.shapes, graph.recurrent_edges
    size = {n: int(np.prod(shapes[n].output)) for n in graph.nodes}
    outputs: list[str] = []
    for name in graph.order:
        kind = graph.nodes[name].kind
        if kind in READOUT_KINDS and any(graph.nodes[s].kind != "Output"
                                         for s in graph.successors(name)):
            return None      # lowering says why this is refused
        if kind == "Output":
            preds = graph.predecessors(name)
            if len(preds) != 1 or graph.nodes[preds[0]].kind not in neurons:
                return None
            outputs.append(preds[0])
    groups = {n: size[n] for n in graph.order if graph.nodes[n].kind in neurons}
    ports = {n: size[n] for n in graph.inputs}
    patterns: list[Pattern] = []
    for g in groups:
        found: dict[tuple[str, int], Pattern] = {}
        for p in graph.predecessors(g):
            chain = _chain(graph, rec, p, g, neurons)
            if chain is None:
                return None
            source, weight, hops, bias_hops = chain
            if (source, hops) in found:
                return None      # two chains from one source: lowering sums them
            if weight is None:
                if size[source] != size[g]:
                    return None
                found[(source, hops)] = _identity(source, g, hops, size[g])
                continue
            node = graph.nodes[weight]
            w = np.asarray(node.weight)
            if w.ndim != 2 or w.shape != (size[g], size[source]) \
                    or int(np.prod(shapes[weight].input)) != w.shape[1]:
                return None
            found[(source, hops)] = Pattern.of_weights(_name(source, g, hops), source, g, w)
            bias = getattr(node, "bias", None) if node.kind == "Affine" else None
            if bias is not None and np.any(np.asarray(bias) != 0):
                if ("<bias>", bias_hops) in found:
                    return None  # lowering sums the biases
                rows = np.flatnonzero(np.asarray(bias) != 0).astype(np.int32)
                found[("<bias>", bias_hops)] = Pattern(
                    _name("bias", g, bias_hops), "bias", g, np.zeros(rows.size, np.int32), rows)
        # lowering's order: sorted by (source, hops), its bias source "<bias>" first
        patterns += [found[key] for key in sorted(found)]
    if any(p.source == "bias" for p in patterns):
        ports["bias"] = 1
    constants = tuple(p for p in ports if p not in graph.inputs)
    return groups, ports, patterns, tuple(dict.fromkeys(outputs)), constants


def _name(source: str, target: str, hops: int) -> str:
    return f"{source}->{target}" + (f"@{hops}" if hops else "")


def _identity(source: str, target: str, hops: int, n: int) -> Pattern:
    i = np.arange(n, dtype=np.int32)
    return Pattern(_name(source, target, hops), source, target, i, i.copy())
