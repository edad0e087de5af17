"""The emulator (simulators/emulator/) running Loihi 2's kernels (backends/loihi2/) against Lava, bit for bit.

* 52 seeded random Programs (built directly from the ir.Program dataclasses)
  run on the emulator and on Lava's fixed_pt models (backends/loihi2/bridge.py);
  every spike and every u and v of every group must be equal at every step
  (the comparison is tests/test_conformance.py's, parametrized over targets;
  the programs and Lava's runs are made here).
  Lava costs seconds per call, so the networks are merged into three Programs
  of disjoint groups that share one input port (one Lava call each, run in a
  background thread while JAX compiles the emulator). Each network keeps its
  own seed and a failure names it. The last chunk runs the emulator with
  event-driven summation forced on every block, so both ways of summing are
  held to Lava.
* The NIR paper's single LIF neuron (lif_norse.nir) against the Lava CPU and
  the real-chip voltage traces the paper published.
* Both trained Braille models, compiled with default options.
* The Program artifact (save/load, determinism, format version).
* The activity counters, against fan-outs counted by hand.

These tests need ``.venv-lava`` (``make lava``); without it they fail with a
message saying so, like tests/test_lava_runner.py.
"""

from __future__ import annotations

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")  # before jax is imported

import concurrent.futures  # noqa: E402
import functools  # noqa: E402
import json  # noqa: E402
import zipfile  # noqa: E402
from pathlib import Path  # noqa: E402

import jax  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from neurocc.backends.loihi2 import target  # noqa: E402
from neurocc.backends.loihi2.bridge import run_on_lava  # noqa: E402
from neurocc.compiler.pipeline import compile_graph  # noqa: E402
from neurocc.compiler.passes.quantize import QuantizeOptions  # noqa: E402
from neurocc.ir import (ARTIFACT_FORMAT, ArtifactError, InputPort, NeuronGroup, OutputPort,  # noqa: E402
                        Program, SynapseBlock, load, load_program, save_program)
from neurocc.simulators.emulator import Emulator  # noqa: E402
from neurocc.backends import get_target as _get_target  # noqa: E402

LOIHI2 = _get_target("loihi2")

FIXTURES = Path(__file__).parent / "fixtures" / "nir-paper"
LIM = 2**23 - 1  # v saturates at +-LIM; u wraps once by 2**24 past +-2**23
MODEL = "loihi2.cuba_lif"


def first_mismatch(got: np.ndarray, want: np.ndarray) -> str:
    """Where two [T, B, n] traces first differ, for an assertion message."""
    if got.shape != want.shape:
        return f"shapes differ: {got.shape} vs {want.shape}"
    bad = np.argwhere(got != want)
    t, b, n = (int(i) for i in bad[0])
    return (f"{len(bad)} values differ; first at step {t}, batch {b}, neuron {n}: "
            f"emulator {int(got[t, b, n])}, Lava {int(want[t, b, n])}")


def emulate(program: Program, inputs, record=(), summation: str | None = None):
    """Run the emulator with strict dtype promotion (a silent int -> float promotion raises)."""
    with jax.numpy_dtype_promotion("strict"):
        return Emulator(program, LOIHI2, record=list(record), summation=summation).run(inputs)


def assert_groups_equal(emu, lava, groups, where: str) -> None:
    problems = []
    for g in groups:
        if not np.array_equal(emu.spikes[g], lava.spikes[g]):
            problems.append(f"{g} spikes: {first_mismatch(emu.spikes[g], lava.spikes[g])}")
        for k in ("u", "v"):
            if not np.array_equal(emu.traces[g][k], lava.traces[g][k]):
                problems.append(f"{g} {k}: {first_mismatch(emu.traces[g][k], lava.traces[g][k])}")
    assert not problems, f"{where}: emulator != Lava\n  " + "\n  ".join(problems)


# ======================================================================================
# Random networks
# ======================================================================================

