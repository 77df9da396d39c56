"""Signal processing: DFT and STFT as matmuls with cosine / sine matrices.

ONNX carries complex values as a trailing axis of 2 (real, imaginary; a trailing 1 is a real signal).
The transform length is known when the graph is built, so each transform is two real matmuls with
constant matrices: O(n^2) per transformed row, which is fast for the short lengths models use (an FFT
primitive would be the step for long signals).
"""
from __future__ import annotations

import numpy
from onnx import TensorProto

from ...core.promote import cast
from ...frontend import np
from .base import OnnxNode, converts, normalize_axis
from .dtypes import hybrid_dtype
from .shape import const_array


def _matrix(values: numpy.ndarray, dtype: str):
    return cast(const_array(values), dtype)


def _along(x, matrix, axis: int):
    """Apply matrix (out_len x in_len) along `axis` of x."""
    moved = np.moveaxis(x, axis, -1)
    return np.moveaxis(np.matmul(moved, np.transpose(matrix)), -1, axis)


def dft(x, length: int, axis: int, inverse: bool = False, onesided: bool = False):
    """x: (..., 1 or 2) real or complex signal; the transform of `length` points along `axis` (the
    signal is cut or zero-padded to it); returns (..., 2), or (..., 1) for a one-sided inverse."""
    result_dtype, dtype = x.type.dtype, "f64"   # float64 sums: bins that cancel to zero stay ~1e-15, not ~1e-6
    x = cast(x, dtype)
    n_in = x.shape[axis]
    real = x[..., 0]
    imag = x[..., 1] if x.shape[-1] == 2 else None
    if inverse and onesided:   # Hermitian input of length//2 + 1 bins -> a real signal of `length` points
        bins = numpy.arange(min(n_in, length // 2 + 1))
        weights = numpy.where((bins == 0) | (2 * bins == length), 1.0, 2.0) / length
        angle = 2 * numpy.pi * numpy.outer(numpy.arange(length), bins) / length
        out = _along(real, _matrix(numpy.cos(angle) * weights, dtype), axis)
        if imag is not None:
            out = out - _along(imag, _matrix(numpy.sin(angle) * weights, dtype), axis)
        return cast(np.expand_dims(out, -1), result_dtype)
    n_out = length // 2 + 1 if onesided else length
    used = min(n_in, length)
    if used < n_in:   # longer signals are cut to the transform length
        real = real[(slice(None),) * axis + (slice(0, used),)]
        imag = None if imag is None else imag[(slice(None),) * axis + (slice(0, used),)]
    angle = 2 * numpy.pi * numpy.outer(numpy.arange(n_out), numpy.arange(used)) / length
    sign, scale = (1.0, 1.0 / length) if inverse else (-1.0, 1.0)
    cos = _matrix(numpy.cos(angle) * scale, dtype)
    sin = _matrix(sign * numpy.sin(angle) * scale, dtype)   # e^{sign i angle} = cos + i sign sin
    out_real, out_imag = _along(real, cos, axis), _along(real, sin, axis)
    if imag is not None:
        out_real = out_real - _along(imag, sin, axis)
        out_imag = out_imag + _along(imag, cos, axis)
    return cast(np.stack([out_real, out_imag], -1), result_dtype)


@converts("DFT")
def _dft(node: OnnxNode):
    x = node.input(0)
    if node.opset < 20:
        axis = node.attr("axis", 1)
    else:
        axis = node.ints(2, [-2])[0]
    axis = normalize_axis(axis, x.ndim, node)
    if axis == x.ndim - 1:
        raise node.fail("the transformed axis cannot be the last one (it holds real and imaginary parts)")
    inverse, onesided = bool(node.attr("inverse", 0)), bool(node.attr("onesided", 0))
    length = node.ints(1, None)
    if length is not None:
        length = length[0]
    elif inverse and onesided:
        length = 2 * (x.shape[axis] - 1)
    else:
        length = x.shape[axis]
    return dft(x, length, axis, inverse, onesided)


@converts("STFT")
def _stft(node: OnnxNode):
    """Frames of frame_length every frame_step samples, windowed, each transformed: (batch, frames, bins, 2)."""
    x = node.input(0)
    step = node.ints(1)[0]
    window = node.optional(2)
    length = node.ints(3, None)
    length = length[0] if length is not None else window.shape[0]
    frames = 1 + (x.shape[1] - length) // step
    stacked = np.stack([x[:, f * step:f * step + length] for f in range(frames)], 1)   # (B, F, L, c)
    if window is not None:
        stacked = stacked * np.reshape(cast(window, x.type.dtype), (1, 1, -1, 1))
    return dft(stacked, length, 2, onesided=bool(node.attr("onesided", 1)))


def mel_weights(num_mel_bins: int, dft_length: int, sample_rate: int, low_hz: float, high_hz: float) -> numpy.ndarray:
    """(dft_length // 2 + 1, num_mel_bins) triangular filters with peak 1. The band edges are spaced
    evenly on the mel scale (mel = 2595 log10(1 + f / 700)) in steps of the range over
    num_mel_bins + 2, as the ONNX reference does, and floored onto DFT bins."""
    to_mel = lambda f: 2595.0 * numpy.log1p(f / 700.0) / numpy.log(10.0)   # noqa: E731
    low, high = to_mel(low_hz), to_mel(high_hz)
    mels = numpy.arange(num_mel_bins + 2) * ((high - low) / (num_mel_bins + 2)) + low
    hertz = 700.0 * numpy.expm1(mels / 2595.0 * numpy.log(10.0))
    edges = (((dft_length + 1) * hertz) // sample_rate).astype(numpy.int64)
    left, center, right = edges[:-2], edges[1:-1], edges[2:]
    j = numpy.arange(dft_length // 2 + 1)[:, None]
    rise = numpy.where(center > left, (j - left) / numpy.maximum(center - left, 1), (j == center) * 1.0)
    rise = numpy.where((j >= left) & (j <= center), rise, 0.0)
    fall = (right - j) / numpy.maximum(right - center, 1)
    return numpy.where((j >= center) & (j < right), fall, rise)


@converts("MelWeightMatrix")
def _mel_weight_matrix(node: OnnxNode):
    """Its inputs set the output's shape, so they are known when the model is built (initializers,
    constants, or graph inputs that then become part of the compiled signature)."""
    num_mel_bins, dft_length, sample_rate = (int(node.const(i).reshape(())) for i in range(3))
    low, high = (float(node.const(i).reshape(())) for i in (3, 4))
    dtype = hybrid_dtype(node.attr("output_datatype", TensorProto.FLOAT), node)
    return _matrix(mel_weights(num_mel_bins, dft_length, sample_rate, low, high), dtype)
