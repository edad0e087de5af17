"""What the chip will do: activity, sparsity, traffic, footprint and energy of a run.

``profile(program, result, inputs)`` turns one emulator run into small frozen
``Activity`` records, one per neuron group, that add up with ``+``: a layer is
the sum of its slices (``placement[g]["slice_of"]``), a core the sum of the
groups placed on it, the network the sum of its layers. Nothing is counted
twice and no total has its own code path.

Metrics follow NeuroBench (REFERENCE.md section 4), computed on the compiled
integer program rather than on a float model:

* activation sparsity: 1 - spikes / (neurons x steps x samples), over every
  neuron group (all of them are spiking layers);
* synaptic operations (effective ACs): per step, every source that spikes
  (a group's spike, a data input that is non-zero, a constant port that fires)
  times its number of non-zero weights in the block. Each block is charged to
  its target group, where the chip stores and reads the synapses. Equal, by
  construction, to the emulator's ``synaptic_events`` counters (checked);
* dense MACs: every connection every step (weights of all blocks x steps);
* membrane updates: a neuron whose membrane voltage v changed in a step, or
  that spiked (reset hides the change), with every neuron counted at step 0.
  The emulator counts them per step when asked (``counters=("membrane_updates",)``,
  what the command line does), else they come from recorded v traces; a group
  with neither is counted as updated every step (what a time-stepped neurocore
  does: it visits every neuron every step) and a note says so;
* connection sparsity: zero weights / all weights over all blocks;
* footprint: weights at their block's stored width (``num_weight_bits``; a sparse
  block stores its non-zero weights with their index, a convolution its kernel), the
  neuron parameters and the state at the widths the target's kernel declares
  (``param_bits``, ``state``); without a target, each array at its stored dtype.

Counts are kept as exact integers over the whole run (all samples);
``per_sample`` divides by the batch, as NeuroBench reports.

Energy (``estimate_energy``): Davies 2018 / SANA-FE's shape,
``E = sum over layers [synops E_synop + active E_active + idle E_idle +
spikes (E_spike + mean_hops E_hop)] + P_static T``, with every constant
carrying its value, unit, basis, source and confidence. A target that
publishes no per-op figures gets no estimate unless the user supplies
constants (``constants_from_table``), and the estimate is labelled with
where they came from. A chip that publishes only its measured system power
gets, when asked, ``system_power x T``: labelled a system-power
estimate, and blind to this network's activity.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Mapping

import numpy as np

from neurocc.ir import NeuroccError, Program
from neurocc.ir.target import CoreLimits, Topology


class ProfileError(NeuroccError):
    """Profiling inputs that do not fit together, or energy constants that cannot be read."""


# --- the additive record ------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Activity:
    """Counts of one group, layer, core or network over one run (all samples).

    Every field is an integer that adds; rates are properties computed from them.
    """

    neurons: int = 0
    neuron_steps: int = 0        # neurons x steps x samples: every neuron is visited each step
    spikes: int = 0              # non-zero outputs
    #: neuron_steps of spiking layers: the outputs NeuroBench's activation sparsity counts (a
    #: readout, whose voltage is read and which never spikes, is not an activation layer)
    activation_steps: int = 0
    synops: int = 0              # effective ACs: source spikes x non-zero fan-out (incoming blocks)
    dense_macs: int = 0          # every incoming connection every step, x samples
    membrane_updates: int = 0    # neuron-steps whose v changed (all at step 0), x samples
    weights: int = 0             # incoming connections (block entries)
    zero_weights: int = 0
    weight_bits: int = 0         # stored weight memory
    param_bits: int = 0          # neuron parameters at their stored widths
    state_bits: int = 0          # u, v
    spike_hops: int = 0          # spikes x hops on their routes (0 for unrouted programs)

    def __add__(self, other: "Activity") -> "Activity":
        if not isinstance(other, Activity):
            return NotImplemented
        return Activity(*(getattr(self, f.name) + getattr(other, f.name)
                          for f in dataclasses.fields(self)))

    def __radd__(self, other: Any) -> "Activity":  # sum() starts from 0
        return self if other == 0 else self.__add__(other)

    @property
    def activation_sparsity(self) -> float:
        return 1.0 - self.spikes / self.activation_steps if self.activation_steps else float("nan")

    @property
    def connection_sparsity(self) -> float:
        return self.zero_weights / self.weights if self.weights else float("nan")

    @property
    def idle_updates(self) -> int:
        return self.neuron_steps - self.membrane_updates

    @property
    def footprint_bytes(self) -> int:
        return (self.weight_bits + self.param_bits + self.state_bits + 7) // 8

    @property
    def mean_hops(self) -> float:
        return self.spike_hops / self.spikes if self.spikes else 0.0

    def per_sample(self, samples: int) -> dict[str, float]:
        """The NeuroBench figures, activity per sample (counts / samples), memory as is."""
        return {
            "neurons": self.neurons,
            "spikes": self.spikes / samples,
            "activation_sparsity": self.activation_sparsity,
            "synaptic_ops": self.synops / samples,
            "dense_macs": self.dense_macs / samples,
            "membrane_updates": self.membrane_updates / samples,
            "connection_sparsity": self.connection_sparsity,
            "weights": self.weights,
            "footprint_bytes": self.footprint_bytes,
            "spike_hops": self.spike_hops / samples,
            "mean_hops": self.mean_hops,
        }


@dataclasses.dataclass(frozen=True)
class Profile:
    steps: int
    samples: int
    dt: float | None
    #: one record per neuron group of the program
    groups: dict[str, Activity]
    #: group -> layer (its slice_of, else itself) and group -> (chip, core) when placed
    layer_of: dict[str, str]
    core_of: dict[str, tuple[int, int]]
    #: spikes per step per group, summed over samples [T]
    spikes_per_step: dict[str, np.ndarray]
    #: spikes carried by each link of the routes, per run: {(a, b): count}
    link_traffic: dict[tuple[str, str], int]
    notes: tuple[str, ...] = ()

    @property
    def layers(self) -> dict[str, Activity]:
        return _sum_by(self.groups, self.layer_of)

    @property
    def cores(self) -> dict[tuple[int, int], Activity]:
        return _sum_by({g: a for g, a in self.groups.items() if g in self.core_of}, self.core_of)

    @property
    def network(self) -> Activity:
        return sum(self.layers.values(), Activity())

    def layer_sparsity_over_time(self) -> dict[str, np.ndarray]:
        """Per spiking layer, 1 - spikes / neurons at each step (over samples) [T]; a
        readout (no activation to be sparse) has none."""
        out: dict[str, np.ndarray] = {}
        for layer in dict.fromkeys(self.layer_of.values()):
            members = [g for g, lay in self.layer_of.items() if lay == layer]
            if not any(self.groups[g].activation_steps for g in members):
                continue
            spikes = sum(self.spikes_per_step[g] for g in members)
            neurons = sum(self.groups[g].neurons for g in members)
            out[layer] = 1.0 - np.asarray(spikes, float) / max(neurons * self.samples, 1)
        return out

    def to_json(self) -> dict[str, Any]:
        def per(a: Activity) -> dict[str, Any]:  # NaN (no weights, no neurons) is no JSON: null
            return {k: None if isinstance(v, float) and v != v else v
                    for k, v in a.per_sample(self.samples).items()}

        return {
            "steps": self.steps, "samples": self.samples, "dt_s": self.dt,
            "per": "sample (counts divided by the number of samples; memory is per network)",
            "network": per(self.network),
            "layers": {k: per(a) for k, a in self.layers.items()},
            "groups": {k: per(a) | {"layer": self.layer_of[k],
                                    "chip_core": list(self.core_of[k]) if k in self.core_of else None}
                       for k, a in self.groups.items()},
            "cores": [{"chip": c, "core": k} | per(a) for (c, k), a in sorted(self.cores.items())],
            "link_traffic": [{"from": a, "to": b, "spikes": n / self.samples}
                             for (a, b), n in sorted(self.link_traffic.items())],
            "notes": list(self.notes),
        }


def _sum_by(records: Mapping[str, Activity], key: Mapping[str, Any]) -> dict[Any, Activity]:
    out: dict[Any, Activity] = {}
    for g, a in records.items():
        out[key[g]] = out.get(key[g], Activity()) + a
    return out


# --- counting -------------------------------------------------------------------------

def _param_bits(name: str, value: np.ndarray, widths: Mapping[str, int]) -> int:
    """Bits of one parameter array at the width its kernel declares (else its dtype's); a
    0-d population scalar is stored once."""
    width = widths.get(name) or np.asarray(value).dtype.itemsize * 8
    return int(np.asarray(value).size) * int(width)


def _weight_bits(storage: str, w: Any, bits: int, cores: CoreLimits | None) -> int:
    """Dense: every entry at `bits`. Sparse: each non-zero synapse with its index, at the
    target's sparse_entry_bits when it gives them, else weight bits + source index bits.
    A convolution: its kernel at `bits`, stored once for every position (read through the
    encoding, never expanded)."""
    if w.kind == "conv":
        return int(w.values().size) * bits
    if storage != "sparse":
        return w.shape[0] * w.shape[1] * bits
    entry = (cores.sparse_entry_bits if cores is not None and cores.sparse_entry_bits
             else bits + max(int(w.shape[1] - 1).bit_length(), 1))
    return w.nnz() * entry


def _source_spikes(program: Program, result: Any, inputs: Mapping[str, np.ndarray],
                   steps: int, samples: int) -> dict[str, np.ndarray]:
    """Spike counts [T, B, n] of every source: groups, data inputs, constant ports. A chip
    whose neurons spike several times a step (or whose inputs are event counts) sends
    one synaptic event per spike; on a binary chip every count is 0 or 1."""
    out: dict[str, np.ndarray] = {g: np.asarray(result.spikes[g]).astype(np.int64)
                                  for g in program.groups}
    for port in program.inputs:
        if port.kind == "data":
            x = np.asarray(inputs[port.name]).reshape(steps, samples, -1)
            graded = x.dtype.kind in "iu" and x.size and x.max() > 1
            out[port.name] = x.astype(np.int64) if graded else x != 0
        else:
            on = (np.arange(steps) >= port.start)[:, None, None]
            out[port.name] = np.broadcast_to(on, (steps, samples, port.size))
    return out


def _membrane_updates(v: np.ndarray, spikes: np.ndarray, v0: np.ndarray) -> int:
    """v [T, B, n]: steps where v changed or the neuron spiked (reset may restore v); all at 0."""
    prev = np.concatenate([np.broadcast_to(v0, (1,) + v.shape[1:]), v[:-1]], axis=0)
    changed = (v != prev) | spikes
    changed[0] = True
    return int(np.count_nonzero(changed))


def read_routes(program: Program, topology: Topology | None = None
                ) -> tuple[list[dict[str, Any]], list[str]]:
    """Routes as [{"source", "target", "hops", "links": [(a, b), ...]}] plus notes.

    Reads ``program.routes``: a list of {"source": group, "target": group} with
    "hops" and/or "path" (the cores passed, in order). Without routes but with a
    placement and a core mesh, hops are the Manhattan distance between the cores.
    """
    raw = program.routes
    notes: list[str] = []
    routes: list[dict[str, Any]] = []
    if raw:
        items = raw.values() if isinstance(raw, Mapping) else raw
        for r in items:
            if not isinstance(r, Mapping) or "source" not in r or "target" not in r:
                notes.append(f"a route entry neurocc cannot read was ignored: {r!r:.120}")
                continue
            path = [_node_label(p) for p in r.get("path", [])]
            links = list(zip(path[:-1], path[1:]))
            hops = int(r["hops"]) if "hops" in r else len(links)
            routes.append({"source": str(r["source"]), "target": str(r["target"]),
                           "hops": hops, "links": links})
        return routes, notes
    if program.placement and topology is not None:
        mx = topology.core_mesh[0]
        cx = topology.chip_mesh[0]

        def xy(g: str) -> tuple[int, int]:
            p = program.placement[g]
            chip, core = int(p.get("chip", 0)), int(p["core"])
            cy_off, cx_off = divmod(chip, cx)
            return (cx_off * mx + core % mx, cy_off * topology.core_mesh[1] + core // mx)

        for b in program.synapses:
            if b.source in program.placement and b.target in program.placement:
                (x0, y0), (x1, y1) = xy(b.source), xy(b.target)
                routes.append({"source": b.source, "target": b.target,
                               "hops": abs(x1 - x0) + abs(y1 - y0), "links": []})
        notes.append("no routes in the program: hops are Manhattan distances between the "
                     "placed cores on the mesh")
        return _unique_routes(routes), notes
    notes.append("unrouted program: spike traffic between cores (hops) is not counted")
    return [], notes


def _unique_routes(routes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One route per (source group, target group): the chip sends one packet per destination."""
    return list({(r["source"], r["target"]): r for r in routes}.values())


def _node_label(p: Any) -> str:
    if isinstance(p, Mapping):
        return ":".join(f"{k}{p[k]}" for k in sorted(p))
    if isinstance(p, (list, tuple)):
        return "(" + ",".join(str(x) for x in p) + ")"
    return str(p)


def profile(program: Program, result: Any, inputs: np.ndarray | Mapping[str, np.ndarray],
            target: Any = None, topology: Topology | None = None,
            cores: CoreLimits | None = None) -> Profile:
    """Count what `program` did in `result` (an EmulatorResult) on `inputs` [T, B, ...].

    `target`'s kernels give the stored widths of neuron parameters and state (without
    it, the arrays' dtypes); `topology` the core mesh for hop counts of a placed but
    unrouted program; `cores` the bits of a stored sparse synapse.
    """
    kernels = getattr(target, "kernels", None) or {}
    if not isinstance(inputs, Mapping):
        names = [p.name for p in program.data_inputs]
        if len(names) != 1:
            raise ProfileError(f"the program has inputs {names}; pass a dict of arrays by name")
        inputs = {names[0]: inputs}
    missing = [g for g in program.groups if g not in result.spikes]
    if missing:
        raise ProfileError(f"the run has no spikes of groups {missing}: it is not a run of this program")
    first = np.asarray(next(iter(result.spikes.values())))
    steps, samples = int(first.shape[0]), int(first.shape[1])
    sources = _source_spikes(program, result, inputs, steps, samples)
    notes: list[str] = []

    counts: dict[str, dict[str, int]] = {g: dict.fromkeys(
        ("synops", "dense_macs", "weights", "zero_weights", "weight_bits", "spike_hops"), 0)
        for g in program.groups}
    events = result.counters.get("synaptic_events", {}) if hasattr(result, "counters") else {}
    const_synops = 0
    for b in program.synapses:
        w = b.weights
        fan_out = w.fan_out()                                         # per source
        per_step = sources[b.source].reshape(steps, samples, -1).astype(np.int64) @ fan_out
        c = counts[b.target]
        c["synops"] += int(per_step.sum())
        port = program.port(b.source)
        if port is not None and port.kind == "const":
            const_synops += int(per_step.sum())
        size = w.shape[0] * w.shape[1]
        c["dense_macs"] += size * steps * samples
        c["weights"] += size
        c["zero_weights"] += size - w.nnz()
        c["weight_bits"] += _weight_bits(b.storage, w, int(b.num_weight_bits), cores)
        if b.name in events and int(np.asarray(events[b.name]).sum()) != int(per_step.sum()):
            notes.append(f"block '{b.name}': {int(per_step.sum())} synaptic ops counted from the "
                         f"stored weights, the emulator processed "
                         f"{int(np.asarray(events[b.name]).sum())} (weights the chip truncates to 0)")

    if const_synops:
        total = sum(c["synops"] for c in counts.values())
        notes.append(f"{const_synops / samples:g} synaptic ops per sample "
                     f"({100 * const_synops / total:.0f}% of all) come from constant ports: "
                     "biases carried into the synaptic current as a spike every step")
    routes, route_notes = read_routes(program, topology)
    notes += route_notes
    link_traffic: dict[tuple[str, str], int] = {}
    for r in routes:
        if r["source"] not in program.groups:
            continue  # input ports: their packets come from outside the mesh
        n = int(np.count_nonzero(sources[r["source"]]))
        counts[r["source"]]["spike_hops"] += n * r["hops"]
        for link in r["links"]:
            link_traffic[link] = link_traffic.get(link, 0) + n

    groups: dict[str, Activity] = {}
    spikes_per_step: dict[str, np.ndarray] = {}
    untraced = []
    readouts = set(program.readout_groups)
    for name, g in program.groups.items():
        s = sources[name]
        spikes_per_step[name] = s.reshape(steps, -1).sum(axis=1)
        counted = getattr(result, "counters", {}).get("membrane_updates", {}).get(name)
        v = getattr(result, "traces", {}).get(name, {}).get("v")
        if counted is not None:
            updates = int(np.asarray(counted).sum())
        elif v is not None:
            v0 = np.broadcast_to(np.asarray(g.params.get("v0", 0)), (g.size,))
            updates = _membrane_updates(np.asarray(v).reshape(steps, samples, -1), s, v0)
        else:
            untraced.append(name)
            updates = g.size * steps * samples
        kernel = kernels.get(g.model)
        widths = kernel.param_bits if kernel is not None else {}
        state = kernel.state if kernel is not None else ("u", "v")
        state_width = max((widths.get(v_, 32) for v_ in state), default=32)
        groups[name] = Activity(
            neurons=g.size, neuron_steps=g.size * steps * samples,
            activation_steps=0 if name in readouts else g.size * steps * samples,
            spikes=int(np.count_nonzero(s)), membrane_updates=updates,
            param_bits=sum(_param_bits(k, v_, widths) for k, v_ in g.params.items()),
            state_bits=len(state) * g.size * state_width, **counts[name])
    if untraced:
        notes.append(f"no membrane-update count or v trace for {untraced}: every neuron counted "
                     "as updated every step "
                     "(a time-stepped neurocore visits every neuron each step)")
    layer_of = {g: str(program.placement.get(g, {}).get("slice_of") or g) for g in program.groups}
    core_of = {g: (int(p.get("chip", 0)), int(p["core"])) for g, p in program.placement.items()
               if g in program.groups and "core" in p}
    dt = program.dt or None   # 0: a program built without one
    return Profile(steps, samples, None if dt is None else float(dt), groups, layer_of, core_of,
                   spikes_per_step, link_traffic, tuple(notes))


# --- energy ---------------------------------------------------------------------------

#: canonical constant -> (SI unit, what it costs, names a TOML may use for it)
ENERGY_TERMS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "synop": ("J", "one synaptic operation (a spike reaching a non-zero weight)",
              ("synop", "synaptic_op", "synaptic_operation", "synaptic_event", "e_synop")),
    "update_active": ("J", "one update of a neuron whose membrane changed",
                      ("update_active", "neuron_update_active", "neuron_active", "e_upd_active")),
    "update_idle": ("J", "one update of a neuron whose membrane did not change",
                    ("update_idle", "neuron_update_idle", "neuron_update_inactive",
                     "neuron_inactive", "update_inactive", "e_upd_idle")),
    "spike": ("J", "sending one spike (within its tile)",
              ("spike", "spike_out", "spike_within_tile", "spike_local", "e_spike")),
    "hop": ("J", "one spike crossing one mesh link",
            ("hop", "spike_hop", "tile_hop", "hop_mean", "e_hop")),
    "static_power": ("W", "static power of one chip",
                     ("static_power", "static", "p_static", "static_power_per_chip")),
    # Not a per-op constant: a chip's measured power while it ran some workload. Used only
    # when there are no per-op constants, as E = P x T (``estimate_energy``), and labelled so.
    "system_power": ("W", "measured power of one chip running a workload (not this network)",
                     ("system_power", "measured_system_power")),
}
#: roles of [energy] entries that are system figures or other chips' figures, never constants
NOT_PER_OP_ROLES = ("calibration_target", "comparison")
#: without these four an estimate would be invented
REQUIRED_TERMS = ("synop", "update_active", "update_idle", "spike")
UNITS = {"J": 1.0, "mJ": 1e-3, "uJ": 1e-6, "µJ": 1e-6, "nJ": 1e-9, "pJ": 1e-12, "fJ": 1e-15,
         "W": 1.0, "mW": 1e-3, "uW": 1e-6, "µW": 1e-6, "nW": 1e-9}


