"""Image transforms (Gluon names), applied in the data pipeline.

Images are HWC (height, width, channels) as datasets store them, or NHWC batches; ToTensor
turns them into CHW / NCHW float32 in [0, 1], which Normalize, Rotate and RandomRotation expect.
Each transform takes a NumPy array (and returns one) or an NDArray (and returns an NDArray, as
MXNet's transform blocks do). They run eagerly in NumPy on the host: `hybridize()` leaves them
eager and logs why (data-pipeline steps are not traced; docs/semantics.md).
"""
from __future__ import annotations

import logging
from typing import Callable, Optional, Sequence, Union

import numpy

from ....core.array import NDArray
from ....errors import ShapeError
from ....frontend import npx_image
from . import color

_log = logging.getLogger(__name__)


class Transform:
    """A transform of one image (or batch): subclasses define `apply` on NumPy arrays."""

    def apply(self, x: numpy.ndarray):
        raise NotImplementedError

    def __call__(self, x):
        if isinstance(x, NDArray):
            return NDArray(numpy.ascontiguousarray(self.apply(x.asnumpy())))
        return self.apply(numpy.asarray(x))

    def hybridize(self, active: bool = True, **_options) -> None:
        """Transforms stay eager: they are NumPy steps of the data pipeline, not traced ops."""
        if active:
            _log.info("%s.hybridize(): image transforms run eagerly in NumPy on the host (data-pipeline steps "
                      "are not traced); nothing changes", type(self).__name__)


class Compose(Transform):
    """Apply transforms (or functions of a NumPy image) in order."""

    def __init__(self, transforms: Sequence[Callable]):
        self.transforms = list(transforms)

    def apply(self, x):
        for t in self.transforms:
            x = numpy.asarray(t(x))
        return x

    def __repr__(self) -> str:
        return "Compose(" + ", ".join(repr(t) for t in self.transforms) + ")"


class Cast(Transform):
    def __init__(self, dtype="float32"):
        self.dtype = numpy.dtype(dtype)

    def apply(self, x):
        return x.astype(self.dtype)

    def __repr__(self) -> str:
        return f"Cast({self.dtype.name})"


class ToTensor(Transform):
    """HWC (or NHWC) image with values in [0, 255] -> CHW (NCHW) float32 in [0, 1]."""

    def apply(self, x):
        return npx_image.to_tensor_array(x)

    def __repr__(self) -> str:
        return "ToTensor()"


class Normalize(Transform):
    """(x - mean[c]) / std[c] for each channel c of a CHW image or NCHW batch."""

    def __init__(self, mean: Union[float, Sequence[float]] = 0.0, std: Union[float, Sequence[float]] = 1.0):
        self.mean = numpy.asarray(mean, numpy.float32).reshape(-1)
        self.std = numpy.asarray(std, numpy.float32).reshape(-1)
        if numpy.any(self.std == 0):
            raise ValueError(f"Normalize: std must be non-zero, got {self.std.tolist()}")

    def apply(self, x):
        return npx_image.normalize_array(x, self.mean, self.std)

    def __repr__(self) -> str:
        return f"Normalize(mean={self.mean.tolist()}, std={self.std.tolist()})"


class Resize(Transform):
    """Resize HWC images (or NHWC batches) to `size` = (width, height), or an int: a square, or with
    `keep_ratio` the shorter edge (the aspect ratio kept). `interpolation`: MXNet's codes (0 nearest,
    1 bilinear, 2 bicubic, 3 area, 4 lanczos, 9 automatic, 10 random) or 'nearest' / 'bilinear'.
    As MXNet's, a bad size is reported when the transform is applied. Resamples as hb.image.imresize."""

    def __init__(self, size: Union[int, Sequence[int]], keep_ratio: bool = False,
                 interpolation: Union[int, str] = 1):
        if not isinstance(keep_ratio, (bool, numpy.bool_)):
            raise TypeError(f"Resize: keep_ratio must be True or False, got {keep_ratio!r}; the interpolation is "
                            f"the third argument (Resize(size, interpolation={keep_ratio!r}))")
        self.size, self.keep_ratio, self.interpolation = size, keep_ratio, interpolation

    def apply(self, x):
        width, height = npx_image.resize_target(x, self.size, self.keep_ratio)
        return npx_image.resize_array(x, width, height, self.interpolation)

    def __repr__(self) -> str:
        return f"Resize({self.size}, keep_ratio={self.keep_ratio}, interpolation={self.interpolation!r})"


