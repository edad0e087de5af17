"""Settings every test runs under (DESIGN.md / STYLE.md: tests pin JAX to CPU
and enable strict dtype promotion)."""

import os

# CPU only, set before jax is first imported: results must not depend on
# whichever accelerator the machine has, and a test run must not grab a GPU.
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402  (after JAX_PLATFORMS)

# Strict promotion turns a silent int-to-float (or int32-to-int64) promotion
# in the integer arithmetic into an error, in every test, not only in those
# that remember to ask for it.
jax.config.update("jax_numpy_dtype_promotion", "strict")
