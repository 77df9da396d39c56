"""The API uses of the "Dive into Deep Learning" (MXNet edition) programs, each as a small program of
the book's shape written against `import hybrid as mx` (issue 17: those programs should run with only
the import line changed). Tiny synthetic data instead of the book's downloads; results are checked
against NumPy (closed-form or step-by-step), never against stored numbers."""
import inspect
import math

import numpy as onp
import pytest

from hybrid import autograd, gluon, init, np, npx
from hybrid.gluon import nn, rnn
from hybrid.gluon.data.vision import transforms

npx.set_np()


class Model(nn.Block):
    """The book's base class: a Block whose training code finds its parameters either in
    collect_params() or, for from-scratch models, in array attributes (found through dir())."""

    def parameters(self):
        params = self.collect_params()
        if isinstance(params, gluon.parameter.ParameterDict) and len(params.keys()):
            return params
        return [getattr(self, a) for a in dir(self) if isinstance(getattr(self, a), np.ndarray)]


def synthetic(w, b, n, seed):
    rng = onp.random.default_rng(seed)
    X = rng.normal(size=(n, len(w))).astype(onp.float32)
    y = X @ onp.asarray(w, onp.float32).reshape(-1, 1) + b + 0.01 * rng.normal(size=(n, 1)).astype(onp.float32)
    return np.array(X), np.array(y)


def loader(arrays, batch_size, shuffle=True):
    return gluon.data.DataLoader(gluon.data.ArrayDataset(*arrays), batch_size, shuffle=shuffle)


def test_linear_regression_from_scratch():
    """Array attributes with attach_grad, `param -= lr * param.grad` in place, a shuffled DataLoader."""
    class LinearRegressionScratch(Model):
        def __init__(self, num_inputs, sigma=0.01):
            super().__init__()
            self.w = np.random.normal(0, sigma, (num_inputs, 1))
            self.b = np.zeros(1)
            self.w.attach_grad()
            self.b.attach_grad()

        def forward(self, X):
            return np.dot(X, self.w) + self.b

    true_w, true_b = [2.0, -3.4], 4.2
    model = LinearRegressionScratch(2)
    params = model.parameters()
    assert isinstance(params, list) and len(params) == 2      # dir() found w and b; no property raised
    for _ in range(3):
        for X, y in loader(synthetic(true_w, true_b, 1000, 0), 32):
            with autograd.record():
                loss = (((model(X) - y) ** 2) / 2).mean()
            loss.backward()
            for p in params:
                p -= 0.1 * p.grad
    onp.testing.assert_allclose(model.w.asnumpy().ravel(), true_w, atol=0.02)
    onp.testing.assert_allclose(model.b.asnumpy(), [true_b], atol=0.02)


def test_linear_regression_concise_matches_numpy_sgd():
    """nn.Dense + init.Normal + gluon.loss.L2Loss + Trainer('sgd'): each step equals NumPy's."""
    X, y = synthetic([2.0, -3.4], 4.2, 64, 1)
    net = nn.Dense(1)
    net.initialize(init.Normal(sigma=0.01))
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.03})
    loss_fn = gluon.loss.L2Loss()
    net(X[:1])
    w, b = net.weight.data().asnumpy().copy(), net.bias.data().asnumpy().copy()
    Xn, yn = X.asnumpy(), y.asnumpy()
    for i in range(0, 64, 16):
        with autograd.record():
            loss = loss_fn(net(X[i:i + 16]), y[i:i + 16]).mean()
        loss.backward()
        trainer.step(1)
        err = Xn[i:i + 16] @ w.T + b - yn[i:i + 16]          # L2Loss = err^2 / 2, mean over the batch
        w, b = w - 0.03 * (err.T @ Xn[i:i + 16]) / 16, b - 0.03 * err.sum(0) / 16
    onp.testing.assert_allclose(net.weight.data().asnumpy(), w, rtol=1e-5, atol=1e-6)
    onp.testing.assert_allclose(net.bias.data().asnumpy(), b, rtol=1e-5, atol=1e-6)


