"""Identical functions of one module defined once: the kernels of repeated layers (ResNet's residual blocks,
the weight repacks of equal-shaped parameters) render to the same text under different names; LLVM would
optimize and emit each copy (its MergeFunctions pass is not in the O3 pipeline), so the module keeps the first
and every call names it. The code that runs is the same; only the compile does less work."""
from __future__ import annotations

import re

_DEFINE = re.compile(r"^define [^@\n]*@([\w.$]+)\(", re.M)


def own_name(text: str) -> str | None:
    """The name a piece defines, when it defines exactly one function."""
    names = _DEFINE.findall(text)
    return names[0] if len(names) == 1 else None


def merge_identical(functions: list[str], callers: list[str]) -> tuple[list[str], list[str]]:
    """functions: module pieces, one definition each (others are kept as they are); callers: further text
    that may name them (the entry point). Returns both with each duplicate removed and its uses renamed to
    the first copy; repeated until no two remain equal (a kernel's duplicates may differ only in the names of
    helpers that are themselves duplicates)."""
    while True:
        first: dict[str, str] = {}
        alias: dict[str, str] = {}
        for text in functions:
            name = own_name(text)
            if name is None:
                continue
            key = text.replace(f"@{name}(", "@(", 1)
            if key in first:
                alias[name] = first[key]
            else:
                first[key] = name
        if not alias:
            return functions, callers
        uses = re.compile(r"@(" + "|".join(map(re.escape, alias)) + r")(?![\w.$])")

        def rename(text: str) -> str:
            return uses.sub(lambda m: "@" + alias[m.group(1)], text)

        functions = [rename(t) for t in functions if own_name(t) not in alias]
        callers = [rename(t) for t in callers]
