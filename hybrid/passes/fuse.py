"""Fusion: group primitive nodes into kernels, each a `fused` node holding its subgraph.

Stages:
  1. classify each node: injective (elementwise ops with a scalar form, broadcast_to, reshape), reduction
     (registry reductions with a combine op: sum/max/min/prod), anchor (matmul, conv2d),
     scalar constant (copied into the kernels that read it), or opaque (never fused)
  2. greedy grouping in topological order: a node joins the group of one of its producers
     when the kinds allow it (see `_fits`), no cycle appears (group-level reachability bitsets,
     kept closed as groups grow and merge) and the kernel keeps at most MAX_INPUTS operands; a producer group
     that only this node reads, and that is cheap to absorb, is merged in too
  3. order the groups with networkx (topological sort of the condensed graph, ties by
     first node) and verify it is acyclic
  4. emit each group of two or more compute nodes as a fused node; a lone node stays plain

The fused-kernel contract (what the LLVM and CUDA backends consume):
  %5 = fused(%0, %3) {kind="elementwise", name="k2"} : f32[8,128] { graph @k2(%i0, %i1) ... }
  * operands are the values the kernel reads from outside, in first-use order; the body's
    inputs %i0.. are those operands; results are the body's values read outside the kernel
    or returned by the graph (a kernel may have several results)
  * scalar constants (one element) are copied into the body as `constant` nodes
  * kind "elementwise": elementwise ops, broadcast_to and reshape (reshape keeps the
    row-major flat index)
  * kind "reduce": one or more reductions over the same input shape ("row" shape), axes and
    keepdims, plus elementwise nodes whose shapes broadcast to that input shape; values after
    a reduction are only used row-wise (keepdims=true), so one pass per row computes it
  * kind "matmul" / "conv": one matmul / conv2d (conv2d_blocked), the anchor; every other node is an
    elementwise epilogue whose result has as many elements as the anchor's result (reshape allowed), or a
    reshape/broadcast_to view of an operand (of the anchor too, e.g. a flatten before a dense layer: read
    in place, no copy kernel); a conv kernel may end with one to_blocked
    of its result (stored in the layout the next convolution reads, ir/ops/blocked.py), or with one
    max/avg pooling of it (the LLVM backend pools inside the convolution's output loop: llvm/conv_rewrite.py)
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import networkx

from .. import log
from ..errors import HybridError, ShapeError
from ..ir.graph import Graph, Node, Value
from ..ir.ops.common import broadcast_shapes
from ..ir.registry import get_op
from .manager import register_pass
from .rewrite import in_regions

MAX_INPUTS = 16
VIEWS = ("reshape", "broadcast_to")


@dataclass
class _Group:
    kind: str                         # elementwise | reduce | matmul | conv | opaque | const
    members: list[int]
    produced: set = field(default_factory=set)
    ext: set = field(default_factory=set)     # values read from outside (scalar constants excluded)
    row: Optional[tuple] = None       # reduce: the reductions' input shape
    reduce_sig: Optional[tuple] = None  # reduce: (axes, keepdims)
    size: int = 0                     # matmul/conv: element count of the anchor's result


def _classify(node: Node) -> str:
    if node.regions:
        return "opaque"
    if node.op == "constant":
        return "const" if node.output.type.size == 1 else "opaque"
    opdef = get_op(node.op)
    # backends render fused elementwise ops from their scalar form: an op without one stays plain
    if node.op in VIEWS or (opdef.kind == "elementwise" and opdef.scalar is not None):
        return "injective"
    if opdef.kind == "reduce" and "combine" in opdef.extra:
        return "reduction"
    if node.op in ("matmul", "conv2d", "conv2d_blocked"):
        return "anchor"
    if node.op == "to_blocked":     # a convolution kernel may store its result in the blocked layout
        return "layout_tail"
    if node.op in ("max_pool2d", "avg_pool2d"):   # ... or pool it (conv -> activation -> pooling)
        return "pool_tail"
    return "opaque"


def _broadcasts_to(shape: tuple, row: tuple) -> bool:
    try:
        return broadcast_shapes(shape, row) == row
    except ShapeError:
        return False


class _Fuser:
    def __init__(self, graph: Graph):
        self.graph = graph
        self.nodes = graph.nodes
        self.index = {node: i for i, node in enumerate(self.nodes)}
        self.cls = [_classify(n) for n in self.nodes]
        self.group_of: list[int] = []
        self.groups: dict[int, _Group] = {}
        self.next_gid = 0                 # group ids are never reused (absorbed groups are deleted)
        # Group-level reachability, kept transitively closed as groups grow and merge: ids[g] is the
        # bitset of the group ids merged into group g (its own included), reach[g] the bitset of the
        # ids of every group g depends on through any of its members.
        self.ids: dict[int, int] = {}
        self.reach: dict[int, int] = {}
        self.users = graph.users()
        self.graph_outputs = set(graph.outputs)

    # -- helpers ----------------------------------------------------------------------------
    def producer_index(self, v: Value) -> Optional[int]:
        return self.index[v.producer] if v.producer is not None else None

    def is_scalar_const(self, v: Value) -> bool:
        return v.producer is not None and self.cls[self.index[v.producer]] == "const"

    def reads(self, i: int) -> set:
        return {v for v in self.nodes[i].inputs if not self.is_scalar_const(v)}

    def new_group(self, kind: str, i: int) -> int:
        gid = self.next_gid
        self.next_gid += 1
        node = self.nodes[i]
        group = _Group(kind, [i], set(node.outputs), self.reads(i))
        if kind == "reduce":
            group.row, group.reduce_sig = node.inputs[0].shape, (node.attrs["axes"], node.attrs["keepdims"])
        elif kind in ("matmul", "conv"):
            group.size = node.output.type.size
        self.groups[gid] = group
        return gid

    # -- legality -----------------------------------------------------------------------------
    def _fits(self, group: _Group, i: int) -> bool:
        """May node i join `group` (kinds and shapes only)?"""
        node, cls = self.nodes[i], self.cls[i]
        shape = node.outputs[0].shape
        if cls == "injective":
            if group.kind == "elementwise":
                return True
            if group.kind == "reduce":
                # values after a reduction are computed row by row: no reshape across rows
                return node.op != "reshape" and group.reduce_sig[1] and _broadcasts_to(shape, group.row)
            if group.kind in ("matmul", "conv"):
                return node.output.type.size == group.size
            return False
        if cls in ("layout_tail", "pool_tail"):     # one tail per convolution kernel
            return group.kind == "conv" and not any(self.cls[m] in ("layout_tail", "pool_tail") for m in group.members)
        if cls == "reduction":
            sig = (node.attrs["axes"], node.attrs["keepdims"])
            row = node.inputs[0].shape
            if group.kind == "elementwise":
                return all(_broadcasts_to(self.nodes[m].outputs[0].shape, row) for m in group.members)
            if group.kind == "reduce":
                return group.row == row and group.reduce_sig == sig
        return False

    def _absorbable(self, group: _Group, h: _Group, i: int) -> bool:
        """May the elementwise producer group `h`, read only by node i, be merged with it?"""
        if h.kind != "elementwise":
            return False
        for m in h.members:
            for v in self.nodes[m].outputs:
                if v in self.graph_outputs or any(u is not self.nodes[i] and self.index[u] not in h.members
                                                  for u in self.users.get(v, ())):
                    return False
        views = all(self.nodes[m].op in VIEWS for m in h.members)
        size = self.nodes[i].outputs[0].type.size
        cheap = views or all(self.nodes[m].outputs[0].type.size == size for m in h.members)
        if group.kind in ("matmul", "conv"):
            return views
        if group.kind == "reduce":
            return cheap and all(_broadcasts_to(self.nodes[m].outputs[0].shape, group.row) for m in h.members)
        return cheap

    def _reaches(self, hid: int, gid: int) -> bool:
        """Does group hid depend on group gid (through any path of data edges)?"""
        return bool(self.reach[hid] & self.ids[gid])

    def _grow(self, gid: int, ancestors: int) -> None:
        """Group gid now also depends on `ancestors` (closed bitset): so does every group depending on gid."""
        new = ancestors & ~self.reach[gid] & ~self.ids[gid]
        if not new:
            return
        for hid, r in self.reach.items():
            if hid == gid or r & self.ids[gid]:
                self.reach[hid] = r | new

    def _operands(self, group: _Group, i: int, absorbed: list[_Group]) -> set:
        produced = set(group.produced).union(*(h.produced for h in absorbed))
        ext = set(group.ext).union(*(h.ext for h in absorbed)) | self.reads(i)
        return ext - produced

    def _try_join(self, gid: int, i: int) -> Optional[str]:
        """Why node i may not join group gid (None: it may)."""
        group = self.groups[gid]
        if not self._fits(group, i):
            return f"{group.kind} kernel cannot take {self.nodes[i].op}"
        for v in self.nodes[i].inputs:
            p = self.producer_index(v)
            if p is not None and self.group_of[p] != gid and self._reaches(self.group_of[p], gid):
                return f"fusing would create a cycle through {self.nodes[p].op}"
        if len(self._operands(group, i, [])) > MAX_INPUTS:
            return f"the kernel would read more than {MAX_INPUTS} operands"
        return None

    # -- grouping --------------------------------------------------------------------------------
    def assign(self, i: int) -> None:
        node, cls = self.nodes[i], self.cls[i]
        anc = 0
        for v in node.inputs:
            p = self.producer_index(v)
            if p is not None:
                anc |= self.reach[self.group_of[p]] | self.ids[self.group_of[p]]
        gid = None
        if cls in ("injective", "reduction", "layout_tail", "pool_tail"):
            reasons = []
            for v in node.inputs:
                p = self.producer_index(v)
                if p is None or self.cls[p] == "const":
                    continue
                candidate = self.group_of[p]
                reason = self._try_join(candidate, i)
                if reason is None:
                    gid = candidate
                    break
                reasons.append(reason)
            if gid is None and reasons:
                log.log("fusion", f"{node.op} ({node.loc or 'no source line'}) starts a new kernel: "
                                  + "; ".join(reasons))
        if gid is None:
            kind = {"injective": "elementwise", "reduction": "reduce", "const": "const",
                    "layout_tail": "opaque", "pool_tail": "opaque"}.get(cls, cls)
            if cls == "anchor":
                kind = "matmul" if node.op == "matmul" else "conv"
            self.group_of.append(self.new_group(kind, i))
            gid = self.group_of[i]
            self.ids[gid], self.reach[gid] = 1 << gid, anc
        else:
            self.group_of.append(gid)
            self._add(self.groups[gid], i)
            self._grow(gid, anc)
        if cls in ("injective", "reduction", "anchor"):     # an anchor takes reshape/broadcast views of operands
            self._absorb_producers(gid, i)

    def _add(self, group: _Group, i: int) -> None:
        group.members.append(i)
        group.ext = self._operands(group, i, [])
        group.produced.update(self.nodes[i].outputs)
        if self.cls[i] == "reduction" and group.kind == "elementwise":
            node = self.nodes[i]
            group.kind = "reduce"
            group.row, group.reduce_sig = node.inputs[0].shape, (node.attrs["axes"], node.attrs["keepdims"])

    def _absorb_producers(self, gid: int, i: int) -> None:
        group = self.groups[gid]
        for v in self.nodes[i].inputs:
            p = self.producer_index(v)
            if p is None or self.group_of[p] == gid or self.cls[p] == "const":
                continue
            hid = self.group_of[p]
            h = self.groups[hid]
            if not self._absorbable(group, h, i) or self._reaches(hid, gid) or self._via_third(hid, gid):
                continue
            operands = self._operands(group, i, [h])
            if len(operands) > MAX_INPUTS:
                continue
            group.ext = operands
            group.produced |= h.produced
            group.members = sorted(group.members + h.members)
            for m in h.members:
                self.group_of[m] = gid
            del self.groups[hid]
            self.ids[gid] |= self.ids.pop(hid)
            self._grow(gid, self.reach.pop(hid))
            self.reach[gid] &= ~self.ids[gid]

    def _via_third(self, hid: int, gid: int) -> bool:
        """Does a path hid -> X -> gid run through another group X (merging hid and gid would close it)?"""
        return any(x not in (hid, gid) and self.reach[gid] & self.ids[x] and self.reach[x] & self.ids[hid]
                   for x in self.groups)

    # -- emission --------------------------------------------------------------------------------
    def order(self) -> list[int]:
        dag = networkx.DiGraph()
        dag.add_nodes_from(self.groups)
        for i, node in enumerate(self.nodes):
            for v in node.inputs:
                p = self.producer_index(v)
                if p is not None and self.group_of[p] != self.group_of[i]:
                    dag.add_edge(self.group_of[p], self.group_of[i])
        first = {gid: min(g.members) for gid, g in self.groups.items()}
        try:
            return list(networkx.lexicographical_topological_sort(dag, key=first.__getitem__))
        except networkx.NetworkXUnfeasible:
            raise HybridError("fusion produced a cycle between kernels (a bug in the fusion pass)") from None

    def compute_members(self, gid: int) -> list[int]:
        return [m for m in self.groups[gid].members if self.cls[m] != "const"]

    def emit(self) -> Graph:
        order = self.order()
        fused_groups = {gid for gid in order if len(self.compute_members(gid)) >= 2}
        subst: dict[Value, Value] = {}
        new_nodes: list[Node] = []
        count = 0
        for gid in order:
            members = sorted(self.groups[gid].members)
            if gid not in fused_groups:
                for m in members:
                    node = self.nodes[m]
                    if self.cls[m] == "const" and not self._needed_outside_kernels(node, fused_groups):
                        continue
                    node.inputs = [subst.get(v, v) for v in node.inputs]
                    new_nodes.append(node)
                continue
            fused = self._build_kernel(gid, members, f"k{count}", subst)
            count += 1
            new_nodes.append(fused)
        self.graph.nodes = new_nodes
        self.graph.outputs = [subst.get(v, v) for v in self.graph.outputs]
        return self.graph

    def _needed_outside_kernels(self, node: Node, fused_groups: set) -> bool:
        v = node.output
        return v in self.graph_outputs or any(self.group_of[self.index[u]] not in fused_groups
                                              for u in self.users.get(v, ()))

    def _build_kernel(self, gid: int, members: list[int], name: str, subst: dict) -> Node:
        group = self.groups[gid]
        body = Graph(name)
        mapping: dict[Value, Value] = {}
        operands: list[Value] = []
        for m in members:
            node = self.nodes[m]
            for v in node.inputs:
                if v in mapping:
                    continue
                if self.is_scalar_const(v):
                    const = v.producer
                    mapping[v] = body.add_node("constant", [], const.attrs, const.loc).output
                else:
                    mapping[v] = body.add_input(f"i{len(operands)}", v.type)
                    operands.append(subst.get(v, v))
            inner = Node(node.op, [mapping[v] for v in node.inputs], node.attrs,
                         [v.type for v in node.outputs], node.loc)
            body.nodes.append(inner)
            mapping.update(zip(node.outputs, inner.outputs))
        member_set = {self.nodes[m] for m in members}
        results = [v for m in members for v in self.nodes[m].outputs
                   if v in self.graph_outputs or any(u not in member_set for u in self.users.get(v, ()))]
        body.outputs = [mapping[v] for v in results]
        first = self.nodes[members[0]]
        fused = Node("fused", operands, {"kind": group.kind, "name": name}, [v.type for v in results],
                     first.loc, [body])
        subst.update(zip(results, fused.outputs))
        return fused


@register_pass("fuse")
def fuse(graph: Graph, **context) -> Graph:
    """Group elementwise chains, reductions with their producers/consumers, and matmul/conv
    with their epilogues into fused kernels (see the module docstring for the contract)."""
    in_regions(graph, fuse)   # loop bodies and branches get kernels of their own
    fuser = _Fuser(graph)
    for i in range(len(graph.nodes)):
        fuser.assign(i)
    return fuser.emit()
