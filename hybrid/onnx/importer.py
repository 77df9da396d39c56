"""ONNX -> hybrid: an imported model is a SymbolBlock whose forward replays the ONNX graph through
hb.np / hb.npx, so it runs eagerly, hybridizes for any backend (one static-shape signature per
input shape, which is how ONNX's dynamic dimensions are served), exports in hybrid's own format,
and trains: float initializers are Parameters unless the import is frozen.
"""
from __future__ import annotations

import os
import re
from typing import Optional, Union

import numpy
import onnx

from ..core.array import NDArray
from ..frontend.block import HybridBlock, SymbolBlock
from ..frontend.parameter import Parameter
from ..core.promote import asarray, cast
from ..ir.types import is_float_dtype
from .ops import CONVERTERS, OnnxImportError, OnnxNode, supported_ops
from .ops.base import StaticInputNeeded
from .ops.dtypes import hybrid_dtype
from .ops.narrow import NARROW, to_carrier
from .ops.strings import as_strings, holds_strings
from .ops.tensors import attribute_value, tensor_value

STANDARD_DOMAINS = ("", "ai.onnx")
# ops of the ai.onnx.preview domains hybrid imports
PREVIEW_OPS = {"ai.onnx.preview": {"FlexAttention"}, "ai.onnx.preview.training": {"Gradient", "Adagrad", "Momentum", "Adam"}}


def load_proto(path_or_proto: Union[str, os.PathLike, onnx.ModelProto]) -> tuple[onnx.ModelProto, Optional[str]]:
    """The ModelProto and the folder its external-data files are relative to."""
    if isinstance(path_or_proto, onnx.ModelProto):
        return path_or_proto, None
    path = os.fspath(path_or_proto)
    if not os.path.exists(path):
        raise FileNotFoundError(f"ONNX model {path} does not exist")
    try:
        model = onnx.load(path, load_external_data=False)
    except Exception as e:   # protobuf raises DecodeError and others on corrupt files
        raise OnnxImportError(f"{path} is not a readable ONNX model ({type(e).__name__}: {e})") from None
    return model, os.path.dirname(os.path.abspath(path))


def model_opset(model: onnx.ModelProto) -> int:
    """The standard domain's opset the model imports; a model that imports only other domains (a graph of
    ai.onnx.preview.training optimizer ops) has no standard-domain nodes, and gets the latest opset."""
    versions = [imp.version for imp in model.opset_import if imp.domain in STANDARD_DOMAINS]
    if not versions and not model.opset_import:
        raise OnnxImportError("the model imports no opset (ModelProto.opset_import is empty)")
    return versions[0] if versions else onnx.defs.onnx_opset_version()


def _walk(graph: onnx.GraphProto):
    """Every node of a graph and of the subgraphs its nodes hold (If/Loop/Scan bodies)."""
    for node in graph.node:
        yield node
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                yield from _walk(attr.g)
            for g in attr.graphs:
                yield from _walk(g)


# why the standard-domain ops hybrid refuses are refused (docs/onnx.md lists them all)
UNSUPPORTED_BECAUSE = {
    "TfIdfVectorizer": "its n-gram pooling over token ids is not implemented",
}


def check_supported(model: onnx.ModelProto, opset: int) -> None:
    for node in _walk(model.graph):
        domain = node.domain or ""
        known = node.op_type in PREVIEW_OPS.get(domain, ()) or domain in STANDARD_DOMAINS
        if not known or node.op_type not in CONVERTERS:
            where = f" from domain {domain!r}" if domain not in STANDARD_DOMAINS else ""
            because = f" ({UNSUPPORTED_BECAUSE[node.op_type]})" if node.op_type in UNSUPPORTED_BECAUSE else ""
            raise OnnxImportError(f"ONNX op {node.op_type}{where} (node {node.name!r}, opset {opset}) is not supported "
                                  f"by hybrid{because}. Supported ops: {', '.join(supported_ops())}")


def _safe_name(name: str, taken: set) -> str:
    """A parameter name the IR text form can spell ([A-Za-z0-9_.], not starting with a digit)."""
    safe = re.sub(r"[^A-Za-z0-9_.]", "_", name).strip(".") or "param"
    if safe[0].isdigit() or safe[0] == "_":
        safe = "p" + safe
    base, n = safe, 1
    while safe in taken:
        safe, n = f"{base}_{n}", n + 1
    taken.add(safe)
    return safe


