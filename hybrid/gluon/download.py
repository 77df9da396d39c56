"""`gluon.utils.download` and `check_sha1` (MXNet's names): fetch a URL into a file with `requests`,
retrying, checking a SHA-1 when given, and writing through a uniquely named temporary file that is
renamed into place, so processes downloading the same file at once leave one complete copy.
Nothing in hybrid downloads by itself (model-zoo weights and datasets are read from local files)."""
from __future__ import annotations

import hashlib
import os
import uuid
import warnings
from typing import Optional

from ..errors import HybridError


def check_sha1(filename: str, sha1_hash: str) -> bool:
    """Whether the file's SHA-1 digest is `sha1_hash` (hex)."""
    digest = hashlib.sha1()
    with open(filename, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest() == sha1_hash


def _target(url: str, path: Optional[str]) -> str:
    name = url.split("/")[-1]
    if path is None or os.path.isdir(os.path.expanduser(path)):
        if not name:
            raise HybridError(f"download: {url!r} ends in '/', so it names no file; pass path='file name'")
        return name if path is None else os.path.join(os.path.expanduser(path), name)
    return os.path.expanduser(path)


def download(url: str, path: Optional[str] = None, overwrite: bool = False, sha1_hash: Optional[str] = None,
             retries: int = 5, verify_ssl: bool = True) -> str:
    """Download `url` to `path` (a file, or a folder to put the URL's file name in; default: that name
    in the current folder) unless the file is there already (and matches `sha1_hash`, when given) and
    not `overwrite`. Retries `retries` times on any error, then raises the last one. Returns the file name."""
    try:
        import requests
    except ImportError:
        raise HybridError("gluon.utils.download needs the requests package: pip install requests "
                          "(or hybrid[download])") from None
    if retries < 0:
        raise HybridError(f"download: retries must be >= 0, got {retries}")
    fname = _target(url, path)
    if not verify_ssl:
        warnings.warn("Unverified HTTPS request is being made (verify_ssl=False). Adding certificate verification "
                      "is strongly advised.")
    if not overwrite and os.path.exists(fname) and (not sha1_hash or check_sha1(fname, sha1_hash)):
        return fname
    os.makedirs(os.path.dirname(os.path.abspath(fname)), exist_ok=True)
    attempts = retries + 1
    while True:
        attempts -= 1
        partial = f"{fname}.{uuid.uuid4()}"
        try:
            response = requests.get(url, stream=True, verify=verify_ssl)
            if response.status_code != 200:
                raise HybridError(f"download: {url} answered HTTP {response.status_code}")
            with open(partial, "wb") as f:
                for chunk in response.iter_content(chunk_size=1 << 16):
                    f.write(chunk)
            if sha1_hash and not check_sha1(partial, sha1_hash):
                raise HybridError(f"download: {url} does not match SHA-1 {sha1_hash}; the file may have changed "
                                  "upstream or the transfer was damaged")
            os.replace(partial, fname)   # atomic: a concurrent download of the same file leaves one copy
            return fname
        except Exception as e:   # a failed attempt of any kind is retried
            if os.path.exists(partial):
                os.remove(partial)
            if attempts <= 0:
                raise
            print(f"download of {url} failed ({e!r}), retrying; {attempts} attempt(s) left")
