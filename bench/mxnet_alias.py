"""`import mxnet` (and `mxnet.X`) gives `hybrid` (and `hybrid.X`): the import alias the held-out
measurements run under (bench/mxnet_tests for MXNet's unit tests, bench/d2l for the d2l book's
programs). Only names are aliased; nothing of MXNet is reimplemented, so a program that needs
something hybrid lacks fails, which is what the measurements count."""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys

PREFIX, TARGET = "mxnet", "hybrid"


class _AliasFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """`mxnet.a.b` -> the module `hybrid.a.b` itself (the same object, under both names)."""

    def find_spec(self, name, path, target=None):
        if name != PREFIX and not name.startswith(PREFIX + "."):
            return None
        if importlib.util.find_spec(TARGET + name[len(PREFIX):]) is None:
            return None
        return importlib.util.spec_from_loader(name, self)

    def create_module(self, spec):
        return None

    def exec_module(self, module) -> None:
        # the import system returns whatever sys.modules holds for the name after this call
        sys.modules[module.__name__] = importlib.import_module(TARGET + module.__name__[len(PREFIX):])


def install() -> None:
    """Put the alias first on the import path (once per process)."""
    if not any(isinstance(finder, _AliasFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _AliasFinder())
