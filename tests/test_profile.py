"""The profiler: counts worked out by hand on small Programs, the synaptic ops equal to the
events the emulator processed on Braille, records that add up, energy, `neurocc profile`.

The hand-checked tests feed the profiler a run written out by hand (spikes, v traces),
so every number below can be recomputed on paper from the comments.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import shutil
import subprocess
import types
from pathlib import Path

import numpy as np
import pytest

from neurocc.backends.loihi2 import target
from neurocc.compiler.cli import main
from neurocc.compiler.pipeline import compile_graph
from neurocc.ir import InputPort, NeuronGroup, OutputPort, Program, SynapseBlock, load, save_program
from neurocc.simulators import profile as P
from neurocc.simulators.emulator import Emulator
from neurocc.backends import get_target as _get_target  # noqa: E402

LOIHI2 = _get_target("loihi2")
from cli_helpers import assert_user_error, run_cli

FIXTURES = Path(__file__).parent / "fixtures" / "nir-paper"
BRAILLE = FIXTURES / "braille_noDelay_bias_zero.nir"
MODEL = "loihi2.cuba_lif"


def lif(n: int) -> dict[str, np.ndarray]:
    # du 4095 and dv 4096: u and v forget everything each step; vth 1 -> theta 64
    return {"du": np.array(4095, np.int32), "dv": np.array(4096, np.int32),
            "vth": np.array(1, np.int32), "bias_mant": np.zeros(n, np.int32),
            "bias_exp": np.zeros(n, np.int32)}


def hand_program() -> Program:
    """3 inputs -> A (2 neurons) -> B (2 neurons)."""
    w_in = np.array([[5, 0, 7],
                     [0, 0, 9]], np.int32)   # fan-out of inputs 0, 1, 2: 1, 0, 2; 3 zeros of 6
    w_ab = np.array([[3, 0],
                     [4, 0]], np.int32)      # fan-out of A0, A1: 2, 0; 2 zeros of 4
    groups = {"A": NeuronGroup("A", MODEL, (2,), lif(2)), "B": NeuronGroup("B", MODEL, (2,), lif(2))}
    blocks = [SynapseBlock("in->A", "in", "A", w_in, 0, 8, "excitatory"),
              SynapseBlock("A->B", "A", "B", w_ab, 0, 8, "excitatory")]
    return Program("loihi2", groups, blocks, [InputPort("in", (3,))],
                   [OutputPort("out", "B", (2,))], {"dt": 1e-3}, dt=1e-3)


def hand_run() -> tuple[np.ndarray, types.SimpleNamespace]:
    """T = 4 steps, B = 2 samples; the spikes and A's v as written below."""
    x = np.zeros((4, 2, 3), np.int8)
    x[0, 0] = [1, 1, 1]     # synops 1 + 0 + 2 = 3
    x[1, 0] = [0, 1, 0]     # input 1 has no synapse: 0
    x[2, 1] = [0, 0, 1]     # 2
    a = np.zeros((4, 2, 2), np.int8)
    a[1, 0] = [1, 1]        # synops into B: 2 + 0
    a[2, 1] = [1, 0]        # 2
    b = np.zeros((4, 2, 2), np.int8)
    b[2, 0] = [1, 0]
    v = np.zeros((4, 2, 2), np.int32)
    v[2:, 0, 0] = 5         # sample 0, neuron 0: v 0 0 5 5
    result = types.SimpleNamespace(spikes={"A": a, "B": b}, traces={"A": {"v": v}},
                                   counters={"synaptic_events": {}})
    return x, result


# --- counted by hand ---------------------------------------------------------------


