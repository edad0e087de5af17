"""The ``neurocc`` command: parse arguments, call the library, report.

Each subcommand is one small function registered in ``COMMANDS`` together
with the function that declares its options (inspect, simulate, compile, run,
verify); adding ``profile`` later means adding one more entry, not editing
``main``. The comparisons behind ``verify`` live in ``verification.py``.

Exit codes: 0 success; 2 a user error (any ``NeuroccError``, a bad argument,
an unreadable file), printed as one ``error: Kind: message`` on stderr with
no traceback unless ``--debug``; 1 (with a traceback) for anything else,
because anything else is a bug in neurocc (and from ``verify`` when the
emulator and Lava disagree, which is one too).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import sys
import tempfile
import traceback
from importlib import metadata
from pathlib import Path
from typing import Any, Callable

import numpy as np

from neurocc import ir
from neurocc.ir.inputs import check_inputs, resolve_dt

RECURRENCE_RULE = ("an edge that closes a cycle carries its source's value from the previous "
                   "time step (zero at the first step); every other edge carries the current "
                   "step's value")


class UsageError(ir.NeuroccError):
    """A bad command line or a file named on it that cannot be read or written."""


# --- the subcommand registry ----------------------------------------------


@dataclasses.dataclass(frozen=True)
class Command:
    name: str
    help: str  # one line, shown in `neurocc --help`
    description: str  # shown in `neurocc NAME --help`
    epilog: str  # examples
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


#: subcommands by name, in the order `neurocc --help` lists them
COMMANDS: dict[str, Command] = {}


def register(command: Command) -> Command:
    COMMANDS[command.name] = command
    return command


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors raise instead of exiting.

    argparse would print the whole usage block and exit by itself; raising lets
    ``main`` report every user error the same way (one line, exit code 2) and
    lets tests call ``main`` in-process.
    """

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message} (see '{self.prog} --help')")


class _Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Shows defaults and keeps the hand-written line breaks of examples."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        # "(default: None)" or "(default: False)" teaches nothing; real defaults are shown
        if action.default in (None, False, [], argparse.SUPPRESS):
            return action.help
        return super()._get_help_string(action)


