"""compile_graph for Loihi 2: clear errors on bad input, and the integer mapping by hand.

The mapping tests build one-neuron-node graphs whose decays are exact in
1/4096 steps, and compute du, dv, vth, the bias and the weights from the
formulas in the backends/loihi2/quantize.py docstring with plain arithmetic:

    du = round(4096 dt/tau_syn) - 1  (CubaLIF; 4095 for LIF and IF)
    dv = round(4096 dt/tau_mem)      (0 for IF)
    vth = 1024 by default (2**17 / headroom 128); S = vth / (v_th - v_reset)
    weight = S g W, g = a_s a_m r w_in (CubaLIF), a r (LIF), dt r (IF),
    stored as an 8-bit mantissa * 2**weight_exp
"""

from __future__ import annotations

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")  # before jax is imported

import math  # noqa: E402

import jax  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from neurocc.backends.loihi2 import target  # noqa: E402
from neurocc.backends.loihi2.bridge import run_on_lava  # noqa: E402
from neurocc.compiler.pipeline import compile_graph  # noqa: E402
from neurocc.compiler.passes.quantize import QuantizeOptions  # noqa: E402
from neurocc.ir import (IF, LIF, Affine, I, CubaLIF, Graph, GraphError, Input, Output,  # noqa: E402
                        QuantizationError, Threshold, UnsupportedNodeError)
from neurocc.simulators.emulator import Emulator  # noqa: E402
from neurocc.backends import get_target as _get_target  # noqa: E402

LOIHI2 = _get_target("loihi2")

A = np.array
DT = 1e-4


def chain(neuron, weight, bias=None, name: str = "n") -> Graph:
    """input -> fc (Affine) -> neuron -> output."""
    w = A(weight, float)
    b = A(np.zeros(w.shape[0]) if bias is None else bias, float)
    nodes = {"input": Input(shape=A([w.shape[1]])), "fc": Affine(weight=w, bias=b), name: neuron,
             "output": Output(shape=A([w.shape[0]]))}
    return Graph(nodes, [("input", "fc"), ("fc", name), (name, "output")])


def lif(n: int = 1, tau=4e-4, r=1.0, v_leak=0.0, v_threshold=1.0, v_reset=None) -> LIF:
    full = lambda v: A(np.broadcast_to(v, (n,)), float)  # noqa: E731
    return LIF(tau=full(tau), r=full(r), v_leak=full(v_leak), v_threshold=full(v_threshold),
               v_reset=None if v_reset is None else full(v_reset))


def compile_(graph: Graph, dt: float = DT, **options):
    return compile_graph(graph, target(), dt, QuantizeOptions(**options))


def params(program, group: str = "n") -> dict[str, object]:
    return {k: (int(v) if np.ndim(v) == 0 else v.tolist()) for k, v in program.groups[group].params.items()}


def only_block(program, source: str = "input", target_: str = "n"):
    blocks = [b for b in program.synapses if b.source == source and b.target == target_]
    assert len(blocks) == 1, [b.name for b in blocks]
    return blocks[0]


def only_block_named(program, name: str):
    (b,) = [b for b in program.synapses if b.name == name]
    return b


# --- clear errors -------------------------------------------------------------------------

def test_integrator_output_node_is_unsupported_and_named():
    """An LI readout is lowered (tests/test_readout.py); an I, without leak, is not."""
    graph = chain(I(r=A([1.0])), [[1.0]], name="readout")
    with pytest.raises(UnsupportedNodeError, match=r"node 'readout' \(I\)") as err:
        compile_(graph)
    assert "grows without bound" in str(err.value) and "in pass 'quantize'" in str(err.value)


def test_threshold_node_is_unsupported_and_named():
    graph = chain(Threshold(threshold=A([0.5])), [[1.0]], name="thr")
    with pytest.raises(UnsupportedNodeError, match=r"node 'thr' \(Threshold\)") as err:
        compile_(graph)
    assert "IF" in str(err.value)  # says what to use instead


