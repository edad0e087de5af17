"""Xylo's neurons, as SynSense's XyloSim (xylosim.v2) computes them: the whole update.

All state int16 held in int32 (docs: xylo-arithmetic.md section 3). Per step and neuron:

    Isyn_s = apply(Isyn_s, this step's events)         each event a saturating add, in
                                                        presynaptic order (synapse.py)
    Isyn_s = Isyn_s - d(Isyn_s, dash_syn_s)             decays AFTER this step's input
    dv     = wrap16(-d(Vmem, dash_mem))                  -(-32768) wraps to -32768
    dv     = sat16(dv + Isyn_1 + Isyn_2)                 both currents summed exactly, then once
    dv     = sat16(dv + bias)
    Vmem   = sat16(Vmem + dv)
    n      = min(cap, Vmem // threshold) if Vmem >= threshold else 0
    Vmem   = Vmem - n threshold                          subtractive reset, repeated

with ``d(x, dash) = x >> dash`` (floor), raised to 1 where it is 0 and x > 0: the
minimum step, for positive values only, so decay is asymmetric; dash 0 wipes x in
one step and dash >= 15 moves it one unit per step. Hidden neurons spike up to 31
times a step (``spike_bits`` 5), readout neurons once. No refractory period, no
reset of Isyn. Aliases (one hidden neuron's spikes copied to another) are not
modelled: neurocc never emits one.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from neurocc.ir import SimulationError

I32 = jnp.int32
HIDDEN, READOUT = "xylo.lif", "xylo.readout"
LO, HI = -(1 << 15), (1 << 15) - 1


class HiddenState(NamedTuple):
    isyn: jax.Array
    isyn2: jax.Array
    v: jax.Array


class ReadoutState(NamedTuple):
    isyn: jax.Array
    v: jax.Array


def wrap16(x: jax.Array) -> jax.Array:
    return ((x - LO) & 0xFFFF) + LO


def sat16(x: jax.Array) -> jax.Array:
    return jnp.clip(x, LO, HI)


def decay(x: jax.Array, dash: jax.Array) -> jax.Array:
    """``x - d(x, dash)``: a floor shift, at least one unit down for positive x."""
    d = x >> dash
    return x - jnp.where((d == 0) & (x > 0), 1, d)


def apply_events(x: jax.Array, summaries: list[jax.Array]) -> tuple[jax.Array, jax.Array]:
    """x after each block's events (``synapse.summarize``: the shift, floor and ceiling of
    the block's saturating adds, composed in presynaptic order), block after block; and
    where an add saturated."""
    hit = jnp.zeros(x.shape, bool)
    for s in summaries:
        raw = x + s[..., 0, :]
        x = jnp.clip(raw, s[..., 1, :], s[..., 2, :])
        hit = hit | (x != raw)
    return x, hit


def _membrane(v: jax.Array, current: jax.Array, p: dict[str, jax.Array]
              ) -> tuple[jax.Array, jax.Array]:
    d = v >> p["dash_mem"]
    dv = wrap16(-jnp.where((d == 0) & (v > 0), 1, d))
    raw = dv + current
    dv = sat16(raw)
    sat = raw != dv
    raw = dv + p["bias"]
    dv = sat16(raw)
    sat = sat | (raw != dv)
    raw = v + dv
    new = sat16(raw)
    return new, sat | (raw != new)


def _params(p: dict[str, np.ndarray], size: int, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    out = {}
    for k in keys:
        if k not in p:
            raise SimulationError(f"a Xylo neuron group needs parameter '{k}' (has {sorted(p)})")
        out[k] = np.broadcast_to(np.asarray(p[k]), (size,)).astype(np.int32)
    for k in keys:
        if k.startswith("dash") and (np.any(out[k] < 0) or np.any(out[k] > 31)):
            raise SimulationError(f"{k} must be in 0..15 (the validator's range; 16..31 act as "
                                  f"15), got {np.unique(out[k])[:4].tolist()}")
    if np.any(out["threshold"] < 1) or np.any(out["threshold"] > HI):
        raise SimulationError(
            "Xylo thresholds must be in 1..32767: a threshold <= 0 makes XyloSim emit its spike "
            f"cap every step (xylo-arithmetic.md trap 10); got {out['threshold'].min()}")
    if np.any(out["bias"] < LO) or np.any(out["bias"] > HI):
        raise SimulationError("Xylo biases are int16 (-32768..32767)")
    return out


class XyloHidden:
    """Hidden neurons (``ir.target.NeuronKernel``): two synaptic currents, multi-spike."""

    model = HIDDEN
    state = ("isyn", "isyn2", "v")
    flags = {"isyn_saturations": "a synaptic current saturated at int16",
             "v_saturations": "the membrane or its update saturated at int16"}
    spike_bits = 5
    receptors = 2
    param_bits = {"dash_mem": 4, "dash_syn": 4, "dash_syn2": 4, "threshold": 16, "bias": 16,
                  "isyn": 16, "isyn2": 16, "v": 16}

    def __init__(self, cap: int = 31) -> None:
        self.cap = cap

    @staticmethod
    def prepare(p: dict[str, np.ndarray], size: int) -> dict[str, np.ndarray]:
        return _params(p, size, ("dash_mem", "dash_syn", "dash_syn2", "threshold", "bias"))

    @staticmethod
    def init(p: dict[str, jax.Array], batch: int) -> HiddenState:
        z = jnp.zeros((batch,) + p["threshold"].shape, I32)
        return HiddenState(z, z, z)

    def step(self, p: dict[str, jax.Array], s: HiddenState, a_in: list
             ) -> tuple[HiddenState, jax.Array, dict[str, jax.Array]]:
        i1, hit1 = apply_events(s.isyn, [a for r, a in a_in if r == 0])
        i2, hit2 = apply_events(s.isyn2, [a for r, a in a_in if r == 1])
        i1, i2 = decay(i1, p["dash_syn"]), decay(i2, p["dash_syn2"])
        v, sat = _membrane(s.v, i1 + i2, p)
        thr = p["threshold"]
        n = jnp.where(v >= thr, jnp.minimum(v // thr, self.cap), 0)
        v = v - n * thr
        return HiddenState(i1, i2, v), n, {"isyn_saturations": hit1 | hit2, "v_saturations": sat}


class XyloReadout:
    """Readout neurons: one synaptic current, at most one spike per step."""

    model = READOUT
    state = ("isyn", "v")
    flags = XyloHidden.flags
    spike_bits = 1
    receptors = 1
    param_bits = {"dash_mem": 4, "dash_syn": 4, "threshold": 16, "bias": 16, "isyn": 16, "v": 16}

    @staticmethod
    def prepare(p: dict[str, np.ndarray], size: int) -> dict[str, np.ndarray]:
        return _params(p, size, ("dash_mem", "dash_syn", "threshold", "bias"))

    @staticmethod
    def init(p: dict[str, jax.Array], batch: int) -> ReadoutState:
        z = jnp.zeros((batch,) + p["threshold"].shape, I32)
        return ReadoutState(z, z)

    @staticmethod
    def step(p: dict[str, jax.Array], s: ReadoutState, a_in: list
             ) -> tuple[ReadoutState, jax.Array, dict[str, jax.Array]]:
        i1, hit = apply_events(s.isyn, [a for _, a in a_in])
        i1 = decay(i1, p["dash_syn"])
        v, sat = _membrane(s.v, i1, p)
        spike = v >= p["threshold"]
        v = jnp.where(spike, v - p["threshold"], v)
        return ReadoutState(i1, v), spike, {"isyn_saturations": hit, "v_saturations": sat}


def kernels(max_hidden_spikes: int = 31) -> dict[str, Any]:
    return {HIDDEN: XyloHidden(max_hidden_spikes), READOUT: XyloReadout()}
