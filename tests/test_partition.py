"""Partition and place & route: not one spike changes, and every core keeps every limit.

* Bit-identity: the partitioned Program gives the emulator's outputs and every
  group's spikes (slices re-assembled) of the unpartitioned one, on both Braille
  models, cnn_sinabs and seeded random programs, and on Lava for Braille.
* A hypothesis property: random networks on random targets either raise
  CapacityError (always when a neuron alone, or the neuron count, cannot fit)
  or give a Program whose cores respect every limit, recounted here from the
  Program itself; every synapse is placed exactly once; every route joins its
  ends by X-then-Y steps.
* Errors, binding limits, strategies, routes by hand, and the command line.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neurocc import ir
from neurocc.backends import loihi2
from neurocc.backends.loihi2.bridge import run_on_lava
from neurocc.compiler.cli import main
from neurocc.compiler.partition import (PartitionOptions, Pattern, Routes, Structure,
                                        activity_from_spikes, link_loads, partition,
                                        place_and_route, plan_partition)
from neurocc.compiler.pipeline import compile_graph
from neurocc.ir import CapacityError, InputPort, NeuronGroup, OutputPort, Program, SynapseBlock
from neurocc.ir.target import CoreLimits, TargetSpec, Topology
from neurocc.simulators.emulator import Emulator
from neurocc.backends import get_target as _get_target  # noqa: E402

LOIHI2 = _get_target("loihi2")

FIX = Path(__file__).parent / "fixtures" / "nir-paper"
LOIHI2 = loihi2.target()
UNPLACED = LOIHI2.replace(cores=None, topology=None)


def target(topology: Topology | None = None, **limits: int) -> TargetSpec:
    base = dict(max_neurons=0, synapse_memory_bits=0, dense_weight_bits=8, sparse_entry_bits=24,
                max_fan_in=0, max_fan_out=0, routing_entries=0)
    return LOIHI2.replace(cores=CoreLimits(**(base | limits)),
                               topology=topology or Topology(4, (2, 2), 16, (4, 4)))


def reassemble(placed: Program, spikes: dict[str, np.ndarray], group: str) -> np.ndarray:
    parts = sorted((p["start"], g) for g, p in placed.placement.items() if p["slice_of"] == group)
    return np.concatenate([spikes[g] for _, g in parts], axis=-1)


def assert_same_spikes(program: Program, placed: Program, x: np.ndarray) -> int:
    whole = Emulator(program, LOIHI2).run(x)
    split = Emulator(placed, LOIHI2).run(x)
    for name in whole.outputs:
        assert np.array_equal(whole.outputs[name], split.outputs[name]), name
    for g in program.groups:
        assert np.array_equal(whole.spikes[g], reassemble(placed, split.spikes, g)), g
    return int(sum(int(s.sum()) for s in whole.spikes.values()))


# --- bit identity on the real models ---------------------------------------------------


@pytest.mark.parametrize("name", ["braille_noDelay_bias_zero", "braille_noDelay_noBias_subtract"])
def test_braille_split_everywhere_gives_the_same_spikes(name: str) -> None:
    program = compile_graph(ir.load(FIX / f"{name}.nir"), UNPLACED, 1e-4)
    tiny = target(max_neurons=5)
    placed = place_and_route(partition(program, tiny), tiny)
    slices = {g: sum(p["slice_of"] == g for p in placed.placement.values()) for g in program.groups}
    assert all(n >= 2 for n in slices.values()), slices   # every layer split
    assert max(g.size for g in placed.groups.values()) <= 5
    x = (np.random.default_rng(1).random((120, 3, 12)) < 0.3).astype(np.float32)
    assert assert_same_spikes(program, placed, x) > 100


def test_cnn_sinabs_split_gives_the_same_spikes() -> None:
    program = compile_graph(ir.load(FIX / "cnn_sinabs.nir"), UNPLACED, 1.0)
    small = target(Topology(16, (4, 4), 8, (4, 2)), max_neurons=1024,
                   synapse_memory_bits=1 << 21)
    placed = place_and_route(partition(program, small), small)
    layers = placed.info["resources"]["layers"]
    assert {g: layers[g]["slices"] for g in layers} == {"1": 5, "3": 13, "6": 6, "10": 2, "12": 1}
    assert layers["3"]["binding"] == "synapse_memory_bits"
    x = (np.random.default_rng(0).random((20, 2, 2, 34, 34)) < 0.2).astype(np.float32)
    assert assert_same_spikes(program, placed, x) > 1000


def test_braille_split_gives_the_same_spikes_on_lava() -> None:
    program = compile_graph(ir.load(FIX / "braille_noDelay_noBias_subtract.nir"), UNPLACED, 1e-4)
    tiny = target(max_neurons=16)
    placed = place_and_route(partition(program, tiny), tiny)
    assert len(placed.groups) == 4  # lif1.lif (40) in 3 slices, lif2 (7) whole
    x = (np.random.default_rng(2).random((60, 2, 12)) < 0.3).astype(np.float32)
    whole = run_on_lava(program, x)
    split = run_on_lava(placed, x)
    assert np.array_equal(whole.outputs["output"], split.outputs["output"])
    for g in program.groups:
        assert np.array_equal(whole.spikes[g], reassemble(placed, split.spikes, g)), g
    assert np.array_equal(Emulator(placed, LOIHI2).run(x).outputs["output"], split.outputs["output"])
    assert whole.outputs["output"].sum() > 0


# --- random programs -------------------------------------------------------------------


def random_program(rng: np.random.Generator, groups: int = 4, max_size: int = 24,
                   density: float = 0.3, negative_exp: bool = True) -> Program:
    """Any wiring (forward, backward, self), delays, per-neuron biases, a constant port."""
    sizes = rng.integers(1, max_size + 1, groups)
    names = [f"g{i}" for i in range(groups)]
    gs = {}
    for name, n in zip(names, sizes):
        params = {"du": np.array(rng.integers(0, 4096), np.int32),
                  "dv": np.array(rng.integers(0, 4097), np.int32),
                  "vth": np.array(rng.integers(20, 400), np.int32),
                  "bias_mant": rng.integers(-50, 80, n).astype(np.int32),
                  "bias_exp": np.array(rng.integers(0, 3), np.int32)}
        if rng.random() < 0.5:
            params["v0"] = rng.integers(-100, 100, n).astype(np.int32)
        gs[name] = NeuronGroup(name, "loihi2.cuba_lif", (int(n),), params, name)
    inputs = [InputPort("in", (int(rng.integers(1, max_size + 1)),)),
              InputPort("const@0", (1,), "const")]
    blocks = []
    sources = ["in", "const@0"] + names
    for t in names:
        for s in sources:
            if s not in ("in",) and rng.random() > 0.5:
                continue
            n_src = next(p.size for p in inputs if p.name == s) if s in ("in", "const@0") \
                else gs[s].size
            exp = int(rng.integers(-2 if negative_exp else 0, 3))
            mode = str(rng.choice(["mixed", "mixed", "excitatory", "inhibitory"]))
            w = rng.integers(-127, 128, (gs[t].size, n_src))
            if mode == "excitatory":
                w = np.abs(w)
            elif mode == "inhibitory":
                w = -np.abs(w)
            w = w * (rng.random(w.shape) < density)
            if exp < 0:  # weights the shift divides exactly, so splitting by source is exact
                w = (w >> -exp) << -exp
            w = (w >> 1) << 1  # 8-bit mixed weights lose their lowest bit on the chip
            blocks.append(SynapseBlock(f"{s}->{t}", s, t, w.astype(np.int32), exp, 8, mode,
                                       int(rng.integers(0, 3))))
    outputs = [OutputPort("out", names[-1], (gs[names[-1]].size,))]
    program = Program("loihi2", gs, blocks, inputs, outputs, {"dt": 1.0})
    program.check()
    return program


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_programs_split_give_the_same_spikes(seed: int) -> None:
    rng = np.random.default_rng(seed)
    program = random_program(rng)
    tiny = target(max_neurons=int(rng.integers(2, 6)), max_fan_in=60)
    placed = place_and_route(partition(program, tiny), tiny)
    assert len(placed.groups) > len(program.groups)
    x = (rng.random((40, 2, program.port("in").size)) < 0.4).astype(np.float32)
    assert assert_same_spikes(program, placed, x) > 0


# --- the property: limits, synapses placed once, routes ---------------------------------

SPLIT = re.compile(r"^(.*)@(\d+)>(\d+)$")


def recount(original: Program, placed: Program, t: TargetSpec) -> None:
    """Every per-core figure recounted from the placed Program, against every limit."""
    c = t.cores
    where = {g: (p["chip"], p["core"]) for g, p in placed.placement.items()}
    origin = {g: (p["slice_of"], p["start"]) for g, p in placed.placement.items()}
    neurons: dict = {}
    axons: dict = {}
    memory: dict = {}
    fan_out: dict = {}
    routes: set = set()
    per_store: dict = {}
    for g, grp in placed.groups.items():
        neurons[where[g]] = neurons.get(where[g], 0) + grp.size
    for b in placed.synapses:
        core = where[b.target]
        cols = np.flatnonzero(b.weights.to_dense().any(axis=0))
        src, off = origin.get(b.source, (b.source, 0))
        axons.setdefault(core, set()).update((src, off + int(i)) for i in cols)
        m = SPLIT.match(b.name)
        base = m.group(1) if m else b.name
        key = (b.target, base)
        entry = per_store.setdefault(key, [0, set(), b.storage, placed.groups[b.target].size])
        entry[0] += int(np.count_nonzero(b.weights.to_dense()))
        entry[1].update((src, off + int(i)) for i in cols)
        assert entry[2] == b.storage
        if b.source in placed.groups:
            fan_out.setdefault(where[b.source], set()).add(core)
            routes.add((b.source, core))
    for (tgt, _), (nnz, ax, enc, rows) in per_store.items():
        bits = rows * len(ax) * c.dense_weight_bits if enc == "dense" else nnz * c.sparse_entry_bits
        memory[where[tgt]] = memory.get(where[tgt], 0) + bits
    entries: dict = {}
    for s, _ in routes:
        entries[where[s]] = entries.get(where[s], 0) + 1
    for core in neurons:
        for value, limit in ((neurons[core], c.max_neurons),
                             (memory.get(core, 0), c.synapse_memory_bits),
                             (len(axons.get(core, ())), c.max_fan_in),
                             (len(fan_out.get(core, ())), c.max_fan_out),
                             (entries.get(core, 0), c.routing_entries)):
            assert not limit or value <= limit, (core, value, limit)
    topo = t.topology
    assert len({h for h, _ in neurons}) <= topo.max_chips
    assert all(0 <= k < topo.cores_per_chip for _, k in neurons)
    # every synapse exactly once: the blocks tile each original matrix without overlap
    for b in original.synapses:
        rebuilt = np.zeros_like(b.weights.to_dense())
        covered = np.zeros(b.weights.to_dense().shape, np.int32)
        for p in placed.synapses:
            m = SPLIT.match(p.name)
            if (m.group(1) if m else p.name) != b.name:
                continue
            t0 = placed.placement[p.target]["start"]
            s0 = placed.placement[p.source]["start"] if p.source in placed.placement else 0
            h, w = p.weights.to_dense().shape
            rebuilt[t0:t0 + h, s0:s0 + w] += p.weights.to_dense()
            covered[t0:t0 + h, s0:s0 + w] += p.weights.to_dense() != 0
        assert np.array_equal(rebuilt, b.weights.to_dense()), b.name
        assert covered.max(initial=0) <= 1
    # every route joins its source's core to its destination core, X first then Y
    mx, my = topo.core_mesh

    def xy(chip: int, core: int) -> list[int]:
        cx = topo.chip_mesh[0]
        return [(chip % cx) * mx + core % mx, (chip // cx) * my + core // mx]

    seen = set()
    for r in placed.routes:
        path = r["path"]
        assert path[0] == xy(*where[r["source"]]) and path[-1] == xy(r["chip"], r["core"])
        steps = [(b[0] - a[0], b[1] - a[1]) for a, b in zip(path, path[1:])]
        assert all(abs(dx) + abs(dy) == 1 for dx, dy in steps)
        assert steps == sorted(steps, key=lambda s: s[0] == 0)  # all X moves before any Y move
        assert len(steps) == r["hops"]
        seen.add((r["source"], (r["chip"], r["core"])))
    assert seen == routes


def infeasible(program: Program, t: TargetSpec) -> bool:
    """What no partition can fix: a neuron alone over a limit, or too few cores in all."""
    c, topo = t.cores, t.topology
    fan: dict = {}
    mem: dict = {}
    per_bit = min(b for b in (c.dense_weight_bits, c.sparse_entry_bits) if b)
    for b in program.synapses:
        nz = b.weights.to_dense() != 0
        rows = fan.setdefault(b.target, {})
        for i in range(nz.shape[0]):
            rows.setdefault(i, set()).update((b.source, int(j)) for j in np.flatnonzero(nz[i]))
        mem[b.target] = mem.get(b.target, 0) + nz.sum(axis=1) * per_bit
    if c.max_fan_in and any(len(s) > c.max_fan_in for r in fan.values() for s in r.values()):
        return True
    if c.synapse_memory_bits and any(np.max(m) > c.synapse_memory_bits for m in mem.values()):
        return True
    total = sum(g.size for g in program.groups.values())
    cores = topo.cores_per_chip * topo.max_chips
    return bool(c.max_neurons) and math.ceil(total / c.max_neurons) > cores


def mesh(n: int) -> tuple[int, int]:
    x = math.ceil(math.sqrt(n))
    return x, math.ceil(n / x)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31 - 1),
       neurons=st.sampled_from([0, 1, 2, 3, 5, 8, 13]),
       memory=st.sampled_from([0, 600, 2000, 8000, 30000]),
       fan_in=st.sampled_from([0, 8, 16, 40, 80]),
       fan_out=st.sampled_from([0, 0, 3, 8, 16]),
       entries=st.sampled_from([0, 0, 4, 12, 24]),
       dense_bits=st.integers(1, 9), sparse_bits=st.integers(8, 24),
       cores_per_chip=st.integers(1, 8), max_chips=st.integers(1, 12))
def test_any_network_on_any_target_fits_every_limit_or_raises(
        seed, neurons, memory, fan_in, fan_out, entries, dense_bits, sparse_bits,
        cores_per_chip, max_chips) -> None:
    rng = np.random.default_rng(seed)
    program = random_program(rng, groups=int(rng.integers(1, 5)), max_size=20,
                             density=float(rng.uniform(0.05, 0.6)), negative_exp=False)
    cm = mesh(max_chips)
    t = target(Topology(cores_per_chip, mesh(cores_per_chip), max_chips, cm),
               max_neurons=neurons, synapse_memory_bits=memory, dense_weight_bits=dense_bits,
               sparse_entry_bits=sparse_bits, max_fan_in=fan_in, max_fan_out=fan_out,
               routing_entries=entries)
    try:
        placed = place_and_route(partition(program, t, PartitionOptions(seed=seed % 7)), t)
    except CapacityError as e:
        assert str(e)
        if not infeasible(program, t):  # a reason only the assignment could find
            assert re.search(r"chips|fan_out|fan-out|routing", str(e)), str(e)
        return
    assert not infeasible(program, t)
    recount(program, placed, t)


# --- errors and what binds ---------------------------------------------------------------


def chain(sizes: list[int], density: float = 1.0, seed: int = 0) -> Program:
    rng = np.random.default_rng(seed)
    groups = {f"L{i}": NeuronGroup(f"L{i}", "loihi2.cuba_lif", (n,),
                                   {"du": np.array(0), "dv": np.array(0), "vth": np.array(10)})
              for i, n in enumerate(sizes[1:])}
    blocks = []
    src = "in"
    for i, n in enumerate(sizes[1:]):
        w = (rng.random((n, sizes[i])) < density).astype(np.int32) * 2
        blocks.append(SynapseBlock(f"{src}->L{i}", src, f"L{i}", w))
        src = f"L{i}"
    return Program("loihi2", groups, blocks, [InputPort("in", (sizes[0],))],
                   [OutputPort("out", src, (sizes[-1],))], {"dt": 1.0})


def test_each_limit_binds_and_is_recorded() -> None:
    p = chain([100, 64, 64])
    # neurons: 64 at 16 per core -> 4 slices
    r = partition(p, target(max_neurons=16)).info["resources"]["layers"]
    assert (r["L0"]["slices"], r["L0"]["binding"]) == (4, "max_neurons")
    # memory: a neuron holds 100 dense 8-bit weights = 800 bits; 3000 bits -> 3 per slice
    r = partition(p, target(synapse_memory_bits=3000)).info["resources"]["layers"]
    assert (r["L0"]["slice_size"], r["L0"]["binding"]) == (3, "synapse_memory_bits")
    # fan-in: a diagonal block gives a slice of k neurons k distinct sources
    eye = np.eye(64, 100, dtype=np.int32) * 2
    banded = dataclasses.replace(p, synapses=[dataclasses.replace(p.synapses[0], weights=eye),
                                              p.synapses[1]])
    with pytest.raises(CapacityError, match="layer 'L1'"):  # L1's 64 inputs each: no cut helps
        partition(banded, target(max_fan_in=10))
    r = partition(banded, target(max_fan_in=64)).info["resources"]["layers"]
    assert (r["L0"]["slices"], r["L1"]["slices"]) == (1, 1)
    r = partition(banded, target(max_fan_in=64, max_neurons=60)).info["resources"]["layers"]
    assert r["L0"]["binding"] == "max_neurons"
    both = dataclasses.replace(banded, synapses=[banded.synapses[0], dataclasses.replace(
        p.synapses[1], weights=np.eye(64, dtype=np.int32) * 2)])
    r = partition(both, target(max_fan_in=10)).info["resources"]["layers"]
    assert all(r[g]["binding"] == "max_fan_in" and r[g]["slices"] == 7 for g in ("L0", "L1"))
    assert r["L0"]["why"] == "6 slices would need 11 fan in on a core (limit 10)"


def test_a_neuron_over_memory_or_fan_in_is_one_error_naming_every_layer() -> None:
    p = chain([100, 64, 64])
    with pytest.raises(CapacityError) as err:
        partition(p, target(max_fan_in=50, synapse_memory_bits=500))
    text = str(err.value)
    for needle in ("layer 'L0'", "layer 'L1'", "fan-in of 100", "fan-in of 64",
                   "max_fan_in", "800 bits", "synapse_memory_bits"):
        assert needle in text, needle
    assert {(f["layer"], f["limit"]) for f in err.value.failures} >= {
        ("L0", "max_fan_in"), ("L1", "max_fan_in"), ("L0", "synapse_memory_bits")}


def test_too_many_chips_is_one_error_with_the_smallest_changes() -> None:
    p = chain([100, 64, 64])
    t = target(Topology(2, (2, 1), 2, (2, 1)), max_neurons=8)  # needs 16 cores, has 4
    with pytest.raises(CapacityError) as err:
        partition(p, t)
    text = str(err.value)
    assert "needs 16 cores on 8 chips" in text and "at most 2 chips = 4 cores" in text
    assert "12 cores too many" in text and "max_chips = 8" in text
    assert err.value.failures[0]["limit"] == "max_chips"


def test_weight_bits_are_suggested_when_memory_sets_the_core_count() -> None:
    p = chain([100, 64, 64])
    t = target(Topology(4, (2, 2), 2, (2, 1)), synapse_memory_bits=3200)  # 4 neurons at 8 bits
    with pytest.raises(CapacityError) as err:
        partition(p, t)
    # 800 and 512 bits per neuron: 16 + 11 cores; at 2-bit weights 16 and 25 neurons per
    # core, 4 + 3 cores, fit the 8; at 3 bits 7 + 4 do not
    assert "weights of 2 bits (L0 is bound by synapse memory): about 7 cores" in str(err.value)


def test_a_negative_exponent_block_is_not_split_by_source_inexactly() -> None:
    p = chain([10, 8, 8])
    odd = dataclasses.replace(p.synapses[1], weights=np.full((8, 8), 3, np.int32), weight_exp=-1)
    p = dataclasses.replace(p, synapses=[p.synapses[0], odd])
    with pytest.raises(CapacityError, match="weight_exp -1"):
        partition(p, target(max_neurons=4))
    partition(p, target(max_neurons=8))  # the source stays whole: allowed


def test_groups_that_fit_keep_their_names_and_share_a_core() -> None:
    program = compile_graph(ir.load(FIX / "braille_noDelay_bias_zero.nir"), UNPLACED, 1e-4)
    placed = partition(program, LOIHI2)
    assert list(placed.groups) == list(program.groups)
    assert [b.name for b in placed.synapses] == [b.name for b in program.synapses]
    assert {(p["chip"], p["core"]) for p in placed.placement.values()} == {(0, 0)}
    assert placed.outputs[0].parts == ("lif2",) and placed.outputs[0].group == "lif2"


# --- assignment: the graph partitioner against greedy filling ----------------------------


def clustered(pops: int = 16, size: int = 8, seed: int = 0, shuffled: bool = True) -> Structure:
    """Populations on a ring, each talking to itself and its two neighbours, listed shuffled."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(pops) if shuffled else np.arange(pops)
    groups = {f"p{i}": size for i in order}
    patterns = []
    for i in range(pops):
        for j in (i, (i + 1) % pops, (i - 1) % pops):
            cols, rows = np.nonzero(rng.random((size, size)).T < 0.5)
            patterns.append(Pattern(f"p{j}->p{i}", f"p{j}", f"p{i}", cols, rows))
    return Structure(groups, {}, patterns)


