"""Accumulators for the structured encodings, never expanded: a ``Conv`` block summed by
``lax.conv_general_dilated``, a ``Sparse`` block by segment sums or a CSR product.

Each is bit-identical to the dense product of the same block (int32 sums, which wrap
the same whatever the order of the terms), and each counts its synaptic events as
``spikes @ fan_out``, exactly, instead of the dense path's event columns.

* Conv, float32 ("conv-f32") when ``max_count * sum |kernel[o]| < 2**24`` for every
  output channel o: every partial sum of an output is then an integer below 2**24,
  exact in float32 whatever order the convolution adds in.
* Conv, exact int32 ("conv-i32") otherwise. XLA's CPU int32 convolution is exact but
  8x slower than float32 at batch 1 (2.4 ms against 0.29 ms, 16x32x32 -> 32x32x32,
  3x3; 2.3x at batch 64), so the kernel is split into signed digits of b bits, each
  digit's convolution exact in float32, one convolution for all digits (stacked as
  output channels), recombined in int32 (``sum digit_i << b*i``, wrapping as the
  dense int32 product wraps). A kernel that would need more than MAX_DIGITS digits, or
  whose one-bit digits could already reach 2**24 (2**24 terms per output), takes the
  int32 convolution itself.
* Sparse ("sparse"): on CPU, from 8 rows of spikes up, XLA's CSR x dense custom call
  (``jax.experimental.sparse.BCSR``); below that, and on other platforms (whose CSR
  product takes floats only), segment sums over the stored synapses: each synapse's
  source spike times its weight, summed by target row. Measured on a shared 2-core CPU,
  1000 x 1000 at 5 % (bench/emulator_encodings.py): batch 1 0.29 ms (segment sums)
  against 0.58 ms (CSR), batch 8 0.53 against 0.27 ms, batch 64 4.9 against 1.0 ms;
  1M x 1M with 100M synapses: batch 1 1.2 s against 1.6 s, batch 8 19 s against 6.5 s.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import sparse as jsparse

I32 = jnp.int32

#: float32 holds every integer below this exactly
EXACT_F32 = 1 << 24

#: at most this many digits before the int32 convolution itself is cheaper (measured: one
#: int32 convolution costs about 2.3-8 float32 ones on CPU)
MAX_DIGITS = 3

#: the segment-sum path forms one product per stored synapse and row of spikes; rows are
#: taken this many products at a time, so a large block never holds rows x nnz at once
SEGMENT_ELEMENTS = 1 << 24

#: from this many rows of spikes up, XLA's CPU CSR product beats segment sums (measured,
#: 1000 x 1000 at 5 %: at 4 rows 0.69 ms against 0.30 ms, at 8 rows 0.33 against 0.45 ms)
CSR_MIN_ROWS = 8

STRUCTURED_MODES = ("conv-f32", "conv-i32", "sparse")


def conv_channel_sums(conv: Any) -> np.ndarray:
    """sum |kernel[o]| per output channel, exact (int64)."""
    k = np.abs(np.asarray(conv.kernel).astype(np.int64))
    return k.reshape(k.shape[0], -1).sum(axis=1)


def structured_mode(weights: Any, max_count: int) -> str | None:
    """The accumulator of a structured encoding, from its weights and its source's largest
    spike count; None for a dense one."""
    if weights.kind == "conv":
        top = int(conv_channel_sums(weights).max(initial=0))
        return "conv-f32" if max_count * top < EXACT_F32 else "conv-i32"
    if weights.kind == "sparse":
        return "sparse"
    return None


def event_counter(fan_out: np.ndarray, max_count: int):
    """spikes [R, sources] -> synaptic events [R], exactly: float32 when the largest
    possible total stays below 2**24, int32 otherwise."""
    fan = np.asarray(fan_out, np.int64)
    if max_count * int(fan.sum()) < EXACT_F32:
        f32 = jnp.asarray(fan, jnp.float32)
        return lambda s: jnp.dot(s.astype(jnp.float32), f32).astype(I32)
    i32 = jnp.asarray(fan, I32)
    return lambda s: jnp.dot(s.astype(I32), i32, preferred_element_type=I32)


class ConvSum:
    """A Conv block's sums: spikes [R, C_in*Q] -> int32 [R, C_out*P], row-major as the
    groups are flattened (source c*Q+q, target o*P+p)."""

    def __init__(self, conv: Any, max_count: int) -> None:
        g = conv.geometry
        self.in_shape, self.out_shape = tuple(g.in_shape), tuple(g.out_shape)
        self.stride, self.dilation, self.groups = tuple(g.stride), tuple(g.dilation), int(g.groups)
        # lax takes a negative pad after an axis (the last inputs are never read)
        self.padding = tuple(zip(g.padding, g.pad_after(conv.taps)))
        spatial = "HW"[:g.ndim]
        self.dims = ("NC" + spatial, "OI" + spatial, "NC" + spatial)
        kernel = np.asarray(conv.kernel).astype(np.int64)
        self.mode = structured_mode(conv, max_count)
        #: float32 convolutions' worth of digits (1: the kernel itself; 0: an int32 convolution)
        self.bits, self.n_digits = 0, 1
        if self.mode == "conv-f32":
            self.kernel = jnp.asarray(kernel, jnp.float32)
            return
        bits = _digit_bits(kernel, max_count)
        n_digits = -(-int(np.abs(kernel).max(initial=0)).bit_length() // bits) if bits else 0
        if not bits or n_digits > MAX_DIGITS:
            self.kernel = jnp.asarray(kernel.astype(np.int32), I32)
            self.n_digits = 0
            return
        self.bits, self.n_digits = bits, n_digits
        digits = _signed_digits(kernel, bits, n_digits)          # (D, C_out, C_in_g, *k)
        # stacked as output channels, inside each group: (G, D, C_out/G, ...) so that the
        # convolution's groups still see their own input channels
        c_out, rest = kernel.shape[0], kernel.shape[1:]
        per_group = c_out // self.groups
        stacked = digits.reshape((n_digits, self.groups, per_group) + rest).swapaxes(0, 1)
        self.kernel = jnp.asarray(stacked.reshape((-1,) + rest), jnp.float32)

    def __call__(self, s: jax.Array) -> jax.Array:
        rows = s.shape[0]
        x = s.reshape((rows,) + self.in_shape)
        int_conv = self.kernel.dtype == I32
        out = jax.lax.conv_general_dilated(
            x.astype(self.kernel.dtype), self.kernel, self.stride, self.padding,
            rhs_dilation=self.dilation, dimension_numbers=self.dims,
            feature_group_count=self.groups,
            # exact products: no reduced-precision (TF32) float convolution on a GPU
            precision=jax.lax.Precision.HIGHEST,
            preferred_element_type=I32 if int_conv else jnp.float32)
        out = out.astype(I32)
        if self.n_digits > 1:   # digits recombined in int32
            spatial = out.shape[2:]
            out = out.reshape((rows, self.groups, self.n_digits, -1) + spatial)
            out = sum(out[:, :, d] << (self.bits * d) for d in range(self.n_digits))
        return out.reshape(rows, -1)


def _digit_bits(kernel: np.ndarray, max_count: int) -> int:
    """The widest digit (bits) whose every output channel's sum of |digit| times the
    largest spike count stays below 2**24; 0 when even one-bit digits may not."""
    terms = int(np.prod(kernel.shape[1:]))
    if max_count * terms >= EXACT_F32:
        return 0
    mag = np.abs(kernel).reshape(kernel.shape[0], -1)
    top_bits = max(1, int(mag.max(initial=0)).bit_length())
    for bits in range(min(23, top_bits), 0, -1):
        n = -(-top_bits // bits)
        worst = max(int(((mag >> (bits * d)) & ((1 << bits) - 1)).sum(axis=1).max(initial=0))
                    for d in range(n))
        if max_count * worst < EXACT_F32:
            return bits
    return 1


def _signed_digits(kernel: np.ndarray, bits: int, n: int) -> np.ndarray:
    """kernel = sum_d digits[d] << bits*d, each digit carrying the weight's sign."""
    sign, mag = np.sign(kernel), np.abs(kernel)
    return np.stack([sign * ((mag >> (bits * d)) & ((1 << bits) - 1)) for d in range(n)])