def test_counts_on_a_hand_run_match_the_hand_count():
    x, result = hand_run()
    t = target()
    prof = P.profile(hand_program(), result, x, t)
    a, b = prof.groups["A"], prof.groups["B"]
    assert (a.spikes, b.spikes) == (3, 1)
    assert (a.synops, b.synops) == (5, 4)                  # charged to the target group
    assert (a.dense_macs, b.dense_macs) == (6 * 4 * 2, 4 * 4 * 2)
    assert (a.weights, a.zero_weights, b.weights, b.zero_weights) == (6, 3, 4, 2)
    # A: sample 0 updates at step 0 (2, all), step 1 (2, spikes; v stays 0), step 2 (1, v 0->5),
    # step 3 (0); sample 1: step 0 (2), step 2 (1, a spike) -> 8. B has no v trace: all 16.
    assert a.membrane_updates == 8 and b.membrane_updates == 16
    assert any("no membrane-update count or v trace for ['B']" in n for n in prof.notes)
    net = prof.network
    assert net.neuron_steps == 32 and net.spikes == 4
    assert net.activation_sparsity == pytest.approx(1 - 4 / 32)
    assert net.connection_sparsity == pytest.approx(5 / 10)
    # footprint at Loihi 2 widths: weights 10 x 8 bits; per group du, dv 12 + 12, vth 17,
    # bias_mant 2 x 13, bias_exp 2 x 3 -> 73; state u, v: 2 x 2 x 24 = 96 per group
    assert (net.weight_bits, net.param_bits, net.state_bits) == (80, 2 * 73, 2 * 96)
    assert net.footprint_bytes == 53                        # ceil(418 / 8)
    per = net.per_sample(prof.samples)
    assert per["synaptic_ops"] == 4.5 and per["spikes"] == 2.0
    assert per["dense_macs"] == 40.0 and per["membrane_updates"] == 12.0


def test_footprint_without_a_target_uses_the_stored_dtypes():
    x, result = hand_run()
    net = P.profile(hand_program(), result, x).network
    # int32 parameters: 3 scalars + 2 arrays of 2 = 7 values x 32 bits per group; state 2x2x32
    assert (net.param_bits, net.state_bits, net.weight_bits) == (2 * 7 * 32, 2 * 128, 80)


def test_hops_and_link_traffic_from_routes():
    x, result = hand_run()
    program = hand_program()
    program.placement = {"A": {"chip": 0, "core": 0, "slice_of": "A", "start": 0, "stop": 2},
                         "B": {"chip": 0, "core": 3, "slice_of": "B", "start": 0, "stop": 2}}
    program.routes = [{"source": "A", "target": "B", "path": [[0, 0], [1, 0], [1, 1]]}]
    prof = P.profile(program, result, x)
    assert prof.groups["A"].spike_hops == 3 * 2             # 3 spikes x 2 hops
    assert prof.groups["A"].mean_hops == 2.0
    assert prof.link_traffic == {("(0,0)", "(1,0)"): 3, ("(1,0)", "(1,1)"): 3}
    assert prof.cores == {(0, 0): prof.groups["A"], (0, 3): prof.groups["B"]}


def test_hops_from_placement_on_the_mesh_when_there_are_no_routes():
    x, result = hand_run()
    program = hand_program()
    # a 4 x 4 core mesh: core 0 at (0, 0), core 6 at (2, 1): 3 hops
    program.placement = {"A": {"chip": 0, "core": 0}, "B": {"chip": 0, "core": 6}}
    topo = P.Topology(cores_per_chip=16, core_mesh=(4, 4), max_chips=1, chip_mesh=(1, 1))
    prof = P.profile(program, result, x, topology=topo)
    assert prof.groups["A"].spike_hops == 3 * 3
    assert any("Manhattan" in n for n in prof.notes)


def test_an_unplaced_program_counts_no_hops_and_says_so():
    x, result = hand_run()
    prof = P.profile(hand_program(), result, x)
    assert prof.network.spike_hops == 0 and prof.cores == {} and prof.link_traffic == {}
    assert any("unrouted" in n for n in prof.notes)


def test_slices_add_up_to_their_layer_and_cores_to_the_network():
    x, result = hand_run()
    program = hand_program()
    program.placement = {"A": {"chip": 0, "core": 0, "slice_of": "L"},
                         "B": {"chip": 1, "core": 0, "slice_of": "L"}}
    prof = P.profile(program, result, x)
    assert list(prof.layers) == ["L"]
    assert prof.layers["L"] == prof.groups["A"] + prof.groups["B"] == prof.network
    assert sum(prof.cores.values(), P.Activity()) == prof.network
    assert P.chips_used(program) == 2


def test_activity_records_add_field_by_field():
    a = P.Activity(neurons=1, spikes=2, synops=3, weights=4, zero_weights=1)
    b = P.Activity(neurons=10, spikes=20, synops=30, weights=40, zero_weights=3)
    total = a + b
    assert dataclasses.astuple(total) == tuple(x + y for x, y in zip(dataclasses.astuple(a),
                                                                     dataclasses.astuple(b)))
    assert sum([a, b]) == total and total.connection_sparsity == pytest.approx(4 / 44)