def test_infinite_weight_is_reported_by_verify_in_the_normalize_pass():
    graph = chain(lif(2), [[1.0, np.inf], [0.5, -np.inf]])
    with pytest.raises(GraphError) as err:
        compile_(graph)
    msg = str(err.value)
    assert "Affine 'fc'" in msg and "weight has 2 NaN or infinite value(s) of 4" in msg
    assert "in pass 'normalize'" in msg


def test_all_zero_weight_layer_is_refused_but_an_empty_block_runs():
    """A layer whose every weight is 0 (and no bias) could never spike: the issue's 'all-zero
    layer' is a QuantizationError. An empty block in a Program (zeroed by hand here) still
    runs, on the emulator and on Lava."""
    with pytest.raises(QuantizationError, match=r"node 'n': every incoming weight is 0"):
        compile_(chain(lif(3, v_threshold=0.5), np.zeros((3, 4))))
    program = compile_(chain(lif(3, v_threshold=0.5), np.full((3, 4), 0.1)))
    block = only_block(program)
    block.weights.to_dense()[:] = 0
    assert block.weights.to_dense().shape == (3, 4)
    x = np.ones((12, 2, 4), np.int8)  # every input spikes every step
    with jax.numpy_dtype_promotion("strict"):
        emu = Emulator(program, LOIHI2, record=["n"]).run(x)
    assert not emu.spikes["n"].any()
    assert not emu.traces["n"]["u"].any() and not emu.traces["n"]["v"].any()
    assert not emu.counters["synaptic_events"][block.name].any()
    lava = run_on_lava(program, x, record=["n"])  # an empty Sparse block is fine for Lava too
    assert not lava.spikes["n"].any() and not lava.traces["n"]["v"].any()


def test_forced_zero_threshold_is_refused():
    with pytest.raises(QuantizationError, match=r"node 'n': vth=0 outside 1\.\.131071") as err:
        compile_(chain(lif(), [[1.0]]), force={"n": {"vth": 0}})
    assert "rounds to zero" in str(err.value)


def test_option_vth_zero_is_refused_not_ignored():
    with pytest.raises(QuantizationError, match=r"vth=0"):
        compile_(chain(lif(), [[1.0]]), vth=0)


def test_dt_longer_than_tau_is_refused_naming_dt():
    with pytest.raises(QuantizationError, match=r"--dt") as err:
        compile_(chain(lif(tau=5e-4), [[1.0]]), dt=1e-3)
    assert "node 'n'" in str(err.value) and "in pass 'discretize'" in str(err.value)


def test_dt_longer_than_a_synaptic_tau_is_refused():
    neuron = CubaLIF(tau_syn=A([5e-5]), tau_mem=A([1e-3]), r=A([1.0]), v_leak=A([0.0]),
                     v_threshold=A([1.0]))
    with pytest.raises(QuantizationError, match=r"node 'n'.*--dt"):
        compile_(chain(neuron, [[1.0]]))


def test_per_neuron_time_constants_are_refused_naming_the_node():
    with pytest.raises(QuantizationError, match=r"node 'hidden': the voltage decay dv differs") as err:
        compile_(chain(lif(2, tau=A([1e-3, 2e-3])), [[1.0], [1.0]], name="hidden"))
    assert "Split the layer" in str(err.value)


def test_recurrent_edge_into_an_earlier_layer_is_unsupported():
    nodes = {"input": Input(shape=A([2])),
             "fc1": Affine(weight=A([[1.0, 0.5]]), bias=A([0.0])), "l1": lif(1),
             "fc2": Affine(weight=A([[1.0]]), bias=A([0.0])), "l2": lif(1),
             "back": Affine(weight=A([[-0.5]]), bias=A([0.0])),
             "output": Output(shape=A([1]))}
    edges = [("input", "fc1"), ("fc1", "l1"), ("l1", "fc2"), ("fc2", "l2"), ("l2", "output"),
             ("l2", "back"), ("back", "l1")]
    with pytest.raises(UnsupportedNodeError, match=r"edge 'l2' -> 'l1' would need a synaptic delay of -1"):
        compile_(Graph(nodes, edges))
    # the same loop onto its own layer is fine: one synapse step is the recurrent step
    nodes["back"] = Affine(weight=A([[-0.5]]), bias=A([0.0]))
    edges[-2:] = [("l1", "back"), ("back", "l1")]
    program = compile_(Graph(nodes, edges))
    assert only_block(program, "l1", "l1").delay == 0


