"""The emulator sums Conv and Sparse blocks without expanding them, bit for bit as their
dense matrices.

Each test builds a small random Loihi 2 Program whose blocks are ``Conv`` (1-d and 2-d,
strides, padding, dilation, groups, weight exponents, all three sign modes, layers, an
input port, a recurrent block, a delayed block) or ``Sparse`` (random CSR), runs it as
it is and with every block converted to ``Dense(block.weights.to_dense())``, and
requires every group's spikes, recorded u and v, and each block's synaptic-event
counter to be identical. The dense run is the emulator's older, Lava-proven path
(tests/test_emulator.py); it counts events through extra weight columns, a different
computation from the structured blocks' ``spikes @ fan_out``.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from neurocc import ir
from neurocc.backends import get_target
from neurocc.backends.loihi2.kernel import MODEL
from neurocc.backends.loihi2.synapse import effective_weights
from neurocc.ir.block_conv import Conv, ConvGeometry
from neurocc.ir.block_sparse import Sparse
from neurocc.ir.blocks import Dense
from neurocc.simulators.emulator import Emulator
from neurocc.simulators.emulator import structured

LOIHI2 = get_target("loihi2")

#: kernel values per sign mode, inside what Loihi 2's effective weights keep
SIGN_RANGES = {"mixed": (-256, 256), "excitatory": (0, 256), "inhibitory": (-255, 1)}


def group(name: str, size: int, rng: np.random.Generator, vth: int = 300) -> ir.NeuronGroup:
    return ir.NeuronGroup(name, MODEL, (size,), {
        "du": np.array(int(rng.integers(200, 3000)), np.int32),
        "dv": np.array(int(rng.integers(100, 1500)), np.int32),
        "vth": np.array(vth, np.int32),
        "bias_mant": rng.integers(-40, 120, size).astype(np.int32),
        "bias_exp": np.full(size, 2, np.int32)})


def conv_out(n: int, k: int, stride: int, pad: int, dil: int) -> int:
    """PyTorch's output length for `pad` zeros on both sides."""
    return (n + 2 * pad - dil * (k - 1) - 1) // stride + 1


