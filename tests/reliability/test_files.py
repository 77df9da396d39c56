"""Files hybrid reads: compile-cache entries are sealed to their key and loaded only as regular
files; exports are read only as regular files of bounded size, and their parameters must have the
graph's dtypes. Every refusal is quick (no hang on a FIFO or /dev/zero) and, for the cache, a
logged miss that rebuilds the entry."""
from __future__ import annotations

import glob
import json
import logging
import os
import shutil

import numpy as onp
import pytest

import hybrid as hb
from hybrid import fileio, nn, np
from hybrid.codegen.llvm import cache


def _save_params(path, **arrays):
    """np.savez into an exact path (savez given a name appends .npz unless it ends so)."""
    with open(path, "wb") as f:
        onp.savez(f, **arrays)


def _two_graphs():
    return (hb.hybridize(lambda x: np.exp(-x) * 3.0, backend="llvm"),
            hb.hybridize(lambda x: np.tanh(x) + 1.0, backend="llvm"))


@pytest.fixture
def cache_folder(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("HYBRID_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("HYBRID_LOG", "compile")
    caplog.set_level(logging.INFO, logger="hybrid")
    return tmp_path


def _entries(folder) -> set[str]:
    return set(glob.glob(os.path.join(str(folder), "*.o")))


def _build_one(folder, fn, x):
    """Compile fn, return (its result, the cache entry it wrote)."""
    before = _entries(folder)
    out = fn(x).asnumpy()
    new = _entries(folder) - before
    return out, sorted(new)[0]


def test_entry_copied_from_another_graph_is_a_miss(cache_folder, caplog):
    x = onp.linspace(-1, 1, 7).astype("float32")
    f, g = _two_graphs()
    _, f_entry = _build_one(cache_folder, f, x)
    _, g_entry = _build_one(cache_folder, g, x)
    shutil.copyfile(f_entry, g_entry)              # g's entry now holds f's object, checksum and all
    caplog.clear()
    got = hb.hybridize(lambda x: np.tanh(x) + 1.0, backend="llvm")(x).asnumpy()
    onp.testing.assert_allclose(got, onp.tanh(x) + 1.0, rtol=1e-6)
    assert "another key" in caplog.text


def test_entry_with_a_valid_seal_but_no_object_is_a_miss(cache_folder, caplog):
    x = onp.linspace(-1, 1, 7).astype("float32")
    f, _ = _two_graphs()
    expected, entry = _build_one(cache_folder, f, x)
    key = os.path.basename(entry)[:-2]
    with open(entry, "wb") as out:
        out.write(fileio.seal(key, b"\x00garbage that would crash the loader" * 100))
    caplog.clear()
    onp.testing.assert_array_equal(hb.hybridize(lambda x: np.exp(-x) * 3.0, backend="llvm")(x).asnumpy(), expected)
    assert "not an object file" in caplog.text


@pytest.mark.parametrize("target", ["/dev/zero", "fifo", "regular"])
def test_symlinked_or_special_entries_are_refused(cache_folder, caplog, target):
    x = onp.linspace(-1, 1, 7).astype("float32")
    f, _ = _two_graphs()
    expected, entry = _build_one(cache_folder, f, x)
    good = entry + ".good"
    os.replace(entry, good)
    if target == "/dev/zero":
        os.symlink("/dev/zero", entry)
    elif target == "fifo":
        os.mkfifo(entry)
    else:
        os.symlink(good, entry)     # even a symlink to a good entry is not followed
    caplog.clear()
    onp.testing.assert_array_equal(hb.hybridize(lambda x: np.exp(-x) * 3.0, backend="llvm")(x).asnumpy(), expected)
    assert "rebuilding" in caplog.text
    assert os.path.isfile(entry) and not os.path.islink(entry)   # rebuilt as a regular entry
    assert os.path.exists(good) and (target != "/dev/zero" or os.path.exists("/dev/zero"))


def test_unseal_checks_key_and_content():
    sealed = fileio.seal("k1", b"payload")
    assert fileio.unseal("k1", sealed) == (b"payload", "")
    assert fileio.unseal("k2", sealed)[0] is None
    assert fileio.unseal("k1", sealed[:-1] + b"X")[0] is None
    assert fileio.unseal("k1", sealed[:10])[0] is None


class Net(nn.HybridBlock):
    def __init__(self):
        super().__init__()
        self.fc = nn.Dense(3, in_units=4)

    def forward(self, x):
        return self.fc(x)


@pytest.fixture
def exported(tmp_path):
    net = Net()
    net.initialize()
    net.hybridize(backend="interp")
    net(np.ones((2, 4)))
    prefix = str(tmp_path / "net")
    net.export(prefix)
    return prefix


def _refresh_checksum(prefix):
    with open(prefix + "-symbol.json") as f:
        document = json.load(f)
    document["params_sha256"] = hb.frontend.export._sha256(prefix + "-0000.params")
    with open(prefix + "-symbol.json", "w") as f:
        json.dump(document, f)


@pytest.mark.parametrize("which", ["params", "graph"])
@pytest.mark.parametrize("kind", ["/dev/zero", "fifo"])
def test_load_refuses_special_files_without_hanging(exported, which, kind):
    path = exported + ("-0000.params" if which == "params" else "-symbol.json")
    os.remove(path)
    if kind == "fifo":
        os.mkfifo(path)
    else:
        os.symlink("/dev/zero", path)
    with pytest.raises(hb.FormatError, match="not a regular file"):
        hb.load(exported)
    with pytest.raises(hb.FormatError, match="not a regular file"):
        nn.SymbolBlock.imports(exported)


def test_load_parameters_refuses_a_fifo(tmp_path):
    net = Net()
    net.initialize()
    os.mkfifo(tmp_path / "p.npz")
    with pytest.raises(hb.FormatError, match="FIFO"):
        net.load_parameters(str(tmp_path / "p.npz"))


def test_exported_parameter_dtypes_are_checked(exported):
    with onp.load(exported + "-0000.params", allow_pickle=False) as data:
        params = {k: data[k] for k in data.files}
    params["fc.weight"] = params["fc.weight"].astype("float64")
    _save_params(exported + "-0000.params", **params)
    _refresh_checksum(exported)
    with pytest.raises(hb.FormatError, match="fc.weight has dtype float64, the graph expects float32"):
        hb.load(exported)


def test_oversized_files_are_refused(tmp_path):
    path = tmp_path / "big"
    path.write_bytes(b"x" * 100)
    with pytest.raises(hb.FormatError, match="100 bytes, more than the 99"):
        fileio.read_regular(str(path), 99, "test file")
    assert fileio.read_regular(str(path), 100, "test file") == b"x" * 100
