"""A do-nothing stand-in for SynSense's ``samna``, so that rockpool's Xylo packages import.

Used only inside the Xylo virtualenv (``.venv-xylo``), by ``runner.py`` and by
``build_venv.sh``'s smoke check; neurocc's main environment never imports it.

Why it exists (shared/docs/xylo-arithmetic.md, sections 1 and 7, trap 2):
rockpool 3.1.0's ``rockpool.devices.xylo`` imports ``samna`` (and names such as
``samna.xyloAudio3.configuration.XyloConfiguration``) at import time, outside
any try/except, even though the simulator classes (``XyloSim``) never call it.
The real samna is not on PyPI: every samna release there since 0.9.24 is a shim
that, on import, runs pip against a gitlab index, which fails without network.
So :func:`install` puts a finder first on ``sys.meta_path`` that answers every
``samna`` and ``samna.*`` import with a module whose every public attribute is
a dummy class (attributes of those classes are dummy classes again, and
instances swallow calls). Nothing here pretends to *do* anything: a code path
that really needed samna would get dummies back and fail later, loudly enough
for a simulator run (which never takes such a path).

Call :func:`install` before the first ``import rockpool``. It is idempotent.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
import types

__all__ = ["install", "uninstall", "is_stub"]

_ROOT = "samna"
_MARK = "__neurocc_samna_stub__"


class _DummyMeta(type):
    """Metaclass: any public attribute of a dummy class is another dummy class."""

    def __getattr__(cls, name: str):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return _dummy(f"{cls.__qualname__}.{name}", cls.__module__)

    def __repr__(cls) -> str:
        return f"<samna stand-in {cls.__module__}.{cls.__qualname__}>"


class _Dummy(metaclass=_DummyMeta):
    """Instances accept any arguments, any attribute and any call."""

    def __init__(self, *args, **kwargs):
        pass

    def __call__(self, *args, **kwargs):
        return _Dummy()

    def __getattr__(self, name: str):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return _Dummy()

    def __repr__(self) -> str:
        return f"<samna stand-in instance of {type(self).__qualname__}>"


def _dummy(qualname: str, module: str) -> type:
    name = qualname.rsplit(".", 1)[-1]
    return _DummyMeta(name, (_Dummy,), {"__qualname__": qualname, "__module__": module})


class _StubModule(types.ModuleType):
    """A package module: unknown public attributes are dummy classes."""

    def __getattr__(self, name: str):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        sub = f"{self.__name__}.{name}"
        if sub in sys.modules:  # a submodule imported earlier
            return sys.modules[sub]
        value = _dummy(name, self.__name__)
        setattr(self, name, value)  # the same object next time
        return value


class _Loader(importlib.abc.Loader):
    def create_module(self, spec):
        module = _StubModule(spec.name)
        module.__path__ = []  # a package: submodules are found by the finder below
        module.__version__ = "0.0.0+neurocc-stub"
        setattr(module, _MARK, True)
        return module

    def exec_module(self, module) -> None:
        pass


class _Finder(importlib.abc.MetaPathFinder):
    def __init__(self):
        self._loader = _Loader()
        setattr(self, _MARK, True)

    def find_spec(self, fullname, path=None, target=None):
        if fullname == _ROOT or fullname.startswith(_ROOT + "."):
            return importlib.machinery.ModuleSpec(fullname, self._loader, is_package=True)
        return None


def _ours(obj) -> bool:
    return bool(getattr(obj, _MARK, False))


def install() -> None:
    """Put the stand-in first on ``sys.meta_path`` (before any real or shim samna).

    Raises RuntimeError if a samna that is not the stand-in was imported already.
    """
    if any(_ours(f) for f in sys.meta_path):
        return
    loaded = sys.modules.get(_ROOT)
    if loaded is not None and not _ours(loaded):
        raise RuntimeError("a real samna is already imported; install the stand-in first")
    sys.meta_path.insert(0, _Finder())


def uninstall() -> None:
    """Remove the finder and every stand-in module from ``sys.modules``."""
    sys.meta_path[:] = [f for f in sys.meta_path if not _ours(f)]
    for name in [n for n in sys.modules if n == _ROOT or n.startswith(_ROOT + ".")]:
        if _ours(sys.modules[name]):
            del sys.modules[name]


def is_stub(module) -> bool:
    """Whether ``module`` (e.g. an imported ``samna``) is this stand-in."""
    return _ours(module)
