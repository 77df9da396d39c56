"""gluon.model_zoo.vision: MXNet's architectures, parameter names and counts; eager equals hybridized
(interp, llvm); one SGD step equal; pretrained=True reads a local file and never downloads."""
from __future__ import annotations

import numpy as onp
import pytest

import hybrid as hb
from hybrid import autograd, gluon, np
from hybrid.errors import HybridError
from hybrid.gluon.model_zoo import vision

# Trainable parameters (running BatchNorm statistics excluded) with 1000 classes at 224x224, from the
# papers' published counts (torchvision/Keras give the same), plus MXNet's own choices where they differ:
# BottleneckV1's 1x1 convolutions keep their bias (+channels/4 + channels per block), MobileNetV2 keeps
# the t=1 expansion convolution (+32*32 + BN 2*32) and its classifier is a bias-free 1x1 convolution
# (-1000), and ResNetV2's input BatchNorm holds gamma/beta that it does not use (+2*3).
PUBLISHED = {
    "alexnet": 61_100_840,
    "resnet18_v1": 11_689_512, "resnet34_v1": 21_797_672,
    "resnet50_v1": 25_557_032 + 3 * 320 + 4 * 640 + 6 * 1280 + 3 * 2560,
    "resnet101_v1": 44_549_160 + 3 * 320 + 4 * 640 + 23 * 1280 + 3 * 2560,
    "resnet152_v1": 60_192_808 + 3 * 320 + 8 * 640 + 36 * 1280 + 3 * 2560,
    "vgg11": 132_863_336, "vgg13": 133_047_848, "vgg16": 138_357_544, "vgg19": 143_667_240,
    "mobilenet1.0": 4_231_976,
    "densenet121": 7_978_856, "densenet161": 28_681_000, "densenet169": 14_149_480, "densenet201": 20_013_928,
    "squeezenet1.0": 1_248_424, "squeezenet1.1": 1_235_496,
    "inceptionv3": 23_834_568,  # without the auxiliary classifier, which MXNet's Inception3 does not have
    "mobilenetv2_1.0": 3_504_872 + 32 * 32 + 2 * 32 - 1000,
}
# BatchNorm after every convolution adds gamma and beta: 2 * (sum of the convolutions' channels).
VGG_BN_CHANNELS = {11: 64 + 128 + 2 * 256 + 4 * 512, 13: 2 * (64 + 128 + 256 + 512 + 512),
                   16: 2 * 64 + 2 * 128 + 3 * 256 + 6 * 512, 19: 2 * 64 + 2 * 128 + 4 * 256 + 8 * 512}
for _depth, _channels in VGG_BN_CHANNELS.items():
    PUBLISHED[f"vgg{_depth}_bn"] = PUBLISHED[f"vgg{_depth}"] + 2 * _channels


def _trainable(net) -> int:
    return sum(int(onp.prod(p.shape)) for name, p in net.collect_params().items()
               if not name.endswith(("running_mean", "running_var")))


def _built(name: str, size: int = 32, **kwargs):
    net = vision.get_model(name, **kwargs)
    net.initialize()
    with autograd.pause():
        net(np.zeros((1, 3, size, size)))
    return net


# the largest networks take tens of seconds to build eagerly: the slow tier checks them
FAST_COUNTS = {"alexnet", "resnet18_v1", "resnet50_v1", "mobilenet1.0", "mobilenetv2_1.0"}


@pytest.mark.parametrize("name", [n if n in FAST_COUNTS else pytest.param(n, marks=pytest.mark.slow)
                                  for n in sorted(PUBLISHED)])
