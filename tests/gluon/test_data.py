"""Datasets, samplers and the DataLoader (Gluon semantics), transforms, the IDX reader on
files built here byte by byte, MNIST from a local folder, and the bundled digits."""
import gzip
import os
import signal
import struct
import subprocess
import sys
import tempfile
import threading

import numpy as onp
import pytest

import hybrid as hb
from hybrid.gluon import data
from hybrid.gluon.data import vision
from hybrid.gluon.data.vision import transforms as T


def batches_of(loader):
    return [[int(v) for v in b.asnumpy()] for b in loader]


def test_array_dataset_and_transforms():
    x, y = onp.arange(12).reshape(6, 2), onp.arange(6) * 10
    ds = data.ArrayDataset(x, y)
    assert len(ds) == 6 and ds[2][0].tolist() == [4, 5] and ds[2][1] == 20
    doubled = ds.transform_first(lambda a: a * 2)
    assert doubled[2][0].tolist() == [8, 10] and doubled[2][1] == 20
    summed = ds.transform(lambda a, b: a.sum() + b, lazy=False)
    assert isinstance(summed, data.SimpleDataset) and summed[1] == 2 + 3 + 10
    with pytest.raises(hb.ShapeError, match="same length, got lengths \\[6, 5\\]"):
        data.ArrayDataset(x, y[:5])


@pytest.mark.parametrize("last_batch,expected", [
    ("keep", [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]),
    ("discard", [[0, 1, 2, 3], [4, 5, 6, 7]]),
])
def test_last_batch_keep_discard(last_batch, expected):
    loader = data.DataLoader(data.ArrayDataset(onp.arange(10)), batch_size=4, last_batch=last_batch)
    assert len(loader) == len(expected)
    assert batches_of(loader) == expected
    assert batches_of(loader) == expected  # a second epoch is the same


def test_last_batch_rollover_carries_samples_into_next_epoch():
    loader = data.DataLoader(data.ArrayDataset(onp.arange(10)), batch_size=4, last_batch="rollover")
    assert len(loader) == 2
    assert batches_of(loader) == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert len(loader) == 3                      # 2 carried + 10 new = 12 samples
    assert batches_of(loader) == [[8, 9, 0, 1], [2, 3, 4, 5], [6, 7, 8, 9]]
    assert batches_of(loader) == [[0, 1, 2, 3], [4, 5, 6, 7]]


def test_shuffle_is_a_permutation_and_seedable():
    ds = data.ArrayDataset(onp.arange(50))
    a = data.DataLoader(ds, batch_size=7, shuffle=True, seed=11)
    b = data.DataLoader(ds, batch_size=7, shuffle=True, seed=11)
    epoch_a1, epoch_a2 = batches_of(a), batches_of(a)
    assert sorted(sum(epoch_a1, [])) == list(range(50))
    assert epoch_a1 != epoch_a2                   # each epoch is a new order...
    assert [epoch_a1, epoch_a2] == [batches_of(b), batches_of(b)]  # ...replayed by the same seed
    assert epoch_a1 != batches_of(data.DataLoader(ds, batch_size=7, shuffle=True, seed=12))


def test_batchify_tuples_and_dtypes():
    x = onp.random.default_rng(0).normal(size=(5, 3))           # float64
    y = onp.arange(5, dtype=onp.int64)
    xb, yb = next(iter(data.DataLoader(data.ArrayDataset(x, y), batch_size=5)))
    assert isinstance(xb, hb.NDArray) and xb.dtype == onp.float32 and xb.shape == (5, 3)
    assert yb.dtype == onp.int32 and yb.asnumpy().tolist() == [0, 1, 2, 3, 4]
    onp.testing.assert_allclose(xb.asnumpy(), x.astype(onp.float32))


def test_worker_threads_keep_order_and_run_concurrently():
    threads = set()

    def slow_identity(v):
        threads.add(threading.get_ident())
        return v

    ds = data.ArrayDataset(onp.arange(40)).transform(slow_identity)
    loader = data.DataLoader(ds, batch_size=3, num_workers=3, thread_pool=True)
    assert batches_of(loader) == batches_of(data.DataLoader(ds, batch_size=3))
    assert len(threads) > 1
    # leaving the loop early must not hang
    for i, _ in enumerate(loader):
        if i == 1:
            break


