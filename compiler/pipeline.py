"""The pass pipeline: a list of named passes, verified after each, with one callback.

    normalize -> discretize -> quantize(target) -> partition(target) -> place-route(target)

partition runs when the target describes its cores ([cores]), place-route
when it also describes its mesh ([topology]); without them the Program stays
unplaced, as before.

Each pass is a frozen dataclass of options with a kebab-case ``name`` and a
``__call__`` that is a pure function of its input. ``compile_graph`` runs them,
records the pass log, and on failure says which pass failed and which ran
before it. ``on_pass(name, result, seconds)`` serves ``--dump-after`` and timing.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Callable

from neurocc.ir import Graph, NeuroccError, Program, dynamics, verify
from neurocc.ir.target import TargetSpec

from .partition import PartitionOptions, partition, place_and_route
from .passes.quantize import QuantizeOptions, quantize


class PassError(NeuroccError):
    """A pass rejected its input; the message names the pass and the ones before it."""


@dataclasses.dataclass(frozen=True)
class Normalize:
    """Check the graph (every problem at once) before anything is lowered."""

    name: str = "normalize"

    def __call__(self, graph: Graph) -> Graph:
        verify(graph)
        return graph


@dataclasses.dataclass(frozen=True)
class Discretize:
    """Fix the step: check every time constant against dt (``ir.dynamics``) and record dt
    on the graph, where the quantize pass and the target's rules read it."""

    dt: float
    name: str = "discretize"

    def __call__(self, graph: Graph) -> Graph:
        dynamics.check_step(graph, self.dt)   # raises for a dt no decay can express
        return Graph(graph.nodes, graph.edges, dict(graph.metadata, dt=self.dt),
                     graph.load_warnings)


@dataclasses.dataclass(frozen=True)
class Quantize:
    target: Any
    options: QuantizeOptions = QuantizeOptions()
    name: str = "quantize"

    def __call__(self, graph: Graph) -> Program:
        return quantize(graph, self.target, self.options)


@dataclasses.dataclass(frozen=True)
class Partition:
    """Cut groups into core-sized slices and assign them to cores and chips."""

    target: Any
    options: PartitionOptions = PartitionOptions()
    name: str = "partition"

    def __call__(self, program: Program) -> Program:
        return partition(program, self.target, self.options)


@dataclasses.dataclass(frozen=True)
class PlaceRoute:
    """Place cores on the chip meshes and route every inter-core spike (X then Y)."""

    target: Any
    name: str = "place-route"

    def __call__(self, program: Program) -> Program:
        return place_and_route(program, self.target)


def default_pipeline(target: Any, dt: float, options: QuantizeOptions = QuantizeOptions(),
                     partition_options: PartitionOptions = PartitionOptions()) -> list[Any]:
    passes: list[Any] = [Normalize(), Discretize(dt), Quantize(target, options)]
    if target.cores is not None:
        passes.append(Partition(target, partition_options))
        if target.topology is not None:
            passes.append(PlaceRoute(target))
    return passes


def compile_graph(graph: Graph, target: Any, dt: float,
                  options: QuantizeOptions = QuantizeOptions(), *, source_hash: str = "",
                  on_pass: Callable[[str, Any, float], None] | None = None,
                  partition_options: PartitionOptions = PartitionOptions()) -> Program:
    """Run the default pipeline; the Program's pass log names every pass and its options."""
    passes = default_pipeline(target, dt, options, partition_options)
    log: list[str] = []
    value: Any = graph
    for p in passes:
        t0 = time.perf_counter()
        try:
            value = p(value)
        except NeuroccError as e:
            before = ", ".join(log) or "none"
            e.args = (f"{e}\n  (in pass '{p.name}'; passes before it: {before})",)
            raise
        seconds = time.perf_counter() - t0
        log.append(p.name)
        if on_pass is not None:
            on_pass(p.name, value, seconds)
    program: Program = value
    program.pass_log = [_describe(p) for p in passes]
    program.source_hash = source_hash
    return program


def _describe(p: Any) -> str:
    fields = {f.name: getattr(p, f.name) for f in dataclasses.fields(p) if f.name != "name"}
    parts = []
    for k, v in fields.items():
        if isinstance(v, TargetSpec) or hasattr(v, "spec"):
            v = v.name
        elif dataclasses.is_dataclass(v):
            v = {f.name: getattr(v, f.name) for f in dataclasses.fields(v)}
        parts.append(f"{k}={v}")
    return f"{p.name}({', '.join(parts)})"
