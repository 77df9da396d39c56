"""`hb.image`: MXNet's image functions and augmenters on HWC images (NDArray or NumPy).

Decoding and resizing use Pillow (the `image` extra); without it, resizing falls back to
hybrid's own bilinear/nearest resampler and decoding raises an ImportError saying what to install.
Functions return NDArrays, as MXNet's do; random augmenters draw from NumPy's global generator
(`hb.random.seed` does not reach them, as MXNet's Python-side augmenters are not seeded by mx.random).
"""
from __future__ import annotations

import random as _pyrandom
from typing import Optional, Sequence

import numpy

from ..errors import ShapeError
from ..core.array import NDArray
from ..gluon.data.vision import color
from ..gluon.data.vision.decode import decode
from ..frontend.npx_image import resize_array


def _hwc(src) -> numpy.ndarray:
    a = src.asnumpy() if isinstance(src, NDArray) else numpy.asarray(src)
    if a.ndim != 3:
        raise ShapeError(f"hb.image expects an HWC image (height, width, channels), got shape {a.shape}")
    return a


def imdecode(buf, flag: int = 1, to_rgb: bool = True) -> NDArray:
    """Decode JPEG/PNG/... bytes to an HWC uint8 NDArray: 3 channels (flag=1) or 1 (flag=0);
    RGB order unless to_rgb=False (then BGR, OpenCV's order, as MXNet)."""
    data = bytes(buf.asnumpy().tobytes() if isinstance(buf, NDArray) else buf)
    try:
        return NDArray(decode(data, flag, to_rgb))
    except ValueError as e:
        raise ValueError(f"imdecode: {e}") from None


def imread(filename: str, flag: int = 1, to_rgb: bool = True) -> NDArray:
    """Read and decode an image file (see imdecode)."""
    with open(filename, "rb") as f:
        return imdecode(f.read(), flag, to_rgb)


def imresize(src, w: int, h: int, interp: int = 1) -> NDArray:
    """Resize to width w, height h (interp: 0 nearest, 1 bilinear, 2 bicubic, 3 area, 4 lanczos,
    9 automatic, 10 random); npx.image.resize and vision.transforms.Resize resample the same way."""
    return NDArray(resize_array(_hwc(src), w, h, interp))


def resize_short(src, size: int, interp: int = 2) -> NDArray:
    """Resize so the shorter edge is `size`, keeping the aspect ratio."""
    h, w = _hwc(src).shape[:2]
    if h > w:
        new_w, new_h = size, size * h // w
    else:
        new_w, new_h = size * w // h, size
    return imresize(src, new_w, new_h, interp)


def fixed_crop(src, x0: int, y0: int, w: int, h: int, size: Optional[Sequence[int]] = None,
               interp: int = 2) -> NDArray:
    """The (x0, y0, w, h) window, resized to `size` = (width, height) when given."""
    a = _hwc(src)
    if x0 < 0 or y0 < 0 or x0 + w > a.shape[1] or y0 + h > a.shape[0]:
        raise ShapeError(f"fixed_crop: window x0={x0}, y0={y0}, w={w}, h={h} is outside the "
                         f"{a.shape[1]}x{a.shape[0]} image")
    out = NDArray(numpy.ascontiguousarray(a[y0:y0 + h, x0:x0 + w]))
    if size is not None and (w, h) != tuple(size):
        out = imresize(out, size[0], size[1], interp)
    return out


def _scaled_window(a: numpy.ndarray, size: Sequence[int]) -> tuple[int, int]:
    """The largest window with the aspect ratio of `size` that fits in the image (MXNet's rule)."""
    h, w = a.shape[:2]
    new_w, new_h = size
    if new_w > w or new_h > h:  # scale the window down to fit
        ratio = min(w / new_w, h / new_h)
        new_w, new_h = int(new_w * ratio), int(new_h * ratio)
    return new_w, new_h