def conv(rng: np.random.Generator, in_shape: tuple[int, ...], c_out: int, k: int, stride: int = 1,
         pad: int = 0, dil: int = 1, groups: int = 1, sign: str = "mixed", crop: int = 0) -> Conv:
    """A random kernel over `in_shape` (C, *spatial); `crop` drops output positions at the
    end of each axis (the other side's padding becomes negative: inputs never read)."""
    spatial = in_shape[1:]
    out = tuple(conv_out(n, k, stride, pad, dil) - crop for n in spatial)
    lo, hi = SIGN_RANGES[sign]
    kernel = rng.integers(lo, hi, (c_out, in_shape[0] // groups) + (k,) * len(spatial))
    kernel[rng.random(kernel.shape) < 0.2] = 0          # some zero taps: fan counts skip them
    nd = len(spatial)
    geometry = ConvGeometry(tuple(in_shape), (c_out,) + out, (stride,) * nd, (pad,) * nd,
                            (dil,) * nd, groups)
    return Conv(kernel.astype(np.int32), geometry)


def sparse(rng: np.random.Generator, n_t: int, n_s: int, density: float, sign: str = "mixed") -> Sparse:
    lo, hi = SIGN_RANGES[sign]
    nnz = int(n_t * n_s * density)
    r, c = rng.integers(0, n_t, nnz), rng.integers(0, n_s, nnz)
    values = rng.integers(lo, hi, nnz)
    # from_coo sums duplicates: clipped back into the sign mode's range
    block = Sparse.from_coo(r, c, values, (n_t, n_s))
    return block.with_values(np.clip(block.data, lo, hi - 1).astype(np.int32))


def block(name: str, source: str, target: str, weights, sign: str = "mixed", exp: int = 0,
          delay: int = 0, bits: int = 8) -> ir.SynapseBlock:
    return ir.SynapseBlock(name, source, target, weights, exp, bits, sign, delay)


def program(groups: dict[str, ir.NeuronGroup], blocks: list[ir.SynapseBlock], n_in: int) -> ir.Program:
    last = list(groups)[-1]
    return ir.Program("loihi2", groups, blocks, [ir.InputPort("in", (n_in,))],
                      [ir.OutputPort("out", last, groups[last].shape)], {"dt": 1.0})


def as_dense(prog: ir.Program) -> ir.Program:
    return dataclasses.replace(prog, synapses=[
        dataclasses.replace(b, weights=Dense(b.weights.to_dense())) for b in prog.synapses])


def assert_same_run(prog: ir.Program, x: np.ndarray, forced: bool = False) -> dict:
    """Run `prog` as it is and with its blocks converted to Dense (and, `forced`, as it is
    with summation="dense"); every spike, u, v and event counter must agree. Returns the
    structured run's summation modes."""
    groups = tuple(prog.groups)
    emu = Emulator(prog, LOIHI2, record=groups)
    got = emu.run(x)
    refs = {"dense blocks": Emulator(as_dense(prog), LOIHI2, record=groups).run(x)}
    if forced:
        refs["forced dense"] = Emulator(prog, LOIHI2, record=groups, summation="dense").run(x)
    for how, ref in refs.items():
        for g in groups:
            assert np.array_equal(got.spikes[g], ref.spikes[g]), (how, g, "spikes")
            for var in ("u", "v"):
                assert np.array_equal(got.traces[g][var], ref.traces[g][var]), (how, g, var)
        for b in prog.synapses:
            assert np.array_equal(got.counters["synaptic_events"][b.name],
                                  ref.counters["synaptic_events"][b.name]), (how, b.name, "events")
    # not vacuous: every group fired, and not all the time
    for g in groups:
        assert 0 < got.spikes[g].mean() < 0.9, (g, got.spikes[g].mean())
    # the counters themselves: spikes of the source times each source's non-zero fan-out,
    # counted here from the dense effective matrix
    for b in prog.synapses:
        w = effective_weights(b.weights.to_dense(), b.num_weight_bits, b.sign_mode)
        src = x.reshape(x.shape[:2] + (-1,)) if b.source == "in" else got.spikes[b.source]
        expected = (src != 0).astype(np.int64) @ np.count_nonzero(w, axis=0)
        assert np.array_equal(got.counters["synaptic_events"][b.name], expected), b.name
    return emu.summation


# ======================================================================================
# Conv
# ======================================================================================

#: (in_shape, c_out, kernel, stride, padding, dilation, groups, crop, batch)
CONV_CASES = [
    ((2, 24), 3, 3, 1, 0, 1, 1, 0, 2),
    ((2, 24), 4, 3, 2, 2, 1, 2, 0, 9),
    ((4, 21), 2, 2, 1, 1, 2, 2, 1, 2),       # negative padding after: last inputs unread
    ((2, 10, 9), 3, 3, 1, 1, 1, 1, 0, 9),
    ((2, 11, 10), 4, 3, 2, 2, 2, 2, 0, 2),
    ((4, 9, 9), 4, 2, 2, 0, 1, 2, 1, 9),
]


@pytest.mark.parametrize("case", range(len(CONV_CASES)))
def test_conv_layers_equal_their_dense_matrices(case: int) -> None:
    """in -> conv -> a -> conv (delay 2) -> b, a -> a and b -> b recurrent convs: a port-fed
    block and an earlier layer's are summed before the scan, the recurrent ones inside it;
    sign modes and weight exponents differ per block."""
    in_shape, c_out, k, stride, pad, dil, groups, crop, batch = CONV_CASES[case]
    rng = np.random.default_rng(100 + case)
    first = conv(rng, in_shape, c_out, k, stride, pad, dil, groups, "mixed", crop)
    mid = first.geometry.out_shape
    second = conv(rng, mid, 2 * groups, k, 1, pad, 1, groups, "excitatory")
    rec_a = conv(rng, mid, mid[0], 3, 1, 1, 1, groups, "inhibitory")
    out = second.geometry.out_shape
    rec_b = conv(rng, out, out[0], 1, 1, 0, 1, 1, "mixed")
    n_in, n_a, n_b = int(np.prod(in_shape)), int(np.prod(mid)), int(np.prod(out))
    groups_ = {"a": group("a", n_a, rng, vth=int(rng.integers(150, 400))),
               "b": group("b", n_b, rng, vth=int(rng.integers(150, 400)))}
    blocks = [block("in->a", "in", "a", first, "mixed", exp=int(rng.integers(0, 2))),
              block("a->b", "a", "b", second, "excitatory", exp=int(rng.integers(0, 4)), delay=2),
              block("a->a", "a", "a", rec_a, "inhibitory", exp=1),
              block("b->b", "b", "b", rec_b, "mixed", exp=0, bits=7)]
    prog = program(groups_, blocks, n_in)
    x = rng.random((25, batch, n_in)) < 0.3
    modes = assert_same_run(prog, x, forced=case == 0)
    assert set(modes.values()) == {"conv-f32"}


def test_conv_weight_exponents_zero_to_three_and_sign_modes() -> None:
    """One input feeds four 2-d conv groups, in each sign mode, at weight_exp 0..3."""
    rng = np.random.default_rng(7)
    in_shape = (3, 8, 8)
    n_in = int(np.prod(in_shape))
    groups_, blocks = {}, []
    for i, (sign, exp) in enumerate((("mixed", 3), ("excitatory", 0), ("inhibitory", 2),
                                     ("mixed", 1))):
        c = conv(rng, in_shape, 2, 3, 1, 1, 1, 1, sign)
        name = f"g{i}"
        n = c.shape[0]
        groups_[name] = group(name, n, rng, vth=6000 if sign == "excitatory" else 300)
        if sign == "inhibitory":   # inhibited neurons fire from their bias alone
            groups_[name].params["bias_mant"] = np.full(n, 3000, np.int32)
            groups_[name].params["bias_exp"] = np.full(n, 6, np.int32)
        blocks.append(block(f"in->{name}", "in", name, c, sign, exp=exp))
    prog = program(groups_, blocks, n_in)
    x = rng.random((30, 3, n_in)) < 0.25
    assert assert_same_run(prog, x) == {b.name: "conv-f32" for b in blocks}


def test_conv_int32_when_float32_cannot_be_exact() -> None:
    """131072 terms per output (512 channels x 256 taps) of |w| 128..256: a channel's
    sum |w| passes 2**24, so float32 cannot be proven exact; the block is summed in exact
    int32 (float32 digits recombined), and one step's sums do pass 2**24."""
    rng = np.random.default_rng(11)
    in_shape, taps = (512, 256), 256
    mag = rng.integers(128, 257, (2, 512, taps))
    sign = np.where(rng.random(mag.shape) < 0.5, -1, 1)
    sign[0] = -1                                        # channel 0 all negative
    kernel = (mag * sign).clip(-256, 255).astype(np.int32)
    c = Conv(kernel, ConvGeometry(in_shape, (2, 1), (1,), (0,), (1,), 1))
    n_in = 512 * 256
    prog = program({"g": group("g", 2, rng, vth=1)},
                   [block("in->g", "in", "g", c, "mixed", bits=9)], n_in)
    prog.groups["g"].params["bias_mant"] = np.array([4000, 0], np.int32)
    x = np.zeros((6, 2, n_in), bool)
    x[0] = True                                         # every input at step 0: |sum| > 2**24
    x[2:] = rng.random((4, 2, n_in)) < 0.5
    w = effective_weights(c.to_dense(), 9, "mixed").astype(np.int64)
    assert np.abs(w @ np.ones(n_in, np.int64)).max() >= 1 << 24
    modes = assert_same_run_any_rate(prog, x)
    assert modes == {"in->g": "conv-i32"}
    assert structured.ConvSum(c, 1).n_digits >= 2       # float32 digits, not the int32 conv


def assert_same_run_any_rate(prog: ir.Program, x: np.ndarray) -> dict:
    """assert_same_run without the firing-rate guard (a one-layer check of the sums)."""
    groups = tuple(prog.groups)
    emu = Emulator(prog, LOIHI2, record=groups)
    got = emu.run(x)
    ref = Emulator(as_dense(prog), LOIHI2, record=groups).run(x)
    for g in groups:
        assert np.array_equal(got.spikes[g], ref.spikes[g]), g
        for var in ("u", "v"):
            assert np.array_equal(got.traces[g][var], ref.traces[g][var]), (g, var)
    for b in prog.synapses:
        assert np.array_equal(got.counters["synaptic_events"][b.name],
                              ref.counters["synaptic_events"][b.name]), b.name
    assert got.traces[groups[0]]["u"].any()
    return emu.summation


@pytest.mark.parametrize("max_digits", [1, 3])
def test_conv_int32_paths_agree(monkeypatch, max_digits: int) -> None:
    """The exact int32 sum both ways: the int32 convolution itself (one digit allowed) and
    two float32 digits, each equal to numpy's int64 product, for a 2-d grouped, strided,
    padded kernel of values up to 2**22 (ConvSum alone: Loihi 2's weights never get this
    large, another chip's may)."""
    rng = np.random.default_rng(13)
    monkeypatch.setattr(structured, "MAX_DIGITS", max_digits)
    kernel = rng.integers(-(1 << 22), 1 << 22, (4, 2, 3, 3)).astype(np.int32)
    c = Conv(kernel, ConvGeometry((4, 7, 6), (4, 4, 3), (2, 2), (1, 1), (1, 1), 2))
    acc = structured.ConvSum(c, 1)
    assert acc.mode == "conv-i32"
    assert acc.n_digits == (0 if max_digits < 2 else 2)
    s = rng.random((5, c.shape[1])) < 0.6
    want = s.astype(np.int64) @ c.to_dense().T.astype(np.int64)
    assert np.abs(want).max() >= 1 << 24                 # float32 alone would round
    assert np.array_equal(np.asarray(acc(s)), want)


def test_conv_float32_at_its_bound_is_exact() -> None:
    """A channel whose sum |w| is 2**24 - 1 (all taps one sign, every input on) is still
    float32: the largest sum, 2**24 - 1, is exact, and one more would not be."""
    taps = 65793                                       # 255 * 65793 = 2**24 - 1
    kernel = np.full((1, 1, taps), 255, np.int32)
    c = Conv(kernel, ConvGeometry((1, taps), (1, 1), (1,), (0,), (1,), 1))
    acc = structured.ConvSum(c, 1)
    assert acc.mode == "conv-f32"
    assert int(np.asarray(acc(np.ones((1, taps), bool)))[0, 0]) == (1 << 24) - 1
    bigger = Conv(np.full((1, 1, taps + 1), 255, np.int32),
                  ConvGeometry((1, taps + 1), (1, 1), (1,), (0,), (1,), 1))
    assert structured.ConvSum(bigger, 1).mode == "conv-i32"


# ======================================================================================
# Sparse
# ======================================================================================

@pytest.mark.parametrize("batch", [1, 3, 9])
def test_sparse_layers_equal_their_dense_matrices(batch: int) -> None:
    """in -> a -> b with a recurrent sparse block on a and a delayed one on b: batch 1 and 3
    take segment sums inside the scan, 9 the CSR product; blocks before the scan always
    have many rows (steps x batch)."""
    rng = np.random.default_rng(20 + batch)
    n_in, n_a, n_b = 60, 40, 30
    groups_ = {"a": group("a", n_a, rng, vth=250), "b": group("b", n_b, rng, vth=250)}
    blocks = [block("in->a", "in", "a", sparse(rng, n_a, n_in, 0.2), "mixed", exp=1),
              block("a->a", "a", "a", sparse(rng, n_a, n_a, 0.1, "inhibitory"), "inhibitory"),
              block("a->b", "a", "b", sparse(rng, n_b, n_a, 0.3, "excitatory"), "excitatory",
                    exp=2, delay=3),
              block("b->b", "b", "b", sparse(rng, n_b, n_b, 0.05), "mixed", bits=6)]
    prog = program(groups_, blocks, n_in)
    x = rng.random((40, batch, n_in)) < 0.3
    assert set(assert_same_run(prog, x, forced=batch == 1).values()) == {"sparse"}


def test_sparse_segment_sums_in_bounded_passes(monkeypatch) -> None:
    """A pass of segment sums holds at most SEGMENT_ELEMENTS products: with the bound below
    one block's synapses, rows go one at a time (``lax.map``), with the same sums."""
    rng = np.random.default_rng(31)
    sp = sparse(rng, 50, 80, 0.2)
    s = rng.random((6, 80)) < 0.4
    want = s.astype(np.int64) @ sp.to_dense().T.astype(np.int64)
    whole = structured.SparseSum(sp)._segments(s)
    monkeypatch.setattr(structured, "SEGMENT_ELEMENTS", 10)
    assert np.array_equal(np.asarray(whole), want)
    assert np.array_equal(np.asarray(structured.SparseSum(sp)._segments(s)), want)
    assert np.array_equal(np.asarray(structured.SparseSum(sp)(s[:5].repeat(2, 0))),
                          want[:5].repeat(2, 0))   # 10 rows: the CSR product


def test_empty_sparse_block_delivers_nothing() -> None:
    rng = np.random.default_rng(5)
    empty = Sparse(np.zeros(11, np.int64), np.zeros(0, np.int32), np.zeros(0, np.int32), (10, 12))
    prog = program({"g": group("g", 10, rng)},
                   [block("in->g", "in", "g", empty), block("g->g", "g", "g", sparse(rng, 10, 10, 0.3))], 12)
    for batch in (2, 9):
        x = rng.random((10, batch, 12)) < 0.5
        res = Emulator(prog, LOIHI2, record=("g",)).run(x)
        ref = Emulator(as_dense(prog), LOIHI2, record=("g",)).run(x)
        assert not res.counters["synaptic_events"]["in->g"].any()
        assert np.array_equal(res.traces["g"]["u"], ref.traces["g"]["u"])


# ======================================================================================
# Mixed encodings, forcing, and the per-event path
# ======================================================================================

def test_dense_conv_and_sparse_in_one_network() -> None:
    """in -> (conv) a -> (sparse) b -> (dense) c, plus a sparse skip in -> c and a recurrent
    conv on a; dense blocks keep their modes, the others are summed as they are stored."""
    rng = np.random.default_rng(41)
    in_shape = (2, 12, 12)
    n_in = int(np.prod(in_shape))
    c1 = conv(rng, in_shape, 3, 3, 2, 1, 1, 1)
    n_a = c1.shape[0]
    groups_ = {"a": group("a", n_a, rng, vth=300), "b": group("b", 24, rng, vth=200),
               "c": group("c", 10, rng, vth=1500)}
    blocks = [block("in->a", "in", "a", c1, exp=1),
              block("a->a", "a", "a", conv(rng, c1.geometry.out_shape, 3, 3, 1, 1, 1, 1,
                                           "inhibitory"), "inhibitory"),
              block("a->b", "a", "b", sparse(rng, 24, n_a, 0.15), exp=1, delay=1),
              block("b->c", "b", "c", rng.integers(-100, 120, (10, 24)).astype(np.int32), exp=1),
              block("in->c", "in", "c", sparse(rng, 10, n_in, 0.02, "excitatory"), "excitatory")]
    prog = program(groups_, blocks, n_in)
    x = rng.random((30, 2, n_in)) < 0.2
    assert assert_same_run(prog, x, forced=True) == {"in->a": "conv-f32", "a->a": "conv-f32",
                                        "a->b": "sparse", "b->c": "dense-i8",
                                        "in->c": "sparse"}


def test_structured_blocks_are_not_expanded_unless_forced(monkeypatch) -> None:
    """The driver never calls to_dense on a Conv or Sparse block of its own accord."""
    rng = np.random.default_rng(3)
    prog = program({"g": group("g", 16, rng)},
                   [block("in->g", "in", "g", conv(rng, (2, 9), 2, 2)),
                    block("g->g", "g", "g", sparse(rng, 16, 16, 0.3))], 18)

    def refuse(self):
        raise AssertionError(f"{type(self).__name__} expanded")
    monkeypatch.setattr(Conv, "to_dense", refuse)
    monkeypatch.setattr(Sparse, "to_dense", refuse)
    emu = Emulator(prog, LOIHI2)
    emu.run(np.ones((3, 1, 18), bool))
    assert emu.summation == {"in->g": "conv-f32", "g->g": "sparse"}
    with pytest.raises(AssertionError, match="expanded"):
        Emulator(prog, LOIHI2, summation="dense")


def test_conv_on_a_per_event_target_is_refused_by_name() -> None:
    """Xylo saturates after every event; its per-event path sums Dense blocks only."""
    xylo = get_target("xylo_audio2")
    rng = np.random.default_rng(2)
    c = conv(rng, (2, 8), 2, 3, sign="excitatory")
    n = c.shape[0]
    g = ir.NeuronGroup("h", "xylo.lif", (n,), {
        k: np.full(n, v, np.int32) for k, v in (("dash_mem", 2), ("dash_syn", 2),
                                                 ("dash_syn2", 2), ("threshold", 100), ("bias", 0))})
    prog = ir.Program("xylo_audio2", {"h": g}, [ir.SynapseBlock("in->h", "in", "h", c)],
                      [ir.InputPort("in", (16,))], [ir.OutputPort("out", "h", (c.shape[0],))],
                      {}, dt=1e-3)
    with pytest.raises(ir.SimulationError,
                       match=r"synapse block 'in->h': a conv block, but target 'xylo_audio2' "
                             r"saturates after every event"):
        Emulator(prog, xylo)
    # the fix the message offers: forced dense expands the block, and the per-event path runs it
    x = np.random.default_rng(4).integers(0, 3, (8, 2, 16))
    forced = Emulator(prog, xylo, record=("h",), summation="dense").run(x)
    dense = Emulator(as_dense(prog), xylo, record=("h",)).run(x)
    assert forced.traces["h"]["v"].any()
    assert np.array_equal(forced.traces["h"]["v"], dense.traces["h"]["v"])
