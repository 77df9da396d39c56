"""Ops that place values back into an image: Col2Im (the inverse of im2col: column blocks summed
into the image) and MaxUnpool (pooled values written at their argmax indices, zeros elsewhere).

Both are one scatter-add (`take_grad`, the cotangent of `take`, so they differentiate through
`take`) of rows into a flattened image; Col2Im's target index of every column entry is a constant
computed here from the geometry, MaxUnpool's comes from its index input.
"""
from __future__ import annotations

import itertools

import numpy

from ...core.dispatch import bind
from ...core.promote import cast
from ...frontend import np
from .base import OnnxNode, converts
from .shape import const_array


def _col2im_targets(image, block, strides, dilations, pads) -> tuple[numpy.ndarray, list[int]]:
    """For every (block offset, block position) pair in column order, its flat index in the padded
    image; and the padded image's shape."""
    padded = [i + b + e for i, b, e in zip(image, pads[:len(image)], pads[len(image):])]
    counts = [(p - d * (k - 1) - 1) // s + 1 for p, k, s, d in zip(padded, block, strides, dilations)]
    offsets = numpy.array(list(itertools.product(*[range(k) for k in block])), numpy.int64)      # (K, D)
    positions = numpy.array(list(itertools.product(*[range(c) for c in counts])), numpy.int64)   # (L, D)
    coords = positions[None, :, :] * numpy.array(strides) + offsets[:, None, :] * numpy.array(dilations)
    return numpy.ravel_multi_index(tuple(numpy.moveaxis(coords, -1, 0)), padded).reshape(-1), padded


@converts("Col2Im")
def _col2im(node: OnnxNode):
    x = node.input(0)                        # (N, C * prod(block), L)
    image, block = node.ints(1), node.ints(2)
    dims = len(image)
    strides = node.attr("strides", [1] * dims)
    dilations = node.attr("dilations", [1] * dims)
    pads = node.attr("pads", [0] * 2 * dims)
    targets, padded = _col2im_targets(image, block, strides, dilations, pads)
    k = int(numpy.prod(block))
    n, c = x.shape[0], x.shape[1] // k
    if x.shape[1] != c * k or x.shape[2] * k != targets.size:
        raise node.fail(f"input of shape {x.shape} does not hold blocks of {block} over an image of {image} "
                        f"(strides {strides}, dilations {dilations}, pads {pads})")
    # rows = (block offset, position) pairs, columns = (batch, channel)
    rows = np.reshape(np.transpose(np.reshape(x, (n * c, k * x.shape[2])), (1, 0)), (targets.size, n * c))
    summed = bind("take_grad", rows, const_array(targets), axis=0, size=int(numpy.prod(padded)))
    out = np.reshape(np.transpose(summed, (1, 0)), (n, c) + tuple(padded))
    crop = tuple(slice(b, b + i) for b, i in zip(pads[:dims], image))
    return out[(slice(None), slice(None)) + crop]


@converts("MaxUnpool")
def _max_unpool(node: OnnxNode):
    x, indices = node.input(0), node.input(1)
    kernel = node.attr("kernel_shape")
    dims = len(kernel)
    strides = node.attr("strides", [1] * dims)
    pads = node.attr("pads", [0] * 2 * dims)
    inferred = list(x.shape[:2]) + [(x.shape[2 + d] - 1) * strides[d] - pads[d] - pads[dims + d] + kernel[d]
                                     for d in range(dims)]
    size = int(numpy.prod(inferred))
    flat = np.reshape(cast(indices, "i64"), (-1,))
    values = np.reshape(x, (-1,))
    placed = bind("take_grad", values, flat, axis=0, size=size)
    # overlapping pooling windows can name one element twice (with the same value): keep it once
    hits = bind("take_grad", np.ones(values.shape, values.dtype), flat, axis=0, size=size)
    out = np.reshape(placed / np.maximum(hits, 1.0), tuple(inferred))
    shape = node.ints(2) if node.has(2) else inferred
    if any(s < i for s, i in zip(shape, inferred)):
        raise node.fail(f"output_shape {shape} is smaller than the unpooled shape {inferred}")
    return np.pad(out, [(0, s - i) for s, i in zip(shape, inferred)])
