"""A group cut into contiguous slices (``Cut``), and what a pattern sends across cuts.

A cut is balanced (slice j holds [j n / k, (j + 1) n / k): sizes differ by at most
one neuron) unless it was moved onto a convolution's channel boundaries. The
counts partitioning needs per slice, distinct sources into a target slice and
source neurons reaching each (source slice, target slice) pair, are computed in
O(synapses) on a listed pattern (column-major, no sort) and from the sizes alone
on a full one (``patterns.Pattern``).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .patterns import Pattern, index_dtype


def slice_of(index: np.ndarray, k: int, n: int) -> np.ndarray:
    """Slice of each neuron index when n neurons are cut into k balanced slices.

    Slice j holds [j*n//k, (j+1)*n//k): the sizes differ by at most one.
    """
    return ((index.astype(np.int64) + 1) * k - 1) // n


def bounds(k: int, n: int) -> np.ndarray:
    return (np.arange(k + 1, dtype=np.int64) * n) // k


@dataclasses.dataclass(frozen=True, eq=False)
class Cut:
    """Slice j of a group holds neurons [bounds[j], bounds[j + 1])."""

    bounds: np.ndarray
    balanced: bool = True

    @classmethod
    def even(cls, k: int, n: int) -> "Cut":
        return cls(bounds(k, n), True)

    @classmethod
    def at(cls, b: np.ndarray) -> "Cut":
        """A cut at the given bounds (balanced when they are the balanced ones)."""
        b = np.asarray(b, np.int64)
        k, n = b.size - 1, int(b[-1])
        return cls(b, bool(np.array_equal(b, bounds(k, n))))

    @property
    def k(self) -> int:
        return int(self.bounds.size - 1)

    @property
    def n(self) -> int:
        return int(self.bounds[-1])

    @property
    def sizes(self) -> np.ndarray:
        return np.diff(self.bounds)

    def slice_of(self, index: np.ndarray) -> np.ndarray:
        if self.balanced:
            return slice_of(index, self.k, self.n)
        return np.searchsorted(self.bounds, index, side="right") - 1


def distinct_cols(cols: np.ndarray, tslice: np.ndarray) -> np.ndarray:
    """Mask of the first entry of each distinct (col, slice) pair, col-major input.

    Within a column the rows ascend, so the slice does too: a pair is new where
    the column or the slice changes. O(n), no sort.
    """
    new = np.ones(cols.size, bool)
    if cols.size > 1:
        new[1:] = (cols[1:] != cols[:-1]) | (tslice[1:] != tslice[:-1])
    return new


def merge(patterns: list[Pattern], n_target: int) -> Pattern:
    """The union of several patterns from one source into one group (full if one is)."""
    if len(patterns) == 1:
        return patterns[0]
    first = patterns[0]
    for p in patterns:
        if p.full is not None:
            return Pattern.all_pairs(f"{first.source}->{first.target}", first.source,
                                     first.target, p.full[0], p.full[1])
    key = np.concatenate([p.cols.astype(np.int64) * n_target + p.rows for p in patterns])
    key = np.unique(key)
    dt = index_dtype(max(n_target, int(key[-1] // n_target) + 1 if key.size else 1))
    return Pattern(f"{first.source}->{first.target}", first.source, first.target,
                   (key // n_target).astype(dt), (key % n_target).astype(dt))


def sources_per_slice(p: Pattern, cut: Cut) -> np.ndarray:
    """Distinct source neurons with a synapse into each target slice [k]."""
    if p.full is not None:
        return np.where(cut.sizes > 0, p.full[1], 0).astype(np.int64)
    t = cut.slice_of(p.rows)
    return np.bincount(t[distinct_cols(p.cols, t)], minlength=cut.k)


def slice_pairs(p: Pattern, src: Cut, dst: Cut) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per (source slice, target slice) pair with a synapse: the pair as i * k_t + j, the
    source neurons of slice i with a synapse into slice j, and per source neuron the
    target slices it reaches.

    Full: every source neuron reaches every non-empty target slice, so pair (i, j)
    counts slice i's neurons.
    """
    k_s, k_t = src.k, dst.k
    if p.full is not None:
        hit = np.flatnonzero(dst.sizes > 0)
        sizes = src.sizes
        pairs = (np.arange(k_s, dtype=np.int64)[:, None] * k_t + hit[None, :]).ravel()
        counts = np.repeat(sizes, hit.size)
        keep = counts > 0
        return pairs[keep], counts[keep], np.full(src.n, hit.size, np.int64)
    ts = dst.slice_of(p.rows)
    new = distinct_cols(p.cols, ts)
    c, ts = p.cols[new], ts[new]
    per_neuron = np.bincount(c, minlength=src.n)
    key = src.slice_of(c) * k_t + ts
    if k_s * k_t <= max(4 * key.size, 1 << 16):
        hist = np.bincount(key, minlength=k_s * k_t)
        uniq = np.flatnonzero(hist)
        cnt = hist[uniq]
    else:
        uniq, cnt = np.unique(key, return_counts=True)
    return uniq, cnt, per_neuron
