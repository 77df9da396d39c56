"""What each extracted d2l program imports first (bench/d2l/run.py writes `from bench.d2l.book_env
import tab` at its top, before the book's own lines): `import mxnet` gives hybrid
(bench/mxnet_alias.py), `requests.get` serves the synthetic files bench/d2l/data.py wrote instead
of reaching the network (the book's d2l.download fetches through it), and `tab` answers the book's
`tab.selected(...)` questions as the MXNet tab of d2lbook would."""
from __future__ import annotations

import os

import matplotlib

from bench.mxnet_alias import install

matplotlib.use("Agg")
install()

OFFLINE_DIR = os.environ.get("D2L_OFFLINE_FILES", "")


class _Response:
    def __init__(self, content: bytes):
        self.content, self.status_code = content, 200


def _offline_get(url: str, *args, **kwargs) -> _Response:
    """The local stand-in for a download: the file of the same name in D2L_OFFLINE_FILES."""
    path = os.path.join(OFFLINE_DIR, url.split("/")[-1])
    if not OFFLINE_DIR or not os.path.exists(path):
        raise ConnectionError(f"offline measurement: no local stand-in for {url} in {OFFLINE_DIR or '(unset)'}")
    with open(path, "rb") as f:
        return _Response(f.read())


try:
    import requests
    requests.get = _offline_get
except ImportError:     # the book's library needs requests; its import fails there and is reported
    pass


class _Tab:
    """d2lbook's `tab` object as the MXNet tab sees it."""

    def selected(self, *names) -> bool:
        flat = [n for name in names for n in ([name] if isinstance(name, str) else name)]
        return "mxnet" in flat

    def interact_select(self, *names) -> None:
        pass


tab = _Tab()
