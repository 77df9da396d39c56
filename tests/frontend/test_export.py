"""Export / import: the file format, functions as well as blocks, and every way a file can be
missing, truncated, corrupt or tampered with (each error names the file; nothing is unpickled)."""
import json
import os
import pickle

import numpy as onp
import pytest

import hybrid as hb
from hybrid import autograd, nn, np, npx

from hb_check import sample


def _save_params(path, **arrays):
    """np.savez into an exact path (savez given a name appends .npz unless it ends so)."""
    with open(path, "wb") as f:
        onp.savez(f, **arrays)


class Net(nn.HybridBlock):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Dense(6, activation="relu", in_units=4)
        self.fc2 = nn.Dense(3, in_units=6)

    def forward(self, x):
        return npx.softmax(self.fc2(self.fc1(x)))


@pytest.fixture
def exported(tmp_path):
    np.random.seed(4)
    net = Net()
    net.initialize()
    net.hybridize(backend="interp")
    x = sample((5, 4))
    expected = net(np.array(x)).asnumpy()
    prefix = str(tmp_path / "net")
    net.export(prefix)
    return prefix, x, expected


def test_export_file_format(exported):
    prefix, x, _ = exported
    with open(prefix + "-symbol.json") as f:
        doc = json.load(f)
    assert doc["format"] == "hybrid-model" and doc["format_version"] == 1
    assert doc["hybrid_version"] == hb.__version__
    assert doc["inputs"] == [{"name": "x", "shape": [5, 4], "dtype": "f32"}]
    assert [p["name"] for p in doc["params"]] == ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    assert doc["outputs"] == [{"shape": [5, 3], "dtype": "f32"}]
    assert doc["params_file"] == "net-0000.params"
    graph = hb.ir.parse(doc["graph"]["ir"])
    hb.ir.verify(graph)
    with onp.load(prefix + "-0000.params", allow_pickle=False) as data:
        assert sorted(data.files) == sorted(p["name"] for p in doc["params"])


def test_export_uses_mxnets_file_names_and_imports_signature(exported, tmp_path):
    """MXNet 2's HybridBlock.export(path, epoch) returns (path-symbol.json, path-EPOCH.params) and
    SymbolBlock.imports(symbol_file, input_names, param_file, device) loads them."""
    prefix, x, expected = exported
    net = hb.load(prefix, backend="interp")
    net(np.array(x))
    other = str(tmp_path / "epoch")
    assert net.export(other, epoch=7) == (other + "-symbol.json", other + "-0007.params")
    loaded = nn.SymbolBlock.imports(other + "-symbol.json", ["data"], other + "-0007.params", hb.cpu())
    onp.testing.assert_allclose(loaded(np.array(x)).asnumpy(), expected, rtol=1e-6)
    assert nn.SymbolBlock.imports(other + "-symbol.json", "data").collect_params().keys() == \
        loaded.collect_params().keys()   # no param_file: the one the graph file names
    lines = repr(loaded).splitlines()
    assert lines[0] == "SymbolBlock(" and ": f32[5,4]) -> (f32[5,3])" in lines[1] and lines[2] == ")"
    with pytest.raises(ValueError, match=r"input_names \['a', 'b'\] has 2 names; the exported graph has 1"):
        nn.SymbolBlock.imports(other + "-symbol.json", ["a", "b"])
    with pytest.raises(ValueError, match="epoch must be an int"):
        net.export(other, epoch=-1)


def test_exports_of_earlier_versions_still_load(exported):
    """Earlier hybrid versions wrote prefix-graph.json + prefix-params.npz: a prefix finds them."""
    prefix, x, expected = exported
    _rewrite_json(prefix + "-symbol.json", lambda d: d.update(params_file="net-params.npz"))
    os.rename(prefix + "-symbol.json", prefix + "-graph.json")
    os.rename(prefix + "-0000.params", prefix + "-params.npz")
    for loader in (hb.load, nn.SymbolBlock.imports):
        onp.testing.assert_allclose(loader(prefix)(np.array(x)).asnumpy(), expected, rtol=1e-6)


def test_export_needs_a_compiled_block(tmp_path):
    net = Net()
    net.initialize()
    with pytest.raises(hb.HybridError, match="hybridize"):
        net.export(str(tmp_path / "x"))


