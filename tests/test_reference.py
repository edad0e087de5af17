"""The float reference simulator against the NIR equations and real traces.

Each neuron primitive is checked against a few lines of numpy written here
from the NIR equations (not the simulator's helpers); the LIF neuron against
traces recorded by Norse and an exact integration (tests/fixtures/nir-paper).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from neurocc import ir
from neurocc.simulators import reference

FIX = Path(__file__).parent / "fixtures" / "nir-paper"
RNG = np.random.default_rng(1234)


def lif_input_train() -> np.ndarray:
    """The input of the NIR paper's LIF traces, rebuilt from the README's recipe."""
    isis = [6, 15, 4, 3, 0, 2, 1, 2, 0, 1, 0, 0, 0, 0, 0, 0, 0,
            0, 0, 0, 13, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0, 14]
    seq: list[int] = []
    for isi in isis:
        seq += [0] * isi + [1]
    x = np.zeros(1000)
    x[::10] = seq[:100]
    return x


def test_input_recipe_matches_the_traces() -> None:
    trace = np.loadtxt(FIX / "lif_norse.csv", delimiter=",")
    assert np.array_equal(lif_input_train(), trace[:, 0])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_lif_norse_matches_norse_trace(dtype: str) -> None:
    graph = ir.load(FIX / "lif_norse.nir")
    trace = np.loadtxt(FIX / "lif_norse.csv", delimiter=",")
    x = lif_input_train().reshape(1000, 1, 1)
    res = reference.run(graph, x, dt=1e-4, record=("1",), dtype=dtype)
    v = res.traces["1"]["v"][:, 0, 0]
    assert v.dtype == np.dtype(dtype)
    assert np.max(np.abs(v - trace[:, 1])) < 1e-5
    spikes = res.outputs["output"][:, 0, 0]
    assert np.array_equal(np.nonzero(spikes)[0], np.nonzero(trace[:, 2])[0])
    assert list(np.nonzero(spikes)[0]) == [460, 510, 710, 760]


def test_lif_exact_integrator_matches_exact_spike_steps() -> None:
    graph = ir.load(FIX / "lif_norse.nir")
    exact = np.loadtxt(FIX / "lif_exact.csv", delimiter=",")
    x = lif_input_train().reshape(1000, 1, 1)
    res = reference.run(graph, x, dt=1e-4, integrator="exact", record=("1",))
    assert np.array_equal(np.nonzero(res.outputs["output"][:, 0, 0])[0], np.nonzero(exact[:, 2])[0])
    # away from spikes (where the trace's own reset convention differs), voltages agree
    v = res.traces["1"]["v"][:, 0, 0]
    assert np.max(np.abs(v[:460] - exact[:460, 1])) < 1e-6
    assert res.semantics["integrator"].startswith("exponential")


# --- each neuron primitive against numpy written from the NIR equations -------


def single_node_graph(node: ir.Node, n: int) -> ir.Graph:
    """Input -> identity Linear -> node -> Output."""
    eye = np.eye(n, dtype=np.float64)
    nodes = {"in": ir.Input(shape=np.array([n])), "w": ir.Linear(weight=eye), "x": node,
             "out": ir.Output(shape=np.array([n]))}
    return ir.Graph(nodes, [("in", "w"), ("w", "x"), ("x", "out")])


def drive(n: int, steps: int = 200, batch: int = 3) -> np.ndarray:
    return (RNG.random((steps, batch, n)) < 0.3) * RNG.uniform(0.2, 1.5, (steps, batch, n))


def params(n: int) -> dict[str, np.ndarray]:
    return {"tau": RNG.uniform(2e-3, 2e-2, n), "tau_syn": RNG.uniform(1e-3, 1e-2, n),
            "tau_mem": RNG.uniform(2e-3, 2e-2, n), "r": RNG.uniform(0.5, 3.0, n),
            "v_leak": RNG.uniform(-0.1, 0.2, n), "v_threshold": RNG.uniform(0.3, 1.0, n),
            "v_reset": RNG.uniform(-0.2, 0.1, n), "w_in": RNG.uniform(0.5, 2.0, n)}


DT = 1e-3


def numpy_lif(p, x, spiking=True):
    v = np.zeros(x.shape[1:])
    vs, ss = [], []
    for xt in x:
        v = v + DT / p["tau"] * (p["v_leak"] - v + p["r"] * xt)
        s = v > p["v_threshold"] if spiking else np.zeros_like(v, bool)
        v = np.where(s, p["v_reset"], v)
        vs.append(v)
        ss.append(s)
    return np.array(vs), np.array(ss)


def numpy_cuba(p, x, spiking=True):
    i = np.zeros(x.shape[1:])
    v = np.zeros(x.shape[1:])
    vs, ss = [], []
    for xt in x:
        i = i + DT / p["tau_syn"] * (-i + p["w_in"] * xt)          # current first ...
        v = v + DT / p["tau_mem"] * (p["v_leak"] - v + p["r"] * i)  # ... then v sees it
        s = v > p["v_threshold"] if spiking else np.zeros_like(v, bool)
        v = np.where(s, p["v_reset"], v)
        vs.append(v)
        ss.append(s)
    return np.array(vs), np.array(ss)


def numpy_if(p, x, spiking=True):
    v = np.zeros(x.shape[1:])
    vs, ss = [], []
    for xt in x:
        v = v + DT * p["r"] * xt
        s = v > p["v_threshold"] if spiking else np.zeros_like(v, bool)
        v = np.where(s, p["v_reset"], v)
        vs.append(v)
        ss.append(s)
    return np.array(vs), np.array(ss)


NEURONS = {
    "LIF": (lambda p: ir.LIF(tau=p["tau"], r=p["r"], v_leak=p["v_leak"],
                             v_threshold=p["v_threshold"], v_reset=p["v_reset"]), numpy_lif, True),
    "LI": (lambda p: ir.LI(tau=p["tau"], r=p["r"], v_leak=p["v_leak"]), numpy_lif, False),
    "CubaLIF": (lambda p: ir.CubaLIF(tau_syn=p["tau_syn"], tau_mem=p["tau_mem"], r=p["r"],
                                     v_leak=p["v_leak"], v_threshold=p["v_threshold"],
                                     v_reset=p["v_reset"], w_in=p["w_in"]), numpy_cuba, True),
    "CubaLI": (lambda p: ir.CubaLI(tau_syn=p["tau_syn"], tau_mem=p["tau_mem"], r=p["r"],
                                   v_leak=p["v_leak"], w_in=p["w_in"]), numpy_cuba, False),
    "IF": (lambda p: ir.IF(r=p["r"] * 400, v_threshold=p["v_threshold"], v_reset=p["v_reset"]),
           lambda p, x, s: numpy_if(dict(p, r=p["r"] * 400), x, s), True),
    "I": (lambda p: ir.I(r=p["r"]), numpy_if, False),
}


@pytest.mark.parametrize("kind", sorted(NEURONS))
def test_neuron_matches_numpy_nir_equations(kind: str) -> None:
    n = 6
    build, numpy_model, spiking = NEURONS[kind]
    p = params(n)
    graph = single_node_graph(build(p), n)
    x = drive(n)
    res = reference.run(graph, x, dt=DT, record=("x",), dtype="float64")
    v_ref, s_ref = numpy_model(p, x, spiking)
    assert np.max(np.abs(res.traces["x"]["v"] - v_ref)) < 1e-9
    if spiking:
        assert np.array_equal(res.outputs["out"].astype(bool), s_ref)
        assert s_ref.sum() > 10, "the drive must make the neuron fire for the test to mean anything"
    else:
        assert np.max(np.abs(res.outputs["out"] - v_ref)) < 1e-9


def fine_euler_cuba(p, x, substeps=2000):
    """Exact integration approximated by a very fine Euler with input held over each step."""
    h = DT / substeps
    i = np.zeros(x.shape[1:])
    v = np.zeros(x.shape[1:])
    vs = []
    for xt in x:
        for _ in range(substeps):
            di = h / p["tau_syn"] * (-i + p["w_in"] * xt)
            dv = h / p["tau_mem"] * (p["v_leak"] - v + p["r"] * i)
            i, v = i + di, v + dv
        vs.append(v)
    return np.array(vs)


def test_exact_integrator_cuba_matches_fine_integration() -> None:
    n = 4
    p = params(n)
    p["tau_syn"][0] = p["tau_mem"][0]  # the degenerate case tau_syn == tau_mem
    graph = single_node_graph(NEURONS["CubaLI"][0](p), n)
    x = drive(n, steps=30, batch=1)
    res = reference.run(graph, x, dt=DT, integrator="exact", record=("x",), dtype="float64")
    v_ref = fine_euler_cuba(p, x)
    # fine Euler has O(h) error: with 2000 substeps it is within ~1e-3 of the exact solution
    assert np.max(np.abs(res.traces["x"]["v"] - v_ref)) < 2e-3 * max(1.0, np.abs(v_ref).max())


def test_threshold_and_reset_options() -> None:
    n = 1
    lif = ir.IF(r=np.array([1.0]), v_threshold=np.array([1.0]))
    graph = single_node_graph(lif, n)
    x = np.full((4, 1, 1), 0.5)  # v: 0.5, 1.0, 1.5 ...
    strict = reference.run(graph, x, dt=1.0, record=("x",))
    assert strict.outputs["out"][:, 0, 0].tolist() == [0, 0, 1, 0]  # 1.0 > 1.0 is false
    ge = reference.run(graph, x, dt=1.0, threshold=">=", record=("x",))
    assert ge.outputs["out"][:, 0, 0].tolist() == [0, 1, 0, 1]
    sub = reference.run(graph, x, dt=1.0, reset="subtract", record=("x",))
    assert sub.traces["x"]["v"][:, 0, 0].tolist() == [0.5, 1.0, 0.5, 1.0]
    assert sub.semantics["reset"] == "v <- v - v_threshold"


def test_stateless_nodes_match_numpy() -> None:
    w = RNG.normal(size=(5, 4))
    b = RNG.normal(size=5)
    scale = RNG.normal(size=5)
    nodes = {"in": ir.Input(shape=np.array([4])), "a": ir.Affine(weight=w, bias=b),
             "s": ir.Scale(scale=scale), "t": ir.Threshold(threshold=np.full(5, 0.1)),
             "out": ir.Output(shape=np.array([5]))}
    graph = ir.Graph(nodes, [("in", "a"), ("a", "s"), ("s", "t"), ("t", "out")])
    x = RNG.normal(size=(3, 2, 4))
    res = reference.run(graph, x, dt=1.0, dtype="float64")
    expected = ((x @ w.T + b) * scale) > 0.1
    assert np.array_equal(res.outputs["out"].astype(bool), expected)


def test_conv_and_pool_match_numpy() -> None:
    w = RNG.normal(size=(3, 2, 3, 3))
    b = RNG.normal(size=3)
    conv = ir.Conv2d(weight=w, stride=np.array([2, 1]), padding=np.array([1, 0]),
                     dilation=np.array([1, 1]), groups=np.array(1), bias=b)
    pool = ir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0]))
    nodes = {"in": ir.Input(shape=np.array([2, 6, 7])), "c": conv, "p": pool,
             "out": ir.Output(shape=np.array([3, 1, 2]))}
    graph = ir.Graph(nodes, [("in", "c"), ("c", "p"), ("p", "out")])
    x = RNG.normal(size=(2, 1, 2, 6, 7))
    res = reference.run(graph, x, dt=1.0, dtype="float64")
    # numpy: pad, then explicit loops over the definition
    xp = np.pad(x, ((0, 0), (0, 0), (0, 0), (1, 1), (0, 0)))
    h_out, w_out = (6 + 2 - 3) // 2 + 1, (7 - 3) // 1 + 1
    y = np.zeros((2, 1, 3, h_out, w_out))
    for i in range(h_out):
        for j in range(w_out):
            patch = xp[:, :, :, 2 * i:2 * i + 3, j:j + 3]
            y[:, :, :, i, j] = np.einsum("tbcmn,ocmn->tbo", patch, w) + b
    pooled = y[..., :2, :4].reshape(2, 1, 3, 1, 2, 2, 2).sum(axis=(4, 6))
    assert np.allclose(res.outputs["out"], pooled, atol=1e-10)


def test_delay_shifts_by_whole_steps() -> None:
    delay = ir.Delay(delay=np.array([0.0, 2e-3, 3e-3]))
    graph = ir.Graph({"in": ir.Input(shape=np.array([3])), "d": delay,
                      "out": ir.Output(shape=np.array([3]))}, [("in", "d"), ("d", "out")])
    x = RNG.normal(size=(8, 2, 3))
    y = reference.run(graph, x, dt=1e-3, dtype="float64").outputs["out"]
    assert np.array_equal(y[:, :, 0], x[:, :, 0])
    assert np.array_equal(y[2:, :, 1], x[:-2, :, 1]) and not y[:2, :, 1].any()
    assert np.array_equal(y[3:, :, 2], x[:-3, :, 2]) and not y[:3, :, 2].any()


def test_recurrent_edge_carries_previous_step() -> None:
    """in -> a(IF) -> w_rec -> a: the recurrent input at t is w_rec applied to a's spikes at t-1."""
    nodes = {"in": ir.Input(shape=np.array([1])), "a": ir.IF(r=np.array([1.0]), v_threshold=np.array([0.5])),
             "w": ir.Linear(weight=np.array([[10.0]])), "out": ir.Output(shape=np.array([1]))}
    graph = ir.Graph(nodes, [("in", "a"), ("a", "w"), ("w", "a"), ("a", "out")])
    assert graph.recurrent_edges == {("w", "a")}
    x = np.zeros((5, 1, 1))
    x[0] = 1.0  # one kick: a spikes at 0; its recurrent kick arrives at 1, and so on
    y = reference.run(graph, x, dt=1.0).outputs["out"][:, 0, 0]
    assert y.tolist() == [1, 1, 1, 1, 1]
    x[0] = 0.4  # below threshold: nothing ever
    assert reference.run(graph, x, dt=1.0).outputs["out"].sum() == 0


