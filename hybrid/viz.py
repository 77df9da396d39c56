"""Graph pictures: Graphviz DOT for any IR stage (fused kernels drawn as clusters) and
`render`, which runs Graphviz's `dot` program to write PNG/SVG/PDF.

    print(net.ir(format="dot"))                 # DOT text of the optimized graph
    hb.viz.render(net.ir(stage="fuse"), "k.svg")  # a picture of one stage
"""
from __future__ import annotations

import os
import shutil
import subprocess
from typing import Union

from .errors import HybridError
from .ir.graph import Graph, Value
from .ir.parser import parse
from .ir.printer import format_attr

INSTALL_HINT = ("Graphviz's `dot` program is not installed (or not on PATH). Install Graphviz: "
                "`apt-get install graphviz` (Debian/Ubuntu), `brew install graphviz` (macOS), "
                "`conda install graphviz`, or https://graphviz.org/download/ ; or save the text of "
                "hb.viz.to_dot(graph) and render it elsewhere (e.g. an online Graphviz viewer).")


def _quote(text: str) -> str:
    """A DOT string; labels use DOT's own \\n for line breaks, so only quotes need escaping."""
    return '"' + text.replace('"', '\\"') + '"'


def _label(node) -> str:
    attrs = {k: v for k, v in node.attrs.items() if k not in ("kind", "name")}
    if node.op == "constant":
        value = node.attrs["value"]
        text = format_attr(value) if value.size <= 4 else f"constant {node.output.type}"
        return text.replace("dense<", "").rstrip(">")
    parts = [node.op] + [f"{k}={format_attr(v)}" for k, v in attrs.items()]
    parts.append(", ".join(str(v.type) for v in node.outputs))
    return "\\n".join(parts)


class _Dot:
    def __init__(self):
        self.lines: list[str] = []
        self.count = 0

    def new_id(self) -> str:
        self.count += 1
        return f"n{self.count}"

    def body(self, graph: Graph, sources: dict[Value, str], indent: str) -> list[str]:
        """Draw graph's nodes; `sources` maps each value to the DOT node that produces it."""
        result_ids = []
        for node in graph.nodes:
            if node.op == "fused":   # a kernel: its body drawn in place, wired to the operands
                body = node.regions[0]
                inner = dict(zip(body.inputs, (sources[v] for v in node.inputs)))
                title = f"{node.attrs.get('name', node.op)} ({node.attrs.get('kind', node.op)})"
                self.lines.append(f"{indent}subgraph cluster_{self.new_id()} {{")
                self.lines.append(f"{indent}  label={_quote(title)};")
                self.lines.append(f"{indent}  style=rounded; color=steelblue;")
                outs = self.body(body, inner, indent + "  ")
                self.lines.append(f"{indent}}}")
                sources.update(zip(node.outputs, outs))
                continue
            for k, region in enumerate(node.regions):   # control flow: each region a closed cluster
                self.lines.append(f"{indent}subgraph cluster_{self.new_id()} {{")
                self.lines.append(f"{indent}  label={_quote(f'{node.op} region {k}: @{region.name}')};")
                self.lines.append(f"{indent}  style=dashed; color=gray;")
                params = {}
                for v in region.inputs:
                    params[v] = self.new_id()
                    self.lines.append(f"{indent}  {params[v]} [label={_quote('%' + v.name)}, shape=plaintext];")
                self.body(region, params, indent + "  ")
                self.lines.append(f"{indent}}}")
            nid = self.new_id()
            shape = "plaintext" if node.op == "constant" else "box"
            self.lines.append(f"{indent}{nid} [label={_quote(_label(node))}, shape={shape}];")
            for v in node.inputs:
                self.lines.append(f"{indent}{sources[v]} -> {nid};")
            for v in node.outputs:
                sources[v] = nid
        for v in graph.outputs:
            result_ids.append(sources[v])
        return result_ids


def to_dot(graph: Graph) -> str:
    """Graphviz DOT text of `graph`: inputs as ellipses, ops as boxes, fused kernels as clusters."""
    dot = _Dot()
    sources: dict[Value, str] = {}
    for v in graph.inputs:
        nid = dot.new_id()
        kind = "param " if v.name in graph.param_names else ""
        label = f"{kind}%{v.name}\\n{v.type}"
        dot.lines.append(f"  {nid} [label={_quote(label)}, shape=ellipse];")
        sources[v] = nid
    results = dot.body(graph, sources, "  ")
    out = dot.new_id()
    dot.lines.append(f"  {out} [label=\"return\", shape=doublecircle];")
    dot.lines.extend(f"  {r} -> {out};" for r in results)
    header = [f"digraph {_quote(graph.name)} {{", "  rankdir=TB;", "  node [fontname=\"monospace\", fontsize=10];"]
    return "\n".join(header + dot.lines + ["}"]) + "\n"


def render(graph_or_text: Union[Graph, str], path: str) -> str:
    """Write a picture of a graph (a Graph, IR text, or DOT text) to `path`; the format comes
    from the extension (.png, .svg, .pdf). Returns `path`. Needs Graphviz's `dot` program."""
    fmt = os.path.splitext(path)[1].lstrip(".").lower()
    if fmt not in ("png", "svg", "pdf"):
        raise HybridError(f"render: cannot tell the picture format from {path!r}; end it in .png, .svg or .pdf")
    if isinstance(graph_or_text, Graph):
        text = to_dot(graph_or_text)
    elif graph_or_text.lstrip().startswith("digraph"):
        text = graph_or_text
    else:
        text = to_dot(parse(graph_or_text))
    exe = shutil.which("dot")
    if exe is None:
        raise HybridError(INSTALL_HINT)
    done = subprocess.run([exe, f"-T{fmt}", "-o", path], input=text.encode(), capture_output=True)
    if done.returncode != 0:
        raise HybridError(f"Graphviz dot failed ({done.returncode}): {done.stderr.decode(errors='replace').strip()}")
    return path
