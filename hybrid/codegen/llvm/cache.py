"""The on-disk compile cache: object code keyed by a hash of the module IR, the target
CPU/features and the hybrid version.

HYBRID_CACHE_DIR overrides the folder (default $XDG_CACHE_HOME/hybrid or ~/.cache/hybrid).
Entries are written to a temporary file and renamed into place, so two processes compiling
the same graph never see a half-written entry. Each entry carries a format line and the
SHA-256 of its payload; a corrupt or truncated entry is reported, removed and rebuilt.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from typing import Optional

from ... import log
from ...version import __version__

MAGIC = b"hybrid-llvm-object 1\n"


def cache_dir() -> str:
    base = os.environ.get("HYBRID_CACHE_DIR")
    if base:
        return base
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(xdg, "hybrid")


def cache_key(ir: str, target: str, extra: str = "") -> str:
    h = hashlib.sha256()
    for part in (ir, target, __version__, extra):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()


def _path(key: str) -> str:
    return os.path.join(cache_dir(), f"{key}.o")


def load(key: str) -> Optional[bytes]:
    path = _path(key)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return None
    header_len = len(MAGIC) + 65
    payload = data[header_len:]
    digest = data[len(MAGIC):len(MAGIC) + 64]
    if not data.startswith(MAGIC) or hashlib.sha256(payload).hexdigest().encode() != digest:
        log.log("compile", f"llvm: cache entry {path} is corrupt (bad header or checksum); rebuilding it")
        try:
            os.remove(path)
        except OSError:
            pass
        return None
    log.log("compile", f"llvm: cache hit {key[:12]}")
    return payload


def store(key: str, payload: bytes) -> None:
    folder = cache_dir()
    try:
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".o")
        with os.fdopen(fd, "wb") as f:
            f.write(MAGIC + hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload)
        os.replace(tmp, _path(key))
    except OSError as e:   # a read-only or full cache must not break compilation
        log.log("compile", f"llvm: could not write cache entry in {folder}: {e}")
