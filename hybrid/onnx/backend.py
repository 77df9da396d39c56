"""An onnx.backend.base.Backend over hybrid, so onnx.backend.test.BackendTest runs against it.

`prepare(model, device, backend="llvm")` imports the model and hybridizes it for the chosen
hybrid backend ("eager" runs it op by op without compiling)."""
from __future__ import annotations

from typing import Any, Sequence

import numpy
import onnx
from onnx.backend.base import Backend, BackendRep, Device, DeviceType

from .. import log
from .importer import OnnxBlock
from .ops.narrow import NARROW, from_carrier


class HybridRep(BackendRep):
    """A prepared model: run(inputs) -> a list of NumPy outputs."""

    def __init__(self, block: OnnxBlock):
        self.block = block

    def run(self, inputs: Any, **kwargs: Any) -> tuple[numpy.ndarray, ...]:
        if isinstance(inputs, dict):
            inputs = [inputs[name] for name in self.block.input_names]
        elif isinstance(inputs, numpy.ndarray):
            inputs = [inputs]
        outputs = self.block(*[_value(x) for x in inputs])
        if len(self.block.output_names) == 1:
            outputs = (outputs,)
        # float8 / 4-bit outputs leave hybrid in their carrier dtype; ONNX callers get the ONNX type
        return tuple(from_carrier(y, t) if t in NARROW else _value(y)
                     for y, t in zip(outputs, self.block.output_types))


def _value(x):
    """A tensor as a NumPy array, a sequence as a list of them, an empty optional as None."""
    if x is None:
        return None
    if isinstance(x, (list, tuple)):
        return [numpy.asarray(e) for e in x]
    return numpy.asarray(x)


class HybridBackend(Backend):
    """hybrid as an ONNX backend (CPU device; the hybrid backend is chosen with `backend=`)."""

    default_backend = "llvm"

    @classmethod
    def prepare(cls, model: onnx.ModelProto, device: str = "CPU", **kwargs: Any) -> HybridRep:
        super().prepare(model, device, **kwargs)
        block = OnnxBlock(model)
        backend = kwargs.get("backend", cls.default_backend)
        if backend != "eager" and block.strings:
            log.log("onnx", f"model {model.graph.name!r} runs eagerly, not on {backend}: it holds string tensors "
                            f"({', '.join(block.strings[:3])}), which hybrid keeps as NumPy arrays outside its IR")
        elif backend != "eager":
            block.hybridize(backend=backend)
        return HybridRep(block)

    @classmethod
    def run_model(cls, model: onnx.ModelProto, inputs: Any, device: str = "CPU", **kwargs: Any):
        return cls.prepare(model, device, **kwargs).run(inputs)

    @classmethod
    def run_node(cls, node: onnx.NodeProto, inputs: Sequence[numpy.ndarray], device: str = "CPU",
                 outputs_info=None, **kwargs: Any):
        """Run one node by wrapping it in a one-node model at the latest opset."""
        super().run_node(node, inputs, device=device, outputs_info=outputs_info)
        values = [numpy.asarray(x) for x in inputs]
        graph_inputs = [onnx.helper.make_tensor_value_info(name, onnx.helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)
                        for name, v in zip(node.input, values)]
        graph_outputs = [onnx.helper.make_empty_tensor_value_info(name) for name in node.output]
        graph = onnx.helper.make_graph([node], "run_node", graph_inputs, graph_outputs)
        model = onnx.helper.make_model(graph)
        return cls.run_model(model, values, device, **kwargs)

    @classmethod
    def supports_device(cls, device: str) -> bool:
        return Device(device).type == DeviceType.CPU


prepare = HybridBackend.prepare
run_model = HybridBackend.run_model
run_node = HybridBackend.run_node
supports_device = HybridBackend.supports_device
