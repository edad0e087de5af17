"""neurocc: compile trained spiking neural networks for neuromorphic chips.

``import neurocc`` gives the Python API (``neurocc.compiler.api``)::

    import neurocc
    program = neurocc.compile("model.nir", "loihi2", calibrate=x_train)
    outputs = neurocc.run(program, x_test).outputs      # on the float model's time axis
    verdict = neurocc.verify(program, x_test)
    neurocc.save(program, "out/model")

The project's folders are its subpackages: ``neurocc.ir``, ``neurocc.compiler``,
``neurocc.backends``, ``neurocc.simulators``. This file lives in
``compiler/_neurocc/`` in the repository (pyproject maps it to ``neurocc``); the
API is imported on first use, so ``import neurocc.ir`` stays light.
"""

from __future__ import annotations

from typing import Any

__all__ = ["compile", "run", "verify", "profile", "save", "load", "targets", "RunResult",
           "NeuroccError", "UsageError", "Program"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from neurocc.compiler import api

        return getattr(api, name)
    raise AttributeError(f"module 'neurocc' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
