"""The ``neurocc`` command line: ``main`` (in-process, returns the exit code) and the console
script. One module per command; ``main.py`` builds the parser and reports errors."""

from __future__ import annotations

from .compile import parse_force
from .main import COMMANDS, console_main, main

__all__ = ["main", "console_main", "COMMANDS", "parse_force"]
