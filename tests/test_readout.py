"""LI and CubaLI readouts: a trained network's non-spiking last layer, read as a voltage.

Loihi 2 runs a readout as a CUBA-LIF whose threshold its voltage never reaches, and
the chip's probe reads v. The compiler picks the voltage scale from the most the
readout can reach (every source spiking every step), so it cannot saturate; the
Output port records the scale, and ``v / scale`` is the float model's voltage.

Checked here: the voltage against the float model where nothing else can differ
(input straight into the readout, decays exact in 1/4096: only weight, bias and
per-step truncation errors remain, bounded below), bit-exactness against Lava
through a spiking hidden layer, the worst case, partitioning, the artifact and
the command line, and the readouts Loihi cannot have.
"""

from __future__ import annotations

import dataclasses
import json
import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")  # before jax is imported

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from neurocc import ir  # noqa: E402
from neurocc.backends.loihi2 import target  # noqa: E402
from neurocc.backends.loihi2.bridge import run_on_lava  # noqa: E402
from neurocc.compiler.pipeline import compile_graph  # noqa: E402
from neurocc.ir.target import CoreLimits  # noqa: E402
from neurocc.simulators.emulator import Emulator  # noqa: E402
from neurocc.simulators.reference import ReferenceSimulator  # noqa: E402
from neurocc.backends import get_target as _get_target  # noqa: E402

LOIHI2 = _get_target("loihi2")

from cli_helpers import assert_user_error, run_cli  # noqa: E402

DT = 1e-3


def readout(kind: str, n: int, v_leak: float = 0.0) -> ir.Node:
    """dt/tau = 1/8 and 1/4: decays exact in 1/4096 (dv = 512, du = 1023)."""
    full = lambda v: np.full(n, v, np.float64)  # noqa: E731
    if kind == "LI":
        return ir.LI(tau=full(8e-3), r=full(1.5), v_leak=full(v_leak))
    return ir.CubaLI(tau_syn=full(4e-3), tau_mem=full(8e-3), r=full(1.5), v_leak=full(v_leak))


def direct(kind: str, seed: int = 0) -> ir.Graph:
    """input(12) -> Linear -> readout(4, with a leak) -> output."""
    rng = np.random.default_rng(seed)
    w = rng.normal(0, 0.7, (4, 12))
    return ir.Graph({"input": ir.Input(shape=np.array([12])), "fc": ir.Linear(weight=w),
                     "ro": readout(kind, 4, v_leak=0.2), "output": ir.Output(shape=np.array([4]))},
                    [("input", "fc"), ("fc", "ro"), ("ro", "output")])


def two_layer(kind: str, seed: int = 0) -> ir.Graph:
    """input(20) -> Affine -> LIF(30) -> Linear -> readout(5) -> output (a Norse-style net)."""
    rng = np.random.default_rng(seed)
    full = lambda v, n: np.full(n, v, np.float64)  # noqa: E731
    lif = ir.LIF(tau=full(5e-3, 30), r=full(1.0, 30), v_leak=full(0.0, 30),
                 v_threshold=full(1.0, 30), v_reset=full(0.0, 30))
    return ir.Graph({"input": ir.Input(shape=np.array([20])),
                     "fc1": ir.Affine(weight=rng.normal(0, 0.6, (30, 20)), bias=rng.normal(0, 0.05, 30)),
                     "lif": lif, "fc2": ir.Linear(weight=rng.normal(0, 0.5, (5, 30))),
                     "ro": readout(kind, 5), "output": ir.Output(shape=np.array([5]))},
                    [("input", "fc1"), ("fc1", "lif"), ("lif", "fc2"), ("fc2", "ro"), ("ro", "output")])


def spikes(steps: int, batch: int, n: int, rate: float, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).random((steps, batch, n)) < rate


def aligned(program: ir.Program, emu_out: np.ndarray, ref_out: np.ndarray) -> tuple:
    d = program.output_latency["output"]
    port = program.outputs[0]
    return port.to_float(emu_out)[d:], np.asarray(ref_out, np.float64)[:len(ref_out) - d]


