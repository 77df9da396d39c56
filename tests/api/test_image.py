"""hb.image: decoding (Pillow), resizing, crops, normalization and augmenters, against NumPy."""
import io

import numpy as onp
import pytest

import hybrid as mx

PIL = pytest.importorskip("PIL.Image", reason="hb.image decoding needs Pillow (the image extra)")


def _png(img: onp.ndarray) -> bytes:
    buf = io.BytesIO()
    PIL.fromarray(img).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture
def image():
    return onp.random.default_rng(0).integers(0, 256, size=(12, 16, 3), dtype=onp.uint8)


def test_decode_read_and_channel_order(image, tmp_path):
    decoded = mx.image.imdecode(_png(image))
    assert isinstance(decoded, mx.NDArray)
    onp.testing.assert_array_equal(decoded.asnumpy(), image)
    onp.testing.assert_array_equal(mx.image.imdecode(_png(image), to_rgb=False).asnumpy(), image[:, :, ::-1])
    gray = mx.image.imdecode(_png(image), flag=0)
    assert gray.shape == (12, 16, 1)
    path = tmp_path / "x.png"
    path.write_bytes(_png(image))
    onp.testing.assert_array_equal(mx.image.imread(str(path)).asnumpy(), image)
    with pytest.raises(ValueError, match="not a decodable image"):
        mx.image.imdecode(b"not an image")


def test_resize_and_crops(image):
    out = mx.image.imresize(image, 8, 6, interp=0)
    assert out.shape == (6, 8, 3)
    # nearest downsampling by 2 picks one pixel of every 2x2 block
    assert any(onp.array_equal(out.asnumpy(), image[i::2, j::2]) for i in (0, 1) for j in (0, 1))
    assert mx.image.resize_short(image, 6).shape == (6, 8, 3)
    crop, rect = mx.image.center_crop(image, (8, 6))
    assert rect == (4, 3, 8, 6)
    onp.testing.assert_array_equal(crop.asnumpy(), image[3:9, 4:12])
    crop, (x0, y0, w, h) = mx.image.random_crop(image, (5, 4))
    onp.testing.assert_array_equal(crop.asnumpy(), image[y0:y0 + h, x0:x0 + w])
    with pytest.raises(mx.ShapeError, match="outside"):
        mx.image.fixed_crop(image, 10, 0, 8, 4)


def test_color_normalize_and_augmenters(image):
    mean, std = onp.array([1.0, 2.0, 3.0]), onp.array([2.0, 4.0, 8.0])
    onp.testing.assert_allclose(mx.image.color_normalize(image, mean, std).asnumpy(),
                                (image.astype(onp.float32) - mean) / std, rtol=1e-6)
    augs = mx.image.CreateAugmenter((3, 8, 8), resize=10, rand_crop=True, rand_mirror=True, mean=True, std=True,
                                    brightness=0.1, contrast=0.1, saturation=0.1, hue=0.1)
    out = image
    for aug in augs:
        out = aug(out)
    assert out.shape == (8, 8, 3) and out.dtype == onp.float32
    flipped = mx.image.HorizontalFlipAug(1.0)(image)
    onp.testing.assert_array_equal(flipped.asnumpy(), image[:, ::-1])
    # a hue rotation by 0 is the identity; the rotation keeps gray pixels gray
    onp.testing.assert_allclose(mx.image.hue_rotation(0.0), onp.eye(3), atol=1e-5)
    onp.testing.assert_allclose(mx.image.hue_rotation(1.0) @ onp.ones(3), onp.ones(3), atol=5e-3)  # YIQ's 3-digit matrix