def _version() -> str:
    try:
        return metadata.version("neurocc")
    except metadata.PackageNotFoundError:  # running from a source tree without install
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser: global flags plus one subparser per command."""
    # --debug is accepted before or after the subcommand; SUPPRESS keeps the
    # subparser from overwriting a value given before it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show the full traceback for user errors too")
    parser = _Parser(
        prog="neurocc", formatter_class=_Formatter,
        description="neurocc compiles trained spiking neural networks (NIR graphs) for "
                    "neuromorphic chips, runs the result on a bit-accurate emulator (or on "
                    "Lava), and simulates the float model to give the ground truth a chip "
                    "deployment is checked against.",
        epilog="examples:\n"
               "  neurocc inspect model.nir\n"
               "  neurocc simulate model.nir --dt 1e-4 --random-input 0.1 --steps 100 "
               "--batch 8 -o out.npz\n"
               "  neurocc compile model.nir --target loihi2 --dt 1e-4 -o out/model\n"
               "  neurocc run out/model --input spikes.npy -o res.npz\n"
               "  neurocc verify out/model --random-input 0.1 --steps 100 --batch 16\n\n"
               "Run 'neurocc COMMAND --help' for the options of one command.\n"
               "Exit codes: 0 success, 2 a mistake in the input (one 'error:' line), "
               "1 a bug in neurocc (with a traceback).")
    parser.add_argument("--debug", action="store_true", default=False,
                        help="show the full traceback for user errors too")
    parser.add_argument("--version", action="version", version=f"neurocc {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True,
                                parser_class=_Parser)
    for cmd in COMMANDS.values():
        p = sub.add_parser(cmd.name, help=cmd.help, description=cmd.description,
                           epilog=cmd.epilog, formatter_class=_Formatter, parents=[common])
        cmd.add_arguments(p)
        p.set_defaults(run=cmd.run)
    return parser


# --- output helpers ---------------------------------------------------------


def _console(file: Any = None) -> Any:
    from rich.console import Console

    out = file or sys.stdout
    # A pipe or a captured stream has no width; 120 columns keeps tables unwrapped.
    width = None if getattr(out, "isatty", lambda: False)() else 120
    return Console(file=out, width=width, highlight=False, soft_wrap=True)


def _shape_str(shape: tuple[int, ...] | None) -> str:
    return "-" if shape is None else "(" + ", ".join(str(int(s)) for s in shape) + ")"


def _write_atomically(path: Path, write: Callable[[Any], None], suffix: str) -> None:
    """Write via `write(fileobj)` to a temporary file beside `path`, then rename.

    A failure at any point leaves no file at `path` (and an existing one untouched).
    """
    _check_writable_dir(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except OSError as e:
        raise UsageError(f"{path}: cannot write ({e.strerror or e})") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _check_writable_dir(path: Path) -> None:
    """Fail before a long computation, not after it, when `path` cannot be written."""
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError(f"{path}: directory '{parent}' does not exist; create it first")
    if path.is_dir():
        raise UsageError(f"{path}: is a directory; give a file name such as {path / 'out.npz'}")


# --- inspect ----------------------------------------------------------------


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


def _print_description(info: dict[str, Any]) -> None:
    from rich.table import Table
    from rich.text import Text

    console = _console()
    table = Table(title=Text(info["model"]), title_justify="left")
    for col, justify in (("node", "left"), ("type", "left"), ("input", "right"),
                         ("output", "right"), ("neurons", "right"), ("synapses", "right"),
                         ("parameters", "right")):
        table.add_column(col, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    for r in info["nodes"]:
        table.add_row(Text(r["name"]), Text(r["type"]),
                      _shape_str(None if r["input_shape"] is None else tuple(r["input_shape"])),
                      _shape_str(tuple(r["output_shape"])),
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
        _check_writable_dir(args.json)
        text = json.dumps(info, indent=2) + "\n"
        _write_atomically(args.json, lambda f: f.write(text.encode()), suffix=".json.tmp")
    _print_description(info)
    return 0


register(Command(
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
))


# --- simulate ---------------------------------------------------------------


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not np.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value


def _probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be a probability in [0, 1], got {text}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {text}")
    return value


def _add_simulate_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL", type=Path, help="a NIR graph file (.nir)")
    p.add_argument("--dt", type=_positive_float, default=None, metavar="SECONDS",
                   help="seconds per simulation step. NIR neurons are continuous-time, so a "
                        "step size is needed; without --dt the model's metadata must carry "
                        "'dt', else this is an error")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--input", type=Path, metavar="IN.npy",
                        help="input array, time-major [T, B, *input_shape]; for a model with "
                             "several Input nodes an .npz with one such array per input name")
    source.add_argument("--random-input", type=_probability, metavar="RATE",
                        help="instead of --input: Bernoulli(RATE) spikes (0/1, float32) on "
                             "every input, for --steps steps and --batch samples")
    p.add_argument("--steps", type=_positive_int, default=None, metavar="T",
                   help="time steps of random input (required with --random-input)")
    p.add_argument("--batch", type=_positive_int, default=1, metavar="B",
                   help="samples of random input run side by side")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the random input, so a run can be repeated")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="OUT.npz",
                   help="where to write the results: 'output.NAME' [T, B, ...] per Output "
                        "node, 'trace.NODE.VAR' per recorded state, 'input.NAME' (the inputs "
                        "used) and 'semantics' (JSON text)")
    p.add_argument("--record", nargs="+", action="extend", default=[], metavar="NODE",
                   help="node(s) whose state (e.g. v, i, out) to record as traces")
    p.add_argument("--integrator", choices=("euler", "exact"), default="euler",
                   help="'euler': forward Euler, as snnTorch and Norse step; 'exact': the "
                        "exponential (exact) solution of the linear ODE over one step")
    p.add_argument("--float64", action="store_true",
                   help="compute in float64 instead of float32 (JAX stays 32-bit elsewhere)")
    p.add_argument("--threshold", choices=(">", ">="), default=">",
                   help="spike when v > threshold (NIR) or when v >= threshold (some chips)")
    p.add_argument("--reset", choices=("nir", "subtract"), default="nir",
                   help="after a spike: 'nir' sets v to v_reset (the NIR rule); 'subtract' "
                        "lowers v by the threshold (what snnTorch's reset by subtraction did)")


def _load_numpy(path: Path) -> Any:
    """np.load without pickles; a file it cannot read is a UsageError naming the file."""
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        # numpy says "pickled" both for object arrays and for files that are no numpy file
        why = ("it holds Python objects, or is no numpy file at all; save an array of numbers "
               "with numpy.save or numpy.savez" if "pickle" in str(e) else str(e))
        raise UsageError(f"{path}: not a numpy .npy/.npz file of numbers ({why})") from None


def _load_input_file(path: Path, graph: ir.Graph) -> dict[str, np.ndarray]:
    """Read --input: an .npy for a single Input node, or an .npz keyed by input name."""
    if not path.is_file():
        raise UsageError(f"{path}: no such file (--input)")
    data = _load_numpy(path)
    if isinstance(data, np.ndarray):
        if len(graph.inputs) != 1:
            raise UsageError(f"{path}: the model has {len(graph.inputs)} Input nodes "
                             f"{graph.inputs}; give an .npz with one array per input name")
        arrays = {graph.inputs[0]: data}
    else:
        with data:
            keys = sorted(data.files)
            if keys != sorted(graph.inputs):
                raise UsageError(f"{path}: has arrays {keys}, expected one per Input node: "
                                 f"{graph.inputs}")
            arrays = {k: data[k] for k in keys}
    # checked here too, so that a wrong shape or dtype names the file it came from
    return check_inputs({n: graph.shapes[n].output for n in graph.inputs}, arrays, where=str(path))


def random_inputs(graph: ir.Graph, rate: float, steps: int, batch: int, seed: int
                  ) -> dict[str, np.ndarray]:
    """Bernoulli(rate) spike trains, float32, [steps, batch, *shape] per Input node."""
    rng = np.random.default_rng(seed)
    return {name: (rng.random((steps, batch, *graph.shapes[name].output)) < rate)
            .astype(np.float32) for name in graph.inputs}


def _npz_payload(result: Any, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    arrays: dict[str, np.ndarray] = {}
    for name, arr in result.outputs.items():
        arrays[f"output.{name}"] = np.asarray(arr)
    for node, variables in result.traces.items():
        for var, arr in variables.items():
            arrays[f"trace.{node}.{var}"] = np.asarray(arr)
    for name, arr in inputs.items():
        arrays[f"input.{name}"] = np.asarray(arr)
    # a 0-d unicode array: readable with allow_pickle=False, unlike a dict
    arrays["semantics"] = np.array(json.dumps(result.semantics, sort_keys=True, default=str))
    return arrays


def _print_simulation_summary(result: Any, out: Path, steps: int, batch: int) -> None:
    from rich.table import Table
    from rich.text import Text

    console = _console()
    table = Table(title=Text(f"{steps} steps x {batch} samples -> {out}"), title_justify="left")
    for col in ("output", "shape [T, B, ...]", "spikes", "spikes/sample", "rate/neuron/step"):
        table.add_column(col, justify="left" if col == "output" else "right", no_wrap=True)
    for name in sorted(result.outputs):
        arr = np.asarray(result.outputs[name])
        spiking = bool(np.all((arr == 0) | (arr == 1)))
        total = float(arr.sum())
        shape = _shape_str(arr.shape)
        if spiking:
            per_neuron = total / max(arr.size, 1)
            table.add_row(Text(name), shape, str(int(total)), f"{total / batch:.1f}",
                          f"{per_neuron:.4f}")
        else:  # a leaky integrator's membrane value, not spikes
            table.add_row(Text(name), shape, "(values)", f"mean {arr.mean():.4g}",
                          f"max {arr.max():.4g}")
    console.print(table)
    for warning in getattr(result, "warnings", []):
        console.print(f"warning: {warning}", markup=False)
    console.print("semantics used (also stored in the .npz as 'semantics'):", markup=False)
    for key, value in sorted(result.semantics.items()):
        console.print(f"  {key}: {value}", markup=False)


def run_simulate(args: argparse.Namespace) -> int:
    if args.random_input is not None and args.steps is None:
        raise UsageError("--random-input needs --steps T (and optionally --batch B, --seed S)")
    if args.input is not None and args.steps is not None:
        # T comes from the file; silently ignoring --steps would surprise
        raise UsageError("--steps only applies to --random-input; with --input the number "
                         "of steps is the first dimension of the input array")
    _check_writable_dir(args.output)
    graph = ir.load(args.model)
    if args.input is not None:
        inputs = _load_input_file(args.input, graph)
    else:
        inputs = random_inputs(graph, args.random_input, args.steps, args.batch, args.seed)

    from neurocc.simulators import reference  # imports JAX: only commands that simulate pay

    # dt=None lets the library take the graph's metadata, or raise saying to pass --dt;
    # the library also checks the inputs' shapes and dtypes
    result = reference.run(graph, inputs, args.dt, integrator=args.integrator,
                           dtype="float64" if args.float64 else "float32",
                           record=tuple(args.record), threshold=args.threshold,
                           reset=args.reset)
    arrays = _npz_payload(result, inputs)
    _write_atomically(args.output, lambda f: np.savez(f, **arrays), suffix=".npz.tmp")
    steps, batch = next(iter(inputs.values())).shape[:2]
    _print_simulation_summary(result, args.output, int(steps), int(batch))
    return 0


register(Command(
    name="simulate",
    help="run a model in the float reference simulator (NIR semantics) and save spikes",
    description="Simulate a NIR graph step by step in float (the reference every chip "
                "deployment is verified against). Inputs and outputs are time-major: "
                "[T, B, *shape]. The semantics are decided once and recorded in the output: "
                "dt must be known; forward Euler unless --integrator exact; spike when v > "
                "threshold; reset to v_reset; " + RECURRENCE_RULE + "; CubaLIF updates its "
                "current first, then its voltage (as snnTorch and Lava do).",
    epilog="examples:\n"
           "  neurocc simulate tests/fixtures/nir-paper/braille_noDelay_bias_zero.nir \\\n"
           "      --dt 1e-4 --random-input 0.1 --steps 100 --batch 8 -o braille.npz\n"
           "  neurocc simulate model.nir --dt 1e-4 --input spikes.npy -o out.npz "
           "--record lif1 --integrator exact\n"
           "  neurocc simulate tests/fixtures/nir-paper/cnn_sinabs.nir --dt 1 \\\n"
           "      --random-input 0.1 --steps 50 --batch 4 -o cnn.npz"
           "   # Sinabs IF neurons are discrete-time\n\n"
           "Read the results with numpy.load('out.npz'); json.loads(str(f['semantics'])) "
           "gives the semantics used.",
    add_arguments=_add_simulate_arguments,
    run=run_simulate,
))


# --- compile ----------------------------------------------------------------

#: the fields `--force NODE.FIELD=INT` may set (QuantizeOptions.force)
FORCE_FIELDS = ("du", "dv", "vth", "weight")


def resolve_target(text: str) -> Any:
    """A shipped target's name (``neurocc targets`` lists them), or the path of a target .toml."""
    from neurocc.backends import get_target

    try:
        return get_target(text)
    except ir.TargetSpecError as e:
        if str(e).startswith(f"target {text!r}:"):   # not found: say it of the option
            raise UsageError(f"--{e}") from None
        raise


