"""Control flow (npx.cond / while_loop / foreach, hb.lax): eager Python loops vs hybridized region ops."""
import numpy as onp
import pytest

import hybrid as hb
from hybrid import lax, np, npx

OPTIONS = {"cuda": {"runtime": "emulator"}}   # the CUDA kernels run in the host emulator (no GPU needed)
# every test on interp and llvm; the emulator (a g++ build per graph) on the loops' core cases by default
BACKENDS = ["interp", "llvm", pytest.param("cuda", marks=pytest.mark.slow)]
CORE = ["interp", "llvm", "cuda"]


def run_both(fn, *args, backend="interp"):
    """fn eagerly and hybridized on `backend`; returns both results as NumPy trees."""
    eager = fn(*[np.array(a) for a in args])
    compiled = hb.hybridize(fn, backend=backend, **OPTIONS.get(backend, {}))
    traced = compiled(*[np.array(a) for a in args])
    return _numpy(eager), _numpy(traced), compiled


def _numpy(tree):
    if isinstance(tree, (tuple, list)):
        return [_numpy(t) for t in tree]
    return tree.asnumpy()


def assert_tree_close(a, b, rtol=1e-5, atol=1e-6):
    if isinstance(a, list):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert_tree_close(x, y, rtol, atol)
    else:
        assert a.shape == b.shape and a.dtype == b.dtype
        onp.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


@pytest.mark.parametrize("backend", CORE)
@pytest.mark.parametrize("x0", [0.3, 5.0, 400.0])
def test_while_loop_data_dependent_trip_count(backend, x0):
    def f(x):
        return lax.while_loop(lambda v: v.sum() < 100.0, lambda v: v * 1.5 + 1.0, x)
    x = onp.full((4,), x0, "f4")
    eager, traced, compiled = run_both(f, x, backend=backend)
    assert_tree_close(eager, traced)
    want = x.copy()
    while want.sum() < 100:
        want = want * onp.float32(1.5) + onp.float32(1)
    onp.testing.assert_allclose(traced, want, rtol=1e-6)
    assert "while_loop(" in compiled.ir()


@pytest.mark.parametrize("backend", CORE)
def test_scan_nested_in_scan_with_captured_values(backend):
    w = onp.random.default_rng(0).normal(size=(3, 3)).astype("f4") * 0.5

    def f(xs, h0, w):
        def outer(h, x):
            def inner(c, row):
                return np.tanh(c @ w + row), c.sum()
            c, sums = lax.scan(inner, h, np.stack([x, x * 2.0]))
            return c, sums
        return lax.scan(outer, h0, xs)
    xs = onp.random.default_rng(1).normal(size=(5, 3)).astype("f4")
    h0 = onp.zeros(3, "f4")
    eager, traced, compiled = run_both(f, xs, h0, w, backend=backend)
    assert_tree_close(eager, traced)
    assert eager[1].shape == (5, 2)
    assert compiled.ir().count("scan(") == 2


@pytest.mark.parametrize("backend", CORE)
@pytest.mark.parametrize("flag", [True, False])
def test_loop_inside_cond(backend, flag):
    def f(p, x):
        return lax.cond(p, lambda x: lax.fori_loop(0, 4, lambda i, v: v * 2.0 + i.astype("float32"), x),
                        lambda x: -x, x)
    eager, traced, _ = run_both(f, onp.array(flag), onp.arange(3, dtype="f4"), backend=backend)
    assert_tree_close(eager, traced)


@pytest.mark.parametrize("backend", CORE)
@pytest.mark.parametrize("n", [0, 1, 6])
def test_zero_and_data_dependent_fori_loop(backend, n):
    def f(n, x):
        return lax.fori_loop(np.array(0, dtype="int32"), n, lambda i, v: v + i.astype("float32"), x)
    eager, traced, _ = run_both(f, onp.int32(n), onp.ones(2, "f4"), backend=backend)
    assert_tree_close(eager, traced)
    onp.testing.assert_allclose(traced, 1 + n * (n - 1) / 2)


@pytest.mark.parametrize("backend", BACKENDS)
def test_zero_length_scan(backend):
    def f(xs, c):
        return lax.scan(lambda c, x: (c + x, c * x), c, xs)
    eager, traced, _ = run_both(f, onp.zeros((0, 3), "f4"), onp.ones(3, "f4"), backend=backend)
    assert_tree_close(eager, traced)
    assert eager[1].shape == (0, 3)


@pytest.mark.parametrize("backend", BACKENDS)
def test_switch_clips_its_index(backend):
    branches = [lambda x: x + 1.0, lambda x: x * 3.0, lambda x: np.sin(x)]
    for index in (-2, 0, 1, 2, 9):
        eager, traced, _ = run_both(lambda i, x: lax.switch(i, branches, x), onp.int32(index),
                                    onp.arange(4, dtype="f4"), backend=backend)
        assert_tree_close(eager, traced)


