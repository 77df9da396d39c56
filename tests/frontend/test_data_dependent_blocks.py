"""A hybridized block whose forward has a result of data-dependent shape (np.unique and friends,
x[mask], np.nonzero without size=) runs eagerly, as MXNet's hybridized blocks do, and says so once
with the reason; a hybridized *function* still raises (tests/frontend/test_static_size.py), and so does
other data-dependent Python control flow in a block (tests/frontend/test_tracing.py)."""
from __future__ import annotations

import warnings

import numpy as onp
import pytest

from hybrid import autograd, nn, np


class Uniques(nn.HybridBlock):
    def forward(self, x):
        values, counts = np.unique_counts(x)
        return values * 2, counts


class MaskedSquares(nn.HybridBlock):
    def forward(self, x):
        return (x[x > 0] ** 2).sum()


class Outer(nn.HybridBlock):
    """A data-dependent child inside a hybridized parent: the parent runs eagerly."""
    def __init__(self):
        super().__init__()
        self.inner = Uniques()

    def forward(self, x):
        values, counts = self.inner(x + 1)
        return values - 1, counts


@pytest.mark.parametrize("backend", ["interp", "llvm"])
@pytest.mark.parametrize("block", [Uniques, Outer])
def test_a_block_with_a_data_dependent_shape_runs_eagerly_and_says_why_once(backend, block):
    net = block()
    net.hybridize(backend=backend)
    data = onp.array([3, 1, 3, 0, 7, 1], "int32")
    shift = 1 if block is Outer else 0
    want_values, want_counts = onp.unique(data + shift, return_counts=True)
    with pytest.warns(UserWarning, match=rf"hybridized {block.__name__} runs eagerly(.|\n)*np\.unique_counts"):
        values, counts = net(np.array(data))
    onp.testing.assert_array_equal(values.asnumpy(), want_values * 2 - shift)
    onp.testing.assert_array_equal(counts.asnumpy(), want_counts)
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # said once: the next calls run eagerly without tracing again
        values, _ = net(np.array(data[:3]))
    onp.testing.assert_array_equal(values.asnumpy(), onp.unique(data[:3] + shift) * 2 - shift)


@pytest.mark.parametrize("backend", ["interp", "llvm"])
def test_a_boolean_mask_in_a_hybridized_block_keeps_its_gradient(backend):
    net = MaskedSquares()
    net.hybridize(backend=backend)
    values = onp.array([-1.0, 2.0, 3.0, -0.5], "float32")
    x = np.array(values)
    x.attach_grad()
    with pytest.warns(UserWarning, match="Boolean-mask indexing"):
        with autograd.record():
            y = net(x)
    y.backward()
    onp.testing.assert_allclose(y.asnumpy(), (values[values > 0] ** 2).sum(), rtol=1e-6)
    onp.testing.assert_allclose(x.grad.asnumpy(), onp.where(values > 0, 2 * values, 0), rtol=1e-6)
