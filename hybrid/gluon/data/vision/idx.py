"""Reading IDX files, the format of MNIST and Fashion-MNIST (gzip-compressed or raw).

Layout: two zero bytes, a type code, the number of dimensions n; n big-endian uint32 sizes;
then the data, big-endian, row-major. Nothing in the file is executed; every inconsistency is
a FormatError naming the file.
"""
from __future__ import annotations

import gzip
import os
import struct

import numpy

from ....errors import FormatError

# type code -> big-endian NumPy dtype
IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_GZIP_MAGIC = b"\x1f\x8b"


def parse_idx(raw: bytes, name: str = "<bytes>") -> numpy.ndarray:
    """The array held by IDX bytes (native byte order)."""
    if len(raw) < 4:
        raise FormatError(f"{name}: {len(raw)} bytes is too short for an IDX header")
    zero, code, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or code not in IDX_TYPES:
        raise FormatError(f"{name}: not an IDX file (magic bytes {raw[:4].hex()}; expected 0000 followed by a "
                          f"type code in {sorted(hex(c) for c in IDX_TYPES)} and the rank)")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise FormatError(f"{name}: truncated header ({len(raw)} bytes, {ndim} dimensions need {header})")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = numpy.dtype(IDX_TYPES[code])
    expected = int(numpy.prod(shape, dtype=numpy.int64)) * dtype.itemsize
    found = len(raw) - header
    if found != expected:
        problem = "truncated" if found < expected else "has trailing bytes"
        raise FormatError(f"{name}: {problem}: shape {shape} of {dtype.name} needs {expected} data bytes, "
                          f"found {found}")
    data = numpy.frombuffer(raw, dtype, offset=header).reshape(shape)
    return data.astype(dtype.newbyteorder("="))


def read_idx(path: str) -> numpy.ndarray:
    """Read an IDX file; gzip compression is detected from the content, not the name."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise FormatError(f"IDX file {path} does not exist") from None
    if raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as e:
            raise FormatError(f"{path}: corrupt gzip data ({e})") from None
    return parse_idx(raw, os.path.basename(path))