@dataclasses.dataclass(frozen=True)
class EnergyConstant:
    name: str
    value: float           # in `unit`
    unit: str
    basis: str             # simulated / measured / calibrated / derived / user
    source: str
    confidence: str        # V / Q / C / user

    @property
    def si(self) -> float:
        return self.value * UNITS[self.unit]

    def describe(self) -> str:
        return (f"{self.name} = {self.value:g} {self.unit} ({self.basis}; {self.source}; "
                f"confidence {self.confidence})")


def constants_from_table(table: Mapping[str, Any], where: str, *, default_basis: str = "",
                         default_source: str = "", default_confidence: str = ""
                         ) -> tuple[dict[str, EnergyConstant], dict[str, Any]]:
    """Read an [energy] table: (per-op constants by canonical name, every other entry).

    Each entry is a sub-table with value, unit, basis, source, confidence (a bare
    number is taken in pJ, or W for static power). Entries of other names, or
    without a value (e.g. "not published"), or whose role says they are a system
    measurement ("calibration_target") or another chip's figure ("comparison"),
    come back as the second dict.
    """
    alias = {a: canon for canon, (_, _, names) in ENERGY_TERMS.items() for a in names}
    constants: dict[str, EnergyConstant] = {}
    other: dict[str, Any] = {}
    for key, entry in table.items():
        canon = alias.get(str(key).lower())
        if isinstance(entry, (int, float)) and not isinstance(entry, bool):
            entry = {"value": entry}
        if (canon is None or not isinstance(entry, Mapping) or entry.get("value") is None
                or entry.get("role", "per_op") in NOT_PER_OP_ROLES):
            other[str(key)] = entry
            continue
        si_unit = ENERGY_TERMS[canon][0]
        unit = str(entry.get("unit", "pJ" if si_unit == "J" else "W"))
        value = entry["value"]
        if unit not in UNITS or not unit.endswith(si_unit):
            raise ProfileError(f"{where}: energy constant '{key}' has unit {unit!r}; expected one "
                               f"of {', '.join(u for u in UNITS if u.endswith(si_unit))}")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                or value < 0:
            raise ProfileError(f"{where}: energy constant '{key}' must be a number >= 0, got {value!r}")
        constants[canon] = EnergyConstant(canon, float(value), unit,
                                          str(entry.get("basis", default_basis) or "unstated"),
                                          str(entry.get("source", default_source) or where),
                                          str(entry.get("confidence", default_confidence) or "unstated"))
    return constants, other