def test_the_emulator_agrees_with_the_hand_network():
    """On the real emulator: the synaptic ops equal the events it processed, block by block."""
    program = hand_program()
    x, _ = hand_run()
    x[3, 1] = [1, 0, 1]
    result = Emulator(program, LOIHI2, tuple(program.groups)).run(x)
    prof = P.profile(program, result, x)
    events = {k: int(v.sum()) for k, v in result.counters["synaptic_events"].items()}
    assert prof.groups["A"].synops == events["in->A"] == 3 + 2 + 3
    assert prof.groups["B"].synops == events["A->B"]
    assert not [n for n in prof.notes if "truncates" in n]


def test_hops_on_a_partitioned_and_placed_program():
    """The real partition and place & route passes, one neuron per core on a 2 x 2 mesh.

    Inputs 0 and 2 fire every step of both samples. A0 gets 5 + 7 and A1 gets 9 (x 64 on
    Loihi 2, above theta 64), so both fire at steps 1, 2, 3 (one step of synaptic latency):
    3 spikes per sample each; B0 (3 from A0) and B1 (4 from A0) fire at steps 2 and 3.
    A1 has no non-zero weight into B, so only A0's slice sends spikes between cores: one
    packet to B0's core and one to B1's, each over the Manhattan distance between the cores
    (XY routing; every slice on its own core, so each distance is at least 1).
    """
    from neurocc.compiler.partition import partition, place_and_route

    tiny = target().replace(cores=P.CoreLimits(
        max_neurons=1, synapse_memory_bits=0, dense_weight_bits=8, sparse_entry_bits=24,
        max_fan_in=0, max_fan_out=0, routing_entries=0),
        topology=P.Topology(cores_per_chip=4, core_mesh=(2, 2), max_chips=1, chip_mesh=(1, 1)))
    placed = place_and_route(partition(hand_program(), tiny), tiny)
    slices = {p["slice_of"]: [] for p in placed.placement.values()}
    for g, p in sorted(placed.placement.items(), key=lambda kv: kv[1]["start"]):
        slices[p["slice_of"]].append(g)
    (a0, a1), (b0, b1) = slices["A"], slices["B"]
    x = np.zeros((4, 2, 3), np.int8)
    x[:, :, [0, 2]] = 1
    result = Emulator(placed, LOIHI2, tuple(placed.groups)).run(x)
    prof = P.profile(placed, result, x, tiny, tiny.topology)

    def xy(g: str) -> tuple[int, int]:
        core = placed.placement[g]["core"]
        return core % 2, core // 2                      # 2 x 2 mesh, row-major

    def distance(g: str, h: str) -> int:
        return abs(xy(g)[0] - xy(h)[0]) + abs(xy(g)[1] - xy(h)[1])

    assert len({placed.placement[g]["core"] for g in placed.groups}) == 4
    assert [prof.groups[g].spikes for g in (a0, a1, b0, b1)] == [6, 6, 4, 4]
    hops_per_spike = distance(a0, b0) + distance(a0, b1)
    assert hops_per_spike >= 2
    assert prof.groups[a0].spike_hops == 6 * hops_per_spike
    assert prof.groups[a1].spike_hops == prof.groups[b0].spike_hops == 0
    assert prof.layers["A"].mean_hops == pytest.approx(6 * hops_per_spike / 12)
    # every hop crosses one link: the links carry exactly the hops, each A0's 6 spikes per route
    assert sum(prof.link_traffic.values()) == prof.network.spike_hops
    assert set(prof.link_traffic.values()) <= {6, 12}
    # synaptic ops per sample: inputs 0, 2 -> A0 (2 weights) and input 2 -> A1, 4 steps: 12;
    # A0's 3 spikes -> B0 and -> B1: 6. Both samples: 36, what the emulator processed
    events = sum(int(v.sum()) for v in result.counters["synaptic_events"].values())
    assert prof.network.synops == events == 36


# --- energy ------------------------------------------------------------------------


def constants(**pj: float) -> dict[str, P.EnergyConstant]:
    out = {k: P.EnergyConstant(k, v, "pJ", "test", "test", "test") for k, v in pj.items()}
    out["static_power"] = P.EnergyConstant("static_power", 1.0, "W", "test", "test", "test")
    return out