def test_custom_sampler_and_batch_sampler():
    ds = data.ArrayDataset(onp.arange(6))
    reverse = type("Reverse", (data.Sampler,), {"__iter__": lambda s: iter(range(5, -1, -1)),
                                                "__len__": lambda s: 6})()
    assert batches_of(data.DataLoader(ds, batch_size=4, sampler=reverse)) == [[5, 4, 3, 2], [1, 0]]
    bs = data.BatchSampler(data.SequentialSampler(6), 5, "discard")
    assert batches_of(data.DataLoader(ds, batch_sampler=bs)) == [[0, 1, 2, 3, 4]]


def test_dataloader_errors():
    ds = data.ArrayDataset(onp.arange(6))
    with pytest.raises(ValueError, match="batch_size must be given"):
        data.DataLoader(ds)
    with pytest.raises(ValueError, match="shuffle must be False when a sampler is given"):
        data.DataLoader(ds, batch_size=2, shuffle=True, sampler=data.SequentialSampler(6))
    with pytest.raises(ValueError, match="must not be given with a batch_sampler"):
        data.DataLoader(ds, batch_size=2, batch_sampler=data.BatchSampler(data.SequentialSampler(6), 2))
    with pytest.raises(ValueError, match="last_batch must be one of"):
        data.DataLoader(ds, batch_size=2, last_batch="drop")


def test_to_tensor_normalize_compose():
    img = onp.random.default_rng(1).integers(0, 256, size=(4, 5, 3)).astype(onp.uint8)
    t = T.Compose([T.ToTensor(), T.Normalize(mean=[0.5, 0.4, 0.3], std=[0.2, 0.25, 0.5])])
    out = t(img)
    assert out.shape == (3, 4, 5) and out.dtype == onp.float32
    want = (img.transpose(2, 0, 1) / 255.0 - onp.array([0.5, 0.4, 0.3])[:, None, None]) / \
        onp.array([0.2, 0.25, 0.5])[:, None, None]
    onp.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-6)
    assert T.ToTensor()(img[None]).shape == (1, 3, 4, 5)            # NHWC batches too
    with pytest.raises(hb.ShapeError, match="3 means and 3 stds for 1 channels"):
        T.Normalize([0.1, 0.2, 0.3], [1, 1, 1])(onp.zeros((1, 2, 2), onp.float32))


def test_resize():
    img = onp.arange(4, dtype=onp.uint8).reshape(2, 2, 1) * 60
    nearest = T.Resize(4, interpolation="nearest")(img)
    onp.testing.assert_array_equal(nearest[..., 0], onp.kron(img[..., 0], onp.ones((2, 2), onp.uint8)))
    bilinear = T.Resize((4, 2))(img.astype(onp.float32))          # (width, height), as Gluon
    assert bilinear.shape == (2, 4, 1)
    # half-pixel centres: output columns sit at source x = -0.25 (clamped), 0.25, 0.75, 1.25 (clamped)
    onp.testing.assert_allclose(bilinear[0, :, 0], [0, 15, 45, 60])


def test_random_crop_is_a_seeded_translation():
    img = onp.arange(1, 26, dtype=onp.uint8).reshape(5, 5, 1)
    crops = [T.RandomCrop(5, pad=2, seed=3)(img) for _ in range(2)]
    onp.testing.assert_array_equal(crops[0], crops[1])              # same seed, same crop
    crop = T.RandomCrop(5, pad=2, seed=4)
    padded = onp.pad(img, ((2, 2), (2, 2), (0, 0)))
    offsets = set()
    for _ in range(40):
        out = crop(img)
        assert out.shape == (5, 5, 1)
        # every crop is a window of the padded image
        hits = [(i, j) for i in range(5) for j in range(5) if onp.array_equal(padded[i:i + 5, j:j + 5], out)]
        assert hits
        offsets.add(hits[0])
    assert len(offsets) > 5
    with pytest.raises(hb.ShapeError, match="does not fit"):
        T.RandomCrop(8)(img)


