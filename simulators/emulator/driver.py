"""Bit-accurate emulator of an ``ir.Program``, in JAX (CPU or GPU).

A generic driver over a target's integer kernels (``target.kernels``), all state
int32, one ``jit``-ed ``lax.scan`` over time, a batch axis. Nothing raises
inside ``jit``: overflow and saturation are counted per step and reported
after the run.

Per step k (the chip's timing, see ``ir.program``):
  1. every group sums what its synapse blocks delivered (sent at k - lag, where a
     block's lag is its latency plus its delay; a lag-0 block from an input port is
     formed in the step itself),
  2. its kernel updates state and emits spikes (binary, or counts per step),
  3. every synapse block takes its source's spikes of step k, multiplies by its
     weights and shifts the sum by the weight exponent; that arrives at k + lag.
     A chip that saturates after every event (``saturation = "per_event"``) gets,
     instead of the sum, its synapse arithmetic's ordered summary of the block's
     events (``summarize``), and its kernel applies them in block order.

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
  * int32 product otherwise;
  * a Conv block: a convolution (float32 where provably exact, else exact int32), and
    a Sparse block: segment sums or a CSR product (``structured.py``), never expanded;
    their synaptic events are spikes @ fan_out. They sum like a dense product (hoisted
    or in the scan); the per-event path takes Dense blocks only.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from neurocc.ir import Program, SimulationError
from neurocc.ir.blocks import Dense
from neurocc.ir.inputs import check_inputs

from .accumulators import (CHUNK_ELEMENTS, DENSE_DTYPES, Block, event_sum, pack_spikes,
                           stages as plan_stages, unpack_spikes, unpacker,
                           with_event_columns)
from .structured import STRUCTURED_MODES, accumulator, event_counter

I32 = jnp.int32

#: per-neuron activity flags a kernel may return, counted only when asked (``counters``):
#: membrane_updates, NeuroBench's count of neurons whose membrane changed in a step
#: (every neuron counted at step 0), for the profiler without recording v
OPTIONAL_COUNTERS = ("membrane_updates",)


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

    #: what each overflow counter means (the kernels' ``flags``)
    flag_meanings: dict[str, str] = dataclasses.field(default_factory=dict)

    def overflow_report(self) -> list[str]:
        """One line per group and kind of overflow, naming the first step."""
        lines = []
        what = dict(self.flag_meanings,
                    readout_spikes="readout reached the chip's largest threshold and was reset "
                                   "(its voltage output is not the model's from then on)")
        for kind in what:
            for g, per_step in self.counters.get(kind, {}).items():
                total = int(per_step.sum())
                if total:
                    first = int(np.argmax(per_step.sum(axis=1) > 0))
                    lines.append(f"group '{g}': {what[kind]} {total} time(s), first at step {first}")
        return lines


class Emulator:
    """A Program prepared for emulation; ``run`` compiles once per batch size."""

    def __init__(self, program: Program, target: Any, record: tuple[str, ...] | list[str] = (),
                 summation: str | None = None, counters: tuple[str, ...] = ()) -> None:
        """`target`: the chip (``ir.target.Target``) whose kernels and synapse arithmetic
        run the program. `summation`: None picks per block; "dense" or "event" forces one
        (same bits), expanding a Conv or Sparse block to its matrix (for tests of small
        networks). `counters`: extra per-step counts to keep (OPTIONAL_COUNTERS)."""
        program.check()
        if not getattr(target, "kernels", None) or getattr(target, "synapses", None) is None:
            raise SimulationError(f"target '{target.name}' has no emulator kernels: neurocc "
                                  "cannot emulate its arithmetic yet")
        if summation not in (None, "dense", "event"):
            raise SimulationError(f"summation must be None, 'dense' or 'event', got {summation!r}")
        unknown_counters = [c for c in counters if c not in OPTIONAL_COUNTERS]
        if unknown_counters:
            raise SimulationError(f"unknown counters {unknown_counters}; the emulator can count "
                                  f"{list(OPTIONAL_COUNTERS)}")
        models = dict.fromkeys(g.model for g in program.groups.values())
        missing = [m for m in models if m not in target.kernels]
        if missing:
            name = next(g.name for g in program.groups.values() if g.model == missing[0])
            raise SimulationError(f"group '{name}': no emulator kernel for model '{missing[0]}' "
                                  f"on target '{target.name}' (kernels: {sorted(target.kernels)})")
        self.meanings = {f: m for model in models for f, m in target.kernels[model].flags.items()}
        self.flags = tuple(self.meanings) + tuple(c for c in OPTIONAL_COUNTERS if c in counters)
        self.force_summation = summation
        self.target = target
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
            self.kernels[name] = target.kernels[g.model]
            self.params[name] = self.kernels[name].prepare(g.params, g.size)
        arith = target.synapses
        self.per_event = arith.saturation == "per_event"
        lat = int(arith.latency)
        lat_in = int(getattr(arith, "input_latency", lat))
        #: the most events an input channel delivers per step (1: binary spikes)
        self.input_cap = int(getattr(arith, "max_input_count", 1))
        ports = {p.name for p in program.inputs}
        data_ports = {p.name for p in program.data_inputs}
        self.blocks: dict[str, Block] = {}
        for b in program.synapses:
            w = arith.weights(b)
            if w.kind != "dense" and summation in ("dense", "event"):
                # forced: the dense accumulators hold the whole matrix (a small network's)
                w = Dense(w.to_dense())
            count = ((1 << self.kernels[b.source].spike_bits) - 1 if b.source in program.groups
                     else self.input_cap if b.source in data_ports else 1)
            lag = (lat_in if b.source in ports else lat) + int(b.delay)
            if lag == 0 and b.source not in ports:
                raise SimulationError(f"synapse block '{b.name}': a block from a group needs a "
                                      f"latency of at least one step (target '{target.name}' "
                                      "gives it 0)")
            receptors = getattr(self.kernels[b.target], "receptors", 1)
            if not 0 <= b.receptor < receptors:
                raise SimulationError(
                    f"synapse block '{b.name}': receptor {b.receptor}, but model "
                    f"'{program.groups[b.target].model}' has {receptors} synaptic input(s) "
                    f"(receptors 0..{receptors - 1})")
            if self.per_event and w.kind != "dense":
                raise SimulationError(
                    f"synapse block '{b.name}': a {w.kind} block, but target '{target.name}' "
                    "saturates after every event and its per-event path sums Dense blocks only; "
                    "give the block a Dense encoding (ir.blocks.Dense(weights.to_dense())) or "
                    "run with summation='dense'")
            if (receptors > 1 or lag == 0) and not self.per_event:
                raise SimulationError(f"synapse block '{b.name}': several receptors, or a latency "
                                      "of 0 from an input, need a per-event synapse arithmetic "
                                      "(the summed paths have neither)")
            self.blocks[b.name] = Block(b.source, b.target, int(b.delay), w,
                                        b.source in ports, b,
                                        max_count=count, per_event=self.per_event,
                                        lag=lag, receptor=int(b.receptor))
        self._compiled: dict[int, Callable] = {}

    def _build(self, batch: int) -> Callable:
        prog, kernels, blocks, target = self.program, self.kernels, self.blocks, self.target
        per_event = self.per_event
        graded = self.input_cap > 1
        # spikes (graded: a count of `width` bits) and the kernels' flags packed in one code
        # per neuron and step: int8 while they fit beside the sign bit
        width = max(k.spike_bits for k in kernels.values())
        mask = (1 << width) - 1
        code_dtype = jnp.int8 if width + len(self.flags) <= 7 else I32
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
        stages = plan_stages(groups, [(b.source, b.target, mode[n] in ("event", "per-event"))
                                      for n, b in blocks.items() if b.source in prog.groups])
        stage_of = {g: i for i, st in enumerate(stages) for g in st}
        hoisted = [n for n, b in blocks.items() if mode[n] not in ("event", "per-event") and
                   (b.source in ports or stage_of[b.source] < stage_of[b.target])]
        self.hoisted = tuple(hoisted)
        self.stages = tuple(tuple(st) for st in stages)
        in_scan = [n for n in blocks if n not in hoisted]
        # a block of lag 0 (an input port's, on a chip whose input reaches its neurons in the
        # step it arrives) is formed in the step itself, before its target's kernel
        direct = {n for n in in_scan if blocks[n].lag == 0}
        # a dense block's weights carry extra columns that count its synaptic events; a
        # structured block has its own accumulator and counts events as spikes @ fan_out
        wt, digits, summed, counted, out_width = {}, {}, {}, {}, {}
        for n, b in blocks.items():
            if mode[n] in STRUCTURED_MODES:
                summed[n] = accumulator(b.weights, b.max_count)
                counted[n] = event_counter(b.weights.fan_out(), b.max_count)
                out_width[n] = sizes[b.target]
                continue
            dtype = jnp.int16 if mode[n] == "event" else DENSE_DTYPES.get(mode[n], I32)
            w, digits[n] = with_event_columns(b.weights_t, dtype)
            wt[n] = jnp.asarray(w, dtype)
            out_width[n] = wt[n].shape[1]
        incoming = {g: [n for n in in_scan if blocks[n].target == g] for g in groups}
        lag = {n: blocks[n].lag for n in hoisted}

        def raw_product(n: str, s: jax.Array) -> tuple[jax.Array, jax.Array]:
            """Block n's sums for binary sources s [..., sources], all columns, and its events."""
            lead, s2 = s.shape[:-1], s.reshape(-1, s.shape[-1])
            n_tgt = sizes[blocks[n].target]
            if mode[n] == "per-event":   # the ordered summary, and the events from the count column
                rows = target.synapses.summarize(s2.astype(I32), wt[n][:, :n_tgt])
                events = jnp.dot(s2.astype(I32), wt[n][:, n_tgt].astype(I32))
                return rows.reshape(lead + rows.shape[1:]), events.reshape(lead)
            if n in summed:
                acc = summed[n](s2)
                return acc.reshape(lead + acc.shape[-1:]), counted[n](s2).reshape(lead)
            if mode[n] == "event":
                acc = event_sum(s2, wt[n])
            elif mode[n] == "dense-f32":
                acc = jnp.dot(s2.astype(jnp.float32), wt[n]).astype(I32)
            else:
                acc = jnp.dot(s2.astype(wt[n].dtype), wt[n], preferred_element_type=I32)
            events = sum(acc[:, n_tgt + d] << shift for d, shift in enumerate(digits[n]))
            return acc.reshape(lead + (acc.shape[-1],)), events.reshape(lead)

        def delivers(n: str, acc: jax.Array) -> jax.Array:
            """What block n delivers from its raw sums: the target columns, shifted by the
            weight exponent (no pass at all for exponent 0)."""
            a = acc if mode[n] == "per-event" else acc[..., :sizes[blocks[n].target]]
            return target.synapses.deliver(a, blocks[n].block)

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
            now_events = {}
            for g in stage:
                if per_event:   # every block's ordered summary, in program order
                    a_in = []
                    for n in incoming[g]:
                        if n in direct:
                            b = blocks[n]
                            a, ev = product(n, port_source(b.source, data, k))
                            a = jnp.broadcast_to(a, (batch,) + a.shape[-2:])
                            now_events[n] = jnp.broadcast_to(ev, (batch,))
                        else:
                            a = queues[n][0]
                        a_in.append((blocks[n].receptor, a))
                else:
                    a_in = pre[g] if g in pre else jnp.zeros((batch, sizes[g]), I32)
                    for n in incoming[g]:
                        a_in = a_in + queues[n][0]
                new_states[g], s, flags[g] = kernels[g].step(params[g], states[g], a_in)
                spikes[g] = s
            new_queues, events = {}, dict(now_events)
            for n in queues:
                b = blocks[n]
                s = spikes[b.source] if b.source in spikes else port_source(b.source, data, k)
                a, ev = product(n, s)
                new_queues[n] = jnp.concatenate(
                    [queues[n][1:], jnp.broadcast_to(a, (1, batch) + queues[n].shape[2:])], axis=0)
                events[n] = jnp.broadcast_to(ev, (batch,))
            # spikes and the kernel's per-neuron flags packed into one int8 per neuron: a
            # count per step inside the scan would make XLA recompute the kernel per flag
            packed = {}
            for g, s in spikes.items():
                code = s.astype(code_dtype)
                for bit, name in enumerate(self.flags, start=width):
                    if name in flags[g]:
                        code = code | (flags[g][name].astype(code_dtype) << bit)
                packed[g] = code
            out = {
                "packed": packed,
                "traces": {g: {v: getattr(new_states[g], v) for v in kernels[g].state}
                           for g in self._traced if g in new_states},
                "events": events,
            }
            return (new_states, new_queues), out

        def chunk(carry, xs):
            """The steps ks of one chunk: per stage, the products of the blocks hoisted into
            it (from ports and earlier stages), then its scan."""
            states, queues, held = carry
            ks, packed = xs
            # unpacked per chunk, where XLA fuses it into the products' input (event counts,
            # on a chip that takes several per step, come as bytes)
            data = {k: v if graded else unpack_spikes(v, ports[k].size) for k, v in packed.items()}
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
                           else codes[b.source] & mask)
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
                    ({g: states[g] for g in stage}, {n: queues[n] for n in own if n not in direct}),
                    (ks, jnp.arange(size, dtype=I32), {p: data[p] for p in stage_ports}))
                states.update(st)
                queues.update(qu)
                codes.update(ys["packed"])
                traces.update(ys["traces"])
                events.update(ys["events"])
            ys = {"traces": traces, "events": dict(events, **hoisted_events), "spikes": {}}
            counts = {name: {} for name in self.flags}
            unpack, no_flags = unpacker(len(self.flags), width)
            for g in groups:
                # one pass when no flag is set (the usual case): then the code is the spikes
                spikes, per_flag = jax.lax.cond(jnp.max(codes[g], initial=0) > mask, unpack, no_flags,
                                                codes[g])
                ys["spikes"][g] = spikes
                for name, c in zip(self.flags, per_flag):
                    counts[name][g] = c
            ys.update(counts)
            return (states, queues, new_held), ys

        # a per-event block's queue starts with the summary of no event
        empty = ({n: target.synapses.summarize(
            jnp.zeros((1, wt[n].shape[0]), I32), wt[n][:, :sizes[blocks[n].target]])[0]
            for n in in_scan if n not in direct} if per_event else {})

        def simulate(data):
            steps = next(iter(data.values())).shape[0] if data else 1
            carry = ({g: kernels[g].init(params[g], batch) for g in groups},
                     {n: jnp.zeros((blocks[n].lag, batch), I32)[..., None, None] + empty[n]
                      if per_event else jnp.zeros((blocks[n].lag, batch, sizes[blocks[n].target]), I32)
                      for n in in_scan if n not in direct},
                     {n: jnp.zeros((lag[n], batch, out_width[n]), I32) for n in hoisted})
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
        if self.input_cap > 1:   # event counts, one byte per channel and step
            flat = {k: _counts(k, v.reshape(steps, batch, -1), self.input_cap)
                    for k, v in data.items()}
        else:
            flat = {k: pack_spikes(v.reshape(steps, batch, -1)) for k, v in data.items()}
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
                              dict(prog.semantics, simulator="neurocc.emulator"), self.meanings)


def run(program: Program, target: Any, inputs: np.ndarray | dict[str, np.ndarray],
        record: tuple[str, ...] = ()) -> EmulatorResult:
    """Run `program` with `target`'s arithmetic on time-major `inputs` ([T, B, *shape] per
    data input port)."""
    return Emulator(program, target, record).run(inputs)


def _check_inputs(program: Program, inputs: np.ndarray | dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return check_inputs({p.name: p.shape for p in program.data_inputs}, inputs)


def _counts(name: str, x: np.ndarray, cap: int) -> np.ndarray:
    """Input event counts as bytes, clipped to the chip's `cap` per channel and step (the
    chip drops the rest); whole numbers 0..255 only, as the chip's input interface takes."""
    bad = (x < 0) | (x > 255) | (x != np.floor(x))
    if np.any(bad):
        t, b, i = (int(j) for j in np.argwhere(bad)[0])
        raise SimulationError(
            f"input '{name}': value {x[t, b, i]!r} at [step {t}, sample {b}, channel {i}] is not "
            f"an event count 0..255 (the chip takes a byte per channel and step, and uses at "
            f"most {cap} events of it); give whole numbers of input events")
    return np.minimum(x, cap).astype(np.uint8)
