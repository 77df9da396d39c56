"""gluon.model_zoo.vision: every network builds with MXNet's parameter names and counts (derived
here from the architecture definitions), runs eagerly and hybridized (interp, llvm) with equal
outputs, takes one SGD step identically eager and compiled, and loads local pretrained files."""
import numpy as onp
import pytest

import hybrid as hb
from hybrid import autograd, gluon, np
from hybrid.gluon.model_zoo import vision

R = onp.random.default_rng(0)


def _build(name, shape, **kwargs):
    net = vision.get_model(name, **kwargs)
    net.initialize(hb.init.Xavier())
    x = np.array(R.standard_normal(shape).astype(onp.float32))
    with autograd.pause():
        net(x)  # deferred shapes
    return net, x


def _count(net) -> int:
    return sum(int(onp.prod(p.shape)) for p in net.collect_params().values())


def _conv(cin, cout, k, bias=True):
    return cin * cout * k * k + (cout if bias else 0)


def _bn(c):
    return 4 * c  # gamma, beta, running_mean, running_var


def resnet_v1_count(kind, layers, channels, classes=1000):
    total = _conv(3, channels[0], 7, False) + _bn(channels[0])
    cin = channels[0]
    for count, c in zip(layers, channels[1:]):
        for i in range(count):
            if kind == "basic":
                total += _conv(cin, c, 3, False) + _bn(c) + _conv(c, c, 3, False) + _bn(c)
            else:  # the v1 bottleneck's 1x1 convolutions have biases in MXNet
                total += _conv(cin, c // 4, 1) + _bn(c // 4) + _conv(c // 4, c // 4, 3, False) + _bn(c // 4)
                total += _conv(c // 4, c, 1) + _bn(c)
            if i == 0 and cin != c:
                total += _conv(cin, c, 1, False) + _bn(c)
            cin = c
    return total + cin * classes + classes


def vgg_count(layers, filters, batch_norm, flat, classes=1000):
    total, cin = 0, 3
    for count, c in zip(layers, filters):
        for _ in range(count):
            total += _conv(cin, c, 3) + (_bn(c) if batch_norm else 0)
            cin = c
    return total + flat * 4096 + 4096 + 4096 * 4096 + 4096 + 4096 * classes + classes


@pytest.mark.parametrize("name, shape, expected", [
    ("resnet18_v1", (1, 3, 32, 32), resnet_v1_count("basic", [2, 2, 2, 2], [64, 64, 128, 256, 512])),
    ("resnet50_v1", (1, 3, 32, 32), resnet_v1_count("bottleneck", [3, 4, 6, 3], [64, 256, 512, 1024, 2048])),
    ("vgg11", (1, 3, 32, 32), vgg_count([1, 1, 2, 2, 2], [64, 128, 256, 512, 512], False, 512)),
    ("vgg13_bn", (1, 3, 32, 32), vgg_count([2, 2, 2, 2, 2], [64, 128, 256, 512, 512], True, 512)),
])
def test_parameter_counts(name, shape, expected):
    net, _ = _build(name, shape)
    assert _count(net) == expected


def test_parameter_counts_match_published_sizes():
    # the trainable counts published for these architectures (torchvision's equal ones), plus MXNet's
    # extras: BatchNorm running statistics, and the v1 bottleneck's 1x1-convolution biases
    assert resnet_v1_count("basic", [2, 2, 2, 2], [64, 64, 128, 256, 512]) == 11_689_512 + 2 * 4800
    assert resnet_v1_count("bottleneck", [3, 4, 6, 3], [64, 256, 512, 1024, 2048]) == 25_557_032 + 18_880 + 2 * 26_560
    assert vgg_count([2, 2, 3, 3, 3], [64, 128, 256, 512, 512], False, 512 * 7 * 7) == 138_357_544


NAMES = {
    "resnet50_v1": ["features.0.weight", "features.1.running_var", "features.4.0.body.0.weight",
                    "features.4.0.body.0.bias", "features.4.0.body.3.weight", "features.4.0.downsample.0.weight",
                    "features.4.0.downsample.1.gamma", "features.7.2.body.7.beta", "output.weight", "output.bias"],
    "resnet18_v2": ["features.0.running_mean", "features.1.weight", "features.5.0.bn1.gamma",
                    "features.6.0.downsample.weight", "features.8.1.conv2.weight", "features.9.gamma",
                    "output.weight"],
    "densenet121": ["features.0.weight", "features.4.0.1.2.weight", "features.4.5.1.5.weight",
                    "features.5.2.weight", "features.10.5.1.5.weight", "features.11.gamma", "output.weight"],
    "squeezenet1.1": ["features.0.weight", "features.3.0.0.weight", "features.3.1.0.0.weight",
                      "features.3.1.1.0.bias", "output.0.weight"],
    "mobilenetv2_1.0": ["features.0.weight", "features.3.out.0.weight", "features.3.out.4.gamma",
                        "features.20.weight", "features.19.out.7.beta", "output.0.weight"],
    "mobilenet1.0": ["features.0.weight", "features.3.weight", "features.79.running_var", "output.weight"],
    "inceptionv3": ["features.0.0.weight", "features.7.0.0.0.weight", "features.7.3.1.0.weight",
                    "features.16.1.1.0.0.0.weight", "features.16.2.1.1.0.1.gamma", "output.weight"],
    "alexnet": ["features.0.weight", "features.9.weight", "features.11.bias", "output.weight"],
    "vgg16_bn": ["features.0.weight", "features.1.gamma", "features.40.weight", "features.41.running_mean", "features.44.weight", "features.46.bias",
                 "output.weight"],
}


@pytest.mark.parametrize("name", sorted(NAMES))
def test_parameter_names(name):
    names = set(vision.get_model(name).collect_params())
    missing = [n for n in NAMES[name] if n not in names]
    assert not missing, f"{name} lacks {missing}"
    assert not any(n.endswith("bias") and ".downsample." in n for n in names)  # projections have no bias


def test_every_listed_model_builds_and_get_model_errors():
    for name in vision._MODELS:
        assert len(vision.get_model(name, classes=10).collect_params()) > 0
    with pytest.raises(ValueError, match="not in the zoo"):
        vision.get_model("resnet19_v1")
    assert gluon.model_zoo.get_model is vision.get_model


SMALL = [("resnet18_v1", (2, 3, 32, 32)), ("resnet18_v2", (2, 3, 32, 32)), ("mobilenetv2_0.25", (2, 3, 32, 32)),
         ("mobilenet0.25", (2, 3, 32, 32)), ("vgg11_bn", (1, 3, 32, 32)), ("alexnet", (1, 3, 64, 64))]


# llvm compiles take seconds per network on a busy 2-core host: two in the default run, all under -m slow
BACKENDS = [pytest.param(name, shape, backend, id=f"{name}-{backend}",
                         marks=[pytest.mark.slow] if backend == "llvm" and name not in (
                             "resnet18_v1", "mobilenetv2_0.25") else [])
            for backend in ("interp", "llvm") for name, shape in SMALL]


@pytest.mark.parametrize("name, shape, backend", BACKENDS)
def test_eager_equals_hybridized(name, shape, backend):
    net, x = _build(name, shape, classes=10)
    eager = net(x).asnumpy()
    net.hybridize(backend=backend)
    onp.testing.assert_allclose(net(x).asnumpy(), eager, rtol=1e-5, atol=1e-5 * onp.abs(eager).max())


LARGE = [("squeezenet1.0", (1, 3, 224, 224)), ("squeezenet1.1", (1, 3, 224, 224)),
         ("densenet121", (1, 3, 224, 224)), ("inceptionv3", (1, 3, 299, 299)), ("resnet50_v2", (1, 3, 64, 64)),
         ("mobilenetv2_1.0", (1, 3, 64, 64)), ("vgg16", (1, 3, 32, 32))]


@pytest.mark.slow
@pytest.mark.parametrize("name, shape", LARGE, ids=[s[0] for s in LARGE])
def test_eager_equals_hybridized_large(name, shape):
    net, x = _build(name, shape, classes=10)
    eager = net(x).asnumpy()
    net.hybridize(backend="interp")
    onp.testing.assert_allclose(net(x).asnumpy(), eager, rtol=1e-5, atol=1e-5 * onp.abs(eager).max())


def _sgd_step(net, x, y, compiled):
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.01, "momentum": 0.9})
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    if compiled:
        hb.compile_step(net, loss_fn, trainer, backend="interp")(x, y)
    else:
        with autograd.record():
            loss = loss_fn(net(x), y).sum()
        loss.backward()
        trainer.step(x.shape[0])
    return {k: p.data().asnumpy() for k, p in net.collect_params().items()}


