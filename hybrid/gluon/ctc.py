"""Connectionist temporal classification loss (Graves et al. 2006), MXNet's CTCLoss.

The forward (alpha) recursion in log space over the label extended with blanks, unrolled over
time and written with hb.np primitives, so it runs eagerly and compiled and differentiates
like any composite. The blank is the last class (MXNet's blank_label='last'); labels are padded
with -1 (or cut by `label_lengths`).
"""
from __future__ import annotations

from typing import Optional

from ..frontend import np, npx
from ..core.promote import asarray
from .loss import Loss, _shape_error

NEG = -1e30  # log(0) without infinities (inf - inf would give NaN in the recursion)


def _logsumexp(*terms):
    top = terms[0]
    for t in terms[1:]:
        top = np.maximum(top, t)
    top = np.stop_gradient(top)
    total = None
    for t in terms:
        e = np.exp(t - top)
        total = e if total is None else total + e
    return top + np.log(total)


def _shift(a, by: int):
    """a[:, s - by] along the last axis, NEG where s < by."""
    n, s = a.shape
    return np.concatenate([np.full((n, by), NEG, a.dtype), a[:, :s - by]], axis=1)


def ctc_nll(logp, label, pred_lengths=None, label_lengths=None):
    """-log p(label | logp) per sample; logp (N, T, C) log-probabilities, label (N, L) integers."""
    n, steps, classes = logp.shape
    blank = classes - 1
    label = np.astype(asarray(label), "int32")
    valid = label >= 0
    if label_lengths is None:
        label_lengths = np.sum(np.astype(valid, "int32"), axis=1)
    label_lengths = np.astype(asarray(label_lengths), "int32")
    clean = np.where(valid, label, blank)
    length = label.shape[1]
    blanks = np.full((n, length), blank, "int32")
    ext = np.reshape(np.stack([blanks, clean], axis=2), (n, 2 * length))
    ext = np.concatenate([ext, np.full((n, 1), blank, "int32")], axis=1)     # (N, S) with S = 2L + 1
    hot = npx.one_hot(ext, classes, dtype=logp.dtype)                         # (N, S, C)
    emit = np.matmul(logp, np.transpose(hot, (0, 2, 1)))                       # (N, T, S)
    prev2 = np.concatenate([np.full((n, 2), blank, "int32"), ext[:, :-2]], axis=1)
    skip = (ext != blank) & (ext != prev2)
    positions = np.arange(2 * length + 1, dtype="int32")
    alpha = np.where(positions < 2, emit[:, 0], NEG)
    if pred_lengths is not None:
        pred_lengths = np.astype(asarray(pred_lengths), "int32")
    for t in range(1, steps):
        new = _logsumexp(alpha, _shift(alpha, 1), np.where(skip, _shift(alpha, 2), NEG)) + emit[:, t]
        alpha = new if pred_lengths is None else np.where(np.expand_dims(pred_lengths > t, 1), new, alpha)
    end = np.expand_dims(label_lengths * 2, 1)
    last = np.max(np.where(positions == end, alpha, NEG), axis=1)
    before = np.max(np.where(positions == end - 1, alpha, NEG), axis=1)
    return -_logsumexp(last, before)


class CTCLoss(Loss):
    """CTC loss of unnormalized scores `pred` ((N, T, C) for layout 'NTC', (T, N, C) for 'TNC'; class
    C-1 is the blank) against `label` ((N, L) for 'NT', (L, N) for 'TN', padded with -1).
    Returns one loss per sample."""

    def __init__(self, layout: str = "NTC", label_layout: str = "NT", weight: Optional[float] = None):
        if layout not in ("NTC", "TNC") or label_layout not in ("NT", "TN"):
            raise ValueError(f"CTCLoss: layout must be 'NTC' or 'TNC' and label_layout 'NT' or 'TN', got "
                             f"{layout!r}, {label_layout!r}")
        super().__init__(weight, label_layout.find("N"))
        self._layout, self._label_layout = layout, label_layout

    def forward(self, pred, label, pred_lengths=None, label_lengths=None, sample_weight=None):
        if self._layout == "TNC":
            pred = np.swapaxes(pred, 0, 1)
        label = asarray(label)
        if self._label_layout == "TN":
            label = np.swapaxes(label, 0, 1)
        if pred.ndim != 3 or label.ndim != 2 or label.shape[0] != pred.shape[0]:
            raise _shape_error(self, f"pred {pred.shape} and label {label.shape} must be (N, T, C) and (N, L) "
                                     f"(after the layouts {self._layout}, {self._label_layout})")
        loss = ctc_nll(npx.log_softmax(pred, -1), label, pred_lengths, label_lengths)
        if sample_weight is not None:
            loss = loss * np.reshape(asarray(sample_weight), (-1,))
        return loss * float(self._weight) if self._weight is not None else loss
