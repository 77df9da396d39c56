"""Export a compiled block to files and load it back, with no model code and no pickle.

The files carry MXNet's names, so programs written for `HybridBlock.export` /
`SymbolBlock.imports` find them; their contents are hybrid's own checked format:
`prefix-symbol.json`: format name and version, hybrid version, the traced graph (IR text),
input/parameter/output names with shapes and dtypes, and the SHA-256 of the parameter file.
`prefix-EPOCH.params` (epoch as four digits, 0000 by default): parameter values as an .npz archive,
read with allow_pickle=False. Exports of earlier hybrid versions (`prefix-graph.json` +
`prefix-params.npz`) load the same way.
"""
from __future__ import annotations

import hashlib
import json
import os
from typing import Optional

import numpy

from .. import fileio
from ..errors import FormatError
from ..ir.graph import Graph
from ..ir.serialize import graph_from_json, graph_to_json
from ..ir.types import to_numpy_dtype
from ..version import __version__

MODEL_FORMAT = "hybrid-model"
MODEL_FORMAT_VERSION = 1


MAX_GRAPH_BYTES = 1 << 30      # the graph file: IR text and names
MAX_PARAMS_BYTES = 1 << 40     # the parameter file: bounded by the disk, not by a guess at model sizes


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with fileio.open_regular(path, MAX_PARAMS_BYTES, "parameter file") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _describe(values) -> list[dict]:
    return [{"name": v.name, "shape": list(v.shape), "dtype": v.dtype} for v in values]


GRAPH_SUFFIXES = ("-symbol.json", "-graph.json")   # MXNet's name (written), earlier hybrid exports' name


def export_file_names(prefix: str, epoch: int = 0) -> tuple[str, str]:
    """MXNet's names for an export: `prefix-symbol.json` and `prefix-0000.params` (epoch 0)."""
    if not isinstance(epoch, int) or isinstance(epoch, bool) or not 0 <= epoch <= 9999:
        raise ValueError(f"export: epoch must be an int in 0..9999 (it names prefix-EPOCH.params), got {epoch!r}")
    return f"{prefix}-symbol.json", f"{prefix}-{epoch:04d}.params"


def export_graph(graph: Graph, params: dict[str, numpy.ndarray], prefix: str, epoch: int = 0) -> tuple[str, str]:
    graph_file, params_file = export_file_names(prefix, epoch)
    os.makedirs(os.path.dirname(os.path.abspath(graph_file)), exist_ok=True)
    with open(params_file, "wb") as f:
        fileio.save_npz(f, {v.name: params[v.name] for v in graph.params})
    document = {
        "format": MODEL_FORMAT,
        "format_version": MODEL_FORMAT_VERSION,
        "hybrid_version": __version__,
        "inputs": _describe(graph.data_inputs),
        "params": _describe(graph.params),
        "outputs": [{"shape": list(v.shape), "dtype": v.dtype} for v in graph.outputs],
        "params_file": os.path.basename(params_file),
        "params_sha256": _sha256(params_file),
        "graph": graph_to_json(graph),
    }
    with open(graph_file, "w") as f:
        json.dump(document, f, indent=1)
    return graph_file, params_file


def _inference_entry(compiled):
    """The compiled entry of the last signature in inference mode. An export is for deployment, so
    a model last run in training mode (dropout masks, BatchNorm batch statistics and running-stat
    updates) is traced again with training off, on placeholder inputs of the same types."""
    from ..core import autograd
    from ..core.array import NDArray

    entry = compiled.last
    *parts, (_, training) = entry.signature
    if not training:
        return entry
    args = [NDArray(numpy.zeros(part[1], to_numpy_dtype(part[2]))) if part[0] == "array" else part[2]
            for part in parts]
    with autograd.pause(train_mode=False):
        return compiled.compile(args)


