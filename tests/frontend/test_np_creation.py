"""Creation functions, the NDArray surface (.shape/.dtype/.ndim/.size/.T, asnumpy, __array__,
__repr__) and the seedable random generator (same seed, same draws, eager == hybridized)."""
import numpy as onp
import pytest

import hybrid as hb
from hybrid import np

from hb_check import check, sample


@pytest.mark.parametrize("make, expected", [
    (lambda: np.array([[1, 2], [3, 4]]), onp.array([[1, 2], [3, 4]], "int32")),
    (lambda: np.array([1.5, 2]), onp.array([1.5, 2], "float32")),
    (lambda: np.array([True, False]), onp.array([True, False])),
    (lambda: np.array([[1, 2]], dtype="float32"), onp.array([[1, 2]], "float32")),
    (lambda: np.array(onp.arange(3, dtype="int64")), onp.arange(3, dtype="int64")),  # NumPy arrays keep dtype
    (lambda: np.array(3.0), onp.array(3.0, "float32")),
    (lambda: np.asarray([[0.5]]), onp.array([[0.5]], "float32")),
    (lambda: np.zeros((2, 3)), onp.zeros((2, 3), "float32")),
    (lambda: np.zeros(4, dtype="int32"), onp.zeros(4, "int32")),
    (lambda: np.ones((3,), dtype=np.bool_), onp.ones(3, bool)),
    (lambda: np.full((2, 2), 7), onp.full((2, 2), 7, "int32")),
    (lambda: np.full((2, 2), 0.5), onp.full((2, 2), 0.5, "float32")),
    (lambda: np.full(3, 2, dtype="float32"), onp.full(3, 2, "float32")),
    (lambda: np.arange(5), onp.arange(5, dtype="int32")),
    (lambda: np.arange(1, 10, 3), onp.arange(1, 10, 3, dtype="int32")),
    (lambda: np.arange(0.0, 1.0, 0.25), onp.arange(0.0, 1.0, 0.25, dtype="float32")),
    (lambda: np.arange(4, dtype="float32"), onp.arange(4, dtype="float32")),
    (lambda: np.linspace(0, 1, 5), onp.linspace(0, 1, 5, dtype="float32")),
    (lambda: np.linspace(-1, 1, 4, endpoint=False), onp.linspace(-1, 1, 4, endpoint=False, dtype="float32")),
    (lambda: np.eye(3), onp.eye(3, dtype="float32")),
    (lambda: np.eye(2, 4, k=1, dtype="int32"), onp.eye(2, 4, k=1, dtype="int32")),
    (lambda: np.zeros_like(np.ones((2, 5), dtype="int32")), onp.zeros((2, 5), "int32")),
    (lambda: np.ones_like(np.zeros((3,))), onp.ones(3, "float32")),
    (lambda: np.full_like(np.zeros((2,)), 4.0), onp.full(2, 4.0, "float32")),
    (lambda: np.full_like(np.zeros((2,)), 4, dtype="int32"), onp.full(2, 4, "int32")),
])
def test_creation(make, expected):
    got = make()
    assert isinstance(got, hb.NDArray)
    assert got.dtype == expected.dtype and got.shape == expected.shape
    onp.testing.assert_array_equal(got.asnumpy(), expected)


def test_like_functions_while_traced():
    check(lambda x: np.zeros_like(x) + np.ones_like(x) * 2 + np.full_like(x, 0.5),
          lambda x: onp.full_like(x, 2.5), sample((3, 4)), dtype="float32")
    check(lambda x: x + np.arange(4) + np.eye(4)[0], lambda x: x + onp.arange(4) + onp.eye(4)[0], sample((2, 4)))


