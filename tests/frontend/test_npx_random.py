"""npx.random (MXNet's bernoulli, uniform_n, normal_n, seed): moments against the distributions' mean and
variance, shapes, dtypes, seeding, errors, and the same draws eagerly and hybridized (interp and llvm)."""
import numpy as onp
import pytest

import hybrid as hb
from hybrid import gluon, np, npx

N = 40000   # draws per parameter: the standard error of a mean is at most 0.5 / sqrt(N) = 0.0025 here
PROBS = onp.array([0.05, 0.3, 0.5, 0.9], "float32")


def bernoulli_moments(draws: onp.ndarray, probs: onp.ndarray) -> None:
    """Per column: mean p and variance p(1-p), each within 0.015 (6 standard errors or more)."""
    assert set(onp.unique(draws)) <= {0, 1}
    onp.testing.assert_allclose(draws.mean(axis=0), probs, atol=0.015)
    onp.testing.assert_allclose(draws.var(axis=0), probs * (1 - probs), atol=0.015)


@pytest.mark.parametrize("form", ["prob", "logit"])
def test_bernoulli_moments(form):
    npx.random.seed(11)
    if form == "prob":
        draws = npx.random.bernoulli(prob=np.array(PROBS), size=(N, 4))
    else:
        draws = npx.random.bernoulli(logit=np.array(onp.log(PROBS / (1 - PROBS))), size=(N, 4))
    assert draws.shape == (N, 4) and draws.dtype == onp.float32
    bernoulli_moments(draws.asnumpy(), PROBS)


def test_bernoulli_scalar_probability_and_float64():
    npx.random.seed(2)
    draws = npx.random.bernoulli(0.25, size=N).asnumpy()
    assert draws.shape == (N,) and abs(draws.mean() - 0.25) < 0.015
    # a float64 probability is compared with float64 draws: p = 1 - 2**-40 is almost never missed
    near_one = npx.random.bernoulli(np.array(onp.full(1000, 1 - 2.0 ** -40)), dtype="float64").asnumpy()
    assert near_one.dtype == onp.float64 and near_one.sum() == 1000


@pytest.mark.parametrize("size", [(), (1,), (2, 3), (4, 0, 5), 6, (7, 8), None])
@pytest.mark.parametrize("dtype", ["float16", "float32", "float64", "int32", "bool"])
def test_bernoulli_shapes_and_dtypes(size, dtype):
    # MXNet's own test: the parameter has shape `size`, and draws take that shape and `dtype`
    expected = () if size is None else (size,) if isinstance(size, int) else size
    prob = np.random.uniform(size=size)
    for kwargs in ({"prob": prob}, {"logit": np.log(prob) - np.log(1 - prob)}):
        out = npx.random.bernoulli(size=size, dtype=dtype, **kwargs)
        assert out.shape == expected and out.dtype == onp.dtype(dtype)
        values = out.asnumpy()
        assert ((values == 0) | (values == 1)).all()


def test_bernoulli_size_broadcasts_the_parameter_and_empty_size_keeps_its_shape():
    prob = np.array([[0.0], [1.0]])
    out = npx.random.bernoulli(prob, size=(2, 5)).asnumpy()
    onp.testing.assert_array_equal(out, [[0] * 5, [1] * 5])
    assert npx.random.bernoulli(prob, size=()).shape == (2, 1)   # MXNet: size=() means the parameter's shape


def test_bernoulli_out_fills_the_given_array():
    out = np.full((3, 2), 7.0)
    got = npx.random.bernoulli(prob=1.0, size=(3, 2), out=out)
    assert got is out
    onp.testing.assert_array_equal(out.asnumpy(), onp.ones((3, 2)))


@pytest.mark.parametrize("kwargs, message", [
    ({}, "pass exactly one of prob= .* and logit= .*got neither"),
    ({"prob": 0.5, "logit": 0.0}, "pass exactly one of prob= .* and logit= .*got both"),
    ({"prob": 1.5}, r"prob must lie in \[0, 1\], got 1.5"),
    ({"prob": [0.2, -0.5]}, r"prob must lie in \[0, 1\], got -0.5 in prob f32\[2\]"),
    ({"prob": float("nan")}, r"prob must lie in \[0, 1\], got nan"),
])
def test_bernoulli_errors_name_the_op_and_the_line(kwargs, message):
    with pytest.raises(ValueError, match=message) as info:
        npx.random.bernoulli(**kwargs)
    assert "test_npx_random.py" in str(info.value)   # the user's line


def test_bernoulli_parameter_that_does_not_broadcast_to_size():
    with pytest.raises(hb.errors.ShapeError, match=r"shape \(3,\) does not broadcast to size \(2,\)"):
        npx.random.bernoulli(np.full((3,), 0.5), size=(2,))


