"""``neurocc fit``: does a model fit one or several chips, and what limits it."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from neurocc import ir
from neurocc.compiler.api.artifact import resolve_target
from neurocc.compiler.api.inputs import load_numpy
from neurocc.compiler.fit import fit_target

from .common import (Command, UsageError, check_writable_dir, make_console, positive_float,
                     write_json)
from .compile import resolve_model_dt


def target_list(text: str) -> list[str]:
    items = [s.strip() for s in text.split(",") if s.strip()]
    if not items:
        raise argparse.ArgumentTypeError("expected a comma-separated list of targets")
    return list(dict.fromkeys(items))


def _add_fit_arguments(p: argparse.ArgumentParser) -> None:
    from neurocc.compiler.partition import STRATEGIES

    p.add_argument("model", metavar="MODEL", type=Path, help="a NIR graph file (.nir)")
    p.add_argument("--target", type=target_list, default=["loihi2"], metavar="LIST",
                   help="comma-separated shipped target names or target .toml paths")
    p.add_argument("--dt", type=positive_float, default=None, metavar="SECONDS",
                   help="seconds per step, to quantize for targets neurocc can quantize for; "
                        "without it (and no dt in the model) those are estimated from the "
                        "float graph like the others")
    p.add_argument("--strategy", choices=STRATEGIES, default="auto",
                   help="how slices are assigned to chips: METIS on the spike-traffic graph, "
                        "program-order filling, or both keeping the better")
    p.add_argument("--activity", type=Path, default=None, metavar="RUN.npz",
                   help="spike rates per group from a run (`neurocc run` output: "
                        "spikes.GROUP arrays) to weigh the traffic; default: every neuron "
                        "spikes every step")
    p.add_argument("--json", type=Path, default=None, metavar="FILE",
                   help="also write every row, with the full resource report, as JSON")


def _print_fit(rows: list[dict[str, Any]], model: Path) -> None:
    from rich.table import Table
    from rich.text import Text

    console = make_console()
    t = Table(title=Text(f"does {model} fit?"), title_justify="left")
    for col in ("target", "fits", "cores", "chips", "binding constraint (layer: limit)",
                "what fails"):
        t.add_column(col, justify="right" if col in ("cores", "chips") else "left",
                     no_wrap=col in ("target", "fits", "cores", "chips"))
    for r in rows:
        fits = {True: "yes", False: "NO", None: "?"}[r["fits"]]
        split = {g: b for g, b in r["binding"].items() if b != "none"}
        binding = ("; ".join(f"{g}: {b}" for g, b in split.items()) if split else
                   "- (every layer fits one core)" if r["fits"] else "-")
        fails = "-"
        if r["fits"] is False:
            fails = "; ".join(f"{f['layer'] or '-'}: {f['limit']}" for f in r["failures"]) \
                or r["message"].splitlines()[0]
        elif r["fits"] is None:
            fails = r["message"]
        t.add_row(Text(r["target"]), fits, "-" if r["cores"] is None else str(r["cores"]),
                  "-" if r["chips"] is None else str(r["chips"]), Text(binding), Text(fails))
    console.print(t)
    for r in rows:
        if r["fits"] is False:
            console.print(f"{r['target']}: {r['message']}", markup=False)
    bases = sorted({r["basis"] for r in rows if r["basis"]})
    if bases:
        console.print("estimated from: " + "; ".join(
            f"{b} ({', '.join(r['target'] for r in rows if r['basis'] == b)})" for b in bases),
            markup=False)


def run_fit(args: argparse.Namespace) -> int:
    from neurocc.compiler.partition import PartitionOptions, activity_from_spikes

    if args.json is not None:
        check_writable_dir(args.json)
    if not args.model.is_file():
        raise UsageError(f"{args.model}: no such file (MODEL)")
    graph = ir.load(args.model)
    targets = [resolve_target(name) for name in args.target]
    try:
        dt: float | None = resolve_model_dt(args.dt, graph, args.model)
    except (UsageError, ir.SimulationError):
        dt = None  # no dt: every target is estimated from the float graph (the help says so)
    activity = None
    if args.activity is not None:
        if not args.activity.is_file():
            raise UsageError(f"{args.activity}: no such file (--activity)")
        z = load_numpy(args.activity)
        if not isinstance(z, np.lib.npyio.NpzFile):
            raise UsageError(f"{args.activity}: a single array, not an .npz; give the .npz that "
                             "`neurocc run` writes (spikes.GROUP arrays)")
        with z:
            activity = activity_from_spikes({k: z[k] for k in z.files if k.startswith("spikes.")})
        if not activity:
            raise UsageError(f"{args.activity}: has no 'spikes.GROUP' arrays; give the .npz "
                             "that `neurocc run` writes")
    options = PartitionOptions(strategy=args.strategy, activity=activity)
    rows = [fit_target(graph, t, dt, options) for t in targets]
    _print_fit(rows, args.model)
    if args.json is not None:
        write_json(args.json, {"model": str(args.model), "dt": dt, "targets": rows})
    return 0


COMMAND = Command(
    name="fit",
    help="check whether a model fits one or several chips, and what limits it",
    description="Partition a model against each target's per-core limits (neurons, synapse "
                "memory, fan-in, fan-out, routing entries) and chip count, without writing an "
                "artifact. A target neurocc can quantize for (and a dt) is measured on the "
                "quantized program; any other target from the float graph's structure "
                "(neurons per layer, synapses, weights at the core's dense_weight_bits). One row "
                "per target: fits or not, cores and chips used, the limit that sets each split "
                "layer's slice size, and for a target it does not fit the layer and limit that "
                "fail (the full message, with the smallest changes that would fit, follows).",
    epilog="examples:\n"
           "  neurocc fit tests/fixtures/nir-paper/cnn_sinabs.nir --target "
           "loihi2,speck,spinnaker2,xylo_audio2 --dt 1\n"
           "  neurocc fit model.nir --target loihi2,mychip.toml --dt 1e-4 --json fit.json",
    add_arguments=_add_fit_arguments,
    run=run_fit,
)