def export_compiled(compiled, prefix: str, epoch: int = 0) -> tuple[str, str]:
    """Export the inference graph of a CompiledFunction's last signature with its parameter values."""
    entry = _inference_entry(compiled)
    names = {v.name for v in entry.traced.params}
    by_name = {name: p for name, p in compiled.params().items() if name in names}
    params = {name: p._data_eager()._data for name, p in by_name.items()}
    return export_graph(entry.traced, params, prefix, epoch)


def _graph_file(path: str) -> str:
    """The graph file an import names: a `.json` path itself, or a prefix's `-symbol.json` (else its
    `-graph.json`, the name earlier hybrid versions wrote)."""
    if path.endswith(".json"):
        return path
    for suffix in GRAPH_SUFFIXES:
        if os.path.exists(path + suffix):
            return path + suffix
    raise FormatError(f"{path}{GRAPH_SUFFIXES[0]} does not exist (export writes <prefix>{GRAPH_SUFFIXES[0]} and "
                      f"<prefix>-0000.params; earlier hybrid versions wrote <prefix>{GRAPH_SUFFIXES[1]})")


def load_exported(path: str, params_file: Optional[str] = None) -> tuple[Graph, dict[str, numpy.ndarray]]:
    """Read and check an export: `path` is the prefix or the graph (symbol) file; the parameter file is
    `params_file`, else the one the graph file names. Every problem raises FormatError naming the file."""
    from .block import load_npz

    graph_file = _graph_file(path)
    try:
        text = fileio.read_regular(graph_file, MAX_GRAPH_BYTES, "model graph file").decode("utf-8", "replace")
    except FileNotFoundError:
        raise FormatError(f"{graph_file} does not exist (export writes <prefix>{GRAPH_SUFFIXES[0]})") from None
    except OSError as e:
        raise FormatError(f"{graph_file} cannot be read ({e})") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as e:
        raise FormatError(f"{graph_file} is not valid JSON ({e}); the file is truncated or corrupt") from None
    if not isinstance(document, dict) or document.get("format") != MODEL_FORMAT:
        raise FormatError(f"{graph_file} is not a hybrid model export (format should be {MODEL_FORMAT!r})")
    if document.get("format_version") != MODEL_FORMAT_VERSION:
        raise FormatError(f"{graph_file} has format version {document.get('format_version')!r}; this hybrid "
                          f"({__version__}) reads version {MODEL_FORMAT_VERSION}")
    for key in ("graph", "params_file", "params_sha256", "inputs", "params", "outputs"):
        if key not in document:
            raise FormatError(f"{graph_file} lacks the field {key!r}; the file is incomplete")
    try:
        graph = graph_from_json(document["graph"], graph_file)
    except FormatError:
        raise
    except Exception as e:
        raise FormatError(f"{graph_file}: the graph does not verify ({e})") from None
    if params_file is None:
        params_file = os.path.join(os.path.dirname(os.path.abspath(graph_file)), document["params_file"])
    if not os.path.exists(params_file):
        raise FormatError(f"parameter file {params_file} (named by {graph_file}) does not exist")
    try:
        params_digest = _sha256(params_file)
    except OSError as e:
        raise FormatError(f"parameter file {params_file} cannot be read ({e})") from None
    if params_digest != document["params_sha256"]:
        raise FormatError(f"parameter file {params_file} does not match the checksum recorded in {graph_file}; "
                          "it was modified or truncated after export")
    params = load_npz(params_file)
    for v in graph.params:
        if v.name not in params:
            raise FormatError(f"{params_file} lacks parameter {v.name}")
        if tuple(params[v.name].shape) != v.shape:
            raise FormatError(f"{params_file}: parameter {v.name} has shape {params[v.name].shape}, the graph "
                              f"expects {v.shape}")
        if params[v.name].dtype != to_numpy_dtype(v.dtype):
            raise FormatError(f"{params_file}: parameter {v.name} has dtype {params[v.name].dtype}, the graph "
                              f"expects {to_numpy_dtype(v.dtype)}; the file was modified after export")
    return graph, params