def idx_bytes(array: onp.ndarray, code: int) -> bytes:
    """An IDX file written here from the format description (not with the reader's helpers)."""
    big_endian = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}[code]
    header = struct.pack(">BBBB", 0, 0, code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(big_endian).tobytes()


@pytest.mark.parametrize("code,dtype", [(0x08, onp.uint8), (0x09, onp.int8), (0x0B, onp.int16), (0x0C, onp.int32),
                                        (0x0D, onp.float32), (0x0E, onp.float64)])
@pytest.mark.parametrize("compress", [False, True])
def test_idx_roundtrip(tmp_path, code, dtype, compress):
    array = (onp.arange(24).reshape(2, 3, 4) * 3 - 20).astype(dtype) if dtype != onp.uint8 else \
        onp.arange(24, dtype=onp.uint8).reshape(2, 3, 4) * 10
    raw = idx_bytes(array, code)
    path = tmp_path / "file.idx"
    path.write_bytes(gzip.compress(raw) if compress else raw)
    got = vision.read_idx(str(path))
    assert got.dtype == onp.dtype(dtype) and got.dtype.isnative
    onp.testing.assert_array_equal(got, array)


def test_idx_errors(tmp_path):
    good = idx_bytes(onp.zeros((3, 2), onp.uint8), 0x08)
    with pytest.raises(hb.FormatError, match="truncated: shape \\(3, 2\\) of uint8 needs 6 data bytes, found 5"):
        vision.parse_idx(good[:-1], "cut")
    with pytest.raises(hb.FormatError, match="trailing bytes"):
        vision.parse_idx(good + b"\0", "long")
    with pytest.raises(hb.FormatError, match="not an IDX file"):
        vision.parse_idx(b"\x01\x02\x08\x02" + good[4:], "bad")
    with pytest.raises(hb.FormatError, match="truncated header"):
        vision.parse_idx(good[:6], "short")
    (tmp_path / "broken.gz").write_bytes(gzip.compress(good)[:-6])
    with pytest.raises(hb.FormatError, match="broken.gz"):
        vision.read_idx(str(tmp_path / "broken.gz"))
    with pytest.raises(hb.FormatError, match="does not exist"):
        vision.read_idx(str(tmp_path / "missing"))


def write_mnist(folder, prefix, images, labels, compress):
    for kind, array, code in (("images-idx3", images, 0x08), ("labels-idx1", labels, 0x08)):
        raw = idx_bytes(array, code)
        name = f"{prefix}-{kind}-ubyte" + (".gz" if compress else "")
        (folder / name).write_bytes(gzip.compress(raw) if compress else raw)


@pytest.mark.parametrize("cls", [vision.MNIST, vision.FashionMNIST])
def test_mnist_from_local_folder(tmp_path, cls):
    rng = onp.random.default_rng(5)
    train_x, train_y = rng.integers(0, 256, (7, 28, 28)).astype(onp.uint8), rng.integers(0, 10, 7).astype(onp.uint8)
    test_x, test_y = rng.integers(0, 256, (3, 28, 28)).astype(onp.uint8), rng.integers(0, 10, 3).astype(onp.uint8)
    write_mnist(tmp_path, "train", train_x, train_y, compress=True)
    write_mnist(tmp_path, "t10k", test_x, test_y, compress=False)
    train = cls(root=str(tmp_path), download=False)
    test = cls(root=str(tmp_path), train=False, download=False)
    assert len(train) == 7 and len(test) == 3
    image, label = train[4]
    assert image.shape == (28, 28, 1) and image.dtype == onp.uint8
    onp.testing.assert_array_equal(image[..., 0], train_x[4])
    assert label == train_y[4]
    with_transform = cls(root=str(tmp_path), train=False, download=False,
                         transform=lambda x, y: (T.ToTensor()(x), y + 100))
    assert with_transform[1][0].shape == (1, 28, 28) and with_transform[1][1] == test_y[1] + 100
    loader = data.DataLoader(train.transform_first(T.ToTensor()), batch_size=4)
    xb, yb = next(iter(loader))
    assert xb.shape == (4, 1, 28, 28) and yb.dtype == onp.int32


def test_mnist_errors(tmp_path):
    with pytest.raises(hb.FormatError, match="neither train-images-idx3-ubyte nor .*gz is in"):
        vision.MNIST(root=str(tmp_path), download=False)
    write_mnist(tmp_path, "train", onp.zeros((4, 28, 28), onp.uint8), onp.zeros(3, onp.uint8), compress=False)
    with pytest.raises(hb.FormatError, match="4 images but 3 labels"):
        vision.MNIST(root=str(tmp_path), download=False)


def test_digits_split_and_resize():
    pytest.importorskip("sklearn")
    train, test = vision.Digits(), vision.Digits(train=False)
    assert len(train) + len(test) == 1797 and 0.18 < len(test) / 1797 < 0.22
    assert train[0][0].shape == (8, 8, 1) and train[0][0].dtype == onp.uint8
    assert train.images.max() == 255
    from sklearn.datasets import load_digits
    counts = onp.bincount(load_digits().target)
    # stratified: each class split 80/20 on its own
    onp.testing.assert_array_equal(onp.bincount(test.labels), onp.rint(counts * 0.2).astype(int))
    onp.testing.assert_array_equal(onp.bincount(train.labels) + onp.bincount(test.labels), counts)
    big = vision.Digits(size=28)
    assert big[0][0].shape == (28, 28, 1)
    onp.testing.assert_array_equal(big.labels, train.labels)
    onp.testing.assert_array_equal(vision.Digits(size=28).images, big.images)      # deterministic
    assert not onp.array_equal(vision.Digits(seed=1).labels, train.labels)


def test_worker_processes_left_early_with_large_batches_end_without_hanging():
    """An iterator dropped after one batch while large batches are still in flight (MXNet's
    test_multi_worker_dataloader_release_pool). CPython's Pool.terminate used to hang writing into a
    results pipe full of unread batches; run in a child so a hang fails the test instead of the suite."""
    script = (
        "import numpy as onp\n"
        "from hybrid.gluon import data\n"
        "for i in range(10):\n"
        "    loader = data.DataLoader(onp.random.rand(999, 2000), batch_size=8, num_workers=8)\n"
        "    it = iter(loader)\n"
        "    first = next(it)\n"
        "    assert first.shape == (8, 2000)\n"
        "    del it, loader\n"
        "print('done')\n")
    with tempfile.TemporaryFile("w+") as out:
        # its own process group, so a hang's forked workers are killed with it (they hold no pipe of ours)
        proc = subprocess.Popen([sys.executable, "-c", script], stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            code = proc.wait(timeout=240)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            code = "a hang (killed after 240 s)"
        out.seek(0)
        printed = out.read()
    assert code == 0 and printed.strip().endswith("done"), f"{code}: {printed[-2000:]}"


def test_vision_samples_are_hybrid_arrays_like_mxnets_numpy_mode(tmp_path):
    # MXNet (npx.set_np()) serves MNIST samples as mx.np arrays: d2l's naive Bayes section takes
    # `X, Y = mnist_train[:]` and calls X.asnumpy(), Y.asnumpy(), int(label)
    rng = onp.random.default_rng(6)
    images, labels = rng.integers(0, 256, (5, 28, 28)).astype(onp.uint8), onp.array([3, 1, 4, 1, 5], onp.uint8)
    write_mnist(tmp_path, "train", images, labels, compress=True)
    train = vision.MNIST(root=str(tmp_path), download=False)
    image, label = train[2]
    assert isinstance(image, hb.NDArray) and image.shape == (28, 28, 1) and image.dtype == onp.uint8
    assert isinstance(label, hb.NDArray) and label.shape == () and label.dtype == onp.int32 and int(label) == 4
    X, Y = train[:]
    onp.testing.assert_array_equal(X.asnumpy()[..., 0], images)
    onp.testing.assert_array_equal(Y.asnumpy(), labels)
    image[...] = 0                       # a sample is a copy: the dataset keeps its pixels
    onp.testing.assert_array_equal(train[2][0].asnumpy()[..., 0], images[2])
