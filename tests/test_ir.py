"""The graph IR: loading, saving, subgraph flattening, recurrence, verify (shapes:
test_ir_shapes.py).

Expected values never come from the code under test: they are worked out by
hand (written as literals, with the arithmetic in a comment), read from the
fixtures' raw HDF5 contents with h5py, or taken from the ``nir`` package.
The fixtures are the NIR paper's own models (tests/fixtures/nir-paper).
"""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path

import h5py
import nir
import numpy as np
import pytest

from neurocc import ir

FIX = Path(__file__).parent / "fixtures" / "nir-paper"
MODELS = sorted(p.name for p in FIX.glob("*.nir"))
SUBGRAPH = "braille_noDelay_bias_zero_subgraph.nir"
# files that nir.read itself accepts as they are
NIR_READABLE = ["braille_noDelay_bias_zero.nir", "braille_noDelay_noBias_subtract.nir",
                "cnn_sinabs.nir", "lif_norse.nir"]

I64 = np.int64


# --- raw HDF5, read without neurocc ------------------------------------------


def _raw_graph(group: h5py.Group, prefix: str = "") -> tuple[dict, set]:
    """{dotted name: (type, {field: array})} and the edge set, nested graphs kept apart.

    Nested NIRGraph groups contribute their own nodes under ``prefix.name`` and
    their own edges (also prefixed); nothing is spliced here.
    """
    nodes: dict[str, tuple[str, dict[str, np.ndarray]]] = {}
    edges = {(prefix + a.decode(), prefix + b.decode()) for a, b in group["edges"][()]}
    for name, g in group["nodes"].items():
        kind = g["type"][()].decode()
        if kind == "NIRGraph":
            inner_nodes, inner_edges = _raw_graph(g, prefix + name + ".")
            nodes.update(inner_nodes)
            edges |= inner_edges
            continue
        fields = {k: np.asarray(v[()]) for k, v in g.items()
                  if k not in ("type", "metadata") and isinstance(v, h5py.Dataset)}
        nodes[prefix + name] = (kind, fields)
    return nodes, edges


def raw_model(path: Path) -> tuple[dict, set]:
    with h5py.File(path, "r") as f:
        return _raw_graph(f["node"])


def expected_model(name: str) -> tuple[dict, set]:
    """What a flat graph of fixture `name` must contain, flattened by hand."""
    nodes, edges = raw_model(FIX / name)
    if name != SUBGRAPH:
        return nodes, edges
    # The subgraph file: root edges input->fc1->lif1->fc2->lif2->output, and
    # inside lif1 the edges input->lif, lif->lin, lin->lif, lif->output, where
    # 'lif' is a slip for the node 'lif1'. The subgraph's own Input/Output vanish.
    del nodes["lif1.input"], nodes["lif1.output"]
    edges = {("input", "fc1"), ("fc1", "lif1.lif1"), ("lif1.lif1", "lif1.lin"),
             ("lif1.lin", "lif1.lif1"), ("lif1.lif1", "fc2"), ("fc2", "lif2"),
             ("lif2", "output")}
    return nodes, edges


def assert_same_array(got: np.ndarray, want: np.ndarray, what: str) -> None:
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype, f"{what}: dtype {got.dtype} != {want.dtype}"
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    assert got.tobytes() == want.tobytes(), f"{what}: values differ"


def assert_graph_matches(graph: ir.Graph, nodes: dict, edges: set) -> None:
    assert set(graph.nodes) == set(nodes)
    assert set(graph.edges) == edges
    assert len(graph.edges) == len(set(graph.edges))
    for name, (kind, fields) in nodes.items():
        node = graph.nodes[name]
        assert node.kind == kind, name
        params = node.params()
        assert set(params) == set(fields), name
        for field, want in fields.items():
            assert_same_array(params[field], want, f"{name}.{field}")


# --- round trips of the real models ------------------------------------------


def test_fixture_list_is_complete() -> None:
    assert MODELS == ["braille_noDelay_bias_zero.nir", "braille_noDelay_bias_zero_subgraph.nir",
                      "braille_noDelay_noBias_subtract.nir", "cnn_sinabs.nir",
                      "lif_norse.nir", "lif_rockpool.nir"]


@pytest.mark.parametrize("name", MODELS)
def test_load_matches_raw_hdf5(name: str) -> None:
    nodes, edges = expected_model(name)
    assert_graph_matches(ir.load(FIX / name), nodes, edges)


@pytest.mark.parametrize("name", MODELS)
def test_round_trip_is_bit_for_bit(name: str, tmp_path: Path) -> None:
    nodes, edges = expected_model(name)
    out = tmp_path / "saved.nir"
    ir.save(ir.load(FIX / name), out)
    assert_graph_matches(ir.load(out), nodes, edges)
    # the saved file itself holds the same arrays with the same dtypes
    saved_nodes, saved_edges = raw_model(out)
    assert saved_edges == edges
    assert set(saved_nodes) == set(nodes)
    for n, (kind, fields) in nodes.items():
        assert saved_nodes[n][0] == kind
        assert set(saved_nodes[n][1]) == set(fields)
        for field, want in fields.items():
            assert_same_array(saved_nodes[n][1][field], want, f"saved {n}.{field}")
    assert list(tmp_path.iterdir()) == [out]  # no temporary file left behind


