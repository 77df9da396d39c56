"""ONNX TensorProto element types <-> hybrid dtypes."""
from __future__ import annotations

from onnx import TensorProto

from .base import OnnxNode, OnnxImportError

ONNX_TO_HYBRID = {TensorProto.FLOAT: "f32", TensorProto.DOUBLE: "f64", TensorProto.FLOAT16: "f16",
                  TensorProto.INT8: "i8", TensorProto.INT32: "i32", TensorProto.INT64: "i64",
                  TensorProto.UINT8: "u8", TensorProto.UINT32: "u32", TensorProto.BOOL: "bool"}
HYBRID_TO_ONNX = {v: k for k, v in ONNX_TO_HYBRID.items()}


def hybrid_dtype(elem_type: int, node: OnnxNode | None = None) -> str:
    try:
        return ONNX_TO_HYBRID[elem_type]
    except KeyError:
        name = TensorProto.DataType.Name(elem_type)
        where = f"{node.describe()}: " if node is not None else ""
        raise OnnxImportError(f"{where}ONNX type {name} has no hybrid dtype; hybrid supports "
                              f"{', '.join(TensorProto.DataType.Name(t) for t in ONNX_TO_HYBRID)}") from None
