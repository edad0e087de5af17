"""`neurocc compile`, `run` and `verify`, called in-process through `main([...])`,
and the comparison functions of `compiler.verification` on hand-made arrays.

The verify test against Lava needs `.venv-lava` (`make test` builds it); without
it that test fails rather than skips, as the Lava runner's tests do.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from neurocc import ir
from neurocc.compiler import verification as V
from neurocc.compiler.cli import main, parse_force
from cli_helpers import assert_user_error, run_cli

FIXTURES = Path(__file__).parent / "fixtures" / "nir-paper"
BRAILLE = FIXTURES / "braille_noDelay_bias_zero.nir"
LIF_NORSE = FIXTURES / "lif_norse.nir"
LAVA_CSV = FIXTURES / "lif_lava_cpu_fixed.csv"


def compile_braille(capsys, out: Path, *extra: object) -> str:
    code, stdout, err = run_cli(capsys, "compile", BRAILLE, "--target", "loihi2", "--dt", "1e-4",
                                "-o", out, *extra)
    assert code == 0, err
    return stdout


@pytest.fixture(scope="module")
def braille_artifact(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("artifact") / "braille"
    assert main(["compile", str(BRAILLE), "--target", "loihi2", "--dt", "1e-4", "-o", str(out)]) == 0
    return out


# --- compile ------------------------------------------------------------------


def test_compile_braille_writes_the_artifact_and_the_source(capsys, tmp_path):
    out = tmp_path / "braille"
    stdout = compile_braille(capsys, out, "--report", tmp_path / "q.json")
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "program.npz", "source.nir"]
    assert (out / "source.nir").read_bytes() == BRAILLE.read_bytes()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["source_hash"] == ir.file_hash(BRAILLE)
    assert manifest["dt"] == 1e-4
    # one progress line per pass, and both report tables
    for name in ("normalize", "discretize", "quantize"):
        assert f" {name} " in stdout
    assert "neuron groups" in stdout and "synapse blocks" in stdout
    assert "lif1.lif -> lif2" in stdout
    report = json.loads((tmp_path / "q.json").read_text())
    assert set(report["quantization"]["groups"]) == {"lif1.lif", "lif2"}
    assert [p["name"] for p in report["passes"]] == ["normalize", "discretize", "quantize",
                                                     "partition", "place-route"]
    # no staging directory left behind
    assert sorted(p.name for p in tmp_path.iterdir()) == ["braille", "q.json"]


def test_compiling_twice_gives_identical_bytes(capsys, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    compile_braille(capsys, a)
    compile_braille(capsys, b)
    for name in ("program.npz", "manifest.json"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    compile_braille(capsys, a)  # recompiling over an artifact replaces it
    assert (a / "program.npz").read_bytes() == (b / "program.npz").read_bytes()


def test_nir_paper_lif_mapping_reproduces_lava_cpu_trace(capsys, tmp_path):
    """du 4095, dv 163, vth 25 and weight 10 << 6: the NIR paper's Loihi 2 mapping."""
    csv = np.loadtxt(LAVA_CSV, delimiter=",")
    np.save(tmp_path / "x.npy", csv[:, 0].reshape(1000, 1, 1))
    code, _, err = run_cli(capsys, "compile", LIF_NORSE, "--target", "loihi2", "--dt", "1e-4",
                           "--force", "1.dv=163", "--force", "1.vth=25", "-o", tmp_path / "lif")
    assert code == 0, err
    code, stdout, err = run_cli(capsys, "run", tmp_path / "lif", "--input", tmp_path / "x.npy",
                                "--record", "1", "-o", tmp_path / "res.npz")
    assert code == 0, err
    with np.load(tmp_path / "res.npz", allow_pickle=False) as res:
        v = res["trace.1.v"]
        assert v.shape == (1000, 1, 1)
        assert np.array_equal(v[:, 0, 0], csv[:, 1])
        assert res["output.output"].dtype == np.int8
        assert np.array_equal(res["output.output"][:, 0, 0], csv[:, 2])
        assert int(res["events.input->1"].sum()) == int(csv[:, 0].sum())


def test_force_splits_on_the_last_dot():
    assert parse_force(["lif1.lif.vth=25", "1.dv=163", "1.du=4095"]) == {
        "lif1.lif": {"vth": 25}, "1": {"dv": 163, "du": 4095}}


@pytest.mark.parametrize("item,needle", [("1dv=163", "NODE.FIELD=INT"),
                                         ("1.tau=3", "unknown field 'tau'"),
                                         ("1.dv=1.5", "not a whole number")])
def test_bad_force(capsys, tmp_path, item, needle):
    code, _, err = run_cli(capsys, "compile", LIF_NORSE, "--dt", "1e-4", "--force", item,
                           "-o", tmp_path / "x")
    assert_user_error(code, err, needle)
    assert not (tmp_path / "x").exists()