@pytest.mark.parametrize("name", NIR_READABLE + [SUBGRAPH])
def test_saved_file_is_read_by_nir(name: str, tmp_path: Path) -> None:
    """nir.read accepts what save writes, including the flattened subgraph model."""
    out = tmp_path / "saved.nir"
    ir.save(ir.load(FIX / name), out)
    nodes, edges = expected_model(name)
    g = nir.read(out)
    assert set(g.nodes) == set(nodes)
    assert {tuple(e) for e in g.edges} == edges
    for n, (kind, fields) in nodes.items():
        assert type(g.nodes[n]).__name__ == kind
        for field, want in fields.items():
            if kind in ("Input", "Output"):
                got = getattr(g.nodes[n], f"{kind.lower()}_type")[kind.lower()]
            elif field == "input_type":  # Flatten's, a dict in nir
                got = g.nodes[n].input_type["input"]
            else:
                got = getattr(g.nodes[n], field)
            assert_same_array(got, want, f"nir {n}.{field}")


def test_nir_rejects_the_original_subgraph_file() -> None:
    """Why neurocc repairs the file: nir.read fails on the misnamed edge."""
    with pytest.raises(ValueError, match="'lif'"):
        nir.read(FIX / SUBGRAPH)


def test_rockpool_saved_file_keeps_declared_output_shape(tmp_path: Path) -> None:
    """neurocc keeps the Output's declared [1, 1, 1] (bit for bit), so nir.read
    still rejects the saved file with its type check, exactly as it rejects the
    original; without the type check it reads it."""
    out = tmp_path / "saved.nir"
    ir.save(ir.load(FIX / "lif_rockpool.nir"), out)
    with h5py.File(out, "r") as f:
        assert_same_array(f["node/nodes/output/shape"][()], np.array([1, 1, 1], I64), "shape")
    for path in (FIX / "lif_rockpool.nir", out):
        with pytest.raises(ValueError, match="type mismatch"):
            nir.read(path)
    g = nir.read(out, type_check=False)
    assert set(g.nodes) == {"input", "0_LinearTorch", "1_LIFNeuronTorch", "output"}
    assert_same_array(g.nodes["0_LinearTorch"].weight, np.array([[0.04]], np.float32), "weight")


def test_metadata_round_trips(tmp_path: Path) -> None:
    g = ir.load(FIX / "lif_norse.nir")
    g.nodes["0"].metadata = {"source": "unit test", "step": 3}
    g.metadata["author"] = "neurocc tests"
    ir.save(g, tmp_path / "m.nir")
    back = ir.load(tmp_path / "m.nir")
    assert back.nodes["0"].metadata == {"source": "unit test", "step": 3}
    assert back.nodes["1"].metadata == {}
    assert back.metadata["author"] == "neurocc tests"
    # the loader records the file's version; the file written is NIR 1.0.8 layout
    assert ir.load(FIX / "lif_norse.nir").metadata["nir_version"] == "0.1.1"
    with h5py.File(tmp_path / "m.nir", "r") as f:
        assert f["version"][()] == b"1.0.8"
    assert back.metadata["nir_version"] == "1.0.8"


def test_failed_save_leaves_the_old_file_alone(tmp_path: Path) -> None:
    g = ir.load(FIX / "lif_norse.nir")
    out = tmp_path / "x.nir"
    ir.save(g, out)
    before = out.read_bytes()
    g.nodes["0"].metadata = {"bad": object()}  # h5py cannot store this
    with pytest.raises(TypeError):
        ir.save(g, out)
    assert list(tmp_path.iterdir()) == [out]  # no temporary file left
    assert out.read_bytes() == before


# --- a round trip covering every registered node type ------------------------


