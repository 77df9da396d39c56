"""hb.image.ImageIter (MXNet's mx.image.ImageIter) on small image files the tests write: a .rec
file (with and without its .idx, written byte by byte from the RecordIO format), an .lst file and
a Python list; batches compared with the PNG pixels (lossless) transposed to CHW, MXNet's
last-batch rules, shuffling and partitioning, and the augmenters ImageIter's CreateAugmenter adds."""
import io
import random
import struct

import numpy
import pytest

import hybrid as mx
from hybrid.errors import FormatError, HybridError

PIL = pytest.importorskip("PIL.Image")
H, W = 6, 5


def png(img):
    buf = io.BytesIO()
    PIL.fromarray(img).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture
def images():
    rng = numpy.random.default_rng(5)
    return [rng.integers(0, 256, size=(H, W, 3), dtype=numpy.uint8) for _ in range(5)]


def write_rec(path, images, labels):
    rec, offsets = bytearray(), []
    for i, (img, label) in enumerate(zip(images, labels)):
        label = numpy.atleast_1d(numpy.asarray(label, numpy.float32))
        header = (struct.pack("<IfQQ", 0, float(label[0]), i, 0) if label.size == 1
                  else struct.pack("<IfQQ", label.size, 0.0, i, 0) + label.tobytes())
        payload = header + png(img)
        offsets.append(len(rec))
        rec += struct.pack("<II", 0xCED7230A, len(payload)) + payload + b"\0" * (-len(payload) % 4)
    path.with_suffix(".rec").write_bytes(bytes(rec))
    path.with_suffix(".idx").write_text("".join(f"{10 + i}\t{o}\n" for i, o in enumerate(offsets)))
    return str(path.with_suffix(".rec")), str(path.with_suffix(".idx"))


def write_files(tmp_path, images):
    for i, img in enumerate(images):
        (tmp_path / f"img{i}.png").write_bytes(png(img))
    return [[float(i % 3), f"img{i}.png"] for i in range(len(images))]


def chw(img):
    return img.transpose(2, 0, 1).astype(numpy.float32)


def epoch(it):
    return [(b.data[0].asnumpy(), b.label[0].asnumpy(), b.pad) for b in it]


def test_image_list_batches_equal_the_pixels_and_the_last_batch_is_padded(tmp_path, images):
    imglist = write_files(tmp_path, images)
    it = mx.image.ImageIter(2, (3, H, W), imglist=imglist, path_root=str(tmp_path))
    assert it.provide_data == [("data", (2, 3, H, W))] and it.provide_label == [("softmax_label", (2,))]
    batches = epoch(it)
    assert [pad for _, _, pad in batches] == [0, 0, 1]
    order = [0, 1, 2, 3, 4, 0]           # 'pad' fills the last batch from the start
    data = numpy.concatenate([d for d, _, _ in batches])
    labels = numpy.concatenate([lb for _, lb, _ in batches])
    for row, i in enumerate(order):
        numpy.testing.assert_array_equal(data[row], chw(images[i]))
        assert labels[row] == i % 3
    assert data.dtype == numpy.float32 and labels.dtype == numpy.float32
    assert epoch(it) == []                # until reset
    it.reset()
    again = epoch(it)
    assert len(again) == 3 and numpy.array_equal(again[0][0], batches[0][0])


def test_discard_and_roll_over(tmp_path, images):
    imglist = write_files(tmp_path, images)
    it = mx.image.ImageIter(2, (3, H, W), imglist=imglist, path_root=str(tmp_path), last_batch_handle="discard")
    assert len(epoch(it)) == 2
    it.reset()
    assert len(epoch(it)) == 2
    it = mx.image.ImageIter(2, (3, H, W), imglist=imglist, path_root=str(tmp_path), last_batch_handle="roll_over",
                            dtype="int32")
    first = epoch(it)
    assert len(first) == 2                # image 4 waits for the next epoch
    it.reset()
    second = epoch(it)
    # epoch 2 starts with the rolled-over image 4 completed by image 0, then images 1 2 and 3 4
    labels = [list(lb) for _, lb, _ in second]
    assert labels[0] == [4 % 3, 0] and second[0][2] == 0
    numpy.testing.assert_array_equal(second[0][0][0], chw(images[4]))
    numpy.testing.assert_array_equal(second[0][0][1], chw(images[0]))
    assert labels[1:] == [[1, 2], [0, 1]] and second[0][1].dtype == numpy.int32
    it.hard_reset()
    assert [list(lb) for _, lb, _ in epoch(it)] == [[0, 1], [2, 0]]


