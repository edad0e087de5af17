"""Reading and writing NIR files: one read path, one write path.

neurocc reads the NIR HDF5 layout itself (``version``, then a ``node`` group
of type ``NIRGraph`` with ``nodes`` and ``edges``) instead of going through
``nir.read``, for three reasons: parameters keep their exact dtype and
presence (so a round trip is bit for bit), nested subgraphs are flattened
here, and files that ``nir.read`` rejects for a declared-type mismatch (such
as Rockpool's exports) still load, with a warning naming the mismatch.
``from_nir``/``to_nir`` convert to and from the ``nir`` package's objects.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from .errors import ModelFileError, UnsupportedNodeError
from .graph import Graph, verify
from .nodes import NODE_TYPES, Input, Node, Output, supported_types

#: NIR file-format version written by ``save`` (the layout of nir 1.0).
NIR_FORMAT_VERSION = "1.0.8"


def _decode(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf8")
    if isinstance(value, np.ndarray) and value.dtype.kind in "OS":
        return np.array([_decode(v) for v in value.ravel()], dtype=object).reshape(value.shape)
    return value


def _read_group(group: h5py.Group) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, item in group.items():
        if isinstance(item, h5py.Group):
            out[key] = _read_group(item)
        else:
            out[key] = _decode(item[()])
    return out


def _node_from_dict(name: str, d: dict[str, Any], where: str) -> Node:
    kind = d.get("type")
    if kind is None:
        raise ModelFileError(f"{where}: node '{name}' has no 'type' field; not a NIR node")
    if kind == "NIRGraph":
        raise AssertionError("subgraphs are flattened by the caller")
    cls = NODE_TYPES.get(kind)
    if cls is None:
        raise UnsupportedNodeError(
            f"{where}: node '{name}' has type '{kind}', which neurocc does not support. "
            f"Supported types: {supported_types()}, and nested NIRGraph.")
    metadata = d.get("metadata") or {}
    params = {k: v for k, v in d.items() if k not in ("type", "metadata")}
    if kind in ("Input", "Output") and "shape" not in params:
        # nir.Input(input_type=...) written by some exporters as input_type
        for alt in ("input_type", "output_type"):
            if alt in params:
                params["shape"] = params.pop(alt)
    try:
        return cls.from_params(params, metadata)
    except KeyError as e:
        raise ModelFileError(f"{where}: node '{name}': {e.args[0]}") from None


def _flatten(graph_dict: dict[str, Any], prefix: str, where: str, warnings: list[str]
             ) -> tuple[dict[str, Node], list[tuple[str, str]], dict[str, tuple[list[str], list[str]]]]:
    """Nodes and edges of a (possibly nested) NIRGraph dict, names dotted.

    Returns, besides nodes and edges, for each nested subgraph the names of its
    inner Input and Output nodes, so that edges that address the subgraph can
    be re-attached to what lies inside.
    """
    nodes: dict[str, Node] = {}
    edges: list[tuple[str, str]] = []
    sub_io: dict[str, tuple[list[str], list[str]]] = {}
    raw_nodes = graph_dict.get("nodes")
    raw_edges = graph_dict.get("edges")
    if not isinstance(raw_nodes, dict) or raw_edges is None:
        raise ModelFileError(f"{where}: graph '{prefix.rstrip('.') or '<root>'}' lacks "
                             "'nodes' or 'edges'; not a NIR graph")
    for name, d in raw_nodes.items():
        full = prefix + name
        if not isinstance(d, dict):
            raise ModelFileError(f"{where}: node '{full}' is not a group")
        if d.get("type") == "NIRGraph":
            inner_nodes, inner_edges, inner_io = _flatten(d, full + ".", where, warnings)
            children = d.get("nodes") or {}
            ins = sorted(f"{full}.{k}" for k, v in children.items()
                         if isinstance(v, dict) and v.get("type") == "Input")
            outs = sorted(f"{full}.{k}" for k, v in children.items()
                          if isinstance(v, dict) and v.get("type") == "Output")
            nodes.update(inner_nodes)
            edges += inner_edges
            sub_io.update(inner_io)
            sub_io[full] = (ins, outs)
        else:
            nodes[full] = _node_from_dict(full, d, where)
    arr = np.asarray(raw_edges, dtype=object)
    if arr.size and (arr.ndim != 2 or arr.shape[1] != 2):
        raise ModelFileError(f"{where}: 'edges' of '{prefix or '<root>'}' must be pairs, "
                             f"got shape {list(arr.shape)}")
    local = [(str(_decode(a)), str(_decode(b))) for a, b in arr.reshape(-1, 2)]
    local = _repair_one_misnamed_edge_end(local, raw_nodes, prefix, warnings)
    edges += [(prefix + a, prefix + b) for a, b in local]
    return nodes, edges, sub_io


def _repair_one_misnamed_edge_end(edges: list[tuple[str, str]], raw_nodes: dict[str, Any],
                                  prefix: str, warnings: list[str]) -> list[tuple[str, str]]:
    """Repair the one unambiguous naming slip exporters make.

    If the edges of one graph level name exactly one node that does not exist,
    and exactly one node of that level is named by no edge, the missing name
    can only mean that node (the shared Braille subgraph file names 'lif' for
    its node 'lif1'; ``nir.read`` rejects it). Anything less clear-cut is left
    for ``verify`` to report.
    """
    def exists(name: str) -> bool:
        head = name.split(".", 1)[0]
        return name in raw_nodes or (head in raw_nodes and raw_nodes[head].get("type") == "NIRGraph")

    named = {x for e in edges for x in e}
    missing = sorted(x for x in named if not exists(x))
    orphans = sorted(n for n in raw_nodes if n not in named
                     and not any(x.startswith(n + ".") for x in named))
    if len(missing) == 1 and len(orphans) == 1:
        (bad,), (good,) = missing, orphans
        where = prefix.rstrip(".") or "<root>"
        warnings.append(f"graph '{where}': edges name '{bad}', which does not exist; the only "
                        f"node no edge names is '{good}', so '{bad}' was read as '{good}' "
                        "(nir.read rejects this file)")
        return [(good if a == bad else a, good if b == bad else b) for a, b in edges]
    return edges


def _splice_subgraphs(nodes: dict[str, Node], edges: list[tuple[str, str]],
                      sub_io: dict[str, tuple[list[str], list[str]]]) -> list[tuple[str, str]]:
    """Re-attach edges that name a subgraph, then remove its inner Input/Output."""
    # innermost first, so a subgraph inside a subgraph is resolved before its parent
    for sub in sorted(sub_io, key=lambda s: -s.count(".")):
        ins, outs = sub_io[sub]
        resolved: list[tuple[str, str]] = []
        for a, b in edges:
            # `sub` or `sub.port` as a target means the subgraph's Input node(s)
            if b == sub:
                resolved += [(a, i) for i in ins]
            elif a == sub:
                resolved += [(o, b) for o in outs]
            else:
                resolved.append((a, b))
        edges = resolved
        for boundary in ins + outs:
            preds = [a for a, b in edges if b == boundary]
            succs = [b for a, b in edges if a == boundary]
            edges = [(a, b) for a, b in edges if boundary not in (a, b)]
            edges += [(p, s) for p in preds for s in succs]
            del nodes[boundary]
    return edges


def load(path: str | os.PathLike, check: bool = True) -> Graph:
    """Read a ``.nir`` file into a flat, verified ``Graph``.

    Raises ``ModelFileError`` for a missing, truncated or non-HDF5 file,
    ``UnsupportedNodeError`` for an unknown node type and ``GraphError`` (all
    problems at once) for a graph that is structurally wrong.
    """
    path = Path(path)
    where = str(path)
    if not path.exists():
        raise ModelFileError(f"{where}: no such file")
    if path.is_dir():
        raise ModelFileError(f"{where}: is a directory, expected a .nir file")
    try:
        is_hdf5 = h5py.is_hdf5(path)
    except OSError as e:
        raise ModelFileError(f"{where}: cannot be read ({e})") from None
    if not is_hdf5 and path.stat().st_size == 0:
        raise ModelFileError(f"{where}: empty file (0 bytes), not a NIR file; export the model "
                             "again (nir.write)")
    if not is_hdf5:
        raise ModelFileError(f"{where}: not an HDF5 file, so not a NIR file "
                             "(NIR graphs are written with nir.write, e.g. by snnTorch, Norse or Sinabs)")
    try:
        with h5py.File(path, "r") as f:
            if "node" not in f:
                raise ModelFileError(f"{where}: HDF5 file without a 'node' group; not a NIR graph")
            version = _decode(f["version"][()]) if "version" in f else None
            root = _read_group(f["node"])
    except ModelFileError:
        raise
    except (OSError, KeyError, RuntimeError, ValueError) as e:
        raise ModelFileError(f"{where}: truncated or corrupt HDF5 file ({e}); "
                             "re-export the model") from None
    if root.get("type") != "NIRGraph":
        raise ModelFileError(f"{where}: top-level node is '{root.get('type')}', expected NIRGraph")
    repairs: list[str] = []
    nodes, edges, sub_io = _flatten(root, "", where, repairs)
    edges = _splice_subgraphs(nodes, edges, sub_io)
    metadata = dict(root.get("metadata") or {})
    if version is not None:
        metadata.setdefault("nir_version", str(version))
    graph = Graph(nodes, edges, metadata, load_warnings=repairs)
    if check:
        warnings = verify(graph, where=where)
        graph.load_warnings.extend(w for w in warnings if w not in graph.load_warnings)
    return graph


def _write_value(group: h5py.Group, key: str, value: Any) -> None:
    if isinstance(value, dict):
        sub = group.create_group(key)
        for k, v in value.items():
            _write_value(sub, k, v)
    elif isinstance(value, str):
        group.create_dataset(key, data=value, dtype=h5py.string_dtype())
    else:
        arr = np.asarray(value)
        if arr.dtype.kind in "OU":
            group.create_dataset(key, data=arr.astype(object), dtype=h5py.string_dtype())
        else:
            group.create_dataset(key, data=arr, dtype=arr.dtype)


def save(graph: Graph, path: str | os.PathLike) -> None:
    """Write `graph` as a NIR file that ``nir.read`` and ``load`` both read.

    Written to a temporary file first and renamed, so a failure leaves nothing.
    Metadata keys neurocc adds on load (``nir_version``) are not written back.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(suffix=".nir.tmp", dir=path.parent or ".")
    os.close(fd)
    try:
        with h5py.File(tmp, "w") as f:
            f.create_dataset("version", data=NIR_FORMAT_VERSION, dtype=h5py.string_dtype())
            root = f.create_group("node")
            root.create_dataset("type", data="NIRGraph", dtype=h5py.string_dtype())
            group = root.create_group("nodes")
            for name, node in graph.nodes.items():
                g = group.create_group(name)
                g.create_dataset("type", data=node.kind, dtype=h5py.string_dtype())
                for k, v in node.params().items():
                    _write_value(g, k, v)
                if node.metadata:
                    _write_value(g, "metadata", node.metadata)
            edges = np.array(graph.edges, dtype=object).reshape(-1, 2)
            root.create_dataset("edges", data=edges, dtype=h5py.string_dtype())
            meta = {k: v for k, v in graph.metadata.items() if k != "nir_version"}
            if meta:
                _write_value(root, "metadata", meta)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def from_nir(nir_graph: Any) -> Graph:
    """Convert a ``nir.NIRGraph`` (as exporters build in memory) into a Graph."""
    import nir  # lazy: only needed for in-memory interchange

    def to_dict(node: Any) -> dict[str, Any]:
        if isinstance(node, nir.NIRGraph):
            return {"type": "NIRGraph",
                    "nodes": {k: to_dict(v) for k, v in node.nodes.items()},
                    "edges": np.array(node.edges, dtype=object).reshape(-1, 2),
                    "metadata": dict(node.metadata or {})}
        d = node.to_dict()
        if isinstance(node, nir.Input):
            d = {"type": "Input", "shape": np.asarray(node.input_type["input"])}
        elif isinstance(node, nir.Output):
            d = {"type": "Output", "shape": np.asarray(node.output_type["output"])}
        elif isinstance(node, nir.Flatten):
            it = node.input_type.get("input") if node.input_type else None
            d = {"type": "Flatten", "start_dim": np.asarray(node.start_dim),
                 "end_dim": np.asarray(node.end_dim)}
            if it is not None:
                d["input_type"] = np.asarray(it)
        d["metadata"] = dict(getattr(node, "metadata", {}) or {})
        return {k: v for k, v in d.items() if v is not None}

    root = to_dict(nir_graph)
    repairs: list[str] = []
    nodes, edges, sub_io = _flatten(root, "", "<nir graph>", repairs)
    edges = _splice_subgraphs(nodes, edges, sub_io)
    graph = Graph(nodes, edges, root.get("metadata"), load_warnings=repairs)
    graph.load_warnings.extend(verify(graph, where="<nir graph>"))
    return graph


