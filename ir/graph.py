"""``Graph``: the float IR, a flat NIR graph with shapes and one recurrence rule.

Recurrence rule (used by the reference simulator, the emulator and every
backend): edges are classified by a depth-first search that starts at the
Input nodes in name order and visits successors in name order. An edge that
reaches a node still on the search stack *closes a cycle*; it carries the
value its source produced at the **previous** time step (zero at the first
step). Every other edge carries the current step's value. The rule depends
only on node names and edges, never on the order edges were written in a
file, so the same graph always gets the same recurrent edges.

Several edges into one node are summed (NIR semantics).
"""

from __future__ import annotations

import dataclasses
import heapq
from functools import cached_property
from typing import Any, Iterable

import numpy as np

from .errors import GraphError, ShapeError
from .nodes import Input, Node, NodeShapeError, Output, Shape


@dataclasses.dataclass(frozen=True)
class NodeShapes:
    input: Shape | None  # what the node receives (None for Input)
    output: Shape


@dataclasses.dataclass(frozen=True)
class Report:
    """What ``check`` found: problems make a graph unusable, warnings do not."""

    problems: tuple[str, ...]
    warnings: tuple[str, ...]


class Graph:
    """A flat graph of named primitives. Treat it as immutable."""

    def __init__(self, nodes: dict[str, Node], edges: Iterable[tuple[str, str]],
                 metadata: dict[str, Any] | None = None,
                 load_warnings: Iterable[str] = ()) -> None:
        self.nodes: dict[str, Node] = dict(nodes)
        self.edges: list[tuple[str, str]] = [(str(a), str(b)) for a, b in edges]
        self.metadata: dict[str, Any] = dict(metadata or {})
        #: problems the loader resolved on its own (e.g. a declared shape it overrode)
        self.load_warnings: list[str] = list(load_warnings)

    def __repr__(self) -> str:
        return f"Graph({len(self.nodes)} nodes, {len(self.edges)} edges)"

    # --- structure ------------------------------------------------------
    @property
    def inputs(self) -> list[str]:
        return sorted(n for n, node in self.nodes.items() if isinstance(node, Input))

    @property
    def outputs(self) -> list[str]:
        return sorted(n for n, node in self.nodes.items() if isinstance(node, Output))

    def predecessors(self, name: str) -> list[str]:
        return sorted({a for a, b in self.edges if b == name})

    def successors(self, name: str) -> list[str]:
        return sorted({b for a, b in self.edges if a == name})

    @cached_property
    def recurrent_edges(self) -> frozenset[tuple[str, str]]:
        """Edges that close a cycle (see the module docstring for the rule)."""
        succ: dict[str, list[str]] = {n: [] for n in self.nodes}
        for a, b in sorted(set(self.edges)):
            if a in succ and b in succ:
                succ[a].append(b)
        state: dict[str, int] = {}  # 1 on stack, 2 done
        back: set[tuple[str, str]] = set()
        roots = self.inputs + sorted(n for n in self.nodes if n not in self.inputs)
        for root in roots:
            if root in state:
                continue
            state[root] = 1
            stack = [(root, iter(succ[root]))]
            while stack:
                node, it = stack[-1]
                nxt = next(it, None)
                if nxt is None:
                    state[node] = 2
                    stack.pop()
                elif state.get(nxt) == 1:
                    back.add((node, nxt))
                elif nxt not in state:
                    state[nxt] = 1
                    stack.append((nxt, iter(succ[nxt])))
        return frozenset(back)

    @cached_property
    def order(self) -> list[str]:
        """Topological order once the recurrent edges are set aside (ties by name)."""
        forward = [(a, b) for a, b in set(self.edges)
                   if (a, b) not in self.recurrent_edges and a in self.nodes and b in self.nodes]
        indeg = {n: 0 for n in self.nodes}
        succ: dict[str, list[str]] = {n: [] for n in self.nodes}
        for a, b in forward:
            indeg[b] += 1
            succ[a].append(b)
        ready = sorted(n for n, d in indeg.items() if d == 0)
        out: list[str] = []
        heapq.heapify(ready)
        while ready:
            n = heapq.heappop(ready)
            out.append(n)
            for m in succ[n]:
                indeg[m] -= 1
                if indeg[m] == 0:
                    heapq.heappush(ready, m)
        return out

    # --- shapes -----------------------------------------------------------
    def _infer(self) -> tuple[dict[str, NodeShapes], list[str], list[str]]:
        shapes: dict[str, NodeShapes] = {}
        problems: list[str] = []
        warnings: list[str] = []
        out_of: dict[str, Shape] = {}

        def incoming(name: str, node: Node) -> Shape | None:
            """The input shape of `name`, reconciling its predecessors."""
            preds = self.predecessors(name)
            known = [(p, out_of[p]) for p in preds if p in out_of]
            required = node.required_input_shape()
            if isinstance(node, Input):
                return None
            if not preds:
                problems.append(f"node '{name}' ({node.kind}) has no incoming edge")
                return required
            got = None
            for p, s in known:
                if got is None:
                    got = s
                elif int(np.prod(s)) != int(np.prod(got)):
                    problems.append(
                        f"node '{name}' receives shape {list(s)} from '{p}' but "
                        f"{list(got)} from another input; summed inputs must match")
            if got is None:
                # (a predecessor that is missing or broken is reported on its own)
                if required is None and all((p, name) in self.recurrent_edges for p in preds):
                    problems.append(f"shape of the input of '{name}' cannot be inferred "
                                    "(it is fed only by recurrent edges)")
                return required
            if required is not None and tuple(required) != tuple(got):
                src = known[0][0]
                if int(np.prod(required)) != int(np.prod(got)):
                    problems.append(
                        f"shape mismatch on edge '{src}' -> '{name}': '{src}' produces "
                        f"{list(got)} ({int(np.prod(got))} values) but {node.kind} "
                        f"'{name}' expects {list(required)} ({int(np.prod(required))} values)")
                    return required
                warnings.append(
                    f"{node.kind} '{name}' declares input shape {list(required)} but "
                    f"'{src}' produces {list(got)}; same number of values, so the input is "
                    f"reshaped (row-major)" + (" and the declared shape is ignored"
                                               if isinstance(node, Output) else ""))
                return tuple(got) if isinstance(node, Output) else tuple(required)
            return tuple(got)

        for name in self.order:
            node = self.nodes[name]
            own = node.problems()
            if own:  # its shape rule cannot run on malformed parameters
                problems += [f"{node.kind} '{name}': {p}" for p in own]
                continue
            in_shape = incoming(name, node)
            try:
                if isinstance(node, Input):
                    out = node.output_shape(None)
                elif in_shape is None:
                    continue
                else:
                    out = node.output_shape(tuple(in_shape))
            except NodeShapeError as e:
                problems.append(f"{node.kind} '{name}': {e}")
                continue
            out_of[name] = tuple(out)
            shapes[name] = NodeShapes(None if in_shape is None else tuple(in_shape), tuple(out))
        # recurrent edges were skipped above; check them now that all shapes are known
        for a, b in sorted(self.recurrent_edges):
            if a in shapes and b in shapes and shapes[b].input is not None:
                if int(np.prod(shapes[a].output)) != int(np.prod(shapes[b].input)):
                    problems.append(
                        f"shape mismatch on recurrent edge '{a}' -> '{b}': "
                        f"{list(shapes[a].output)} vs {list(shapes[b].input)}")
        return shapes, problems, warnings

    @cached_property
    def shapes(self) -> dict[str, NodeShapes]:
        """Input and output shape of every node; raises ShapeError on a mismatch."""
        shapes, problems, _ = self._infer()
        if problems:
            raise ShapeError(problems)
        return shapes

    # --- counting ---------------------------------------------------------
    def n_neurons(self) -> int:
        return sum(node.n_neurons(self.shapes[n].output) for n, node in self.nodes.items())

    def n_synapses(self) -> int:
        return sum(node.n_synapses(self.shapes[n].input or (), self.shapes[n].output)
                   for n, node in self.nodes.items())

    def n_params(self) -> int:
        return sum(node.n_params() for node in self.nodes.values())


