"""Structural lowering: synapse chains between neuron nodes become one map per source.

Between two neuron nodes (or an Input and a neuron) a network may hold any
chain of linear maps: Affine, Linear, Conv1d/2d, SumPool2d, AvgPool2d,
Flatten, Scale, Identity. A chip stores one synapse block per (source,
target) pair, so each chain is composed here, in float64, into one map and
one bias vector per target; quantization happens later, once. The map keeps
the encoding the chain allows (``linear_ops``): a convolution (with the
poolings before it folded in where that is exact) stays a ``Conv``, a
mostly-zero Linear a ``Sparse``; everything else is a dense matrix, composed
exactly as it always was.

Each contribution also counts the recurrent edges on its path (``hops``), so
the quantizer can give the chip block the delay that keeps the float
timing (see ``quantize``). Biases are contributions too, from the pseudo-source
``BIAS`` (a column of ones): a bias behind a recurrent edge reaches its
neuron one step later than one on a feed-forward path, and the chip must
reproduce that.
"""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace
from typing import Any

import numpy as np

from neurocc.ir import Graph, UnsupportedNodeError, nodes as N
from neurocc.ir.blocks import Conv, Sparse

from . import linear_ops as L

BIAS = "<bias>"
#: every neuron kind a target may lower (its rules say which it does: ``rules.kinds``)
NEURON_KINDS = ("LIF", "CubaLIF", "IF")
#: non-spiking neurons whose voltage a chip may read out: allowed where only Output nodes
#: read them, as a trained network's readout layer (``rules.readout_kinds``)
READOUT_KINDS = ("LI", "CubaLI")
#: the linear nodes that hold a weight matrix (a chip may refuse two in a row)
WEIGHT_KINDS = ("Affine", "Linear", "Conv1d", "Conv2d")
LINEAR_KINDS = ("Affine", "Linear", "Conv1d", "Conv2d", "SumPool2d", "AvgPool2d", "Flatten",
                "Scale", "Identity")


@dataclasses.dataclass
class Contribution:
    source: str        # an Input node, a neuron node, or BIAS
    hops: int          # recurrent edges on the path
    #: (target size, source size), float64: a dense matrix, or a ``Conv`` or ``Sparse``
    #: encoding (``ir.blocks``) of float64 weights
    matrix: np.ndarray | Conv | Sparse


@dataclasses.dataclass
class Lowered:
    groups: list[str]                                   # neuron nodes, in graph order
    inputs: list[str]
    incoming: dict[str, list[Contribution]]             # per neuron node
    outputs: dict[str, str]                              # Output node -> neuron node


def _apply(node: N.Node, in_shape: tuple[int, ...], out_shape: tuple[int, ...],
           cols: np.ndarray) -> np.ndarray:
    """Apply a linear node to a batch of column vectors (size_in, k) -> (size_out, k)."""
    k = cols.shape[1]
    x = cols.T.reshape((k,) + in_shape)
    kind = node.kind
    if kind in ("Affine", "Linear"):
        y = x @ np.asarray(node.weight, np.float64).T
    elif kind == "Scale":
        y = x * np.asarray(node.scale, np.float64)
    elif kind in ("Flatten", "Identity"):
        y = x
    elif kind in ("Conv1d", "Conv2d"):
        y = _conv(node, x, out_shape)
    elif kind in ("SumPool2d", "AvgPool2d"):
        y = _pool(node, x, out_shape)
    else:  # pragma: no cover - guarded by the caller
        raise AssertionError(kind)
    return y.reshape(k, -1).T


