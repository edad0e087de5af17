"""cnn_sinabs.nir (the NIR paper's Sinabs CNN) compiled for Loihi 2 keeps its
convolutions as Conv blocks and is bit-exact against Lava's own Conv process.

Lava runs the artifact's Conv blocks on its fixed-point ``Conv`` (scipy's true
convolution: the bridge flips and transposes the kernel), a process nobody here
wrote; the emulator runs them through ``lax.conv``. Every group's spikes, u and v
are compared at every step. Needs ``.venv-lava`` (``make lava``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from neurocc import ir
from neurocc.backends import get_target
from neurocc.backends.loihi2.bridge import run_on_lava
from neurocc.backends.loihi2.lava import lava_available
from neurocc.compiler.pipeline import compile_graph
from neurocc.compiler.verification import compare_bit_exact
from neurocc.simulators.emulator import Emulator

FIX = Path(__file__).parent / "fixtures" / "nir-paper"
LOIHI2 = get_target("loihi2")


def test_cnn_sinabs_conv_blocks_are_bit_exact_against_lava_conv() -> None:
    if not lava_available():
        pytest.fail("this test needs the Lava venv: run `make lava`")
    graph = ir.load(FIX / "cnn_sinabs.nir")
    program = compile_graph(graph, LOIHI2, 1.0)
    kinds = {b.weights.kind for b in program.synapses if b.target.split("@")[0] in ("1", "3", "6")}
    assert kinds == {"conv"}, kinds       # every convolution (pooling folded in) kept its kernel
    assert {b.weights.kind for b in program.synapses if b.target.startswith("10")} == {"dense"}
    x = np.random.default_rng(7).random((25, 2, 2, 34, 34)) < 0.08
    groups = list(program.groups)
    emu = Emulator(program, LOIHI2, record=groups)
    assert all(emu.blocks[b.name].summation(2).startswith("conv")
               for b in program.synapses if b.weights.kind == "conv")
    mine = emu.run(x)
    lava = run_on_lava(program, x, record=groups)
    runs = [{g: {"spikes": r.spikes[g], **r.traces[g]} for g in groups} for r in (mine, lava)]
    report = compare_bit_exact(*runs, groups=groups)
    assert report.bit_exact, report
    # not vacuous: every layer spikes, the input reaches the readout
    assert all(int(mine.spikes[g].sum()) > 0 for g in groups), \
        {g: int(mine.spikes[g].sum()) for g in groups}
