"""``neurocc inspect``: a model's nodes, shapes, counts and recurrence, as a table."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from neurocc import ir
from neurocc.compiler.api.describe import RECURRENCE_RULE, describe_graph

from .common import Command, check_writable_dir, make_console, shape_str, write_json


def print_description(info: dict[str, Any]) -> None:
    from rich.table import Table
    from rich.text import Text

    console = make_console()
    table = Table(title=Text(info["model"]), title_justify="left")
    for col, justify in (("node", "left"), ("type", "left"), ("input", "right"),
                         ("output", "right"), ("neurons", "right"), ("synapses", "right"),
                         ("parameters", "right")):
        table.add_column(col, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    for r in info["nodes"]:
        table.add_row(Text(r["name"]), Text(r["type"]),
                      shape_str(None if r["input_shape"] is None else tuple(r["input_shape"])),
                      shape_str(tuple(r["output_shape"])),
                      str(r["neurons"]), str(r["synapses"]), str(r["parameters"]))
    console.print(table)
    t = info["totals"]
    console.print(f"neurons: {t['neurons']}   synapses: {t['synapses']}   "
                  f"parameters: {t['parameters']}", markup=False)
    dt = info["dt"]
    console.print(f"dt: {dt} s (from the model's metadata)" if dt is not None else
                  "dt: not in the model's metadata; pass --dt SECONDS to simulate", markup=False)
    if info["recurrent_edges"]:
        edges = ", ".join(f"{a} -> {b}" for a, b in info["recurrent_edges"])
        console.print(f"recurrent edges: {edges}", markup=False)
        console.print(f"  ({RECURRENCE_RULE})", markup=False)
    else:
        console.print("recurrent edges: none (feed-forward)", markup=False)
    for w in info["warnings"]:
        console.print(f"warning: {w}", markup=False)


def _add_inspect_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL", type=Path, help="a NIR graph file (.nir)")
    p.add_argument("--json", metavar="FILE", type=Path, default=None,
                   help="also write everything shown as JSON to FILE")


def run_inspect(args: argparse.Namespace) -> int:
    graph = ir.load(args.model)
    info = describe_graph(graph, str(args.model))
    if args.json is not None:
        check_writable_dir(args.json)
        write_json(args.json, info)
    print_description(info)
    return 0


COMMAND = Command(
    name="inspect",
    help="show a model's nodes, shapes, neuron/synapse/parameter counts and recurrence",
    description="Load a NIR graph, verify it, and print one row per node in evaluation order: "
                "type, input and output shape (batch and time excluded), neurons, synapses "
                "and float parameters; then the totals, the recurrent edges and any "
                "warnings the loader resolved on its own.",
    epilog="examples:\n"
           "  neurocc inspect tests/fixtures/nir-paper/braille_noDelay_bias_zero.nir\n"
           "  neurocc inspect tests/fixtures/nir-paper/cnn_sinabs.nir --json cnn.json\n\n"
           f"Recurrence: {RECURRENCE_RULE}.",
    add_arguments=_add_inspect_arguments,
    run=run_inspect,
)
