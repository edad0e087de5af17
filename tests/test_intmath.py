"""backends/intmath.py against plain Python integers, exhaustively at small widths.

Every helper is called on int32 arrays under ``jax.numpy_dtype_promotion('strict')``
(a silent int -> float promotion raises instead of rounding), on the CPU, and
its result is compared element by element with the same operation written
here with Python's unbounded integers.
"""

from __future__ import annotations

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")  # before jax is imported

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from neurocc.backends import intmath  # noqa: E402

I32_MIN, I32_MAX = -(2**31), 2**31 - 1


# --- the reference: Python ints -------------------------------------------------------

def py_trunc0_mul(x: int, factor: int, shift: int) -> int:
    """sign(x) * ((|x| * factor) >> shift): the product divided by 2**shift, toward zero."""
    mag = (abs(x) * factor) >> shift
    return -mag if x < 0 else mag


def py_wrap32(x: int) -> int:
    """Two's-complement int32 wrap of a Python int."""
    return (x + 2**31) % 2**32 - 2**31


def py_shift_floor(x: int, exp: int) -> int:
    return py_wrap32(x << exp) if exp >= 0 else x >> -exp  # Python's >> floors


def py_saturate(x: int, bits: int) -> int:
    lim = 2 ** (bits - 1) - 1
    return max(-lim, min(lim, x))


def py_wrap_once(x: int, bits: int) -> int:
    half, full = 2 ** (bits - 1), 2**bits
    if x > half:
        return x - full
    if x <= -half:
        return x + full
    return x


def call(fn, *args, **kwargs) -> np.ndarray:
    """Run a helper on int32 inputs with strict dtype promotion; the result must stay int32."""
    with jax.numpy_dtype_promotion("strict"):
        out = fn(*args, **kwargs)
        out.block_until_ready()
    assert out.dtype == jnp.int32, f"{fn.__name__} returned {out.dtype}, expected int32"
    return np.asarray(out).astype(np.int64)


def i32(values) -> jnp.ndarray:
    arr = np.asarray(values, dtype=np.int64)
    assert arr.min(initial=0) >= I32_MIN and arr.max(initial=0) <= I32_MAX
    return jnp.asarray(arr.astype(np.int32))


def assert_same(got: np.ndarray, xs, want: list[int], what: str) -> None:
    want_arr = np.asarray(want, dtype=np.int64)
    bad = np.flatnonzero(got.ravel() != want_arr.ravel())
    if bad.size:
        i = int(bad[0])
        x = np.asarray(xs).ravel()[i] if np.size(xs) > 1 else xs
        raise AssertionError(f"{what}: {bad.size} mismatches; first at x={x}: got "
                             f"{int(got.ravel()[i])}, expected {int(want_arr.ravel()[i])}")


# --- mul_shift_trunc0 ---------------------------------------------------------------------

SMALL_X = list(range(-1100, 1101))


@pytest.mark.parametrize("factor", range(0, 17))
def test_mul_shift_trunc0_shift4_every_x_and_factor(factor):
    got = call(intmath.mul_shift_trunc0, i32(SMALL_X), i32(factor), shift=4)
    assert_same(got, SMALL_X, [py_trunc0_mul(x, factor, 4) for x in SMALL_X],
                f"mul_shift_trunc0(x, {factor}, shift=4)")


def test_mul_shift_trunc0_factor_array_broadcasts():
    xs = np.array(SMALL_X)[:, None]
    fs = np.arange(17)[None, :]
    got = call(intmath.mul_shift_trunc0, i32(xs), i32(fs), shift=4)
    want = [[py_trunc0_mul(int(x), int(f), 4) for f in range(17)] for x in SMALL_X]
    assert_same(got, np.broadcast_to(xs, got.shape), want, "mul_shift_trunc0 with a factor array")


def test_mul_shift_trunc0_rounds_toward_zero_not_floor():
    # -1 * 15 / 16 = -0.94: toward zero is 0, floor would be -1
    assert call(intmath.mul_shift_trunc0, i32([-1, 1, -17, 17]), i32(15), shift=4).tolist() == [0, 0, -15, 15]


LARGE_X = sorted({v for base in (I32_MAX, -I32_MAX, 2**30, -(2**30), 2**24, -(2**24), 2**23, -(2**23))
                  for v in range(base - 4100, base + 4101) if I32_MIN < v <= I32_MAX})


@pytest.mark.parametrize("factor", [4096, 4095, 4094, 2048, 1, 0, 2**12 - 1844, 3686])
def test_mul_shift_trunc0_large_int32_shift12(factor):
    """|x| * factor needs up to 43 bits; the helper must still equal the exact product."""
    got = call(intmath.mul_shift_trunc0, i32(LARGE_X), i32(factor), shift=12)
    assert_same(got, LARGE_X, [py_trunc0_mul(x, factor, 12) for x in LARGE_X],
                f"mul_shift_trunc0(x, {factor}, shift=12) near +-2**31")


def test_mul_shift_trunc0_random_int32_all_factors():
    rng = np.random.default_rng(0)
    xs = rng.integers(I32_MIN + 1, I32_MAX, 4097, endpoint=True)
    fs = np.arange(4097)  # every factor 0..4096, each with its own random x
    got = call(intmath.mul_shift_trunc0, i32(xs), i32(fs), shift=12)
    assert_same(got, xs, [py_trunc0_mul(int(x), int(f), 12) for x, f in zip(xs, fs)],
                "mul_shift_trunc0 on random int32")


