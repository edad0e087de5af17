"""The Python API (``import neurocc``): the digits model in five lines, in-memory models,
artifacts, and clear errors for bad arguments."""

from __future__ import annotations

import filecmp

import nir
import numpy as np
import pytest

import neurocc
from neurocc.compiler import demo
from neurocc.ir import NeuroccError


@pytest.fixture(scope="module")
def digits():
    x, y = demo.load_test_set()
    program = neurocc.compile(demo.model_path(), "loihi2", calibrate=demo.load_calibration_set()[0])
    return program, x, y


def test_digits_in_five_lines_gives_make_demos_accuracy(digits):
    program, x, y = digits
    run = neurocc.run(program, x)
    out = run.outputs["output"]
    assert out.shape == x.shape[:2] + (10,)          # the float model's 32 steps
    assert run.latency == {"output": 2} and run.padding == 2
    # the trained model's numbers (make demo, tests/test_demo_model.py): 352/360
    assert round(demo.accuracy(out, y) * len(y)) == 352
    assert run.overflow == []


def test_aligned_is_the_raw_run_padded_and_shifted(digits):
    program, x, _ = digits
    few = x[:, :8]
    aligned = neurocc.run(program, few).outputs["output"]
    padded = np.concatenate([few, np.zeros((2,) + few.shape[1:], few.dtype)])
    raw = neurocc.run(program, padded, aligned=False)
    assert raw.padding == 0 and raw.outputs["output"].shape[0] == 34
    np.testing.assert_array_equal(aligned, np.asarray(raw.raw.outputs["output"])[2:])


def test_verify_returns_the_verdict_the_cli_prints(digits):
    program, x, _ = digits
    verdict = neurocc.verify(program, x[:, :40], against="reference")
    assert verdict["against"] == ["reference"]
    out = verdict["reference"]["outputs"]["output"]
    assert out["latency_steps"] == 2 and out["argmax_agreement"] > 0.9


def test_profile_and_targets(digits):
    program, x, _ = digits
    report = neurocc.profile(program, x[:, :4], energy_from="loihi1")
    assert report["profile"]["samples"] == 4 and report["energy"]["available"]
    assert "loihi2" in neurocc.targets()


def test_in_memory_nir_graph_gives_the_same_artifact(tmp_path, digits):
    program = digits[0]
    calibration = demo.load_calibration_set()[0]
    graph = nir.read(demo.model_path())
    in_memory = neurocc.save(neurocc.compile(graph, "loihi2", calibrate=calibration),
                             tmp_path / "mem")
    # the same graph written by nir.write, compiled as a file: every file identical
    nir.write(tmp_path / "digits.nir", graph)
    from_file = neurocc.save(neurocc.compile(tmp_path / "digits.nir", calibrate=calibration),
                             tmp_path / "file")
    names = sorted(p.name for p in in_memory.iterdir())
    assert names == sorted(p.name for p in from_file.iterdir())
    assert filecmp.cmpfiles(in_memory, from_file, names, shallow=False)[0] == names
    # and the integer program equals the one compiled from the shipped file
    shipped = neurocc.save(program, tmp_path / "shipped")
    assert (shipped / "program.npz").read_bytes() == (in_memory / "program.npz").read_bytes()


def test_save_load_round_trip(tmp_path, digits):
    program, x, y = digits
    path = neurocc.save(program, tmp_path / "digits")
    again = neurocc.load(path)
    few = x[:, :16]
    np.testing.assert_array_equal(neurocc.run(again, few).outputs["output"],
                                  neurocc.run(program, few).outputs["output"])
    # an artifact directory works wherever a program does
    assert neurocc.verify(str(path), few, against="reference")["artifact"] == str(path)


@pytest.mark.parametrize("call, needle", [
    (lambda p, x: neurocc.compile(42), "expected a .nir path, a nir.NIRGraph"),
    (lambda p, x: neurocc.compile("no/such.nir"), "no such file"),
    (lambda p, x: neurocc.compile(demo.model_path(), "loihi3"), "not a shipped target"),
    (lambda p, x: neurocc.compile(demo.model_path(), dt=-1.0), "dt: must be a number"),
    (lambda p, x: neurocc.compile(demo.model_path(), headroomm=4), "unknown option(s) headroomm (did you mean 'headroom'?)"),
    (lambda p, x: neurocc.compile(demo.model_path(), calibrate=np.zeros((4, 2, 3))),
     "shape [4, 2, 3]"),
    (lambda p, x: neurocc.run("nowhere", x), "no such artifact directory"),
    (lambda p, x: neurocc.run(p, x[:, :, :10]), "expected time-major"),
    (lambda p, x: neurocc.run(p, {"nope": x}), "expected one per input"),
    (lambda p, x: neurocc.run(p, x, record=["nope"]), "no such group nope"),
    (lambda p, x: neurocc.run(p, x, backend="chip"), "'chip' is not one of emulator"),
    (lambda p, x: neurocc.verify(p, x, against="float"), "expected some of reference"),
])
def test_bad_arguments_are_neurocc_errors(digits, call, needle):
    program, x, _ = digits
    with pytest.raises(NeuroccError) as info:
        call(program, x[:, :2])
    assert needle in str(info.value)
