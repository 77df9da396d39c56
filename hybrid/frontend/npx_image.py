"""`npx.image`: MXNet's image operators on HWC images (height, width, channels) or NHWC batches,
and the one resampler that gluon's vision transforms and `hb.image` share.

These run eagerly in NumPy on the host (they are data-pipeline steps, not traced ops); they take
NDArrays or NumPy arrays and return NDArrays, as MXNet's do. Random ones draw from NumPy's global
generator, as `hb.image`'s augmenters do. Resizing uses Pillow where installed (the `image` extra),
else hybrid's own bilinear / nearest resampler.
"""
from __future__ import annotations

import random as _pyrandom
from typing import Sequence, Union

import numpy

from ..core.array import NDArray
from ..errors import ShapeError

# MXNet's interpolation codes -> Pillow's filters (0 nearest, 1 bilinear, 2 bicubic, 3 area, 4 lanczos)
PIL_FILTERS = {0: "NEAREST", 1: "BILINEAR", 2: "BICUBIC", 3: "BOX", 4: "LANCZOS"}
_NAMED_INTERP = {"nearest": 0, "bilinear": 1, "bicubic": 2, "area": 3, "lanczos": 4}


def host_array(x) -> numpy.ndarray:
    return x.asnumpy() if isinstance(x, NDArray) else numpy.asarray(x)


def interp_code(interp: Union[int, str], src_hw: tuple, dst_hw: tuple) -> int:
    """An MXNet interpolation code (or a name: 'nearest', 'bilinear', ...) as one of 0-4: code 9
    picks bicubic to enlarge, area to shrink and bilinear otherwise; 10 picks one of 0-4 at random."""
    if isinstance(interp, str):
        if interp not in _NAMED_INTERP:
            raise ValueError(f"image resize: interpolation must be one of {sorted(_NAMED_INTERP)} or a code 0-4, 9, "
                             f"10, got {interp!r}")
        return _NAMED_INTERP[interp]
    if interp == 9:
        (sh, sw), (dh, dw) = src_hw, dst_hw
        return 2 if dh > sh and dw > sw else 3 if dh < sh and dw < sw else 1
    if interp == 10:
        return _pyrandom.randint(0, 4)
    if interp not in PIL_FILTERS:
        raise ValueError(f"image resize: interpolation code must be 0-4, 9 or 10, got {interp}")
    return int(interp)


def _linear_taps(n_in: int, n_out: int) -> tuple[numpy.ndarray, numpy.ndarray, numpy.ndarray]:
    """For each output pixel: the two source pixels and the weight of the second (half-pixel centers)."""
    src = numpy.clip((numpy.arange(n_out) + 0.5) * (n_in / n_out) - 0.5, 0, n_in - 1)
    lo = numpy.floor(src).astype(numpy.int64)
    hi = numpy.minimum(lo + 1, n_in - 1)
    return lo, hi, (src - lo).astype(numpy.float32)


def _resize_numpy(a: numpy.ndarray, width: int, height: int, nearest: bool) -> numpy.ndarray:
    out = a.astype(numpy.float32)
    for axis, n_out in ((-3, height), (-2, width)):
        lo, hi, w = _linear_taps(a.shape[axis], n_out)
        if nearest:
            out = numpy.take(out, numpy.where(w < 0.5, lo, hi), axis=axis)
        else:
            shape = [1] * out.ndim
            shape[axis] = n_out
            w = w.reshape(shape)
            out = numpy.take(out, lo, axis=axis) * (1 - w) + numpy.take(out, hi, axis=axis) * w
    if numpy.issubdtype(a.dtype, numpy.integer):
        info = numpy.iinfo(a.dtype)
        return numpy.clip(numpy.rint(out), info.min, info.max).astype(a.dtype)
    return out.astype(a.dtype)