def test_export_of_a_hybridized_function(tmp_path):
    @hb.hybridize(backend="interp")
    def f(a, b):
        return np.tanh(a @ b).sum(axis=0)

    a, b = sample((3, 4)), sample((4, 2))
    expected = f(a, b).asnumpy()
    f.export(str(tmp_path / "f"))
    loaded = hb.load(str(tmp_path / "f"))
    assert loaded.collect_params() == {}
    onp.testing.assert_allclose(loaded(np.array(a), np.array(b)).asnumpy(), expected, rtol=1e-6)


def test_export_into_a_new_folder(tmp_path, exported):
    prefix, x, expected = exported
    net = hb.load(prefix, backend="interp")
    net(np.array(x))
    deep = str(tmp_path / "a" / "b" / "model")
    net.export(deep)
    onp.testing.assert_allclose(hb.load(deep)(np.array(x)).asnumpy(), expected, rtol=1e-6)


def test_import_is_independent_of_the_working_directory(exported, monkeypatch, tmp_path):
    prefix, x, expected = exported
    monkeypatch.chdir(tmp_path.parent)
    onp.testing.assert_allclose(hb.load(prefix)(np.array(x)).asnumpy(), expected, rtol=1e-6)


def _rewrite_json(path, change):
    with open(path) as f:
        doc = json.load(f)
    change(doc)
    with open(path, "w") as f:
        json.dump(doc, f)


def _truncate(path, fraction=0.5):
    data = open(path, "rb").read()
    open(path, "wb").write(data[:int(len(data) * fraction)])


