"""Shipped chip targets (backends/*/*.toml), `load_target`'s checks, `neurocc targets`,
and `--target` by name or by path.

The expected numbers are REFERENCE.md section 2 and 3 (and the Sinabs and
Rockpool sources it cites), written out here so that a changed TOML fails
a test rather than quietly changing what neurocc believes about a chip.
"""

from __future__ import annotations

import json
import math
import re
import tomllib
from pathlib import Path

import pytest

from neurocc.backends import TARGETS, loihi2, speck, spinnaker2, xylo
from neurocc.compiler.cli import main
from neurocc.ir.errors import TargetSpecError
from neurocc.backends import load_target
from cli_helpers import assert_user_error, run_cli

BRAILLE = Path(__file__).parent / "fixtures" / "nir-paper" / "braille_noDelay_bias_zero.nir"
SHIPPED = {"loihi2": loihi2.SPEC_PATH,
           "hala_point": loihi2.SPEC_PATH.with_name("hala_point.toml"),
           "xylo_audio2": xylo.SPEC_PATH,
           "xylo_imu": xylo.SPEC_PATHS["xylo_imu"], "xylo_audio3": xylo.SPEC_PATHS["xylo_audio3"],
           "speck": speck.SPEC_PATH, "spinnaker2": spinnaker2.SPEC_PATH}
#: chips with no sourced energy figure in REFERENCE.md (their TOML says so)
NO_ENERGY = ("xylo_imu", "xylo_audio3")
#: mesh positions per chip where a chip uses fewer cores than its mesh has places
#: (Hala Point counts 122 cores per chip on Loihi 2's 128-core die: hala_point.toml)
MESH_POSITIONS = {"hala_point": 128}


# --- the registry and every shipped TOML --------------------------------------


def test_registry_holds_the_seven_shipped_targets():
    assert list(TARGETS) == ["loihi2", "hala_point", "xylo_audio2", "xylo_imu", "xylo_audio3",
                             "speck", "spinnaker2"]


@pytest.mark.parametrize("name", list(SHIPPED))
def test_shipped_target_loads_whole(name):
    spec = TARGETS[name]()
    assert spec.name == name  # the registry key is what the TOML calls itself
    assert Path(spec.path) == SHIPPED[name]
    assert spec.cores is not None and spec.topology is not None
    t = spec.topology
    assert math.prod(t.core_mesh) == MESH_POSITIONS.get(name, t.cores_per_chip)
    assert math.prod(t.chip_mesh) == t.max_chips
    assert bool(spec.energy) == (name not in NO_ENERGY), \
        "every target ships its measured energy figures, where REFERENCE.md has one"
    for key, entry in spec.energy.items():
        assert set(entry) >= {"value", "unit", "basis", "source", "confidence", "role",
                              "platform"}, key
        assert isinstance(entry["value"], float) and entry["value"] > 0, key
        assert entry["basis"] in ("simulated", "measured", "calibrated", "derived"), key
        assert entry["confidence"] in ("V", "Q", "C"), key
        assert entry["role"] in ("calibration_target", "comparison"), key


# Every number of [cores] and [topology] has a comment that gives its confidence
# (V/Q/C) or says how it was chosen (derived, a modelling choice, not
# published): the comment lines right above it, or its inline comment, or those
# of the assignment right above it (one comment may cover a group of lines).
_SOURCED = re.compile(r"[(\s][VQC][,:;)/]|derived|modelling choice|published|REFERENCE\.md",
                      re.IGNORECASE)


@pytest.mark.parametrize("name", list(SHIPPED))
def test_every_capacity_says_where_it_comes_from(name):
    table, above, previous, unsourced = "", [], None, []
    for line in SHIPPED[name].read_text().splitlines():
        stripped = line.strip()
        if stripped.startswith("["):
            table, above, previous = stripped.strip("[]"), [], None
        elif stripped.startswith("#"):
            above.append(stripped)
            previous = None
        elif not stripped:
            above, previous = [], None
        else:
            comment = " ".join(above) + (" " + line.split("#", 1)[1] if "#" in line else "")
            if not comment.strip() and previous is not None:
                comment = previous
            if table in ("cores", "topology") and not _SOURCED.search(comment):
                unsourced.append(f"[{table}] {stripped}")
            above, previous = [], comment
    assert not unsourced, unsourced


