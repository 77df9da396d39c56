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
        labels = rng.integers(0, 10, size=count).astype(numpy.uint8)
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
