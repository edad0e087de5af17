"""A synapse block cut into its (target slice, source slice) pieces, through the encoding API.

``pieces`` gives what ``w.rows(ta, tb).cols(sa, sb)`` gives for the pairs of
slices that may hold a synapse: a Conv cut on channel boundaries stays a Conv,
other cuts are Sparse. A Sparse block is cut in one pass over each target
slice's rows instead (the same arrays: row-major entries, the index dtype kept,
stored zeros kept), and only its pieces with stored entries are made: a
million-neuron network cut into 12,000 slices has a few hundred thousand such
pieces among a hundred million pairs, and ``cols`` would scan a slice's
synapses once per source slice.
"""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np

from neurocc.ir.blocks import Sparse


def pieces(w: Any, t_bounds: np.ndarray, s_bounds: np.ndarray
           ) -> Iterator[tuple[int, int, Any]]:
    """(target slice j, source slice i, the block restricted to both), j then i ascending;
    a Sparse block's pieces without a stored entry are left out."""
    if isinstance(w, Sparse):
        yield from _sparse_pieces(w, t_bounds, s_bounds)
        return
    for j in range(t_bounds.size - 1):
        rows = w.rows(int(t_bounds[j]), int(t_bounds[j + 1]))
        if isinstance(rows, Sparse):   # a convolution cut inside a channel: cut its CSR once
            for _, i, piece in _sparse_pieces(rows, np.array([0, rows.shape[0]]), s_bounds):
                yield j, i, piece
            continue
        for i in range(s_bounds.size - 1):
            yield j, i, rows.cols(int(s_bounds[i]), int(s_bounds[i + 1])).map_values(
                np.ascontiguousarray)


def _sparse_pieces(w: Sparse, t_bounds: np.ndarray, s_bounds: np.ndarray
                   ) -> Iterator[tuple[int, int, Sparse]]:
    k_s = s_bounds.size - 1
    widths = np.diff(s_bounds)
    for j in range(t_bounds.size - 1):
        ta, tb = int(t_bounds[j]), int(t_bounds[j + 1])
        a, b = int(w.indptr[ta]), int(w.indptr[tb])
        n = tb - ta
        idx, data = w.indices[a:b], w.data[a:b]
        if k_s == 1:
            src = np.zeros(idx.size, np.int64)
        else:
            src = np.searchsorted(s_bounds, idx, side="right") - 1
        row = np.repeat(np.arange(n, dtype=np.int64), np.diff(w.indptr[ta:tb + 1]))
        # per source slice, per row: the synapses, as offsets of each piece's CSR
        counts = np.bincount(src * n + row, minlength=k_s * n).reshape(k_s, n)
        indptr = np.zeros((k_s, n + 1), np.int64)
        np.cumsum(counts, axis=1, out=indptr[:, 1:])
        order = np.argsort(src, kind="stable")      # row-major within each source slice
        ends = np.cumsum(indptr[:, -1])
        for i in np.flatnonzero(indptr[:, -1]).tolist():
            sel = order[ends[i] - indptr[i, -1]:ends[i]]
            # indptr[i] copied: a view would keep every source slice's offsets alive
            yield j, i, Sparse(indptr[i].copy(), (idx[sel] - s_bounds[i]).astype(idx.dtype),
                               data[sel], (n, int(widths[i])))
