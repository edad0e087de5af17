"""Arrows point one way (DESIGN.md, "Folders and what each may import").

Reads every module's imports from its AST (imports inside functions and
``if TYPE_CHECKING:`` blocks count), resolves relative imports to
``neurocc.<folder>...`` names, and fails on an import that a folder may not
make. Also fails on an import cycle among the project's own modules, counting
only the imports that run when a module is first imported (an import inside a
function is how a lazy import breaks a cycle).

The checker's functions take a root directory, so the tests at the bottom can
prove on a fake tree that it catches a wrong-way import and a cycle.
"""

from __future__ import annotations

import ast
import dataclasses
import re
import sys
from pathlib import Path

import networkx as nx

REPO = Path(__file__).resolve().parents[1]

# The repository's folders, installed as subpackages of `neurocc`.
FOLDERS = ("ir", "compiler", "backends", "simulators")

# The driver: the `neurocc` command and the Python API, which compose
# everything: compiler/cli/, compiler/api/, the `import neurocc` shim that
# re-exports the API (compiler/_neurocc/) and the demo's helper commands.
# Paths without ".py"; a folder covers everything under it.
DRIVER = ("compiler/cli", "compiler/api", "compiler/_neurocc", "compiler/demo")

# Vendor SDKs a chip's package may import, lazily (DESIGN.md: its emitter
# imports the vendor SDK with an install hint when absent).
VENDOR_SDKS = frozenset({"lava", "rockpool", "samna", "sinabs"})

ANY = None  # may import any third-party package


@dataclasses.dataclass(frozen=True)
class Rule:
    label: str                       # how a message names the importing layer
    project: frozenset[str]          # layers of neurocc it may import
    third_party: frozenset[str] | None  # top-level package names; ANY: all

    def describe(self) -> str:
        names = [f"neurocc.{p}" if p != "driver" else "the driver" for p in sorted(self.project)]
        names += ["any third-party package"] if self.third_party is ANY else sorted(self.third_party)
        return ", ".join(names + ["the standard library"])


# Who may import what: DESIGN.md's table plus the third-party packages each
# folder actually uses and obviously may. rich (terminal tables) is the
# driver's alone: a simulator returns data, the driver renders it; plotly is
# simulators/' plotting (the HTML report); pymetis is the partitioner's graph
# partitioning; networkx the graph algorithms of ir, compiler and the
# emulator's schedule; scipy.sparse the lower pass's products of maps too large
# to expand (CSR times CSR). jax is the emulator's and the kernels': never in ir/ or
# compiler/.
RULES: dict[str, Rule] = {
    "ir": Rule("ir/", frozenset({"ir"}),
               frozenset({"nir", "numpy", "h5py", "networkx", "onnx"})),
    "compiler": Rule("compiler/ (not the driver)", frozenset({"ir", "compiler"}),
                     frozenset({"numpy", "networkx", "pymetis", "scipy"})),
    "driver": Rule("the driver", frozenset({"ir", "compiler", "driver", "backends", "simulators"}), ANY),
    "backends": Rule("backends/", frozenset({"ir", "backends"}),
                     frozenset({"numpy", "jax"}) | VENDOR_SDKS),
    "simulators": Rule("simulators/", frozenset({"ir", "simulators"}),
                       frozenset({"numpy", "jax", "networkx", "plotly"})),
}

# Files run by a vendor's own interpreter (a subprocess in the oracle's
# virtualenv), never imported by neurocc: what else they may import there.
SCRIPT_EXTRAS: dict[str, frozenset[str]] = {
    # Lava's runner: scipy for CSR weights, and the import hook next to it by bare name.
    "backends/loihi2/lava/runner.py": frozenset({"scipy", "lava311_shim"}),
    # runs inside .venv-xylo: SynSense's simulator and the samna stand-in beside it
    "backends/xylo/xylosim/runner.py": frozenset({"xylosim", "samna_stub"}),
}

STDLIB = frozenset(sys.stdlib_module_names)


@dataclasses.dataclass(frozen=True)
class Import:
    path: str         # importing file, relative to the root
    line: int
    module: str       # absolute name of what it imports (a project module where one matches)
    at_load: bool     # runs when the importing module is first imported


def python_files(root: Path) -> list[Path]:
    """Every .py file of the project folders (not tests/, bench/, examples/, venvs)."""
    files = []
    for folder in FOLDERS:
        for path in sorted((root / folder).rglob("*.py")):
            parts = path.relative_to(root).parts
            if not any(p.startswith(".") or p == "__pycache__" for p in parts):
                files.append(path)
    return files


def module_name(rel: str) -> str:
    """``ir/graph.py`` -> ``neurocc.ir.graph``; ``ir/__init__.py`` -> ``neurocc.ir``."""
    parts = rel.removesuffix(".py").split("/")
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(["neurocc", *parts])


