"""Partitioning must not change a single spike (emulator and Lava), and must respect the cores.

A tiny target (16 neurons per core, fan-in 64) forces every Braille layer to
split; the partitioned program's outputs equal the unpartitioned one's bit for
bit on the emulator and on Lava.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from neurocc import ir
from neurocc.backends import loihi2
from neurocc.backends.loihi2.bridge import run_on_lava
from neurocc.compiler.partition import PartitionOptions, partition, place_and_route
from neurocc.compiler.passes.quantize import quantize
from neurocc.ir.target import CoreLimits, Topology
from neurocc.simulators.emulator import Emulator
from neurocc.backends import get_target as _get_target  # noqa: E402

LOIHI2 = _get_target("loihi2")

FIX = Path(__file__).parent / "fixtures" / "nir-paper"

def limits(**kw: int) -> CoreLimits:
    base = dict(max_neurons=16, synapse_memory_bits=0, dense_weight_bits=8, sparse_entry_bits=24,
                max_fan_in=64, max_fan_out=0, routing_entries=0)
    return CoreLimits(**(base | kw))


TINY = loihi2.target().replace(cores=limits(), topology=Topology(4, (2, 2), 8, (2, 4)))


@pytest.mark.parametrize("name", ["braille_noDelay_bias_zero", "braille_noDelay_noBias_subtract"])
def test_partitioned_braille_is_bit_identical_on_emulator_and_lava(name: str) -> None:
    graph = ir.load(FIX / f"{name}.nir")
    program = quantize(graph, loihi2.target(), dt=1e-4)
    placed = place_and_route(partition(program, TINY, PartitionOptions()), TINY)
    assert len(placed.groups) > len(program.groups), "the tiny target must force splits"
    for group, where in placed.placement.items():
        assert placed.groups[group].size <= 16
        assert where["slice_of"] in program.groups
    x = np.random.default_rng(0).random((100, 4, 12)) < 0.1
    whole = Emulator(program, LOIHI2).run(x)
    split = Emulator(placed, LOIHI2).run(x)
    assert whole.outputs["output"].sum() > 0
    assert np.array_equal(whole.outputs["output"], split.outputs["output"])
    # every synapse placed exactly once: the stored non-zeros add up
    assert (sum(int(np.count_nonzero(b.weights.to_dense())) for b in placed.synapses)
            == sum(int(np.count_nonzero(b.weights.to_dense())) for b in program.synapses))
    lava = run_on_lava(placed, x)
    assert np.array_equal(lava.outputs["output"], whole.outputs["output"])


def test_a_neuron_whose_fan_in_exceeds_a_core_is_a_capacity_error() -> None:
    graph = ir.load(FIX / "braille_noDelay_bias_zero.nir")
    program = quantize(graph, loihi2.target(), dt=1e-4)
    narrow = TINY.replace(cores=limits(max_fan_in=5))
    with pytest.raises(ir.CapacityError) as err:
        partition(program, narrow, PartitionOptions())
    assert "fan" in str(err.value).lower() and "lif1.lif" in str(err.value)
