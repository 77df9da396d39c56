"""The MXNet-2 npx operators and the traced optimizer updates on the CUDA backend (the emulator:
the generated kernels run on the host), against eager execution: outputs, and input gradients
where the op is differentiable (their finite-difference checks are in test_npx_mxnet.py and the
optimizers' NumPy transcriptions in tests/gluon/test_optimizers_mxnet.py). One network per group,
so one CUDA compile covers many ops."""
import shutil
import sys
from pathlib import Path

import numpy as onp
import pytest

import hybrid as hb
from hybrid import np, npx
from hybrid.gluon import optimizer as opt

from blockcheck import check_block

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "gluon"))
from test_optimizers_mxnet import BATCH, GRADS, TRACED, W0  # noqa: E402

pytestmark = pytest.mark.skipif(shutil.which("g++") is None, reason="g++ not found: the CUDA emulator needs it")
R = onp.random.default_rng(8)


def _x(*shape):
    return R.standard_normal(shape).astype(onp.float32)


def lam(fn):
    return hb.nn.HybridLambda(fn)


def differentiable_ops(x, a, b, seq, img, w, k):
    """npx ops with gradients: slice, batch_dot, sequence_mask, masked_(log_)softmax, smooth_l1,
    gammaln/gamma, reshape codes, fully_connected, convolution/deconvolution, pooling,
    activation, leaky_relu (every act_type), layer/group/instance norm, batch_norm."""
    mask = x > -0.5
    lengths = np.array([2, 4, 1], dtype="float32")
    out = [npx.slice(x, (1, None), (3, -1), (1, 2)),
           npx.batch_dot(a, b, transpose_b=True),
           npx.sequence_mask(seq, lengths, use_sequence_length=True, value=-1.0),
           npx.masked_softmax(x, mask, temperature=2.0),
           np.where(mask, npx.masked_log_softmax(x, mask), 0.0),   # -inf where masked: keep the sums finite
           npx.smooth_l1(x, 2.0),
           npx.gammaln(np.abs(x) + 0.5), npx.gamma(np.abs(x) * 0.5 + 0.5),
           npx.reshape(a, (-5, -6, 2, -1)),
           npx.fully_connected(x, w, None, num_hidden=3, no_bias=True),
           npx.convolution(img, k, None, kernel=(3, 3), pad=(1, 1), num_filter=2),
           npx.deconvolution(img, k.transpose(1, 0, 2, 3), None, kernel=(3, 3), stride=(2, 2), pad=(1, 1),
                             adj=(1, 1), num_filter=2),
           npx.pooling(img, kernel=(2, 2), stride=(2, 2), pool_type="avg"),
           npx.activation(x, "softrelu") + npx.activation(x, "tanh"),
           npx.leaky_relu(x, act_type="leaky", slope=0.1), npx.leaky_relu(x, act_type="elu", slope=0.3),
           npx.leaky_relu(x, act_type="selu"), npx.leaky_relu(x, act_type="gelu"),
           npx.layer_norm(img, None, None, axis=1),
           npx.group_norm(img, np.ones(2), np.zeros(2) + 0.1, num_groups=2),
           npx.instance_norm(img, np.ones(2) * 2, np.zeros(2)),
           npx.batch_norm(img, np.ones(2), np.zeros(2), np.zeros(2), np.ones(2), use_global_stats=True)]
    return tuple(out)


def test_differentiable_npx_ops_on_cuda_emulator():
    check_block(lam(differentiable_ops), _x(3, 6), _x(2, 3, 4), _x(2, 5, 4), _x(4, 3, 2), _x(2, 2, 5, 5),
                _x(3, 6), _x(2, 2, 3, 3), backends=("cuda",), rtol=1e-4, atol=1e-4, runtime="emulator")


def integer_result_ops(x, idx, tokens, table):
    """npx ops with index inputs or outputs: pick (clip / wrap), topk (indices, values, mask),
    arange_like, embedding."""
    return (npx.pick(x, idx, axis=1, mode="clip"), npx.pick(x, idx - 2, axis=1, mode="wrap"),
            npx.topk(x, k=3), npx.topk(x, axis=0, k=2, ret_typ="value", is_ascend=True),
            npx.topk(x, k=2, ret_typ="mask"),
            npx.arange_like(x, start=1.0, step=0.5), npx.arange_like(x, axis=1),
            npx.embedding(tokens, table, input_dim=7, output_dim=4))


def test_index_npx_ops_on_cuda_emulator():
    idx = onp.array([0, 5, 2, 9], onp.int32)
    tokens = onp.array([[1, 6], [0, 3]], onp.int32)
    check_block(lam(integer_result_ops), _x(4, 6), idx, tokens, _x(7, 4), backends=("cuda",), rtol=1e-5, atol=1e-6,
                grad=False, runtime="emulator")


def test_traced_optimizer_updates_on_cuda_emulator():
    """Every traced optimizer's full_update (what compile_step runs), all in one CUDA program with lr
    and t as graph inputs, equals its eager update."""
    optimizers = [opt.create(name, **params) for name, params in TRACED]
    states = [o.create_full_state(W0) for o in optimizers]
    grad = GRADS[0] / BATCH
    lr, t = onp.array(0.01, onp.float32), onp.array(3.0, onp.float32)

    def steps(w, g, lr, t, *flat):
        outs, at = [], 0
        for o, s in zip(optimizers, states):
            new_w, new_s = o.full_update(w, g, tuple(flat[at:at + len(s)]), lr, t, o.wd, "w")
            outs += [new_w, *new_s]
            at += len(s)
        return tuple(outs)

    flat = [s for state in states for s in state]
    hb.random.seed(4)      # sgld draws its noise from the counter generator, the same on every backend
    got = hb.hybridize(steps, backend="cuda", runtime="emulator")(W0, grad, lr, t, *flat)
    hb.random.seed(4)
    eager = steps(np.array(W0), np.array(grad), float(lr), 3.0, *[np.array(s) for s in flat])
    assert len(got) == len(eager) == len(optimizers) + len(flat)
    for k, (a, b) in enumerate(zip(got, eager)):
        onp.testing.assert_allclose(onp.asarray(a), onp.asarray(b), rtol=1e-4, atol=1e-6, err_msg=f"output {k}")