def parse_override(text: str) -> tuple[str, float, str]:
    """'synop=23.6pJ' or 'static_power=0.1W' or 'synop=23.6' (pJ; W for static power)."""
    key, sep, value = text.partition("=")
    alias = {a: canon for canon, (_, _, names) in ENERGY_TERMS.items() for a in names}
    canon = alias.get(key.strip().lower())
    if not sep or canon is None:
        raise ProfileError(f"--energy {text!r}: expected CONST=VALUE with CONST one of "
                           f"{', '.join(ENERGY_TERMS)} (e.g. synop=23.6pJ)")
    value = value.strip()
    si_unit = ENERGY_TERMS[canon][0]
    unit = next((u for u in sorted(UNITS, key=len, reverse=True)
                 if value.endswith(u) and u.endswith(si_unit)), "pJ" if si_unit == "J" else "W")
    number = value[: len(value) - len(unit)] if value.endswith(unit) else value
    try:
        v = float(number)
    except ValueError:
        raise ProfileError(f"--energy {text!r}: {number!r} is not a number (give e.g. "
                           f"{canon}=23.6{'pJ' if si_unit == 'J' else 'mW'})") from None
    if not math.isfinite(v) or v < 0:
        raise ProfileError(f"--energy {text!r}: must be a finite number >= 0")
    return canon, v, unit


