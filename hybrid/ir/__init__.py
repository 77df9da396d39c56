"""The IR: typed SSA graphs, the op registry, the text form, verification, serialization."""
from . import control, ops  # noqa: F401  (registers the primitives and the ops holding regions)
from .graph import Graph, Node, Value
from .parser import parse
from .printer import print_graph
from .registry import OpDef, all_ops, get_op, region_ops, register
from .types import TensorType
from .verifier import verify

__all__ = ["Graph", "Node", "Value", "TensorType", "OpDef", "register", "get_op", "all_ops", "region_ops", "parse",
           "print_graph", "verify"]
