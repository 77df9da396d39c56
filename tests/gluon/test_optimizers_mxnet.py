"""The optimizers added for MXNet parity, each through the Trainer for 20 steps against a
float64 NumPy transcription of MXNet's update rule (python/mxnet/optimizer/*.py step());
traced with lr and t as graph inputs (interp and llvm); multi_precision; lr_mult / wd_mult."""
import numpy as onp
import pytest

import hybrid as hb
from hybrid import gluon
from hybrid.gluon import optimizer as opt

STEPS = 20
BATCH = 4
RNG = onp.random.default_rng(11)
W0 = RNG.normal(size=(4, 3)).astype(onp.float32)
GRADS = [RNG.normal(size=(4, 3)).astype(onp.float32) * BATCH for _ in range(STEPS)]


def _steps():
    return ((t, g.astype(onp.float64) / BATCH) for t, g in enumerate(GRADS, start=1))


def ref_adagrad(lr, eps=1e-6, wd=0.0):
    w, h = W0.astype(onp.float64), onp.zeros(W0.shape)
    for _, g in _steps():
        g = g + wd * w
        h += g * g
        w = w - lr * g / (onp.sqrt(h) + eps)
    return w


def ref_adadelta(lr, rho=0.9, eps=1e-6, wd=0.0):
    w, acc_g, acc_d = W0.astype(onp.float64), onp.zeros(W0.shape), onp.zeros(W0.shape)
    for _, g in _steps():
        g = g + wd * w
        acc_g = rho * acc_g + (1 - rho) * g * g
        delta = onp.sqrt(acc_d + eps) / onp.sqrt(acc_g + eps) * g
        acc_d = rho * acc_d + (1 - rho) * delta * delta
        w = w - lr * delta
    return w


def ref_adamax(lr, b1=0.9, b2=0.999, wd=0.0):
    w, m, u = W0.astype(onp.float64), onp.zeros(W0.shape), onp.zeros(W0.shape)
    for t, g in _steps():
        g = g + wd * w
        m = b1 * m + (1 - b1) * g
        u = onp.maximum(b2 * u, onp.abs(g))
        w = w - lr / (1 - b1 ** t) * m / u
    return w


def ref_nadam(lr, b1=0.9, b2=0.999, eps=1e-8, sd=0.004, wd=0.0):
    w, m, v, sched = W0.astype(onp.float64), onp.zeros(W0.shape), onp.zeros(W0.shape), 1.0
    for t, g in _steps():
        g = g + wd * w
        mu_t = b1 * (1 - 0.5 * 0.96 ** (t * sd))
        mu_next = b1 * (1 - 0.5 * 0.96 ** ((t + 1) * sd))
        sched *= mu_t
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_bar = mu_next * m / (1 - sched * mu_next) + (1 - mu_t) * g / (1 - sched)
        w = w - lr * m_bar / (onp.sqrt(v / (1 - b2 ** t)) + eps)
    return w


def ref_adabelief(lr, b1=0.9, b2=0.999, eps=1e-6, wd=0.0, clip=None):
    w, m, s = W0.astype(onp.float64), onp.zeros(W0.shape), onp.zeros(W0.shape)
    for t, g in _steps():
        g = g + wd * w
        if clip is not None:
            g = onp.clip(g, -clip, clip)
        m = b1 * m + (1 - b1) * g
        s = b2 * s + (1 - b2) * (g - m) ** 2 + eps
        w = w - lr * onp.sqrt(1 - b2 ** t) / (1 - b1 ** t) * m / (onp.sqrt(s) + eps)
    return w


def ref_ftml(lr, b1=0.6, b2=0.999, eps=1e-8, wd=0.0):
    w = W0.astype(onp.float64)
    d, v, z = (onp.zeros(W0.shape) for _ in range(3))
    for t, g in _steps():
        g = g + wd * w
        v = b2 * v + (1 - b2) * g * g
        d_new = (1 - b1 ** t) / lr * (onp.sqrt(v / (1 - b2 ** t)) + eps)
        z = b1 * z + (1 - b1) * g - (d_new - b1 * d) * w
        d = d_new
        w = -z / d
    return w


def _trust(r1, r2):
    return r1 / r2 if r1 > 0 and r2 > 0 else 1.0


