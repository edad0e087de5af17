"""Xylo end to end: `neurocc compile/run/verify/profile/fit` and the Python API.

The model is the NIR paper's Braille network (braille_noDelay_noBias_subtract.nir:
12 inputs -> 40 recurrent CubaLIF -> 7 CubaLIF readouts, no dt in the file: 1e-4 s).
It is compiled for the three Xylo chips; the emitted `xylo_spec.npz` is checked
against the NIR file itself (sizes, the sign and proportion of every weight, the
decays by Rockpool's rule dash = round(log2(tau / dt))) and against the chips'
documented ranges (shared/docs/xylo-arithmetic.md, section 2 and 3); the emulator
is checked bit for bit against SynSense's XyloSim, both as neurocc's bridge builds
it (`verify --against xylosim`, `run --backend xylosim`) and as Rockpool's own
`XyloSim.from_specification` builds it from the emitted spec. Bad models each get one
error line that names the rule and the fix, and leave nothing at -o.

Needs `.venv-xylo` (`make xylo`); without it the xylosim tests fail saying so.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
from pathlib import Path

import nir
import numpy as np
import pytest

import neurocc
from neurocc import ir
from neurocc.backends.xylo.xylosim import run_xylosim, xylo_python
from neurocc.compiler.cli import main
from cli_helpers import assert_user_error, run_cli

ROOT = Path(__file__).resolve().parents[1]
MODEL = Path(__file__).parent / "fixtures" / "nir-paper" / "braille_noDelay_noBias_subtract.nir"
DT = 1e-4
CHIPS = ("xylo_audio2", "xylo_imu", "xylo_audio3")
ARTIFACT_FILES = {"manifest.json", "program.npz", "source.nir", "xylo_spec.npz"}
#: the argument names of Rockpool 3.1.0's XyloSim.from_specification (syns61201) that
#: describe the network (dt, verify_config and output_mode are run options)
ROCKPOOL_NAMES = {"weights_in", "weights_out", "weights_rec", "dash_mem", "dash_mem_out",
                  "dash_syn", "dash_syn_2", "dash_syn_out", "threshold", "threshold_out",
                  "bias", "bias_out", "weight_shift_in", "weight_shift_rec", "weight_shift_out"}
#: (aliases, Rockpool's list of target lists, is left out: neurocc makes none)
#: readout neurons per chip (Rockpool's mappers; xylo-arithmetic.md section 2)
READOUTS = {"xylo_audio2": 8, "xylo_imu": 16, "xylo_audio3": 32}
STEPS, BATCH = 100, 4


def nodes() -> dict[str, nir.NIRNode]:
    return nir.read(MODEL).nodes


@pytest.fixture(scope="module")
def raster() -> np.ndarray:
    """Bernoulli(0.2) spikes on the 12 inputs [T, B, 12]: enough to make the readout spike."""
    return (np.random.default_rng(1).random((STEPS, BATCH, 12)) < 0.2).astype(np.int8)


@pytest.fixture(scope="module")
def raster_file(tmp_path_factory, raster) -> Path:
    path = tmp_path_factory.mktemp("input") / "x.npy"
    np.save(path, raster)
    return path


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("xylo")
    out = {}
    for chip in CHIPS:
        out[chip] = root / chip
        assert main(["compile", str(MODEL), "--target", chip, "--dt", str(DT),
                     "-o", str(out[chip])]) == 0
    return out


# --- compile: the artifact and its xylo_spec.npz --------------------------------------


def test_compile_writes_the_artifact_with_the_xylo_spec(capsys, tmp_path):
    out = tmp_path / "braille"
    code, stdout, err = run_cli(capsys, "compile", MODEL, "--target", "xylo_audio2", "--dt", DT,
                                "-o", out)
    assert code == 0, err
    assert {p.name for p in out.iterdir()} == ARTIFACT_FILES
    assert [p.name for p in tmp_path.iterdir()] == ["braille"]      # no staging directory left
    assert (out / "source.nir").read_bytes() == MODEL.read_bytes()
    # the summary names every file written, the chip's own one too
    (wrote,) = [line for line in stdout.splitlines() if line.startswith("wrote ")]
    for name in ARTIFACT_FILES:
        assert name in wrote
    # the quantization report speaks Xylo: bit-shift decays and the integer threshold
    header = next(line for line in stdout.splitlines() if "dash_syn" in line)
    assert "dash_mem" in header and "threshold" in header and " du " not in header
    spec = dict(np.load(out / "xylo_spec.npz"))
    row = next(line for line in stdout.splitlines() if line.startswith("│ lif1.lif"))
    cells = [c.strip() for c in row.strip("│").split("│")]
    assert cells[4:7] == [str(spec["dash_syn"][0]), str(spec["dash_mem"][0]),
                          str(spec["threshold"][0])]


def _sign_and_proportion(chip_w: np.ndarray, float_w: np.ndarray, what: str) -> None:
    """Integer weights are the float ones times one positive factor, rounded: the same sign
    wherever the integer is non-zero, most of them non-zero, and a near-perfect correlation
    (a transposed or shuffled matrix would fail all three)."""
    assert chip_w.shape == float_w.shape, what
    nz = chip_w != 0
    assert np.all(np.sign(chip_w[nz]) == np.sign(float_w[nz])), what
    assert nz.sum() >= 0.8 * np.count_nonzero(float_w), what
    assert np.corrcoef(chip_w.ravel(), float_w.ravel())[0, 1] > 0.99, what


@pytest.mark.parametrize("chip", CHIPS)
def test_xylo_spec_holds_the_model_in_rockpools_form(artifacts, chip):
    n = nodes()
    n_hid, n_in = np.asarray(n["fc1"].weight).shape            # (40, 12)
    n_out = np.asarray(n["fc2"].weight).shape[0]                 # 7
    assert n_in <= 16 and n_hid <= 128 and n_out <= READOUTS[chip]   # it fits every Xylo
    with np.load(artifacts[chip] / "xylo_spec.npz", allow_pickle=False) as z:
        spec = {k: z[k] for k in z.files}
    assert set(spec) == ROCKPOOL_NAMES
    for k, v in spec.items():
        assert v.dtype.kind in "iu", (k, v.dtype)
    assert spec["weights_in"].shape == (n_in, n_hid, 2)
    assert spec["weights_rec"].shape == (n_hid, n_hid, 2)
    assert spec["weights_out"].shape == (n_hid, n_out)
    for k in ("dash_mem", "dash_syn", "dash_syn_2", "threshold", "bias"):
        assert spec[k].shape == (n_hid,), k
    for k in ("dash_mem_out", "dash_syn_out", "threshold_out", "bias_out"):
        assert spec[k].shape == (n_out,), k
    # the chip's ranges: int8 weights, shifts 0..7 (SynSense's validator), 4-bit dashes,
    # int16 thresholds (positive) and biases, no aliases
    for k in ("weights_in", "weights_rec", "weights_out"):
        assert -128 <= spec[k].min() and spec[k].max() <= 127, k
    for k in ("weight_shift_in", "weight_shift_rec", "weight_shift_out"):
        assert spec[k].shape == () and 0 <= int(spec[k]) <= 7, k
    for k in ("threshold", "threshold_out"):
        assert 1 <= spec[k].min() and spec[k].max() <= 32767, k
    for k in ("dash_mem", "dash_syn", "dash_syn_2", "dash_mem_out", "dash_syn_out"):
        assert 0 <= spec[k].min() and spec[k].max() <= 15, k
    for k in ("bias", "bias_out"):
        assert -32768 <= spec[k].min() and spec[k].max() <= 32767, k
    assert "aliases" not in spec
    # Rockpool's rule for the decays: dash = round(log2(tau / dt))
    dash = lambda tau: np.rint(np.log2(np.asarray(tau) / DT)).astype(int)  # noqa: E731
    assert np.array_equal(spec["dash_syn"], dash(n["lif1.lif"].tau_syn))
    assert np.array_equal(spec["dash_mem"], dash(n["lif1.lif"].tau_mem))
    assert np.array_equal(spec["dash_syn_out"], dash(n["lif2"].tau_syn))
    assert np.array_equal(spec["dash_mem_out"], dash(n["lif2"].tau_mem))
    # every weight where the NIR file puts it ([pre, post] on the chip, [post, pre] in NIR)
    _sign_and_proportion(spec["weights_in"][:, :, 0], np.asarray(n["fc1"].weight).T, "in")
    _sign_and_proportion(spec["weights_rec"][:, :, 0], np.asarray(n["lif1.w_rec"].weight).T,
                         "rec")
    _sign_and_proportion(spec["weights_out"], np.asarray(n["fc2"].weight).T, "out")
    if chip == "xylo_imu":   # one synaptic state: nothing may feed the second
        assert not spec["weights_in"][:, :, 1].any() and not spec["weights_rec"][:, :, 1].any()


# --- run, verify, profile, fit ---------------------------------------------------------


def test_run_on_xylosim_gives_the_emulators_spikes_and_states(capsys, tmp_path, artifacts,
                                                              raster_file):
    art = artifacts["xylo_audio2"]
    results = {}
    for backend in ("emulator", "xylosim"):
        res = tmp_path / f"{backend}.npz"
        code, stdout, err = run_cli(capsys, "run", art, "--input", raster_file, "--backend",
                                    backend, "--record", "lif1.lif", "lif2", "-o", res)
        assert code == 0, err
        assert f"{backend}: {STEPS} steps x {BATCH} samples" in stdout
        with np.load(res) as z:
            results[backend] = {k: z[k] for k in z.files}
    emu, xylo = results["emulator"], results["xylosim"]
    assert json.loads(str(xylo["semantics"]))["backend"] == "xylosim"
    shared = ["output.output", "spikes.lif1.lif", "spikes.lif2", "trace.lif1.lif.isyn",
              "trace.lif1.lif.isyn2", "trace.lif1.lif.v", "trace.lif2.isyn", "trace.lif2.v"]
    for key in shared:
        assert key in emu and key in xylo, key
        assert emu[key].shape == xylo[key].shape, key
        assert np.array_equal(emu[key], xylo[key]), key
    assert xylo["output.output"].shape == (STEPS, BATCH, 7)
    # a run in which the readout spikes, in every sample: equality is not 0 == 0
    assert np.all(xylo["output.output"].sum(axis=(0, 2)) > 0)
    assert xylo["spikes.lif1.lif"].sum() > 0


@pytest.mark.parametrize("chip", CHIPS)
def test_verify_against_xylosim_is_bit_exact(capsys, tmp_path, artifacts, chip):
    code, stdout, err = run_cli(capsys, "verify", artifacts[chip], "--random-input", "0.2",
                                "--steps", STEPS, "--batch", BATCH, "--seed", "1",
                                "--against", "xylosim", "--json", tmp_path / "v.json")
    assert code == 0, err
    verdict = json.loads((tmp_path / "v.json").read_text())
    assert verdict["against"] == ["xylosim"] and "reference" not in verdict
    assert verdict["target"] == chip
    x = verdict["xylosim"]
    assert x["bit_exact"] is True
    assert {"lif1.lif.spikes", "lif1.lif.isyn", "lif1.lif.v", "lif2.spikes", "lif2.isyn",
            "lif2.v"} <= set(x["compared"])
    assert (x["steps"], x["batch"]) == (STEPS, BATCH)
    row = next(line for line in stdout.splitlines() if "emulator vs XyloSim" in line)
    assert "bit-exact" in row and "yes" in row


def test_verify_against_reference_and_xylosim(capsys, tmp_path, artifacts):
    code, stdout, err = run_cli(capsys, "verify", artifacts["xylo_audio2"], "--random-input",
                                "0.2", "--steps", STEPS, "--batch", BATCH, "--seed", "1",
                                "--against", "reference,xylosim", "--json", tmp_path / "v.json")
    assert code == 0, err
    verdict = json.loads((tmp_path / "v.json").read_text())
    assert verdict["against"] == ["reference", "xylosim"]
    assert verdict["xylosim"]["bit_exact"] is True
    out = verdict["reference"]["outputs"]["output"]
    # the chip's readout tracks the float model's: spike counts correlate strongly (an
    # all-silent or scrambled readout would not; agreement alone is high for sparse spikes)
    assert out["count_correlation"] is not None and out["count_correlation"] > 0.8
    assert out["emulator_spikes"] > 0 and out["reference_spikes"] > 0
    assert "output 'output' vs float" in stdout


def test_profile_energy_is_labelled_a_system_power_estimate(capsys, tmp_path, artifacts,
                                                            raster_file):
    code, stdout, err = run_cli(capsys, "profile", artifacts["xylo_audio2"], "--input",
                                raster_file, "--energy-from", "xylo_audio2",
                                "--json", tmp_path / "p.json")
    assert code == 0, err
    (line,) = [s for s in stdout.splitlines() if s.startswith("energy per sample:")]
    assert "SYSTEM-POWER ESTIMATE" in line and "291 uW" in line
    # Bos & Muir's 291 uW (measured on Xylo Audio 2) x 100 steps x 0.1 ms = 2.91 uJ
    expected = 291e-6 * STEPS * DT
    assert "2.91 uJ" in line
    energy = json.loads((tmp_path / "p.json").read_text())["energy"]
    assert energy["method"] == "system power x run time"
    assert math.isclose(energy["total"]["total"], expected, rel_tol=1e-9)
    assert energy["total"]["synops"] == 0 and energy["total"]["spikes"] == 0


def test_profile_synaptic_ops_equal_the_events_the_emulator_processed(capsys, tmp_path,
                                                                       artifacts, raster_file):
    """`neurocc profile --help`: synaptic operations are 'spikes x non-zero fan-out, equal to
    the synaptic events the emulator processed'. `run` writes those events per block."""
    art = artifacts["xylo_audio2"]
    assert main(["run", str(art), "--input", str(raster_file), "-o",
                 str(tmp_path / "r.npz")]) == 0
    with np.load(tmp_path / "r.npz") as z:
        events = sum(int(z[k].sum()) for k in z.files if k.startswith("events."))
        assert z["spikes.lif1.lif"].max() > 1     # some step held several spikes of a neuron
    assert main(["profile", str(art), "--input", str(raster_file), "--json",
                 str(tmp_path / "p.json")]) == 0
    capsys.readouterr()
    prof = json.loads((tmp_path / "p.json").read_text())["profile"]["network"]
    assert prof["synaptic_ops"] * BATCH == events


