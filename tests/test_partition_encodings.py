"""Partition, place & route read every synapse block through its encoding, never a matrix.

* A convolution-fed layer split across cores is cut on channel boundaries where
  as many slices fit (its pieces stay ``Conv``), else evenly (its pieces are
  ``Sparse``), and never at the cost of a core; either way the pieces put back
  together are the original block.
* The pattern is what counts: a program of Dense, Sparse and Conv blocks gets
  the resource report of the same program written all Dense, and nothing calls
  ``to_dense`` on a Sparse or Conv block; the profile of the pieces counts
  synaptic operations from their fan-out and a convolution's kernel once.
* A full pattern (every source to every target, nothing listed) gives the
  slices, the report and the routes of the same pattern listed pair by pair.
* A graph of Affine / Linear connections is read node by node into the
  Structure that lowering gives; a NeuronSpark-shaped model, reduced (2 blocks,
  d = 256), goes from a streamed NIR file to placed routes through full
  patterns, as its listed pairs would.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from neurocc import ir
from neurocc.backends import get_target
from neurocc.compiler.partition import (PartitionOptions, Pattern, Structure, partition,
                                        place_and_route, place_and_route_plan, plan_partition)
from neurocc.compiler.partition.block_cuts import pieces
from neurocc.ir import InputPort, NeuronGroup, OutputPort, Program, SynapseBlock
from neurocc.ir.block_conv import ConvGeometry
from neurocc.ir.blocks import Conv, Dense, Sparse
from neurocc.ir.target import CoreLimits, Topology

LOIHI2 = get_target("loihi2")
RNG = np.random.default_rng(12)


def target(topology: Topology | None = None, **limits: int):
    base = dict(max_neurons=0, synapse_memory_bits=0, dense_weight_bits=8, sparse_entry_bits=24,
                max_fan_in=0, max_fan_out=0, routing_entries=0)
    return LOIHI2.replace(cores=CoreLimits(**(base | limits)),
                          topology=topology or Topology(4, (2, 2), 16, (4, 4)))


def lif(name: str, shape: tuple[int, ...]) -> NeuronGroup:
    return NeuronGroup(name, "loihi2.cuba_lif", shape,
                       {"du": np.array(0), "dv": np.array(0), "vth": np.array(10)})


def conv_program(extra: int = 0, c: int = 30) -> Program:
    """in (2, 8, 8) -conv 3x3-> A (5, 8, 8) -conv 3x3 stride 2-> B (3, 4, 4) -sparse-> C (c),
    and C -dense-> C; `extra` neurons more in a group D after A, fed by C."""
    rng = np.random.default_rng(3)
    k1 = rng.integers(-8, 8, (5, 2, 3, 3)) * 2
    k2 = rng.integers(-8, 8, (3, 5, 3, 3)) * 2
    c1 = Conv(k1, ConvGeometry((2, 8, 8), (5, 8, 8), (1, 1), (1, 1), (1, 1)))
    c2 = Conv(k2, ConvGeometry((5, 8, 8), (3, 4, 4), (2, 2), (1, 1), (1, 1)))
    s = Sparse.from_dense(rng.integers(-5, 6, (c, 48)) * (rng.random((c, 48)) < 0.2) * 2)
    d = rng.integers(-5, 6, (c, c)) * (rng.random((c, c)) < 0.5) * 2
    groups = {"A": lif("A", (5, 8, 8))}
    blocks = [SynapseBlock("in->A", "in", "A", c1)]
    if extra:
        groups["D"] = lif("D", (extra,))
        blocks.append(SynapseBlock("C->D", "C", "D", Dense(np.full((extra, c), 2))))
    groups |= {"B": lif("B", (3, 4, 4)), "C": lif("C", (c,))}
    blocks += [SynapseBlock("A->B", "A", "B", c2),
               SynapseBlock("B->C", "B", "C", s, storage="sparse"),
               SynapseBlock("C->C", "C", "C", Dense(d))]
    p = Program("loihi2", groups, blocks, [InputPort("in", (2, 8, 8))],
                [OutputPort("out", "C", (c,))], {"dt": 1.0})
    p.check()
    return p


def reassembled(original: Program, placed: Program, block: str) -> np.ndarray:
    """The pieces of `block` put back at their slices' offsets."""
    b = next(x for x in original.synapses if x.name == block)
    out = np.zeros(b.weights.shape, np.int64)
    for piece in placed.synapses:
        if piece.name != block and piece.name.rpartition("@")[0] != block:
            continue
        t = placed.placement[piece.target]["start"]
        s = placed.placement[piece.source]["start"] if piece.source in placed.placement else 0
        n_t, n_s = piece.weights.shape
        out[t:t + n_t, s:s + n_s] += piece.weights.to_dense()
    return out


