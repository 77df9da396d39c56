"""Several devices in one process: parameters replicated with net.initialize(ctx=[...]), a batch
cut with split_and_load, forward/backward per device slice, Trainer.step summing the replicas'
gradients (MXNet's 'device'/'local' kvstore). k-device training must equal one-device training on
the concatenated batch (parameters within 1e-5), and the replicas must stay identical."""
import numpy
import pytest

import hybrid as hb
from hybrid import autograd, gluon, nn
from hybrid.errors import HybridError

STEPS = 8
OPTIMIZERS = {"sgd": {"learning_rate": 0.1, "momentum": 0.9}, "adam": {"learning_rate": 0.01}}


def mlp():
    net = nn.HybridSequential()
    net.add(nn.Dense(16, activation="relu", in_units=8), nn.Dense(3, in_units=16))
    return net, (8,)


def cnn():
    net = nn.HybridSequential()
    net.add(nn.Conv2D(4, 3, padding=1, activation="relu", in_channels=1), nn.MaxPool2D(2), nn.Flatten(),
            nn.Dense(3, in_units=4 * 3 * 3))
    return net, (1, 6, 6)


def build(model, ctx=None):
    hb.np.random.seed(3)        # the same initial weights for every run
    net, shape = model()
    net.initialize(hb.init.Xavier(), ctx=ctx)
    return net, shape


def batches(shape, total):
    rng = numpy.random.default_rng(11)
    for _ in range(STEPS):
        yield (rng.standard_normal((total,) + shape).astype(numpy.float32),
               rng.integers(0, 3, total).astype(numpy.int32))


def train(net, trainer, devices, shape, total, backend=None):
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    if backend is not None:
        net.hybridize(backend=backend)
    for x, y in batches(shape, total):
        if devices is None:
            with autograd.record():
                loss = loss_fn(net(hb.np.array(x)), hb.np.array(y))
            loss.backward()
        else:
            xs = gluon.utils.split_and_load(x, devices)
            ys = gluon.utils.split_and_load(y, devices)
            with autograd.record():
                losses = [loss_fn(net(xi), yi) for xi, yi in zip(xs, ys)]
            for loss in losses:
                loss.backward()
        trainer.step(total)
    return net


def cpus(k):
    return [hb.cpu(i) for i in range(k)]


@pytest.mark.parametrize("model,k,optimizer,backend,kvstore", [
    (mlp, 2, "sgd", None, None), (mlp, 3, "adam", None, "device"), (cnn, 2, "adam", None, "local"),
    (mlp, 2, "adam", "interp", None), (cnn, 3, "sgd", "interp", "device"), (mlp, 2, "sgd", "llvm", "local")])
def test_k_devices_train_like_one_device_on_the_whole_batch(model, k, optimizer, backend, kvstore):
    total = 6 * k
    net, shape = build(model, cpus(k))
    trainer = gluon.Trainer(net.collect_params(), optimizer, dict(OPTIMIZERS[optimizer]), kvstore=kvstore)
    train(net, trainer, cpus(k), shape, total, backend)
    ref, _ = build(model)
    train(ref, gluon.Trainer(ref.collect_params(), optimizer, dict(OPTIMIZERS[optimizer])), None, shape, total,
          backend)
    for name, p in net.collect_params().items():
        replicas = [d.asnumpy() for d in p.list_data()]
        assert len(replicas) == k and p.list_ctx() == cpus(k)
        numpy.testing.assert_allclose(replicas[0], ref.collect_params()[name].data().asnumpy(), rtol=1e-5,
                                      atol=1e-5, err_msg=name)
        for other in replicas[1:]:
            numpy.testing.assert_array_equal(other, replicas[0], err_msg=f"{name}: replicas diverged")


def test_update_on_kvstore_sums_the_device_gradients_on_the_store():
    net, shape = build(mlp, cpus(2))
    trainer = gluon.Trainer(net.collect_params(), "adam", {"learning_rate": 0.01}, kvstore="device",
                            update_on_kvstore=True)
    train(net, trainer, cpus(2), shape, 8)
    ref, _ = build(mlp)
    train(ref, gluon.Trainer(ref.collect_params(), "adam", {"learning_rate": 0.01}), None, shape, 8)
    for name, p in net.collect_params().items():
        for d in p.list_data():
            numpy.testing.assert_allclose(d.asnumpy(), ref.collect_params()[name].data().asnumpy(), rtol=1e-5,
                                          atol=1e-5, err_msg=name)


