"""Does a model fit a chip? Partition it against the target's per-core limits, no artifact."""

from __future__ import annotations

from typing import Any

from neurocc import ir

from .partition import Structure, plan_partition
from .pipeline import Discretize, Normalize, Quantize


def fit_target(graph: ir.Graph, target: Any, dt: float | None, options: Any) -> dict[str, Any]:
    """One row of `neurocc fit`: does the model fit `target`, and what does it use.

    A target neurocc can quantize for (given a dt) is measured on the quantized
    program; any other from the float graph's structure. ``fits`` is None when
    the answer is unknown (``message`` says why).
    """
    row: dict[str, Any] = {"target": target.name, "fits": None, "cores": None, "chips": None,
                           "binding": {}, "failures": [], "message": "", "basis": ""}
    if target.cores is None:
        row["message"] = "the target file has no [cores] table: capacities unknown"
        return row
    quantizable = target.can_quantize
    try:
        if quantizable and dt is not None:
            value: Any = graph
            for p in (Normalize(), Discretize(dt), Quantize(target)):
                value = p(value)
            row["basis"] = "quantized program"
            problems = target.problems(value)   # the chip's design rules, as compile applies them
            if problems:
                row.update(fits=False, message="breaks design rules: " + "; ".join(problems),
                           failures=[{"layer": "", "limit": p} for p in problems])
                return row
            structure = Structure.from_program(value)
        else:
            structure = Structure.from_graph(graph)
            row["basis"] = "float graph (one block per connection)"
        plan = plan_partition(structure, target, options)
    except ir.CapacityError as e:
        row["fits"] = False
        row["failures"] = getattr(e, "failures", [])
        row["message"] = str(e)
        return row
    except ir.NeuroccError as e:
        row["message"] = f"{type(e).__name__}: {e}"
        return row
    report = plan.report
    row.update(fits=True, cores=report["cores_used"], chips=report["chips_used"],
               binding={g: layer["binding"] for g, layer in report["layers"].items()},
               resources=report)
    return row
