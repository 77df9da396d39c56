"""ONNX export: every model-zoo network -> ONNX (checked by onnx.checker) -> ONNX Runtime equals
hybrid; optimized graphs with fused kernels export as their primitives; a PyTorch model exported
with torch.onnx.export imports into hybrid and equals PyTorch."""
import numpy
import onnx
import pytest

import hybrid as hb
from hybrid import passes
from hybrid.model_zoo import ZOO, ResNet18
from hybrid.onnx import OnnxExportError, export_model, graph_to_onnx, import_model

from onnx_models import reference, zoo_model

TOL = dict(rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", sorted(ZOO))
def test_zoo_model_round_trips_through_onnxruntime(name, tmp_path):
    net, x = zoo_model(name)
    expected = net(hb.np.array(x)).asnumpy()
    path = str(tmp_path / f"{name}.onnx")
    model = export_model(net, [x], path)
    onnx.checker.check_model(onnx.load(path), full_check=True)
    numpy.testing.assert_allclose(reference(model, x)[0], expected, **TOL)
    back = import_model(path, backend="llvm")   # and back into hybrid
    numpy.testing.assert_allclose(back(x).asnumpy(), expected, **TOL)


def test_resnet18_round_trips_through_onnxruntime():
    hb.np.random.seed(7)
    net = ResNet18(classes=10)
    net.initialize(hb.init.Xavier())
    x = numpy.random.default_rng(0).normal(size=(1, 3, 32, 32)).astype("float32")
    expected = net(hb.np.array(x)).asnumpy()
    numpy.testing.assert_allclose(reference(export_model(net, [x]), x)[0], expected, **TOL)


@pytest.mark.parametrize("opset", [13, 17, 18])
def test_export_opsets(opset):
    net, x = zoo_model("transformer")
    model = export_model(net, [x], opset=opset)
    assert model.opset_import[0].version == opset
    numpy.testing.assert_allclose(reference(model, x)[0], net(hb.np.array(x)).asnumpy(), **TOL)


def test_fused_kernels_export_as_their_primitives():
    net, x = zoo_model("resnet_block")
    graph = hb.trace(net, x)
    optimized = passes.optimize(graph, opt_level=2).graph
    assert any(n.op == "fused" for n in optimized.nodes)
    params = {name: p.data().asnumpy() for name, p in net.collect_params().items()}
    model = graph_to_onnx(optimized, params)
    assert "fused" not in {n.op_type for n in model.graph.node}
    numpy.testing.assert_allclose(reference(model, x)[0], net(hb.np.array(x)).asnumpy(), **TOL)


def test_sort_exports_as_topk():
    """argsort (and sort, a gather through it) as TopK; ties keep index order in onnxruntime too."""
    x = numpy.random.default_rng(0).integers(-3, 4, (5, 19)).astype("float32")
    model = graph_to_onnx(hb.trace(lambda v: (hb.np.sort(v), hb.np.argsort(v, axis=0)), x), {})
    got = reference(model, x)
    numpy.testing.assert_array_equal(got[0], numpy.sort(x, kind="stable"))
    numpy.testing.assert_array_equal(got[1], numpy.argsort(x, axis=0, kind="stable"))


def test_an_op_without_onnx_form_is_named():
    @hb.hybridize
    def noisy(x):
        return x + hb.np.random.uniform(size=(4,))
    with pytest.raises(OnnxExportError, match="random_uniform"):
        graph_to_onnx(hb.trace(noisy, numpy.zeros(4, "float32")), {})


def test_pytorch_model_imports_equal_to_pytorch(tmp_path):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
            self.bn = torch.nn.BatchNorm2d(8)
            self.pool = torch.nn.MaxPool2d(2)
            self.fc = torch.nn.Linear(8 * 8 * 8, 10)
            self.norm = torch.nn.LayerNorm(10)

        def forward(self, x):
            x = self.pool(torch.relu(self.bn(self.conv(x))))
            x = torch.flatten(x, 1)
            return torch.nn.functional.gelu(self.norm(self.fc(x))).softmax(-1)

    model = Net().eval()
    x = torch.randn(2, 3, 16, 16)
    path = str(tmp_path / "torch.onnx")
    torch.onnx.export(model, (x,), path, input_names=["x"], dynamic_axes={"x": {0: "batch"}}, dynamo=False)
    net = import_model(path, backend="llvm")
    for batch in (2, 5):
        xb = torch.randn(batch, 3, 16, 16)
        with torch.no_grad():
            expected = model(xb).numpy()
        numpy.testing.assert_allclose(net(xb.numpy()).asnumpy(), expected, **TOL)


def test_pytorch_transformer_encoder_imports_equal_to_pytorch(tmp_path):
    """A BERT-style encoder (embeddings, multi-head attention with a padding mask, erf GELU, post-norm
    LayerNorm) exported by torch.onnx.export: hybrid-llvm equals PyTorch at two batch sizes."""
    torch = pytest.importorskip("torch")
    nn = torch.nn
    torch.manual_seed(0)

    class Encoder(nn.Module):
        def __init__(self, vocab=50, d=32, heads=4, seq=12):
            super().__init__()
            self.heads = heads
            self.tokens, self.positions = nn.Embedding(vocab, d), nn.Embedding(seq, d)
            self.qkv, self.out = nn.Linear(d, 3 * d), nn.Linear(d, d)
            self.norm0, self.norm1, self.norm2 = nn.LayerNorm(d), nn.LayerNorm(d), nn.LayerNorm(d)
            self.ffn = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

        def forward(self, ids, mask):
            b, s = ids.shape
            x = self.norm0(self.tokens(ids) + self.positions(torch.arange(s).unsqueeze(0)))
            d = x.shape[-1]
            q, k, v = self.qkv(x).reshape(b, s, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
            bias = (1.0 - mask[:, None, None, :].float()) * -10000.0
            scores = q @ k.transpose(-1, -2) / (d // self.heads) ** 0.5 + bias
            attn = (scores.softmax(-1) @ v).transpose(1, 2).reshape(b, s, d)
            x = self.norm1(x + self.out(attn))
            return self.norm2(x + self.ffn(x))

    def inputs(batch):
        ids = torch.randint(0, 50, (batch, 12))
        mask = torch.ones(batch, 12, dtype=torch.int64)
        mask[:, 9:] = 0
        return ids, mask

    model = Encoder().eval()
    path = str(tmp_path / "encoder.onnx")
    torch.onnx.export(model, inputs(1), path, input_names=["ids", "mask"], opset_version=17,
                      dynamic_axes={"ids": {0: "batch"}, "mask": {0: "batch"}}, dynamo=False)
    net = import_model(path, backend="llvm")
    for batch in (1, 3):
        ids, mask = inputs(batch)
        with torch.no_grad():
            expected = model(ids, mask).numpy()
        numpy.testing.assert_allclose(net(ids.numpy(), mask.numpy()).asnumpy(), expected, **TOL)
