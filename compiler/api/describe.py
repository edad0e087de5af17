"""What ``neurocc inspect`` and ``neurocc targets`` show, as JSON-able dicts."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from neurocc import ir

RECURRENCE_RULE = ("an edge that closes a cycle carries its source's value from the previous "
                   "time step (zero at the first step); every other edge carries the current "
                   "step's value")


def describe_graph(graph: ir.Graph, model: str) -> dict[str, Any]:
    """What `inspect` shows, as a JSON-able dict (the same data as the table)."""
    rows = []
    for name in graph.order:
        node, shapes = graph.nodes[name], graph.shapes[name]
        rows.append({
            "name": name,
            "type": node.kind,
            "input_shape": None if shapes.input is None else list(shapes.input),
            "output_shape": list(shapes.output),
            "neurons": node.n_neurons(shapes.output),
            "synapses": node.n_synapses(shapes.input or (), shapes.output),
            "parameters": node.n_params(),
        })
    dt = graph.metadata.get("dt")
    return {
        "model": model,
        "inputs": graph.inputs,
        "outputs": graph.outputs,
        "dt": None if dt is None else float(np.asarray(dt)),
        "nodes": rows,
        "totals": {"neurons": graph.n_neurons(), "synapses": graph.n_synapses(),
                   "parameters": graph.n_params()},
        "recurrent_edges": [list(e) for e in sorted(graph.recurrent_edges)],
        "recurrence_rule": RECURRENCE_RULE,
        "warnings": list(graph.load_warnings),
    }


def describe_target(spec: Any) -> dict[str, Any]:
    """What `neurocc targets` shows of one target, as a JSON-able dict."""
    quantize, emulate = spec.can_quantize, spec.can_emulate
    def as_dict(record: Any) -> Any:
        """A record as JSON; a table no arithmetic parsed (a [formats] without one) as read."""
        if record is None or isinstance(record, dict):
            return record
        return dataclasses.asdict(record)
    topology = as_dict(spec.topology)
    if topology is not None:  # tuples become lists in JSON anyway; say so up front
        topology = {k: list(v) if isinstance(v, tuple) else v for k, v in topology.items()}
    return {
        "name": spec.name,
        "description": spec.description,
        "path": spec.path,
        "neuron_models": list(spec.neuron_models),
        "synaptic_latency": spec.synaptic_latency,
        "arithmetic": spec.arithmetic,
        "can_quantize": quantize,
        "can_emulate": emulate,
        "formats": as_dict(spec.formats),
        "cores": as_dict(spec.cores),
        "topology": topology,
        "network": as_dict(spec.network),
        "energy": spec.energy,
    }


def shipped_targets(extra: Any = ()) -> list[Any]:
    """Every shipped target, then the target files in `extra`, loaded."""
    from neurocc.backends import TARGETS, load_target

    return [load() for load in TARGETS.values()] + [load_target(path) for path in extra]