# --- the shared models ----------------------------------------------------------


def braille_input(batch: int = 8, steps: int = 100, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).random((steps, batch, 12)) < 0.1).astype(np.float32)


@pytest.mark.parametrize("name", ["braille_noDelay_bias_zero", "braille_noDelay_noBias_subtract"])
def test_braille_simulates(name: str) -> None:
    graph = ir.load(FIX / f"{name}.nir")
    res = reference.run(graph, braille_input(), dt=1e-4)
    out = res.outputs["output"]
    assert out.shape == (100, 8, 7)
    assert set(np.unique(out)) <= {0.0, 1.0}
    assert out.sum() > 0


def test_braille_subgraph_equals_flat() -> None:
    flat = ir.load(FIX / "braille_noDelay_bias_zero.nir")
    nested = ir.load(FIX / "braille_noDelay_bias_zero_subgraph.nir")
    x = braille_input(batch=8, steps=100, seed=7)
    a = reference.run(flat, x, dt=1e-4, record=("lif1.lif",))
    b = reference.run(nested, x, dt=1e-4, record=("lif1.lif1",))
    assert a.outputs["output"].sum() > 0
    assert np.array_equal(a.outputs["output"], b.outputs["output"])
    assert np.array_equal(a.traces["lif1.lif"]["out"], b.traces["lif1.lif1"]["out"])