def test_force_on_a_node_that_is_not_a_neuron(capsys, tmp_path):
    code, _, err = run_cli(capsys, "compile", LIF_NORSE, "--dt", "1e-4", "--force", "0.dv=3",
                           "-o", tmp_path / "x")
    assert_user_error(code, err, "'0'")
    assert not (tmp_path / "x").exists()


def test_compile_without_dt_says_pass_dt(capsys, tmp_path):
    code, _, err = run_cli(capsys, "compile", BRAILLE, "--target", "loihi2", "-o", tmp_path / "x")
    assert_user_error(code, err, "--dt")
    assert not (tmp_path / "x").exists()


def test_compile_unsupported_primitive_names_the_node(capsys, tmp_path):
    graph = ir.Graph({
        "in": ir.Input(shape=np.array([3])),
        "fc": ir.Affine(weight=np.ones((2, 3), np.float32), bias=np.zeros(2, np.float32)),
        "readout": ir.I(r=np.ones(2)),
        "out": ir.Output(shape=np.array([2])),
    }, [("in", "fc"), ("fc", "readout"), ("readout", "out")])
    ir.save(graph, tmp_path / "li.nir")
    code, _, err = run_cli(capsys, "compile", tmp_path / "li.nir", "--dt", "1e-4",
                           "-o", tmp_path / "x")
    assert_user_error(code, err, "'readout'", "(I)", "grows without bound")
    assert not (tmp_path / "x").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["li.nir"]


def test_compile_refuses_to_overwrite_a_non_artifact(capsys, tmp_path):
    (tmp_path / "keep").mkdir()
    (tmp_path / "keep" / "thesis.tex").write_text("precious")
    code, _, err = run_cli(capsys, "compile", BRAILLE, "--dt", "1e-4", "-o", tmp_path / "keep")
    assert_user_error(code, err, "not a neurocc artifact")
    assert (tmp_path / "keep" / "thesis.tex").read_text() == "precious"


def test_compile_for_a_target_toml(capsys, tmp_path):
    from neurocc.backends.loihi2 import SPEC_PATH

    out = tmp_path / "b"
    compile_braille(capsys, out, "--target", SPEC_PATH)  # the later --target wins
    assert json.loads((out / "manifest.json").read_text())["target"] == "loihi2"
    code, _, err = run_cli(capsys, "compile", BRAILLE, "--dt", "1e-4", "--target", "truenorth",
                           "-o", tmp_path / "x")
    assert_user_error(code, err, "truenorth", "loihi2")


def test_dump_after(capsys, tmp_path):
    stdout = compile_braille(capsys, tmp_path / "b", "--dump-after", "quantize")
    assert "IR after pass 'quantize'" in stdout
    assert "const@" in stdout  # the bias ports are listed with the inputs
    code, _, err = run_cli(capsys, "compile", BRAILLE, "--dt", "1e-4", "-o", tmp_path / "c",
                           "--dump-after", "placement")
    assert_user_error(code, err, "placement", "normalize, discretize, quantize")


# --- run ----------------------------------------------------------------------


def test_run_writes_outputs_spikes_traces_and_events(capsys, tmp_path, braille_artifact):
    x = (np.random.default_rng(0).random((30, 2, 12)) < 0.2).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    code, stdout, err = run_cli(capsys, "run", braille_artifact, "--input", tmp_path / "x.npy",
                                "--record", "lif2", "-o", tmp_path / "r.npz")
    assert code == 0, err
    with np.load(tmp_path / "r.npz", allow_pickle=False) as r:
        assert r["output.output"].shape == (30, 2, 7) and r["output.output"].dtype == np.int8
        assert r["spikes.lif1.lif"].shape == (30, 2, 38)
        assert r["trace.lif2.u"].shape == r["trace.lif2.v"].shape == (30, 2, 7)
        assert "trace.lif1.lif.v" not in r.files
        assert r["events.input->lif1.lif"].shape == (30, 2)
        assert np.array_equal(r["output.output"], r["spikes.lif2"])
        total = int(r["spikes.lif2"].sum())
    assert str(total) in stdout


def test_run_input_of_wrong_shape(capsys, tmp_path, braille_artifact):
    np.save(tmp_path / "x.npy", np.zeros((10, 2, 11), np.float32))
    code, _, err = run_cli(capsys, "run", braille_artifact, "--input", tmp_path / "x.npy",
                           "-o", tmp_path / "r.npz")
    assert_user_error(code, err, "[10, 2, 11]", "[T, B, 12]")
    assert not (tmp_path / "r.npz").exists()


