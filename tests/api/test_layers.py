"""Gluon layers added for MXNet 2 parity, each against PyTorch (or a NumPy transcription),
eager and hybridized on interp and llvm (outputs and gradients), with finite-difference
gradient checks; one network of all of them on the CUDA emulator."""
import shutil

import numpy as onp
import pytest

import hybrid as hb
from hybrid import nn, np, npx

from blockcheck import check_block, check_finite_differences

torch = pytest.importorskip("torch")
F = torch.nn.functional

R = onp.random.default_rng(3)


def _x(*shape):
    return R.standard_normal(shape).astype(onp.float32)


def _t(a):
    return torch.from_numpy(onp.ascontiguousarray(a))


def _weights(block):
    return {k: p.data().asnumpy() for k, p in block.collect_params().items()}


CONV_CASES = [
    # layer, input shape, torch functional, kwargs
    (lambda: nn.Conv1D(4, 3, strides=2, padding=1, in_channels=3), (2, 3, 9), F.conv1d,
     dict(stride=2, padding=1)),
    (lambda: nn.Conv1D(4, 3, dilation=2, groups=2, in_channels=4), (2, 4, 11), F.conv1d,
     dict(dilation=2, groups=2)),
    (lambda: nn.Conv3D(3, (2, 3, 2), strides=(2, 1, 1), padding=(1, 1, 0), in_channels=2), (1, 2, 5, 6, 4),
     F.conv3d, dict(stride=(2, 1, 1), padding=(1, 1, 0))),
    (lambda: nn.Conv3D(4, 3, dilation=(2, 1, 1), groups=2, in_channels=2), (1, 2, 7, 5, 5), F.conv3d,
     dict(dilation=(2, 1, 1), groups=2)),
    (lambda: nn.Conv1DTranspose(3, 3, strides=2, padding=1, output_padding=1, in_channels=2), (2, 2, 5),
     F.conv_transpose1d, dict(stride=2, padding=1, output_padding=1)),
    (lambda: nn.Conv2DTranspose(4, (3, 2), strides=(2, 1), padding=(1, 0), groups=2, in_channels=2),
     (1, 2, 4, 5), F.conv_transpose2d, dict(stride=(2, 1), padding=(1, 0), groups=2)),
    (lambda: nn.Conv3DTranspose(2, (3, 2, 2), strides=(2, 2, 1), padding=(1, 0, 0), output_padding=(1, 0, 0),
                                in_channels=3), (1, 3, 3, 3, 4), F.conv_transpose3d,
     dict(stride=(2, 2, 1), padding=(1, 0, 0), output_padding=(1, 0, 0))),
    (lambda: nn.Conv3DTranspose(2, 2, strides=1, dilation=(2, 1, 1), in_channels=2), (1, 2, 3, 3, 3),
     F.conv_transpose3d, dict(dilation=(2, 1, 1))),
]