def test_energy_by_hand():
    x, result = hand_run()
    program = hand_program()
    program.routes = [{"source": "A", "target": "B", "hops": 2}]
    prof = P.profile(program, result, x)
    est = P.estimate_energy(prof, constants(synop=1, update_active=10, update_idle=100,
                                            spike=1000, hop=10000), "test")
    # per sample (2 samples): synops 9/2 x 1 pJ; active 24/2 x 10; idle 8/2 x 100;
    # spikes 4/2 x 1000; hops 6/2 x 10000 pJ; static 1 W x 4 steps x 1 ms
    t = est.total
    assert t.synops == pytest.approx(4.5e-12)
    assert t.updates_active == pytest.approx(120e-12)
    assert t.updates_idle == pytest.approx(400e-12)
    assert t.spikes == pytest.approx(2000e-12)
    assert t.hops == pytest.approx(30000e-12)
    assert t.static == pytest.approx(4e-3)
    assert sum(est.layers.values(), P.Energy()) + est.static == t


def test_no_estimate_without_per_op_constants():
    x, result = hand_run()
    prof = P.profile(hand_program(), result, x)
    est = P.estimate_energy(prof, {}, "loihi2", why_unavailable="not published")
    assert not est.available and est.assumptions == ("not published",)
    assert est.to_json()["available"] is False and "total" not in est.to_json()


def test_system_power_estimate_by_hand():
    x, result = hand_run()
    prof = P.profile(hand_program(), result, x)
    power = {"system_power": P.EnergyConstant("system_power", 291.0, "uW", "measured", "s", "V")}
    est = P.estimate_energy(prof, power, "xylo")
    # 291 uW x 4 steps x 1 ms, per sample, whatever the spikes
    assert est.available and est.method == "system power x run time"
    assert est.total.total == est.total.system == pytest.approx(291e-6 * 4e-3)
    assert est.layers == {} and any("does not depend" in a for a in est.assumptions)
    assert est.to_json()["method"] == "system power x run time"
    silent = types.SimpleNamespace(spikes={g: 0 * s for g, s in result.spikes.items()},
                                   traces={}, counters={})
    assert P.estimate_energy(P.profile(hand_program(), silent, 0 * x), power, "xylo").total \
        == est.total
    # with complete per-op constants the system power is not used, and the estimate says so
    both = constants(synop=1, update_active=1, update_idle=1, spike=1) | power
    est = P.estimate_energy(prof, both, "both")
    assert est.method == "per-op" and est.total.system == 0
    assert any("system_power is not used" in a for a in est.assumptions)
    no_dt = dataclasses.replace(prof, dt=None)
    assert not P.estimate_energy(no_dt, power, "xylo").available


def test_energy_tables_and_overrides():
    table = {"synaptic_op": {"value": 2.0, "unit": "nJ", "basis": "measured", "source": "s",
                             "confidence": "V"},
             "static_power": {"value": 0.28, "unit": "W", "role": "calibration_target"},
             "note": "per-op energies not published"}
    got, other = P.constants_from_table(table, "t.toml")
    assert list(got) == ["synop"] and got["synop"].si == pytest.approx(2e-9)
    assert set(other) == {"static_power", "note"}          # a calibration target is no constant
    with pytest.raises(P.ProfileError, match="unit 'pW/s'"):
        P.constants_from_table({"synop": {"value": 1, "unit": "pW/s"}}, "t.toml")
    assert P.parse_override("synop=23.6pJ") == ("synop", 23.6, "pJ")
    assert P.parse_override("static_power=104mW") == ("static_power", 104.0, "mW")
    assert P.parse_override("neuron_update_inactive=52") == ("update_idle", 52.0, "pJ")
    for bad in ("synop", "bogus=1pJ", "synop=abc", "synop=-1"):
        with pytest.raises(P.ProfileError):
            P.parse_override(bad)


def test_the_loihi2_target_carries_no_per_op_constants():
    own, _ = P.constants_from_table(target().energy, "loihi2.toml")
    assert not all(k in own for k in P.REQUIRED_TERMS)


# --- Braille ------------------------------------------------------------------------


@functools.cache
def braille():
    program = compile_graph(load(BRAILLE), target(), 1e-4)
    x = (np.random.default_rng(0).random((100, 4, 12)) < 0.1).astype(np.int8)
    result = Emulator(program, LOIHI2, tuple(program.groups)).run(x)
    return program, x, result


