"""The emulator's accumulators: how a synapse block's sum is formed, all bit-identical.

* dense products (int8, float32 where provably exact, int32), with extra columns
  that count the block's synaptic events in the same product;
* event-driven sums for large blocks at small batch (one weight row per active
  source, as many trips as spikes);
* per-event summaries, for a target that saturates after every event in presynaptic
  order (the target's synapse arithmetic forms them, its kernel applies them);
* for a Conv or Sparse block, a convolution or segment sums (``structured.py``);
and the stages (strongly connected components) the driver scans group by group.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from .structured import structured_mode

I32 = jnp.int32


@dataclasses.dataclass
class Block:
    """A synapse block as the driver runs it: the chip's effective weights, in their
    encoding (a Dense block's also as a (source, target) matrix, ``weights_t``)."""

    source: str
    target: str
    delay: int
    weights: Any     # the encoding (ir.blocks), effective (the target's synapse arithmetic)
    from_port: bool  # fed by an input port: summed for many steps at once, before the scan
    block: Any       # the Program's SynapseBlock, for the target's ``deliver``
    #: the largest spike count a source sends in one step (1: binary spikes)
    max_count: int = 1
    #: the target saturates per event, in presynaptic order: the driver hands its kernel
    #: the block's ordered summary (``SynapseArithmetic.summarize``) instead of its sum
    per_event: bool = False
    #: steps from a spike to its delivery: the block's latency plus its delay (0: an input
    #: port's block that the target sees in the same step)
    lag: int = 1
    #: the target's synaptic input it feeds (``SynapseBlock.receptor``)
    receptor: int = 0
    #: a Dense block's weights, (source, target)
    weights_t: np.ndarray | None = dataclasses.field(init=False, default=None)

    def __post_init__(self) -> None:
        if self.weights.kind == "dense":
            self.weights_t = np.ascontiguousarray(self.weights.to_dense().T)

    def summation(self, batch: int, force: str | None = None) -> str:
        """per-event / event / dense-i8 / dense-f32 / dense-i32 for a Dense block, from its
        weights, its sources' spike width and the batch; conv-f32 / conv-i32 / sparse for
        a Conv or Sparse one (``structured.structured_mode``).

        Every choice gives the same bits: int8 when every weight and spike count fits
        int8 (int32 accumulate), float32 when ``max_count * sum |w| < 2**24`` over every
        target proves every partial sum exact, int32 otherwise. Event-driven sums take
        binary spikes only.
        """
        if self.per_event:
            return "per-event"
        structured = structured_mode(self.weights, self.max_count)
        if structured is not None:
            return structured
        w = self.weights_t
        binary = self.max_count == 1
        if binary and (force == "event" or (force is None and not self.from_port
                                            and batch <= EVENT_MAX_BATCH
                                            and w.shape[0] * w.shape[1] >= EVENT_MIN_WEIGHTS)):
            return "event"
        if self.max_count <= 127 and (w.size == 0 or (w.min() >= -128 and w.max() <= 127)):
            return "dense-i8"
        if self.max_count * np.abs(w).astype(np.int64).sum(axis=0).max(initial=0) < (1 << 24):
            return "dense-f32"
        return "dense-i32"


#: a block is summed event-driven (in the scan) at batch <= EVENT_MAX_BATCH when its
#: dense product has at least EVENT_MIN_WEIGHTS weights: below that, one dense product
#: per step costs less than finding the active sources (measured on a 2-core CPU)
EVENT_MAX_BATCH = 4
EVENT_MIN_WEIGHTS = 1 << 18

def unpacker(n_flags: int, width: int = 1) -> tuple[Callable, Callable]:
    """Spikes (the low `width` bits: 1 for binary, more for a count) and the count per step
    of each flag (the next n bits) of packed codes; and the shortcut when no flag bit is
    set anywhere."""
    def unpack(code: jax.Array) -> tuple[jax.Array, tuple[jax.Array, ...]]:
        return code & ((1 << width) - 1), tuple(jnp.sum((code >> bit) & 1, axis=-1, dtype=I32)
                                                for bit in range(width, width + n_flags))

    def no_flags(code: jax.Array) -> tuple[jax.Array, tuple[jax.Array, ...]]:
        return code, tuple(jnp.zeros(code.shape[:-1], I32) for _ in range(n_flags))
    return unpack, no_flags


#: a run is cut into chunks of steps so that the hoisted products and the recorded
#: spikes of one chunk hold at most this many elements
CHUNK_ELEMENTS = 1 << 23

DENSE_DTYPES = {"dense-i8": jnp.int8, "dense-f32": jnp.float32, "dense-i32": I32}

PREFIX_BLOCK = 32


def stages(groups: list[str], edges: list[tuple[str, str, bool]]) -> list[list[str]]:
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


def with_event_columns(weights_t: np.ndarray, dtype: Any) -> tuple[np.ndarray, tuple[int, ...]]:
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


def prefix_count(s: jax.Array) -> jax.Array:
    """Inclusive running count of the spikes along the last axis, int32.

    Two small float32 products (within blocks of 32, then across blocks): XLA's
    CPU cumsum is a chain of small ops that costs more than the rest of a step.
    Exact: counts stay far below 2**24.
    """
    n = s.shape[-1]
    nb = -(-n // PREFIX_BLOCK)
    x = jnp.pad(s.astype(jnp.float32), [(0, 0)] * (s.ndim - 1) + [(0, nb * PREFIX_BLOCK - n)])
    x = x.reshape(s.shape[:-1] + (nb, PREFIX_BLOCK))
    within = x @ jnp.triu(jnp.ones((PREFIX_BLOCK, PREFIX_BLOCK), jnp.float32))
    before = within[..., -1] @ jnp.triu(jnp.ones((nb, nb), jnp.float32), 1)
    out = (within + before[..., None]).reshape(s.shape[:-1] + (nb * PREFIX_BLOCK,))
    return out[..., :n].astype(I32)


def event_sum(s: jax.Array, rows: jax.Array) -> jax.Array:
    """Sum of the weight rows of the active sources, for any activity; [batch, targets].

    ``rows`` is (sources, targets). The active sources are listed in order (a
    running count, then a scatter) and a loop adds one weight row per active
    source: the cost follows the activity and no spike is ever dropped. On a
    CPU one row per trip costs less than gathering many rows at once (measured:
    23 ms against 41 ms for N2's 1000 steps).
    """
    n_src, n_tgt = rows.shape
    count = prefix_count(s)                                              # [B, n_src]
    slot = jnp.where(s, count - 1, n_src)                                 # inactive: dropped

    def one(slot_b: jax.Array, total: jax.Array) -> jax.Array:
        order = jnp.zeros((n_src,), I32).at[slot_b].set(jnp.arange(n_src, dtype=I32), mode="drop")

        def body(j, acc):
            return acc + jax.lax.dynamic_slice(rows, (order[j], 0), (1, n_tgt))[0].astype(I32)
        return jax.lax.fori_loop(0, total, body, jnp.zeros((n_tgt,), I32))

    if s.shape[0] <= EVENT_MAX_BATCH:  # a loop per sample: each stops at its own count
        return jnp.stack([one(slot[b], count[b, -1]) for b in range(s.shape[0])])
    return jax.vmap(one)(slot, count[:, -1])


def pack_spikes(x: np.ndarray) -> np.ndarray:
    """Binary spikes [..., n] as bits, 8 neurons a byte (little bit order): an eighth of the
    bytes to hand to the device, unpacked by ``_unpack_spikes`` inside jit."""
    return np.packbits(x if x.dtype == np.bool_ else x != 0, axis=-1, bitorder="little")


def unpack_spikes(packed: jax.Array, n: int) -> jax.Array:
    bits = (packed[..., None] >> jnp.arange(8, dtype=jnp.uint8)) & 1
    return bits.reshape(packed.shape[:-1] + (-1,))[..., :n].astype(jnp.bool_)