def test_parameter_counts_match_the_published_architectures(name):
    if name.startswith(("densenet", "squeezenet", "inception")):
        size, expected = 299 if name == "inceptionv3" else 224, PUBLISHED[name]  # fixed final pooling windows
    elif name.startswith(("alexnet", "vgg")):
        # The first dense layer sees the flattened features: 256*6*6 (AlexNet) or 512*7*7 (VGG) at
        # 224x224; at 64x64 (AlexNet) or 32x32 (VGG) one spatial position is left.
        size, flat = (64, 256) if name == "alexnet" else (32, 512)
        expected = PUBLISHED[name] - 4096 * (flat * (36 if name == "alexnet" else 49) - flat)
    else:
        size, expected = 32, PUBLISHED[name]
    assert _trainable(_built(name, size)) == expected


def test_parameter_names_follow_mxnet():
    names = list(_built("resnet18_v1").collect_params())
    assert names[:5] == ["features.0.weight", "features.1.gamma", "features.1.beta", "features.1.running_mean",
                         "features.1.running_var"]
    assert "features.4.0.body.0.weight" in names and "features.5.0.downsample.0.weight" in names
    assert "features.4.0.downsample.0.weight" not in names and names[-2:] == ["output.weight", "output.bias"]
    v2 = list(_built("resnet50_v2").collect_params())
    assert {"features.0.gamma", "features.5.0.bn1.gamma", "features.5.0.conv3.weight",
            "features.5.0.downsample.weight"} <= set(v2)
    mobile = list(_built("mobilenetv2_0.25").collect_params())
    assert {"features.3.out.0.weight", "features.3.out.4.gamma", "output.0.weight"} <= set(mobile)
    assert "output.0.bias" not in mobile


@pytest.mark.slow
def test_concatenating_families_follow_mxnet_names():
    dense = list(_built("densenet121", 224).collect_params())
    assert {"features.4.0.1.2.weight", "features.5.2.weight", "output.weight"} <= set(dense)
    squeeze = list(_built("squeezenet1.1", 224).collect_params())
    assert {"features.3.0.0.weight", "features.3.1.0.0.weight", "features.3.1.1.0.weight",
            "output.0.weight"} <= set(squeeze)
    inception = list(_built("inceptionv3", 299).collect_params())
    assert {"features.7.0.0.0.weight", "features.16.1.1.0.0.0.weight", "features.16.2.0.1.0.weight"} <= set(inception)


def test_get_model_names_and_errors():
    assert set(vision.MODELS) >= {"alexnet", "resnet152_v2", "vgg19_bn", "mobilenet0.25", "mobilenetv2_0.75",
                                  "densenet201", "squeezenet1.0", "inceptionv3"}
    assert isinstance(hb.gluon.model_zoo.get_model("ResNet18_V1", classes=10), vision.ResNetV1)
    with pytest.raises(ValueError, match=r"not in the model zoo; available: alexnet"):
        vision.get_model("resnet19_v1")


def test_pretrained_reads_a_local_file_and_never_downloads(tmp_path):
    net = _built("mobilenet0.25", classes=7)
    net.save_parameters(str(tmp_path / "mobilenet0.25.params"))
    loaded = vision.get_model("mobilenet0.25", classes=7, pretrained=True, root=str(tmp_path))
    x = np.array(onp.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(onp.float32))
    onp.testing.assert_allclose(loaded(x).asnumpy(), net(x).asnumpy(), rtol=1e-6)
    with pytest.raises(HybridError, match=r"never downloads"):
        vision.get_model("alexnet", pretrained=True, root=str(tmp_path))


# name, input size: one network of each family and block kind
EQUALITY = [("resnet18_v1", 32), ("resnet50_v2", 32), ("mobilenetv2_0.25", 32), ("mobilenet0.25", 32),
            ("vgg11_bn", 32), ("alexnet", 64)]
# the default tier compiles two of them; the slow tier all, with a training step
FAST_EQUALITY = {("resnet18_v1", "interp"), ("mobilenetv2_0.25", "llvm")}


def _twins(name: str, size: int, backend: str):
    nets = [_built(name, size, classes=10) for _ in range(2)]
    for (_, a), (_, b) in zip(nets[0].collect_params().items(), nets[1].collect_params().items()):
        b.set_data(a.data().asnumpy())
    nets[1].hybridize(backend=backend)
    return nets


