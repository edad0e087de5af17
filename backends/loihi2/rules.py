"""Loihi 2's design rules: small named checks of a Program against the chip's formats.

Each returns one readable line per problem, so a failure says which rule and
which group or block; ``ChipTarget.validate`` raises them together.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from neurocc.ir import Program


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


def _models(program: Program, t: Any) -> list[str]:
    return [f"group '{g.name}': neuron model '{g.model}' is not one of {sorted(t.kernels)}"
            for g in program.groups.values() if g.model not in t.kernels]


#: each rule returns one readable line per problem; ``ChipTarget.validate`` joins them
DESIGN_RULES: tuple[Callable[[Program, Any], list[str]], ...] = (
    _models, _decays, _thresholds, _biases, _weights)
