"""The import direction: settings and errors <- ir <- core <- passes <- codegen <- the user API.

Every `import` and `from ... import` in hybrid/ (function-level ones too, relative ones
resolved) is checked: a module may import its own layer and the layers below, never one above.
Inside the user API, top-level packages may use each other but never in a cycle (frontend and
gluon, say, can't import each other). A new top-level module must be placed in LAYERS."""
from __future__ import annotations

import ast
import os

import networkx

import hybrid

ROOT = os.path.dirname(os.path.abspath(hybrid.__file__))

# rank per top-level unit of hybrid (a subpackage or a top-level module)
LAYERS = {
    "config": 0, "errors": 0, "events": 0, "log": 0, "version": 0, "fileio": 0,   # importable by everything
    "ir": 1, "viz": 1,                                   # viz renders ir graphs (the pass manager's dumps use it)
    "core": 2,
    "passes": 3,
    "codegen": 4,
    # the user API
    "frontend": 5, "gluon": 5, "model_zoo": 5, "onnx": 5, "distributed": 5, "cli": 5, "profiler": 5,
    # MXNet's top-level module names (import hybrid as mx), thin views of frontend/gluon
    "context": 5, "device": 5, "image": 5, "io": 5, "base": 5, "legacy": 5, "lr_scheduler": 5, "metric": 5, "ndarray": 5, "optimizer": 5,
    "random": 5, "sym": 5, "test_utils": 5, "test_helpers": 5, "util": 5, "operator": 5, "numpy_op_signature": 5,
    "numpy_dispatch_protocol": 5,
    "__init__": 6,                                       # `import hybrid`: the public namespace
}
LAYER_NAMES = {0: "settings/errors", 1: "ir", 2: "core", 3: "passes", 4: "codegen", 5: "user API",
               6: "the hybrid package"}
USER_API = 5


def module_files() -> dict[str, str]:
    """Dotted module name (`hybrid.core.array`) -> file path, for every module of the package."""
    found = {}
    for folder, _, files in os.walk(ROOT):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                parts = os.path.relpath(path, os.path.dirname(ROOT))[:-3].split(os.sep)
                if parts[-1] == "__init__":
                    parts = parts[:-1]
                found[".".join(parts)] = path
    return found


def imports_of(module: str, path: str, known: set[str]) -> list[tuple[str, int]]:
    """(imported hybrid module, line) for every import statement in the file, at any depth."""
    is_package = path.endswith("__init__.py")
    package = module if is_package else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(open(path).read(), path)):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:
                sub = f"{source}.{alias.name}"
                found.append((sub if sub in known else source, node.lineno))
    return [(name, line) for name, line in found if name == "hybrid" or name.startswith("hybrid.")]


def unit(module: str) -> str:
    """The top-level unit of a module: `hybrid.core.array` -> `core`, `hybrid` -> `__init__`."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_every_top_level_module_has_a_layer():
    units = {unit(m) for m in module_files()}
    assert not units - set(LAYERS), (f"place these top-level modules of hybrid in a layer of tests/test_layering.py "
                                     f"LAYERS: {sorted(units - set(LAYERS))}")


def test_imports_point_down():
    files = module_files()
    known = set(files)
    upward = []
    for module, path in sorted(files.items()):
        here = LAYERS.get(unit(module))
        for target, line in imports_of(module, path, known):
            there = LAYERS.get(unit(target))
            if here is not None and there is not None and there > here:
                upward.append(f"{os.path.relpath(path, os.path.dirname(ROOT))}:{line} ({LAYER_NAMES[here]}) imports "
                              f"{target} ({LAYER_NAMES[there]})")
    assert not upward, "imports that point up the layers:\n  " + "\n  ".join(upward)


def test_user_api_packages_form_no_cycle():
    files = module_files()
    known = set(files)
    graph = networkx.DiGraph()
    for module, path in files.items():
        if LAYERS.get(unit(module)) != USER_API:
            continue
        for target, _ in imports_of(module, path, known):
            if LAYERS.get(unit(target)) == USER_API and unit(target) != unit(module):
                graph.add_edge(unit(module), unit(target))
    cycles = list(networkx.simple_cycles(graph))
    assert not cycles, f"user-API packages that import each other: {cycles}"


def test_the_walker_sees_function_level_and_relative_imports(tmp_path):
    """The checker itself: a function-level relative import that climbs a layer is resolved."""
    source = tmp_path / "probe.py"
    source.write_text("def f():\n    from ..frontend import np\n    from . import array\n    import hybrid.codegen\n")
    known = {"hybrid.frontend.np", "hybrid.core.array", "hybrid.codegen"}
    found = imports_of("hybrid.core.probe", str(source), known)
    assert found == [("hybrid.frontend.np", 2), ("hybrid.core.array", 3), ("hybrid.codegen", 4)]
