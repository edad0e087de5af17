"""What a partition takes and what it decides: ``PartitionOptions`` and the ``Plan``.

Both planners (``neuron_slices.py``, ``layer_cores.py``) return a Plan, and
``apply_plan`` and ``place_and_route_plan`` read one, so it sits below all of them.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

from .packing import Assignment
from .slices import SliceGraph

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


@dataclasses.dataclass
class Plan:
    """Everything a partition decides, before a Program is rewritten.

    slices: the slice graph; binding: per group, (the limit that forced its last
    cut, why); assignment: each slice's chip and core; per_core: each used core's
    exact resources; report: the resource report (``program.info["resources"]``);
    rates: the spikes per neuron per step the traffic was weighed with.
    """

    slices: SliceGraph
    binding: dict[str, tuple[str, str]]
    assignment: Assignment
    per_core: list[dict[str, Any]]
    report: dict[str, Any]
    rates: dict[str, float]