class CropResize(Transform):
    """The `width` x `height` window at column x, row y of an HWC image (or NHWC batch), resized to
    `size` = (width, height) or a square int when given."""

    def __init__(self, x: int, y: int, width: int, height: int, size: Optional[Union[int, Sequence[int]]] = None,
                 interpolation: Union[int, str] = 1):
        self.x, self.y, self.width, self.height = x, y, width, height
        self.size, self.interpolation = size, interpolation

    def apply(self, x):
        out = npx_image.crop_array(x, self.x, self.y, self.width, self.height)
        if self.size is None:
            return out
        width, height = npx_image.resize_target(out, self.size, keep_ratio=False)
        return npx_image.resize_array(out, width, height, self.interpolation)


class RandomCrop(Transform):
    """Pad an HWC image by `pad` pixels on each side (with `pad_value`), then cut a random
    `size` = (width, height) window: random translation, the classic augmentation for digits.
    `seed` makes the sequence of crops reproducible (in a DataLoader without worker threads; with
    workers the draws are safe but their order across samples varies)."""

    def __init__(self, size: Union[int, Sequence[int]], pad: Optional[int] = 0, pad_value: float = 0, seed=None):
        width, height = (size, size) if isinstance(size, int) else tuple(size)
        self.width, self.height, self.pad, self.pad_value = int(width), int(height), int(pad or 0), pad_value
        self._rng = numpy.random.default_rng(seed)

    def apply(self, x):
        x = _image(x)
        if self.pad:
            p = self.pad
            x = numpy.pad(x, ((p, p), (p, p), (0, 0)), constant_values=self.pad_value)
        h, w = x.shape[:2]
        if h < self.height or w < self.width:
            raise ShapeError(f"RandomCrop: a ({self.width}, {self.height}) window does not fit in a padded image "
                             f"of {w}x{h}")
        top = int(self._rng.integers(0, h - self.height + 1))
        left = int(self._rng.integers(0, w - self.width + 1))
        return x[top:top + self.height, left:left + self.width]

    def __repr__(self) -> str:
        return f"RandomCrop(({self.width}, {self.height}), pad={self.pad})"


def _image(x: numpy.ndarray) -> numpy.ndarray:
    if x.ndim != 3:
        raise ShapeError(f"expected an HWC image, got shape {x.shape}")
    return x


def _chw_float(x: numpy.ndarray, who: str) -> numpy.ndarray:
    if not numpy.issubdtype(x.dtype, numpy.floating):
        raise TypeError(f"{who} rotates float CHW images or NCHW batches (ToTensor's output), got {x.dtype}; "
                        "apply ToTensor (or Cast('float32')) first")
    if x.ndim not in (3, 4):
        raise ShapeError(f"{who} expects a CHW image or an NCHW batch, got shape {x.shape}")
    return x


class CenterCrop(Transform):
    """The centre `size` = (width, height) window; images smaller than that are resized up first."""

    def __init__(self, size: Union[int, Sequence[int]], interpolation: Union[int, str] = 1):
        self.width, self.height = (size, size) if isinstance(size, int) else tuple(size)
        self.interpolation = interpolation

    def apply(self, x):
        x = _image(x)
        h, w = x.shape[:2]
        if h < self.height or w < self.width:
            x = npx_image.resize_array(x, max(w, self.width), max(h, self.height), self.interpolation)
            h, w = x.shape[:2]
        top, left = (h - self.height) // 2, (w - self.width) // 2
        return x[top:top + self.height, left:left + self.width]

    def __repr__(self) -> str:
        return f"CenterCrop(({self.width}, {self.height}))"