#: the shared input port; each network reads a random subset of 1..40 of its columns. Its
#: rate alternates between quiet and busy phases, so event-driven summation (forced in the
#: last chunk) runs from zero to many trips of its loop over active sources.
N_IN = 520
KINDS = ("plain", "plain", "wrap", "saturate", "limits")  # by seed % 5
#: (seeds, batch, steps, emulator summation): one Lava call and one emulator compile per chunk
CHUNKS = ((range(0, 18), 2, 80, None), (range(18, 35), 3, 60, None), (range(35, 52), 4, 40, "event"))
SEEDS = [s for seeds, *_ in CHUNKS for s in seeds]


def random_network(seed: int) -> tuple[dict[str, NeuronGroup], list[SynapseBlock], str]:
    """2-3 layers fed by the input port, a recurrent block, sometimes feedback and a skip.

    Kinds (seed % 5): 'wrap' gives layer 0 no current decay (du = -1) and strong one-signed
    input at weight_exp 4 (and no other input), so u must wrap; 'saturate' gives the last
    layer no voltage decay and a bias of +-4096 << 7 per step, so v must saturate; 'limits'
    starts u and v at the edges of their 24-bit range.
    """
    rng = np.random.default_rng(seed)
    kind = KINDS[seed % len(KINDS)]
    n_layers = int(rng.integers(2, 4))
    sizes = [int(rng.integers(1, 41)) for _ in range(n_layers)]
    names = [f"s{seed}.L{i}" for i in range(n_layers)]
    groups: dict[str, NeuronGroup] = {}
    for i, (name, n) in enumerate(zip(names, sizes)):
        du = int(rng.choice([-1, 0, int(rng.integers(1, 4095)), 4095]))
        dv = int(rng.choice([0, int(rng.integers(1, 4095)), 4095, 4096]))
        vth = int(rng.choice([int(rng.integers(1, 64)), int(rng.integers(64, 4096)),
                              int(rng.integers(4096, 2**17)), 2**17 - 1]))
        bias_mant = rng.integers(-4096, 4096, n) * (rng.random(n) < rng.uniform(0, 0.6))
        bias_exp = rng.integers(0, 8, n)
        if kind == "wrap" and i == 0:
            du = -1
        if kind == "saturate" and i == n_layers - 1:
            dv = 0
            bias_mant = np.full(n, int(rng.choice([-4096, 4095])))
            bias_exp = np.full(n, 7)
        params = {"du": np.array(du, np.int32), "dv": np.array(dv, np.int32),
                  "vth": np.array(vth, np.int32), "bias_mant": bias_mant.astype(np.int32),
                  "bias_exp": bias_exp.astype(np.int32)}
        if kind == "limits":
            params["u0"] = rng.choice([2**23, 2**23 - 1, -(2**23) + 1, -(2**23), 0], n).astype(np.int32)
            params["v0"] = rng.choice([LIM, -LIM, LIM - 100, -LIM + 100, 0], n).astype(np.int32)
        groups[name] = NeuronGroup(name, MODEL, (n,), params, name)

    blocks: list[SynapseBlock] = []

    def block(src: str, n_src: int, dst: str, n_dst: int, tag: str) -> None:
        mode = str(rng.choice(["mixed", "excitatory", "inhibitory"]))
        w = rng.integers(-300, 301, (n_dst, n_src)) * (rng.random((n_dst, n_src)) < rng.uniform(0.2, 1))
        exp = int(rng.integers(-4, 5))
        bits = int(rng.integers(5, 9))
        if src == "in":
            cols = np.zeros(n_src, bool)
            cols[rng.choice(n_src, int(rng.integers(12 if kind == "wrap" else 1, 41)), replace=False)] = True
            w = w * cols
            if kind == "wrap":
                sign = int(rng.choice([1, -1]))
                w = sign * rng.integers(128, 301, (n_dst, n_src)) * cols
                mode, exp = ("excitatory" if sign > 0 else "inhibitory"), 4
        blocks.append(SynapseBlock(f"{src}->{dst}{tag}", src, dst, w.astype(np.int32), exp, bits, mode))

    block("in", N_IN, names[0], sizes[0], "")
    for i in range(1, n_layers):
        block(names[i - 1], sizes[i - 1], names[i], sizes[i], "")
    r = int(rng.integers(kind == "wrap", n_layers))
    block(names[r], sizes[r], names[r], sizes[r], "@rec")
    if rng.random() < 0.5 and kind != "wrap":
        block(names[-1], sizes[-1], names[0], sizes[0], "@feedback")
    if n_layers == 3 and rng.random() < 0.5:
        block("in", N_IN, names[2], sizes[2], "@skip")
    return groups, blocks, kind


