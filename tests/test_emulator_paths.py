"""The emulator's summation paths give the same bits.

Dense blocks fed by an input port are summed for many steps at once before the
scan; event-driven sums list the active sources and add their weight rows in
a loop, one per spike; dense products run in int8, float32 or int32 by what
the weights allow. Silent, sparse, busy and saturated inputs, at batch sizes
on both sides of the per-sample loop, must all give identical results.
"""

from __future__ import annotations

import numpy as np
import pytest

from neurocc import ir
from neurocc.simulators.emulator import EVENT_MAX_BATCH, Emulator
from neurocc.backends import get_target as _get_target  # noqa: E402

LOIHI2 = _get_target("loihi2")


def program(n_in: int, n_out: int, seed: int) -> ir.Program:
    rng = np.random.default_rng(seed)
    w = rng.integers(-256, 256, size=(n_out, n_in)).astype(np.int32)
    w[rng.random(w.shape) < 0.3] = 0
    group = ir.NeuronGroup("g", "loihi2.cuba_lif", (n_out,), {
        "du": np.array(100, np.int32), "dv": np.array(300, np.int32), "vth": np.array(5000, np.int32),
        "bias_mant": rng.integers(-100, 100, n_out).astype(np.int32),
        "bias_exp": np.zeros(n_out, np.int32)})
    rec = rng.integers(-128, 128, size=(n_out, n_out)).astype(np.int32)
    blocks = [ir.SynapseBlock("in->g", "in", "g", w, 1, 8, "mixed"),
              ir.SynapseBlock("g->g", "g", "g", rec, -1, 7, "mixed")]
    return ir.Program("loihi2", {"g": group}, blocks, [ir.InputPort("in", (n_in,))],
                      [ir.OutputPort("out", "g", (n_out,))], {"dt": 1.0})


@pytest.mark.parametrize("rate,batch", [(0.0, 2), (0.01, 2), (0.05, 2), (0.3, 2), (1.0, 2),
                                        (0.05, EVENT_MAX_BATCH + 2)])
def test_event_equals_dense_at_any_activity(rate: float, batch: int) -> None:
    # 2048 sources, 0 to 2048 of them active per step; a batch above EVENT_MAX_BATCH
    # takes the vectorized loop
    prog = program(2048, 64, seed=int(rate * 100))
    x = np.random.default_rng(5).random((30, batch, 2048)) < rate
    event = Emulator(prog, LOIHI2, record=("g",), summation="event").run(x)
    dense = Emulator(prog, LOIHI2, record=("g",), summation="dense").run(x)
    assert np.array_equal(event.spikes["g"], dense.spikes["g"])
    for var in ("u", "v"):
        assert np.array_equal(event.traces["g"][var], dense.traces["g"][var])
    assert np.array_equal(event.counters["synaptic_events"]["in->g"],
                          dense.counters["synaptic_events"]["in->g"])
    if 0 < rate < 1:
        assert dense.spikes["g"].any() and not dense.spikes["g"].all()


def test_auto_choice_event_for_large_recurrent_blocks_at_small_batch() -> None:
    """Port-fed blocks are summed before the scan; a large recurrent block event-driven.

    The recurrent weights are 7-bit mixed (multiples of 4 in -128..124, int8); the
    input weights are 9-bit (-256..255), so they go to float32 (fan-in sum < 2**24).
    """
    prog = program(2048, 600, seed=1)
    emu = Emulator(prog, LOIHI2)
    emu.run(np.zeros((2, 1, 2048), bool))
    assert emu.summation == {"in->g": "dense-f32", "g->g": "event"}   # 600 x 600 >= 2**18
    assert emu.hoisted == ("in->g",)
    emu.run(np.zeros((2, EVENT_MAX_BATCH + 1, 2048), bool))
    assert emu.summation == {"in->g": "dense-f32", "g->g": "dense-i8"}