@dataclasses.dataclass(frozen=True)
class Energy:
    """Joules by component; adds like Activity."""

    synops: float = 0.0
    updates_active: float = 0.0
    updates_idle: float = 0.0
    spikes: float = 0.0
    hops: float = 0.0
    static: float = 0.0
    system: float = 0.0    # measured system power x run time (a system-power estimate only)

    def __add__(self, other: "Energy") -> "Energy":
        if not isinstance(other, Energy):
            return NotImplemented
        return Energy(*(getattr(self, f.name) + getattr(other, f.name)
                        for f in dataclasses.fields(self)))

    def __radd__(self, other: Any) -> "Energy":
        return self if other == 0 else self.__add__(other)

    def scaled(self, k: float) -> "Energy":
        return Energy(*(getattr(self, f.name) * k for f in dataclasses.fields(self)))

    @property
    def total(self) -> float:
        return sum(getattr(self, f.name) for f in dataclasses.fields(self))

    def to_json(self) -> dict[str, float]:
        return dataclasses.asdict(self) | {"total": self.total}


def layer_energy(a: Activity, c: Mapping[str, EnergyConstant]) -> Energy:
    """The dynamic energy of one record (any of group, layer, core, network)."""
    e = lambda k: c[k].si if k in c else 0.0  # noqa: E731
    return Energy(synops=a.synops * e("synop"), updates_active=a.membrane_updates * e("update_active"),
                  updates_idle=a.idle_updates * e("update_idle"), spikes=a.spikes * e("spike"),
                  hops=a.spike_hops * e("hop"))


