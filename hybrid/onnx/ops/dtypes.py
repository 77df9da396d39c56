"""ONNX TensorProto element types <-> hybrid dtypes."""
from __future__ import annotations

from onnx import TensorProto

from .base import OnnxNode, OnnxImportError

ONNX_TO_HYBRID = {TensorProto.FLOAT: "f32", TensorProto.DOUBLE: "f64", TensorProto.FLOAT16: "f16",
                  TensorProto.BFLOAT16: "bf16", TensorProto.INT8: "i8", TensorProto.INT16: "i16",
                  TensorProto.INT32: "i32", TensorProto.INT64: "i64", TensorProto.UINT8: "u8",
                  TensorProto.UINT16: "u16", TensorProto.UINT32: "u32", TensorProto.UINT64: "u64",
                  TensorProto.BOOL: "bool"}
HYBRID_TO_ONNX = {v: k for k, v in ONNX_TO_HYBRID.items()}


def hybrid_dtype(elem_type: int, node: OnnxNode | None = None, narrow: bool = False) -> str:
    """The hybrid dtype of an ONNX element type; with `narrow`, also the carrier dtype of a narrow
    type (float8, float4, 4- and 2-bit integers: see narrow.py)."""
    from .narrow import NARROW
    if narrow and elem_type in NARROW:
        return NARROW[elem_type].carrier
    try:
        return ONNX_TO_HYBRID[elem_type]
    except KeyError:
        name = TensorProto.DataType.Name(elem_type)
        where = f"{node.describe()}: " if node is not None else ""
        raise OnnxImportError(f"{where}ONNX type {name} has no hybrid dtype; hybrid supports "
                              f"{', '.join(TensorProto.DataType.Name(t) for t in ONNX_TO_HYBRID)}") from None
