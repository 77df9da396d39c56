"""Each optimizer's update, run through the Trainer over several steps, against a float64 NumPy
reimplementation of its documented formula, against PyTorch's optimizer where the two agree,
and traced (the same update compiled with the interp backend)."""
import math

import numpy as onp
import pytest

import hybrid as hb
from hybrid import gluon
from hybrid.errors import HybridError
from hybrid.gluon import optimizer as opt

STEPS = 6
BATCH = 4
RNG = onp.random.default_rng(7)
W0 = RNG.normal(size=(5, 3)).astype(onp.float32)
GRADS = [RNG.normal(size=(5, 3)).astype(onp.float32) * BATCH for _ in range(STEPS)]  # summed-over-batch grads


# -- float64 references, written from the formulas in each optimizer's docstring ------------
def ref_sgd(lr, momentum=0.0, nesterov=False, wd=0.0):
    w, m = W0.astype(onp.float64), onp.zeros(W0.shape)
    for g in GRADS:
        g = g / BATCH + wd * w
        m = momentum * m - lr * g
        w = w + (momentum * m - lr * g if nesterov else m)
    return w


def ref_adam(lr, b1=0.9, b2=0.999, eps=1e-8, wd=0.0):
    w, m, v = W0.astype(onp.float64), onp.zeros(W0.shape), onp.zeros(W0.shape)
    for t, g in enumerate(GRADS, start=1):
        g = g / BATCH + wd * w
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        w = w - lr * (m / (1 - b1 ** t)) / (onp.sqrt(v / (1 - b2 ** t)) + eps)
    return w


def ref_adamw(lr, b1=0.9, b2=0.999, eps=1e-6, wd=0.0, correct_bias=True):
    """MXNet 2's AdamW.step: the rate bias-corrected, eps on sqrt(v), the decay after the step."""
    w, m, v = W0.astype(onp.float64), onp.zeros(W0.shape), onp.zeros(W0.shape)
    for t, g in enumerate(GRADS, start=1):
        g = g / BATCH
        lr_t = lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t) if correct_bias else lr
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        w = w - lr_t * m / (onp.sqrt(v) + eps)
        w = w - lr_t * wd * w
    return w


def ref_rmsprop(lr, rho=0.9, momentum=0.0, eps=1e-8, centered=False, wd=0.0):
    w = W0.astype(onp.float64)
    v, a, b = (onp.zeros(W0.shape) for _ in range(3))
    for g in GRADS:
        g = g / BATCH + wd * w
        v = rho * v + (1 - rho) * g * g
        if centered:
            a = rho * a + (1 - rho) * g
            denom = onp.sqrt(v - a * a) + eps
        else:
            denom = onp.sqrt(v) + eps
        if momentum:
            b = momentum * b + g / denom
            w = w - lr * b
        else:
            w = w - lr * g / denom
    return w


CASES = [
    ("sgd", {"learning_rate": 0.1}, lambda: ref_sgd(0.1)),
    ("sgd", {"learning_rate": 0.1, "wd": 0.01}, lambda: ref_sgd(0.1, wd=0.01)),
    ("sgd", {"learning_rate": 0.1, "momentum": 0.9}, lambda: ref_sgd(0.1, 0.9)),
    ("sgd", {"learning_rate": 0.05, "momentum": 0.8, "nesterov": True, "wd": 1e-3},
     lambda: ref_sgd(0.05, 0.8, True, 1e-3)),
    ("nag", {"learning_rate": 0.05}, lambda: ref_sgd(0.05, 0.9, True)),
    ("adam", {"learning_rate": 0.01}, lambda: ref_adam(0.01)),
    ("adam", {"learning_rate": 0.01, "beta1": 0.8, "beta2": 0.99, "wd": 0.1},
     lambda: ref_adam(0.01, 0.8, 0.99, wd=0.1)),
    ("adamw", {"learning_rate": 0.01, "wd": 0.1}, lambda: ref_adamw(0.01, wd=0.1)),
    ("adamw", {"learning_rate": 0.01, "wd": 0.1, "beta1": 0.8, "correct_bias": False, "epsilon": 1e-8},
     lambda: ref_adamw(0.01, b1=0.8, eps=1e-8, wd=0.1, correct_bias=False)),
    ("rmsprop", {"learning_rate": 0.01}, lambda: ref_rmsprop(0.01)),
    ("rmsprop", {"learning_rate": 0.01, "momentum": 0.9, "centered": True, "wd": 0.01},
     lambda: ref_rmsprop(0.01, momentum=0.9, centered=True, wd=0.01)),
    # MXNet 1.x's names (the d2l book's RMSProp chapter): gamma1 is rho, gamma2 the centered variant's momentum
    ("rmsprop", {"learning_rate": 0.01, "gamma1": 0.8}, lambda: ref_rmsprop(0.01, rho=0.8)),
    ("rmsprop", {"learning_rate": 0.01, "gamma1": 0.95, "gamma2": 0.5, "centered": True},
     lambda: ref_rmsprop(0.01, rho=0.95, momentum=0.5, centered=True)),
]


