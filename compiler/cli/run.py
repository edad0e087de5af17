"""``neurocc run``: run an artifact on the emulator (or the target's vendor simulator)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from neurocc import ir
from neurocc.compiler.api.artifact import artifact_target, load_artifact
from neurocc.compiler.api.checks import ORACLES, require_oracle
from neurocc.compiler.api.inputs import load_program_inputs

from .common import (Command, UsageError, add_artifact_arguments, check_writable_dir, make_console,
                     timed, write_atomically)


def _check_groups(program: ir.Program, record: list[str]) -> None:
    unknown = [g for g in record if g not in program.groups]
    if unknown:
        raise UsageError(f"--record {' '.join(unknown)}: no such group; groups are "
                         f"{', '.join(program.groups)}")


def _add_run_arguments(p: argparse.ArgumentParser) -> None:
    add_artifact_arguments(p)
    p.add_argument("--backend", choices=("emulator",) + ORACLES, default="emulator",
                   help="'emulator': neurocc's bit-accurate JAX emulator; or the artifact's "
                        "vendor simulator: 'lava', Intel Lava's fixed-point Loihi 2 models "
                        "(Loihi 2 artifacts; needs .venv-lava: make lava), 'xylosim', "
                        "SynSense's XyloSim (Xylo artifacts; needs .venv-xylo: make xylo)")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="RES.npz",
                   help="where to write 'output.NAME' [T, B, ...] int8 (spikes; for an LI "
                        "readout its voltage, int32, and 'output_float.NAME' in the model's "
                        "units), 'spikes.GROUP' [T, B, n] int8 (on Xylo a hidden neuron's "
                        "spike count per step), 'trace.GROUP.VAR' for recorded groups (u, v on "
                        "Loihi 2; isyn, isyn2, v on Xylo), "
                        "'events.BLOCK' [T, B] (emulator) and 'semantics' (JSON text)")
    p.add_argument("--record", nargs="+", action="extend", default=[], metavar="GROUP",
                   help="neuron group(s) whose integer synaptic current(s) and voltage to "
                        "record")


def _print_run_summary(program: ir.Program, spikes: dict[str, np.ndarray], backend: str,
                       steps: int, batch: int) -> None:
    from rich.table import Table
    from rich.text import Text

    console = make_console()
    outputs = {g: o.name + (" (voltage)" if o.kind == "voltage" else "")
               for o in program.outputs for g in o.groups}
    t = Table(title=Text(f"{backend}: {steps} steps x {batch} samples"), title_justify="left")
    for col in ("group", "neurons", "spikes", "spikes/sample", "rate/neuron/step", "output"):
        t.add_column(col, justify="left" if col in ("group", "output") else "right",
                     no_wrap=True)
    for name, g in program.groups.items():
        total = int(np.count_nonzero(spikes[name]))
        t.add_row(Text(name), str(g.size), str(total), f"{total / batch:.1f}",
                  f"{total / max(steps * batch * g.size, 1):.4f}", Text(outputs.get(name, "")))
    console.print(t)


def run_run(args: argparse.Namespace) -> int:
    check_writable_dir(args.output)
    program = load_artifact(args.artifact)
    target = artifact_target(args.artifact, program)
    _check_groups(program, args.record)
    if args.backend != "emulator":
        require_oracle(target, args.backend)
    inputs = load_program_inputs(args.input, program)
    steps, batch = (int(n) for n in next(iter(inputs.values())).shape[:2])
    arrays: dict[str, np.ndarray] = {}
    overflow: list[str] = []
    if args.backend == "emulator":
        from neurocc.simulators.emulator import Emulator

        console = make_console(sys.stderr)
        result: Any = timed(lambda: Emulator(program, target, tuple(args.record)).run(inputs), console,
                             f"emulator: {steps} steps x {batch} samples")[0]
        for block, per_step in result.counters.get("synaptic_events", {}).items():
            arrays[f"events.{block}"] = np.asarray(per_step)
        overflow = result.overflow_report()
    else:
        result = timed(lambda: target.oracle.run(program, inputs, tuple(args.record)),
                        make_console(sys.stderr),
                        f"{target.oracle.label}: {steps} steps x {batch} samples")[0]
    semantics = dict(program.semantics, backend=args.backend)
    ports = {p.name: p for p in program.outputs}
    for name, arr in result.outputs.items():
        if ports[name].kind == "voltage":   # the chip's integer v, and v in the model's units
            arrays[f"output.{name}"] = np.asarray(arr, np.int32)
            arrays[f"output_float.{name}"] = ports[name].to_float(arr).astype(np.float32)
        else:
            arrays[f"output.{name}"] = np.asarray(arr).astype(np.int8)
    for group, arr in result.spikes.items():
        arrays[f"spikes.{group}"] = np.asarray(arr).astype(np.int8)
    for group, variables in result.traces.items():
        for var, arr in variables.items():
            arrays[f"trace.{group}.{var}"] = np.asarray(arr)
    arrays["semantics"] = np.array(json.dumps(semantics, sort_keys=True, default=str))
    write_atomically(args.output, lambda f: np.savez(f, **arrays), suffix=".npz.tmp")
    _print_run_summary(program, result.spikes, args.backend, steps, batch)
    console = make_console()
    for line in overflow:
        console.print(f"overflow: {line}", markup=False)
    kinds = sorted({k.split(".", 1)[0] for k in arrays if k != "semantics"})
    console.print(f"wrote {args.output} ({', '.join(kinds)}; 'semantics' as JSON text)",
                  markup=False)
    return 0


COMMAND = Command(
    name="run",
    help="run a compiled artifact on the emulator (or Lava, XyloSim) and save spikes and states",
    description="Run an artifact written by `neurocc compile` on neurocc's bit-accurate "
                "emulator, or with --backend on the chip's vendor simulator (lava: Intel "
                "Lava's fixed-point Loihi 2 models; xylosim: SynSense's XyloSim). "
                "Inputs and results are time-major, [T, B, ...]. The chip's timing holds: "
                "every synapse block adds one step, so an output answers its port's latency "
                "(manifest.json: outputs[].latency) steps after the float model. Prints the "
                "spikes per group and, on the emulator, any 24-bit overflow (u wraps, v "
                "saturations), which the chip would produce too.",
    epilog="examples:\n"
           "  neurocc run out/braille --input spikes.npy -o res.npz\n"
           "  neurocc run out/lif --input x.npy --record 1 -o lif.npz   # trace.1.v: voltage\n"
           "  neurocc run out/braille --input spikes.npy --backend lava -o lava.npz\n"
           "  neurocc run out/xylo --input spikes.npy --backend xylosim -o xylo.npz",
    add_arguments=_add_run_arguments,
    run=run_run,
)

