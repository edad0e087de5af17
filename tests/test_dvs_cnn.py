"""The DVS-Gesture-shaped CNN of examples/dvs_cnn.py: Conv blocks end to end, bit-exact on Lava.

* The full 2 x 128 x 128 network lowers and quantizes for Loihi 2 into Conv blocks
  only (per convolution its kernel and, with the default two weight blocks, the
  kernels of its rounding residuals), with the geometry the architecture implies
  (worked out by hand below: a 2 x 2 sum pooling then a 3 x 3, padding 1
  convolution is one 6 x 6 convolution of stride 2 and padding 2), and dense
  blocks only into the readout (its Affine); nothing is expanded. Partitioning the full network is benchmarked in
  bench/dvs_cnn.py, not here (it is slow).
* The folded kernel is the convolution's kernel with every tap spread over the
  2 x 2 pooling window, exactly.
* The random weights make every layer fire (float reference, reduced size).
* A reduced network (2 x 32 x 32, fewer channels, so that Lava runs it in
  seconds) compiled by ``neurocc.compile`` for loihi2, with its first layers cut
  into channel slices by the partitioner, runs bit-identically on the emulator
  and on Lava (the bridge's Conv process): every group's spikes, u and v, and
  the readout's voltages. Like tests/test_lava_conv.py it needs ``.venv-lava``
  (``make lava``) and fails without it.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

import neurocc
from neurocc import ir
from neurocc.backends import get_target
from neurocc.compiler.passes.lower import lower_synapses
from neurocc.compiler.pipeline import Discretize, Normalize, Quantize
from neurocc.ir.block_conv import ConvGeometry
from neurocc.ir.blocks import Conv, Dense

LOIHI2 = get_target("loihi2")
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "dvs_cnn.py"


def _example():
    spec = importlib.util.spec_from_file_location("dvs_cnn", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


dvs = _example()


def quantized(graph: ir.Graph) -> ir.Program:
    """The passes up to quantize (no partition): every block as lowered and quantized."""
    return Quantize(LOIHI2)(Discretize(float(graph.metadata["dt"]))(Normalize()(graph)))


def test_full_size_network_lowers_to_conv_blocks_and_a_dense_readout() -> None:
    graph = ir.from_nir(dvs.build(128))
    assert graph.metadata["dt"] == 1.0        # compiles without --dt
    program = quantized(graph)
    # 128 -> 64 (stride 2), then each pooling halves before the next convolution
    sizes = {"if1": 16 * 64 * 64, "if2": 32 * 32 * 32, "if3": 64 * 16 * 16, "if4": 64 * 8 * 8,
             "readout": 11}
    assert {g: grp.size for g, grp in program.groups.items()} == sizes
    two, one = (2, 2), (1, 1)
    # pool 2 then conv 3 pad 1: taps 3 x 2 = 6, stride 1 x 2 = 2, padding 1 x 2 = 2
    expected = {
        "if1": ("input", ConvGeometry((2, 128, 128), (16, 64, 64), two, two, one), (5, 5)),
        "if2": ("if1", ConvGeometry((16, 64, 64), (32, 32, 32), two, two, one), (6, 6)),
        "if3": ("if2", ConvGeometry((32, 32, 32), (64, 16, 16), two, two, one), (6, 6)),
        "if4": ("if3", ConvGeometry((64, 16, 16), (64, 8, 8), two, two, one), (6, 6)),
    }
    seen = set()
    for b in program.synapses:
        seen.add(b.target)
        if b.target == "readout":
            # the last pooling, Flatten and Affine: 11 x (64 x 8 x 8), small, dense
            assert isinstance(b.weights, Dense) and b.weights.shape == (11, 64 * 8 * 8), b
            continue
        source, geometry, taps = expected[b.target]
        assert isinstance(b.weights, Conv), f"block '{b.name}' is {b.weights!r}, not a Conv"
        assert b.source == source and b.weights.geometry == geometry, b.weights
        assert b.weights.taps == taps
        assert b.weight_exp >= 0        # Lava's Conv has no weight exponent
        # the shared kernel, never expanded: (C_out, C_in, *taps)
        assert b.weights.values().shape == geometry.out_shape[:1] + geometry.in_shape[:1] + taps
    assert seen == set(sizes)


def test_pooling_folds_into_the_next_kernel_exactly() -> None:
    nir_graph = dvs.build(32)
    lowered = lower_synapses(ir.from_nir(nir_graph))
    (contribution,) = lowered.incoming["if2"]
    conv = contribution.matrix
    assert isinstance(conv, Conv) and contribution.source == "if1"
    w3 = np.asarray(nir_graph.nodes["conv2"].weight, np.float64)       # (32, 16, 3, 3)
    # a 2 x 2 sum pooling before the 3 x 3 kernel: tap (a, b) covers input taps
    # (2a + i, 2b + j) for i, j in {0, 1}, each with the same weight
    assert conv.kernel.shape == (32, 16, 6, 6)
    for i in (0, 1):
        for j in (0, 1):
            np.testing.assert_array_equal(conv.kernel[:, :, i::2, j::2], w3)


def test_every_layer_fires_on_random_events() -> None:
    rates = dvs.rates(dvs.build(32), dvs.events(40, 1, 32, seed=5))
    assert list(rates) == ["if1", "if2", "if3", "if4"]
    # scaled for about 0.1 spikes per neuron and step: neither silent nor saturated
    for layer, r in rates.items():
        assert 0.02 < r < 0.5, (layer, rates)


def test_size_must_survive_five_halvings() -> None:
    with pytest.raises(ValueError, match="multiple of 32"):
        dvs.build(48)


@pytest.fixture(scope="module")
def lava_py():
    from neurocc.backends.loihi2.lava import lava_available

    if not lava_available():
        pytest.fail("this test needs the Lava venv: run `make lava`")


def test_reduced_network_is_bit_exact_against_lava(lava_py) -> None:
    from neurocc.backends.loihi2.bridge import run_on_lava
    from neurocc.simulators.emulator import Emulator

    # 16 channels in the first layer: too many synapses for one core, so the partitioner
    # cuts it (and the layer after it) into channel slices, each slice's blocks still Conv
    program = neurocc.compile(dvs.build(32, channels=(16, 8, 8, 8)), "loihi2")
    layers = {g.split("@")[0] for g in program.groups}
    assert layers == {"if1", "if2", "if3", "if4", "readout"}
    assert len(program.groups) > len(layers), "no layer was sliced: use more channels"
    for b in program.synapses:
        kind = Dense if b.target == "readout" else Conv
        assert isinstance(b.weights, kind), f"block '{b.name}' is {b.weights!r}"
    x = dvs.events(30, 2, 32, seed=7)
    groups = tuple(program.groups)
    emu = Emulator(program, LOIHI2, record=groups).run(x)
    lava = run_on_lava(program, x, record=groups)
    for g in groups:
        np.testing.assert_array_equal(emu.spikes[g], lava.spikes[g], err_msg=f"{g} spikes")
        for state in ("u", "v"):
            np.testing.assert_array_equal(emu.traces[g][state], lava.traces[g][state],
                                          err_msg=f"{g} {state}")
    np.testing.assert_array_equal(emu.outputs["output"], lava.outputs["output"])
    # not a comparison of silence: every spiking layer fired, the readout moved
    for g in groups:
        if g != "readout":
            assert emu.spikes[g].any(), g
    assert np.abs(emu.outputs["output"][-1]).min() > 0
