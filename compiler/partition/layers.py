"""Each spiking layer's shape as a layer-per-core chip sees it, read from the float graph.

A layer-per-core chip (a convolutional chip) holds one whole layer per core, fed
by exactly one convolution or linear map; its memory formulas need that
map's channels, kernel and output size. A linear map is charged as Sinabs
converts it for its convolutional chips: a convolution whose kernel is its
input's spatial size, with a 1 x 1 output; an input that
is already flat is c_in channels of 1 x 1.

Kept apart from the planner (``layer_cores.py``) because ``Structure.from_graph``
records these shapes for every target, so the Structure does not depend on
the planner that reads them.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from ..passes.lower import NEURON_KINDS, READOUT_KINDS

WEIGHT_KINDS = ("Conv1d", "Conv2d", "Affine", "Linear")
#: every neuron layer takes a core, a readout too (capacity only: fit does not check the
#: neuron model, and a layer-per-core chip may run IAF neurons)
LAYER_KINDS = NEURON_KINDS + READOUT_KINDS


@dataclasses.dataclass(frozen=True)
class LayerShape:
    """A spiking layer as a layer-per-core chip sees it: the weight node(s) feeding it.

    On such a chip exactly one weight node (convolution or linear) feeds a
    layer; with none or several, the shape fields are 0 and the mapping
    refuses the layer.
    """

    weights: tuple[str, ...]
    sources: tuple[str, ...]   # neuron layers and inputs whose spikes reach it
    c_in: int = 0
    c_out: int = 0
    kernel: tuple[int, int] = (0, 0)
    out: tuple[int, int] = (0, 0)
    bias: bool = False


def layer_shapes(graph: Any) -> dict[str, LayerShape]:
    """Every neuron node's LayerShape, from the float graph."""
    shapes = graph.shapes
    out = {}
    for g in graph.order:
        if graph.nodes[g].kind not in LAYER_KINDS:
            continue
        weights: list[str] = []
        sources: list[str] = []
        seen: set[str] = set()
        stack = list(graph.predecessors(g))
        while stack:
            p = stack.pop()
            if p in seen:
                continue
            seen.add(p)
            kind = graph.nodes[p].kind
            if kind in LAYER_KINDS or kind == "Input":
                sources.append(p)
                continue
            if kind in WEIGHT_KINDS:
                weights.append(p)
            stack.extend(graph.predecessors(p))
        weights, sources = sorted(weights), sorted(sources)
        if len(weights) != 1:
            out[g] = LayerShape(tuple(weights), tuple(sources))
            continue
        w = graph.nodes[weights[0]]
        wshape = np.shape(w.weight)
        bias = getattr(w, "bias", None)
        has_bias = bias is not None and bool(np.any(np.asarray(bias) != 0))
        if w.kind == "Conv2d":
            c_in, kernel = wshape[1], (wshape[2], wshape[3])
            o = shapes[weights[0]].output
            out[g] = LayerShape(tuple(weights), tuple(sources), c_in, wshape[0], kernel,
                                (o[1], o[2]), has_bias)
        elif w.kind == "Conv1d":
            o = shapes[weights[0]].output
            out[g] = LayerShape(tuple(weights), tuple(sources), wshape[1], wshape[0],
                                (wshape[2], 1), (o[1], 1), has_bias)
        else:  # Affine / Linear: a convolution over the (unflattened) input, 1 x 1 output
            x = _unflattened_input(graph, weights[0])
            c_in, kernel = (x[0], (x[1], x[2] if len(x) > 2 else 1)) if len(x) > 1 else \
                (x[0], (1, 1))
            out[g] = LayerShape(tuple(weights), tuple(sources), int(c_in), wshape[0],
                                (int(kernel[0]), int(kernel[1])), (1, 1), has_bias)
    return out


def _unflattened_input(graph: Any, name: str) -> tuple[int, ...]:
    """The input shape of a linear node before any Flatten in front of it."""
    shape = tuple(graph.shapes[name].input)
    node = name
    while True:
        preds = graph.predecessors(node)
        if len(preds) != 1 or graph.nodes[preds[0]].kind not in ("Flatten", "Identity", "Scale"):
            return shape
        node = preds[0]
        if graph.nodes[node].kind == "Flatten":
            shape = tuple(graph.shapes[node].input)