def test_fit_three_xylo_chips(capsys, tmp_path):
    code, stdout, err = run_cli(capsys, "fit", MODEL, "--target", ",".join(CHIPS), "--dt", DT,
                                "--json", tmp_path / "fit.json")
    assert code == 0, err
    rows = json.loads((tmp_path / "fit.json").read_text())["targets"]
    assert [r["target"] for r in rows] == list(CHIPS)
    # 12 inputs <= 16, 40 hidden <= 128 (the IMU's and Audio 3's input/output windows),
    # 7 readouts <= 8 / 16 / 32: one core on one chip, measured on the quantized program
    for r in rows:
        assert (r["fits"], r["cores"], r["chips"]) == (True, 1, 1), r
        assert r["basis"] == "quantized program"
    for chip in CHIPS:
        assert any(line.startswith(f"│ {chip}") and "│ yes" in line
                   for line in stdout.splitlines()), chip


# --- Rockpool's own XyloSim, built from the emitted specification --------------------


@pytest.mark.parametrize("chip", ["xylo_audio2", "xylo_audio3"])
def test_rockpool_xylosim_from_the_emitted_spec_matches_the_emulator(artifacts, raster, chip):
    art = artifacts[chip]
    with np.load(art / "xylo_spec.npz", allow_pickle=False) as z:
        spec = {k: z[k] for k in z.files}
    rock = run_xylosim(spec, raster, chip=chip, via="rockpool")
    emu = neurocc.run(art, raster, aligned=False, record=("lif1.lif", "lif2")).raw
    assert np.array_equal(rock["spikes_out"], emu.outputs["output"])
    assert np.array_equal(rock["spikes"], emu.spikes["lif1.lif"])
    assert np.array_equal(rock["vmem"], emu.traces["lif1.lif"]["v"])
    assert np.array_equal(rock["isyn"], emu.traces["lif1.lif"]["isyn"])
    assert np.array_equal(rock["vmem_out"], emu.traces["lif2"]["v"])
    assert np.all(rock["spikes_out"].sum(axis=(0, 2)) > 0)


