"""A large module's functions split into several modules, compiled at once by compile workers (workers.py)
and loaded into one execution engine, which links the calls between them.

Stages of `split`:
  1. units: each function of the module, joined with every function it names that is not `noinline` (an
     epilogue passed by address; anything LLVM might inline stays with its caller, so the machine code of
     every function is what the whole module would give)
  2. the number of parts from the estimated cost (text size plus a weight per loop: LLVM's loop passes and
     vectorizers cost more than straight-line text), at most MAX_PARTS; each unit to the part with the
     least cost so far, largest first
  3. each part: the module's helpers (barrier, math, integer pow: small, internal, copied into every part),
     its units, and a declaration of every function of another part it calls; such functions lose
     `internal` (hidden instead: visible to the engine's linker, not exported by it). The module's data
     (the profiler's pointer) stays in the part of the entry point, which alone uses it.
The split depends on the module's text only, never on the host's core count, so its parts' cache entries
serve every process.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

from .dedup import own_name

PART_COST = 384 << 10   # estimated cost (text bytes) per part: below two of these a module is not split
MAX_PARTS = 8
LOOP_COST = 16 << 10    # a loop costs about as much to optimize as this much straight-line text
_LOOP = re.compile(r"^loop\d+:", re.M)
_HEADER = re.compile(r"^define (internal |hidden )?([^{]*)\{\s*$")


_NAME = re.compile(r"@([\w.$]+)")
_GLOBAL = re.compile(r"^@([\w.$]+) =", re.M)


@dataclass(frozen=True)
class Part:
    pieces: list   # IR pieces of one module, declarations included (module._assemble joins them)
    cost: int      # estimated, in text bytes
    names: tuple   # the functions it defines


def cost(text: str) -> int:
    return len(text) + LOOP_COST * len(_LOOP.findall(text))


def _declaration(text: str) -> str:
    return "declare " + _HEADER.match(text[:text.index("\n")]).group(2).rstrip()


def _units(names: list[str], texts: list[str], refs: list[set], anchor: int, data: set) -> list[list[int]]:
    """Indices of functions grouped (union-find) so that a function LLVM could inline stays with every
    caller, and whatever uses the module's data stays with the anchor (the entry point)."""
    parent = list(range(len(texts)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i
    inlinable = {name for name, text in zip(names, texts) if " noinline " not in text[:text.index("\n")] + " "}
    index = {name: i for i, name in enumerate(names)}
    for i, used in enumerate(refs):
        for name in used & inlinable:
            parent[root(index[name])] = root(i)
        if used & data:
            parent[root(i)] = root(anchor)
    groups: dict[int, list[int]] = {}
    for i in range(len(texts)):
        groups.setdefault(root(i), []).append(i)
    return list(groups.values())


def split(helpers: list[str], data: list[str], functions: list[str], entry: str) -> list[Part]:
    """helpers: IR pieces every part gets (internal or weak functions and declarations); data: global
    variables, kept with the entry point; functions: one definition each; entry: the entry point's
    definition. Returns one part per module to compile (one when the module is too small to split), the
    entry point's first."""
    texts = functions + [entry]
    names = [own_name(t) for t in texts]
    refs = [set(_NAME.findall(t)) - {name} for name, t in zip(names, texts)]
    units = _units(names, texts, refs, len(texts) - 1, set(_GLOBAL.findall("\n".join(data))))
    costs = [sum(cost(texts[i]) for i in u) for u in units]
    n = max(1, min(MAX_PARTS, len(units), math.floor(sum(costs) / PART_COST)))
    if n == 1:
        return [Part(helpers + data + texts, sum(costs), tuple(names))]
    home = next(u for u, members in enumerate(units) if len(texts) - 1 in members)
    bins: list[list[int]] = [[] for _ in range(n)]
    load = [0] * n
    for u in [home] + sorted((u for u in range(len(units)) if u != home), key=lambda u: -costs[u]):
        b = 0 if u == home else load.index(min(load))
        bins[b] += units[u]
        load[b] += costs[u]
    owner = {names[i]: b for b, members in enumerate(bins) for i in members}
    shared = {names[i] for b, members in enumerate(bins) for j in members for i in range(len(texts))
              if names[i] in refs[j] and owner[names[i]] != b}
    parts = []
    for b, members in enumerate(bins):
        called = set().union(*(refs[i] for i in members))
        outside = [_declaration(texts[i]) for i in range(len(texts)) if names[i] in called and owner[names[i]] != b]
        own = [texts[i].replace("define internal ", "define hidden ", 1) if names[i] in shared else texts[i]
               for i in sorted(members)]
        parts.append(Part(helpers + (data if b == 0 else []) + outside + own, load[b],
                          tuple(names[i] for i in sorted(members))))
    return parts
