"""The linear maps of a synapse chain as block encodings, composed without expanding them.

``lower`` walks each chain from a neuron (or Input) node to the next neuron node and
keeps what the chain does to its source as one float64 map in one of the block
encodings (``ir.blocks``):

* ``Identity``: nothing applied yet (a neuron node's own output);
* ``Conv``: a convolution or a pooling, and chains of them wherever the composite is
  exactly a convolution (``compose``): a pooling before a convolution folds into a
  larger, strided kernel;
* ``Sparse``: a mostly-zero ``Linear``/``Affine``, a diagonal ``Scale`` of a large layer,
  and any product too large to hold densely;
* a dense ``np.ndarray`` (target, source), exactly as before these encodings existed:
  every chain of a small network composes through ``lower._apply`` as it always did,
  so its float values (and so every quantized weight) are unchanged.

``DENSE_MAX`` bounds the dense products: above it a product is formed as CSR
(scipy.sparse, which jax already requires) and kept Sparse.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from neurocc.ir import nodes as N
from neurocc.ir.block_conv import ConvGeometry
from neurocc.ir.blocks import Conv, Sparse

#: the most entries a dense float64 map may hold (2**24: 128 MiB); larger ones are Sparse
DENSE_MAX = 1 << 24
#: an Affine/Linear weight with fewer non-zeros than this share is kept Sparse
SPARSE_BELOW = 0.25
#: an Identity up to this size is a dense eye, as lower always made it
EYE_MAX = 4096


@dataclasses.dataclass(frozen=True)
class Identity:
    """A node's own output, before any linear map (n neurons)."""

    n: int

    @property
    def shape(self) -> tuple[int, int]:
        return (self.n, self.n)


Op = Any   # Identity | Conv | Sparse | np.ndarray


def shape_of(op: Op) -> tuple[int, int]:
    return tuple(op.shape)  # type: ignore[return-value]


def conv_of(node: N.Node, in_shape: tuple[int, ...], out_shape: tuple[int, ...]) -> Conv | None:
    """A Conv1d/Conv2d/SumPool2d/AvgPool2d node as a float Conv (None for other kinds)."""
    if node.kind in ("Conv1d", "Conv2d"):
        w = np.asarray(node.weight, np.float64)
        geo = ConvGeometry(tuple(in_shape), tuple(out_shape), tuple(node._hyper("stride")),
                           tuple(node.padding_amounts()), tuple(node._hyper("dilation")),
                           int(node.groups))
        return Conv(w, geo)
    if node.kind in ("SumPool2d", "AvgPool2d"):
        two = lambda a: tuple(int(x) for x in np.resize(np.atleast_1d(np.asarray(a, np.int64)), 2))  # noqa: E731
        ks, st, pd = two(node.kernel_size), two(node.stride), two(node.padding)
        c = in_shape[0]
        value = 1.0 / (ks[0] * ks[1]) if node.kind == "AvgPool2d" else 1.0
        geo = ConvGeometry(tuple(in_shape), tuple(out_shape), st, pd, (1, 1), c)
        return Conv(np.full((c, 1) + ks, value), geo)
    return None


def _full_kernel(c: Conv) -> np.ndarray:
    """The kernel with its groups spread over every input channel (zeros between groups)."""
    g = c.geometry
    if g.groups == 1:
        return c.kernel
    c_out, c_in_g = c.kernel.shape[:2]
    out = np.zeros((c_out, g.in_shape[0]) + c.kernel.shape[2:], c.kernel.dtype)
    per = c_out // g.groups
    for grp in range(g.groups):
        out[grp * per:(grp + 1) * per, grp * c_in_g:(grp + 1) * c_in_g] = \
            c.kernel[grp * per:(grp + 1) * per]
    return out


