"""`hb.autograd`: recording scopes and the training flag (MXNet's names).

`record()` turns on gradient recording and training mode; `pause()` turns recording off;
`train_mode()` / `predict_mode()` set the training flag alone. The tape itself (backward,
grad) is implemented in hybrid.core.tape.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager

class _State(threading.local):
    """Per-thread flags; class attributes are each new thread's defaults (read on every call)."""
    recording = False
    training = False


_state = _State()


def is_recording() -> bool:
    return _state.recording


def is_training() -> bool:
    return _state.training


@contextmanager
def _scope(recording=None, training=None):
    old = (is_recording(), is_training())
    if recording is not None:
        _state.recording = recording
    if training is not None:
        _state.training = training
    try:
        yield
    finally:
        _state.recording, _state.training = old


def record(train_mode: bool = True):
    """Record ops for backward(); training mode on unless train_mode=False."""
    from . import tape  # noqa: F401  (importing it installs the recorder)
    return _scope(True, train_mode)


def pause(train_mode: bool = False):
    """Stop recording inside a record() scope."""
    return _scope(False, train_mode)


def train_mode():
    return _scope(None, True)


def predict_mode():
    return _scope(None, False)


def set_training(flag: bool) -> bool:
    old = is_training()
    _state.training = bool(flag)
    return old


def set_recording(flag: bool) -> bool:
    old = is_recording()
    _state.recording = bool(flag)
    return old


GRAD_REQS = ("write", "add", "null")


def attach_grad(array, grad_req: str = "write") -> None:
    """Allocate `array.grad` (zeros) and mark the array as a gradient target."""
    import numpy

    from .array import NDArray

    if grad_req not in GRAD_REQS:
        raise ValueError(f"grad_req must be one of {GRAD_REQS}, got {grad_req!r}")
    array._grad_req = grad_req
    array._grad = None if grad_req == "null" else NDArray(numpy.zeros_like(array._data))


def backward(heads, head_grads=None, retain_graph: bool = False, train_mode: bool = True) -> None:
    """Compute the gradients of `heads` into the `.grad` of every attached array they depend on."""
    from .tape import backward as run
    run(heads, head_grads, retain_graph, train_mode)


def grad(heads, variables, head_grads=None, retain_graph=None, create_graph: bool = False, train_mode: bool = True):
    """Gradients of `heads` with respect to `variables` (attached arrays), returned."""
    from .tape import grad as run
    return run(heads, variables, head_grads, retain_graph, create_graph, train_mode)