def test_braille_synaptic_ops_equal_the_emulators_synaptic_events():
    program, x, result = braille()
    t = target()
    prof = P.profile(program, result, x, t, t.topology)
    events = sum(int(v.sum()) for v in result.counters["synaptic_events"].values())
    assert events > 0 and prof.network.synops == events
    for layer in prof.layers.values():
        assert 0 < layer.synops < events
    assert not [n for n in prof.notes if "truncates" in n]
    # the biases travel as constant spikes: their synaptic ops are named
    assert [n for n in prof.notes if "come from constant ports" in n]
    # every layer record sums to the network record, field by field
    fields = [f.name for f in dataclasses.fields(P.Activity)]
    for name in fields:
        assert getattr(prof.network, name) == sum(getattr(a, name) for a in prof.layers.values())
    assert prof.network.spikes == sum(int(np.count_nonzero(s)) for s in result.spikes.values())
    assert prof.network.neuron_steps == 45 * 100 * 4


# --- the command line ---------------------------------------------------------------


@pytest.fixture(scope="module")
def artifact(tmp_path_factory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("profile")
    program, x, _ = braille()
    save_program(program, d / "braille")
    np.save(d / "x.npy", x)
    return d / "braille", d / "x.npy"


def test_profile_command_prints_tables_and_writes_json(capsys, artifact, tmp_path):
    art, x = artifact
    code, out, err = run_cli(capsys, "profile", art, "--input", x, "--json", tmp_path / "p.json")
    assert code == 0, err
    assert "activity per layer" in out and "lif1.lif" in out and "network" in out
    assert "no published per-operation energy constants" in out
    # loihi2 has [cores] and [topology], so compile partitions and places: a per-core view
    assert "activity per core" in out
    report = json.loads((tmp_path / "p.json").read_text())
    _, _, result = braille()
    events = sum(int(v.sum()) for v in result.counters["synaptic_events"].values())
    assert report["profile"]["network"]["synaptic_ops"] == events / 4
    assert report["energy"]["available"] is False


def test_profile_with_borrowed_constants_is_labelled(capsys, artifact, tmp_path):
    art, x = artifact
    code, out, err = run_cli(capsys, "profile", art, "--input", x, "--energy-from", "loihi1",
                             "--energy", "synop=30pJ", "--json", tmp_path / "p.json")
    assert code == 0, err
    energy = json.loads((tmp_path / "p.json").read_text())["energy"]
    assert energy["available"] and energy["label"].startswith("BORROWED: Loihi 1")
    assert energy["constants"]["synop"] == {"name": "synop", "value": 30.0, "unit": "pJ",
                                            "basis": "user", "source": "--energy",
                                            "confidence": "user"}
    assert energy["constants"]["update_idle"]["source"].startswith("Davies")
    assert "BORROWED" in out


def test_profile_with_silicon_calibrated_loihi1_constants(capsys, artifact, tmp_path):
    art, x = artifact
    code, out, err = run_cli(capsys, "profile", art, "--input", x, "--energy-from", "loihi1_sanafe",
                             "--json", tmp_path / "p.json")
    assert code == 0, err
    report = json.loads((tmp_path / "p.json").read_text())
    energy, net = report["energy"], report["profile"]["network"]
    assert energy["label"].startswith("BORROWED: Loihi 1 (SANA-FE")
    # REFERENCE.md section 3: 35.5 pJ per synaptic op, 51.2 pJ per inactive neuron update
    assert energy["total"]["synops"] == pytest.approx(net["synaptic_ops"] * 35.5e-12)
    idle = 45 * 100 - net["membrane_updates"]            # 45 neurons x 100 steps, per sample
    assert energy["total"]["updates_idle"] == pytest.approx(idle * 51.2e-12)
    assert energy["constants"]["synop"]["confidence"] == "V"


@pytest.mark.parametrize("chip, watts, source", [("speck", 0.70e-3, "Yao et al."),
                                                 ("xylo_audio2", 291e-6, "Bos & Muir")])
def test_profile_with_a_chips_measured_system_power(capsys, artifact, tmp_path, chip, watts,
                                                    source):
    art, x = artifact
    code, out, err = run_cli(capsys, "profile", art, "--input", x, "--energy-from", chip,
                             "--json", tmp_path / "p.json", "--html", tmp_path / "r.html")
    assert code == 0, err
    energy = json.loads((tmp_path / "p.json").read_text())["energy"]
    assert energy["method"] == "system power x run time"
    assert energy["label"].startswith("SYSTEM-POWER ESTIMATE") and source in energy["label"]
    assert "not compiled for " + chip in energy["label"]
    # Braille at dt = 0.1 ms: 100 steps = 10 ms per sample
    assert energy["total"]["total"] == pytest.approx(watts * 100 * 1e-4)
    assert "SYSTEM-POWER ESTIMATE" in out
    page = (tmp_path / "r.html").read_text()
    assert "system-power estimate, not a per-operation model" in page
    assert "<span class='badge'>SYSTEM-POWER ESTIMATE</span>" in page and "BORROWED" not in page


def test_profile_with_a_user_energy_file(capsys, artifact, tmp_path):
    art, x = artifact
    f = tmp_path / "chip.toml"
    f.write_text("[energy]\nsynop = 1.0\nupdate_active = 2.0\nupdate_idle = 3.0\nspike = 4.0\n")
    code, out, err = run_cli(capsys, "profile", art, "--input", x, "--energy-file", f,
                             "--json", tmp_path / "p.json")
    assert code == 0, err
    energy = json.loads((tmp_path / "p.json").read_text())["energy"]
    prof = json.loads((tmp_path / "p.json").read_text())["profile"]["network"]
    assert energy["total"]["synops"] == pytest.approx(prof["synaptic_ops"] * 1e-12)
    assert energy["total"]["static"] == 0 and energy["constants"]["spike"]["basis"] == "user"


def test_profile_html_is_one_self_contained_page(capsys, artifact, tmp_path):
    art, x = artifact
    page = tmp_path / "report.html"
    code, _, err = run_cli(capsys, "profile", art, "--input", x, "--html", page,
                           "--energy-from", "loihi1")
    assert code == 0, err
    text = page.read_text()
    assert "What am I looking at?" in text and "Spike raster" in text
    assert "<script src=" not in text               # plotly.js is inline: works offline
    assert "time step" in text and "energy per sample" in text
    assert "Spikes sent per core" in text
    # a newcomer gets every column defined and is told, before any figure, whose constants these are
    for _, label in P.ACTIVITY_COLUMNS + P.STRUCTURE_COLUMNS:
        assert f"<dt>{label}</dt>" in text, label
    assert "<span class='badge'>BORROWED</span>" in text
    # Braille at 0.1 ms per step: the chip's static power is nearly all of the total, and said so
    assert "Static energy is most of the total here" in text


@pytest.mark.parametrize("case", ["format", "shape", "dtype", "energy", "energy-from",
                                  "no-figures", "missing"])
def test_profile_user_errors(capsys, artifact, tmp_path, case):
    art, x = artifact
    args: list[object] = ["profile", art, "--input", x]
    if case == "format":
        bad = tmp_path / "old"
        shutil.copytree(art, bad)
        manifest = json.loads((bad / "manifest.json").read_text())
        manifest["format"] = 999
        (bad / "manifest.json").write_text(json.dumps(manifest))
        args[1], needles = bad, ("format 999", "Recompile")
    elif case == "shape":
        np.save(tmp_path / "bad.npy", np.zeros((10, 2, 13), np.int8))
        args[3], needles = tmp_path / "bad.npy", ("shape [10, 2, 13]", "[T, B, 12]")
    elif case == "dtype":
        np.save(tmp_path / "bad.npy", np.zeros((10, 2, 12), np.complex64))
        args[3], needles = tmp_path / "bad.npy", ("dtype complex64",)
    elif case == "energy":
        args += ["--energy", "synop=lots"]
        needles = ("'lots' is not a number",)
    elif case == "energy-from":
        args += ["--energy-from", "loihi9"]
        needles = ("no such constant set", "loihi1", "loihi1_sanafe", "speck")
    elif case == "no-figures":
        args += ["--energy-from", "spinnaker2"]
        needles = ("spinnaker2.toml", "no measured system power", "rather than invent")
    else:
        args[1], needles = tmp_path / "nothing", ("no such artifact",)
    code, _, err = run_cli(capsys, *args)
    assert_user_error(code, err, *needles)


CHROMIUM = "/usr/bin/chromium"


@pytest.mark.skipif(not os.path.exists(CHROMIUM),
                    reason="Debian's chromium is not installed (/usr/bin/chromium): the HTML "
                           "report is not opened in a browser")
def test_the_report_opens_in_chromium_without_console_errors(capsys, artifact, tmp_path):
    art, x = artifact
    page = tmp_path / "report.html"
    assert main(["profile", str(art), "--input", str(x), "--html", str(page),
                 "--energy-from", "loihi1"]) == 0
    capsys.readouterr()
    proc = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", f"--user-data-dir={tmp_path / 'chromium'}", "--enable-logging=stderr",
         "--v=0", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    console = [ln for ln in proc.stderr.splitlines() if ":CONSOLE" in ln or "Uncaught" in ln]
    assert console == [], "\n".join(console)
    # plotly drew the figures: each div gained an SVG
    assert proc.stdout.count("main-svg") >= 3, "plotly did not render"
    # all four figures drew: raster, sparsity over time, the core mesh, energy by layer
    assert proc.stdout.count('class="plot-container plotly"') == 4


def test_a_sparse_block_stores_its_non_zero_weights_with_their_index():
    x, result = hand_run()
    program = hand_program()
    program.synapses[0].storage = "sparse"          # in->A: 3 non-zero of 6, 3 sources
    net = P.profile(program, result, x).network
    assert net.weight_bits == 3 * (8 + 2) + 4 * 8    # index of 3 sources: 2 bits
    cores = P.CoreLimits(max_neurons=0, synapse_memory_bits=0, dense_weight_bits=8,
                         sparse_entry_bits=24, max_fan_in=0, max_fan_out=0, routing_entries=0)
    net = P.profile(program, result, x, cores=cores).network
    assert net.weight_bits == 3 * 24 + 4 * 8


def test_profile_of_a_placed_and_routed_artifact(capsys, tmp_path):
    program, x, result = braille()
    placed = dataclasses.replace(program, info=dict(program.info), placement={
        "lif1.lif": {"chip": 0, "core": 0, "slice_of": "lif1.lif", "start": 0, "stop": 38},
        "lif2": {"chip": 0, "core": 9, "slice_of": "lif2", "start": 0, "stop": 7}})
    placed.routes = [{"source": "lif1.lif", "target": "lif2", "path": [0, 1, 9]}]
    save_program(placed, tmp_path / "placed")
    np.save(tmp_path / "x.npy", x)
    code, out, err = run_cli(capsys, "profile", tmp_path / "placed", "--input", tmp_path / "x.npy",
                             "--json", tmp_path / "p.json", "--html", tmp_path / "r.html")
    assert code == 0, err
    assert "activity per core" in out and "chip 0 core 9" in out
    prof = json.loads((tmp_path / "p.json").read_text())["profile"]
    spikes1 = int(np.count_nonzero(result.spikes["lif1.lif"])) / 4
    assert [(c["chip"], c["core"]) for c in prof["cores"]] == [(0, 0), (0, 9)]
    assert prof["link_traffic"] == [{"from": "0", "to": "1", "spikes": spikes1},
                                    {"from": "1", "to": "9", "spikes": spikes1}]
    assert prof["layers"]["lif1.lif"]["mean_hops"] == 2.0
    page = (tmp_path / "r.html").read_text()
    assert "Spikes sent per core" in page
    # the per-core table names the layers on each core
    assert "<td>chip 0 core 9</td><td class='text'>lif2</td>" in page


def test_the_emulators_membrane_update_counter_equals_the_count_from_v_traces():
    """counters=("membrane_updates",) (what `neurocc profile` runs) against numpy on the
    recorded v: a neuron whose v changed in a step or that spiked, all at step 0."""
    from neurocc.simulators.emulator import Emulator

    program = hand_program()
    for g in program.groups.values():
        g.params["vth"] = np.array(1, np.int32)
        g.params["dv"] = np.array(1000, np.int32)
    x = (np.random.default_rng(3).random((40, 3, 3)) < 0.3).astype(np.int8)
    counted = Emulator(program, LOIHI2, counters=("membrane_updates",)).run(x)
    traced = Emulator(program, LOIHI2, record=tuple(program.groups)).run(x)
    for name, g in program.groups.items():
        v = traced.traces[name]["v"]
        prev = np.concatenate([np.zeros((1,) + v.shape[1:], v.dtype), v[:-1]])
        by_hand = (v != prev) | (traced.spikes[name] != 0)
        by_hand[0] = True
        assert traced.spikes[name].any() and not by_hand.all()
        assert np.array_equal(counted.counters["membrane_updates"][name], by_hand.sum(axis=-1))
    prof = P.profile(program, counted, x, target())
    assert not any("membrane-update" in n for n in prof.notes)