def test_loihi2_numbers():
    spec = loihi2.target()
    c, t = spec.cores, spec.topology
    assert t.cores_per_chip == 128  # C, Intel brief; V, Lava's mapper
    assert c.max_neurons * t.cores_per_chip == 2 ** 20  # "up to 1M neurons per chip"
    assert c.synapse_memory_bits == 120_000_000 // 128 * 8  # 120M synapses at 8 bits
    assert c.dense_weight_bits == spec.formats.weight_bits == 8
    assert c.max_fan_in == 4096 and c.routing_entries == 4096  # Loihi 1, Davies 2018
    assert spec.formats is not None and "loihi2.cuba_lif" in spec.neuron_models
    assert spec.energy["pilotnet_sdnn_energy_per_inference"]["value"] == 16.3
    assert spec.energy["pilotnet_sdnn_energy_per_inference"]["unit"] == "mJ/inference"
    assert spec.energy["pilotnet_sdnn_static_power"]["value"] == 0.28
    # per-op energies of Loihi 2 are not published: none may pose as Loihi 2's
    assert all(e["role"] == "calibration_target" for e in spec.energy.values()
               if e["platform"] == "Loihi 2")
    assert spec.energy["loihi1_synaptic_op"] == spec.energy["loihi1_synaptic_op"] | {
        "value": 23.6, "unit": "pJ", "platform": "Loihi 1", "role": "comparison"}


def test_xylo_audio2_numbers():
    spec = xylo.target()
    c, t = spec.cores, spec.topology
    assert spec.arithmetic == "xylo" and spec.can_emulate
    assert t.cores_per_chip == 1 and t.max_chips == 1  # the whole network in one core
    assert c.max_neurons == 1000 + 8  # the hidden and the output pool in the one core
    assert c.max_fan_in == 0  # dense matrices: any input or hidden neuron feeds any neuron
    n = spec.network  # the pools themselves, whole-network limits
    assert (n.max_input_channels, n.max_hidden_neurons, n.max_output_neurons) == (16, 1000, 8)
    assert c.dense_weight_bits == 8
    # dense w_in [16, 1000, 2], w_rec [1000, 1000, 2], w_out [1000, 8], int8
    assert c.synapse_memory_bits == (16 * 1000 * 2 + 1000 * 1000 * 2 + 1000 * 8) * 8
    f = xylo.limits()
    assert f.synapses == 2 and f.state_bits == 16 and f.weight_bits == 8
    assert (f.max_input_count, f.max_hidden_spikes, f.max_readout_spikes) == (15, 31, 1)
    assert (f.input_window, f.output_window) == (0, 0)   # Audio 2: dense over all hidden
    imu, a3 = xylo.target("xylo_imu"), xylo.target("xylo_audio3")
    assert (imu.network.max_hidden_neurons, imu.network.max_output_neurons,
            imu.formats.synapses, imu.formats.input_window) == (496, 16, 1, 128)
    assert (a3.network.max_hidden_neurons, a3.network.max_output_neurons,
            a3.formats.synapses, a3.formats.output_window) == (992, 32, 2, 128)
    assert spec.energy["kws_power"]["value"] == 291.0 and spec.energy["kws_power"]["unit"] == "uW"
    assert spec.energy["kws_energy_per_inference"]["value"] == 6.6


def test_speck_numbers():
    spec = speck.target()
    c, t = spec.cores, spec.topology
    assert spec.formats is None
    assert t.cores_per_chip == 9 and t.max_chips == 1
    assert c.max_fan_out == 2  # two destinations per layer
    assert c.dense_weight_bits == 8
    budgets = speck.memory_budgets()
    assert len(budgets) == t.cores_per_chip
    K = 1024
    assert [b.kernel_words for b in budgets] == [16 * K] * 3 + [32 * K] * 2 + [64 * K] * 2 + [
        16 * K] * 2
    assert [b.neuron_words for b in budgets] == [64 * K] * 3 + [32 * K] * 2 + [16 * K] * 4
    assert all(b.bias_words == 1024 for b in budgets)
    # CoreLimits holds the smallest budget, which every core meets
    assert c.max_neurons == min(b.neuron_words for b in budgets)
    assert c.synapse_memory_bits == min(b.kernel_words for b in budgets) * 8
    rules = tomllib.loads(speck.SPEC_PATH.read_text())["layer_memory"]
    assert rules["max_output_channels"] == 1024
    assert rules["max_kernel_size"] == 16
    assert rules["weight_bits"] == 8 and rules["state_bits"] == 16
    assert spec.energy["resting_power"]["value"] == 0.42
    assert spec.energy["total_realtime_power"]["value"] == 0.70


