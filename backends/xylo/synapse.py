"""Xylo's synapse arithmetic, as xylosim.v2 computes it.

A block's effective weight is ``wrap16(w << shift)``: the int8 weight shifted left by
its matrix's shift (the block's ``weight_exp``) and narrowed to int16 (from shift 9
on it wraps: 127 << 9 is -512). Every event is one saturating add into the target's
synaptic current, in presynaptic order: input channels 0, 1, ... in the step they
arrive (latency 0; counts above 15 dropped), then the previous step's hidden spikes in
hidden index order (latency 1), a neuron spiking n times delivering n events.

Saturating adds do not commute, so a step's events are not summed. They compose,
though: ``x -> clip(x + s, lo, hi)`` followed by another such map is again one
(``s = s1 + s2``, ``lo = min(max(lo1 + s2, lo2), hi2)``, ``hi = max(min(hi1 + s2,
hi2), lo2)``), so ``summarize`` reduces a block's events, in order, to one
``(s, lo, hi)`` per target neuron by a tree of pairwise compositions, and the
kernel applies the blocks' summaries in block order. n events of one source are one
map ``clip(x + n w)``: they all move x the same way. The summary is exact for any
order of saturation; the tree only changes how it is computed.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

I32 = jnp.int32
LO, HI = -(1 << 15), (1 << 15) - 1


def effective_weights(w: np.ndarray, shift: int) -> np.ndarray:
    """``wrap16(w << shift)``, as xylosim forms a matrix's weights."""
    x = np.asarray(w, np.int64) << int(shift)
    return (((x - LO) & 0xFFFF) + LO).astype(np.int32)


def compose(a: tuple[jax.Array, ...], b: tuple[jax.Array, ...]) -> tuple[jax.Array, ...]:
    """The map ``b after a``, each ``x -> clip(x + s, lo, hi)``."""
    (sa, la, ha), (sb, lb, hb) = a, b
    return (sa + sb, jnp.minimum(jnp.maximum(la + sb, lb), hb),
            jnp.maximum(jnp.minimum(ha + sb, hb), lb))


class XyloSynapses:
    """The synapse-arithmetic table entry (see ``ir.target.SynapseArithmetic``)."""

    latency = 1            # a hidden spike reaches its targets next step
    input_latency = 0      # an input event, in the step it arrives
    max_delay = 0          # no synaptic delays
    saturation = "per_event"

    def __init__(self, max_input_count: int = 15) -> None:
        self.max_input_count = max_input_count

    @staticmethod
    def weights(block: Any) -> Any:
        return block.weights.map_values(lambda w: effective_weights(w, block.weight_exp))

    @staticmethod
    def deliver(acc: jax.Array, block: Any) -> jax.Array:
        return acc

    @staticmethod
    def summarize(counts: jax.Array, weights_t: jax.Array) -> jax.Array:
        """The events of `counts` [batch, sources] through `weights_t` [sources, targets],
        in source order, as ``[batch, 3, targets]``: (s, lo, hi) per target."""
        s = counts.astype(I32)[..., :, None] * weights_t.astype(I32)[None]
        n = s.shape[-2]
        if n == 0:
            s = jnp.zeros(s.shape[:-2] + (1, s.shape[-1]), I32)
            n = 1
        size = 1 << (n - 1).bit_length()
        # zero events at the end: clip(x + 0) leaves an int16 x as it is
        s = jnp.concatenate([s, jnp.zeros(s.shape[:-2] + (size - n, s.shape[-1]), I32)], axis=-2)
        lo, hi = jnp.full(s.shape, LO, I32), jnp.full(s.shape, HI, I32)
        parts = (s, lo, hi)
        while parts[0].shape[-2] > 1:
            first = tuple(p[..., 0::2, :] for p in parts)
            then = tuple(p[..., 1::2, :] for p in parts)
            parts = compose(first, then)
        return jnp.stack([p[..., 0, :] for p in parts], axis=-2)