def test_ndarray_properties():
    data = onp.arange(24, dtype="float32").reshape(2, 3, 4)
    x = np.array(data)
    assert x.shape == (2, 3, 4) and x.ndim == 3 and x.size == 24 and x.dtype == onp.float32
    assert x.T.shape == (4, 3, 2)
    onp.testing.assert_array_equal(x.T.asnumpy(), data.T)
    assert len(x) == 2
    assert [row.shape for row in x] == [(3, 4), (3, 4)]
    assert np.array(5).item() == 5 and float(np.array(2.5)) == 2.5 and int(np.array(7)) == 7
    assert bool(np.array(True)) and not bool(np.array(0))
    assert x.tolist() == data.tolist()
    with pytest.raises(TypeError, match="len"):
        len(np.array(1.0))


def test_traced_properties_are_static():
    seen = {}

    def fn(x):
        seen.update(shape=x.shape, dtype=x.dtype, ndim=x.ndim, size=x.size, T=x.T.shape, len=len(x))
        return x.T
    hb.hybridize(fn, backend="interp")(np.ones((2, 5), dtype="int32"))
    assert seen == {"shape": (2, 5), "dtype": onp.int32, "ndim": 2, "size": 10, "T": (5, 2), "len": 2}


def test_asnumpy_is_a_copy_and_array_protocol():
    x = np.array([1.0, 2.0])
    a = x.asnumpy()
    a[0] = 100
    assert x.asnumpy()[0] == 1.0
    assert onp.asarray(x).dtype == onp.float32
    onp.testing.assert_array_equal(onp.asarray(x), [1.0, 2.0])
    onp.testing.assert_array_equal(onp.asarray(x, dtype="float64"), [1.0, 2.0])
    assert onp.asarray(x, dtype="float64").dtype == onp.float64
    # NumPy functions accept NDArrays through __array__
    assert onp.sum(onp.asarray(x)) == 3.0


def test_array_protocol_honours_copy():
    # NumPy 2 passes copy= to __array__ and does not copy again: numpy.array(x, copy=True) was a live view, so
    # an in-place update of x (a Trainer step of a parameter) showed through the "copy"
    x = np.array([1.0, 2.0])
    snapshot = onp.array(x, copy=True)
    x[0] = 5.0
    x += 1.0
    onp.testing.assert_array_equal(snapshot, [1.0, 2.0])
    onp.testing.assert_array_equal(onp.array(x, dtype="float64", copy=True), [6.0, 3.0])
    view = onp.asarray(x, copy=False)
    assert onp.shares_memory(view, onp.asarray(x)) and view.dtype == onp.float32
    with pytest.raises(ValueError, match="a copy is needed"):
        onp.asarray(x, dtype="float64", copy=False)


def test_repr():
    assert repr(np.array([[1, 2], [3, 4]], dtype="float32")) == repr(onp.array([[1, 2], [3, 4]], "float32"))
    assert repr(np.arange(3)) == repr(onp.arange(3, dtype="int32")) == "array([0, 1, 2], dtype=int32)"
    assert repr(np.array([True])) == "array([ True])"
    assert "2.5" in repr(np.array([2.5]))


# -- random -------------------------------------------------------------------------------------------
DRAWS = {
    "uniform": lambda: np.random.uniform(-2.0, 3.0, size=(4, 5)),
    "normal": lambda: np.random.normal(1.0, 2.0, size=(6, 7)),
    "randint": lambda: np.random.randint(-3, 9, size=(50,)),
    "rand": lambda: np.random.rand(3, 2),
    "randn": lambda: np.random.randn(5),
}


@pytest.mark.parametrize("name", sorted(DRAWS))
def test_random_same_seed_same_draws(name):
    np.random.seed(42)
    a, b = DRAWS[name](), DRAWS[name]()
    np.random.seed(42)
    a2, b2 = DRAWS[name](), DRAWS[name]()
    onp.testing.assert_array_equal(a.asnumpy(), a2.asnumpy())
    onp.testing.assert_array_equal(b.asnumpy(), b2.asnumpy())
    assert not onp.array_equal(a.asnumpy(), b.asnumpy()), "consecutive draws must differ"
    np.random.seed(43)
    assert not onp.array_equal(DRAWS[name]().asnumpy(), a.asnumpy()), "another seed must draw differently"