@pytest.mark.parametrize("kind", ["LI", "CubaLI"])
def test_readout_voltage_equals_the_float_models(kind):
    """Input straight into the readout: no spike can differ, so the voltages must agree to
    the precision of the weights. The voltage is a linear filter of the weighted inputs, so
    its relative error is about the weights' (10^(-SQNR/20), the SQNR the compile reports:
    59 dB for LI, 48.5 dB for CubaLI, whose gain a_s a_m r leaves its weights ~80 integer
    units); twice that is the bound (0.22 % and 0.75 % of the peak; measured 0.06 % and
    0.14 %). The leak's 13-bit bias and the decay's per-step truncation (at most 8 integer
    units at v ~ 2^21) add far less."""
    graph = direct(kind)
    program = compile_graph(graph, target(), DT)
    (port,) = program.outputs
    assert port.kind == "voltage" and port.group == "ro" and port.scale > 0
    assert program.readout_groups == ("ro",)
    assert int(program.groups["ro"].params["vth"]) == (1 << 17) - 1     # never reached
    x = spikes(150, 6, 12, 0.3)
    emu = Emulator(program, LOIHI2).run(x)
    assert emu.outputs["output"].dtype == np.int32 and emu.outputs["output"].shape == (150, 6, 4)
    assert not emu.spikes["ro"].any() and emu.overflow_report() == []
    e, r = aligned(program, emu.outputs["output"], ReferenceSimulator(graph, DT).run(x).outputs["output"])
    peak = np.abs(r).max()
    assert peak > 0.5                                                  # a voltage worth comparing
    sqnr = min(b["sqnr_db"] for b in program.info["quantization"]["blocks"].values()
               if isinstance(b["sqnr_db"], float))
    bound = 2 * 10 ** (-sqnr / 20) * peak
    assert np.abs(e - r).max() <= bound, (np.abs(e - r).max(), peak, sqnr)


@pytest.mark.parametrize("kind", ["LI", "CubaLI"])
def test_readout_behind_a_spiking_layer_is_bit_exact_with_lava_and_agrees_with_float(kind):
    graph = two_layer(kind)
    program = compile_graph(graph, target(), DT)
    x = spikes(100, 16, 20, 0.2)
    emu = Emulator(program, LOIHI2, record=tuple(program.groups)).run(x)
    lava = run_on_lava(program, x, record=tuple(program.groups))
    assert np.array_equal(emu.outputs["output"], lava.outputs["output"])
    for g in program.groups:
        assert np.array_equal(emu.spikes[g], lava.spikes[g]), g
        for var in ("u", "v"):
            assert np.array_equal(emu.traces[g][var], lava.traces[g][var]), (g, var)
    assert emu.spikes["lif"].sum() > 200
    # against the float model: a hidden spike that flips at a rounding edge moves the readout
    # by one weight x dt/tau, so the voltages correlate closely but not exactly (measured:
    # 0.995 for LI, 0.998 for CubaLI on this input); the readout's
    # decision (the neuron peaking highest) must survive
    e, r = aligned(program, emu.outputs["output"], ReferenceSimulator(graph, DT).run(x).outputs["output"])
    assert np.corrcoef(e.ravel(), r.ravel())[0, 1] > 0.98
    agree = np.mean(e.max(axis=0).argmax(axis=-1) == r.max(axis=0).argmax(axis=-1))
    assert agree >= 0.9, agree


def test_the_worst_case_input_never_saturates_a_readout():
    """All weights and the bias positive, every input spiking every step: the voltage climbs
    to the reach the scale was chosen for (a quarter of the 24-bit range) and stays under it."""
    graph = direct("LI")
    graph.nodes["fc"] = ir.Affine(weight=np.abs(graph.nodes["fc"].weight), bias=np.full(4, 0.3))
    program = compile_graph(graph, target(), DT)
    emu = Emulator(program, LOIHI2, record=("ro",)).run(np.ones((300, 1, 12), bool))
    assert emu.overflow_report() == [] and not emu.spikes["ro"].any()
    v = emu.traces["ro"]["v"]
    assert (1 << 20) < v.max() <= (1 << 21) * 1.01                    # near the reach, not over
    assert v.max() < (1 << 23) - 1