# --- the mapping, by hand -------------------------------------------------------------------

def test_lif_mapping():
    # a = dt/tau = 1e-4/4e-4 = 1/4; S = 1024/0.5 = 2048; g = a r = 0.5; weight = 2048 * 0.5 * 1.5
    program = compile_(chain(lif(tau=4e-4, r=2.0, v_threshold=0.5), [[1.5]]))
    assert params(program) == {"du": 4095, "dv": 1024, "vth": 1024, "bias_mant": [0], "bias_exp": [0]}
    block = only_block(program)
    assert int(block.weights.to_dense()[0, 0]) * 2**block.weight_exp == 1536
    # 1536 / 255 needs 2**3: mantissa 192, exponent 3, one sign
    assert (int(block.weights.to_dense()[0, 0]), block.weight_exp, block.sign_mode) == (192, 3, "excitatory")
    assert block.delay == 0 and block.num_weight_bits == 8


def test_cubalif_mapping():
    # a_s = 1/2 -> du = 2047; a_m = 1/8 -> dv = 512; S = 1024/2 = 512;
    # g = a_s a_m r w_in = 1/2 * 1/8 * 4 * 2 = 1/2; weights = 512 * 1/2 * [1, -1/4] = [256, -64]
    neuron = CubaLIF(tau_syn=A([2e-4]), tau_mem=A([8e-4]), r=A([4.0]), v_leak=A([0.0]),
                     v_threshold=A([2.0]), w_in=A([2.0]))
    program = compile_(chain(neuron, [[1.0, -0.25]]))
    assert params(program) == {"du": 2047, "dv": 512, "vth": 1024, "bias_mant": [0], "bias_exp": [0]}
    block = only_block(program)
    assert (block.weights.to_dense() * 2.0**block.weight_exp).tolist() == [[256.0, -64.0]]
    # mixed signs keep even mantissas only (Lava drops the LSB): 256 needs 2**1 -> [128, -32]
    assert block.weights.to_dense().tolist() == [[128, -32]] and block.weight_exp == 1 and block.sign_mode == "mixed"


def test_cubalif_braille_time_constants():
    # tau_syn = 2.22e-4: 4096 * 1e-4 / 2.22e-4 = 1845.05 -> du = 1844; tau_mem = 1e-3: 409.6 -> 410
    neuron = CubaLIF(tau_syn=A([2.22e-4] * 2), tau_mem=A([1e-3] * 2), r=A([10.0] * 2),
                     v_leak=A([0.0] * 2), v_threshold=A([1.0] * 2))
    w = A([[0.3, -0.7, 0.0], [0.05, 0.2, 0.4]])
    program = compile_(chain(neuron, w))
    assert (params(program)["du"], params(program)["dv"], params(program)["vth"]) == (1844, 410, 1024)
    want = 1024 * (1e-4 / 2.22e-4) * (1e-4 / 1e-3) * 10.0 * w  # S g W in integer units
    got = sum(b.weights.to_dense() * 2.0**b.weight_exp for b in program.synapses if b.source == "input")
    first = only_block_named(program, "input->n")
    assert np.all(np.abs(got - want) <= 2.0**first.weight_exp), (got, want)
    assert got[0, 2] == 0  # a zero weight stays zero


def test_if_mapping():
    # g = dt r = 1e-4 * 5000 = 0.5; S = 1024; weights = 512 * [1, 0.25] = [512, 128] -> 2**2 * [128, 32]
    neuron = IF(r=A([5000.0, 5000.0]), v_threshold=A([1.0, 1.0]))
    program = compile_(chain(neuron, [[1.0], [0.25]]))
    p = params(program)
    assert (p["du"], p["dv"], p["vth"]) == (4095, 0, 1024)
    block = only_block(program)
    assert block.weights.to_dense().tolist() == [[128], [32]] and block.weight_exp == 2