def test_random_ranges_and_moments():
    np.random.seed(0)
    u = np.random.uniform(-2.0, 3.0, size=(20000,)).asnumpy()
    assert u.dtype == onp.float32 and u.min() >= -2.0 and u.max() < 3.0
    assert abs(u.mean() - 0.5) < 0.05 and abs(u.std() - 5 / 12 ** 0.5) < 0.05
    n = np.random.normal(1.0, 2.0, size=(20000,)).asnumpy()
    assert abs(n.mean() - 1.0) < 0.06 and abs(n.std() - 2.0) < 0.06
    r = np.random.randint(-3, 9, size=(20000,)).asnumpy()
    assert r.dtype == onp.int32 and r.min() == -3 and r.max() == 8
    assert set(onp.unique(r)) == set(range(-3, 9))


def test_random_array_parameters_draw_one_sample_per_element():
    # without size=, NumPy (and MXNet) draw one sample for each element of the broadcast parameters
    np.random.seed(1)
    high = onp.arange(1, 20001, dtype="float32")
    u = np.random.uniform(np.zeros(20000), np.array(high)).asnumpy()
    assert u.shape == (20000,) and (u >= 0).all() and (u < high).all()
    scaled = u / high                                   # U(0, 1): mean 1/2, std 1/sqrt(12), error ~0.002
    assert abs(scaled.mean() - 0.5) < 0.01 and abs(scaled.std() - 12 ** -0.5) < 0.01
    n = np.random.normal(np.full((20000,), 5.0), 2.0).asnumpy()
    assert n.shape == (20000,) and abs(n.mean() - 5.0) < 0.06 and abs(n.std() - 2.0) < 0.06
    grid = np.random.normal(np.zeros((3, 1)), [1.0, 2.0, 3.0]).asnumpy()   # a list parameter broadcasts too
    assert grid.shape == (3, 3) and len(onp.unique(grid)) == 9


@pytest.mark.parametrize("name", ["uniform", "normal", "randint"])
def test_random_eager_equals_hybridized(name):
    def fn(x):
        return x + DRAWS[name]() * 1 + DRAWS[name]()  # two random ops: the second key differs

    x = np.zeros((1,), dtype="int32" if name == "randint" else "float32")
    np.random.seed(7)
    eager = fn(x).asnumpy()
    after_eager = np.random.uniform(size=(3,)).asnumpy()
    compiled = hb.hybridize(fn, backend="interp")
    np.random.seed(7)
    got = compiled(x).asnumpy()
    after_compiled = np.random.uniform(size=(3,)).asnumpy()
    onp.testing.assert_array_equal(got, eager)
    # the compiled call advances the generator exactly as the eager code did
    onp.testing.assert_array_equal(after_compiled, after_eager)
    # a second call draws new numbers, like eager code would
    assert not onp.array_equal(compiled(x).asnumpy(), got)


def test_random_traced_graph_has_key_input():
    graph = hb.trace(lambda x: x + np.random.uniform(size=(2,)), np.zeros((2,)))
    assert "%rng.key: u32[2]" in str(graph)
    assert "random_uniform" in str(graph)


def test_creation_takes_mxnet_ctx_alias_of_device():
    # MXNet 2 renamed ctx= to device= and still accepts ctx= (rnn begin_state and older scripts pass it)
    import hybrid as hb
    for make in (lambda **kw: hb.np.ones((2, 3), **kw), lambda **kw: hb.np.zeros((2,), **kw),
                 lambda **kw: hb.np.full((2,), 7.0, **kw), lambda **kw: hb.np.arange(4, **kw),
                 lambda **kw: hb.np.eye(3, **kw), lambda **kw: hb.np.linspace(0, 1, 5, **kw),
                 lambda **kw: hb.np.array([1.0, 2.0], **kw),
                 lambda **kw: hb.np.zeros_like(hb.np.ones(3), **kw)):
        onp.testing.assert_array_equal(make(ctx=hb.cpu()).asnumpy(), make().asnumpy())
    with pytest.raises(ValueError, match="live on 'cpu'"):
        hb.np.ones((2,), ctx="gpu")


