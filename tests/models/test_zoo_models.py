"""Every model of hybrid.model_zoo.ZOO: eager vs hybridized (interp) within 1e-5, IR print/parse
round trip of its graphs, and export/import round trip (nn.SymbolBlock.imports and hb.load)."""
import numpy as onp
import pytest

import hybrid as hb
from hybrid import codegen, init, np, nn
from hybrid.model_zoo import ZOO

TOL = dict(rtol=1e-5, atol=1e-5)


def build(name: str):
    """The model, initialized with a fixed seed (BatchNorm with non-trivial running statistics),
    and an example input."""
    ctor, shape = ZOO[name]
    np.random.seed(123)
    net = ctor()
    net.initialize(init.Xavier())
    rng = onp.random.default_rng(5)
    x = rng.normal(size=shape).astype("float32")
    net(np.array(x))  # resolve deferred shapes
    for pname, p in net.collect_params().items():
        if pname.endswith("running_mean"):
            p.set_data(rng.normal(0, 0.3, size=p.shape))
        elif pname.endswith("running_var"):
            p.set_data(rng.uniform(0.5, 2.0, size=p.shape))
        elif pname.endswith(("gamma", "beta", "bias")):
            p.set_data(rng.normal(0, 0.2, size=p.shape) + (1.0 if pname.endswith("gamma") else 0.0))
    return net, x


@pytest.fixture(scope="module", params=sorted(ZOO))
def model(request):
    net, x = build(request.param)
    eager = net(np.array(x)).asnumpy()
    net.hybridize(backend="interp")
    compiled = net(np.array(x)).asnumpy()
    return request.param, net, x, eager, compiled


def test_eager_equals_hybridized(model):
    name, net, x, eager, compiled = model
    assert onp.isfinite(eager).all() and eager.std() > 0, f"{name}: degenerate output"
    onp.testing.assert_allclose(compiled, eager, **TOL)
    again = net(np.array(x)).asnumpy()  # the cached executable gives the same result
    onp.testing.assert_array_equal(again, compiled)


def test_ir_round_trip(model):
    name, net, x, eager, _ = model
    stages = net._compiled.last.pipeline.stages
    assert stages[0].name == "00-traced"
    for stage in [s.name for s in stages] + [None]:
        text = net.ir(stage)
        graph = hb.ir.parse(text)
        assert str(graph) == text, f"{name} stage {stage} does not round-trip"
        hb.ir.verify(graph)
    # the traced graph, parsed back from text, computes the model on the interp backend
    traced = hb.ir.parse(net.ir("traced"))
    params = net.collect_params()
    inputs = [x] + [params[v.name].data().asnumpy() for v in traced.params]
    (out,) = codegen.build(traced, "interp")(inputs)
    onp.testing.assert_allclose(out, eager, **TOL)


def test_traced_graph_names_parameters_by_path(model):
    name, net, *_ = model
    traced = hb.ir.parse(net.ir("traced"))
    assert {v.name for v in traced.params} <= set(net.collect_params())
    assert "%x:" in net.ir("traced")
    # each node names the model's own line (zoo models count as user code)
    source = {"mlp": "mlp.py", "transformer": "transformer.py"}.get(name, "cnn.py")
    locs = [n.loc for n in traced.nodes if n.op != "constant"]
    assert locs and all(loc and loc.startswith(source + ":") for loc in locs), (name, set(locs))


@pytest.mark.parametrize("loader", ["SymbolBlock.imports", "hb.load"])
def test_export_import_round_trip(model, loader, tmp_path):
    name, net, x, eager, _ = model
    prefix = str(tmp_path / name)
    graph_file, params_file = net.export(prefix)
    assert graph_file == prefix + "-symbol.json" and params_file == prefix + "-0000.params"  # MXNet 2's names
    loaded = nn.SymbolBlock.imports(prefix) if loader == "SymbolBlock.imports" else hb.load(prefix)
    assert isinstance(loaded, nn.SymbolBlock)
    # parameter names are stable across export and import
    assert set(loaded.collect_params()) == {v.name for v in hb.ir.parse(net.ir("traced")).params}
    for pname, p in loaded.collect_params().items():
        onp.testing.assert_array_equal(p.data().asnumpy(), net.collect_params()[pname].data().asnumpy())
    onp.testing.assert_allclose(loaded(np.array(x)).asnumpy(), eager, **TOL)  # replayed eagerly
    loaded.hybridize(backend="interp")
    onp.testing.assert_allclose(loaded(np.array(x)).asnumpy(), eager, **TOL)  # compiled again
    hb.ir.verify(hb.ir.parse(loaded.ir()))


def test_reexport_of_an_imported_model(model, tmp_path):
    name, net, x, eager, _ = model
    net.export(str(tmp_path / "first"))
    loaded = hb.load(str(tmp_path / "first"), backend="interp")
    loaded(np.array(x))
    loaded.export(str(tmp_path / "second"))
    again = hb.load(str(tmp_path / "second"))
    onp.testing.assert_allclose(again(np.array(x)).asnumpy(), eager, **TOL)


def test_import_checks_input_shapes(model, tmp_path):
    name, net, x, *_ = model
    net.export(str(tmp_path / "m"))
    loaded = hb.load(str(tmp_path / "m"))
    with pytest.raises(hb.HybridError, match=r"input x of graph .* must be f32\["):
        loaded(np.ones((1,) + x.shape[1:] + (1,)))
    with pytest.raises(hb.HybridError, match="takes 1 inputs"):
        loaded(np.array(x), np.array(x))


def test_resnet18_eager_equals_hybridized_and_exports(tmp_path):
    from hybrid.model_zoo import ResNet18
    np.random.seed(0)
    net = ResNet18(width=16)
    net.initialize(init.Xavier())
    x = np.random.normal(size=(2, 3, 32, 32))
    eager = net(x).asnumpy()
    net.hybridize(backend="interp")
    onp.testing.assert_allclose(net(x).asnumpy(), eager, **TOL)
    assert str(hb.ir.parse(net.ir())) == net.ir()
    net.export(str(tmp_path / "resnet18"))
    onp.testing.assert_allclose(hb.load(str(tmp_path / "resnet18"))(x).asnumpy(), eager, **TOL)


def test_training_mode_with_dropout_eager_equals_hybridized():
    """Random masks in a real model: same seed, same masks, eager and compiled."""
    from hybrid import autograd
    from hybrid.model_zoo import TransformerBlock
    np.random.seed(8)
    net = TransformerBlock(d_model=16, heads=2, mlp=32, dropout=0.3)
    net.initialize(init.Xavier())
    x = np.random.normal(size=(2, 5, 16))
    with autograd.train_mode():
        np.random.seed(99)
        eager = [net(x).asnumpy() for _ in range(2)]
        net.hybridize(backend="interp")
        np.random.seed(99)
        compiled = [net(x).asnumpy() for _ in range(2)]
    assert not onp.allclose(eager[0], eager[1])
    for e, c in zip(eager, compiled):
        onp.testing.assert_allclose(c, e, **TOL)
