"""Losses against NumPy formulas and PyTorch (values and gradients through the eager tape),
their numerical stability, weighting, and label-shape errors."""
import numpy as onp
import pytest

import hybrid as hb
from hybrid import autograd, gluon
from hybrid.gluon import loss as L

RNG = onp.random.default_rng(3)


def f32(*shape, scale=1.0):
    return (RNG.normal(size=shape) * scale).astype(onp.float32)


def value_and_grad(loss_fn, pred, label, *extra):
    """The per-sample loss and d(sum(loss * head))/d(pred) for a random head, by the tape."""
    x = hb.np.array(pred)
    x.attach_grad()
    with autograd.record():
        out = loss_fn(x, hb.np.array(label), *extra)
    head = RNG.uniform(0.5, 1.5, size=out.shape).astype(onp.float32)
    out.backward(hb.np.array(head))
    return out.asnumpy(), x.grad.asnumpy(), head


def torch_value_and_grad(fn, pred, label, head):
    torch = pytest.importorskip("torch")
    x = torch.tensor(pred, dtype=torch.float64, requires_grad=True)
    out = fn(torch, x, torch.tensor(label))
    (out * torch.tensor(head, dtype=torch.float64)).sum().backward()
    return out.detach().numpy(), x.grad.numpy()


def log_softmax(x, axis):
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - onp.log(onp.exp(shifted).sum(axis=axis, keepdims=True))


def check(got, want, tol=1e-5):
    onp.testing.assert_allclose(got, want, rtol=tol, atol=tol)


def test_softmax_ce_sparse_vs_numpy_and_torch():
    pred, label = f32(6, 5, scale=3), RNG.integers(0, 5, size=6).astype(onp.int32)
    value, grad, head = value_and_grad(L.SoftmaxCrossEntropyLoss(), pred, label)
    check(value, -log_softmax(pred.astype(onp.float64), 1)[onp.arange(6), label])
    tv, tg = torch_value_and_grad(lambda t, x, y: t.nn.functional.cross_entropy(x, y.long(), reduction="none"),
                                  pred, label, head)
    check(value, tv)
    check(grad, tg)


def test_softmax_ce_float_labels_and_trailing_one():
    pred = f32(4, 3)
    labels = onp.array([[0], [2], [1], [2]], onp.float32)   # Gluon-style float labels of shape (N, 1)
    got = L.SoftmaxCrossEntropyLoss()(hb.np.array(pred), hb.np.array(labels)).asnumpy()
    check(got, -log_softmax(pred.astype(onp.float64), 1)[onp.arange(4), labels[:, 0].astype(int)])


def test_softmax_ce_dense_labels_vs_torch():
    pred = f32(5, 4, scale=2)
    label = onp.abs(f32(5, 4)) + 0.1
    label /= label.sum(axis=1, keepdims=True)
    value, grad, head = value_and_grad(L.SoftmaxCrossEntropyLoss(sparse_label=False), pred, label)
    check(value, -(log_softmax(pred.astype(onp.float64), 1) * label).sum(axis=1))
    tv, tg = torch_value_and_grad(lambda t, x, y: t.nn.functional.cross_entropy(x, y.double(), reduction="none"),
                                  pred, label, head)
    check(value, tv)
    check(grad, tg)


def test_softmax_ce_other_axis_averages_non_batch_axes():
    pred, label = f32(3, 4, 6), RNG.integers(0, 4, size=(3, 6)).astype(onp.int32)   # classes on axis 1
    value, grad, head = value_and_grad(L.SoftmaxCrossEntropyLoss(axis=1), pred, label)
    tv, tg = torch_value_and_grad(
        lambda t, x, y: t.nn.functional.cross_entropy(x, y.long(), reduction="none").mean(dim=1), pred, label, head)
    check(value, tv)
    check(grad, tg)


def test_softmax_ce_from_log_probabilities():
    pred, label = f32(4, 3), onp.array([0, 1, 2, 1], onp.int32)
    logp = log_softmax(pred, 1).astype(onp.float32)
    got = L.SoftmaxCrossEntropyLoss(from_logits=True)(hb.np.array(logp), hb.np.array(label)).asnumpy()
    check(got, -logp[onp.arange(4), label])


def test_softmax_ce_is_stable_for_huge_logits():
    pred = onp.array([[1e4, -1e4, 0.0], [-3e4, 3e4, 3e4 - 2.0]], onp.float32)
    label = onp.array([1, 2], onp.int32)
    value, grad, _ = value_and_grad(L.SoftmaxCrossEntropyLoss(), pred, label)
    assert onp.isfinite(value).all() and onp.isfinite(grad).all()
    check(value, [2e4, 2.0 + onp.log1p(onp.exp(-2.0))], tol=1e-4)


def test_sigmoid_bce_vs_torch_with_and_without_pos_weight():
    pred, label = f32(4, 3, scale=4), RNG.integers(0, 2, size=(4, 3)).astype(onp.float32)
    value, grad, head = value_and_grad(L.SigmoidBinaryCrossEntropyLoss(), pred, label)
    tv, tg = torch_value_and_grad(lambda t, x, y: t.nn.functional.binary_cross_entropy_with_logits(
        x, y.double(), reduction="none").mean(dim=1), pred, label, head)
    check(value, tv)
    check(grad, tg)
    pos = onp.array([0.5, 2.0, 3.0], onp.float32)
    value, grad, head = value_and_grad(L.SigmoidBinaryCrossEntropyLoss(), pred, label, None, hb.np.array(pos))
    tv, tg = torch_value_and_grad(lambda t, x, y: t.nn.functional.binary_cross_entropy_with_logits(
        x, y.double(), pos_weight=t.tensor(pos, dtype=t.float64), reduction="none").mean(dim=1), pred, label, head)
    check(value, tv)
    check(grad, tg)


