"""Synapse-block encodings (``ir/blocks.py``): the API every reader of weights uses, on a
small matrix whose answers are counted by hand; and artifact format 2, which stores a
block's encoding and refuses a format-1 artifact with the command that recompiles it."""

from __future__ import annotations

import json

import numpy as np
import pytest

from neurocc import ir
from neurocc.ir.blocks import Dense, as_encoding

#  targets x sources; non-zeros: (0,1)=3, (1,0)=-2, (1,3)=5, (2,3)=-1
W = np.array([[0, 3, 0, 0],
              [-2, 0, 0, 5],
              [0, 0, 0, -1]], np.int32)


def test_counts() -> None:
    d = Dense(W)
    assert d.shape == (3, 4) and d.kind == "dense"
    assert d.nnz() == 4
    assert d.fan_out().tolist() == [1, 1, 0, 2]          # per source (column)
    assert d.fan_in().tolist() == [1, 2, 1]              # per target (row)
    assert d.value_range() == (-2, 5)
    assert Dense(np.zeros((0, 3), np.int32)).value_range() == (0, 0)


def test_chunks_are_row_major_and_bounded() -> None:
    chunks = list(Dense(W).chunks(rows=2))
    assert len(chunks) == 2                               # rows 0-1, then row 2
    assert [c[0].tolist() for c in chunks] == [[0, 1, 1], [2]]
    assert [c[1].tolist() for c in chunks] == [[1, 0, 3], [3]]
    assert [c[2].tolist() for c in chunks] == [[3, -2, 5], [-1]]


def test_slices_and_values() -> None:
    d = Dense(W)
    assert d.rows(1, 3).to_dense().tolist() == [[-2, 0, 0, 5], [0, 0, 0, -1]]
    assert d.cols(3, 4).to_dense().tolist() == [[0], [5], [-1]]
    assert d.rows(1, 2).cols(0, 1).nnz() == 1
    assert d.map_values(np.abs).value_range() == (0, 5)
    again = Dense.from_arrays(d.arrays())
    assert again == d and again is not d
    assert as_encoding(W) == d and as_encoding(d) is d
    with pytest.raises(ValueError, match="targets, sources"):
        Dense(np.zeros(3))


def test_block_takes_an_array_or_an_encoding() -> None:
    b = ir.SynapseBlock("in->a", "in", "a", W)
    assert isinstance(b.weights, Dense) and b.storage == "dense"


def _program() -> ir.Program:
    groups = {"a": ir.NeuronGroup("a", "loihi2.cuba_lif", (3,), {
        "du": np.array(0, np.int32), "dv": np.array(0, np.int32), "vth": np.array(10, np.int32)})}
    return ir.Program("loihi2", groups, [ir.SynapseBlock("in->a", "in", "a", W, storage="sparse")],
                      [ir.InputPort("in", (4,))], [ir.OutputPort("out", "a", (3,), latency=1)],
                      {}, dt=1e-3, rates={"a": 0.25})


def test_artifact_format_2_round_trip(tmp_path) -> None:
    path = ir.save_program(_program(), tmp_path / "art")
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["format"] == 2
    (block,) = manifest["synapses"]
    assert (block["encoding"], block["storage"]) == ("dense", "sparse")
    assert manifest["outputs"][0]["latency"] == 1 and manifest["dt"] == 1e-3
    back = ir.load_program(path)
    assert back.synapses[0].weights == Dense(W) and back.synapses[0].storage == "sparse"
    assert back.output_latency == {"out": 1} and back.rates == {"a": 0.25} and back.dt == 1e-3


def test_a_format_1_artifact_says_to_recompile(tmp_path) -> None:
    path = ir.save_program(_program(), tmp_path / "art")
    manifest = json.loads((path / "manifest.json").read_text())
    (path / "manifest.json").write_text(json.dumps(manifest | {"format": 1}))
    with pytest.raises(ir.ArtifactError) as err:
        ir.load_program(path)
    text = str(err.value)
    assert "artifact format 1" in text and "reads format 2" in text
    assert f"neurocc compile MODEL --target loihi2 -o {path}" in text


# --- an edited artifact is checked against its target whenever it is loaded ----------

def _edit(art, key: str, value) -> None:
    with np.load(art / "program.npz") as z:
        arrays = {k: z[k] for k in z.files}
    arrays[key] = value
    np.savez(art / "program.npz", **arrays)


@pytest.fixture
def digits_artifact(tmp_path, capsys):
    from cli_helpers import run_cli
    from neurocc.compiler import demo

    x, _ = demo.load_test_set()
    np.save(tmp_path / "x.npy", x[:, :4])
    code, _, err = run_cli(capsys, "compile", demo.model_path(), "-o", tmp_path / "art")
    assert code == 0, err
    return tmp_path


@pytest.mark.parametrize("key, value, needles", [
    # Lava's vth is 17 bits; 2**58 would wrap to 0 in int32 and every neuron would fire
    ("group/lif1/vth", np.array(2 ** 58, np.int64), ("group 'lif1': vth", "outside 1..131071")),
    ("group/lif2/dv", np.array(5000, np.int32), ("group 'lif2': du must be in -1..4095 and dv",)),
    ("synapse/input->lif1/weights", np.full((128, 64), 300, np.int32),
     ("block 'input->lif1'", "must lie in")),
    ("synapse/input->lif1/weights", np.full((128, 64), 0.5), ("holds float64 values",)),
])
@pytest.mark.parametrize("command", ["run", "verify", "profile"])
def test_run_verify_profile_refuse_an_edited_artifact(digits_artifact, capsys, command, key,
                                                      value, needles) -> None:
    from cli_helpers import assert_user_error, run_cli

    art = digits_artifact / "art"
    _edit(art, key, value)
    extra = {"run": ["-o", digits_artifact / "r.npz"], "verify": ["--against", "reference"],
             "profile": []}[command]
    code, _, err = run_cli(capsys, command, art, "--input", digits_artifact / "x.npy", *extra)
    assert_user_error(code, err, *needles, "compile the model again")
    assert not (digits_artifact / "r.npz").exists()
