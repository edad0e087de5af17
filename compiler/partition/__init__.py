"""Partition and place & route: neuron groups into core-sized slices, slices onto cores and chips.

``partition(program, target, options)`` returns a Program in which every neuron
group is cut into contiguous slices (``"{group}@{k}"``; a group that fits one
core keeps its name) and every synapse block into one block per (source slice,
target slice) pair that holds a non-zero weight (``"{block}@{i}>{j}"``). The
arithmetic is untouched: a slice is a group with fewer neurons, and a block's
rows and columns are only regrouped, so the emulator and the oracle give the same
spikes, bit for bit (see ``partition_pass._check_exact_split`` for the one case
that is not so and is refused). ``place_and_route`` then places the used cores
on each chip's mesh and routes spikes X then Y.

Per-core resources, checked for every core (a limit of 0 means none):

* ``max_neurons``: neurons of the slices on the core;
* ``synapse_memory_bits``: the slices' incoming synapses. Per slice and block
  the cheaper of dense, rows x input axons x ``dense_weight_bits`` (input axons:
  the distinct source neurons with a non-zero weight into the slice), and
  sparse, non-zeros x ``sparse_entry_bits``; the choice is the block's
  ``storage``;
* ``max_fan_in``: distinct source neurons (input axons) feeding the core;
* ``max_fan_out``: distinct cores the core sends spikes to (its own included
  when it feeds itself);
* ``routing_entries``: one entry per (slice on the core, destination core).

Every count comes from the blocks' patterns, read through their encodings
(``ir.blocks``: a Sparse block's CSR, a Conv block's chunks), never from a
matrix; a block without a zero weight is a full pattern whose counts are
computed from its sizes, nothing listed (``patterns``).

Slicing: each group gets the fewest balanced contiguous slices under which
every slice respects neurons, memory and fan-in (a search over the number of
slices, each candidate checked exactly in O(synapses)); a limit on fan-out or
routing entries then cuts a group further while one of its slices would reach
more destination slices than allowed. The limit that forced the last cut is
the group's binding constraint. A single neuron that cannot fit is a
``CapacityError`` naming it. A group a convolution feeds (or reads) is cut on
its channel boundaries instead, into as many slices, where that fits and costs
no core: its pieces stay ``Conv`` blocks; otherwise they are ``Sparse``.

Assignment: slices are packed into cores and cores into chips so that few
spikes cross cores, and fewer still chips. The slice graph is weighted by
expected spikes per step (a source neuron sends one spike per step and
destination slice it reaches, times its group's spike rate: 1 unless
``activity`` gives measured rates). Two strategies, both always available:
``greedy`` fills cores and chips in program order; ``graph`` partitions the
slice graph into chips with METIS (pymetis), then fills cores chip by chip.
``auto`` runs both and keeps the one with less inter-chip traffic (then less
inter-core traffic).

A target with a ``[network]`` table (fixed neuron pools) also bounds the whole network:
external input channels, hidden neurons (those no Output node reads) and
output neurons (those one reads), checked before slicing
(``network_problems``).

A target whose ``[topology]`` says ``mapping = "layer_per_core"`` is
not sliced: each whole layer takes one core under the per-core memory
formulas of ``[layer_memory]`` (``layer_cores.py``).

The modules, each importing only modules listed above it:

    limits          the per-core resources; the one CapacityError layout
    layers          each layer's shape for a layer-per-core chip (float graph)
    patterns        a block's non-zero pattern, listed or full, read through its encoding
    graph_patterns  the patterns of a graph of Affine / Linear connections, node by node
    structure       the network as partitioning sees it; spike rates
    network         the whole-network [network] limits
    cuts            a group cut into slices; what a pattern sends across cuts
    slicer          how many slices one group needs
    slices          the network cut into slices; the slice graph
    packing         slices into cores: next-fit, the greedy strategy
    chips           the graph strategy: METIS chips, repaired and refined
    plan            PartitionOptions and the Plan
    report          per-core figures, the resource report, refusals after assignment
    neuron_slices   the plan of a target that slices layers
    layer_cores     the plan of a layer-per-core target
    block_cuts      a block cut into its (target slice, source slice) pieces
    partition_pass  plan_partition and partition (the Program rewritten)
    place_route     placement on the mesh and X-then-Y routes, for a Program or a Plan
"""

from .chips import assign_graph
from .layers import LayerShape, layer_shapes
from .limits import LIMIT_FIELD, RESOURCES, capacity_error
from .network import network_problems
from .packing import Assignment, assign_greedy
from .partition_pass import apply_plan, partition, plan_partition
from .place_route import Routes, link_loads, place_and_route, place_and_route_plan
from .plan import STRATEGIES, PartitionOptions, Plan
from .report import core_resources
from .slices import SliceGraph, slice_network
from .structure import Pattern, Structure, activity_from_spikes

__all__ = [
    "LIMIT_FIELD", "RESOURCES", "STRATEGIES", "Assignment", "LayerShape", "PartitionOptions",
    "Pattern", "Plan", "Routes", "SliceGraph", "Structure", "activity_from_spikes",
    "apply_plan", "assign_graph", "assign_greedy", "capacity_error", "core_resources",
    "layer_shapes", "link_loads", "network_problems", "partition", "place_and_route",
    "place_and_route_plan", "plan_partition", "slice_network",
]