def test_speck_layer_memory_by_hand():
    # 3x3 conv, 2 -> 16 channels, 30 x 20 output: kernel 2 * 2^(4 + 4) = 512 words,
    # neurons 16 * 2^(5 + 5) = 16384 words (30 -> 32, 20 -> 32)
    layer = speck.layer_memory(2, 16, (3, 3), (30, 20), bias=True)
    assert layer == speck.CoreMemory(kernel_words=512, neuron_words=16384, bias_words=16)
    assert speck.cores_that_fit(layer) == list(range(9))
    # 64 -> 128 channels, 3x3 (pads to 16), 8 x 8: kernel 64 * 2^(4 + 7) = 131072 words,
    # more than any core holds
    assert speck.cores_that_fit(speck.layer_memory(64, 128, (3, 3), (8, 8), bias=False)) == []
    # 32 -> 64, 3x3, 16 x 16: kernel 32 * 2^(4 + 6) = 32768 (cores 3-6), neurons
    # 64 * 2^8 = 16384 (every core): cores 3, 4, 5, 6
    assert speck.cores_that_fit(speck.layer_memory(32, 64, (3, 3), (16, 16), bias=False)) == [
        3, 4, 5, 6]


def test_spinnaker2_numbers():
    spec = spinnaker2.target()
    c, t = spec.cores, spec.topology
    assert spec.formats is None
    assert t.cores_per_chip == 152
    assert spinnaker2.routing_entries_per_chip() == 16384  # "about 16K" per chip
    assert c.routing_entries == 16384 // 152  # an equal share per processing element
    assert c.max_neurons == 256  # SpiNNaker 1 practice
    assert spec.energy["spinnaker1_multicast_packet"]["value"] == 0.8
    assert all(e["platform"] == "SpiNNaker 1" for e in spec.energy.values())


# --- load_target on a user's TOML: errors name the field and the file ---------


def _loihi2_with(tmp_path: Path, old: str, new: str) -> Path:
    text = loihi2.SPEC_PATH.read_text()
    assert text.count(old) == 1, old
    path = tmp_path / "mychip.toml"
    path.write_text(text.replace(old, new))
    return path


@pytest.mark.parametrize("old, new, field", [
    ("max_fan_in = 4096\n", "", "max_fan_in"),                              # missing
    ("core_mesh = [8, 16]\n", "", "core_mesh"),                             # missing pair
    ('name = "loihi2"\n', "", "name"),                                      # missing, top level
    ("routing_entries = 4096", "routing_entries = -1", "routing_entries"),  # negative
    ("max_chips = 8", "max_chips = -8", "max_chips"),                       # negative
    ("max_neurons = 8192", 'max_neurons = "8192"', "max_neurons"),          # string for int
    ("cores_per_chip = 128", "cores_per_chip = 128.0", "cores_per_chip"),   # float for int
    ("weight_bits = 8  ", "weight_bits = 8.5", "weight_bits"),              # float, [formats]
    ("max_fan_out = 0", "max_fan_out = true", "max_fan_out"),               # bool for int
    ("core_mesh = [8, 16]", "core_mesh = [128]", "core_mesh"),              # bad pairs
    ("core_mesh = [8, 16]", "core_mesh = [8, 0]", "core_mesh"),
    ("chip_mesh = [2, 4]", 'chip_mesh = [2, "4"]', "chip_mesh"),
    ("chip_mesh = [2, 4]", "chip_mesh = 8", "chip_mesh"),
    ("synaptic_latency = 1", "synaptic_latency = -1", "synaptic_latency"),
])
def test_bad_field_names_field_and_file(tmp_path, old, new, field):
    path = _loihi2_with(tmp_path, old, new)
    with pytest.raises(TargetSpecError) as info:
        load_target(path)
    message = str(info.value)
    assert f"'{field}'" in message and str(path) in message, message


def test_invalid_toml_syntax_names_the_file(tmp_path):
    path = _loihi2_with(tmp_path, "max_neurons = 8192", "max_neurons = = 8192")
    with pytest.raises(TargetSpecError, match=re.escape(str(path)) + ".*not valid TOML"):
        load_target(path)


def test_a_table_that_is_not_a_table(tmp_path):
    path = tmp_path / "flat.toml"
    path.write_text('name = "flat"\ndescription = "x"\nneuron_models = []\n'
                    'synaptic_latency = 0\ncores = 5\n')
    with pytest.raises(TargetSpecError, match=re.escape(str(path)) + r".*\[cores\]"):
        load_target(path)


def test_compile_with_a_bad_target_file_is_one_error_line(capsys, tmp_path):
    path = _loihi2_with(tmp_path, "max_neurons = 8192", 'max_neurons = "lots"')
    code, _, err = run_cli(capsys, "compile", BRAILLE, "--dt", "1e-4", "--target", path,
                           "-o", tmp_path / "out")
    assert_user_error(code, err, "TargetSpecError", "max_neurons", str(path))
    assert not (tmp_path / "out").exists()


# --- neurocc targets ------------------------------------------------------------


