"""Weights kept pre-packed between calls (llvm/prepack.py, runtime._PackedParams): a dense layer's weight
matrix is packed into GEMM panels once and repacked exactly when the parameter changes."""
from __future__ import annotations

import threading

import numpy
import pytest

import hybrid as hb
from hybrid import gluon, nn
from hybrid.codegen.llvm import gemm

pytestmark = pytest.mark.skipif(gemm.resolve_impl("auto") == "openblas", reason="needs the generated GEMM")


def _mlp(seed: int = 0):
    net = nn.HybridSequential()
    net.add(nn.Dense(48, activation="relu", in_units=40), nn.Dense(24, in_units=48))
    net.initialize(hb.init.Xavier())
    rng = numpy.random.default_rng(seed)
    for p in net.collect_params().values():
        p.set_data(rng.standard_normal(p.shape).astype(numpy.float32) * 0.3)
    return net


def _eager(net, x):
    return numpy.asarray(net.forward(x))


def _packs(net) -> int:
    built = net._compiled.last.executable.built
    return len(built.plan.packs)


def test_dense_weights_are_prepacked_and_results_match():
    net = _mlp()
    x = hb.np.array(numpy.random.default_rng(1).standard_normal((300, 40)).astype(numpy.float32))
    want = _eager(net, x)
    net.hybridize(backend="llvm")
    got = numpy.asarray(net(x))
    # both weights are packed, except one narrow enough for the dot-product kernel, which reads it in place
    # (Dense(48 -> 24) is, on AVX-512 hosts: gemm_dot.py)
    narrow = gemm.host_config().runs_as_dot(24, 48, False, True)
    assert _packs(net) == 2 - narrow
    numpy.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    numpy.testing.assert_allclose(numpy.asarray(net(x)), want, rtol=1e-5, atol=1e-5)   # second call: no repack


def test_every_hybrid_write_reaches_the_packed_copy():
    net = _mlp()
    x = hb.np.array(numpy.random.default_rng(2).standard_normal((64, 40)).astype(numpy.float32))
    net.hybridize(backend="llvm")
    net(x)
    weight = net.collect_params()["0.weight"]
    # set_data, an in-place slice write, and a trainer step each change what the compiled call must see
    weight.set_data(numpy.asarray(weight.data()) * -0.5)
    numpy.testing.assert_allclose(numpy.asarray(net(x)), _eager(net, x), rtol=1e-5, atol=1e-5)
    weight.data()[:3] = 0.25
    numpy.testing.assert_allclose(numpy.asarray(net(x)), _eager(net, x), rtol=1e-5, atol=1e-5)
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.5})
    with hb.autograd.record():
        loss = (net(x) ** 2).mean()
    loss.backward()
    trainer.step(1)
    numpy.testing.assert_allclose(numpy.asarray(net(x)), _eager(net, x), rtol=1e-5, atol=1e-5)


def test_raw_numpy_writes_need_refresh_params():
    net = _mlp()
    x = hb.np.array(numpy.random.default_rng(3).standard_normal((64, 40)).astype(numpy.float32))
    net.hybridize(backend="llvm")
    before = numpy.asarray(net(x)).copy()
    numpy.asarray(net.collect_params()["1.weight"].data())[...] *= 2.0     # invisible to write tokens
    net.refresh_params()
    after = numpy.asarray(net(x))
    numpy.testing.assert_allclose(after, _eager(net, x), rtol=1e-5, atol=1e-5)
    assert not numpy.allclose(after, before)


def test_executable_called_with_plain_arrays_repacks_every_call():
    """Without write tokens (a direct executable call) the weights are packed on every call."""
    net = _mlp()
    x = numpy.random.default_rng(4).standard_normal((64, 40)).astype(numpy.float32)
    net.hybridize(backend="llvm")
    net(hb.np.array(x))
    exe = net._compiled.last.executable.built
    feed = [numpy.asarray(a[0] if isinstance(a, tuple) else a)
            for a in net._compiled.input_arrays(net._compiled.last, [hb.np.array(x)])]
    first = exe(feed)[0].copy()
    for a in feed:
        if a.shape == (48, 40):
            a *= 3.0                                                          # changed in place, no token
    second = exe(feed)[0]
    numpy.testing.assert_allclose(second, _eager(net, hb.np.array(x)), rtol=1e-5, atol=1e-5)
    assert not numpy.allclose(first, second)


def test_concurrent_calls_share_the_packed_weights():
    net = _mlp()
    rng = numpy.random.default_rng(5)
    xs = [hb.np.array(rng.standard_normal((128, 40)).astype(numpy.float32)) for _ in range(4)]
    wants = [_eager(net, x) for x in xs]
    net.hybridize(backend="llvm")
    net(xs[0])
    errors = []

    def work(i):
        for _ in range(20):
            got = numpy.asarray(net(xs[i]))
            if not numpy.allclose(got, wants[i], rtol=1e-5, atol=1e-5):
                errors.append(i)
    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
