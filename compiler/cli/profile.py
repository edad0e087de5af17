"""``neurocc profile``: run an artifact on the emulator and say what the chip will do.

Activity, sparsity, synaptic operations, memory, traffic (``simulators.profile``),
an energy estimate when the target publishes per-operation constants or the
user supplies some, printed as tables and optionally written as JSON and as
one self-contained HTML page (``simulators.report_html``). Which constants,
and the run, are ``neurocc.compiler.api.profiling``'s.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from neurocc.compiler.api import profiling
from neurocc.compiler.api.artifact import artifact_target, load_artifact
from neurocc.compiler.api.inputs import load_program_inputs
from neurocc.compiler.api.profiling import energy_model, json_default

from .common import (Command, add_artifact_arguments, check_writable_dir, make_console, timed,
                     write_atomically, write_json)

HELP = "profile an artifact: spikes, sparsity, synaptic ops, memory, traffic and energy"
DESCRIPTION = (
    "Run a compiled artifact on the bit-accurate emulator (counting each group's "
    "membrane updates per step) and report, per layer, per core when the program is placed, and for "
    "the network, NeuroBench's metrics counted on the integer program: activation sparsity, "
    "synaptic operations (spikes x non-zero fan-out, equal to the synaptic events the "
    "emulator processed), dense-equivalent MACs, membrane updates, connection sparsity and "
    "memory footprint; spike traffic per link when the program carries routes; and an "
    "energy estimate from the target's per-operation constants, each shown with its value, "
    "unit, basis, source and confidence. Activity figures are per sample. A target without "
    "published per-op constants (Loihi 2) gets no estimate unless you ask for one with "
    "--energy-from, --energy-file or --energy, and such an estimate is labelled.")
EPILOG = (
    "examples:\n"
    "  neurocc profile out/braille --input spikes.npy\n"
    "  neurocc profile out/braille --input spikes.npy --json prof.json --html report.html\n"
    "  neurocc profile out/braille --input spikes.npy --energy-from loihi1\n"
    "  neurocc profile out/braille --input spikes.npy --energy-from speck\n"
    "  neurocc profile out/braille --input spikes.npy --energy-file my_chip.toml "
    "--energy synop=20pJ\n\n"
    "An --energy-file is TOML with one [energy.NAME] table per constant (value, unit, basis, "
    "source, confidence); simulators/loihi1_energy.toml is a template. Constants: synop, "
    "update_active, update_idle, spike, hop (J) and static_power (W per chip).")


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_artifact_arguments(p)
    p.add_argument("--json", type=Path, default=None, metavar="FILE",
                   help="also write every figure (and the energy constants) as JSON")
    p.add_argument("--html", type=Path, default=None, metavar="REPORT.html",
                   help="also write a self-contained HTML report (plots work offline)")
    p.add_argument("--energy", action="append", default=[], metavar="CONST=VALUE",
                   help="override one energy constant, e.g. synop=23.6pJ or static_power=0.1W "
                        "(repeatable; a bare number is pJ, or W for static_power)")
    p.add_argument("--energy-file", type=Path, default=None, metavar="FILE.toml",
                   help="energy constants of your own ([energy.NAME] tables with value, unit, "
                        "basis, source, confidence); they replace the target's")
    p.add_argument("--energy-from", default=None, metavar="CHIP",
                   help="estimate with another chip's published per-op constants (loihi1: "
                        "Davies 2018; loihi1_sanafe: SANA-FE, calibrated on silicon), labelled as "
                        "borrowed; or with a chip's measured system power x run time (xylo_audio2, "
                        "speck), labelled as a system-power estimate; or a .toml path")


def _fmt(v: float | None) -> str:
    if v is None:
        return "-"
    if isinstance(v, int) or (isinstance(v, float) and v.is_integer() and abs(v) < 1e12):
        return f"{int(v):,}"
    if v != v:  # nan
        return "-"
    return f"{v:.4f}" if abs(v) < 1 else f"{v:,.1f}"


def _joules(v: float) -> str:
    for unit, k in (("J", 1.0), ("mJ", 1e-3), ("uJ", 1e-6), ("nJ", 1e-9), ("pJ", 1e-12)):
        if abs(v) >= k:
            return f"{v / k:.3g} {unit}"
    return "0 J" if v == 0 else f"{v / 1e-12:.3g} pJ"


def describe_figures(figures: dict[str, Any]) -> list[str]:
    """One short line per [energy] entry that is not a per-op constant of this target."""
    lines, others = [], []
    for name, f in figures.items():
        if isinstance(f, dict) and f.get("role") == "comparison":
            others.append(name)
        elif isinstance(f, dict):
            tags = ", ".join(str(f[k]) for k in ("role", "platform", "basis", "confidence") if k in f)
            lines.append(f"{name} = {f.get('value', '?')} {f.get('unit', '')} ({tags})")
        else:
            lines.append(f"{name} = {f}")
    if others:
        lines.append(f"{len(others)} figures of other chips, for comparison only (listed in --json "
                     "and --html)")
    return lines


def print_report(report: dict[str, Any], console: Any) -> None:
    from rich.table import Table
    from rich.text import Text

    from neurocc.simulators.profile import ACTIVITY_COLUMNS, STRUCTURE_COLUMNS

    prof = report["profile"]
    console.print(f"profile of {report['artifact']} ({report['target']}): {prof['steps']} steps x "
                  f"{prof['samples']} samples, dt = {prof['dt_s']} s; figures per sample",
                  markup=False)

    def table(title: str, rows: list[tuple[str, dict[str, Any]]], cols: Any = ACTIVITY_COLUMNS,
              total: bool = True) -> Any:
        t = Table(title=Text(title), title_justify="left")
        t.add_column("name", no_wrap=True)
        for _, head in cols:
            t.add_column(head, justify="right", no_wrap=True)
        for i, (name, rec) in enumerate(rows):
            t.add_row(Text(name), *(_fmt(rec[k]) for k, _ in cols),
                      end_section=total and i == len(rows) - 2)
        return t

    rows = list(prof["layers"].items()) + [("network", prof["network"])]
    console.print(table("activity per layer, per sample (a layer's synaptic ops are those of the "
                        "blocks that feed it)", rows))
    console.print(table("stored per layer (weights of the blocks that feed it)", rows,
                        STRUCTURE_COLUMNS))
    if prof["cores"]:
        cores = [(f"chip {c['chip']} core {c['core']}", c) for c in prof["cores"]]
        console.print(table("activity per core, per sample", cores, total=False))
        console.print(table("stored per core", cores, STRUCTURE_COLUMNS, total=False))
    else:
        console.print("per core: the program is unplaced (no partition/placement pass ran)",
                      markup=False)
    if prof["link_traffic"]:
        t = Table(title=Text("busiest links (spikes per sample)"), title_justify="left")
        for col in ("from", "to", "spikes"):
            t.add_column(col, justify="right" if col == "spikes" else "left")
        for link in sorted(prof["link_traffic"], key=lambda r: -r["spikes"])[:10]:
            t.add_row(Text(link["from"]), Text(link["to"]), _fmt(link["spikes"]))
        console.print(t)
    energy = report["energy"]
    if energy["available"] and energy["method"] != "per-op":
        console.print(f"energy per sample: {_joules(energy['total']['total'])} "
                      f"({energy['method']}): {energy['label']}", markup=False)
    elif energy["available"]:
        t = Table(title=Text(f"energy per sample: {energy['label']}"), title_justify="left")
        comps = ("synops", "updates_active", "updates_idle", "spikes", "hops", "static", "total")
        t.add_column("layer", no_wrap=True)
        for c in comps:
            t.add_column(c, justify="right", no_wrap=True)
        items = list(energy["layers"].items()) + [("static", energy["static"]),
                                                  ("network", energy["total"])]
        for i, (name, e) in enumerate(items):
            t.add_row(Text(name), *(_joules(e[c]) for c in comps), end_section=i == len(items) - 3)
        console.print(t)
    if energy["available"]:
        c = Table(title=Text("energy constants"), title_justify="left")
        for col in ("constant", "value", "basis", "source", "confidence"):
            c.add_column(col, no_wrap=col != "source")
        for k, v in energy["constants"].items():
            c.add_row(k, f"{v['value']:g} {v['unit']}", Text(v["basis"]), Text(v["source"]),
                      Text(v["confidence"]))
        console.print(c)
    for line in energy["assumptions"]:
        console.print(("assumption: " if energy["available"] else "energy: ") + line, markup=False)
    for line in describe_figures(energy["other_figures"]):
        console.print(f"target file, not used as a constant: {line}", markup=False)
    for note in prof["notes"]:
        console.print(f"note: {note}", markup=False)


def run_profile(args: argparse.Namespace) -> int:
    for path in (args.json, args.html):
        if path is not None:
            check_writable_dir(path)
    program = load_artifact(args.artifact)
    inputs = load_program_inputs(args.input, program)
    target = artifact_target(args.artifact, program)
    constants, label, other, why = energy_model(program, target, args.energy_from,
                                                args.energy_file, args.energy)
    report, result, prof, estimate = profiling.run_profile(
        program, target, inputs, constants, label, other, why, artifact=str(args.artifact),
        input_desc={"file": str(args.input)},
        step=lambda label, fn: timed(fn, make_console(sys.stderr), label))
    console = make_console()
    print_report(report, console)
    for line in report["overflow"]:
        console.print(f"overflow: {line}", markup=False)
    if args.json is not None:
        write_json(args.json, report, default=json_default)
        console.print(f"wrote {args.json}", markup=False)
    if args.html is not None:
        from neurocc.simulators import report_html

        page = report_html.render(program, result, prof, estimate, report, target)
        write_atomically(args.html, lambda f: f.write(page.encode()), suffix=".html.tmp")
        console.print(f"wrote {args.html} (self-contained; open it in a browser)", markup=False)
    return 0


COMMAND = Command(name="profile", help=HELP, description=DESCRIPTION, epilog=EPILOG,
                  add_arguments=add_arguments, run=run_profile)