def merged_program(seeds) -> tuple[Program, dict[int, tuple[list[str], str]]]:
    groups, blocks, index = {}, [], {}
    for s in seeds:
        g, b, kind = random_network(s)
        groups.update(g)
        blocks += b
        index[s] = (list(g), kind)
    program = Program("loihi2", groups, blocks, [InputPort("in", (N_IN,))], [], {"dt": 1.0})
    program.check()
    return program, index


_LAVA = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="lava")


@functools.cache
def _chunk_program(i: int):
    seeds, batch, steps, _ = CHUNKS[i]
    program, index = merged_program(seeds)
    rng = np.random.default_rng(10_000 + i)
    phase = np.where(np.arange(steps) // 5 % 2 == 0, 0.03, 0.3)[:, None, None]
    x = (rng.random((steps, batch, N_IN)) < phase * rng.uniform(0.3, 1.7, N_IN)).astype(np.int8)
    return program, index, x


@functools.cache
def _lava_future(i: int) -> concurrent.futures.Future:
    program, _, x = _chunk_program(i)
    return _LAVA.submit(run_on_lava, program, {"in": x}, list(program.groups))


def chunk_result(i: int, prefetch: bool = True):
    """Emulator and Lava results of chunk i (Lava runs in the background, one chunk ahead)."""
    _lava_future(i)
    if prefetch and i + 1 < len(CHUNKS):
        _lava_future(i + 1)
    return _chunk_run(i)


@functools.cache
def _chunk_run(i: int):
    program, index, x = _chunk_program(i)
    emu = emulate(program, {"in": x}, program.groups, summation=CHUNKS[i][3])
    return program, index, emu, _lava_future(i).result()


def _chunk_of(seed: int) -> int:
    return next(i for i, (seeds, *_) in enumerate(CHUNKS) if seed in seeds)


def _next_chunk_selected(request, i: int) -> bool:
    """Whether this session runs any test of chunk i + 1 (else Lava need not start it)."""
    if i + 1 >= len(CHUNKS):
        return False
    wanted = set(CHUNKS[i + 1][0])
    return any(getattr(item, "callspec", None) is not None
               and item.callspec.params.get("chip", "loihi2") == "loihi2"
               and item.callspec.params.get("seed") in wanted
               or item.name == "test_random_networks_reach_the_corners" for item in request.session.items)


def check_random_network(seed: int, request) -> tuple[list[str], object, object, str]:
    """Seed `seed`'s groups, its emulator and Lava results (tests/test_conformance.py
    compares them bit for bit), after the checks only Loihi 2's kinds make: the networks
    built to wrap u or saturate v do, and the counters say so."""
    i = _chunk_of(seed)
    program, index, emu, lava = chunk_result(i, _next_chunk_selected(request, i))
    names, kind = index[seed]
    wraps = {g: int(emu.counters["u_wraps"][g].sum()) for g in names}
    sats = {g: int(emu.counters["v_saturations"][g].sum()) for g in names}
    report = "\n".join(emu.overflow_report())
    if kind == "wrap":
        g = names[0]
        assert wraps[g] > 0, f"seed={seed}: built to wrap u in {g}, but no wrap was counted"
        assert f"group '{g}': current u wrapped" in report
    if kind == "saturate":
        g = names[-1]
        assert sats[g] > 0, f"seed={seed}: built to saturate v in {g}, but none was counted"
        assert f"group '{g}': voltage v saturated" in report
        # independent of the emulator: every step Lava holds v at -LIM (bias -4096 << 7,
        # no decay) is a saturation; +LIM always spikes and resets, so only >= holds
        assert sats[g] >= int(np.count_nonzero(lava.traces[g]["v"] == -LIM))
    for g in names:  # the per-step counters add up to the totals in the report
        assert emu.counters["u_wraps"][g].shape == emu.spikes[g].shape[:2]
    return names, emu, lava, kind


def test_random_networks_reach_the_corners():
    """The random set really exercises wraps, saturations, clipping and spiking layers."""
    with_wraps = with_sats = spiking = 0
    clipped = truncated = 0
    for i in range(len(CHUNKS)):
        program, index, emu, _ = chunk_result(i)
        for names, _ in index.values():
            with_wraps += any(emu.counters["u_wraps"][g].sum() for g in names)
            with_sats += any(emu.counters["v_saturations"][g].sum() for g in names)
            spiking += all(emu.spikes[g].any() for g in names[:2])
        for b in program.synapses:
            w = b.weights.to_dense()
            clipped += bool(np.any(np.abs(w) > 255))
            truncated += b.sign_mode == "mixed" and bool(np.any(w % (1 << (9 - b.num_weight_bits))))
    n = len(SEEDS)
    assert n >= 50
    # the input of the event-summed chunk has quiet steps (<= 16 spikes in a sample), middling
    # ones and busy ones (> 64): the emulator's gather capacities are 16 and 64 rows here
    _, _, x = _chunk_program(len(CHUNKS) - 1)
    per_step = (x != 0).sum(axis=2).max(axis=1)
    assert per_step.min() <= 16 and per_step.max() > 64 and np.any((per_step > 16) & (per_step <= 64))
    assert with_wraps >= 10 and with_sats >= 10, (with_wraps, with_sats)
    assert spiking >= n // 2, f"only {spiking} of {n} networks spike in their first two layers"
    assert clipped >= 50 and truncated >= 50, (clipped, truncated)


# ======================================================================================
# The NIR paper's single LIF neuron: Lava CPU and real Loihi 2 traces
# ======================================================================================

ISIS = [6, 15, 4, 3, 0, 2, 1, 2, 0, 1, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 13, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0, 14]


def paper_input_train() -> np.ndarray:
    """The recipe of tests/fixtures/nir-paper/README.md: isi zeros then a one, first 100
    entries, each followed by 9 zeros (1000 steps)."""
    seq: list[int] = []
    for isi in ISIS:
        seq += [0] * isi + [1]
    train: list[int] = []
    for s in seq[:100]:
        train += [s] + [0] * 9
    return np.array(train, np.int8)


def test_lif_norse_matches_the_papers_lava_and_loihi_traces():
    cpu = np.loadtxt(FIXTURES / "lif_lava_cpu_fixed.csv", delimiter=",")
    chip = np.loadtxt(FIXTURES / "lif_lava_loihi_fixed.csv", delimiter=",")
    train = paper_input_train()
    assert train.shape == (1000,)
    assert np.array_equal(train, cpu[:, 0]) and np.array_equal(train, chip[:, 0])

    program = compile_graph(load(FIXTURES / "lif_norse.nir"), target(), 1e-4,
                            QuantizeOptions(force={"1": {"dv": 163, "vth": 25}}))
    p = program.groups["1"].params
    assert (int(p["du"]), int(p["dv"]), int(p["vth"])) == (4095, 163, 25)
    (blk,) = [b for b in program.synapses if b.target == "1"]
    assert int(blk.weights.to_dense()[0, 0]) * 2.0**blk.weight_exp == 10  # the paper's weight, 10 * 2**6 = 640 per spike

    x = train.reshape(1000, 1, 1)
    emu = emulate(program, x, ["1"])
    v = emu.traces["1"]["v"][:, 0, 0]
    spikes = np.flatnonzero(emu.spikes["1"][:, 0, 0])
    assert spikes.tolist() == [461, 511, 711, 761]
    assert np.array_equal(np.flatnonzero(cpu[:, 2]), spikes)
    assert np.array_equal(v, cpu[:, 1]), first_mismatch(v[:, None, None], cpu[:, 1, None, None])
    quiet = np.ones(1000, bool)
    quiet[spikes] = False  # the chip reports the voltage before reset at a spike step
    assert np.array_equal(v[quiet], chip[quiet, 1])
    assert np.array_equal(np.flatnonzero(chip[:, 2]), spikes)
    assert np.array_equal(emu.outputs["output"][:, 0, 0], emu.spikes["1"][:, 0, 0])

    lava = run_on_lava(program, x, record=["1"])
    assert_groups_equal(emu, lava, ["1"], "lif_norse")


# ======================================================================================
# The trained Braille models
# ======================================================================================

@pytest.mark.parametrize("model", ["braille_noDelay_bias_zero", "braille_noDelay_noBias_subtract"])
def test_braille_emulator_matches_lava(model):
    program = compile_graph(load(FIXTURES / f"{model}.nir"), target(), 1e-4)
    (port,) = program.data_inputs
    x = (np.random.default_rng(7).random((100, 4) + port.shape) < 0.1).astype(np.int8)
    groups = list(program.groups)
    emu = emulate(program, {port.name: x}, groups)
    lava = run_on_lava(program, {port.name: x}, record=groups)
    assert_groups_equal(emu, lava, groups, model)
    for g in groups:  # not a vacuous comparison
        assert emu.spikes[g].any(), f"{model}: group {g} never spikes"
    for o in program.outputs:
        assert np.array_equal(emu.outputs[o.name], lava.outputs[o.name])


# ======================================================================================
# The Program artifact
# ======================================================================================

@functools.cache
def braille_program() -> Program:
    return compile_graph(load(FIXTURES / "braille_noDelay_bias_zero.nir"), target(), 1e-4,
                         source_hash="sha256:test")


def programs_for_artifacts() -> list[Program]:
    random_prog, _ = merged_program([4, 9])  # 'limits' networks: u0 and v0 arrays
    random_prog.outputs = [OutputPort("out", "s4.L0", random_prog.groups["s4.L0"].shape)]
    return [braille_program(), random_prog]


def assert_programs_identical(a: Program, b: Program) -> None:
    assert (a.target, a.semantics, a.pass_log, a.source_hash, a.info) == \
        (b.target, b.semantics, b.pass_log, b.source_hash, b.info)
    assert a.inputs == b.inputs and a.outputs == b.outputs
    assert list(a.groups) == list(b.groups)
    for name, ga in a.groups.items():
        gb = b.groups[name]
        assert (ga.name, ga.model, ga.shape, ga.source) == (gb.name, gb.model, gb.shape, gb.source)
        assert sorted(ga.params) == sorted(gb.params)
        for k, v in ga.params.items():
            w = gb.params[k]
            assert v.dtype == w.dtype and v.shape == w.shape and np.array_equal(v, w), (name, k)
    assert [s.name for s in a.synapses] == [s.name for s in b.synapses]
    for sa, sb in zip(a.synapses, b.synapses):
        for field in ("source", "target", "weight_exp", "num_weight_bits", "sign_mode", "delay", "storage"):
            assert getattr(sa, field) == getattr(sb, field), (sa.name, field)
        assert sa.weights.kind == sb.weights.kind, sa.name
        wa, wb = sa.weights.to_dense(), sb.weights.to_dense()
        assert wa.dtype == wb.dtype and np.array_equal(wa, wb), sa.name


@pytest.mark.parametrize("which", [0, 1], ids=["braille", "random"])
def test_artifact_round_trip_is_identical_and_deterministic(tmp_path, which):
    program = programs_for_artifacts()[which]
    save_program(program, tmp_path / "a")
    save_program(program, tmp_path / "b")
    loaded = load_program(tmp_path / "a")
    assert_programs_identical(program, loaded)
    save_program(loaded, tmp_path / "c")  # what was loaded writes the same bytes again
    for f in ("manifest.json", "program.npz"):
        first = (tmp_path / "a" / f).read_bytes()
        assert first == (tmp_path / "b" / f).read_bytes(), f"{f} differs between two saves"
        assert first == (tmp_path / "c" / f).read_bytes(), f"{f} differs after a load/save round trip"


def test_artifact_npz_holds_integer_arrays_only(tmp_path):
    path = save_program(braille_program(), tmp_path / "prog")
    with zipfile.ZipFile(path / "program.npz") as zf:
        assert all(n.endswith(".npy") for n in zf.namelist())
    with np.load(path / "program.npz", allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    assert arrays
    kinds = {k: a.dtype for k, a in arrays.items() if a.dtype.kind not in "iu"}
    assert not kinds, f"non-integer arrays in program.npz: {kinds}"


def test_loaded_artifact_runs_on_lava_as_the_original_on_the_emulator(tmp_path):
    """The emulator and the chip consume the same artifact."""
    program = braille_program()
    loaded = load_program(save_program(program, tmp_path / "prog"))
    x = (np.random.default_rng(3).random((30, 2, 12)) < 0.2).astype(np.int8)
    emu = emulate(program, x, program.groups)
    assert_groups_equal(emu, run_on_lava(loaded, x, list(loaded.groups)), list(program.groups),
                        "loaded artifact")
    again = emulate(loaded, x)
    for g in program.groups:
        assert np.array_equal(emu.spikes[g], again.spikes[g])


def test_artifact_with_unknown_format_is_refused(tmp_path):
    path = save_program(braille_program(), tmp_path / "prog")
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["format"] == ARTIFACT_FORMAT
    manifest["format"] = 999
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match=r"format 999") as err:
        load_program(path)
    assert f"reads format {ARTIFACT_FORMAT}" in str(err.value)


# ======================================================================================
# Activity counters
# ======================================================================================

def tiny_program() -> Program:
    """3 inputs -> 2 neurons (A) -> 2 neurons (B), weights with zeros in known places."""
    w_in = np.array([[5, 0, 7],
                     [0, 0, 9]], np.int32)           # fan-out of the inputs: 1, 0, 2
    w_ab = np.array([[3, 0],
                     [4, 0]], np.int32)              # fan-out of A: 2, 0
    lif = lambda n: {"du": np.array(4095, np.int32), "dv": np.array(0, np.int32),  # noqa: E731
                     "vth": np.array(1, np.int32), "bias_mant": np.zeros(n, np.int32),
                     "bias_exp": np.zeros(n, np.int32)}
    groups = {"A": NeuronGroup("A", MODEL, (2,), lif(2)), "B": NeuronGroup("B", MODEL, (2,), lif(2))}
    blocks = [SynapseBlock("in->A", "in", "A", w_in, 0, 8, "excitatory"),
              SynapseBlock("A->B", "A", "B", w_ab, 0, 8, "excitatory")]
    return Program("loihi2", groups, blocks, [InputPort("in", (3,))], [OutputPort("out", "B", (2,))],
                   {"dt": 1.0})


def test_synaptic_event_counts_equal_spikes_times_fan_out():
    program = tiny_program()
    x = np.zeros((8, 2, 3), np.int8)
    x[0, 0] = [1, 1, 1]
    x[1, 0] = [0, 1, 0]   # input 1 has no synapses: no event
    x[2, 1] = [0, 0, 1]
    x[3, 1] = [1, 0, 1]
    x[5, 0] = [2, 0, 0]   # any non-zero input is one spike
    res = emulate(program, x)
    events = res.counters["synaptic_events"]
    expected_in = (x != 0).astype(int) @ np.array([1, 0, 2])
    assert events["in->A"].tolist() == expected_in.tolist()
    assert expected_in[:, 0].tolist() == [3, 0, 0, 0, 0, 1, 0, 0]  # counted by hand
    assert expected_in[:, 1].tolist() == [0, 0, 2, 3, 0, 0, 0, 0]
    spikes_a = res.spikes["A"].astype(int)
    assert spikes_a.any()
    assert events["A->B"].tolist() == (spikes_a @ np.array([2, 0])).tolist()
    for kind in ("u_wraps", "v_saturations"):
        assert not any(c.any() for c in res.counters[kind].values())
    assert res.overflow_report() == []


def test_synaptic_events_skip_weights_lava_truncates_to_zero():
    """A mixed-sign weight of 1 loses its LSB (Lava's Dense/Sparse): it is no synapse."""
    program = tiny_program()
    program.synapses[0] = SynapseBlock("in->A", "in", "A", np.array([[1, 0, -2], [0, 0, 4]], np.int32),
                                       0, 8, "mixed")   # effective [[0, 0, -2], [0, 0, 4]]
    x = np.ones((3, 1, 3), np.int8)
    res = emulate(program, x)
    assert res.counters["synaptic_events"]["in->A"][:, 0].tolist() == [2, 2, 2]