def every_type_graph(mode: str, with_optional: bool) -> ir.Graph:
    """A valid graph holding every node type once (two Inputs, two Outputs).

    in2d (2,8,8) -> conv2d -> if -> sumpool -> avgpool -> flatten -> affine ->
    lif -> linear -> cubalif -> scale -> threshold -> delay -> identity -> li
    -> cubali -> i -> out;  in1d (3,12) -> conv1d -> flatten1d -> linear1d ->
    cubalif (summed with linear);  lif -> out_lif.
    `mode` float32 / float64, or "mixed": float16/32/64 in turn and int32
    hyper-parameters, string paddings.
    """
    rng = np.random.default_rng({"float32": 1, "float64": 2, "mixed": 3}[mode])
    floats = itertools.cycle([np.float16, np.float32, np.float64] if mode == "mixed"
                             else [np.dtype(mode)])
    idt = np.int32 if mode == "mixed" else np.int64

    def f(*shape):
        return rng.standard_normal(shape).astype(next(floats))

    def pos(*shape):
        return rng.uniform(1e-3, 1e-2, shape).astype(next(floats))

    def ints(*v):
        return np.array(v, dtype=idt)

    def opt(value):
        return value if with_optional else None

    pad2 = np.array("same") if mode == "mixed" else ints(1, 1)
    pad1 = np.array("valid") if mode == "mixed" else np.array(0, idt)
    nodes: dict[str, ir.Node] = {
        "in2d": ir.Input(shape=ints(2, 8, 8)),
        "conv2d": ir.Conv2d(weight=f(4, 2, 3, 3), stride=ints(1, 1), padding=pad2,
                            dilation=ints(1, 1), groups=np.array(1, idt), bias=f(4),
                            input_shape=opt(ints(8, 8))),
        "if": ir.IF(r=f(4, 8, 8), v_threshold=pos(4, 8, 8), v_reset=opt(f(4, 8, 8))),
        "sumpool": ir.SumPool2d(kernel_size=ints(2, 2), stride=ints(2, 2), padding=ints(0, 0)),
        "avgpool": ir.AvgPool2d(kernel_size=np.array(2, idt), stride=np.array(2, idt),
                                padding=np.array(0, idt)),
        "flatten": ir.Flatten(start_dim=np.array(0, idt), end_dim=np.array(-1, idt),
                              input_type=opt(ints(4, 2, 2))),
        "affine": ir.Affine(weight=f(10, 16), bias=f(10)),
        "lif": ir.LIF(tau=pos(10), r=f(10), v_leak=f(10), v_threshold=pos(10),
                      v_reset=opt(f(10))),
        "linear": ir.Linear(weight=f(6, 10)),
        "cubalif": ir.CubaLIF(tau_syn=pos(6), tau_mem=pos(6), r=f(6), v_leak=f(6),
                              v_threshold=pos(6), v_reset=opt(f(6)), w_in=opt(f(6))),
        "scale": ir.Scale(scale=f(6)),
        "threshold": ir.Threshold(threshold=f(6)),
        "delay": ir.Delay(delay=pos(6)),
        "identity": ir.Identity(),
        "li": ir.LI(tau=pos(6), r=f(6), v_leak=f(6)),
        "cubali": ir.CubaLI(tau_syn=pos(6), tau_mem=pos(6), r=f(6), v_leak=f(6), w_in=opt(f(6))),
        "i": ir.I(r=f(6)),
        "out": ir.Output(shape=ints(6)),
        "out_lif": ir.Output(shape=ints(10)),
        "in1d": ir.Input(shape=ints(3, 12)),
        "conv1d": ir.Conv1d(weight=f(2, 3, 3), stride=np.array(1, idt), padding=pad1,
                            dilation=np.array(1, idt), groups=np.array(1, idt), bias=f(2),
                            # nir writes Conv1d's input_shape as one int; (12,) also occurs
                            input_shape=opt(np.array(12, idt) if mode == "mixed" else ints(12))),
        "flatten1d": ir.Flatten(start_dim=np.array(0, idt), end_dim=np.array(-1, idt),
                                input_type=opt(ints(2, 10))),
        "linear1d": ir.Linear(weight=f(6, 20)),
    }
    chain = ["in2d", "conv2d", "if", "sumpool", "avgpool", "flatten", "affine", "lif", "linear",
             "cubalif", "scale", "threshold", "delay", "identity", "li", "cubali", "i", "out"]
    edges = list(zip(chain, chain[1:]))
    edges += [("in1d", "conv1d"), ("conv1d", "flatten1d"), ("flatten1d", "linear1d"),
              ("linear1d", "cubalif"), ("lif", "out_lif")]
    return ir.Graph(nodes, edges, metadata={"built_by": "test_ir"})


ROUND_TRIP_CASES = [(m, o) for m in ("float32", "float64", "mixed") for o in (True, False)]


@pytest.mark.parametrize("mode,with_optional", ROUND_TRIP_CASES)
def test_every_node_type_round_trips(mode: str, with_optional: bool, tmp_path: Path) -> None:
    g = every_type_graph(mode, with_optional)
    assert {n.kind for n in g.nodes.values()} == set(ir.NODE_TYPES)
    ir.verify(g)
    out = tmp_path / "all.nir"
    ir.save(g, out)
    back = ir.load(out)
    assert set(back.edges) == set(g.edges)
    assert back.metadata["built_by"] == "test_ir"
    assert set(back.nodes) == set(g.nodes)
    with h5py.File(out, "r") as f:
        for name, node in g.nodes.items():
            got = back.nodes[name]
            assert got.kind == node.kind
            want = node.params()
            assert set(got.params()) == set(want), name
            for field, value in want.items():
                assert_same_array(got.params()[field], value, f"{name}.{field}")
            for field in type(node).optional:
                stored = field in f[f"node/nodes/{name}"]
                assert stored == with_optional, f"{name}.{field} stored={stored}"
                assert (getattr(got, field) is not None) == with_optional, f"{name}.{field}"
    # the shapes are the ones the chain was designed for
    shapes = back.shapes
    assert shapes["conv2d"].output == (4, 8, 8)
    assert shapes["avgpool"].output == (4, 2, 2)
    assert shapes["flatten"].output == (16,)
    assert shapes["conv1d"].output == (2, 10)
    assert shapes["cubalif"].input == (6,)


