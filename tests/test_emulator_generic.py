"""The emulator driver is generic over the target: a made-up chip with graded spikes (a
count per neuron and step) and input saturated after every event, in presynaptic order (as
Xylo's does), runs on the same driver as Loihi 2 and matches a plain numpy loop written
here from the chip's description, not from the driver.

The chip ("counter"): state v int32; each step v takes its input events one by one, clipped
to +-LIM after each; then it emits min(v // THETA, CAP) spikes (v > 0) and loses THETA per
spike. Its synapses deliver count x weight per source, one step after the spike.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from neurocc import ir
from neurocc.ir.target import ChipTarget, TargetSpec
from neurocc.simulators.emulator import Emulator

LIM, THETA, CAP = 127, 40, 3


class State(NamedTuple):
    v: jax.Array


class Counter:
    model = "test.counter"
    state = ("v",)
    flags = {"clipped": "input clipped at +-127"}
    spike_bits = 2                      # counts 0..3
    param_bits = {"v": 8}

    def __init__(self, per_event: bool) -> None:
        self.per_event = per_event

    @staticmethod
    def prepare(p: dict, size: int) -> dict:
        return {"v0": np.zeros(size, np.int32)}

    @staticmethod
    def init(p: dict, batch: int) -> State:
        return State(jnp.broadcast_to(p["v0"], (batch,) + p["v0"].shape).astype(jnp.int32))

    def step(self, p: dict, s: State, a_in: jax.Array) -> tuple[State, jax.Array, dict]:
        if self.per_event:             # [(receptor, [batch, events, n])]: one clipped add per row
            a_in = jnp.concatenate([rows for _, rows in a_in], axis=-2)

            def add(carry, row):
                v, hit = carry
                raw = v + row
                return (jnp.clip(raw, -LIM, LIM), hit | (jnp.abs(raw) > LIM)), None
            (v, hit), _ = jax.lax.scan(add, (s.v, jnp.zeros_like(s.v, bool)),
                                       jnp.moveaxis(a_in, -2, 0))
        else:                          # [batch, n]: the sum, clipped once
            raw = s.v + a_in
            v, hit = jnp.clip(raw, -LIM, LIM), jnp.abs(raw) > LIM
        count = jnp.clip(jnp.where(v > 0, v // THETA, 0), 0, CAP)
        return State(v - count * THETA), count, {"clipped": hit}


class Synapses:
    latency, max_delay = 1, 4

    def __init__(self, per_event: bool) -> None:
        self.saturation = "per_event" if per_event else "none"

    @staticmethod
    def weights(block: Any) -> Any:
        return block.weights

    @staticmethod
    def deliver(acc: jax.Array, block: Any) -> jax.Array:
        return acc

    @staticmethod
    def summarize(counts: jax.Array, weights_t: jax.Array) -> jax.Array:
        """Each source's events as one row, in presynaptic order: [batch, sources, n]."""
        return counts[..., :, None] * weights_t


def chip(per_event: bool) -> ChipTarget:
    spec = TargetSpec("counter", "a made-up chip", ("test.counter",), 1, None, None, None, {})
    return ChipTarget(spec, kernels={"test.counter": Counter(per_event)},
                      synapses=Synapses(per_event))


def program(rng: np.random.Generator) -> ir.Program:
    """in (6) -> a (5) -> b (4), plus b -> b recurrent; weights chosen so that partial sums
    pass +-127 (the order of events matters) and a fires several spikes per step."""
    w_in = rng.integers(-20, 90, (5, 6)).astype(np.int32)
    w_ab = rng.integers(-60, 70, (4, 5)).astype(np.int32)
    w_bb = rng.integers(-30, 30, (4, 4)).astype(np.int32)
    groups = {g: ir.NeuronGroup(g, "test.counter", (n,), {}) for g, n in (("a", 5), ("b", 4))}
    blocks = [ir.SynapseBlock("in->a", "in", "a", w_in), ir.SynapseBlock("a->b", "a", "b", w_ab),
              ir.SynapseBlock("b->b", "b", "b", w_bb, delay=1)]
    return ir.Program("counter", groups, blocks, [ir.InputPort("in", (6,))],
                      [ir.OutputPort("out", "b", (4,))], {}, dt=1e-3)