def test_graph_assignment_cuts_less_inter_chip_traffic_than_greedy_on_a_ring() -> None:
    t = target(Topology(4, (2, 2), 8, (4, 2)), max_neurons=8)
    greedy = plan_partition(clustered(), t, PartitionOptions(strategy="greedy")).report
    graph = plan_partition(clustered(), t, PartitionOptions(strategy="graph")).report
    auto = plan_partition(clustered(), t).report
    g, m = (r["traffic"]["inter_chip_spikes_per_step"] for r in (greedy, graph))
    assert m <= 0.5 * g, (m, g)
    assert auto["strategy"] == "graph" and auto["chips_used"] == graph["chips_used"] == 4
    assert set(auto["strategies"]) == {"greedy", "graph"}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_graph_assignment_is_never_worse_than_greedy_in_ring_order(seed: int) -> None:
    # listed in ring order, program-order filling is already near the best cut; the
    # graph strategy refines both METIS's and greedy's chips by improving moves only
    ring = clustered(pops=40, seed=seed, shuffled=False)
    t = target(Topology(4, (2, 2), 16, (4, 4)), max_neurons=8)
    greedy = plan_partition(ring, t, PartitionOptions(strategy="greedy")).report
    graph = plan_partition(ring, t, PartitionOptions(strategy="graph")).report
    g = greedy["traffic"]["inter_chip_spikes_per_step"]
    m = graph["traffic"]["inter_chip_spikes_per_step"]
    assert greedy["chips_used"] == 10 and g > 0
    assert m <= g, (m, g)
    assert "refinement" in graph["strategies"]["graph"]["origin"]


