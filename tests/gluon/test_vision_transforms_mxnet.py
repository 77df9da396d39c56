"""MXNet 2's vision-transform API on hybrid: NDArrays in and out, Resize(keep_ratio=) and its
codes resampling as hb.image.imresize, CropResize, Rotate / RandomRotation on CHW floats,
RandomApply / RandomGray / RandomLighting, and npx.image's operators. References are NumPy
computations of the documented behaviour."""
import numpy as onp
import pytest

import hybrid as hb
from hybrid.gluon.data.vision import transforms as T


@pytest.fixture
def image():
    return onp.random.default_rng(0).integers(0, 256, size=(30, 20, 3), dtype=onp.uint8)


def test_ndarray_in_ndarray_out(image):
    out = T.Compose([T.ToTensor(), T.Normalize(0.5, 0.25)])(hb.np.array(image))
    assert isinstance(out, hb.NDArray)
    onp.testing.assert_allclose(out.asnumpy(), (image.transpose(2, 0, 1) / 255.0 - 0.5) / 0.25, rtol=1e-5, atol=1e-5)
    assert isinstance(T.ToTensor()(image), onp.ndarray)          # NumPy stays NumPy in the data pipeline


def test_resize_keep_ratio_and_codes_match_imresize(image):
    out = T.Resize(10, keep_ratio=True)(hb.np.array(image))      # 30 x 20 (h x w): the shorter edge becomes 10
    assert out.shape == (15, 10, 3)
    onp.testing.assert_array_equal(out.asnumpy(), hb.image.imresize(image, 10, 15, 1).asnumpy())
    onp.testing.assert_array_equal(T.Resize((7, 9), interpolation=2)(image), hb.image.imresize(image, 7, 9, 2).asnumpy())
    batch = onp.stack([image, image[::-1]])
    onp.testing.assert_array_equal(T.Resize(8)(batch)[1], T.Resize(8)(image[::-1]))
    for bad in (-5, (4, 4, 4)):                                  # reported when applied, as MXNet
        with pytest.raises(hb.ShapeError, match="size"):
            T.Resize(bad)(image)
    with pytest.raises(TypeError, match="interpolation"):
        T.Resize(4, "nearest")


def test_crop_resize(image):
    onp.testing.assert_array_equal(T.CropResize(2, 3, 5, 4)(image), image[3:7, 2:7])
    onp.testing.assert_array_equal(T.CropResize(2, 3, 5, 4, size=6, interpolation=1)(image),
                                   hb.image.imresize(image[3:7, 2:7], 6, 6, 1).asnumpy())
    with pytest.raises(hb.ShapeError, match="not inside"):
        T.CropResize(18, 0, 5, 4)(image)


def test_rotate_quarter_turns_move_pixels_counter_clockwise():
    img = onp.zeros((1, 3, 3), onp.float32)
    img[0, 1, 2] = 1.0                                            # right middle
    onp.testing.assert_allclose(T.Rotate(90)(img)[0], onp.rot90(img[0]), atol=1e-6)    # numpy: counter-clockwise
    onp.testing.assert_allclose(T.Rotate(180)(img)[0], onp.rot90(img[0], 2), atol=1e-6)
    batch = onp.random.default_rng(1).random((2, 3, 5, 5)).astype(onp.float32)
    onp.testing.assert_allclose(T.Rotate(-90)(batch), onp.rot90(batch, -1, axes=(2, 3)), atol=1e-5)
    with pytest.raises(TypeError, match="ToTensor"):
        T.Rotate(10)(onp.ones((3, 4, 4), onp.uint8))


def test_random_rotation_probability_and_limits():
    x = onp.random.default_rng(2).random((3, 6, 8)).astype(onp.float32)
    onp.testing.assert_array_equal(T.RandomRotation((-90, 90), rotate_with_proba=0.0)(x), x)
    onp.testing.assert_allclose(T.RandomRotation((90, 90))(x[:, :6, :6]), onp.rot90(x[:, :6, :6], axes=(1, 2)),
                                atol=1e-5)
    with pytest.raises(ValueError, match="rotate_with_proba"):
        T.RandomRotation((-10, 10), rotate_with_proba=1.5)


