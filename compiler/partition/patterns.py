"""Where a synapse block has non-zero weights, as partitioning reads it: the ``Pattern``.

A pattern is either *listed*, its (source, target) pairs column-major, or *full*:
every target has a synapse from every source (a dense Affine without a zero
weight), and nothing is listed. Every count partitioning needs of a full pattern
(synapses, distinct sources per slice, spikes between slices) follows from its
two sizes, so a 0.9-billion-synapse network costs no pair list at all (listed as
int32 pairs it would take 7 GB).

``of_weights`` reads any block encoding (``ir.blocks``) through its API, or a
float matrix from lowering: full when every entry is non-zero, else the pairs,
from a Sparse block's CSR, a Dense block's stored matrix (``values()``, read a
block of columns at a time) and a Conv block's ``chunks()``, sorted block by
block into column-major order, as int32 where the indices fit.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

#: entries converted at a time from sorted keys into (col, row) pairs: bounds the
#: int64 temporaries of a 100M-synapse block to 2 x 128 MiB
_CHUNK = 1 << 24


def index_dtype(n: int) -> type:
    """int32 for indices below 2**31 (half the memory of int64), else int64."""
    return np.int32 if n < (1 << 31) else np.int64


@dataclasses.dataclass
class Pattern:
    """Where one synapse block has non-zero weights.

    Listed (``full`` None): ``cols`` (source neuron) ascending, ``rows`` (target
    neuron) ascending within each column; int32 or int64. Full (``full`` =
    (targets, sources)): every pair connected, ``cols`` and ``rows`` empty.
    ``row_unit`` / ``col_unit``: neurons per output / input channel of a
    convolution block (1 otherwise): a cut of the target (source) group on a
    multiple of it keeps the block's slices convolutions.
    """

    name: str
    source: str
    target: str
    cols: np.ndarray
    rows: np.ndarray
    full: tuple[int, int] | None = None
    row_unit: int = 1
    col_unit: int = 1

    @property
    def nnz(self) -> int:
        if self.full is not None:
            return int(self.full[0]) * int(self.full[1])
        return int(self.cols.size)

    @classmethod
    def all_pairs(cls, name: str, source: str, target: str, targets: int, sources: int,
                  row_unit: int = 1, col_unit: int = 1) -> "Pattern":
        """Every target fed by every source, nothing listed."""
        empty = np.zeros(0, np.int32)
        return cls(name, source, target, empty, empty, (int(targets), int(sources)),
                   row_unit, col_unit)

    def listed(self) -> "Pattern":
        """The same pattern with its pairs listed (a full one expanded: small networks and
        tests only)."""
        if self.full is None:
            return self
        n_t, n_s = self.full
        dt = index_dtype(max(n_t, n_s))
        cols = np.repeat(np.arange(n_s, dtype=dt), n_t)
        rows = np.tile(np.arange(n_t, dtype=dt), n_s)
        return dataclasses.replace(self, cols=cols, rows=rows, full=None)

    def row_counts(self, n_targets: int) -> np.ndarray:
        """Synapses into each target neuron."""
        if self.full is not None:
            return np.full(n_targets, self.full[1], np.int64)
        return np.bincount(self.rows, minlength=n_targets)

    def distinct_sources(self) -> int:
        """Source neurons with at least one synapse."""
        if self.full is not None:
            return int(self.full[1]) if self.full[0] else 0
        return int(np.count_nonzero(np.diff(self.cols)) + 1) if self.cols.size else 0

    @classmethod
    def of_weights(cls, name: str, source: str, target: str, weights: Any) -> "Pattern":
        """The pattern of a block encoding (or a float matrix from lowering), never expanded."""
        if isinstance(weights, np.ndarray):
            return _of_matrix(name, source, target, weights)
        if weights.kind == "dense":       # its stored matrix: col-major without a sort
            return _of_matrix(name, source, target, weights.values())
        n_t, n_s = weights.shape
        units = _units(weights)
        nnz = weights.nnz()
        if nnz and nnz == n_t * n_s:
            return cls.all_pairs(name, source, target, n_t, n_s, *units)
        if weights.kind == "sparse":
            rows, cols = _csr_pairs(weights)
        else:
            parts = [(r, c) for r, c, _ in weights.chunks()]
            rows = np.concatenate([r for r, _ in parts]) if parts else np.zeros(0, np.int64)
            cols = np.concatenate([c for _, c in parts]) if parts else np.zeros(0, np.int64)
        cols, rows = col_major(cols, rows, n_t, n_s)
        return cls(name, source, target, cols, rows, None, *units)


def _units(weights: Any) -> tuple[int, int]:
    """(row_unit, col_unit): a convolution's neurons per output and input channel; its
    slices by whole channels stay convolutions only without groups (``Conv.rows``)."""
    if getattr(weights, "kind", "") != "conv" or weights.geometry.groups != 1:
        return (1, 1)
    g = weights.geometry
    return (int(np.prod(g.out_shape[1:])), int(np.prod(g.in_shape[1:])))


def _of_matrix(name: str, source: str, target: str, w: np.ndarray) -> Pattern:
    """A float (target, source) matrix: full when no entry is zero, else its non-zeros, read
    a block of sources at a time (col-major order comes straight from the transpose)."""
    n_t, n_s = w.shape
    rows_step = max(1, _CHUNK // max(n_s, 1))         # whole rows: contiguous blocks
    nonzero = sum(int(np.count_nonzero(w[a:a + rows_step])) for a in range(0, n_t, rows_step))
    if nonzero and nonzero == n_t * n_s:
        return Pattern.all_pairs(name, source, target, n_t, n_s)
    step = max(1, _CHUNK // max(n_t, 1))
    dt = index_dtype(max(n_t, n_s))
    cols, rows = [], []
    for a in range(0, n_s, step):
        c, r = np.nonzero(w[:, a:a + step].T)
        cols.append((c + a).astype(dt))
        rows.append(r.astype(dt))
    return Pattern(name, source, target,
                   np.concatenate(cols) if cols else np.zeros(0, dt),
                   np.concatenate(rows) if rows else np.zeros(0, dt))


def _csr_pairs(s: Any) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cols) of a Sparse block's non-zero synapses, row-major, from its CSR."""
    n_t = s.shape[0]
    rows = np.repeat(np.arange(n_t, dtype=index_dtype(n_t)), np.diff(s.indptr))
    cols = s.indices
    nonzero = s.data != 0
    if not nonzero.all():
        rows, cols = rows[nonzero], cols[nonzero]
    return rows, cols


def col_major(cols: np.ndarray, rows: np.ndarray, n_t: int, n_s: int
              ) -> tuple[np.ndarray, np.ndarray]:
    """Unique (col, row) pairs sorted by col, then row, as int32 where they fit.

    One sort of a key col * n_t + row (int32 when it fits), then the pairs are taken
    back out of it a chunk at a time: no lexsort, whose index array and gathered
    copies would hold several times the pairs at once.
    """
    span = int(n_t) * int(n_s)
    kdt = np.int32 if span < (1 << 31) else np.int64
    key = cols.astype(kdt)
    key *= kdt(n_t)
    key += rows.astype(kdt, copy=False)
    key.sort()
    if key.size > 1 and np.any(key[1:] == key[:-1]):
        key = np.unique(key)
    dt = index_dtype(max(int(n_t), int(n_s)))
    out_c = np.empty(key.size, dt)
    out_r = np.empty(key.size, dt)
    for a in range(0, key.size, _CHUNK):
        c, r = np.divmod(key[a:a + _CHUNK], kdt(n_t))
        out_c[a:a + _CHUNK] = c
        out_r[a:a + _CHUNK] = r
    return out_c, out_r
