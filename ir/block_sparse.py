"""``Sparse``: a synapse block as a CSR matrix (targets x sources), the non-zeros only.

The encoding of a block that is mostly zeros: a million-neuron network's blocks,
a sparse ``Linear``, a slice of a convolution that does not align with its
channels. Its API is ``ir.blocks``'; every reader goes through it.
"""

from __future__ import annotations

from typing import Callable, Iterator, Mapping

import numpy as np


class Sparse:
    """CSR: row t's synapses are ``indices[indptr[t]:indptr[t+1]]`` (sources, ascending)
    with weights ``data[...]``. Stored entries may hold 0 (a pattern kept through a value
    map); ``nnz`` and the fan counts count the non-zero ones."""

    kind = "sparse"

    def __init__(self, indptr: np.ndarray, indices: np.ndarray, data: np.ndarray,
                 shape: tuple[int, int]) -> None:
        self.indptr = np.asarray(indptr, np.int64)
        self.indices = np.asarray(indices)
        self.data = np.asarray(data)
        self._shape = (int(shape[0]), int(shape[1]))
        n_t, n_s = self._shape
        if (self.indptr.shape != (n_t + 1,) or self.indptr[0] != 0
                or self.indices.shape != self.data.shape or self.indices.ndim != 1
                or self.indptr[-1] != self.indices.size or np.any(np.diff(self.indptr) < 0)):
            raise ValueError(f"a CSR block of shape {self._shape} needs indptr of {n_t + 1} "
                             "non-decreasing offsets from 0 to len(indices), and indices and "
                             f"data of one length; got {self.indptr.shape}, "
                             f"{self.indices.shape}, {self.data.shape}")
        if self.indices.size and (self.indices.min() < 0 or self.indices.max() >= n_s):
            raise ValueError(f"a CSR block with {n_s} sources has a source index outside "
                             f"0..{n_s - 1}")

    @classmethod
    def from_coo(cls, rows: np.ndarray, cols: np.ndarray, values: np.ndarray,
                 shape: tuple[int, int]) -> "Sparse":
        """From (target, source, value) triples in any order; duplicates are summed."""
        rows, cols = np.asarray(rows, np.int64), np.asarray(cols, np.int64)
        values = np.asarray(values)
        order = np.lexsort((cols, rows))
        rows, cols, values = rows[order], cols[order], values[order]
        if rows.size > 1:
            first = np.concatenate([[True], (np.diff(rows) != 0) | (np.diff(cols) != 0)])
            if not first.all():
                starts = np.flatnonzero(first)
                values = np.add.reduceat(values, starts)
                rows, cols = rows[starts], cols[starts]
        indptr = np.zeros(int(shape[0]) + 1, np.int64)
        np.cumsum(np.bincount(rows, minlength=int(shape[0])), out=indptr[1:])
        return cls(indptr, cols.astype(_index_dtype(shape[1])), values, shape)

    @classmethod
    def from_dense(cls, w: np.ndarray) -> "Sparse":
        r, c = np.nonzero(w)
        return cls.from_coo(r, c, w[r, c], w.shape)

    def __repr__(self) -> str:
        return f"Sparse(shape={self.shape}, nnz={self.nnz()})"

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Sparse) and self.shape == other.shape
                and np.array_equal(self.indptr, other.indptr)
                and np.array_equal(self.indices, other.indices)
                and np.array_equal(self.data, other.data))

    @property
    def shape(self) -> tuple[int, int]:
        return self._shape

    def _row_ids(self) -> np.ndarray:
        return np.repeat(np.arange(self._shape[0], dtype=np.int64), np.diff(self.indptr))

    def nnz(self) -> int:
        return int(np.count_nonzero(self.data))

    def fan_out(self) -> np.ndarray:
        return np.bincount(self.indices[self.data != 0], minlength=self._shape[1]).astype(np.int64)

    def fan_in(self) -> np.ndarray:
        return np.bincount(self._row_ids()[self.data != 0],
                           minlength=self._shape[0]).astype(np.int64)

    def value_range(self) -> tuple[int, int]:
        # the implicit zeros count, as a dense block's zeros do
        full = self.data.size == self._shape[0] * self._shape[1]
        if self.data.size == 0:
            return (0, 0)
        lo, hi = self.data.min(), self.data.max()
        return (lo, hi) if full else (min(lo, 0), max(hi, 0))

    def chunks(self, rows: int = 4096) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        rows = max(1, int(rows))
        for start in range(0, self._shape[0], rows):
            stop = min(start + rows, self._shape[0])
            a, b = int(self.indptr[start]), int(self.indptr[stop])
            r = np.repeat(np.arange(start, stop, dtype=np.int64), np.diff(self.indptr[start:stop + 1]))
            keep = self.data[a:b] != 0
            yield r[keep], self.indices[a:b][keep].astype(np.int64), self.data[a:b][keep]

    def rows(self, start: int, stop: int) -> "Sparse":
        start, stop = _clamp(start, stop, self._shape[0])
        a, b = int(self.indptr[start]), int(self.indptr[stop])
        return Sparse(self.indptr[start:stop + 1] - a, self.indices[a:b], self.data[a:b],
                      (stop - start, self._shape[1]))

    def cols(self, start: int, stop: int) -> "Sparse":
        start, stop = _clamp(start, stop, self._shape[1])
        keep = (self.indices >= start) & (self.indices < stop)
        counts = np.bincount(self._row_ids()[keep], minlength=self._shape[0])
        indptr = np.concatenate([[0], np.cumsum(counts)])
        return Sparse(indptr, (self.indices[keep] - start).astype(self.indices.dtype),
                      self.data[keep], (self._shape[0], stop - start))

    def map_values(self, fn: Callable[[np.ndarray], np.ndarray]) -> "Sparse":
        """`fn` on the stored weights; it must map 0 to 0 (the implicit zeros stay 0)."""
        return Sparse(self.indptr, self.indices, fn(self.data), self._shape)

    def to_dense(self) -> np.ndarray:
        out = np.zeros(self._shape, self.data.dtype)
        out[self._row_ids(), self.indices] = self.data
        return out

    def arrays(self) -> dict[str, np.ndarray]:
        return {"indptr": self.indptr, "indices": self.indices, "data": self.data,
                "shape": np.array(self._shape, np.int64)}

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> "Sparse":
        shape = np.asarray(arrays["shape"])
        if shape.shape != (2,):
            raise ValueError(f"a sparse block's shape has 2 entries, got {shape.tolist()}")
        return cls(arrays["indptr"], arrays["indices"], arrays["data"], tuple(int(x) for x in shape))

    def values(self) -> np.ndarray:
        return self.data

    def with_values(self, values: np.ndarray) -> "Sparse":
        values = np.asarray(values)
        if values.shape != self.data.shape:
            raise ValueError(f"{values.shape} values for {self.data.shape} stored synapses")
        return Sparse(self.indptr, self.indices, values, self._shape)

    def scale_rows(self, row: np.ndarray) -> "Sparse":
        return self.with_values(np.asarray(row)[self._row_ids()] * self.data)

    def abs_row_sums(self) -> np.ndarray:
        return np.bincount(self._row_ids(), weights=np.abs(self.data).astype(np.float64),
                           minlength=self._shape[0])

    def eliminate_zeros(self) -> "Sparse":
        keep = self.data != 0
        if keep.all():
            return self
        counts = np.bincount(self._row_ids()[keep], minlength=self._shape[0])
        return Sparse(np.concatenate([[0], np.cumsum(counts)]), self.indices[keep],
                      self.data[keep], self._shape)


def _clamp(start: int, stop: int, n: int) -> tuple[int, int]:
    start = max(0, min(int(start), n))
    return start, max(start, min(int(stop), n))


def _index_dtype(n: int) -> type:
    return np.int32 if n < (1 << 31) else np.int64