def compose(first: Conv, then: Conv) -> Conv | None:
    """`then` after `first` as one convolution, or None where that is not exact.

    Per axis, with first (stride sA, padding pA, dilation dA) and then (sB, pB, dB):
    z[o] = sum_b sum_a KB[b] KA[a] x[o sA sB - (pB sA + pA) + b dB sA + a dA], a
    convolution of stride sA sB, padding pB sA + pA and tap b dB sA + a dA; exact
    unless `then` reads one of its padding zeros at an intermediate position whose
    window in x holds real inputs (the composite would read them).
    """
    ga, gb = first.geometry, then.geometry
    ka, kb = first.taps, then.taps
    for n_in, n_mid, kA, kB, sA, sB, pA, pB, dA, dB, n_out in zip(
            ga.in_shape[1:], ga.out_shape[1:], ka, kb, ga.stride, gb.stride, ga.padding,
            gb.padding, ga.dilation, gb.dilation, gb.out_shape[1:]):
        j = np.arange(n_out)[:, None] * sB - pB + np.arange(kB)[None, :] * dB
        outside = j[(j < 0) | (j >= n_mid)]
        if outside.size:
            i = outside[:, None] * sA - pA + np.arange(kA)[None, :] * dA
            if np.any((i >= 0) & (i < n_in)):
                return None
    KA, KB = _full_kernel(first), _full_kernel(then)
    size = tuple((b - 1) * db * sa + (a - 1) * da + 1 for a, b, sa, da, db in zip(
        ka, kb, ga.stride, ga.dilation, gb.dilation))
    K = np.zeros((KB.shape[0], KA.shape[1]) + size)
    for ta in np.ndindex(*ka):
        for tb in np.ndindex(*kb):
            t = tuple(b * db * sa + a * da for a, b, sa, da, db in zip(
                ta, tb, ga.stride, ga.dilation, gb.dilation))
            K[(slice(None), slice(None)) + t] += KB[(slice(None), slice(None)) + tb] @ \
                KA[(slice(None), slice(None)) + ta]
    geo = ConvGeometry(ga.in_shape, gb.out_shape,
                       tuple(sa * sb for sa, sb in zip(ga.stride, gb.stride)),
                       tuple(pb * sa + pa for pa, pb, sa in zip(ga.padding, gb.padding, ga.stride)),
                       (1,) * ga.ndim, 1)
    return Conv(K, geo)


def to_scipy(op: Op) -> Any:
    """Any map as a scipy CSR matrix (target, source)."""
    import scipy.sparse as sp

    if isinstance(op, Identity):
        return sp.identity(op.n, format="csr")
    if isinstance(op, np.ndarray):
        return sp.csr_matrix(op)
    s = op.to_sparse() if isinstance(op, Conv) else op
    return sp.csr_matrix((s.data, s.indices, s.indptr), shape=s.shape)


def from_scipy(m: Any) -> Op:
    """A product as dense (small enough) or Sparse."""
    n_t, n_s = m.shape
    if n_t * n_s <= DENSE_MAX:
        return np.asarray(m.toarray(), np.float64)
    m = m.tocsr()
    m.sum_duplicates()
    m.eliminate_zeros()
    return Sparse(m.indptr.astype(np.int64), m.indices.astype(np.int32), m.data, (n_t, n_s))


def densify(op: Op) -> np.ndarray:
    if isinstance(op, Identity):
        return np.eye(op.n)
    return op if isinstance(op, np.ndarray) else op.to_dense().astype(np.float64)


def small(op: Op) -> bool:
    n_t, n_s = shape_of(op)
    return n_t * n_s <= DENSE_MAX


def add(a: Op, b: Op) -> Op:
    """Two paths from one source into one node, summed."""
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
        return a + b
    if isinstance(a, Conv) and isinstance(b, Conv) and a.geometry == b.geometry \
            and a.kernel.shape == b.kernel.shape:
        return Conv(a.kernel + b.kernel, a.geometry)
    if small(a):
        return densify(a) + densify(b)
    return from_scipy(to_scipy(a) + to_scipy(b))


def nonzero(op: Op) -> bool:
    if isinstance(op, Identity):
        return op.n > 0
    if isinstance(op, np.ndarray):
        return bool(np.any(op))
    return bool(np.any(op.values()))


def finish(op: Op) -> Conv | Sparse | np.ndarray:
    """What a neuron node receives: an Identity becomes an eye (small) or a Sparse one."""
    if isinstance(op, Identity):
        if op.n <= EYE_MAX:
            return np.eye(op.n)
        return Sparse(np.arange(op.n + 1), np.arange(op.n, dtype=np.int32), np.ones(op.n),
                      (op.n, op.n))
    return op
