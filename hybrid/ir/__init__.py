"""The IR: typed SSA graphs, the op registry, the text form, verification, serialization."""
from . import ops  # noqa: F401  (registers the primitives)
from .graph import Graph, Node, Value
from .parser import parse
from .printer import print_graph
from .registry import OpDef, all_ops, get_op, register
from .types import TensorType
from .verifier import verify

__all__ = ["Graph", "Node", "Value", "TensorType", "OpDef", "register", "get_op", "all_ops", "parse",
           "print_graph", "verify"]
