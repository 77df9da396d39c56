"""Image decoding through Pillow (the `image` extra), shared by the image datasets and hb.image."""
from __future__ import annotations

import io

import numpy


def decode(data: bytes, flag: int = 1, to_rgb: bool = True) -> numpy.ndarray:
    """JPEG/PNG/... bytes -> HWC uint8: 3 channels (flag=1, RGB or BGR) or 1 (flag=0)."""
    try:
        from PIL import Image
    except ImportError:
        raise ImportError("decoding images needs Pillow: pip install 'hybrid[image]' (or pillow)") from None
    try:
        img = Image.open(io.BytesIO(data))
        img.load()
    except (OSError, SyntaxError) as e:
        raise ValueError(f"the {len(data)} bytes are not a decodable image ({e})") from None
    if flag == 0:
        return numpy.asarray(img.convert("L"), numpy.uint8)[:, :, None].copy()
    arr = numpy.asarray(img.convert("RGB"), numpy.uint8)
    return numpy.ascontiguousarray(arr if to_rgb else arr[:, :, ::-1])