class RandomResizedCrop(Transform):
    """A random window covering `scale` of the area with aspect ratio in `ratio` (log-uniform),
    resized to `size` (Inception-style augmentation); the centre square after 10 failed draws."""

    def __init__(self, size: Union[int, Sequence[int]], scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3),
                 interpolation: Union[int, str] = 1, seed=None):
        self.width, self.height = (size, size) if isinstance(size, int) else tuple(size)
        self.scale, self.ratio, self.interpolation = scale, ratio, interpolation
        self._rng = numpy.random.default_rng(seed)

    def apply(self, x):
        x = _image(x)
        left, top, cw, ch = npx_image.random_window(x.shape[0], x.shape[1], self.scale, self.ratio, self._rng)
        return npx_image.resize_array(x[top:top + ch, left:left + cw], self.width, self.height, self.interpolation)


class _RandomFlip(Transform):
    axis = 1

    def __init__(self, p: float = 0.5, seed=None):
        self.p, self._rng = p, numpy.random.default_rng(seed)

    def apply(self, x):
        x = _image(x)
        return numpy.flip(x, self.axis).copy() if self._rng.random() < self.p else x


class RandomFlipLeftRight(_RandomFlip):
    axis = 1


class RandomFlipTopBottom(_RandomFlip):
    axis = 0


def _back_to(out: numpy.ndarray, like: numpy.ndarray) -> numpy.ndarray:
    """A float result in the input's dtype: integer images are rounded and clipped to [0, 255]."""
    if numpy.issubdtype(like.dtype, numpy.integer):
        return numpy.clip(numpy.rint(out), 0, 255).astype(like.dtype)
    return out.astype(like.dtype)


class _RandomColor(Transform):
    """Scales a colour property by 1 + U(-amount, amount) (hue: rotates by U(-amount, amount) * pi)."""

    def __init__(self, amount: float, seed=None):
        if amount < 0:
            raise ValueError(f"{type(self).__name__}: the jitter amount must be >= 0, got {amount}")
        self.amount, self._rng = amount, numpy.random.default_rng(seed)

    def adjust(self, img, draw):
        raise NotImplementedError

    def apply(self, x):
        x = _image(x)
        return _back_to(self.adjust(x.astype(numpy.float32), self._rng.uniform(-self.amount, self.amount)), x)


class RandomBrightness(_RandomColor):
    def adjust(self, img, draw):
        return color.brightness(img, 1.0 + draw)


class RandomContrast(_RandomColor):
    def adjust(self, img, draw):
        return color.contrast(img, 1.0 + draw)


class RandomSaturation(_RandomColor):
    def adjust(self, img, draw):
        return color.saturation(img, 1.0 + draw)


class RandomHue(_RandomColor):
    def adjust(self, img, draw):
        return color.hue(img, draw * numpy.pi)


class RandomColorJitter(Transform):
    """Brightness, contrast, saturation and hue jitters, in a random order."""

    def __init__(self, brightness: float = 0, contrast: float = 0, saturation: float = 0, hue: float = 0, seed=None):
        self._rng = numpy.random.default_rng(seed)
        self._steps = [cls(v, seed=self._rng.integers(1 << 31)) for cls, v in
                       ((RandomBrightness, brightness), (RandomContrast, contrast), (RandomSaturation, saturation),
                        (RandomHue, hue)) if v > 0]

    def apply(self, x):
        for i in self._rng.permutation(len(self._steps)):
            x = self._steps[i].apply(x)
        return x


ColorJitter = RandomColorJitter


class RandomLighting(Transform):
    """AlexNet's PCA lighting noise on an HWC RGB image: adds eigvec @ (a * eigval) to every pixel,
    a ~ N(0, alpha) per principal component (ImageNet's RGB eigenvalues / eigenvectors, on the
    0-255 scale)."""

    EIGVAL = numpy.array([55.46, 4.794, 1.148], numpy.float32)
    EIGVEC = numpy.array([[-0.5675, 0.7192, 0.4009], [-0.5808, -0.0045, -0.8140], [-0.5836, -0.6948, 0.4203]],
                         numpy.float32)

    def __init__(self, alpha: float, seed=None):
        if alpha < 0:
            raise ValueError(f"RandomLighting: alpha must be >= 0, got {alpha}")
        self.alpha, self._rng = alpha, numpy.random.default_rng(seed)

    def apply(self, x):
        x = _image(x)
        weights = self._rng.normal(0.0, self.alpha, size=3).astype(numpy.float32)
        return _back_to(x.astype(numpy.float32) + self.EIGVEC @ (weights * self.EIGVAL), x)


