"""JSON serialization of graphs: the text form inside a versioned envelope."""
from __future__ import annotations

import json

from ..errors import FormatError, HybridError
from .graph import Graph
from .parser import parse
from .verifier import verify

FORMAT = "hybrid-ir"
FORMAT_VERSION = 1


def graph_to_json(graph: Graph) -> dict:
    return {"format": FORMAT, "format_version": FORMAT_VERSION, "ir": str(graph)}


def graph_from_json(data: dict, source: str = "<json>") -> Graph:
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise FormatError(f"{source}: not a hybrid IR document (missing \"format\": \"{FORMAT}\")")
    version = data.get("format_version")
    if version != FORMAT_VERSION:
        raise FormatError(f"{source}: IR format version {version!r} is not supported (this hybrid reads "
                          f"version {FORMAT_VERSION}); re-export the model with this version")
    if not isinstance(data.get("ir"), str):
        raise FormatError(f"{source}: the IR document has no \"ir\" text")
    try:
        graph = parse(data["ir"])
        verify(graph)
    except (HybridError, KeyError) as e:  # parse and verify errors (KeyError: unknown op); name the file
        raise FormatError(f"{source}: {e}") from None
    return graph


def dumps(graph: Graph) -> str:
    return json.dumps(graph_to_json(graph))


def loads(text: str, source: str = "<json>") -> Graph:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise FormatError(f"{source}: not valid JSON ({e}); the file is truncated or corrupt") from None
    return graph_from_json(data, source)