@pytest.mark.parametrize("make, shape, torch_fn, kwargs", CONV_CASES)
def test_conv_layers_match_torch(make, shape, torch_fn, kwargs):
    block, x = make(), _x(*shape)
    block.initialize()
    block(np.array(x))
    w = _weights(block)
    bias = next(v for k, v in w.items() if k.endswith("bias"))
    weight = next(v for k, v in w.items() if k.endswith("weight"))
    ref = lambda v: torch_fn(_t(v), _t(weight), _t(bias), **kwargs).numpy()  # noqa: E731
    check_block(block, x, ref=ref, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("make, shape", [(lambda: nn.Conv1D(2, 3, padding=1, in_channels=2), (1, 2, 5)),
                                         (lambda: nn.Conv3D(2, 2, strides=2, padding=1, in_channels=1), (1, 1, 3, 4, 3)),
                                         (lambda: nn.Conv3DTranspose(2, 2, strides=2, padding=1, in_channels=2),
                                          (1, 2, 2, 3, 2))])
def test_conv_finite_differences(make, shape):
    check_finite_differences(make(), _x(*shape))


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_channel_last_layouts_equal_channel_first(rank):
    first, last = {1: "NCW", 2: "NCHW", 3: "NCDHW"}[rank], {1: "NWC", 2: "NHWC", 3: "NDHWC"}[rank]
    conv_cls = {1: nn.Conv1D, 2: nn.Conv2D, 3: nn.Conv3D}[rank]
    pool_cls = {1: nn.MaxPool1D, 2: nn.AvgPool2D, 3: nn.MaxPool3D}[rank]
    x = _x(*(2, 3) + (6,) * rank)
    a = nn.HybridSequential()
    a.add(conv_cls(4, 3, padding=1, layout=first, in_channels=3), pool_cls(2, layout=first))
    b = nn.HybridSequential()
    b.add(conv_cls(4, 3, padding=1, layout=last, in_channels=3), pool_cls(2, layout=last))
    a.initialize()
    b.initialize()
    wa = a[0].weight.data().asnumpy()
    b[0].weight.set_data(onp.moveaxis(wa, 1, -1))
    assert b[0].weight.shape == (4,) + (3,) * rank + (3,)
    ref = onp.moveaxis(a(np.array(x)).asnumpy(), 1, -1)
    check_block(b, onp.moveaxis(x, 1, -1), ref=lambda v: ref, rtol=1e-5, atol=1e-5)


POOL_CASES = [
    (lambda: nn.MaxPool1D(3, 2, 1), (2, 3, 9), lambda v: F.max_pool1d(v, 3, 2, 1)),
    (lambda: nn.MaxPool2D(3, 2, ceil_mode=True), (1, 2, 8, 7), lambda v: F.max_pool2d(v, 3, 2, ceil_mode=True)),
    (lambda: nn.MaxPool2D(3, 2, 1, ceil_mode=True), (1, 2, 8, 6),
     lambda v: F.max_pool2d(v, 3, 2, 1, ceil_mode=True)),
    (lambda: nn.AvgPool1D(2), (2, 3, 8), lambda v: F.avg_pool1d(v, 2)),
    (lambda: nn.MaxPool3D((2, 3, 2), (1, 2, 2), (1, 1, 0)), (1, 2, 5, 7, 6),
     lambda v: F.max_pool3d(v, (2, 3, 2), (1, 2, 2), (1, 1, 0))),
    (lambda: nn.AvgPool3D(3, 2, 1), (1, 2, 6, 5, 5), lambda v: F.avg_pool3d(v, 3, 2, 1)),
    (lambda: nn.AvgPool3D(3, 2, 1, count_include_pad=False), (1, 2, 6, 5, 5),
     lambda v: F.avg_pool3d(v, 3, 2, 1, count_include_pad=False)),
    (lambda: nn.GlobalAvgPool1D(), (2, 3, 5), lambda v: v.mean(2, keepdim=True)),
    (lambda: nn.GlobalMaxPool1D(), (2, 3, 5), lambda v: v.amax(2, keepdim=True)),
    (lambda: nn.GlobalAvgPool3D(), (2, 3, 2, 3, 4), lambda v: v.mean((2, 3, 4), keepdim=True)),
    (lambda: nn.GlobalMaxPool3D(), (2, 3, 2, 3, 4), lambda v: v.amax((2, 3, 4), keepdim=True)),
    (lambda: nn.GlobalAvgPool2D(layout="NHWC"), (2, 3, 4, 5), lambda v: v.mean((1, 2), keepdim=True)),
]


@pytest.mark.parametrize("make, shape, ref", POOL_CASES)
def test_pooling_layers_match_torch(make, shape, ref):
    check_block(make(), _x(*shape), ref=lambda v: ref(_t(v)).numpy())


def test_pool3d_finite_differences():
    check_finite_differences(nn.AvgPool3D(2, 1, 1, count_include_pad=False), _x(1, 1, 3, 3, 3))
    check_finite_differences(nn.MaxPool3D(2, 1), _x(1, 1, 3, 3, 3))


ACTIVATIONS = [
    (lambda: nn.LeakyReLU(0.2), lambda v: F.leaky_relu(v, 0.2)),
    (lambda: nn.ELU(0.7), lambda v: F.elu(v, 0.7)),
    (lambda: nn.SELU(), F.selu),
    (lambda: nn.GELU(), F.gelu),
    (lambda: nn.GELU("tanh"), lambda v: F.gelu(v, approximate="tanh")),
    (lambda: nn.Swish(1.5), lambda v: v * torch.sigmoid(1.5 * v)),
    (lambda: nn.SiLU(), F.silu),
    (lambda: nn.Activation("log_sigmoid"), F.logsigmoid),
    (lambda: nn.Activation("mish"), F.mish),
]


@pytest.mark.parametrize("make, ref", ACTIVATIONS)
def test_activation_layers(make, ref):
    x = _x(3, 7)
    check_block(make(), x, ref=lambda v: ref(_t(v)).numpy())
    check_finite_differences(make(), x + onp.sign(x) * 0.05)  # away from kinks


def test_prelu_per_channel():
    block = nn.PReLU(in_channels=3)
    block.initialize()
    alpha = onp.array([0.1, 0.2, 0.3], onp.float32)
    block.alpha.set_data(alpha)
    x = _x(2, 3, 4)
    check_block(block, x, ref=lambda v: F.prelu(_t(v), _t(alpha)).numpy())
    check_finite_differences(nn.PReLU(), x + onp.sign(x) * 0.05)


def test_instance_and_group_norm():
    x = _x(2, 4, 3, 5)
    inorm = nn.InstanceNorm(scale=True, in_channels=4)
    inorm.initialize()
    gamma, beta = _x(4), _x(4)
    inorm.gamma.set_data(gamma)
    inorm.beta.set_data(beta)
    check_block(inorm, x, ref=lambda v: F.instance_norm(_t(v), weight=_t(gamma), bias=_t(beta), eps=1e-5).numpy(),
                rtol=1e-4, atol=1e-4)
    gnorm = nn.GroupNorm(num_groups=2)
    gnorm.initialize()
    gnorm(np.array(x))
    gnorm.gamma.set_data(gamma)
    gnorm.beta.set_data(beta)
    check_block(gnorm, x, ref=lambda v: F.group_norm(_t(v), 2, _t(gamma), _t(beta), 1e-5).numpy(), rtol=1e-4,
                atol=1e-4)
    check_finite_differences(nn.GroupNorm(2), _x(2, 4, 3))
    check_finite_differences(nn.InstanceNorm(scale=True), _x(2, 3, 4))


def test_structural_layers():
    x = _x(2, 8, 3, 4)
    check_block(nn.ReflectionPad2D(2), x, ref=lambda v: F.pad(_t(v), (2, 2, 2, 2), mode="reflect").numpy())
    check_block(nn.ReflectionPad2D((1, 0, 2, 1)), x, ref=lambda v: onp.pad(v, ((0, 0), (0, 0), (1, 0), (2, 1)),
                                                                           mode="reflect"))
    with pytest.raises(hb.ShapeError, match="reflection pad"):
        nn.ReflectionPad2D(3)(np.array(x))
    check_block(nn.PixelShuffle2D((2, 2)), x, ref=lambda v: F.pixel_shuffle(_t(v), 2).numpy())
    check_block(nn.PixelShuffle1D(4), _x(2, 8, 3), ref=lambda v: v.reshape(2, 2, 4, 3).transpose(0, 1, 3, 2)
                .reshape(2, 2, 12))
    y = _x(1, 8, 2, 3, 2)
    check_block(nn.PixelShuffle3D(2), y, ref=lambda v: v.reshape(1, 1, 2, 2, 2, 2, 3, 2)
                .transpose(0, 1, 5, 2, 6, 3, 7, 4).reshape(1, 1, 4, 6, 4))
    check_block(nn.Identity(), x, ref=lambda v: v)
    cat = nn.HybridConcatenate(axis=1)
    cat.add(nn.Identity(), nn.HybridLambda("relu"), nn.HybridLambda(lambda v: v * 2))
    check_block(cat, x, ref=lambda v: onp.concatenate([v, onp.maximum(v, 0), 2 * v], axis=1))
    seq = nn.Concatenate(axis=-1)
    seq.add(nn.Lambda("tanh"), nn.Lambda(np.exp))
    onp.testing.assert_allclose(seq(np.array(x)).asnumpy(), onp.concatenate([onp.tanh(x), onp.exp(x)], -1),
                                rtol=1e-6)
    with pytest.raises(ValueError, match="neither a callable"):
        nn.Lambda("no_such_function")


def test_layer_argument_errors():
    with pytest.raises(ValueError, match="layout"):
        nn.Conv2D(2, 3, layout="NCW")
    with pytest.raises(ValueError, match="ceil_mode"):
        nn.AvgPool2D(ceil_mode=True)
    with pytest.raises(ValueError, match="kernel_size"):
        nn.Conv3D(2, (3, 3))
    with pytest.raises(hb.ShapeError, match="output padding"):
        npx.deconvolution(np.ones((1, 1, 3)), np.ones((1, 1, 3)), stride=1, adj=1)


class AllLayers(nn.HybridBlock):
    """Every new layer in one graph (one CUDA compile)."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv1D(2, 3, padding=1, in_channels=2)
        self.t1 = nn.Conv1DTranspose(2, 2, strides=2, in_channels=2)
        self.c3 = nn.Conv3D(2, 2, padding=1, in_channels=1)
        self.t3 = nn.Conv3DTranspose(1, 2, strides=2, in_channels=2)
        self.p3 = nn.MaxPool3D(2)
        self.a3 = nn.AvgPool3D(2, 1, 1, count_include_pad=False)
        self.t2 = nn.Conv2DTranspose(4, 3, strides=2, padding=1, output_padding=1, in_channels=1, layout="NHWC")
        self.gn = nn.GroupNorm(2, in_channels=4)
        self.shuffle = nn.PixelShuffle2D(2)
        self.pad = nn.ReflectionPad2D(1)
        self.prelu = nn.PReLU()
        self.acts = [nn.ELU(), nn.SELU(), nn.GELU(), nn.Swish(), nn.LeakyReLU(0.1)]
        for i, a in enumerate(self.acts):
            self.register_child(a, f"act{i}")

    def forward(self, a, b):
        y1 = self.t1(npx.relu(self.c1(a)))
        y3 = self.a3(self.p3(self.t3(self.c3(b))))
        img = np.reshape(y3[:, :, :2, :2, :4], (1, 4, 4, 1))
        z = self.pad(self.shuffle(self.gn(np.moveaxis(self.t2(img), -1, 1))))
        acts = [act(z) for act in self.acts]
        return y1, self.prelu(y3), acts[0] + acts[1] * acts[2] - acts[3] + acts[4]


@pytest.mark.skipif(shutil.which("g++") is None, reason="g++ not found: the CUDA emulator needs it")
def test_all_new_layers_cuda_emulator():
    check_block(AllLayers(), _x(2, 2, 5), _x(1, 1, 4, 4, 4), backends=("cuda",), rtol=1e-4, atol=1e-4,
                runtime="emulator")
