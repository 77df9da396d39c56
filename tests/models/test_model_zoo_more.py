"""The model-zoo families beyond tests/gluon/test_model_zoo_vision.py: DenseNet, SqueezeNet and
Inception v3 (MXNet's parameter names, builds for every name, eager equals hybridized at the input
sizes their fixed final pools need, local pretrained files)."""
import numpy as onp
import pytest

import hybrid as hb
from hybrid import autograd, np
from hybrid.gluon.model_zoo import vision

R = onp.random.default_rng(0)

NAMES = {
    "densenet121": ["features.0.weight", "features.4.0.1.2.weight", "features.4.5.1.5.weight",
                    "features.5.2.weight", "features.10.15.1.5.weight", "features.11.gamma", "output.weight"],
    "squeezenet1.0": ["features.0.weight", "features.3.0.0.weight", "features.3.1.0.0.weight",
                      "features.12.1.1.0.bias", "output.0.weight"],
    "squeezenet1.1": ["features.0.weight", "features.3.0.0.weight", "features.3.1.0.0.weight",
                      "features.3.1.1.0.bias", "output.0.weight"],
    "inceptionv3": ["features.0.0.weight", "features.7.0.0.0.weight", "features.7.3.1.0.weight",
                    "features.16.1.1.0.0.0.weight", "features.16.2.1.1.0.1.gamma", "output.weight"],
}


@pytest.mark.parametrize("name", sorted(NAMES))
def test_parameter_names(name):
    names = set(vision.get_model(name).collect_params())
    missing = [n for n in NAMES[name] if n not in names]
    assert not missing, f"{name} lacks {missing}"


def test_densenet_block_widths():
    # each dense layer adds growth_rate channels; transitions halve them (121: 64 + 6*32 = 256 -> 128 ...)
    net = vision.get_model("densenet121")
    net.initialize()
    x = np.array(R.standard_normal((1, 3, 224, 224)).astype(onp.float32))
    with autograd.pause():
        y = x
        widths = []
        for block in net.features._child_blocks()[:-4]:
            y = block(y)
            widths.append(y.shape[1])
    assert widths[4:] == [256, 128, 512, 256, 1024, 512, 1024]


LARGE = [("squeezenet1.0", 224), ("squeezenet1.1", 224), ("densenet121", 224), ("inceptionv3", 299)]


@pytest.mark.slow
@pytest.mark.parametrize("name, size", LARGE, ids=[n for n, _ in LARGE])
def test_eager_equals_hybridized(name, size):
    net = vision.get_model(name, classes=10)
    net.initialize(hb.init.Xavier())
    x = np.array(R.standard_normal((1, 3, size, size)).astype(onp.float32))
    eager = net(x).asnumpy()
    net.hybridize(backend="interp")
    onp.testing.assert_allclose(net(x).asnumpy(), eager, rtol=1e-5, atol=1e-5 * onp.abs(eager).max())


def test_pretrained_reads_a_local_file(tmp_path):
    net = vision.get_model("squeezenet1.1", classes=4)
    net.initialize()
    x = np.array(R.standard_normal((1, 3, 224, 224)).astype(onp.float32))
    with autograd.pause():
        expected = net(x).asnumpy()
    net.save_parameters(str(tmp_path / "squeezenet1.1.params"))
    loaded = vision.get_model("squeezenet1.1", pretrained=True, root=str(tmp_path), classes=4)
    with autograd.pause():
        onp.testing.assert_allclose(loaded(x).asnumpy(), expected, rtol=1e-5, atol=1e-6 * onp.abs(expected).max())
    with pytest.raises(hb.HybridError, match="never downloads"):
        vision.get_model("densenet121", pretrained=True, root=str(tmp_path))
