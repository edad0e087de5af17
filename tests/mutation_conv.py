"""The Conv conformance tests' power: one-token mutants of the emulator's convolution
must fail them.

    make mutation        (with the Xylo check; this part takes a few minutes on 2 cores)

Each mutant changes one token of simulators/emulator/structured.py (the padding before
an axis dropped, the kernel's dilation dropped, the stride read from the dilation: these
change the output's shape and are caught by failing to run; the kernel flipped as a true
convolution would, the padding sides swapped, the kernel's input or output channels
reversed: these keep every shape and only the values catch them), is loaded as its own
module in place of the emulator's accumulator, and runs tests/test_lava_conv.py's
seeded random Conv programs (convolutions from an input and from groups, 1-d,
recurrent, delayed; strides, padding, dilation, groups) on the emulator; a program
catches the mutant when any group's spikes, u or v differ from Lava's Conv process.
Prints how many programs catch each mutant, writes bench/results/mutation_conv.json
and exits 1 when a mutant escapes most programs.

Not here: padding after an axis taken from before it. Lava's Conv pads both sides
alike, so on every geometry it can run that mutant computes the same sums (it only
reads inputs no window uses); tests/test_emulator_encodings.py's uneven-padding case,
against the same block in Dense, catches it instead.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from neurocc.backends.loihi2.bridge import run_on_lava  # noqa: E402
from neurocc.simulators import emulator as emulator_pkg  # noqa: E402
from neurocc.simulators.emulator import Emulator, driver  # noqa: E402

import test_lava_conv as suite  # noqa: E402

SOURCE = Path(emulator_pkg.__file__).parent / "structured.py"
#: random programs each mutant runs (the first seeds the generator accepts)
PROGRAMS = 10
#: label: (original text, mutant text), each a one-token change of structured.py
MUTANTS = {
    "padding before an axis dropped": (
        "self.padding = tuple(zip(g.padding, g.pad_after(conv.taps)))",
        "self.padding = tuple(zip((0,) * g.ndim, g.pad_after(conv.taps)))"),
    "kernel dilation dropped": ("rhs_dilation=self.dilation,", "rhs_dilation=None,"),
    "stride read from the dilation": (
        "self.stride, self.dilation, self.groups = tuple(g.stride),",
        "self.stride, self.dilation, self.groups = tuple(g.dilation),"),
    "kernel flipped (a true convolution)": (
        "kernel = np.asarray(conv.kernel).astype(np.int64)",
        "kernel = np.asarray(conv.kernel)[..., ::-1].astype(np.int64)"),
    # the rest keep every shape, so only the values can catch them
    "padding before and after swapped": (
        "self.padding = tuple(zip(g.padding, g.pad_after(conv.taps)))",
        "self.padding = tuple(zip(g.pad_after(conv.taps), g.padding))"),
    "kernel's input channels reversed": (
        "kernel = np.asarray(conv.kernel).astype(np.int64)",
        "kernel = np.asarray(conv.kernel)[:, ::-1].astype(np.int64)"),
    "kernel's output channels reversed": (
        "kernel = np.asarray(conv.kernel).astype(np.int64)",
        "kernel = np.asarray(conv.kernel)[::-1].astype(np.int64)"),
}


def mutant_module(old: str, new: str):
    text = SOURCE.read_text()
    assert text.count(old) == 1, f"structured.py: the mutated text must occur once: {old!r}"
    name = "neurocc.simulators.emulator._mutant_structured"
    spec = importlib.util.spec_from_loader(name, loader=None)
    module = importlib.util.module_from_spec(spec)
    module.__package__ = "neurocc.simulators.emulator"
    exec(compile(text.replace(old, new), "<mutant structured.py>", "exec"), module.__dict__)
    return module


def same(emu, lava, groups) -> bool:
    return all(np.array_equal(emu.spikes[g], lava.spikes[g]) and all(
        np.array_equal(emu.traces[g][k], lava.traces[g][k]) for k in ("u", "v")) for g in groups)


def main() -> int:
    t0 = time.time()
    cases = []
    for seed in range(100):
        if len(cases) == PROGRAMS:
            break
        try:
            program = suite.conv_program(seed)
        except AssertionError:   # a draw the generator itself rejects (its design-rule check)
            continue
        x = suite.random_inputs(program, 24, 2, seed)
        groups = list(program.groups)
        lava = run_on_lava(program, x, record=groups)
        # the unmutated emulator must agree, or the count below means nothing
        assert same(Emulator(program, suite.LOIHI2, record=groups).run(x), lava, groups), seed
        cases.append((program, x, groups, lava))
    rows, failed = {}, []
    original = driver.accumulator
    for label, (old, new) in MUTANTS.items():
        driver.accumulator = mutant_module(old, new).accumulator
        caught = crashed = 0
        try:
            for program, x, groups, lava in cases:
                try:
                    emu = Emulator(program, suite.LOIHI2, record=groups).run(x)
                    caught += not same(emu, lava, groups)
                except Exception:   # a mutant that cannot even run is caught (and counted apart)
                    caught += 1
                    crashed += 1
        finally:
            driver.accumulator = original
        rows[label] = {"caught": caught, "of_which_crashed": crashed}
        print(f"{label:40s} caught by {caught:2d} / {len(cases)} programs"
              + (f" ({crashed} by failing to run)" if crashed else ""), flush=True)
        if caught * 2 <= len(cases):
            failed.append(label)
    out = HERE.parent / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "mutation_conv.json").write_text(json.dumps(
        {"programs": len(cases), "caught": rows, "seconds": time.time() - t0}, indent=2))
    if failed:
        print(f"escaped most programs: {failed}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
