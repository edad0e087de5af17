"""How many slices one group needs: balanced contiguous cuts checked against a core's limits.

A cut of a group into k slices is checked exactly, in O(synapses) (O(k) for a
full pattern), for the neurons, synapse memory and fan-in of its worst slice;
``GroupSlicer.search`` finds the fewest k that fit, and ``aligned`` the cut into
as many slices on a convolution's channel boundaries, where one fits. Also
here: what to tell the user when even one neuron fits no core, and which limit
forced a group's last cut (its binding constraint).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from neurocc.ir.target import CoreLimits

from .cuts import Cut, merge, sources_per_slice
from .limits import LIMIT_FIELD, as_limit
from .patterns import Pattern


@dataclasses.dataclass
class SliceStats:
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


class NoCut(Exception):
    """No cut of a group passes every check (raised only for an `extra` check)."""


class GroupSlicer:
    """Evaluates a cut of one group into k slices against neurons, memory, fan-in.

    `unit`: neurons per channel of the convolutions that feed the group or read it
    (their least common multiple; 1 if none): ``aligned`` moves a cut onto multiples
    of it, so every slice of those blocks stays a convolution.
    """

    def __init__(self, name: str, n: int, incoming: list[Pattern], cores: CoreLimits,
                 unit: int = 1) -> None:
        self.name, self.n, self.cores, self.unit = name, n, cores, unit
        self.patterns = incoming
        self.csum = [np.concatenate([[0], np.cumsum(p.row_counts(n))]) for p in incoming]
        by_source: dict[str, list[Pattern]] = {}
        for p in incoming:
            by_source.setdefault(p.source, []).append(p)
        self.merged = {s: merge(ps, n) for s, ps in by_source.items()}
        self.db, self.sb = cores.dense_weight_bits, cores.sparse_entry_bits
        self.limits = {"neurons": as_limit(cores.max_neurons),
                       "synapse_memory_bits": as_limit(cores.synapse_memory_bits),
                       "fan_in": as_limit(cores.max_fan_in)}
        self.cache: dict[int, SliceStats] = {}

    def evaluate(self, cut: "int | Cut") -> SliceStats:
        """The worst slice's usage of a cut (k: the balanced cut into k slices)."""
        if not isinstance(cut, Cut):
            cut = int(cut)
            if cut in self.cache:
                return self.cache[cut]
            stats = self._evaluate(Cut.even(cut, self.n))
            if len(self.cache) < 64:
                self.cache[cut] = stats
            return stats
        return self._evaluate(cut)

    def _evaluate(self, cut: Cut) -> SliceStats:
        k, b = cut.k, cut.bounds
        r = cut.sizes
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
                if id(p) not in distinct:
                    distinct[id(p)] = sources_per_slice(p, cut)
                dense_cost = r * distinct[id(p)] * self.db
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
        for m in self.merged.values():
            fan_in += distinct[id(m)] if id(m) in distinct else sources_per_slice(m, cut)
        usage = {"neurons": r.max(initial=0) / self.limits["neurons"],
                 "synapse_memory_bits": memory.max(initial=0) / self.limits["synapse_memory_bits"],
                 "fan_in": fan_in.max(initial=0) / self.limits["fan_in"]}
        return SliceStats(k, r, memory, fan_in, synapses, dense, usage)

    def aligned(self, k: int) -> Cut | None:
        """The cut into k slices of about equal channels, each a whole number of channels
        (``unit`` neurons each), if it fits every limit; None when there is no such cut,
        it fits no better, or the balanced cut already falls on channel boundaries."""
        u = self.unit
        if u <= 1 or k <= 1 or self.n % u or k > self.n // u:
            return None
        cut = Cut.at(u * ((np.arange(k + 1, dtype=np.int64) * (self.n // u)) // k))
        if cut.balanced or not self.evaluate(cut).ok:
            return None
        return cut

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
            total = sum(m.distinct_sources() for m in self.merged.values())
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
                raise NoCut(self.name)
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


def single_neuron_problems(slicer: GroupSlicer) -> list[tuple[str, str, str]]:
    """Neurons that fit no core on their own, with the smallest change that would fit."""
    st = slicer.evaluate(slicer.n)
    c, out = slicer.cores, []
    # a convolution into the layer (its pattern's rows come in channels)
    conv = any(p.row_unit > 1 for p in slicer.patterns)
    if st.usage["fan_in"] > 1:
        i = int(np.argmax(st.fan_in))
        over = int((st.fan_in > c.max_fan_in).sum())
        out.append((slicer.name, "max_fan_in",
                    f"layer '{slicer.name}': neuron {i} has a fan-in of {int(st.fan_in[i])} source "
                   f"neurons ({over} neuron(s) above the limit); a core takes at most "
                   f"{c.max_fan_in} (max_fan_in)"
                   + (", and one neuron is the smallest slice, so no cut by output channel or "
                      "position helps" if conv else "")
                   + f". Smallest changes: prune each neuron's inputs to "
                   f"{c.max_fan_in} sources ({int(st.fan_in[i]) - c.max_fan_in} fewer for neuron "
                   f"{i})"
                   + (f" (for its convolution: input channels per group times kernel taps at "
                      f"most {c.max_fan_in}, with fewer input channels, a smaller kernel or more "
                      "groups)" if conv else "")
                   + f", or a chip whose cores take {int(st.fan_in[i])} inputs"))
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


def binding_of(slicer: GroupSlicer, k: int, dest_field: str | None) -> tuple[str, str]:
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
