"""Loihi 2's design rules: small named checks of a Program against the chip's formats.

Each returns one readable line per problem, so a failure says which rule and
which group or block; ``ChipTarget.validate`` raises them together.
"""

from __future__ import annotations

import re
from typing import Any, Callable

import numpy as np

from neurocc.ir import Program, SynapseBlock
from neurocc.ir.blocks import Conv

from .synapse import effective_weights

#: Lava's Conv process holds its kernel size, stride, padding, dilation and groups in
#: int8 Vars (lava/proc/conv/models.py): a larger value would silently wrap
CONV_INT8_MAX = 127
#: Lava's fixed-point Conv wraps each step's sum to 24 bits: signed_clamp(x, 24)
CONV_SUM_MIN, CONV_SUM_MAX = -(1 << 23), (1 << 23) - 1


def _decays(program: Program, t: Any) -> list[str]:
    full = 1 << t.formats.decay_bits
    out = []
    for g in program.groups.values():
        du, dv = np.asarray(g.params["du"]), np.asarray(g.params["dv"])
        if du.ndim or dv.ndim:
            out.append(f"group '{g.name}': du and dv must be one value per population")
        if np.any(du < -1) or np.any(du > full - 1) or np.any(dv < 0) or np.any(dv > full):
            out.append(f"group '{g.name}': du must be in -1..{full - 1} and dv in 0..{full}")
    return out


def _thresholds(program: Program, t: Any) -> list[str]:
    top = (1 << t.formats.threshold_bits) - 1
    return [f"group '{g.name}': vth {int(g.params['vth'])} outside 1..{top}"
            for g in program.groups.values()
            if np.ndim(g.params["vth"]) or not 0 < int(g.params["vth"]) <= top]


def _biases(program: Program, t: Any) -> list[str]:
    top = (1 << (t.formats.bias_mant_bits - 1)) - 1
    out = []
    for g in program.groups.values():
        mant = np.asarray(g.params.get("bias_mant", 0))
        exp = np.asarray(g.params.get("bias_exp", 0))
        if np.any(np.abs(mant) > top) or np.any(exp > t.formats.bias_exp_max):
            out.append(f"group '{g.name}': bias mantissa beyond ±{top} or exponent beyond "
                       f"{t.formats.bias_exp_max}")
    return out


def _weights(program: Program, t: Any) -> list[str]:
    f = t.formats
    out = []
    for b in program.synapses:
        low, high = b.weights.value_range()
        lo, hi = {"mixed": (-256, 255), "excitatory": (0, 255), "inhibitory": (-255, 0)}[b.sign_mode]
        if b.weights.nnz() and (low < lo or high > hi):
            out.append(f"block '{b.name}': {b.sign_mode} weights must lie in {lo}..{hi}, "
                       f"got {low}..{high}")
        if not f.weight_exp_min <= b.weight_exp <= f.weight_exp_max:
            out.append(f"block '{b.name}': weight_exp {b.weight_exp} outside "
                       f"{f.weight_exp_min}..{f.weight_exp_max}")
        if not 0 <= b.delay <= f.max_delay:
            out.append(f"block '{b.name}': delay {b.delay} outside 0..{f.max_delay}")
    return out


def lava_conv_axes(conv: Conv) -> dict[str, tuple[int, ...]]:
    """A Conv's geometry as 2-d (H, W) tuples (a 1-d conv: a unit height): what Lava's
    Conv process takes, before its own (X, Y) = (W, H) order."""
    g = conv.geometry
    unit = (1,) * (2 - g.ndim)
    return {"in": unit + tuple(g.in_shape[1:]), "out": unit + tuple(g.out_shape[1:]),
            "kernel": unit + conv.taps, "stride": unit + tuple(g.stride),
            "padding": (0,) * (2 - g.ndim) + tuple(g.padding), "dilation": unit + tuple(g.dilation)}