class OnnxGraphRunner:
    """Runs an ONNX graph's nodes on hybrid arrays (eager or traced); also serves subgraphs."""

    def __init__(self, opset: int, statics: dict, narrow: dict):
        self.opset = opset
        self.statics = statics   # ONNX name -> eager value of a parameter, for ops that read it as numbers
        self.narrow = dict(narrow)   # ONNX name -> element type, for values carried in a wider dtype

    def fork(self) -> "OnnxGraphRunner":
        """A runner for a part of the graph run again on other values (Gradient's sub-graph)."""
        return OnnxGraphRunner(self.opset, self.statics, self.narrow)

    def run(self, graph: onnx.GraphProto, env: dict) -> list:
        """Run `graph`'s nodes over `env` (name -> array; outer-scope names stay visible to subgraphs)."""
        statics = self.statics
        for init in graph.initializer:   # a subgraph's own constants (the top graph's are already in env)
            env.setdefault(init.name, NDArray(numpy.array(tensor_value(init, None))))
        for proto in graph.node:
            inputs = [env[name] if name else None for name in proto.input]
            missing = [n for n, v in zip(proto.input, inputs) if n and v is None and n not in env]
            if missing:
                raise OnnxImportError(f"{proto.op_type} node {proto.name!r} reads {missing[0]!r}, which no node "
                                      "or input defines before it (the graph is not topologically sorted)")
            node = OnnxNode(proto.op_type, proto.name, self.opset,
                            {a.name: attribute_value(a) for a in proto.attribute}, inputs, len(proto.output),
                            statics=[statics.get(name) for name in proto.input], runner=self, env=env,
                            input_names=list(proto.input), input_types=[self.narrow.get(n) for n in proto.input],
                            graph=graph)
            outputs = CONVERTERS[proto.op_type](node)
            outputs = outputs if isinstance(outputs, tuple) else (outputs,)   # a list is one sequence value
            self.narrow.update({proto.output[k]: t for k, t in node.output_types.items()})
            if proto.op_type == "Constant":   # its attribute tensor's type was read into a carrier array
                types = [a.t.data_type for a in proto.attribute if a.type == onnx.AttributeProto.TENSOR]
                if types and types[0] in NARROW:
                    self.narrow[proto.output[0]] = types[0]
            for name, value in zip(proto.output, outputs):
                if name:
                    env[name] = value
        return [env[out.name] for out in graph.output]