def test_lif_leak_and_reset_offset():
    # theta = v_th - v_reset = 0.5 -> S = 2048; v is offset by v_reset: the float model's start,
    # v = 0, is -64 S v_reset = -65536; leak bias = 64 S a (v_leak - v_reset) = 64 * 2048 *
    # 1/4 * 1/4 = 8192 = 2048 << 2. The chip runs this group one step behind the float model,
    # and that first step already decays (x 3072/4096) and adds the bias, so v starts one step
    # earlier: -98304 * 3072 / 4096 + 8192 = -73728 + 8192 = -65536
    program = compile_(chain(lif(tau=4e-4, v_leak=0.75, v_threshold=1.0, v_reset=0.5), [[1.0]]))
    p = params(program)
    assert (p["du"], p["dv"], p["vth"]) == (4095, 1024, 1024)
    assert p["v0"] == [-98304]
    assert (p["bias_mant"], p["bias_exp"]) == ([2048], [2])
    block = only_block(program)
    assert int(block.weights.to_dense()[0, 0]) * 2**block.weight_exp == 512  # S a r W = 2048 / 4


def test_affine_bias_enters_through_a_constant_source():
    # the bias b = 0.5 becomes a weight S g b = 2048 * 0.5 * 0.5 = 512 from a source that is on
    # from step depth - latency = 0
    program = compile_(chain(lif(tau=4e-4, r=2.0, v_threshold=0.5), [[1.5]], bias=[0.5]))
    (port,) = [p for p in program.inputs if p.kind == "const"]
    assert port.start == 0 and port.shape == (1,)
    block = only_block(program, port.name)
    assert int(block.weights.to_dense()[0, 0]) * 2**block.weight_exp == 512


def test_explicit_vth_sets_the_scale():
    # vth = 4096 -> S = 4096; LIF g = a r = 1/4; weight 1024 > 4 * 255 needs 2**3: mantissa 128
    program = compile_(chain(lif(tau=4e-4), [[1.0]]), vth=4096)
    assert params(program)["vth"] == 4096
    block = only_block(program)
    assert (int(block.weights.to_dense()[0, 0]), block.weight_exp) == (128, 3)
    assert math.ceil(math.log2(1024 / 255)) == block.weight_exp == 3


def test_a_leaky_layer_starts_where_the_float_model_does():
    """The chip runs a layer at depth 1 one step behind the float model, and that first step
    already leaks and decays: v must start one step earlier, or every later step is one step
    ahead (measured before the fix: 0.065 off at the first compared step, threshold 1)."""
    neuron = lif(3, tau=8e-3, v_leak=0.6, v_threshold=1.0, v_reset=0.1)
    graph = chain(neuron, np.full((3, 4), 0.3))
    program = compile_(graph, dt=1e-3)
    scale = program.info["quantization"]["groups"]["n"]["scale"]
    from neurocc.simulators.reference import ReferenceSimulator

    # silent input: only the leak and the decay act, exact to the 13-bit bias (1e-3); random
    # input: each weight, 0.3 a S = 38.4 integer units, is stored as 38 (1 % per input spike,
    # leaking away at a = 1/8), so 1e-2
    for x, tol in ((np.zeros((30, 1, 4), bool), 1e-3),
                   (np.random.default_rng(0).random((200, 2, 4)) < 0.3, 1e-2)):
        emu = Emulator(program, LOIHI2, record=["n"]).run(x)
        ref = ReferenceSimulator(graph, 1e-3, record=["n"]).run(x)
        v_chip = emu.traces["n"]["v"][1:] / (64 * scale) + 0.1       # v is offset by v_reset
        v_float = np.asarray(ref.traces["n"]["v"])[:-1]
        quiet = ~(emu.spikes["n"][1:].astype(bool))                  # a spike step holds the reset
        assert np.abs(v_chip - v_float)[quiet].max() < tol
        assert np.array_equal(emu.spikes["n"][1:], np.asarray(ref.outputs["output"])[:-1])
