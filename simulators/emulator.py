"""Bit-accurate emulator of an ``ir.Program``, in JAX (CPU or GPU).

A driver plus one integer kernel per neuron model (``KERNELS``), all state
int32, one ``jit``-ed ``lax.scan`` over time, a batch axis. Nothing raises
inside ``jit``: overflow and saturation are counted per step and reported
after the run.

Per step k (the chip's timing, see ``ir.program``):
  1. every group sums what its synapse blocks delivered (sent at k - 1 - delay),
  2. its kernel updates state and emits spikes,
  3. every synapse block takes its source's spikes of step k (binary: any
     non-zero is one spike), multiplies by its weights and shifts the sum by
     the weight exponent; that arrives at k + 1 + delay.

Each synapse block picks how to sum, all bit-identical:
  * event-driven: gather the weight rows of the sources that spiked (int16
    rows, int32 sum), for wide sources at small batch, where most inputs are
    silent; capacity ``K`` rows per step, with a dense fallback (``lax.cond``)
    on a step where more than K sources spike, so no spike is ever dropped;
  * float32 BLAS when ``sum |w| < 2**24`` over every row proves every partial
    sum exact (binary spikes times <= 9-bit weights);
  * int32 dot otherwise.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from neurocc.ir import Program, SimulationError
from neurocc.ir.inputs import check_inputs
from neurocc.simulators import intmath

I32 = jnp.int32


# --- Loihi 2 CUBA LIF, as Lava's PyLifModelBitAcc computes it ------------------
# u, v: int32 storage, 24-bit nominal. du, dv: 12-bit decays (du has a hidden +1).
# bias = bias_mant << bias_exp (floor for negative exp). Threshold vth << 6, strict '>'.


class CubaLifState(NamedTuple):
    u: jax.Array
    v: jax.Array


def cuba_lif_prepare(p: dict[str, np.ndarray], size: int) -> dict[str, np.ndarray]:
    du, dv = np.broadcast_to(p["du"], (size,)), np.broadcast_to(p["dv"], (size,))
    if np.any(du < -1) or np.any(du > 4095) or np.any(dv < 0) or np.any(dv > 4096):
        raise SimulationError(f"du must be in -1..4095 and dv in 0..4096, got du {np.unique(du)[:4]}, "
                              f"dv {np.unique(dv)[:4]}")
    mant = np.broadcast_to(p.get("bias_mant", 0), (size,)).astype(np.int16)  # Lava casts to int16
    bexp = np.broadcast_to(p.get("bias_exp", 0), (size,)).astype(np.int32)
    with np.errstate(over="ignore"):
        bias = np.where(bexp >= 0, mant.astype(np.int32) << np.maximum(bexp, 0),
                        mant.astype(np.int32) >> np.maximum(-bexp, 0)).astype(np.int32)
    theta = np.minimum(np.broadcast_to(p["vth"], (size,)).astype(np.int64) << 6, 1 << 24)
    return {"fu": (4095 - du).astype(np.int32), "fv": (4096 - dv).astype(np.int32), "bias": bias,
            "theta": theta.astype(np.int32),
            "u0": np.broadcast_to(p.get("u0", 0), (size,)).astype(np.int32),
            "v0": np.broadcast_to(p.get("v0", 0), (size,)).astype(np.int32)}


def cuba_lif_init(p: dict[str, jax.Array], batch: int) -> CubaLifState:
    return CubaLifState(jnp.broadcast_to(p["u0"], (batch,) + p["u0"].shape).astype(I32),
                        jnp.broadcast_to(p["v0"], (batch,) + p["v0"].shape).astype(I32))


def cuba_lif_step(p: dict[str, jax.Array], s: CubaLifState, a_in: jax.Array
                  ) -> tuple[CubaLifState, jax.Array, dict[str, jax.Array]]:
    u = intmath.mul_shift_trunc0(s.u, p["fu"]) + (a_in << 6)        # int32, wraps like numpy
    wraps = (u > (1 << 23)) | (u <= -(1 << 23))
    u = intmath.wrap_once(u, 24)                                      # u wraps ...
    v = intmath.mul_shift_trunc0(s.v, p["fv"]) + u + p["bias"]
    sat = (v > (1 << 23) - 1) | (v < -((1 << 23) - 1))
    v = intmath.saturate(v, 24)                                       # ... v saturates
    spikes = v > p["theta"]
    v = jnp.where(spikes, 0, v)                                       # reset to 0; u kept
    flags = {"u_wraps": wraps.sum(axis=-1, dtype=I32), "v_saturations": sat.sum(axis=-1, dtype=I32)}
    return CubaLifState(u, v), spikes, flags


class Kernel(NamedTuple):
    prepare: Callable[[dict[str, np.ndarray], int], dict[str, np.ndarray]]
    init: Callable[..., Any]
    step: Callable[..., tuple]
    traced: tuple[str, ...]


KERNELS: dict[str, Kernel] = {
    "loihi2.cuba_lif": Kernel(cuba_lif_prepare, cuba_lif_init, cuba_lif_step, ("u", "v")),
}


# --- synapse blocks: Lava's Dense weight preprocessing and binary accumulation -----------


def effective_weights(weights: np.ndarray, num_weight_bits: int, sign_mode: str) -> np.ndarray:
    """The weights Lava's Dense actually uses (clip, then drop low bits; once, at start).

    MIXED: clip to [-256, 255], floor to a multiple of 2**(9 - bits) (so 8-bit mixed
    weights lose their LSB). EXCITATORY: clip to [0, 255]. INHIBITORY: magnitudes
    clipped to [0, 255] and truncated toward zero. See docs: loihi2-fixed-point 2.3.
    """
    w = np.asarray(weights).astype(np.int64)
    mixed = sign_mode == "mixed"
    if sign_mode == "inhibitory":
        w = -w
    elif sign_mode not in ("mixed", "excitatory"):
        raise SimulationError(f"sign_mode must be mixed, excitatory or inhibitory, got {sign_mode!r}")
    w = np.clip(w, -256 * mixed, 255)
    k = 8 - int(num_weight_bits) + int(mixed)
    w = (w >> k) << k
    if sign_mode == "inhibitory":
        w = -w
    return w.astype(np.int32)


@dataclasses.dataclass
class _Block:
    source: str
    target: str
    weight_exp: int
    delay: int
    exact_in_float32: bool
    weights_t: np.ndarray  # (source, target), effective
    nnz_per_source: np.ndarray

    def summation(self, batch: int, force: str | None = None) -> str:
        """dense-f32 / dense-i32 / event, from the block's shape and the batch."""
        dense = "dense-f32" if self.exact_in_float32 else "dense-i32"
        if force is not None:
            return "event" if force == "event" else dense
        if batch <= 4 and self.weights_t.shape[0] >= EVENT_MIN_SOURCES:
            return "event"
        return dense


