"""The on-disk compile cache: object code keyed by a hash of the module IR, the target
CPU/features and the hybrid version.

HYBRID_CACHE_DIR overrides the folder (default $XDG_CACHE_HOME/hybrid or ~/.cache/hybrid).
Entries are written to a temporary file and renamed into place, so two processes compiling
the same graph never see a half-written entry. Each entry is sealed (hybrid.fileio.seal) with
its own key, which hashes the IR, target and versions, and a SHA-256 over key and object: an
entry that is corrupt, truncated, copied from another key, not a regular file or a symlink is
logged, removed and rebuilt, never loaded.

HYBRID_CACHE_MAX_MB caps the folder's entries (default 1024 MiB; 0 = no cap). After each write
the least recently used entries are removed until the rest fit; a hit bumps its entry's mtime,
so mtime orders entries by last use (atime is unreliable under noatime/relatime). Only writes
scan the folder, so a hit costs one utime. Eviction is safe beside other processes: an entry
removed while another process reads it stays readable to that reader (POSIX), and an entry
that vanishes before it is opened is a miss. HYBRID_LOG=compile names each evicted entry.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from typing import Optional

from ...config import config
from ... import fileio, log
from ...errors import FormatError
from ...version import __version__

MAX_ENTRY_BYTES = 1 << 30   # no object hybrid compiles comes near this
OBJECT_MAGICS = (b"\x7fELF", b"\xcf\xfa\xed\xfe")   # ELF, 64-bit Mach-O


def cache_key(ir: str, target: str, extra: str = "") -> str:
    h = hashlib.sha256()
    for part in (ir, target, __version__, extra):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()


def max_bytes() -> int:
    """The cap from HYBRID_CACHE_MAX_MB in bytes; 0 means unlimited."""
    return int(config.get("cache_max_mb") * (1 << 20))


def _path(key: str) -> str:
    return os.path.join(config.get("cache_dir"), f"{key}.o")


def _mark_used(path: str) -> None:
    try:
        os.utime(path)
    except OSError:   # evicted by another process since we read it, or a read-only cache
        pass


def load(key: str) -> Optional[bytes]:
    """The object stored under `key`, or None (a miss). An entry that is not a regular file (a
    symlink, a FIFO, /dev/zero), is too large, or is not sealed under this very key with a
    matching checksum is logged, removed and rebuilt: never loaded."""
    path = _path(key)
    try:
        data = fileio.read_regular(path, MAX_ENTRY_BYTES, "llvm cache entry", follow_symlinks=False)
    except FileNotFoundError:
        return None
    except (OSError, FormatError) as e:
        return _reject(path, str(e))
    payload, why = fileio.unseal(key, data)
    if payload is None or not payload.startswith(OBJECT_MAGICS):
        return _reject(path, f"cache entry {path} is corrupt ({why or 'not an object file'})")
    _mark_used(path)
    log.log("compile", f"llvm: cache hit {key[:12]}")
    return payload


def contains(key: str) -> bool:
    """Whether an entry is stored under `key` (not whether it is sound: load() checks that)."""
    return os.path.isfile(_path(key))


def _reject(path: str, why: str) -> None:
    log.log("compile", f"llvm: {why}; rebuilding it")
    try:
        os.remove(path)   # removes a symlink itself, never its target
    except OSError:
        pass
    return None


def store(key: str, payload: bytes) -> None:
    folder = config.get("cache_dir")
    try:
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".o")
        with os.fdopen(fd, "wb") as f:
            f.write(fileio.seal(key, payload))
        os.replace(tmp, _path(key))
    except OSError as e:   # a read-only or full cache must not break compilation
        log.log("compile", f"llvm: could not write cache entry in {folder}: {e}")
        return
    evict(folder, max_bytes())


def _entries(folder: str) -> list[tuple[float, int, str]]:
    """(mtime, size, path) of every complete entry; in-progress .tmp- files are not entries."""
    found = []
    with os.scandir(folder) as it:
        for entry in it:
            if not entry.name.endswith(".o") or entry.name.startswith(".tmp-"):
                continue
            try:
                st = entry.stat()
            except OSError:   # removed by another process since the listing
                continue
            found.append((st.st_mtime, st.st_size, entry.path))
    return found


def evict(folder: str, limit: int) -> None:
    """Remove the least recently used entries of `folder` until they total at most `limit`
    bytes (0: no limit)."""
    if limit <= 0:
        return
    try:
        entries = sorted(_entries(folder))
    except OSError as e:
        log.log("compile", f"llvm: could not list the cache {folder} to enforce its size cap: {e}")
        return
    total = sum(size for _, size, _ in entries)
    for _, size, path in entries:
        if total <= limit:
            break
        total -= size
        try:
            os.remove(path)
        except FileNotFoundError:   # another process evicted it first
            continue
        except OSError as e:
            log.log("compile", f"llvm: could not evict cache entry {path}: {e}")
            continue
        log.log("compile", f"llvm: cache over {limit / (1 << 20):g} MiB: evicted {os.path.basename(path)} ({size} bytes)")
