"""Reading files hybrid did not necessarily write: only regular files, with bounded sizes, and
cache entries sealed to the key they were stored under.

A path that names a FIFO, a device (/dev/zero) or a directory would block or never end a read;
`open_regular` refuses it before reading a byte (the open itself does not block: O_NONBLOCK).
`seal`/`unseal` wrap a cache payload with the key it belongs to and a SHA-256 over both, so an
entry copied under another key, truncated or edited is told apart from a good one.
"""
from __future__ import annotations

import hashlib
import os
import stat
from typing import BinaryIO, Optional

import ml_dtypes
import numpy

from .errors import FormatError

SEAL_MAGIC = b"hybrid-sealed 1\n"


class NotARegularFile(FormatError):
    """A path that hybrid reads names a FIFO, a device, a directory or (where refused) a symlink."""


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISDIR, "a directory"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISLNK, "a symlink")):
        if test(mode):
            return name
    return "not a regular file"


def open_regular(path: str, limit: int, what: str, follow_symlinks: bool = True) -> BinaryIO:
    """An open binary file at `path`, which must be a regular file of at most `limit` bytes.
    Raises FileNotFoundError when it is missing and NotARegularFile/FormatError otherwise."""
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    if not follow_symlinks:
        if stat.S_ISLNK(os.lstat(path).st_mode):
            raise NotARegularFile(f"{what} {path} is a symlink; hybrid reads it only as a regular file")
        flags |= getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotARegularFile(f"{what} {path} is {_kind(st.st_mode)}, not a regular file; "
                                  "hybrid reads only regular files")
        if st.st_size > limit:
            raise FormatError(f"{what} {path} is {st.st_size} bytes, more than the {limit} this file can be; "
                              "it is not a file hybrid wrote")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: str, limit: int, what: str, follow_symlinks: bool = True) -> bytes:
    """The whole content of a regular file of at most `limit` bytes (see open_regular)."""
    with open_regular(path, limit, what, follow_symlinks) as f:
        data = f.read(limit + 1)
    if len(data) > limit:   # grew while we read it
        raise FormatError(f"{what} {path} is more than {limit} bytes")
    return data


def _digest(key: str, payload: bytes) -> bytes:
    h = hashlib.sha256()
    h.update(key.encode())
    h.update(b"\0")
    h.update(payload)
    return h.hexdigest().encode()


def seal(key: str, payload: bytes) -> bytes:
    """payload framed with its key and a checksum over both (see unseal)."""
    return SEAL_MAGIC + key.encode() + b"\n" + _digest(key, payload) + b"\n" + payload


def unseal(key: str, data: bytes) -> tuple[Optional[bytes], str]:
    """(payload, "") when `data` was sealed under `key` and is intact, else (None, why not)."""
    if not data.startswith(SEAL_MAGIC):
        return None, "unknown format"
    head, sep, rest = data[len(SEAL_MAGIC):].partition(b"\n")
    digest, sep2, payload = rest.partition(b"\n")
    if not (sep and sep2):
        return None, "truncated header"
    if head != key.encode():
        return None, "stored under another key (copied from another entry)"
    if digest != _digest(key, payload):
        return None, "checksum mismatch (truncated or modified)"
    return payload, ""


# .npz stores no ml_dtypes dtype (a bfloat16 array would load as raw 2-byte void), so a bfloat16 array
# is written as its uint16 bits under its name plus this tag, and read back as bfloat16.
BFLOAT16_TAG = "::bfloat16"


def save_npz(file: BinaryIO, arrays: dict) -> None:
    """numpy.savez of `arrays`, bfloat16 included (no pickle; numpy.load(allow_pickle=False) reads it)."""
    bf16 = numpy.dtype(ml_dtypes.bfloat16)
    numpy.savez(file, **{(k + BFLOAT16_TAG if numpy.asarray(a).dtype == bf16 else k):
                         (numpy.asarray(a).view(numpy.uint16) if numpy.asarray(a).dtype == bf16 else a)
                         for k, a in arrays.items()})


def npz_contents(data) -> dict:
    """The arrays of an open numpy.load(.npz) archive, bfloat16 ones (save_npz's tag) restored."""
    out = {}
    for k in data.files:
        if k.endswith(BFLOAT16_TAG):
            out[k[:-len(BFLOAT16_TAG)]] = data[k].view(ml_dtypes.bfloat16)
        else:
            out[k] = data[k]
    return out
