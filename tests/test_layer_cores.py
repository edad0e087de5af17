"""Layer-per-core targets (Speck / DYNAP-CNN): whole layers onto cores by the memory formulas.

Every expected number here is worked out by hand from Sinabs' formulas
(REFERENCE.md section 2) and the per-core budgets Sinabs publishes
(chips/dynapcnn.py), written out below, not read back from the code:

    kernel words = c_in  * 2^(ceil(log2(k_h * k_w)) + ceil(log2(c_out)))
    neuron words = c_out * 2^(ceil(log2(out_h)) + ceil(log2(out_w)))
    kernel budgets (Ki words), cores 0-8: 16 16 16 32 32 64 64 16 16
    neuron budgets (Ki words), cores 0-8: 64 64 64 32 32 16 16 16 16

cnn_sinabs as Speck sees it (a linear layer is a convolution whose kernel is
its input's spatial size, Sinabs ``_convert_linear_to_conv``):

    layer  conv              c_in c_out kernel out    kernel words           neuron words
    '1'    '0'  2->16 5x5       2   16   5x5  16x16   2*2^(5+4)   =  1024    16*2^(4+4) = 4096
    '3'    '2'  16->16 3x3     16   16   3x3  16x16  16*2^(4+4)   =  4096    16*2^(4+4) = 4096
    '6'    '5'  16->8 3x3      16    8   3x3   8x8   16*2^(4+3)   =  2048     8*2^(3+3) =  512
    '10'   '9'  (8,4,4)->256    8  256   4x4   1x1    8*2^(4+8)   = 32768   256*2^0     =  256
    '12'   '11' 256->10       256   10   1x1   1x1  256*2^(0+4)   =  4096    10*2^0     =   10

So layer '10' fits only the 32 Ki and 64 Ki kernel cores (3, 4, 5, 6), every
other layer fits any core, each layer sends to one layer: 5 cores, it fits.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
from pathlib import Path

import pytest

from neurocc import ir
from neurocc.backends import loihi2, speck
from neurocc.compiler.cli import main
from neurocc.compiler.partition import LayerShape, PartitionOptions, Structure, plan_partition
from neurocc.ir import CapacityError, NeuroccError, TargetSpecError
from neurocc.ir.target import load_target

FIX = Path(__file__).parent / "fixtures" / "nir-paper"
CNN = FIX / "cnn_sinabs.nir"
K = 1024
KERNEL_BUDGET = [16 * K] * 3 + [32 * K] * 2 + [64 * K] * 2 + [16 * K] * 2
NEURON_BUDGET = [64 * K] * 3 + [32 * K] * 2 + [16 * K] * 4
# layer -> (kernel words, neuron words), from the table in the module docstring
BY_HAND = {"1": (1024, 4096), "3": (4096, 4096), "6": (2048, 512), "10": (32768, 256),
           "12": (4096, 10)}


@functools.cache
def cnn() -> Structure:
    """Built once: lowering the convolutions to matrices takes seconds (never mutated)."""
    return Structure.from_graph(ir.load(CNN))


def speck_with(**memory: tuple[int, ...]) -> ir.TargetSpec:
    spec = speck.target()
    assert spec.layer_memory is not None
    return spec.replace(layer_memory=dataclasses.replace(spec.layer_memory, **memory))


def failure(err: pytest.ExceptionInfo) -> list[dict[str, str]]:
    return err.value.failures


def test_speck_maps_whole_layers():
    spec = speck.target()
    assert spec.topology.mapping == "layer_per_core"
    assert list(spec.layer_memory.kernel_words) == KERNEL_BUDGET
    assert list(spec.layer_memory.neuron_words) == NEURON_BUDGET
    assert loihi2.target().topology.mapping == "neuron_slices"  # others keep slicing


def test_cnn_sinabs_fits_speck_one_layer_per_core_as_the_formulas_say():
    report = plan_partition(cnn(), speck.target()).report
    assert report["cores_used"] == 5 and report["chips_used"] == 1
    assert report["strategy"] == "layer_per_core"
    cores = []
    for name, (kernel, neuron) in BY_HAND.items():
        layer = report["layers"][name]
        assert (layer["words"]["kernel"], layer["words"]["neuron"]) == (kernel, neuron), name
        assert layer["slices"] == 1
        (chip, core), = layer["cores"]
        assert chip == 0
        assert kernel <= KERNEL_BUDGET[core] and neuron <= NEURON_BUDGET[core], name
        cores.append(core)
    assert len(set(cores)) == 5  # one layer per core
    assert report["layers"]["10"]["cores"][0][1] in (3, 4, 5, 6)
    assert report["layers"]["10"]["fits_cores"] == [3, 4, 5, 6]
    assert report["layers"]["10"]["binding"] == "kernel_memory_words"
    assert report["layers"]["3"]["binding"] == "none"
    # fan-out counted per layer: each sends to one layer, and to one core
    assert report["utilization"]["fan_out"]["max"] == 1
    # every neuron of layer k reaches layer k+1 at least once: 4096 + 4096 + 512 + 256 axons
    assert report["traffic"]["inter_core_spikes_per_step"] == 4096 + 4096 + 512 + 256


def test_cnn_sinabs_fits_if_and_only_if_one_core_holds_32ki_kernel_words():
    # only core 8 may hold layer '10', with exactly its 32768 words: it fits there
    exact = speck_with(kernel_words=(16 * K,) * 8 + (32 * K,))
    report = plan_partition(cnn(), exact).report
    assert report["layers"]["10"]["cores"] == [[0, 8]]
    # one word fewer and no core holds it: one CapacityError naming layer, limit, excess, fix
    short = speck_with(kernel_words=(16 * K,) * 8 + (32 * K - 1,))
    with pytest.raises(CapacityError) as err:
        plan_partition(cnn(), short)
    assert failure(err) == [{"layer": "10", "limit": "kernel_memory_words"}]
    text = str(err.value)
    assert "32768 kernel words" in text and "holds 32767" in text and "1 over" in text
    # the largest core now holds 32767: 8 * 2^(4 + 7) = 16384 fits, 8 * 2^(4 + 8) does not,
    # so 128 output channels; 7 * 2^(4 + 8) = 28672 fits, so 7 input channels
    assert "at most 128 output channels (has 256)" in text
    assert "at most 7 input channels (has 8)" in text


def test_more_layers_than_cores_names_the_count():
    spec = speck.target()
    four = speck_with(kernel_words=(32 * K,) * 4, neuron_words=(16 * K,) * 4,
                      bias_words=(K,) * 4).replace(
        topology=dataclasses.replace(spec.topology, cores_per_chip=4, core_mesh=(2, 2)))
    with pytest.raises(CapacityError) as err:
        plan_partition(cnn(), four)
    assert failure(err) == [{"layer": "1", "limit": "cores_per_chip"}]
    assert "5 layers" in str(err.value) and "4 cores" in str(err.value)
    assert "1 too many" in str(err.value)


def test_layers_competing_for_too_few_cores_are_named():
    # only core 0 holds 4096 neuron words, and layers '1' and '3' both need 4096
    tight = speck_with(kernel_words=(32 * K,) * 9, neuron_words=(4 * K,) + (K,) * 8)
    with pytest.raises(CapacityError) as err:
        plan_partition(cnn(), tight)
    text = str(err.value)
    assert "layers '1', '3' (2) fit only cores 0 (1)" in text and "1 too many" in text


def layered(destinations: int) -> Structure:
    """Layer 'a' feeding `destinations` layers, each a 1x1 conv of 4 -> 4 channels on 2x2."""
    shape = dict(c_in=4, c_out=4, kernel=(1, 1), out=(2, 2))
    readers = [f"r{i}" for i in range(destinations)]
    layers = {"a": LayerShape(("wa",), ("in",), **shape)}
    layers |= {r: LayerShape((f"w{r}",), ("a",), **shape) for r in readers}
    return Structure({g: 16 for g in layers}, {"in": 16}, [], layers)


def test_fan_out_is_per_layer_two_destinations_fit_three_do_not():
    assert plan_partition(layered(2), speck.target()).report["cores_used"] == 3
    with pytest.raises(CapacityError) as err:
        plan_partition(layered(3), speck.target())
    assert failure(err) == [{"layer": "a", "limit": "max_fan_out"}]
    assert "sends to 3 layers" in str(err.value) and "1 too many" in str(err.value)


def test_a_recurrent_layer_has_two_kernels_and_does_not_fit():
    with pytest.raises(CapacityError) as err:
        plan_partition(Structure.from_graph(ir.load(FIX / "braille_noDelay_bias_zero.nir")),
                       speck.target())
    assert failure(err) == [{"layer": "lif1.lif", "limit": "kernels_per_core"}]
    assert "'fc1', 'lif1.w_rec'" in str(err.value) and "recurrent" in str(err.value)


def test_without_layer_shapes_a_layer_per_core_target_says_so():
    s = cnn()
    with pytest.raises(NeuroccError) as err:
        plan_partition(Structure(s.groups, s.ports, s.patterns), speck.target())
    assert not isinstance(err.value, CapacityError)
    assert "neurocc fit" in str(err.value)


def test_fit_on_cnn_sinabs_says_speck_fits(capsys, tmp_path: Path):
    out = tmp_path / "fit.json"
    assert main(["fit", str(CNN), "--target", "speck", "--json", str(out)]) == 0
    rows = {r["target"]: r for r in json.loads(out.read_text())["targets"]}
    assert rows["speck"]["fits"] is True and rows["speck"]["cores"] == 5
    assert rows["speck"]["binding"]["10"] == "kernel_memory_words"
    assert "10: kernel_memory_words" in capsys.readouterr().out


# --- the TOML side -----------------------------------------------------------------------


def edited(tmp_path: Path, old: str, new: str) -> Path:
    text = speck.SPEC_PATH.read_text()
    assert old in text
    path = tmp_path / "chip.toml"
    path.write_text(text.replace(old, new, 1))
    return path


@pytest.mark.parametrize("old, new, field", [
    ('mapping = "layer_per_core"', 'mapping = "whole"', "mapping"),
    ('kernel_memory_formula = "c_in', 'kernel_memory_formula = "__import__(\'os\') + c_in',
     "kernel_memory_formula"),
    ('bias_memory_formula = "c_out if bias else 0"', 'bias_memory_formula = "c_out if"',
     "bias_memory_formula"),
    ("kernel_memory_words = [16384, 16384, 16384,", "kernel_memory_words = [16384, 16384,",
     "kernel_memory_words"),
    ("neuron_memory_words = [65536,", "neuron_memory_words = [-1,", "neuron_memory_words"),
])
def test_bad_layer_memory_names_field_and_file(tmp_path: Path, old: str, new: str, field: str):
    path = edited(tmp_path, old, new)
    with pytest.raises(TargetSpecError) as err:
        load_target(path)
    assert field in str(err.value) and str(path) in str(err.value)


def test_layer_per_core_needs_the_table(tmp_path: Path):
    path = edited(tmp_path, "\n[layer_memory]\n", "\n[not_layer_memory]\n")
    with pytest.raises(TargetSpecError, match=r"\[layer_memory\]"):
        load_target(path)


def test_formulas_are_data(tmp_path: Path):
    # a chip whose kernel memory is not padded to powers of two: 8 * 16 * 256 = 32768 for
    # layer '10' as before, but layer '3' takes 16 * 9 * 16 = 2304 words, not 4096
    path = edited(tmp_path, 'kernel_memory_formula = "c_in * 2**(ceil(log2(k_h * k_w)) + '
                  'ceil(log2(c_out)))"', 'kernel_memory_formula = "c_in * k_h * k_w * c_out"')
    report = plan_partition(cnn(), load_target(path)).report
    assert report["layers"]["3"]["words"]["kernel"] == 2304
    assert report["layers"]["10"]["words"]["kernel"] == 32768


def test_the_cores_do_not_depend_on_the_hash_seed():
    """The same network gets the same cores in every process: the matching walks layers
    and cores in order (networkx's Hopcroft-Karp walked sets, whose order follows
    PYTHONHASHSEED)."""
    import subprocess
    import sys

    script = ("import json; from neurocc import ir; from neurocc.backends import speck; "
              "from neurocc.compiler.partition import Structure, plan_partition; "
              f"s = Structure.from_graph(ir.load({str(CNN)!r})); "
              "r = plan_partition(s, speck.target()).report; "
              "print(json.dumps(r['layers'], sort_keys=True, default=str))")
    runs = {subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                           check=True, env={**os.environ, "PYTHONHASHSEED": seed}).stdout
            for seed in ("0", "1", "2", "3", "4", "5")}
    assert len(runs) == 1 and '"cores": [[0, ' in next(iter(runs))