#: below this many sources a dense product costs less than gathering rows
EVENT_MIN_SOURCES = 1000


def _event_sum(s: jax.Array, rows: jax.Array, capacity: int) -> jax.Array:
    """Sum of the weight rows of the active sources; exact for any activity.

    ``rows`` is (sources + 1, targets) int16 with a zero last row, which the
    padding indices of ``nonzero`` point at. Two capacities are tried (K, then
    4K) before the dense product, so quiet steps gather few rows.
    """
    n_src = rows.shape[0] - 1

    def gather(k: int) -> Callable[[None], jax.Array]:
        def fn(_: None) -> jax.Array:
            idx = jax.vmap(lambda r: jnp.nonzero(r, size=k, fill_value=n_src)[0])(s)
            return jnp.sum(jnp.take(rows, idx, axis=0), axis=1, dtype=I32)
        return fn

    def dense(_: None) -> jax.Array:
        return jnp.dot(s.astype(jnp.int16), rows[:n_src], preferred_element_type=I32)

    count = jnp.max(jnp.sum(s, axis=1, dtype=I32))
    wide = 4 * capacity
    if wide >= n_src:
        return jax.lax.cond(count <= capacity, gather(capacity), dense, None)
    return jax.lax.cond(count <= capacity, gather(capacity),
                        lambda _: jax.lax.cond(count <= wide, gather(wide), dense, None), None)


