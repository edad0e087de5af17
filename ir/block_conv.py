"""``Conv``: a synapse block as a shared convolution kernel and its geometry, never expanded.

A 1-d or 2-d convolution (cross-correlation, as NIR and PyTorch define it) from
a source of shape (C_in, *spatial_in) to a target of shape (C_out, *spatial_out),
both flattened row-major as every group is:

    w[(o, y), (c, x)] = kernel[o, c - g(o) C_in/groups, k]   where x = y*stride - pad + k*dil

for the tap k that reaches x from y (at most one), and 0 elsewhere; g(o) is o's
group. Padding is ``pad`` zeros before each spatial axis; the output size says how
far the other side reaches. The API (``ir.blocks``) is computed from the kernel
and the geometry: fan counts per tap, the pattern in chunks of output channels.
A slice by whole output (or input) channels stays a ``Conv``; any other slice
becomes ``Sparse``.
"""

from __future__ import annotations

import dataclasses
from functools import cached_property
from typing import Callable, Iterator, Mapping

import numpy as np

from .block_sparse import Sparse


@dataclasses.dataclass(frozen=True)
class ConvGeometry:
    in_shape: tuple[int, ...]      # (C_in, *spatial)
    out_shape: tuple[int, ...]     # (C_out, *spatial)
    stride: tuple[int, ...]
    padding: tuple[int, ...]       # zeros before each spatial axis
    dilation: tuple[int, ...]
    groups: int = 1

    @property
    def ndim(self) -> int:
        return len(self.in_shape) - 1

    def to_array(self) -> np.ndarray:
        return np.array([self.ndim, self.groups, *self.in_shape, *self.out_shape, *self.stride,
                         *self.padding, *self.dilation], np.int64)

    @classmethod
    def from_array(cls, a: np.ndarray) -> "ConvGeometry":
        a = [int(x) for x in np.asarray(a).ravel()]
        if len(a) < 2 or a[0] not in (1, 2) or len(a) != 2 + 2 * (a[0] + 1) + 3 * a[0]:
            raise ValueError(f"a convolution geometry of {len(a)} numbers is malformed")
        n = a[0]
        cut = np.cumsum([2, n + 1, n + 1, n, n, n])
        parts = [tuple(a[i:j]) for i, j in zip(cut[:-1], cut[1:])]
        return cls(parts[0], parts[1], parts[2], parts[3], parts[4], a[1])

    def pad_after(self, kernel: tuple[int, ...]) -> tuple[int, ...]:
        """Zeros after each spatial axis that give the output size (negative: the last
        input rows are never read)."""
        return tuple((no - 1) * s + (k - 1) * d + 1 - ni - p for ni, no, k, s, p, d in zip(
            self.in_shape[1:], self.out_shape[1:], kernel, self.stride, self.padding,
            self.dilation))


