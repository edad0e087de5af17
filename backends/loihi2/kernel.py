"""Loihi 2's CUBA LIF neuron, as Lava's PyLifModelBitAcc computes it (the whole update).

Per neuron and step, all int32, 24-bit nominal state (docs: loihi2-fixed-point):

    u' = wrap24(trunc0(u (4095 - du) / 4096) + (a_in << 6))       u wraps once by 2**24
    v' = sat24(trunc0(v (4096 - dv) / 4096) + u' + bias)         v saturates at ±(2**23 - 1)
    spike = v' > vth << 6 (strict);  then v' = 0 (u kept)

du has a hidden +1 (4095 - du); bias = bias_mant << bias_exp (floor for a negative
exponent; Lava casts the mantissa to int16). Binary spikes.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from neurocc.backends import intmath
from neurocc.ir import SimulationError

I32 = jnp.int32
MODEL = "loihi2.cuba_lif"


class CubaLifState(NamedTuple):
    u: jax.Array
    v: jax.Array


def _uniform(x: np.ndarray) -> np.ndarray:
    """A per-neuron parameter as one 0-d value when all neurons share it (the kernel then
    specializes: no decay, full decay, no bias)."""
    return x[:1].reshape(()) if x.size and np.all(x == x.flat[0]) else x


def _known(x: Any, value: int) -> bool:
    """Whether x is a concrete 0-d parameter equal to value (decided when tracing)."""
    return not isinstance(x, jax.core.Tracer) and np.ndim(x) == 0 and int(x) == value


def _decay(x: jax.Array, factor: jax.Array) -> jax.Array:
    """``mul_shift_trunc0(x, factor)``, skipped where the factor makes it 0 or x."""
    if _known(factor, 0):
        return jnp.zeros_like(x)
    if _known(factor, 4096):
        return x
    return intmath.mul_shift_trunc0(x, factor)


class CubaLif:
    """The kernel table entry for ``loihi2.cuba_lif`` (see ``ir.target.NeuronKernel``)."""

    model = MODEL
    state = ("u", "v")
    flags = {"u_wraps": "current u wrapped (24-bit)",
             "v_saturations": "voltage v saturated at ±(2^23-1)"}
    spike_bits = 1
    #: stored widths (Lava's LIF process): decays 12 bit, threshold 17, bias mantissa 13
    #: and exponent 3, state 24
    param_bits = {"du": 12, "dv": 12, "vth": 17, "bias_mant": 13, "bias_exp": 3, "u": 24, "v": 24,
                  "u0": 24, "v0": 24}

    @staticmethod
    def prepare(p: dict[str, np.ndarray], size: int) -> dict[str, np.ndarray]:
        du, dv = np.broadcast_to(p["du"], (size,)), np.broadcast_to(p["dv"], (size,))
        if np.any(du < -1) or np.any(du > 4095) or np.any(dv < 0) or np.any(dv > 4096):
            raise SimulationError(f"du must be in -1..4095 and dv in 0..4096, got du "
                                  f"{np.unique(du)[:4]}, dv {np.unique(dv)[:4]}")
        mant = np.broadcast_to(p.get("bias_mant", 0), (size,)).astype(np.int16)  # Lava: int16
        bexp = np.broadcast_to(p.get("bias_exp", 0), (size,)).astype(np.int32)
        with np.errstate(over="ignore"):
            bias = np.where(bexp >= 0, mant.astype(np.int32) << np.maximum(bexp, 0),
                            mant.astype(np.int32) >> np.maximum(-bexp, 0)).astype(np.int32)
        theta = np.minimum(np.broadcast_to(p["vth"], (size,)).astype(np.int64) << 6, 1 << 24)
        return {"fu": _uniform((4095 - du).astype(np.int32)),
                "fv": _uniform((4096 - dv).astype(np.int32)),
                "bias": _uniform(bias), "theta": _uniform(theta.astype(np.int32)),
                "u0": np.broadcast_to(p.get("u0", 0), (size,)).astype(np.int32),
                "v0": np.broadcast_to(p.get("v0", 0), (size,)).astype(np.int32)}

    @staticmethod
    def init(p: dict[str, jax.Array], batch: int) -> CubaLifState:
        return CubaLifState(jnp.broadcast_to(p["u0"], (batch,) + p["u0"].shape).astype(I32),
                            jnp.broadcast_to(p["v0"], (batch,) + p["v0"].shape).astype(I32))

    @staticmethod
    def step(p: dict[str, jax.Array], s: CubaLifState, a_in: jax.Array
             ) -> tuple[CubaLifState, jax.Array, dict[str, jax.Array]]:
        u = _decay(s.u, p["fu"]) + (a_in << 6)                        # int32, wraps like numpy
        wraps = (u > (1 << 23)) | (u <= -(1 << 23))
        u = intmath.wrap_once(u, 24)                                  # u wraps ...
        v = _decay(s.v, p["fv"]) + u
        if not _known(p["bias"], 0):
            v = v + p["bias"]
        sat = (v > (1 << 23) - 1) | (v < -((1 << 23) - 1))
        v = intmath.saturate(v, 24)                                   # ... v saturates
        spikes = v > p["theta"]
        new_v = jnp.where(spikes, 0, v)                               # reset to 0; u kept
        # NeuroBench's membrane update: v changed, or the neuron spiked (reset may restore v)
        changed = (new_v != s.v) | spikes
        return (CubaLifState(u, new_v), spikes,
                {"u_wraps": wraps, "v_saturations": sat, "membrane_updates": changed})


KERNELS = {MODEL: CubaLif()}
