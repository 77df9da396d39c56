"""Concurrent groups: independent kernels of one graph marked so a backend may run them at the same time.

Stages:
  0. a graph with ops with effects (allreduce) keeps its order: nothing is marked
  1. dependence: each top-level node's ancestors (bit sets over node positions); constants are
     nobody's dependence (they have no inputs and no kernel)
  2. fork/join regions: for every node J (a join) with two or more producing nodes p_1..p_n among
     its operands, group k is the set of p_k and its ancestors that are ancestors of no other p_m.
     Such groups are independent (a path from group k into group m would make the node an ancestor
     of p_m) and their union is convex (no path leaves it and comes back), so the union can run as
     one block with the groups side by side. A region needs two or more non-empty groups, none
     holding control flow, and no node claimed by an earlier region (joins
     are visited in schedule order, so an Inception block inside a larger fork stays its own region),
     and that can be one block together with the regions found before it (two regions can each
     depend on the other through different groups: then the later one is dropped)
  3. schedule: a stable topological order of the graph with each region contracted to one node,
     each region then expanded group after group (each group's nodes in their old order), so a
     backend running the graph in order still runs exactly the old kernels in a legal order
  4. mark: node.meta["group"] = "c<region>.<group>/<groups>" (printed in the node's comment, after
     its source line); the memory planner then keeps the buffers of different groups of one
     region apart, and the backends (codegen/llvm/module.py, codegen/interp) may run the groups
     on separate thread teams; whether they do is chosen per graph by measurement
     (codegen/schedule_choice.py)

`group_mark(node)` reads a mark back; `regions(graph)` lists each region's groups (node positions).
`team_split(weights, nthreads)` is the share of the thread pool each group gets.
"""
from __future__ import annotations

import heapq
import re
from dataclasses import dataclass
from typing import Optional

from ..ir import cost
from ..ir.graph import Graph, Node
from .. import log
from ..ir.registry import has_effects
from .manager import register_pass

_MARK = re.compile(r"c(\d+)\.(\d+)/(\d+)$")


@dataclass(frozen=True)
class GroupMark:
    region: int
    group: int
    groups: int

    def __str__(self) -> str:
        return f"c{self.region}.{self.group}/{self.groups}"


def group_mark(node: Node) -> Optional[GroupMark]:
    """The node's concurrent group, or None when it runs in the plain sequence."""
    text = node.meta.get("group")
    if not text:
        return None
    m = _MARK.match(text)
    if m is None:
        raise ValueError(f"bad concurrent-group mark {text!r} on a {node.op} node; expected c<region>.<group>/<n>")
    return GroupMark(*(int(x) for x in m.groups()))


def regions(graph: Graph) -> list[list[list[int]]]:
    """Per region (by number), per group, the positions of its nodes in graph.nodes."""
    found: dict = {}
    for i, node in enumerate(graph.nodes):
        mark = group_mark(node)
        if mark is not None:
            found.setdefault(mark.region, [[] for _ in range(mark.groups)])[mark.group].append(i)
    return [found[r] for r in sorted(found)]


def group_weight(nodes: list[Node]) -> int:
    """A group's work for sharing threads: its FLOPs plus its bytes moved (a copy is work too)."""
    return sum(cost.node_flops(node) + cost.node_bytes(node) for node in nodes)


def team_split(weights: list[int], nthreads: int) -> tuple[list[int], list[int]]:
    """(team of each group, threads of each team). With at least as many groups as threads every thread
    is a team of its own and the groups go to the least loaded team, heaviest first; with fewer groups
    each group is a team and the threads are shared in proportion to the groups' weights (at least one
    each, largest remainders first)."""
    n = len(weights)
    if n >= nthreads:
        load, team = [0] * nthreads, [0] * n
        for g in sorted(range(n), key=lambda g: (-weights[g], g)):
            t = min(range(nthreads), key=lambda t: (load[t], t))
            team[g] = t
            load[t] += weights[g]
        return team, [1] * nthreads
    shares = weights if sum(weights) else [1] * n
    exact = [nthreads * w / sum(shares) for w in shares]
    sizes = [max(1, int(e)) for e in exact]
    while sum(sizes) > nthreads:                # the groups lifted to one thread take from the largest
        sizes[max(range(n), key=lambda g: (sizes[g], -g))] -= 1
    for g in sorted(range(n), key=lambda g: (-(exact[g] - int(exact[g])), g))[:nthreads - sum(sizes)]:
        sizes[g] += 1
    return list(range(n)), sizes


