"""What every command shares: the Command record, the console, argument types, atomic writes."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from neurocc.compiler.api.errors import UsageError

__all__ = ["Command", "UsageError", "make_console", "shape_str", "write_atomically",
           "check_writable_dir", "positive_float", "probability", "positive_int", "timed"]


@dataclasses.dataclass(frozen=True)
class Command:
    name: str
    help: str  # one line, shown in `neurocc --help`
    description: str  # shown in `neurocc NAME --help`
    epilog: str  # examples
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


# --- output -----------------------------------------------------------------------


def make_console(file: Any = None) -> Any:
    from rich.console import Console

    out = file or sys.stdout
    # A pipe or a captured stream has no width; 120 columns keeps tables unwrapped.
    width = None if getattr(out, "isatty", lambda: False)() else 120
    return Console(file=out, width=width, highlight=False, soft_wrap=True)


def shape_str(shape: tuple[int, ...] | None) -> str:
    return "-" if shape is None else "(" + ", ".join(str(int(s)) for s in shape) + ")"


def timed(fn: Callable[[], Any], console: Any = None, label: str = "") -> tuple[Any, float]:
    """fn() and its wall time; with a console, the step says what runs (a spinner on a
    terminal) and how long it took, so a long run is never silent."""
    t0 = time.perf_counter()
    if console is None:
        value = fn()
    else:
        console.print(f"{label} ...", markup=False)
        with console.status(label):
            value = fn()
        console.print(f"  done in {time.perf_counter() - t0:.1f} s", markup=False)
    return value, time.perf_counter() - t0


# --- files ------------------------------------------------------------------------


def write_atomically(path: Path, write: Callable[[Any], None], suffix: str) -> None:
    """Write via `write(fileobj)` to a temporary file beside `path`, then rename.

    A failure at any point leaves no file at `path` (and an existing one untouched).
    """
    check_writable_dir(path)
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


def add_artifact_arguments(p: argparse.ArgumentParser, input_required: bool = True) -> None:
    """ARTIFACT and, when `input_required`, --input: what run and profile take first."""
    p.add_argument("artifact", metavar="ARTIFACT", type=Path,
                   help="an artifact directory written by `neurocc compile`")
    if input_required:
        p.add_argument("--input", type=Path, required=True, metavar="IN.npy",
                       help="input spikes, time-major [T, B, *input_shape] (Loihi 2: any "
                            "non-zero is a spike; Xylo: whole event counts 0..255 per step and "
                            "channel, of which the chip uses at most 15); an .npz with one "
                            "array per input name for several inputs")


def write_json(path: Path, value: Any, default: Callable[[Any], Any] = str) -> None:
    """`value` as indented JSON at `path`, atomically (``write_atomically``)."""
    text = json.dumps(value, indent=2, default=default) + "\n"
    write_atomically(path, lambda f: f.write(text.encode()), suffix=".json.tmp")


def check_writable_dir(path: Path) -> None:
    """Fail before a long computation, not after it, when `path` cannot be written."""
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError(f"{path}: directory '{parent}' does not exist; create it first")
    if path.is_dir():
        raise UsageError(f"{path}: is a directory; give a file name such as {path / 'out.npz'}")


# --- argument types -----------------------------------------------------------------


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not np.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value


def probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be a probability in [0, 1], got {text}")
    return value


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {text}")
    return value