def test_activity_weighs_the_traffic() -> None:
    rates = activity_from_spikes({"spikes.a@0": np.ones((4, 1, 2)),
                                  "spikes.a@1": np.zeros((4, 1, 2)),
                                  "b": np.zeros((4, 1, 3))})
    assert rates == {"a": 0.5, "b": 0.0}
    p = chain([4, 6, 6])
    t = target(max_neurons=3)
    quiet = partition(p, t, PartitionOptions(activity={"L0": 0.25})).info["resources"]
    loud = partition(p, t).info["resources"]
    total = lambda r: r["traffic"]["total_spikes_per_step"]  # noqa: E731
    assert total(quiet) == 0.25 * total(loud)
    assert quiet["rates"]["per_group"] == {"L0": 0.25, "L1": 0.25}  # unnamed: mean of the named


# --- place and route by hand ----------------------------------------------------------------


def test_xy_routes_link_loads_and_the_busiest_link() -> None:
    t = Topology(4, (2, 2), 4, (2, 2))
    # core 0 of chip 0 at (0,0) -> core 3 of chip 3 at (3,3); core 1 (1,0) -> core 2 of chip 0 (0,1)
    routes = Routes(np.array([0, 1]), np.array([0, 1]), np.array([15, 2]), np.array([2.0, 5.0]))
    loads = link_loads(routes, t)
    assert loads["east"][0].tolist() == [2.0, 2.0, 2.0, 0.0]     # (0,0)->(3,0) along y=0
    assert loads["north"][3].tolist() == [2.0, 2.0, 2.0, 0.0]    # (3,0)->(3,3) along x=3
    assert loads["west"][0].tolist() == [5.0, 0.0, 0.0, 0.0]     # (1,0)->(0,0)
    assert loads["north"][0].tolist() == [5.0, 0.0, 0.0, 0.0]    # (0,0)->(0,1)