def test_softmax_classifier_on_image_dataset_with_transforms():
    """Fashion-MNIST's pipeline on synthetic 28x28 uint8 images: transform_first(Compose([Resize,
    ToTensor])), the classifier's accuracy (argmax, astype to the label dtype, ==, mean) and
    SoftmaxCrossEntropyLoss, checked against NumPy."""
    rng = onp.random.default_rng(2)
    images = rng.integers(0, 256, size=(40, 28, 28, 1)).astype(onp.uint8)
    labels = rng.integers(0, 10, size=40).astype(onp.int32)
    dataset = gluon.data.ArrayDataset(images, labels)
    trans = transforms.Compose([transforms.Resize((32, 32)), transforms.ToTensor()])
    batches = list(gluon.data.DataLoader(dataset.transform_first(trans), 20, shuffle=False))
    X, Y = batches[0]
    assert X.shape == (20, 1, 32, 32) and X.dtype == onp.float32 and float(X.max()) <= 1.0
    net = nn.Dense(10)
    net.initialize()
    Y_hat = net(X)
    preds = Y_hat.argmax(axis=1).astype(Y.dtype)
    acc = (preds == Y.reshape(-1)).astype(np.float32).mean()
    logits = Y_hat.asnumpy()
    onp.testing.assert_allclose(float(acc), (logits.argmax(1) == Y.asnumpy()).mean(), rtol=1e-6)
    loss = gluon.loss.SoftmaxCrossEntropyLoss()(Y_hat, Y).mean()
    shifted = logits - logits.max(1, keepdims=True)
    log_p = shifted - onp.log(onp.exp(shifted).sum(1, keepdims=True))
    onp.testing.assert_allclose(float(loss), -log_p[onp.arange(20), Y.asnumpy()].mean(), rtol=1e-5)


def test_lenet_layer_summary_and_hybridized_training_step():
    """The book's LeNet: iterate `for layer in net` for output shapes, then a hybridized step that
    equals the eager one."""
    def lenet():
        net = nn.HybridSequential()
        net.add(nn.Conv2D(6, kernel_size=5, padding=2, activation="sigmoid"), nn.AvgPool2D(pool_size=2, strides=2),
                nn.Conv2D(16, kernel_size=5, activation="sigmoid"), nn.AvgPool2D(pool_size=2, strides=2),
                nn.Dense(120, activation="sigmoid"), nn.Dense(84, activation="sigmoid"), nn.Dense(10))
        net.initialize(init.Xavier())
        return net
    X = np.random.normal(size=(4, 1, 28, 28))
    Y = np.array([1, 3, 5, 7])
    net = lenet()
    shapes, h = [], X
    for layer in net:
        h = layer(h)
        shapes.append(h.shape)
    assert shapes == [(4, 6, 28, 28), (4, 6, 14, 14), (4, 16, 10, 10), (4, 16, 5, 5), (4, 120), (4, 84), (4, 10)]
    twin = lenet()
    twin.load_dict({k: p.data() for k, p in net.collect_params().items()})
    twin.hybridize()
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    for model in (net, twin):
        trainer = gluon.Trainer(model.collect_params(), "sgd", {"learning_rate": 0.9})
        with autograd.record():
            loss = loss_fn(model(X), Y).mean()
        loss.backward()
        trainer.step(1)
    for (name, p), q in zip(net.collect_params().items(), twin.collect_params().values()):
        onp.testing.assert_allclose(q.data().asnumpy(), p.data().asnumpy(), rtol=1e-4, atol=1e-6, err_msg=name)


def test_gradient_clipping_by_global_norm_in_place():
    """The book's clip_gradients: a Python sum of per-parameter squared norms under math.sqrt, then
    `p.grad[:] *= c / norm` on each parameter's array."""
    net = nn.Dense(3, in_units=4)
    net.initialize()
    with autograd.record():
        loss = (net(np.random.normal(size=(8, 4))) ** 2).sum() * 100
    loss.backward()
    params = [p.data() for p in net.collect_params().values()]
    before = [p.grad.asnumpy().copy() for p in params]
    norm = math.sqrt(sum((p.grad ** 2).sum() for p in params))
    onp.testing.assert_allclose(norm, math.sqrt(sum((g ** 2).sum() for g in before)), rtol=1e-5)
    assert norm > 1
    for p in params:
        p.grad[:] *= 1.0 / norm
    for p, g in zip(params, before):
        onp.testing.assert_allclose(p.grad.asnumpy(), g / norm, rtol=1e-6)


