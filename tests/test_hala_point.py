"""Intel's Hala Point as data (backends/loihi2/hala_point.toml): a user-described system of
1152 Loihi 2 chips over Loihi 2's arithmetic, whose capacities reproduce Intel's announced
totals, and which takes a network that the 8-chip `loihi2` board cannot.

The announced figures (Intel, 17 April 2024; REFERENCE.md section 2) are written out here,
not read from the file: 1,152 chips, 140,544 neuromorphic cores, "1.15 billion neurons",
"128 billion synapses". The last two are given to three significant digits, so the true
totals lie within half a unit of the last digit: 1.145 to 1.155 billion neurons and
127.5 to 128.5 billion synapses. That is the tolerance asserted. It is tight enough to
tell core counts apart: Loihi 2's 128 cores a chip at 8192 neurons would give 1.208
billion, outside it; Hala Point's 122 give 1.151 billion.
"""

from __future__ import annotations

import math
import tomllib

import numpy as np

from neurocc.backends import get_target, loihi2
from neurocc.compiler.partition import (PartitionOptions, Pattern, Structure,
                                        place_and_route_plan, plan_partition)
from neurocc.ir import CapacityError

PATH = loihi2.SPEC_PATH.with_name("hala_point.toml")
NEURONS, NEURONS_HALF_DIGIT = 1.15e9, 0.005e9
SYNAPSES, SYNAPSES_HALF_DIGIT = 128e9, 0.5e9


def test_hala_point_is_loihi2_arithmetic_on_1152_chips() -> None:
    t = get_target("hala_point")
    assert t.name == "hala_point" and t.arithmetic == "loihi2"
    assert t.can_quantize and t.can_emulate
    assert t.formats == loihi2.target().formats        # the chips are Loihi 2s
    assert t.topology.max_chips == 1152
    assert math.prod(t.topology.chip_mesh) == 1152
    assert t.topology.cores_per_chip * 1152 == 140_544  # announced cores, exactly


def test_its_totals_reproduce_the_announced_neurons_and_synapses() -> None:
    t = get_target("hala_point")
    c, topo = t.cores, t.topology
    cores = topo.max_chips * topo.cores_per_chip
    neurons = cores * c.max_neurons
    synapses = cores * c.synapse_memory_bits // c.dense_weight_bits
    assert neurons == 1_151_336_448
    assert abs(neurons - NEURONS) <= NEURONS_HALF_DIGIT
    assert abs(synapses - SYNAPSES) <= SYNAPSES_HALF_DIGIT
    # the Kapoho Point-sized board's cores would not: 128 a chip gives 1.208 billion
    kapoho = get_target("loihi2")
    assert abs(1152 * kapoho.topology.cores_per_chip * kapoho.cores.max_neurons
               - NEURONS) > NEURONS_HALF_DIGIT


def test_the_files_system_table_is_the_announcement() -> None:
    system = tomllib.loads(PATH.read_text())["system"]
    assert (system["chips"], system["neuromorphic_cores"], system["x86_cores"],
            system["max_power_w"]) == (1152, 140_544, 2300, 2600)
    assert (system["neurons"], system["synapses"]) == (1_150_000_000, 128_000_000_000)
    assert system["boards"] * system["chips_per_board"] == 1152
    power = get_target("hala_point").energy["hala_point_max_power"]
    assert (power["value"], power["unit"], power["role"]) == (2600.0, "W", "calibration_target")


def big_network() -> Structure:
    """A 4096-neuron layer fed by 4096 inputs, feeding six layers of 40,000: every pattern full.

    Each neuron stores 4096 synapses of 8 bits = 32,768 bits; a Hala Point core holds
    7,285,968 bits, so at most 222 neurons a slice: the first layer 19 slices (4096 / 18 =
    227.6 would not fit), each of the six 181 (40,000 / 180 = 222.2 would not): 1105 slices,
    each its own core. Loihi2.toml's cores (7,500,000 bits: 228 neurons) need 18 + 6 x 176
    = 1074: more than the 1024 cores of its 8 chips.
    """
    groups = {"L0": 4096} | {f"L{i}": 40_000 for i in range(1, 7)}
    patterns = [Pattern.all_pairs("in->L0", "in", "L0", 4096, 4096)]
    patterns += [Pattern.all_pairs(f"L0->L{i}", "L0", f"L{i}", 40_000, 4096) for i in range(1, 7)]
    return Structure(groups, {"in": 4096}, patterns)


def test_a_network_too_big_for_a_board_fits_hala_point() -> None:
    structure = big_network()
    assert sum(p.nnz for p in structure.patterns) == 4096 * 4096 * 7 + 4096 * 40_000 * 6 - \
        4096 * 4096 * 6
    try:
        plan_partition(structure, get_target("loihi2"), PartitionOptions("greedy"))
    except CapacityError as e:
        assert "1074 cores" in str(e) and "at most 8 chips" in str(e)
    else:
        raise AssertionError("the 8-chip board took 1074 cores")
    t = get_target("hala_point")
    plan = plan_partition(structure, t, PartitionOptions("greedy"))
    layers = plan.report["layers"]
    assert layers["L0"]["slices"] == 19
    assert all(layers[f"L{i}"]["slices"] == 181 for i in range(1, 7))
    assert {layer["binding"] for layer in layers.values()} == {"synapse_memory_bits"}
    assert plan.report["cores_used"] == 1105
    assert plan.report["chips_used"] == math.ceil(1105 / 122) == 10
    routing = place_and_route_plan(plan, t)
    # every L0 slice reaches each of the 6 x 181 slices it feeds: one routing entry each
    assert routing["routing_entries"]["max_per_core"] == 6 * 181
    assert routing["routes"] == 19 * 6 * 181
    assert np.isclose(routing["spikes_per_step"], 4096 * 6 * 181)