def test_a_conv_fed_layer_split_on_channels_keeps_conv_blocks() -> None:
    program = conv_program()
    t = target(max_neurons=200)
    placed = place_and_route(partition(program, t), t)
    # A: 5 channels of 8 x 8 = 320 neurons, 200 a core -> 2 slices; evenly 160 + 160 would
    # split channel 2, on channel boundaries 2 + 3 channels = 128 + 192 neurons fit
    assert [(placed.placement[g]["start"], placed.placement[g]["stop"])
            for g in ("A@0", "A@1")] == [(0, 128), (128, 320)]
    kinds = {b.name: b.weights.kind for b in placed.synapses}
    assert kinds == {"in->A@0>0": "conv", "in->A@0>1": "conv", "A->B@0>0": "conv",
                     "A->B@1>0": "conv", "B->C": "sparse", "C->C": "dense"}
    # the second slice's kernel is channels 2..4 of the first convolution's
    piece = next(b for b in placed.synapses if b.name == "in->A@0>1").weights
    assert piece.geometry.out_shape == (3, 8, 8)
    assert np.array_equal(piece.kernel, program.synapses[0].weights.kernel[2:])
    for b in program.synapses:
        assert np.array_equal(reassembled(program, placed, b.name), b.weights.to_dense()), b.name


def test_a_conv_fed_layer_that_channels_cannot_cut_gets_sparse_pieces() -> None:
    program = conv_program()
    t = target(max_neurons=100)
    placed = place_and_route(partition(program, t), t)
    # 4 slices of 80: on channel boundaries one slice would take 2 channels = 128 > 100
    assert [placed.placement[f"A@{j}"]["start"] for j in range(4)] == [0, 80, 160, 240]
    kinds = {b.name: b.weights.kind for b in placed.synapses if "->A" in b.name or "A->" in b.name}
    assert set(kinds.values()) == {"sparse"} and len(kinds) == 8
    for b in program.synapses:
        assert np.array_equal(reassembled(program, placed, b.name), b.weights.to_dense()), b.name


def test_cutting_on_channels_never_costs_a_core() -> None:
    # groups A (320), D (40), B (48), C (150), 200 neurons a core, filled in that order:
    # evenly A@0 160 | A@1 160 + D 40 | B + C 198: 3 cores; on channel boundaries
    # A@0 128 | A@1 192 | D + B 88 | C: 4
    program = conv_program(extra=40, c=150)
    t = target(max_neurons=200)
    plan = plan_partition(Structure.from_program(program), t, PartitionOptions("greedy"))
    sg = plan.slices
    assert list(zip(sg.start[:2].tolist(), sg.stop[:2].tolist())) == [(0, 160), (160, 320)]
    assert plan.report["cores_used"] == 3
    assert sg.aligned == ()
    # with room for D beside the larger slice, the channel cut is kept
    t = target(max_neurons=240)
    plan = plan_partition(Structure.from_program(program), t, PartitionOptions("greedy"))
    assert plan.slices.aligned == ("A",) and plan.report["cores_used"] == 3


def all_dense(program: Program) -> Program:
    return dataclasses.replace(program, synapses=[
        dataclasses.replace(b, weights=Dense(b.weights.to_dense())) for b in program.synapses])


@pytest.mark.parametrize("limits", [dict(max_neurons=160),
                                    dict(max_neurons=400, synapse_memory_bits=20000),
                                    dict(max_neurons=400, max_fan_in=120)])