def check(graph: Graph) -> Report:
    """Every problem and warning in `graph`, collected in one pass."""
    problems: list[str] = []
    warnings: list[str] = list(graph.load_warnings)
    names = set(graph.nodes)
    if not graph.inputs:
        problems.append("graph has no Input node")
    if not graph.outputs:
        problems.append("graph has no Output node")
    for a, b in graph.edges:
        for end, role in ((a, "source"), (b, "target")):
            if end not in names:
                problems.append(f"edge '{a}' -> '{b}' names a missing {role} node '{end}'")
        if b in names and isinstance(graph.nodes[b], Input):
            problems.append(f"edge '{a}' -> '{b}' points into an Input node")
        if a in names and isinstance(graph.nodes[a], Output):
            problems.append(f"edge '{a}' -> '{b}' leaves an Output node")
    if len(set(graph.edges)) != len(graph.edges):
        warnings.append("duplicate edges are counted once")
    for name, node in graph.nodes.items():
        for p in node.problems():
            problems.append(f"{node.kind} '{name}': {p}")
        for field, value in node.params().items():
            if value.dtype.kind in "fc" and not np.all(np.isfinite(value)):
                bad = int(np.size(value) - np.count_nonzero(np.isfinite(value)))
                first = tuple(int(i) for i in np.argwhere(~np.isfinite(value))[0])
                problems.append(f"{node.kind} '{name}': {field} has {bad} NaN or infinite "
                                f"value(s) of {np.size(value)}, the first ({value[first]}) at index "
                                f"{list(first)}; every parameter must be finite: export the model "
                                "again from a training run that did not diverge")
        for field in ("tau", "tau_mem", "tau_syn"):
            value = getattr(node, field, None)
            if value is not None and np.all(np.isfinite(value)) and np.any(np.asarray(value) <= 0):
                problems.append(f"{node.kind} '{name}': {field} must be > 0 seconds, "
                                f"min is {float(np.min(value))}")
        delay = getattr(node, "delay", None)
        if delay is not None and np.any(np.asarray(delay) < 0):
            problems.append(f"Delay '{name}': delay must be >= 0, min is {float(np.min(delay))}")
    # shapes are checked even when an edge names a missing node: every problem at once
    _, shape_problems, shape_warnings = graph._infer()
    problems += shape_problems
    warnings += shape_warnings
    reached = set()
    frontier = list(graph.inputs)
    while frontier:
        n = frontier.pop()
        if n in reached:
            continue
        reached.add(n)
        frontier += [b for a, b in graph.edges if a == n and b in names]
    for n in sorted(names - reached):
        warnings.append(f"node '{n}' is not reachable from any Input")
    return Report(tuple(dict.fromkeys(problems)), tuple(dict.fromkeys(warnings)))


def verify(graph: Graph, where: str = "graph") -> tuple[str, ...]:
    """Raise GraphError listing every problem at once; return the warnings."""
    report = check(graph)
    if report.problems:
        cls = ShapeError if all("shape" in p for p in report.problems) else GraphError
        raise cls(list(report.problems), where=where)
    return report.warnings
