"""``neurocc profile``: run an artifact on the emulator and say what the chip will do.

Activity, sparsity, synaptic operations, memory, traffic (``simulators.profile``),
an energy estimate when the target publishes per-operation constants or the
user supplies some, printed as tables and optionally written as JSON and as
one self-contained HTML page (``simulators.report_html``).

``cli.py`` registers the command from the names below; the helpers it shares
(artifact and input loading, atomic writes) are imported when the command runs,
so importing this module never imports ``cli`` half-way.
"""

from __future__ import annotations

import argparse
import json
import sys
import tomllib
from pathlib import Path
from typing import Any

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

#: bundled constant sets for --energy-from, beside simulators/profile.py
BUNDLED_SUFFIX = "_energy.toml"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("artifact", metavar="ARTIFACT", type=Path,
                   help="an artifact directory written by `neurocc compile`")
    p.add_argument("--input", type=Path, required=True, metavar="IN.npy",
                   help="input spikes, time-major [T, B, *input_shape] (any non-zero is a spike); "
                        "an .npz with one array per input name for several inputs")
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


def _system_power_from_target(name: str, program: Any) -> tuple[dict[str, Any], list[str]]:
    """--energy-from CHIP for a shipped chip that publishes measured system power only.

    Its target file marks the figure with ``estimate = "system_power"``; the estimate is
    that power x the run's duration, on the operation counts of the program as compiled
    (for loihi2), and the label says both.
    """
    from neurocc.backends import TARGETS
    from neurocc.compiler.cli import UsageError
    from neurocc.simulators import profile as P

    sets = ", ".join(_bundled_sets())
    if name not in TARGETS:
        raise UsageError(f"--energy-from {name!r}: no such constant set or chip; per-op constant "
                         f"sets: {sets}; chips with a measured system power: "
                         f"{', '.join(n for n in TARGETS if _system_entries(TARGETS[n]()))} "
                         "(or give a .toml path)")
    spec = TARGETS[name]()
    entries = _system_entries(spec)
    if len(entries) != 1:
        raise UsageError(f"--energy-from {name}: {spec.path} has no per-operation energies and "
                         "no measured system power of this chip to scale, so neurocc makes no estimate "
                         f"rather than invent one; per-op constant sets: {sets}")
    key, e = entries[0]
    constants, _ = P.constants_from_table(
        {"system_power": {k: v for k, v in e.items() if k != "role"}}, f"{spec.path} [energy.{key}]")
    where = "" if name == program.target else (
        f"; T from this run of the network compiled for {program.target} (not compiled "
        f"for {name}; whether it fits {name} is `neurocc fit`'s answer)")
    return constants, [f"SYSTEM-POWER ESTIMATE: {e.get('platform', name)}'s measured power "
                       f"({e['value']:g} {e['unit']}, {e['source']}) x run time{where}"]


def _system_entries(spec: Any) -> list[tuple[str, Any]]:
    return [(k, e) for k, e in spec.energy.items()
            if isinstance(e, dict) and e.get("estimate") == "system_power"]


def _bundled_sets() -> dict[str, Path]:
    from neurocc.simulators import profile as P

    here = Path(P.__file__).parent
    return {f.name[: -len(BUNDLED_SUFFIX)]: f for f in sorted(here.glob("*" + BUNDLED_SUFFIX))}


def _read_toml(path: Path, what: str) -> dict[str, Any]:
    from neurocc.compiler.cli import UsageError

    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file ({what})") from None
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"{path}: cannot read ({what}: {e})") from None
    except tomllib.TOMLDecodeError as e:
        raise UsageError(f"{path}: not valid TOML ({what}: {e})") from None