DAMAGE = {
    "graph missing": (lambda p: os.remove(p + "-symbol.json"), "-symbol.json does not exist"),
    "params missing": (lambda p: os.remove(p + "-0000.params"), "-0000.params (named by"),
    "graph truncated": (lambda p: _truncate(p + "-symbol.json"), "is not valid JSON"),
    "graph empty": (lambda p: open(p + "-symbol.json", "w").close(), "is not valid JSON"),
    "graph not an export": (lambda p: open(p + "-symbol.json", "w").write("[1, 2]"), "is not a hybrid model export"),
    "format version": (lambda p: _rewrite_json(p + "-symbol.json", lambda d: d.update(format_version=2)),
                       "format version 2"),
    "field removed": (lambda p: _rewrite_json(p + "-symbol.json", lambda d: d.pop("params_sha256")),
                      "lacks the field 'params_sha256'"),
    "ir version": (lambda p: _rewrite_json(p + "-symbol.json", lambda d: d["graph"].update(format_version=7)),
                   "IR format version 7"),
    "ir tampered": (lambda p: _rewrite_json(p + "-symbol.json", lambda d: d["graph"].update(
        ir=d["graph"]["ir"].replace("f32[5,6]", "f32[5,7]", 1))), "graph"),
    "ir garbage": (lambda p: _rewrite_json(p + "-symbol.json", lambda d: d["graph"].update(ir="graph @x(")),
                   "IR parse error"),
    "params truncated": (lambda p: _truncate(p + "-0000.params"), "does not match the checksum"),
    "params tampered": (lambda p: _save_params(p + "-0000.params", **{"fc1.weight": onp.zeros((6, 4), "float32")}),
                        "does not match the checksum"),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
@pytest.mark.parametrize("loader", ["SymbolBlock.imports", "hb.load"])
def test_damaged_export_names_the_file(exported, damage, loader):
    prefix, *_ = exported
    apply_damage, fragment = DAMAGE[damage]
    apply_damage(prefix)
    with pytest.raises(hb.FormatError) as info:
        nn.SymbolBlock.imports(prefix) if loader == "SymbolBlock.imports" else hb.load(prefix)
    msg = str(info.value)
    assert fragment in msg, msg
    assert os.path.basename(prefix) + "-" in msg, f"the error must name the file: {msg}"


class _Payload:
    """Unpickling this would create a marker file: proof that loading executed code."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _refresh_checksum(prefix):
    from hybrid.frontend.export import _sha256
    _rewrite_json(prefix + "-symbol.json", lambda d: d.update(params_sha256=_sha256(prefix + "-0000.params")))


def test_pickled_params_are_never_loaded(exported, tmp_path):
    prefix, *_ = exported
    marker = str(tmp_path / "pwned")
    evil = onp.empty(1, dtype=object)
    evil[0] = _Payload(marker)
    with open(prefix + "-0000.params", "wb") as f:
        onp.savez(f, **{"fc1.weight": evil})
    _refresh_checksum(prefix)  # an attacker can recompute the checksum; loading must still refuse
    with pytest.raises(hb.FormatError) as info:
        hb.load(prefix)
    assert "net-0000.params" in str(info.value)
    assert not os.path.exists(marker)


def test_plain_pickle_file_as_params_is_refused(exported, tmp_path):
    prefix, *_ = exported
    marker = str(tmp_path / "pwned2")
    with open(prefix + "-0000.params", "wb") as f:
        pickle.dump(_Payload(marker), f)
    _refresh_checksum(prefix)
    with pytest.raises(hb.FormatError, match="net-0000.params"):
        hb.load(prefix)
    assert not os.path.exists(marker)


def test_params_with_wrong_shape_or_missing_name(exported):
    prefix, *_ = exported
    with onp.load(prefix + "-0000.params", allow_pickle=False) as data:
        params = {k: data[k] for k in data.files}
    params["fc1.weight"] = onp.zeros((2, 2), "float32")
    _save_params(prefix + "-0000.params", **params)
    _refresh_checksum(prefix)
    with pytest.raises(hb.FormatError, match=r"parameter fc1.weight has shape \(2, 2\), the graph expects \(6, 4\)"):
        hb.load(prefix)
    del params["fc1.weight"]
    _save_params(prefix + "-0000.params", **params)
    _refresh_checksum(prefix)
    with pytest.raises(hb.FormatError, match="lacks parameter fc1.weight"):
        hb.load(prefix)


def test_multiple_inputs_and_outputs(tmp_path):
    class Two(nn.HybridBlock):
        def __init__(self):
            super().__init__()
            self.fc = nn.Dense(3, in_units=4)

        def forward(self, a, b):
            h = self.fc(a) + b
            return h, npx.relu(h).sum(axis=1)

    net = Two()
    net.initialize()
    net.hybridize(backend="interp")
    a, b = np.array(sample((2, 4))), np.array(sample((2, 3)))
    expected = [r.asnumpy() for r in net(a, b)]
    net.export(str(tmp_path / "two"))
    with open(str(tmp_path / "two-symbol.json")) as f:
        doc = json.load(f)
    assert [i["name"] for i in doc["inputs"]] == ["a", "b"] and len(doc["outputs"]) == 2
    got = hb.load(str(tmp_path / "two"))(a, b)
    assert isinstance(got, tuple) and len(got) == 2
    for g, e in zip(got, expected):
        onp.testing.assert_allclose(g.asnumpy(), e, rtol=1e-6)


def test_random_ops_replay_like_the_original(tmp_path):
    """An exported model that samples noise twice per call, loaded and run, draws the same numbers
    as the original for consecutive calls, replayed eagerly and hybridized."""
    class Noisy(nn.HybridBlock):
        def __init__(self):
            super().__init__()
            self.fc = nn.Dense(8, in_units=16)

        def forward(self, x):
            h = self.fc(x + np.random.normal(size=x.shape))
            return h * np.random.uniform(size=h.shape)

    net = Noisy()
    net.initialize()
    net.hybridize(backend="interp")
    x = np.array(sample((4, 16)))
    net(x)
    net.export(str(tmp_path / "noisy"))

    def two_calls(block):
        np.random.seed(21)
        return [block(x).asnumpy() for _ in range(2)]

    expected = two_calls(net)
    assert not onp.array_equal(expected[0], expected[1])
    loaded = hb.load(str(tmp_path / "noisy"))
    for got, want in zip(two_calls(loaded), expected):
        onp.testing.assert_allclose(got, want, rtol=1e-6)
    loaded.hybridize(backend="interp")
    for got, want in zip(two_calls(loaded), expected):
        onp.testing.assert_allclose(got, want, rtol=1e-6)


def test_export_after_training_mode_exports_the_inference_graph(tmp_path):
    net = nn.HybridSequential()
    net.add(nn.Dense(6, in_units=4), nn.BatchNorm(axis=1, in_channels=6), nn.Dropout(0.5))
    net.initialize()
    net.hybridize(backend="interp")
    x = np.array(sample((5, 4)))
    with autograd.train_mode():
        net(x)  # the last compiled signature is a training one (batch statistics, dropout)
    net.export(str(tmp_path / "trained"))
    with open(str(tmp_path / "trained-symbol.json")) as f:
        doc = json.load(f)
    assert len(doc["outputs"]) == 1 and "random_uniform" not in doc["graph"]["ir"]
    expected = net(x).asnumpy()  # inference mode
    onp.testing.assert_allclose(hb.load(str(tmp_path / "trained"))(x).asnumpy(), expected, rtol=1e-6, atol=1e-6)
