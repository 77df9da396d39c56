"""gluon.data additions for MXNet parity: batchify, samplers, Dataset.filter/take/sample, DataLoader
worker processes and threads, vision transforms, and the CIFAR / image-folder / RecordIO readers on
small files written here."""
import io
import os
import struct

import numpy as onp
import pytest

from hybrid.gluon import data
from hybrid.gluon.data import batchify, vision
from hybrid.gluon.data.vision import transforms as T

R = onp.random.default_rng(8)


def test_batchify():
    samples = [onp.arange(n, dtype=onp.int64) + 1 for n in (2, 4, 3)]
    batch, lengths = batchify.Pad(pad_val=-1, ret_length=True)(samples)
    onp.testing.assert_array_equal(batch.asnumpy(), [[1, 2, -1, -1], [1, 2, 3, 4], [1, 2, 3, -1]])
    assert batch.dtype == onp.int32 and lengths.asnumpy().tolist() == [2, 4, 3]
    assert batchify.Pad(axis=0, round_to=8)(samples).shape == (3, 8)
    stacked = batchify.Stack()([onp.ones((2, 2)), onp.zeros((2, 2))])
    assert stacked.shape == (2, 2, 2) and stacked.dtype == onp.float32
    with pytest.raises(Exception, match="different shapes"):
        batchify.Stack()(samples)
    appended = batchify.Append()(samples)
    assert [a.shape for a in appended] == [(1, 2), (1, 4), (1, 3)]
    group = batchify.Group(batchify.Pad(), batchify.Stack())
    x, y = group([(samples[0], 0), (samples[1], 1)])
    assert x.shape == (2, 4) and y.asnumpy().tolist() == [0, 1]



def test_batchify_pad_every_axis():
    """MXNet 2's Pad(val=): every axis padded to the largest sample (round_to on each), then stacked;
    the handle is the function itself."""
    samples = [R.integers(0, 9, size=shape) for shape in ((2, 4), (1, 3), (3, 2))]
    want = onp.full((3, 3, 4), -1)
    for i, s in enumerate(samples):
        want[i, :s.shape[0], :s.shape[1]] = s
    pad = batchify.Pad(val=-1)
    onp.testing.assert_array_equal(pad(samples).asnumpy(), want)
    onp.testing.assert_array_equal(pad.__mx_handle__()(samples).asnumpy(), want)
    assert batchify.Pad(round_to=4)(samples).shape == (3, 4, 4)
    assert batchify.Pad(val=-1, ret_length=True)(samples)[1].asnumpy().tolist() == [2, 1, 3]
    with pytest.raises(Exception, match="differ off the padded axis"):
        batchify.Pad(axis=1)(samples)
    with pytest.raises(ValueError, match="disagree"):
        batchify.Pad(val=1, pad_val=2)
    group = batchify.Group(batchify.Stack(), batchify.Pad(val=-1)).__mx_handle__()
    x, y = group([(onp.ones(2), s) for s in samples])
    assert x.shape == (3, 2) and onp.array_equal(y.asnumpy(), want)


def test_samplers_and_dataset_views():
    assert list(data.IntervalSampler(7, 3)) == [0, 3, 6, 1, 4, 2, 5]
    assert list(data.IntervalSampler(7, 3, rollover=False)) == [0, 3, 6] and len(data.IntervalSampler(7, 3)) == 7
    ds = data.SimpleDataset(list(range(10)))
    assert list(data.FilterSampler(lambda v: v % 3 == 0, ds)) == [0, 3, 6, 9]
    evens = ds.filter(lambda v: v % 2 == 0)
    assert [evens[i] for i in range(len(evens))] == [0, 2, 4, 6, 8]
    assert len(ds.take(3)) == 3 and ds.take(3)[2] == 2 and ds.take(None) is ds
    picked = ds.sample(data.IntervalSampler(10, 5))
    assert [picked[i] for i in range(len(picked))] == [0, 5, 1, 6, 2, 7, 3, 8, 4, 9]
    first = ds.transform_first(lambda v: v * 10)
    assert first[3] == 30


def _square(v):
    return v * v


@pytest.mark.parametrize("thread_pool", [False, True])
def test_dataloader_workers(thread_pool):
    ds = data.ArrayDataset(onp.arange(20.0).reshape(20, 1), onp.arange(20)).transform_first(_square)
    loader = data.DataLoader(ds, batch_size=6, num_workers=2, thread_pool=thread_pool, prefetch=3,
                             batchify_fn=batchify.Group(batchify.Stack(), batchify.Stack()))
    batches = list(loader)
    assert [b[0].shape[0] for b in batches] == [6, 6, 6, 2]
    onp.testing.assert_array_equal(onp.concatenate([b[0].asnumpy() for b in batches]).ravel(),
                                   onp.arange(20.0) ** 2)
    onp.testing.assert_array_equal(onp.concatenate([b[1].asnumpy() for b in batches]), onp.arange(20))


def test_dataloader_processes_are_real_processes():
    ds = data.SimpleDataset(list(range(4))).transform(lambda v: onp.array([os.getpid()]))
    pids = {int(b.asnumpy()[0, 0]) for b in data.DataLoader(ds, batch_size=1, num_workers=2)}
    assert os.getpid() not in pids


