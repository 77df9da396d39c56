"""Gradient compression: gradients travel (and are summed) in 16-bit floats.

    trainer = gluon.Trainer(params, "sgd", {...}, kvstore="dist_sync", compression_params={"type": "fp16"})
    kv.set_gradient_compression({"type": "bf16"})

A float32/float64 gradient is rounded to float16 ("fp16") or bfloat16 ("bf16") before it is
reduced, the reduction (over the devices of a process, then over the ranks, each partial sum
rounded to the 16-bit type, as Horovod's fp16 compression on NCCL) runs on the 16-bit values,
and the result is widened back to the gradient's dtype. Messages are half the size; each value
carries the 16-bit type's relative error (2^-11 for fp16, 2^-8 for bf16) per addition, and fp16
overflows above 65504 (scale the loss down if gradients are that large). MXNet's quantizing
'1bit'/'2bit' types (with error feedback on a parameter server) are not offered.
"""
from __future__ import annotations

from typing import Optional

import ml_dtypes
import numpy

from .errors import DistributedError

TYPES = {"fp16": numpy.dtype(numpy.float16), "bf16": numpy.dtype(ml_dtypes.bfloat16)}
# unit roundoff of each 16-bit type: the relative error of one rounding
UNIT_ROUNDOFF = {"fp16": 2.0 ** -11, "bf16": 2.0 ** -8}


class GradientCompression:
    """The parsed `compression_params` ({'type': 'fp16' | 'bf16' | 'none'})."""

    def __init__(self, params: Optional[dict]):
        params = dict(params or {"type": "none"})
        kind = params.pop("type", None)
        if kind in ("1bit", "2bit"):
            raise DistributedError(f"gradient compression type {kind!r} (MXNet's quantization with error feedback) "
                                   "is not offered by hybrid; use {'type': 'fp16'} or {'type': 'bf16'}")
        if kind not in ("none", *TYPES):
            raise DistributedError(f"compression_params: type must be 'fp16', 'bf16' or 'none', got {kind!r}")
        if params:
            raise DistributedError(f"compression_params: unknown keys {sorted(params)} for type {kind!r} (a 16-bit "
                                   "compression has no threshold or other settings)")
        self.type = kind
        self.dtype: Optional[numpy.dtype] = TYPES.get(kind)

    @property
    def active(self) -> bool:
        return self.dtype is not None

    def wire_dtype(self, dtype) -> numpy.dtype:
        """The dtype a gradient of `dtype` travels in: the 16-bit type for wider floats."""
        dtype = numpy.dtype(dtype)
        if self.dtype is None or dtype.kind != "f" or dtype.itemsize <= 2:
            return dtype
        return self.dtype

    def sum_local(self, arrays: list) -> numpy.ndarray:
        """The sum of one parameter's per-device gradients, computed as the compressed reduction
        does: each rounded to the wire dtype, added in it, widened back."""
        dtype = numpy.asarray(arrays[0]).dtype
        wire = self.wire_dtype(dtype)
        total = numpy.array(arrays[0], dtype=wire)
        for a in arrays[1:]:
            total += numpy.asarray(a).astype(wire)
        return total.astype(dtype)

    def __repr__(self) -> str:
        return f"GradientCompression(type={self.type!r})"