@pytest.mark.parametrize("backend", BACKENDS)
def test_npx_foreach_matches_mxnet_semantics(backend):
    def f(data, s0, s1):
        def body(x, states):
            a, b = states
            out = x * a + b
            return [out, out * 2.0], [a + 1.0, b * 0.5]
        return npx.foreach(body, data, [s0, s1])
    data = onp.random.default_rng(2).normal(size=(4, 2, 3)).astype("f4")
    eager, traced, _ = run_both(f, data, onp.ones((2, 3), "f4"), onp.full((2, 3), 2.0, "f4"), backend=backend)
    assert_tree_close(eager, traced)
    outputs, states = eager
    a, b, rows = onp.ones((2, 3), "f4"), onp.full((2, 3), 2.0, "f4"), []
    for x in data:
        rows.append(x * a + b)
        a, b = a + 1, b * 0.5
    onp.testing.assert_allclose(outputs[0], onp.stack(rows), rtol=1e-6)
    onp.testing.assert_allclose(states[1], b)


@pytest.mark.parametrize("backend", BACKENDS)
def test_npx_while_loop_pads_outputs_to_max_iterations(backend):
    """MXNet's documented example: outputs padded with zeros to max_iterations rows."""
    def f(i, s):
        return npx.while_loop(lambda i, s: i <= 5, lambda i, s: ([i + s], [i + 1, s + i]), [i, s],
                              max_iterations=10)
    eager, traced, _ = run_both(f, onp.array([0], "i4"), onp.array([1], "i4"), backend=backend)
    assert_tree_close(eager, traced)
    outputs, (i, s) = traced
    onp.testing.assert_array_equal(outputs[:, 0], [1, 2, 4, 7, 11, 16, 0, 0, 0, 0])
    assert i[0] == 6 and s[0] == 16


@pytest.mark.parametrize("backend", BACKENDS)
def test_npx_cond_with_predicate_function(backend):
    def f(a, b):
        return npx.cond(lambda a, b: (a * b).sum() < 5, lambda a, b: (a + 5) * (b + 5),
                        lambda a, b: (a - 5) * (b - 5), [a, b])
    for a in (1.0, 3.0):
        eager, traced, _ = run_both(f, onp.array([a], "f4"), onp.array([2.0], "f4"), backend=backend)
        assert_tree_close(eager, traced)
    onp.testing.assert_allclose(f(np.array([1.0]), np.array([2.0])).asnumpy(), [42.0])


@pytest.mark.parametrize("backend", BACKENDS)
def test_block_with_parameters_inside_bodies(backend):
    """A Dense layer called inside a scan body and a cond branch (MXNet's contrib.cond could not)."""
    class Net(hb.nn.HybridBlock):
        def __init__(self):
            super().__init__()
            self.cell = hb.nn.Dense(4, in_units=4, activation="tanh")
            self.head = hb.nn.Dense(4, in_units=4)

        def forward(self, xs, flag):
            h, ys = lax.scan(lambda h, x: (self.cell(h + x), h.sum(axis=1)), np.zeros((2, 4)), xs)
            return lax.cond(flag, lambda h: self.head(h), lambda h: h * 2.0, h), ys

    net = Net()
    net.initialize()
    xs = np.array(onp.random.default_rng(3).normal(size=(6, 2, 4)).astype("f4"))
    for flag in (True, False):
        eager = _numpy(net(xs, np.array(flag)))
        net.hybridize(backend=backend, **OPTIONS.get(backend, {}))
        traced = _numpy(net(xs, np.array(flag)))
        net.hybridize(active=False)
        assert_tree_close(eager, traced)


def test_bad_bodies_get_clear_errors():
    f = hb.hybridize(lambda x: lax.while_loop(lambda v: v.sum() < 3, lambda v: v.sum(), x), backend="interp")
    with pytest.raises(hb.HybridError, match="body returns"):
        f(np.ones(3))
    g = hb.hybridize(lambda p, x: lax.cond(p, lambda x: x, lambda x: x[:2], x), backend="interp")
    with pytest.raises(hb.HybridError, match="branch 1 of cond returns"):
        g(np.array(True), np.ones(3))
    h = hb.hybridize(lambda i, s: npx.while_loop(lambda i, s: i < 3, lambda i, s: ([s], [i + 1, s]), [i, s]),
                     backend="interp")
    with pytest.raises(hb.HybridError, match="max_iterations"):
        h(np.array([0]), np.array([1.0]))