def test_sigmoid_bce_stable_and_from_sigmoid():
    pred = onp.array([[200.0, -200.0, 0.0]], onp.float32)
    label = onp.array([[0.0, 0.0, 1.0]], onp.float32)
    got = L.SigmoidBCELoss()(hb.np.array(pred), hb.np.array(label)).asnumpy()
    check(got, [(200.0 + 0.0 + onp.log(2.0)) / 3])
    probs = 1 / (1 + onp.exp(-f32(3, 2)))
    y = RNG.integers(0, 2, size=(3, 2)).astype(onp.float32)
    got = L.SigmoidBCELoss(from_sigmoid=True)(hb.np.array(probs), hb.np.array(y)).asnumpy()
    check(got, -(y * onp.log(probs) + (1 - y) * onp.log(1 - probs)).mean(axis=1))


@pytest.mark.parametrize("name", ["l2", "l1", "huber"])
def test_regression_losses_vs_torch(name):
    pred, label = f32(5, 2, 3, scale=2), f32(5, 2, 3, scale=2)
    loss_fn, torch_fn = {
        "l2": (L.L2Loss(), lambda t, x, y: 0.5 * (x - y) ** 2),
        "l1": (L.L1Loss(), lambda t, x, y: (x - y).abs()),
        "huber": (L.HuberLoss(rho=0.7), lambda t, x, y: t.nn.functional.smooth_l1_loss(
            x, y.double(), beta=0.7, reduction="none")),
    }[name]
    value, grad, head = value_and_grad(loss_fn, pred, label)
    tv, tg = torch_value_and_grad(lambda t, x, y: torch_fn(t, x, y.double()).mean(dim=(1, 2)), pred, label, head)
    check(value, tv)
    check(grad, tg)


def test_weight_and_sample_weight():
    pred, label = f32(4, 3), f32(4, 3)
    base = 0.5 * ((pred - label).astype(onp.float64) ** 2)
    sw = onp.array([1.0, 0.0, 2.0, 0.5], onp.float32)
    got = L.L2Loss(weight=3.0)(hb.np.array(pred), hb.np.array(label), sample_weight=hb.np.array(sw)).asnumpy()
    check(got, 3.0 * base.mean(axis=1) * sw)
    column = L.L2Loss()(hb.np.array(pred), hb.np.array(label), hb.np.array(sw[:, None])).asnumpy()
    check(column, base.mean(axis=1) * sw)
    per_class = onp.array([1.0, 2.0, 0.0], onp.float32)      # broadcasts over the last axis
    got = L.L2Loss()(hb.np.array(pred), hb.np.array(label), hb.np.array(per_class[None, :])).asnumpy()
    check(got, (base * per_class).mean(axis=1))


def test_label_reshaped_like_prediction():
    pred, label = f32(4, 1), f32(4)
    got = L.L1Loss()(hb.np.array(pred), hb.np.array(label)).asnumpy()
    check(got, onp.abs(pred[:, 0] - label))


def test_hybridized_loss_matches_eager():
    pred, label = f32(6, 5), RNG.integers(0, 5, size=6).astype(onp.int32)
    loss_fn = L.SoftmaxCrossEntropyLoss()
    eager = loss_fn(hb.np.array(pred), hb.np.array(label)).asnumpy()
    loss_fn.hybridize(backend="interp")
    check(loss_fn(hb.np.array(pred), hb.np.array(label)).asnumpy(), eager, tol=1e-6)
    assert "log" in loss_fn.ir()


def test_label_shape_mismatch_errors_name_both_shapes():
    pred = hb.np.array(f32(4, 3))
    with pytest.raises(hb.ShapeError, match=r"SoftmaxCrossEntropyLoss: sparse label shape \(4, 2\) does not match "
                                            r"prediction shape \(4, 3\): expected \(4,\)"):
        L.SoftmaxCrossEntropyLoss()(pred, hb.np.zeros((4, 2), "int32"))
    with pytest.raises(hb.ShapeError, match=r"dense label shape \(4,\) does not match prediction shape \(4, 3\)"):
        L.SoftmaxCrossEntropyLoss(sparse_label=False)(pred, hb.np.zeros((4,), "int32"))
    with pytest.raises(hb.ShapeError, match=r"L2Loss: label shape \(4, 2\) does not match prediction shape "
                                            r"\(4, 3\)") as info:
        L.L2Loss()(pred, hb.np.zeros((4, 2)))
    assert "test_loss.py" in str(info.value)   # the user's line
    with pytest.raises(hb.ShapeError, match="SigmoidBinaryCrossEntropyLoss: label shape"):
        L.SigmoidBinaryCrossEntropyLoss()(pred, hb.np.zeros((3,)))


def test_gluon_namespace():
    assert gluon.loss.SoftmaxCELoss is gluon.loss.SoftmaxCrossEntropyLoss
    assert isinstance(gluon.loss.L2Loss(), hb.nn.HybridBlock)
