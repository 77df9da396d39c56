"""NumPy/MXNet array semantics: in-place operators write into the array (every alias sees it),
basic indexing / reshape / transpose return views, advanced indexing copies. Hybridized code
gives the eager result: writes while tracing are functional updates of the traced values."""
from __future__ import annotations

import operator

import numpy as onp
import pytest

import hybrid as hb
from hybrid import autograd, gluon, nn, np, npx
from hybrid.errors import CastingError, HybridError, IndexOutOfRangeError, ShapeError

BACKENDS = ["interp", "llvm"]

# (operator, operand for float arrays, operand for int arrays or None where NumPy refuses it in place)
INPLACE = [
    (operator.iadd, 1.5, 3), (operator.isub, 0.25, 2), (operator.imul, -2.0, 3),
    (operator.itruediv, 4.0, None), (operator.ifloordiv, 2.0, 3), (operator.imod, 1.5, 4),
    (operator.ipow, 2.0, 2),
]


@pytest.mark.parametrize("op,fval,ival", INPLACE, ids=[o[0].__name__ for o in INPLACE])
def test_inplace_operators_write_into_the_array_like_numpy(op, fval, ival):
    base = onp.arange(1, 7, dtype=onp.float32).reshape(2, 3)
    for dtype, value in (("float32", fval), ("int32", ival)):
        if value is None:
            continue
        expected = base.astype(dtype)
        x = np.array(expected.copy())
        alias = x
        result = op(x, value)
        expected = op(expected, value)
        assert result is alias, "x op= y must return the same array object"
        onp.testing.assert_allclose(alias.asnumpy(), expected, rtol=1e-6)
        assert alias.dtype == expected.dtype


def test_inplace_with_array_operand_broadcasts_and_keeps_dtype():
    x = np.array(onp.ones((2, 3), onp.float32))
    x += np.array(onp.arange(3, dtype=onp.float64))   # float64 -> float32 is 'same_kind'
    onp.testing.assert_array_equal(x.asnumpy(), onp.ones((2, 3)) + onp.arange(3))
    assert x.dtype == onp.float32
    flags = np.array(onp.array([True, False, True]))
    flags &= np.array(onp.array([True, True, False]))
    flags |= np.array(onp.array([False, True, False]))
    flags ^= np.array(onp.array([True, False, False]))
    onp.testing.assert_array_equal(flags.asnumpy(), onp.array([False, True, False]))


def test_inplace_follows_numpys_casting_rule():
    x = np.array(onp.arange(3, dtype=onp.int32))
    with pytest.raises(CastingError, match=r"x \+= y: cannot cast the float32 result into the int32 array") as info:
        x += 1.5
    assert isinstance(info.value, TypeError)  # NumPy raises a TypeError subclass too
    with pytest.raises(TypeError):
        onp.arange(3, dtype=onp.int32).__iadd__(1.5)
    with pytest.raises(CastingError, match=r"x /= y"):
        x /= 2
    onp.testing.assert_array_equal(x.asnumpy(), [0, 1, 2])  # nothing was written
    with pytest.raises(ShapeError, match=r"x \+= y: .*cannot change the shape"):
        x += np.array(onp.ones((2, 3), onp.int32))


def test_aliases_and_block_parameters_see_inplace_updates():
    net = nn.Dense(3, in_units=4)
    net.initialize()
    weight = net.weight.data()
    before = weight.asnumpy()
    w = weight
    w -= 0.5
    onp.testing.assert_allclose(net.weight.data().asnumpy(), before - 0.5)
    x = np.array(onp.ones((2, 4), onp.float32))
    onp.testing.assert_allclose(net(x).asnumpy(), onp.ones((2, 4)) @ (before - 0.5).T + net.bias.data().asnumpy(),
                                rtol=1e-5)
    net.hybridize(backend="llvm")  # compiled code sees a write through a view of the parameter too
    row = net.weight.data()[1]
    row[:] = 2.0
    expected = before - 0.5
    expected[1] = 2.0
    onp.testing.assert_allclose(net(x).asnumpy(), onp.ones((2, 4)) @ expected.T + net.bias.data().asnumpy(),
                                rtol=1e-5)


VIEW_CASES = {
    "int": lambda a: a[0],
    "slice": lambda a: a[1:3],
    "step": lambda a: a[:, ::2],
    "negative step": lambda a: a[::-1, 1],
    "newaxis": lambda a: a[..., None],
    "ellipsis": lambda a: a[..., 1],
    "T": lambda a: a.T,
    "transpose": lambda a: a.transpose(1, 0, 2),
    "reshape": lambda a: a.reshape(4, 6),
    "view of view": lambda a: a[1:][0].T,
}