class OnnxBlock(SymbolBlock):
    """An imported ONNX model: call it with one array per graph input."""

    def __init__(self, model: onnx.ModelProto, base_dir: Optional[str] = None, freeze: bool = False):
        HybridBlock.__init__(self)
        opset = model_opset(model)
        check_supported(model, opset)
        graph = model.graph
        taken: set = set()
        constants, params = {}, {}
        narrow = {v.name: v.type.tensor_type.elem_type for v in graph.input
                  if v.type.tensor_type.elem_type in NARROW}
        narrow.update({init.name: init.data_type for init in graph.initializer if init.data_type in NARROW})
        for init in graph.initializer:
            value = tensor_value(init, base_dir)
            if init.data_type == onnx.TensorProto.STRING:
                constants[init.name] = as_strings(value)
            elif is_float_dtype(value.dtype) and not freeze:
                safe = _safe_name(init.name, taken)
                p = Parameter(safe, value.shape, value.dtype, grad_req="write")
                p.set_data(value)
                self._reg_params[safe] = p
                params[init.name] = p
            else:
                constants[init.name] = NDArray(numpy.array(value))
        for node in graph.node:   # Constant nodes hold their tensors in attributes, which may be external too
            for attr in node.attribute:
                if attr.type == onnx.AttributeProto.TENSOR and onnx.external_data_helper.uses_external_data(attr.t):
                    onnx.external_data_helper.load_external_data_for_tensor(attr.t, base_dir or ".")
        inputs = [v for v in graph.input if v.name not in params and v.name not in constants]
        object.__setattr__(self, "onnx_model", model)
        object.__setattr__(self, "opset", opset)
        object.__setattr__(self, "input_names", [v.name for v in inputs])
        object.__setattr__(self, "input_dtypes", [_declared_dtype(v) for v in inputs])
        object.__setattr__(self, "output_names", [v.name for v in graph.output])
        # the outputs' ONNX element types (0 where undeclared): narrow ones leave the block in their carrier
        object.__setattr__(self, "output_types", [v.type.tensor_type.elem_type for v in graph.output])
        object.__setattr__(self, "_narrow", narrow)
        object.__setattr__(self, "_constants", constants)
        object.__setattr__(self, "_params_by_onnx_name", params)
        object.__setattr__(self, "static_inputs", set())
        # where the model holds string tensors: it then runs eagerly only (ops/strings.py)
        object.__setattr__(self, "strings", holds_strings(model))

    def hybridize(self, active: bool = True, **options) -> None:
        if active and self.strings:
            raise OnnxImportError(f"this ONNX model holds string tensors ({', '.join(self.strings[:3])}"
                                  f"{', ...' if len(self.strings) > 3 else ''}), which hybrid runs eagerly with NumPy: "
                                  "its compiled IR has no string dtype. Call the block without hybridize(), or turn "
                                  "the text into numbers (token ids) before the model")
        super().hybridize(active, **options)

    def __call__(self, *inputs):
        """Inputs found to set shapes (StaticInputNeeded) join the compiled signature by value."""
        inputs = [_boundary_value(x) for x in inputs]
        while True:
            args = [StaticTensor(x) if name in self.static_inputs else x for name, x in zip(self.input_names, inputs)]
            try:
                return super().__call__(*args)
            except StaticInputNeeded as e:
                if e.input_name in self.input_names and e.input_name not in self.static_inputs:
                    self.static_inputs.add(e.input_name)
                    continue
                # computed from inputs: shapes are derived from integer inputs, so those become static
                integer = {n for n, d in zip(self.input_names, self.input_dtypes) if d is not None and d[0] in "iub"}
                if integer <= self.static_inputs:
                    raise
                self.static_inputs.update(integer)

    def forward(self, *inputs):
        if len(inputs) != len(self.input_names):
            raise TypeError(f"the ONNX model takes {len(self.input_names)} inputs ({', '.join(self.input_names)}), "
                            f"got {len(inputs)}")
        env: dict = dict(self._constants)
        statics = {}
        for name, p in self._params_by_onnx_name.items():
            env[name] = p.data()
            statics[name] = p._data_eager()
        for name, dtype, x in zip(self.input_names, self.input_dtypes, inputs):
            if isinstance(x, (list, tuple)) or x is None:   # a sequence, or an empty optional
                env[name] = None if x is None else [asarray(e) for e in x]
                continue
            if dtype == "string":
                env[name] = as_strings(x)
                continue
            x = NDArray(x.value) if isinstance(x, StaticTensor) else asarray(x)
            env[name] = cast(x, dtype) if dtype is not None else x
        runner = OnnxGraphRunner(self.opset, statics, self._narrow)
        outputs = runner.run(self.onnx_model.graph, env)
        # undeclared output types: narrow ones are known once the graph has been built
        object.__setattr__(self, "output_types", [t or runner.narrow.get(name, 0)
                                                  for t, name in zip(self.output_types, self.output_names)])
        return outputs[0] if len(outputs) == 1 else tuple(outputs)


def _boundary_value(x):
    """An input as the compiled signature takes it: narrow types in their carrier; a sequence (list)
    as a list of arrays, or an empty tuple when empty (a hashable signature part)."""
    if isinstance(x, (list, tuple)):
        return [NDArray(numpy.asarray(to_carrier(numpy.asarray(e)))) for e in x] or ()
    return to_carrier(x)


class StaticTensor:
    """A hashable by-value array: how a shape-setting input enters the signature cache."""

    def __init__(self, value):
        self.value = numpy.array(value)
        self._key = (self.value.shape, self.value.dtype.str, self.value.tobytes())

    def __hash__(self) -> int:
        return hash(self._key)

    def __eq__(self, other) -> bool:
        return isinstance(other, StaticTensor) and self._key == other._key

    def __repr__(self) -> str:
        return f"StaticTensor({self.value.tolist()})"


def _declared_dtype(value_info) -> Optional[str]:
    t = value_info.type
    if t.HasField("tensor_type") and t.tensor_type.elem_type == onnx.TensorProto.STRING:
        return "string"
    if t.HasField("tensor_type") and t.tensor_type.elem_type:
        return hybrid_dtype(t.tensor_type.elem_type, narrow=True)
    return None


def input_shapes(model: onnx.ModelProto, batch: int = 1) -> list[tuple[int, ...]]:
    """Concrete shapes for a model's data inputs: symbolic or unknown dimensions become `batch`."""
    inits = {i.name for i in model.graph.initializer}
    shapes = []
    for v in model.graph.input:
        if v.name in inits:
            continue
        dims = v.type.tensor_type.shape.dim
        shapes.append(tuple(d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else batch for d in dims))
    return shapes


def import_model(path_or_proto, freeze: bool = False, backend: Optional[str] = None) -> OnnxBlock:
    """Import an ONNX model (a path or a ModelProto) as a block; `freeze` makes initializers constants."""
    model, base_dir = load_proto(path_or_proto)
    block = OnnxBlock(model, base_dir, freeze=freeze)
    if backend is not None:
        block.hybridize(backend=backend)
    return block
