"""The partition pass: neuron groups into core-sized slices, slices onto cores and chips.

``partition(program, target, options)`` returns a Program in which every neuron
group is cut into contiguous slices (``"{group}@{k}"``; a group that fits one
core keeps its name) and every synapse block into one block per (source slice,
target slice) pair that holds a non-zero weight (``"{block}@{i}>{j}"``). The
arithmetic is untouched: a slice is a group with fewer neurons, and a block's
rows and columns are only regrouped, so the emulator and Lava give the same
spikes, bit for bit (see ``_check_exact_split`` for the one case that is not so
and is refused).

Per-core resources, checked for every core (a limit of 0 means none):

* ``max_neurons``: neurons of the slices on the core;
* ``synapse_memory_bits``: the slices' incoming synapses. Per slice and block
  the cheaper of dense, rows x input axons x ``dense_weight_bits`` (input axons:
  the distinct source neurons with a non-zero weight into the slice), and
  sparse, non-zeros x ``sparse_entry_bits``; the choice is the block's
  ``encoding``;
* ``max_fan_in``: distinct source neurons (input axons) feeding the core;
* ``max_fan_out``: distinct cores the core sends spikes to (its own included
  when it feeds itself);
* ``routing_entries``: one entry per (slice on the core, destination core).

Slicing: each group gets the fewest balanced contiguous slices under which
every slice respects neurons, memory and fan-in (a search over the number of
slices, each candidate checked exactly in O(synapses)); a limit on fan-out or
routing entries then cuts a group further while one of its slices would reach
more destination slices than allowed. The limit that forced the last cut is
the group's binding constraint. A single neuron that cannot fit is a
``CapacityError`` naming it.

Assignment: slices are packed into cores and cores into chips so that few
spikes cross cores, and fewer still chips. The slice graph is weighted by
expected spikes per step (a source neuron sends one spike per step and
destination slice it reaches, times its group's spike rate: 1 unless
``activity`` gives measured rates). Two strategies, both always available:
``greedy`` fills cores and chips in program order; ``graph`` partitions the
slice graph into chips with METIS (pymetis), then fills cores chip by chip.
``auto`` runs both and keeps the one with less inter-chip traffic (then less
inter-core traffic).

A target with a ``[network]`` table (Xylo) also bounds the whole network:
external input channels, hidden neurons (those no Output node reads) and
output neurons (those one reads), checked before slicing
(``network_problems``).

A target whose ``[topology]`` says ``mapping = "layer_per_core"`` (Speck) is
not sliced: each whole layer takes one core under the per-core memory
formulas of ``[layer_memory]`` (``layer_cores.py``).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Iterable, Mapping

import numpy as np

from neurocc.ir import CapacityError, NeuroccError, Program
from neurocc.ir.program import NeuronGroup, SynapseBlock
from neurocc.ir.target import CoreLimits, TargetSpec

#: the per-core resources, in the order reports list them
RESOURCES = ("neurons", "synapse_memory_bits", "fan_in", "fan_out", "routing_entries")
#: the CoreLimits field that bounds each resource
LIMIT_FIELD = {"neurons": "max_neurons", "synapse_memory_bits": "synapse_memory_bits",
               "fan_in": "max_fan_in", "fan_out": "max_fan_out",
               "routing_entries": "routing_entries"}
STRATEGIES = ("auto", "graph", "greedy")


@dataclasses.dataclass(frozen=True)
class PartitionOptions:
    """strategy: ``auto`` (both, keep the better), ``graph`` (METIS) or ``greedy``.

    activity: mean spikes per neuron per step by group name (e.g. from
    ``activity_from_spikes`` of an emulator run); groups it does not name get
    the mean of those it does. None: every neuron counts as spiking every step.
    """

    strategy: str = "auto"
    activity: Mapping[str, float] | None = None
    seed: int = 0


# --- the structure partitioning needs: sizes and non-zero patterns ---------------------


@dataclasses.dataclass
class Pattern:
    """Where one synapse block has non-zero weights, column-major.

    ``cols`` (source neuron) ascending, ``rows`` (target neuron) ascending within
    each column; int32 or int64.
    """

    name: str
    source: str
    target: str
    cols: np.ndarray
    rows: np.ndarray

    @property
    def nnz(self) -> int:
        return int(self.cols.size)


@dataclasses.dataclass
class Structure:
    """A network as partitioning sees it: group sizes, input ports, patterns.

    Built from a Program (``from_program``), from a float graph without
    quantizing (``from_graph``), or directly, sparse, for networks too large
    for the Program's dense weight matrices (bench/partition.py).
    """

    groups: dict[str, int]
    ports: dict[str, int]
    patterns: list[Pattern]
    #: per group, the convolution that feeds it (from the float graph), for targets that
    #: map whole layers to cores; None when not known (a Program, a synthetic network)
    layers: dict[str, Any] | None = None
    #: the groups an Output node reads (for a target's [network] output-neuron limit)
    outputs: tuple[str, ...] = ()
    #: the ports that are constant sources (a bias), not external input channels
    constants: tuple[str, ...] = ()

    @classmethod
    def from_program(cls, program: Program) -> "Structure":
        patterns = []
        for b in program.synapses:
            chunks = list(b.weights.chunks()) or [(np.zeros(0, np.int64),) * 3]
            rows, cols = (np.concatenate(p) for p in list(zip(*chunks))[:2])
            order = np.lexsort((rows, cols))          # by source, then target
            patterns.append(Pattern(b.name, b.source, b.target, cols[order], rows[order]))
        outputs = tuple(dict.fromkeys(g for p in program.outputs for g in p.groups))
        return cls({g.name: g.size for g in program.groups.values()},
                   {p.name: p.size for p in program.inputs}, patterns, outputs=outputs,
                   constants=tuple(p.name for p in program.inputs if p.kind == "const"))

    @classmethod
    def from_graph(cls, graph: Any) -> "Structure":
        """The float graph's structure: one block per connection, biases as a 1-neuron port.

        Used for targets neurocc cannot quantize for (`neurocc fit`): the
        compiled Program may hold more blocks per connection (quantize's
        residual blocks), so this is an estimate from below of synapse memory.
        """
        from .layer_cores import layer_shapes
        from .passes.lower import BIAS, lower_synapses

        lowered = lower_synapses(graph)
        size = lambda n: int(np.prod(graph.shapes[n].output))  # noqa: E731
        ports = {n: size(n) for n in lowered.inputs}
        patterns = []
        for g in lowered.groups:
            for c in lowered.incoming[g]:
                source = "bias" if c.source == BIAS else c.source
                if c.source == BIAS:
                    ports["bias"] = 1
                cols, rows = np.nonzero(c.matrix.T)
                hops = f"@{c.hops}" if c.hops else ""
                patterns.append(Pattern(f"{source}->{g}{hops}", source, g, cols, rows))
        return cls({g: size(g) for g in lowered.groups}, ports, patterns, layer_shapes(graph),
                   outputs=tuple(dict.fromkeys(lowered.outputs.values())),
                   constants=tuple(p for p in ports if p not in lowered.inputs))

    def check(self) -> None:
        for p in self.patterns:
            if p.target not in self.groups:
                raise ValueError(f"pattern '{p.name}': target '{p.target}' is no group")
            if p.source not in self.groups and p.source not in self.ports:
                raise ValueError(f"pattern '{p.name}': source '{p.source}' is no group or port")


def activity_from_spikes(spikes: Mapping[str, np.ndarray]) -> dict[str, float]:
    """Mean spikes per neuron per step by group, from [T, B, n] spike arrays.

    Keys may be slices (``"fc1@3"``, ``"spikes.fc1@3"`` as `neurocc run` writes
    them): slices of one group are pooled, weighted by their neurons.
    """
    total: dict[str, list[float]] = {}
    for key, arr in spikes.items():
        name = key[len("spikes."):] if key.startswith("spikes.") else key
        base, at, k = name.rpartition("@")
        if at and k.isdigit():
            name = base
        a = np.asarray(arr)
        s = total.setdefault(name, [0.0, 0.0])
        s[0] += float(np.count_nonzero(a))
        s[1] += float(a.size)
    return {g: (s / n if n else 0.0) for g, (s, n) in total.items()}


# --- slicing ---------------------------------------------------------------------------


def _limit(value: int) -> float:
    return math.inf if value == 0 else float(value)


def _slice_of(index: np.ndarray, k: int, n: int) -> np.ndarray:
    """Slice of each neuron index when n neurons are cut into k balanced slices.

    Slice j holds [j*n//k, (j+1)*n//k): the sizes differ by at most one.
    """
    return ((index.astype(np.int64) + 1) * k - 1) // n


def _bounds(k: int, n: int) -> np.ndarray:
    return (np.arange(k + 1, dtype=np.int64) * n) // k


def _distinct_cols(cols: np.ndarray, tslice: np.ndarray) -> np.ndarray:
    """Mask of the first entry of each distinct (col, slice) pair, col-major input.

    Within a column the rows ascend, so the slice does too: a pair is new where
    the column or the slice changes. O(n), no sort.
    """
    new = np.ones(cols.size, bool)
    if cols.size > 1:
        new[1:] = (cols[1:] != cols[:-1]) | (tslice[1:] != tslice[:-1])
    return new


def _merge(patterns: list[Pattern], n_target: int) -> tuple[np.ndarray, np.ndarray]:
    """The union of several patterns' (col, row) pairs, col-major."""
    if len(patterns) == 1:
        return patterns[0].cols, patterns[0].rows
    key = np.concatenate([p.cols.astype(np.int64) * n_target + p.rows for p in patterns])
    key = np.unique(key)
    return key // n_target, key % n_target


@dataclasses.dataclass
class _SliceStats:
    k: int
    neurons: np.ndarray
    memory: np.ndarray
    fan_in: np.ndarray
    synapses: np.ndarray
    dense: dict[str, np.ndarray]   # pattern name -> per slice: stored dense?
    usage: dict[str, float]         # resource -> worst slice / limit

    @property
    def ok(self) -> bool:
        return all(u <= 1.0 for u in self.usage.values())


class _NoCut(Exception):
    """No cut of a group passes every check (raised only for an `extra` check)."""


class _GroupSlicer:
    """Evaluates a cut of one group into k slices against neurons, memory, fan-in."""

    def __init__(self, name: str, n: int, incoming: list[Pattern], cores: CoreLimits) -> None:
        self.name, self.n, self.cores = name, n, cores
        self.patterns = incoming
        self.csum = [np.concatenate([[0], np.cumsum(np.bincount(p.rows, minlength=n))])
                     for p in incoming]
        by_source: dict[str, list[Pattern]] = {}
        for p in incoming:
            by_source.setdefault(p.source, []).append(p)
        self.merged = {s: _merge(ps, n) for s, ps in by_source.items()}
        self.db, self.sb = cores.dense_weight_bits, cores.sparse_entry_bits
        self.limits = {"neurons": _limit(cores.max_neurons),
                       "synapse_memory_bits": _limit(cores.synapse_memory_bits),
                       "fan_in": _limit(cores.max_fan_in)}
        self.cache: dict[int, _SliceStats] = {}

    def _distinct(self, cols: np.ndarray, rows: np.ndarray, k: int) -> np.ndarray:
        t = _slice_of(rows, k, self.n)
        return np.bincount(t[_distinct_cols(cols, t)], minlength=k)

    def evaluate(self, k: int) -> _SliceStats:
        if k in self.cache:
            return self.cache[k]
        b = _bounds(k, self.n)
        r = np.diff(b)
        memory = np.zeros(k, np.int64)
        synapses = np.zeros(k, np.int64)
        dense: dict[str, np.ndarray] = {}
        distinct: dict[int, np.ndarray] = {}
        for p, cs in zip(self.patterns, self.csum):
            nnz = cs[b[1:]] - cs[b[:-1]]
            synapses += nnz
            sparse_cost = nnz * self.sb if self.sb else None
            dense_cost = None
            # dense can only win when a stored weight is narrower than a sparse entry
            # (rows x axons >= non-zeros)
            if self.db and (not self.sb or self.db < self.sb):
                key = id(p.cols)
                if key not in distinct:
                    distinct[key] = self._distinct(p.cols, p.rows, k)
                dense_cost = r * distinct[key] * self.db
            if dense_cost is not None and sparse_cost is not None:
                use_dense = dense_cost < sparse_cost
                memory += np.where(use_dense, dense_cost, sparse_cost)
            elif dense_cost is not None:
                use_dense = np.ones(k, bool)
                memory += dense_cost
            else:  # sparse only, or neither width given (memory not modelled)
                use_dense = np.zeros(k, bool)
                if sparse_cost is not None:
                    memory += sparse_cost
            dense[p.name] = use_dense
        fan_in = np.zeros(k, np.int64)
        for cols, rows in self.merged.values():
            key = id(cols)
            fan_in += distinct[key] if key in distinct else self._distinct(cols, rows, k)
        usage = {"neurons": r.max(initial=0) / self.limits["neurons"],
                 "synapse_memory_bits": memory.max(initial=0) / self.limits["synapse_memory_bits"],
                 "fan_in": fan_in.max(initial=0) / self.limits["fan_in"]}
        stats = _SliceStats(k, r, memory, fan_in, synapses, dense, usage)
        if len(self.cache) < 64:
            self.cache[k] = stats
        return stats

    def lower_bound(self) -> int:
        k = max(1, math.ceil(self.n / self.limits["neurons"]))
        per_syn = min([b for b in (self.db, self.sb) if b], default=0)
        total = sum(p.nnz for p in self.patterns) * per_syn
        k = max(k, math.ceil(total / self.limits["synapse_memory_bits"]))
        return min(k, self.n)

    def guess(self, k: int) -> int:
        """Slices likely to fit, from an infeasible cut into k: the next cut to try.

        Neurons and memory grow with the slice; fan-in saturates, modelled as r
        neurons drawing their f inputs at random from the U sources of the layer:
        U (1 - (1 - f/U)^r) distinct inputs.
        """
        st = self.evaluate(k)
        out = k + 1
        for r in ("neurons", "synapse_memory_bits"):
            out = max(out, math.ceil(k * st.usage[r]))
        limit = self.limits["fan_in"]
        if st.usage["fan_in"] > 1:
            total = sum(int(np.count_nonzero(np.diff(c)) + 1) if c.size else 0
                        for c, _ in self.merged.values())
            f = float(self.evaluate(self.n).fan_in.mean()) if self.n <= 1 << 22 else 1.0
            if 0 < f < total and limit < total:
                r = math.log(1 - limit / total) / math.log(1 - f / total)
                out = max(out, math.ceil(self.n / max(r, 1.0)))
            else:
                out = max(out, math.ceil(k * st.usage["fan_in"]))
        return min(self.n, out)

    def search(self, k_min: int = 1, extra: Any = None) -> int:
        """The fewest slices >= k_min that fit (and pass `extra(k)` if given).

        A first cut from the lower bound, then a guess from what broke, then
        steps up (10 %, growing) to a cut that fits, then down by bisection.
        Each try is exact, O(synapses); the guess only saves tries.
        """
        ok = lambda k: self.evaluate(k).ok and (extra is None or extra(k))  # noqa: E731
        k = min(self.n, max(k_min, self.lower_bound()))
        if ok(k):
            return k
        lo = k
        k = max(lo + 1, self.guess(lo))
        step = 1.1
        while not ok(k):
            if k >= self.n:  # only with `extra`: single neurons were checked before
                raise _NoCut(self.name)
            lo = k
            k = min(self.n, max(k + 1, math.ceil(k * step)))
            step = min(step * 1.5, 4.0)
        hi = k
        if hi - lo > 1 and not ok(hi - 1):  # the guess was right: done in three tries
            return hi
        hi = hi - 1 if hi - lo > 1 else hi
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if ok(mid):
                hi = mid
            else:
                lo = mid
        return hi


def _fix_weight_bits(limits: CoreLimits) -> str:
    return (f"{limits.dense_weight_bits}-bit dense weights / {limits.sparse_entry_bits}-bit "
            "sparse entries")


def capacity_error(header: str, problems: list[tuple[str, str, str]]) -> CapacityError:
    """One CapacityError listing every problem; ``.failures`` keeps (layer, limit) of each."""
    if len(problems) == 1 and not header:
        err = CapacityError(problems[0][2])
    else:
        err = CapacityError(header + "\n" + "\n".join(f"  - {m}" for _, _, m in problems))
    err.failures = [{"layer": layer, "limit": limit} for layer, limit, _ in problems]
    return err


def _single_neuron_problems(slicer: _GroupSlicer) -> list[tuple[str, str, str]]:
    """Neurons that fit no core on their own, with the smallest change that would fit."""
    st = slicer.evaluate(slicer.n)
    c, out = slicer.cores, []
    if st.usage["fan_in"] > 1:
        i = int(np.argmax(st.fan_in))
        over = int((st.fan_in > c.max_fan_in).sum())
        out.append((slicer.name, "max_fan_in",
                    f"layer '{slicer.name}': neuron {i} has a fan-in of {int(st.fan_in[i])} source "
                   f"neurons ({over} neuron(s) above the limit); a core takes at most "
                   f"{c.max_fan_in} (max_fan_in). Smallest changes: prune each neuron's inputs to "
                   f"{c.max_fan_in} sources ({int(st.fan_in[i]) - c.max_fan_in} fewer for neuron "
                   f"{i}), or a chip whose cores take {int(st.fan_in[i])} inputs"))
    if st.usage["synapse_memory_bits"] > 1:
        i = int(np.argmax(st.memory))
        syn = int(st.synapses[i])
        need = int(st.memory[i])
        bits = c.synapse_memory_bits // max(syn, 1)
        fixes = [f"at most {bits} bits per stored synapse"] if bits else []  # 0 bits: no fix
        fixes += [f"prune it to {c.synapse_memory_bits // max(need // max(syn, 1), 1)} synapses",
                  f"a chip whose cores hold {need} bits"]
        out.append((slicer.name, "synapse_memory_bits",
                    f"layer '{slicer.name}': neuron {i} needs {need} bits of synapse memory "
                   f"({syn} synapses at {_fix_weight_bits(c)}); a core holds "
                   f"{c.synapse_memory_bits} (synapse_memory_bits). Smallest changes: "
                   + ", or ".join(fixes)))
    return out


def network_problems(structure: Structure, target: TargetSpec) -> list[tuple[str, str, str]]:
    """The target's [network] limits the whole network breaks: input channels, hidden and
    output neurons (Xylo's fixed pools), each with how much and the smallest change."""
    limits = target.network
    if limits is None:
        return []
    listed = lambda sizes: ", ".join(f"'{n}' {k}" for n, k in sizes.items())  # noqa: E731
    where = f"target '{target.name}' has"
    out = []
    inputs = {p: n for p, n in structure.ports.items() if p not in structure.constants}
    hidden = {g: n for g, n in structure.groups.items() if g not in structure.outputs}
    outputs = {g: structure.groups[g] for g in structure.outputs}
    total = sum(inputs.values())
    if limits.max_input_channels and total > limits.max_input_channels:
        lim = limits.max_input_channels
        out.append((", ".join(inputs), "max_input_channels",
                    f"the network takes {total} external input channels ({listed(inputs)}); "
                    f"{where} {lim} input channels (max_input_channels): {total - lim} too "
                    f"many. Smallest changes: encode the input in at most {lim} channels "
                    f"(pool or downsample it, {total} -> {lim}), or a target with {total} "
                    "input channels"))
    total = sum(hidden.values())
    if limits.max_hidden_neurons and total > limits.max_hidden_neurons:
        lim = limits.max_hidden_neurons
        big = max(hidden, key=hidden.get)
        out.append((big, "max_hidden_neurons",
                    f"the network has {total} hidden neurons (neurons no Output node reads: "
                    f"{listed(hidden)}); {where} {lim} hidden neurons (max_hidden_neurons): "
                    f"{total - lim} too many. Smallest changes: {total - lim} fewer hidden "
                    f"neurons (the largest layer, '{big}', has {hidden[big]}), or a target "
                    "with more neurons"))
    total = sum(outputs.values())
    if limits.max_output_neurons and total > limits.max_output_neurons:
        lim = limits.max_output_neurons
        out.append((", ".join(outputs), "max_output_neurons",
                    f"the network's Output nodes read {total} neurons ({listed(outputs)}); "
                    f"{where} {lim} output neurons (max_output_neurons): {total - lim} too "
                    f"many. Smallest changes: read at most {lim} neurons (fewer output "
                    f"classes or channels), or a target with {total} output neurons"))
    return out


def _binding(slicer: _GroupSlicer, k: int, dest_field: str | None) -> tuple[str, str]:
    """(constraint, detail) that forced the k-th slice: what k-1 slices would break."""
    if dest_field is not None:
        return dest_field, (f"with fewer slices one would send to more cores than "
                            f"{dest_field} allows")
    if k <= 1:
        return "none", "fits one core"
    prev = slicer.evaluate(k - 1)
    over = {r: u for r, u in prev.usage.items() if u > 1.0}
    if not over:  # k-1 would fit too but the search did not see it (balanced cuts shift)
        over = prev.usage
    name = max(over, key=over.get)
    worst = {"neurons": prev.neurons, "synapse_memory_bits": prev.memory,
             "fan_in": prev.fan_in}[name].max()
    limit = slicer.limits[name]
    fewer = "one slice" if k == 2 else f"{k - 1} slices"
    return (LIMIT_FIELD[name],
            f"{fewer} would need {int(worst)} {name.replace('_', ' ')} on a core "
            f"(limit {int(limit)})")


# --- the slice graph -------------------------------------------------------------------


@dataclasses.dataclass
class SliceGraph:
    """Slices (in group order) and the spikes per step between them."""

    names: list[str]
    group: list[str]
    start: np.ndarray
    stop: np.ndarray
    neurons: np.ndarray
    memory: np.ndarray
    fan_in: np.ndarray
    synapses: np.ndarray
    #: slice -> number of distinct destination slices
    dest: np.ndarray
    #: edges u -> v (slice indices) with expected spikes per step and distinct source neurons
    src: np.ndarray
    dst: np.ndarray
    weight: np.ndarray
    axons: np.ndarray
    first: dict[str, int]        # group -> index of its first slice
    count: dict[str, int]        # group -> slices
    dense: dict[tuple[str, int], bool]  # (pattern, target slice index within group) -> dense
    #: per slice (neurons, memory, fan-in, destinations) as Python numbers, for _pack's loop
    _needs: list[tuple[Any, ...]] | None = dataclasses.field(default=None, repr=False,
                                                               compare=False)

    def needs(self) -> list[tuple[Any, ...]]:
        if self._needs is None:
            self._needs = list(zip(self.neurons.tolist(), self.memory.tolist(),
                                   self.fan_in.tolist(), self.dest.tolist()))
        return self._needs


def _edges(structure: Structure, k: dict[str, int], first: dict[str, int],
           rates: Mapping[str, float]) -> tuple[np.ndarray, ...]:
    """(src, dst, spikes per step, distinct source neurons) per slice pair, plus per-neuron
    destination slices of every group."""
    by_pair: dict[tuple[str, str], list[Pattern]] = {}
    for p in structure.patterns:
        if p.source in structure.groups:
            by_pair.setdefault((p.source, p.target), []).append(p)
    srcs, dsts, counts, weights = [], [], [], []
    per_neuron = {g: np.zeros(n, np.int64) for g, n in structure.groups.items()}
    for (s, t), ps in by_pair.items():
        n_s, n_t, k_s, k_t = structure.groups[s], structure.groups[t], k[s], k[t]
        cols, rows = _merge(ps, n_t)
        ts = _slice_of(rows, k_t, n_t)
        new = _distinct_cols(cols, ts)
        c, ts = cols[new], ts[new]
        per_neuron[s] += np.bincount(c, minlength=n_s)
        key = _slice_of(c, k_s, n_s) * k_t + ts
        if k_s * k_t <= max(4 * key.size, 1 << 16):
            hist = np.bincount(key, minlength=k_s * k_t)
            uniq = np.flatnonzero(hist)
            cnt = hist[uniq]
        else:
            uniq, cnt = np.unique(key, return_counts=True)
        srcs.append(first[s] + uniq // k_t)
        dsts.append(first[t] + uniq % k_t)
        counts.append(cnt)
        weights.append(cnt * float(rates[s]))
    cat = lambda xs, dt: np.concatenate(xs).astype(dt) if xs else np.zeros(0, dt)  # noqa: E731
    return (cat(srcs, np.int64), cat(dsts, np.int64), cat(weights, np.float64),
            cat(counts, np.int64), per_neuron)


def _rates(structure: Structure, activity: Mapping[str, float] | None) -> dict[str, float]:
    if not activity:
        return {g: 1.0 for g in structure.groups}
    known = [float(activity[g]) for g in structure.groups if g in activity]
    default = float(np.mean(known)) if known else 1.0
    return {g: float(activity.get(g, default)) for g in structure.groups}


def slice_network(structure: Structure, cores: CoreLimits,
                  rates: Mapping[str, float]) -> tuple[SliceGraph, dict[str, tuple[str, str]]]:
    """Cut every group under every per-core limit; the slice graph and each group's binding."""
    incoming: dict[str, list[Pattern]] = {g: [] for g in structure.groups}
    for p in structure.patterns:
        incoming[p.target].append(p)
    slicers = {g: _GroupSlicer(g, n, incoming[g], cores) for g, n in structure.groups.items()}
    problems = [msg for s in slicers.values() if s.n for msg in _single_neuron_problems(s)]
    if problems:
        raise capacity_error("the network does not fit the target's cores:", problems)
    k = {g: (s.search() if s.n else 1) for g, s in slicers.items()}
    dest_limit = min(_limit(cores.max_fan_out), _limit(cores.routing_entries))
    dest_field = ("max_fan_out" if _limit(cores.max_fan_out) <= _limit(cores.routing_entries)
                  else "routing_entries")
    dest_bound: set[str] = set()
    for _ in range(16):
        first, at = {}, 0
        for g in structure.groups:
            first[g], at = at, at + k[g]
        src, dst, weight, axons, per_neuron = _edges(structure, k, first, rates)
        dest = np.bincount(src, minlength=at) if src.size else np.zeros(at, np.int64)
        if math.isinf(dest_limit) or dest.max(initial=0) <= dest_limit:
            break
        problems += _fan_out_problems(structure, per_neuron, dest_limit, cores)
        if problems:
            break
        # cut further the groups with a slice that reaches too many slices
        bad = {g for g in structure.groups if
               dest[first[g]:first[g] + k[g]].max(initial=0) > dest_limit}
        for g in sorted(bad):
            try:
                k[g] = _search_dest(structure, slicers[g], k, dest_limit)
            except _NoCut:
                problems.append((g, dest_field, (
                    f"layer '{g}': even one neuron per slice, a slice would send to more than "
                    f"{int(dest_limit)} cores (max_fan_out {cores.max_fan_out}, routing_entries "
                    f"{cores.routing_entries}): cutting it also cuts the layers it feeds "
                    "(itself, when recurrent). Smallest changes: fewer connections, or a chip "
                    "with more routing entries per core")))
            dest_bound.add(g)
        if problems:
            break
    else:
        problems.append(("", dest_field, "fan-out / routing entries: cutting the layers finer "
                         f"did not bring every core under {int(dest_limit)} destinations"))
    if problems:
        raise capacity_error("the network does not fit the target's cores:", problems)
    names, group, start, stop = [], [], [], []
    neurons, memory, fan_in, synapses = [], [], [], []
    dense: dict[tuple[str, int], bool] = {}
    count = {}
    for g, s in slicers.items():
        st = s.evaluate(k[g])
        b = _bounds(k[g], s.n)
        count[g] = k[g]
        for j in range(k[g]):
            names.append(g if k[g] == 1 else f"{g}@{j}")
            group.append(g)
        start.append(b[:-1])
        stop.append(b[1:])
        neurons.append(st.neurons)
        memory.append(st.memory)
        fan_in.append(st.fan_in)
        synapses.append(st.synapses)
        for p in s.patterns:
            for j, d in enumerate(st.dense[p.name]):
                dense[(p.name, j)] = bool(d)
    cat = lambda xs: (np.concatenate(xs).astype(np.int64) if xs  # noqa: E731
                      else np.zeros(0, np.int64))
    graph = SliceGraph(names, group, cat(start), cat(stop), cat(neurons), cat(memory),
                       cat(fan_in), cat(synapses), dest, src, dst, weight, axons, first, count,
                       dense)
    binding = {g: _binding(slicers[g], k[g], dest_field if g in dest_bound else None)
               for g in structure.groups}
    return graph, binding


def _fan_out_problems(structure: Structure, per_neuron: dict[str, np.ndarray], limit: float,
                      cores: CoreLimits) -> list[tuple[str, str, str]]:
    out = []
    for g, d in per_neuron.items():
        if d.size and d.max() > limit:
            i = int(np.argmax(d))
            field = ("max_fan_out" if _limit(cores.max_fan_out) <= _limit(cores.routing_entries)
                     else "routing_entries")
            out.append((g, field,
                        f"layer '{g}': neuron {i} sends to {int(d[i])} slices of other layers, "
                       f"each on its own core; a core may send to at most {int(limit)} cores "
                       f"(max_fan_out {cores.max_fan_out}, routing_entries "
                       f"{cores.routing_entries}). Smallest changes: connect it to fewer "
                       "neurons, or a chip whose cores take more neurons so its targets need "
                       "fewer cores"))
    return out


def _search_dest(structure: Structure, slicer: _GroupSlicer, k: dict[str, int],
                 limit: float) -> int:
    """Fewest slices of one group under which none reaches more than `limit` slices."""
    g = slicer.name

    def fits(kg: int) -> bool:
        trial = dict(k, **{g: kg})
        first, at = {}, 0
        for name in structure.groups:
            first[name], at = at, at + trial[name]
        sub = Structure(structure.groups, structure.ports,
                        [p for p in structure.patterns if p.source == g])
        src = _edges(sub, trial, first, {name: 1.0 for name in structure.groups})[0]
        return np.bincount(src - first[g], minlength=kg).max(initial=0) <= limit

    return slicer.search(k[g] + 1, fits)


# --- assignment to cores and chips -----------------------------------------------------


@dataclasses.dataclass
class Assignment:
    core: np.ndarray   # per slice: core number on its chip
    chip: np.ndarray   # per slice
    cores_per_chip: list[int]
    strategy: str
    inter_core: float  # spikes per step between slices on different cores
    inter_chip: float
    #: how the chips were chosen (for `graph`: which start the refinement improved)
    origin: str = ""

    @property
    def cores_used(self) -> int:
        return sum(self.cores_per_chip)


def _pack(order: Iterable[int], sg: SliceGraph, cores: CoreLimits) -> list[list[int]]:
    """Next-fit: slices in `order` fill a core until one more would break a limit.

    Fan-in and destinations are summed over the core's slices (a bound from
    above: slices may share sources and destinations), so a packed core always
    fits; the exact figures are computed afterwards.
    """
    lim_n, lim_m, lim_f = (_limit(cores.max_neurons), _limit(cores.synapse_memory_bits),
                           _limit(cores.max_fan_in))
    lim_d = min(_limit(cores.max_fan_out), _limit(cores.routing_entries))
    needs = sg.needs()
    if isinstance(order, np.ndarray):
        order = order.tolist()
    # plain Python numbers and one comparison per resource: the refinement packs a chip
    # after every move it tries, so this loop is most of its time
    bins: list[list[int]] = []
    a = b = c = d = 0.0
    for u in order:
        n, m, f, x = needs[u]
        if bins and a + n <= lim_n and b + m <= lim_m and c + f <= lim_f and d + x <= lim_d:
            bins[-1].append(u)
            a, b, c, d = a + n, b + m, c + f, d + x
        else:
            bins.append([u])
            a, b, c, d = float(n), float(m), float(f), float(x)
    return bins


def _traffic(sg: SliceGraph, core_key: np.ndarray, chip: np.ndarray) -> tuple[float, float]:
    cross_core = core_key[sg.src] != core_key[sg.dst]
    cross_chip = chip[sg.src] != chip[sg.dst]
    return float(sg.weight[cross_core].sum()), float(sg.weight[cross_chip].sum())


def _finish(bins_per_chip: list[list[list[int]]], sg: SliceGraph, strategy: str,
            origin: str = "") -> Assignment:
    n = len(sg.names)
    core = np.zeros(n, np.int64)
    chip = np.zeros(n, np.int64)
    counts = []
    for h, bins in enumerate(b for b in bins_per_chip if b):
        counts.append(len(bins))
        for c, members in enumerate(bins):
            core[members] = c
            chip[members] = h
    key = chip * (max(counts, default=1) + 1) + core
    inter_core, inter_chip = _traffic(sg, key, chip)
    return Assignment(core, chip, counts, strategy, inter_core, inter_chip, origin)


def assign_greedy(sg: SliceGraph, cores: CoreLimits, cores_per_chip: float) -> Assignment:
    bins = _pack(range(len(sg.names)), sg, cores)
    per = len(bins) if math.isinf(cores_per_chip) else int(cores_per_chip)
    return _finish([bins[i:i + per] for i in range(0, len(bins), max(per, 1))], sg, "greedy")


def _share(sg: SliceGraph, cores: CoreLimits) -> np.ndarray:
    """The fraction of a core each slice takes (its most used resource)."""
    share = np.zeros(len(sg.names))
    for arr, lim in ((sg.neurons, cores.max_neurons), (sg.memory, cores.synapse_memory_bits),
                     (sg.fan_in, cores.max_fan_in)):
        if lim:
            share = np.maximum(share, arr / lim)
    return share


def _csr(n: int, src: np.ndarray, dst: np.ndarray, w: np.ndarray
         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Symmetric adjacency without self loops, duplicate edges summed."""
    keep = src != dst
    a = np.concatenate([src[keep], dst[keep]])
    b = np.concatenate([dst[keep], src[keep]])
    ww = np.concatenate([w[keep], w[keep]])
    key = a * n + b
    uniq, inv = np.unique(key, return_inverse=True)
    wsum = np.bincount(inv, weights=ww)
    a, b = uniq // n, uniq % n
    xadj = np.concatenate([[0], np.cumsum(np.bincount(a, minlength=n))])
    return xadj, b, wsum


def assign_graph(sg: SliceGraph, cores: CoreLimits, cores_per_chip: float, n_chips: int,
                 max_chips: float, seed: int = 0,
                 start: Assignment | None = None) -> Assignment | None:
    """METIS partitions of the slice graph into chips, refined, then next-fit cores per chip.

    METIS (recursive bisection and k-way) gives chip partitions, each repaired
    so every chip's slices pack into its cores, then improved by ``_refine``
    (moves and swaps of slices between chips that cut inter-chip traffic and
    keep every chip within its cores). ``start`` (greedy's chips) is refined
    the same way and competes: METIS alone can cut more than a program order
    that already follows the network's structure (a ring listed in ring
    order), and refining that order keeps its win. The least inter-chip
    traffic wins (``start`` is refined only when within 1.5 x of METIS's refined
    traffic). Returns None when no partition that fits could be found.
    """
    import pymetis

    n = len(sg.names)
    if n < 2:
        return None
    # METIS balances core shares; a chip may still need a core more than its share
    first = max(1, math.ceil(_share(sg, cores).sum() / cores_per_chip))
    xadj, adjncy, w = _csr(n, sg.src, sg.dst, sg.weight)
    if adjncy.size == 0:
        return None
    # integer weights for METIS: spikes per step scaled so the largest is 10^5
    eweights = np.maximum(1, np.rint(w * (1e5 / w.max()))).astype(np.int64) if w.max() > 0 \
        else np.ones(w.size, np.int64)
    share = _share(sg, cores)
    vweights = np.maximum(1, np.rint(share * 1000)).astype(np.int64)
    cap = int(cores_per_chip)
    best: Assignment | None = None
    for parts in sorted({min(first, n_chips), n_chips, n_chips + 1}):
        if parts > max_chips or parts > n or parts < 2:
            continue
        # k-way and recursive bisection each win on some graphs; 3 % imbalance, then repair
        for recursive in (True, False):
            opts = pymetis.Options(seed=seed, ufactor=30)
            _, membership = pymetis.part_graph(parts, pymetis.CSRAdjacency(xadj, adjncy),
                                               eweights=eweights, vweights=vweights,
                                               recursive=recursive, options=opts)
            part = _repair(np.asarray(membership, np.int64), parts, sg, cores, cap, xadj,
                           adjncy, w)
            if part is None:
                continue
            part = _refine(part, parts, sg, cores, cap, xadj, adjncy, w)
            chips = [_pack(np.flatnonzero(part == p), sg, cores) for p in range(parts)]
            if all(len(c) <= cap for c in chips):
                origin = ("METIS recursive bisection" if recursive else "METIS k-way") + \
                    " + refinement"
                found = _finish(chips, sg, "graph", origin)
                if best is None or (found.inter_chip, found.inter_core) < (best.inter_chip,
                                                                          best.inter_core):
                    best = found
        if best is not None:
            break
    # a start far worse than METIS's refined chips will not catch up, and refining it
    # costs most (every slice wants to move): skip it then
    if start is not None and len(start.cores_per_chip) >= 2 and (
            best is None or start.inter_chip <= 1.5 * best.inter_chip):
        parts = len(start.cores_per_chip)
        part = _refine(start.chip.copy(), parts, sg, cores, cap, xadj, adjncy, w)
        chips = [_pack(np.flatnonzero(part == p), sg, cores) for p in range(parts)]
        if all(len(c) <= cap for c in chips):
            found = _finish(chips, sg, "graph", "program order + refinement")
            if best is None or (found.inter_chip, found.inter_core) < (best.inter_chip,
                                                                      best.inter_core):
                best = found
    return best


def _refine(part: np.ndarray, parts: int, sg: SliceGraph, cores: CoreLimits, cap: int,
            xadj: np.ndarray, adjncy: np.ndarray, w: np.ndarray, passes: int = 6) -> np.ndarray:
    """Fiduccia-Mattheyses-style local search on chips: only moves that cut traffic.

    A slice moves to the chip it sends and receives the most spikes to, if
    that chip still packs into its cores; when the chip is full, it swaps
    with the slice of that chip that gains most by coming back (the two
    moves' gains minus twice the spikes between them). Each accepted step
    lowers the inter-chip traffic, so the result is never worse than `part`.
    Skipped for graphs whose slice x chip table would exceed 2e7 entries.
    """
    n = len(part)
    if parts < 2 or n * parts > 2e7 or adjncy.size == 0:
        return part
    part = part.copy()
    conn = np.zeros((n, parts))
    rows = np.repeat(np.arange(n), np.diff(xadj))
    np.add.at(conn, (rows, part[adjncy]), w)
    members = [set(np.flatnonzero(part == p).tolist()) for p in range(parts)]
    fits = lambda p: len(_pack(sorted(members[p]), sg, cores)) <= cap  # noqa: E731

    def move(u: int, q: int) -> None:
        p = int(part[u])
        nb, ww = adjncy[xadj[u]:xadj[u + 1]], w[xadj[u]:xadj[u + 1]]
        np.subtract.at(conn[:, p], nb, ww)
        np.add.at(conn[:, q], nb, ww)
        members[p].discard(u)
        members[q].add(u)
        part[u] = q

    for _ in range(passes):
        gain = conn.max(axis=1) - conn[np.arange(n), part]
        improved = False
        for u in np.argsort(-gain, kind="stable")[:int((gain > 0).sum())].tolist():
            p = int(part[u])
            g = conn[u] - conn[u, p]
            q = int(np.argmax(g))
            if g[q] <= 0:
                continue
            move(u, q)
            if fits(q):
                improved = True
                continue
            # q is full: swap u with the slice of q that gains most by moving to p. conn
            # already counts u on q, so v's gain includes losing its link to u twice over
            # (u no longer on p, now on q): the usual g_u + g_v - 2 w_uv
            others = np.fromiter(members[q] - {u}, np.int64)
            total = g[q] + conn[others, p] - conn[others, q]
            best = int(np.argmax(total)) if others.size else -1
            if best >= 0 and total[best] > 0:
                v = int(others[best])
                move(v, p)
                if fits(q) and fits(p):
                    improved = True
                    continue
                move(v, q)
            move(u, p)
        if not improved:
            break
    return part


def _repair(part: np.ndarray, parts: int, sg: SliceGraph, cores: CoreLimits, cap: int,
            xadj: np.ndarray, adjncy: np.ndarray, w: np.ndarray) -> np.ndarray | None:
    """Move slices out of chips that need more cores than a chip has.

    The slice that leaves is the one with the least traffic to its own chip
    relative to a chip with room; it goes to the room-having chip it talks to most.
    """
    ncores = np.array([len(_pack(np.flatnonzero(part == p), sg, cores)) for p in range(parts)])
    for _ in range(len(part) + 1):
        over = np.flatnonzero(ncores > cap)
        if over.size == 0:
            return part
        room = np.flatnonzero(ncores < cap)
        if room.size == 0:
            return None
        p = int(over[0])
        members = np.flatnonzero(part == p)
        best, best_gain, best_q = -1, -math.inf, -1
        for u in members:
            nb, ww = adjncy[xadj[u]:xadj[u + 1]], w[xadj[u]:xadj[u + 1]]
            conn = np.bincount(part[nb], weights=ww, minlength=parts)
            q = int(room[np.argmax(conn[room])])
            gain = conn[q] - conn[p]
            if gain > best_gain:
                best, best_gain, best_q = int(u), gain, q
        part[best] = best_q
        for x in (p, best_q):
            ncores[x] = len(_pack(np.flatnonzero(part == x), sg, cores))
    return None


# --- checks after assignment -----------------------------------------------------------


def core_resources(structure: Structure, sg: SliceGraph, a: Assignment) -> list[dict[str, Any]]:
    """Exact per-core figures: neurons, memory, fan-in (union), fan-out, routing entries."""
    n = len(sg.names)
    width = max(a.cores_per_chip, default=1) + 1
    key = a.chip * width + a.core
    cores_list = sorted(set(key.tolist()))
    index = {c: i for i, c in enumerate(cores_list)}
    ci = np.array([index[c] for c in key.tolist()], np.int64) if n else np.zeros(0, np.int64)
    m = len(cores_list)
    neurons = np.bincount(ci, weights=sg.neurons, minlength=m)
    memory = np.bincount(ci, weights=sg.memory, minlength=m)
    synapses = np.bincount(ci, weights=sg.synapses, minlength=m)
    fan_in = np.bincount(ci, weights=sg.fan_in, minlength=m)
    members: list[list[int]] = [[] for _ in range(m)]
    for u in range(n):
        members[ci[u]].append(u)
    incoming: dict[str, list[Pattern]] = {}
    for p in structure.patterns:
        incoming.setdefault(p.target, []).append(p)
    for c, us in enumerate(members):
        if len(us) > 1:  # slices sharing a core may share sources
            fan_in[c] = _union_fan_in(incoming, sg, us)
    # destinations: distinct (core, destination core), and (slice, destination core)
    if sg.src.size:
        pair = np.unique(ci[sg.src] * m + ci[sg.dst])
        fan_out = np.bincount(pair // m, minlength=m)
        routes = np.unique(sg.src * m + ci[sg.dst])
        routing = np.bincount(ci[routes // m], minlength=m)
    else:
        fan_out = routing = np.zeros(m, np.int64)
    out = []
    for c, k in enumerate(cores_list):
        out.append({"chip": int(k // width), "core": int(k % width),
                    "slices": [sg.names[u] for u in members[c]],
                    "neurons": int(neurons[c]), "synapse_memory_bits": int(memory[c]),
                    "fan_in": int(fan_in[c]), "fan_out": int(fan_out[c]),
                    "routing_entries": int(routing[c]), "synapses": int(synapses[c])})
    return out


def _union_fan_in(incoming: dict[str, list[Pattern]], sg: SliceGraph, slices: list[int]) -> int:
    seen: dict[str, list[np.ndarray]] = {}
    for u in slices:
        a, b = sg.start[u], sg.stop[u]
        for p in incoming.get(sg.group[u], []):
            inside = (p.rows >= a) & (p.rows < b)
            seen.setdefault(p.source, []).append(p.cols[inside])
    return sum(int(np.unique(np.concatenate(c)).size) for c in seen.values())


def _check_cores(per_core: list[dict[str, Any]], cores: CoreLimits) -> None:
    problems = []
    for c in per_core:
        for r in RESOURCES:
            limit = getattr(cores, LIMIT_FIELD[r])
            if limit and c[r] > limit:
                layer = c["slices"][0].rpartition("@")[0] or c["slices"][0]
                problems.append((layer, LIMIT_FIELD[r],
                                 f"chip {c['chip']} core {c['core']} ({', '.join(c['slices'])}): "
                                 f"{r} {c[r]} > {LIMIT_FIELD[r]} {limit}"))
    if problems:
        raise capacity_error("cores over their limits after assignment:", problems)


# --- the whole partition: plan, then rewrite the Program ---------------------------------


@dataclasses.dataclass
class Plan:
    slices: SliceGraph
    binding: dict[str, tuple[str, str]]
    assignment: Assignment
    per_core: list[dict[str, Any]]
    report: dict[str, Any]
    rates: dict[str, float]


def _topology(target: TargetSpec) -> tuple[float, float]:
    t = target.topology
    if t is None:
        return math.inf, 1.0
    return (_limit(t.cores_per_chip), _limit(t.max_chips))


def plan_partition(structure: Structure, target: TargetSpec,
                   options: PartitionOptions = PartitionOptions()) -> Plan:
    """Slice, assign, check: everything `partition` decides, on a Structure."""
    if options.strategy not in STRATEGIES:
        raise NeuroccError(f"partition strategy must be one of {', '.join(STRATEGIES)}, "
                           f"got {options.strategy!r}")
    cores = target.cores
    if cores is None:
        raise CapacityError(f"target '{target.name}' has no [cores] table: neurocc cannot tell "
                            "what fits on one of its cores; add [cores] to its TOML")
    structure.check()
    problems = network_problems(structure, target)
    if problems:
        raise capacity_error(f"the network does not fit target '{target.name}' as a whole "
                             "([network] limits):", problems)
    if target.topology is not None and target.topology.mapping == "layer_per_core":
        from .layer_cores import plan_layer_per_core

        return plan_layer_per_core(structure, target, options)
    rates = _rates(structure, options.activity)
    sg, binding = slice_network(structure, cores, rates)
    per_chip, max_chips = _topology(target)
    greedy = assign_greedy(sg, cores, per_chip)
    candidates = [greedy]
    if options.strategy in ("auto", "graph") and len(greedy.cores_per_chip) > 1:
        graph = assign_graph(sg, cores, per_chip, len(greedy.cores_per_chip), max_chips,
                             options.seed, start=greedy)
        if graph is not None:
            candidates.append(graph)
    if options.strategy == "greedy":
        chosen = greedy
    elif options.strategy == "graph":
        chosen = candidates[-1]
    else:
        fitting = [c for c in candidates if len(c.cores_per_chip) <= max_chips]
        chosen = min(fitting or candidates, key=lambda c: (c.inter_chip, c.inter_core,
                                                           c.cores_used))
    if len(chosen.cores_per_chip) > max_chips:
        raise _too_many_chips(structure, sg, binding, chosen, target, rates)
    per_core = core_resources(structure, sg, chosen)
    _check_cores(per_core, cores)
    report = _report(structure, sg, binding, chosen, candidates, per_core, target, options,
                     rates)
    return Plan(sg, binding, chosen, per_core, report, rates)


def _too_many_chips(structure: Structure, sg: SliceGraph, binding: dict[str, tuple[str, str]],
                    a: Assignment, target: TargetSpec, rates: Mapping[str, float]) -> CapacityError:
    t, cores = target.topology, target.cores
    assert t is not None and cores is not None
    have = t.max_chips * t.cores_per_chip
    need = a.cores_used
    chips = len(a.cores_per_chip)
    per_layer: dict[str, int] = {}
    for g in sg.group:
        per_layer[g] = per_layer.get(g, 0) + 1
    top = sorted(per_layer, key=lambda g: -per_layer[g])[:3]
    layers = "; ".join(f"'{g}' {per_layer[g]} slices of {structure.groups[g] // per_layer[g]}"
                       f"-{-(-structure.groups[g] // per_layer[g])} neurons (bound by "
                       f"{binding[g][0]})" for g in top)
    lines = [f"the network needs {need} cores on {chips} chips ({t.cores_per_chip} cores each); "
             f"target '{target.name}' has at most {t.max_chips} chips = {have} cores: "
             f"{need - have} cores too many. Largest layers: {layers}.",
             "Smallest changes:",
             f"  - a system of {chips} chips (max_chips = {chips} in [topology])"]
    memory_bound = [g for g in top if binding[g][0] == "synapse_memory_bits"]
    if memory_bound:
        for bits in range(cores.dense_weight_bits - 1, 0, -1):
            drop = cores.dense_weight_bits - bits
            trial = dataclasses.replace(cores, dense_weight_bits=bits,
                                        sparse_entry_bits=max(cores.sparse_entry_bits - drop, 0))
            try:
                slices = len(slice_network(structure, trial, rates)[0].names)
            except CapacityError:
                continue
            if slices <= have:
                lines.append(f"  - weights of {bits} bits ({memory_bound[0]} is bound by synapse "
                             f"memory): about {slices} cores")
                break
    biggest = top[0]
    spare = need - have
    n_big = structure.groups[biggest]
    lines.append(f"  - fewer neurons: layer '{biggest}' uses {per_layer[biggest]} cores; "
                 f"{spare} fewer cores there means about "
                 f"{min(n_big, spare * n_big // per_layer[biggest])} fewer neurons, or a chip "
                 "whose cores hold more")
    return capacity_error("", [(top[0], "max_chips", "\n".join(lines))])


def _report(structure: Structure, sg: SliceGraph, binding: dict[str, tuple[str, str]],
            a: Assignment, candidates: list[Assignment], per_core: list[dict[str, Any]],
            target: TargetSpec, options: PartitionOptions, rates: Mapping[str, float]
            ) -> dict[str, Any]:
    cores = target.cores
    assert cores is not None
    limits = {r: (getattr(cores, LIMIT_FIELD[r]) or None) for r in RESOURCES}
    util = {}
    for r in RESOURCES:
        vals = np.array([c[r] for c in per_core], np.float64)
        lim = limits[r]
        util[r] = {"limit": lim, "max": int(vals.max(initial=0)),
                   "mean": float(vals.mean()) if vals.size else 0.0,
                   "max_fraction": (float(vals.max(initial=0)) / lim) if lim else None,
                   "mean_fraction": (float(vals.mean()) / lim) if lim and vals.size else None}
    layers = {}
    for g, n in structure.groups.items():
        f, k = sg.first[g], sg.count[g]
        layer_cores = sorted({(int(a.chip[u]), int(a.core[u])) for u in range(f, f + k)})
        layers[g] = {"neurons": n, "slices": k,
                     "slice_size": int(sg.neurons[f:f + k].max(initial=0)),
                     "binding": binding[g][0], "why": binding[g][1],
                     "cores": [list(c) for c in layer_cores]}
    cross_core = (a.chip[sg.src] != a.chip[sg.dst]) | (a.core[sg.src] != a.core[sg.dst])
    cross_chip = a.chip[sg.src] != a.chip[sg.dst]
    return {
        "target": target.name,
        "limits": limits,
        "cores_used": a.cores_used,
        "chips_used": len(a.cores_per_chip),
        "cores_per_chip": list(a.cores_per_chip),
        "strategy": a.strategy,
        "strategies": {c.strategy: {"cores": c.cores_used, "chips": len(c.cores_per_chip),
                                    "inter_core_spikes_per_step": c.inter_core,
                                    "inter_chip_spikes_per_step": c.inter_chip,
                                    **({"origin": c.origin} if c.origin else {})}
                       for c in candidates},
        "rates": {"source": "activity" if options.activity else "uniform (1 spike/neuron/step)",
                  "per_group": dict(rates)},
        "layers": layers,
        "utilization": util,
        "edges": {"slice_edges": int(sg.src.size), "inter_core": int(cross_core.sum()),
                  "inter_chip": int(cross_chip.sum())},
        "traffic": {"inter_core_spikes_per_step": a.inter_core,
                    "inter_chip_spikes_per_step": a.inter_chip,
                    "total_spikes_per_step": float(sg.weight.sum())},
        "cores": per_core,
    }


def _check_exact_split(program: Program, sg: SliceGraph) -> None:
    """A block whose sum is shifted right cannot always be cut by source exactly.

    The chip (Lava's models, the emulator) shifts each block's accumulated sum
    by its weight exponent, and floor(a/2^k) + floor(b/2^k) != floor((a+b)/2^k).
    A block with a negative exponent is split across source slices only when
    every weight is a multiple of 2^-exp within the 9-bit range (clipping and
    the dropped low bits keep such weights multiples, so the shift is exact).
    """
    problems = []
    for b in program.synapses:
        if b.weight_exp >= 0 or b.source not in sg.count or sg.count[b.source] == 1:
            continue
        low, high = b.weights.value_range()
        unit = 1 << -b.weight_exp
        if (max(-low, high) > 255
                or any(np.any(v.astype(np.int64) % unit) for _, _, v in b.weights.chunks())):
            problems.append((b.target, "weight_exp",
                             f"block '{b.name}' (weight_exp {b.weight_exp}) would be split across "
                             f"{sg.count[b.source]} slices of '{b.source}'"))
    if problems:
        problems.append(("", "weight_exp", "requantize so the exponents are >= 0 (e.g. a larger "
                         "--vth), or use a target whose cores hold the whole source layer"))
        raise capacity_error("splitting these blocks by source would change the chip's rounding "
                             "(each part's sum is shifted right on its own):", problems)


def partition(program: Program, target: TargetSpec,
              options: PartitionOptions = PartitionOptions()) -> Program:
    """The Program cut into core-sized slices, placed on cores and chips (see module doc)."""
    structure = Structure.from_program(program)
    plan = plan_partition(structure, target, options)
    _check_exact_split(program, plan.slices)
    return apply_plan(program, plan)


def _slice_params(g: NeuronGroup, a: int, b: int) -> dict[str, np.ndarray]:
    out = {}
    for k, v in g.params.items():
        arr = np.asarray(v)
        if arr.ndim == 0 or arr.size == 1 and g.size != 1:
            out[k] = arr.copy()
        elif arr.size == g.size:
            out[k] = arr.reshape(-1)[a:b].copy()
        else:
            raise ValueError(f"group '{g.name}': parameter '{k}' has {arr.size} values for "
                             f"{g.size} neurons")
    return out


def apply_plan(program: Program, plan: Plan) -> Program:
    sg, a = plan.slices, plan.assignment
    groups: dict[str, NeuronGroup] = {}
    placement: dict[str, dict[str, Any]] = {}
    for u, name in enumerate(sg.names):
        g = program.groups[sg.group[u]]
        lo, hi = int(sg.start[u]), int(sg.stop[u])
        if sg.count[g.name] == 1:
            groups[name] = dataclasses.replace(g, params={k: np.asarray(v).copy()
                                                          for k, v in g.params.items()})
        else:
            groups[name] = NeuronGroup(name, g.model, (hi - lo,), _slice_params(g, lo, hi),
                                       g.source)
        placement[name] = {"slice_of": g.name, "start": lo, "stop": hi,
                           "core": int(a.core[u]), "chip": int(a.chip[u])}
    synapses: list[SynapseBlock] = []
    for b in program.synapses:
        w = b.weights
        t0, kt = sg.first[b.target], sg.count[b.target]
        if b.source in sg.count:
            s0, ks = sg.first[b.source], sg.count[b.source]
        else:
            s0, ks = -1, 1
        split = kt > 1 or ks > 1
        for j in range(kt):
            ta, tb = int(sg.start[t0 + j]), int(sg.stop[t0 + j])
            enc = "dense" if sg.dense.get((b.name, j), b.storage == "dense") else "sparse"
            for i in range(ks):
                if s0 >= 0:
                    sa, sb_ = int(sg.start[s0 + i]), int(sg.stop[s0 + i])
                    src = sg.names[s0 + i]
                else:
                    sa, sb_, src = 0, w.shape[1], b.source
                sub = w.rows(ta, tb).cols(sa, sb_)
                if split and not sub.nnz():
                    continue
                name = f"{b.name}@{i}>{j}" if split else b.name
                synapses.append(dataclasses.replace(
                    b, name=name, source=src, target=sg.names[t0 + j],
                    weights=sub.map_values(np.ascontiguousarray), storage=enc))
    outputs = []
    for o in program.outputs:
        f, k = sg.first[o.group], sg.count[o.group]
        outputs.append(dataclasses.replace(o, parts=tuple(sg.names[f:f + k])))
    info = dict(program.info, resources=plan.report)
    out = dataclasses.replace(program, groups=groups, synapses=synapses,
                              inputs=list(program.inputs), outputs=outputs,
                              semantics=dict(program.semantics), pass_log=list(program.pass_log),
                              info=info, placement=placement)
    out.check()
    return out
