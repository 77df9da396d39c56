"""Parse the IR text form (see printer.py) back into a Graph: `parse(str(g))` prints as `g`."""
from __future__ import annotations

import base64
import json
import re
from typing import Any

import numpy

from ..errors import FormatError
from .graph import Graph, Node, Value
from .memory_plan import plan_from_notes
from .types import DTYPES, TensorType, to_numpy_dtype

_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<comment>\#[^\n]*)
  | (?P<value>%[A-Za-z0-9_.]+)
  | (?P<global>@[A-Za-z0-9_.]+)
  | (?P<string>"(?:[^"\\]|\\.)*")
  | (?P<arrow>->)
  | (?P<number>-?(?:inf|\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)|nan)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<punct>[()\[\]{},:=<>])
""", re.VERBOSE)


def _tokenize(text: str) -> list[tuple[str, str, int]]:
    tokens, pos, line = [], 0, 1
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise FormatError(f"IR parse error at line {line}: unexpected {text[pos:pos + 20]!r}")
        kind = m.lastgroup
        if kind != "ws":
            tokens.append((kind, m.group(), line))
        line += m.group().count("\n")
        pos = m.end()
    return tokens


class _Parser:
    def __init__(self, text: str):
        self.tokens = _tokenize(text)
        self.i = 0

    # -- token helpers --------------------------------------------------------------------
    def peek(self, offset: int = 0):
        j = self.i + offset
        last_line = self.tokens[-1][2] if self.tokens else 1
        return self.tokens[j] if j < len(self.tokens) else ("eof", "", last_line)

    def error(self, what: str):
        kind, text, line = self.peek()
        return FormatError(f"IR parse error at line {line}: expected {what}, found {text or 'end of text'!r}")

    def take(self, kind: str, text: str | None = None) -> str:
        k, t, _ = self.peek()
        if k != kind or (text is not None and t != text):
            raise self.error(text or kind)
        self.i += 1
        return t

    def accept(self, kind: str, text: str | None = None) -> bool:
        k, t, _ = self.peek()
        if k == kind and (text is None or t == text):
            self.i += 1
            return True
        return False

    # -- grammar --------------------------------------------------------------------------
    def type(self) -> TensorType:
        dtype = self.take("ident")
        if dtype not in DTYPES:
            raise FormatError(f"IR parse error: unknown dtype {dtype!r}")
        self.take("punct", "[")
        dims = []
        while not self.accept("punct", "]"):
            dims.append(int(self.take("number")))
            self.accept("punct", ",")
        return TensorType(tuple(dims), dtype)

    def types(self) -> list[TensorType]:
        if self.accept("punct", "("):
            result = []
            while not self.accept("punct", ")"):  # "()" is a graph with no results
                result.append(self.type())
                self.accept("punct", ",")
            return result
        return [self.type()]

    def attr_value(self) -> Any:
        kind, text, _ = self.peek()
        if kind == "number":
            self.i += 1
            return float(text) if any(c in text for c in ".eEna") else int(text)
        if kind == "string":
            self.i += 1
            return json.loads(text)
        if kind == "ident" and text in ("true", "false", "none"):
            self.i += 1
            return {"true": True, "false": False, "none": None}[text]
        if self.accept("punct", "["):
            items = []
            while not self.accept("punct", "]"):
                items.append(self.attr_value())
                self.accept("punct", ",")
            return tuple(items)
        if kind == "ident" and text == "dense":
            self.i += 1
            self.take("punct", "<")
            t = self.type()
            self.take("punct", ":")
            dtype = to_numpy_dtype(t.dtype)
            if self.accept("ident", "b64"):
                raw = base64.b64decode(json.loads(self.take("string")))
                array = numpy.frombuffer(raw, dtype.newbyteorder("<")).astype(dtype)
            else:
                array = numpy.array(self.attr_value(), dtype=dtype)
            self.take("punct", ">")
            if array.size != t.size:
                raise FormatError(f"IR parse error: constant of type {t} has {array.size} values")
            return array.reshape(t.shape)
        raise self.error("an attribute value")

    def graph(self) -> Graph:
        self.take("ident", "graph")
        g = Graph(self.take("global")[1:])
        scope: dict[str, Value] = {}
        self.take("punct", "(")
        while not self.accept("punct", ")"):
            param = self.accept("ident", "param")
            name = self.take("value")[1:]
            self.take("punct", ":")
            if name in scope:
                raise FormatError(f"IR parse error: graph @{g.name} has two inputs named %{name}")
            scope[name] = g.add_input(name, self.type(), param)
            self.accept("punct", ",")
        self.take("arrow")
        self.types()  # the result types are re-derived from the return statement
        self.take("punct", "{")
        while not self.accept("ident", "return"):
            self.node(g, scope)
        g.outputs = []
        while not self.accept("punct", "}"):
            g.outputs.append(self.lookup(scope, self.take("value")))
            if not self.accept("punct", ","):
                self.take("punct", "}")
                break
        g.memory_plan = plan_from_notes(g)
        return g

    def lookup(self, scope: dict[str, Value], token: str) -> Value:
        try:
            return scope[token[1:]]
        except KeyError:
            raise FormatError(f"IR parse error: {token} is used before it is defined") from None

    def node(self, g: Graph, scope: dict[str, Value]) -> None:
        results = [self.take("value")[1:]]
        while self.accept("punct", ","):
            results.append(self.take("value")[1:])
        self.take("punct", "=")
        op = self.take("ident")
        self.take("punct", "(")
        inputs = []
        while not self.accept("punct", ")"):
            inputs.append(self.lookup(scope, self.take("value")))
            self.accept("punct", ",")
        attrs = {}
        if self.accept("punct", "{"):
            while not self.accept("punct", "}"):
                key = self.take("ident")
                self.take("punct", "=")
                attrs[key] = self.attr_value()
                self.accept("punct", ",")
        self.take("punct", ":")
        out_types = [self.type()]
        while self.accept("punct", ","):
            out_types.append(self.type())
        has_body = self.accept("punct", "{")
        loc, plan, group = None, None, None
        if self.peek()[0] == "comment":   # "<loc> | group <mark> | <plan>", each part optional but loc
            text = self.take("comment")[1:].strip()
            loc, _, plan = (part.strip() for part in text.partition("|"))
            if plan.startswith("group "):
                group, _, plan = (part.strip() for part in plan[len("group "):].partition("|"))
        regions = []
        if has_body:
            regions.append(self.graph())
            while not self.accept("punct", "}"):
                regions.append(self.graph())
        if len(out_types) != len(results):
            raise FormatError(f"IR parse error: {op} defines {len(results)} values but lists {len(out_types)} types")
        node = Node(op, inputs, attrs, out_types, loc or None, regions)
        if plan:
            node.meta["plan"] = plan
        if group:
            node.meta["group"] = group
        g.nodes.append(node)
        for name, v in zip(results, node.outputs):
            if name in scope:
                raise FormatError(f"IR parse error: %{name} is defined twice")
            scope[name] = v


def parse(text: str) -> Graph:
    """Parse one graph from its text form. Raises FormatError naming the line on bad text."""
    p = _Parser(text)
    g = p.graph()
    if p.peek()[0] != "eof":
        raise p.error("end of text")
    return g