def run_trainer(name, params):
    p = hb.Parameter("w", W0.shape)
    p.set_data(W0)
    trainer = gluon.Trainer([p], name, params)
    for g in GRADS:
        p.grad()._data[...] = g
        trainer.step(BATCH)
    return p.data().asnumpy()


@pytest.mark.parametrize("name,params,ref", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_update_matches_numpy(name, params, ref):
    onp.testing.assert_allclose(run_trainer(name, params), ref(), rtol=1e-5, atol=1e-6)


TORCH_CASES = [
    ("sgd", {"learning_rate": 0.1, "momentum": 0.9, "wd": 0.01}, "SGD", {"lr": 0.1, "momentum": 0.9,
                                                                         "weight_decay": 0.01}),
    ("sgd", {"learning_rate": 0.1, "momentum": 0.9, "nesterov": True}, "SGD",
     {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
    ("adam", {"learning_rate": 0.01, "wd": 0.01}, "Adam", {"lr": 0.01, "weight_decay": 0.01}),
    ("rmsprop", {"learning_rate": 0.01, "rho": 0.95, "momentum": 0.5, "centered": True}, "RMSprop",
     {"lr": 0.01, "alpha": 0.95, "momentum": 0.5, "centered": True}),
]


@pytest.mark.parametrize("name,params,torch_name,torch_params", TORCH_CASES, ids=[c[2] for c in TORCH_CASES])
def test_update_matches_torch(name, params, torch_name, torch_params):
    torch = pytest.importorskip("torch")
    w = torch.nn.Parameter(torch.tensor(W0, dtype=torch.float64))
    optim = getattr(torch.optim, torch_name)([w], **torch_params)
    for g in GRADS:
        w.grad = torch.tensor(g / BATCH, dtype=torch.float64)
        optim.step()
    onp.testing.assert_allclose(run_trainer(name, params), w.detach().numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name,params", [(c[0], c[1]) for c in CASES[2:]], ids=[c[0] for c in CASES[2:]])
def test_update_traces_and_matches_eager(name, params):
    """update(weight, grad, state, lr, t) with every operand a traced input (lr and t too)."""
    optimizer = opt.create(name, **params)
    state0 = optimizer.create_state(W0)
    grad = GRADS[0] / BATCH

    def step(w, g, lr, t, *state):
        new_w, new_state = optimizer.update(w, g, state, lr, t)
        return (new_w,) + tuple(new_state)

    lr, t = onp.array(params["learning_rate"], onp.float32), onp.array(3.0, onp.float32)  # 0-d: graph inputs
    compiled = hb.hybridize(step, backend="interp")
    got = compiled(W0, grad, lr, t, *state0)
    eager = step(hb.np.array(W0), hb.np.array(grad), float(lr), 3.0, *[hb.np.array(s) for s in state0])
    graph = hb.trace(step, W0, grad, lr, t, *state0)
    assert len(graph.inputs) == 4 + len(state0)
    for a, b in zip(got, eager):
        onp.testing.assert_allclose(onp.asarray(a), onp.asarray(b), rtol=1e-5, atol=1e-6)


def test_clip_gradient_elementwise():
    p = hb.Parameter("w", (3,))
    p.set_data(onp.zeros(3, onp.float32))
    trainer = gluon.Trainer([p], "sgd", {"learning_rate": 1.0, "clip_gradient": 0.5})
    p.grad()._data[...] = [2.0, -0.2, -3.0]
    trainer.step(1)
    onp.testing.assert_allclose(p.data().asnumpy(), [-0.5, 0.2, 0.5])


def test_optimizer_errors():
    with pytest.raises(hb.HybridError, match="unknown optimizer 'adagradx'.*sgd"):
        opt.create("adagradx")
    with pytest.raises(hb.HybridError, match="bad optimizer_params for SGD.*momemtum"):
        opt.create("sgd", momemtum=0.9)
    with pytest.raises(hb.HybridError, match="nesterov=True\\) needs a momentum"):
        opt.SGD(nesterov=True)
    with pytest.raises(hb.HybridError, match="beta1 must be in"):
        opt.Adam(beta1=1.0)
    with pytest.raises(hb.HybridError, match="optimizer_params must be empty"):
        opt.create(opt.SGD(), learning_rate=0.1)


def test_default_learning_rates():
    assert opt.SGD().learning_rate == 0.01
    assert opt.Adam().learning_rate == 0.001
    assert math.isclose(opt.create("rmsprop", learning_rate=0.3).learning_rate, 0.3)


@pytest.mark.parametrize("params,message", [
    ({"rho": 0.5, "gamma1": 0.8}, "rho=0.5 and gamma1=0.8"),
    ({"gamma2": 0.9}, "gamma2.*centered=True"),
])
def test_rmsprop_mxnet1_names_refuse_conflicts(params, message):
    with pytest.raises(HybridError, match=message):
        opt.create("rmsprop", learning_rate=0.01, **params)
