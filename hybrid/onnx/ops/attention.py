"""ONNX Attention (opset 23+): scaled dot-product attention with masks, causal masking, KV cache,
grouped-query heads and soft-capping, as matmuls and a softmax."""
from __future__ import annotations

import math

import numpy

from ...frontend import np, npx
from ...core.promote import cast
from .base import OnnxNode, converts
from .shape import const_array


def _heads(x, heads: int):
    """(B, S, heads*H) -> (B, heads, S, H); 4-d inputs are already split."""
    if x.ndim == 4:
        return x
    b, s, hidden = x.shape
    return np.transpose(np.reshape(x, (b, s, heads, hidden // heads)), (0, 2, 1, 3))


@converts("Attention")
def _attention(node: OnnxNode):
    q, k, v = node.input(0), node.input(1), node.input(2)
    mask, past_k, past_v = node.optional(3), node.optional(4), node.optional(5)
    nonpad = node.optional(6)
    three_d = q.ndim == 3
    q = _heads(q, node.attr("q_num_heads", 1))
    k = _heads(k, node.attr("kv_num_heads", 1))
    v = _heads(v, node.attr("kv_num_heads", 1))
    if past_k is not None:
        k = np.concatenate([past_k, k], axis=2)
        v = np.concatenate([past_v, v], axis=2)
    present_k, present_v = k, v
    if q.shape[1] != k.shape[1]:   # grouped-query attention: each KV head serves a group of query heads
        group = q.shape[1] // k.shape[1]
        k, v = np.repeat(k, group, axis=1), np.repeat(v, group, axis=1)
    scale = math.sqrt(node.attr("scale", 1.0 / math.sqrt(q.shape[-1])))
    scores = np.matmul(q * scale, np.swapaxes(k * scale, -1, -2))
    softcap = node.attr("softcap", 0.0)
    if softcap > 0:   # before the mask, so that masked scores stay -inf
        scores = np.tanh(scores / softcap) * softcap
    bias = _bias(node, mask, nonpad, past_k, q.shape[2], k.shape[2], scores.type.dtype)
    biased = scores + bias if bias is not None else scores
    probs = npx.softmax(biased, axis=-1)
    if bias is not None:   # a row with every key masked attends to nothing: zeros, not NaN
        blocked = np.max(bias, -1, keepdims=True) == -math.inf
        probs = np.where(blocked, np.zeros((), probs.dtype), probs)
    qk_out = {2: biased, 3: probs}.get(node.attr("qk_matmul_output_mode", 0), scores)
    y = np.matmul(probs, v)
    if three_d:
        b, h, s, d = y.shape
        y = np.reshape(np.transpose(y, (0, 2, 1, 3)), (b, s, h * d))
    outputs = [y, present_k, present_v, qk_out]
    return tuple(outputs[:node.num_outputs])


def _bias(node: OnnxNode, mask, nonpad, past_k, s_q: int, s_kv: int, dtype: str):
    """The additive mask (0 or -inf, or the float mask's values): attn_mask, causal and sliding-window
    frontiers offset by the cache length, and the padding of an external KV cache."""
    bias = None
    if mask is not None:
        if mask.shape[-1] < s_kv:   # a short mask is padded as masked on the right
            widths = [(0, 0)] * (mask.ndim - 1) + [(0, s_kv - mask.shape[-1])]
            mask = np.pad(mask, widths, constant_values=False if mask.dtype == numpy.bool_ else -math.inf)
        bias = cast(np.where(mask, 0.0, -math.inf) if mask.dtype == numpy.bool_ else mask, dtype)
    if past_k is not None:
        offset = const_array(numpy.array(past_k.shape[2], numpy.int64))
    elif nonpad is not None:
        offset = np.reshape(cast(nonpad, "i64") - s_q, (-1, 1, 1, 1))
    else:
        offset = const_array(numpy.array(0, numpy.int64))
    rows = const_array(numpy.arange(s_q, dtype=numpy.int64).reshape(-1, 1))
    cols = const_array(numpy.arange(s_kv, dtype=numpy.int64).reshape(1, -1))
    diff = rows + offset - cols   # query position minus key position
    allowed = None
    left, right = node.attr("left_window_size", -1), node.attr("right_window_size", -1)
    rules = ([diff >= 0] if node.attr("is_causal", 0) else []) + ([diff <= left] if left >= 0 else []) + \
        ([-diff <= right] if right >= 0 else [])
    for rule in rules:
        allowed = rule if allowed is None else np.logical_and(allowed, rule)
    if nonpad is not None:
        valid = cols < np.reshape(cast(nonpad, "i64"), (-1, 1, 1, 1))
        allowed = valid if allowed is None else np.logical_and(allowed, valid)
    if allowed is not None:
        frontier = cast(np.where(allowed, 0.0, -math.inf), dtype)
        bias = frontier if bias is None else bias + frontier
    return bias


@converts("RotaryEmbedding")
def _rotary_embedding(node: OnnxNode):
    """Rotate pairs of features by position-dependent angles (cos/sin caches, optionally indexed by
    position ids): halves of the rotary part, or interleaved even/odd features."""
    x, cos, sin = node.input(0), node.input(1), node.input(2)
    positions = node.optional(3)
    shape = x.shape
    if x.ndim == 4:
        x = np.transpose(x, (0, 2, 1, 3))   # (B, heads, S, H) -> (B, S, heads, H)
    else:
        heads = node.attr("num_heads", 0) or (shape[-1] // (2 * cos.shape[-1]))
        x = np.reshape(x, (shape[0], shape[1], heads, -1))
    rot = node.attr("rotary_embedding_dim", 0) or x.shape[-1]
    if positions is not None:
        cos, sin = np.take(cos, positions, axis=0), np.take(sin, positions, axis=0)
    cos, sin = np.expand_dims(cos[..., :rot // 2], 2), np.expand_dims(sin[..., :rot // 2], 2)
    rotate, keep = x[..., :rot], x[..., rot:]
    if node.attr("interleaved", 0):
        x1, x2 = rotate[..., 0::2], rotate[..., 1::2]
    else:
        x1, x2 = rotate[..., :rot // 2], rotate[..., rot // 2:]
    real, imag = cos * x1 - sin * x2, sin * x1 + cos * x2
    if node.attr("interleaved", 0):
        rotated = np.reshape(np.stack([real, imag], -1), real.shape[:-1] + (rot,))
    else:
        rotated = np.concatenate([real, imag], -1)
    out = np.concatenate([rotated, keep], -1) if keep.shape[-1] else rotated
    if len(shape) == 4:
        return np.transpose(out, (0, 2, 1, 3))
    return np.reshape(out, shape)
