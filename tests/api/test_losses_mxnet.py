"""Losses added for MXNet parity, against PyTorch or NumPy transcriptions of MXNet's formulas,
eager and hybridized (interp, llvm) with gradients, finite-difference checks, and the CUDA emulator."""
import shutil

import numpy as onp
import pytest

from hybrid import gluon, np

from blockcheck import check_block, check_finite_differences

torch = pytest.importorskip("torch")
F = torch.nn.functional
L = gluon.loss
R = onp.random.default_rng(21)


def _x(*shape):
    return R.standard_normal(shape).astype(onp.float32)


def _signs(*shape):
    return onp.where(R.random(shape) < 0.5, -1.0, 1.0).astype(onp.float32)


def _t(a):
    return torch.from_numpy(onp.ascontiguousarray(a))


def _counts(*shape):
    """Poisson targets away from 1, where the Stirling term switches on (a kink)."""
    c = onp.round(onp.abs(_x(*shape)) * 3)
    return onp.where(c == 1, 2.0, c).astype(onp.float32)


def softplus(v):
    return onp.log1p(onp.exp(-onp.abs(v))) + onp.maximum(v, 0)


CASES = {
    "logistic_signed": (lambda: L.LogisticLoss(), lambda: (_x(4, 3), _signs(4, 3)),
                        lambda p, y: softplus(-p * y).mean(1)),
    "logistic_binary": (lambda: L.LogisticLoss(label_format="binary"), lambda: (_x(4, 3), (_signs(4, 3) + 1) / 2),
                        lambda p, y: F.binary_cross_entropy_with_logits(_t(p), _t(y), reduction="none")
                        .numpy().mean(1)),
    "hinge": (lambda: L.HingeLoss(margin=0.5), lambda: (_x(5, 2), _signs(5, 2)),
              lambda p, y: onp.maximum(0.5 - p * y, 0).mean(1)),
    "squared_hinge": (lambda: L.SquaredHingeLoss(), lambda: (_x(5, 2), _signs(5, 2)),
                      lambda p, y: (onp.maximum(1 - p * y, 0) ** 2).mean(1)),
    "kldiv": (lambda: L.KLDivLoss(from_logits=False), lambda: (_x(3, 6), onp.abs(_x(3, 6)) / 6),
              lambda p, y: (y * (onp.log(y + 1e-12) - F.log_softmax(_t(p), -1).numpy())).mean(1)),
    "cosine": (lambda: L.CosineEmbeddingLoss(margin=0.1), lambda: (_x(6, 4), _x(6, 4), _signs(6)),
               lambda a, b, y: F.cosine_embedding_loss(_t(a), _t(b), _t(y), margin=0.1, reduction="none").numpy()),
    "poisson_logits": (lambda: L.PoissonNLLLoss(), lambda: (_x(4, 3), onp.abs(_x(4, 3)) * 3),
                       lambda p, y: F.poisson_nll_loss(_t(p), _t(y), log_input=True, reduction="none").numpy().mean(1)),
    "poisson_full": (lambda: L.PoissonNLLLoss(from_logits=False, compute_full=True),
                     lambda: (onp.abs(_x(4, 3)) + 0.5, _counts(4, 3)),
                     lambda p, y: F.poisson_nll_loss(_t(p), _t(y), log_input=False, full=True, eps=1e-8,
                                                     reduction="none").numpy().mean(1)),
    "triplet": (lambda: L.TripletLoss(margin=0.5), lambda: (_x(4, 3), _x(4, 3), _x(4, 3)),
                lambda a, p, n: onp.maximum(((p - a) ** 2 - (n - a) ** 2).sum(1) + 0.5, 0)),
    "sdml": (lambda: L.SDMLLoss(smoothing_parameter=0.2), lambda: (_x(4, 3), _x(4, 3)), None),
}


def ref_sdml(x1, x2, smoothing=0.2):
    n = x1.shape[0]
    dist = ((x1[:, None] - x2[None]) ** 2).sum(-1)
    logp = F.log_softmax(_t(-dist), 1).numpy()
    labels = onp.eye(n) * (1 - smoothing) + (1 - onp.eye(n)) * smoothing / (n - 1)
    return (labels * (onp.log(labels + 1e-12) - logp)).mean(1) * n


@pytest.mark.parametrize("name", sorted(CASES))
def test_loss_matches_reference(name):
    make, data, ref = CASES[name]
    inputs = data()
    ref = ref or ref_sdml
    check_block(make(), *inputs, ref=lambda *a: ref(*a), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", ["logistic_signed", "hinge", "kldiv", "cosine", "poisson_full", "triplet", "sdml"])
def test_loss_finite_differences(name):
    make, data, _ = CASES[name]
    check_finite_differences(make(), *data())


CTC_PRED = _x(3, 7, 5)
CTC_LABEL = onp.array([[1, 0, -1, -1], [2, 1, 1, -1], [0, 1, 0, 2]], onp.float32)


def _torch_ctc(pred, pred_lengths=(7, 7, 7)):
    logp = F.log_softmax(_t(pred), -1).transpose(0, 1)
    lengths = (CTC_LABEL >= 0).sum(1)
    return F.ctc_loss(logp, _t(onp.where(CTC_LABEL < 0, 0, CTC_LABEL).astype(onp.int64)),
                      torch.tensor(pred_lengths), torch.tensor(lengths), blank=4, reduction="none").numpy()


def test_ctc_matches_torch():
    check_block(L.CTCLoss(), CTC_PRED, CTC_LABEL, ref=lambda p, y: _torch_ctc(p), rtol=1e-4, atol=1e-4)
    lengths = onp.array([7, 5, 6], onp.float32)
    got = L.CTCLoss()(np.array(CTC_PRED), np.array(CTC_LABEL), np.array(lengths)).asnumpy()
    onp.testing.assert_allclose(got, _torch_ctc(CTC_PRED, (7, 5, 6)), rtol=1e-4)
    tnc = L.CTCLoss(layout="TNC", label_layout="TN")(np.array(CTC_PRED.transpose(1, 0, 2)),
                                                     np.array(CTC_LABEL.T)).asnumpy()
    onp.testing.assert_allclose(tnc, _torch_ctc(CTC_PRED), rtol=1e-4)


def test_ctc_finite_differences():
    labels = (CTC_LABEL[:, :2] * (CTC_LABEL[:, :2] >= 0)).astype(onp.int32)  # discrete: not differentiated
    check_finite_differences(L.CTCLoss(), CTC_PRED[:, :4], labels, entries=4)


@pytest.mark.skipif(shutil.which("g++") is None, reason="g++ not found: the CUDA emulator needs it")
def test_losses_on_cuda_emulator():
    class All(gluon.HybridBlock):
        def forward(self, p, y, a, b, s):
            return (L.LogisticLoss()(p, y) + L.SquaredHingeLoss()(p, y) + L.KLDivLoss(False)(p, np.abs(a))
                    + L.CosineEmbeddingLoss()(a, b, s) + L.TripletLoss()(p, a, b), L.PoissonNLLLoss()(p, np.abs(a)),
                    L.SDMLLoss()(a, b))
    p, y, a, b = _x(4, 3), _signs(4, 3), _x(4, 3), _x(4, 3)
    check_block(All(), p, y, a, b, _signs(4), backends=("cuda",), runtime="emulator", rtol=1e-4, atol=1e-5)
    assert onp.all(onp.isfinite(L.SDMLLoss()(np.array(a), np.array(b)).asnumpy()))