def _ancestors(graph: Graph) -> list[int]:
    """Per node position, the bit set of the positions it depends on (directly or not)."""
    producer = {v: i for i, node in enumerate(graph.nodes) if node.op != "constant" for v in node.outputs}
    anc = []
    for node in graph.nodes:
        bits = 0
        for v in node.inputs:
            p = producer.get(v)
            if p is not None:
                bits |= anc[p] | (1 << p)
        anc.append(bits)
    return anc


def _runs_alone(node: Node) -> bool:
    """Nodes a region may not hold: control flow (its barriers span the whole team)."""
    return bool(node.regions and node.op != "fused")


def _find_regions(graph: Graph) -> list[list[list[int]]]:
    """Stage 2: the regions, each a list of groups of node positions."""
    anc = _ancestors(graph)
    producer = {v: i for i, node in enumerate(graph.nodes) if node.op != "constant" for v in node.outputs}
    claimed, found = 0, []
    for node in graph.nodes:
        preds = sorted({producer[v] for v in node.inputs if v in producer})
        if len(preds) < 2:
            continue
        closure = [anc[p] | (1 << p) for p in preds]
        groups = []
        for k, bits in enumerate(closure):
            shared = 0
            for m, other in enumerate(closure):
                if m != k:
                    shared |= other
            own = bits & ~shared
            if own:
                groups.append(own)
        union = 0
        for bits in groups:
            union |= bits
        members = [i for i in range(len(graph.nodes)) if union >> i & 1]
        if len(groups) < 2 or union & claimed or any(_runs_alone(graph.nodes[i]) for i in members):
            continue
        candidate = [[i for i in range(len(graph.nodes)) if bits >> i & 1] for bits in groups]
        if _schedule(graph, found + [candidate]) is None:
            continue   # as one block it would have to come both before and after an earlier region
        claimed |= union
        found.append(candidate)
    return found


def _schedule(graph: Graph, found: list[list[list[int]]]) -> Optional[list[int]]:
    """Stage 3: the new order of node positions; None when no order keeps every region one block (two
    regions, each convex, can still depend on each other both ways through different groups)."""
    unit = {}                                   # node position -> its unit (a region's number, or ("n", i))
    for r, groups in enumerate(found):
        for group in groups:
            for i in group:
                unit[i] = r
    key = lambda i: unit.get(i, ("n", i))       # noqa: E731
    members: dict = {}
    for i in range(len(graph.nodes)):
        members.setdefault(key(i), []).append(i)
    producer = {v: i for i, node in enumerate(graph.nodes) for v in node.outputs}
    succ: dict = {u: set() for u in members}
    indeg = {u: 0 for u in members}
    for i, node in enumerate(graph.nodes):
        for v in node.inputs:
            p = producer.get(v)
            if p is not None and key(p) != key(i) and key(i) not in succ[key(p)]:
                succ[key(p)].add(key(i))
                indeg[key(i)] += 1
    ready = [(members[u][0], n, u) for n, u in enumerate(members) if indeg[u] == 0]
    tiebreak = {u: n for n, u in enumerate(members)}
    heapq.heapify(ready)
    order = []
    while ready:
        _, _, u = heapq.heappop(ready)
        order += [i for group in found[u] for i in group] if isinstance(u, int) else members[u]
        for s in succ[u]:
            indeg[s] -= 1
            if indeg[s] == 0:
                heapq.heappush(ready, (members[s][0], tiebreak[s], s))
    return order if len(order) == len(graph.nodes) else None


@register_pass("concurrent_groups")
def mark_concurrent_groups(graph: Graph, **context) -> Graph:
    """Mark independent kernel groups (stages 1-4 of the module docstring); the graph's results are unchanged."""
    for node in graph.nodes:
        node.meta.pop("group", None)
    if has_effects(graph):   # a new order could move an allreduce past another rank's
        log.log("compile", f"concurrent_groups: @{graph.name} has ops with effects; its kernels keep their order")
        return graph
    found = _find_regions(graph)
    if not found:
        return graph
    order = _schedule(graph, found)
    for r, groups in enumerate(found):
        for g, group in enumerate(groups):
            for i in group:
                graph.nodes[i].meta["group"] = str(GroupMark(r, g, len(groups)))
    graph.nodes = [graph.nodes[i] for i in order]
    return graph
