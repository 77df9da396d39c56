"""Region-of-interest pooling: RoiAlign (bilinear samples averaged or maxed per output bin) and
MaxRoiPool (Caffe's max over the integer bins of each region).

Regions are data, so sample positions, gather indices and bin masks are computed elementwise from
the `rois` input; the output shape depends only on attributes, so both compile and differentiate
in the image (and RoiAlign in the region coordinates). RoiAlign's adaptive sampling
(sampling_ratio=0) takes ceil(region size / bins) samples per bin, a count that depends on the
region values: those are then read when the graph is built (the rois input becomes part of the
compiled signature).
"""
from __future__ import annotations

import math

import numpy

from ...core.promote import cast
from ...frontend import np
from .base import OnnxNode, converts
from .shape import const_array


def _bilinear_taps(pos, length: int):
    """RoiAlign's four-neighbour rule along one axis for sample positions `pos`: [(index, weight)]
    for the low and high neighbour, and whether the sample is inside [-1, length]."""
    valid = np.logical_and(pos >= -1.0, pos <= float(length))
    pos = np.maximum(pos, 0.0)
    low = np.floor(pos)
    at_end = low >= length - 1.0
    low = np.where(at_end, float(length - 1), low)
    high = np.where(at_end, low, low + 1.0)
    pos = np.where(at_end, low, pos)
    frac = pos - low
    return [(cast(low, "i64"), 1.0 - frac), (cast(high, "i64"), frac)], valid


def _roi_align_one(node: OnnxNode, rows, rois, batch, grid: tuple[int, int], shape) -> object:
    """RoiAlign of rois (R, 4) with `grid` samples per bin per axis: (R, C, out_h, out_w)."""
    c, height, width = shape
    out_h, out_w = node.attr("output_height", 1), node.attr("output_width", 1)
    scale = node.attr("spatial_scale", 1.0)
    half_pixel = node.attr("coordinate_transformation_mode", "half_pixel") == "half_pixel"
    mode = node.attr("mode", "avg")
    offset = 0.5 if half_pixel else 0.0
    start = rois * scale - offset                                   # (R, 4): x1, y1, x2, y2
    size = start[:, 2:] - start[:, :2]                               # (R, 2): width, height
    if not half_pixel:
        size = np.maximum(size, 1.0)
    per_axis = []
    for axis, (bins, samples, length) in enumerate([(out_h, grid[0], height), (out_w, grid[1], width)]):
        coord = 1 - axis                                             # rois list x before y
        bin_size = size[:, coord:coord + 1] / float(bins)            # (R, 1)
        steps = const_array(numpy.add.outer(numpy.arange(bins), (numpy.arange(samples) + 0.5) / samples)
                            .reshape(1, -1)).astype(rois.dtype)       # (1, bins * samples)
        per_axis.append(_bilinear_taps(start[:, coord:coord + 1] + steps * bin_size, length))
    (taps_y, valid_y), (taps_x, valid_x) = per_axis
    r = rois.shape[0]
    inside = cast(np.logical_and(np.expand_dims(valid_y, 2), np.expand_dims(valid_x, 1)), rows.dtype)
    base = np.reshape(batch * (height * width), (r, 1, 1))
    terms = []
    for iy, wy in taps_y:
        for ix, wx in taps_x:
            flat = base + np.expand_dims(iy, 2) * width + np.expand_dims(ix, 1)          # (R, Y, X)
            weight = np.expand_dims(wy, 2) * np.expand_dims(wx, 1) * inside
            values = np.reshape(np.take(rows, np.reshape(flat, (-1,)), axis=0), flat.shape + (c,))
            terms.append(values * np.expand_dims(weight, -1))
    # (R, out_h, grid_h, out_w, grid_w, C)
    split = (r, out_h, grid[0], out_w, grid[1], c)
    if mode == "avg":
        pooled = np.mean(np.reshape(terms[0] + terms[1] + terms[2] + terms[3], split), axis=(2, 4))
    elif mode == "max":   # the spec's max: of the four weighted neighbours, then over the samples
        best = np.maximum(np.maximum(terms[0], terms[1]), np.maximum(terms[2], terms[3]))
        pooled = np.max(np.reshape(best, split), axis=(2, 4))
    else:
        raise node.fail(f"mode {mode!r} is not avg or max")
    return np.transpose(pooled, (0, 3, 1, 2))