@pytest.mark.parametrize("case", sorted(VIEW_CASES))
def test_basic_indexing_returns_views_like_numpy(case):
    take = VIEW_CASES[case]
    ref = onp.arange(24, dtype=onp.float32).reshape(4, 2, 3)
    a = np.array(ref.copy())
    view, ref_view = take(a), take(ref)
    assert view.shape == ref_view.shape
    view[...] = -7.0            # a write through the view reaches the base
    ref_view[...] = -7.0
    onp.testing.assert_array_equal(a.asnumpy(), ref)
    a += 1.0                    # and a write into the base reaches the view
    ref += 1.0
    onp.testing.assert_array_equal(view.asnumpy(), ref_view)


def test_advanced_indexing_and_non_contiguous_reshape_copy_like_numpy():
    ref = onp.arange(12, dtype=onp.float32).reshape(3, 4)
    a = np.array(ref.copy())
    picked = a[np.array(onp.array([0, 2]))]
    picked[...] = 0.0
    onp.testing.assert_array_equal(a.asnumpy(), ref)
    flat = a.T.reshape(12)      # NumPy copies here: the transposed data is not contiguous
    flat[...] = 0.0
    onp.testing.assert_array_equal(a.asnumpy(), ref)


def _program(a, b):
    """In-place operators, slice writes and writes through views (of views) on arrays and aliases."""
    alias = a
    alias += b[1, :1]
    a *= 2.0
    a[0] = 5.0
    a[:, 1] -= b[0]
    row = a[1]
    row[2:] = row[:2]          # a view written from a view of the same base
    col = a.T[1:]
    col[0] **= 2.0
    c = b.reshape(3, 2)
    c[0, 1] = 10.0
    b /= 4.0
    sub = a[1:][0]             # view of a view
    sub[0] = b[1, 0]
    a[a > 30.0] = 0.0          # boolean-mask write
    a[onp.array([2, 0])] += 1.0   # integer-array write
    return a, b, row, c


@pytest.mark.parametrize("backend", BACKENDS)
def test_hybridized_inplace_and_view_writes_give_the_eager_result(backend):
    rng = onp.random.default_rng(3)
    a0 = rng.uniform(-2, 2, (3, 4)).astype(onp.float32)
    b0 = rng.uniform(-2, 2, (2, 3)).astype(onp.float32)
    expected = _program(a0.copy(), b0.copy())           # NumPy itself
    eager = _program(np.array(a0), np.array(b0))
    compiled = hb.hybridize(_program, backend=backend)(np.array(a0), np.array(b0))
    for ref, e, c in zip(expected, eager, compiled):
        onp.testing.assert_allclose(e.asnumpy(), ref, rtol=1e-6)
        onp.testing.assert_allclose(c.asnumpy(), ref, rtol=1e-6)


def test_compile_step_traces_inplace_writes_in_forward():
    class Net(nn.HybridBlock):
        def __init__(self):
            super().__init__()
            self.fc = nn.Dense(3, in_units=4)

        def forward(self, x):
            x = x.copy()
            x *= 2.0               # in-place on an untracked array: functional while traced
            mask = np.ones((x.shape[0], 3))
            mask[:, 0] = 0.0       # slice write
            h = self.fc(x) * mask
            return h

    rng = onp.random.default_rng(2)
    batches = [(np.array(rng.standard_normal((5, 4)).astype(onp.float32)),
                np.array(rng.integers(0, 3, 5).astype(onp.int32))) for _ in range(3)]
    nets = [Net(), Net()]
    for net in nets:
        net.initialize(hb.init.Constant(0.2))
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    eager_trainer = gluon.Trainer(nets[0].collect_params(), "sgd", {"learning_rate": 0.3})
    eager_losses = []
    for x, y in batches:
        with autograd.record():
            loss = loss_fn(nets[0](x), y)
        loss.backward()
        eager_trainer.step(len(x))
        eager_losses.append(loss.asnumpy())
    step = hb.compile_step(nets[1], loss_fn, gluon.Trainer(nets[1].collect_params(), "sgd", {"learning_rate": 0.3}),
                           backend="llvm")
    for (x, y), ref in zip(batches, eager_losses):
        onp.testing.assert_allclose(step(x, y).asnumpy(), ref, rtol=1e-5)
    onp.testing.assert_allclose(nets[1].fc.weight.data().asnumpy(), nets[0].fc.weight.data().asnumpy(), rtol=1e-5)


