"""The pass pipeline: a list of named passes, verified after each, with one callback.

    normalize -> discretize -> quantize(target)   (partition, place & route: later)

Each pass is a frozen dataclass of options with a kebab-case ``name`` and a
``__call__`` that is a pure function of its input. ``compile_graph`` runs them,
records the pass log, and on failure says which pass failed and which ran
before it. ``on_pass(name, result, seconds)`` serves ``--dump-after`` and timing.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Callable

from neurocc.ir import Graph, NeuroccError, Program, verify
from neurocc.ir.target import TargetSpec

from .quantize import Discretized, QuantizeOptions, discretize, quantize


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
    dt: float
    name: str = "discretize"

    def __call__(self, graph: Graph) -> tuple[Graph, Discretized]:
        return graph, discretize(graph, self.dt)


@dataclasses.dataclass(frozen=True)
class Quantize:
    target: TargetSpec
    options: QuantizeOptions = QuantizeOptions()
    name: str = "quantize"

    def __call__(self, state: tuple[Graph, Discretized]) -> Program:
        graph, disc = state
        return quantize(graph, self.target, disc, self.options)


def default_pipeline(target: TargetSpec, dt: float, options: QuantizeOptions = QuantizeOptions()
                     ) -> list[Any]:
    return [Normalize(), Discretize(dt), Quantize(target, options)]


def compile_graph(graph: Graph, target: TargetSpec, dt: float,
                  options: QuantizeOptions = QuantizeOptions(), *, source_hash: str = "",
                  on_pass: Callable[[str, Any, float], None] | None = None) -> Program:
    """Run the default pipeline; the Program's pass log names every pass and its options."""
    passes = default_pipeline(target, dt, options)
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
        if isinstance(v, TargetSpec):
            v = v.name
        elif dataclasses.is_dataclass(v):
            v = {f.name: getattr(v, f.name) for f in dataclasses.fields(v)}
        parts.append(f"{k}={v}")
    return f"{p.name}({', '.join(parts)})"