ROCKPOOL_USER = """
import sys, numpy as np
sys.path.insert(0, sys.argv[1])
import samna_stub; samna_stub.install()       # rockpool's Xylo packages import samna
from rockpool.devices.xylo.syns61201 import XyloSim
spec = dict(np.load(sys.argv[2]))
sim = XyloSim.from_specification(**spec)      # the file as it is, no conversion
out, _, _ = sim(np.load(sys.argv[3]))
np.save(sys.argv[4], np.asarray(out))
"""


def test_a_rockpool_user_loads_xylo_spec_as_it_is(artifacts, raster, tmp_path):
    art = artifacts["xylo_audio2"]
    np.save(tmp_path / "x.npy", raster[:, 0].astype(np.int64))
    (tmp_path / "user.py").write_text(ROCKPOOL_USER)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["PYTHONNOUSERSITE"] = "1"     # the Xylo venv's own packages only
    proc = subprocess.run([str(xylo_python()), str(tmp_path / "user.py"),
                           str(ROOT / "backends" / "xylo" / "xylosim"), str(art / "xylo_spec.npz"),
                           str(tmp_path / "x.npy"), str(tmp_path / "out.npy")],
                          capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    emu = neurocc.run(art, raster[:, :1], aligned=False).outputs["output"][:, 0]
    assert np.array_equal(np.load(tmp_path / "out.npy"), emu)


# --- bad models: one error naming the rule and the fix, nothing written -------------------


_RNG = np.random.default_rng(0)


def _cuba(n: int) -> nir.CubaLIF:
    return nir.CubaLIF(tau_syn=np.full(n, 2e-3), tau_mem=np.full(n, 4e-3), r=np.ones(n),
                       v_leak=np.zeros(n), v_threshold=np.ones(n), v_reset=np.zeros(n),
                       w_in=np.ones(n))


def _lin(n_out: int, n_in: int) -> nir.Linear:
    return nir.Linear(weight=_RNG.normal(0, 0.5, (n_out, n_in)))


def _net(n_in: int = 8, hidden: int = 20, extra: dict | None = None,
         edges: list | None = None) -> nir.NIRGraph:
    """input(n_in) -> fc1 -> h(hidden) -> fc2 -> ro(4) -> output, plus `extra` nodes/edges."""
    nodes = {"input": nir.Input(input_type={"input": np.array([n_in])}),
             "fc1": _lin(hidden, n_in), "h": _cuba(hidden), "fc2": _lin(4, hidden),
             "ro": _cuba(4), "output": nir.Output(output_type={"output": np.array([4])})}
    nodes.update(extra or {})
    edges = edges or [("input", "fc1"), ("fc1", "h"), ("h", "fc2"), ("fc2", "ro"),
                      ("ro", "output")]
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)