def test_round_trip_exercises_every_optional_field() -> None:
    covered = {(node.kind, f) for node in every_type_graph("float32", True).nodes.values()
               for f in type(node).optional}
    declared = {(kind, f) for kind, cls in ir.NODE_TYPES.items() for f in cls.optional}
    assert covered == declared
    assert ("LIF", "v_reset") in declared and ("CubaLIF", "w_in") in declared


def test_dtypes_really_vary_in_mixed_round_trip() -> None:
    dtypes = {v.dtype for n in every_type_graph("mixed", True).nodes.values()
              for v in n.params().values()}
    assert {np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64),
            np.dtype(np.int32)} <= dtypes
    assert any(d.kind == "U" for d in dtypes)


def test_absent_v_reset_stays_absent_and_means_zero(tmp_path: Path) -> None:
    g = ir.load(FIX / "lif_norse.nir")
    assert g.nodes["1"].v_reset is None
    ir.save(g, tmp_path / "x.nir")
    with h5py.File(tmp_path / "x.nir", "r") as f:
        assert set(f["node/nodes/1"]) == {"type", "tau", "r", "v_leak", "v_threshold"}
    back = ir.load(tmp_path / "x.nir")
    assert back.nodes["1"].v_reset is None
    # NIR >= 1.0: a missing v_reset is a reset to 0
    assert_same_array(back.nodes["1"].reset_value(), np.zeros(1, np.float32), "reset")


# --- subgraphs -----------------------------------------------------------------


def test_subgraph_flattens_to_dotted_names() -> None:
    g = ir.load(FIX / SUBGRAPH)
    assert set(g.nodes) == {"input", "fc1", "lif1.lif1", "lif1.lin", "fc2", "lif2", "output"}
    assert g.nodes["lif1.lif1"].kind == "CubaLIF"
    assert g.nodes["lif1.lin"].kind == "Affine"
    repaired = [w for w in g.load_warnings if "'lif'" in w and "'lif1'" in w]
    assert len(repaired) == 1, g.load_warnings
    assert "graph 'lif1'" in repaired[0]


def test_subgraph_is_isomorphic_to_flat_braille() -> None:
    sub = ir.load(FIX / SUBGRAPH)
    flat = ir.load(FIX / "braille_noDelay_bias_zero.nir")
    rename = {"lif1.lif1": "lif1.lif", "lif1.lin": "lif1.w_rec"}
    r = lambda n: rename.get(n, n)  # noqa: E731
    assert {r(n) for n in sub.nodes} == set(flat.nodes)
    assert {(r(a), r(b)) for a, b in sub.edges} == set(flat.edges)
    for name, node in sub.nodes.items():
        other = flat.nodes[r(name)]
        assert node.kind == other.kind
        assert set(node.params()) == set(other.params())
        for field, value in node.params().items():
            assert_same_array(value, other.params()[field], f"{name}.{field}")
    assert {(r(a), r(b)) for a, b in sub.recurrent_edges} == set(flat.recurrent_edges)
    assert {r(n): s for n, s in sub.shapes.items()} == flat.shapes


def _write_nested_by_hand(path: Path, by_port: bool) -> None:
    """root: input(2) -> a -> output(3); a: input -> lin(3x2) -> b -> output;
    b: input -> lif(3) -> rec(3x3) -> lif, lif -> output. With `by_port`, the
    edges address the subgraphs' boundary nodes ('a.input', 'b.output', ...)."""
    s = h5py.string_dtype()
    f32 = np.float32

    def graph(g: h5py.Group, nodes: dict, edges: list) -> None:
        g.create_dataset("type", data="NIRGraph", dtype=s)
        g.create_dataset("edges", data=np.array(edges, dtype=object), dtype=s)
        group = g.create_group("nodes")
        for name, fields in nodes.items():
            if isinstance(fields, tuple):  # a nested graph
                graph(group.create_group(name), *fields)
                continue
            n = group.create_group(name)
            for k, v in fields.items():
                n.create_dataset(k, data=v, dtype=s if isinstance(v, str) else None)

    b = ({"input": {"type": "Input", "shape": np.array([3])},
          "lif": {"type": "LIF", "tau": np.full(3, 0.01, f32), "r": np.ones(3, f32),
                  "v_leak": np.zeros(3, f32), "v_threshold": np.ones(3, f32)},
          "rec": {"type": "Linear", "weight": np.eye(3, dtype=f32)},
          "output": {"type": "Output", "shape": np.array([3])}},
         [["input", "lif"], ["lif", "rec"], ["rec", "lif"], ["lif", "output"]])
    a = ({"input": {"type": "Input", "shape": np.array([2])},
          "lin": {"type": "Linear", "weight": np.arange(6, dtype=f32).reshape(3, 2)},
          "b": b, "output": {"type": "Output", "shape": np.array([3])}},
         [["input", "lin"], ["lin", "b.input" if by_port else "b"],
          ["b.output" if by_port else "b", "output"]])
    root = ({"input": {"type": "Input", "shape": np.array([2])}, "a": a,
             "output": {"type": "Output", "shape": np.array([3])}},
            [["input", "a.input" if by_port else "a"], ["a.output" if by_port else "a", "output"]])
    with h5py.File(path, "w") as f:
        f.create_dataset("version", data="1.0.8", dtype=s)
        graph(f.create_group("node"), *root)


