"""ONNX op converters; importing this package fills the converter table."""
from . import attention, base, control, fold, image, index, loss, math, nn, quant, reduce, resize, rnn, roi, sample, sequence, shape, signal, strings, training  # noqa: F401  (each module registers its ops)
from .base import CONVERTERS, OnnxImportError, OnnxNode, converts, supported_ops

__all__ = ["CONVERTERS", "OnnxImportError", "OnnxNode", "converts", "supported_ops"]
