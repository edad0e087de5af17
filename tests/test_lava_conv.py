"""Conv blocks on Lava's Conv process (backends/loihi2/bridge.py), held to Lava itself.

A Program's ``Conv`` block runs on Lava's fixed-point ``Conv`` process: the
bridge folds the effective weights and the weight exponent into the kernel,
flips and transposes it into Lava's layout, and folds the batch into the
groups. Two independent checks:

* the same Program with every Conv block expanded to ``Dense`` (which the
  bridge runs on Lava's ``Sparse``, a different Lava process with its own
  weight clipping and exponent) must give bit-identical spikes, u and v;
* a hand-computed case: one spike through an asymmetric kernel lands, scaled
  by 2**weight_exp, on the output positions the cross-correlation definition
  names, a missed flip, transpose or exponent fold would move or rescale it.

The random Programs also run on the emulator (its Conv accumulator, never
expanded), which must equal Lava's Conv bit for bit.

Refusals (weight_exp < 0, an int8-overflowing stride, one-sided padding, a sum
beyond Lava's 24-bit wrap) need no Lava. Like tests/test_lava_runner.py these
tests need ``.venv-lava`` (``make lava``) and fail without it.
"""

from __future__ import annotations

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")  # before jax is imported

import dataclasses  # noqa: E402

import jax  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from neurocc.backends import get_target  # noqa: E402
from neurocc.backends.loihi2 import bridge  # noqa: E402
from neurocc.backends.loihi2.bridge import program_to_net, run_on_lava  # noqa: E402
from neurocc.backends.loihi2.kernel import MODEL  # noqa: E402
from neurocc.backends.loihi2.lava import lava_available, runner  # noqa: E402
from neurocc.ir import (InputPort, NeuroccError, NeuronGroup, Program,  # noqa: E402
                        QuantizationError, SynapseBlock)
from neurocc.ir.block_conv import ConvGeometry  # noqa: E402
from neurocc.ir.blocks import Conv, Dense, Sparse  # noqa: E402
from neurocc.simulators.emulator import Emulator  # noqa: E402

LOIHI2 = get_target("loihi2")
WEIGHTS = {"mixed": (-256, 255), "excitatory": (0, 255), "inhibitory": (-255, 0)}


@pytest.fixture(scope="module")
def lava_py():
    if not lava_available():
        pytest.fail("these tests need the Lava venv: run `make lava`")


# --------------------------------------------------------------------------
# Building Programs
# --------------------------------------------------------------------------

def out_size(n: int, k: int, s: int, p: int, d: int) -> int:
    """PyTorch's (and Lava's) output size for symmetric padding p."""
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


def geometry(in_shape, c_out, taps, stride, padding, dilation, groups) -> ConvGeometry:
    spatial = tuple(out_size(*a) for a in zip(in_shape[1:], taps, stride, padding, dilation))
    return ConvGeometry(tuple(in_shape), (c_out,) + spatial, tuple(stride), tuple(padding),
                        tuple(dilation), groups)


