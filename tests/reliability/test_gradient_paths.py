"""A head with no differentiable path to anything that wants a gradient: eager backward() raises,
and a hybridized function recorded under autograd must raise the same way instead of handing
back zero gradients (a fuzzer find). Outputs that do have a path keep their gradients."""
from __future__ import annotations

import numpy as onp
import pytest

import hybrid as hb
from hybrid import autograd, np, npx

MODES = ["eager", "interp", "llvm"]


def _compiled(fn, mode):
    return fn if mode == "eager" else hb.hybridize(fn, backend=mode)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("cut", [lambda a: np.stop_gradient(a) * 2,
                                 lambda a: (a > 0).astype("float32") + 1,
                                 lambda a: np.floor(a.astype("int32") * 1.0)])
def test_backward_without_a_path_raises_in_every_mode(mode, cut):
    x = np.array([0.5, -1.0, 2.0])
    x.attach_grad()
    f = _compiled(cut, mode)
    with autograd.record():
        y = f(x)
    with pytest.raises(hb.HybridError, match="no recorded computation that depends on an array with a gradient"):
        y.backward()


@pytest.mark.parametrize("mode", MODES)
def test_connected_output_keeps_its_gradient_beside_a_cut_one(mode):
    x = np.array([0.5, -1.0, 2.0])
    x.attach_grad()
    f = _compiled(lambda a: (a * a, np.stop_gradient(a) + 1), mode)
    with autograd.record():
        squared, cut = f(x)
    squared.backward()
    onp.testing.assert_allclose(x.grad.asnumpy(), 2 * x.asnumpy(), rtol=1e-6)
    with pytest.raises(hb.HybridError):
        cut.backward()


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("copying", [lambda a: a.copy(), lambda a: a.astype("float32"), lambda a: np.copy(a),
                                     lambda a: np.tile(np.broadcast_to(a, (2, 3)), 2)[0, :3]])
def test_copies_keep_the_gradient_path(mode, copying):
    """A copy (x.copy(), astype to the same dtype, the copy tile makes of a read-only broadcast
    view) is recorded with the identity as gradient, as PyTorch's clone(); it used to cut the path
    eagerly, so `copy(a) * 3 + a` got gradient 1 instead of 4 (a fuzzer find: every float32 output
    it summed through astype("float32") lost its gradient)."""
    torch = pytest.importorskip("torch")
    values = onp.array([0.5, -1.0, 2.0], "float32")
    x = np.array(values)
    x.attach_grad()
    f = _compiled(lambda a: copying(a) * 3 + a, mode)
    with autograd.record():
        loss = np.sum(f(x))
    loss.backward()
    t = torch.tensor(values, requires_grad=True)
    (t.clone() * 3 + t).sum().backward()
    onp.testing.assert_array_equal(x.grad.asnumpy(), t.grad.numpy())


@pytest.mark.parametrize("mode", MODES)
def test_gradient_through_a_size0_array_is_an_empty_gradient(mode):
    """The sum over an empty array is the constant 0 but still a function of that array: its
    gradient is an empty array of the input's shape, in every mode, as in PyTorch; beside a
    non-empty input it changes nothing (fuzzer programs 719-722)."""
    torch = pytest.importorskip("torch")
    empty, full = onp.zeros((4, 0, 3), "float32"), onp.array([[1.5, -2.0]], "float32")
    arrays = [np.array(empty), np.array(full)]
    for a in arrays:
        a.attach_grad()
    f = _compiled(lambda e, v: (np.repeat(e, 2, axis=0).astype("float16"), v * v), mode)
    with autograd.record():
        outs = f(*arrays)
        loss = np.sum(outs[0].astype("float32")) + np.sum(outs[1].astype("float32"))
    loss.backward()
    te, tv = (torch.tensor(a, requires_grad=True) for a in (empty, full))
    (te.repeat_interleave(2, 0).half().float().sum() + (tv * tv).sum()).backward()
    for a, t in zip(arrays, (te, tv)):
        assert a.grad.shape == tuple(t.grad.shape)
        onp.testing.assert_array_equal(a.grad.asnumpy(), t.grad.numpy())


@pytest.mark.filterwarnings("ignore::RuntimeWarning")   # NumPy's invalid-value warnings on the -inf/NaN statistics
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("special", [-onp.inf, onp.nan, None])
def test_batch_norm_batch_statistics_gradients_match_pytorch_with_nonfinite_input(mode, special):
    """BatchNorm with batch statistics over an input holding -inf or NaN: the batch mean is not
    finite, so the gradients of x and gamma are NaN in every mode, as PyTorch gives; beta's is the
    count (fuzzer programs 178/179, where eager used to give 0 because its loss had lost the
    path). The finite case checks the values themselves."""
    torch = pytest.importorskip("torch")
    rng = onp.random.default_rng(178)
    x = rng.uniform(-3, 3, (2, 3, 4, 5)).astype("float32")
    if special is not None:
        x[1, 1, 2, 3] = special
    gamma, beta = rng.uniform(0.5, 2, 3).astype("float32"), rng.uniform(-1, 1, 3).astype("float32")
    weights = rng.uniform(-1, 1, x.shape).astype("float32")     # a loss whose gradient is not zero
    arrays = [np.array(a) for a in (x, gamma, beta)]
    for a in arrays:
        a.attach_grad()
    stats = [np.zeros(3), np.ones(3)]
    f = _compiled(lambda a, g, b, m, v: npx.batch_norm(a, g, b, m, v, eps=1e-5, use_batch_stats=True)[0], mode)
    with autograd.record():
        loss = np.sum(f(*arrays, *stats) * np.array(weights))
    loss.backward()
    tensors = [torch.tensor(a, requires_grad=True) for a in (x, gamma, beta)]
    out = torch.nn.functional.batch_norm(tensors[0], None, None, tensors[1], tensors[2], training=True, eps=1e-5)
    (out * torch.tensor(weights)).sum().backward()
    for a, t in zip(arrays, tensors):
        onp.testing.assert_allclose(a.grad.asnumpy(), t.grad.numpy(), rtol=2e-4, atol=2e-5)
