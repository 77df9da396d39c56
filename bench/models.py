"""The benchmark models outside hybrid: PyTorch mirrors of the zoo models (same parameter names, weights
copied), hand-written NumPy forwards, and ONNX export of the torch mirrors for ONNX Runtime."""
from __future__ import annotations

import io
import math
import warnings

import numpy
from numpy.lib.stride_tricks import sliding_window_view


def hybrid_params(net) -> dict[str, numpy.ndarray]:
    return {name: numpy.asarray(p.data()) for name, p in net.collect_params().items()}


# ---------------------------------------------------------------- NumPy forwards (float32 throughout)

def _relu(x):
    return numpy.maximum(x, 0, dtype=numpy.float32)


def _dense(x, p, name):
    y = x @ p[name + ".weight"].T
    return y + p[name + ".bias"] if name + ".bias" in p else y


def _conv(x, w, b=None, stride=1, pad=0):
    if pad:
        x = numpy.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    kh, kw = w.shape[2:]
    windows = sliding_window_view(x, (kh, kw), axis=(2, 3))[:, :, ::stride, ::stride]   # N C Ho Wo kh kw
    n, c, ho, wo = windows.shape[:4]
    cols = windows.transpose(0, 2, 3, 1, 4, 5).reshape(n * ho * wo, c * kh * kw)
    y = (cols @ w.reshape(w.shape[0], -1).T).reshape(n, ho, wo, -1).transpose(0, 3, 1, 2)
    return y + b[:, None, None] if b is not None else y


