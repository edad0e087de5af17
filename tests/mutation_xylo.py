"""The Xylo conformance suite's power: one-token mutants of the kernel must fail it.

    make mutation        (about 10 minutes on 2 cores; not part of `make test`)

Each mutant changes one token of backends/xylo/kernel.py or synapse.py (a ``>=``
made ``>``, a saturation dropped, a shift off by one, ...), is loaded as its own
module, and runs the suite's 50 seeded Xylo Audio 2 programs
(tests/test_conformance.py, the same programs and inputs) on the emulator; a
program catches the mutant when any spike or state differs from xylosim's
record. Prints, per mutant, how many of the 50 programs catch it, writes
bench/results/mutation_xylo.json, and exits 1 when a mutant escapes every
program or most of them.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from neurocc.backends import xylo  # noqa: E402
from neurocc.simulators.emulator import Emulator  # noqa: E402

import test_conformance as suite  # noqa: E402
from xylo_programs import merged  # noqa: E402

CHIP = "xylo_audio2"
SOURCE = Path(xylo.__file__).parent
#: (file, original text, mutant text): each a one-token change
MUTANTS = {
    "spike on v > threshold (not >=)": ("kernel.py", "n = jnp.where(v >= thr,", "n = jnp.where(v > thr,"),
    "decay shift off by one": ("kernel.py", "    d = x >> dash\n", "    d = x >> (dash + 1)\n"),
    "no minimum decay step": ("kernel.py", "return x - jnp.where((d == 0) & (x > 0), 1, d)", "return x - d"),
    "membrane saturation dropped": ("kernel.py", "    new = sat16(raw)\n", "    new = raw\n"),
    "no int16 wrap of -d(v)": ("kernel.py", "dv = wrap16(-jnp.where(", "dv = (-jnp.where("),
    "hidden spike cap 32": ("kernel.py", "jnp.minimum(v // thr, self.cap)", "jnp.minimum(v // thr, self.cap + 1)"),
    "readout reset dropped": ("kernel.py", "v = jnp.where(spike, v - p[\"threshold\"], v)", "v = v"),
    "saturate the block's sum once": ("kernel.py", "x = jnp.clip(raw, s[..., 1, :], s[..., 2, :])", "x = sat16(raw)"),
    "weights not narrowed to int16": ("synapse.py", "return (((x - LO) & 0xFFFF) + LO).astype(np.int32)", "return x.astype(np.int32)"),
    "compose: floor ignores the later map": ("synapse.py", "jnp.minimum(jnp.maximum(la + sb, lb), hb)", "jnp.minimum(la + sb, hb)"),
}


def mutant_target(file: str, old: str, new: str):
    text = (SOURCE / file).read_text()
    assert text.count(old) == 1, f"{file}: the mutated text must occur once: {old!r}"
    name = f"neurocc.backends.xylo._mutant_{file[:-3]}"
    spec = importlib.util.spec_from_loader(name, loader=None)
    module = importlib.util.module_from_spec(spec)
    module.__package__ = "neurocc.backends.xylo"
    exec(compile(text.replace(old, new), f"<mutant {file}>", "exec"), module.__dict__)
    t = suite.target(CHIP)
    if file == "kernel.py":
        return dataclasses.replace(t, kernels=module.kernels(t.formats.max_hidden_spikes))
    return dataclasses.replace(t, synapses=module.XyloSynapses(t.formats.max_input_count))


def main() -> int:
    seeds = list(suite.SEEDS)
    chunks = sorted({s // suite.CHUNK for s in seeds})
    t0 = time.time()
    oracle = {s: suite._oracle_future(CHIP, s).result() for s in seeds}
    rows, failed = {}, []
    for label, (file, old, new) in MUTANTS.items():
        target = mutant_target(file, old, new)
        caught = 0
        for c in chunks:
            members = [s for s in seeds if s // suite.CHUNK == c]
            big = merged([suite.program(CHIP, s)[0] for s in members], CHIP)
            emu = Emulator(big, target, record=tuple(big.groups)).run(suite.inputs(CHIP, c))
            for s in members:
                p, _ = suite.program(CHIP, s)
                same = all(np.array_equal(emu.spikes[g], oracle[s].spikes[g]) and all(
                    np.array_equal(emu.traces[g][k], oracle[s].traces[g][k]) for k in oracle[s].traces[g])
                    for g in p.groups)
                caught += not same
        rows[label] = caught
        print(f"{label:40s} caught by {caught:2d} / {len(seeds)} programs", flush=True)
        if caught * 2 <= len(seeds):
            failed.append(label)
    out = HERE.parent / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "mutation_xylo.json").write_text(json.dumps(
        {"chip": CHIP, "programs": len(seeds), "caught": rows, "seconds": time.time() - t0}, indent=2))
    if failed:
        print(f"escaped most programs: {failed}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
