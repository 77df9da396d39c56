"""Colour adjustments of HWC float images shared by vision.transforms and hb.image's augmenters."""
from __future__ import annotations

import numpy

# ITU-R BT.601 luma weights
GRAY = numpy.array([0.299, 0.587, 0.114], numpy.float32)
_TO_YIQ = numpy.array([[0.299, 0.587, 0.114], [0.596, -0.274, -0.321], [0.211, -0.523, 0.311]], numpy.float32)


def brightness(img: numpy.ndarray, alpha: float) -> numpy.ndarray:
    return img * alpha


def contrast(img: numpy.ndarray, alpha: float) -> numpy.ndarray:
    """Blend with the image's mean gray level."""
    return img * alpha + float((img * GRAY).sum(axis=-1).mean()) * (1.0 - alpha)


def saturation(img: numpy.ndarray, alpha: float) -> numpy.ndarray:
    """Blend with the per-pixel gray image."""
    return img * alpha + (img * GRAY).sum(axis=-1, keepdims=True) * (1.0 - alpha)


def hue_rotation(theta: float) -> numpy.ndarray:
    """The 3x3 RGB -> RGB matrix rotating hue by theta radians (through YIQ)."""
    c, s = numpy.cos(theta), numpy.sin(theta)
    rot = numpy.array([[1, 0, 0], [0, c, -s], [0, s, c]], numpy.float32)
    return numpy.linalg.inv(_TO_YIQ) @ rot @ _TO_YIQ


def hue(img: numpy.ndarray, theta: float) -> numpy.ndarray:
    return img @ hue_rotation(theta).T
