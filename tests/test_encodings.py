"""``Sparse`` and ``Conv`` encodings (``ir/block_sparse.py``, ``ir/block_conv.py``).

Every answer is checked against a dense matrix built here from the definition of a
convolution (loops over output positions, channels and taps, as PyTorch's docs write
it), not from the encoding's own code: the pattern, both fan counts, slices by rows and
columns, and the artifact round trip, on random geometries (1-d and 2-d, strides,
padding, dilation, groups, border outputs that read only padding)."""

from __future__ import annotations

import numpy as np
import pytest

from neurocc import ir
from neurocc.ir.block_conv import ConvGeometry
from neurocc.ir.blocks import Conv, Dense, Sparse


def _definition(kernel: np.ndarray, g: ConvGeometry) -> np.ndarray:
    """w[(o, y), (c, x)] summed over every tap that reaches x from y: a loop per synapse."""
    c_out, c_in_g = kernel.shape[:2]
    taps = kernel.shape[2:]
    w = np.zeros((int(np.prod(g.out_shape)), int(np.prod(g.in_shape))), kernel.dtype)
    for o in range(c_out):
        group = o // (c_out // g.groups)
        for y in np.ndindex(*g.out_shape[1:]):
            for ci in range(c_in_g):
                c = group * c_in_g + ci
                for tap in np.ndindex(*taps):
                    x = tuple(yy * s - p + t * d for yy, s, p, t, d in
                              zip(y, g.stride, g.padding, tap, g.dilation))
                    if all(0 <= xx < n for xx, n in zip(x, g.in_shape[1:])):
                        w[np.ravel_multi_index((o,) + y, g.out_shape),
                          np.ravel_multi_index((c,) + x, g.in_shape)] += kernel[(o, ci) + tap]
    return w