def _pool2(x, kind):
    n, c, h, w = x.shape
    x = x[:, :, :h // 2 * 2, :w // 2 * 2].reshape(n, c, h // 2, 2, w // 2, 2)
    return x.max(axis=(3, 5)) if kind == "max" else x.mean(axis=(3, 5), dtype=numpy.float32)


def _bn(x, p, name, eps=1e-5):
    scale = p[name + ".gamma"] / numpy.sqrt(p[name + ".running_var"] + eps)
    shift = p[name + ".beta"] - p[name + ".running_mean"] * scale
    return x * scale[:, None, None] + shift[:, None, None]


def _layer_norm(x, p, name, eps=1e-5):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / numpy.sqrt(var + eps) * p[name + ".gamma"] + p[name + ".beta"]


def numpy_mlp(p, x):
    return _dense(_relu(_dense(_relu(_dense(x, p, "layers.0")), p, "layers.1")), p, "out")


def numpy_lenet(p, x):
    x = _pool2(_relu(_conv(x, p["conv1.weight"], p["conv1.bias"], pad=2)), "max")
    x = _pool2(_relu(_conv(x, p["conv2.weight"], p["conv2.bias"])), "avg")
    x = x.reshape(x.shape[0], -1)
    return _dense(_relu(_dense(_relu(_dense(x, p, "fc1")), p, "fc2")), p, "fc3")


def _numpy_block(p, x, name, stride):
    out = _relu(_bn(_conv(x, p[name + ".conv1.weight"], stride=stride, pad=1), p, name + ".bn1"))
    out = _bn(_conv(out, p[name + ".conv2.weight"], pad=1), p, name + ".bn2")
    if name + ".downsample.0.weight" in p:
        x = _bn(_conv(x, p[name + ".downsample.0.weight"], stride=stride), p, name + ".downsample.1")
    return _relu(out + x)


def numpy_resnet18(p, x):
    x = _relu(_bn(_conv(x, p["stem.0.weight"], pad=1), p, "stem.1"))
    for i in range(8):
        x = _numpy_block(p, x, f"stages.{i}", 2 if i in (2, 4, 6) else 1)
    return _dense(x.mean(axis=(2, 3)), p, "fc")


def numpy_transformer(p, x, heads=4):
    b, s, d = x.shape
    dh = d // heads
    qkv = _dense(_layer_norm(x, p, "ln1"), p, "attn.qkv").reshape(b, s, 3, heads, dh).transpose(2, 0, 3, 1, 4)
    scores = qkv[0] @ qkv[1].transpose(0, 1, 3, 2) * numpy.float32(1 / math.sqrt(dh))
    scores = numpy.exp(scores - scores.max(-1, keepdims=True))
    attn = (scores / scores.sum(-1, keepdims=True)) @ qkv[2]
    x = x + _dense(attn.transpose(0, 2, 1, 3).reshape(b, s, d), p, "attn.proj")
    h = _dense(_layer_norm(x, p, "ln2"), p, "fc1")
    h = 0.5 * h * (1 + numpy.tanh(numpy.float32(math.sqrt(2 / math.pi)) * (h + numpy.float32(0.044715) * h ** 3)))
    return x + _dense(h, p, "fc2")


def numpy_ewise(x):
    return numpy.maximum(x * numpy.float32(1.5) + numpy.float32(0.25), 0) / (1 + numpy.exp(-x)) + numpy.float32(0.5) * x


# ---------------------------------------------------------------- PyTorch mirrors

def torch_modules():
    """The mirror classes (defined lazily: torch is optional)."""
    import torch
    from torch import nn
    F = nn.functional

    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = nn.Sequential(nn.Linear(784, 1024), nn.Linear(1024, 1024))
            self.out = nn.Linear(1024, 10)

        def forward(self, x):
            for layer in self.layers:
                x = F.relu(layer(x))
            return self.out(x)

    class LeNet5(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1, self.conv2 = nn.Conv2d(1, 6, 5, padding=2), nn.Conv2d(6, 16, 5)
            self.fc1, self.fc2, self.fc3 = nn.Linear(400, 120), nn.Linear(120, 84), nn.Linear(84, 10)

        def forward(self, x):
            x = F.max_pool2d(F.relu(self.conv1(x)), 2)
            x = F.avg_pool2d(F.relu(self.conv2(x)), 2).flatten(1)
            return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))

    class BasicBlock(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.downsample = None
            if stride != 1 or cin != cout:
                self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

        def forward(self, x):
            out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
            return F.relu(out + (self.downsample(x) if self.downsample is not None else x))

    class ResNet18(nn.Module):
        def __init__(self, width=64, classes=10):
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(3, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU())
            blocks, cin = [], width
            for i, c in enumerate((width, width * 2, width * 4, width * 8)):
                blocks += [BasicBlock(cin, c, 1 if i == 0 else 2), BasicBlock(c, c, 1)]
                cin = c
            self.stages = nn.Sequential(*blocks)
            self.fc = nn.Linear(cin, classes)

        def forward(self, x):
            return self.fc(self.stages(self.stem(x)).mean(dim=(2, 3)))

    class Attention(nn.Module):
        def __init__(self, d, heads):
            super().__init__()
            self.heads = heads
            self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)

        def forward(self, x):
            b, s, d = x.shape
            dh = d // self.heads
            q, k, v = self.qkv(x).reshape(b, s, 3, self.heads, dh).permute(2, 0, 3, 1, 4)
            attn = torch.softmax(q @ k.transpose(-1, -2) * (1 / math.sqrt(dh)), dim=-1) @ v
            return self.proj(attn.permute(0, 2, 1, 3).reshape(b, s, d))

    class TransformerBlock(nn.Module):
        def __init__(self, d=256, heads=4, mlp=1024):
            super().__init__()
            self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
            self.attn = Attention(d, heads)
            self.fc1, self.fc2 = nn.Linear(d, mlp), nn.Linear(mlp, d)

        def forward(self, x):
            x = x + self.attn(self.ln1(x))
            return x + self.fc2(F.gelu(self.fc1(self.ln2(x)), approximate="tanh"))

    class Ewise(nn.Module):
        def forward(self, x):
            return F.relu(x * 1.5 + 0.25) * torch.sigmoid(x) + 0.5 * x

    return {"mlp": MLP, "lenet": LeNet5, "resnet18": ResNet18, "transformer": TransformerBlock, "ewise": Ewise}


def torch_mirror(kind: str, params: dict[str, numpy.ndarray]):
    """A torch mirror of zoo model `kind` in eval mode, holding `params` (hybrid names; gamma/beta -> weight/bias)."""
    import torch
    module = torch_modules()[kind]().eval()
    state = {}
    for name, value in params.items():
        name = name.replace(".gamma", ".weight").replace(".beta", ".bias")
        state[name] = torch.from_numpy(numpy.ascontiguousarray(value))
    missing, unexpected = module.load_state_dict(state, strict=False)
    missing = [m for m in missing if not m.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise RuntimeError(f"torch mirror of {kind}: missing {missing[:4]}, unexpected {unexpected[:4]}")
    return module


def onnx_session(module, example: numpy.ndarray, threads: int):
    """Export a torch module (TorchScript exporter, opset 17) and open it in ONNX Runtime with `threads`."""
    import onnxruntime
    import torch
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (torch.from_numpy(example),), buffer, dynamo=False, opset_version=17,
                          input_names=["x"], output_names=["y"])
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")   # see QUIET_POOLS in bench/run.py
    session = onnxruntime.InferenceSession(buffer.getvalue(), options, providers=["CPUExecutionProvider"])
    return lambda x: session.run(None, {"x": x})[0]
