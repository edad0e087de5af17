"""The one error the driver adds to ``ir``'s: a bad argument."""

from __future__ import annotations

from neurocc import ir


class UsageError(ir.NeuroccError):
    """A bad argument (on the command line or to the Python API), or a file named by one
    that cannot be read or written."""
