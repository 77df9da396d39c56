"""gluon.utils.download against a stubbed requests.get (no network): the file lands atomically, an
existing good file is kept, SHA-1 is checked, failures are retried then raised, verify_ssl=False warns."""
import hashlib
import io
import os

import pytest

requests = pytest.importorskip("requests")

from hybrid.gluon import utils  # noqa: E402

BODY = b"hybrid download test\n" * 200
SHA1 = hashlib.sha1(BODY).hexdigest()


class Served:
    """requests.get's stand-in: answers from a script of (status, body) or exceptions, counts calls."""

    def __init__(self, *script):
        self.script, self.calls, self.verify = list(script), 0, []

    def __call__(self, url, stream=False, verify=True):
        self.calls += 1
        self.verify.append(verify)
        item = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if isinstance(item, Exception):
            raise item
        response = requests.Response()
        response.status_code, response.raw = item[0], io.BytesIO(item[1])
        return response


def test_download_writes_the_file_once_and_keeps_a_good_copy(tmp_path, monkeypatch):
    served = Served((200, BODY))
    monkeypatch.setattr(requests, "get", served)
    fname = utils.download("https://example.org/data/file.bin", path=str(tmp_path), sha1_hash=SHA1)
    assert fname == str(tmp_path / "file.bin") and open(fname, "rb").read() == BODY
    assert os.listdir(tmp_path) == ["file.bin"]                 # no temporary left behind
    utils.download("https://example.org/data/file.bin", path=str(tmp_path), sha1_hash=SHA1)
    assert served.calls == 1                                     # present and matching: not fetched again
    utils.download("https://example.org/data/file.bin", path=fname, overwrite=True)
    assert served.calls == 2 and utils.check_sha1(fname, SHA1)


def test_download_retries_then_raises_and_checks_sha1(tmp_path, monkeypatch):
    served = Served(requests.exceptions.ConnectionError(), (500, b""), (200, BODY))
    monkeypatch.setattr(requests, "get", served)
    fname = utils.download("https://example.org/f", path=str(tmp_path / "f"), retries=2)
    assert served.calls == 3 and open(fname, "rb").read() == BODY
    monkeypatch.setattr(requests, "get", Served(requests.exceptions.ConnectionError()))
    with pytest.raises(requests.exceptions.ConnectionError):
        utils.download("https://example.org/g", path=str(tmp_path / "g"), retries=1)
    monkeypatch.setattr(requests, "get", Served((200, b"something else")))
    with pytest.raises(Exception, match="does not match SHA-1"):
        utils.download("https://example.org/h", path=str(tmp_path / "h"), sha1_hash=SHA1, retries=0)
    assert sorted(os.listdir(tmp_path)) == ["f"]


def test_download_without_ssl_verification_warns(tmp_path, monkeypatch):
    served = Served((200, BODY))
    monkeypatch.setattr(requests, "get", served)
    with pytest.warns(UserWarning, match="Unverified HTTPS request"):
        utils.download("https://example.org/x", path=str(tmp_path / "x"), verify_ssl=False)
    assert served.verify == [False]