class SparseSum:
    """A Sparse (CSR) block's sums: spikes [R, sources] -> int32 [R, targets]."""

    def __init__(self, sparse: Any) -> None:
        self.shape = sparse.shape
        self.nnz = int(sparse.indices.size)
        self.indptr = jnp.asarray(np.asarray(sparse.indptr, np.int32))
        self.indices = jnp.asarray(np.asarray(sparse.indices, np.int32))
        self.data = jnp.asarray(np.asarray(sparse.data).astype(np.int32))
        self.row_ids = jnp.asarray(np.repeat(np.arange(self.shape[0], dtype=np.int32),
                                             np.diff(np.asarray(sparse.indptr))))

    def __call__(self, s: jax.Array) -> jax.Array:
        rows = s.shape[0]
        if rows >= CSR_MIN_ROWS and jax.default_backend() == "cpu":
            csr = jsparse.BCSR((self.data, self.indices, self.indptr), shape=self.shape)
            return (csr @ s.T.astype(I32)).T
        return self._segments(s)

    def _segments(self, s: jax.Array) -> jax.Array:
        n_tgt = self.shape[0]

        def rows_sum(sb: jax.Array) -> jax.Array:   # [r, sources] -> [r, targets]
            terms = sb.T.astype(I32)[self.indices] * self.data[:, None]      # [nnz, r]
            return jax.ops.segment_sum(terms, self.row_ids, n_tgt, indices_are_sorted=True).T

        per = max(1, SEGMENT_ELEMENTS // max(self.nnz, 1))
        if s.shape[0] <= per:
            return rows_sum(s)
        # a bounded number of rows at a time: the products of one pass stay below
        # SEGMENT_ELEMENTS (or one row's, for a block larger than that)
        return jax.lax.map(lambda row: rows_sum(row[None])[0], s, batch_size=per)


def accumulator(weights: Any, max_count: int):
    """The sums of a structured block (ConvSum or SparseSum)."""
    return ConvSum(weights, max_count) if weights.kind == "conv" else SparseSum(weights)