def center_crop(src, size: Sequence[int], interp: int = 2):
    """Crop the centre window of `size` = (width, height) (scaled down to fit), resized to size.
    Returns (image, (x0, y0, w, h))."""
    a = _hwc(src)
    w, h = _scaled_window(a, size)
    x0, y0 = (a.shape[1] - w) // 2, (a.shape[0] - h) // 2
    return fixed_crop(a, x0, y0, w, h, size, interp), (x0, y0, w, h)


def random_crop(src, size: Sequence[int], interp: int = 2):
    """Crop a random window of `size` (scaled down to fit), resized to size. Returns (image, rect)."""
    a = _hwc(src)
    w, h = _scaled_window(a, size)
    x0 = _pyrandom.randint(0, a.shape[1] - w)
    y0 = _pyrandom.randint(0, a.shape[0] - h)
    return fixed_crop(a, x0, y0, w, h, size, interp), (x0, y0, w, h)


def random_size_crop(src, size: Sequence[int], area, ratio: Sequence[float], interp: int = 2):
    """Crop a random window of random area (a fraction in `area` = (min, max), or (area, 1)) and
    aspect ratio (log-uniform in `ratio`), resized to `size` = (width, height); after 10 windows
    that do not fit, the centre crop. Returns (image, (x0, y0, w, h))."""
    a = _hwc(src)
    h, w = a.shape[:2]
    low, high = (area, 1.0) if isinstance(area, (int, float)) else area
    for _ in range(10):
        target = _pyrandom.uniform(low, high) * h * w
        aspect = numpy.exp(_pyrandom.uniform(numpy.log(ratio[0]), numpy.log(ratio[1])))
        new_w, new_h = int(round(numpy.sqrt(target * aspect))), int(round(numpy.sqrt(target / aspect)))
        if new_w <= w and new_h <= h:
            x0, y0 = _pyrandom.randint(0, w - new_w), _pyrandom.randint(0, h - new_h)
            return fixed_crop(a, x0, y0, new_w, new_h, size, interp), (x0, y0, new_w, new_h)
    return center_crop(a, size, interp)


def color_normalize(src, mean, std=None) -> NDArray:
    """(src - mean) / std, per channel (last axis)."""
    out = _hwc(src).astype(numpy.float32) - numpy.asarray(mean, numpy.float32)
    if std is not None:
        out = out / numpy.asarray(std, numpy.float32)
    return NDArray(out)


# -- augmenters (MXNet's ImageIter-style callables: image -> image) ----------------------------
class Augmenter:
    """Base class: `aug(src)` returns the augmented HWC image."""

    def __call__(self, src):
        raise NotImplementedError(f"{type(self).__name__} must define __call__")

    def dumps(self) -> str:
        return f"{type(self).__name__.lower()}"


class SequentialAug(Augmenter):
    """Apply the augmenters in order."""

    def __init__(self, ts: Sequence[Augmenter]):
        self.ts = list(ts)

    def __call__(self, src):
        for t in self.ts:
            src = t(src)
        return src


class ResizeAug(Augmenter):
    """Resize the shorter edge to `size`."""

    def __init__(self, size: int, interp: int = 2):
        self.size, self.interp = size, interp

    def __call__(self, src):
        return resize_short(src, self.size, self.interp)


class ForceResizeAug(Augmenter):
    """Resize to exactly `size` = (width, height)."""

    def __init__(self, size: Sequence[int], interp: int = 2):
        self.size, self.interp = tuple(size), interp

    def __call__(self, src):
        return imresize(src, self.size[0], self.size[1], self.interp)


class RandomCropAug(Augmenter):
    def __init__(self, size: Sequence[int], interp: int = 2):
        self.size, self.interp = tuple(size), interp

    def __call__(self, src):
        return random_crop(src, self.size, self.interp)[0]


