"""The SSA graph: Values (typed), Nodes (op + inputs + attrs -> outputs) and Graphs.

A Graph holds its inputs (data and parameters), its nodes in topological order and its
outputs. Values carry their type and the node that produced them; graph inputs carry a
name. Printing gives the text form (see printer.py); `parse(str(g))` gives `g` back.
"""
from __future__ import annotations

import re
from typing import Any, Iterable, Optional

from .types import TensorType


class Value:
    """One SSA value. `producer` is the Node that defines it (None for graph inputs)."""

    __slots__ = ("type", "producer", "name")

    def __init__(self, type: TensorType, producer: Optional["Node"] = None, name: Optional[str] = None):
        self.type = type
        self.producer = producer
        self.name = name

    @property
    def shape(self) -> tuple[int, ...]:
        return self.type.shape

    @property
    def dtype(self) -> str:
        return self.type.dtype

    def __repr__(self) -> str:
        label = self.name or (self.producer.op if self.producer else "?")
        return f"<Value {label}: {self.type}>"


class Node:
    """One op application. `attrs` are plain immutable Python values (ints, floats, bools,
    strings, tuples, None, or a NumPy array for `constant`). `regions` are the subgraphs a
    node holds (a fused kernel's body; cond's branches; while_loop's cond and body; scan's
    body): each takes every value it reads as an input (no implicit capture), so a region is a
    self-contained Graph. `loc` is the user's source line ("model.py:12")."""

    __slots__ = ("op", "inputs", "attrs", "outputs", "loc", "regions", "meta")

    def __init__(self, op: str, inputs: list[Value], attrs: dict[str, Any], output_types: list[TensorType],
                 loc: Optional[str] = None, regions: Iterable["Graph"] = ()):
        self.op = op
        self.inputs = list(inputs)
        self.attrs = dict(attrs)
        self.outputs = [Value(t, self) for t in output_types]
        self.loc = loc
        self.regions: list[Graph] = list(regions)
        self.meta: dict[str, Any] = {}  # pass annotations (e.g. memory plan); printed as comments

    @property
    def output(self) -> Value:
        assert len(self.outputs) == 1, f"{self.op} has {len(self.outputs)} outputs"
        return self.outputs[0]

    def __repr__(self) -> str:
        return f"<Node {self.op} {[str(v.type) for v in self.outputs]}>"


class Graph:
    """A typed SSA graph. Inputs named in `param_names` are parameters (weights)."""

    def __init__(self, name: str = "main"):
        # the text form spells names as @[A-Za-z0-9_.]+ ("<lambda>" becomes "_lambda_")
        self.name = re.sub(r"[^A-Za-z0-9_.]", "_", name) or "main"
        self.inputs: list[Value] = []
        self.param_names: set[str] = set()
        self.nodes: list[Node] = []
        self.outputs: list[Value] = []
        # a hybrid.ir.memory_plan.MemoryPlan: set by the memory-planning pass (or parsed from the text form);
        # backends place buffers by it
        self.memory_plan: Optional[Any] = None

    # -- building ---------------------------------------------------------------
    def add_input(self, name: str, type: TensorType, param: bool = False) -> Value:
        if any(v.name == name for v in self.inputs):
            raise ValueError(f"graph @{self.name} already has an input named %{name}")
        value = Value(type, None, name)
        self.inputs.append(value)
        if param:
            self.param_names.add(name)
        return value

    def add_node(self, op: str, inputs: Iterable[Value], attrs: Optional[dict] = None, loc: Optional[str] = None,
                 output_types: Optional[list[TensorType]] = None, regions: Iterable["Graph"] = ()) -> Node:
        """Append a node; its output types come from the op's shape rule unless given."""
        from .registry import infer_types

        inputs = list(inputs)
        attrs = dict(attrs or {})
        regions = list(regions)
        if output_types is None:
            output_types = infer_types(op, [v.type for v in inputs], attrs, loc, regions)
        node = Node(op, inputs, attrs, output_types, loc, regions)
        self.nodes.append(node)
        return node

    # -- queries ----------------------------------------------------------------
    @property
    def params(self) -> list[Value]:
        return [v for v in self.inputs if v.name in self.param_names]

    @property
    def data_inputs(self) -> list[Value]:
        return [v for v in self.inputs if v.name not in self.param_names]

    def input(self, name: str) -> Value:
        for v in self.inputs:
            if v.name == name:
                return v
        raise KeyError(f"graph @{self.name} has no input %{name}")

    def users(self) -> dict[Value, list[Node]]:
        """Value -> the nodes that read it, in order."""
        result: dict[Value, list[Node]] = {}
        for node in self.nodes:
            for v in node.inputs:
                result.setdefault(v, []).append(node)
        return result

    def replace_uses(self, old: Value, new: Value) -> None:
        """Make every reader of `old` (nodes and graph outputs) read `new`."""
        for node in self.nodes:
            node.inputs = [new if v is old else v for v in node.inputs]
        self.outputs = [new if v is old else v for v in self.outputs]

    def copy(self) -> "Graph":
        """A deep structural copy (new Values and Nodes; attrs shared, they are immutable)."""
        mapping: dict[Value, Value] = {}
        g = Graph(self.name)
        for v in self.inputs:
            mapping[v] = g.add_input(v.name, v.type, v.name in self.param_names)
        for node in self.nodes:
            new = Node(node.op, [mapping[v] for v in node.inputs], node.attrs,
                       [v.type for v in node.outputs], node.loc, [r.copy() for r in node.regions])
            new.meta = dict(node.meta)
            g.nodes.append(new)
            for a, b in zip(node.outputs, new.outputs):
                mapping[a] = b
        g.outputs = [mapping[v] for v in self.outputs]
        g.memory_plan = self.memory_plan  # indexed by node position, which copy() preserves
        return g

    def __str__(self) -> str:
        from .printer import print_graph

        return print_graph(self)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Graph) and str(self) == str(other)

    __hash__ = None  # mutable

    def __len__(self) -> int:
        return len(self.nodes)

    def walk(self):
        """Every node of this graph and, depth first, of the regions it holds: (graph, node) pairs."""
        for node in self.nodes:
            yield self, node
            for region in node.regions:
                yield from region.walk()

    def node_count(self) -> int:
        """Nodes here and inside every region (a loop body counts once, however often it runs)."""
        return sum(1 for _ in self.walk())