def test_int32_path_when_float32_cannot_be_exact() -> None:
    """A row whose |w| sum reaches 2**24 cannot be summed exactly in float32."""
    prog = program(70000, 1, seed=2)
    prog.synapses[0].weights.to_dense()[:] = 255
    prog.synapses[0].sign_mode = "excitatory"
    emu = Emulator(prog, LOIHI2, record=("g",), summation="dense")
    trace = emu.run(np.ones((2, 1, 70000), bool))
    assert emu.summation["in->g"] == "dense-i32"
    # every input at 255, sum shifted left by weight_exp 1, reaches u at step 1 (u was 0);
    # u += a << 6 in int32 arithmetic, then Loihi's single 2**24 correction
    raw = ((70000 * 255) << 1) << 6
    wrapped = ((raw + 2**31) % 2**32) - 2**31
    if wrapped > 2**23:
        wrapped -= 2**24
    elif wrapped <= -2**23:
        wrapped += 2**24
    assert trace.traces["g"]["u"][1, 0, 0] == wrapped


def test_emitter_design_rules_catch_out_of_range_values(tmp_path) -> None:
    prog = program(8, 4, seed=3)
    prog.groups["g"].params["vth"] = np.array(1 << 17, np.int32)   # 18 bits
    prog.synapses[0].weights.to_dense()[0, 0] = 300                            # beyond 9-bit mixed
    prog.synapses[1].weight_exp = 9
    with pytest.raises(ir.QuantizationError) as err:
        LOIHI2.emit(prog, tmp_path / "out")
    message = str(err.value)
    assert "vth 131072 outside 1..131071" in message
    assert "block 'in->g': mixed weights must lie in -256..255" in message
    assert "weight_exp 9 outside -8..7" in message
    assert not (tmp_path / "out").exists()
    prog = program(8, 4, seed=3)
    assert (LOIHI2.emit(prog, tmp_path / "ok") / "program.npz").exists()


def test_synaptic_delays_match_lava() -> None:
    """Blocks with delays 3, 5 and a delayed recurrent block: emulator == Lava DelaySparse."""
    from neurocc.backends.loihi2.bridge import run_on_lava

    rng = np.random.default_rng(0)

    def group(n: int) -> ir.NeuronGroup:
        return ir.NeuronGroup(f"g{n}", "loihi2.cuba_lif", (n,), {
            "du": np.array(500, np.int32), "dv": np.array(300, np.int32),
            "vth": np.array(200, np.int32), "bias_mant": np.zeros(n, np.int32),
            "bias_exp": np.zeros(n, np.int32)})

    blocks = [ir.SynapseBlock("a", "in", "g10", rng.integers(-200, 250, (10, 12)).astype(np.int32), 0, 8, "mixed", 3),
              ir.SynapseBlock("b", "g10", "g6", rng.integers(-200, 250, (6, 10)).astype(np.int32), 1, 8, "mixed", 5),
              ir.SynapseBlock("c", "g6", "g6", rng.integers(-200, 250, (6, 6)).astype(np.int32), 0, 8, "mixed", 2)]
    prog = ir.Program("loihi2", {"g10": group(10), "g6": group(6)}, blocks, [ir.InputPort("in", (12,))],
                      [ir.OutputPort("out", "g6", (6,))], {"dt": 1.0})
    x = rng.random((60, 3, 12)) < 0.3
    emu = Emulator(prog, LOIHI2, record=("g10", "g6")).run(x)
    lava = run_on_lava(prog, x, record=("g10", "g6"))
    assert emu.spikes["g6"].sum() > 100
    # the first input spike (step 0) reaches g10 at step 1 + 3, never earlier
    assert not emu.traces["g10"]["u"][:4].any() and emu.traces["g10"]["u"][4].any()
    for g in ("g10", "g6"):
        assert np.array_equal(emu.spikes[g], lava.spikes[g])
        for var in ("u", "v"):
            assert np.array_equal(emu.traces[g][var], lava.traces[g][var])


