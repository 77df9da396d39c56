"""Gradients of integer arrays attached with attach_grad (MXNet's rule: an attached integer array
gets a gradient of its own dtype, computed as for real values and cast at the end; MXNet's own
tests backward() through sums, transposes and diagonals of int8/int32/int64 inputs). Eagerly and
hybridized on interp and llvm, compared with the same function on float64 copies of the values,
cast to the integer dtype. An integer result of float math still cuts the path
(tests/reliability/test_gradient_paths.py)."""
from __future__ import annotations

import numpy as onp
import pytest

import hybrid as hb
from hybrid import autograd, np

MODES = ["eager", "interp", "llvm"]
FUNCTIONS = {
    "sum_to_float": lambda a: np.sum(a, axis=0, dtype="float32"),
    "sum": lambda a: np.sum(a * 3, axis=1),
    "transpose": lambda a: np.transpose(a, (1, 0)) * 2,
    "diagonal": lambda a: np.diagonal(a, 1),
    "scaled_by_float": lambda a: a * 2.5,   # the float result's gradient 2.5 reaches the int32 input as 2
}


def _compiled(fn, mode):
    return fn if mode == "eager" else hb.hybridize(fn, backend=mode)


def _expected_gradient(fn, values: onp.ndarray, dtype: str) -> onp.ndarray:
    """d sum(fn(x)) / dx by unit finite differences on float64 copies (exact: every fn is linear), cast."""
    def total(v: onp.ndarray) -> float:
        return float(onp.sum(fn(np.array(v)).asnumpy()))

    base = values.astype("float64")
    grad = onp.zeros_like(base)
    for index in onp.ndindex(base.shape):
        step = base.copy()
        step[index] += 1.0
        grad[index] = total(step) - total(base)
    return grad.astype(dtype)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", ["int8", "int32", "int64", "uint8"])
@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_an_attached_integer_array_gets_a_gradient_of_its_dtype(mode, dtype, name):
    fn = FUNCTIONS[name]
    values = onp.arange(12).reshape(3, 4).astype(dtype)
    x = np.array(values)
    x.attach_grad()
    assert x.grad.dtype == onp.dtype(dtype)
    with autograd.record():
        y = _compiled(fn, mode)(x)
    y.backward()
    assert x.grad.dtype == onp.dtype(dtype)
    onp.testing.assert_array_equal(x.grad.asnumpy(), _expected_gradient(fn, values, dtype))


@pytest.mark.parametrize("mode", MODES)
def test_an_empty_integer_array_gets_an_empty_gradient(mode):
    x = np.zeros((4, 0, 3), dtype="int64")
    x.attach_grad()
    with autograd.record():
        y = _compiled(lambda a: np.sum(a, axis=1, dtype="float16"), mode)(x)
    y.backward()
    assert x.grad.shape == (4, 0, 3) and x.grad.dtype == onp.int64


@pytest.mark.parametrize("mode", MODES)
def test_float_and_integer_inputs_together(mode):
    """w * x with w float, x int32 (promoted to float): w gets x, x gets w truncated toward zero."""
    w = np.array([1.5, -2.5, 4.0])
    x = np.array([3, -1, 2], dtype="int32")
    for a in (w, x):
        a.attach_grad()
    with autograd.record():
        y = _compiled(lambda a, b: np.sum(a * b), mode)(w, x)
    y.backward()
    onp.testing.assert_array_equal(w.grad.asnumpy(), x.asnumpy().astype(w.dtype))
    onp.testing.assert_array_equal(x.grad.asnumpy(), onp.trunc(w.asnumpy()).astype("int32"))


def test_grad_req_add_accumulates_integer_gradients():
    x = np.array([[1, 2], [3, 4]], dtype="int32")
    x.attach_grad(grad_req="add")
    for _ in range(3):
        with autograd.record():
            y = np.transpose(x) * 2
        y.backward()
    onp.testing.assert_array_equal(x.grad.asnumpy(), onp.full((2, 2), 6, "int32"))