def test_one_sgd_step_eager_equals_compiled():
    net, x = _build("resnet18_v1", (4, 3, 64, 64), classes=10)  # 2x2 final maps: well-conditioned batch norms
    saved = {k: p.data().asnumpy() for k, p in net.collect_params().items()}
    y = np.array(onp.array([1, 7, 3, 0], onp.int32))
    eager = _sgd_step(net, x, y, compiled=False)
    net.load_dict(saved)
    compiled = _sgd_step(net, x, y, compiled=True)
    for k in eager:
        onp.testing.assert_allclose(compiled[k], eager[k], rtol=1e-5, atol=1e-5 * onp.abs(eager[k]).max(), err_msg=k)
    assert any(not onp.array_equal(eager[k], saved[k]) for k in eager)


def test_pretrained_loads_a_local_file_and_never_downloads(tmp_path):
    net, x = _build("mobilenetv2_0.25", (1, 3, 32, 32), classes=5)
    net.save_parameters(str(tmp_path / "mobilenetv2_0.25.npz"))
    loaded = vision.get_model("mobilenetv2_0.25", pretrained=True, root=str(tmp_path), classes=5)
    onp.testing.assert_array_equal(loaded(x).asnumpy(), net(x).asnumpy())
    with pytest.raises(hb.HybridError, match="never downloads"):
        vision.get_model("resnet18_v1", pretrained=True, root=str(tmp_path))
