"""``neurocc targets``: the shipped chips (and target files) with their capacities."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from neurocc.compiler.api.describe import describe_target, shipped_targets

from .common import Command, check_writable_dir, make_console, write_json


def _bytes_human(bits: int) -> str:
    """Memory in binary units: 7500000 bits -> '915.5 KiB'."""
    size, unit = bits / 8, "B"
    for bigger in ("KiB", "MiB", "GiB"):
        if size < 1024:
            break
        size, unit = size / 1024, bigger
    return f"{size:.4g} {unit}"


def _print_targets(rows: list[dict[str, Any]]) -> None:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    console = make_console()
    # the numbers in one table, the prose in a second one: twelve columns of
    # numbers and a description do not fit 120 columns together
    table = Table(title="neurocc targets", title_justify="left")
    columns = ("target", "cores\n/chip", "max\nchips", "neurons\n/core", "synapse\nmem/core",
               "fan-in", "fan-out", "routes\n/core", "weight\nbits", "quantize", "emulate")
    for col in columns:
        table.add_column(col, justify="left" if col == "target" else "right", no_wrap=True)
    for r in rows:
        cores, topo, fmt = r["cores"], r["topology"], r["formats"]
        limit = lambda key, show=str: ("-" if cores is None else  # noqa: E731
                                       "no limit" if cores[key] == 0 else show(cores[key]))
        weight_bits = (fmt["weight_bits"] if fmt is not None else
                       cores["dense_weight_bits"] if cores is not None else None)
        table.add_row(
            Text(r["name"]),
            "-" if topo is None else str(topo["cores_per_chip"]),
            "-" if topo is None else str(topo["max_chips"]),
            limit("max_neurons"), limit("synapse_memory_bits", _bytes_human),
            limit("max_fan_in"), limit("max_fan_out"), limit("routing_entries"),
            "-" if weight_bits is None else str(weight_bits),
            "yes" if r["can_quantize"] else "no", "yes" if r["can_emulate"] else "no")
    console.print(table)
    console.print("'no limit': the field is 0; '-': the TOML has no [cores] or [topology] "
                  "table. fan-in: distinct input axons per core; fan-out: distinct destination "
                  "cores per core. quantize/emulate 'no': neurocc knows the chip's capacities "
                  "(for fit) but not yet its arithmetic, so `neurocc compile` refuses it.",
                  markup=False)
    about = Table(title="what each target is, and the file that gives every number's source "
                        "and confidence (V/Q/C)", title_justify="left", box=box.SIMPLE_HEAD)
    about.add_column("target", no_wrap=True)
    about.add_column("description / file")
    for r in rows:
        about.add_row(Text(r["name"]), Text(f"{r['description']}\n{r['path']}"))
    console.print(about)


def _add_targets_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("extra", nargs="*", metavar="TARGET.toml", type=Path,
                   help="also load and show these target files (as --target would), e.g. to "
                        "check a TOML describing a new chip")
    p.add_argument("--json", metavar="FILE", type=Path, default=None,
                   help="also write every field of every target (formats, limits, topology, "
                        "energy entries with their sources) as JSON to FILE")


def run_targets(args: argparse.Namespace) -> int:
    if args.json is not None:
        check_writable_dir(args.json)
    rows = [describe_target(spec) for spec in shipped_targets(args.extra)]
    _print_targets(rows)
    if args.json is not None:
        write_json(args.json, {"targets": rows})
    return 0


COMMAND = Command(
    name="targets",
    help="list the chips neurocc ships a description of, with their capacities",
    description="Print one row per shipped chip target (the names --target accepts): cores per "
                "chip and chips per system, per-core neurons, synaptic memory, fan-in, fan-out "
                "and routing entries, weight precision, and whether neurocc can already "
                "quantize for the chip and emulate it. Every target is a TOML file (listed "
                "below the table) whose comments give each number's source and confidence; "
                "a new chip is described by writing such a file and passing its path to "
                "--target.",
    epilog="examples:\n"
           "  neurocc targets\n"
           "  neurocc targets --json targets.json\n"
           "  neurocc targets mychip.toml   # check a chip description of your own",
    add_arguments=_add_targets_arguments,
    run=run_targets,
)