@pytest.mark.parametrize("backend", [None, "interp"])
def test_each_device_gets_the_gradient_of_its_own_slice(backend):
    net, shape = build(mlp, cpus(2))
    if backend:
        net.hybridize(backend=backend)
    x, y = next(batches(shape, 8))
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    xs, ys = gluon.utils.split_and_load(x, cpus(2)), gluon.utils.split_and_load(y, cpus(2))
    assert [a.context for a in xs] == cpus(2)
    with autograd.record():
        losses = [loss_fn(net(a), b) for a, b in zip(xs, ys)]
    for loss in losses:
        loss.backward()
    for half in range(2):       # one device alone on its slice gives that device's gradient
        alone, _ = build(mlp)
        part = slice(4 * half, 4 * half + 4)
        with autograd.record():
            loss = loss_fn(alone(hb.np.array(x[part])), hb.np.array(y[part]))
        loss.backward()
        for name, p in net.collect_params().items():
            numpy.testing.assert_allclose(p.grad(hb.cpu(half)).asnumpy(),
                                          alone.collect_params()[name].grad().asnumpy(), rtol=1e-5, atol=1e-6,
                                          err_msg=f"{name} on cpu({half})")
            assert p.list_grad()[half] is p.grad(hb.cpu(half))


def test_parameter_device_api():
    p = gluon.Parameter("w", shape=(2, 3), init=hb.init.One())
    p.initialize(ctx=[hb.cpu(0), hb.cpu(2)])
    assert p.list_ctx() == [hb.cpu(0), hb.cpu(2)]
    assert [d.context for d in p.list_data()] == [hb.cpu(0), hb.cpu(2)]
    assert p.data(hb.cpu(2)) is p.list_data()[1] and p.data() is p.list_data()[0]
    with hb.cpu(2):
        assert hb.current_context() == hb.cpu(2) and p.data() is p.list_data()[1]
    assert hb.current_context() == hb.cpu(0)
    p.set_data(numpy.full((2, 3), 5.0))
    assert all(numpy.array_equal(d.asnumpy(), numpy.full((2, 3), 5.0)) for d in p.list_data())
    p.list_data()[1][...] = 7.0       # replicas are separate arrays
    assert p.data().asnumpy()[0, 0] == 5.0
    with pytest.raises(HybridError, match=r"initialized on \[cpu\(0\), cpu\(2\)\] but is used on cpu\(1\)"):
        p.data(hb.cpu(1))
    p.reset_ctx([hb.cpu(1), hb.cpu(3), hb.cpu(4)])   # every new replica gets the first device's value
    assert p.list_ctx() == [hb.cpu(1), hb.cpu(3), hb.cpu(4)]
    assert all(numpy.array_equal(d.asnumpy(), numpy.full((2, 3), 5.0)) for d in p.list_data())
    assert all(numpy.array_equal(g.asnumpy(), numpy.zeros((2, 3))) for g in p.list_grad())
    with pytest.raises(HybridError, match="names a device twice"):
        p.reset_ctx([hb.cpu(1), hb.cpu(1)])
    with pytest.raises(HybridError, match="host memory"):
        p.reset_ctx([hb.gpu(0)])


def test_deferred_shapes_are_replicated_on_every_device():
    net = nn.Dense(4)
    net.initialize(ctx=cpus(2))
    xs = gluon.utils.split_and_load(numpy.ones((4, 5), numpy.float32), cpus(2))
    outs = [net(x) for x in xs]
    assert net.weight.shape == (4, 5) and len(net.weight.list_data()) == 2
    numpy.testing.assert_array_equal(outs[0].asnumpy(), outs[1].asnumpy())


def test_compile_step_refuses_replicated_parameters():
    net, _ = build(mlp, cpus(2))
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
    step = hb.compile_step(net, gluon.loss.SoftmaxCrossEntropyLoss(), trainer, backend="interp")
    with pytest.raises(HybridError, match="replicas on"):
        step(hb.np.ones((2, 8)), hb.np.array([0, 1]))


def test_as_in_context_places_host_copies():
    x = hb.np.arange(6.0)
    y = x.as_in_context(hb.cpu(3))
    assert y.context == hb.cpu(3) and y is not x and numpy.array_equal(y.asnumpy(), x.asnumpy())
    assert y.as_in_context(hb.cpu(3)) is y and x.as_in_context(hb.cpu(0)) is x
    assert y.as_in_context(hb.cpu(0)).context == hb.cpu(0)


@pytest.mark.parametrize("kind", ["cpu_pinned", "cpu_shared"])
def test_pinned_and_shared_host_devices(kind):
    """MXNet's page-locked / shared host memory: ordinary host memory here, placement kept; a block
    reads arrays on them like cpu arrays (MXNet allows mixing cpu_pinned and cpu), eagerly and
    hybridized; a DataLoader with pin_memory=True yields batches on cpu_pinned(pin_device_id)."""
    device = getattr(hb, kind)(1)
    assert device == hb.context.Context(kind, 1) and device.is_host and repr(device) == f"{kind}(1)"
    x = hb.np.arange(12.0).reshape(3, 4)
    y = x.as_in_context(device)
    assert y.context == device and y.device == device and numpy.array_equal(y.asnumpy(), x.asnumpy())
    assert hb.np.ones((2,), device=device).shape == (2,) and hb.nd.array([1, 2], ctx=device).shape == (2,)
    net = nn.Dense(2, in_units=4)
    net.initialize()
    expected = x.asnumpy() @ net.weight.data().asnumpy().T + net.bias.data().asnumpy()
    numpy.testing.assert_allclose(net(y).asnumpy(), expected, rtol=1e-6)
    net.hybridize(backend="interp")
    numpy.testing.assert_allclose(net(y).asnumpy(), expected, rtol=1e-6)
    loader = gluon.data.DataLoader(gluon.data.ArrayDataset(x.asnumpy(), numpy.arange(3.0)), 2, pin_memory=True,
                                   pin_device_id=1)
    for data, label in loader:
        assert data.context == hb.cpu_pinned(1) and label.context == hb.cpu_pinned(1)
    with pytest.raises(HybridError, match="unknown device type 'tpu'"):
        hb.context.Context("tpu", 0)


