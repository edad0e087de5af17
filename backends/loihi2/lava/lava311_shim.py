"""Import hook that lets lava-nc 0.10.0 import on Python 3.11.

Why: ``lava/magma/compiler/var_model.py`` declares dataclass fields such as
``x: ByteEncoder = ByteEncoder()``. ``ByteEncoder`` is a plain (eq=True,
unfrozen) dataclass, so its instances are unhashable, and Python 3.11's
``dataclasses`` rejects unhashable defaults ("mutable default ... use
default_factory"). Every Lava process module imports ``var_model``, so without
a fix almost nothing in Lava imports.

What: a ``MetaPathFinder`` at ``sys.meta_path[0]`` that answers for exactly
one module, ``lava.magma.compiler.var_model``. Its loader reads the real
source file, rewrites ``= ByteEncoder()`` to
``= field(default_factory=ByteEncoder)`` (each encoder then gets its own
instance, which is the semantically right fix), adds ``field`` to the
``dataclasses`` import, and compiles the result under the original filename so
tracebacks still point at Lava's file. The bytecode cache is bypassed in both
directions: pip wrote an unpatched ``.pyc`` at install time that must not be
read, and a patched one must not be written next to Lava's source.

Nothing in Lava's installed files is edited. The hook does nothing on Python
< 3.11, installing it twice installs it once, and if the pattern is absent
(a fixed upstream release) the module loads unchanged.

Use: ``import lava311_shim`` before any ``lava`` import; the Lava venv does
this automatically through a ``.pth`` file (see ``build_venv.sh``). Lava forks
its worker processes, so the children inherit the patched module.

This file must stay importable with only the standard library.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import re
import sys

TARGET = "lava.magma.compiler.var_model"

_DEFAULT_RE = re.compile(r"=\s*ByteEncoder\(\)")
_IMPORT_RE = re.compile(r"^(from\s+dataclasses\s+import\s+)([^\n(]+)$", re.MULTILINE)


def patch_source(source: str) -> str:
    """Return ``source`` with unhashable ``ByteEncoder()`` defaults made factories.

    Unchanged when the pattern is absent.
    """
    patched, count = _DEFAULT_RE.subn("= field(default_factory=ByteEncoder)", source)
    if count == 0:
        return source
    match = _IMPORT_RE.search(patched)
    names = [n.strip() for n in match.group(2).split(",")] if match else []
    if "field" not in names:
        if match:
            new_line = match.group(1) + ", ".join(names + ["field"])
            patched = patched[:match.start()] + new_line + patched[match.end():]
        else:
            patched = "from dataclasses import field\n" + patched
    return patched


class _PatchingLoader(importlib.machinery.SourceFileLoader):
    """Loads ``var_model`` from its source, patched, never through a .pyc."""

    def get_code(self, fullname: str):  # type: ignore[override]
        path = self.get_filename(fullname)
        raw = self.get_data(path)
        source = importlib.util.decode_source(raw)
        return compile(patch_source(source), path, "exec", dont_inherit=True)

    def set_data(self, path, data, *, _mode=0o666):  # never write a (patched) .pyc
        return None


class Lava311Finder(importlib.abc.MetaPathFinder):
    """Answers for ``lava.magma.compiler.var_model`` only; defers everything else."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != TARGET:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or not isinstance(spec.loader, importlib.machinery.SourceFileLoader):
            return spec
        spec.loader = _PatchingLoader(fullname, spec.origin)
        return spec


def install() -> bool:
    """Put the finder first on ``sys.meta_path``. Returns whether it is installed."""
    if sys.version_info < (3, 11):
        return False
    for finder in sys.meta_path:
        if isinstance(finder, Lava311Finder) or type(finder).__name__ == "Lava311Finder":
            return True
    sys.meta_path.insert(0, Lava311Finder())
    return True


install()