NESTED_NODES = {"input": "Input", "a.lin": "Linear", "a.b.lif": "LIF", "a.b.rec": "Linear",
                "output": "Output"}
NESTED_EDGES = {("input", "a.lin"), ("a.lin", "a.b.lif"), ("a.b.lif", "a.b.rec"),
                ("a.b.rec", "a.b.lif"), ("a.b.lif", "output")}


@pytest.mark.parametrize("by_port", [False, True])
def test_nested_subgraphs_by_hand_flatten(by_port: bool, tmp_path: Path) -> None:
    path = tmp_path / "nested.nir"
    _write_nested_by_hand(path, by_port)
    g = ir.load(path)
    assert {n: node.kind for n, node in g.nodes.items()} == NESTED_NODES
    assert set(g.edges) == NESTED_EDGES
    assert g.recurrent_edges == {("a.b.rec", "a.b.lif")}
    assert g.shapes["a.b.lif"].output == (3,)
    assert g.shapes["output"].input == (3,)
    assert_same_array(g.nodes["a.lin"].weight, np.arange(6, dtype=np.float32).reshape(3, 2), "w")
    assert g.load_warnings == []


def _nested_nir_graph() -> nir.NIRGraph:
    f32 = np.float32
    b = nir.NIRGraph(
        nodes={"input": nir.Input(input_type={"input": np.array([3])}),
               "lif": nir.LIF(tau=np.full(3, 0.01, f32), r=np.ones(3, f32),
                              v_leak=np.zeros(3, f32), v_threshold=np.ones(3, f32)),
               "rec": nir.Linear(weight=np.eye(3, dtype=f32)),
               "output": nir.Output(output_type={"output": np.array([3])})},
        edges=[("input", "lif"), ("lif", "rec"), ("rec", "lif"), ("lif", "output")])
    a = nir.NIRGraph(
        nodes={"input": nir.Input(input_type={"input": np.array([2])}),
               "lin": nir.Linear(weight=np.arange(6, dtype=f32).reshape(3, 2)), "b": b,
               "output": nir.Output(output_type={"output": np.array([3])})},
        edges=[("input", "lin"), ("lin", "b"), ("b", "output")])
    return nir.NIRGraph(
        nodes={"input": nir.Input(input_type={"input": np.array([2])}), "a": a,
               "output": nir.Output(output_type={"output": np.array([3])})},
        edges=[("input", "a"), ("a", "output")])


def test_nested_subgraphs_written_by_nir_flatten(tmp_path: Path) -> None:
    nir.write(tmp_path / "nested.nir", _nested_nir_graph())
    g = ir.load(tmp_path / "nested.nir")
    assert {n: node.kind for n, node in g.nodes.items()} == NESTED_NODES
    assert set(g.edges) == NESTED_EDGES
    assert g.recurrent_edges == {("a.b.rec", "a.b.lif")}
    # from_nir of the same in-memory graph gives the same flat graph
    m = ir.from_nir(_nested_nir_graph())
    assert set(m.nodes) == set(g.nodes) and set(m.edges) == NESTED_EDGES
    for name, node in g.nodes.items():
        for field, value in node.params().items():
            assert_same_array(m.nodes[name].params()[field], value, f"{name}.{field}")


# --- recurrence rule --------------------------------------------------------------


@pytest.mark.parametrize("name", ["braille_noDelay_bias_zero.nir",
                                  "braille_noDelay_noBias_subtract.nir"])
def test_braille_recurrent_edge(name: str) -> None:
    g = ir.load(FIX / name)
    assert g.recurrent_edges == {("lif1.w_rec", "lif1.lif")}
    assert g.order == ["input", "fc1", "lif1.lif", "fc2", "lif1.w_rec", "lif2", "output"]


def test_recurrence_ignores_edge_order_in_memory() -> None:
    g = ir.load(FIX / "braille_noDelay_bias_zero.nir")
    assert len(g.edges) == 7
    for perm in itertools.permutations(g.edges):  # all 5040 orders
        h = ir.Graph(g.nodes, perm)
        assert h.recurrent_edges == {("lif1.w_rec", "lif1.lif")}
        assert h.order == g.order


@pytest.mark.parametrize("seed", range(4))
def test_recurrence_ignores_edge_order_in_file(seed: int, tmp_path: Path) -> None:
    path = tmp_path / "shuffled.nir"
    shutil.copy(FIX / "braille_noDelay_bias_zero.nir", path)
    with h5py.File(path, "r+") as f:
        edges = f["node/edges"][()]
        edges = edges[np.random.default_rng(seed).permutation(len(edges))]
        del f["node/edges"]
        f.create_dataset("node/edges", data=edges, dtype=h5py.string_dtype())
    g = ir.load(path)
    assert g.recurrent_edges == {("lif1.w_rec", "lif1.lif")}
    assert g.shapes == ir.load(FIX / "braille_noDelay_bias_zero.nir").shapes