def ref_lamb(lr, b1=0.9, b2=0.999, eps=1e-6, wd=0.0, bias_correction=True, lower=None, upper=None):
    w, m, v = W0.astype(onp.float64), onp.zeros(W0.shape), onp.zeros(W0.shape)
    for t, g in _steps():
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        r1 = onp.linalg.norm(w)
        r1 = max(r1, lower) if lower is not None else r1
        r1 = min(r1, upper) if upper is not None else r1
        if bias_correction:
            u = (m / (1 - b1 ** t)) / (onp.sqrt(v / (1 - b2 ** t)) + eps) + wd * w
        else:
            u = m / (onp.sqrt(v) + eps) + wd * w
        w = w - lr * _trust(r1, onp.linalg.norm(u)) * u
    return w


def ref_lans(lr, b1=0.9, b2=0.999, eps=1e-6, wd=0.0):
    w, m, v = W0.astype(onp.float64), onp.zeros(W0.shape), onp.zeros(W0.shape)
    for t, g in _steps():
        g = g / onp.linalg.norm(g)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        r1 = onp.linalg.norm(w)
        var_hat = onp.sqrt(v / (1 - b2 ** t)) + eps
        u = m / (1 - b1 ** t) / var_hat + wd * w
        w = w - lr * _trust(r1, onp.linalg.norm(u)) * b1 * u
        u = g / var_hat + wd * w
        w = w - lr * _trust(r1, onp.linalg.norm(u)) * (1 - b1) * u
    return w


def ref_lars(lr, momentum=0.0, eta=0.001, eps=1e-8, wd=0.0, name="w"):
    w, mom = W0.astype(onp.float64), onp.zeros(W0.shape)
    for _, g in _steps():
        layer_lr = lr
        if not name.endswith(("gamma", "beta", "bias")):
            wn, gn = onp.linalg.norm(w), onp.linalg.norm(g)
            layer_lr = lr * (eta * wn / (gn + wd * wn + eps) if wn > 0 and gn > 0 else 1.0)
        g = g + wd * w
        mom = momentum * mom - layer_lr * g
        w = w + mom
    return w


def ref_signum(lr, momentum=0.9, wd_lh=0.0, wd=0.0):
    w, mom = W0.astype(onp.float64), onp.zeros(W0.shape)
    for _, g in _steps():
        if momentum:
            mom = momentum * mom - (1 - momentum) * (g + wd * w)
            w = (1 - lr * wd_lh) * w + lr * onp.sign(mom)
        else:
            w = (1 - lr * (wd + wd_lh)) * w - lr * onp.sign(g)
    return w


def ref_dcasgd(lr, momentum=0.0, lamda=0.04, wd=0.0):
    w, mom = W0.astype(onp.float64), onp.zeros(W0.shape)
    prev = w.copy()
    for _, g in _steps():
        g = g + wd * w
        d = g + lamda * g * g * (w - prev)
        mom = momentum * mom - lr * d
        prev = w.copy()
        w = w + mom
    return w


def ref_ftrl(lr, lamda1=0.01, beta=1.0, wd=0.0):
    w, z, n = W0.astype(onp.float64), onp.zeros(W0.shape), onp.zeros(W0.shape)
    for _, g in _steps():
        z = z + g - (onp.sqrt(n + g * g) - onp.sqrt(n)) * w / lr
        n = n + g * g
        w = -onp.sign(z) * onp.maximum(onp.abs(z) - lamda1, 0) / ((beta + onp.sqrt(n)) / lr + wd)
    return w


