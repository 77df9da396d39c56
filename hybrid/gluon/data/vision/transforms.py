"""Image transforms (Gluon names), applied to NumPy images in the data pipeline.

Images are HWC (height, width, channels) as datasets store them, or NHWC batches; ToTensor
turns them into CHW / NCHW float32 in [0, 1], which Normalize then expects.
"""
from __future__ import annotations

from typing import Callable, Sequence, Union

import numpy

from ....errors import ShapeError
from . import color


class Compose:
    """Apply transforms in order."""

    def __init__(self, transforms: Sequence[Callable]):
        self.transforms = list(transforms)

    def __call__(self, x):
        for t in self.transforms:
            x = t(x)
        return x

    def __repr__(self) -> str:
        return "Compose(" + ", ".join(repr(t) for t in self.transforms) + ")"


class Cast:
    def __init__(self, dtype="float32"):
        self.dtype = numpy.dtype(dtype)

    def __call__(self, x):
        return numpy.asarray(x).astype(self.dtype)

    def __repr__(self) -> str:
        return f"Cast({self.dtype.name})"


class ToTensor:
    """HWC (or NHWC) image with values in [0, 255] -> CHW (NCHW) float32 in [0, 1]."""

    def __call__(self, x):
        x = numpy.asarray(x)
        if x.ndim == 2:
            x = x[:, :, None]
        if x.ndim not in (3, 4):
            raise ShapeError(f"ToTensor expects an HWC image or an NHWC batch, got shape {x.shape}")
        return numpy.ascontiguousarray(numpy.moveaxis(x, -1, -3), dtype=numpy.float32) * numpy.float32(1 / 255)

    def __repr__(self) -> str:
        return "ToTensor()"


class Normalize:
    """(x - mean[c]) / std[c] for each channel c of a CHW image or NCHW batch."""

    def __init__(self, mean: Union[float, Sequence[float]] = 0.0, std: Union[float, Sequence[float]] = 1.0):
        self.mean = numpy.asarray(mean, numpy.float32).reshape(-1)
        self.std = numpy.asarray(std, numpy.float32).reshape(-1)
        if numpy.any(self.std == 0):
            raise ValueError(f"Normalize: std must be non-zero, got {self.std.tolist()}")

    def __call__(self, x):
        x = numpy.asarray(x, numpy.float32)
        if x.ndim not in (3, 4):
            raise ShapeError(f"Normalize expects a CHW image or an NCHW batch (use ToTensor first), got {x.shape}")
        channels = x.shape[-3]
        if self.mean.size not in (1, channels) or self.std.size not in (1, channels):
            raise ShapeError(f"Normalize: {self.mean.size} means and {self.std.size} stds for {channels} channels")
        return (x - self.mean.reshape(-1, 1, 1)) / self.std.reshape(-1, 1, 1)

    def __repr__(self) -> str:
        return f"Normalize(mean={self.mean.tolist()}, std={self.std.tolist()})"


def _linear_taps(n_in: int, n_out: int) -> tuple[numpy.ndarray, numpy.ndarray, numpy.ndarray]:
    """For each output pixel: the two source pixels and the weight of the second (half-pixel centers)."""
    src = numpy.clip((numpy.arange(n_out) + 0.5) * (n_in / n_out) - 0.5, 0, n_in - 1)
    lo = numpy.floor(src).astype(numpy.int64)
    hi = numpy.minimum(lo + 1, n_in - 1)
    return lo, hi, (src - lo).astype(numpy.float32)


class Resize:
    """Resize HWC images (or NHWC batches) to `size` = (width, height) or a square int, with
    'bilinear' or 'nearest' interpolation. Integer images stay integer (rounded)."""

    def __init__(self, size: Union[int, Sequence[int]], interpolation: str = "bilinear"):
        width, height = (size, size) if isinstance(size, int) else tuple(size)
        if interpolation not in ("bilinear", "nearest"):
            raise ValueError(f"Resize: interpolation must be 'bilinear' or 'nearest', got {interpolation!r}")
        self.width, self.height, self.interpolation = int(width), int(height), interpolation

    def __call__(self, x):
        x = numpy.asarray(x)
        if x.ndim not in (3, 4):
            raise ShapeError(f"Resize expects an HWC image or an NHWC batch, got shape {x.shape}")
        out = x.astype(numpy.float32)
        for axis, n_out in ((-3, self.height), (-2, self.width)):
            lo, hi, w = _linear_taps(x.shape[axis], n_out)
            if self.interpolation == "nearest":
                out = numpy.take(out, numpy.where(w < 0.5, lo, hi), axis=axis)
            else:
                shape = [1] * out.ndim
                shape[axis] = n_out
                w = w.reshape(shape)
                out = numpy.take(out, lo, axis=axis) * (1 - w) + numpy.take(out, hi, axis=axis) * w
        if numpy.issubdtype(x.dtype, numpy.integer):
            info = numpy.iinfo(x.dtype)
            return numpy.clip(numpy.rint(out), info.min, info.max).astype(x.dtype)
        return out.astype(x.dtype)

    def __repr__(self) -> str:
        return f"Resize(({self.width}, {self.height}), {self.interpolation})"