def scale(n: int = 3) -> ir.Scale:
    return ir.Scale(scale=np.ones(n, np.float32))


def test_self_loop_is_recurrent() -> None:
    g = ir.Graph({"in": ir.Input(shape=np.array([3])), "a": scale(), "out": ir.Output(
        shape=np.array([3]))}, [("in", "a"), ("a", "a"), ("a", "out")])
    ir.verify(g)
    assert g.recurrent_edges == {("a", "a")}
    assert g.order == ["in", "a", "out"]


def test_two_node_cycle_recurs_into_the_node_reached_first() -> None:
    """in -> z -> a -> z: the search from the Input reaches 'z' first, so the
    edge back into it, a -> z, is the recurrent one (although 'a' sorts first)."""
    nodes = {"in": ir.Input(shape=np.array([3])), "z": scale(), "a": scale(),
             "out": ir.Output(shape=np.array([3]))}
    edges = [("in", "z"), ("z", "a"), ("a", "z"), ("a", "out")]
    for perm in itertools.permutations(edges):
        g = ir.Graph(nodes, perm)
        assert g.recurrent_edges == {("a", "z")}
        assert g.order == ["in", "z", "a", "out"]
    ir.verify(ir.Graph(nodes, edges))
    # fed at 'a' instead, the other edge closes the cycle
    g = ir.Graph(nodes, [("in", "a"), ("z", "a"), ("a", "z"), ("a", "out")])
    assert g.recurrent_edges == {("z", "a")}


def test_acyclic_models_have_no_recurrent_edges() -> None:
    for name in ("cnn_sinabs.nir", "lif_norse.nir", "lif_rockpool.nir"):
        assert ir.load(FIX / name).recurrent_edges == frozenset()


# --- verify ---------------------------------------------------------------------------


def broken_graph() -> ir.Graph:
    f32 = np.float32
    return ir.Graph(
        {"in": ir.Input(shape=np.array([3])),
         "fc": ir.Affine(weight=np.array([[np.nan, 1, 1], [1, 1, 1]], f32),  # 2 outputs
                         bias=np.array([0, np.inf], f32)),
         "lif": ir.LIF(tau=np.array([-1e-3, 1e-3, 1e-3]), r=np.ones(3), v_leak=np.zeros(3),
                       v_threshold=np.ones(3)),  # expects 3 inputs
         "out": ir.Output(shape=np.array([3]))},
        [("in", "fc"), ("fc", "lif"), ("lif", "out"), ("ghost", "out")])


def test_verify_reports_every_problem_at_once() -> None:
    with pytest.raises(ir.GraphError) as e:
        ir.verify(broken_graph(), where="model.nir")
    problems = e.value.problems
    expected = {
        "missing node": lambda p: "'ghost'" in p and "missing" in p,
        "NaN weight": lambda p: "'fc'" in p and "weight" in p and "NaN" in p,
        "inf bias": lambda p: "'fc'" in p and "bias" in p and "infinite" in p,
        "negative tau": lambda p: "'lif'" in p and "tau" in p and "-0.001" in p,
        "shape mismatch": lambda p: "'fc'" in p and "'lif'" in p and "[2]" in p and "[3]" in p,
    }
    assert len(problems) == 5, problems
    for what, matches in expected.items():
        assert sum(map(matches, problems)) == 1, (what, problems)
    assert type(e.value) is ir.GraphError
    assert "model.nir has 5 problem(s)" in str(e.value)


def test_check_returns_the_same_problems_without_raising() -> None:
    report = ir.check(broken_graph())
    with pytest.raises(ir.GraphError) as e:
        ir.verify(broken_graph())
    assert list(report.problems) == e.value.problems
    assert report.warnings == ()


def test_shape_only_problems_raise_shape_error() -> None:
    g = broken_graph()
    g.nodes["fc"] = ir.Affine(weight=np.ones((2, 3), np.float32), bias=np.zeros(2, np.float32))
    g.edges.remove(("ghost", "out"))
    g.nodes["lif"].tau = np.full(3, 1e-3)
    with pytest.raises(ir.ShapeError) as e:
        ir.verify(g)
    assert len(e.value.problems) == 1


def test_malformed_parameter_is_reported_not_crashed_on() -> None:
    """A 1-D Affine weight (a broken file) is a user error, not an IndexError."""
    g = ir.Graph({"in": ir.Input(shape=np.array([3])),
                  "fc": ir.Affine(weight=np.ones(3, np.float32), bias=np.zeros(3, np.float32)),
                  "out": ir.Output(shape=np.array([3]))}, [("in", "fc"), ("fc", "out")])
    with pytest.raises(ir.GraphError) as e:
        ir.verify(g)
    assert any("Affine 'fc'" in p and "2-D" in p for p in e.value.problems)


def test_structural_problems() -> None:
    g = ir.Graph({"a": scale(), "b": scale()}, [("a", "b")])
    problems = ir.check(g).problems
    assert "graph has no Input node" in problems and "graph has no Output node" in problems
    g = ir.Graph({"in": ir.Input(shape=np.array([3])), "out": ir.Output(shape=np.array([3])),
                  "in2": ir.Input(shape=np.array([3]))},
                 [("in", "out"), ("out", "in2")])
    problems = ir.check(g).problems
    assert any("points into an Input" in p and "'in2'" in p for p in problems)
    assert any("leaves an Output" in p and "'out'" in p for p in problems)