def random_conv(rng, in_shape, c_out, mode, same=False) -> Conv:
    """A random 1-d or 2-d conv: strides 1-2, padding 0-2, dilation 1-2, groups 1-2, kernels
    1-3 per axis (non-square); ``same``: stride 1 and an output shaped like the input."""
    nd = len(in_shape) - 1
    groups = int(rng.choice([g for g in (1, 2) if in_shape[0] % g == 0 and c_out % g == 0]))
    while True:
        if same:
            taps, dil = (3,) * nd, tuple(int(d) for d in rng.integers(1, 3, nd))
            stride, pad = (1,) * nd, dil
        else:
            taps = tuple(int(k) for k in rng.integers(1, 4, nd))
            stride, dil = (tuple(int(v) for v in rng.integers(1, 3, nd)) for _ in range(2))
            pad = tuple(int(v) for v in rng.integers(0, 3, nd))
        g = geometry(in_shape, c_out, taps, stride, pad, dil, groups)
        if min(g.out_shape) >= 1:
            break
    lo, hi = WEIGHTS[mode]
    kernel = rng.integers(lo, hi + 1, (c_out, in_shape[0] // groups) + taps)
    kernel *= rng.random(kernel.shape) < 0.8
    return Conv(kernel.astype(np.int32), g)


def input_scale(blocks, rate: float) -> float:
    """A typical input sum per step, for sources spiking at `rate`: the mean plus one
    standard deviation, averaged over the targets (a test's networks are small)."""
    mean = var = 0.0
    for b in blocks:
        w = b.weights.to_dense().astype(np.float64) * 2.0**b.weight_exp
        mean += rate * w.sum(axis=1)
        var += rate * (1 - rate) * (w**2).sum(axis=1)
    return float(np.mean(mean + np.sqrt(var)))


def lif_group(name, shape, rng, drive: float) -> NeuronGroup:
    """A LIF population whose threshold is near `drive` (its typical input per step) and
    whose bias alone makes most neurons fire every few steps, so that no group is silent or
    always firing, whatever its inputs' signs: spike timing then tells a wrong weight from a
    right one."""
    n = int(np.prod(shape))
    dv = int(rng.integers(300, 4097))
    vth = int(np.clip(drive * rng.uniform(1, 2), 20, 2**17 - 1))
    # the bias whose steady state v = bias 4096 / dv crosses vth << 6 by the factor drawn
    bias = 64 * vth * dv / 4096 * rng.uniform(0.5, 1.3, n) * (rng.random(n) < 0.7)
    bias = bias.astype(np.int64)
    exp = np.maximum(0, np.ceil(np.log2(np.maximum(bias, 1) / 4095))).astype(np.int64)
    params = {"du": np.array(int(rng.integers(2000, 4096)), np.int32),
              "dv": np.array(dv, np.int32), "vth": np.array(vth, np.int32),
              "bias_mant": (bias >> exp).astype(np.int32), "bias_exp": exp.astype(np.int32)}
    return NeuronGroup(name, MODEL, tuple(shape), params, name)


def block(rng, name, src, dst, weights, mode, delay=0) -> SynapseBlock:
    return SynapseBlock(name, src, dst, weights, int(rng.integers(0, 4)), int(rng.integers(5, 9)),
                        mode, delay)


#: sign modes of in->a, in->b, a->c, c->d, d->d, seq->e, b->c: each seed has all three, and
#: an inhibitory block only where its target has another drive (or a bias), so no group is
#: silenced
MODES = (("mixed", "excitatory", "inhibitory", "excitatory", "mixed", "mixed", "excitatory"),
         ("excitatory", "mixed", "mixed", "mixed", "inhibitory", "excitatory", "inhibitory"),
         ("mixed", "mixed", "excitatory", "mixed", "excitatory", "inhibitory", "mixed"))


def conv_program(seed: int) -> Program:
    """Convs from an input port and from groups, a 1-d conv, a recurrent 'same' conv, a
    delayed conv, and Dense and Sparse blocks into the same populations:

        in (2, 6, 9) --conv--> a --conv (delayed)--> c --conv--> d (--conv--> d)
                     --conv--> b --Sparse-----------^
        seq (2, 11) --conv1d--> e --Dense-----------^
    """
    rng = np.random.default_rng(seed)
    modes = iter(MODES[seed % len(MODES)])
    inputs = [InputPort("in", (2, 6, 9)), InputPort("seq", (2, 11))]
    convs = {"in->a": random_conv(rng, (2, 6, 9), 4, mode := str(next(modes)))}
    blocks = [block(rng, "in->a", "in", "a", convs["in->a"], mode)]
    convs["in->b"] = random_conv(rng, (2, 6, 9), 2, mode := str(next(modes)))
    blocks.append(block(rng, "in->b", "in", "b", convs["in->b"], mode))
    a_shape = convs["in->a"].geometry.out_shape
    convs["a->c"] = random_conv(rng, a_shape, 2, mode := str(next(modes)))
    blocks.append(block(rng, "a->c", "a", "c", convs["a->c"], mode, delay=seed % 3 + 1))
    c_shape = convs["a->c"].geometry.out_shape
    convs["c->d"] = random_conv(rng, c_shape, 2, mode := str(next(modes)))
    blocks.append(block(rng, "c->d", "c", "d", convs["c->d"], mode))
    d_shape = convs["c->d"].geometry.out_shape
    convs["d->d"] = random_conv(rng, d_shape, 2, mode := str(next(modes)), same=True)
    blocks.append(block(rng, "d->d", "d", "d", convs["d->d"], mode))
    convs["seq->e"] = random_conv(rng, (2, 11), 2, mode := str(next(modes)))
    blocks.append(block(rng, "seq->e", "seq", "e", convs["seq->e"], mode))
    e_shape = convs["seq->e"].geometry.out_shape
    b_shape = convs["in->b"].geometry.out_shape
    n_b, n_c, n_e = (int(np.prod(s)) for s in (b_shape, c_shape, e_shape))
    lo, hi = WEIGHTS[mode := str(next(modes))]
    w = rng.integers(lo, hi + 1, (n_c, n_b)) * (rng.random((n_c, n_b)) < 0.2)
    blocks.append(block(rng, "b->c", "b", "c", Sparse.from_dense(w.astype(np.int32)), mode))
    w = rng.integers(-100, 100, (n_c, n_e))
    blocks.append(block(rng, "e->c", "e", "c", w.astype(np.int32), "mixed"))
    shapes = {"a": a_shape, "b": b_shape, "c": c_shape, "d": d_shape, "e": e_shape}
    drive = {k: input_scale([b for b in blocks if b.target == k], 0.3) for k in shapes}
    groups = {k: lif_group(k, s, rng, drive[k]) for k, s in shapes.items()}
    program = Program("loihi2", groups, blocks, inputs, [], {"dt": 1.0})
    program.check()
    assert not LOIHI2.problems(program), LOIHI2.problems(program)
    return program


def expanded(program: Program) -> Program:
    """The same Program with every Conv block as Dense (the bridge runs it on Lava's Sparse)."""
    return dataclasses.replace(program, synapses=[
        dataclasses.replace(b, weights=Dense(b.weights.to_dense()))
        if isinstance(b.weights, Conv) else b for b in program.synapses])


def random_inputs(program: Program, steps: int, batch: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {p.name: (rng.random((steps, batch) + p.shape) < 0.3).astype(np.int8)
            for p in program.inputs}


def assert_same(got, want, groups, where: str) -> None:
    problems = []
    for g in groups:
        pairs = [("spikes", got.spikes[g], want.spikes[g])]
        pairs += [(k, got.traces[g][k], want.traces[g][k]) for k in ("u", "v")]
        for what, a, b in pairs:
            if a.shape != b.shape:
                problems.append(f"{g} {what}: shapes {a.shape} vs {b.shape}")
            elif not np.array_equal(a, b):
                t, s, n = np.argwhere(a != b)[0]
                problems.append(f"{g} {what}: {int((a != b).sum())} differ, first at step {t}, "
                                f"sample {s}, neuron {n}: {a[t, s, n]} vs {b[t, s, n]}")
    assert not problems, f"{where}:\n  " + "\n  ".join(problems)


# --------------------------------------------------------------------------
# Lava's Conv against Lava's Sparse
# --------------------------------------------------------------------------

def refuse_expansion(monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("a Conv or Sparse block was expanded")

    for cls in (Conv, Sparse):
        monkeypatch.setattr(cls, "to_dense", refuse)
    monkeypatch.setattr(Conv, "chunks", refuse)
    monkeypatch.setattr(Conv, "to_sparse", refuse)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_conv_blocks_on_lava_conv_equal_dense_blocks_on_lava_sparse(lava_py, monkeypatch, seed):
    """... and the emulator, whose Conv accumulator (a convolution) must not expand them."""
    program = conv_program(seed)
    x = random_inputs(program, 24, 2, seed)
    groups = list(program.groups)
    want = run_on_lava(expanded(program), x, record=groups)
    with monkeypatch.context() as m:
        refuse_expansion(m)
        got = run_on_lava(program, x, record=groups)
        with jax.numpy_dtype_promotion("strict"):
            emu = Emulator(program, LOIHI2, record=groups).run(x)
    assert_same(got, want, groups, f"seed {seed}: Lava Conv vs Lava Sparse")
    assert_same(emu, got, groups, f"seed {seed}: emulator vs Lava Conv")
    # not vacuous: every group gets input and spikes, but not at every step, and the two
    # samples (folded into one Lava Conv's groups) differ
    for g in groups:
        assert np.abs(got.traces[g]["u"]).max() > 0, g
        assert 0 < got.spikes[g].mean() < 0.95, (g, got.spikes[g].mean())
        assert not np.array_equal(got.traces[g]["u"][:, 0], got.traces[g]["u"][:, 1]), g


# --------------------------------------------------------------------------
# A hand-computed case
# --------------------------------------------------------------------------

def hand_program() -> tuple[Program, np.ndarray]:
    """One asymmetric (C_out 2, C_in 2, 2 x 3) kernel, distinct positive weights, stride 1,
    no padding, weight_exp 2; neurons with no current memory (du 4095: u = a_in << 6 in the
    step the sum arrives), no voltage memory and an unreachable threshold. Into 'now' at
    once, into 'later' with delay 2."""
    kernel = np.arange(1, 25, dtype=np.int32).reshape(2, 2, 2, 3)
    conv = Conv(kernel, geometry((2, 4, 5), 2, (2, 3), (1, 1), (0, 0), (1, 1), 1))
    assert conv.geometry.out_shape == (2, 3, 3)
    params = {"du": np.array(4095, np.int32), "dv": np.array(4096, np.int32),
              "vth": np.array(2**17 - 1, np.int32)}
    groups = {k: NeuronGroup(k, MODEL, (2, 3, 3), dict(params), k) for k in ("now", "later")}
    blocks = [SynapseBlock("in->now", "in", "now", conv, 2, 8, "excitatory"),
              SynapseBlock("in->later", "in", "later", conv, 2, 8, "excitatory", delay=2)]
    program = Program("loihi2", groups, blocks, [InputPort("in", (2, 4, 5))], [], {"dt": 1.0})
    program.check()
    return program, kernel


def hand_expected(kernel: np.ndarray, spike: tuple[int, int, int]) -> np.ndarray:
    """u (2, 3, 3) after one input spike at (c, y, x): by the definition of the
    cross-correlation, out[o, oy, ox] = sum_c,ky,kx in[c, oy + ky, ox + kx] k[o, c, ky, kx],
    so the spike reaches out[o, y - ky, x - kx] with weight k[o, c, ky, kx], times 2**2
    (weight_exp) times 2**6 (the LIF's input shift)."""
    c, y, x = spike
    u = np.zeros((2, 3, 3), np.int64)
    for o in range(2):
        for ky in range(2):
            for kx in range(3):
                if 0 <= y - ky < 3 and 0 <= x - kx < 3:
                    u[o, y - ky, x - kx] = kernel[o, c, ky, kx] * 4 * 64
    return u


SPIKES = [(1, 1, 3), (0, 2, 0), (1, 3, 4)]   # one per sample: corners and the middle


@pytest.mark.parametrize("per_network", [None, 2])
def test_asymmetric_kernel_lands_where_the_definition_says(lava_py, monkeypatch, per_network):
    """per_network 2: the batch of 3 runs as two Lava networks (2 samples, then 1), as
    run_on_lava splits a batch whose groups would overflow Lava's int8."""
    program, kernel = hand_program()
    if per_network:
        monkeypatch.setattr(bridge, "max_batch", lambda program: per_network)
    x = np.zeros((6, 3, 2, 4, 5), np.int8)
    for b, (c, y, xx) in enumerate(SPIKES):
        x[0, b, c, y, xx] = 1
    got = run_on_lava(program, x, record=["now", "later"])
    for b, spike in enumerate(SPIKES):
        want = hand_expected(kernel, spike).reshape(-1)
        assert want.any()
        for g, step in (("now", 1), ("later", 3)):   # latency 1, plus the delay
            u = got.traces[g]["u"][:, b]
            assert np.array_equal(u[step], want), (g, b, u[step].reshape(2, 3, 3))
            assert not np.delete(u, step, axis=0).any(), (g, b)


# --------------------------------------------------------------------------
# Nothing expanded, and refusals (no Lava needed)
# --------------------------------------------------------------------------

def test_sparse_and_conv_blocks_are_not_expanded(monkeypatch):
    program = conv_program(0)
    refuse_expansion(monkeypatch)
    net, steps, batch = program_to_net(program, random_inputs(program, 5, 2, 0))
    convs = [c for c in net["connections"] if c.get("type") == "conv"]
    assert len(convs) == 6 and (steps, batch) == (5, 2)
    # B samples of g groups are one conv of B g groups over B times the channels
    a = next(c for c in convs if c["target"] == "a")
    g = program.synapses[0].weights.geometry
    assert a["groups"] == 2 * g.groups and a["input_shape"] == (9, 6, 4)
    assert a["source"] == "input" and a["source_rows"] == (0, 2 * 2 * 6 * 9)
    seq = next(c for c in convs if c["target"] == "e")     # the 1-d conv: a unit height
    assert seq["input_shape"] == (11, 1, 4) and seq["source_rows"] == (2 * 108, 2 * 108 + 44)
    sparse = next(c for c in net["connections"] if c["source"] == "b")
    assert sparse["weights"].shape == (2 * program.groups["c"].size, 2 * program.groups["b"].size)


def test_batch_per_lava_network():
    """B samples of a g-group conv are one Lava Conv of B g groups, an int8: 127 // g."""
    program, _ = hand_program()
    assert bridge.max_batch(program) == 127
    assert bridge.max_batch(expanded(program)) is None           # no conv: no limit
    kernel = np.ones((6, 1, 1, 1), np.int32)
    grouped = Conv(kernel, geometry((3, 2, 2), 6, (1, 1), (1, 1), (0, 0), (1, 1), 3))
    program.synapses.append(SynapseBlock("grouped", "in3", "g3", grouped))
    assert bridge.max_batch(program) == 42
    with pytest.raises(NeuroccError, match=r"43 samples .* 3 groups make 129 groups, beyond "
                                           r"Lava's 127; run at most 42"):
        bridge._conv_connection(program.synapses[-1], 43)


def test_kernel_layout_weight_exp_and_effective_weights():
    """The kernel Lava gets, for a 2 x 3 kernel: flipped on both axes, (C_out, W, H, C_in),
    mixed-sign 8-bit weights without their LSB (as Lava's Dense drops it), shifted by 3."""
    kernel = np.array([[[[1, 2, 3], [4, 5, -7]]]], np.int32)
    conv = Conv(kernel, geometry((1, 3, 4), 1, (2, 3), (1, 2), (1, 0), (1, 1), 1))
    b = SynapseBlock("k", "in", "g", conv, 3, 8, "mixed")
    entry = bridge._conv_connection(b, 1)
    # effective weights: 1 -> 0, 3 -> 2, 5 -> 4, -7 -> -8 (floor to even); then << 3
    assert entry["weight"][0, :, :, 0].tolist() == [[-64, 16], [32, 16], [32, 0]]
    assert entry["stride"] == (2, 1) and entry["padding"] == (0, 1)
    assert entry["input_shape"] == (4, 3, 1)


def _conv_block(name="blk", weight_exp=0, stride=(1, 1), in_shape=(1, 5, 5), padding=(0, 0),
                out=None, kernel=None, mode="mixed") -> tuple[Program, SynapseBlock]:
    kernel = np.ones((1, 1, 1, 1), np.int32) * 4 if kernel is None else kernel
    g = geometry(in_shape, kernel.shape[0], kernel.shape[2:], stride, padding, (1, 1), 1)
    if out is not None:
        g = dataclasses.replace(g, out_shape=out)
    blk = SynapseBlock(name, "in", "g", Conv(kernel, g), weight_exp, 8, mode)
    params = {"du": np.array(0, np.int32), "dv": np.array(0, np.int32),
              "vth": np.array(10, np.int32)}
    program = Program("loihi2", {"g": NeuronGroup("g", MODEL, g.out_shape, params, "g")}, [blk],
                      [InputPort("in", in_shape)], [], {"dt": 1.0})
    program.check()
    return program, blk


def test_negative_weight_exp_on_a_conv_is_refused():
    program, _ = _conv_block("c1", weight_exp=-2)
    problems = LOIHI2.problems(program)
    assert len(problems) == 1
    assert "block 'c1'" in problems[0] and "weight_exp >= 0" in problems[0]
    assert "got -2" in problems[0]
    with pytest.raises(QuantizationError, match=r"block 'c1'.*weight_exp >= 0.*got -2"):
        run_on_lava(program, np.zeros((2, 1, 1, 5, 5), np.int8))
    # the same weights as a Sparse block are fine: Lava's Sparse has the exponent
    sparse = dataclasses.replace(program, synapses=[dataclasses.replace(
        program.synapses[0], weights=program.synapses[0].weights.to_sparse())])
    assert not LOIHI2.problems(sparse)


def test_int8_stride_one_sided_padding_and_a_wrapping_sum_are_refused():
    program, _ = _conv_block("wide", stride=(1, 128), in_shape=(1, 2, 200))
    (problem,) = LOIHI2.problems(program)
    assert "block 'wide'" in problem and "stride (1, 128) beyond 127" in problem
    assert "at most 127" in problem
    with pytest.raises(NeuroccError, match="stride"):
        program_to_net(program, {"in": np.zeros((2, 1, 1, 2, 200), np.int8)})
    program, _ = _conv_block("stride127", stride=(1, 127), in_shape=(1, 2, 200))
    assert not LOIHI2.problems(program)

    # padding 1 before, none after: 4 outputs where Lava's symmetric padding gives 5
    program, _ = _conv_block("pad", padding=(1, 1), kernel=np.ones((1, 1, 3, 3), np.int32),
                             out=(1, 4, 4))
    (problem,) = LOIHI2.problems(program)
    assert "block 'pad'" in problem and "(1, 1) before and (0, 0) after" in problem
    assert "would give (5, 5)" in problem

    # 29 channels x 3 x 3 taps of 255 << 7 = 8 519 040 > 2**23 - 1; 28 channels fit
    for c_in, bad in ((29, True), (28, False)):
        kernel = np.full((1, c_in, 3, 3), 255, np.int32)
        program, _ = _conv_block("big", weight_exp=7, in_shape=(c_in, 3, 3), kernel=kernel,
                                 mode="excitatory")
        problems = LOIHI2.problems(program)
        assert bool(problems) == bad, problems
    assert "can sum to 8519040" in "".join(
        LOIHI2.problems(_conv_block("big", 7, in_shape=(29, 3, 3), mode="excitatory",
                                    kernel=np.full((1, 29, 3, 3), 255, np.int32))[0]))


def test_runner_refuses_a_malformed_conv(tmp_path):
    from neurocc.backends.loihi2.lava import write_net

    conn = {"type": "conv", "source": "input", "target": "p", "weight": np.ones((1, 2, 2, 1)),
            "input_shape": (3, 3, 1), "stride": 1, "padding": 0}
    net = {"input": np.zeros((9, 2)), "populations": {"p": {"n": 4, "du": 0, "dv": 0, "vth": 1}},
           "connections": [conn]}
    write_net(tmp_path / "ok.npz", net, 2)
    runner.load_net(tmp_path / "ok.npz")         # (3 - 2) + 1 = 2 per axis: 4 targets
    net["populations"]["p"]["n"] = 9
    write_net(tmp_path / "bad.npz", net, 2)
    with pytest.raises(runner.NetFormatError, match=r"needs 9 sources and 4 targets, got 9 and 9"):
        runner.load_net(tmp_path / "bad.npz")
    net["populations"]["p"]["n"] = 4
    conn["dilation"] = 128
    write_net(tmp_path / "dil.npz", net, 2)
    with pytest.raises(runner.NetFormatError, match=r"dilation \[128, 128\] beyond 127"):
        runner.load_net(tmp_path / "dil.npz")
