"""``Program``: the lowered, integer form of a network for one chip target.

A Program is what a chip needs and nothing else: neuron groups with integer
parameters, synapse blocks with integer weights, the wiring, input and output
ports, and the semantics record. The emulator runs it; a backend emits it.

On disk it is the artifact of DESIGN.md: a directory with ``manifest.json``
(format version, target, dt, ports, semantics, pass log, source hash) and
``program.npz`` (integer arrays only, read with ``allow_pickle=False``). The
same Program always writes byte-identical files.

Timing convention shared by the emulator and every backend: step
``k`` (0-based) of an input port carries row ``k`` of the input array; every
synapse block delivers what it received at step ``k`` to its target at step
``k + latency + delay``, where the latency is the target's (``synapses.latency``,
1 on every chip so far; from an input port ``synapses.input_latency``, which is 0
on a chip whose input acts in the step it arrives); a neuron group emits its
spikes in the step it updates.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from .blocks import ENCODINGS, Encoding, as_encoding
from .errors import ArtifactError

#: bump when the artifact layout changes; readers refuse other versions.
#: 2: blocks carry their encoding (``encoding``: dense, sparse or conv, each with its own
#: arrays) and chip storage (``storage``:
#: dense | sparse); each output port its latency; dt and activity rates typed fields
ARTIFACT_FORMAT = 2


@dataclasses.dataclass
class NeuronGroup:
    """A population sharing one neuron model (a kernel name its target registers)."""

    name: str
    model: str
    shape: tuple[int, ...]
    #: integer parameters: population scalars as 0-d arrays, per-neuron arrays of `size`
    params: dict[str, np.ndarray]
    #: the graph node this group came from
    source: str = ""

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))


@dataclasses.dataclass
class InputPort:
    """External input (``kind='data'``), or a constant source (``kind='const'``)
    that emits one spike per neuron every step from step ``start`` on (used to
    carry an Affine bias into a synaptic current)."""

    name: str
    shape: tuple[int, ...]
    kind: str = "data"
    start: int = 0

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))


@dataclasses.dataclass
class SynapseBlock:
    """Integer weights from a source (input port or group) to a target group.

    ``weights`` is an encoding (``ir.blocks``: read it through its API, never as
    a matrix) of shape (target size, source size); a plain array given here
    becomes ``Dense``. ``storage`` says how a chip should store it (``dense``
    or ``sparse``); the arithmetic is the same. The weight exponent shifts the
    accumulated sum.
    """

    name: str
    source: str
    target: str
    weights: Encoding
    weight_exp: int = 0
    num_weight_bits: int = 8
    sign_mode: str = "mixed"  # mixed | excitatory | inhibitory (never auto-detected)
    delay: int = 0
    storage: str = "dense"
    #: which synaptic input of the target neurons the block feeds: 0, or 1 for a second
    #: synaptic current with its own decay (a chip's second synapse); kernels with one take 0
    #: only
    receptor: int = 0

    def __post_init__(self) -> None:
        self.weights = as_encoding(self.weights)


@dataclasses.dataclass
class OutputPort:
    """An output: what `group` reports, or, in a partitioned program, the slices in
    `parts`, concatenated in order (row-major over `shape`).

    ``kind="spikes"``: its spikes (0/1). ``kind="voltage"``: the membrane voltage v of
    a readout group (a non-spiking LI or CubaLI node of the model; the chip's probe
    reads it), int32; ``v / scale`` is the value in the model's float units.
    """

    name: str
    group: str
    shape: tuple[int, ...]
    parts: tuple[str, ...] = ()
    kind: str = "spikes"
    scale: float = 1.0
    #: steps the chip answers after the float model (synaptic latency times depth);
    #: ``verify`` and the API align the float reference by it
    latency: int = 0

    @property
    def groups(self) -> tuple[str, ...]:
        return self.parts or (self.group,)

    def to_float(self, values: np.ndarray) -> np.ndarray:
        """A voltage output in the model's float units (spikes as they are)."""
        if self.kind != "voltage":
            return np.asarray(values)
        return np.asarray(values, np.float64) / self.scale