def layer_of(module: str) -> str | None:
    """The layer of a neurocc module name; None for anything outside neurocc."""
    parts = module.split(".")
    if parts[0] != "neurocc":
        return None
    if len(parts) == 1 or parts[1] not in FOLDERS:
        return "driver"  # `import neurocc` is the Python API
    rel = "/".join(parts[1:])
    if any(rel == d or rel.startswith(d + "/") for d in DRIVER):
        return "driver"
    return parts[1]


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _at_load_nodes(tree: ast.Module) -> set[int]:
    """ids of the import nodes that run when the module is imported: not in a
    function body, not under ``if TYPE_CHECKING:``."""
    found: set[int] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            return
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.add(id(node))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def _import_module_call(node: ast.Call) -> str | None:
    """``importlib.import_module("x.y")`` / ``__import__("x.y")`` with a literal absolute name."""
    f = node.func
    name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else None
    if name in ("import_module", "__import__") and node.args:
        arg = node.args[0]
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and not arg.value.startswith("."):
            return arg.value
    return None


def read_imports(root: Path) -> tuple[list[Import], set[str]]:
    """Every import of every project module, and the set of project module names."""
    files = python_files(root)
    rels = [p.relative_to(root).as_posix() for p in files]
    modules = {module_name(r) for r in rels}
    out: list[Import] = []
    for path, rel in zip(files, rels):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        at_load = _at_load_nodes(tree)
        own = module_name(rel)
        package = own if rel.endswith("__init__.py") else own.rpartition(".")[0]
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    if node.level - 1 >= len(base):
                        raise ValueError(f"{rel}:{node.lineno}: relative import beyond the top package")
                    base = base[:len(base) - (node.level - 1)]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                # `from pkg import sub` imports the module pkg.sub where there is one
                names = [f"{target}.{a.name}" if f"{target}.{a.name}" in modules else target
                         for a in node.names]
            elif isinstance(node, ast.Call) and (name := _import_module_call(node)):
                names = [name]
            else:
                continue
            for name in dict.fromkeys(names):
                out.append(Import(rel, node.lineno, name, id(node) in at_load))
    return out, modules


def file_layer(rel: str) -> str:
    return layer_of(module_name(rel)) or ""


def layering_violations(root: Path) -> list[str]:
    """One line per import that runs the wrong way: 'file:line imports X (F may import ...)'."""
    imports, _ = read_imports(root)
    problems = []
    for imp in imports:
        rule = RULES[file_layer(imp.path)]
        top = imp.module.split(".")[0]
        target = layer_of(imp.module)
        if target is not None:
            ok = target in rule.project
        elif top in STDLIB:
            ok = True
        else:
            ok = (rule.third_party is ANY or top in rule.third_party
                  or top in SCRIPT_EXTRAS.get(imp.path, ()))
        if not ok:
            problems.append(f"{imp.path}:{imp.line} imports {imp.module} "
                            f"({rule.label} may import {rule.describe()})")
    return problems


def import_graph(root: Path) -> nx.DiGraph:
    """module -> project module it imports at load time; each edge keeps 'file:line'."""
    imports, modules = read_imports(root)
    graph = nx.DiGraph()
    graph.add_nodes_from(modules)
    for imp in imports:
        if imp.at_load and imp.module in modules:
            src = module_name(imp.path)
            if src != imp.module and not graph.has_edge(src, imp.module):
                graph.add_edge(src, imp.module, where=f"{imp.path}:{imp.line}")
    return graph


def import_cycles(root: Path) -> list[str]:
    """One line per cycle among the project's modules, each arrow with its file:line."""
    graph = import_graph(root)
    lines = []
    for cycle in sorted(nx.simple_cycles(graph), key=lambda c: (len(c), c)):
        arrows = [f"{a} -> {b} ({graph.edges[a, b]['where']})"
                  for a, b in zip(cycle, cycle[1:] + cycle[:1])]
        lines.append("; ".join(arrows))
    return lines


# --- the project -------------------------------------------------------------

def test_the_checker_sees_the_project():
    imports, modules = read_imports(REPO)
    assert {"neurocc.ir", "neurocc.compiler", "neurocc.backends", "neurocc.simulators"} <= modules
    assert any(i.module == "neurocc.ir.errors" for i in imports)  # a relative import, resolved


def test_imports_point_one_way():
    problems = layering_violations(REPO)
    assert not problems, f"{len(problems)} import(s) run the wrong way:\n" + "\n".join(problems)


def test_no_import_cycle():
    cycles = import_cycles(REPO)
    assert not cycles, "import cycle(s) among neurocc's modules:\n" + "\n".join(cycles)


# --- the checker, on fake trees ----------------------------------------------