def conv_problems(block: SynapseBlock) -> list[str]:
    """Why Lava's Conv process cannot compute `block`, a Conv-encoded block, as the chip's
    synapse arithmetic does (``synapse.DenseSynapses``, which a Conv's Sparse slices after
    partitioning also use); one line per problem, none when it can.

    Lava's fixed-point Conv ignores weight_exp and num_weight_bits: the bridge folds the
    clipped, truncated weights and a left shift into the kernel, which a negative exponent
    (a floor of the SUM) cannot be. Its output size assumes the same padding on both sides.
    And it wraps each step's sum to 24 bits, which the Dense arithmetic does not. That wrap
    is not absorbed by the LIF: u' = wrap_once(decay(u) + (a_in << 6)) is ONE +-2**24
    correction of an int32 value (kernel.py), not a reduction mod 2**24, so a sum wrapped
    by k 2**24 changes a_in << 6 by k 2**30 (mod 2**32) and u' by as much. A block whose sum can leave
    [-2**23, 2**23 - 1] is therefore refused; its binary spikes reach that sum only through
    its own weights, so the bound per output channel (every tap's positive, or every tap's
    negative, weight) is exact wherever the whole kernel lies inside the input.
    """
    conv, g = block.weights, block.weights.geometry
    name = f"block '{block.name}'"
    out = []
    if block.weight_exp < 0:
        out.append(f"{name}: a convolution needs weight_exp >= 0 on Loihi 2, got "
                   f"{block.weight_exp}: Lava's Conv process has no weight exponent, and a right "
                   f"shift of the sum cannot be folded into the kernel; recompile the model with "
                   f"this neurocc (its quantize pass gives convolutions weight_exp >= 0)")
    ax = lava_conv_axes(conv)
    for what, values in (("kernel size", ax["kernel"]), ("stride", ax["stride"]),
                         ("padding", ax["padding"]), ("dilation", ax["dilation"]),
                         ("groups", (g.groups,))):
        if max(values) > CONV_INT8_MAX:
            out.append(f"{name}: convolution {what} {tuple(values)} beyond {CONV_INT8_MAX}, the "
                       f"most Lava's Conv process holds (an int8); give the model's layer a "
                       f"{what} of at most {CONV_INT8_MAX}")
    lava_out = tuple((n + 2 * p - d * (k - 1) - 1) // s + 1 for n, p, d, k, s in zip(
        ax["in"], ax["padding"], ax["dilation"], ax["kernel"], ax["stride"]))
    if not lava_pads_evenly(conv):
        out.append(f"{name}: convolution padded {g.padding} before and "
                   f"{g.pad_after(conv.taps)} after each "
                   f"axis, which gives {g.out_shape[1:]} outputs; Lava's Conv process pads both "
                   f"sides alike and would give {lava_out[2 - g.ndim:]}; give the model's layer "
                   f"the same padding on both sides")
    if block.weight_exp >= 0:
        k = effective_weights(conv.kernel, block.num_weight_bits, block.sign_mode).astype(np.int64)
        k = k.reshape(k.shape[0], -1) << int(block.weight_exp)
        high, low = np.maximum(k, 0).sum(axis=1), np.minimum(k, 0).sum(axis=1)
        if k.size and (high.max() > CONV_SUM_MAX or low.min() < CONV_SUM_MIN):
            o = int(np.argmax(np.maximum(high - CONV_SUM_MAX, CONV_SUM_MIN - low)))
            out.append(f"{name}: output channel {o} of the convolution can sum to "
                       f"{int(high[o]) if high[o] > CONV_SUM_MAX else int(low[o])} in one step "
                       f"(weight_exp {block.weight_exp} included), beyond Lava's Conv process's "
                       f"24-bit sum ({CONV_SUM_MIN}..{CONV_SUM_MAX}), which wraps there; "
                       f"lower the block's weights or weight_exp")
    return out


def lava_pads_evenly(conv: Conv) -> bool:
    """Whether Lava's Conv, which pads both sides alike, gives this block's output size."""
    ax = lava_conv_axes(conv)
    return ax["out"] == tuple((n + 2 * p - d * (k - 1) - 1) // s + 1 for n, p, d, k, s in zip(
        ax["in"], ax["padding"], ax["dilation"], ax["kernel"], ax["stride"]))


def _connection(name: str) -> str:
    """A block's connection: its name without a residual part (#exc, #inh) or a slice
    pair (@i>j), so one problem of a connection is said once."""
    return re.sub(r"(#(exc|inh))?(@\d+>\d+)?$", "", name)


def _convs(program: Program, t: Any) -> list[str]:
    out, seen = [], set()
    for b in program.synapses:
        if isinstance(b.weights, Conv) and _connection(b.name) not in seen:
            problems = conv_problems(b)
            if problems:
                seen.add(_connection(b.name))
                layer = program.groups[b.target].source or b.target
                out += [f"{p} (the convolution into layer '{layer}')" for p in problems]
    return out


def _models(program: Program, t: Any) -> list[str]:
    return [f"group '{g.name}': neuron model '{g.model}' is not one of {sorted(t.kernels)}"
            for g in program.groups.values() if g.model not in t.kernels]


#: each rule returns one readable line per problem; ``ChipTarget.validate`` joins them
DESIGN_RULES: tuple[Callable[[Program, Any], list[str]], ...] = (
    _models, _decays, _thresholds, _biases, _weights, _convs)