def test_record_file_with_index_shuffle_and_parts(tmp_path, images):
    rec, idx = write_rec(tmp_path / "data", images, [7, 8, 9, 10, 11])
    it = mx.image.ImageIter(5, (3, H, W), path_imgrec=rec, path_imgidx=idx)
    (data, labels, pad), = epoch(it)
    assert pad == 0 and list(labels) == [7, 8, 9, 10, 11]
    for row in range(5):
        numpy.testing.assert_array_equal(data[row], chw(images[row]))
    random.seed(3)
    shuffled = mx.image.ImageIter(5, (3, H, W), path_imgrec=rec, path_imgidx=idx, shuffle=True)
    random.seed(3)
    keys = list(range(10, 15))
    random.shuffle(keys)
    (data, labels, _), = epoch(shuffled)
    assert list(labels) == [k - 3 for k in keys]
    numpy.testing.assert_array_equal(data[0], chw(images[keys[0] - 10]))
    part = mx.image.ImageIter(2, (3, H, W), path_imgrec=rec, path_imgidx=idx, num_parts=2, part_index=1)
    (_, labels, pad), = epoch(part)       # 5 // 2 = 2 per part, the remainder is dropped
    assert list(labels) == [9, 10] and pad == 0


def test_record_file_without_index_is_read_in_order(tmp_path, images):
    rec, _ = write_rec(tmp_path / "data", images[:3], [[1, 2], [3, 4], [5, 6]])
    it = mx.image.ImageIter(3, (3, H, W), path_imgrec=rec, label_width=2)
    (data, labels, _), = epoch(it)
    numpy.testing.assert_array_equal(labels, [[1, 2], [3, 4], [5, 6]])
    numpy.testing.assert_array_equal(data[2], chw(images[2]))
    with pytest.raises(HybridError, match="path_imgidx"):
        mx.image.ImageIter(3, (3, H, W), path_imgrec=rec, shuffle=True)


def test_lst_file_labels_override_and_errors(tmp_path, images):
    write_files(tmp_path, images)
    lst = tmp_path / "data.lst"
    lst.write_text("".join(f"{i}\t{i}\t{2 * i}\timg{i}.png\n" for i in range(3)))
    it = mx.image.ImageIter(3, (3, H, W), path_imglist=str(lst), path_root=str(tmp_path), label_width=2)
    (data, labels, _), = epoch(it)
    numpy.testing.assert_array_equal(labels, [[0, 0], [1, 2], [2, 4]])
    numpy.testing.assert_array_equal(data[1], chw(images[1]))
    (tmp_path / "img1.png").write_bytes(b"not a png")
    with pytest.raises(RuntimeError, match="broken image.*img1.png"):
        epoch(mx.image.ImageIter(3, (3, H, W), path_imglist=str(lst), path_root=str(tmp_path), label_width=2))
    with pytest.raises(ValueError, match="3 channels"):
        mx.image.ImageIter(3, (1, H, W), path_imglist=str(lst), path_root=str(tmp_path))
    with pytest.raises(HybridError, match=r"shape \(6, 5, 3\).*needs \(4, 4, 3\)"):
        epoch(mx.image.ImageIter(1, (3, 4, 4), path_imglist=str(lst), path_root=str(tmp_path), aug_list=[]))
    bad = tmp_path / "bad.lst"
    bad.write_text("zero\t1\timg0.png\n")
    with pytest.raises(FormatError, match="bad.lst:1"):
        mx.image.ImageIter(1, (3, H, W), path_imglist=str(bad))


def test_augmented_batches_use_create_augmenter(tmp_path, images):
    imglist = write_files(tmp_path, images)
    random.seed(0)
    it = mx.image.ImageIter(5, (3, 4, 4), imglist=imglist, path_root=str(tmp_path), rand_crop=True,
                            rand_mirror=True, mean=True, std=True)
    kinds = [type(a).__name__ for a in it.auglist]
    assert kinds == ["RandomCropAug", "HorizontalFlipAug", "CastAug", "ColorNormalizeAug"]
    (data, _, _), = epoch(it)
    assert data.shape == (5, 3, 4, 4)
    # each row is a 4x4 window of its image (maybe mirrored), normalized with ImageNet's mean/std
    mean, std = numpy.array([123.68, 116.28, 103.53]), numpy.array([58.395, 57.12, 57.375])
    for row, img in enumerate(images):
        pixels = data[row].transpose(1, 2, 0) * std + mean
        windows = [img[y:y + 4, x:x + 4] for y in range(H - 3) for x in range(W - 3)]
        windows += [w[:, ::-1] for w in windows]
        assert min(numpy.abs(pixels - w).max() for w in windows) < 1e-3


