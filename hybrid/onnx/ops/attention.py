"""ONNX Attention (opset 23+): scaled dot-product attention with masks, causal masking, KV cache,
grouped-query heads and soft-capping, as matmuls and a softmax."""
from __future__ import annotations

import math

import numpy

from ...frontend import np, npx
from ...core.promote import cast
from ...ir.types import to_numpy_dtype
from .base import OnnxNode, converts
from .control import run_body
from .dtypes import hybrid_dtype
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


@converts("LinearAttention")
def _linear_attention(node: OnnxNode):
    """Recurrent linear attention, unrolled over the sequence: a (d_k x d_v) state per KV head decays
    (gated rules), is corrected toward the value the key retrieves (delta rules) and accumulates k v^T;
    each query reads it. Computed in float32 as ONNX specifies (float64 inputs stay float64)."""
    q, k, v = node.input(0), node.input(1), node.input(2)
    past, decay, beta = node.optional(3), node.optional(4), node.optional(5)
    rule = node.attr("update_rule", "gated_delta")
    if rule not in ("linear", "gated", "delta", "gated_delta"):
        raise node.fail(f"update_rule {rule!r} is not one of linear, gated, delta, gated_delta")
    gating, delta = rule in ("gated", "gated_delta"), rule in ("delta", "gated_delta")
    if gating != (decay is not None) or delta != (beta is not None):
        raise node.fail(f"update_rule {rule!r} needs {'a' if gating else 'no'} decay input and "
                        f"{'a' if delta else 'no'} beta input")
    heads_q, heads_kv = node.attr("q_num_heads"), node.attr("kv_num_heads")
    out_dtype = q.type.dtype
    wide = "f64" if out_dtype == "f64" else "f32"
    b, t = q.shape[0], q.shape[1]
    d_k, d_v = q.shape[-1] // heads_q, v.shape[-1] // heads_kv
    q4, k4, v4 = (cast(_heads(x, h), wide) for x, h in ((q, heads_q), (k, heads_kv), (v, heads_kv)))
    if decay is not None:   # per head (last dim H_kv) or per key feature (H_kv * d_k)
        per_feature = decay.shape[-1] == heads_kv * d_k
        decay4 = cast(_heads(decay, heads_kv) if per_feature else
                      np.transpose(np.reshape(decay, (b, t, heads_kv, 1)), (0, 2, 1, 3)), wide)
    if beta is not None:
        beta4 = cast(np.transpose(np.reshape(beta, (b, t, beta.shape[-1], 1)), (0, 2, 1, 3)), wide)
    state = cast(past, wide) if past is not None else np.zeros((b, heads_kv, d_k, d_v), to_numpy_dtype(wide))
    scale = node.attr("scale", 0.0) or 1.0 / math.sqrt(d_k)
    group = heads_q // heads_kv
    outputs = []
    for i in range(t):
        k_t, v_t = k4[:, :, i, :], v4[:, :, i, :]
        if gating:
            state = state * np.expand_dims(np.exp(decay4[:, :, i, :]), -1)
        if delta:
            retrieved = np.sum(state * np.expand_dims(k_t, -1), axis=-2)        # (B, H, d_v)
            v_t = beta4[:, :, i, :] * (v_t - retrieved)
        state = state + np.expand_dims(k_t, -1) * np.expand_dims(v_t, -2)
        read = np.repeat(state, group, axis=1) if group > 1 else state
        outputs.append(np.sum(np.expand_dims(q4[:, :, i, :], -1) * read, axis=-2) * scale)   # (B, H_q, d_v)
    out = np.reshape(np.transpose(np.stack(outputs, 2), (0, 2, 1, 3)), (b, t, heads_q * d_v))
    present = cast(state, past.type.dtype if past is not None else out_dtype)
    return cast(out, out_dtype), present


@converts("TensorScatter")
def _tensor_scatter(node: OnnxNode):
    """Write `update` into the cache along `axis` at each batch row's write index (wrapping around in
    circular mode): a comparison mask of cache positions against written positions."""
    past, update = node.input(0), node.input(1)
    indices = node.optional(2)
    axis = node.attr("axis", -2) % past.ndim
    if axis == 0:
        raise node.fail("axis 0 is the batch axis; the cache is written along a later axis")
    length, count = past.shape[axis], update.shape[axis]
    if indices is None:
        indices = np.zeros((past.shape[0],), "int64")
    target = np.reshape(cast(indices, "i64"), (-1, 1)) + const_array(numpy.arange(count, dtype=numpy.int64))
    if node.attr("mode", "linear") == "circular":
        target = np.mod(target, length)
    positions = const_array(numpy.arange(length, dtype=numpy.int64).reshape(1, -1, 1))
    hit = np.equal(positions, np.expand_dims(target, 1))                 # (B, L, S)
    lead = (1,) * (past.ndim - 2)
    hit = np.reshape(hit, (hit.shape[0],) + lead + (length, count))
    moved = np.moveaxis(update, axis, -1)                                # (B, ..., S)
    written = np.sum(cast(hit, moved.type.dtype) * np.expand_dims(moved, -2), axis=-1)   # (B, ..., L)
    cache = np.moveaxis(past, axis, -1)
    return np.moveaxis(np.where(np.any(hit, axis=-1), written, cache), -1, axis)


@converts("FlexAttention")
def _flex_attention(node: OnnxNode):
    """ai.onnx.preview FlexAttention: scores = (Q sqrt(s)) (K sqrt(s))^T in the input dtype, then
    score_mod, softmax, prob_mod and the product with V in the softmax precision (float32 for half
    inputs), cast back to V's dtype. The modifier subgraphs run like If/Loop bodies."""
    q, k, v = node.input(0), node.input(1), node.input(2)
    if q.ndim != 4 or k.ndim != 4 or v.ndim != 4:
        raise node.fail(f"Q, K and V must be rank-4 (batch, heads, sequence, head size); got {q.shape}, "
                        f"{k.shape}, {v.shape}")
    if q.shape[1] != k.shape[1]:
        if q.shape[1] % k.shape[1]:
            raise node.fail(f"{q.shape[1]} query heads are not a multiple of {k.shape[1]} key/value heads")
        group = q.shape[1] // k.shape[1]
        k, v = np.repeat(k, group, axis=1), np.repeat(v, group, axis=1)
    dtype = q.type.dtype
    precision = node.attr("softmax_precision", None)
    compute = hybrid_dtype(precision, node) if precision is not None else ("f32" if dtype in ("f16", "bf16") else dtype)
    # the reference rounds sqrt(scale) to float32, then to the input dtype
    root = numpy.sqrt(numpy.float32(node.attr("scale", 1.0 / math.sqrt(q.shape[-1]))))
    root = const_array(numpy.asarray(root).astype(to_numpy_dtype(dtype)))
    scores = cast(np.matmul(q * root, np.swapaxes(k * root, -1, -2)), compute)
    if "score_mod" in node.attrs:
        scores = cast(run_body(node, node.attr("score_mod"), [scores])[0], compute)
    probs = npx.softmax(scores, axis=-1)
    if "prob_mod" in node.attrs:
        probs = cast(run_body(node, node.attr("prob_mod"), [probs])[0], compute)
    return cast(np.matmul(probs, cast(v, compute)), v.type.dtype)