def to_nir(graph: Graph) -> Any:
    """Convert a Graph into a ``nir.NIRGraph`` (type checking left to nir)."""
    import nir

    nodes = {}
    for name, node in graph.nodes.items():
        # 0-d arrays (Conv groups, scalar stride) as numpy scalars, as nir.read gives
        # them: nir.write refuses 0-d arrays ("Scalar datasets don't support chunk")
        p = {k: (v[()] if v.ndim == 0 else v) for k, v in node.params().items()}
        if node.kind == "Input":
            nodes[name] = nir.Input(input_type={"input": p["shape"]})
        elif node.kind == "Output":
            nodes[name] = nir.Output(output_type={"output": p["shape"]})
        elif node.kind == "Flatten":
            it = p.get("input_type")
            nodes[name] = nir.Flatten(start_dim=int(p["start_dim"]), end_dim=int(p["end_dim"]),
                                      input_type={"input": it})
        elif node.kind == "Identity":
            raise UnsupportedNodeError(f"node '{name}': NIR has no Identity primitive")
        elif node.kind in ("Conv1d", "Conv2d"):
            # nir requires the argument (None when absent); Conv1d's is one int in nir
            shape = p.get("input_shape")
            if node.kind == "Conv1d" and shape is not None and np.size(shape) == 1:
                shape = np.asarray(shape).reshape(())[()]
            nodes[name] = getattr(nir, node.kind)(**{**p, "input_shape": shape})
        else:
            nodes[name] = getattr(nir, node.kind)(**p)
    return nir.NIRGraph(nodes=nodes, edges=list(graph.edges), metadata=dict(graph.metadata),
                        type_check=False)