def _apply_op(node: N.Node, in_shape: tuple[int, ...], out_shape: tuple[int, ...], op: L.Op
              ) -> L.Op:
    """Apply a linear node to what its chain has composed so far (see ``linear_ops``)."""
    kind = node.kind
    if kind in ("Flatten", "Identity"):
        return op                      # flat indices are row-major either way
    conv = L.conv_of(node, in_shape, out_shape)
    if isinstance(op, L.Identity):
        if conv is not None:
            return conv
        if kind in ("Affine", "Linear"):
            w = np.asarray(node.weight, np.float64)
            if w.size > L.EYE_MAX and np.count_nonzero(w) < L.SPARSE_BELOW * w.size:
                return Sparse.from_dense(w)
            return w.copy()            # what _apply on an eye gives, without the product
        op = L.finish(op)              # a Scale: as before (an eye) or a Sparse diagonal
    if isinstance(op, np.ndarray):
        return _apply(node, in_shape, out_shape, op)
    if isinstance(op, Conv):
        if conv is not None:
            composite = L.compose(op, conv)
            if composite is not None:
                return composite
        if kind == "Scale":
            row = np.broadcast_to(np.asarray(node.scale, np.float64), out_shape).ravel()
            if op.channel_values(row) is not None:
                return op.scale_rows(row)
    if L.small(op):
        return _apply(node, in_shape, out_shape, L.densify(op))
    # too large to expand: a sparse product with the node's own map
    if conv is not None:
        mine: L.Op = conv
    elif kind in ("Affine", "Linear"):
        mine = np.asarray(node.weight, np.float64)
    else:   # Scale
        row = np.broadcast_to(np.asarray(node.scale, np.float64), out_shape).ravel()
        mine = Sparse(np.arange(row.size + 1), np.arange(row.size, dtype=np.int32), row,
                      (row.size, row.size))
    return L.from_scipy(L.to_scipy(mine) @ L.to_scipy(op))


def _bias(node: N.Node, out_shape: tuple[int, ...]) -> np.ndarray:
    if node.kind == "Affine":
        return np.asarray(node.bias, np.float64)
    if node.kind in ("Conv1d", "Conv2d") and node.bias is not None:
        b = np.broadcast_to(np.asarray(node.bias, np.float64), (out_shape[0],))
        return np.repeat(b, int(np.prod(out_shape[1:])))
    return np.zeros(int(np.prod(out_shape)))