def test_from_scratch_training_with_inplace_updates_trains_and_matches_trainer():
    rng = onp.random.default_rng(0)
    x = rng.standard_normal((64, 5)).astype(onp.float32)
    true_w = rng.standard_normal((5, 1)).astype(onp.float32)
    y = x @ true_w + 0.3
    lr, batch = 0.1, 16

    net = nn.Dense(1, in_units=5)
    net.initialize()
    twin = nn.Dense(1, in_units=5)
    twin.initialize()
    twin.weight.set_data(net.weight.data().asnumpy())
    twin.bias.set_data(net.bias.data().asnumpy())
    trainer = gluon.Trainer(twin.collect_params(), "sgd", {"learning_rate": lr})
    loss_fn = gluon.loss.L2Loss()
    params = [net.weight.data(), net.bias.data()]
    losses = []
    for epoch in range(3):
        for i in range(0, len(x), batch):
            xb, yb = np.array(x[i:i + batch]), np.array(y[i:i + batch])
            with autograd.record():
                loss = loss_fn(net(xb), yb)
            loss.backward()                     # a per-sample loss: MXNet seeds a gradient of ones
            for p in params:
                p -= lr * p.grad / batch        # the d2l book's sgd(): writes into the parameter
            with autograd.record():
                twin_loss = loss_fn(twin(xb), yb)
            twin_loss.backward()
            trainer.step(batch)
        losses.append(float(loss_fn(net(np.array(x)), np.array(y)).mean()))
    assert losses[-1] < 0.25 * losses[0]
    onp.testing.assert_allclose(net.weight.data().asnumpy(), twin.weight.data().asnumpy(), rtol=1e-5, atol=1e-6)
    onp.testing.assert_allclose(net.bias.data().asnumpy(), twin.bias.data().asnumpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("hybridize", [False, True])
def test_non_scalar_backward_and_trainer_step_equal_the_summed_loss(hybridize):
    rng = onp.random.default_rng(1)
    x = np.array(rng.standard_normal((8, 6)).astype(onp.float32))
    label = np.array(rng.integers(0, 4, 8).astype(onp.int32))
    nets = []
    for _ in range(2):
        net = nn.Dense(4, in_units=6)
        net.initialize(hb.init.Constant(0.1))
        if hybridize:
            net.hybridize(backend="llvm")
        nets.append(net)
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    for net, reduce in zip(nets, (False, True)):
        trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.5})
        with autograd.record():
            loss = loss_fn(net(x), label)
            if reduce:
                loss = loss.sum()
        loss.backward()
        trainer.step(8)
    for a, b in zip(nets[0].collect_params().values(), nets[1].collect_params().values()):
        onp.testing.assert_allclose(a.data().asnumpy(), b.data().asnumpy(), rtol=1e-6)


def test_inplace_write_while_recording_a_gradient_target_is_a_clear_error():
    w = np.array(onp.ones(3, onp.float32))
    w.attach_grad()
    with autograd.record():
        with pytest.raises(HybridError, match=r"in-place write to a f32\[3\] array that autograd is recording"):
            w += 1.0
        y = w * 2.0
        with pytest.raises(HybridError, match=r"recording gradients"):
            y[0] = 5.0
        with pytest.raises(HybridError, match=r"recording gradients"):
            w[1:][0] = 5.0         # through a view of the target
        free = np.array(onp.zeros(3, onp.float32))
        with pytest.raises(HybridError, match=r"value that needs a gradient"):
            free[...] = y
        free += 1.0                # untracked arrays are fine under record()
    onp.testing.assert_array_equal(w.asnumpy(), onp.ones(3))
    w -= 0.5                       # outside record(): an optimizer update
    onp.testing.assert_array_equal(w.asnumpy(), onp.full(3, 0.5))


@pytest.mark.parametrize("backend", [None] + BACKENDS)
def test_out_of_range_label_raises_naming_label_range_and_line(backend):
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    if backend:
        loss_fn.hybridize(backend=backend)
    pred = np.array(onp.zeros((3, 10), onp.float32))
    good = loss_fn(pred, np.array(onp.array([0, 9, 4], onp.int32)))
    onp.testing.assert_allclose(good.asnumpy(), onp.full(3, onp.log(10.0)), rtol=1e-6)
    with pytest.raises(IndexOutOfRangeError, match=r"40 is out of range \[0, 10\)") as info:
        loss_fn(pred, np.array(onp.array([1, 40, 2], onp.int32)))
    assert "test_inplace_views.py" in str(info.value)  # the user's line
    with pytest.raises(IndexOutOfRangeError, match=r"-1 is out of range \[0, 10\)"):
        loss_fn(pred, np.array(onp.array([1, -1, 2], onp.int32)))


@pytest.mark.parametrize("value", [onp.array(2.5, onp.float32), onp.array([3], onp.int32),
                                   onp.array([[0.0]], onp.float32), onp.ones(2, onp.float32)],
                         ids=["0-d", "1-element 1-d", "1-element 2-d", "2 elements"])