def test_rnn_language_model_step_shapes_and_state():
    """The concise RNN LM: one-hot inputs (npx.one_hot of X.T), rnn.RNN with begin_state(batch_size=,
    ctx=), a Dense output over the flattened time steps."""
    vocab, hiddens, batch, steps = 12, 16, 3, 5
    layer = rnn.RNN(hiddens)
    layer.initialize()
    out_layer = nn.Dense(vocab)
    out_layer.initialize()
    X = np.array(onp.random.default_rng(3).integers(0, vocab, size=(batch, steps)))
    inputs = npx.one_hot(X.T, vocab)
    assert inputs.shape == (steps, batch, vocab)
    state = layer.begin_state(batch_size=batch, ctx=npx.cpu())
    out, new_state = layer(inputs, state)
    assert out.shape == (steps, batch, hiddens) and new_state[0].shape == (1, batch, hiddens)
    logits = out_layer(out.reshape(-1, out.shape[-1]))
    assert logits.shape == (steps * batch, vocab)
    onp.testing.assert_allclose(new_state[0].asnumpy()[0], out.asnumpy()[-1], rtol=1e-6)


def test_masked_softmax_attention():
    """The attention chapter's masked_softmax (npx.sequence_mask with value=-1e6 along axis 1) and
    npx.batch_dot(transpose_b=True)."""
    rng = onp.random.default_rng(4)
    scores = rng.normal(size=(2, 2, 4)).astype(onp.float32)
    valid = onp.array([2, 3], onp.float32)
    lens = onp.repeat(valid, 2)
    masked = npx.sequence_mask(np.array(scores).reshape(-1, 4), np.array(lens), True, value=-1e6, axis=1)
    weights = npx.softmax(masked).reshape(2, 2, 4).asnumpy()
    expected = onp.where(onp.arange(4)[None, :] < lens[:, None], onp.exp(scores.reshape(-1, 4)), 0)
    onp.testing.assert_allclose(weights, (expected / expected.sum(1, keepdims=True)).reshape(2, 2, 4), rtol=1e-5)
    q, k = rng.normal(size=(2, 3, 5)).astype(onp.float32), rng.normal(size=(2, 4, 5)).astype(onp.float32)
    onp.testing.assert_allclose(npx.batch_dot(np.array(q), np.array(k), transpose_b=True).asnumpy(),
                                q @ k.transpose(0, 2, 1), rtol=1e-5)


def test_devices_and_hyperparameter_introspection():
    """try_gpu / try_all_gpus fall back to the CPU; placing arrays and parameters on it; the book's
    save_hyperparameters reads the caller's frame (inspect), which a Block must allow."""
    def try_gpu(i=0):
        return npx.gpu(i) if npx.num_gpus() >= i + 1 else npx.cpu()
    device = try_gpu()
    assert device == npx.cpu() and [npx.gpu(i) for i in range(npx.num_gpus())] == []
    x = np.ones((2, 3)).as_in_ctx(device)
    assert x.ctx == device
    net = nn.Dense(2, in_units=3)
    net.initialize(device=device)
    net.collect_params().reset_ctx(device)
    assert net(x).shape == (2, 2)

    class WithHyper(nn.Block):
        def __init__(self, lr, num_hiddens):
            super().__init__()
            frame = inspect.currentframe()
            _, _, _, local_vars = inspect.getargvalues(frame)
            for k, v in local_vars.items():
                if k not in ("self", "frame") and not k.startswith("_"):
                    setattr(self, k, v)
    block = WithHyper(0.1, 32)
    assert block.lr == 0.1 and block.num_hiddens == 32


@pytest.mark.parametrize("optimizer, params", [("adam", {"learning_rate": 0.1}),
                                               ("sgd", {"learning_rate": 0.1, "momentum": 0.9, "wd": 1e-4})])
def test_concise_optimizers_train_a_regression(optimizer, params):
    """The optimization chapter's train_concise_ch11: Trainer by name with hyperparameters; the loss
    falls by at least half over a few epochs."""
    X, y = synthetic([1.0, -2.0, 0.5, 3.0, 0.0], 1.0, 256, 5)
    net = nn.Sequential()
    net.add(nn.Dense(1))
    net.initialize(init.Normal(sigma=0.01))
    trainer = gluon.Trainer(net.collect_params(), optimizer, params)
    loss_fn = gluon.loss.L2Loss()
    first = float(loss_fn(net(X), y).mean())
    for _ in range(4):
        for Xb, yb in loader((X, y), 16):
            with autograd.record():
                loss = loss_fn(net(Xb), yb)
            loss.backward()
            trainer.step(Xb.shape[0])
    assert float(loss_fn(net(X), y).mean()) < first / 2


