"""Every bad input gets one clear error through the command line.

Each test feeds `neurocc` (in-process, `main([...])`) one kind of mistake a user
makes: a broken model file, a model with values or nodes Loihi 2 cannot take, a
network too large for the chip, a broken target TOML, a damaged or foreign
artifact, an input array of the wrong shape or type, a missing Lava. Each
asserts the error's kind and the parts of the message that tell the user what
is wrong, where, the number and the limit, and what to do, and that nothing was
left behind (no artifact, no half-written file, no staging directory).
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import nir
import numpy as np
import pytest

from neurocc import ir
from neurocc.backends import loihi2
from neurocc.backends.loihi2 import lava as lava_bridge
from cli_helpers import assert_user_error, run_cli

FIXTURES = Path(__file__).parent / "fixtures" / "nir-paper"
BRAILLE = FIXTURES / "braille_noDelay_bias_zero.nir"


# --- models written with the nir package, as an exporter would ------------------------


def _lif(n: int, **changes: np.ndarray) -> nir.LIF:
    params = dict(tau=np.full(n, 1e-2), r=np.ones(n), v_leak=np.zeros(n),
                  v_threshold=np.ones(n), v_reset=np.zeros(n))
    return nir.LIF(**(params | changes))


def _write(path: Path, nodes: dict, edges: list[tuple[str, str]]) -> Path:
    nir.write(path, nir.NIRGraph(nodes=nodes, edges=edges, type_check=False))
    return path


def small_model(path: Path, weight: np.ndarray | None = None, n_in: int = 4,
                neuron: nir.NIRNode | None = None, n: int = 3) -> Path:
    """Input(n_in) -> Affine -> LIF(n) -> Output: the smallest network Loihi 2 runs."""
    weight = np.full((n, n_in), 0.5) if weight is None else weight
    return _write(path, {"input": nir.Input(input_type={"input": np.array([n_in])}),
                         "fc": nir.Affine(weight=weight, bias=np.zeros(weight.shape[0])),
                         "lif": _lif(n) if neuron is None else neuron,
                         "output": nir.Output(output_type={"output": np.array([n])})},
                  [("input", "fc"), ("fc", "lif"), ("lif", "output")])


def compile_fails(capsys, tmp_path: Path, model: Path, *extra: object, dt: str = "1e-3") -> str:
    """Compile that must fail with a user error and leave no artifact or staging directory."""
    out = tmp_path / "out"
    code, _, err = run_cli(capsys, "compile", model, "--dt", dt, "-o", out, *extra)
    assert code == 2, err
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]
    return err


@pytest.fixture(scope="module")
def artifact(tmp_path_factory) -> Path:
    """A compiled small model (4 inputs, 3 LIF neurons)."""
    root = tmp_path_factory.mktemp("artifact")
    model = small_model(root / "ok.nir")
    out = root / "ok"
    from neurocc.compiler.cli import main

    assert main(["compile", str(model), "--dt", "1e-3", "-o", str(out)]) == 0
    return out


# --- model files: truncated, empty, not HDF5 -----------------------------------------


def _broken_model(tmp_path: Path, case: str) -> tuple[Path, tuple[str, ...]]:
    path = tmp_path / "model.nir"
    if case == "truncated":
        data = BRAILLE.read_bytes()
        path.write_bytes(data[: len(data) // 2])
        return path, ("truncated or corrupt HDF5 file", f"eof = {len(data) // 2}",
                      f"stored_eof = {len(data)}", "re-export the model")
    if case == "empty":
        path.write_bytes(b"")
        return path, ("empty file (0 bytes)", "export the model again")
    path.write_text("weights: 1 2 3\n")
    return path, ("not an HDF5 file", "nir.write")


@pytest.mark.parametrize("command", ["inspect", "simulate", "compile", "fit"])
@pytest.mark.parametrize("case", ["truncated", "empty", "text"])
def test_a_broken_model_file_is_one_error_from_every_command(capsys, tmp_path, case, command):
    path, needles = _broken_model(tmp_path, case)
    extra = {"inspect": [], "fit": ["--dt", "1e-4"],
             "simulate": ["--dt", "1e-4", "--random-input", "0.1", "--steps", "5",
                          "-o", tmp_path / "sim.npz"],
             "compile": ["--dt", "1e-4", "-o", tmp_path / "out"]}[command]
    code, _, err = run_cli(capsys, command, path, *extra)
    assert_user_error(code, err, "ModelFileError", str(path), *needles)
    assert [p.name for p in tmp_path.iterdir()] == ["model.nir"]


# --- values and nodes ------------------------------------------------------------------


@pytest.mark.parametrize("bad, at", [(np.nan, (1, 2)), (np.inf, (0, 3)), (-np.inf, (2, 0))],
                         ids=["nan", "inf", "-inf"])
def test_a_non_finite_weight_names_node_count_index_and_fix(capsys, tmp_path, bad, at):
    weight = np.full((3, 4), 0.5)
    weight[at] = bad
    model = small_model(tmp_path / "model.nir", weight)
    err = compile_fails(capsys, tmp_path, model)
    assert_user_error(2, err, "GraphError", str(model), "Affine 'fc'", "weight",
                      "1 NaN or infinite value(s) of 12", f"({bad})", f"index {list(at)}",
                      "must be finite")


def test_a_shape_mismatch_names_the_edge_and_both_shapes(capsys, tmp_path):
    model = small_model(tmp_path / "model.nir", np.full((3, 4), 0.5), neuron=_lif(5), n=5)
    err = compile_fails(capsys, tmp_path, model)
    assert_user_error(2, err, "ShapeError", "edge 'fc' -> 'lif'", "'fc' produces [3]",
                      "LIF 'lif' expects [5]")


def test_a_delay_node_cannot_be_lowered_to_loihi2(capsys, tmp_path):
    model = _write(tmp_path / "model.nir",
                   {"input": nir.Input(input_type={"input": np.array([4])}),
                    "fc": nir.Affine(weight=np.full((3, 4), 0.5), bias=np.zeros(3)),
                    "lif": _lif(3), "d": nir.Delay(delay=np.full(3, 1e-3)),
                    "output": nir.Output(output_type={"output": np.array([3])})},
                   [("input", "fc"), ("fc", "lif"), ("lif", "d"), ("d", "output")])
    err = compile_fails(capsys, tmp_path, model, "--target", "loihi2")
    assert_user_error(2, err, "UnsupportedNodeError", "node 'd' (Delay)",
                      "cannot be lowered to Loihi 2", "synaptic delays are",
                      "Loihi 2 lowers LIF, CubaLIF, IF neurons", "in pass 'quantize'")


def test_a_cuba_lif_with_a_matrix_w_in_says_it_must_be_elementwise(capsys, tmp_path):
    cuba = nir.CubaLIF(tau_syn=np.full(3, 5e-3), tau_mem=np.full(3, 1e-2), r=np.ones(3),
                       v_leak=np.zeros(3), v_threshold=np.ones(3), v_reset=np.zeros(3),
                       w_in=np.ones((3, 3)))
    model = small_model(tmp_path / "model.nir", neuron=cuba)
    err = compile_fails(capsys, tmp_path, model, "--target", "loihi2")
    assert_user_error(2, err, "ShapeError", "CubaLIF 'lif'", "w_in[3, 3]", "tau_syn[3]",
                      "elementwise, one value per neuron", "Affine or Linear node")


# --- values that cannot be quantized -----------------------------------------------------


def test_a_threshold_too_small_for_its_weights_says_no_vth_can_fix_it(capsys, tmp_path):
    # weight 0.5, dt/tau 0.1: a spike adds 0.05 to v, 5e10 thresholds of 1e-12
    model = small_model(tmp_path / "model.nir", neuron=_lif(3, v_threshold=np.full(3, 1e-12)))
    err = compile_fails(capsys, tmp_path, model)
    assert_user_error(2, err, "QuantizationError", "'input->lif' needs 38",
                      "a weight exponent above 7", "255 << 7", "no --vth can",
                      "moves 'lif' by up to 5e+10 thresholds", "rescale")


def test_vth_too_large_gives_the_largest_vth_that_fits_and_it_does(capsys, tmp_path):
    model = small_model(tmp_path / "model.nir", np.full((3, 4), 50.0))
    err = compile_fails(capsys, tmp_path, model, "--vth", "100000")
    assert_user_error(2, err, "QuantizationError", "'input->lif' needs 11", "(it is 100000)")
    most = int(re.search(r"use --vth (\d+) or lower", err).group(1))
    assert 6400 < most < 6528  # 50 * 0.1 = 5 integer units per vth; 255 << 7 = 32640 = 5 * 6528
    out = tmp_path / "fits"
    code, _, err = run_cli(capsys, "compile", model, "--dt", "1e-3", "--vth", most, "-o", out)
    assert code == 0, err
    compile_fails(capsys, tmp_path, model, "--vth", most * 101 // 100)  # 1 % above: no fit


def test_a_threshold_not_above_reset_names_the_neuron_and_both_values(capsys, tmp_path):
    model = small_model(tmp_path / "model.nir",
                        neuron=_lif(3, v_threshold=np.array([1.0, -0.5, 1.0])))
    err = compile_fails(capsys, tmp_path, model)
    assert_user_error(2, err, "QuantizationError", "node 'lif'", "must be > 0 (min -0.5",
                      "neuron 1: v_threshold -0.5, v_reset 0", "Set v_threshold above v_reset")


def test_a_forced_threshold_of_zero_names_the_range(capsys, tmp_path):
    model = small_model(tmp_path / "model.nir")
    err = compile_fails(capsys, tmp_path, model, "--force", "lif.vth=0")
    assert_user_error(2, err, "QuantizationError", "node 'lif'", "vth=0 outside 1..131071",
                      "rounds to zero")


def test_an_all_zero_layer_cannot_be_quantized(capsys, tmp_path):
    """Zero weights and no bias: the layer could never spike; an export that lost its weights."""
    model = small_model(tmp_path / "model.nir", np.zeros((3, 4)))
    err = compile_fails(capsys, tmp_path, model)
    assert_user_error(2, err, "QuantizationError", "node 'lif': every incoming weight is 0",
                      "12 from ['input']", "its 3 neurons can never spike", "export the trained model again")


@pytest.mark.parametrize("signs", [[1, -1, 1, 1], [1, 1, 1, 1]], ids=["mixed", "excitatory"])
def test_weights_that_all_round_to_zero_name_the_vth_that_keeps_them(capsys, tmp_path, signs):
    # threshold 1, weights 1e-9: at the default vth (32768) the largest weight is 3.3e-5 integer
    # units (x 64 inside the chip); weight_exp -8 keeps nothing below 2**-9
    model = small_model(tmp_path / "model.nir", np.full((3, 4), 1e-9) * [signs])
    err = compile_fails(capsys, tmp_path, model, "--vth", "100")
    assert_user_error(2, err, "QuantizationError", "node 'lif': all 12 non-zero weights into it round to 0",
                      "no --vth can", "too small to matter")
    model = small_model(tmp_path / "model2.nir", np.full((3, 4), 1e-6) * [signs])
    err = compile_fails(capsys, tmp_path, model, "--vth", "100")
    assert_user_error(2, err, "QuantizationError", "all 12 non-zero weights into it round to 0",
                      "raise the integer threshold to --vth")
    need = int(err.split("--vth ")[1].split()[0])
    # the suggested threshold keeps them (the compile succeeds, the weights are not all 0) and
    # is the least that does
    out = tmp_path / "ok"
    code, _, err = run_cli(capsys, "compile", model, "--dt", "1e-3", "--vth", need, "-o", out)
    assert code == 0, err
    assert any(np.count_nonzero(b.weights.to_dense()) for b in ir.load_program(out).synapses)
    code, _, err = run_cli(capsys, "compile", model, "--dt", "1e-3", "--vth", need - 1,
                           "-o", tmp_path / "below")
    assert code == 2 and "round to 0" in err


# --- too large for the chip --------------------------------------------------------------


def _toml(tmp_path: Path, *replacements: tuple[str, str], name: str = "mychip.toml") -> Path:
    text = loihi2.SPEC_PATH.read_text()
    for old, new in replacements:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_network_too_big_for_the_chips_says_how_many_cores_and_what_would_fit(capsys, tmp_path):
    tiny = _toml(tmp_path, ('name = "loihi2"', 'name = "tiny"'),
                 ("max_neurons = 8192", "max_neurons = 16"),
                 ("cores_per_chip = 128", "cores_per_chip = 2"),
                 ("core_mesh = [8, 16]", "core_mesh = [1, 2]"),
                 ("max_chips = 8", "max_chips = 1"), ("chip_mesh = [2, 4]", "chip_mesh = [1, 1]"))
    err = compile_fails(capsys, tmp_path, BRAILLE, "--target", tiny, dt="1e-4")
    # 38 + 7 neurons at 16 per core: 3 cores for lif1.lif, 1 for lif2
    assert_user_error(2, err, "CapacityError", "needs 4 cores on 2 chips",
                      "target 'tiny' has at most 1 chips = 2 cores", "2 cores too many",
                      "'lif1.lif' 3 slices", "max_chips = 2 in [topology]", "in pass 'partition'")


def test_a_neuron_whose_fan_in_exceeds_a_core(capsys, tmp_path):
    model = small_model(tmp_path / "model.nir", np.full((1, 10000), 0.01), n_in=10000,
                        neuron=_lif(1), n=1)
    err = compile_fails(capsys, tmp_path, model)
    assert_user_error(2, err, "CapacityError", "layer 'lif'", "fan-in of 10000",
                      "at most 4096 (max_fan_in)", "5904 fewer")


def test_a_neuron_whose_synapses_exceed_a_core_offers_only_changes_that_exist(capsys, tmp_path):
    small = _toml(tmp_path, ("synapse_memory_bits = 7500000", "synapse_memory_bits = 100"),
                  ("max_fan_in = 4096", "max_fan_in = 0"))
    model = small_model(tmp_path / "model.nir", np.full((1, 10000), 0.01), n_in=10000,
                        neuron=_lif(1), n=1)
    err = compile_fails(capsys, tmp_path, model, "--target", small)
    assert_user_error(2, err, "CapacityError", "needs 80000 bits of synapse memory",
                      "a core holds 100 (synapse_memory_bits)", "prune it to 12 synapses",
                      "a chip whose cores hold 80000 bits")
    assert "bits per stored synapse" not in err  # 100 bits / 10000 synapses: no such width


# --- target TOML files ---------------------------------------------------------------------


@pytest.mark.parametrize("old, new, needles", [
    ("max_neurons = 8192", "max_neurons = 8192\nmax_neurns = 5",
     ("[cores]", "unknown field(s) ['max_neurns']", "the fields are max_neurons")),
    ("max_neurons = 8192", "max_neurns = 8192",
     ("[cores]", "['max_neurns'] (did you mean 'max_neurons'?)")),
    ('core_mesh = [8, 16]', 'core_mesh = [8, 16]\nmaping = "layer_per_core"',
     ("[topology]", "unknown field(s) ['maping'] (did you mean 'mapping'?)")),
    ("max_fan_in = 4096\n", "", ("[cores]", "missing field 'max_fan_in' (an integer); add it")),
    ("core_mesh = [8, 16]\n", "",
     ("[topology]", "missing field 'core_mesh' (two positive integers [x, y]); add it")),
    ("max_fan_in = 4096", "max_fan_in = -5", ("[cores]", "'max_fan_in' must be >= 0, got -5")),
    ("weight_bits = 8  ", 'weight_bits = "eight" ',
     ("[formats]", "'weight_bits' must be an integer, got 'eight'")),
    ("weight_bits = 8  ", "weight_bits = 0 ", ("[formats]", "'weight_bits' must be >= 2, got 0")),
    ("threshold_bits = 17", "threshold_bits = 0",
     ("[formats]", "'threshold_bits' must be >= 1, got 0")),
    ("weight_exp_min = -8", "weight_exp_min = 9",
     ("[formats]", "'weight_exp_min' (9) must not exceed 'weight_exp_max' (7)")),
    ("cores_per_chip = 128", "cores_per_chip = 0",
     ("[topology]", "'cores_per_chip' must be >= 1, got 0")),
    ("max_chips = 8", "max_chips = 0", ("[topology]", "'max_chips' must be >= 1, got 0")),
    ("core_mesh = [8, 16]", "core_mesh = [8, 15]",
     ("[topology]", "'core_mesh' [8, 15] has 120 positions for cores_per_chip = 128")),
    ("chip_mesh = [2, 4]", "chip_mesh = [1, 1]",
     ("[topology]", "'chip_mesh' [1, 1] has 1 positions for max_chips = 8")),
], ids=["unknown-field", "misspelt-required", "misspelt-optional", "missing", "missing-pair",
        "negative", "string-for-int",
        "zero-weight-bits", "zero-threshold-bits", "exponents-reversed", "zero-cores-per-chip",
        "zero-chips", "core-mesh-too-small", "chip-mesh-too-small"])
def test_a_bad_target_file_names_the_file_and_the_field(capsys, tmp_path, old, new, needles):
    path = _toml(tmp_path, (old, new))
    err = compile_fails(capsys, tmp_path, BRAILLE, "--target", path, dt="1e-4")
    assert_user_error(2, err, "TargetSpecError", str(path), *needles)
    code, _, err = run_cli(capsys, "targets", path)
    assert_user_error(code, err, "TargetSpecError", str(path), *needles)


# --- artifacts ---------------------------------------------------------------------------


def _edited(tmp_path: Path, artifact: Path, edit) -> Path:
    art = tmp_path / "art"
    shutil.copytree(artifact, art)
    manifest = json.loads((art / "manifest.json").read_text())
    (art / "manifest.json").write_text(json.dumps(edit(manifest)))
    return art


@pytest.mark.parametrize("edit, needles", [
    (lambda m: m | {"format": ir.ARTIFACT_FORMAT + 1},
     (f"artifact format {ir.ARTIFACT_FORMAT + 1}", f"reads format {ir.ARTIFACT_FORMAT}",
      "Recompile")),
    (lambda m: m | {"format": str(ir.ARTIFACT_FORMAT)},
     (f"artifact format '{ir.ARTIFACT_FORMAT}'", "Recompile")),
    (lambda m: {k: v for k, v in m.items() if k != "format"}, ("no format version", "Recompile")),
    (lambda m: [m], ("manifest.json: not a neurocc program manifest",)),
    (lambda m: m | {"groups": [g | {"shape": [5]} for g in m["groups"]]},
     ("do not describe one program", "weights (3, 4), expected (5, 4)", "compile the model again")),
    (lambda m: m | {"groups": "lif"}, ("do not describe one program", "compile the model again")),
], ids=["next-version", "version-as-text", "no-version", "not-an-object", "shape-edited",
        "groups-not-a-list"])
def test_a_foreign_or_damaged_artifact_is_one_error(capsys, tmp_path, artifact, edit, needles):
    art = _edited(tmp_path, artifact, edit)
    np.save(tmp_path / "x.npy", np.zeros((10, 1, 4), np.int8))
    for command, extra in (("run", ["-o", tmp_path / "r.npz"]), ("profile", []),
                           ("verify", ["--against", "reference"])):
        code, _, err = run_cli(capsys, command, art, "--input", tmp_path / "x.npy", *extra)
        assert_user_error(code, err, "ArtifactError", str(art), *needles)
    assert not (tmp_path / "r.npz").exists()


def test_a_truncated_program_npz_says_the_artifact_is_damaged(capsys, tmp_path, artifact):
    art = tmp_path / "art"
    shutil.copytree(artifact, art)
    data = (art / "program.npz").read_bytes()
    (art / "program.npz").write_bytes(data[: len(data) // 2])
    np.save(tmp_path / "x.npy", np.zeros((10, 1, 4), np.int8))
    code, _, err = run_cli(capsys, "run", art, "--input", tmp_path / "x.npy", "-o", tmp_path / "r.npz")
    assert_user_error(code, err, "ArtifactError", "program.npz: unreadable", "damaged")
    assert not (tmp_path / "r.npz").exists()


# --- input arrays -----------------------------------------------------------------------


@pytest.mark.parametrize("command", ["run", "verify", "profile"])
@pytest.mark.parametrize("case", ["objects", "nan", "int-3d-wrong"])
def test_an_input_array_that_is_not_spikes_is_one_error(capsys, tmp_path, artifact, command, case):
    x = tmp_path / "x.npy"
    if case == "objects":
        np.save(x, np.array([None] * 4, dtype=object), allow_pickle=True)
        needles: tuple[str, ...] = ("UsageError", "not a numpy .npy/.npz file of numbers",
                                    "Python objects", "numpy.save")
    elif case == "nan":
        arr = np.zeros((10, 2, 4), np.float32)
        arr[3, 1, 2] = np.nan
        np.save(x, arr)
        needles = ("SimulationError", "input 'input'", "1 NaN or infinite value(s) of 80",
                   "[3, 1, 2]", "finite")
    else:
        np.save(x, np.zeros((10, 2, 2, 2), np.int64))
        needles = ("SimulationError", "shape [10, 2, 2, 2]", "[T, B, 4]")
    extra = {"run": ["-o", tmp_path / "r.npz"], "verify": ["--against", "reference"],
             "profile": ["--json", tmp_path / "p.json"]}[command]
    code, _, err = run_cli(capsys, command, artifact, "--input", x, *extra)
    assert_user_error(code, err, str(x), *needles)
    assert [p.name for p in tmp_path.iterdir()] == ["x.npy"]


@pytest.mark.parametrize("command", ["simulate", "compile"])
def test_a_model_input_of_the_wrong_shape_names_the_file(capsys, tmp_path, command):
    x = tmp_path / "x.npy"
    np.save(x, np.zeros((10, 2, 13), np.float32))  # Braille has 12 inputs
    extra = {"simulate": ["--input", x, "-o", tmp_path / "s.npz"],
             "compile": ["--calibrate", x, "-o", tmp_path / "out"]}[command]
    code, _, err = run_cli(capsys, command, BRAILLE, "--dt", "1e-4", *extra)
    assert_user_error(code, err, "SimulationError", f"{x}: input 'input'", "[10, 2, 13]",
                      "[T, B, 12]")
    assert [p.name for p in tmp_path.iterdir()] == ["x.npy"]


def test_fit_activity_must_be_the_npz_run_writes(capsys, tmp_path):
    x = tmp_path / "spikes.npy"
    np.save(x, np.zeros((10, 1, 12), np.int8))
    code, _, err = run_cli(capsys, "fit", BRAILLE, "--activity", x)
    assert_user_error(code, err, "UsageError", str(x), "not an .npz", "`neurocc run` writes")
    code, _, err = run_cli(capsys, "fit", BRAILLE, "--activity", tmp_path / "none.npz")
    assert_user_error(code, err, "UsageError", "none.npz: no such file (--activity)")


# --- Lava -----------------------------------------------------------------------------


def _run_on_lava(capsys, tmp_path: Path, artifact: Path) -> str:
    np.save(tmp_path / "x.npy", np.zeros((10, 1, 4), np.int8))
    code, _, err = run_cli(capsys, "run", artifact, "--input", tmp_path / "x.npy",
                           "--backend", "lava", "-o", tmp_path / "r.npz")
    assert code == 2, err
    assert not (tmp_path / "r.npz").exists()
    return err


def test_lava_not_found_says_make_lava(capsys, tmp_path, monkeypatch, artifact):
    monkeypatch.delenv("NEUROCC_LAVA_PYTHON", raising=False)
    monkeypatch.setattr(lava_bridge, "_candidates", lambda: [tmp_path / ".venv-lava"])
    err = _run_on_lava(capsys, tmp_path, artifact)
    assert_user_error(2, err, "LavaUnavailableError", ".venv-lava was not found", "make lava",
                      "NEUROCC_LAVA_PYTHON")
    (tmp_path / ".venv-lava" / "bin").mkdir(parents=True)
    (tmp_path / ".venv-lava" / "bin" / "python").touch()
    err = _run_on_lava(capsys, tmp_path, artifact)
    assert_user_error(2, err, "LavaUnavailableError", "not finished", "make lava")


def test_lava_python_without_lava_says_it_is_not_the_lava_venv(capsys, tmp_path, monkeypatch,
                                                               artifact):
    monkeypatch.setenv("NEUROCC_LAVA_PYTHON", sys.executable)  # neurocc's own: no lava-nc
    err = _run_on_lava(capsys, tmp_path, artifact)
    assert_user_error(2, err, "LavaUnavailableError", f"{sys.executable} has no module 'lava'",
                      "NEUROCC_LAVA_PYTHON", "make lava")


def test_lava_python_that_cannot_be_started(capsys, tmp_path, monkeypatch, artifact):
    not_a_program = tmp_path / "python"
    not_a_program.write_text("not an interpreter\n")  # not executable
    monkeypatch.setenv("NEUROCC_LAVA_PYTHON", str(not_a_program))
    err = _run_on_lava(capsys, tmp_path, artifact)
    assert_user_error(2, err, "LavaUnavailableError", f"{not_a_program}: cannot be started",
                      "NEUROCC_LAVA_PYTHON", "make lava")


# --- a failed compile leaves nothing behind ------------------------------------------------


@pytest.mark.parametrize("model_kind, kind", [("tiny-threshold", "QuantizationError"),
                                              ("fan-in", "CapacityError"),
                                              ("nan", "GraphError")])
def test_a_failed_compile_keeps_the_previous_artifact_and_writes_no_report(
        capsys, tmp_path, artifact, model_kind, kind):
    out = tmp_path / "out"
    shutil.copytree(artifact, out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    weight = np.full((3, 4), 0.5)
    if model_kind == "nan":
        weight[0, 0] = np.nan
    model = {"tiny-threshold": lambda p: small_model(p, neuron=_lif(3, v_threshold=np.full(3, 1e-12))),
             "fan-in": lambda p: small_model(p, np.full((1, 5000), 0.01), n_in=5000,
                                             neuron=_lif(1), n=1),
             "nan": lambda p: small_model(p, weight)}[model_kind](tmp_path / "model.nir")
    code, _, err = run_cli(capsys, "compile", model, "--dt", "1e-3", "-o", out,
                           "--report", tmp_path / "report.json")
    assert_user_error(code, err, kind)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.nir", "out"]
