"""The Loihi 2 emitter: check a Program against the chip's formats, write the artifact.

The artifact is the one of DESIGN.md (``manifest.json`` + ``program.npz``);
the emulator and the Lava runner both consume it, as a chip's loader would.
Every design rule is a small named check, so a failure says which rule.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import numpy as np

from neurocc.ir import Program, QuantizationError, save_program
from neurocc.ir.target import TargetSpec

from . import target as loihi2_target


def _decays(program: Program, t: TargetSpec) -> list[str]:
    full = 1 << t.formats.decay_bits
    out = []
    for g in program.groups.values():
        du, dv = np.asarray(g.params["du"]), np.asarray(g.params["dv"])
        if du.ndim or dv.ndim:
            out.append(f"group '{g.name}': du and dv must be one value per population")
        if np.any(du < -1) or np.any(du > full - 1) or np.any(dv < 0) or np.any(dv > full):
            out.append(f"group '{g.name}': du must be in -1..{full - 1} and dv in 0..{full}")
    return out


def _thresholds(program: Program, t: TargetSpec) -> list[str]:
    top = (1 << t.formats.threshold_bits) - 1
    return [f"group '{g.name}': vth {int(g.params['vth'])} outside 1..{top}"
            for g in program.groups.values()
            if np.ndim(g.params["vth"]) or not 0 < int(g.params["vth"]) <= top]


def _biases(program: Program, t: TargetSpec) -> list[str]:
    top = (1 << (t.formats.bias_mant_bits - 1)) - 1
    out = []
    for g in program.groups.values():
        mant = np.asarray(g.params.get("bias_mant", 0))
        exp = np.asarray(g.params.get("bias_exp", 0))
        if np.any(np.abs(mant) > top) or np.any(exp > t.formats.bias_exp_max):
            out.append(f"group '{g.name}': bias mantissa beyond ±{top} or exponent beyond "
                       f"{t.formats.bias_exp_max}")
    return out


def _weights(program: Program, t: TargetSpec) -> list[str]:
    f = t.formats
    out = []
    for b in program.synapses:
        w = np.asarray(b.weights)
        lo, hi = {"mixed": (-256, 255), "excitatory": (0, 255), "inhibitory": (-255, 0)}[b.sign_mode]
        if w.size and (w.min() < lo or w.max() > hi):
            out.append(f"block '{b.name}': {b.sign_mode} weights must lie in {lo}..{hi}, "
                       f"got {int(w.min())}..{int(w.max())}")
        if not f.weight_exp_min <= b.weight_exp <= f.weight_exp_max:
            out.append(f"block '{b.name}': weight_exp {b.weight_exp} outside "
                       f"{f.weight_exp_min}..{f.weight_exp_max}")
        if not 0 <= b.delay <= f.max_delay:
            out.append(f"block '{b.name}': delay {b.delay} outside 0..{f.max_delay}")
    return out


DESIGN_RULES: tuple[Callable[[Program, TargetSpec], list[str]], ...] = (
    _decays, _thresholds, _biases, _weights)


def validate(program: Program, target: TargetSpec | None = None) -> None:
    """Raise QuantizationError listing every rule the program breaks on Loihi 2."""
    t = target or loihi2_target()
    problems = [p for rule in DESIGN_RULES for p in rule(program, t)]
    if problems:
        raise QuantizationError("the program breaks Loihi 2's design rules:\n"
                                + "\n".join(f"  - {p}" for p in problems))


def emit(program: Program, path: str | os.PathLike, target: TargetSpec | None = None) -> Path:
    """Validate `program` for Loihi 2 and write its artifact directory (atomically)."""
    validate(program, target)
    return save_program(program, path)