@dataclasses.dataclass(frozen=True)
class EnergyEstimate:
    """Per sample: by layer (dynamic) plus the static term; `available` False says why not."""

    available: bool
    label: str                                  # whose constants, e.g. a named set and its source
    constants: dict[str, EnergyConstant]
    layers: dict[str, Energy]
    static: Energy
    assumptions: tuple[str, ...]
    other_figures: dict[str, Any]               # system figures the target file carries
    #: "per-op" (the model above) or "system power x run time" (no per-op constants)
    method: str = "per-op"

    @property
    def total(self) -> Energy:
        return sum(self.layers.values(), Energy()) + self.static

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"available": self.available, "label": self.label,
                               "method": self.method,
                               "assumptions": list(self.assumptions),
                               "other_figures": self.other_figures}
        if self.available:
            out |= {"unit": "J per sample",
                    "constants": {k: dataclasses.asdict(v) for k, v in self.constants.items()},
                    "total": self.total.to_json(),
                    "layers": {k: v.to_json() for k, v in self.layers.items()},
                    "static": self.static.to_json()}
        return out


def estimate_energy(prof: Profile, constants: Mapping[str, EnergyConstant], label: str,
                    chips: int = 1, other_figures: Mapping[str, Any] | None = None,
                    why_unavailable: str = "") -> EnergyEstimate:
    """E per sample from `constants`; unavailable (with `why_unavailable`) when per-op ones are missing.

    Without per-op constants but with a measured ``system_power``, the estimate is
    that power times the run's duration (``method`` "system power x run time"): what
    the chip drew on the workload it was measured on, for as long as this run lasts.
    It does not depend on this network's activity, and its assumptions say so.
    """
    missing = [k for k in REQUIRED_TERMS if k not in constants]
    other = dict(other_figures or {})
    if missing and "system_power" in constants:
        return _system_power_estimate(prof, constants, label, chips, other)
    if missing:
        why = why_unavailable or (f"{label}: no per-operation energy constants for "
                                  f"{', '.join(missing)}")
        return EnergyEstimate(False, label, dict(constants), {}, Energy(), (why,), other)
    n = prof.samples
    layers = {k: layer_energy(a, constants).scaled(1.0 / n) for k, a in prof.layers.items()}
    assumptions = [
        f"constants: {label}",
        "synaptic ops: every spike times its non-zero fan-out (the chip skips zero weights and "
        "silent sources)",
        "neuron updates: every neuron every step; 'active' when its membrane v changed or it "
        "spiked, 'idle' otherwise",
        "spikes: one packet per spike per destination core",
    ]
    static = Energy()
    if "hop" in constants:
        assumptions.append("hops: from the program's routes or placement (0 when unrouted)")
    else:
        assumptions.append("hop energy: no constant, counted as 0")
    if "static_power" in constants:
        if prof.dt is None:
            assumptions.append("static power not counted: the program has no dt")
        else:
            t = prof.steps * prof.dt
            static = Energy(static=constants["static_power"].si * t * chips)
            assumptions.append(f"static: P x T x chips, T = {prof.steps} steps x {prof.dt:g} s "
                               f"= {t:g} s per sample, {chips} chip(s)")
    else:
        assumptions.append("static power: no constant, counted as 0")
    if "system_power" in constants:
        assumptions.append("system_power is not used: the per-op constants above are complete")
    return EnergyEstimate(True, label, dict(constants), layers, static, tuple(assumptions), other)


