"""Synapse-block encodings: how a block's integer weights are held.

A ``SynapseBlock`` (``ir.program``) holds its weights in one encoding. Every
reader of weights (partition, place & route, profile, emit, the emulator's
accumulators, the oracles' bridges) goes through the small API below, never
through a dense matrix, so that a sparse (CSR) or convolutional encoding
slots in without touching the readers again:

    shape                    (targets, sources)
    nnz()                    stored non-zero synapses
    fan_out()                non-zero synapses per source      [sources]
    fan_in()                 non-zero synapses per target      [targets]
    value_range()            (min, max) over every weight (0 for an empty block)
    chunks(rows)             the connectivity as COO triples, a bounded number of
                             targets at a time (targets, sources, values)
    rows(start, stop)        the block restricted to targets [start, stop)
    cols(start, stop)        the block restricted to sources [start, stop)
    map_values(fn)           the same pattern with fn applied to the weights
    to_dense()               the (targets, sources) matrix; for a dense accumulator,
                             which knows its block is small, and for tests
    arrays() / from_arrays   the integer arrays an artifact stores
    values() / with_values   the stored weights (a matrix, CSR data, a kernel) as one
                             array, and the same pattern holding other values
    scale_rows(row)          every target's weights times row[target] (a Conv needs row
                             constant within each output channel: weights are shared)
    abs_row_sums()           sum |w| per target (a Conv: per channel, an upper bound)

Three encodings: ``Dense`` (every synapse, zeros included), ``Sparse`` (CSR, the
non-zeros only) and ``Conv`` (a shared kernel and its geometry, never expanded).
A block holds integers in a Program and float64 weights inside the lower pass
(the same classes: the API does not care).
"""

from __future__ import annotations

from typing import Callable, Iterator, Mapping, Protocol

import numpy as np


class Encoding(Protocol):
    """What every synapse-block encoding offers (typing only)."""

    kind: str

    @property
    def shape(self) -> tuple[int, int]: ...
    def nnz(self) -> int: ...
    def fan_out(self) -> np.ndarray: ...
    def fan_in(self) -> np.ndarray: ...
    def value_range(self) -> tuple[int, int]: ...
    def chunks(self, rows: int = ...) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]: ...
    def rows(self, start: int, stop: int) -> "Encoding": ...
    def cols(self, start: int, stop: int) -> "Encoding": ...
    def map_values(self, fn: Callable[[np.ndarray], np.ndarray]) -> "Encoding": ...
    def to_dense(self) -> np.ndarray: ...
    def arrays(self) -> dict[str, np.ndarray]: ...
    def values(self) -> np.ndarray: ...
    def with_values(self, values: np.ndarray) -> "Encoding": ...
    def scale_rows(self, row: np.ndarray) -> "Encoding": ...
    def abs_row_sums(self) -> np.ndarray: ...


class Dense:
    """Every synapse stored, zeros included: a (targets, sources) integer matrix."""

    kind = "dense"

    def __init__(self, weights: np.ndarray) -> None:
        w = np.asarray(weights)
        if w.ndim != 2:
            raise ValueError(f"a dense block is a (targets, sources) matrix, got shape {w.shape}")
        self._w = w

    def __repr__(self) -> str:
        return f"Dense(shape={self.shape}, nnz={self.nnz()})"

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Dense) and self._w.shape == other._w.shape
                and bool(np.array_equal(self._w, other._w)))

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self._w.shape[0]), int(self._w.shape[1]))

    def nnz(self) -> int:
        return int(np.count_nonzero(self._w))

    def fan_out(self) -> np.ndarray:
        return np.count_nonzero(self._w, axis=0).astype(np.int64)

    def fan_in(self) -> np.ndarray:
        return np.count_nonzero(self._w, axis=1).astype(np.int64)

    def value_range(self) -> tuple[int, int]:
        if self._w.size == 0:
            return (0, 0)
        return (int(self._w.min()), int(self._w.max()))

    def chunks(self, rows: int = 4096) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """(target, source, value) of the non-zero synapses, `rows` targets at a time, in
        row-major order (targets ascending, sources ascending within a target)."""
        rows = max(1, int(rows))
        for start in range(0, self.shape[0], rows):
            part = self._w[start:start + rows]
            r, c = np.nonzero(part)
            yield r + start, c, part[r, c]

    def rows(self, start: int, stop: int) -> "Dense":
        return Dense(self._w[start:stop])

    def cols(self, start: int, stop: int) -> "Dense":
        return Dense(self._w[:, start:stop])

    def map_values(self, fn: Callable[[np.ndarray], np.ndarray]) -> "Dense":
        return Dense(fn(self._w))

    def to_dense(self) -> np.ndarray:
        return self._w

    def arrays(self) -> dict[str, np.ndarray]:
        return {"weights": self._w}

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> "Dense":
        return cls(arrays["weights"])

    def values(self) -> np.ndarray:
        return self._w

    def with_values(self, values: np.ndarray) -> "Dense":
        return Dense(np.asarray(values).reshape(self._w.shape))

    def scale_rows(self, row: np.ndarray) -> "Dense":
        return Dense(np.asarray(row)[:, None] * self._w)

    def abs_row_sums(self) -> np.ndarray:
        return np.abs(self._w).sum(axis=1)


from .block_conv import Conv  # noqa: E402  (the registry below names all three)
from .block_sparse import Sparse  # noqa: E402

#: encodings by ``kind``, as the artifact names them
ENCODINGS: dict[str, type] = {"dense": Dense, "sparse": Sparse, "conv": Conv}


def as_encoding(weights: "Encoding | np.ndarray") -> "Encoding":
    """An encoding as it is; a plain (targets, sources) array as ``Dense``."""
    if isinstance(weights, tuple(ENCODINGS.values())):
        return weights  # type: ignore[return-value]
    return Dense(np.asarray(weights))