def test_run_input_of_complex_dtype(capsys, tmp_path, braille_artifact):
    np.save(tmp_path / "x.npy", np.zeros((10, 2, 12), np.complex64))
    code, _, err = run_cli(capsys, "run", braille_artifact, "--input", tmp_path / "x.npy",
                           "-o", tmp_path / "r.npz")
    assert_user_error(code, err, "complex64")


def test_run_unknown_group(capsys, tmp_path, braille_artifact):
    np.save(tmp_path / "x.npy", np.zeros((10, 2, 12), np.float32))
    code, _, err = run_cli(capsys, "run", braille_artifact, "--input", tmp_path / "x.npy",
                           "--record", "lif3", "-o", tmp_path / "r.npz")
    assert_user_error(code, err, "lif3", "lif1.lif, lif2")


def test_artifact_of_another_format_version(capsys, tmp_path, braille_artifact):
    import shutil

    art = tmp_path / "art"
    shutil.copytree(braille_artifact, art)
    manifest = json.loads((art / "manifest.json").read_text())
    manifest["format"] = 999
    (art / "manifest.json").write_text(json.dumps(manifest))
    np.save(tmp_path / "x.npy", np.zeros((10, 1, 12), np.float32))
    code, _, err = run_cli(capsys, "run", art, "--input", tmp_path / "x.npy", "-o", tmp_path / "r.npz")
    assert_user_error(code, err, "format 999", f"format {ir.ARTIFACT_FORMAT}")


def test_run_on_lava_without_the_lava_venv(capsys, tmp_path, monkeypatch, braille_artifact):
    monkeypatch.setenv("NEUROCC_LAVA_PYTHON", str(tmp_path / "no" / "python"))
    np.save(tmp_path / "x.npy", np.zeros((10, 1, 12), np.float32))
    code, _, err = run_cli(capsys, "run", braille_artifact, "--input", tmp_path / "x.npy",
                           "--backend", "lava", "-o", tmp_path / "r.npz")
    assert_user_error(code, err, "NEUROCC_LAVA_PYTHON", "make lava")
    assert not (tmp_path / "r.npz").exists()


# --- verify -------------------------------------------------------------------


def test_verify_braille_against_lava_and_reference(capsys, tmp_path, braille_artifact):
    code, stdout, err = run_cli(capsys, "verify", braille_artifact, "--random-input", "0.1",
                                "--steps", "60", "--batch", "8", "--seed", "0",
                                "--against", "lava,reference", "--json", tmp_path / "v.json")
    assert code == 0, err
    verdict = json.loads((tmp_path / "v.json").read_text())
    assert verdict["lava"]["bit_exact"] is True
    assert verdict["lava"]["first_difference"] is None
    assert len(verdict["lava"]["compared"]) == 6  # spikes, u, v of two groups
    out = verdict["reference"]["outputs"]["output"]
    assert out["latency_steps"] == 2 and out["steps_compared"] == 58
    assert 0.0 <= out["argmax_agreement"] <= 1.0
    assert out["argmax_decided_samples"] + out["argmax_tied_samples"] == 8
    assert 0.0 <= out["spike_agreement"] <= 1.0
    assert set(verdict["timings_s"]) == {"emulator", "lava", "reference"}
    assert "bit-exact" in stdout and "latency 2" in stdout


def test_verify_warns_when_the_source_changed(capsys, tmp_path, braille_artifact):
    import shutil

    art = tmp_path / "art"
    shutil.copytree(braille_artifact, art)
    shutil.copyfile(FIXTURES / "braille_noDelay_bias_zero_subgraph.nir", art / "source.nir")
    code, stdout, err = run_cli(capsys, "verify", art, "--random-input", "0.1", "--steps", "20",
                                "--against", "reference")
    assert code == 0, err
    assert "warning:" in stdout and "changed after compiling" in stdout


def test_verify_without_source_model(capsys, tmp_path, braille_artifact):
    import shutil

    art = tmp_path / "art"
    shutil.copytree(braille_artifact, art)
    (art / "source.nir").unlink()
    code, _, err = run_cli(capsys, "verify", art, "--random-input", "0.1", "--steps", "20",
                           "--against", "reference")
    assert_user_error(code, err, "source.nir", "--against lava")