def numpy_run(prog: ir.Program, x: np.ndarray, per_event: bool) -> dict[str, np.ndarray]:
    """The chip, step by step: block outputs sent at k arrive at k + 1 + delay."""
    steps, batch = x.shape[:2]
    sizes = {g: grp.size for g, grp in prog.groups.items()}
    v = {g: np.zeros((batch, n), np.int64) for g, n in sizes.items()}
    sent: dict[str, dict[int, np.ndarray]] = {b.name: {} for b in prog.synapses}
    spikes = {g: np.zeros((steps, batch, n), np.int64) for g, n in sizes.items()}
    for k in range(steps):
        for g in prog.groups:                      # a before b, as the program lists them
            rows = [sent[b.name].get(k, np.zeros((batch, sizes[g], len(b.weights.to_dense()[0]))))
                    for b in prog.synapses if b.target == g]
            for i in range(batch):
                for n in range(sizes[g]):
                    if per_event:                # every source's row, block by block, in order
                        for r in rows:
                            for j in range(r.shape[2]):
                                v[g][i, n] = np.clip(v[g][i, n] + r[i, n, j], -LIM, LIM)
                    else:
                        v[g][i, n] = np.clip(v[g][i, n] + sum(r[i, n].sum() for r in rows),
                                             -LIM, LIM)
            count = np.clip(np.where(v[g] > 0, v[g] // THETA, 0), 0, CAP)
            v[g] -= count * THETA
            spikes[g][k] = count
        for b in prog.synapses:                    # what each block sends at k
            s = (x[k] != 0).astype(np.int64) if b.source == "in" else spikes[b.source][k]
            w = b.weights.to_dense().astype(np.int64)
            sent[b.name][k + 1 + b.delay] = s[:, None, :] * w[None]   # [batch, target, source]
    return spikes


@pytest.mark.parametrize("per_event", [True, False])
def test_graded_spikes_and_per_event_saturation_match_numpy(per_event: bool) -> None:
    rng = np.random.default_rng(3)
    prog = program(rng)
    x = rng.random((30, 2, 6)) < 0.5
    want = numpy_run(prog, x, per_event)
    got = Emulator(prog, chip(per_event), record=("a", "b")).run(x)
    for g in ("a", "b"):
        assert np.array_equal(got.spikes[g], want[g]), g
    assert want["a"].max() >= 2                    # graded: several spikes in one step
    assert np.array_equal(got.outputs["out"], want["b"])
    assert got.counters["clipped"]["a"].sum() > 0  # saturation did bind


def test_order_of_events_matters_here() -> None:
    """Guard for the test above: on this program per-event and per-sum saturation differ,
    so the per-event test would catch a driver that summed first."""
    rng = np.random.default_rng(3)
    prog = program(rng)
    x = rng.random((30, 2, 6)) < 0.5
    a, b = numpy_run(prog, x, True), numpy_run(prog, x, False)
    assert not np.array_equal(a["a"], b["a"])
    got = Emulator(prog, chip(True)).run(x)
    assert not np.array_equal(got.spikes["a"], b["a"])


def test_a_target_without_kernels_is_refused() -> None:
    bare = ChipTarget(TargetSpec("bare", "capacities only", (), 1, None, None, None, {}))
    with pytest.raises(ir.SimulationError, match="no emulator kernels"):
        Emulator(program(np.random.default_rng(0)), bare)


def test_a_model_the_target_lacks_is_named() -> None:
    prog = program(np.random.default_rng(0))
    prog.groups["a"].model = "test.other"
    with pytest.raises(ir.SimulationError, match="group 'a': no emulator kernel for model "
                                                  "'test.other'"):
        Emulator(prog, chip(True))

