"""Loihi 2's oracle: Intel Lava 0.10's fixed-point models, in their own virtualenv.

``lava/`` builds and drives the venv (``make lava``) through a subprocess and
files; ``bridge.py`` turns a Program and a batch of inputs into one Lava
network. This file is the oracle-table entry the driver uses.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


class LavaOracle:
    """Runs a Program on Lava's bit-accurate Loihi 2 models (``ir.target.Oracle``)."""

    name = "lava"
    label = "Lava fixed_pt"

    @staticmethod
    def locate() -> Path:
        """The Lava interpreter; a LavaUnavailableError (a NeuroccError) says how to build it."""
        from .lava import lava_python

        return lava_python()

    @staticmethod
    def run(program: Any, inputs: Any, record: tuple[str, ...] = (), timeout: float = 1200) -> Any:
        from .bridge import run_on_lava

        return run_on_lava(program, inputs, record, timeout=timeout)
