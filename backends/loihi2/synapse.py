"""Loihi 2's synapse arithmetic, as Lava's Dense (PyDenseModelBitAcc) computes it.

A block's weights are preprocessed once (``effective_weights``: clip, then drop
low bits); each step the sum of the binary spikes times those weights, exact in
int32, is shifted by the weight exponent (``x << exp``, or a floor shift for a
negative exponent) and delivered to the target one step after the spike
(``latency`` 1), plus the block's extra delay.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

from neurocc.backends import intmath
from neurocc.ir import SimulationError


def effective_weights(weights: np.ndarray, num_weight_bits: int, sign_mode: str) -> np.ndarray:
    """The weights Lava's Dense actually uses (clip, then drop low bits; once, at start).

    MIXED: clip to [-256, 255], floor to a multiple of 2**(9 - bits) (so 8-bit mixed
    weights lose their LSB). EXCITATORY: clip to [0, 255]. INHIBITORY: magnitudes
    clipped to [0, 255] and truncated toward zero. See docs: loihi2-fixed-point 2.3.
    """
    w = np.asarray(weights).astype(np.int64)
    mixed = sign_mode == "mixed"
    if sign_mode == "inhibitory":
        w = -w
    elif sign_mode not in ("mixed", "excitatory"):
        raise SimulationError(f"sign_mode must be mixed, excitatory or inhibitory, got {sign_mode!r}")
    w = np.clip(w, -256 * mixed, 255)
    k = 8 - int(num_weight_bits) + int(mixed)
    w = (w >> k) << k
    if sign_mode == "inhibitory":
        w = -w
    return w.astype(np.int32)


class DenseSynapses:
    """The synapse-arithmetic table entry (see ``ir.target.SynapseArithmetic``)."""

    saturation = "none"      # binary spikes times <= 9-bit weights: the int32 sum is exact

    def __init__(self, latency: int, max_delay: int) -> None:
        self.latency = latency
        self.max_delay = max_delay

    @staticmethod
    def weights(block: Any) -> Any:
        return block.weights.map_values(
            lambda w: effective_weights(w, block.num_weight_bits, block.sign_mode))

    @staticmethod
    def deliver(acc: jax.Array, block: Any) -> jax.Array:
        exp = int(block.weight_exp)
        return acc if exp == 0 else intmath.shift_floor(acc, exp)
