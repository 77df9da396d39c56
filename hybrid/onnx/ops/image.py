"""ImageDecoder: encoded image bytes (JPEG, PNG, BMP, TIFF, WebP, JPEG 2000, PNM) -> (H, W, C) uint8.

The decoded shape depends on the bytes, and hybrid compiles static shapes, so the encoded input is
read when the graph is built (like a Reshape's shape: a graph input then becomes part of the
compiled signature, one compile per distinct image) and decoded on the host with Pillow; the
compiled graph holds the pixels as a constant. Decoding is never compiled.
"""
from __future__ import annotations

import io

import numpy

from .base import OnnxNode, converts
from .shape import const_array


@converts("ImageDecoder")
def _image_decoder(node: OnnxNode):
    encoded = node.const(0)
    fmt = node.attr("pixel_format", "RGB")
    if fmt not in ("RGB", "BGR", "Grayscale"):
        raise node.fail(f"pixel_format {fmt!r} is not one of RGB, BGR, Grayscale")
    try:
        import PIL.Image   # optional dependency (the `image` extra); only this op needs it
    except ImportError:
        raise node.fail("decoding images needs Pillow: pip install pillow (or hybrid[image])") from None
    try:
        image = PIL.Image.open(io.BytesIO(numpy.ascontiguousarray(encoded, numpy.uint8).tobytes()))
        image.load()
    except (OSError, ValueError) as e:
        raise node.fail(f"the encoded bytes are not an image Pillow can decode: {e}") from None
    if fmt == "Grayscale":
        pixels = numpy.asarray(image.convert("L"))[:, :, None]
    else:
        pixels = numpy.asarray(image.convert("RGB"))
        pixels = pixels[:, :, ::-1] if fmt == "BGR" else pixels
    return const_array(numpy.ascontiguousarray(pixels, numpy.uint8))