def test_verify_with_a_damaged_source_model_says_to_recompile(capsys, tmp_path, braille_artifact):
    import shutil

    art = tmp_path / "art"
    shutil.copytree(braille_artifact, art)
    data = (art / "source.nir").read_bytes()
    (art / "source.nir").write_bytes(data[: len(data) // 2])
    code, _, err = run_cli(capsys, "verify", art, "--random-input", "0.1", "--steps", "20",
                           "--against", "reference")
    assert_user_error(code, err, "VerificationError", "the artifact's copy of its model is damaged",
                      "compile the model again", "--against lava only")


def test_verify_too_few_steps_for_the_latency(capsys, braille_artifact):
    code, _, err = run_cli(capsys, "verify", braille_artifact, "--random-input", "0.1",
                           "--steps", "2", "--against", "reference")
    assert_user_error(code, err, "latency is 2 steps", "at least 3")


# --- the comparison functions on hand-made arrays ------------------------------


def test_bit_exact_names_the_earliest_difference():
    a = {"g1": {"spikes": np.zeros((5, 2, 3), np.int8), "v": np.zeros((5, 2, 3), np.int32)},
         "g2": {"spikes": np.zeros((5, 2, 4), np.int8)}}
    b = {g: {k: v.copy() for k, v in d.items()} for g, d in a.items()}
    assert V.compare_bit_exact(a, b).bit_exact
    b["g1"]["v"][3, 1, 2] = 7     # later step, earlier group
    b["g2"]["spikes"][1, 0, 3] = 1  # earliest step
    b["g2"]["spikes"][4, 1, 0] = 1
    rep = V.compare_bit_exact(a, b)
    assert not rep.bit_exact
    assert rep.first == V.Mismatch("g2", "spikes", 1, 0, 3, 0, 1)
    assert rep.differing == {"g1.v": 1, "g2.spikes": 2}


def test_alignment_by_latency():
    ref = np.zeros((6, 1, 2))
    ref[0, 0, 0] = ref[3, 0, 1] = 1
    emu = np.zeros((6, 1, 2), np.int8)
    emu[2, 0, 0] = emu[5, 0, 1] = 1  # the same spikes, two steps later
    o = V.compare_output("out", emu, ref, latency=2)
    assert o.spike_agreement == 1.0 and o.steps_compared == 4
    assert V.compare_output("out", emu, ref, latency=0).spike_agreement == 8 / 12


def test_count_correlation_and_argmax_with_ties():
    ref = np.array([[3, 1, 0], [2, 2, 0], [0, 0, 0], [0, 5, 1]])
    emu = np.array([[4, 1, 0], [0, 3, 0], [1, 0, 0], [2, 2, 1]])
    am = V.argmax_agreement(emu, ref)
    # samples 1 and 2 tie in the reference; sample 3 ties on the emulator side
    assert (am.decided, am.ties, am.agreed) == (2, 2, 1) and am.agreement == 0.5
    r = V.count_correlation(emu, ref)
    assert r == pytest.approx(np.corrcoef(emu.ravel(), ref.ravel())[0, 1])
    assert V.count_correlation(np.ones((2, 2)), ref[:2, :2]) is None


# --- bad input, the same clear error from run, verify and profile ---------------


def _bad_input(tmp_path: Path, art: Path, case: str) -> tuple[Path, Path, tuple[str, ...]]:
    """(artifact, input file, the words the error must carry) for one kind of bad input."""
    x = tmp_path / "x.npy"
    if case == "format":  # an artifact written by another neurocc format version
        import shutil

        old = tmp_path / "other-version"
        shutil.copytree(art, old)
        manifest = json.loads((old / "manifest.json").read_text())
        manifest["format"] = ir.ARTIFACT_FORMAT + 1
        (old / "manifest.json").write_text(json.dumps(manifest))
        np.save(x, np.zeros((10, 1, 12), np.int8))
        return old, x, (f"format {ir.ARTIFACT_FORMAT + 1}", f"format {ir.ARTIFACT_FORMAT}",
                        "Recompile")
    arrays = {"channels": (np.zeros((10, 2, 13), np.int8), ("shape [10, 2, 13]", "[T, B, 12]")),
              "no-batch": (np.zeros((10, 12), np.int8), ("shape [10, 12]", "[T, B, 12]")),
              "complex": (np.zeros((10, 2, 12), np.complex64), ("dtype complex64",)),
              "text": (np.full((10, 2, 12), "1"), ("dtype <U1", "expected numbers"))}
    arr, needles = arrays[case]
    np.save(x, arr)
    return art, x, needles


@pytest.mark.parametrize("command", ["run", "verify", "profile"])
@pytest.mark.parametrize("case", ["format", "channels", "no-batch", "complex", "text"])
def test_bad_input_is_one_clear_error_from_every_command(capsys, tmp_path, braille_artifact,
                                                         command, case):
    art, x, needles = _bad_input(tmp_path, braille_artifact, case)
    extra = {"run": ["-o", tmp_path / "r.npz"], "verify": ["--against", "reference"],
             "profile": []}[command]
    code, _, err = run_cli(capsys, command, art, "--input", x, *extra)
    assert_user_error(code, err, *needles)
    assert not (tmp_path / "r.npz").exists()
