"""Time xylosim's own simulation, inside the Xylo venv (a helper of bench/xylo.py).

Run with the Xylo venv's interpreter, never the project's (it imports xylosim)::

    .venv-xylo/bin/python bench/helpers/xylosim_timing.py IN.npz EVOLVE_REPEATS RUNNER_REPEATS

IN.npz is what ``run_xylosim`` writes for ``backends/xylo/xylosim/runner.py``
(the configuration, ``raster`` (T, B, Nin), ``chip``, ``via``). The layer is
built by that runner's own ``LayerSim`` (imported from the runner, so this file
times exactly what ``run_xylosim`` runs, and copies no xylosim code). Timed,
each with ``time.perf_counter``:

* ``build_s``: ``LayerSim(spec)``, i.e. the XyloSynapse lists and XyloLayer;
* ``evolve_s``: per repeat, the sum over samples of ``reset_all()`` plus
  ``evolve(raster[:, b])`` alone, the input already converted to the nested
  lists ``evolve`` takes; the minimum and the median over EVOLVE_REPEATS;
* ``runner_s``: per repeat, the sum over samples of ``LayerSim.run``, what the
  runner does per sample: the same, plus converting the input to lists and
  reading every recorded state back into numpy arrays; minimum and median
  over RUNNER_REPEATS.

Prints one JSON object on stdout.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

RUNNER_DIR = Path(__file__).resolve().parents[2] / "backends" / "xylo" / "xylosim"


def main(argv: list[str]) -> int:
    if len(argv) != 4:
        print(f"usage: {argv[0]} IN.npz EVOLVE_REPEATS RUNNER_REPEATS "
              "(run by bench/xylo.py with .venv-xylo's python)", file=sys.stderr)
        return 2
    sys.path.insert(0, str(RUNNER_DIR))
    import runner  # neurocc's runner: standard library, numpy and xylosim only

    spec = runner.load_spec(argv[1])
    evolve_repeats, runner_repeats = int(argv[2]), int(argv[3])
    raster = spec["raster"]
    steps, batch, _ = raster.shape
    lists = [raster[:, b].tolist() for b in range(batch)]

    t0 = time.perf_counter()
    sim = runner.LayerSim(spec)
    build = time.perf_counter() - t0
    layer = sim.layer

    evolve, run = [], []
    for _ in range(evolve_repeats):
        total = 0.0
        for b in range(batch):
            t0 = time.perf_counter()
            layer.reset_all()
            layer.evolve(lists[b])
            total += time.perf_counter() - t0
        evolve.append(total)
    for _ in range(runner_repeats):
        t0 = time.perf_counter()
        for b in range(batch):
            sim.run(raster[:, b])
        run.append(time.perf_counter() - t0)
    print(json.dumps({
        "steps": steps, "batch": batch, "evolve_repeats": evolve_repeats,
        "runner_repeats": runner_repeats, "build_s": build,
        "evolve_s_min": min(evolve), "evolve_s_median": statistics.median(evolve),
        "runner_s_min": min(run), "runner_s_median": statistics.median(run),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
