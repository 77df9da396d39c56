"""The backend protocol: a backend registers by name with its options; `build` validates options
(its own and the common MXNet hybridize flags) and returns an Executable that takes and returns
core arrays. A test-only backend shows a new backend plugs in without touching the frontend."""
from __future__ import annotations

import numpy
import pytest

import hybrid as hb
from hybrid import codegen, nn, np
from hybrid.codegen import Backend, COMMON_OPTIONS
from hybrid.codegen.interp import run_graph
from hybrid.core.context import host_data


class CountingExecutable:
    """Runs the graph with the NumPy references, scaling every output by the `scale` option."""

    backend = "counting"

    def __init__(self, graph, scale: float):
        self.graph, self.scale, self.calls = graph, scale, 0

    def __call__(self, inputs):
        self.calls += 1
        outs = run_graph(self.graph, [host_data(x)[0] for x in inputs])
        return [hb.NDArray(numpy.asarray(o * self.scale, o.dtype)) for o in outs]

    def refresh_params(self) -> None:
        pass


@pytest.fixture
def counting(monkeypatch):
    built = []

    def compile(graph, options):
        built.append(options)
        return CountingExecutable(graph, options["scale"])

    monkeypatch.setitem(codegen._REGISTRY, "counting", Backend("counting", compile, {"scale": 1.0}))
    return built


def test_a_registered_backend_runs_hybridized_blocks(counting):
    net = nn.Dense(3, in_units=4)
    net.initialize()
    x = np.array(numpy.random.default_rng(0).normal(size=(2, 4)).astype("float32"))
    expected = net(x).asnumpy()
    net.hybridize(backend="counting", scale=2.0, static_alloc=True, static_shape=True)
    out = net(x)
    assert isinstance(out, hb.NDArray)
    numpy.testing.assert_allclose(out.asnumpy(), 2 * expected, rtol=1e-6)
    (options,) = counting
    assert options["scale"] == 2.0 and options["static_alloc"] is True and options["inline_limit"] == 2
    assert set(options) == {"scale"} | set(COMMON_OPTIONS)
    assert "counting" in codegen.backend_names()


def test_unknown_option_is_refused_at_hybridize_naming_the_valid_ones(counting):
    net = nn.Dense(3, in_units=4)
    with pytest.raises(hb.HybridError, match=r"counting backend: unknown options \['scal'\]; the options are scale, "
                                             r"static_alloc, static_shape, inline_limit"):
        net.hybridize(backend="counting", scal=2.0)
    with pytest.raises(hb.HybridError, match=r"unknown backend 'vulkan'; choose one of .*counting.*interp"):
        net.hybridize(backend="vulkan")


@pytest.mark.parametrize("backend,extra", [("interp", {}), ("llvm", {}), ("cuda", {"runtime": "emulator"})])
def test_every_backend_accepts_mxnets_hybridize_flags_and_returns_core_arrays(backend, extra):
    f = hb.hybridize(lambda a, b: np.tanh(a * b + 1).sum(axis=1), backend=backend, static_alloc=True,
                     static_shape=True, inline_limit=0, forward_bulk_size=15, backward_bulk_size=15, **extra)
    rng = numpy.random.default_rng(1)
    a, b = rng.normal(size=(3, 5)).astype("float32"), rng.normal(size=(5,)).astype("float32")
    out = f(a, b)
    numpy.testing.assert_allclose(out.asnumpy(), numpy.tanh(a * b + 1).sum(axis=1), rtol=1e-5)
    exe = codegen.build(hb.passes.optimize(hb.trace(lambda a, b: a * b, a, b)).graph, backend, **extra)
    outputs = exe([hb.NDArray(a), b])            # core arrays or NumPy arrays in, core arrays out
    assert all(isinstance(o, hb.NDArray) for o in outputs)
    numpy.testing.assert_allclose(outputs[0].asnumpy(), a * b, rtol=1e-6)


@pytest.mark.parametrize("flag,value,message", [
    ("static_alloc", "yes", "static_alloc must be True or False"),
    ("inline_limit", -1, "inline_limit must be a whole number >= 0"),
    ("forward_bulk_size", 1.5, "forward_bulk_size must be a whole number >= 0")])
def test_common_flags_are_checked(flag, value, message):
    with pytest.raises(hb.HybridError, match=message):
        hb.hybridize(lambda a: a + 1, backend="interp", **{flag: value})


def test_a_backend_may_not_redefine_a_common_option():
    with pytest.raises(hb.HybridError, match=r"redefines common options \['static_alloc'\]"):
        codegen.register_backend(Backend("bad", lambda g, o: None, {"static_alloc": True}))