def resize_array(a: numpy.ndarray, width: int, height: int, interp: Union[int, str] = 1) -> numpy.ndarray:
    """Resize an HWC image or an NHWC batch to width x height. Pillow resamples when installed
    (uint8 in its 8-bit mode, other types in its float32 mode, one channel at a time); without it
    only nearest (0) and bilinear (1) are available, on half-pixel centres."""
    if a.ndim not in (3, 4):
        raise ShapeError(f"image resize expects an HWC image or an NHWC batch, got shape {a.shape}")
    if width <= 0 or height <= 0:
        raise ShapeError(f"image resize: the output size must be positive, got width {width}, height {height}")
    if a.ndim == 4:
        return numpy.stack([resize_array(img, width, height, interp) for img in a])
    code = interp_code(interp, a.shape[:2], (height, width))
    try:
        from PIL import Image
    except ImportError:
        if code not in (0, 1):
            raise ValueError(f"image resize: interpolation {code} needs Pillow; without it only 0 (nearest) and "
                             "1 (bilinear) are available: pip install 'hybrid[image]'") from None
        return _resize_numpy(a, width, height, nearest=code == 0)
    resample = getattr(Image.Resampling, PIL_FILTERS[code])
    if a.dtype == numpy.uint8:
        planes = [numpy.asarray(Image.fromarray(a[:, :, c]).resize((width, height), resample))
                  for c in range(a.shape[2])]
    else:
        planes = [numpy.asarray(Image.fromarray(a[:, :, c].astype(numpy.float32), "F").resize((width, height),
                                                                                              resample))
                  .astype(a.dtype) for c in range(a.shape[2])]
    return numpy.ascontiguousarray(numpy.stack(planes, axis=-1))


def keep_ratio_size(height: int, width: int, short: int) -> tuple[int, int]:
    """(width, height) with the shorter edge resized to `short`, the aspect ratio kept."""
    if height > width:
        return short, int(height * short / width)
    return int(width * short / height), short


def to_tensor_array(a: numpy.ndarray) -> numpy.ndarray:
    """HWC (or NHWC) values in [0, 255] -> CHW (NCHW) float32 in [0, 1]."""
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim not in (3, 4):
        raise ShapeError(f"to_tensor expects an HWC image or an NHWC batch, got shape {a.shape}")
    return numpy.ascontiguousarray(numpy.moveaxis(a, -1, -3), dtype=numpy.float32) * numpy.float32(1 / 255)


def normalize_array(a: numpy.ndarray, mean, std) -> numpy.ndarray:
    """(x - mean[c]) / std[c] for each channel c of a CHW image or NCHW batch (one value: every channel)."""
    mean = numpy.asarray(mean, numpy.float32).reshape(-1)
    std = numpy.asarray(std, numpy.float32).reshape(-1)
    if numpy.any(std == 0):
        raise ValueError(f"normalize: std must be non-zero, got {std.tolist()}")
    if a.ndim not in (3, 4):
        raise ShapeError(f"normalize expects a CHW image or an NCHW batch (use to_tensor first), got {a.shape}")
    channels = a.shape[-3]
    if mean.size not in (1, channels) or std.size not in (1, channels):
        raise ShapeError(f"normalize: {mean.size} means and {std.size} stds for {channels} channels "
                         f"(input shape {a.shape}); give one value or one per channel")
    dtype = a.dtype if numpy.issubdtype(a.dtype, numpy.floating) else numpy.float32
    return ((a - mean.reshape(-1, 1, 1)) / std.reshape(-1, 1, 1)).astype(dtype)


def crop_array(a: numpy.ndarray, x: int, y: int, width: int, height: int) -> numpy.ndarray:
    """The window of `width` x `height` pixels at column x, row y of an HWC image or NHWC batch."""
    if a.ndim not in (3, 4):
        raise ShapeError(f"image crop expects an HWC image or an NHWC batch, got shape {a.shape}")
    h, w = a.shape[-3:-1]
    if width <= 0 or height <= 0 or x < 0 or y < 0 or x + width > w or y + height > h:
        raise ShapeError(f"image crop: the window x={x}, y={y}, width={width}, height={height} is not inside the "
                         f"{w}x{h} image (shape {a.shape})")
    return numpy.ascontiguousarray(a[..., y:y + height, x:x + width, :])


def random_window(h: int, w: int, area: Sequence[float], ratio: Sequence[float], draw,
                  tries: int = 10) -> tuple[int, int, int, int]:
    """(x, y, width, height) of a window covering a fraction in `area` of an h x w image with an aspect
    ratio log-uniform in `ratio`; after `tries` windows that do not fit, the centred square. `draw` is a
    NumPy Generator or the numpy.random module."""
    integers = getattr(draw, "integers", None) or draw.randint   # both exclusive of the upper bound
    for _ in range(tries):
        target = draw.uniform(area[0], area[1]) * h * w
        aspect = numpy.exp(draw.uniform(numpy.log(ratio[0]), numpy.log(ratio[1])))
        cw, ch = int(round(numpy.sqrt(target * aspect))), int(round(numpy.sqrt(target / aspect)))
        if 0 < cw <= w and 0 < ch <= h:
            return int(integers(0, w - cw + 1)), int(integers(0, h - ch + 1)), cw, ch
    side = min(h, w)
    return (w - side) // 2, (h - side) // 2, side, side


