"""nvcc harness: CUDA C source -> cubin, cached on disk.

Cache key: sha256 of (source, arch, nvcc version, options). Entries are written to a temporary
name and renamed, so two processes compiling the same source never see half a file. Entries are
sealed with their key (hybrid.fileio): a copied, modified or non-regular entry is rebuilt. The
cache lives in $HYBRID_CACHE_DIR/cuda (default ~/.cache/hybrid/cuda).
"""
from __future__ import annotations

import functools
import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from typing import Optional

from ...config import config
from ... import fileio, log
from ...errors import FormatError, HybridError

NVCC_FLAGS = ("-O3", "-std=c++17", "-lineinfo")
MAX_ENTRY_BYTES = 1 << 30


class CompileError(HybridError):
    """nvcc rejected generated CUDA source (a bug in the renderer: the message carries nvcc's output)."""


def find_nvcc() -> Optional[str]:
    """The nvcc on PATH, or under $CUDA_HOME / /usr/local/cuda; None when there is none."""
    found = shutil.which("nvcc")
    if found:
        return found
    for root in (os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH"), "/usr/local/cuda"):
        if root and os.path.exists(os.path.join(root, "bin", "nvcc")):
            return os.path.join(root, "bin", "nvcc")
    return None


@functools.lru_cache(maxsize=None)
def nvcc_version(nvcc: str) -> str:
    out = subprocess.run([nvcc, "--version"], capture_output=True, text=True, check=True).stdout
    return out.strip().splitlines()[-1]


def cache_dir() -> str:
    path = os.path.join(config.get("cache_dir"), "cuda")
    os.makedirs(path, exist_ok=True)
    return path


def cache_key(source: str, arch: str, toolkit: str, options: tuple[str, ...] = NVCC_FLAGS) -> str:
    h = hashlib.sha256()
    for part in (source, arch, toolkit, " ".join(options)):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()[:32]


def _load(path: str, key: str) -> Optional[bytes]:
    """A cached cubin sealed under `key`, or None; an entry that is not a regular file, is a
    symlink, or does not unseal is logged and removed (see hybrid.fileio)."""
    try:
        payload, why = fileio.unseal(key, fileio.read_regular(path, MAX_ENTRY_BYTES, "cuda cache entry",
                                                              follow_symlinks=False))
    except FileNotFoundError:
        return None
    except (OSError, FormatError) as e:
        payload, why = None, str(e)
    if payload is None:
        log.log("compile", f"cuda: cache entry {path} refused ({why}); rebuilding it")
        try:
            os.remove(path)
        except OSError:
            pass
    return payload


def compile_cubin(source: str, arch: str, nvcc: Optional[str] = None, use_cache: bool = True,
                  output: str = "cubin") -> bytes:
    """Compile `source` for `arch` ("sm_90") with nvcc; returns the cubin (or PTX) bytes.

    Raises CompileError with nvcc's messages and the numbered source lines they point at."""
    nvcc = nvcc or find_nvcc()
    if nvcc is None:
        raise HybridError("nvcc was not found on PATH or under $CUDA_HOME; install the CUDA toolkit")
    key = cache_key(source, arch + ":" + output, nvcc_version(nvcc))
    path = os.path.join(cache_dir(), f"{key}.{output}")
    if use_cache:
        data = _load(path, key)
        if data is not None:
            log.log("compile", f"cuda cache hit {key} ({arch})")
            return data
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="hybrid-nvcc-") as tmp:
        src = os.path.join(tmp, "kernels.cu")
        out = os.path.join(tmp, f"kernels.{output}")
        with open(src, "w") as f:
            f.write(source)
        cmd = [nvcc, f"--{output}", f"-arch={arch}", *NVCC_FLAGS, "-o", out, src]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise CompileError(f"nvcc failed for {arch}:\n{proc.stderr.strip()}\n{_context(source, proc.stderr)}")
        with open(out, "rb") as f:
            data = f.read()
    if use_cache:
        fd, tmp_path = tempfile.mkstemp(dir=cache_dir(), suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            f.write(fileio.seal(key, data))
        os.replace(tmp_path, path)
    log.log("compile", f"nvcc {arch} {len(source)} chars in {time.perf_counter() - start:.2f}s -> {key}")
    return data


def _context(source: str, stderr: str, radius: int = 2) -> str:
    """The source lines nvcc's first error points at, numbered, so a renderer bug is easy to see."""
    lines = source.splitlines()
    for message in stderr.splitlines():
        parts = message.split("(", 1)
        if len(parts) == 2 and parts[1].split(")", 1)[0].isdigit():
            n = int(parts[1].split(")", 1)[0])
            lo, hi = max(0, n - 1 - radius), min(len(lines), n + radius)
            return "\n".join(f"{i + 1:5d}| {lines[i]}" for i in range(lo, hi))
    return ""
