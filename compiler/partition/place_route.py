"""Place and route: cores onto each chip's mesh, chips onto the board's mesh, spikes onto links.

Coordinates: core ``c`` of a chip sits at ``(c % mx, c // mx)`` of its
``core_mesh`` (mx, my); chip ``h`` at ``(h % cx, h // cx)`` of the
``chip_mesh``; together one global grid, core (x, y) of chip (hx, hy) at
``(hx * mx + x, hy * my + y)`` (the convention ``simulators.profile`` reads).
Placement renumbers cores and chips (a permutation), so cores that exchange
many spikes sit close: the candidates are program order laid on a serpentine
and a spectral order (the Fiedler vector of the traffic graph) laid on the
same serpentine; the one with the smallest sum of load x distance is kept.

Routing is dimension-order, X first then Y, on the global grid: one route
per (source slice, destination core), carrying the spikes of the slice's
neurons that have a synapse on that core. Its load is the expected spikes per
step (the partition's rates); per directed link the loads add up.
``program.routes`` holds the routes (source, target core, hops, the
path of grid points, load) and ``program.info["routing"]`` the link loads, the
busiest link, hop statistics and routing entries per core.

Two entry points, one path: ``place_and_route`` (a partitioned Program, its
traffic counted from the weights) and ``place_and_route_plan`` (a Plan alone,
its traffic from the slice edges, for networks too large for a Program) differ
only in how they count traffic; both place and route through ``_place_and_route``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from neurocc.ir import CapacityError, NeuroccError, Program
from neurocc.ir.target import TargetSpec, Topology

from .plan import Plan


@dataclasses.dataclass
class Routes:
    """Routes as arrays: source slice, its global core, destination global core, load."""

    source: np.ndarray    # slice index
    src_core: np.ndarray  # global core id (chip * cores_per_chip + core)
    dst_core: np.ndarray
    load: np.ndarray      # spikes per step


def serpentine(cores_per_chip: int, mesh: tuple[int, int]) -> np.ndarray:
    """Core numbers in boustrophedon order (neighbours in the list are neighbours on the mesh)."""
    mx, my = mesh
    order = []
    for y in range(my):
        xs = range(mx) if y % 2 == 0 else range(mx - 1, -1, -1)
        order += [y * mx + x for x in xs if y * mx + x < cores_per_chip]
    return np.array(order, np.int64)


def _cost(traffic: np.ndarray, pos: np.ndarray, mx: int) -> float:
    x, y = pos % mx, pos // mx
    d = np.abs(x[:, None] - x[None, :]) + np.abs(y[:, None] - y[None, :])
    return float((traffic * d).sum())


def _spectral_order(traffic: np.ndarray) -> np.ndarray:
    sym = traffic + traffic.T
    lap = np.diag(sym.sum(axis=1)) - sym
    _, vecs = np.linalg.eigh(lap)
    return np.argsort(vecs[:, 1], kind="stable") if len(sym) > 2 else np.arange(len(sym))


def place_on_mesh(traffic: np.ndarray, slots: int, mesh: tuple[int, int]) -> np.ndarray:
    """New position (core number) of each of n units exchanging `traffic` [n, n].

    Units keep their order on a serpentine, or take the spectral order, whichever
    costs less (load x Manhattan distance).
    """
    n = len(traffic)
    path = serpentine(slots, mesh)[:n]
    if n <= 2:
        return path.copy()
    candidates = [path.copy()]
    if n <= 2048:
        pos = np.empty(n, np.int64)
        pos[_spectral_order(traffic)] = path
        candidates.append(pos)
    row_major = np.arange(n, dtype=np.int64)
    candidates.append(row_major)
    costs = [_cost(traffic, c, mesh[0]) for c in candidates]
    return candidates[int(np.argmin(costs))]


def _xy(global_core: np.ndarray, t: Topology) -> tuple[np.ndarray, np.ndarray]:
    mx, my = t.core_mesh
    cx = t.chip_mesh[0]
    chip, core = global_core // t.cores_per_chip, global_core % t.cores_per_chip
    return (chip % cx) * mx + core % mx, (chip // cx) * my + core // mx


def link_loads(routes: Routes, t: Topology) -> dict[str, np.ndarray]:
    """Per directed link, the summed load of the routes through it (X then Y).

    Difference arrays: a route adds its load to a run of links along x at its
    source's row, then along y at its destination's column; O(routes + grid).
    """
    w, h = t.chip_mesh[0] * t.core_mesh[0], t.chip_mesh[1] * t.core_mesh[1]
    sx, sy = _xy(routes.src_core, t)
    dx, dy = _xy(routes.dst_core, t)
    out = {}
    for name, a, b, fixed, length, other in (("east", sx, dx, sy, w, h), ("west", dx, sx, sy, w, h),
                                             ("north", sy, dy, dx, h, w),
                                             ("south", dy, sy, dx, h, w)):
        # eastward: a < b, links a..b-1 at row `fixed`; westward: the same run, reversed
        run = a < b
        diff = np.zeros((other, length + 1))
        np.add.at(diff, (fixed[run], a[run]), routes.load[run])
        np.add.at(diff, (fixed[run], b[run]), -routes.load[run])
        out[name] = np.cumsum(diff, axis=1)[:, :length]
    return out


def _links(loads: dict[str, np.ndarray], t: Topology) -> list[dict[str, Any]]:
    mx, my = t.core_mesh
    step = {"east": (1, 0), "west": (-1, 0), "north": (0, 1), "south": (0, -1)}
    out = []
    for name, arr in loads.items():
        for i, j in zip(*np.nonzero(arr > 0)):
            if name in ("east", "west"):
                y, lo = int(i), int(j)
                a, b = ((lo, y), (lo + 1, y)) if name == "east" else ((lo + 1, y), (lo, y))
            else:
                x, lo = int(i), int(j)
                a, b = ((x, lo), (x, lo + 1)) if name == "north" else ((x, lo + 1), (x, lo))
            assert (b[0] - a[0], b[1] - a[1]) == step[name]
            chip_a = (a[0] // mx, a[1] // my)
            chip_b = (b[0] // mx, b[1] // my)
            out.append({"from": list(a), "to": list(b), "load": float(arr[i, j]),
                        "inter_chip": chip_a != chip_b})
    out.sort(key=lambda r: (-r["load"], r["from"], r["to"]))
    return out


def _path(sx: int, sy: int, dx: int, dy: int) -> list[list[int]]:
    xs = range(sx, dx + (1 if dx >= sx else -1), 1 if dx >= sx else -1)
    path = [[x, sy] for x in xs]
    ys = range(sy, dy + (1 if dy >= sy else -1), 1 if dy >= sy else -1)
    path += [[dx, y] for y in list(ys)[1:]]
    return path


def placement_permutation(src: np.ndarray, dst: np.ndarray, load: np.ndarray,
                          chip_of_core: np.ndarray, local_of_core: np.ndarray, t: Topology
                          ) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
    """New (chip, core) of every used core: chips placed on the chip mesh, cores on theirs.

    The traffic is given sparse, as (source core, destination core, spikes per step)
    over the used cores 0..m-1, so a placement of thousands of cores needs no m x m
    matrix: only chips x chips and, per chip, its cores x cores.
    """
    m = len(chip_of_core)
    chips = int(chip_of_core.max(initial=-1)) + 1
    cs, cd = chip_of_core[src], chip_of_core[dst]
    chip_traffic = np.zeros((chips, chips))
    np.add.at(chip_traffic, (cs, cd), load)
    np.fill_diagonal(chip_traffic, 0)
    chip_pos = place_on_mesh(chip_traffic, t.chip_mesh[0] * t.chip_mesh[1], t.chip_mesh)
    new_chip = chip_pos[chip_of_core]
    new_core = np.empty(m, np.int64)
    inside = np.flatnonzero((cs == cd) & (src != dst))
    by_chip = inside[np.argsort(cs[inside], kind="stable")]
    starts = np.searchsorted(cs[by_chip], np.arange(chips + 1))
    for h in range(chips):
        members = np.flatnonzero(chip_of_core == h)
        members = members[np.argsort(local_of_core[members], kind="stable")]
        local = np.full(m, -1, np.int64)
        local[members] = np.arange(members.size)
        r = by_chip[starts[h]:starts[h + 1]]
        sub = np.zeros((members.size, members.size))
        np.add.at(sub, (local[src[r]], local[dst[r]]), load[r])
        new_core[members] = place_on_mesh(sub, t.cores_per_chip, t.core_mesh)
    before = _global_cost(src, dst, load, chip_of_core * t.cores_per_chip + local_of_core, t)
    after = _global_cost(src, dst, load, new_chip * t.cores_per_chip + new_core, t)
    if after > before:  # keep the partition's own numbering when placement cannot beat it
        new_chip, new_core, after = chip_of_core.copy(), local_of_core.copy(), before
    return new_chip, new_core, {"load_x_hops_before": before, "load_x_hops_after": after}


def _global_cost(src: np.ndarray, dst: np.ndarray, load: np.ndarray, global_core: np.ndarray,
                 t: Topology) -> float:
    x, y = _xy(global_core, t)
    return float((load * (np.abs(x[src] - x[dst]) + np.abs(y[src] - y[dst]))).sum())


def _route_summary(routes: Routes, t: Topology, entries_limit: int) -> dict[str, Any]:
    sx, sy = _xy(routes.src_core, t)
    dx, dy = _xy(routes.dst_core, t)
    hops = np.abs(sx - dx) + np.abs(sy - dy)
    mx, my = t.core_mesh
    chip_hops = np.abs(sx // mx - dx // mx) + np.abs(sy // my - dy // my)
    loads = link_loads(routes, t)
    links = _links(loads, t)
    total = float(routes.load.sum())
    entries = np.bincount(routes.src_core) if routes.src_core.size else np.zeros(0, np.int64)
    return {
        "rule": "dimension order: X first, then Y, on the global grid of cores",
        "routes": int(routes.load.size),
        "spikes_per_step": total,
        "load_x_hops": float((routes.load * hops).sum()),
        "mean_hops": float((routes.load * hops).sum() / total) if total else 0.0,
        "max_hops": int(hops.max(initial=0)),
        "inter_chip_spikes_per_step": float(routes.load[chip_hops > 0].sum()),
        "inter_chip_link_crossings": float((routes.load * chip_hops).sum()),
        "busiest_link": links[0] if links else None,
        "links": links,
        "routing_entries": {"max_per_core": int(entries.max(initial=0)),
                            "limit": entries_limit or None},
    }, hops, chip_hops


def check_routing_entries(routes: Routes, limit: int, label: Any) -> None:
    if not limit or routes.src_core.size == 0:
        return
    entries = np.bincount(routes.src_core)
    bad = np.flatnonzero(entries > limit)
    if bad.size:
        raise CapacityError("routing tables overflow: " + "; ".join(
            f"{label(int(c))} needs {int(entries[c])} entries" for c in bad[:5])
            + f" (routing_entries {limit} per core); use a chip with larger routing tables "
              "or fewer, larger slices")


def _mesh(target: TargetSpec) -> Topology:
    t = target.topology
    if t is None:
        raise NeuroccError(f"target '{target.name}' has no [topology]: nothing to place on")
    return t


def _used_cores(chip: np.ndarray, core: np.ndarray, t: Topology
                ) -> tuple[np.ndarray, np.ndarray]:
    """The global cores in use, ascending, and the index among them of each slice's core."""
    return np.unique(chip * t.cores_per_chip + core, return_inverse=True)