class RandomSizedCropAug(Augmenter):
    """random_size_crop: random area fraction and aspect ratio, resized to `size` = (width, height)."""

    def __init__(self, size: Sequence[int], area, ratio: Sequence[float], interp: int = 2):
        self.size, self.area, self.ratio, self.interp = tuple(size), area, tuple(ratio), interp

    def __call__(self, src):
        return random_size_crop(src, self.size, self.area, self.ratio, self.interp)[0]


class CenterCropAug(Augmenter):
    def __init__(self, size: Sequence[int], interp: int = 2):
        self.size, self.interp = tuple(size), interp

    def __call__(self, src):
        return center_crop(src, self.size, self.interp)[0]


class HorizontalFlipAug(Augmenter):
    """Mirror left-right with probability p."""

    def __init__(self, p: float):
        self.p = p

    def __call__(self, src):
        a = _hwc(src)
        return NDArray(numpy.ascontiguousarray(a[:, ::-1])) if _pyrandom.random() < self.p else NDArray(a)


class RandomGrayAug(Augmenter):
    """With probability p, replace every channel by the gray level 0.21 R + 0.72 G + 0.07 B
    (three channels kept)."""

    def __init__(self, p: float):
        self.p = p

    def __call__(self, src):
        a = _hwc(src)
        if _pyrandom.random() >= self.p:
            return NDArray(a)
        gray = a.astype(numpy.float32) @ numpy.array([0.21, 0.72, 0.07], numpy.float32)
        return NDArray(numpy.repeat(gray[:, :, None], a.shape[2], axis=2).astype(numpy.float32))


class LightingAug(Augmenter):
    """AlexNet's PCA lighting noise: add eigvec @ (alpha * eigval) to every pixel, alpha ~ N(0, alphastd)
    per component (NumPy's global generator)."""

    def __init__(self, alphastd: float, eigval, eigvec):
        self.alphastd = alphastd
        self.eigval, self.eigvec = numpy.asarray(eigval, numpy.float32), numpy.asarray(eigvec, numpy.float32)

    def __call__(self, src):
        alpha = numpy.random.normal(0, self.alphastd, size=(3,)).astype(numpy.float32)
        return NDArray(_hwc(src).astype(numpy.float32) + (self.eigvec * alpha) @ self.eigval)


class CastAug(Augmenter):
    def __init__(self, typ: str = "float32"):
        self.typ = typ

    def __call__(self, src):
        return NDArray(_hwc(src).astype(self.typ))


class ColorNormalizeAug(Augmenter):
    def __init__(self, mean, std):
        self.mean, self.std = mean, std

    def __call__(self, src):
        return color_normalize(src, self.mean, self.std)


class BrightnessJitterAug(Augmenter):
    """Scale by 1 + U(-brightness, brightness)."""

    def __init__(self, brightness: float):
        self.brightness = brightness

    def __call__(self, src):
        return NDArray(color.brightness(_hwc(src).astype(numpy.float32),
                                        1.0 + _pyrandom.uniform(-self.brightness, self.brightness)))


class ContrastJitterAug(Augmenter):
    """Blend with the image's mean gray level by 1 + U(-contrast, contrast)."""

    def __init__(self, contrast: float):
        self.contrast = contrast

    def __call__(self, src):
        return NDArray(color.contrast(_hwc(src).astype(numpy.float32),
                                      1.0 + _pyrandom.uniform(-self.contrast, self.contrast)))


class SaturationJitterAug(Augmenter):
    """Blend with the per-pixel gray image by 1 + U(-saturation, saturation)."""

    def __init__(self, saturation: float):
        self.saturation = saturation

    def __call__(self, src):
        return NDArray(color.saturation(_hwc(src).astype(numpy.float32),
                                        1.0 + _pyrandom.uniform(-self.saturation, self.saturation)))


class HueJitterAug(Augmenter):
    """Rotate the hue by U(-hue, hue) * 180 degrees in YIQ space."""

    def __init__(self, hue: float):
        self.hue = hue

    def __call__(self, src):
        return NDArray(color.hue(_hwc(src).astype(numpy.float32), _pyrandom.uniform(-self.hue, self.hue) * numpy.pi))