# --- npx.image: NDArray in, NDArray out ---

def to_tensor(data) -> NDArray:
    return NDArray(to_tensor_array(host_array(data)))


def normalize(data, mean=0.0, std=1.0) -> NDArray:
    return NDArray(normalize_array(host_array(data), mean, std))


def resize(data, size: Union[int, Sequence[int]] = (), keep_ratio: bool = False, interp: int = 1) -> NDArray:
    """Resize to `size` = (width, height), or an int: a square, or with keep_ratio the shorter edge."""
    a = host_array(data)
    width, height = resize_target(a, size, keep_ratio)
    return NDArray(resize_array(a, width, height, interp))


def resize_target(a: numpy.ndarray, size, keep_ratio: bool) -> tuple[int, int]:
    """(width, height) for MXNet's size argument: an int (a square, or the shorter edge with
    keep_ratio) or (width, height)."""
    sizes = (size,) if isinstance(size, (int, numpy.integer)) else tuple(size)
    if len(sizes) not in (1, 2) or any(s <= 0 for s in sizes):
        raise ShapeError(f"image resize: size must be a positive int or (width, height), got {size!r}")
    if len(sizes) == 2:
        return int(sizes[0]), int(sizes[1])
    if keep_ratio:
        h, w = a.shape[-3:-1]
        return keep_ratio_size(h, w, int(sizes[0]))
    return int(sizes[0]), int(sizes[0])


def crop(data, x: int, y: int, width: int, height: int) -> NDArray:
    return NDArray(crop_array(host_array(data), x, y, width, height))


def flip_left_right(data) -> NDArray:
    return NDArray(numpy.ascontiguousarray(numpy.flip(host_array(data), axis=-2)))


def flip_top_bottom(data) -> NDArray:
    return NDArray(numpy.ascontiguousarray(numpy.flip(host_array(data), axis=-3)))


def random_flip_left_right(data, p: float = 0.5) -> NDArray:
    return flip_left_right(data) if numpy.random.random() < p else NDArray(host_array(data))


def random_flip_top_bottom(data, p: float = 0.5) -> NDArray:
    return flip_top_bottom(data) if numpy.random.random() < p else NDArray(host_array(data))


def random_crop(data, xrange=(0.0, 1.0), yrange=(0.0, 1.0), width: int = 1, height: int = 1,
                interp: int = 1) -> NDArray:
    """A width x height window whose left edge lies at a uniform fraction in `xrange` of the free
    columns (top edge: `yrange`); an image smaller than the window is resized up to it first."""
    a = host_array(data)
    h, w = a.shape[-3:-1]
    if h < height or w < width:
        a = resize_array(a, max(w, width), max(h, height), interp)
        h, w = a.shape[-3:-1]
    x = int(round(numpy.random.uniform(*xrange) * (w - width)))
    y = int(round(numpy.random.uniform(*yrange) * (h - height)))
    return NDArray(crop_array(a, x, y, width, height))


def random_resized_crop(data, xrange=(0.0, 1.0), yrange=(0.0, 1.0), width: int = 1, height: int = 1,
                        area=(0.08, 1.0), ratio=(3 / 4, 4 / 3), interp: int = 1, max_trial: int = 10) -> NDArray:
    """A random window (a fraction in `area` of the image, aspect ratio in `ratio`) resized to width x height."""
    a = host_array(data)
    h, w = a.shape[-3:-1]
    x, y, cw, ch = random_window(h, w, area, ratio, numpy.random, max_trial)
    return NDArray(resize_array(crop_array(a, x, y, cw, ch), width, height, interp))


__all__ = ["to_tensor", "normalize", "resize", "crop", "flip_left_right", "flip_top_bottom", "random_flip_left_right",
           "random_flip_top_bottom", "random_crop", "random_resized_crop"]