# --- targets ----------------------------------------------------------------

def _bytes_human(bits: int) -> str:
    """Memory in binary units: 7500000 bits -> '915.5 KiB'."""
    size, unit = bits / 8, "B"
    for bigger in ("KiB", "MiB", "GiB"):
        if size < 1024:
            break
        size, unit = size / 1024, bigger
    return f"{size:.4g} {unit}"


def describe_target(spec: Any) -> dict[str, Any]:
    """What `neurocc targets` shows of one target, as a JSON-able dict."""
    quantize, emulate = spec.can_quantize, spec.can_emulate
    as_dict = lambda record: None if record is None else dataclasses.asdict(record)  # noqa: E731
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


def _print_targets(rows: list[dict[str, Any]]) -> None:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    console = _console()
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
    from neurocc.backends import TARGETS
    from neurocc.backends import load_target

    if args.json is not None:
        _check_writable_dir(args.json)
    specs = [load() for load in TARGETS.values()]
    specs += [load_target(path) for path in args.extra]
    rows = [describe_target(spec) for spec in specs]
    _print_targets(rows)
    if args.json is not None:
        text = json.dumps({"targets": rows}, indent=2) + "\n"
        _write_atomically(args.json, lambda f: f.write(text.encode()), suffix=".json.tmp")
    return 0


register(Command(
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
))


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


def _resolve_dt(dt: float | None, graph: ir.Graph, model: Path) -> float:
    return resolve_dt(dt, graph.metadata, where=str(model))