def test_node_fed_only_by_recurrent_edges_is_reported() -> None:
    """A cycle that no Input reaches: the search roots it at 'a' (name order),
    so b -> a is recurrent and nothing tells the shape of a's input."""
    g = ir.Graph({"in": ir.Input(shape=np.array([3])), "out": ir.Output(shape=np.array([3])),
                  "a": ir.Identity(), "b": ir.Identity()},
                 [("in", "out"), ("a", "b"), ("b", "a")])
    assert g.recurrent_edges == {("b", "a")}
    report = ir.check(g)
    assert report.problems == ("shape of the input of 'a' cannot be inferred "
                               "(it is fed only by recurrent edges)",)
    assert any("'a'" in w and "not reachable" in w for w in report.warnings)


def test_unreachable_node_and_duplicate_edge_are_warnings() -> None:
    g = ir.Graph({"in": ir.Input(shape=np.array([3])), "a": scale(), "lost": scale(),
                  "out": ir.Output(shape=np.array([3]))},
                 [("in", "a"), ("in", "a"), ("a", "out"), ("lost", "lost")])
    report = ir.check(g)
    assert any("'lost'" in w and "not reachable" in w for w in report.warnings)
    assert "duplicate edges are counted once" in report.warnings


# --- loader errors ---------------------------------------------------------------


def _load_error(path) -> ir.NeuroccError:
    with pytest.raises(ir.NeuroccError) as e:
        ir.load(path)
    return e.value


def test_missing_file(tmp_path: Path) -> None:
    e = _load_error(tmp_path / "nope.nir")
    assert type(e) is ir.ModelFileError and "no such file" in str(e) and "nope.nir" in str(e)


def test_directory(tmp_path: Path) -> None:
    e = _load_error(tmp_path)
    assert type(e) is ir.ModelFileError and "is a directory" in str(e)


def test_not_hdf5(tmp_path: Path) -> None:
    (tmp_path / "model.nir").write_text("input -> lif -> output\n")
    e = _load_error(tmp_path / "model.nir")
    assert type(e) is ir.ModelFileError and "not an HDF5 file" in str(e)