@converts("RoiAlign")
def _roi_align(node: OnnxNode):
    x, rois, batch = node.input(0), node.input(1), cast(node.input(2), "i64")
    if x.ndim != 4 or rois.ndim != 2 or rois.shape[1] != 4:
        raise node.fail(f"expects X (N, C, H, W) and rois (R, 4); got {x.shape} and {rois.shape}")
    n, c, height, width = x.shape
    rows = np.reshape(np.transpose(x, (0, 2, 3, 1)), (n * height * width, c))
    rois = cast(rois, x.type.dtype)
    ratio = node.attr("sampling_ratio", 0)
    if ratio > 0:
        return _roi_align_one(node, rows, rois, batch, (ratio, ratio), (c, height, width))
    # adaptive: each region's own sample count, from its (build-time) coordinates
    boxes = node.const(1).astype(numpy.float64)
    half_pixel = node.attr("coordinate_transformation_mode", "half_pixel") == "half_pixel"
    scale = node.attr("spatial_scale", 1.0)
    outs = []
    for i, box in enumerate(boxes):
        w, h = (box[2] - box[0]) * scale, (box[3] - box[1]) * scale
        if not half_pixel:
            w, h = max(w, 1.0), max(h, 1.0)
        grid = (max(math.ceil(h / node.attr("output_height", 1)), 1), max(math.ceil(w / node.attr("output_width", 1)), 1))
        outs.append(_roi_align_one(node, rows, rois[i:i + 1], batch[i:i + 1], grid, (c, height, width)))
    return np.concatenate(outs, axis=0)


@converts("MaxRoiPool")
def _max_roi_pool(node: OnnxNode):
    """Caffe's ROI pooling: each region (batch, x1, y1, x2, y2) is rounded to pixels, split into
    pooled_shape bins [floor(i * bin), ceil((i + 1) * bin)); each output is its bin's maximum (0 for
    an empty bin). Separable: a masked max over the width, then over the height."""
    x, rois = node.input(0), node.input(1)
    out_h, out_w = node.attr("pooled_shape")
    scale = node.attr("spatial_scale", 1.0)
    n, c, height, width = x.shape
    r = rois.shape[0]
    rois = cast(rois, x.type.dtype)
    image = np.take(x, cast(rois[:, 0], "i64"), axis=0)                 # (R, C, H, W)
    scaled = rois[:, 1:] * scale                                         # (R, 4): x1, y1, x2, y2
    corners = np.sign(scaled) * np.floor(np.abs(scaled) + 0.5)           # C's round: halves away from 0
    masks = []
    for bins, length, lo, hi in [(out_h, height, corners[:, 1:2], corners[:, 3:4]),
                                 (out_w, width, corners[:, 0:1], corners[:, 2:3])]:
        extent = np.maximum(hi - lo + 1.0, 1.0) / float(bins)            # (R, 1)
        index = const_array(numpy.arange(bins, dtype=numpy.float64)).astype(x.dtype)
        begin = np.clip(np.floor(index * extent) + lo, 0.0, float(length))        # (R, bins)
        end = np.clip(np.ceil((index + 1.0) * extent) + lo, 0.0, float(length))
        pixel = const_array(numpy.arange(length, dtype=numpy.float64)).astype(x.dtype)
        masks.append(np.logical_and(np.expand_dims(pixel, 0) >= np.expand_dims(begin, -1),
                                    np.expand_dims(pixel, 0) < np.expand_dims(end, -1)))   # (R, bins, length)
    rows_mask, cols_mask = masks
    lowest = -numpy.inf
    # over the width: (R, C, H, 1, W) with mask (R, 1, 1, out_w, W) -> (R, C, H, out_w)
    wide = np.max(np.where(np.reshape(cols_mask, (r, 1, 1, out_w, width)), np.expand_dims(image, 3), lowest), axis=-1)
    # over the height: (R, C, 1, H, out_w) with mask (R, 1, out_h, H, 1) -> (R, C, out_h, out_w)
    tall = np.max(np.where(np.reshape(rows_mask, (r, 1, out_h, height, 1)), np.expand_dims(wide, 2), lowest), axis=3)
    return np.where(tall == lowest, 0.0, tall).astype(x.dtype)