@pytest.mark.parametrize("summation,scale", [("dense", 1), ("dense", 2), ("event", 1)])
def test_event_counts_when_fan_out_needs_several_digits(summation: str, scale: int) -> None:
    """Fan-outs of up to 600 exceed an int8 digit (127); counts must still be spikes x nnz.

    scale 1 keeps every weight in int8 (dense-i8, 7-bit digits); scale 2 takes the
    input block to float32; event mode uses int16 rows.
    """
    prog = program(300, 600, seed=4)
    w = prog.synapses[0].weights.to_dense()
    w[:] = np.clip(w // 2 * scale, -256, 255)
    w[:, :5] = 0                                                    # five sources without synapses
    x = np.random.default_rng(6).random((12, 2, 300)) < 0.2
    emu = Emulator(prog, LOIHI2, record=("g",), summation=summation)
    res = emu.run(x)
    assert res.spikes["g"].any()
    from neurocc.backends.loihi2.synapse import effective_weights
    for name, block in (("in->g", prog.synapses[0]), ("g->g", prog.synapses[1])):
        nnz = np.count_nonzero(effective_weights(block.weights.to_dense(), block.num_weight_bits,
                                                 block.sign_mode), axis=0)
        assert nnz.max() > 127
        src = x if name == "in->g" else res.spikes["g"]
        expected = (src != 0).astype(np.int64) @ nnz
        assert np.array_equal(res.counters["synaptic_events"][name], expected), name
    if summation == "dense":
        assert emu.summation["in->g"] == ("dense-i8" if scale == 1 else "dense-f32")


@pytest.mark.parametrize("chunk_elements", [1, 400, 1 << 23])
def test_stages_between_layers_equal_one_scan(monkeypatch, chunk_elements: int) -> None:
    """A feed-forward chain is simulated one layer (stage) at a time, each layer's input
    summed for a whole chunk of steps between the scans; delays longer than a chunk carry
    over to the next. Forcing every block into one event-driven scan must give the same
    bits, with chunks of 1 step, of a few steps, and the whole run."""
    import neurocc.simulators.emulator.driver as emulator

    monkeypatch.setattr(emulator, "CHUNK_ELEMENTS", chunk_elements)
    rng = np.random.default_rng(7)
    sizes = {"in": 20, "a": 16, "b": 12, "c": 6}
    groups = {g: ir.NeuronGroup(g, "loihi2.cuba_lif", (n,), {
        "du": np.array(700, np.int32), "dv": np.array(200, np.int32), "vth": np.array(150, np.int32),
        "bias_mant": rng.integers(-50, 80, n).astype(np.int32), "bias_exp": np.zeros(n, np.int32)})
        for g, n in sizes.items() if g != "in"}
    blocks = [ir.SynapseBlock(f"{s}->{t}", s, t, rng.integers(-200, 250, (sizes[t], sizes[s])).astype(np.int32),
                              exp, 8, "mixed", delay)
              for s, t, exp, delay in (("in", "a", 0, 0), ("a", "b", 1, 4), ("b", "c", 0, 0), ("a", "c", -1, 2))]
    prog = ir.Program("loihi2", groups, blocks, [ir.InputPort("in", (20,))],
                      [ir.OutputPort("out", "c", (6,))], {"dt": 1.0})
    x = rng.random((37, 3, 20)) < 0.3
    staged = Emulator(prog, LOIHI2, record=tuple(groups), summation="dense")
    res = staged.run(x)
    assert staged.stages == (("a",), ("b",), ("c",))
    assert set(staged.hoisted) == {b.name for b in blocks}
    one_scan = Emulator(prog, LOIHI2, record=tuple(groups), summation="event")
    ref = one_scan.run(x)
    assert one_scan.stages == (("a", "b", "c"),) and one_scan.hoisted == ()
    assert all(res.spikes[g].sum() > 20 for g in groups)
    for g in groups:
        assert np.array_equal(res.spikes[g], ref.spikes[g]), g
        for var in ("u", "v"):
            assert np.array_equal(res.traces[g][var], ref.traces[g][var]), (g, var)
    for name in res.counters["synaptic_events"]:
        assert np.array_equal(res.counters["synaptic_events"][name], ref.counters["synaptic_events"][name])