@dataclasses.dataclass
class Program:
    target: str
    groups: dict[str, NeuronGroup]
    synapses: list[SynapseBlock]
    inputs: list[InputPort]
    outputs: list[OutputPort]
    semantics: dict[str, Any]
    pass_log: list[str] = dataclasses.field(default_factory=list)
    source_hash: str = ""
    #: free-form, JSON-able (e.g. the quantization report)
    info: dict[str, Any] = dataclasses.field(default_factory=dict)
    #: where each group runs, after partitioning: {group: {"chip", "core", "slice_of",
    #: "start", "stop"}}; empty for an unplaced program
    placement: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    #: seconds per step the program was quantized for
    dt: float = 0.0
    #: expected spike rate per group (spikes per neuron per step) that partition and the
    #: router weigh traffic by; empty: every neuron spikes every step
    rates: dict[str, float] = dataclasses.field(default_factory=dict)
    #: the routes place & route chose, one per (source slice, destination core):
    #: {"source": group, "target": "chipC:coreK", "targets": [groups], "chip", "core",
    #: "hops", "chip_hops", "load", "path": [[x, y], ...]}; the profiler counts hops on them
    routes: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    @property
    def output_latency(self) -> dict[str, int]:
        """Steps each output answers after the float model, by output name."""
        return {p.name: p.latency for p in self.outputs}

    @property
    def data_inputs(self) -> list[InputPort]:
        return [p for p in self.inputs if p.kind == "data"]

    def port(self, name: str) -> InputPort | None:
        return next((p for p in self.inputs if p.name == name), None)

    def source_size(self, name: str) -> int:
        port = self.port(name)
        return port.size if port is not None else self.groups[name].size

    @property
    def readout_groups(self) -> tuple[str, ...]:
        """Groups whose voltage is an output: never meant to spike, their v is read."""
        return tuple(g for p in self.outputs if p.kind == "voltage" for g in p.groups)

    def collect_outputs(self, spikes: dict[str, np.ndarray], voltages: dict[str, np.ndarray]
                        ) -> dict[str, np.ndarray]:
        """Each output port's [T, B, *shape] array from the groups' spikes [T, B, n] and, for
        voltage ports, their v [T, B, n] (one assembly for the emulator and every backend)."""
        out = {}
        for p in self.outputs:
            parts = [(voltages if p.kind == "voltage" else spikes)[g] for g in p.groups]
            steps, batch = parts[0].shape[:2]
            out[p.name] = np.concatenate(parts, axis=-1).reshape((steps, batch) + tuple(p.shape))
        return out

    def check(self) -> None:
        """Structural consistency (a bug, not a user error, if it fails)."""
        for b in self.synapses:
            n_src = self.source_size(b.source)
            n_dst = self.groups[b.target].size
            if b.weights.shape != (n_dst, n_src):
                raise ValueError(f"synapse block '{b.name}': weights {b.weights.shape}, "
                                 f"expected {(n_dst, n_src)}")
            if isinstance(b.receptor, bool) or not isinstance(b.receptor, (int, np.integer)) \
                    or b.receptor < 0:
                raise ValueError(f"synapse block '{b.name}': receptor {b.receptor!r}, expected "
                                 "an integer >= 0")
            if b.weights.kind not in ENCODINGS:
                raise ValueError(f"synapse block '{b.name}': unknown encoding {b.weights.kind!r}")
        for p in self.outputs:
            if p.kind not in ("spikes", "voltage") or not (p.scale > 0):
                raise ValueError(f"output '{p.name}': kind {p.kind!r}, scale {p.scale}; expected "
                                 "'spikes' or 'voltage' and a positive scale")

    # --- artifact --------------------------------------------------------
    def to_files(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        arrays: dict[str, np.ndarray] = {}
        groups = []
        for g in self.groups.values():
            groups.append({"name": g.name, "model": g.model, "shape": list(g.shape),
                           "source": g.source, "params": sorted(g.params)})
            for k, v in g.params.items():
                arrays[f"group/{g.name}/{k}"] = _int_array(v, f"group {g.name}.{k}")
        synapses = []
        for b in self.synapses:
            synapses.append({"name": b.name, "source": b.source, "target": b.target,
                             "weight_exp": int(b.weight_exp), "num_weight_bits": int(b.num_weight_bits),
                             "sign_mode": b.sign_mode, "delay": int(b.delay),
                             "encoding": b.weights.kind, "storage": b.storage}
                            | ({"receptor": int(b.receptor)} if b.receptor else {}))
            for key, value in b.weights.arrays().items():
                arrays[f"synapse/{b.name}/{key}"] = _int_array(value, f"synapse {b.name}.{key}")
        manifest = {
            "format": ARTIFACT_FORMAT,
            "kind": "neurocc.program",
            "target": self.target,
            "neurocc_version": _version(),
            "dt": self.dt,
            "rates": self.rates,
            "routes": self.routes,
            "inputs": [dataclasses.asdict(p) | {"shape": list(p.shape)} for p in self.inputs],
            "outputs": [dataclasses.asdict(p) | {"shape": list(p.shape), "parts": list(p.parts)}
                        for p in self.outputs],
            "placement": self.placement,
            "groups": groups,
            "synapses": synapses,
            "semantics": self.semantics,
            "pass_log": list(self.pass_log),
            "source_hash": self.source_hash,
            "info": self.info,
        }
        return manifest, arrays

    @classmethod
    def from_files(cls, manifest: dict[str, Any], arrays: dict[str, np.ndarray]) -> "Program":
        groups = {}
        for g in manifest["groups"]:
            params = {k: arrays[f"group/{g['name']}/{k}"] for k in g["params"]}
            groups[g["name"]] = NeuronGroup(g["name"], g["model"], tuple(g["shape"]), params, g["source"])
        synapses = []
        for s in manifest["synapses"]:
            s = dict(s)
            enc = ENCODINGS[s.pop("encoding")]
            prefix = f"synapse/{s['name']}/"
            weights = enc.from_arrays({k[len(prefix):]: v for k, v in arrays.items()
                                       if k.startswith(prefix)})
            synapses.append(SynapseBlock(weights=weights, **s))
        inputs = [InputPort(p["name"], tuple(p["shape"]), p["kind"], p["start"]) for p in manifest["inputs"]]
        outputs = [OutputPort(p["name"], p["group"], tuple(p["shape"]), tuple(p["parts"]),
                              p["kind"], float(p["scale"]), int(p["latency"]))
                   for p in manifest["outputs"]]
        return cls(manifest["target"], groups, synapses, inputs, outputs, manifest["semantics"],
                   manifest.get("pass_log", []), manifest.get("source_hash", ""),
                   manifest.get("info", {}), manifest.get("placement", {}),
                   float(manifest["dt"]), {k: float(v) for k, v in manifest["rates"].items()},
                   list(manifest["routes"]))


def _int_array(v: Any, what: str) -> np.ndarray:
    a = np.asarray(v)
    if a.dtype.kind not in "iub":
        raise ValueError(f"{what}: artifacts hold integer arrays only, got {a.dtype}")
    return a


def _version() -> str:
    try:
        from importlib.metadata import version
        return version("neurocc")
    except Exception:  # not installed (running from a source tree)
        return "0+unknown"


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """A deterministic .npz: sorted members, fixed timestamps, no compression."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for key in sorted(arrays):
            member = io.BytesIO()
            # not np.ascontiguousarray: it turns 0-d population scalars (du, dv, vth) into shape (1,)
            np.lib.format.write_array(member, np.asarray(arrays[key], order="C"), allow_pickle=False)
            info = zipfile.ZipInfo(key + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            zf.writestr(info, member.getvalue())
    return buf.getvalue()


def save_program(program: Program, path: str | os.PathLike,
                 extra: dict[str, bytes] | None = None) -> Path:
    """Write the artifact directory atomically (temp dir, then rename).

    `extra`: more files for the directory, by name (a chip's own export, say), written
    in the same temporary directory so the artifact appears whole or not at all."""
    path = Path(path)
    program.check()
    manifest, arrays = program.to_files()
    parent = path.parent if str(path.parent) else Path(".")
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=parent))
    try:
        (tmp / "program.npz").write_bytes(npz_bytes(arrays))
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        for name, data in (extra or {}).items():
            (tmp / name).write_bytes(data)
        if path.exists():
            if not (path / "manifest.json").exists() and any(path.iterdir()):
                raise ArtifactError(f"{path}: exists and is not a neurocc artifact; refusing to "
                                    "overwrite it (choose another -o)")
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return path


def load_program(path: str | os.PathLike) -> Program:
    path = Path(path)
    mpath, npath = path / "manifest.json", path / "program.npz"
    if not mpath.exists() or not npath.exists():
        raise ArtifactError(f"{path}: not a neurocc artifact (needs manifest.json and program.npz); "
                            "make one with `neurocc compile MODEL --target TARGET -o DIR`")
    try:
        manifest = json.loads(mpath.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ArtifactError(f"{mpath}: not valid JSON ({e}); the artifact is damaged, compile "
                            "the model again") from None
    if not isinstance(manifest, dict) or manifest.get("kind") != "neurocc.program":
        raise ArtifactError(f"{mpath}: not a neurocc program manifest")
    version = manifest.get("format")
    if isinstance(version, bool) or version != ARTIFACT_FORMAT:  # true == 1 in Python
        found = "no format version" if version is None else f"artifact format {version!r}"
        raise ArtifactError(
            f"{path}: {found} (written by neurocc {manifest.get('neurocc_version')}); this "
            f"neurocc reads format {ARTIFACT_FORMAT}. Recompile the model with this version: "
            f"`neurocc compile MODEL --target {manifest.get('target', 'TARGET')} -o {path}` "
            "(the artifact keeps its model as source.nir).")
    try:
        with np.load(npath, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (ValueError, OSError, zipfile.BadZipFile) as e:
        raise ArtifactError(f"{npath}: unreadable ({e}); the artifact is damaged, compile the "
                            "model again") from None
    for key, value in arrays.items():   # the artifact format: integer arrays only
        if value.dtype.kind not in "iub":
            raise ArtifactError(f"{npath}: member '{key}' holds {value.dtype} values; an artifact "
                                "holds integers only. It was edited or damaged; compile the model "
                                "again")
    try:
        program = Program.from_files(manifest, arrays)
        program.check()
    except KeyError as e:
        raise ArtifactError(f"{path}: manifest and program.npz disagree, missing {e}") from None
    except (TypeError, ValueError, IndexError, AttributeError) as e:
        # an edited or damaged manifest: its entries are not what compile writes
        raise ArtifactError(f"{path}: manifest.json and program.npz do not describe one program "
                            f"({e}); the artifact is damaged, compile the model again") from None
    return program


def file_hash(path: str | os.PathLike) -> str:
    return "sha256:" + hashlib.sha256(Path(path).read_bytes()).hexdigest()