CASES = [
    ("adagrad", {"learning_rate": 0.1}, lambda: ref_adagrad(0.1)),
    ("adagrad", {"learning_rate": 0.1, "wd": 0.01, "epsilon": 1e-5}, lambda: ref_adagrad(0.1, 1e-5, 0.01)),
    ("adadelta", {}, lambda: ref_adadelta(1.0)),
    ("adadelta", {"learning_rate": 0.5, "rho": 0.8, "wd": 0.01}, lambda: ref_adadelta(0.5, 0.8, wd=0.01)),
    ("adamax", {}, lambda: ref_adamax(0.002)),
    ("adamax", {"learning_rate": 0.01, "beta1": 0.8, "wd": 0.01}, lambda: ref_adamax(0.01, 0.8, wd=0.01)),
    ("nadam", {}, lambda: ref_nadam(0.001)),
    ("nadam", {"learning_rate": 0.01, "schedule_decay": 0.01, "wd": 0.01},
     lambda: ref_nadam(0.01, sd=0.01, wd=0.01)),
    ("adabelief", {}, lambda: ref_adabelief(0.001)),
    ("adabelief", {"learning_rate": 0.01, "wd": 0.1, "clip_gradient": 0.5},
     lambda: ref_adabelief(0.01, wd=0.1, clip=0.5)),
    ("ftml", {}, lambda: ref_ftml(0.0025)),
    ("ftml", {"learning_rate": 0.01, "beta1": 0.5, "wd": 0.01}, lambda: ref_ftml(0.01, 0.5, wd=0.01)),
    ("lamb", {}, lambda: ref_lamb(0.001)),
    ("lamb", {"learning_rate": 0.01, "wd": 0.01, "bias_correction": False, "lower_bound": 0.5, "upper_bound": 2.0},
     lambda: ref_lamb(0.01, wd=0.01, bias_correction=False, lower=0.5, upper=2.0)),
    ("lans", {"learning_rate": 0.01, "wd": 0.01}, lambda: ref_lans(0.01, wd=0.01)),
    ("lars", {}, lambda: ref_lars(0.1)),
    ("lars", {"learning_rate": 0.5, "momentum": 0.9, "eta": 0.01, "wd": 0.01},
     lambda: ref_lars(0.5, 0.9, 0.01, wd=0.01)),
    ("signum", {}, lambda: ref_signum(0.01)),
    ("signum", {"learning_rate": 0.01, "momentum": 0.0, "wd": 0.01, "wd_lh": 0.1},
     lambda: ref_signum(0.01, 0.0, 0.1, 0.01)),
    ("signum", {"learning_rate": 0.01, "wd": 0.01, "wd_lh": 0.1}, lambda: ref_signum(0.01, 0.9, 0.1, 0.01)),
    ("dcasgd", {}, lambda: ref_dcasgd(0.1)),
    ("dcasgd", {"learning_rate": 0.05, "momentum": 0.9, "lamda": 0.1, "wd": 0.01},
     lambda: ref_dcasgd(0.05, 0.9, 0.1, 0.01)),
    ("ftrl", {}, lambda: ref_ftrl(0.1)),
    ("ftrl", {"learning_rate": 0.05, "lamda1": 0.1, "beta": 0.5, "wd": 0.01}, lambda: ref_ftrl(0.05, 0.1, 0.5, 0.01)),
]


def run_trainer(name, params, w0=W0, lr_mult=1.0, wd_mult=1.0, pname="w"):
    p = hb.Parameter(pname, w0.shape, dtype=w0.dtype, lr_mult=lr_mult, wd_mult=wd_mult)
    p.set_data(w0)
    trainer = gluon.Trainer({pname: p}, name, params)
    for g in GRADS:
        p.grad()._data[...] = g
        trainer.step(BATCH)
    return p.data().asnumpy()


