"""Random ops (np.random.*, dropout) inside hybridized loop bodies: each iteration draws new
numbers from a key the loop carries. A scan takes the same keys eager steps take (the same
numbers, eager and compiled, for a seed); a while loop, whose trip count is unknown when traced,
draws from a stream of its own (the same numbers on every backend, the same distribution as eager)."""
import sys
from pathlib import Path

import numpy as onp
import pytest
from scipy import stats

import hybrid as hb
from hybrid import autograd, lax, np, npx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "autograd"))
from gradcheck import numeric_grad  # noqa: E402

OPTIONS = {"cuda": {"runtime": "emulator"}}
BACKENDS = ["interp", "llvm", "cuda"]


def noisy_scan(h, xs):
    def step(c, x):
        c = c * 0.5 + np.random.uniform(size=c.shape)
        return c, x + np.random.normal(size=x.shape) + npx.dropout(x + 1.0, p=0.5, training=True)
    return lax.scan(step, h, xs)


def run(fn, backend, *arrays, seed=11):
    target = fn if backend == "eager" else hb.hybridize(fn, backend=backend, **OPTIONS.get(backend, {}))
    hb.random.seed(seed)
    outs = target(*[np.array(a) for a in arrays])
    after = hb.np.random.uniform(size=3).asnumpy()   # where the generator stands after the call
    outs = outs if isinstance(outs, (tuple, list)) else [outs]
    return [o.asnumpy() for o in outs], after


@pytest.mark.parametrize("backend", BACKENDS)
def test_scan_draws_anew_each_step_and_as_eager_steps_do(backend):
    rng = onp.random.default_rng(0)
    h, xs = rng.normal(size=4).astype("f4"), rng.normal(size=(6, 4)).astype("f4")
    (carry, ys), after = run(noisy_scan, "eager", h, xs)
    (c_carry, c_ys), c_after = run(noisy_scan, backend, h, xs)
    # interp runs the registry's references: bit-equal; llvm/CUDA's inline log/cos: a few ulps
    tol = 0 if backend == "interp" else 1e-5
    onp.testing.assert_allclose(c_carry, carry, rtol=tol, atol=tol)
    onp.testing.assert_allclose(c_ys, ys, rtol=tol, atol=tol)
    onp.testing.assert_array_equal(c_after, after)          # the loop took as many keys as eager steps did
    noise = ys - xs
    assert len({tuple(onp.round(row, 5)) for row in noise}) == len(noise)   # every step drew new numbers


def noisy_walk(x):
    return lax.while_loop(lambda v: v.sum() < 40.0, lambda v: v + np.random.uniform(size=v.shape), x)


@pytest.mark.parametrize("backend", ["llvm", "cuda"])
def test_while_loop_draws_the_same_on_every_backend(backend):
    x = onp.zeros(8, "f4")
    (want,), want_after = run(noisy_walk, "interp", x)
    (got,), got_after = run(noisy_walk, backend, x)
    onp.testing.assert_allclose(got, want, rtol=1e-6)
    onp.testing.assert_array_equal(got_after, want_after)
    (again,), _ = run(noisy_walk, backend, x, seed=12)
    assert not onp.allclose(again, got)                     # another seed, other numbers


def uniform_draws(x):
    # 64 steps of 256 uniforms: while loop (own stream) and scan (the generator's keys)
    total, _ = lax.while_loop(lambda s: s[1] < 64, lambda s: (s[0] + np.random.uniform(size=256), s[1] + 1),
                              (x, np.array(0, dtype="int32")))
    _, per_step = lax.scan(lambda c, _: (c, np.random.uniform(size=256)), x, None, length=64)
    return total, per_step


def test_loop_draws_are_uniform_eager_and_compiled():
    x = onp.zeros(256, "f4")
    for backend in ("eager", "llvm"):
        (total, per_step), _ = run(uniform_draws, backend, x)
        # the scan's draws: 16384 values, uniform on [0, 1) (Kolmogorov-Smirnov)
        assert stats.kstest(per_step.reshape(-1), "uniform").pvalue > 1e-4, backend
        # the while loop's 64 draws per element sum to 64 * 0.5 with sd sqrt(64 / 12)
        z = (total - 32.0) / onp.sqrt(64 / 12)
        assert abs(z.mean()) < 4 / onp.sqrt(z.size) and 0.8 < z.std() < 1.2, backend


def dropout_rnn(xs, h0, w):
    def step(h, x):
        h2 = np.tanh(npx.dropout(h @ w + x, p=0.3, training=True))
        return h2, (h2 * h2).sum(axis=1)
    h, ys = lax.scan(step, h0, xs)
    return h.sum() + ys.sum() * 0.5


@pytest.mark.parametrize("backend", ["eager", "interp", "llvm"])
def test_gradients_through_dropout_in_a_scan_match_finite_differences(backend):
    rng = onp.random.default_rng(3)
    values = [rng.normal(size=(5, 2, 3)), rng.normal(size=(2, 3)), rng.normal(size=(3, 3)) * 0.5]
    target = dropout_rnn if backend == "eager" else hb.hybridize(dropout_rnn, backend=backend)
    arrays = [np.array(v) for v in values]
    for a in arrays:
        a.attach_grad()
    hb.random.seed(5)
    with autograd.record():
        loss = target(*arrays)
    loss.backward()

    def objective():   # the same masks: the same seed before each evaluation
        hb.random.seed(5)
        return float(dropout_rnn(*[np.array(v) for v in values]).asnumpy())
    for k, v in enumerate(values):
        onp.testing.assert_allclose(arrays[k].grad.asnumpy(), numeric_grad(objective, v), rtol=1e-5, atol=1e-6,
                                    err_msg=f"input {k}")


def test_a_replayed_graph_takes_as_many_keys_as_its_trace():
    # a loaded graph runs without the model code (core.replay): it must advance the generator as the
    # traced call did (a scan drawing 4 times per step, normal() takes two, over 6 steps, plus one before it)
    from hybrid.core.replay import count_random_ops, replay

    def fn(h, xs):
        carry, ys = noisy_scan(h + np.random.uniform(size=h.shape), xs)
        return carry, ys
    rng = onp.random.default_rng(4)
    h, xs = rng.normal(size=4).astype("f4"), rng.normal(size=(6, 4)).astype("f4")
    graph = hb.trace(fn, h, xs)
    assert count_random_ops(graph) == 1 + 6 * 4
    (want, want_ys), want_after = run(fn, "eager", h, xs)
    hb.random.seed(11)
    got, got_ys = replay(graph, [np.array(h), np.array(xs)], {})
    onp.testing.assert_array_equal(got.asnumpy(), want)
    onp.testing.assert_array_equal(got_ys.asnumpy(), want_ys)
    onp.testing.assert_array_equal(hb.np.random.uniform(size=3).asnumpy(), want_after)