def _random_conv(rng: np.random.Generator) -> tuple[Conv, np.ndarray]:
    while True:
        nd = int(rng.integers(1, 3))
        groups = int(rng.choice([1, 2]))
        c_in, c_out = groups * int(rng.integers(1, 3)), groups * int(rng.integers(1, 3))
        size = tuple(int(x) for x in rng.integers(3, 9, nd))
        k = tuple(int(x) for x in rng.integers(1, 4, nd))
        s = tuple(int(x) for x in rng.integers(1, 3, nd))
        p = tuple(int(x) for x in rng.integers(0, 3, nd))
        d = tuple(int(x) for x in rng.integers(1, 3, nd))
        out = tuple((n + 2 * pp - dd * (kk - 1) - 1) // ss + 1
                    for n, kk, ss, pp, dd in zip(size, k, s, p, d))
        if min(out) >= 1:
            break
    kernel = rng.integers(-3, 4, (c_out, c_in // groups) + k).astype(np.int32)
    g = ConvGeometry((c_in,) + size, (c_out,) + out, s, p, d, groups)
    return Conv(kernel, g), _definition(kernel, g)


@pytest.mark.parametrize("seed", range(40))
def test_conv_api_matches_the_definition(seed: int) -> None:
    rng = np.random.default_rng(seed)
    conv, w = _random_conv(rng)
    assert conv.shape == w.shape
    assert np.array_equal(conv.to_dense(), w)
    assert conv.nnz() == np.count_nonzero(w)
    assert np.array_equal(conv.fan_in(), np.count_nonzero(w, axis=1))
    assert np.array_equal(conv.fan_out(), np.count_nonzero(w, axis=0))
    r, c, v = (np.concatenate(x) for x in zip(*conv.chunks(rows=7)))
    assert np.array_equal(np.lexsort((c, r)), np.arange(r.size))      # row-major
    assert np.array_equal(w[r, c], v) and np.all(v != 0) and r.size == np.count_nonzero(w)
    a, b = sorted(int(x) for x in rng.integers(0, w.shape[0] + 1, 2))
    if b > a:
        assert np.array_equal(conv.rows(a, b).to_dense(), w[a:b])
    a, b = sorted(int(x) for x in rng.integers(0, w.shape[1] + 1, 2))
    if b > a:
        assert np.array_equal(conv.cols(a, b).to_dense(), w[:, a:b])
    assert Conv.from_arrays(conv.arrays()) == conv
    assert np.all(conv.abs_row_sums() >= np.abs(w).sum(axis=1))       # an upper bound


def test_whole_channel_slices_stay_convolutions() -> None:
    kernel = np.arange(1, 3 * 2 * 9 + 1, dtype=np.int32).reshape(3, 2, 3, 3)
    g = ConvGeometry((2, 5, 5), (3, 5, 5), (1, 1), (1, 1), (1, 1), 1)
    conv, w = Conv(kernel, g), _definition(kernel, g)
    part = conv.rows(25, 75)                       # output channels 1 and 2
    assert part.kind == "conv" and part.kernel.shape == (2, 2, 3, 3)
    assert np.array_equal(part.to_dense(), w[25:75])
    assert conv.cols(25, 50).kind == "conv"        # input channel 1
    assert conv.rows(10, 30).kind == "sparse"      # inside channel 0 and into 1
    assert np.array_equal(conv.rows(10, 30).to_dense(), w[10:30])


def test_sparse_api_matches_its_dense_matrix() -> None:
    rng = np.random.default_rng(5)
    w = np.where(rng.random((30, 40)) < 0.1, rng.integers(-9, 10, (30, 40)), 0).astype(np.int32)
    s = Sparse.from_dense(w)
    assert s.shape == w.shape and s.nnz() == np.count_nonzero(w)
    assert np.array_equal(s.fan_out(), np.count_nonzero(w, axis=0))
    assert np.array_equal(s.fan_in(), np.count_nonzero(w, axis=1))
    assert s.value_range() == (min(w.min(), 0), max(w.max(), 0))
    assert np.array_equal(s.rows(3, 17).to_dense(), w[3:17])
    assert np.array_equal(s.cols(5, 33).to_dense(), w[:, 5:33])
    r, c, v = (np.concatenate(x) for x in zip(*s.chunks(rows=4)))
    assert np.array_equal(w[r, c], v) and r.size == np.count_nonzero(w)
    assert Sparse.from_arrays(s.arrays()) == s
    # duplicates in COO are summed; zeros kept through a map are not counted
    dup = Sparse.from_coo(np.array([1, 1, 0]), np.array([2, 2, 0]), np.array([3, 4, 5]), (2, 3))
    assert dup.to_dense().tolist() == [[5, 0, 0], [0, 0, 7]]
    zeroed = s.map_values(lambda d: np.where(d > 0, d, 0))
    assert zeroed.nnz() == np.count_nonzero(w > 0) == zeroed.eliminate_zeros().data.size
    with pytest.raises(ValueError, match="source index"):
        Sparse(np.array([0, 1]), np.array([7]), np.array([1]), (1, 3))


def test_scale_rows_needs_one_factor_per_channel_for_a_kernel() -> None:
    kernel = np.ones((2, 1, 3, 3))
    g = ConvGeometry((1, 4, 4), (2, 4, 4), (1, 1), (1, 1), (1, 1), 1)
    conv = Conv(kernel, g)
    row = np.repeat([2.0, 3.0], 16)
    assert np.array_equal(conv.scale_rows(row).to_dense(), row[:, None] * conv.to_dense())
    row[5] = 7.0
    with pytest.raises(ValueError, match="channel 0"):
        conv.scale_rows(row)
    s = Sparse.from_dense(conv.to_dense())
    assert np.array_equal(s.scale_rows(row).to_dense(), row[:, None] * conv.to_dense())


def test_program_with_every_encoding_round_trips_byte_identically(tmp_path) -> None:
    rng = np.random.default_rng(1)
    conv, _ = _random_conv(rng)
    n_src, n_a = conv.shape[1], conv.shape[0]
    sparse = Sparse.from_dense(np.where(rng.random((4, n_a)) < 0.3, 3, 0).astype(np.int32))
    params = {"du": np.array(0, np.int32), "dv": np.array(0, np.int32),
              "vth": np.array(10, np.int32)}
    program = ir.Program("loihi2", {
        "a": ir.NeuronGroup("a", "loihi2.cuba_lif", (n_a,), dict(params)),
        "b": ir.NeuronGroup("b", "loihi2.cuba_lif", (4,), dict(params))}, [
        ir.SynapseBlock("in->a", "in", "a", conv),
        ir.SynapseBlock("a->b", "a", "b", sparse, storage="sparse"),
        ir.SynapseBlock("b->b", "b", "b", Dense(np.eye(4, dtype=np.int32)))],
        [ir.InputPort("in", (n_src,))], [ir.OutputPort("out", "b", (4,))], {}, dt=1e-3)
    ir.save_program(program, tmp_path / "p")
    again = ir.load_program(tmp_path / "p")
    assert [b.weights for b in again.synapses] == [conv, sparse, Dense(np.eye(4, dtype=np.int32))]
    ir.save_program(again, tmp_path / "q")
    for name in ("program.npz", "manifest.json"):
        assert (tmp_path / "p" / name).read_bytes() == (tmp_path / "q" / name).read_bytes()
    manifest = (tmp_path / "p" / "manifest.json").read_text()
    assert '"encoding": "conv"' in manifest and '"encoding": "sparse"' in manifest


def test_a_damaged_geometry_is_an_artifact_error(tmp_path) -> None:
    conv, _ = _random_conv(np.random.default_rng(2))
    params = {"du": np.array(0, np.int32), "dv": np.array(0, np.int32),
              "vth": np.array(10, np.int32)}
    program = ir.Program("loihi2", {"a": ir.NeuronGroup("a", "loihi2.cuba_lif", (conv.shape[0],),
                                                        params)},
                         [ir.SynapseBlock("in->a", "in", "a", conv)],
                         [ir.InputPort("in", (conv.shape[1],))], [ir.OutputPort("o", "a", (conv.shape[0],))],
                         {}, dt=1e-3)
    ir.save_program(program, tmp_path / "p")
    with np.load(tmp_path / "p" / "program.npz") as z:
        arrays = {k: z[k] for k in z.files}
    arrays["synapse/in->a/geometry"] = arrays["synapse/in->a/geometry"][:-1]
    (tmp_path / "p" / "program.npz").write_bytes(ir.program.npz_bytes(arrays))
    with pytest.raises(ir.ArtifactError, match="do not describe one program"):
        ir.load_program(tmp_path / "p")