@pytest.mark.parametrize("batch_shape, params, expected", [
    (None, (0.0, 1.0), ()),
    ((), (0.0, 1.0), ()),
    (4, (0.0, 1.0), (4,)),
    ((2, 3), (0.0, 1.0), (2, 3)),
    (None, (onp.zeros(3), 1.0), (3,)),
    ((2,), (onp.zeros((4, 1)), onp.ones(3)), (2, 4, 3)),
    ((5, 1), (0.0, onp.ones(2)), (5, 1, 2)),
])
@pytest.mark.parametrize("name", ["uniform_n", "normal_n"])
def test_sample_n_shape_is_batch_shape_then_parameter_shape(name, batch_shape, params, expected):
    params = [np.array(p) if isinstance(p, onp.ndarray) else p for p in params]
    out = getattr(npx.random, name)(*params, batch_shape=batch_shape)
    assert out.shape == expected and out.dtype == onp.float32


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
@pytest.mark.parametrize("name", ["uniform_n", "normal_n"])
def test_sample_n_dtype(name, dtype):
    out = getattr(npx.random, name)(np.zeros(2, dtype="float64"), 1.0, batch_shape=3, dtype=dtype)
    assert out.shape == (3, 2) and out.dtype == onp.dtype(dtype)


def test_uniform_n_moments_per_parameter():
    npx.random.seed(5)
    low, high = onp.array([0.0, -2.0, 10.0], "float32"), onp.array([1.0, 4.0, 10.5], "float32")
    draws = npx.random.uniform_n(np.array(low), np.array(high), batch_shape=N).asnumpy()
    assert draws.shape == (N, 3) and (draws >= low).all() and (draws < high).all()
    width = high - low   # mean (low + high) / 2 within 1% of the width, variance width^2 / 12 within 2%
    onp.testing.assert_allclose(draws.mean(axis=0), (low + high) / 2, atol=0.01 * width.max())
    onp.testing.assert_allclose(draws.var(axis=0), width ** 2 / 12, rtol=0.02)


def test_normal_n_moments_per_parameter():
    npx.random.seed(6)
    loc, scale = onp.array([0.0, 3.0, -1.0], "float32"), onp.array([1.0, 0.5, 4.0], "float32")
    draws = npx.random.normal_n(np.array(loc), np.array(scale), batch_shape=(N // 4, 4)).asnumpy()
    assert draws.shape == (N // 4, 4, 3)
    flat = draws.reshape(-1, 3)   # mean within 0.03 scale (6 standard errors), variance within 3%
    onp.testing.assert_allclose(flat.mean(axis=0), loc, atol=0.03 * scale.max())
    onp.testing.assert_allclose(flat.var(axis=0), scale ** 2, rtol=0.03)


SAMPLERS = {
    "bernoulli": lambda: npx.random.bernoulli(prob=0.5, size=(6,)),
    "uniform_n": lambda: npx.random.uniform_n(-1.0, 2.0, batch_shape=(6,)),
    "normal_n": lambda: npx.random.normal_n(1.0, 3.0, batch_shape=(6,)),
}


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_seed_reproduces_draws(name):
    npx.random.seed(42)
    first, second = SAMPLERS[name]().asnumpy(), SAMPLERS[name]().asnumpy()
    npx.random.seed(42, device=hb.cpu())   # MXNet's device argument: one generator serves every device
    onp.testing.assert_array_equal(SAMPLERS[name]().asnumpy(), first)
    onp.testing.assert_array_equal(SAMPLERS[name]().asnumpy(), second)
    np.random.seed(42)                     # one generator: np.random.seed fixes npx.random too
    onp.testing.assert_array_equal(SAMPLERS[name]().asnumpy(), first)
    npx.random.seed(43)
    assert not onp.array_equal(SAMPLERS[name]().asnumpy(), first)


class Sampler(gluon.HybridBlock):
    def forward(self, prob, loc):
        coin = npx.random.bernoulli(prob=prob)
        noise = npx.random.normal_n(loc, 1.0, batch_shape=2)
        shift = npx.random.uniform_n(0.0, loc + 1.0)
        return coin * 10.0 + noise + shift


@pytest.mark.parametrize("backend", ["interp", "llvm"])
def test_hybridized_block_draws_what_eager_code_draws(backend):
    prob, loc = np.array([0.1, 0.5, 0.9]), np.array([0.0, 1.0, 2.0])
    block = Sampler()
    npx.random.seed(9)
    eager = block(prob, loc).asnumpy()
    after_eager = np.random.uniform(size=(2,)).asnumpy()
    block.hybridize(backend=backend)
    npx.random.seed(9)
    compiled = block(prob, loc).asnumpy()
    assert compiled.shape == (2, 3)
    onp.testing.assert_allclose(compiled, eager, rtol=1e-5, atol=1e-5)
    onp.testing.assert_array_equal(np.random.uniform(size=(2,)).asnumpy(), after_eager)  # the key advanced alike
    assert not onp.array_equal(block(prob, loc).asnumpy(), compiled)   # a second call draws anew
    assert "random_uniform" in block.ir()


@pytest.mark.parametrize("backend", ["interp", "llvm"])
def test_hybridized_bernoulli_moments(backend):
    @hb.hybridize(backend=backend)
    def draw(logit):
        return npx.random.bernoulli(logit=logit, size=(N, 4))

    npx.random.seed(4)
    draws = draw(np.array(onp.log(PROBS / (1 - PROBS)))).asnumpy()
    bernoulli_moments(draws, PROBS)
