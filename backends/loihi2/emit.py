"""The Loihi 2 emitter: check a Program against the chip's design rules, write the artifact.

The artifact is the one of DESIGN.md (``manifest.json`` + ``program.npz``);
the emulator and the Lava oracle both consume it, as a chip's loader would.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from neurocc.ir import Program, save_program


def emit(program: Program, path: str | os.PathLike, target: Any) -> Path:
    """Validate `program` for Loihi 2 (`target`'s design rules) and write its artifact
    directory (atomically). Lava loads no file of its own: ``bridge.py`` builds its
    process graph from this artifact, as the oracle does."""
    target.validate(program)
    return save_program(program, path)
