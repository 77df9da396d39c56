"""Learning-rate schedules against closed forms computed here, and their use by the Trainer."""
import math

import numpy as onp
import pytest

import hybrid as hb
from hybrid import gluon
from hybrid.gluon import lr_scheduler as lrs


def test_factor():
    s = lrs.FactorScheduler(step=3, factor=0.5, base_lr=1.0)
    # Gluon: the rate drops after every `step` updates (num_update is 1-based)
    assert [s(t) for t in range(1, 11)] == [1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.125]


def test_factor_multiplies_as_mxnet_in_any_order():
    """MXNet multiplies the rate by factor once per decay: base*0.1*0.1*... (1.0000000000000003e-4
    after four decays, where base*0.1**4 gives 1.0000000000000002e-4), whatever order rates are asked in."""
    s = lrs.FactorScheduler(step=2, factor=0.1, base_lr=1.0)
    want, lr = [], 1.0
    for t in range(1, 11):
        want.append(lr)
        if t % 2 == 0:
            lr *= 0.1
    assert [s(t) for t in range(1, 11)] == want
    assert [s(t) for t in (9, 3, 10, 1)] == [want[8], want[2], want[9], want[0]]
    s.base_lr = 2.0
    assert s(5) == 2.0 * 0.1 * 0.1


def test_factor_floor():
    s = lrs.FactorScheduler(step=1, factor=0.1, base_lr=1.0, stop_factor_lr=1e-3)
    assert s(50) == pytest.approx(1e-3)


def test_multifactor():
    s = lrs.MultiFactorScheduler([2, 5], factor=0.1, base_lr=1.0)
    assert [s(t) for t in range(1, 8)] == pytest.approx([1, 1, 0.1, 0.1, 0.1, 0.01, 0.01])


def test_cosine_endpoints_and_midpoint():
    s = lrs.CosineScheduler(max_update=100, base_lr=0.4, final_lr=0.0)
    assert s(0) == pytest.approx(0.4)
    assert s(50) == pytest.approx(0.2)
    assert s(25) == pytest.approx(0.2 * (1 + math.cos(math.pi / 4)))
    assert s(100) == 0.0 and s(1000) == 0.0


def test_gluon_style_warmup_argument():
    s = lrs.CosineScheduler(max_update=110, base_lr=1.0, warmup_steps=10, warmup_begin_lr=0.0)
    assert [s(t) for t in (0, 5)] == pytest.approx([0.0, 0.5])
    assert s(10) == pytest.approx(1.0)              # cosine phase starts where the warmup ends
    assert s(60) == pytest.approx(0.5)
    const = lrs.FactorScheduler(step=100, base_lr=1.0, warmup_steps=4, warmup_begin_lr=0.1, warmup_mode="constant")
    assert [const(t) for t in (0, 3, 4)] == pytest.approx([0.1, 0.1, 1.0])


def test_warmup_composes_with_any_schedule():
    inner = lrs.FactorScheduler(step=2, factor=0.5, base_lr=0.8)
    s = lrs.Warmup(inner, warmup_steps=4, warmup_begin_lr=0.0)
    ramp = [s(t) for t in range(4)]
    assert ramp == pytest.approx([0.0, 0.2, 0.4, 0.6])
    # afterwards the wrapped schedule runs from its own step 0
    assert [s(t) for t in range(4, 10)] == pytest.approx([inner(t) for t in range(0, 6)])
    s.base_lr = 0.4                                  # forwards to the wrapped schedule
    assert inner.base_lr == 0.4 and s(2) == pytest.approx(0.2)
    nested = lrs.Warmup(lrs.Warmup(lrs.CosineScheduler(10, base_lr=1.0), 2), 2)
    assert nested(2) == pytest.approx(0.0) and nested(4) == pytest.approx(1.0)


def test_scheduler_errors():
    with pytest.raises(hb.HybridError, match="step must be >= 1"):
        lrs.FactorScheduler(step=0)
    with pytest.raises(hb.HybridError, match="max_update \\(5\\) must exceed warmup_steps \\(5\\)"):
        lrs.CosineScheduler(5, warmup_steps=5)
    with pytest.raises(hb.HybridError, match="warmup_mode must be one of"):
        lrs.FactorScheduler(step=1, warmup_mode="cubic")
    with pytest.raises(hb.HybridError, match="increasing"):
        lrs.MultiFactorScheduler([5, 3])


def test_trainer_follows_schedule():
    """SGD with a schedule: each step's weight change is exactly lr(t) * grad."""
    sched = lrs.FactorScheduler(step=2, factor=0.5)
    p = hb.Parameter("w", (2,))
    p.set_data(onp.zeros(2, onp.float32))
    trainer = gluon.Trainer([p], "sgd", {"learning_rate": 0.8, "lr_scheduler": sched})
    assert sched.base_lr == 0.8  # learning_rate sets the schedule's base rate, as Gluon
    seen = []
    for _ in range(5):
        before = p.data().asnumpy().copy()
        p.grad()._data[...] = 1.0
        trainer.step(1)
        seen.append(float(before[0] - p.data().asnumpy()[0]))
        assert trainer.learning_rate == pytest.approx(seen[-1])
    assert seen == pytest.approx([0.8, 0.8, 0.4, 0.4, 0.2])
    with pytest.raises(hb.HybridError, match="follows an lr_scheduler"):
        trainer.set_learning_rate(0.1)
