"""The artifact directory: write it (with the source model and, for a user-described chip,
its TOML beside it) as one atomic rename; read it back with the target it was built for."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from neurocc import ir
from neurocc.compiler.verification import SOURCE_NAME

from .errors import UsageError

#: a user-described target's TOML, copied into its artifacts so that run, verify and
#: profile find the same chip (a shipped target is found by its name)
TARGET_NAME = "target.toml"


def resolve_target(text: Any, option: str = "--") -> Any:
    """A shipped target's name (``neurocc targets`` lists them), or the path of a target .toml.

    A target object passes through unchanged.
    """
    from neurocc.backends import get_target

    if not isinstance(text, (str, os.PathLike)):
        if hasattr(text, "spec") and hasattr(text, "name"):
            return text
        raise UsageError(f"target: expected a target name (see neurocc.targets()), the path of "
                         f"a target .toml or a target object, got {type(text).__name__}")
    try:
        return get_target(text)
    except ir.TargetSpecError as e:
        if str(e).startswith(f"target {str(text)!r}:"):   # not found: say it of the option
            raise UsageError(f"{option}{e}") from None
        raise


def load_artifact(path: Path) -> ir.Program:
    """The program of an artifact directory (a UsageError that says how to make one)."""
    path = Path(path)
    if not path.exists():
        raise UsageError(f"{path}: no such artifact directory; make one with `neurocc compile "
                         "MODEL --target loihi2 --dt DT -o DIR`")
    return ir.load_program(path)


def artifact_target(path: Path, program: ir.Program) -> Any:
    """The target an artifact was compiled for: its own target.toml, else the shipped
    target of its name."""
    from neurocc.backends import TARGETS, load_target

    own = Path(path) / TARGET_NAME
    if own.is_file():
        target = load_target(own)
    elif program.target not in TARGETS:
        raise UsageError(f"{path}: compiled for '{program.target}', which is no shipped target, "
                         f"and the artifact holds no {TARGET_NAME}; compile it again")
    else:
        target = TARGETS[program.target]()
    # the design rules, on every load and not only after compile: an edited program.npz
    # with values the chip cannot hold would otherwise run (a vth beyond its bits, say)
    problems = target.problems(program)
    if problems:
        shown = "; ".join(problems[:4]) + (f"; and {len(problems) - 4} more" if len(problems) > 4
                                            else "")
        raise ir.ArtifactError(f"{path}: holds values {target.name} cannot: {shown}. The "
                               "artifact was edited or damaged; compile the model again")
    return target


def check_artifact_destination(out: Path) -> None:
    """Refuse before compiling, not after, to replace something that is no artifact."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out}: exists and is a file; -o names the artifact DIRECTORY")
    if out.is_dir() and any(out.iterdir()) and not (out / "manifest.json").exists():
        raise UsageError(f"{out}: exists and is not a neurocc artifact; refusing to overwrite it "
                         "(choose another -o)")


def write_artifact(program: ir.Program, model: Path, out: Path, target: Any) -> None:
    """The artifact with the source model beside it, as one atomic rename.

    The target's ``emit`` writes manifest.json and program.npz into a staging
    directory next to OUT; the model is copied in; then the whole directory
    replaces OUT. A failure anywhere leaves OUT as it was (or absent).
    """
    out = Path(out)
    check_artifact_destination(out)
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
        check_artifact_destination(out)
        if out.exists():
            shutil.rmtree(out)
        os.replace(built, out)
    except OSError as e:
        raise UsageError(f"{out}: cannot write the artifact ({e.strerror or e})") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
