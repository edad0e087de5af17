"""Whole-network limits ([network]): Xylo Audio 2's input channels and neuron pools.

Xylo Audio 2 as Rockpool maps it (REFERENCE.md section 2, V; Rockpool
syns61201/xylo_mapper.py): 16 input channels, 1000 hidden neurons, 8 output
neurons (the neurons an Output node reads), any connectivity between them (one
recurrent hidden matrix), so no per-neuron fan-in limit. The expected counts
below are read off each model's layer shapes by hand, not from the code:

    model                       inputs      hidden (no Output reads it)     outputs
    braille_noDelay_bias_zero   12          lif1.lif 38                     lif2 7
    braille_noDelay_noBias_sub. 12          lif1.lif 40                     lif2 7
    digits demo                 64          lif1 128                        lif2 10
    cnn_sinabs                  2x34x34     '1' 16x16x16 = 4096, '3' 4096,   '12' 10
                                = 2312      '6' 8x8x8 = 512, '10' 256
                                            = 8960

Braille fits (12 <= 16, 38 or 40 <= 1000, 7 <= 8). digits: 64 - 16 = 48
input channels and 10 - 8 = 2 output neurons too many. cnn_sinabs: 2312 - 16 =
2296 input channels, 8960 - 1000 = 7960 hidden and 2 output neurons too many.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

import numpy as np
import pytest

from neurocc import ir
from neurocc.backends import xylo
from neurocc.compiler.partition import (PartitionOptions, Pattern, Structure, network_problems,
                                        plan_partition)
from neurocc.ir import CapacityError, TargetSpecError
from neurocc.ir.target import NetworkLimits, load_target

FIX = Path(__file__).parent / "fixtures" / "nir-paper"
DIGITS = Path(__file__).parent.parent / "compiler" / "demo" / "digits.nir"


@functools.cache
def structure(path: Path) -> Structure:
    return Structure.from_graph(ir.load(path))


def failures(path: Path) -> tuple[dict[str, str], str]:
    with pytest.raises(CapacityError) as err:
        plan_partition(structure(path), xylo.target(), PartitionOptions())
    return {f["limit"]: f["layer"] for f in err.value.failures}, str(err.value)


def test_xylo_limits_are_the_published_pools() -> None:
    spec = xylo.target()
    assert spec.network == NetworkLimits(max_input_channels=16, max_hidden_neurons=1000,
                                         max_output_neurons=8)
    assert spec.cores.max_fan_in == 0  # any hidden neuron may feed any other
    assert spec.cores.max_neurons == 1000 + 8  # both pools in the one modelled core


@pytest.mark.parametrize("name, hidden", [("braille_noDelay_bias_zero", 38),
                                          ("braille_noDelay_noBias_subtract", 40)])
def test_braille_fits_xylo_audio2(name: str, hidden: int) -> None:
    s = structure(FIX / f"{name}.nir")
    assert {p: n for p, n in s.ports.items() if p not in s.constants} == {"input": 12}
    assert s.outputs == ("lif2",) and s.groups["lif2"] == 7
    assert sum(n for g, n in s.groups.items() if g not in s.outputs) == hidden
    plan = plan_partition(s, xylo.target(), PartitionOptions())
    assert plan.report["cores_used"] == 1 and plan.report["chips_used"] == 1
    assert plan.report["utilization"]["neurons"]["max"] == hidden + 7


def test_cnn_sinabs_does_not_fit_xylo_audio2_by_its_inputs() -> None:
    failed, text = failures(FIX / "cnn_sinabs.nir")
    assert failed == {"max_input_channels": "input", "max_hidden_neurons": "1",
                      "max_output_neurons": "12"}
    assert "2312 external input channels" in text and "2296 too many" in text
    assert "8960 hidden neurons" in text and "7960 too many" in text
    assert "read 10 neurons" in text and "2 too many" in text
    assert "Smallest changes: encode the input in at most 16 channels" in text
    # one error, the input channels first
    assert text.splitlines()[1].startswith("  - the network takes 2312")


def test_digits_demo_does_not_fit_xylo_audio2() -> None:
    failed, text = failures(DIGITS)
    assert failed == {"max_input_channels": "input", "max_output_neurons": "lif2"}
    assert "64 external input channels" in text and "48 too many" in text
    assert "read 10 neurons" in text and "2 too many" in text


def pools(inputs: int, hidden: int, outputs: int, bias: bool = False) -> Structure:
    """input -> hidden (recurrent, all to all) -> out; a bias port when asked."""
    def full(name: str, src: str, dst: str, n_src: int, n_dst: int) -> Pattern:
        cols, rows = np.divmod(np.arange(n_src * n_dst), n_dst)
        return Pattern(name, src, dst, cols, rows)

    ports = {"x": inputs} | ({"bias": 1} if bias else {})
    patterns = [full("in", "x", "h", inputs, hidden), full("rec", "h", "h", hidden, hidden),
                full("out", "h", "o", hidden, outputs)]
    if bias:
        patterns.append(full("b", "bias", "h", 1, hidden))
    return Structure({"h": hidden, "o": outputs}, ports, patterns, outputs=("o",),
                     constants=("bias",) if bias else ())


def test_the_full_chip_fits_and_one_more_of_anything_does_not() -> None:
    spec = xylo.target()
    # 16 inputs, 1000 hidden all to all (1000 sources each), 8 outputs, a bias: it fits
    plan = plan_partition(pools(16, 1000, 8, bias=True), spec, PartitionOptions())
    assert plan.report["cores_used"] == 1
    for args, limit, excess in (((17, 1000, 8), "max_input_channels", "1 too many"),
                                ((16, 1001, 8), "max_hidden_neurons", "1 too many"),
                                ((16, 1000, 9), "max_output_neurons", "1 too many")):
        problems = network_problems(pools(*args), spec)
        assert [p[1] for p in problems] == [limit] and excess in problems[0][2]


def test_a_target_without_network_limits_ignores_them() -> None:
    spec = xylo.target().replace(network=None)
    assert network_problems(pools(2312, 5000, 10), spec) == []
    spec = xylo.target().replace(network=NetworkLimits(0, 0, 0))  # 0: no limit
    assert network_problems(pools(2312, 5000, 10), spec) == []


@pytest.mark.parametrize("edit, message", [
    ("max_input_channels = 16", "missing field 'max_input_channels'"),
    ("max_output_neurons = -8", "field 'max_output_neurons' must be >= 0"),
    ("max_hidden_neurons = 1000.0", "field 'max_hidden_neurons' must be an integer")])
def test_a_bad_network_table_names_the_field_and_file(tmp_path: Path, edit: str,
                                                      message: str) -> None:
    text = xylo.SPEC_PATH.read_text()
    key = edit.split(" =")[0]
    lines = [line for line in text.splitlines() if not line.startswith(f"{key} =")]
    if "missing" not in message:
        at = lines.index("[network]") + 1
        lines.insert(at, edit)
    path = tmp_path / "chip.toml"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(TargetSpecError, match=message) as err:
        load_target(path)
    assert str(path) in str(err.value) and "[network]" in str(err.value)