def test_size_one_arrays_convert_to_python_scalars():
    """MXNet's int()/float()/bool() accept any size-1 array, whatever its rank (the RNN chapters'
    `int(d2l.reshape(d2l.argmax(Y, axis=2), 1))`); more than one element is a TypeError; item()
    takes NumPy's flat index or index tuple."""
    logits = onp.random.default_rng(6).normal(size=(1, 1, 7)).astype(onp.float32)
    Y = np.array(logits)
    assert int(Y.argmax(axis=2).reshape(1)) == int(logits.argmax())
    assert float(np.array([[2.5]])) == 2.5 and bool(np.array([0.0])) is False and bool(np.array([[3]])) is True
    with pytest.raises(TypeError, match=r"shape \(2,\).*size-1"):
        int(np.array([1, 2]))
    with pytest.raises(ValueError):
        bool(np.array([1, 2]))
    assert np.array(logits).item(3) == logits.item(3) and np.array(logits).item((0, 0, 5)) == logits[0, 0, 5]


def test_parameter_dict_setattr_excludes_bias_from_weight_decay():
    """The weight-decay chapter: `collect_params('.*bias').setattr('wd_mult', 0)`, then SGD with wd
    decays the weight only (MXNet's update w -= lr * (grad + wd * wd_mult * w)), checked in NumPy."""
    net = nn.Dense(1, in_units=3)
    net.initialize(init.Normal(sigma=0.5))
    net.collect_params(".*bias").setattr("wd_mult", 0)
    assert net.bias.wd_mult == 0 and net.weight.wd_mult == 1
    w, b = net.weight.data().asnumpy().copy(), net.bias.data().asnumpy().copy()
    X = np.random.normal(size=(8, 3))
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1, "wd": 0.5})
    with autograd.record():
        loss = net(X).sum()
    loss.backward()
    trainer.step(1)
    gw, gb = X.asnumpy().sum(0, keepdims=True), onp.array([8.0], onp.float32)
    onp.testing.assert_allclose(net.weight.data().asnumpy(), w - 0.1 * (gw + 0.5 * w), rtol=1e-5)
    onp.testing.assert_allclose(net.bias.data().asnumpy(), b - 0.1 * gb, rtol=1e-5)
    net.collect_params().setattr("grad_req", "null")
    assert all(p.grad_req == "null" for p in net.collect_params().values())
    with pytest.raises(AttributeError, match="no attribute 'lr_multiplier'"):
        net.collect_params().setattr("lr_multiplier", 2)


def test_array_methods_of_the_preliminaries_chapters():
    """MXNet ndarray methods the book calls (cumsum, repeat through d2l.repeat, tile, sort/argsort
    returning copies, diagonal, nonzero, round) equal NumPy's functions; f-string formats of a 0-d
    array format its value (calculus: f'{h:.5f}'); round()/math.floor of an array give arrays."""
    x = onp.random.default_rng(7).normal(size=(3, 4)).astype(onp.float32)
    a = np.array(x)
    onp.testing.assert_allclose(a.cumsum().asnumpy(), x.cumsum(), rtol=1e-6)
    onp.testing.assert_allclose(a.cumsum(axis=0).asnumpy(), x.cumsum(axis=0), rtol=1e-6)
    onp.testing.assert_array_equal(a.repeat(2, axis=1).asnumpy(), x.repeat(2, axis=1))
    onp.testing.assert_array_equal(a.tile((2, 1)).asnumpy(), onp.tile(x, (2, 1)))
    onp.testing.assert_array_equal(a.sort(axis=1).asnumpy(), onp.sort(x, axis=1))
    onp.testing.assert_array_equal(a.argsort(axis=0).asnumpy(), onp.argsort(x, axis=0, kind="stable"))
    onp.testing.assert_array_equal(a.asnumpy(), x)                      # sort() left the array as it was
    onp.testing.assert_array_equal(a.diagonal(1).asnumpy(), x.diagonal(1))
    for got, want in zip((a > 0).nonzero(), (x > 0).nonzero()):
        onp.testing.assert_array_equal(got.asnumpy(), want)
    onp.testing.assert_array_equal(a.round(1).asnumpy(), x.round(1))
    h = np.array(1e-3)
    assert f"h={h:.5f}, {np.array(2.5):>6.2f}" == f"h={1e-3:.5f}, {2.5:>6.2f}"
    assert f"{a}" == str(a)
    with pytest.raises(TypeError, match=r"'\.3f'"):
        f"{a:.3f}"
    assert isinstance(round(np.array(2.6)), np.ndarray) and float(round(np.array(2.6))) == 3.0
    assert float(math.floor(np.array(2.6))) == 2.0 and float(math.ceil(np.array(2.1))) == 3.0