def _conv(node: N.Node, x: np.ndarray, out_shape: tuple[int, ...]) -> np.ndarray:
    """Direct convolution (cross-correlation, as NIR and PyTorch define it), no bias."""
    w = np.asarray(node.weight, np.float64)
    nd = node.ndim
    stride, dil, pad = node._hyper("stride"), node._hyper("dilation"), node.padding_amounts()
    groups = int(node.groups)
    xp = np.pad(x, [(0, 0), (0, 0)] + [(p, p) for p in pad])
    k = x.shape[0]
    c_out, c_in_g = w.shape[0], w.shape[1]
    y = np.zeros((k,) + tuple(out_shape))
    out_spatial = out_shape[1:]
    for offset in np.ndindex(*w.shape[2:]):
        idx = tuple(slice(o * d, o * d + s * (n - 1) + 1, s)
                    for o, d, s, n in zip(offset, dil, stride, out_spatial))
        patch = xp[(slice(None), slice(None)) + idx]  # (k, c_in, *out_spatial)
        for g in range(groups):
            wo = slice(g * c_out // groups, (g + 1) * c_out // groups)
            wi = slice(g * c_in_g, (g + 1) * c_in_g)
            kern = w[(wo, slice(None)) + offset]      # (c_out/g, c_in/g)
            y[:, wo] += np.einsum("oc,kc...->ko...", kern, patch[:, wi])
    return y


def _pool(node: N.Node, x: np.ndarray, out_shape: tuple[int, ...]) -> np.ndarray:
    two = lambda a: tuple(np.resize(np.atleast_1d(np.asarray(a, np.int64)), 2))  # noqa: E731
    ks, st, pd = two(node.kernel_size), two(node.stride), two(node.padding)
    xp = np.pad(x, [(0, 0), (0, 0)] + [(p, p) for p in pd])
    y = np.zeros((x.shape[0],) + tuple(out_shape))
    for i, j in np.ndindex(*ks):
        y += xp[:, :, i:i + st[0] * (out_shape[1] - 1) + 1:st[0], j:j + st[1] * (out_shape[2] - 1) + 1:st[1]]
    return y / (ks[0] * ks[1]) if node.kind == "AvgPool2d" else y


#: the rules a structure-only lowering uses (``neurocc fit`` on a chip neurocc cannot
#: quantize for): every kind a target may lower
ANY_TARGET = SimpleNamespace(chip="a chip", kinds=NEURON_KINDS + READOUT_KINDS,
                             readout_kinds=READOUT_KINDS, why_not={})


def lower_synapses(graph: Graph, rules: Any = ANY_TARGET) -> Lowered:
    """Compose every synapse chain into (source, target) matrices and biases.

    `rules`: the target's quantize rules, for the neuron kinds it lowers (``kinds``,
    ``readout_kinds``), why it lowers no other (``why_not``) and its name (``chip``).
    """
    chip = rules.chip
    readout_kinds = tuple(rules.readout_kinds)
    neuron_kinds = tuple(k for k in rules.kinds if k not in readout_kinds)
    shapes, rec = graph.shapes, graph.recurrent_edges
    size = {n: int(np.prod(shapes[n].output)) for n in graph.nodes}
    for name in graph.order:
        kind = graph.nodes[name].kind
        if kind not in neuron_kinds + readout_kinds + LINEAR_KINDS + ("Input", "Output"):
            reason = rules.why_not.get(kind, f"no {chip} lowering exists for it")
            raise UnsupportedNodeError(
                f"node '{name}' ({kind}) cannot be lowered to {chip}: {reason}. {chip} lowers "
                f"{', '.join(neuron_kinds)} neurons, "
                + (f"{', '.join(readout_kinds)} readouts (read by Output nodes) " if readout_kinds
                   else "") + f"and {', '.join(LINEAR_KINDS)} synapses.")
        if kind in readout_kinds:
            readers = [s for s in graph.successors(name) if graph.nodes[s].kind != "Output"]
            if readers:
                raise UnsupportedNodeError(
                    f"node '{name}' ({kind}) feeds {readers}: a non-spiking neuron's voltage can "
                    f"only be read out on {chip} (by an Output node), since its neurons talk to "
                    "others only by spikes. Make it the last layer, or use a spiking neuron "
                    "(LIF, CubaLIF) where other layers read it.")
    # contrib[node] = {(source, hops): matrix} for the OUTPUT of linear nodes
    contrib: dict[str, dict[tuple[str, int], L.Op]] = {}

    def gathered(name: str) -> dict[tuple[str, int], L.Op]:
        """Sum of what the predecessors of `name` deliver to it."""
        terms: dict[tuple[str, int], np.ndarray] = {}
        for p in graph.predecessors(name):
            hop = 1 if (p, name) in rec else 0
            kind = graph.nodes[p].kind
            if kind in neuron_kinds + readout_kinds or kind == "Input":
                parts = {(p, 0): L.Identity(size[p])}
            else:
                if p not in contrib:
                    raise UnsupportedNodeError(
                        f"synapse node '{p}' sits on a cycle with no neuron; {chip} needs a "
                        "neuron on every recurrent loop")
                parts = contrib[p]
            for (src, h), m in parts.items():
                key = (src, h + hop)
                terms[key] = L.add(terms[key], m) if key in terms else m
        return terms

    lowered = Lowered([], graph.inputs, {}, {})
    chained = getattr(rules, "chained_weights", True)
    weighted: dict[str, str] = {}   # linear node -> the weight layer on its chain (if any)
    for name in graph.order:
        node = graph.nodes[name]
        if node.kind in LINEAR_KINDS and not chained:
            before = [weighted[p] for p in graph.predecessors(name) if p in weighted]
            if node.kind in WEIGHT_KINDS and before:
                raise UnsupportedNodeError(
                    f"nodes '{before[0]}' -> '{name}' are two weight layers in a row ({chip}'s "
                    "rule: one weight matrix between two neuron layers). Multiply them into "
                    "one layer in the model (W = W2 @ W1, b = W2 @ b1 + b2) and export it "
                    "again, or put a neuron layer between them")
            if node.kind in WEIGHT_KINDS:
                weighted[name] = name
            elif before:
                weighted[name] = before[0]
        if node.kind in LINEAR_KINDS:
            in_shape, out_shape = shapes[name].input, shapes[name].output
            terms = {k: _apply_op(node, in_shape, out_shape, m) for k, m in gathered(name).items()}
            own = _bias(node, out_shape)[:, None]
            if np.any(own):
                terms[(BIAS, 0)] = terms[(BIAS, 0)] + own if (BIAS, 0) in terms else own
            contrib[name] = terms
    for name in graph.order:
        node = graph.nodes[name]
        if node.kind in neuron_kinds + readout_kinds:
            lowered.groups.append(name)
            lowered.incoming[name] = [Contribution(s, h, L.finish(m))
                                      for (s, h), m in sorted(gathered(name).items())
                                      if L.nonzero(m) or s != BIAS]
        elif node.kind == "Output":
            preds = graph.predecessors(name)
            if len(preds) != 1 or graph.nodes[preds[0]].kind not in neuron_kinds + readout_kinds:
                raise UnsupportedNodeError(
                    f"Output '{name}' must be fed by exactly one neuron node on {chip} (it is fed "
                    f"by {preds}); the chip reports a neuron's spikes, or an LI readout's voltage")
            lowered.outputs[name] = preds[0]
    return lowered