@pytest.mark.parametrize("name,size,backend", [
    (n, s, b) if (n, b) in FAST_EQUALITY else pytest.param(n, s, b, marks=pytest.mark.slow)
    for n, s in EQUALITY for b in ("interp", "llvm")])
def test_eager_equals_hybridized(name, size, backend):
    x = np.array(onp.random.default_rng(5).standard_normal((2, 3, size, size)).astype(onp.float32))
    eager, compiled = _twins(name, size, backend)
    want = eager(x).asnumpy()
    # 1e-5 relative to the output's scale: a logit near 0 is a cancellation of terms of the largest
    # magnitude, and convolutions summed in another order (Winograd, blocked kernels: docs/architecture.md)
    # move it by float32 rounding of that magnitude
    onp.testing.assert_allclose(compiled(x).asnumpy(), want, rtol=1e-5, atol=1e-5 * onp.abs(want).max())


# The step is compared in float64. In float32 it is not a well-posed comparison: a training step is
# discontinuous at every ReLU kink, and compiled kernels that sum in another order (Winograd F(4x4), blocked
# convolutions) move a pre-activation within ~1e-5 of zero to the other side: its mask flips and, spread by
# BatchNorm, one channel's weight gradient changes by 15% (ResNet-18's features.5.1 on an AVX-512 host, where
# 16x16 outputs take F(4x4); the direct kernel does the same for other seeds, and eager itself does for
# others). In float64 no pre-activation comes that close, so every gradient is checked to 1e-7 of its
# layer's update; the float32 kernels' forward equality is test_eager_equals_hybridized's, their gradients are
# checked op by op against finite differences (tests/codegen, tests/autograd).
@pytest.mark.slow
@pytest.mark.parametrize("backend", ["interp", "llvm"])
@pytest.mark.parametrize("name,size", EQUALITY)
def test_one_sgd_step_is_equal_eager_and_hybridized(name, size, backend):
    # batch 4 at twice the size keeps BatchNorm's batch statistics well conditioned in the last stage
    rng = onp.random.default_rng(5)
    x = np.array(rng.standard_normal((4, 3, 2 * size, 2 * size)))
    label = np.array(rng.integers(0, 10, 4).astype(onp.int32))
    nets = _twins(name, 2 * size, backend)
    for net in nets:
        net.cast("float64")
    before = {key: p.data().asnumpy() for key, p in nets[0].collect_params().items()}
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    for net in nets:
        trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.01})
        hb.np.random.seed(7)  # the same dropout masks, eager and compiled
        with autograd.record():
            loss = loss_fn(net(x), label)
        loss.backward()
        trainer.step(4)
    # Quantities that are exactly zero (a convolution's bias before BatchNorm, the batch mean of a bias-free
    # convolution of a normalized input, the beta gradient of a BatchNorm whose output feeds only another
    # BatchNorm) hold only rounding noise: a sum over `positions` terms, in any order, is off by about
    # eps * sqrt(positions) of the magnitudes summed, measured here by the largest update of the same layer.
    positions = x.shape[0] * x.shape[2] * x.shape[3]
    steps = {key: a.data().asnumpy() - before[key] for key, a in nets[0].collect_params().items()}
    layer_scale = {}
    for key, step in steps.items():
        layer = key.rsplit(".", 1)[0]
        layer_scale[layer] = max(layer_scale.get(layer, 0.0), float(onp.abs(step).max()))
    for (key, eager_step), (_, b) in zip(steps.items(), nets[1].collect_params().items()):
        compiled_step = b.data().asnumpy() - before[key]
        noise = 16 * onp.finfo(onp.float64).eps * positions ** 0.5 * layer_scale[key.rsplit(".", 1)[0]]
        scale = float(onp.abs(eager_step).max())
        onp.testing.assert_allclose(compiled_step, eager_step, rtol=0, atol=1e-7 * scale + noise, err_msg=key)