def test_random_apply_gray_lighting(image):
    calls = []
    apply = T.RandomApply(lambda x: calls.append(1) or x, p=0.3, seed=0)
    for _ in range(2000):
        apply(image)
    assert abs(len(calls) / 2000 - 0.3) < 0.05
    gray = T.RandomGray(p=1.0)(image.astype(onp.float32))
    onp.testing.assert_allclose(gray[..., 0], image.astype(onp.float32) @ onp.array([0.299, 0.587, 0.114]), rtol=1e-5)
    onp.testing.assert_array_equal(gray[..., 0], gray[..., 2])
    assert T.RandomGray(p=0.0)(image) is not None and onp.array_equal(T.RandomGray(p=0.0)(image), image)
    onp.testing.assert_array_equal(T.RandomLighting(0.0)(image), image)   # no noise: unchanged
    lit = T.RandomLighting(0.5, seed=3)(image.astype(onp.float32))
    shift = lit - image                                               # one RGB offset added to every pixel
    onp.testing.assert_allclose(shift, onp.broadcast_to(shift[0, 0], shift.shape), atol=1e-4)


def test_npx_image_operators(image):
    x = hb.np.array(image)
    onp.testing.assert_array_equal(hb.npx.image.flip_left_right(x).asnumpy(), image[:, ::-1])
    onp.testing.assert_array_equal(hb.npx.image.flip_top_bottom(x).asnumpy(), image[::-1])
    onp.testing.assert_array_equal(hb.npx.image.crop(x, 1, 2, 4, 5).asnumpy(), image[2:7, 1:5])
    assert hb.npx.image.random_crop(x, width=8, height=6).shape == (6, 8, 3)
    assert hb.npx.image.random_resized_crop(x, width=8, height=6).shape == (6, 8, 3)
    onp.testing.assert_allclose(hb.npx.image.to_tensor(x).asnumpy(), image.transpose(2, 0, 1) / 255.0, rtol=1e-6)
    assert hb.npx.image.resize(x, 10, keep_ratio=True).shape == (15, 10, 3)


def test_symbolic_checks_point_to_autograd():
    with pytest.raises(NotImplementedError, match="autograd"):
        hb.test_utils.check_symbolic_backward(None, [], [], [])


def test_bbox_flip_and_crop():
    from hybrid.gluon.contrib.data.vision.transforms.bbox import ImageBboxCrop, ImageBboxRandomFlipLeftRight
    img = onp.arange(10 * 8 * 3, dtype=onp.uint8).reshape(10, 8, 3)     # 8 wide, 10 high
    boxes = onp.array([[1, 2, 3, 6, 7], [5, 0, 8, 4, 2]], onp.float32)
    flipped_img, flipped = ImageBboxRandomFlipLeftRight(p=1.0)(hb.np.array(img), hb.np.array(boxes))
    onp.testing.assert_array_equal(flipped_img.asnumpy(), img[:, ::-1])
    onp.testing.assert_array_equal(flipped.asnumpy(), [[5, 2, 7, 6, 7], [0, 0, 3, 4, 2]])   # x -> 8 - x
    same_img, same_boxes = ImageBboxRandomFlipLeftRight(p=0.0)(img, boxes)
    assert same_img is img and same_boxes is boxes
    window, cropped = ImageBboxCrop((2, 1, 4, 5))(img, boxes)
    onp.testing.assert_array_equal(window, img[1:6, 2:6])
    # first box: x 1..3 -> -1..1 clipped 0..1, y 2..6 -> 1..5; second: x 5..8 -> 3..6 clipped 3..4, y 0..4 -> 0..3
    onp.testing.assert_array_equal(cropped, [[0, 1, 1, 5, 7], [3, 0, 4, 3, 2]])
    _, centred = ImageBboxCrop((2, 1, 4, 5), allow_outside_center=False)(img, boxes)
    onp.testing.assert_array_equal(centred, [[0, 1, 1, 5, 7]])   # the second box's centre x = 4.5 is outside 0..4
    with pytest.raises(hb.ShapeError, match="not inside"):
        ImageBboxCrop((6, 0, 4, 4))(img, boxes)
