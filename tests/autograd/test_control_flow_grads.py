"""Gradients through cond, scan and bounded while loops, hybridized (graph autodiff) and eager (tape),
against central finite differences in float64."""
import numpy as onp
import pytest

import hybrid as hb
import hybrid.core.control_ad as control_ad
from hybrid import autograd, lax, np, npx

from gradcheck import numeric_grad

RNG = onp.random.default_rng(7)


def rnn_loss(xs, h0, w):
    def step(h, x):
        h2 = np.tanh(h @ w + x)
        return h2, (h2 * h2).sum(axis=1)
    h, ys = lax.scan(step, h0, xs)
    inner = lax.fori_loop(0, 3, lambda i, v: np.sin(v) * 1.5, h)   # a nested static loop: another scan
    return inner.sum() + ys.sum() * 0.5


def branchy_loss(p, x, w):
    y = lax.cond(p, lambda x, w: np.exp(x * w).sum(), lambda x, w: (x @ w.T).sum() * 2.0, x, w)
    return y + (x * x).sum()


def bounded_while_loss(x, w):
    outs, (v, k) = npx.while_loop(lambda v, k: k < 4, lambda v, k: ([v * w], [np.tanh(v * w + 1.0), k + 1]),
                                  [x, np.array(0, dtype="int32")], max_iterations=6)
    return v.sum() + (outs * outs).sum()


CASES = {
    "scan": (rnn_loss, lambda: [RNG.normal(size=(4, 2, 3)), RNG.normal(size=(2, 3)), RNG.normal(size=(3, 3)) * 0.5]),
    "cond_true": (branchy_loss, lambda: [onp.array(True), RNG.normal(size=(2, 3)) * 0.3, RNG.normal(size=(2, 3))]),
    "cond_false": (branchy_loss, lambda: [onp.array(False), RNG.normal(size=(2, 3)), RNG.normal(size=(2, 3))]),
    "bounded_while": (bounded_while_loss, lambda: [RNG.normal(size=(3,)), RNG.normal(size=(3,)) * 0.5]),
}


def gradients(fn, values):
    arrays = [np.array(v) for v in values]
    for a in arrays:
        if a.dtype.kind == "f":
            a.attach_grad()
    with autograd.record():
        loss = fn(*arrays)
    loss.backward()
    return [a.grad.asnumpy() if a.dtype.kind == "f" else None for a in arrays]


# eager loops are taped step by step; compiled scans save residuals or recompute (checkpointing)
# (the CUDA kernels run in the host emulator: a g++ build per graph, so under -m slow)
MODES = [("eager", False), ("interp", False), ("interp", True), ("llvm", False),
         pytest.param("llvm", True, marks=pytest.mark.slow), pytest.param("cuda", False, marks=pytest.mark.slow)]


@pytest.mark.parametrize("backend, checkpoint", MODES, ids=["eager", "interp", "interp-recompute", "llvm",
                                                           "llvm-recompute", "cuda-emulator"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_gradients_match_finite_differences(case, backend, checkpoint, monkeypatch):
    monkeypatch.setattr(control_ad, "CHECKPOINT_SCANS", checkpoint)
    fn, make = CASES[case]
    values = [v.astype("f8") if v.dtype.kind == "f" else v for v in make()]
    options = {"runtime": "emulator"} if backend == "cuda" else {}
    target = fn if backend == "eager" else hb.hybridize(fn, backend=backend, **options)
    got = gradients(target, values)
    for k, v in enumerate(values):
        if got[k] is None:
            continue
        want = numeric_grad(lambda: float(fn(*[np.array(u) for u in values]).asnumpy()), v)
        onp.testing.assert_allclose(got[k], want, rtol=1e-5, atol=1e-6, err_msg=f"input {k}")


def test_unbounded_while_loop_refuses_to_differentiate():
    fn = hb.hybridize(lambda x: lax.while_loop(lambda v: v.sum() < 10.0, lambda v: v * 2.0, x).sum(),
                      backend="interp")
    x = np.array(onp.ones(3, "f4"))
    x.attach_grad()
    with pytest.raises(hb.HybridError, match="while_loop is not differentiable"):
        with autograd.record():
            loss = fn(x)
        loss.backward()
