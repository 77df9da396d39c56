"""Shared checks for layers, losses and models: eager vs hybridized outputs and gradients, and
gradients against central finite differences (float64)."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as onp

from hybrid import autograd, np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "autograd"))
from gradcheck import numeric_grad  # noqa: E402


def _as_list(out):
    return list(out) if isinstance(out, (tuple, list)) else [out]


def forward_and_grads(block, inputs: list, weights: list, train: bool = False):
    """(outputs, d sum(out_i * weights_i) / d inputs, same / d params) as NumPy arrays."""
    xs = [np.array(x) for x in inputs]
    for x in xs:
        if x.dtype.kind == "f":
            x.attach_grad()
    block.collect_params().zero_grad()
    with autograd.record(train_mode=train):
        outs = _as_list(block(*xs))
        total = None
        for o, w in zip(outs, weights):
            term = np.sum(o * np.array(w.astype(o.dtype)))
            total = term if total is None else total + term
    total.backward()
    grads = [x.grad.asnumpy() for x in xs if x.dtype.kind == "f"]
    pgrads = {k: p.grad().asnumpy() for k, p in block.collect_params().items() if p.grad_req != "null"}
    return [o.asnumpy() for o in outs], grads, pgrads


def check_block(block, *inputs, backends=("interp", "llvm"), rtol: float = 1e-5, atol: float = 1e-5,
                ref=None, grad: bool = True, train: bool = False, **backend_options):
    """The block eager, then hybridized on each backend: same outputs (and input/parameter
    gradients when `grad`), and equal to `ref(*inputs)` when given. Returns the eager outputs."""
    block.initialize()
    rng = onp.random.default_rng(5)
    with autograd.pause():
        outs = _as_list(block(*[np.array(x) for x in inputs]))  # deferred shapes
    weights = [rng.standard_normal(o.shape) for o in outs]
    eager, e_grads, e_pgrads = forward_and_grads(block, inputs, weights, train) if grad else \
        ([o.asnumpy() for o in outs], None, None)
    if ref is not None:
        for got, want in zip(eager, _as_list(ref(*inputs))):
            onp.testing.assert_allclose(got, onp.asarray(want), rtol=rtol, atol=atol, err_msg="eager vs reference")
    for backend in backends:
        block.hybridize(backend=backend, **backend_options)
        if grad:
            got, g_grads, g_pgrads = forward_and_grads(block, inputs, weights, train)
            for a, b in zip(g_grads, e_grads):
                onp.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=f"{backend} input gradient")
            for k in e_pgrads:
                onp.testing.assert_allclose(g_pgrads[k], e_pgrads[k], rtol=rtol, atol=atol,
                                            err_msg=f"{backend} gradient of {k}")
        else:
            got = [o.asnumpy() for o in _as_list(block(*[np.array(x) for x in inputs]))]
        for a, b in zip(got, eager):
            onp.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=f"{backend} vs eager")
        block.hybridize(False)
    return eager


def check_finite_differences(block, *inputs, entries: int = 6, rtol: float = 1e-4, atol: float = 1e-6,
                             train: bool = False):
    """Eager float64 gradients (inputs and parameters) against central differences, a few entries each."""
    block.initialize()
    with autograd.pause():
        block(*[np.array(x) for x in inputs])
    for p in block.collect_params().values():
        p.cast("float64")
    inputs = [x.astype(onp.float64) if x.dtype.kind == "f" else x for x in inputs]
    rng = onp.random.default_rng(9)
    with autograd.pause():
        outs = _as_list(block(*[np.array(x) for x in inputs]))
    weights = [rng.standard_normal(o.shape) for o in outs]

    def objective():
        with autograd.pause(train_mode=train):
            outs = _as_list(block(*[np.array(x) for x in inputs]))
        return float(sum((o.asnumpy() * w).sum() for o, w in zip(outs, weights)))

    _, grads, pgrads = forward_and_grads(block, inputs, weights, train)
    floats = [x for x in inputs if x.dtype.kind == "f"]
    targets = [(f"input {i}", x, g) for i, (x, g) in enumerate(zip(floats, grads))]
    params = block.collect_params()
    targets += [(k, params[k]._data_eager()._data, g) for k, g in pgrads.items()]
    for name, array, analytic in targets:
        picks = rng.choice(array.size, size=min(entries, array.size), replace=False)
        numeric = numeric_grad(objective, array, eps=1e-6, entries=picks)
        onp.testing.assert_allclose(analytic.reshape(-1)[picks], numeric.reshape(-1)[picks], rtol=rtol, atol=atol,
                                    err_msg=f"finite differences: {name}")