class RandomGray(Transform):
    """With probability p, every channel of an HWC RGB image becomes its luma (ITU-R BT.601)."""

    def __init__(self, p: float = 0.5, seed=None):
        self.p, self._rng = p, numpy.random.default_rng(seed)

    def apply(self, x):
        x = _image(x)
        if self._rng.random() >= self.p:
            return x
        gray = (x.astype(numpy.float32) * color.GRAY).sum(axis=-1, keepdims=True)
        return _back_to(numpy.repeat(gray, x.shape[-1], axis=-1), x)


class RandomApply(Transform):
    """Apply `transforms` (one transform, a function, or a list applied in order) with probability p."""

    def __init__(self, transforms, p: float = 0.5, seed=None):
        self.transforms = Compose(transforms) if isinstance(transforms, (list, tuple)) else transforms
        self.p, self._rng = p, numpy.random.default_rng(seed)

    def apply(self, x):
        return numpy.asarray(self.transforms(x)) if self._rng.random() < self.p else x


def rotate_array(x: numpy.ndarray, degrees: float) -> numpy.ndarray:
    """Rotate CHW images (or NCHW batches) counter-clockwise by `degrees` about the centre, bilinear,
    zero outside: each output pixel samples the input at its position rotated back by -degrees."""
    h, w = x.shape[-2:]
    theta = numpy.deg2rad(degrees)
    cos, sin = numpy.cos(theta), numpy.sin(theta)
    cy, cx = (h - 1) / 2, (w - 1) / 2
    ys, xs = numpy.meshgrid(numpy.arange(h) - cy, numpy.arange(w) - cx, indexing="ij")
    # in (x, up) coordinates (up = -row), the source is the output point rotated by -theta
    src_x = cos * xs - sin * ys + cx
    src_y = sin * xs + cos * ys + cy
    x0, y0 = numpy.floor(src_x).astype(numpy.int64), numpy.floor(src_y).astype(numpy.int64)
    fx, fy = (src_x - x0).astype(x.dtype), (src_y - y0).astype(x.dtype)
    out = numpy.zeros_like(x)
    for dy, dx, weight in ((0, 0, (1 - fy) * (1 - fx)), (0, 1, (1 - fy) * fx), (1, 0, fy * (1 - fx)), (1, 1, fy * fx)):
        yy, xx = y0 + dy, x0 + dx
        inside = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)
        out += numpy.where(inside, x[..., numpy.clip(yy, 0, h - 1), numpy.clip(xx, 0, w - 1)] * weight, 0)
    return out


def _no_zoom(zoom_in: bool, zoom_out: bool, who: str) -> None:
    if zoom_in or zoom_out:
        raise NotImplementedError(f"{who}: zoom_in / zoom_out are not offered; rotate, then crop or resize with "
                                  "CenterCrop / Resize")


class Rotate(Transform):
    """Rotate float CHW images (or NCHW batches) counter-clockwise by `rotation_degrees`."""

    def __init__(self, rotation_degrees: float, zoom_in: bool = False, zoom_out: bool = False):
        _no_zoom(zoom_in, zoom_out, "Rotate")
        self.degrees = float(rotation_degrees)

    def apply(self, x):
        return rotate_array(_chw_float(x, "Rotate"), self.degrees)


class RandomRotation(Transform):
    """With probability `rotate_with_proba`, rotate float CHW images (NCHW batches) by an angle drawn
    uniformly from `angle_limits` = (low, high) degrees."""

    def __init__(self, angle_limits: Sequence[float], zoom_in: bool = False, zoom_out: bool = False,
                 rotate_with_proba: float = 1.0, seed=None):
        _no_zoom(zoom_in, zoom_out, "RandomRotation")
        if not 0.0 <= rotate_with_proba <= 1.0:
            raise ValueError(f"RandomRotation: rotate_with_proba must be in [0, 1], got {rotate_with_proba}")
        low, high = angle_limits
        self.low, self.high, self.p = float(low), float(high), rotate_with_proba
        self._rng = numpy.random.default_rng(seed)

    def apply(self, x):
        x = _chw_float(x, "RandomRotation")
        if self._rng.random() >= self.p:
            return x
        return rotate_array(x, self._rng.uniform(self.low, self.high))


HybridCompose = Compose
HybridRandomApply = RandomApply