def _seventeen_inputs() -> nir.NIRGraph:
    return _net(n_in=17)


def _recurrent_readout() -> nir.NIRGraph:
    return _net(extra={"w_ro": _lin(4, 4)},
                edges=[("input", "fc1"), ("fc1", "h"), ("h", "fc2"), ("fc2", "ro"),
                       ("ro", "w_ro"), ("w_ro", "ro"), ("ro", "output")])


def _three_weight_layers() -> nir.NIRGraph:
    return _net(extra={"fc1b": _lin(20, 20), "fc1c": _lin(20, 20)},
                edges=[("input", "fc1"), ("fc1", "fc1b"), ("fc1b", "fc1c"), ("fc1c", "h"),
                       ("h", "fc2"), ("fc2", "ro"), ("ro", "output")])


def _input_feeds_readout() -> nir.NIRGraph:
    return nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array([8])}),
                               "fc": _lin(4, 8), "ro": _cuba(4),
                               "output": nir.Output(output_type={"output": np.array([4])})},
                        edges=[("input", "fc"), ("fc", "ro"), ("ro", "output")],
                        type_check=False)


def _wide_hidden() -> nir.NIRGraph:
    return _net(hidden=200)


# (graph or None for the Braille fixture, target, dt, error kind, what the message must say)
BAD = {
    "17 input channels": (_seventeen_inputs, "xylo_audio2", "1e-4", "CapacityError",
                          ("17 external input channels", "16 input channels",
                           "max_input_channels", "encode the input in at most 16 channels")),
    "recurrent readout": (_recurrent_readout, "xylo_audio2", "1e-4", "QuantizationError",
                          ("node 'ro'", "rule 'readout neurons not recurrent'",
                           "Read the output from a layer that feeds no neuron")),
    "three weight layers": (_three_weight_layers, "xylo_audio2", "1e-4", "UnsupportedNodeError",
                            ("'fc1' -> 'fc1b'", "two weight layers in a row",
                             "one weight matrix between two neuron layers",
                             "Multiply them into one layer")),
    "dt longer than tau": (None, "xylo_audio2", "1e-2", "QuantizationError",
                           ("dt = 0.01 s is longer than its time constant",
                            "Use --dt 0.000182 or smaller")),
    "input feeds the readout": (_input_feeds_readout, "xylo_audio2", "1e-4", "QuantizationError",
                                ("rule 'inputs reach hidden neurons only'",
                                 "Put a hidden layer between the input")),
    "200 hidden on IMU": (_wide_hidden, "xylo_imu", "1e-4", "QuantizationError",
                          ("rule 'input window'", "first 128",
                           "make the first hidden layer at most 128 neurons")),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_model_gets_one_error_and_writes_nothing(capsys, tmp_path, case):
    make, chip, dt, kind, needles = BAD[case]
    model = MODEL
    if make is not None:
        model = tmp_path / "model.nir"
        nir.write(model, make())
    before = sorted(p.name for p in tmp_path.iterdir())
    out = tmp_path / "out"
    code, stdout, err = run_cli(capsys, "compile", model, "--target", chip, "--dt", dt,
                                "-o", out)
    assert_user_error(code, err, f"error: {kind}: ", *needles)
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == before     # no staging directory
    # the Python API raises the same error
    with pytest.raises(ir.NeuroccError) as info:
        neurocc.compile(model, target=chip, dt=float(dt))
    assert type(info.value).__name__ == kind
    assert needles[0] in str(info.value)


def test_fit_agrees_with_compile_on_the_design_rules(capsys, tmp_path):
    model = tmp_path / "wide.nir"
    nir.write(model, _wide_hidden())
    code, _, err = run_cli(capsys, "compile", model, "--target", "xylo_imu", "--dt", "1e-4",
                           "-o", tmp_path / "out")
    assert code == 2 and "rule 'input window'" in err
    code, _, err = run_cli(capsys, "fit", model, "--target", "xylo_imu", "--dt", "1e-4",
                           "--json", tmp_path / "fit.json")
    assert code == 0, err
    (row,) = json.loads((tmp_path / "fit.json").read_text())["targets"]
    assert row["fits"] is False


def test_run_with_another_chips_simulator_is_a_user_error(capsys, tmp_path, artifacts,
                                                          raster_file):
    code, _, err = run_cli(capsys, "run", artifacts["xylo_audio2"], "--input", raster_file,
                           "--backend", "lava", "-o", tmp_path / "r.npz")
    assert_user_error(code, err, "lava", "xylo_audio2", "its oracle is 'xylosim'")
    assert not (tmp_path / "r.npz").exists()


# --- Python API ---------------------------------------------------------------------


def test_python_api_compile_run_verify(tmp_path, artifacts, raster):
    program = neurocc.compile(str(MODEL), target="xylo_audio2", dt=DT)
    assert isinstance(program, neurocc.Program) and program.target == "xylo_audio2"
    emu = neurocc.run(program, raster)
    xylo = neurocc.run(program, raster, backend="xylosim")
    # input -> hidden in its step, the readout one synapse step later: latency 1; aligned
    # outputs have the float model's steps
    assert emu.latency == {"output": 1} and xylo.latency == {"output": 1}
    assert emu.outputs["output"].shape == (STEPS, BATCH, 7)
    assert np.array_equal(emu.outputs["output"], xylo.outputs["output"])
    assert emu.outputs["output"].sum() > 0
    v = neurocc.verify(program, raster, against=("xylosim",))
    assert v["xylosim"]["bit_exact"] is True and "reference" not in v
    v = neurocc.verify(program, raster, against=("reference", "xylosim"))
    assert v["xylosim"]["bit_exact"] is True
    assert v["reference"]["outputs"]["output"]["count_correlation"] > 0.8
    with pytest.raises(neurocc.UsageError, match="emulator, xylosim"):
        neurocc.run(program, raster, backend="lava")
    # saved from Python, the artifact is the command line's, byte for byte
    saved = neurocc.save(program, tmp_path / "api")
    assert {p.name for p in saved.iterdir()} == ARTIFACT_FILES
    for name in ("program.npz", "xylo_spec.npz"):
        assert (saved / name).read_bytes() == (artifacts["xylo_audio2"] / name).read_bytes()
