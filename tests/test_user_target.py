"""A user-described chip: a TOML that reuses Loihi 2's arithmetic (``arithmetic = "loihi2"``)
with its own capacities, mesh and energy figures compiles, runs, verifies, profiles and fits
like a shipped target. With 64 neurons per core on a 4x4 mesh the partition changes (more,
smaller slices) and the spikes do not (the slicing only regroups rows and columns)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cli_helpers import run_cli
from neurocc import ir
from neurocc.backends import get_target, load_target
from neurocc.compiler import demo
from neurocc.compiler.pipeline import compile_graph
from neurocc.simulators.emulator import Emulator

# Loihi 2's integer formats (as in backends/loihi2/loihi2.toml), a small core and a 4x4 mesh,
# and per-operation energies of the user's own (made-up figures, labelled as such)
MYCHIP = """\
name = "mychip"
description = "A research chip with Loihi 2's arithmetic, 64 neurons per core"
neuron_models = ["loihi2.cuba_lif"]
arithmetic = "loihi2"
synaptic_latency = 1

[formats]
weight_bits = 8
weight_exp_min = -8
weight_exp_max = 7
decay_bits = 12
threshold_bits = 17
threshold_shift = 6
input_shift = 6
bias_mant_bits = 13
bias_exp_max = 7
state_bits = 24
max_delay = 62

[cores]
max_neurons = 64
synapse_memory_bits = 1048576
dense_weight_bits = 8
sparse_entry_bits = 24
max_fan_in = 4096
max_fan_out = 0
routing_entries = 4096

[topology]
cores_per_chip = 16
core_mesh = [4, 4]
max_chips = 1
chip_mesh = [1, 1]

[energy.synop]
value = 10.0
unit = "pJ"
basis = "derived"
source = "made up for this test"
confidence = "C"

[energy.update_active]
value = 40.0
unit = "pJ"
basis = "derived"
source = "made up for this test"
confidence = "C"

[energy.update_idle]
value = 20.0
unit = "pJ"
basis = "derived"
source = "made up for this test"
confidence = "C"

[energy.spike]
value = 1.0
unit = "pJ"
basis = "derived"
source = "made up for this test"
confidence = "C"
"""


@pytest.fixture(scope="module")
def chip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("chip") / "mychip.toml"
    path.write_text(MYCHIP)
    return path


@pytest.fixture(scope="module")
def digits() -> tuple[ir.Graph, float, np.ndarray]:
    graph = ir.load(demo.model_path())
    x, _ = demo.load_test_set()
    return graph, float(graph.metadata["dt"]), x[:, :24]


def test_loads_with_loihi2_arithmetic_and_its_own_capacities(chip: Path) -> None:
    mine, shipped = load_target(chip), get_target("loihi2")
    assert mine.name == "mychip" and mine.arithmetic == "loihi2"
    assert mine.formats == shipped.formats                      # parsed by backends/loihi2
    assert mine.kernels is shipped.kernels and mine.can_emulate and mine.can_quantize
    assert (mine.cores.max_neurons, mine.topology.core_mesh) == (64, (4, 4))
    assert get_target(str(chip)).name == "mychip"


def test_partition_changes_and_spikes_do_not(chip: Path, digits) -> None:
    graph, dt, x = digits
    mine, shipped = load_target(chip), get_target("loihi2")
    on_mine = compile_graph(graph, mine, dt)
    on_loihi = compile_graph(graph, shipped, dt)
    cores = lambda p: {(v["chip"], v["core"]) for v in p.placement.values()}  # noqa: E731
    # the digits model: 128 hidden and 10 output neurons; a Loihi 2 core holds all 138
    # (8192 per core), 64 per core cut the hidden layer in two and the readout takes a third
    assert len(cores(on_loihi)) == 1 and len(cores(on_mine)) == 3
    assert all(v["stop"] - v["start"] <= 64 for v in on_mine.placement.values())
    assert max(v["stop"] - v["start"] for v in on_loihi.placement.values()) == 128
    a = Emulator(on_mine, mine).run(x)
    b = Emulator(on_loihi, shipped).run(x)
    assert np.array_equal(a.outputs["output"], b.outputs["output"])
    assert a.outputs["output"].any()                             # not two silent runs
    def hidden(result, prog: ir.Program) -> np.ndarray:
        """The hidden layer's spikes, its slices put back in order."""
        parts = sorted((v["start"], g) for g, v in prog.placement.items() if v["slice_of"] == "lif1")
        return np.concatenate([result.spikes[g] for _, g in parts], axis=-1)
    assert len([v for v in on_mine.placement.values() if v["slice_of"] == "lif1"]) == 2
    assert np.array_equal(hidden(a, on_mine), hidden(b, on_loihi))
    assert hidden(a, on_mine).any()