@dataclasses.dataclass
class _Placed:
    """Used cores placed on the mesh and the routes between them (``_place_and_route``)."""

    routes: Routes
    chip: np.ndarray       # per used core: its chip after placement
    core: np.ndarray       # per used core: its core on that chip after placement
    summary: dict[str, Any]
    hops: np.ndarray       # per route: links crossed
    chip_hops: np.ndarray  # per route: chip boundaries crossed


def _place_and_route(used: np.ndarray, core_id: np.ndarray, src: np.ndarray,
                     dst_id: np.ndarray, load: np.ndarray, target: TargetSpec) -> _Placed:
    """Place the used cores and route the traffic: the one path both entry points take.

    used: the global cores in use; core_id: per slice, the index of its core in
    `used`; one route per (source slice `src`, destination core `dst_id`, an
    index in `used`) carrying `load` spikes per step. The entry points differ
    only in how they count that traffic (a Program's weights, a Plan's slice
    edges), so placement, routing, the routing-table check and the summary
    are the same code for both.
    """
    t = _mesh(target)
    new_chip_of, new_core_of, cost = placement_permutation(
        core_id[src], dst_id, load, used // t.cores_per_chip, used % t.cores_per_chip, t)
    new_global = new_chip_of * t.cores_per_chip + new_core_of
    routes = Routes(src, new_global[core_id[src]], new_global[dst_id], load)
    label = lambda c: f"chip {c // t.cores_per_chip} core {c % t.cores_per_chip}"  # noqa: E731
    limit = target.cores.routing_entries if target.cores is not None else 0
    check_routing_entries(routes, limit, label)
    summary, hops, chip_hops = _route_summary(routes, t, limit)
    summary["placement"] = cost
    return _Placed(routes, new_chip_of, new_core_of, summary, hops, chip_hops)


def place_and_route(program: Program, target: TargetSpec) -> Program:
    """Place the partitioned `program`'s cores and chips, route its spikes (see module doc)."""
    t = _mesh(target)
    if not program.placement or any("core" not in p for p in program.placement.values()):
        raise NeuroccError("place_and_route needs a partitioned program (run the partition "
                           "pass first): its placement names no cores")
    names = list(program.groups)
    index = {g: i for i, g in enumerate(names)}
    chip = np.array([int(program.placement[g].get("chip", 0)) for g in names], np.int64)
    core = np.array([int(program.placement[g]["core"]) for g in names], np.int64)
    used, core_id = _used_cores(chip, core, t)
    rates = program.rates          # spikes per neuron and step, by group (the partition's)
    rate = np.array([float(rates.get(program.placement[g].get("slice_of", g), 1.0))
                     for g in names])
    # per (source slice, destination core): the source neurons with a synapse there
    reach: dict[tuple[int, int], np.ndarray] = {}
    targets: dict[tuple[int, int], set[str]] = {}
    for b in program.synapses:
        if b.source not in index:
            continue  # input ports enter from outside the mesh
        u, v = index[b.source], index[b.target]
        cols = b.weights.fan_out() > 0
        key = (u, int(core_id[v]))
        reach[key] = reach[key] | cols if key in reach else cols
        targets.setdefault(key, set()).add(b.target)
    keys = sorted(reach)
    src = np.array([k[0] for k in keys], np.int64)
    dst_id = np.array([k[1] for k in keys], np.int64)
    load = np.array([float(reach[k].sum()) * rate[k[0]] for k in keys])
    placed = _place_and_route(used, core_id, src, dst_id, load, target)
    routes = placed.routes
    sx, sy = _xy(routes.src_core, t)
    dx, dy = _xy(routes.dst_core, t)
    route_list = []
    for r, (u, d) in enumerate(zip(src, dst_id)):
        c = int(routes.dst_core[r])
        route_list.append({
            "source": names[u], "target": f"chip{c // t.cores_per_chip}:core{c % t.cores_per_chip}",
            "targets": sorted(targets[(int(u), int(d))]),
            "chip": c // t.cores_per_chip, "core": c % t.cores_per_chip,
            "hops": int(placed.hops[r]), "chip_hops": int(placed.chip_hops[r]),
            "load": float(load[r]),
            "path": _path(int(sx[r]), int(sy[r]), int(dx[r]), int(dy[r]))})
    placement = {}
    for g in names:
        p = dict(program.placement[g])
        i = core_id[index[g]]
        p["chip"], p["core"] = int(placed.chip[i]), int(placed.core[i])
        placement[g] = p
    info = dict(program.info, routing=placed.summary)
    out = dataclasses.replace(program, placement=placement, info=info, routes=route_list)
    _renumber_report(out, t)
    return out


def place_and_route_plan(plan: Plan, target: TargetSpec) -> dict[str, Any]:
    """Place and route a partition plan (``plan_partition``) without a Program.

    For networks held only as a sparse Structure (bench/partition.py). The load of a
    route is the sum of its slice edges to the destination core: exact when the
    core holds one slice the source feeds, else an upper bound (a spike reaching two
    slices of one core is counted twice). Returns the routing summary.
    """
    t = _mesh(target)
    sg, a = plan.slices, plan.assignment
    used, core_id = _used_cores(a.chip, a.core, t)
    m = len(used)
    key = sg.src * m + core_id[sg.dst]
    uniq, inv = np.unique(key, return_inverse=True)
    load = np.bincount(inv, weights=sg.weight)
    src, dst_id = uniq // m, uniq % m
    return _place_and_route(used, core_id, src, dst_id, load, target).summary


def _renumber_report(program: Program, t: Topology) -> None:
    """The partition's per-core report under the placed core numbers."""
    res = program.info.get("resources")
    if not res:
        return
    res = dict(res)
    where = {g: (p["chip"], p["core"]) for g, p in program.placement.items()}
    cores = []
    for c in res.get("cores", []):
        c = dict(c)
        c["chip"], c["core"] = where[c["slices"][0]]
        cores.append(c)
    res["cores"] = sorted(cores, key=lambda c: (c["chip"], c["core"]))
    counts: dict[int, int] = {}
    for c in cores:
        counts[c["chip"]] = counts.get(c["chip"], 0) + 1
    res["cores_per_chip"] = [counts.get(h, 0) for h in range(max(counts, default=-1) + 1)]
    layers = {}
    for name, layer in res.get("layers", {}).items():
        layer = dict(layer)
        layer["cores"] = sorted({where[g] for g, p in program.placement.items()
                                 if p.get("slice_of") == name})
        layer["cores"] = [list(c) for c in layer["cores"]]
        layers[name] = layer
    res["layers"] = layers
    program.info["resources"] = res
