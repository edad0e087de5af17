"""Tuning: pick, among the mappings a target's rules offer, the one that decides most
like the float model on sample inputs (never the test set).

A chip whose arithmetic cannot follow the float model exactly (Xylo's decays are
powers of two, its thresholds one integer a layer) offers knobs
(``rules.tuning_knobs(program)``: per layer, a parameter and the values worth
trying, such as rounding a decay down instead of to nearest, or a smaller threshold).
``tune`` walks them greedily, one knob at a time from the default mapping: each
value is compiled, run on the emulator over the samples, and scored by the argmax
agreement of its outputs' spike counts with the float reference (aligned by latency;
samples where the reference has no unique winner do not count). A value is kept only
when it wins a paired sign test against the best so far: of the samples where the
two disagree on agreeing with the float model, it must win more by over twice the
square root of their number (about 95 %), so that a few lucky samples do not pick
a mapping. Every trial is reported.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import numpy as np

from neurocc import ir
from neurocc.compiler import verification as V


def score(program: Any, target: Any, samples: dict[str, np.ndarray], reference: dict
          ) -> np.ndarray:
    """Per sample and spike output, whether the chip's most-spiking neuron is the float
    model's (only where the float model has a unique winner), as one boolean vector."""
    from neurocc.simulators.emulator import Emulator

    steps = next(iter(samples.values())).shape[0]
    latency = max(program.output_latency.values(), default=0)
    # the chip answers `latency` steps after the float model: run that much longer
    padded = {k: np.concatenate([v, np.zeros((latency,) + v.shape[1:], v.dtype)])
              for k, v in samples.items()}
    out = Emulator(program, target).run(padded).outputs
    found = []
    for p in program.outputs:
        if p.kind != "spikes":
            continue
        chip = out[p.name][p.latency:p.latency + steps].reshape(steps, -1, int(np.prod(p.shape)))
        f = reference[p.name][:steps].reshape(chip.shape).sum(axis=0)
        top = np.sort(f, axis=1)
        decided = top[:, -1] > top[:, -2] if f.shape[1] > 1 else np.ones(f.shape[0], bool)
        found.append((chip.sum(axis=0).argmax(axis=1) == f.argmax(axis=1))[decided])
    return np.concatenate(found) if found else np.zeros(0, bool)


def better(new: np.ndarray, old: np.ndarray) -> bool:
    """The paired sign test: `new` agrees where `old` does not more often, by > 2 sqrt(n)."""
    gains = int(np.sum(new & ~old))
    losses = int(np.sum(old & ~new))
    return bool(gains - losses > 2 * np.sqrt(gains + losses))


def tune(graph: ir.Graph, target: Any, dt: float, options: Any,
         samples: dict[str, np.ndarray], log: Callable[[str], None] | None = None
         ) -> tuple[Any, list[dict[str, Any]]]:
    """The options (``QuantizeOptions``, ``force`` extended) whose program agrees best with
    the float model on `samples`, and every trial: {"knob", "value", "agreement", "kept"}."""
    from neurocc.compiler.pipeline import compile_graph
    from neurocc.simulators.reference import ReferenceSimulator

    knobs = getattr(target.rules, "tuning_knobs", None)
    reference = ReferenceSimulator(graph, dt).run(samples).outputs
    base = compile_graph(graph, target, dt, options)
    best = score(base, target, samples, reference)
    rate = lambda a: float(a.mean()) if a.size else None  # noqa: E731
    trials = [{"knob": "default", "value": None, "agreement": rate(best), "kept": True}]
    say = log or (lambda _: None)
    say(f"  tune: default mapping agrees with the float model on {100 * (rate(best) or 0):.2f} % "
        f"of {best.size} decided samples")
    if knobs is None:
        return options, trials
    for group, param, values in knobs(base):
        for value in values:
            force = {g: dict(f) for g, f in options.force.items()}
            force.setdefault(group, {})[param] = value
            trial = dataclasses.replace(options, force=force)
            try:
                program = compile_graph(graph, target, dt, trial)
                target.validate(program)
            except ir.NeuroccError as e:
                trials.append({"knob": f"{group}.{param}", "value": value, "agreement": None,
                               "kept": False, "error": str(e).splitlines()[0]})
                continue
            s = score(program, target, samples, reference)
            kept = better(s, best)
            trials.append({"knob": f"{group}.{param}", "value": value, "agreement": rate(s),
                           "kept": kept})
            say(f"  tune: {group}.{param} = {value}: {100 * (rate(s) or 0):.2f} %"
                + (" (kept)" if kept else ""))
            if kept:
                best, options = s, trial
    return options, trials
