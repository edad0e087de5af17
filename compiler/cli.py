"""The ``neurocc`` command: parse arguments, call the library, report.

Each subcommand is one small function registered in ``COMMANDS`` together
with the function that declares its options; adding ``compile``, ``verify``
or ``profile`` later means adding one more entry, not editing ``main``.

Exit codes: 0 success; 2 a user error (any ``NeuroccError``, a bad argument,
an unreadable file), printed as one ``error: Kind: message`` on stderr with
no traceback unless ``--debug``; 1 (with a traceback) for anything else,
because anything else is a bug in neurocc.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import traceback
from importlib import metadata
from pathlib import Path
from typing import Any, Callable

import numpy as np

from neurocc import ir

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
                    "neuromorphic chips, and simulates them in float to give the ground "
                    "truth a chip deployment is checked against.",
        epilog="examples:\n"
               "  neurocc inspect model.nir\n"
               "  neurocc simulate model.nir --dt 1e-4 --random-input 0.1 --steps 100 "
               "--batch 8 -o out.npz\n\n"
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


def _load_input_file(path: Path, graph: ir.Graph) -> dict[str, np.ndarray]:
    """Read --input: an .npy for a single Input node, or an .npz keyed by input name."""
    if not path.is_file():
        raise UsageError(f"{path}: no such file (--input)")
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise UsageError(f"{path}: not a numpy .npy/.npz file ({e})") from None
    if isinstance(data, np.ndarray):
        if len(graph.inputs) != 1:
            raise UsageError(f"{path}: the model has {len(graph.inputs)} Input nodes "
                             f"{graph.inputs}; give an .npz with one array per input name")
        return {graph.inputs[0]: data}
    with data:
        keys = sorted(data.files)
        if keys != graph.inputs:
            raise UsageError(f"{path}: has arrays {keys}, expected one per Input node: "
                             f"{graph.inputs}")
        return {k: data[k] for k in keys}


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