def test_create_augmenter_options_and_new_augmenters():
    augs = mx.image.CreateAugmenter((3, 8, 8), resize=10, rand_crop=True, rand_resize=True, pca_noise=0.1,
                                    rand_gray=0.2, brightness=0.1, hue=0.1)
    assert [type(a).__name__ for a in augs] == ["ResizeAug", "RandomSizedCropAug", "CastAug", "ColorJitterAug",
                                                 "HueJitterAug", "LightingAug", "RandomGrayAug"]
    with pytest.raises(ValueError, match="rand_crop"):
        mx.image.CreateAugmenter((3, 8, 8), rand_resize=True)
    img = numpy.random.default_rng(1).integers(0, 256, (12, 10, 3)).astype(numpy.uint8)
    gray = mx.image.RandomGrayAug(1.0)(img).asnumpy()
    expected = img.astype(numpy.float32) @ numpy.array([0.21, 0.72, 0.07], numpy.float32)
    numpy.testing.assert_allclose(gray, numpy.repeat(expected[:, :, None], 3, axis=2), rtol=1e-6)
    numpy.testing.assert_array_equal(mx.image.RandomGrayAug(0.0)(img).asnumpy(), img)
    eigval, eigvec = numpy.array([55.46, 4.794, 1.148]), numpy.random.default_rng(2).standard_normal((3, 3))
    numpy.random.seed(4)
    lit = mx.image.LightingAug(0.1, eigval, eigvec)(img).asnumpy()
    numpy.random.seed(4)
    alpha = numpy.random.normal(0, 0.1, size=(3,))
    numpy.testing.assert_allclose(lit, img + eigvec @ (alpha * eigval), rtol=1e-5, atol=1e-4)
    random.seed(1)
    out, (x0, y0, w, h) = mx.image.random_size_crop(img, (4, 3), 0.3, (0.5, 2.0))
    assert out.shape == (3, 4, 3) and 0 <= x0 <= 10 - w and 0 <= y0 <= 12 - h and w * h >= 0.3 * 120 * 0.9
    seq = mx.image.SequentialAug([mx.image.CastAug(), mx.image.ColorNormalizeAug(10.0, 2.0)])(img).asnumpy()
    numpy.testing.assert_allclose(seq, (img - 10.0) / 2.0)


def test_automatic_interpolation_codes():
    img = numpy.random.default_rng(3).integers(0, 256, (8, 8, 3)).astype(numpy.uint8)
    for size, chosen in (((16, 12), 2), ((4, 6), 3), ((16, 4), 1)):    # enlarge: bicubic, shrink: area
        numpy.testing.assert_array_equal(mx.image.imresize(img, *size, interp=9).asnumpy(),
                                         mx.image.imresize(img, *size, interp=chosen).asnumpy())
    random.seed(7)
    picked = mx.image.imresize(img, 5, 5, interp=10).asnumpy()
    random.seed(7)
    numpy.testing.assert_array_equal(picked, mx.image.imresize(img, 5, 5, interp=random.randint(0, 4)).asnumpy())


def test_ndarray_iter_batches_pads_discards_and_rolls_over():
    x = numpy.arange(10 * 2, dtype=numpy.float32).reshape(10, 2)
    y = numpy.arange(10)
    it = mx.io.NDArrayIter(x, y, batch_size=4)
    assert it.provide_data == [("data", (4, 2))] and it.provide_label == [("softmax_label", (4,))]
    batches = list(it)
    assert [b.pad for b in batches] == [0, 0, 2]
    numpy.testing.assert_array_equal(batches[2].label[0].asnumpy(), [8, 9, 0, 1])    # padded from the start
    numpy.testing.assert_array_equal(batches[1].data[0].asnumpy(), x[4:8])
    assert list(it) == []
    it.reset()
    assert len(list(it)) == 3
    assert len(list(mx.io.NDArrayIter(x, y, 4, last_batch_handle="discard"))) == 2
    rolling = mx.io.NDArrayIter(x, y, 4, last_batch_handle="roll_over")
    assert [b.label[0].asnumpy().tolist() for b in rolling] == [[0, 1, 2, 3], [4, 5, 6, 7]]
    rolling.reset()
    assert [b.label[0].asnumpy().tolist() for b in rolling][0] == [8, 9, 0, 1]
    named = mx.io.NDArrayIter({"pos": x + 1, "data": x}, batch_size=5)   # dict names, sorted
    first = next(iter(named))
    assert [n for n, _ in named.provide_data] == ["data", "pos"] and first.label is None
    numpy.testing.assert_array_equal(first.data[1].asnumpy(), x[:5] + 1)
    numpy.random.seed(0)
    shuffled = [b.label[0].asnumpy() for b in mx.io.NDArrayIter(x, y, 5, shuffle=True)]
    numpy.random.seed(0)
    numpy.testing.assert_array_equal(numpy.concatenate(shuffled), numpy.random.permutation(10))
    assert first.data[0].as_np_ndarray() is first.data[0]
    with pytest.raises(ValueError, match="different numbers of samples"):
        mx.io.NDArrayIter(x, y[:5])