def _tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for folder in FOLDERS:
        (root / folder).mkdir(exist_ok=True)
        (root / folder / "__init__.py").touch()
    return root


def test_checker_catches_a_wrong_way_import_inside_a_function(tmp_path):
    root = _tree(tmp_path, {
        "ir/x.py": "def f():\n    from neurocc.compiler import pipeline\n",
        "ir/y.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..simulators import emulator\n",
        "compiler/p.py": "import numpy\nfrom ..ir import x\nimport jax.numpy as jnp\n",
        "compiler/cli.py": "import rich\nfrom neurocc.backends import loihi2\n",  # the driver: fine
        "backends/chip/__init__.py": "from neurocc.compiler.p import thing\n",
        "simulators/s.py": "import importlib\nm = importlib.import_module('neurocc.backends.chip')\n",
        ".venv/ir/z.py": "import neurocc.compiler\n",  # not the project
    })
    problems = layering_violations(root)
    assert [p.split(" (")[0] for p in problems] == [
        "ir/x.py:2 imports neurocc.compiler",
        "ir/y.py:3 imports neurocc.simulators",
        "compiler/p.py:3 imports jax.numpy",
        "backends/chip/__init__.py:1 imports neurocc.compiler.p",
        "simulators/s.py:2 imports neurocc.backends.chip",
    ], problems
    assert problems[0].endswith("(ir/ may import neurocc.ir, h5py, networkx, nir, numpy, onnx, "
                                "the standard library)")


def test_checker_catches_a_cycle_but_not_a_lazy_import(tmp_path):
    root = _tree(tmp_path, {
        "compiler/a.py": "from . import b\n",
        "compiler/b.py": "from .c import thing\n",
        "compiler/c.py": "import neurocc.compiler.a\n",
        "compiler/d.py": "from . import e\n",
        "compiler/e.py": "def f():\n    from . import d\n",  # lazy: breaks the cycle
    })
    cycles = import_cycles(root)
    assert len(cycles) == 1, cycles
    assert "neurocc.compiler.a -> neurocc.compiler.b (compiler/a.py:1)" in cycles[0]
    assert "neurocc.compiler.c -> neurocc.compiler.a (compiler/c.py:1)" in cycles[0]


# --- nothing outside backends/ knows a chip -----------------------------------------
#: chip, vendor-simulator and neuron-model names that belong in backends/<chip>/ only
#: (frameworks that export NIR, Sinabs and Rockpool among them, may be named anywhere)
CHIP_NAMES = re.compile(r"loihi|cuba_lif|xylo|speck|spinnaker|dynap|\blava\b",
                        re.IGNORECASE)
#: the driver (its help text lists the registry's targets) and what it owns
NAMES_ALLOWED = DRIVER


def chip_name_mentions(root: Path) -> list[str]:
    """'file:line: text' for each chip name in ir/, compiler/ (not the driver), simulators/."""
    out = []
    for path in python_files(root):
        rel = path.relative_to(root).as_posix()
        if rel.startswith("backends/") or rel.startswith(NAMES_ALLOWED):
            continue
        for i, line in enumerate(path.read_text().splitlines(), start=1):
            if CHIP_NAMES.search(line):
                out.append(f"{rel}:{i}: {line.strip()}")
    return out


def test_no_chip_name_outside_backends_and_the_driver():
    found = chip_name_mentions(REPO)
    assert not found, ("a chip's name outside backends/ means chip knowledge leaked out of "
                       "its folder (DESIGN.md, the target axis):\n" + "\n".join(found))


def test_the_name_check_sees_a_mention(tmp_path):
    root = _tree(tmp_path, {"simulators/x.py": "# as Loihi 2 computes it\n",
                            "backends/loihi2/y.py": "MODEL = 'loihi2.cuba_lif'\n"})
    assert chip_name_mentions(root) == ["simulators/x.py:1: # as Loihi 2 computes it"]


# --- a plain install holds every package ---------------------------------------------


def test_every_package_folder_is_listed_in_pyproject() -> None:
    """pyproject lists packages one by one (the folders become neurocc.*): a folder with an
    __init__.py that is not listed works in the editable install and is missing from a
    plain one."""
    import tomllib

    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    dirs = {name: folder for name, folder in config["package-dir"].items()}
    assert set(dirs) == listed, sorted(set(dirs) ^ listed)
    where = {folder.rstrip("/"): name for name, folder in dirs.items()}
    missing = []
    for init in sorted(REPO.glob("*/**/__init__.py")):
        folder = init.parent.relative_to(REPO).as_posix()
        if folder.split("/")[0] not in ("ir", "compiler", "backends", "simulators"):
            continue
        if folder not in where:
            missing.append(folder)
    assert not missing, f"package folders not in pyproject.toml's packages: {missing}"
