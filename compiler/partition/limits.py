"""The per-core resources partitioning checks, and the one CapacityError that lists broken limits.

Every module of the package that refuses a network builds its error here, so
the message layout (a header, then one ``  - `` line per problem) and the
``.failures`` list that `neurocc fit` reads are the same everywhere.
"""

from __future__ import annotations

import math

from neurocc.ir import CapacityError

#: the per-core resources, in the order reports list them
RESOURCES = ("neurons", "synapse_memory_bits", "fan_in", "fan_out", "routing_entries")
#: the CoreLimits field that bounds each resource
LIMIT_FIELD = {"neurons": "max_neurons", "synapse_memory_bits": "synapse_memory_bits",
               "fan_in": "max_fan_in", "fan_out": "max_fan_out",
               "routing_entries": "routing_entries"}


def as_limit(value: int) -> float:
    """A limit as a number to compare with: a target's 0 means none (infinite)."""
    return math.inf if value == 0 else float(value)


def capacity_error(header: str, problems: list[tuple[str, str, str]]) -> CapacityError:
    """One CapacityError listing every problem; ``.failures`` keeps (layer, limit) of each."""
    if len(problems) == 1 and not header:
        err = CapacityError(problems[0][2])
    else:
        err = CapacityError(header + "\n" + "\n".join(f"  - {m}" for _, _, m in problems))
    err.failures = [{"layer": layer, "limit": field} for layer, field, _ in problems]
    return err
