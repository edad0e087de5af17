"""``neurocc compile``: run the passes, write the artifact, print the reports."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from neurocc import ir
from neurocc.compiler.api.artifact import (check_artifact_destination, resolve_target,
                                           write_artifact)
from neurocc.compiler.api.describe import describe_graph
from neurocc.compiler.api.inputs import load_graph_inputs
from neurocc.ir.inputs import resolve_dt

from .common import (Command, UsageError, check_writable_dir, make_console, positive_float,
                     positive_int, shape_str, write_json)
from .inspect import print_description


FORCE_FIELDS = ("du", "dv", "vth", "weight")


def parse_force(items: list[str]) -> dict[str, dict[str, int]]:
    """``["1.dv=163", "lif1.lif.vth=25"]`` -> ``{"1": {"dv": 163}, "lif1.lif": {"vth": 25}}``.

    Node names may contain dots, so the field is what follows the LAST dot
    before the '='.
    """
    force: dict[str, dict[str, int]] = {}
    for item in items:
        left, eq, value = item.partition("=")
        node, dot, field = left.rpartition(".")
        if not (eq and dot and node and field):
            raise UsageError(f"--force {item!r}: expected NODE.FIELD=INT, e.g. --force 1.dv=163")
        if field not in FORCE_FIELDS:
            raise UsageError(f"--force {item!r}: unknown field {field!r}; fields are "
                             f"{', '.join(FORCE_FIELDS)}")
        try:
            number = int(value)
        except ValueError:
            raise UsageError(f"--force {item!r}: {value!r} is not a whole number") from None
        force.setdefault(node, {})[field] = number
    return force


def resolve_model_dt(dt: float | None, graph: ir.Graph, model: Path) -> float:
    return resolve_dt(dt, graph.metadata, where=str(model))


def _add_compile_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL", type=Path, help="a NIR graph file (.nir)")
    p.add_argument("--target", default="loihi2", metavar="TARGET",
                   help="a shipped chip (see `neurocc targets`: those whose 'quantize' column "
                        "says yes, loihi2 and the Xylo chips today) or the path of a target "
                        ".toml")
    p.add_argument("--dt", type=positive_float, default=None, metavar="SECONDS",
                   help="seconds per step; without it the model's metadata must carry 'dt'")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="OUT",
                   help="the artifact directory to write (manifest.json, program.npz, a "
                        "copy of the model as source.nir, and the chip's own files: "
                        "xylo_spec.npz for Xylo); replaced if it is an artifact")
    p.add_argument("--force", action="append", default=[], metavar="NODE.FIELD=INT",
                   help="use this integer instead of the derived one; FIELD is one of "
                        f"{', '.join(FORCE_FIELDS)} (repeat for several)")
    p.add_argument("--vth", type=positive_int, default=None, metavar="N",
                   help="the integer threshold every neuron shares (default: "
                        "2^threshold_bits / headroom)")
    p.add_argument("--headroom", type=positive_int, default=128, metavar="H",
                   help="how many thresholds the integer current and voltage must hold")
    p.add_argument("--weight-blocks", type=int, choices=(1, 2), default=2,
                   help="synapse blocks per connection: 2 adds a residual block (about twice "
                        "the weight precision and synaptic memory)")
    p.add_argument("--calibrate", type=Path, default=None, metavar="IN.npy",
                   help="sample inputs ([T, B, *shape], .npy or .npz by input name): the float "
                        "model runs them and each layer's threshold is sized to the largest "
                        "current seen (more integer precision than the fixed --headroom)")
    p.add_argument("--tune", action="store_true",
                   help="with --calibrate: also try the other mappings the target offers (on "
                        "Xylo: each decay rounded the other way, thresholds x1/4, x1/2, x2), "
                        "scored by how often the chip's output decides like the float model on "
                        "the calibration samples; one is kept only when it wins a paired sign "
                        "test (the trials go in the report and the artifact's manifest)")
    p.add_argument("--calibrate-percentile", type=float, default=100.0, metavar="P",
                   help="size for this percentile of the observed current (default 100: on "
                        "Loihi a current beyond range wraps, so outliers are not clipped)")
    p.add_argument("--dump-after", metavar="PASS", default=None,
                   help="print the IR after this pass (normalize, discretize, quantize, and "
                        "partition, place-route when the target describes its cores)")
    p.add_argument("--report", type=Path, default=None, metavar="FILE",
                   help="also write the quantization report and pass timings as JSON")


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) < 1e4 else f"{value:.0f}"
    return str(value)


def _print_quantization(program: ir.Program) -> None:
    from rich.table import Table
    from rich.text import Text

    console = make_console()
    report = program.info.get("quantization", {})
    groups = report.get("groups", {})
    t = Table(title="neuron groups", title_justify="left")
    # the chip's own names for the decays and the threshold: Loihi's du, dv, vth, or
    # Xylo's bit-shift decays dash_syn, dash_mem and its threshold
    shifts = any("dash_mem" in r for r in groups.values())
    fields = ("dash_syn", "dash_mem", "threshold") if shifts else ("du", "dv", "vth")
    errors = ("syn err", "mem err") if shifts else ("du err", "dv err")
    for col in ("group", "kind", "neurons", "depth", *fields, "scale", *errors):
        t.add_column(col, justify="left" if col in ("group", "kind") else "right", no_wrap=True)
    for name, r in groups.items():
        t.add_row(Text(name), Text(str(r.get("kind", "-"))), _fmt(r.get("neurons")),
                  _fmt(r.get("depth")), *(_fmt(r.get(f)) for f in fields),
                  _fmt(r.get("scale"), 4), _fmt(r.get("du_error"), 2), _fmt(r.get("dv_error"), 2))
    console.print(t)
    blocks = report.get("blocks", {})
    t = Table(title="synapse blocks", title_justify="left")
    for col in ("source -> target", "part", "sign", "exp", "delay", "density", "SQNR dB",
                "saturated", "lost to 0"):
        t.add_column(col, justify="left" if col in ("source -> target", "part", "sign")
                     else "right", no_wrap=True)
    parts = hops = False
    for b in program.synapses:
        r = blocks.get(b.name, {})
        # a connection's blocks are named SOURCE->TARGET[@hops][#part]
        base = f"{b.source}->{b.target}"
        part = b.name[len(base):] if b.name.startswith(base) else b.name
        extra = "#" in part
        parts |= extra
        hops |= part.startswith("@")
        t.add_row(Text(f"{b.source} -> {b.target}"), Text(part or "-"), b.sign_mode,
                  str(b.weight_exp), str(b.delay), _fmt(r.get("density")),
                  "-" if extra else _fmt(r.get("sqnr_db")),
                  _fmt(r.get("saturated")), _fmt(r.get("lost_to_zero")))
    console.print(t)
    notes = []
    if hops:
        notes.append("@N: a connection through N recurrent edges (it carries the previous "
                     "step)")
    if parts:
        notes.append("#...: extra blocks that carry what the first block's 8 bits could not "
                     "(the chip adds them into the same sum); the SQNR on the first block is "
                     "that of the whole connection")
    for note in notes:
        console.print(note, markup=False)


def _dump_ir(pass_name: str, value: Any) -> None:
    """--dump-after: the IR as the named pass left it."""
    from rich.table import Table
    from rich.text import Text

    console = make_console()
    console.print(f"--- IR after pass '{pass_name}' ---", markup=False)
    if isinstance(value, ir.Graph):
        print_description(describe_graph(value, f"graph after '{pass_name}'"))
    if isinstance(value, ir.Graph) and pass_name == "discretize":
        from neurocc.ir import dynamics

        disc = dynamics.discretize(value, float(value.metadata["dt"]))
        t = Table(title=Text(f"per-step decay fractions at dt = {disc.dt:g} s"),
                  title_justify="left")
        for col in ("node", "dt/tau_syn", "dt/tau_mem"):
            t.add_column(col, justify="left" if col == "node" else "right", no_wrap=True)
        span = lambda a: "-" if a is None else (  # noqa: E731
            f"{float(np.min(a)):.6g}" if np.ptp(a) == 0 else
            f"{float(np.min(a)):.6g}..{float(np.max(a)):.6g}")
        for node in disc.a_mem:
            t.add_row(Text(node), span(disc.a_syn.get(node)), span(disc.a_mem[node]))
        console.print(t)
    elif isinstance(value, ir.Program):
        t = Table(title=Text(f"program for {value.target}"), title_justify="left")
        for col in ("group", "model", "shape", "integer parameters"):
            t.add_column(col, no_wrap=col != "integer parameters")
        for g in value.groups.values():
            params = ", ".join(f"{k}={int(v)}" if np.ndim(v) == 0 else f"{k}[{np.size(v)}]"
                               for k, v in sorted(g.params.items()))
            t.add_row(Text(g.name), g.model, shape_str(g.shape), Text(params))
        console.print(t)
        t = Table(title=Text("synapse blocks"), title_justify="left")
        for col in ("block", "weights", "nonzero", "min", "max", "exp", "bits", "sign", "delay",
                    "encoding"):
            t.add_column(col, justify="left" if col in ("block", "sign", "encoding") else "right",
                         no_wrap=True)
        for b in value.synapses:
            low, high = b.weights.value_range()
            t.add_row(Text(b.name), shape_str(b.weights.shape), str(b.weights.nnz()),
                      str(low), str(high), str(b.weight_exp), str(b.num_weight_bits),
                      b.sign_mode, str(b.delay), f"{b.weights.kind}/{b.storage}")
        console.print(t)
        ports = ", ".join(f"{p.name} {shape_str(p.shape)} ({p.kind}"
                          + (f", from step {p.start})" if p.kind == "const" else ")")
                          for p in value.inputs)
        console.print(f"inputs: {ports}", markup=False)
        console.print("outputs: " + ", ".join(f"{o.name} <- {o.group}" for o in value.outputs),
                      markup=False)
    else:
        console.print(repr(value), markup=False)


def run_compile(args: argparse.Namespace) -> int:
    from neurocc.compiler.pipeline import compile_graph, default_pipeline
    from neurocc.compiler.passes.quantize import QuantizeOptions

    force = parse_force(args.force)
    check_artifact_destination(args.output)
    if args.report is not None:
        check_writable_dir(args.report)
    if not args.model.is_file():
        raise UsageError(f"{args.model}: no such file (MODEL)")
    source_hash = ir.file_hash(args.model)
    graph = ir.load(args.model)
    target = resolve_target(args.target)
    dt = resolve_model_dt(args.dt, graph, args.model)
    calibration: dict[str, float] = {}
    if args.calibrate is not None:
        from neurocc.simulators.calibration import calibrate

        samples = load_graph_inputs(args.calibrate, graph)
        calibration = calibrate(graph, samples, dt, args.calibrate_percentile)
    options = QuantizeOptions(force=force, vth=args.vth, headroom=args.headroom,
                              weight_blocks=args.weight_blocks, calibration=calibration)
    trials = None
    if args.tune:
        if args.calibrate is None:
            raise UsageError("--tune needs --calibrate IN.npy: the mappings are compared on those "
                             "samples (never on the test set)")
        from neurocc.compiler.api.tune import tune

        make_console().print(f"tuning {target.name}'s mapping on the calibration samples",
                             markup=False)
        options, trials = tune(graph, target, dt, options, samples,
                               lambda line: make_console().print(line, markup=False))
    names = [p.name for p in default_pipeline(target, dt, options)]
    if args.dump_after is not None and args.dump_after not in names:
        raise UsageError(f"--dump-after {args.dump_after!r}: no such pass; the passes are "
                         f"{', '.join(names)}")

    console = make_console()
    console.print(f"compiling {args.model} for {target.name} (dt = {dt:g} s)", markup=False)
    timings: list[dict[str, Any]] = []

    def on_pass(name: str, value: Any, seconds: float) -> None:
        timings.append({"name": name, "seconds": seconds})
        console.print(f"  pass {len(timings)}/{len(names)} {name:<12} {seconds * 1e3:8.1f} ms",
                      markup=False)
        if name == args.dump_after:
            _dump_ir(name, value)

    program = compile_graph(graph, target, dt, options, source_hash=source_hash, on_pass=on_pass)
    if trials is not None:
        program.info["tuning"] = trials
    target.validate(program)  # the chip's design rules, before anything is written
    write_artifact(program, args.model, args.output, target)
    _print_quantization(program)
    if args.report is not None:
        report = {"model": str(args.model), "target": target.name, "dt": dt,
                  "artifact": str(args.output), "source_hash": source_hash,
                  "pass_log": program.pass_log, "passes": timings,
                  "quantization": program.info.get("quantization", {}),
                  "resources": program.info.get("resources"),
                  "routing": program.info.get("routing"),
                  "tuning": program.info.get("tuning")}
        write_json(args.report, report)
    for note in program.info.get("quantization", {}).get("notes", []):
        console.print(f"note: {note}", markup=False)
    latency = program.output_latency
    console.print("output latency (steps after the float model): "
                  + ", ".join(f"{k} {v}" for k, v in sorted(latency.items())), markup=False)
    # every file the artifact holds: the chip's own export (Xylo: xylo_spec.npz) too
    first = ("manifest.json", "program.npz", "source.nir")
    files = [n for n in first if (args.output / n).exists()] + sorted(
        p.name for p in args.output.iterdir() if p.name not in first)
    console.print(f"wrote {args.output}/: {', '.join(files)} "
                  f"({source_hash[:19]}...)" + (f"; report {args.report}" if args.report else ""),
                  markup=False)
    print_resources(program)
    return 0


COMMAND = Command(
    name="compile",
    help="compile a model for a chip target into an artifact directory",
    description="Load a NIR graph and run the compiler passes (normalize, discretize, "
                "quantize for the target; partition into cores and place & route on the "
                "mesh when the target describes its cores), then write the artifact: "
                "manifest.json, "
                "program.npz (integers only) and source.nir, an unchanged copy of the model "
                "so that `neurocc verify` can run the float reference. Prints one line per "
                "pass with its time and the quantization report: per neuron group its "
                "integer decays (du, dv), threshold and scale with the rounding error of the "
                "decays; per synapse block its sign mode, weight exponent, delay, density, "
                "the signal-to-quantization-noise ratio of its weights, and how many weights "
                "saturated or rounded to zero; then the resource report (cores, utilization "
                "of each per-core limit, the limit that binds each layer). Loihi 2 takes LIF, "
                "CubaLIF and IF neurons with Affine, Linear, Conv, pooling, Flatten and Scale "
                "between them, and an LI or CubaLI readout as the last layer (its voltage is "
                "the output). The same model and options give byte-identical manifest.json "
                "and program.npz.",
    epilog="examples:\n"
           "  neurocc compile tests/fixtures/nir-paper/braille_noDelay_bias_zero.nir \\\n"
           "      --target loihi2 --dt 1e-4 -o out/braille\n"
           "  # the NIR paper's Loihi mapping of one LIF neuron, forced integers:\n"
           "  neurocc compile tests/fixtures/nir-paper/lif_norse.nir --target loihi2 "
           "--dt 1e-4 \\\n"
           "      --force 1.dv=163 --force 1.vth=25 -o out/lif\n"
           "  neurocc compile model.nir --target mychip.toml --dt 1e-3 -o out/m "
           "--report q.json --dump-after quantize\n\n"
           "--force NODE.FIELD=INT: node names may contain dots; the field follows the last "
           "one.",
    add_arguments=_add_compile_arguments,
    run=run_compile,
)


# --- resources (compile) and fit -------------------------------------------------------


def _bar(fraction: float) -> Any:
    from rich.progress_bar import ProgressBar

    return ProgressBar(total=1.0, completed=min(fraction, 1.0), width=24)


def print_resources(program: ir.Program) -> None:
    """What the partition used of the target's cores: shown when the target has [cores]."""
    from rich.table import Table
    from rich.text import Text

    res = program.info.get("resources")
    if not res:
        return
    console = make_console()
    per_chip = ", ".join(f"chip {h}: {n}" for h, n in enumerate(res["cores_per_chip"]) if n)
    console.print(f"resources on {res['target']}: {res['cores_used']} cores on "
                  f"{res['chips_used']} chip(s) ({per_chip}); assignment: {res['strategy']}",
                  markup=False)
    t = Table(title="per-core resources (the fullest core, and the mean over used cores)",
              title_justify="left")
    for col in ("resource", "limit", "max", "mean", "fullest core"):
        t.add_column(col, justify="left" if col in ("resource", "fullest core") else "right",
                     no_wrap=True)
    for name, u in res["utilization"].items():
        frac = u["max_fraction"]
        cell: Any = "no limit"
        if frac is not None:
            cell = Table.grid(padding=(0, 1))
            cell.add_row(_bar(frac), f"{100 * frac:5.1f} %")
        t.add_row(name, "-" if u["limit"] is None else str(u["limit"]), str(u["max"]),
                  f"{u['mean']:.1f}", cell)
    console.print(t)
    t = Table(title="layers: slices and the limit that sets their size", title_justify="left")
    for col in ("layer", "neurons", "slices", "slice size", "binding", "why"):
        t.add_column(col, justify="right" if col in ("neurons", "slices", "slice size")
                     else "left", no_wrap=col != "why")
    for name, layer in res["layers"].items():
        t.add_row(Text(name), str(layer["neurons"]), str(layer["slices"]),
                  str(layer["slice_size"]), layer["binding"], Text(layer["why"]))
    console.print(t)
    e, tr = res["edges"], res["traffic"]
    console.print(f"slice edges: {e['slice_edges']}, of which {e['inter_core']} between cores and "
                  f"{e['inter_chip']} between chips; expected spikes per step between cores "
                  f"{tr['inter_core_spikes_per_step']:.4g}, between chips "
                  f"{tr['inter_chip_spikes_per_step']:.4g} (rates: {res['rates']['source']})",
                  markup=False)
    routing = program.info.get("routing")
    if routing:
        busy = routing["busiest_link"]
        where = ("none (no spike leaves its core)" if busy is None else
                 f"{tuple(busy['from'])} -> {tuple(busy['to'])} with {busy['load']:.4g} "
                 f"spikes/step" + (" (between chips)" if busy["inter_chip"] else ""))
        console.print(f"routes: {routing['routes']} (X then Y), mean {routing['mean_hops']:.2f} "
                      f"hops, at most {routing['max_hops']}; busiest link {where}", markup=False)
