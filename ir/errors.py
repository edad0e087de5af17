"""The errors a user can cause, one class per kind of mistake.

Every message names what is wrong, where (file, node, field), the number or
limit involved when there is one, and what to do about it. The command line
prints the message and exits with status 2; anything that is not a
``NeuroccError`` is a bug and keeps its traceback.
"""

from __future__ import annotations


class NeuroccError(Exception):
    """Base class of every error a user's input can cause."""


class ModelFileError(NeuroccError):
    """A model file is missing, truncated, not HDF5, or not laid out as NIR."""


class UnsupportedNodeError(NeuroccError):
    """A node type neurocc does not know, or a target cannot express."""


class GraphError(NeuroccError):
    """A graph that is structurally wrong: missing nodes, bad edges, bad values.

    ``problems`` lists every problem found, so a user fixes them all at once.
    """

    def __init__(self, problems: list[str], where: str = "graph") -> None:
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{where} has {len(self.problems)} problem(s):\n{lines}")


class ShapeError(GraphError):
    """Shapes that do not fit together along an edge or inside a node."""


class SimulationError(NeuroccError):
    """Bad simulator input: missing dt, wrong input shape or dtype."""


class ArtifactError(NeuroccError):
    """A compiled artifact that cannot be read: wrong version, missing file."""


class QuantizationError(NeuroccError):
    """Values that cannot be represented in the target's integer formats."""


class CapacityError(NeuroccError):
    """A network that does not fit the target's cores or chips."""


class TargetSpecError(NeuroccError):
    """A target description (TOML) with a missing, negative or mistyped field."""