hue_rotation = color.hue_rotation


class RandomOrderAug(Augmenter):
    """Apply the augmenters in a random order."""

    def __init__(self, ts: Sequence[Augmenter]):
        self.ts = list(ts)

    def __call__(self, src):
        for t in _pyrandom.sample(self.ts, len(self.ts)):
            src = t(src)
        return src


class ColorJitterAug(RandomOrderAug):
    def __init__(self, brightness: float, contrast: float, saturation: float):
        ts = [cls(v) for cls, v in ((BrightnessJitterAug, brightness), (ContrastJitterAug, contrast),
                                    (SaturationJitterAug, saturation)) if v > 0]
        super().__init__(ts)


# ImageNet's RGB PCA (AlexNet), MXNet's CreateAugmenter constants for pca_noise
_PCA_EIGVAL = [55.46, 4.794, 1.148]
_PCA_EIGVEC = [[-0.5675, 0.7192, 0.4009], [-0.5808, -0.0045, -0.8140], [-0.5836, -0.6948, 0.4203]]


def CreateAugmenter(data_shape: Sequence[int], resize: int = 0, rand_crop: bool = False, rand_resize: bool = False,
                    rand_mirror: bool = False, mean=None, std=None, brightness: float = 0, contrast: float = 0,
                    saturation: float = 0, hue: float = 0, pca_noise: float = 0, rand_gray: float = 0,
                    inter_method: int = 2) -> list:
    """MXNet's standard augmenter list for a (C, H, W) data_shape: resize the short edge, crop
    (random-sized with rand_resize, random, or centre), mirror, cast to float32, colour jitter, hue,
    PCA noise, random gray, normalize (mean/std True = ImageNet's values)."""
    if rand_resize and not rand_crop:
        raise ValueError("CreateAugmenter: rand_resize=True needs rand_crop=True (it is a kind of random crop)")
    augs: list = []
    if resize > 0:
        augs.append(ResizeAug(resize, inter_method))
    crop = (data_shape[2], data_shape[1])
    if rand_resize:
        augs.append(RandomSizedCropAug(crop, 0.08, (3.0 / 4.0, 4.0 / 3.0), inter_method))
    else:
        augs.append(RandomCropAug(crop, inter_method) if rand_crop else CenterCropAug(crop, inter_method))
    if rand_mirror:
        augs.append(HorizontalFlipAug(0.5))
    augs.append(CastAug())
    if brightness or contrast or saturation:
        augs.append(ColorJitterAug(brightness, contrast, saturation))
    if hue:
        augs.append(HueJitterAug(hue))
    if pca_noise > 0:
        augs.append(LightingAug(pca_noise, _PCA_EIGVAL, _PCA_EIGVEC))
    if rand_gray > 0:
        augs.append(RandomGrayAug(rand_gray))
    if mean is True:
        mean = numpy.array([123.68, 116.28, 103.53])
    if std is True:
        std = numpy.array([58.395, 57.12, 57.375])
    if mean is not None or std is not None:
        augs.append(ColorNormalizeAug(0.0 if mean is None else mean, std))
    return augs


__all__ = ["imdecode", "imread", "imresize", "resize_short", "fixed_crop", "center_crop", "random_crop",
           "random_size_crop", "color_normalize", "Augmenter", "SequentialAug", "RandomSizedCropAug",
           "RandomGrayAug", "LightingAug", "ResizeAug", "ForceResizeAug", "RandomCropAug", "CenterCropAug",
           "HorizontalFlipAug", "CastAug", "ColorNormalizeAug", "BrightnessJitterAug", "ContrastJitterAug",
           "SaturationJitterAug", "HueJitterAug", "RandomOrderAug", "ColorJitterAug", "CreateAugmenter",
           "hue_rotation"]