@pytest.mark.parametrize("name,params,ref", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_update_matches_mxnet_rule(name, params, ref):
    onp.testing.assert_allclose(run_trainer(name, params), ref(), rtol=2e-4, atol=2e-5)


def test_lars_skips_biases_by_name():
    onp.testing.assert_allclose(run_trainer("lars", {}, pname="fc.bias"), ref_lars(0.1, name="fc.bias"), rtol=2e-4,
                                atol=2e-5)


def test_sgld_is_a_gradient_step_plus_gaussian_noise():
    hb.random.seed(0)
    p = hb.Parameter("w", (2000,))
    p.set_data(onp.zeros(2000, onp.float32))
    trainer = gluon.Trainer([p], "sgld", {"learning_rate": 0.04})
    p.grad()._data[...] = 2.0
    trainer.step(1)
    step = p.data().asnumpy()
    assert abs(step.mean() - (-0.04)) < 0.02 and abs(step.std() - 0.2) < 0.02  # N(-lr/2 g, sqrt(lr))


TRACED = [c[:2] for c in CASES[1::2]] + [("lans", {"learning_rate": 0.01, "wd": 0.01}), ("sgld", {})]


@pytest.mark.parametrize("backend", ["interp", "llvm"])
@pytest.mark.parametrize("name,params", TRACED, ids=[c[0] for c in TRACED])
def test_update_traces_and_matches_eager(name, params, backend):
    """full_update with weight, grad, state, lr and t all graph inputs (what compile_step traces)."""
    optimizer = opt.create(name, **params)
    state0 = optimizer.create_full_state(W0)
    grad = GRADS[0] / BATCH

    def step(w, g, lr, t, *state):
        new_w, new_state = optimizer.full_update(w, g, state, lr, t, optimizer.wd, "w")
        return (new_w,) + tuple(new_state)

    lr, t = onp.array(optimizer.lr, onp.float32), onp.array(3.0, onp.float32)
    hb.random.seed(4)
    got = hb.hybridize(step, backend=backend)(W0, grad, lr, t, *state0)
    hb.random.seed(4)
    eager = step(hb.np.array(W0), hb.np.array(grad), float(lr), 3.0, *[hb.np.array(s) for s in state0])
    for a, b in zip(got, eager):
        onp.testing.assert_allclose(onp.asarray(a), onp.asarray(b), rtol=1e-4, atol=1e-6)


def test_compile_step_with_lamb_matches_eager():
    from hybrid import autograd, np, nn

    def build():
        net = nn.Dense(2, in_units=3)
        net.initialize()
        net.weight.set_data(W0[:2])
        net.bias.set_data(onp.zeros(2, onp.float32))
        return net, gluon.Trainer(net.collect_params(), "lamb", {"learning_rate": 0.01, "wd": 0.01})
    x, y = np.array(W0), np.array(W0[:, :2])
    loss_fn = gluon.loss.L2Loss()
    net, trainer = build()
    for _ in range(3):
        with autograd.record():
            loss = loss_fn(net(x), y).sum()
        loss.backward()
        trainer.step(4)
    net_c, trainer_c = build()
    step = hb.compile_step(net_c, loss_fn, trainer_c, backend="interp")
    for _ in range(3):
        step(x, y)
    onp.testing.assert_allclose(net_c.weight.data().asnumpy(), net.weight.data().asnumpy(), rtol=1e-5, atol=1e-6)


def test_multi_precision_keeps_a_float32_master_weight():
    w16 = W0.astype(onp.float16)
    got = run_trainer("adagrad", {"learning_rate": 0.1, "multi_precision": True}, w0=w16)
    assert got.dtype == onp.float16
    # the float32 master weight follows the float32 rule (from float16 gradients); the float16 copy is its
    # rounding, while updating float16 weights directly accumulates rounding errors
    master = run_trainer("adagrad", {"learning_rate": 0.1}, w0=w16.astype(onp.float32))
    plain = run_trainer("adagrad", {"learning_rate": 0.1}, w0=w16)
    err_mp = onp.abs(got.astype(onp.float32) - master).max()
    err_plain = onp.abs(plain.astype(onp.float32) - master).max()
    assert err_mp <= 2e-3 * onp.abs(master).max() and err_mp < err_plain


def test_lr_and_wd_multipliers():
    got = run_trainer("adagrad", {"learning_rate": 0.1, "wd": 0.02}, lr_mult=0.5, wd_mult=0.5)
    onp.testing.assert_allclose(got, ref_adagrad(0.05, wd=0.01), rtol=2e-4, atol=2e-5)


def test_poly_scheduler():
    sched = hb.lr_scheduler.PolyScheduler(max_update=10, base_lr=0.1, pwr=2, final_lr=0.01, warmup_steps=2)
    assert sched(0) == 0.0 and abs(sched(1) - 0.05) < 1e-12  # linear warmup from 0
    for n in (2, 5, 9, 10):
        assert abs(sched(n) - (0.01 + 0.09 * (1 - (n - 2) / 8) ** 2)) < 1e-12
    assert sched(25) == 0.01
    with pytest.raises(hb.HybridError, match="max_update"):
        hb.lr_scheduler.PolyScheduler(max_update=0)
