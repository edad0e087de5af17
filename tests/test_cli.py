"""The `neurocc` command, called in-process through `main([...])`."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from neurocc import ir
from neurocc.compiler.cli import COMMANDS, main

FIXTURES = Path(__file__).parent / "fixtures" / "nir-paper"
BRAILLE = FIXTURES / "braille_noDelay_bias_zero.nir"
CNN = FIXTURES / "cnn_sinabs.nir"
ALL_MODELS = sorted(FIXTURES.glob("*.nir"))


def run_cli(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_user_error(code: int, err: str, *needles: str) -> str:
    """Exit 2, exactly one 'error:' line naming the problem, no traceback."""
    assert code == 2, err
    assert "Traceback" not in err
    error_lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(error_lines) == 1, err
    assert err.startswith("error: ")
    for needle in needles:
        assert needle in err, f"{needle!r} not in {err!r}"
    return error_lines[0]


def printed_total(out: str, what: str) -> int:
    match = re.search(rf"{what}: (\d+)", out)
    assert match, out
    return int(match.group(1))


# --- inspect ----------------------------------------------------------------


@pytest.mark.parametrize("model", ALL_MODELS, ids=lambda p: p.name)
def test_inspect_every_fixture(capsys, model):
    code, out, err = run_cli(capsys, "inspect", model)
    assert code == 0, err
    graph = ir.load(model)
    for name in graph.order:
        assert name in out
    assert printed_total(out, "neurons") == graph.n_neurons()
    assert printed_total(out, "synapses") == graph.n_synapses()


def test_inspect_braille_counts_by_hand(capsys):
    code, out, _ = run_cli(capsys, "inspect", BRAILLE)
    assert code == 0
    assert printed_total(out, "neurons") == 38 + 7  # CubaLIF hidden + output
    # fc1 12x38 + fc2 38x7 + recurrent 38x38 weights
    assert printed_total(out, "synapses") == 12 * 38 + 38 * 7 + 38 * 38
    assert "lif1.w_rec -> lif1.lif" in out
    assert "previous time step" in out


def test_inspect_cnn_counts_by_hand(capsys):
    code, out, _ = run_cli(capsys, "inspect", CNN)
    assert code == 0
    assert printed_total(out, "neurons") == 16 * 16 * 16 * 2 + 8 * 8 * 8 + 256 + 10 == 8970
    assert "recurrent edges: none" in out


def test_inspect_shows_loader_warnings(capsys):
    code, out, _ = run_cli(capsys, "inspect", FIXTURES / "lif_rockpool.nir")
    assert code == 0
    assert "warning:" in out and "[1, 1, 1]" in out


def test_inspect_json(capsys, tmp_path):
    target = tmp_path / "braille.json"
    code, _, err = run_cli(capsys, "inspect", BRAILLE, "--json", target)
    assert code == 0, err
    info = json.loads(target.read_text())
    assert info["totals"] == {"neurons": 45, "synapses": 2166,
                              "parameters": ir.load(BRAILLE).n_params()}
    assert [n["name"] for n in info["nodes"]] == ir.load(BRAILLE).order
    fc1 = next(n for n in info["nodes"] if n["name"] == "fc1")
    assert (fc1["type"], fc1["input_shape"], fc1["output_shape"]) == ("Affine", [12], [38])
    assert fc1["synapses"] == 456 and fc1["parameters"] == 12 * 38 + 38
    assert info["recurrent_edges"] == [["lif1.w_rec", "lif1.lif"]]
    assert [p.name for p in tmp_path.iterdir()] == ["braille.json"]  # no temp file left


def test_help_teaches(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in COMMANDS:
        assert name in out
    assert "examples:" in out
    assert main(["simulate", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--dt" in out and "(default: euler)" in out and "examples:" in out


# --- user errors: one line, exit 2, no traceback ----------------------------


@pytest.fixture
def braille_copy(tmp_path) -> Path:
    path = tmp_path / "model.nir"
    shutil.copyfile(BRAILLE, path)
    return path


def test_truncated_file(capsys, braille_copy):
    data = braille_copy.read_bytes()
    braille_copy.write_bytes(data[: len(data) // 2])
    code, _, err = run_cli(capsys, "inspect", braille_copy)
    assert_user_error(code, err, "ModelFileError", "truncated")


def test_not_hdf5(capsys, tmp_path):
    path = tmp_path / "notes.nir"
    path.write_text("this is a text file, not a model\n")
    code, _, err = run_cli(capsys, "inspect", path)
    assert_user_error(code, err, "ModelFileError", "not an HDF5 file")


def test_missing_model(capsys, tmp_path):
    code, _, err = run_cli(capsys, "inspect", tmp_path / "nope.nir")
    assert_user_error(code, err, "ModelFileError", "nope.nir", "no such file")


@pytest.mark.parametrize("bad", [np.nan, np.inf], ids=["nan", "inf"])
def test_non_finite_weight(capsys, tmp_path, bad):
    graph = ir.load(BRAILLE)
    weight = np.array(graph.nodes["fc1"].weight, copy=True)
    weight[3, 5] = bad
    graph.nodes["fc1"].weight = weight
    path = tmp_path / "bad.nir"
    ir.save(graph, path)
    code, _, err = run_cli(capsys, "inspect", path)
    assert_user_error(code, err, "GraphError", "'fc1'", "weight", "NaN or infinite")


def test_edge_to_missing_node(capsys, tmp_path):
    graph = ir.load(BRAILLE)
    broken = ir.Graph(graph.nodes, graph.edges + [("fc1", "ghost")], graph.metadata)
    path = tmp_path / "edge.nir"
    ir.save(broken, path)
    code, _, err = run_cli(capsys, "inspect", path)
    assert_user_error(code, err, "GraphError", "'ghost'", "missing")


def test_mismatched_shapes(capsys, tmp_path):
    graph = ir.load(BRAILLE)
    fc2 = graph.nodes["fc2"]
    fc2.weight = np.zeros((7, 39), dtype=np.asarray(fc2.weight).dtype)  # 39 columns, not 38
    path = tmp_path / "shape.nir"
    ir.save(graph, path)
    code, _, err = run_cli(capsys, "inspect", path)
    assert_user_error(code, err, "ShapeError", "'fc2'", "38", "39")


def test_unknown_node_type_lists_supported(capsys, braille_copy):
    with h5py.File(braille_copy, "r+") as f:
        del f["node/nodes/fc1/type"]
        f["node/nodes/fc1"].create_dataset("type", data="Banana", dtype=h5py.string_dtype())
    code, _, err = run_cli(capsys, "inspect", braille_copy)
    assert_user_error(code, err, "UnsupportedNodeError", "'fc1'", "Banana",
                      "Supported types", "CubaLIF", "Conv2d")


def test_simulate_without_dt_says_pass_dt(capsys, tmp_path):
    out = tmp_path / "out.npz"
    code, _, err = run_cli(capsys, "simulate", BRAILLE, "--random-input", "0.1",
                           "--steps", "5", "-o", out)
    assert_user_error(code, err, "SimulationError", "--dt")
    assert not out.exists()


@pytest.mark.parametrize("argv", [
    ["frobnicate"],
    ["inspect"],
    ["simulate", str(BRAILLE), "--dt", "1e-4", "--random-input", "0.1", "--steps", "5"],
    ["simulate", str(BRAILLE), "--dt", "-1", "--random-input", "0.1", "--steps", "5",
     "-o", "x.npz"],
    ["simulate", str(BRAILLE), "--dt", "1e-4", "--random-input", "1.5", "--steps", "5",
     "-o", "x.npz"],
    ["simulate", str(BRAILLE), "--dt", "1e-4", "--random-input", "0.1", "-o", "x.npz"],
    ["simulate", str(BRAILLE), "--dt", "1e-4", "-o", "x.npz"],
    ["simulate", str(BRAILLE), "--dt", "1e-4", "--input", "in.npy", "--steps", "5",
     "-o", "x.npz"],
], ids=["unknown-command", "no-model", "no-output", "negative-dt", "rate-above-1",
        "random-without-steps", "no-input", "steps-with-input-file"])
def test_usage_errors(capsys, tmp_path, monkeypatch, argv):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(capsys, *argv)
    assert_user_error(code, err, "UsageError")
    assert list(tmp_path.iterdir()) == []


def test_debug_shows_traceback_for_user_errors(capsys, tmp_path):
    code, _, err = run_cli(capsys, "--debug", "inspect", tmp_path / "nope.nir")
    assert code == 2
    assert "Traceback" in err and "error: ModelFileError" in err


def test_output_directory_must_exist(capsys, tmp_path):
    out = tmp_path / "no" / "such" / "dir" / "out.npz"
    code, _, err = run_cli(capsys, "simulate", BRAILLE, "--dt", "1e-4", "--random-input", "0.1",
                           "--steps", "5", "-o", out)
    assert_user_error(code, err, "does not exist")


def test_input_of_wrong_shape_leaves_no_file(capsys, tmp_path):
    spikes = tmp_path / "in.npy"
    np.save(spikes, np.zeros((10, 2, 13), dtype=np.float32))  # Braille has 12 inputs
    out = tmp_path / "out.npz"
    code, _, err = run_cli(capsys, "simulate", BRAILLE, "--dt", "1e-4", "--input", spikes,
                           "-o", out)
    assert_user_error(code, err, "SimulationError", "'input'", "[10, 2, 13]", "12")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.npy"]


def test_missing_input_file(capsys, tmp_path):
    code, _, err = run_cli(capsys, "simulate", BRAILLE, "--dt", "1e-4", "--input",
                           tmp_path / "absent.npy", "-o", tmp_path / "out.npz")
    assert_user_error(code, err, "absent.npy", "no such file")


# --- simulate (needs neurocc.simulators.reference.run) ---------------------


def load_npz(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def test_simulate_braille_random_input(capsys, tmp_path):
    out = tmp_path / "braille.npz"
    code, printed, err = run_cli(capsys, "simulate", BRAILLE, "--dt", "1e-4", "--random-input",
                                 "0.1", "--steps", "20", "--batch", "3", "--seed", "7",
                                 "-o", out, "--record", "lif2")
    assert code == 0, err
    arrays = load_npz(out)
    assert arrays["output.output"].shape == (20, 3, 7)
    assert arrays["input.input"].shape == (20, 3, 12)
    assert arrays["input.input"].dtype == np.float32
    assert set(np.unique(arrays["input.input"])) <= {0.0, 1.0}
    traces = [k for k in arrays if k.startswith("trace.lif2.")]
    assert "trace.lif2.v" in traces
    for key in traces:
        assert arrays[key].shape == (20, 3, 7)
    semantics = json.loads(str(arrays["semantics"]))
    assert semantics["dt"] == pytest.approx(1e-4)
    assert "output" in printed and "semantics" in printed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["braille.npz"]


def test_simulate_same_seed_same_result(capsys, tmp_path):
    args = ["simulate", BRAILLE, "--dt", "1e-4", "--random-input", "0.3", "--steps", "15",
            "--batch", "2", "--seed", "3"]
    assert run_cli(capsys, *args, "-o", tmp_path / "a.npz")[0] == 0
    assert run_cli(capsys, *args, "-o", tmp_path / "b.npz")[0] == 0
    a, b = load_npz(tmp_path / "a.npz"), load_npz(tmp_path / "b.npz")
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])


def test_simulate_from_input_file_matches_library(capsys, tmp_path):
    from neurocc.simulators import reference

    rng = np.random.default_rng(0)
    spikes = (rng.random((25, 4, 12)) < 0.2).astype(np.float32)
    np.save(tmp_path / "in.npy", spikes)
    out = tmp_path / "out.npz"
    code, _, err = run_cli(capsys, "simulate", BRAILLE, "--dt", "1e-4", "--input",
                           tmp_path / "in.npy", "-o", out, "--integrator", "exact")
    assert code == 0, err
    expected = reference.run(ir.load(BRAILLE), {"input": spikes}, 1e-4, integrator="exact")
    np.testing.assert_array_equal(load_npz(out)["output.output"], expected.outputs["output"])


def test_simulate_cnn_with_dt_1(capsys, tmp_path):
    out = tmp_path / "cnn.npz"
    code, _, err = run_cli(capsys, "simulate", CNN, "--dt", "1", "--random-input", "0.2",
                           "--steps", "8", "--batch", "2", "-o", out)
    assert code == 0, err
    assert load_npz(out)["output.output"].shape == (8, 2, 10)


def test_failed_simulate_keeps_existing_output_untouched(capsys, tmp_path):
    out = tmp_path / "out.npz"
    out.write_bytes(b"previous results")
    code, _, err = run_cli(capsys, "simulate", BRAILLE, "--dt", "1e-4", "--random-input", "0.1",
                           "--steps", "5", "-o", out, "--record", "no_such_node")
    assert_user_error(code, err, "no_such_node")
    assert out.read_bytes() == b"previous results"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.npz"]
