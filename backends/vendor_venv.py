"""A vendor simulator in a virtualenv of its own, driven through a subprocess and files.

Lava (``loihi2/lava``) and xylosim (``xylo/xylosim``) each pin packages that clash
with ours, so each lives in its own venv, built by a ``make`` target that writes a
stamp when done, and runs a runner script there. This is what they share: finding
the venv's interpreter (an environment variable wins; else the first venv with its
stamp in the current directory, its parents, or next to the sources), and starting
the runner with an environment that does not leak ours, with the errors that say
which interpreter failed and how to build the right one.
"""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
from pathlib import Path


def clean_env() -> dict[str, str]:
    """Our environment without what would leak into a vendor's venv (PYTHONPATH, PYTHONHOME,
    user site-packages)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["PYTHONNOUSERSITE"] = "1"
    return env


@dataclasses.dataclass(frozen=True)
class VendorVenv:
    what: str                 # "Lava", "Xylo": for messages
    venv: str                 # the folder name, ".venv-lava"
    stamp: str                # the file build_venv.sh writes last
    env_var: str              # an interpreter to use instead
    make: str                 # the make target that builds the venv
    packages: str             # what the venv holds, for messages
    build_script: Path
    unavailable: type         # the NeuroccError for a missing or wrong interpreter
    build_time: str = "about a minute"

    def candidates(self, here: Path) -> list[Path]:
        """Where the venv may be: the current directory and its parents, then `here` and
        its parents (the repository root, in a checkout)."""
        roots: list[Path] = []
        for start in (Path.cwd(), here):
            for d in (start, *start.parents):
                if d not in roots:
                    roots.append(d)
        return [r / self.venv for r in roots]

    def fix(self) -> str:
        return (f"Point {self.env_var} at the python of a venv with {self.packages}, or unset it "
                f"and run `make {self.make}` to build {self.venv}.")

    def python(self, candidates: list[Path]) -> Path:
        """The interpreter: ``$env_var`` when set, else the first finished venv found."""
        override = os.environ.get(self.env_var)
        if override:
            path = Path(override)
            if not path.exists():
                raise self.unavailable(
                    f"{self.env_var}={override} does not exist. Point it at the {self.what} "
                    f"venv's python, or unset it and run `make {self.make}` to build {self.venv}.")
            return path
        for venv in candidates:
            python = venv / "bin" / "python"
            if python.exists() and (venv / self.stamp).exists():
                return python
            if python.exists():
                raise self.unavailable(
                    f"{venv} exists but is not finished (no {self.stamp} stamp). Run "
                    f"`make {self.make}` (or `bash {self.build_script} {venv}`) to complete it.")
        raise self.unavailable(
            f"the {self.what} virtualenv {self.venv} was not found (looked in {candidates[0]} "
            f"and its parents, and next to the neurocc sources). Run `make {self.make}` in the "
            f"repository root to build it ({self.build_time}), or set {self.env_var} to an "
            f"interpreter with {self.packages}.")

    def available(self, candidates: list[Path]) -> bool:
        """Whether a finished venv (or the env var's interpreter) is found; starts nothing."""
        try:
            self.python(candidates)
        except self.unavailable:
            return False
        return True

    def run(self, interpreter: Path, args: list[str], timeout: float | None,
            on_timeout: type, timeout_message: str) -> subprocess.CompletedProcess:
        """Run `interpreter args...` with a clean environment. A timeout raises `on_timeout`;
        an interpreter that cannot start, or lacks the vendor's modules, `unavailable`."""
        try:
            proc = subprocess.run([str(interpreter), *args], capture_output=True, text=True,
                                  timeout=timeout, env=clean_env())
        except subprocess.TimeoutExpired as err:
            raise on_timeout(timeout_message) from err
        except OSError as err:  # not a file that can be executed
            raise self.unavailable(f"{interpreter}: cannot be started as the {self.what} "
                                   f"interpreter ({err.strerror or err}). {self.fix()}") from None
        missing = re.search(r"ModuleNotFoundError: No module named '([^']+)'", proc.stderr or "")
        if proc.returncode != 0 and missing:  # an interpreter, but not the vendor venv's
            raise self.unavailable(f"{interpreter} has no module '{missing.group(1)}', so it is "
                                   f"not the {self.what} venv's python. {self.fix()}")
        return proc
