"""Conformance: the emulator against each target's vendor simulator, bit for bit.

One test, parametrized over targets: Loihi 2 against Intel's Lava (52 seeded
networks, built and run on Lava in tests/test_emulator.py: every spike, u and v),
and every Xylo chip against SynSense's XyloSim. For each Xylo chip, 50 seeded
random Programs (tests/xylo_programs.py, aimed at the traps
of docs/xylo-arithmetic.md): every hidden and readout neuron's Isyn, Isyn2, Vmem
and spike count must equal xylosim's at every step. The emulator runs a chip's
seeds merged into a few programs (one JAX compile each); xylosim runs each seed
on its own (one configuration per run: a matrix has one shift), in a background
thread while JAX compiles. ``test_xylo_programs_reach_the_traps`` checks, on
xylosim's own records, that the seeds do reach each trap.

Needs ``.venv-xylo`` (``make xylo``); without it the tests fail saying so.
"""

from __future__ import annotations

import concurrent.futures
import functools

import numpy as np
import pytest

from neurocc.backends import get_target
from neurocc.compiler.verification import compare_bit_exact
from neurocc.simulators.emulator import Emulator

import test_emulator as loihi
from xylo_programs import KINDS, merged, random_program, raster

CHIPS = ("xylo_audio2", "xylo_imu", "xylo_audio3")
SEEDS = range(50)
#: seeds per emulator compile, steps, batch
CHUNK, STEPS, BATCH = 25, 200, 2
_POOL = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="xylosim")


@functools.cache
def target(chip: str):
    return get_target(chip)


@functools.cache
def program(chip: str, seed: int):
    return random_program(1000 * CHIPS.index(chip) + seed, target(chip))


def inputs(chip: str, chunk: int) -> np.ndarray:
    return raster(77 + 10 * CHIPS.index(chip) + chunk, STEPS, BATCH)


@functools.cache
def _oracle_future(chip: str, seed: int) -> concurrent.futures.Future:
    p, _ = program(chip, seed)
    x = inputs(chip, seed // CHUNK)
    return _POOL.submit(target(chip).oracle.run, p, x, tuple(p.groups))


@functools.cache
def emulated(chip: str, chunk: int):
    seeds = [s for s in SEEDS if s // CHUNK == chunk]
    for s in seeds:   # xylosim starts on them while JAX compiles
        _oracle_future(chip, s)
    big = merged([program(chip, s)[0] for s in seeds], chip)
    return Emulator(big, target(chip), record=tuple(big.groups)).run(inputs(chip, chunk))


def records(result, groups) -> dict:
    return {g: {"spikes": result.spikes[g], **result.traces[g]} for g in groups}


def xylo_case(chip: str, seed: int, request) -> tuple[list[str], object, object, str]:
    p, kind = program(chip, seed)
    return list(p.groups), emulated(chip, seed // CHUNK), _oracle_future(chip, seed).result(), kind


def xylo_variables(group: str) -> tuple[str, ...]:
    return ("spikes", "isyn", "v") if group.endswith(".out") else ("spikes", "isyn", "isyn2", "v")


#: per target: the variables every group records (all compared), and its cases
VARIABLES = {"loihi2": lambda g: ("spikes", "u", "v"), **{c: xylo_variables for c in CHIPS}}
CASES = [("loihi2", s) for s in loihi.SEEDS] + [(c, s) for c in CHIPS for s in SEEDS]


@pytest.mark.parametrize("chip,seed", CASES, ids=[f"{c}-seed={s}" for c, s in CASES])
def test_random_program_matches_the_vendor_simulator(chip: str, seed: int, request) -> None:
    run = loihi.check_random_network if chip == "loihi2" else functools.partial(xylo_case, chip)
    groups, emu, oracle, kind = run(seed, request)
    report = compare_bit_exact(records(emu, groups), records(oracle, groups), groups)
    assert sorted(report.compared) == sorted(f"{g}.{v}" for g in groups for v in VARIABLES[chip](g))
    assert report.bit_exact, (f"{chip} seed={seed} ({kind}): first difference "
                              f"{report.first}; differing {report.differing}")


@pytest.mark.parametrize("chip", CHIPS)
def test_xylo_programs_reach_the_traps(chip: str) -> None:
    """On xylosim's own records: the seeds reach every corner the suite claims to cover."""
    hit = dict.fromkeys(("isyn at +-int16", "vmem at -32768", "31 spikes in a step",
                         "readout spikes", "multi-spike", "dash 0", "dash 15",
                         "input count > 15", "wrapped weight", "isyn2 used"), 0)
    for seed in SEEDS:
        p, kind = program(chip, seed)
        sim = _oracle_future(chip, seed).result()
        x = inputs(chip, seed // CHUNK)
        for g, grp in p.groups.items():
            tr = sim.traces[g]
            hit["isyn at +-int16"] += int(np.sum(np.abs(tr["isyn"]) >= 32767))
            hit["vmem at -32768"] += int(np.sum(tr["v"] == -32768))
            hit["isyn2 used"] += int(np.sum(tr.get("isyn2", 0) != 0))
            s = sim.spikes[g]
            if grp.model == "xylo.lif":
                hit["31 spikes in a step"] += int(np.sum(s == 31))
                hit["multi-spike"] += int(np.sum(s > 1))
            else:
                hit["readout spikes"] += int(np.sum(s))
                assert s.max() <= 1
            hit["dash 0"] += int(np.sum(grp.params["dash_mem"] == 0))
            hit["dash 15"] += int(np.sum(grp.params["dash_mem"] == 15))
        hit["input count > 15"] += int(np.sum(x > 15))
        hit["wrapped weight"] += int(any(b.weight_exp >= 9 for b in p.synapses))
    if target(chip).formats.synapses < 2:
        hit.pop("isyn2 used")
    missing = [k for k, v in hit.items() if v == 0]
    assert not missing, f"{chip}: the random programs never reach {missing} ({hit})"
    assert len(KINDS) <= len(SEEDS)
