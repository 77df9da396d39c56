"""ONNX tensors and attributes -> NumPy values (no code from the file is ever run)."""
from __future__ import annotations

import numpy
from onnx import AttributeProto, numpy_helper

from .base import OnnxNode
from .narrow import to_carrier


def tensor_value(proto, base_dir: str | None = None) -> numpy.ndarray:
    """A TensorProto as a NumPy array; external data is read from base_dir."""
    from onnx.external_data_helper import load_external_data_for_tensor, uses_external_data

    if uses_external_data(proto):
        load_external_data_for_tensor(proto, base_dir or ".")
    return to_carrier(numpy.array(numpy_helper.to_array(proto)))


def attribute_value(attr):
    """An attribute as a plain Python value (tensors as NumPy arrays, strings decoded)."""
    kind = attr.type
    if kind == AttributeProto.FLOAT:
        return float(attr.f)
    if kind == AttributeProto.INT:
        return int(attr.i)
    if kind == AttributeProto.STRING:
        return attr.s.decode()
    if kind == AttributeProto.TENSOR:
        return tensor_value(attr.t)
    if kind == AttributeProto.FLOATS:
        return [float(v) for v in attr.floats]
    if kind == AttributeProto.INTS:
        return [int(v) for v in attr.ints]
    if kind == AttributeProto.STRINGS:
        return [s.decode() for s in attr.strings]
    if kind == AttributeProto.GRAPH:
        return attr.g
    if kind == AttributeProto.SPARSE_TENSOR:
        return numpy_helper.to_array(_densify(attr.sparse_tensor))
    return attr   # graphs lists, type protos: the converters that take them read the proto


def _densify(sparse):
    values = numpy_helper.to_array(sparse.values)
    indices = numpy_helper.to_array(sparse.indices)
    dense = numpy.zeros(tuple(sparse.dims), values.dtype)
    flat = dense.reshape(-1)
    if indices.ndim == 2:
        indices = numpy.ravel_multi_index(indices.T, dense.shape)
    flat[indices] = values
    return numpy_helper.from_array(dense)


_CONSTANT_ATTRS = {"value_float": numpy.float32, "value_floats": numpy.float32, "value_int": numpy.int64,
                   "value_ints": numpy.int64}


def constant_value(node: OnnxNode) -> numpy.ndarray:
    """The value of a Constant node, whichever attribute holds it."""
    if "value" in node.attrs:
        return numpy.asarray(node.attrs["value"])
    if "sparse_value" in node.attrs:
        return numpy.asarray(node.attrs["sparse_value"])
    for name, dtype in _CONSTANT_ATTRS.items():
        if name in node.attrs:
            return numpy.array(node.attrs[name], dtype)
    raise node.fail("Constant holds no value (none of value, sparse_value, value_float(s), value_int(s), value_string(s))")