def test_a_partitioned_readout_reads_the_same_voltage():
    graph = two_layer("CubaLI")
    whole = compile_graph(graph, target().replace(cores=None, topology=None), DT)
    tiny = target().replace(cores=dataclasses.replace(target().cores, max_neurons=4))
    split = compile_graph(graph, tiny, DT)
    (port,) = split.outputs
    assert port.kind == "voltage" and len(port.parts) == 2 and port.scale == whole.outputs[0].scale
    x = spikes(60, 3, 20, 0.2)
    assert np.array_equal(Emulator(whole, LOIHI2).run(x).outputs["output"], Emulator(split, LOIHI2).run(x).outputs["output"])


def test_a_readout_that_feeds_a_layer_is_refused():
    graph = two_layer("LI")
    graph = ir.Graph(dict(graph.nodes, fc3=ir.Linear(weight=np.ones((2, 5))),
                          lif2=ir.LIF(tau=np.full(2, 5e-3), r=np.ones(2), v_leak=np.zeros(2),
                                      v_threshold=np.ones(2), v_reset=np.zeros(2)),
                          output=ir.Output(shape=np.array([2]))),
                     [e for e in graph.edges if e != ("ro", "output")]
                     + [("ro", "fc3"), ("fc3", "lif2"), ("lif2", "output")])
    with pytest.raises(ir.UnsupportedNodeError, match=r"node 'ro' \(LI\) feeds \['fc3'\]") as err:
        compile_graph(graph, target(), DT)
    assert "only be read out" in str(err.value)


def test_readout_artifact_and_command_line(capsys, tmp_path):
    graph = direct("CubaLI")
    ir.save(graph, tmp_path / "m.nir")
    art = tmp_path / "art"
    code, _, err = run_cli(capsys, "compile", tmp_path / "m.nir", "--dt", DT, "-o", art)
    assert code == 0, err
    program = ir.load_program(art)
    (port,) = program.outputs
    manifest = json.loads((art / "manifest.json").read_text())
    assert manifest["outputs"][0]["kind"] == "voltage" and manifest["outputs"][0]["scale"] == port.scale
    x = spikes(40, 2, 12, 0.3)
    np.save(tmp_path / "x.npy", x)
    code, out, err = run_cli(capsys, "run", art, "--input", tmp_path / "x.npy", "-o", tmp_path / "r.npz")
    assert code == 0, err
    assert "output (voltage)" in out
    with np.load(tmp_path / "r.npz") as z:
        v, v_float = z["output.output"], z["output_float.output"]
    assert v.dtype == np.int32 and np.array_equal(v, Emulator(program, LOIHI2).run(x).outputs["output"])
    assert np.allclose(v_float, v / port.scale, rtol=1e-6)
    code, out, err = run_cli(capsys, "verify", art, "--input", tmp_path / "x.npy", "--against",
                             "reference", "--json", tmp_path / "v.json")
    assert code == 0, err
    verdict = json.loads((tmp_path / "v.json").read_text())["reference"]["outputs"]["output"]
    assert verdict["kind"] == "voltage" and verdict["voltage_correlation"] > 0.999
    assert verdict["max_abs_error"] <= 0.02 * verdict["reference_peak"]   # see the first test
    assert "voltage correlation" in out and "argmax agreement" in out


def test_an_integrator_readout_is_refused(capsys, tmp_path):
    graph = direct("LI")
    graph.nodes["ro"] = ir.I(r=np.ones(4))
    with pytest.raises(ir.UnsupportedNodeError, match=r"node 'ro' \(I\)") as err:
        compile_graph(graph, target(), DT)
    assert "grows without bound" in str(err.value) and "LI readout" in str(err.value)


def test_fit_counts_a_readout_as_a_layer_on_every_target(capsys, tmp_path):
    ir.save(two_layer("LI"), tmp_path / "m.nir")
    code, out, err = run_cli(capsys, "fit", tmp_path / "m.nir", "--target",
                             "loihi2,xylo_audio2,speck,spinnaker2", "--dt", DT)
    assert code == 0, err
    rows = {line.split("│")[1].strip(): line for line in out.splitlines() if line.startswith("│")}
    # Speck: one core per layer, the readout included (lif, ro); Xylo: 20 inputs of 16
    assert "yes" in rows["speck"] and "│     2 │" in rows["speck"]
    # Xylo lowers no LI readout (it reports readout spikes): fit says so on its row
    assert "UnsupportedNodeError: node 'ro' (LI)" in rows["xylo_audio2"]
    assert "yes" in rows["loihi2"] and "yes" in rows["spinnaker2"]