def test_mul_shift_trunc0_int32_min():
    """x = -2**31 (Lava's int64 product handles it: the result -2**19 * f fits int32)."""
    xs = [I32_MIN, I32_MIN + 1]
    for factor in (4096, 4095, 1, 0):
        got = call(intmath.mul_shift_trunc0, i32(xs), i32(factor), shift=12)
        assert_same(got, xs, [py_trunc0_mul(x, factor, 12) for x in xs],
                    f"mul_shift_trunc0(-2**31, {factor})")


# --- shift_floor ----------------------------------------------------------------------

@pytest.mark.parametrize("exp", range(-8, 9))
def test_shift_floor_small_values(exp):
    xs = list(range(-600, 601))
    got = call(intmath.shift_floor, i32(xs), exp)
    assert_same(got, xs, [py_shift_floor(x, exp) for x in xs], f"shift_floor(x, {exp})")


@pytest.mark.parametrize("exp", range(-8, 9))
def test_shift_floor_int32_extremes_wrap_on_left_shift(exp):
    edge = 2 ** (31 - max(exp, 0))  # the smallest |x| whose left shift leaves int32
    xs = sorted(v for v in {I32_MIN, I32_MIN + 1, I32_MAX, I32_MAX - 1, 2**23, -(2**23), 2**24 + 3,
                            -(2**24) - 3, edge, edge - 1, -edge, -edge - 1, 123456789, -123456789,
                            0, 1, -1} if I32_MIN <= v <= I32_MAX)
    got = call(intmath.shift_floor, i32(xs), exp)
    assert_same(got, xs, [py_shift_floor(x, exp) for x in xs], f"shift_floor(x, {exp}) near int32 limits")


def test_shift_floor_left_shift_wraps_like_numpy_int32():
    # 2**30 << 1 = 2**31 wraps to -2**31; 3 * 2**29 << 2 wraps to -2**31
    assert call(intmath.shift_floor, i32([2**30, 3 * 2**29, -(2**30) - 1]), 1).tolist() == \
        [I32_MIN, py_wrap32(3 * 2**30), py_wrap32(-(2**31) - 2)]


def test_shift_floor_exp_array_per_element():
    xs = np.repeat(np.arange(-70, 71), 17)
    exps = np.tile(np.arange(-8, 9), 141)
    got = call(intmath.shift_floor, i32(xs), i32(exps))
    assert_same(got, xs, [py_shift_floor(int(x), int(e)) for x, e in zip(xs, exps)],
                "shift_floor with a per-element exponent")


def test_shift_floor_right_shift_is_floor_not_trunc():
    assert call(intmath.shift_floor, i32([-1, -7, -8, -9, 7]), -3).tolist() == [-1, -1, -1, -2, 0]


# --- saturate -------------------------------------------------------------------------

@pytest.mark.parametrize("bits", range(2, 11))
def test_saturate_every_value(bits):
    xs = list(range(-(2 ** (bits + 1)), 2 ** (bits + 1) + 1))
    got = call(intmath.saturate, i32(xs), bits)
    assert_same(got, xs, [py_saturate(x, bits) for x in xs], f"saturate(x, {bits})")


def test_saturate_24_bit_limits_are_symmetric():
    lim = 2**23 - 1
    xs = [I32_MIN, -(2**24), -(2**23) - 1, -(2**23), -lim, -lim + 1, 0, lim - 1, lim, 2**23, 2**24, I32_MAX]
    got = call(intmath.saturate, i32(xs), 24)
    assert_same(got, xs, [py_saturate(x, 24) for x in xs], "saturate(x, 24)")
    assert got.min() == -lim and got.max() == lim


# --- wrap_once ------------------------------------------------------------------------

@pytest.mark.parametrize("bits", range(2, 11))
def test_wrap_once_every_value_beyond_one_and_a_half_ranges(bits):
    full = 2**bits
    xs = list(range(-2 * full - 3, 2 * full + 4))  # past +-1.5 * 2**bits on both sides
    got = call(intmath.wrap_once, i32(xs), bits)
    assert_same(got, xs, [py_wrap_once(x, bits) for x in xs], f"wrap_once(x, {bits})")


@pytest.mark.parametrize("bits", [4, 8, 24])
def test_wrap_once_asymmetric_corners(bits):
    half, full = 2 ** (bits - 1), 2**bits
    # +2**(bits-1) stays; -2**(bits-1) becomes +2**(bits-1); one more past either end wraps
    corners = [half, -half, half + 1, -half - 1, half - 1, -half + 1]
    assert call(intmath.wrap_once, i32(corners), bits).tolist() == \
        [half, half, -half + 1, half - 1, half - 1, -half + 1]
    # a single correction, not a modulo: beyond 1.5 * 2**bits the value stays outside the range
    far = [full + half + 1, -(full + half) - 1, 2 * full, -2 * full]
    got = call(intmath.wrap_once, i32(far), bits)
    assert got.tolist() == [half + 1, -half - 1, full, -full]
    assert all(abs(v) > half for v in got.tolist())


def test_wrap_once_24_bit_near_int32_limits():
    xs = [I32_MAX, I32_MIN + 2**24, I32_MIN + 2**24 + 1, 3 * 2**23, -3 * 2**23, 3 * 2**23 + 1, 2**23 + 1]
    got = call(intmath.wrap_once, i32(xs), 24)
    assert_same(got, xs, [py_wrap_once(x, 24) for x in xs], "wrap_once(x, 24) near int32 limits")