def test_hybridized_block_takes_inputs_on_one_device():
    """MXNet: a hybridized block refuses inputs on several devices (pinned host memory mixes with cpu)."""
    class Add(nn.HybridBlock):
        def forward(self, a, b):
            return a + b

    net = Add()
    net.hybridize(backend="interp")
    a, b = hb.np.ones((3,)), hb.np.arange(3.0)
    with pytest.raises(ValueError, match=r"Add: a hybridized block takes its inputs on one device, got arrays on "
                                         r"cpu\(1\), cpu\(2\)"):
        net(a.as_in_context(hb.cpu(1)), b.as_in_context(hb.cpu(2)))
    for x, y in [(a, b.as_in_context(hb.cpu_pinned(0))), (a.as_in_context(hb.cpu(1)), b.as_in_context(hb.cpu(1)))]:
        numpy.testing.assert_allclose(net(x, y).asnumpy(), [1.0, 2.0, 3.0])


# -- gradient compression (compression_params={'type': 'fp16' | 'bf16'}) ----------------------
HALF = {"fp16": (numpy.float16, 2.0 ** -11), "bf16": (None, 2.0 ** -8)}


def half_dtype(kind):
    import ml_dtypes
    return numpy.dtype(numpy.float16) if kind == "fp16" else numpy.dtype(ml_dtypes.bfloat16)


@pytest.mark.parametrize("kind", ["fp16", "bf16"])
def test_device_kvstore_sums_pushed_values_in_16_bits(kind):
    rng = numpy.random.default_rng(0)
    values = [rng.standard_normal((5, 7)).astype(numpy.float32) for _ in range(3)]
    store = hb.kv.create("device")
    store.set_gradient_compression({"type": kind})
    store.init("g", numpy.zeros((5, 7), numpy.float32))
    out = numpy.empty((5, 7), numpy.float32)
    store.pushpull("g", [hb.np.array(v) for v in values], out=out)
    # NumPy: round each to the 16-bit type, add left to right in it, widen
    low = half_dtype(kind)
    expected = ((values[0].astype(low) + values[1].astype(low)) + values[2].astype(low)).astype(numpy.float32)
    numpy.testing.assert_array_equal(out, expected)
    exact = sum(v.astype(numpy.float64) for v in values)
    unit = HALF[kind][1]
    bound = 2 * len(values) * unit * sum(numpy.abs(v) for v in values)   # one rounding per value and per add
    assert numpy.all(numpy.abs(out - exact) <= bound)
    assert not numpy.array_equal(out, exact.astype(numpy.float32))    # it did round


@pytest.mark.parametrize("kind,tol", [("fp16", 2e-4), ("bf16", 2e-3)])
def test_compressed_k_device_training_stays_within_the_16_bit_precision(kind, tol):
    """8 SGD steps with gradients summed in 16 bits track full-precision training within `tol`
    (the update error is lr * (rounding error of the gradient sum) per step)."""
    net, shape = build(mlp, cpus(2))
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1}, kvstore="device",
                            compression_params={"type": kind})
    train(net, trainer, cpus(2), shape, 8)
    ref, _ = build(mlp)
    train(ref, gluon.Trainer(ref.collect_params(), "sgd", {"learning_rate": 0.1}), None, shape, 8)
    largest = 0.0
    for name, p in net.collect_params().items():
        want = ref.collect_params()[name].data().asnumpy()
        for replica in p.list_data():
            numpy.testing.assert_allclose(replica.asnumpy(), want, rtol=tol, atol=tol, err_msg=name)
        largest = max(largest, float(numpy.abs(p.data().asnumpy() - want).max()))
    assert largest > 0     # the gradients really were rounded


def test_compression_params_are_checked():
    from hybrid.distributed import DistributedError
    net, _ = build(mlp)
    for bad, message in [({"type": "2bit", "threshold": 0.5}, "not offered"), ({"type": "fp8"}, "must be"),
                         ({"type": "fp16", "threshold": 1}, "unknown keys")]:
        with pytest.raises(DistributedError, match=message):
            gluon.Trainer(net.collect_params(), "sgd", kvstore="device", compression_params=bad)