def energy_model(program: Any, target: Any, args: argparse.Namespace
                 ) -> tuple[dict[str, Any], str, dict[str, Any], str]:
    """(constants, label, other figures of the target file, why no estimate) from the options."""
    from neurocc.compiler.cli import UsageError
    from neurocc.simulators import profile as P

    own, other = ({}, {})
    if target is not None:
        own, other = P.constants_from_table(target.energy, f"{target.path} [energy]")
    has_own = all(k in own for k in P.REQUIRED_TERMS)
    constants: dict[str, Any] = dict(own)
    labels = [f"{program.target}'s own constants ({target.path})"] if has_own else []
    if args.energy_from is not None and args.energy_from not in _bundled_sets() \
            and Path(args.energy_from).suffix != ".toml":
        constants, labels = _system_power_from_target(args.energy_from, program)
    elif args.energy_from is not None:
        sets = _bundled_sets()
        name = args.energy_from
        path = sets.get(name) or Path(name)
        data = _read_toml(path, "--energy-from")
        borrowed, _ = P.constants_from_table(data.get("energy", {}), str(path))
        if not all(k in borrowed for k in P.REQUIRED_TERMS):
            raise UsageError(f"--energy-from {name}: {path} lacks per-op constants "
                             f"{[k for k in P.REQUIRED_TERMS if k not in borrowed]}")
        constants = dict(borrowed)
        desc = data.get("description", name)
        labels = [f"BORROWED: {desc} constants applied to {program.target}"
                  + ("" if name == program.target else
                     f"; {program.target}'s own per-op energies differ and are not these")]
    if args.energy_file is not None:
        data = _read_toml(args.energy_file, "--energy-file")
        mine, _ = P.constants_from_table(data.get("energy", data), str(args.energy_file),
                                         default_basis="user", default_source=str(args.energy_file),
                                         default_confidence="user")
        if not mine:
            raise UsageError(f"{args.energy_file}: no energy constants found; give "
                             f"[energy.NAME] tables for NAME in {', '.join(P.ENERGY_TERMS)}")
        constants |= mine
        labels.append(f"user constants from {args.energy_file} ({', '.join(mine)})")
    overrides = [P.parse_override(text) for text in args.energy]
    for name, value, unit in overrides:
        constants[name] = P.EnergyConstant(name, value, unit, "user", "--energy", "user")
    if overrides:
        labels.append("overridden on the command line: " + ", ".join(n for n, _, _ in overrides))
    why = ""
    if not all(k in constants for k in P.REQUIRED_TERMS) and "system_power" not in constants:
        missing = [k for k in P.REQUIRED_TERMS if k not in constants]
        ask = ("To estimate anyway, ask explicitly: --energy-from loihi1 or loihi1_sanafe "
               "(Loihi 1's published per-op figures, labelled as borrowed), --energy-from "
               "xylo_audio2 or speck (a chip's measured system power x run time, labelled as "
               "such), or your own constants with --energy-file "
               "FILE.toml / --energy synop=...pJ (needs " + ", ".join(P.REQUIRED_TERMS) + ")")
        if constants:
            why = (f"incomplete energy constants: {', '.join(missing)} missing (given: "
                   f"{', '.join(constants)}), so no estimate is made. {ask}")
        else:
            why = (f"{program.target}: no published per-operation energy constants (its target "
                   f"file has none), so no estimate is made rather than one invented. {ask}")
    label = "; ".join(labels) or f"{program.target} (no constants)"
    return constants, label, other, why


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
    from neurocc.compiler import cli as C
    from neurocc.simulators import profile as P
    from neurocc.simulators.emulator import Emulator

    for path in (args.json, args.html):
        if path is not None:
            C._check_writable_dir(path)
    program = C._load_artifact(args.artifact)
    inputs = C.load_program_inputs(args.input, program)
    target = C.artifact_target(args.artifact, program)
    constants, label, other, why = energy_model(program, target, args)
    result = C._timed(lambda: Emulator(program, target, counters=("membrane_updates",)).run(inputs),
                      C._console(sys.stderr), "emulator: compiling and running")[0]
    prof = P.profile(program, result, inputs, target, target.topology, target.cores)
    estimate = P.estimate_energy(prof, constants, label, P.chips_used(program), other, why)
    report = {"artifact": str(args.artifact), "target": program.target,
              "input": {"file": str(args.input), "steps": prof.steps, "samples": prof.samples},
              "profile": prof.to_json(), "energy": estimate.to_json(),
              "overflow": result.overflow_report()}
    console = C._console()
    print_report(report, console)
    for line in report["overflow"]:
        console.print(f"overflow: {line}", markup=False)
    if args.json is not None:
        text = json.dumps(report, indent=2, default=_json_default) + "\n"
        C._write_atomically(args.json, lambda f: f.write(text.encode()), suffix=".json.tmp")
        console.print(f"wrote {args.json}", markup=False)
    if args.html is not None:
        from neurocc.simulators import report_html

        page = report_html.render(program, result, prof, estimate, report, target)
        C._write_atomically(args.html, lambda f: f.write(page.encode()), suffix=".html.tmp")
        console.print(f"wrote {args.html} (self-contained; open it in a browser)", markup=False)
    return 0


def _json_default(v: Any) -> Any:
    if hasattr(v, "item"):
        return v.item()
    return str(v)