@pytest.mark.parametrize("name", ["cnn_sinabs.nir", "lif_norse.nir"])
def test_truncated_file(name: str, tmp_path: Path) -> None:
    data = (FIX / name).read_bytes()
    (tmp_path / name).write_bytes(data[: len(data) // 2])
    e = _load_error(tmp_path / name)
    assert type(e) is ir.ModelFileError and "truncated" in str(e) and name in str(e)


def test_hdf5_without_node_group(tmp_path: Path) -> None:
    with h5py.File(tmp_path / "x.nir", "w") as f:
        f["version"] = "1.0.8"
        f["weights"] = np.ones(3)
    e = _load_error(tmp_path / "x.nir")
    assert type(e) is ir.ModelFileError and "'node'" in str(e)


def _copy_fixture(tmp_path: Path, name: str = "lif_norse.nir") -> Path:
    path = tmp_path / name
    shutil.copy(FIX / name, path)
    return path


def test_unknown_node_type_lists_supported_types(tmp_path: Path) -> None:
    path = _copy_fixture(tmp_path)
    with h5py.File(path, "r+") as f:
        del f["node/nodes/1/type"]
        f.create_dataset("node/nodes/1/type", data="Frobnicate", dtype=h5py.string_dtype())
    e = _load_error(path)
    assert type(e) is ir.UnsupportedNodeError
    msg = str(e)
    assert "'1'" in msg and "Frobnicate" in msg
    for kind in ir.NODE_TYPES:
        assert kind in msg


def test_missing_required_field_names_node_and_field(tmp_path: Path) -> None:
    path = _copy_fixture(tmp_path)
    with h5py.File(path, "r+") as f:
        del f["node/nodes/1/tau"]
    e = _load_error(path)
    assert type(e) is ir.ModelFileError
    assert "'1'" in str(e) and "tau" in str(e) and "missing" in str(e)


def test_node_without_type(tmp_path: Path) -> None:
    path = _copy_fixture(tmp_path)
    with h5py.File(path, "r+") as f:
        del f["node/nodes/0/type"]
    e = _load_error(path)
    assert type(e) is ir.ModelFileError and "'0'" in str(e) and "type" in str(e)


def test_structural_problem_in_file_is_a_graph_error(tmp_path: Path) -> None:
    path = _copy_fixture(tmp_path)
    with h5py.File(path, "r+") as f:
        del f["node/nodes/0/weight"]
        f["node/nodes/0/weight"] = np.ones((1, 2), np.float32)  # expects 2 inputs, gets 1
    e = _load_error(path)
    assert isinstance(e, ir.GraphError) and str(path) in str(e)
    assert ir.load(path, check=False).nodes["0"].weight.shape == (1, 2)


def test_rockpool_loads_with_a_warning_about_the_output_shape() -> None:
    g = ir.load(FIX / "lif_rockpool.nir")
    named = [w for w in g.load_warnings if "[1, 1, 1]" in w and "[1]" in w and "'output'" in w]
    assert len(named) == 1, g.load_warnings
    assert g.shapes["output"].input == (1,)
    assert_same_array(g.nodes["output"].shape, np.array([1, 1, 1], I64), "declared shape")


# --- from_nir / to_nir -------------------------------------------------------------


@pytest.mark.parametrize("name", NIR_READABLE)
def test_from_nir_equals_load(name: str) -> None:
    """from_nir(nir.read(f)) is ir.load(f), except that nir.read fills a missing
    v_reset with zeros (nir's own default), which ir.load leaves absent."""
    loaded = ir.load(FIX / name)
    converted = ir.from_nir(nir.read(FIX / name))
    assert set(converted.nodes) == set(loaded.nodes)
    assert set(converted.edges) == set(loaded.edges)
    assert converted.recurrent_edges == loaded.recurrent_edges
    assert converted.shapes == loaded.shapes
    for n, node in loaded.nodes.items():
        other = converted.nodes[n]
        assert other.kind == node.kind
        ours, theirs = node.params(), other.params()
        for field, value in ours.items():
            assert_same_array(theirs[field], value, f"{n}.{field}")
        assert set(theirs) - set(ours) <= {"v_reset"}
        if "v_reset" in set(theirs) - set(ours):
            assert_same_array(theirs["v_reset"], np.zeros_like(ours["v_threshold"]), "v_reset")


def test_from_nir_of_lif_norse_adds_exactly_the_default_reset() -> None:
    converted = ir.from_nir(nir.read(FIX / "lif_norse.nir"))
    assert ir.load(FIX / "lif_norse.nir").nodes["1"].v_reset is None
    assert_same_array(converted.nodes["1"].v_reset, np.zeros(1, np.float32), "v_reset")


def test_to_nir_gives_the_same_nodes() -> None:
    g = ir.load(FIX / "cnn_sinabs.nir")
    raw, raw_edges = raw_model(FIX / "cnn_sinabs.nir")
    n = ir.to_nir(g)
    assert isinstance(n, nir.NIRGraph)
    assert set(n.nodes) == set(raw)
    assert {tuple(e) for e in n.edges} == raw_edges
    for name, (kind, fields) in raw.items():
        node = n.nodes[name]
        assert type(node).__name__ == kind
        for field, want in fields.items():
            if kind == "Input":
                got = node.input_type["input"]
            elif kind == "Output":
                got = node.output_type["output"]
            elif field == "input_type":
                got = node.input_type["input"]
            else:
                got = getattr(node, field)
            assert np.asarray(got).tobytes() == want.tobytes(), f"{name}.{field}"
            assert np.asarray(got).shape == want.shape, f"{name}.{field}"


@pytest.mark.parametrize("name", NIR_READABLE)
def test_to_nir_output_is_written_by_nir_and_reads_back(name: str, tmp_path: Path) -> None:
    g = ir.load(FIX / name)
    nir.write(tmp_path / "via_nir.nir", ir.to_nir(g))
    back = ir.load(tmp_path / "via_nir.nir")
    assert set(back.edges) == set(g.edges)
    for n, node in g.nodes.items():
        theirs = back.nodes[n].params()
        for field, value in node.params().items():
            assert_same_array(theirs[field], value, f"{n}.{field}")


@pytest.mark.parametrize("mode", ["float32", "float64"])
def test_to_nir_covers_every_nir_type(mode: str, tmp_path: Path) -> None:
    """Every type but Identity through to_nir, nir.write and load, bit for bit.

    Two conversions are nir's, not neurocc's: Conv1d's input_shape (12,)
    becomes the int 12 that nir.Conv1d takes. (With optional fields absent
    nir.write itself fails on the None input_shape/input_type, so this runs
    with them present.)"""
    g = every_type_graph(mode, with_optional=True)
    del g.nodes["identity"]
    g.edges = [e for e in g.edges if "identity" not in e] + [("delay", "li")]
    n = ir.to_nir(g)
    assert {type(v).__name__ for v in n.nodes.values()} == set(ir.NODE_TYPES) - {"Identity"}
    nir.write(tmp_path / "via_nir.nir", n)
    back = ir.load(tmp_path / "via_nir.nir")
    assert set(back.edges) == set(g.edges)
    for name, node in g.nodes.items():
        theirs = back.nodes[name].params()
        assert set(theirs) == set(node.params()), name
        for field, value in node.params().items():
            if (name, field) == ("conv1d", "input_shape"):
                assert_same_array(theirs[field], np.array(12, np.int64), "conv1d.input_shape")
                continue
            assert_same_array(theirs[field], value, f"{name}.{field}")


def test_to_nir_refuses_identity() -> None:
    g = ir.Graph({"in": ir.Input(shape=np.array([2])), "id": ir.Identity(),
                  "out": ir.Output(shape=np.array([2]))}, [("in", "id"), ("id", "out")])
    with pytest.raises(ir.UnsupportedNodeError, match="'id'"):
        ir.to_nir(g)
