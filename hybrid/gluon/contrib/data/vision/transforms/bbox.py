"""Transforms of an HWC image together with its bounding boxes (MXNet's gluon.contrib bbox
transforms). Boxes are rows (xmin, ymin, xmax, ymax, extra...) in pixels; extra columns (class id,
score) ride along. Called as `transform(img, bbox)`, they return `(img, bbox)`, NDArrays when given
NDArrays, NumPy arrays when given NumPy arrays."""
from __future__ import annotations

from typing import Sequence

import numpy

from ......core.array import NDArray
from ......errors import ShapeError
from ......frontend.npx_image import host_array
from .....data.vision.transforms import Transform


def _boxes(bbox) -> numpy.ndarray:
    boxes = host_array(bbox)
    if boxes.ndim != 2 or boxes.shape[1] < 4:
        raise ShapeError(f"bounding boxes must be an (N, 4+) array of (xmin, ymin, xmax, ymax, ...), got shape "
                         f"{boxes.shape}")
    return boxes


class _BboxTransform(Transform):
    def apply_pair(self, img: numpy.ndarray, boxes: numpy.ndarray) -> tuple[numpy.ndarray, numpy.ndarray]:
        raise NotImplementedError

    def __call__(self, img, bbox):
        as_ndarray = isinstance(img, NDArray)
        image = img.asnumpy() if as_ndarray else numpy.asarray(img)
        if image.ndim != 3:
            raise ShapeError(f"{type(self).__name__} expects an HWC image, got shape {image.shape}")
        out, boxes = self.apply_pair(image, _boxes(bbox))
        if as_ndarray or isinstance(bbox, NDArray):
            return NDArray(numpy.ascontiguousarray(out)), NDArray(numpy.ascontiguousarray(boxes))
        return out, boxes


class ImageBboxRandomFlipLeftRight(_BboxTransform):
    """With probability p, mirror the image left-right and its boxes with it."""

    def __init__(self, p: float = 0.5, seed=None):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"ImageBboxRandomFlipLeftRight: p must be in [0, 1], got {p}")
        self.p, self._rng = p, numpy.random.default_rng(seed)

    def apply_pair(self, img, boxes):
        if self._rng.random() >= self.p:
            return img, boxes
        width = img.shape[1]
        flipped = boxes.copy()
        flipped[:, 0], flipped[:, 2] = width - boxes[:, 2], width - boxes[:, 0]
        return img[:, ::-1], flipped


class ImageBboxCrop(_BboxTransform):
    """Cut the window crop = (x, y, width, height) out of the image; boxes move with it and are clipped
    to it. A box left with no area is dropped, and so is one whose centre falls outside the window
    unless allow_outside_center."""

    def __init__(self, crop: Sequence[int], allow_outside_center: bool = True):
        if len(crop) != 4 or crop[2] <= 0 or crop[3] <= 0 or crop[0] < 0 or crop[1] < 0:
            raise ValueError(f"ImageBboxCrop: crop must be (x, y, width, height) with a positive size, got {crop}")
        self.x, self.y, self.width, self.height = (int(v) for v in crop)
        self.allow_outside_center = allow_outside_center

    def apply_pair(self, img, boxes):
        h, w = img.shape[:2]
        if self.x + self.width > w or self.y + self.height > h:
            raise ShapeError(f"ImageBboxCrop: the window {(self.x, self.y, self.width, self.height)} is not inside the "
                             f"{w}x{h} image")
        moved = boxes.astype(numpy.result_type(boxes.dtype, numpy.float32), copy=True)
        moved[:, (0, 2)] -= self.x
        moved[:, (1, 3)] -= self.y
        keep = numpy.ones(len(moved), bool)
        if not self.allow_outside_center:
            cx, cy = (moved[:, 0] + moved[:, 2]) / 2, (moved[:, 1] + moved[:, 3]) / 2
            keep &= (cx >= 0) & (cx < self.width) & (cy >= 0) & (cy < self.height)
        moved[:, (0, 2)] = numpy.clip(moved[:, (0, 2)], 0, self.width)
        moved[:, (1, 3)] = numpy.clip(moved[:, (1, 3)], 0, self.height)
        keep &= (moved[:, 2] > moved[:, 0]) & (moved[:, 3] > moved[:, 1])
        window = img[self.y:self.y + self.height, self.x:self.x + self.width]
        return window, moved[keep].astype(boxes.dtype)