def _add_compile_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL", type=Path, help="a NIR graph file (.nir)")
    p.add_argument("--target", default="loihi2", metavar="TARGET",
                   help="a shipped chip (see `neurocc targets`; loihi2 is the one neurocc can "
                        "compile for today) or the path of a target .toml")
    p.add_argument("--dt", type=_positive_float, default=None, metavar="SECONDS",
                   help="seconds per step; without it the model's metadata must carry 'dt'")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="OUT",
                   help="the artifact directory to write (manifest.json, program.npz and a "
                        "copy of the model as source.nir); replaced if it is an artifact")
    p.add_argument("--force", action="append", default=[], metavar="NODE.FIELD=INT",
                   help="use this integer instead of the derived one; FIELD is one of "
                        f"{', '.join(FORCE_FIELDS)} (repeat for several)")
    p.add_argument("--vth", type=_positive_int, default=None, metavar="N",
                   help="the integer threshold every neuron shares (default: "
                        "2^threshold_bits / headroom)")
    p.add_argument("--headroom", type=_positive_int, default=128, metavar="H",
                   help="how many thresholds the integer current and voltage must hold")
    p.add_argument("--weight-blocks", type=int, choices=(1, 2), default=2,
                   help="synapse blocks per connection: 2 adds a residual block (about twice "
                        "the weight precision and synaptic memory)")
    p.add_argument("--calibrate", type=Path, default=None, metavar="IN.npy",
                   help="sample inputs ([T, B, *shape], .npy or .npz by input name): the float "
                        "model runs them and each layer's threshold is sized to the largest "
                        "current seen (more integer precision than the fixed --headroom)")
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

    console = _console()
    report = program.info.get("quantization", {})
    groups = report.get("groups", {})
    t = Table(title="neuron groups", title_justify="left")
    for col in ("group", "kind", "neurons", "depth", "du", "dv", "vth", "scale", "du err",
                "dv err"):
        t.add_column(col, justify="left" if col in ("group", "kind") else "right", no_wrap=True)
    for name, r in groups.items():
        t.add_row(Text(name), Text(str(r.get("kind", "-"))), _fmt(r.get("neurons")),
                  _fmt(r.get("depth")), _fmt(r.get("du")), _fmt(r.get("dv")), _fmt(r.get("vth")),
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

    console = _console()
    console.print(f"--- IR after pass '{pass_name}' ---", markup=False)
    if isinstance(value, ir.Graph):
        _print_description(describe_graph(value, f"graph after '{pass_name}'"))
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
            t.add_row(Text(g.name), g.model, _shape_str(g.shape), Text(params))
        console.print(t)
        t = Table(title=Text("synapse blocks"), title_justify="left")
        for col in ("block", "weights", "nonzero", "min", "max", "exp", "bits", "sign", "delay",
                    "encoding"):
            t.add_column(col, justify="left" if col in ("block", "sign", "encoding") else "right",
                         no_wrap=True)
        for b in value.synapses:
            low, high = b.weights.value_range()
            t.add_row(Text(b.name), _shape_str(b.weights.shape), str(b.weights.nnz()),
                      str(low), str(high), str(b.weight_exp), str(b.num_weight_bits),
                      b.sign_mode, str(b.delay), f"{b.weights.kind}/{b.storage}")
        console.print(t)
        ports = ", ".join(f"{p.name} {_shape_str(p.shape)} ({p.kind}"
                          + (f", from step {p.start})" if p.kind == "const" else ")")
                          for p in value.inputs)
        console.print(f"inputs: {ports}", markup=False)
        console.print("outputs: " + ", ".join(f"{o.name} <- {o.group}" for o in value.outputs),
                      markup=False)
    else:
        console.print(repr(value), markup=False)


def _check_artifact_destination(out: Path) -> None:
    """Refuse before compiling, not after, to replace something that is no artifact."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out}: exists and is a file; -o names the artifact DIRECTORY")
    if out.is_dir() and any(out.iterdir()) and not (out / "manifest.json").exists():
        raise UsageError(f"{out}: exists and is not a neurocc artifact; refusing to overwrite it "
                         "(choose another -o)")


#: a user-described target's TOML, copied into its artifacts so that run, verify and
#: profile find the same chip (a shipped target is found by its name)
TARGET_NAME = "target.toml"


def artifact_target(path: Path, program: ir.Program) -> Any:
    """The target an artifact was compiled for: its own target.toml, else the shipped
    target of its name."""
    from neurocc.backends import TARGETS, load_target

    own = Path(path) / TARGET_NAME
    if own.is_file():
        return load_target(own)
    if program.target not in TARGETS:
        raise UsageError(f"{path}: compiled for '{program.target}', which is no shipped target, "
                         f"and the artifact holds no {TARGET_NAME}; compile it again")
    return TARGETS[program.target]()


def write_artifact(program: ir.Program, model: Path, out: Path, target: Any) -> None:
    """The artifact with the source model beside it, as one atomic rename.

    ``save_program`` writes manifest.json and program.npz into a staging
    directory next to OUT; the model is copied in; then the whole directory
    replaces OUT. A failure anywhere leaves OUT as it was (or absent).
    """
    from neurocc.compiler.verification import SOURCE_NAME

    _check_artifact_destination(out)
    parent = out.parent if str(out.parent) else Path(".")
    try:
        parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=parent))
    except OSError as e:
        raise UsageError(f"{out}: cannot create it ({e.strerror or e})") from None
    try:
        built = Path(target.emit(program, staging / "artifact"))
        shutil.copyfile(model, built / SOURCE_NAME)
        from neurocc.backends import TARGETS

        if program.target not in TARGETS or Path(target.spec.path).resolve() != Path(
                TARGETS[program.target]().spec.path).resolve():
            shutil.copyfile(target.spec.path, built / TARGET_NAME)
        if ir.file_hash(built / SOURCE_NAME) != program.source_hash:
            raise UsageError(f"{model}: changed while it was being compiled; compile again")
        _check_artifact_destination(out)
        if out.exists():
            shutil.rmtree(out)
        os.replace(built, out)
    except OSError as e:
        raise UsageError(f"{out}: cannot write the artifact ({e.strerror or e})") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def run_compile(args: argparse.Namespace) -> int:
    from neurocc.compiler.pipeline import compile_graph, default_pipeline
    from neurocc.compiler.passes.quantize import QuantizeOptions

    force = parse_force(args.force)
    _check_artifact_destination(args.output)
    if args.report is not None:
        _check_writable_dir(args.report)
    if not args.model.is_file():
        raise UsageError(f"{args.model}: no such file (MODEL)")
    source_hash = ir.file_hash(args.model)
    graph = ir.load(args.model)
    target = resolve_target(args.target)
    dt = _resolve_dt(args.dt, graph, args.model)
    calibration: dict[str, float] = {}
    if args.calibrate is not None:
        from neurocc.simulators.calibration import calibrate

        samples = _load_input_file(args.calibrate, graph)
        calibration = calibrate(graph, samples, dt, args.calibrate_percentile)
    options = QuantizeOptions(force=force, vth=args.vth, headroom=args.headroom,
                              weight_blocks=args.weight_blocks, calibration=calibration)
    names = [p.name for p in default_pipeline(target, dt, options)]
    if args.dump_after is not None and args.dump_after not in names:
        raise UsageError(f"--dump-after {args.dump_after!r}: no such pass; the passes are "
                         f"{', '.join(names)}")

    console = _console()
    console.print(f"compiling {args.model} for {target.name} (dt = {dt:g} s)", markup=False)
    timings: list[dict[str, Any]] = []

    def on_pass(name: str, value: Any, seconds: float) -> None:
        timings.append({"name": name, "seconds": seconds})
        console.print(f"  pass {len(timings)}/{len(names)} {name:<12} {seconds * 1e3:8.1f} ms",
                      markup=False)
        if name == args.dump_after:
            _dump_ir(name, value)

    program = compile_graph(graph, target, dt, options, source_hash=source_hash, on_pass=on_pass)
    target.validate(program)  # the chip's design rules, before anything is written
    write_artifact(program, args.model, args.output, target)
    _print_quantization(program)
    if args.report is not None:
        report = {"model": str(args.model), "target": target.name, "dt": dt,
                  "artifact": str(args.output), "source_hash": source_hash,
                  "pass_log": program.pass_log, "passes": timings,
                  "quantization": program.info.get("quantization", {}),
                  "resources": program.info.get("resources"),
                  "routing": program.info.get("routing")}
        text = json.dumps(report, indent=2, default=str) + "\n"
        _write_atomically(args.report, lambda f: f.write(text.encode()), suffix=".json.tmp")
    for note in program.info.get("quantization", {}).get("notes", []):
        console.print(f"note: {note}", markup=False)
    latency = program.output_latency
    console.print("output latency (steps after the float model): "
                  + ", ".join(f"{k} {v}" for k, v in sorted(latency.items())), markup=False)
    console.print(f"wrote {args.output}/: manifest.json, program.npz, source.nir "
                  f"({source_hash[:19]}...)" + (f"; report {args.report}" if args.report else ""),
                  markup=False)
    print_resources(program)
    return 0


register(Command(
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
))


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
    console = _console()
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


def _target_list(text: str) -> list[str]:
    items = [s.strip() for s in text.split(",") if s.strip()]
    if not items:
        raise argparse.ArgumentTypeError("expected a comma-separated list of targets")
    return list(dict.fromkeys(items))


def _add_fit_arguments(p: argparse.ArgumentParser) -> None:
    from neurocc.compiler.partition import STRATEGIES

    p.add_argument("model", metavar="MODEL", type=Path, help="a NIR graph file (.nir)")
    p.add_argument("--target", type=_target_list, default=["loihi2"], metavar="LIST",
                   help="comma-separated shipped target names or target .toml paths")
    p.add_argument("--dt", type=_positive_float, default=None, metavar="SECONDS",
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


def fit_target(graph: ir.Graph, target: Any, dt: float | None, options: Any) -> dict[str, Any]:
    """One row of `neurocc fit`: does the model fit `target`, and what does it use."""
    from neurocc.compiler.partition import Structure, plan_partition
    from neurocc.compiler.pipeline import Discretize, Normalize, Quantize

    row: dict[str, Any] = {"target": target.name, "fits": None, "cores": None, "chips": None,
                           "binding": {}, "failures": [], "message": "", "basis": ""}
    if target.cores is None:
        row["message"] = "the target file has no [cores] table: capacities unknown"
        return row
    quantizable = target.can_quantize
    try:
        if quantizable and dt is not None:
            value: Any = graph
            for p in (Normalize(), Discretize(dt), Quantize(target)):
                value = p(value)
            structure = Structure.from_program(value)
            row["basis"] = "quantized program"
        else:
            structure = Structure.from_graph(graph)
            row["basis"] = "float graph (one block per connection)"
        plan = plan_partition(structure, target, options)
    except ir.CapacityError as e:
        row["fits"] = False
        row["failures"] = getattr(e, "failures", [])
        row["message"] = str(e)
        return row
    except ir.NeuroccError as e:
        row["message"] = f"{type(e).__name__}: {e}"
        return row
    report = plan.report
    row.update(fits=True, cores=report["cores_used"], chips=report["chips_used"],
               binding={g: layer["binding"] for g, layer in report["layers"].items()},
               resources=report)
    return row


def _print_fit(rows: list[dict[str, Any]], model: Path) -> None:
    from rich.table import Table
    from rich.text import Text

    console = _console()
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
        _check_writable_dir(args.json)
    if not args.model.is_file():
        raise UsageError(f"{args.model}: no such file (MODEL)")
    graph = ir.load(args.model)
    targets = [resolve_target(name) for name in args.target]
    try:
        dt: float | None = _resolve_dt(args.dt, graph, args.model)
    except (UsageError, ir.SimulationError):
        dt = None  # no dt: every target is estimated from the float graph (the help says so)
    activity = None
    if args.activity is not None:
        if not args.activity.is_file():
            raise UsageError(f"{args.activity}: no such file (--activity)")
        z = _load_numpy(args.activity)
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
        text = json.dumps({"model": str(args.model), "dt": dt, "targets": rows}, indent=2,
                          default=str) + "\n"
        _write_atomically(args.json, lambda f: f.write(text.encode()), suffix=".json.tmp")
    return 0


register(Command(
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
))


# --- run ----------------------------------------------------------------------


def _load_artifact(path: Path) -> ir.Program:
    if not path.exists():
        raise UsageError(f"{path}: no such artifact directory; make one with `neurocc compile "
                         "MODEL --target loihi2 --dt DT -o DIR`")
    program = ir.load_program(path)
    return program


def load_program_inputs(path: Path, program: ir.Program) -> dict[str, np.ndarray]:
    """--input for an artifact: .npy for one data input, .npz keyed by input name.

    Checked here, once, for every backend: [T, B, *shape] of numbers.
    """
    ports = program.data_inputs
    names = [p.name for p in ports]
    if not path.is_file():
        raise UsageError(f"{path}: no such file (--input)")
    data = _load_numpy(path)
    if isinstance(data, np.ndarray):
        if len(ports) != 1:
            raise UsageError(f"{path}: the program has {len(ports)} inputs {names}; give an "
                             ".npz with one array per input name")
        arrays = {names[0]: data}
    else:
        with data:
            if sorted(data.files) != sorted(names):
                raise UsageError(f"{path}: has arrays {sorted(data.files)}, expected one per "
                                 f"input: {names}")
            arrays = {k: data[k] for k in data.files}
    return check_inputs({p.name: p.shape for p in ports}, arrays, where=str(path))


def _require_oracle(target: Any, name: str) -> Any:
    """The target's oracle's interpreter, or a user error with the install hint."""
    if target.oracle is None or target.oracle.name != name:
        have = f"its oracle is '{target.oracle.name}'" if target.oracle else "it has no oracle"
        raise UsageError(f"--backend/--against {name}: this artifact is for '{target.name}', "
                         f"and {have}")
    return target.oracle.locate()  # a NeuroccError that says how to build it


def _check_groups(program: ir.Program, record: list[str]) -> None:
    unknown = [g for g in record if g not in program.groups]
    if unknown:
        raise UsageError(f"--record {' '.join(unknown)}: no such group; groups are "
                         f"{', '.join(program.groups)}")


def _add_run_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("artifact", metavar="ARTIFACT", type=Path,
                   help="an artifact directory written by `neurocc compile`")
    p.add_argument("--input", type=Path, required=True, metavar="IN.npy",
                   help="input spikes, time-major [T, B, *input_shape] (any non-zero is a "
                        "spike); an .npz with one array per input name for several inputs")
    p.add_argument("--backend", choices=("emulator",) + ORACLES, default="emulator",
                   help="'emulator': neurocc's bit-accurate JAX emulator; 'lava': Intel "
                        "Lava's fixed-point Loihi 2 models (needs .venv-lava: make lava)")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="RES.npz",
                   help="where to write 'output.NAME' [T, B, ...] int8 (spikes; for an LI "
                        "readout its voltage, int32, and 'output_float.NAME' in the model's "
                        "units), 'spikes.GROUP' [T, B, n] int8, 'trace.GROUP.u'/'.v' for "
                        "recorded groups, "
                        "'events.BLOCK' [T, B] (emulator) and 'semantics' (JSON text)")
    p.add_argument("--record", nargs="+", action="extend", default=[], metavar="GROUP",
                   help="neuron group(s) whose integer current u and voltage v to record")


def _print_run_summary(program: ir.Program, spikes: dict[str, np.ndarray], backend: str,
                       steps: int, batch: int) -> None:
    from rich.table import Table
    from rich.text import Text

    console = _console()
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
    _check_writable_dir(args.output)
    program = _load_artifact(args.artifact)
    target = artifact_target(args.artifact, program)
    _check_groups(program, args.record)
    if args.backend != "emulator":
        _require_oracle(target, args.backend)
    inputs = load_program_inputs(args.input, program)
    steps, batch = (int(n) for n in next(iter(inputs.values())).shape[:2])
    arrays: dict[str, np.ndarray] = {}
    overflow: list[str] = []
    if args.backend == "emulator":
        from neurocc.simulators.emulator import Emulator

        console = _console(sys.stderr)
        result: Any = _timed(lambda: Emulator(program, target, tuple(args.record)).run(inputs), console,
                             f"emulator: {steps} steps x {batch} samples")[0]
        for block, per_step in result.counters.get("synaptic_events", {}).items():
            arrays[f"events.{block}"] = np.asarray(per_step)
        overflow = result.overflow_report()
    else:
        result = _timed(lambda: target.oracle.run(program, inputs, tuple(args.record)),
                        _console(sys.stderr),
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
    _write_atomically(args.output, lambda f: np.savez(f, **arrays), suffix=".npz.tmp")
    _print_run_summary(program, result.spikes, args.backend, steps, batch)
    console = _console()
    for line in overflow:
        console.print(f"overflow: {line}", markup=False)
    kinds = sorted({k.split(".", 1)[0] for k in arrays if k != "semantics"})
    console.print(f"wrote {args.output} ({', '.join(kinds)}; 'semantics' as JSON text)",
                  markup=False)
    return 0


register(Command(
    name="run",
    help="run a compiled artifact on the emulator (or on Lava) and save spikes and states",
    description="Run an artifact written by `neurocc compile` on neurocc's bit-accurate "
                "emulator, or with --backend lava on Intel Lava's fixed-point Loihi 2 models. "
                "Inputs and results are time-major, [T, B, ...]. The chip's timing holds: "
                "every synapse block adds one step, so an output answers "
                "semantics['output_latency_steps'] steps after the float model. Prints the "
                "spikes per group and, on the emulator, any 24-bit overflow (u wraps, v "
                "saturations), which the chip would produce too.",
    epilog="examples:\n"
           "  neurocc run out/braille --input spikes.npy -o res.npz\n"
           "  neurocc run out/lif --input x.npy --record 1 -o lif.npz   # trace.1.v: voltage\n"
           "  neurocc run out/braille --input spikes.npy --backend lava -o lava.npz",
    add_arguments=_add_run_arguments,
    run=run_run,
))


# --- verify ---------------------------------------------------------------------

#: the vendor simulators `run --backend` and `verify --against` may name (targets' oracles)
ORACLES = ("lava",)
AGAINST = ("reference",) + ORACLES


def _against(text: str) -> tuple[str, ...]:
    items = tuple(dict.fromkeys(s.strip() for s in text.split(",") if s.strip()))
    bad = [s for s in items if s not in AGAINST]
    if not items or bad:
        raise argparse.ArgumentTypeError(f"expected a comma-separated list of "
                                         f"{', '.join(AGAINST)}; got {text!r}")
    return items


def _add_verify_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("artifact", metavar="ARTIFACT", type=Path,
                   help="an artifact directory written by `neurocc compile`")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--input", type=Path, metavar="IN.npy",
                        help="input spikes [T, B, *input_shape] (.npz by input name for several)")
    source.add_argument("--random-input", type=_probability, metavar="RATE",
                        help="instead of --input: Bernoulli(RATE) spikes on every input")
    p.add_argument("--steps", type=_positive_int, default=None, metavar="T",
                   help="time steps of random input (required with --random-input)")
    p.add_argument("--batch", type=_positive_int, default=1, metavar="B",
                   help="samples of random input")
    p.add_argument("--seed", type=int, default=0, help="seed of the random input")
    p.add_argument("--against", type=_against, default=None, metavar="LIST",
                   help="what to compare the emulator with: 'reference' (the float model), "
                        "'lava' (Intel's bit-accurate Loihi 2 models), or both, comma-separated "
                        "(default: reference, plus lava when .venv-lava is found)")
    p.add_argument("--json", metavar="FILE", type=Path, default=None,
                   help="also write the verdict as JSON")


def _timed(fn: Callable[[], Any], console: Any = None, label: str = "") -> tuple[Any, float]:
    """fn() and its wall time; with a console, the step says what runs (a spinner on a
    terminal) and how long it took, so a long run is never silent."""
    import time

    t0 = time.perf_counter()
    if console is None:
        value = fn()
    else:
        console.print(f"{label} ...", markup=False)
        with console.status(label):
            value = fn()
        console.print(f"  done in {time.perf_counter() - t0:.1f} s", markup=False)
    return value, time.perf_counter() - t0


def _print_verdict(verdict: dict[str, Any]) -> None:
    from rich.table import Table
    from rich.text import Text

    console = _console()
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
    from neurocc.compiler import verification as V

    if args.random_input is not None and args.steps is None:
        raise UsageError("--random-input needs --steps T (and optionally --batch B, --seed S)")
    if args.input is not None and args.steps is not None:
        raise UsageError("--steps only applies to --random-input; with --input the number "
                         "of steps is the first dimension of the input array")
    if args.json is not None:
        _check_writable_dir(args.json)
    program = _load_artifact(args.artifact)
    target = artifact_target(args.artifact, program)
    console = _console()
    oracle = target.oracle
    if args.against is None:
        if oracle is None:
            found, against = f"{target.name} has no vendor simulator", ("reference",)
        else:
            try:
                found = f"{oracle.label} because {oracle.locate()} was found"
                against = ("reference", oracle.name)
            except ir.NeuroccError as e:
                found = f"{oracle.label} skipped: {e}"
                against = ("reference",)
        why = f"default: the float reference; {found}"
    else:
        against, why = args.against, "--against"
    oracles = [a for a in against if a != "reference"]
    oracle_python = _require_oracle(target, oracles[0]) if oracles else None
    source, source_warnings = (V.source_model(args.artifact, program) if "reference" in against
                               else (None, []))
    if args.input is not None:
        inputs = load_program_inputs(args.input, program)
        input_desc: dict[str, Any] = {"file": str(args.input)}
    else:
        inputs = V.random_inputs(program, args.random_input, args.steps, args.batch, args.seed)
        input_desc = {"random_rate": args.random_input, "seed": args.seed}
    steps, batch = (int(n) for n in next(iter(inputs.values())).shape[:2])
    input_desc |= {"steps": steps, "batch": batch}
    dt = program.dt
    what = (f"input {args.input}" if args.input is not None else
            f"Bernoulli({args.random_input}) input, seed {args.seed}")
    console.print(f"verifying {args.artifact} ({program.target}, dt = {dt:g} s): {steps} steps "
                  f"x {batch} samples of {what}", markup=False)
    console.print(f"against: {', '.join(against)} ({why})", markup=False)
    for w in source_warnings:
        console.print(f"warning: {w}", markup=False)

    from neurocc.simulators.emulator import Emulator

    timings: dict[str, float] = {}
    emu, timings["emulator"] = _timed(
        lambda: Emulator(program, target, tuple(program.groups) if oracles else ()).run(inputs),
        console, "emulator: compiling and running")
    verdict: dict[str, Any] = {"artifact": str(args.artifact), "target": program.target,
                               "dt": dt, "input": input_desc, "against": list(against)}
    if oracles:
        name = oracle.name
        other, timings[name] = _timed(lambda: oracle.run(program, inputs, tuple(program.groups)),
                                      console, f"{oracle.label}: building the network and "
                                               "running it in its own environment")
        runs = {}
        for who, res in (("emulator", emu), (name, other)):
            runs[who] = {g: {"spikes": res.spikes[g], **res.traces.get(g, {})}
                         for g in program.groups}
        report = V.compare_bit_exact(runs["emulator"], runs[name], list(program.groups))
        verdict[name] = report.to_json() | {"label": oracle.label, "python": str(oracle_python),
                                            f"{name}_timing_s": other.timing}
    if "reference" in against:
        from neurocc.simulators.reference import ReferenceSimulator

        try:
            graph = ir.load(source)
        except (ir.ModelFileError, ir.GraphError) as e:
            raise V.VerificationError(
                f"the artifact's copy of its model is damaged ({e}); compile the model again "
                "(`neurocc compile MODEL ... -o DIR`), or verify with --against lava only") from None
        if sorted(graph.inputs) != sorted(inputs):
            raise V.VerificationError(f"{source}: its inputs {graph.inputs} are not the "
                                      f"artifact's {sorted(inputs)}")
        sim = ReferenceSimulator(graph, dt)
        ref, timings["reference"] = _timed(lambda: sim.run(inputs), console,
                                           "float reference: compiling and running")
        latency = program.output_latency
        outputs = V.compare_outputs(emu.outputs, ref.outputs, latency,
                                    {p.name: p for p in program.outputs})
        verdict["reference"] = {
            "model": str(source), "latency_steps": {o.output: o.latency for o in outputs},
            "semantics": ref.semantics, "warnings": source_warnings + list(ref.warnings),
            "outputs": {o.output: o.to_json() for o in outputs}}
        for o in outputs:
            console.print(f"aligned '{o.output}' by its output latency: {o.alignment}",
                          markup=False)
        for w in ref.warnings:
            console.print(f"warning: {w}", markup=False)
    verdict["overflow"] = emu.overflow_report()
    verdict["timings_s"] = timings
    for line in verdict["overflow"]:
        console.print(f"overflow: {line}", markup=False)
    console.print("time: " + ", ".join(f"{k} {v:.2f} s" for k, v in timings.items())
                  + " (each including JIT compilation or Lava's process start)", markup=False)
    _print_verdict(verdict)
    if args.json is not None:
        text = json.dumps(verdict, indent=2, default=str) + "\n"
        _write_atomically(args.json, lambda f: f.write(text.encode()), suffix=".json.tmp")
        console.print(f"wrote {args.json}", markup=False)
    if oracles and not verdict[oracle.name]["bit_exact"]:
        print(f"error: the emulator and {oracle.label} disagree: a bug in neurocc's emulator or "
              f"its {oracle.name} bridge; please report it with this artifact and input",
              file=sys.stderr)
        return 1
    return 0


register(Command(
    name="verify",
    help="check an artifact: emulator vs Lava (bit for bit) and vs the float model",
    description="Run a compiled artifact on the emulator and compare it (1) with Intel "
                "Lava's fixed-point Loihi 2 models: spikes, u and v of every group must be "
                "equal at every step, else the first difference is named; (2) with the float "
                "reference simulator of the source model the artifact carries (source.nir, "
                "at the artifact's dt): output spikes are aligned by each output's latency D "
                "(the chip answers D steps later: emulator steps D..T-1 against float steps "
                "0..T-1-D) and measured as spike agreement, spike-count correlation and "
                "argmax agreement (over samples whose float winner is unique). Exit status "
                "1 when the emulator and Lava disagree (a neurocc bug); the float comparison "
                "is a measurement, never a failure.",
    epilog="examples:\n"
           "  neurocc verify out/braille --random-input 0.1 --steps 100 --batch 16 --seed 0\n"
           "  neurocc verify out/braille --input spikes.npy --against lava --json v.json",
    add_arguments=_add_verify_arguments,
    run=run_verify,
))


# --- profile (compiler/cli_profile.py) -------------------------------------------

from neurocc.compiler import cli_profile  # noqa: E402  (its helpers are imported when it runs)

register(Command(name="profile", help=cli_profile.HELP, description=cli_profile.DESCRIPTION,
                 epilog=cli_profile.EPILOG, add_arguments=cli_profile.add_arguments,
                 run=cli_profile.run_profile))


# --- entry points -------------------------------------------------------------


def _report_user_error(error: BaseException, debug: bool) -> int:
    if debug:
        traceback.print_exception(error)
    print(f"error: {type(error).__name__}: {error}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    """Run the ``neurocc`` command with `argv` (default: sys.argv[1:]); return the exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    # --debug must take effect even when parsing itself fails
    debug = "--debug" in argv
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help and --version print, then exit 0
        return int(e.code or 0)
    except ir.NeuroccError as e:
        return _report_user_error(e, debug)
    try:
        return int(args.run(args))
    except ir.NeuroccError as e:
        return _report_user_error(e, args.debug)


def console_main() -> None:
    """The ``neurocc`` console script."""
    sys.exit(main())
