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

Groups run in stages, one ``lax.scan`` per stage and chunk of steps: a stage
is a set of groups that feed each other in a cycle (a recurrent layer, or
layers tied by an event-driven block); a feed-forward chain is one stage per
layer. Each synapse block picks how to sum, all bit-identical:
  * a block fed by an input port or by an earlier stage does not depend on its
    target's state, so its contributions for a chunk of steps are one matrix
    product between the scans (its source's spikes are known by then), and
    the scan only adds them;
  * event-driven, inside the scan: list the sources that spiked (a running
    count and a scatter) and add their weight rows, one per active source,
    for large blocks at small batch, where most sources are silent; the loop
    runs as many trips as there are spikes, so none is ever dropped;
  * int8 product (int32 accumulate) when every weight fits int8;
  * float32 BLAS when ``sum |w| < 2**24`` over every target proves every
    partial sum exact (binary spikes times <= 9-bit weights);
  * int32 product otherwise.
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
    return {"fu": _uniform((4095 - du).astype(np.int32)), "fv": _uniform((4096 - dv).astype(np.int32)),
            "bias": _uniform(bias), "theta": _uniform(theta.astype(np.int32)),
            "u0": np.broadcast_to(p.get("u0", 0), (size,)).astype(np.int32),
            "v0": np.broadcast_to(p.get("v0", 0), (size,)).astype(np.int32)}


def _uniform(x: np.ndarray) -> np.ndarray:
    """A per-neuron parameter as one 0-d value when all neurons share it (the kernel then
    specializes: no decay, full decay, no bias)."""
    return x[:1].reshape(()) if x.size and np.all(x == x.flat[0]) else x


def _known(x: Any, value: int) -> bool:
    """Whether x is a concrete 0-d parameter equal to value (decided when tracing)."""
    return not isinstance(x, jax.core.Tracer) and np.ndim(x) == 0 and int(x) == value


def _decay(x: jax.Array, factor: jax.Array) -> jax.Array:
    """``mul_shift_trunc0(x, factor)``, skipped where the factor makes it 0 or x."""
    if _known(factor, 0):
        return jnp.zeros_like(x)
    if _known(factor, 4096):
        return x
    return intmath.mul_shift_trunc0(x, factor)


def cuba_lif_init(p: dict[str, jax.Array], batch: int) -> CubaLifState:
    return CubaLifState(jnp.broadcast_to(p["u0"], (batch,) + p["u0"].shape).astype(I32),
                        jnp.broadcast_to(p["v0"], (batch,) + p["v0"].shape).astype(I32))


def cuba_lif_step(p: dict[str, jax.Array], s: CubaLifState, a_in: jax.Array
                  ) -> tuple[CubaLifState, jax.Array, dict[str, jax.Array]]:
    u = _decay(s.u, p["fu"]) + (a_in << 6)                            # int32, wraps like numpy
    wraps = (u > (1 << 23)) | (u <= -(1 << 23))
    u = intmath.wrap_once(u, 24)                                      # u wraps ...
    v = _decay(s.v, p["fv"]) + u
    if not _known(p["bias"], 0):
        v = v + p["bias"]
    sat = (v > (1 << 23) - 1) | (v < -((1 << 23) - 1))
    v = intmath.saturate(v, 24)                                       # ... v saturates
    spikes = v > p["theta"]
    new_v = jnp.where(spikes, 0, v)                                   # reset to 0; u kept
    # NeuroBench's membrane update: v changed, or the neuron spiked (reset may restore v)
    changed = (new_v != s.v) | spikes
    return (CubaLifState(u, new_v), spikes,
            {"u_wraps": wraps, "v_saturations": sat, "membrane_updates": changed})


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
    weights_t: np.ndarray  # (source, target), effective
    from_port: bool  # fed by an input port: summed for many steps at once, before the scan

    def summation(self, batch: int, force: str | None = None) -> str:
        """event / dense-i8 / dense-f32 / dense-i32, from the block's weights and the batch.

        Every choice gives the same bits: int8 when every weight fits int8 (int32
        accumulate), float32 when ``sum |w| < 2**24`` over every target proves every
        partial sum exact (binary spikes), int32 otherwise.
        """
        w = self.weights_t
        if force == "event" or (force is None and not self.from_port and batch <= EVENT_MAX_BATCH
                                and w.shape[0] * w.shape[1] >= EVENT_MIN_WEIGHTS):
            return "event"
        if w.size == 0 or (w.min() >= -128 and w.max() <= 127):
            return "dense-i8"
        if np.abs(w).astype(np.int64).sum(axis=0).max(initial=0) < (1 << 24):
            return "dense-f32"
        return "dense-i32"


#: a block is summed event-driven (in the scan) at batch <= EVENT_MAX_BATCH when its
#: dense product has at least EVENT_MIN_WEIGHTS weights: below that, one dense product
#: per step costs less than finding the active sources (measured on a 2-core CPU)
EVENT_MAX_BATCH = 4
EVENT_MIN_WEIGHTS = 1 << 18

#: per-neuron overflow flags a kernel returns, counted per step and group after the scan
FLAGS = ("u_wraps", "v_saturations")

#: per-neuron activity flags a kernel returns, counted only when asked (``counters``):
#: membrane_updates, NeuroBench's count of neurons whose membrane changed in a step
#: (every neuron counted at step 0), for the profiler without recording v
OPTIONAL_COUNTERS = ("membrane_updates",)


def _unpacker(n_flags: int) -> tuple[Callable, Callable]:
    """Spikes (bit 0) and the count per step of each flag (bits 1..n) of packed codes;
    and the shortcut when no flag bit is set anywhere."""
    def unpack(code: jax.Array) -> tuple[jax.Array, tuple[jax.Array, ...]]:
        return code & 1, tuple(jnp.sum((code >> bit) & 1, axis=-1, dtype=I32)
                               for bit in range(1, n_flags + 1))

    def no_flags(code: jax.Array) -> tuple[jax.Array, tuple[jax.Array, ...]]:
        return code, tuple(jnp.zeros(code.shape[:-1], I32) for _ in range(n_flags))
    return unpack, no_flags

#: a run is cut into chunks of steps so that the hoisted products and the recorded
#: spikes of one chunk hold at most this many elements
CHUNK_ELEMENTS = 1 << 23

DENSE_DTYPES = {"dense-i8": jnp.int8, "dense-f32": jnp.float32, "dense-i32": I32}

_PREFIX_BLOCK = 32


def _stages(groups: list[str], edges: list[tuple[str, str, bool]]) -> list[list[str]]:
    """Groups in simulation stages, in an order where every stage's inputs from other
    groups come from earlier stages: the strongly connected components of the group graph,
    where an event-driven block (summed inside the scan) also ties its target back to its
    source. Groups keep their program order within a stage."""
    import networkx as nx

    graph = nx.DiGraph()
    graph.add_nodes_from(groups)
    for source, target, tied in edges:
        graph.add_edge(source, target)
        if tied:
            graph.add_edge(target, source)
    dag = nx.condensation(graph)
    order = {g: i for i, g in enumerate(groups)}
    # among the ready components, the one holding the earliest group first (deterministic)
    topo = nx.lexicographical_topological_sort(
        dag, key=lambda c: min(order[g] for g in dag.nodes[c]["members"]))
    return [sorted(dag.nodes[c]["members"], key=order.get) for c in topo]


def _with_event_columns(weights_t: np.ndarray, dtype: Any) -> tuple[np.ndarray, tuple[int, ...]]:
    """The weights (sources, targets) with extra columns that count synaptic events.

    A spike of source i causes nnz_i events (its non-zero fan-out), so the product
    of the spikes with a column holding nnz gives the step's events at no extra
    pass over the spikes. nnz is split into digits that the product sums exactly:
    7 bits for int8, 15 for int16, for float32 as many as keep every column sum
    under 2**24, 31 (one column) for int32. Returns the widened matrix and the
    shift of each digit.
    """
    n_src = weights_t.shape[0]
    nnz = np.count_nonzero(weights_t, axis=1).astype(np.int64)
    if dtype == jnp.int8:
        bits = 7
    elif dtype == jnp.int16:
        bits = 15
    elif dtype == jnp.float32:
        bits = max(1, min(24, int(np.floor(np.log2(((1 << 24) - 1) / max(n_src, 1))))))
    else:
        bits = 31
    n_digits = max(1, -(-int(nnz.max(initial=0)).bit_length() // bits))
    cols = [(nnz >> (bits * d)) & ((1 << bits) - 1) for d in range(n_digits)]
    # zero columns up to a multiple of 8: XLA's CPU int8 product of width 514 took 1.6x
    # the time of width 512 or 520 (measured)
    pad = -(weights_t.shape[1] + n_digits) % 8
    widened = np.concatenate([weights_t, np.stack(cols, axis=1),
                              np.zeros((n_src, pad), weights_t.dtype)], axis=1)
    return widened, tuple(bits * d for d in range(n_digits))


def _prefix_count(s: jax.Array) -> jax.Array:
    """Inclusive running count of the spikes along the last axis, int32.

    Two small float32 products (within blocks of 32, then across blocks): XLA's
    CPU cumsum is a chain of small ops that costs more than the rest of a step.
    Exact: counts stay far below 2**24.
    """
    n = s.shape[-1]
    nb = -(-n // _PREFIX_BLOCK)
    x = jnp.pad(s.astype(jnp.float32), [(0, 0)] * (s.ndim - 1) + [(0, nb * _PREFIX_BLOCK - n)])
    x = x.reshape(s.shape[:-1] + (nb, _PREFIX_BLOCK))
    within = x @ jnp.triu(jnp.ones((_PREFIX_BLOCK, _PREFIX_BLOCK), jnp.float32))
    before = within[..., -1] @ jnp.triu(jnp.ones((nb, nb), jnp.float32), 1)
    out = (within + before[..., None]).reshape(s.shape[:-1] + (nb * _PREFIX_BLOCK,))
    return out[..., :n].astype(I32)


def _event_sum(s: jax.Array, rows: jax.Array) -> jax.Array:
    """Sum of the weight rows of the active sources, for any activity; [batch, targets].

    ``rows`` is (sources, targets). The active sources are listed in order (a
    running count, then a scatter) and a loop adds one weight row per active
    source: the cost follows the activity and no spike is ever dropped. On a
    CPU one row per trip costs less than gathering many rows at once (measured:
    23 ms against 41 ms for N2's 1000 steps).
    """
    n_src, n_tgt = rows.shape
    count = _prefix_count(s)                                              # [B, n_src]
    slot = jnp.where(s, count - 1, n_src)                                 # inactive: dropped

    def one(slot_b: jax.Array, total: jax.Array) -> jax.Array:
        order = jnp.zeros((n_src,), I32).at[slot_b].set(jnp.arange(n_src, dtype=I32), mode="drop")

        def body(j, acc):
            return acc + jax.lax.dynamic_slice(rows, (order[j], 0), (1, n_tgt))[0].astype(I32)
        return jax.lax.fori_loop(0, total, body, jnp.zeros((n_tgt,), I32))

    if s.shape[0] <= EVENT_MAX_BATCH:  # a loop per sample: each stops at its own count
        return jnp.stack([one(slot[b], count[b, -1]) for b in range(s.shape[0])])
    return jax.vmap(one)(slot, count[:, -1])


@dataclasses.dataclass
class EmulatorResult:
    #: per Output port, time-major [T, B, *shape]: spikes int8, a readout's voltage int32
    outputs: dict[str, np.ndarray]
    #: spikes of every group [T, B, size], int8
    spikes: dict[str, np.ndarray]
    #: recorded u, v per group [T, B, size], int32
    traces: dict[str, dict[str, np.ndarray]]
    #: activity counters: synaptic events per block [T, B]; u wraps, v saturations per group
    #: [T, B]; membrane updates per group [T, B] when asked for (``counters=``)
    counters: dict[str, dict[str, np.ndarray]]
    semantics: dict[str, Any]

    def overflow_report(self) -> list[str]:
        """One line per group and kind of overflow, naming the first step."""
        lines = []
        what = {"u_wraps": "current u wrapped (24-bit)", "v_saturations": "voltage v saturated at ±(2^23-1)",
                "readout_spikes": "readout reached the chip's largest threshold and was reset (its "
                                  "voltage output is not the model's from then on)"}
        for kind in what:
            for g, per_step in self.counters.get(kind, {}).items():
                total = int(per_step.sum())
                if total:
                    first = int(np.argmax(per_step.sum(axis=1) > 0))
                    lines.append(f"group '{g}': {what[kind]} {total} time(s), first at step {first}")
        return lines


class Emulator:
    """A Program prepared for emulation; ``run`` compiles once per batch size."""

    def __init__(self, program: Program, record: tuple[str, ...] | list[str] = (),
                 summation: str | None = None, counters: tuple[str, ...] = ()) -> None:
        """`summation`: None picks per block; "dense" or "event" forces one (same bits).
        `counters`: extra per-step counts to keep (OPTIONAL_COUNTERS)."""
        program.check()
        if summation not in (None, "dense", "event"):
            raise SimulationError(f"summation must be None, 'dense' or 'event', got {summation!r}")
        unknown_counters = [c for c in counters if c not in OPTIONAL_COUNTERS]
        if unknown_counters:
            raise SimulationError(f"unknown counters {unknown_counters}; the emulator can count "
                                  f"{list(OPTIONAL_COUNTERS)}")
        self.flags = FLAGS + tuple(c for c in OPTIONAL_COUNTERS if c in counters)
        self.force_summation = summation
        self.program = program
        unknown = [r for r in record if r not in program.groups]
        if unknown:
            raise SimulationError(f"cannot record {unknown}: no such group; groups are "
                                  f"{list(program.groups)}")
        self.record = tuple(record)
        # voltage outputs read their group's v: traced whether recorded or not
        self._traced = tuple(dict.fromkeys(self.record + program.readout_groups))
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
            self.blocks[b.name] = _Block(b.source, b.target, int(b.weight_exp), int(b.delay),
                                         np.ascontiguousarray(w.T),
                                         b.source in {p.name for p in program.inputs})
        self._compiled: dict[int, Callable] = {}

    def _build(self, batch: int) -> Callable:
        prog, kernels, blocks = self.program, self.kernels, self.blocks
        params = {n: {k: jnp.asarray(v) for k, v in p.items()} for n, p in self.params.items()}
        mode = {n: b.summation(batch, self.force_summation) for n, b in blocks.items()}
        self.summation = mode
        ports = {p.name: p for p in prog.inputs}
        groups = list(prog.groups)
        sizes = {g: prog.groups[g].size for g in groups}
        # groups are simulated in stages, one scan per stage and chunk: a stage is a set of
        # groups that feed each other in a cycle (or through an event-driven block); a dense
        # block from an input port or an earlier stage does not depend on its target's
        # state, so its contributions for a whole chunk are one matrix product, between scans
        stages = _stages(groups, [(b.source, b.target, mode[n] == "event") for n, b in blocks.items()
                                  if b.source in prog.groups])
        stage_of = {g: i for i, st in enumerate(stages) for g in st}
        hoisted = [n for n, b in blocks.items() if mode[n] != "event" and
                   (b.source in ports or stage_of[b.source] < stage_of[b.target])]
        self.hoisted = tuple(hoisted)
        self.stages = tuple(tuple(st) for st in stages)
        in_scan = [n for n in blocks if n not in hoisted]
        # each block's weights carry extra columns that count its synaptic events
        wt, digits = {}, {}
        for n, b in blocks.items():
            dtype = jnp.int16 if mode[n] == "event" else DENSE_DTYPES[mode[n]]
            w, digits[n] = _with_event_columns(b.weights_t, dtype)
            wt[n] = jnp.asarray(w, dtype)
        incoming = {g: [n for n in in_scan if blocks[n].target == g] for g in groups}
        lag = {n: 1 + blocks[n].delay for n in hoisted}

        def raw_product(n: str, s: jax.Array) -> tuple[jax.Array, jax.Array]:
            """Block n's sums for binary sources s [..., sources], all columns, and its events."""
            lead, s2 = s.shape[:-1], s.reshape(-1, s.shape[-1])
            if mode[n] == "event":
                acc = _event_sum(s2, wt[n])
            elif mode[n] == "dense-f32":
                acc = jnp.dot(s2.astype(jnp.float32), wt[n]).astype(I32)
            else:
                acc = jnp.dot(s2.astype(wt[n].dtype), wt[n], preferred_element_type=I32)
            n_tgt = sizes[blocks[n].target]
            events = sum(acc[:, n_tgt + d] << shift for d, shift in enumerate(digits[n]))
            return acc.reshape(lead + (acc.shape[-1],)), events.reshape(lead)

        def delivers(n: str, acc: jax.Array) -> jax.Array:
            """What block n delivers from its raw sums: the target columns, shifted by the
            weight exponent (no pass at all for exponent 0)."""
            a = acc[..., :sizes[blocks[n].target]]
            return a if blocks[n].weight_exp == 0 else intmath.shift_floor(a, blocks[n].weight_exp)

        def product(n: str, s: jax.Array) -> tuple[jax.Array, jax.Array]:
            """What block n delivers for binary sources s [..., sources], and its events [...]."""
            acc, events = raw_product(n, s)
            return delivers(n, acc), events

        def port_source(name: str, data: dict, k: jax.Array) -> jax.Array:
            """A port's spikes: [..., batch, size] for data, [..., 1, size] for a const port."""
            p = ports[name]
            if p.kind == "const":
                return jnp.broadcast_to((k >= p.start)[..., None, None], k.shape + (1, p.size))
            return data[name]

        def step(stage: list[str], carry, xs):
            states, queues = carry
            k, data, pre = xs
            spikes, new_states, flags = {}, {}, {}
            for g in stage:
                a_in = pre[g] if g in pre else jnp.zeros((batch, sizes[g]), I32)
                for n in incoming[g]:
                    a_in = a_in + queues[n][0]
                new_states[g], s, flags[g] = kernels[g].step(params[g], states[g], a_in)
                spikes[g] = s
            new_queues, events = {}, {}
            for n in queues:
                b = blocks[n]
                s = spikes[b.source] if b.source in spikes else port_source(b.source, data, k)
                a, ev = product(n, s)
                new_queues[n] = jnp.concatenate(
                    [queues[n][1:], jnp.broadcast_to(a, (1, batch, sizes[b.target]))], axis=0)
                events[n] = jnp.broadcast_to(ev, (batch,))
            # spikes and the kernel's per-neuron flags packed into one int8 per neuron: a
            # count per step inside the scan would make XLA recompute the kernel per flag
            packed = {}
            for g, s in spikes.items():
                code = s.astype(jnp.int8)
                for bit, name in enumerate(self.flags, start=1):
                    if name in flags[g]:
                        code = code | (flags[g][name].astype(jnp.int8) << bit)
                packed[g] = code
            out = {
                "packed": packed,
                "traces": {g: {v: getattr(new_states[g], v) for v in kernels[g].traced}
                           for g in self._traced if g in new_states},
                "events": events,
            }
            return (new_states, new_queues), out

        def chunk(carry, xs):
            """The steps ks of one chunk: per stage, the products of the blocks hoisted into
            it (from ports and earlier stages), then its scan."""
            states, queues, held = carry
            ks, packed = xs
            # unpacked per chunk, where XLA fuses it into the products' input
            data = {k: _unpack_spikes(v, ports[k].size) for k, v in packed.items()}
            size = ks.shape[0]
            states, queues = dict(states), dict(queues)
            new_held, hoisted_events, codes, traces, events = {}, {}, {}, {}, {}
            for stage in stages:
                products = {}
                for n in hoisted:
                    b = blocks[n]
                    if b.target not in stage:
                        continue
                    src = (port_source(b.source, data, ks) if b.source in ports
                           else codes[b.source] & 1)
                    # raw sums, all columns: the slice and shift happen per step, in place
                    a, ev = raw_product(n, src)
                    products[n] = a = jnp.broadcast_to(a, (size, batch, a.shape[-1]))
                    # sent at step k, delivered at k + lag: the last `lag` steps go to the next chunk
                    new_held[n] = (a[size - lag[n]:] if size >= lag[n]
                                   else jnp.concatenate([held[n], a], axis=0)[size:])
                    hoisted_events[n] = jnp.broadcast_to(ev, (size, batch))

                def delivered(j: jax.Array, products=products) -> dict[str, jax.Array]:
                    """What the hoisted blocks deliver at the chunk's step j: read in place,
                    so no shifted copy of the products is ever made."""
                    pre: dict[str, jax.Array] = {}
                    for n, a in products.items():
                        a = jax.lax.dynamic_index_in_dim(a, jnp.maximum(j - lag[n], 0), keepdims=False)
                        old = jax.lax.dynamic_index_in_dim(held[n], jnp.minimum(j, lag[n] - 1),
                                                           keepdims=False)
                        a = delivers(n, jnp.where(j >= lag[n], a, old))
                        g = blocks[n].target
                        pre[g] = pre[g] + a if g in pre else a
                    return pre

                own = [n for n in in_scan if blocks[n].target in stage]
                stage_ports = sorted({blocks[n].source for n in own if blocks[n].source in ports})
                (st, qu), ys = jax.lax.scan(
                    lambda c, x, stage=stage, delivered=delivered: step(stage, c, (x[0], x[2], delivered(x[1]))),
                    ({g: states[g] for g in stage}, {n: queues[n] for n in own}),
                    (ks, jnp.arange(size, dtype=I32), {p: data[p] for p in stage_ports}))
                states.update(st)
                queues.update(qu)
                codes.update(ys["packed"])
                traces.update(ys["traces"])
                events.update(ys["events"])
            ys = {"traces": traces, "events": dict(events, **hoisted_events), "spikes": {}}
            counts = {name: {} for name in self.flags}
            unpack, no_flags = _unpacker(len(self.flags))
            for g in groups:
                # one pass when no flag is set (the usual case): then the code is the spikes
                spikes, per_flag = jax.lax.cond(jnp.max(codes[g], initial=0) > 1, unpack, no_flags,
                                                codes[g])
                ys["spikes"][g] = spikes
                for name, c in zip(self.flags, per_flag):
                    counts[name][g] = c
            ys.update(counts)
            return (states, queues, new_held), ys

        def simulate(data):
            steps = next(iter(data.values())).shape[0] if data else 1
            carry = ({g: kernels[g].init(params[g], batch) for g in groups},
                     {n: jnp.zeros((blocks[n].delay + 1, batch, sizes[blocks[n].target]), I32)
                      for n in in_scan},
                     {n: jnp.zeros((lag[n], batch, wt[n].shape[1]), I32) for n in hoisted})
            # chunks bound the memory of the hoisted products and the recorded spikes
            per_step = batch * (sum(sizes.values()) + sum(sizes[blocks[n].target] for n in hoisted)
                                + sum(ports[k].size for k in data))
            n_chunks = max(1, -(-steps * per_step // CHUNK_ELEMENTS))
            # a chunk count that divides the steps spares a padded copy of the input
            n_chunks = next((n for n in range(n_chunks, 2 * n_chunks + 1) if steps % n == 0), n_chunks)
            if n_chunks == 1:
                return chunk(carry, (jnp.arange(steps, dtype=I32), data))[1]
            size = -(-steps // n_chunks)
            padded = size * n_chunks

            def split(x: jax.Array) -> jax.Array:
                x = jnp.concatenate([x, jnp.zeros((padded - steps,) + x.shape[1:], x.dtype)], axis=0)
                return x.reshape((n_chunks, size) + x.shape[1:])

            ks = jnp.arange(padded, dtype=I32).reshape(n_chunks, size)
            _, ys = jax.lax.scan(chunk, carry, (ks, jax.tree_util.tree_map(split, data)))
            return jax.tree_util.tree_map(lambda y: y.reshape((padded,) + y.shape[2:])[:steps], ys)

        return jax.jit(simulate)

    def run(self, inputs: np.ndarray | dict[str, np.ndarray]) -> EmulatorResult:
        data = _check_inputs(self.program, inputs)
        steps, batch = next(iter(data.values())).shape[:2]
        fn = self._compiled.get(batch)
        if fn is None:
            fn = self._compiled[batch] = self._build(batch)
        # numpy in: jit transfers it with less dispatch than jnp.asarray (0.3 ms a call)
        flat = {k: _pack_spikes(v.reshape(steps, batch, -1)) for k, v in data.items()}
        ys = fn(flat)
        ys = jax.tree_util.tree_map(np.asarray, ys)
        prog = self.program
        outputs = prog.collect_outputs(ys["spikes"], {g: ys["traces"][g]["v"] for g in prog.readout_groups})
        counters = {"synaptic_events": ys["events"]} | {name: ys[name] for name in self.flags}
        # a readout that reaches its (unreachable) threshold resets: its v is no longer the model's
        counters["readout_spikes"] = {g: ys["spikes"][g].sum(axis=-1, dtype=np.int32)
                                      for g in prog.readout_groups}
        if "membrane_updates" in counters and steps:   # every neuron counts at step 0
            counters["membrane_updates"] = {g: np.concatenate([np.full((1, batch), prog.groups[g].size,
                                                                       np.int32), c[1:]])
                                            for g, c in counters["membrane_updates"].items()}
        return EmulatorResult(outputs, ys["spikes"], {g: ys["traces"][g] for g in self.record}, counters,
                              dict(prog.semantics, simulator="neurocc.emulator"))


def run(program: Program, inputs: np.ndarray | dict[str, np.ndarray],
        record: tuple[str, ...] = ()) -> EmulatorResult:
    """Run `program` on time-major `inputs` ([T, B, *shape] per data input port)."""
    return Emulator(program, record).run(inputs)


def _pack_spikes(x: np.ndarray) -> np.ndarray:
    """Binary spikes [..., n] as bits, 8 neurons a byte (little bit order): an eighth of the
    bytes to hand to the device, unpacked by ``_unpack_spikes`` inside jit."""
    return np.packbits(x if x.dtype == np.bool_ else x != 0, axis=-1, bitorder="little")


def _unpack_spikes(packed: jax.Array, n: int) -> jax.Array:
    bits = (packed[..., None] >> jnp.arange(8, dtype=jnp.uint8)) & 1
    return bits.reshape(packed.shape[:-1] + (-1,))[..., :n].astype(jnp.bool_)


def _check_inputs(program: Program, inputs: np.ndarray | dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return check_inputs({p.name: p.shape for p in program.data_inputs}, inputs)
