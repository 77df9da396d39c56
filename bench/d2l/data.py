"""Synthetic stand-ins for the d2l book's downloads, in the exact on-disk formats its loaders read,
written where they look, so no download is attempted: Fashion-MNIST as the four gzip-compressed IDX
files `gluon.data.vision.FashionMNIST` opens, and the Time Machine text `d2l.download` fetches
(served by bench/d2l/book_env.py's offline `requests.get`). The images are class-dependent
patterns plus noise and the text is sentences of a small vocabulary, so training has something to
learn; the numbers they reach mean nothing beyond "the program ran"."""
from __future__ import annotations

import gzip
import os
import struct

import numpy

_IDX_UBYTE = 0x08
WORDS = ("the time traveller said that we should go into the future and see what men had become of "
         "machine very strange thing it was a long way back in time when he came to the white sphinx "
         "there were little people who lived among flowers and fear of the dark").split()


def write_idx(path: str, array: numpy.ndarray) -> None:
    """An IDX file of uint8 data: 0x0000, type 0x08, rank; big-endian sizes; the bytes (gzip)."""
    header = struct.pack(">HBB", 0, _IDX_UBYTE, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + numpy.ascontiguousarray(array, numpy.uint8).tobytes())


def fashion_mnist(root: str, train_images: int, val_images: int, seed: int = 0) -> None:
    """The four Fashion-MNIST files in `root`: 28x28 images whose bright band depends on the label."""
    rng = numpy.random.default_rng(seed)
    os.makedirs(root, exist_ok=True)
    for prefix, count in (("train", train_images), ("t10k", val_images)):
        labels = rng.permutation(numpy.arange(count) % 10).astype(numpy.uint8)   # balanced, as the real sets
        images = rng.integers(0, 60, size=(count, 28, 28)).astype(numpy.uint8)
        for i, label in enumerate(labels):
            images[i, 2 * label + 4:2 * label + 8, 4:24] = 200
        write_idx(os.path.join(root, f"{prefix}-images-idx3-ubyte.gz"), images)
        write_idx(os.path.join(root, f"{prefix}-labels-idx1-ubyte.gz"), labels)


def time_machine(path: str, chars: int, seed: int = 0) -> None:
    """A text of about `chars` characters of sentences over WORDS (the book lower-cases and keeps letters)."""
    rng = numpy.random.default_rng(seed)
    pieces, size = [], 0
    while size < chars:
        sentence = " ".join(WORDS[i] for i in rng.integers(0, len(WORDS), size=rng.integers(5, 15))).capitalize() + "."
        pieces.append(sentence)
        size += len(sentence) + 1
    with open(path, "w") as f:
        f.write("\n".join(pieces) + "\n")


def fra_eng(path: str, pairs: int, seed: int = 0) -> None:
    """fra-eng.zip as the book's MTFraEng extracts it: fra-eng/fra.txt, 'english<TAB>french' lines
    (the 'French' side is the English words reversed with a suffix: a learnable mapping)."""
    import zipfile
    rng = numpy.random.default_rng(seed)
    lines = []
    for _ in range(pairs):
        words = [WORDS[i] for i in rng.integers(0, len(WORDS), size=rng.integers(2, 6))]
        lines.append(" ".join(words).capitalize() + ".\t" + " ".join(w + "e" for w in reversed(words)).capitalize() + " !")
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("fra-eng/fra.txt", "\n".join(lines) + "\n")


def airfoil(path: str, rows: int, seed: int = 0) -> None:
    """airfoil_self_noise.dat: tab-separated rows of five features and a target (a noisy linear function)."""
    rng = numpy.random.default_rng(seed)
    features = rng.normal(size=(rows, 5))
    target = features @ numpy.array([0.5, -1.0, 0.25, 2.0, -0.5]) + 0.1 * rng.normal(size=rows)
    numpy.savetxt(path, numpy.column_stack([features, target]), delimiter="\t", fmt="%.6f")


def kaggle_house(train_path: str, test_path: str, rows: int, seed: int = 0) -> None:
    """kaggle_house_pred_train.csv / _test.csv: an Id, numeric columns (one with gaps), text categories
    with gaps, and SalePrice (train only) growing with the numeric ones, as the book's pandas code expects."""
    import csv
    rng = numpy.random.default_rng(seed)
    zones, streets = ("RL", "RM", "FV", "C (all)"), ("Pave", "Grvl")
    for path, first_id, labelled in ((train_path, 1, True), (test_path, rows + 1, False)):
        with open(path, "w", newline="") as f:
            out = csv.writer(f)
            out.writerow(["Id", "MSSubClass", "MSZoning", "LotFrontage", "LotArea", "Street", "YrSold",
                          "SaleType"] + (["SalePrice"] if labelled else []))
            for i in range(rows):
                area, frontage = int(rng.integers(2000, 20000)), rng.integers(20, 120)
                row = [first_id + i, int(rng.choice([20, 60, 120])), zones[rng.integers(len(zones))],
                       "" if rng.random() < 0.15 else int(frontage), area, streets[rng.integers(2)],
                       int(rng.integers(2006, 2011)), "" if rng.random() < 0.1 else "WD"]
                out.writerow(row + ([int(50000 + 12 * area + rng.normal(0, 20000))] if labelled else []))


def photo(path: str, width: int, height: int, seed: int = 0) -> None:
    """A JPEG (the book's img/catdog.jpg is 728x561): smooth colour gradients and two bright boxes."""
    from PIL import Image
    rng = numpy.random.default_rng(seed)
    y, x = numpy.mgrid[0:height, 0:width]
    pixels = numpy.stack([x * 255 // width, y * 255 // height, (x + y) * 127 // (width + height)], -1)
    pixels[height // 10:height * 9 // 10, width // 12:width // 2] += 60
    pixels[height // 5:height * 4 // 5, width * 11 // 20:width * 9 // 10] += 90
    pixels = numpy.clip(pixels + rng.integers(0, 20, pixels.shape), 0, 255).astype(numpy.uint8)
    Image.fromarray(pixels).save(path, quality=90)


def ptb(path: str, lines: int, seed: int = 0) -> None:
    """ptb.zip as the book's read_ptb extracts it: ptb/ptb.train.txt, one sentence of WORDS per line."""
    import zipfile
    rng = numpy.random.default_rng(seed)
    text = "\n".join(" ".join(WORDS[i] for i in rng.integers(0, len(WORDS), size=rng.integers(4, 20)))
                     for _ in range(lines))
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("ptb/ptb.train.txt", text + "\n")


def movielens(path: str, users: int, items: int, ratings: int, seed: int = 0) -> None:
    """ml-100k.zip: ml-100k/u.data, tab-separated 1-based user id, item id, rating 1-5, timestamp."""
    import zipfile
    rng = numpy.random.default_rng(seed)
    rows = [f"{u}\t{i}\t{r}\t{t}" for u, i, r, t in zip(
        rng.integers(1, users + 1, ratings), rng.integers(1, items + 1, ratings), rng.integers(1, 6, ratings),
        rng.integers(874724710, 893286638, ratings))]
    rows[:users] = [f"{u}\t{u % items + 1}\t3\t874724710" for u in range(1, users + 1)]   # every user and
    rows[users:users + items] = [f"{i % users + 1}\t{i}\t4\t874724711" for i in range(1, items + 1)]  # item occurs
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("ml-100k/u.data", "\n".join(rows) + "\n")