def _system_power_estimate(prof: Profile, constants: Mapping[str, EnergyConstant], label: str,
                           chips: int, other: dict[str, Any]) -> EnergyEstimate:
    p = constants["system_power"]
    method = "system power x run time"
    if prof.dt is None:
        return EnergyEstimate(False, label, dict(constants), {}, Energy(),
                              (f"{label}: a system-power estimate needs the run's duration, and "
                               "the program has no dt",), other, method)
    t = prof.steps * prof.dt
    assumptions = (
        f"constants: {label}",
        f"SYSTEM-POWER ESTIMATE, not a per-op model: E = {p.value:g} {p.unit} (measured on the "
        f"workload named in its source, not on this network) x T x chips, T = {prof.steps} steps "
        f"x {prof.dt:g} s = {t:g} s per sample, {chips} chip(s)",
        "it does not depend on this network's spikes, synaptic ops or sparsity: the per-layer "
        "activity above is not in it",
    )
    return EnergyEstimate(True, label, dict(constants), {}, Energy(system=p.si * t * chips),
                          assumptions, other, method)


def chips_used(program: Program) -> int:
    return len({int(p.get("chip", 0)) for p in program.placement.values()}) or 1


#: (key of per_sample, heading with unit) for tables: what happened, per sample ...
ACTIVITY_COLUMNS = (("spikes", "spikes"), ("activation_sparsity", "act. sparsity"),
                    ("synaptic_ops", "synaptic ops"), ("dense_macs", "dense MACs"),
                    ("membrane_updates", "membrane updates"), ("mean_hops", "mean hops"))
#: ... and what is stored
STRUCTURE_COLUMNS = (("neurons", "neurons"), ("weights", "weights"),
                     ("connection_sparsity", "conn. sparsity"), ("footprint_bytes", "memory (bytes)"))