def test_cnn_sinabs_simulates() -> None:
    graph = ir.load(FIX / "cnn_sinabs.nir")
    x = (np.random.default_rng(3).random((100, 8, 2, 34, 34)) < 0.1).astype(np.float32)
    res = reference.run(graph, x, dt=1.0, record=("1",))
    assert res.outputs["output"].shape == (100, 8, 10)
    assert res.traces["1"]["v"].shape == (100, 8, 16, 16, 16)
    assert res.outputs["output"].sum() > 0


# --- bad input -----------------------------------------------------------------------


def test_missing_dt_says_pass_dt() -> None:
    graph = ir.load(FIX / "lif_norse.nir")
    with pytest.raises(ir.SimulationError, match="--dt"):
        reference.run(graph, np.zeros((3, 1, 1)))


@pytest.mark.parametrize("dt", [0.0, -1e-3, float("nan")])
def test_bad_dt(dt: float) -> None:
    graph = ir.load(FIX / "lif_norse.nir")
    with pytest.raises(ir.SimulationError, match="positive"):
        reference.run(graph, np.zeros((3, 1, 1)), dt=dt)


def test_wrong_input_shape_names_expected_shape() -> None:
    graph = ir.load(FIX / "braille_noDelay_bias_zero.nir")
    with pytest.raises(ir.SimulationError, match=r"\[T, B, 12\]"):
        reference.run(graph, np.zeros((10, 2, 11)), dt=1e-4)
    with pytest.raises(ir.SimulationError, match="dtype"):
        reference.run(graph, np.zeros((10, 2, 12), dtype=complex), dt=1e-4)


def test_record_unknown_node() -> None:
    graph = ir.load(FIX / "lif_norse.nir")
    with pytest.raises(ir.SimulationError, match="no such node"):
        reference.run(graph, np.zeros((3, 1, 1)), dt=1e-4, record=("nope",))


def test_float64_does_not_switch_jax_globally() -> None:
    import jax
    graph = ir.load(FIX / "lif_norse.nir")
    reference.run(graph, np.zeros((3, 1, 1)), dt=1e-4, dtype="float64")
    assert not jax.config.jax_enable_x64
