"""``python -m neurocc.compiler.cli ...``: the same as the ``neurocc`` command."""

from .main import console_main

console_main()