class Conv:
    """A shared kernel (C_out, C_in / groups, *k) and its ``ConvGeometry``."""

    kind = "conv"

    def __init__(self, kernel: np.ndarray, geometry: ConvGeometry) -> None:
        k = np.asarray(kernel)
        g = geometry
        c_out, c_in = g.out_shape[0], g.in_shape[0]
        if (k.ndim != g.ndim + 2 or k.shape[0] != c_out or g.groups < 1
                or c_in % g.groups or c_out % g.groups or k.shape[1] != c_in // g.groups
                or len(g.stride) != g.ndim or len(g.padding) != g.ndim
                or len(g.dilation) != g.ndim or min(g.stride + g.dilation) < 1
                or min(g.padding, default=0) < 0):
            raise ValueError(f"kernel {k.shape} does not fit the convolution geometry {g}")
        if min(g.in_shape + g.out_shape) < 1:
            raise ValueError(f"a convolution geometry with an empty axis: {g}")
        self.kernel = k
        self.geometry = g

    def __repr__(self) -> str:
        g = self.geometry
        return (f"Conv({g.in_shape}->{g.out_shape}, kernel={self.kernel.shape[2:]}, "
                f"stride={g.stride}, padding={g.padding}, groups={g.groups})")

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Conv) and self.geometry == other.geometry
                and self.kernel.shape == other.kernel.shape
                and bool(np.array_equal(self.kernel, other.kernel)))

    # --- geometry ---------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int]:
        return (int(np.prod(self.geometry.out_shape)), int(np.prod(self.geometry.in_shape)))

    @property
    def taps(self) -> tuple[int, ...]:
        return tuple(self.kernel.shape[2:])

    @cached_property
    def _tap_maps(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per tap (row-major over the kernel's spatial axes): the flat output positions it
        reaches from inside the input, and the flat input position each reads."""
        g = self.geometry
        out = []
        for tap in np.ndindex(*self.taps):
            ps, qs = [], []
            for y_n, x_n, k, s, p, d in zip(g.out_shape[1:], g.in_shape[1:], tap, g.stride,
                                             g.padding, g.dilation):
                y = np.arange(y_n, dtype=np.int64)
                x = y * s - p + k * d
                ok = (x >= 0) & (x < x_n)
                ps.append(y[ok])
                qs.append(x[ok])
            if g.ndim == 1:
                out.append((ps[0], qs[0]))
            else:
                p_idx = (ps[0][:, None] * g.out_shape[2] + ps[1][None, :]).ravel()
                q_idx = (qs[0][:, None] * g.in_shape[2] + qs[1][None, :]).ravel()
                out.append((p_idx, q_idx))
        return out

    def _flat_kernel(self) -> np.ndarray:
        return self.kernel.reshape(self.kernel.shape[0], self.kernel.shape[1], -1)

    # --- counts -----------------------------------------------------------
    def _hits(self, side: int, shape: tuple[int, ...]) -> np.ndarray:
        """(taps, positions): 1 where a tap reaches an output position (side 0) or reads an
        input position (side 1) from inside the input."""
        hit = np.zeros((len(self._tap_maps), int(np.prod(shape[1:]))), np.int64)
        for t, maps in enumerate(self._tap_maps):
            hit[t, maps[side]] = 1
        return hit

    def fan_in(self) -> np.ndarray:
        hit = self._hits(0, self.geometry.out_shape)
        nz = np.count_nonzero(self._flat_kernel(), axis=1)          # (C_out, taps)
        return (nz @ hit).reshape(-1)

    def fan_out(self) -> np.ndarray:
        g = self.geometry
        hit = self._hits(1, g.in_shape)
        fk = self._flat_kernel() != 0                                # (C_out, C_in_g, taps)
        c_out, c_in_g = fk.shape[:2]
        per_group = c_out // g.groups
        nz = np.zeros((g.in_shape[0], fk.shape[2]), np.int64)       # per input channel, tap
        for grp in range(g.groups):
            nz[grp * c_in_g:(grp + 1) * c_in_g] = fk[grp * per_group:(grp + 1) * per_group].sum(axis=0)
        return (nz @ hit).reshape(-1)

    def nnz(self) -> int:
        return int(self.fan_in().sum())

    def value_range(self) -> tuple[int, int]:
        if self.kernel.size == 0:
            return (0, 0)
        return (min(self.kernel.min(), 0), max(self.kernel.max(), 0))

    # --- pattern ----------------------------------------------------------
    def _coo(self, o0: int, o1: int, c0: int = 0, c1: int | None = None
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The non-zero synapses into output channels [o0, o1) from input channels [c0, c1),
        row-major (targets ascending, then sources)."""
        g = self.geometry
        c1 = g.in_shape[0] if c1 is None else c1
        P, Q = int(np.prod(g.out_shape[1:])), int(np.prod(g.in_shape[1:]))
        fk = self._flat_kernel()
        c_in_g, per_group = fk.shape[1], g.out_shape[0] // g.groups
        rows, cols, vals = [], [], []
        o = np.arange(o0, o1, dtype=np.int64)
        for t, (p_idx, q_idx) in enumerate(self._tap_maps):
            if p_idx.size == 0:
                continue
            w = fk[o0:o1, :, t]                                     # (n_o, C_in_g)
            oi, ci = np.nonzero(w)
            c_abs = (o[oi] // per_group) * c_in_g + ci
            keep = (c_abs >= c0) & (c_abs < c1)
            oi, ci, c_abs = oi[keep], ci[keep], c_abs[keep]
            if oi.size == 0:
                continue
            rows.append(((o[oi] * P)[:, None] + p_idx[None, :]).ravel())
            cols.append(((c_abs * Q)[:, None] + q_idx[None, :]).ravel())
            vals.append(np.repeat(w[oi, ci], p_idx.size))
        if not rows:
            e = np.zeros(0, np.int64)
            return e, e, np.zeros(0, self.kernel.dtype)
        r, c, v = np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)
        order = np.lexsort((c, r))
        return r[order], c[order], v[order]

    def chunks(self, rows: int = 4096) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        P = int(np.prod(self.geometry.out_shape[1:]))
        per = max(1, int(rows) // max(P, 1))
        for o0 in range(0, self.geometry.out_shape[0], per):
            yield self._coo(o0, min(o0 + per, self.geometry.out_shape[0]))

    def to_sparse(self, start: int = 0, stop: int | None = None) -> Sparse:
        """Targets [start, stop) as CSR (the whole block by default)."""
        n_t, _ = self.shape
        stop = n_t if stop is None else min(stop, n_t)
        P = int(np.prod(self.geometry.out_shape[1:]))
        r, c, v = self._coo(start // P, -(-stop // P))
        keep = (r >= start) & (r < stop)
        return Sparse.from_coo(r[keep] - start, c[keep], v[keep], (stop - start, self.shape[1]))

    def rows(self, start: int, stop: int) -> "Conv | Sparse":
        g = self.geometry
        P = int(np.prod(g.out_shape[1:]))
        start, stop = max(0, start), min(stop, self.shape[0])
        if g.groups == 1 and start % P == 0 and stop % P == 0 and stop > start:
            o0, o1 = start // P, stop // P
            return Conv(self.kernel[o0:o1], dataclasses.replace(
                g, out_shape=(o1 - o0,) + g.out_shape[1:]))
        return self.to_sparse(start, stop)

    def cols(self, start: int, stop: int) -> "Conv | Sparse":
        g = self.geometry
        Q = int(np.prod(g.in_shape[1:]))
        start, stop = max(0, start), min(stop, self.shape[1])
        if g.groups == 1 and start % Q == 0 and stop % Q == 0 and stop > start:
            c0, c1 = start // Q, stop // Q
            return Conv(self.kernel[:, c0:c1], dataclasses.replace(
                g, in_shape=(c1 - c0,) + g.in_shape[1:]))
        r, c, v = self._coo(0, g.out_shape[0], start // Q, -(-stop // Q))
        keep = (c >= start) & (c < stop)
        return Sparse.from_coo(r[keep], c[keep] - start, v[keep], (self.shape[0], stop - start))

    def map_values(self, fn: Callable[[np.ndarray], np.ndarray]) -> "Conv":
        """`fn` on the kernel; it must map 0 to 0 (the zeros outside the kernel stay 0)."""
        return Conv(fn(self.kernel), self.geometry)

    def to_dense(self) -> np.ndarray:
        out = np.zeros(self.shape, self.kernel.dtype)
        for r, c, v in self.chunks():
            out[r, c] = v
        return out

    def arrays(self) -> dict[str, np.ndarray]:
        return {"kernel": self.kernel, "geometry": self.geometry.to_array()}

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> "Conv":
        return cls(arrays["kernel"], ConvGeometry.from_array(arrays["geometry"]))

    # --- values -----------------------------------------------------------
    def values(self) -> np.ndarray:
        return self.kernel

    def with_values(self, values: np.ndarray) -> "Conv":
        return Conv(np.asarray(values).reshape(self.kernel.shape), self.geometry)

    def channel_values(self, row: np.ndarray) -> np.ndarray | None:
        """`row` (one value per target) as one value per output channel; None when it
        differs inside a channel."""
        per = np.asarray(row).reshape(self.geometry.out_shape[0], -1)
        if per.shape[1] and np.any(per != per[:, :1]):
            return None
        return per[:, 0]

    def scale_rows(self, row: np.ndarray) -> "Conv":
        per = self.channel_values(row)
        if per is None:
            o = int(np.argmax(np.ptp(np.asarray(row).reshape(self.geometry.out_shape[0], -1),
                                     axis=1) > 0))
            raise ValueError(f"a convolution shares its kernel across positions: a per-target "
                             f"factor must be constant within each output channel, and channel "
                             f"{o}'s varies")
        return self.with_values(self.kernel * per.reshape((-1,) + (1,) * (self.kernel.ndim - 1)))

    def abs_row_sums(self) -> np.ndarray:
        """Per target, sum |w| over its whole kernel: exact away from the borders, an upper
        bound at them."""
        per = np.abs(self.kernel).reshape(self.kernel.shape[0], -1).sum(axis=1)
        return np.repeat(per.astype(np.float64), int(np.prod(self.geometry.out_shape[1:])))
