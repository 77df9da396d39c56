"""The asynchronous engine (core/engine.py): queued eager ops and compiled calls, arrays as futures, reads that
wait, waitall, program order against in-place writes, errors that surface at the next read."""
from __future__ import annotations

import threading

import numpy
import pytest

import hybrid as hb
from hybrid import np, npx
from hybrid.core import dispatch
from hybrid.core.engine import ENGINE, MIN_ELEMENTS

rng = numpy.random.default_rng(3)
BIG = (MIN_ELEMENTS // 64, 64)          # an array large enough to be queued


def _big(seed: int = 0):
    return numpy.random.default_rng(seed).standard_normal(BIG).astype("f4")


def _hold_workers(count: int) -> threading.Event:
    """`count` workers held busy until the event is set (the oldest ready work starts first, so these do)."""
    gate = threading.Event()
    for _ in range(count):
        ENGINE.submit(lambda pending: gate.wait(30))
    return gate


@pytest.fixture
def held():
    """Every worker held busy until the test releases them: queued work then provably has not run yet."""
    gate = _hold_workers(hb.config.get("engine_workers"))
    yield gate
    gate.set()
    ENGINE.drain()


def test_calls_return_while_work_is_queued(held):
    a = _big()
    x = np.array(a)
    y = np.tanh(x * 2)                               # queued behind the held worker: returns at once
    assert y._pending is not None and ENGINE.busy()
    assert y.shape == BIG and y.dtype == numpy.float32      # the type is known before the data
    small = np.ones((3,)) + 1                         # independent of the queued work: runs now, inline
    assert small._pending is None and small.asnumpy().tolist() == [2, 2, 2]
    reader = np.max(y)                                # small, but reads a queued result: queued behind it
    assert reader._pending is not None
    held.set()
    numpy.testing.assert_allclose(y.asnumpy(), numpy.tanh(a * 2), rtol=1e-5, atol=1e-6)
    numpy.testing.assert_allclose(reader.asnumpy(), numpy.tanh(a * 2).max(), rtol=1e-5)


def test_wait_to_read_and_waitall(held):
    x = np.array(_big())
    y = x + 1
    held.set()
    y.wait_to_read()
    assert y._pending is None
    z = y * 3
    npx.waitall()
    assert not ENGINE.busy()
    numpy.testing.assert_allclose(z.asnumpy(), (_big() + 1) * 3, rtol=1e-6)


def test_small_ops_on_an_idle_engine_run_inline():
    ENGINE.drain()
    y = np.ones((4,)) * 2
    assert y._pending is None and not ENGINE.busy()


class Overflowed(FloatingPointError):
    """What the injected kernel failure raises."""


@pytest.fixture
def failing_tanh(monkeypatch):
    """tanh fails when it runs (not when it is issued): the kernel hook of core/dispatch raises for it."""
    def hook(sig, datas):
        if sig.op == "tanh":
            raise Overflowed("tanh overflowed")
        return None
    monkeypatch.setattr(dispatch, "eager_kernels", hook)


def test_error_surfaces_at_the_next_read_with_op_shapes_and_line(held, failing_tanh):
    x = np.array(_big())
    bad = np.tanh(x)                                  # queued: fails only when the worker runs it
    follow = bad + 1                                  # depends on the failed op: fails the same way
    held.set()
    with pytest.raises(Overflowed) as info:
        bad.asnumpy()
    note = "\n".join(getattr(info.value, "__notes__", []))
    assert "tanh(" in note and f"f32[{BIG[0]},{BIG[1]}]" in note and "test_engine.py" in note
    with pytest.raises(Overflowed):
        float(follow.sum())
    npx.waitall()                                     # already reported by the reads: nothing left to raise


def test_waitall_raises_an_unread_error(held, failing_tanh):
    np.tanh(np.array(_big()))                         # result dropped unread
    held.set()
    with pytest.raises(Overflowed):
        npx.waitall()
    npx.waitall()                                     # reported once


def test_in_place_write_waits_for_queued_readers(held):
    a = _big()
    x = np.array(a)
    y = x * 2                                         # queued: reads x later
    threading.Timer(0.2, held.set).start()
    x[...] = 0                                        # waits for y's op to run first: must not reach y
    numpy.testing.assert_allclose(y.asnumpy(), a * 2)
    assert float(x.asnumpy().sum()) == 0.0


def test_numpy_view_drains_the_queue(held):
    a = _big()
    x = np.array(a)
    y = x + 1
    threading.Timer(0.2, held.set).start()
    view = numpy.asarray(x)                           # may be written through: the queue drains first
    assert not ENGINE.busy()
    view[...] = 5
    numpy.testing.assert_allclose(y.asnumpy(), a + 1)


@pytest.mark.parametrize("backend", ["interp", "llvm"])
def test_hybridized_call_is_queued(held, backend):
    f = hb.hybridize(lambda a: np.tanh(a) * 2, backend=backend)
    a = _big(1)
    held.set()
    f(np.array(a)).asnumpy()                          # compiled outside the held section
    gate = _hold_workers(hb.config.get("engine_workers"))
    out = f(np.array(a))
    assert out._pending is not None and out.shape == BIG
    gate.set()
    numpy.testing.assert_allclose(out.asnumpy(), numpy.tanh(a) * 2, rtol=1e-5, atol=1e-6)


def test_printing_and_float_wait(held):
    x = np.array(_big())
    s = (x * 0).sum()
    held.set()
    assert float(s) == 0.0 and "0." in repr(s)


def test_naive_engine_runs_inline():
    ENGINE.drain()
    with hb.config(engine="naive"):
        y = np.array(_big()) * 2
    assert y._pending is None


def _finishes(array, seconds: float = 20.0) -> bool:
    """Whether reading `array` returns within `seconds` (read on a helper thread, so a hang fails the test)."""
    reader = threading.Thread(target=array.wait_to_read, daemon=True)
    reader.start()
    reader.join(seconds)
    return not reader.is_alive()


def test_independent_ops_run_while_another_is_held():
    """MXNet's dependency engine: an op that does not read the held op's results runs on another worker."""
    assert hb.config.get("engine_workers") >= 2
    ENGINE.drain()
    gate = _hold_workers(1)
    try:
        a = _big(4)
        independent = np.tanh(np.array(a))           # large: queued, and free to start on the idle worker
        assert _finishes(independent)
        assert ENGINE.busy()                          # the held op still has not finished
        numpy.testing.assert_allclose(independent.asnumpy(), numpy.tanh(a), rtol=1e-5, atol=1e-6)
    finally:
        gate.set()
        ENGINE.drain()


def test_dependent_op_waits_for_the_op_making_its_operand():
    ENGINE.drain()
    gate = threading.Event()
    ran = []
    first = ENGINE.submit(lambda pending: (gate.wait(30), ran.append("first")))
    second = ENGINE.submit(lambda pending: ran.append("second"), deps=[first])
    independent = ENGINE.submit(lambda pending: ran.append("independent"))
    ENGINE.wait(independent)
    assert ran == ["independent"] and not second.done
    gate.set()
    ENGINE.drain()
    assert ran == ["independent", "first", "second"]


def test_work_with_effects_waits_for_all_earlier_work():
    """Collectives must run in the order every rank issued them: an op with effects starts after all earlier work."""
    ENGINE.drain()
    gate = threading.Event()
    ran = []
    ENGINE.submit(lambda pending: (gate.wait(30), ran.append("earlier")))
    collective = ENGINE.submit(lambda pending: ran.append("collective"), effects=True)
    later = ENGINE.submit(lambda pending: ran.append("later"))
    ENGINE.wait(later)
    assert ran == ["later"] and not collective.done
    gate.set()
    ENGINE.drain()
    assert ran == ["later", "earlier", "collective"]
