"""Integer helpers for chip arithmetic in JAX, exact in int32 without 64-bit JAX.

Every helper states its rounding and overflow. Products that can exceed 32
bits are split so that no intermediate leaves int32; int32 addition and left
shifts wrap (two's complement), as numpy's int32 does in the vendor models.
"""

from __future__ import annotations

import jax.numpy as jnp

I32 = jnp.int32


def mul_shift_trunc0(x: jnp.ndarray, factor: jnp.ndarray, shift: int = 12) -> jnp.ndarray:
    """``sign(x) * ((|x| * factor) >> shift)``: the product rounded toward zero.

    Exact for any int32 ``x`` (``-2**31`` included) and ``0 <= factor <= 2**shift``,
    although ``|x| * factor`` may need 43 bits: with ``|x| = hi * 2**shift + lo``,
    ``(|x| * f) >> shift == hi * f + ((lo * f) >> shift)``, and neither term
    leaves uint32 (hi * f <= |x| <= 2**31, lo * f < 2**(2 * shift)). The magnitude
    is unsigned because ``|-2**31|`` does not fit int32.
    """
    x = x.astype(I32)
    factor = jnp.asarray(factor, I32).astype(jnp.uint32)
    mag = jnp.abs(x).astype(jnp.uint32)
    hi = mag >> shift
    lo = mag & ((1 << shift) - 1)
    out = (hi * factor + ((lo * factor) >> shift)).astype(I32)  # 2**31 only as -(-2**31): wraps right
    return jnp.where(x < 0, -out, out)


def shift_floor(x: jnp.ndarray, exp: jnp.ndarray | int) -> jnp.ndarray:
    """``x << exp`` for exp >= 0 (wraps in int32), ``x >> -exp`` (floor) otherwise."""
    x = x.astype(I32)
    exp = jnp.asarray(exp, I32)
    return jnp.where(exp >= 0, x << jnp.maximum(exp, 0), x >> jnp.maximum(-exp, 0))


def saturate(x: jnp.ndarray, bits: int) -> jnp.ndarray:
    """Clip to the symmetric signed range ``±(2**(bits-1) - 1)``."""
    lim = (1 << (bits - 1)) - 1
    return jnp.clip(x, -lim, lim)


def wrap_once(x: jnp.ndarray, bits: int) -> jnp.ndarray:
    """Loihi 2's current wrap as Lava computes it: ONE correction by ``2**bits``.

    ``x > 2**(bits-1)`` loses ``2**bits``; ``x <= -2**(bits-1)`` gains it. So
    ``+2**(bits-1)`` stays, ``-2**(bits-1)`` becomes ``+2**(bits-1)``, and values
    beyond 1.5 * 2**bits stay outside the nominal range (not a modulo).
    """
    half, full = 1 << (bits - 1), 1 << bits
    return jnp.where(x > half, x - full, jnp.where(x <= -half, x + full, x))