@dataclasses.dataclass
class EmulatorResult:
    #: spikes per Output port, time-major [T, B, *shape], int8
    outputs: dict[str, np.ndarray]
    #: spikes of every group [T, B, size], int8
    spikes: dict[str, np.ndarray]
    #: recorded u, v per group [T, B, size], int32
    traces: dict[str, dict[str, np.ndarray]]
    #: activity counters: synaptic events per block [T, B]; u wraps, v saturations per group [T, B]
    counters: dict[str, dict[str, np.ndarray]]
    semantics: dict[str, Any]

    def overflow_report(self) -> list[str]:
        """One line per group and kind of overflow, naming the first step."""
        lines = []
        for kind in ("u_wraps", "v_saturations"):
            for g, per_step in self.counters.get(kind, {}).items():
                total = int(per_step.sum())
                if total:
                    first = int(np.argmax(per_step.sum(axis=1) > 0))
                    what = "current u wrapped (24-bit)" if kind == "u_wraps" else "voltage v saturated at ±(2^23-1)"
                    lines.append(f"group '{g}': {what} {total} time(s), first at step {first}")
        return lines


class Emulator:
    """A Program prepared for emulation; ``run`` compiles once per batch size."""

    def __init__(self, program: Program, record: tuple[str, ...] | list[str] = (),
                 summation: str | None = None) -> None:
        """`summation`: None picks per block; "dense" or "event" forces one (same bits)."""
        program.check()
        if summation not in (None, "dense", "event"):
            raise SimulationError(f"summation must be None, 'dense' or 'event', got {summation!r}")
        self.force_summation = summation
        self.program = program
        unknown = [r for r in record if r not in program.groups]
        if unknown:
            raise SimulationError(f"cannot record {unknown}: no such group; groups are "
                                  f"{list(program.groups)}")
        self.record = tuple(record)
        self.kernels, self.params = {}, {}
        for name, g in program.groups.items():
            if g.model not in KERNELS:
                raise SimulationError(f"group '{name}': no emulator kernel for model '{g.model}' "
                                      f"(kernels: {sorted(KERNELS)})")
            self.kernels[name] = KERNELS[g.model]
            self.params[name] = KERNELS[g.model].prepare(g.params, g.size)
        self.blocks: dict[str, _Block] = {}
        for b in program.synapses:
            w = effective_weights(b.weights, b.num_weight_bits, b.sign_mode)
            fan_in_bound = int(np.abs(w).astype(np.int64).sum(axis=1).max(initial=0))
            self.blocks[b.name] = _Block(b.source, b.target, int(b.weight_exp), int(b.delay),
                                         fan_in_bound < (1 << 24), np.ascontiguousarray(w.T),
                                         np.count_nonzero(w, axis=0).astype(np.int32))
        self._compiled: dict[int, Callable] = {}

    def _build(self, batch: int) -> Callable:
        prog, kernels, blocks = self.program, self.kernels, self.blocks
        params = {n: {k: jnp.asarray(v) for k, v in p.items()} for n, p in self.params.items()}
        mode = {n: b.summation(batch, self.force_summation) for n, b in blocks.items()}
        self.summation = mode
        wt, capacity = {}, {}
        for n, b in blocks.items():
            if mode[n] == "event":
                pad = np.zeros((1, b.weights_t.shape[1]), np.int16)
                wt[n] = jnp.asarray(np.vstack([b.weights_t.astype(np.int16), pad]))
                capacity[n] = max(16, b.weights_t.shape[0] // 32)
            else:
                wt[n] = jnp.asarray(b.weights_t, jnp.float32 if mode[n] == "dense-f32" else I32)
        nnz = {n: jnp.asarray(b.nnz_per_source, jnp.float32) for n, b in blocks.items()}
        groups = list(prog.groups)
        incoming = {g: [n for n, b in blocks.items() if b.target == g] for g in groups}
        const_ports = [p for p in prog.inputs if p.kind == "const"]

        def step(carry, xs):
            states, queues = carry
            k, data = xs
            spikes, new_states, flags = {}, {}, {}
            for g in groups:
                a_in = jnp.zeros((batch, prog.groups[g].size), I32)
                for n in incoming[g]:
                    a_in = a_in + queues[n][0]
                new_states[g], s, flags[g] = kernels[g].step(params[g], states[g], a_in)
                spikes[g] = s
            sources = dict(spikes)
            for name, x in data.items():
                sources[name] = x  # already bool (run() passes data != 0)
            for p in const_ports:
                sources[p.name] = jnp.broadcast_to(k >= p.start, (batch, p.size))
            new_queues, events = {}, {}
            for n, b in blocks.items():
                s = sources[b.source]
                if mode[n] == "event":
                    acc = _event_sum(s, wt[n], capacity[n])
                elif mode[n] == "dense-f32":
                    acc = jnp.dot(s.astype(jnp.float32), wt[n]).astype(I32)
                else:
                    acc = jnp.dot(s.astype(I32), wt[n], preferred_element_type=I32)
                a = intmath.shift_floor(acc, b.weight_exp)
                q = queues[n]
                new_queues[n] = jnp.concatenate([q[1:], a[None]], axis=0)
                events[n] = jnp.dot(s.astype(jnp.float32), nnz[n]).astype(I32)
            out = {
                "spikes": {g: s.astype(jnp.int8) for g, s in spikes.items()},
                "traces": {g: {v: getattr(new_states[g], v) for v in kernels[g].traced}
                           for g in self.record},
                "events": events,
                "u_wraps": {g: f["u_wraps"] for g, f in flags.items()},
                "v_saturations": {g: f["v_saturations"] for g, f in flags.items()},
            }
            return (new_states, new_queues), out

        def simulate(data, steps):
            states = {g: kernels[g].init(params[g], batch) for g in groups}
            queues = {n: jnp.zeros((b.delay + 1, batch, prog.groups[b.target].size), I32)
                      for n, b in blocks.items()}
            _, ys = jax.lax.scan(step, (states, queues), (steps, data))
            return ys

        return jax.jit(simulate)

    def run(self, inputs: np.ndarray | dict[str, np.ndarray]) -> EmulatorResult:
        data = _check_inputs(self.program, inputs)
        steps, batch = next(iter(data.values())).shape[:2]
        fn = self._compiled.get(batch)
        if fn is None:
            fn = self._compiled[batch] = self._build(batch)
        flat = {k: jnp.asarray(v.reshape(steps, batch, -1) != 0) for k, v in data.items()}
        ys = fn(flat, jnp.arange(steps, dtype=I32))
        ys = jax.tree_util.tree_map(np.asarray, ys)
        prog = self.program
        outputs = {p.name: np.concatenate([ys["spikes"][g] for g in p.groups], axis=-1)
                   .reshape((steps, batch) + tuple(p.shape)) for p in prog.outputs}
        counters = {"synaptic_events": ys["events"], "u_wraps": ys["u_wraps"],
                    "v_saturations": ys["v_saturations"]}
        return EmulatorResult(outputs, ys["spikes"], ys["traces"], counters,
                              dict(prog.semantics, simulator="neurocc.emulator"))


def run(program: Program, inputs: np.ndarray | dict[str, np.ndarray],
        record: tuple[str, ...] = ()) -> EmulatorResult:
    """Run `program` on time-major `inputs` ([T, B, *shape] per data input port)."""
    return Emulator(program, record).run(inputs)


def _check_inputs(program: Program, inputs: np.ndarray | dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return check_inputs({p.name: p.shape for p in program.data_inputs}, inputs)
