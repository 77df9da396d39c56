"""MXNet's RecordIO image files (.rec with an .idx index), read without MXNet.

A record is: magic 0xced7230a (uint32 LE), then uint32 whose low 29 bits are the payload length
(the top 3 bits a continuation flag, 0 for whole records), the payload, and zero padding to a
multiple of 4 bytes. An image payload starts with MXNet's IRHeader: flag (uint32), label
(float32), id and id2 (uint64); flag > 0 means `flag` float32 labels follow (and `label` is unused).
The .idx file has one "key<TAB>offset" line per record.
"""
from __future__ import annotations

import struct

import numpy

from ....errors import FormatError

MAGIC = 0xCED7230A
_HEADER = struct.Struct("<IfQQ")


def read_index(path: str) -> list[int]:
    """The record offsets of an .idx file, in its order."""
    return list(read_keyed_index(path).values())


def read_keyed_index(path: str) -> dict[int, int]:
    """{record key: offset} of an .idx file ("key<TAB>offset" lines), in file order."""
    index: dict[int, int] = {}
    with open(path) as f:
        for number, line in enumerate(f, 1):
            parts = line.split()
            if len(parts) != 2 or not all(p.lstrip("-").isdigit() for p in parts):
                raise FormatError(f"{path}:{number}: expected 'key<TAB>offset', got {line!r}")
            index[int(parts[0])] = int(parts[1])
    return index


def scan_offsets(path: str) -> list[int]:
    """The offsets of every record of a .rec file without an index, found by walking the headers."""
    offsets, offset = [], 0
    with open(path, "rb") as f:
        while True:
            f.seek(offset)
            head = f.read(8)
            if not head:
                return offsets
            if len(head) != 8:
                raise FormatError(f"{path}: truncated record header at offset {offset}")
            magic, lrecord = struct.unpack("<II", head)
            if magic != MAGIC:
                raise FormatError(f"{path}: bad magic {magic:#x} at offset {offset} (not a RecordIO file)")
            length = lrecord & ((1 << 29) - 1)
            offsets.append(offset)
            offset += 8 + length + (-length % 4)


def read_record(f, offset: int, path: str) -> bytes:
    f.seek(offset)
    head = f.read(8)
    if len(head) != 8:
        raise FormatError(f"{path}: truncated record header at offset {offset}")
    magic, lrecord = struct.unpack("<II", head)
    if magic != MAGIC:
        raise FormatError(f"{path}: bad magic {magic:#x} at offset {offset} (not a RecordIO file, or a wrong .idx)")
    if lrecord >> 29:
        raise FormatError(f"{path}: record at offset {offset} is split across chunks, which is not supported")
    length = lrecord & ((1 << 29) - 1)
    payload = f.read(length)
    if len(payload) != length:
        raise FormatError(f"{path}: truncated record at offset {offset}")
    return payload


def unpack(payload: bytes) -> tuple[numpy.ndarray, bytes]:
    """(label array, image bytes) of an image record."""
    flag, label, _, _ = _HEADER.unpack_from(payload)
    start = _HEADER.size
    if flag > 0:
        labels = numpy.frombuffer(payload, numpy.float32, flag, start)
        return labels.copy(), payload[start + 4 * flag:]
    return numpy.array([label], numpy.float32), payload[start:]