@pytest.mark.parametrize("convert", [float, int, bool])
def test_scalar_conversions_follow_mxnet(value, convert):
    """MXNet converts any size-1 array (whatever its rank) to a Python scalar, as NumPy before 2.x
    did; more than one element raises NumPy's error type."""
    if value.size == 1:
        assert convert(np.array(value)) == convert(value.item())
        return
    try:
        convert(value)
    except (TypeError, ValueError) as error:
        with pytest.raises(type(error)):
            convert(np.array(value))
    else:
        raise AssertionError(f"NumPy converted {value!r}")


def test_set_np_and_reset_np_are_accepted():
    npx.set_np()
    npx.reset_np()
    npx.set_np(shape=True, array=True)
    assert npx.is_np_array() and npx.is_np_shape()
    npx.set_np(dtype=True)              # NumPy's float64 defaults until set_np() / reset_np()
    assert npx.is_np_default_dtype()
    npx.set_np()
    assert not npx.is_np_default_dtype()


def test_views_of_queued_results_share_memory():
    """A view of an array whose op is still queued (core/engine.py) is made once the op has run, so
    the op's result never lands over the view."""
    a = np.array(onp.arange(1 << 20, dtype=onp.float32).reshape(1024, 1024))
    for _ in range(5):
        b = a * 2.0                    # large enough to be queued
        row = b[3]
        row[...] = -1.0
        col = (b + 1.0).T
        col[0] = 7.0
        onp.testing.assert_array_equal(b.asnumpy()[3], onp.full(1024, -1.0, onp.float32))
        onp.testing.assert_array_equal(col.asnumpy()[0], onp.full(1024, 7.0, onp.float32))


@pytest.mark.parametrize("traced", [False, True])
def test_out_arguments_write_into_the_given_array(traced):
    rng = onp.random.default_rng(4)
    data = rng.standard_normal((3, 5)).astype(onp.float32)

    def fn(a, o1, o2):
        np.cumsum(a, axis=1, out=o1)
        np.median(a, axis=0, out=o2)
        return o1, o2

    args = [np.array(data), np.array(onp.zeros((3, 5), onp.float32)), np.array(onp.zeros(5, onp.float32))]
    if traced:
        o1, o2 = hb.hybridize(fn, backend="llvm")(*args)
    else:
        o1, o2 = fn(*args)
        assert o1 is args[1] and o2 is args[2]
    onp.testing.assert_allclose(o1.asnumpy(), onp.cumsum(data, axis=1), rtol=1e-5)
    onp.testing.assert_allclose(o2.asnumpy(), onp.median(data, axis=0), rtol=1e-6)
    with pytest.raises(CastingError, match=r"out=: cannot cast the float32 result into the int32 array"):
        np.cumsum(np.array(data), out=np.array(onp.zeros(15, onp.int32)))
    with pytest.raises(ShapeError, match=r"out=: the result has shape"):
        np.median(np.array(data), axis=0, out=np.array(onp.zeros(3, onp.float32)))
    filled = np.array(onp.zeros((2, 2), onp.float32))
    assert np.random.default_rng(0).random(out=filled) is filled and float(filled.asnumpy().std()) > 0


def _write_higher_rank_values(x, v):
    """MXNet's setitem rule: a value's leading size-1 axes beyond the indexed region's rank are dropped
    (NumPy 2 refuses a (1, 1) value for a single element: d2l's `preds[i] = net(X.reshape(1, -1))`)."""
    x[1, 2] = v                                  # (1, 1) into one element
    x[0] = np.broadcast_to(v, (1, 1, 4)) * 2.0   # (1, 1, 4) into a row
    x[2, 1:3] = np.reshape(v, (1, 1, 1)) - 1.0   # (1, 1, 1) into a (2,) slice
    return x


@pytest.mark.parametrize("backend", [None] + BACKENDS)
def test_setitem_drops_a_values_leading_unit_axes_like_mxnet(backend):
    x0, v0 = onp.arange(12, dtype=onp.float32).reshape(3, 4), onp.array([[7.5]], onp.float32)
    expected = x0.copy()
    expected[1, 2], expected[0], expected[2, 1:3] = 7.5, 15.0, 6.5
    fn = _write_higher_rank_values if backend is None else hb.hybridize(_write_higher_rank_values, backend=backend)
    onp.testing.assert_array_equal(fn(np.array(x0), np.array(v0)).asnumpy(), expected)


def test_setitem_still_refuses_values_that_do_not_fit():
    x = np.zeros((3, 4))
    with pytest.raises(ValueError, match="broadcast"):
        x[0] = np.ones((2, 4))                   # a leading axis of size 2 is data, never dropped
    with pytest.raises(ValueError):
        x[1, 1] = np.ones((1, 2))                # two values for one element
    with pytest.raises(ShapeError, match="broadcast"):
        hb.hybridize(lambda a: (a.__setitem__((1, 1), np.ones((1, 2))), a)[1], backend="interp")(np.zeros((3, 4)))