def test_placed_program_routes_and_profile_read_them() -> None:
    from neurocc.simulators.profile import read_routes

    p = chain([10, 16, 16, 16])
    t = target(Topology(2, (2, 1), 8, (4, 2)), max_neurons=8)
    placed = place_and_route(partition(p, t), t)
    routing = placed.info["routing"]
    busiest = routing["busiest_link"]
    assert busiest["load"] == max(link["load"] for link in routing["links"])
    assert routing["routes"] == len(placed.routes) > 0
    routes, notes = read_routes(placed)
    assert not notes and len(routes) == routing["routes"]
    assert sum(r["hops"] for r in routes) == sum(r["hops"] for r in placed.routes)


def test_routing_tables_that_overflow_are_refused() -> None:
    p = chain([10, 16, 16])
    with pytest.raises(CapacityError, match="routing_entries|max_fan_out"):
        partition(p, target(max_neurons=2, routing_entries=3))


# --- the command line ------------------------------------------------------------------------


def test_fit_prints_one_row_per_target(capsys, tmp_path: Path) -> None:
    out = tmp_path / "fit.json"
    code = main(["fit", str(FIX / "braille_noDelay_bias_zero.nir"), "--target",
                 "loihi2,xylo_audio2,spinnaker2", "--dt", "1e-4", "--json", str(out)])
    text = capsys.readouterr().out
    assert code == 0
    rows = {r["target"]: r for r in json.loads(out.read_text())["targets"]}
    assert rows["loihi2"]["fits"] and rows["loihi2"]["cores"] == 1
    assert rows["loihi2"]["basis"] == "quantized program"
    # 12 inputs <= 16, 38 hidden <= 1000, 7 outputs <= 8: Xylo's pools hold it, one core
    assert rows["xylo_audio2"]["fits"] and rows["xylo_audio2"]["cores"] == 1
    assert rows["spinnaker2"]["basis"].startswith("float graph")
    assert re.search(r"│ xylo_audio2 │ yes\s+│\s+1 │\s+1 │", text)


def test_compile_prints_and_reports_resources(capsys, tmp_path: Path) -> None:
    toml = tmp_path / "tiny.toml"
    text = Path(LOIHI2.path).read_text()
    text = re.sub(r"(?m)^max_neurons = \d+", "max_neurons = 16", text)
    toml.write_text(text)
    report = tmp_path / "r.json"
    code = main(["compile", str(FIX / "braille_noDelay_bias_zero.nir"), "--target", str(toml),
                 "--dt", "1e-4", "-o", str(tmp_path / "art"), "--report", str(report)])
    out = capsys.readouterr().out
    assert code == 0
    assert "resources on loihi2: 4 cores" in out and "max_neurons" in out
    assert "busiest link" in out
    res = json.loads(report.read_text())["resources"]
    assert res["layers"]["lif1.lif"]["slices"] == 3 and res["cores_used"] == 4
    assert json.loads(report.read_text())["routing"]["routes"] > 0
