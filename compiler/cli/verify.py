"""``neurocc verify``: compare an artifact's emulator run with the float model and Lava.

What runs against what, and the verdict, are ``neurocc.compiler.api.checks``'s; this
module parses the options and prints the verdict.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from neurocc.compiler.api import checks
from neurocc.compiler.api.artifact import artifact_target, load_artifact
from neurocc.compiler.api.checks import AGAINST, ORACLES
from neurocc.compiler.api.inputs import load_program_inputs, random_program_inputs

from .common import (Command, UsageError, add_artifact_arguments, check_writable_dir, make_console,
                     positive_int, probability, timed, write_json)


def against_list(text: str) -> tuple[str, ...]:
    items = tuple(dict.fromkeys(s.strip() for s in text.split(",") if s.strip()))
    bad = [s for s in items if s not in AGAINST]
    if not items or bad:
        raise argparse.ArgumentTypeError(f"expected a comma-separated list of "
                                         f"{', '.join(AGAINST)}; got {text!r}")
    return items


def _add_verify_arguments(p: argparse.ArgumentParser) -> None:
    add_artifact_arguments(p, input_required=False)
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--input", type=Path, metavar="IN.npy",
                        help="input spikes [T, B, *input_shape] (.npz by input name for several)")
    source.add_argument("--random-input", type=probability, metavar="RATE",
                        help="instead of --input: Bernoulli(RATE) spikes on every input")
    p.add_argument("--steps", type=positive_int, default=None, metavar="T",
                   help="time steps of random input (required with --random-input)")
    p.add_argument("--batch", type=positive_int, default=1, metavar="B",
                   help="samples of random input")
    p.add_argument("--seed", type=int, default=0, help="seed of the random input")
    p.add_argument("--against", type=against_list, default=None, metavar="LIST",
                   help="what to compare the emulator with, comma-separated: 'reference' (the "
                        "float model) and the artifact's vendor simulator, 'lava' (Intel's "
                        "bit-accurate Loihi 2 models) or 'xylosim' (SynSense's bit-accurate "
                        "XyloSim) (default: reference, plus the vendor simulator when its venv, "
                        ".venv-lava or .venv-xylo, is found)")
    p.add_argument("--json", metavar="FILE", type=Path, default=None,
                   help="also write the verdict as JSON")


def _print_verdict(verdict: dict[str, Any]) -> None:
    from rich.table import Table
    from rich.text import Text

    console = make_console()
    t = Table(title="verdict", title_justify="left")
    for col in ("comparison", "measure", "result", "detail"):
        t.add_column(col, no_wrap=col != "detail")
    for oracle in ORACLES:
        lava = verdict.get(oracle)
        if lava is None:
            continue
        label = lava.get("label", oracle)
        if lava.get("bit_exact"):
            groups = len({c.rsplit(".", 1)[0] for c in lava["compared"]})
            variables = ", ".join(dict.fromkeys(c.rsplit(".", 1)[1] for c in lava["compared"]))
            t.add_row(f"emulator vs {label}", "bit-exact", "yes",
                      Text(f"{variables} of {groups} groups ({len(lava['compared'])} arrays) "
                           f"equal at all {lava['steps']} steps x {lava['batch']} samples"))
        else:
            f = lava["first_difference"]
            t.add_row(f"emulator vs {label}", "bit-exact", "NO",
                      Text(f"first difference: group '{f['group']}', {f['variable']}, step "
                           f"{f['step']}, sample {f['sample']}, neuron {f['neuron']}: emulator "
                           f"{f['emulator']}, {label} {f['other']}; differing entries: "
                           + ", ".join(f"{k} {v}" for k, v in lava["differing_entries"].items())))
    ref = verdict.get("reference")
    if ref is not None:
        for name, o in ref["outputs"].items():
            who = f"output '{name}' vs float"
            if o.get("kind") == "voltage":
                corr = o["voltage_correlation"]
                t.add_row(who, "voltage correlation", "-" if corr is None else f"{corr:.4f}",
                          Text(f"Pearson over steps x samples x neurons of the readout's voltage "
                               f"(chip integers / {o['scale']:.6g}); "
                               + o["alignment"]))
                t.add_row(who, "voltage error", f"{o['rmse']:.4g}",
                          Text(f"root mean square, in the model's units; largest "
                               f"{o['max_abs_error']:.4g}, against a float peak of "
                               f"{o['reference_peak']:.4g}"))
                agree = o["argmax_agreement"]
                t.add_row(who, "argmax agreement", "-" if agree is None else f"{agree:.4f}",
                          Text(f"the neuron whose voltage peaks highest: {o['argmax_agreed']}/"
                               f"{o['argmax_decided_samples']} samples with a unique float "
                               f"winner; {o['argmax_tied_samples']} tied, not counted"))
                continue
            t.add_row(who, "spike agreement", f"{o['spike_agreement']:.4f}",
                      Text(o["alignment"]))
            corr = o["count_correlation"]
            t.add_row(who, "spike-count correlation", "-" if corr is None else f"{corr:.4f}",
                      Text("Pearson over samples x outputs of the spike counts "
                           f"(emulator {o['emulator_spikes']} spikes, float "
                           f"{o['reference_spikes']})"
                           + ("; undefined: one side has equal counts everywhere"
                              if corr is None else "")))
            agree = o["argmax_agreement"]
            t.add_row(who, "argmax agreement",
                      "-" if agree is None else f"{agree:.4f}",
                      Text(f"{o['argmax_agreed']}/{o['argmax_decided_samples']} samples with a "
                           f"unique float winner; {o['argmax_tied_samples']} tied in the float "
                           "model, not counted"))
    console.print(t)


def run_verify(args: argparse.Namespace) -> int:
    if args.random_input is not None and args.steps is None:
        raise UsageError("--random-input needs --steps T (and optionally --batch B, --seed S)")
    if args.input is not None and args.steps is not None:
        raise UsageError("--steps only applies to --random-input; with --input the number "
                         "of steps is the first dimension of the input array")
    if args.json is not None:
        check_writable_dir(args.json)
    program = load_artifact(args.artifact)
    target = artifact_target(args.artifact, program)
    console = make_console()
    if args.against is None:
        against, why = checks.default_against(target)
    else:
        against, why = args.against, "--against"
    oracles = [a for a in against if a != "reference"]
    if oracles:
        checks.require_oracle(target, oracles[0])
    source, source_warnings = checks.source_of(args.artifact, program, against,
                                               target.oracle.name if target.oracle else None)
    if args.input is not None:
        inputs = load_program_inputs(args.input, program)
        input_desc: dict[str, Any] = {"file": str(args.input)}
    else:
        inputs = random_program_inputs(program, args.random_input, args.steps, args.batch,
                                       args.seed)
        input_desc = {"random_rate": args.random_input, "seed": args.seed}
    steps, batch = (int(n) for n in next(iter(inputs.values())).shape[:2])
    what = (f"input {args.input}" if args.input is not None else
            f"Bernoulli({args.random_input}) input, seed {args.seed}")
    console.print(f"verifying {args.artifact} ({program.target}, dt = {program.dt:g} s): {steps} "
                  f"steps x {batch} samples of {what}", markup=False)
    console.print(f"against: {', '.join(against)} ({why})", markup=False)
    for w in source_warnings:
        console.print(f"warning: {w}", markup=False)
    verdict = checks.run_verification(
        program, target, inputs, against, source, source_warnings, artifact=str(args.artifact),
        input_desc=input_desc, step=lambda label, fn: timed(fn, console, label))
    ref = verdict.get("reference")
    if ref is not None:
        for name, o in ref["outputs"].items():
            console.print(f"aligned '{name}' by its output latency: {o['alignment']}",
                          markup=False)
        for w in ref["warnings"][len(source_warnings):]:
            console.print(f"warning: {w}", markup=False)
    for line in verdict["overflow"]:
        console.print(f"overflow: {line}", markup=False)
    console.print("time: " + ", ".join(f"{k} {v:.2f} s" for k, v in verdict["timings_s"].items())
                  + " (each including JIT compilation or the vendor simulator's process start)", markup=False)
    _print_verdict(verdict)
    if args.json is not None:
        write_json(args.json, verdict)
        console.print(f"wrote {args.json}", markup=False)
    oracle = target.oracle
    if oracles and not verdict[oracle.name]["bit_exact"]:
        print(f"error: the emulator and {oracle.label} disagree: a bug in neurocc's emulator or "
              f"its {oracle.name} bridge; please report it with this artifact and input",
              file=sys.stderr)
        return 1
    return 0


COMMAND = Command(
    name="verify",
    help="check an artifact: emulator vs Lava or XyloSim (bit for bit) and vs the float model",
    description="Run a compiled artifact on the emulator and compare it (1) with the chip's "
                "vendor simulator (Intel Lava's fixed-point Loihi 2 models, SynSense's XyloSim "
                "for Xylo): spikes and the integer state of every group must be "
                "equal at every step, else the first difference is named; (2) with the float "
                "reference simulator of the source model the artifact carries (source.nir, "
                "at the artifact's dt): output spikes are aligned by each output's latency D "
                "(the chip answers D steps later: emulator steps D..T-1 against float steps "
                "0..T-1-D) and measured as spike agreement, spike-count correlation and "
                "argmax agreement (over samples whose float winner is unique). Exit status "
                "1 when the emulator and the vendor simulator disagree (a neurocc bug); the "
                "float comparison "
                "is a measurement, never a failure.",
    epilog="examples:\n"
           "  neurocc verify out/braille --random-input 0.1 --steps 100 --batch 16 --seed 0\n"
           "  neurocc verify out/braille --input spikes.npy --against lava --json v.json\n"
           "  neurocc verify out/xylo --random-input 0.2 --steps 100 --against reference,xylosim",
    add_arguments=_add_verify_arguments,
    run=run_verify,
)