def test_transforms():
    img = R.integers(0, 256, size=(10, 12, 3), dtype=onp.uint8)
    onp.testing.assert_array_equal(T.CenterCrop((6, 4))(img), img[3:7, 3:9])
    assert T.CenterCrop(16)(img).shape == (16, 16, 3)
    out = T.RandomResizedCrop(8, seed=0)(img)
    assert out.shape == (8, 8, 3) and out.dtype == onp.uint8
    onp.testing.assert_array_equal(T.RandomFlipLeftRight(p=1.0)(img), img[:, ::-1])
    onp.testing.assert_array_equal(T.RandomFlipTopBottom(p=1.0)(img), img[::-1])
    onp.testing.assert_array_equal(T.RandomFlipLeftRight(p=0.0)(img), img)
    f = img.astype(onp.float32)
    assert onp.allclose(T.RandomBrightness(0.0)(f), f) and onp.allclose(T.RandomHue(0.0)(f), f, atol=1e-3)
    gray = onp.full((4, 4, 3), 100.0, onp.float32)  # contrast and saturation keep a gray image gray
    assert onp.allclose(T.RandomContrast(0.5, seed=1)(gray), gray, atol=1e-3)
    assert onp.allclose(T.RandomSaturation(0.5, seed=1)(gray), gray, atol=1e-3)
    jittered = T.RandomColorJitter(0.3, 0.3, 0.3, 0.1, seed=3)(img)
    assert jittered.shape == img.shape and jittered.dtype == onp.uint8
    pipeline = T.Compose([T.RandomResizedCrop(8, seed=1), T.RandomFlipLeftRight(), T.ToTensor(),
                          T.Normalize(0.5, 0.25), T.Cast("float16")])
    assert pipeline(img).shape == (3, 8, 8) and pipeline(img).dtype == onp.float16


def test_cifar_readers(tmp_path):
    images = R.integers(0, 256, size=(5, 32, 32, 3), dtype=onp.uint8)
    planes = images.transpose(0, 3, 1, 2).reshape(5, -1)
    labels = onp.array([3, 1, 4, 1, 5], onp.uint8)
    c10 = tmp_path / "c10"
    c10.mkdir()
    for i in range(1, 6):
        onp.concatenate([labels[:, None], planes], axis=1).tofile(c10 / f"data_batch_{i}.bin")
    onp.concatenate([labels[:2, None], planes[:2]], axis=1).tofile(c10 / "test_batch.bin")
    train = vision.CIFAR10(str(c10))
    assert len(train) == 25
    image, label = train[6]
    onp.testing.assert_array_equal(image, images[1])
    assert label == 1 and len(vision.CIFAR10(str(c10), train=False)) == 2
    c100 = tmp_path / "c100"
    c100.mkdir()
    fine = onp.array([70, 10, 20, 30, 99], onp.uint8)
    for name in ("train.bin", "test.bin"):
        onp.concatenate([labels[:, None], fine[:, None], planes], axis=1).tofile(c100 / name)
    assert vision.CIFAR100(str(c100), fine_label=True)[4][1] == 99 and vision.CIFAR100(str(c100))[4][1] == 5
    with pytest.raises(Exception, match="missing"):
        vision.CIFAR10(str(tmp_path / "nowhere"))


def _png(img):
    PIL = pytest.importorskip("PIL.Image")
    buf = io.BytesIO()
    PIL.fromarray(img).save(buf, format="PNG")
    return buf.getvalue()


def test_image_folder_and_record_datasets(tmp_path):
    imgs = [R.integers(0, 256, size=(4, 5, 3), dtype=onp.uint8) for _ in range(3)]
    for cls, i in (("cat", 0), ("dog", 1), ("dog", 2)):
        (tmp_path / "folder" / cls).mkdir(parents=True, exist_ok=True)
        (tmp_path / "folder" / cls / f"{i}.png").write_bytes(_png(imgs[i]))
    (tmp_path / "folder" / "dog" / "notes.txt").write_text("not an image")
    folder = vision.ImageFolderDataset(str(tmp_path / "folder"))
    assert folder.synsets == ["cat", "dog"] and len(folder) == 3
    image, label = folder[2]
    onp.testing.assert_array_equal(image, imgs[2])
    assert label == 1
    # a RecordIO file written byte by byte from the format's definition
    rec, offsets = bytearray(), []
    for i, img in enumerate(imgs):
        payload = struct.pack("<IfQQ", 0, float(i + 7), i, 0) + _png(img)
        offsets.append(len(rec))
        rec += struct.pack("<II", 0xCED7230A, len(payload)) + payload + b"\0" * (-len(payload) % 4)
    (tmp_path / "data.rec").write_bytes(bytes(rec))
    (tmp_path / "data.idx").write_text("".join(f"{i}\t{o}\n" for i, o in enumerate(offsets)))
    records = vision.ImageRecordDataset(str(tmp_path / "data.rec"))
    assert len(records) == 3
    image, label = records[1]
    onp.testing.assert_array_equal(image, imgs[1])
    assert label == 8.0
    gray, _ = vision.ImageRecordDataset(str(tmp_path / "data.rec"), flag=0)[0]
    assert gray.shape == (4, 5, 1)