def test_targets_lists_all_seven(capsys, tmp_path):
    code, out, err = run_cli(capsys, "targets", "--json", tmp_path / "t.json")
    assert code == 0, err
    rows = {line.split()[1]: line for line in out.splitlines()
            if line.startswith("│") and line.split()[1] in TARGETS}
    assert list(rows) == list(TARGETS)
    assert re.search(r"\b128\b.*\b8192\b.*915\.5 KiB.*\b4096\b", rows["loihi2"])
    assert re.search(r"│\s+1008 │.*│\s+no limit │", rows["xylo_audio2"])
    assert re.search(r"│\s+9 │", rows["speck"])
    assert re.search(r"│\s+152 │.*│\s+256 │.*128 KiB", rows["spinnaker2"])
    assert rows["loihi2"].rstrip("│ ").endswith("yes │     yes")
    assert rows["hala_point"].rstrip("│ ").endswith("yes │     yes")  # Loihi 2's arithmetic
    for name in ("xylo_audio2", "xylo_imu", "xylo_audio3"):
        assert rows[name].rstrip("│ ").endswith("yes │     yes"), rows[name]
    for name in ("speck", "spinnaker2"):
        assert rows[name].rstrip("│ ").endswith("no │      no"), rows[name]
    for name, path in SHIPPED.items():  # where the sources are written
        assert str(path) in out
    info = json.loads((tmp_path / "t.json").read_text())
    by_name = {t["name"]: t for t in info["targets"]}
    assert list(by_name) == list(TARGETS)
    assert by_name["speck"]["cores"]["max_fan_out"] == 2
    assert by_name["xylo_audio2"]["topology"]["core_mesh"] == [1, 1]
    assert by_name["xylo_audio2"]["network"]["max_input_channels"] == 16
    assert by_name["loihi2"]["network"] is None
    assert by_name["loihi2"]["formats"]["weight_bits"] == 8
    assert by_name["spinnaker2"]["formats"] is None
    assert [t["can_quantize"] for t in info["targets"]] == [True] * 5 + [False] * 2
    assert [t["can_emulate"] for t in info["targets"]] == [True] * 5 + [False] * 2
    assert by_name["xylo_audio2"]["energy"]["kws_power"]["source"].startswith("Bos & Muir")


def test_targets_shows_a_users_toml_too(capsys, tmp_path):
    path = _loihi2_with(tmp_path, 'name = "loihi2"', 'name = "mychip"')
    code, out, err = run_cli(capsys, "targets", path)
    assert code == 0, err
    assert "mychip" in out and str(path) in out
    code, _, err = run_cli(capsys, "targets", tmp_path / "missing.toml")
    assert_user_error(code, err, "missing.toml", "no such target file")


# --- --target by name or path -------------------------------------------------


@pytest.mark.parametrize("name", ["speck", "spinnaker2"])
def test_compile_for_a_target_without_formats_is_a_user_error(capsys, tmp_path, name):
    code, _, err = run_cli(capsys, "compile", BRAILLE, "--dt", "1e-4", "--target", name,
                           "-o", tmp_path / "out")
    # quantize refuses: the chip has neither neurocc's neuron model nor [formats]
    assert_user_error(code, err, f"target '{name}'", "quantize")
    assert not (tmp_path / "out").exists()


def test_unknown_target_name_suggests_the_shipped_one(capsys, tmp_path):
    code, _, err = run_cli(capsys, "compile", BRAILLE, "--dt", "1e-4", "--target", "xylo",
                           "-o", tmp_path / "out")
    assert_user_error(code, err, "'xylo'", "did you mean 'xylo_audio2'", "neurocc targets")


def _formats_section() -> str:
    text = loihi2.SPEC_PATH.read_text()
    return re.search(r"^\[formats\]\n.*?(?=^\[)", text, re.S | re.M).group(0)


def test_compile_for_a_custom_toml_with_loihi2_formats(capsys, tmp_path):
    path = tmp_path / "custom.toml"
    path.write_text('name = "mychip"\ndescription = "a research chip with Loihi 2 arithmetic"\n'
                    'neuron_models = ["loihi2.cuba_lif"]\nsynaptic_latency = 1\n\n'
                    + _formats_section())
    spec = load_target(path)
    assert spec.formats == loihi2.target().formats
    assert spec.cores is None and spec.topology is None and spec.energy == {}
    outs = {}
    for target in (path, "loihi2"):
        out = tmp_path / f"out-{Path(str(target)).stem}"
        code, stdout, err = run_cli(capsys, "compile", BRAILLE, "--dt", "1e-4", "--target",
                                    target, "-o", out)
        assert code == 0, err
        outs[str(target)] = out
    custom, shipped = outs[str(path)], outs["loihi2"]
    assert json.loads((custom / "manifest.json").read_text())["target"] == "mychip"
    # the same formats give the same integers
    assert (custom / "program.npz").read_bytes() == (shipped / "program.npz").read_bytes()