def test_a_misspelt_arithmetic_says_which_exist(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(MYCHIP.replace('arithmetic = "loihi2"', 'arithmetic = "lohi2"'))
    with pytest.raises(ir.TargetSpecError, match="did you mean 'loihi2'"):
        load_target(path)


def test_a_missing_formats_table_is_named(tmp_path: Path) -> None:
    path = tmp_path / "noformats.toml"
    path.write_text(MYCHIP[:MYCHIP.index("[formats]")] + MYCHIP[MYCHIP.index("[cores]"):])
    with pytest.raises(ir.TargetSpecError, match=r"\[formats\]: missing"):
        load_target(path)


def test_command_line_compile_run_verify_profile_fit(chip: Path, digits, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture) -> None:
    graph, dt, x = digits
    model, art = tmp_path / "digits.nir", tmp_path / "art"
    ir.save(graph, model)
    np.save(tmp_path / "x.npy", x)
    code, out, err = run_cli(capsys, "compile", model, "--target", chip, "-o", art)
    assert code == 0, err
    assert (art / "target.toml").read_text() == MYCHIP          # run/verify find the same chip
    assert ir.load_program(art).target == "mychip"
    code, out, err = run_cli(capsys, "run", art, "--input", tmp_path / "x.npy",
                             "-o", tmp_path / "r.npz")
    assert code == 0, err
    code, out, err = run_cli(capsys, "verify", art, "--input", tmp_path / "x.npy",
                             "--against", "reference", "--json", tmp_path / "v.json")
    assert code == 0, err
    verdict = json.loads((tmp_path / "v.json").read_text())
    assert verdict["target"] == "mychip"
    code, out, err = run_cli(capsys, "profile", art, "--input", tmp_path / "x.npy",
                             "--json", tmp_path / "p.json")
    assert code == 0, err
    energy = json.loads((tmp_path / "p.json").read_text())["energy"]
    assert energy["available"] and energy["constants"]["synop"]["value"] == 10.0  # its own
    assert energy["total"]["synops"] > 0
    code, out, err = run_cli(capsys, "fit", model, "--target", f"loihi2,{chip}", "--dt", dt,
                             "--json", tmp_path / "fit.json")
    assert code == 0, err
    rows = {r["target"]: r for r in json.loads((tmp_path / "fit.json").read_text())["targets"]}
    assert rows["mychip"]["fits"] and rows["mychip"]["cores"] == 3
    assert rows["loihi2"]["cores"] == 1


def test_formats_without_an_arithmetic_is_capacities_only(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture) -> None:
    """[formats] that no arithmetic claims (no `arithmetic`, no known neuron model): the
    chip is listed and fits, but neither quantizes nor emulates (it was a traceback)."""
    path = tmp_path / "noarith.toml"
    path.write_text(MYCHIP.replace('arithmetic = "loihi2"\n', "")
                    .replace('["loihi2.cuba_lif"]', '["my.lif"]'))
    target = load_target(path)
    assert not target.can_quantize and not target.can_emulate
    code, out, err = run_cli(capsys, "targets", path, "--json", tmp_path / "t.json")
    assert code == 0, err
    row = next(r for r in json.loads((tmp_path / "t.json").read_text())["targets"]
               if r["name"] == "mychip")
    assert (row["can_quantize"], row["can_emulate"]) == (False, False)
    assert row["formats"]["weight_bits"] == 8          # the table as written