class RandomCrop:
    """Pad an HWC image by `pad` pixels on each side (with `pad_value`), then cut a random
    `size` = (width, height) window: random translation, the classic augmentation for digits.
    `seed` makes the sequence of crops reproducible (in a DataLoader without worker threads; with
    workers the draws are safe but their order across samples varies)."""

    def __init__(self, size: Union[int, Sequence[int]], pad: int = 0, pad_value: float = 0, seed=None):
        width, height = (size, size) if isinstance(size, int) else tuple(size)
        self.width, self.height, self.pad, self.pad_value = int(width), int(height), int(pad), pad_value
        self._rng = numpy.random.default_rng(seed)

    def __call__(self, x):
        x = numpy.asarray(x)
        if x.ndim != 3:
            raise ShapeError(f"RandomCrop expects an HWC image, got shape {x.shape}")
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


def _image(x) -> numpy.ndarray:
    x = numpy.asarray(x)
    if x.ndim != 3:
        raise ShapeError(f"expected an HWC image, got shape {x.shape}")
    return x


class CenterCrop:
    """The centre `size` = (width, height) window; images smaller than that are resized up first."""

    def __init__(self, size: Union[int, Sequence[int]], interpolation: str = "bilinear"):
        self.width, self.height = (size, size) if isinstance(size, int) else tuple(size)
        self.interpolation = interpolation

    def __call__(self, x):
        x = _image(x)
        h, w = x.shape[:2]
        if h < self.height or w < self.width:
            x = Resize((max(w, self.width), max(h, self.height)), self.interpolation)(x)
            h, w = x.shape[:2]
        top, left = (h - self.height) // 2, (w - self.width) // 2
        return x[top:top + self.height, left:left + self.width]

    def __repr__(self) -> str:
        return f"CenterCrop(({self.width}, {self.height}))"


class RandomResizedCrop:
    """A random window covering `scale` of the area with aspect ratio in `ratio` (log-uniform),
    resized to `size` (Inception-style augmentation); the centre crop after 10 failed draws."""

    def __init__(self, size: Union[int, Sequence[int]], scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3),
                 interpolation: str = "bilinear", seed=None):
        self.width, self.height = (size, size) if isinstance(size, int) else tuple(size)
        self.scale, self.ratio, self.interpolation = scale, ratio, interpolation
        self._rng = numpy.random.default_rng(seed)

    def __call__(self, x):
        x = _image(x)
        h, w = x.shape[:2]
        for _ in range(10):
            area = h * w * self._rng.uniform(*self.scale)
            aspect = numpy.exp(self._rng.uniform(numpy.log(self.ratio[0]), numpy.log(self.ratio[1])))
            cw, ch = int(round(numpy.sqrt(area * aspect))), int(round(numpy.sqrt(area / aspect)))
            if 0 < cw <= w and 0 < ch <= h:
                top, left = int(self._rng.integers(0, h - ch + 1)), int(self._rng.integers(0, w - cw + 1))
                return Resize((self.width, self.height), self.interpolation)(x[top:top + ch, left:left + cw])
        return Resize((self.width, self.height), self.interpolation)(CenterCrop(min(h, w))(x))


class _RandomFlip:
    axis = 1

    def __init__(self, p: float = 0.5, seed=None):
        self.p, self._rng = p, numpy.random.default_rng(seed)

    def __call__(self, x):
        x = _image(x)
        return numpy.flip(x, self.axis).copy() if self._rng.random() < self.p else x


class RandomFlipLeftRight(_RandomFlip):
    axis = 1


class RandomFlipTopBottom(_RandomFlip):
    axis = 0


class _RandomColor:
    """Scales a colour property by 1 + U(-amount, amount) (hue: rotates by U(-amount, amount) * pi)."""

    def __init__(self, amount: float, seed=None):
        if amount < 0:
            raise ValueError(f"{type(self).__name__}: the jitter amount must be >= 0, got {amount}")
        self.amount, self._rng = amount, numpy.random.default_rng(seed)

    def adjust(self, img, draw):
        raise NotImplementedError

    def __call__(self, x):
        x = _image(x)
        out = self.adjust(x.astype(numpy.float32), self._rng.uniform(-self.amount, self.amount))
        if numpy.issubdtype(x.dtype, numpy.integer):
            return numpy.clip(numpy.rint(out), 0, 255).astype(x.dtype)
        return out.astype(x.dtype)


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


class RandomColorJitter:
    """Brightness, contrast, saturation and hue jitters, in a random order."""

    def __init__(self, brightness: float = 0, contrast: float = 0, saturation: float = 0, hue: float = 0, seed=None):
        self._rng = numpy.random.default_rng(seed)
        self._steps = [cls(v, seed=self._rng.integers(1 << 31)) for cls, v in
                       ((RandomBrightness, brightness), (RandomContrast, contrast), (RandomSaturation, saturation),
                        (RandomHue, hue)) if v > 0]

    def __call__(self, x):
        for i in self._rng.permutation(len(self._steps)):
            x = self._steps[i](x)
        return x


ColorJitter = RandomColorJitter