@pytest.mark.parametrize("reader", ["genfromtxt", "loadtxt"])
def test_text_table_readers_give_arrays_like_numpy(reader, tmp_path):
    # MXNet's np.genfromtxt wraps NumPy's and keeps the dtype NumPy read (d2l's get_data_ch11 reads the
    # tab-separated airfoil table with dtype=np.float32, then takes column means and standard deviations)
    path = tmp_path / "table.tsv"
    path.write_text("800\t0\t0.3048\t71.3\n1000\t1.5\t0.2286\t39.6\n# a comment\n1250\t3\t0.1524\t31.7\n")
    for kwargs in ({"dtype": np.float32, "delimiter": "\t"}, {"delimiter": "\t"}):
        got = getattr(np, reader)(str(path), **kwargs)
        expected = getattr(onp, reader)(str(path), **kwargs)
        assert isinstance(got, hb.NDArray) and got.dtype == expected.dtype
        onp.testing.assert_array_equal(got.asnumpy(), expected)
        onp.testing.assert_allclose(((got - got.mean(axis=0)) / got.std(axis=0)).asnumpy(),
                                    (expected - expected.mean(axis=0)) / expected.std(axis=0), rtol=1e-5, atol=1e-6)


def test_genfromtxt_fills_missing_values_and_refuses_mixed_columns(tmp_path):
    path = tmp_path / "table.csv"
    path.write_text("1,2\n3,\n")
    onp.testing.assert_array_equal(np.genfromtxt(str(path), delimiter=",").asnumpy(), [[1, 2], [3, onp.nan]])
    path.write_text("a,1\nb,2\n")
    with pytest.raises(TypeError, match="genfromtxt.*structured.*dtype="):
        np.genfromtxt(str(path), delimiter=",", dtype=None, encoding="utf-8")
    with pytest.raises(ValueError, match="live on 'cpu'"):
        np.genfromtxt(str(path), delimiter=",", usecols=1, device="gpu")


def test_zero_d_arrays_are_not_iterable_like_numpy():
    # NumPy raises from iter() itself, so numpy.iterable() (which matplotlib asks of `axvline(x=np.mean(xs))`)
    # is False for a 0-d array; n-d arrays iterate over their first axis
    scalar, ref = np.mean(np.array([1.0, 2.0, 4.0])), onp.mean(onp.array([1.0, 2.0, 4.0]))
    assert onp.iterable(scalar) is onp.iterable(onp.asarray(ref)) is False
    with pytest.raises(TypeError, match="0-d"):
        iter(scalar)
    rows = onp.arange(6, dtype="float32").reshape(3, 2)
    assert onp.iterable(np.array(rows))
    for got, want in zip(np.array(rows), rows, strict=True):
        onp.testing.assert_array_equal(got.asnumpy(), want)

    def traced(x):
        with pytest.raises(TypeError, match="0-d"):
            iter(np.sum(x))
        return np.stack([row * 2.0 for row in x])
    onp.testing.assert_array_equal(hb.hybridize(traced, backend="interp")(np.array(rows)).asnumpy(), rows * 2)


def test_print_options_shape_array_reprs_like_numpy():
    # MXNet's np.set_printoptions (d2l's anchor chapter: np.set_printoptions(2)) sets NumPy's, which print our arrays
    values = onp.array([1.23456, 2.5], onp.float32)
    with np.printoptions(precision=2):
        assert repr(np.array(values)) == repr(values) and "1.23" in repr(np.array(values))
        assert np.get_printoptions()["precision"] == 2
    before = np.get_printoptions()
    try:
        np.set_printoptions(3)
        assert repr(np.array(values)) == repr(values) and "1.235" in repr(np.array(values))
    finally:
        np.set_printoptions(**before)