def test_initializer_subclass_with_mxnet_init_weight():
    """The parameters chapter's MyInit: an init.Initializer subclass that only defines MXNet's
    _init_weight(name, arr), filling an hb array in place; net.initialize(MyInit(), force_reinit=True)
    calls it for each weight (biases keep their own 'zeros'), as MXNet's Initializer dispatches."""
    seen = []

    class MyInit(init.Initializer):
        def _init_weight(self, name, data):
            seen.append((name, data.shape))
            data[:] = np.arange(data.size).reshape(data.shape) - 10.0
            data *= np.abs(data) >= 5

    net = nn.Sequential()
    net.add(nn.Dense(8, activation="relu"), nn.Dense(3))
    net.initialize()
    net(np.ones((2, 4)))
    net.initialize(MyInit(), force_reinit=True)
    assert [shape for _, shape in seen] == [(8, 4), (3, 8)] and all(n.endswith("weight") for n, _ in seen)
    expected = onp.arange(32, dtype=onp.float32).reshape(8, 4) - 10
    onp.testing.assert_array_equal(net[0].weight.data().asnumpy(), expected * (onp.abs(expected) >= 5))
    onp.testing.assert_array_equal(net[0].bias.data().asnumpy(), onp.zeros(8, onp.float32))
    layer = rnn.LSTM(4, input_size=3, i2h_weight_initializer=MyInit())
    layer.initialize()                          # the fused RNN parameter: each piece by its own name
    assert any(name.endswith("i2h_weight") for name, _ in seen)


def test_numpy_submodules_import_as_in_mxnet():
    """`from mxnet.numpy.random import multinomial` (probability chapter) under `import hybrid as mx`."""
    import importlib
    from hybrid.numpy.random import multinomial
    from hybrid.np.linalg import norm
    assert importlib.import_module("hybrid.numpy.fft") is np.fft and multinomial == np.random.multinomial
    counts = multinomial(100, [0.25, 0.75], size=3)
    assert counts.shape == (3, 2) and (counts.sum(axis=1) == 100).all()
    assert float(norm(np.array([3.0, 4.0]))) == 5.0


def test_blocks_stored_directly_in_children_are_children():
    # d2l's model-construction section (written for MXNet 1.x) keeps Blocks themselves in `_children`;
    # MXNet 2 and hybrid's register_child keep callable references there: both are children
    class MySequential(nn.Block):
        def add(self, block):
            self._children[block.name] = block

        def forward(self, X):
            for block in self._children.values():
                X = block(X)
            return X

    net = MySequential()
    net.add(nn.Dense(8, activation="relu"))
    net.add(nn.Dense(3))
    net.initialize()
    X = onp.random.default_rng(2).uniform(size=(4, 5)).astype(onp.float32)
    out = net(np.array(X)).asnumpy()
    (w1, b1), (w2, b2) = ((blk.weight.data().asnumpy(), blk.bias.data().asnumpy())
                          for blk in net._children.values())
    onp.testing.assert_allclose(out, onp.maximum(X @ w1.T + b1, 0) @ w2.T + b2, rtol=1e-5, atol=1e-6)
    assert len(net.collect_params()) == 4


def test_mxnet1_params_argument_shares_a_layers_parameters():
    # d2l's parameters section (MXNet 1.x): nn.Dense(8, params=shared.params) uses shared's weight and bias
    shared = nn.Dense(8, activation="relu")
    net = nn.Sequential()
    net.add(nn.Dense(8, activation="relu"), shared, nn.Dense(8, activation="relu", params=shared.params), nn.Dense(3))
    net.initialize()
    X = onp.random.default_rng(3).uniform(size=(2, 5)).astype(onp.float32)
    out = net(np.array(X)).asnumpy()
    assert net[2].weight is shared.weight and net[2].bias is shared.bias
    h = X
    for layer, relu in ((net[0], True), (shared, True), (shared, True), (net[3], False)):
        h = h @ layer.weight.data().asnumpy().T + layer.bias.data().asnumpy()
        h = onp.maximum(h, 0) if relu else h
    onp.testing.assert_allclose(out, h, rtol=1e-5, atol=1e-6)

    class Scaled(nn.Block):          # a constructor's own `params` argument is left alone
        def __init__(self, params):
            super().__init__()
            self.factors = params

        def forward(self, x):
            return x * self.factors[0]
    assert Scaled([2.0])(np.ones(2)).asnumpy().tolist() == [2.0, 2.0]