def test_the_pattern_not_the_encoding_sets_the_report(limits) -> None:
    program = conv_program()
    t = target(Topology(16, (4, 4), 16, (4, 4)), **limits)
    mixed, dense = Structure.from_program(program), Structure.from_program(all_dense(program))
    for p, q in zip(mixed.patterns, dense.patterns):
        p, q = p.listed(), q.listed()
        assert np.array_equal(p.cols, q.cols) and np.array_equal(p.rows, q.rows), p.name
    a = partition(program, t).info["resources"]
    b = partition(all_dense(program), t).info["resources"]
    assert a == b
    assert a["layers"]["A"]["slices"] >= 2     # the convolution-fed layer is cut


def test_partition_and_routes_never_expand_a_sparse_or_conv_block(monkeypatch) -> None:
    def refuse(self, *args):
        raise AssertionError(f"{type(self).__name__}.to_dense called")

    program = conv_program()
    monkeypatch.setattr(Sparse, "to_dense", refuse)
    monkeypatch.setattr(Conv, "to_dense", refuse)
    for limits in (dict(max_neurons=200), dict(max_neurons=100, max_fan_in=120)):
        t = target(Topology(16, (4, 4), 16, (4, 4)), **limits)
        placed = place_and_route(partition(program, t), t)
        assert placed.routes


def test_profile_reads_the_pieces_through_their_encodings() -> None:
    from neurocc.simulators import profile as P
    from neurocc.simulators.emulator import Emulator

    program = conv_program()
    t = target(max_neurons=200)
    placed = place_and_route(partition(program, t), t)
    x = (np.random.default_rng(0).random((30, 2, 2, 8, 8)) < 0.3).astype(np.float32)
    result = Emulator(placed, t).run(x)
    prof = P.profile(placed, result, x, t, t.topology)
    # synaptic ops: every spike times its non-zero fan-out, equal to the emulator's events
    events = sum(int(np.asarray(v).sum()) for v in result.counters["synaptic_events"].values())
    assert prof.network.synops == events > 0
    assert not [n for n in prof.notes if "synaptic ops counted" in n]
    # a convolution piece stores its kernel once: 2 and 3 output channels x 2 input
    # channels x 3 x 3 taps x 8 bits, not its 128 x 128 and 192 x 128 matrices
    layer = prof.layers["A"]
    assert layer.weight_bits == (2 + 3) * 2 * 9 * 8


@pytest.mark.parametrize("seed", range(6))
def test_sparse_pieces_are_rows_then_cols(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_t, n_s = (int(x) for x in rng.integers(1, 40, 2))
    w = rng.integers(-3, 4, (n_t, n_s)) * (rng.random((n_t, n_s)) < 0.3)
    s = Sparse.from_dense(w)
    s = Sparse(s.indptr, s.indices, np.where(rng.random(s.data.size) < 0.2, 0, s.data),
               s.shape)   # stored zeros are kept, as rows() and cols() keep them
    t_bounds = np.unique(np.r_[0, rng.integers(0, n_t + 1, 3), n_t])
    s_bounds = np.unique(np.r_[0, rng.integers(0, n_s + 1, 3), n_s])
    got = {(j, i): piece for j, i, piece in pieces(s, t_bounds, s_bounds)}
    for j in range(t_bounds.size - 1):
        for i in range(s_bounds.size - 1):
            want = s.rows(t_bounds[j], t_bounds[j + 1]).cols(s_bounds[i], s_bounds[i + 1])
            if (j, i) not in got:       # left out only when it stores nothing
                assert want.data.size == 0
                continue
            assert got[(j, i)] == want and got[(j, i)].indices.dtype == s.indices.dtype


# --- full patterns ------------------------------------------------------------------


def full_network() -> Structure:
    """A port and two groups: full patterns (one recurrent), a listed one from the same
    source as a full one (their union is full), and a listed one alone."""
    n = {"a": 90, "b": 70, "c": 50}
    sparse = lambda n_t, n_s, d: Pattern.of_weights(  # noqa: E731
        "", "", "", Sparse.from_dense((RNG.random((n_t, n_s)) < d).astype(np.int32)))
    pats = [Pattern.all_pairs("in->a", "in", "a", n["a"], 30),
            Pattern.all_pairs("a->b", "a", "b", n["b"], n["a"]),
            dataclasses.replace(sparse(n["b"], n["a"], 0.1), name="a->b@1", source="a",
                                target="b"),
            Pattern.all_pairs("b->b", "b", "b", n["b"], n["b"]),
            dataclasses.replace(sparse(n["c"], n["b"], 0.2), name="b->c", source="b",
                                target="c"),
            Pattern.all_pairs("a->c", "a", "c", n["c"], n["a"])]
    return Structure(n, {"in": 30}, pats, outputs=("c",))


@pytest.mark.parametrize("limits", [dict(max_neurons=16),
                                    dict(synapse_memory_bits=40000, sparse_entry_bits=24),
                                    dict(max_fan_in=200, max_neurons=40),
                                    dict(max_neurons=30, routing_entries=40)])
@pytest.mark.parametrize("strategy", ["greedy", "auto"])
def test_a_full_pattern_gives_what_its_listed_pairs_give(limits, strategy) -> None:
    t = target(Topology(8, (4, 2), 8, (4, 2)), **limits)
    full = full_network()
    listed = dataclasses.replace(full, patterns=[p.listed() for p in full.patterns])
    assert sum(p.cols.size for p in full.patterns) < 2000 < \
        sum(p.cols.size for p in listed.patterns)
    a = plan_partition(full, t, PartitionOptions(strategy))
    b = plan_partition(listed, t, PartitionOptions(strategy))
    assert a.report == b.report
    for f in ("start", "stop", "memory", "fan_in", "synapses", "dest", "src", "dst", "weight",
              "axons"):
        assert np.array_equal(getattr(a.slices, f), getattr(b.slices, f)), f
    assert place_and_route_plan(a, t) == place_and_route_plan(b, t)


def test_a_dense_block_without_zeros_is_read_as_a_full_pattern() -> None:
    w = RNG.integers(1, 5, (6, 9))
    p = Pattern.of_weights("w", "x", "y", Dense(w))
    assert p.full == (6, 9) and p.cols.size == 0 and p.nnz == 54
    w[2, 3] = 0
    q = Pattern.of_weights("w", "x", "y", Sparse.from_dense(w))
    assert q.full is None and q.nnz == 53
    assert q.cols.dtype == np.int32 and (q.cols[19], q.rows[19]) == (3, 1)   # col 3 skips row 2
    assert (q.cols[20], q.rows[20]) == (3, 3)


# --- a graph read node by node ------------------------------------------------------


def affine_graph() -> ir.Graph:
    """in (12) -> a (Affine, bias, some zeros) -> n1 (20); n1 -> Linear (no zero) -> n2 (8),
    n2 -> Linear -> n1 (recurrent); in -> n3 (identity, 12); n1 -> Flatten -> Linear -> n3."""
    def lif_node(n: int) -> ir.LIF:
        return ir.LIF(tau=np.full(n, 0.01), r=np.ones(n), v_leak=np.zeros(n),
                      v_threshold=np.ones(n))
    w1 = RNG.normal(size=(20, 12)) * (RNG.random((20, 12)) < 0.7)
    b1 = np.where(RNG.random(20) < 0.5, RNG.normal(size=20), 0.0)
    nodes = {"in": ir.Input(shape=np.array([12])), "a": ir.Affine(weight=w1, bias=b1),
             "n1": lif_node(20), "l2": ir.Linear(weight=RNG.uniform(1, 2, (8, 20))),
             "n2": lif_node(8), "back": ir.Linear(weight=RNG.normal(size=(20, 8))),
             "n3": lif_node(12), "f": ir.Flatten(input_type=np.array([20]), start_dim=0,
                                                 end_dim=-1),
             "l3": ir.Linear(weight=RNG.normal(size=(12, 20))),
             "out": ir.Output(shape=np.array([8])), "out3": ir.Output(shape=np.array([12]))}
    edges = [("in", "a"), ("a", "n1"), ("n1", "l2"), ("l2", "n2"), ("n2", "back"),
             ("back", "n1"), ("in", "n3"), ("n1", "f"), ("f", "l3"), ("l3", "n3"),
             ("n2", "out"), ("n3", "out3")]
    return ir.Graph(nodes, edges)


def test_a_graph_of_linear_maps_is_read_as_lowering_reads_it(monkeypatch) -> None:
    from neurocc.compiler.partition import structure as S

    graph = affine_graph()
    direct = Structure.from_graph(graph)
    monkeypatch.setattr(S, "direct_patterns", lambda g: None)   # lower the graph instead
    lowered = Structure.from_graph(graph)
    assert (direct.groups, direct.ports, direct.outputs, direct.constants) == \
        (lowered.groups, lowered.ports, lowered.outputs, lowered.constants)
    assert [p.name for p in direct.patterns] == [p.name for p in lowered.patterns]
    assert "n2->n1@1" in [p.name for p in direct.patterns]       # the recurrent edge's hop
    for p, q in zip(direct.patterns, lowered.patterns):
        p, q = p.listed(), q.listed()
        assert (p.source, p.target) == (q.source, q.target)
        assert np.array_equal(p.cols, q.cols) and np.array_equal(p.rows, q.rows), p.name
    # the Linears of normal weights have no zero; the Affine with zeros, its bias and the
    # identity edge are listed
    assert {p.name for p in direct.patterns if p.full is not None} == {"n1->n2", "n2->n1@1",
                                                                        "n1->n3"}


# --- a NeuronSpark-shaped model, reduced: the dense-pattern path end to end -------------


def _neuronspark():
    """bench/neuronspark.py, the module (its model and its streamed NIR writer)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "bench" / "neuronspark.py"
    spec = importlib.util.spec_from_file_location("bench_neuronspark", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_reduced_neuronspark_compiles_through_full_patterns(tmp_path, monkeypatch) -> None:
    ns = _neuronspark()
    graph = ns.model(blocks=2, d=256, vocab=1024)
    # embedding and head 1024 x 256 each, 2 blocks of 4 x 256^2 + 2 x 4 x 256^2
    assert ns.synapses(graph) == 2 * 1024 * 256 + 2 * 12 * 256 ** 2
    path = tmp_path / "spark.nir"
    ns.write_streamed(graph, path)
    loaded = ir.load(path)
    w = loaded.nodes["b1.up"].weight
    assert w.dtype == np.float16 and w.shape == (1024, 256) and np.count_nonzero(w) == w.size
    structure = Structure.from_graph(loaded)
    full = [p.name for p in structure.patterns if p.full is not None]
    # every weight node: embedding, 2 x (4 mixes, up, down), head
    assert len(full) == 1 + 2 * 6 + 1 and sum(p.nnz for p in structure.patterns
                                             if p.full is not None) == ns.synapses(graph)
    # the residual edges and the Affine biases are listed: one pair per target neuron
    listed = {p.name: p.cols.size for p in structure.patterns if p.full is None}
    assert listed["embed.lif->b0.out"] == 256 and listed["bias->b0.up.lif"] == 1024
    # lowering gives the same Structure, pairs listed
    from neurocc.compiler.partition import structure as S
    monkeypatch.setattr(S, "direct_patterns", lambda g: None)
    lowered = Structure.from_graph(loaded)
    for p, q in zip(structure.patterns, lowered.patterns):
        p, q = p.listed(), q.listed()
        assert p.name == q.name
        assert np.array_equal(p.cols, q.cols) and np.array_equal(p.rows, q.rows), p.name
    # cores of 2^17 bits: an up neuron stores 256 weights and a bias of 8 bits = 2056 bits,
    # 63 a core; 1024 neurons in 17 slices of at most 61 (16 would need 64)
    t = target(Topology(32, (8, 4), 16, (4, 4)), synapse_memory_bits=1 << 17)
    a = plan_partition(structure, t, PartitionOptions("greedy"))
    b = plan_partition(dataclasses.replace(structure, patterns=[p.listed() for p in
                                                                structure.patterns]),
                       t, PartitionOptions("greedy"))
    assert a.report["layers"]["b0.up.lif"]["slices"] == 17
    assert a.report["layers"]["b0.up.lif"]["binding"] == "synapse_memory_bits"
    assert a.report == b.report
    assert place_and_route_plan(a, t) == place_and_route_plan(b, t)
