"""Layout functions and indexing: eager vs hybridized (interp) vs NumPy."""
import re

import numpy as onp
import pytest
from hypothesis import given, settings, strategies as st

import hybrid as hb
from hybrid import np

from hb_check import check, sample

SETTINGS = settings(max_examples=30, deadline=None)


@pytest.mark.parametrize("dtype", ["float32", "int32", "bool"])
@pytest.mark.parametrize("fn, ref", [
    (lambda x: np.reshape(x, (6, 4)), lambda x: x.reshape(6, 4)),
    (lambda x: x.reshape(-1, 3), lambda x: x.reshape(-1, 3)),
    (lambda x: x.reshape(2, 3, 4), lambda x: x.reshape(2, 3, 4)),
    (lambda x: x.flatten(), lambda x: x.flatten()),
    (lambda x: np.ravel(x), lambda x: onp.ravel(x)),
    (lambda x: x.ravel(), lambda x: x.ravel()),
    (lambda x: np.flip(x), lambda x: onp.flip(x)),
    (lambda x: np.flip(x, 1), lambda x: onp.flip(x, 1)),
    (lambda x: np.flip(x.reshape(2, 3, 4), (0, -1)), lambda x: onp.flip(x.reshape(2, 3, 4), (0, -1))),
    (lambda x: np.transpose(x), lambda x: x.T),
    (lambda x: x.T, lambda x: x.T),
    (lambda x: np.transpose(np.reshape(x, (2, 3, 4)), (1, 2, 0)), lambda x: x.reshape(2, 3, 4).transpose(1, 2, 0)),
    (lambda x: x.reshape(2, 3, 4).transpose(2, 0, 1), lambda x: x.reshape(2, 3, 4).transpose(2, 0, 1)),
    (lambda x: np.swapaxes(x.reshape(2, 3, 4), 0, -1), lambda x: onp.swapaxes(x.reshape(2, 3, 4), 0, -1)),
    (lambda x: x.swapaxes(0, 1), lambda x: x.swapaxes(0, 1)),
    (lambda x: np.moveaxis(x.reshape(2, 3, 4), 0, -1), lambda x: onp.moveaxis(x.reshape(2, 3, 4), 0, -1)),
    (lambda x: np.expand_dims(x, 1), lambda x: onp.expand_dims(x, 1)),
    (lambda x: np.expand_dims(x, -1), lambda x: onp.expand_dims(x, -1)),
    (lambda x: np.expand_dims(x, (0, 3)), lambda x: onp.expand_dims(x, (0, 3))),
    (lambda x: np.squeeze(x.reshape(1, 4, 1, 6)), lambda x: onp.squeeze(x.reshape(1, 4, 1, 6))),
    (lambda x: x.reshape(1, 4, 1, 6).squeeze(2), lambda x: x.reshape(1, 4, 1, 6).squeeze(2)),
    (lambda x: np.squeeze(x.reshape(1, 4, 1, 6), axis=(0, -2)), lambda x: onp.squeeze(x.reshape(1, 4, 1, 6), (0, 2))),
    (lambda x: np.broadcast_to(x[:1], (3, 6)), lambda x: onp.broadcast_to(x[:1], (3, 6))),
    (lambda x: x[:, :1].broadcast_to((2, 4, 5)), lambda x: onp.broadcast_to(x[:, :1], (2, 4, 5))),
    (lambda x: np.pad(x, ((1, 2), (0, 3))), lambda x: onp.pad(x, ((1, 2), (0, 3)))),
    (lambda x: np.pad(x, 1, constant_values=1), lambda x: onp.pad(x, 1, constant_values=1)),
    (lambda x: np.astype(x, "int32"), lambda x: x.astype("int32")),
    (lambda x: x.astype("float32"), lambda x: x.astype("float32")),
    (lambda x: x.astype(np.bool_), lambda x: x.astype(bool)),
    (lambda x: np.copy(x), lambda x: x.copy()),
    (lambda x: np.tile(x, 2), lambda x: onp.tile(x, 2)),
    (lambda x: np.tile(x, (3, 1, 2)), lambda x: onp.tile(x, (3, 1, 2))),
    (lambda x: np.tile(x[0], (2, 2)), lambda x: onp.tile(x[0], (2, 2))),
    (lambda x: np.repeat(x, 2), lambda x: onp.repeat(x, 2)),
    (lambda x: np.repeat(x, 3, axis=1), lambda x: onp.repeat(x, 3, axis=1)),
    (lambda x: np.repeat(x, 2, axis=-2), lambda x: onp.repeat(x, 2, axis=-2)),
    (lambda x: np.outer(x[0], x[1, :3]), lambda x: onp.outer(x[0], x[1, :3])),
    (lambda x: np.tril(x), lambda x: onp.tril(x)),
    (lambda x: np.tril(x, -1), lambda x: onp.tril(x, -1)),
    (lambda x: np.triu(x, 2), lambda x: onp.triu(x, 2)),
    (lambda x: np.triu(x.reshape(2, 3, 4)), lambda x: onp.triu(x.reshape(2, 3, 4))),
])
def test_layout(fn, ref, dtype):
    check(fn, ref, sample((4, 6), dtype))


@SETTINGS
@given(shapes=st.lists(st.integers(1, 4), min_size=1, max_size=3), count=st.integers(1, 4),
       axis_seed=st.integers(0, 100), seed=st.integers(0, 2**31 - 1))
def test_concatenate_and_stack(shapes, count, axis_seed, seed):
    rng = onp.random.default_rng(seed)
    axis = axis_seed % len(shapes) - (axis_seed % 2) * len(shapes)  # positive and negative axes
    arrays = []
    for _ in range(count):
        shape = list(shapes)
        shape[axis] = int(rng.integers(1, 4))
        arrays.append(sample(tuple(shape), rng=rng))
    check(lambda *xs: np.concatenate(xs, axis=axis), lambda *xs: onp.concatenate(xs, axis=axis), *arrays)
    same = [sample(tuple(shapes), rng=rng) for _ in range(count)]
    stack_axis = axis_seed % (len(shapes) + 1)
    check(lambda *xs: np.stack(xs, axis=stack_axis), lambda *xs: onp.stack(xs, axis=stack_axis), *same)
    check(lambda *xs: np.stack(xs, axis=-1), lambda *xs: onp.stack(xs, axis=-1), *same)


def test_concatenate_promotes_dtypes():
    check(lambda a, b: np.concatenate([a, b]), lambda a, b: onp.concatenate([a, b]).astype("float32"),
          sample((2, 3), "int32"), sample((1, 3)), dtype="float32")


def test_concatenate_shape_error():
    with pytest.raises(hb.ShapeError) as info:
        np.concatenate([np.ones((2, 3)), np.ones((2, 4))], axis=0)
    assert "concat" in str(info.value) and "(2, 3)" in str(info.value) and "(2, 4)" in str(info.value)


@pytest.mark.parametrize("sections, axis", [(3, 0), (2, 1), ([1, 4], 1), ([2], 0), ([0, 3, 3], -1), (1, 1),
                                            ([4, 2], 0), ([5, 9], 1)])
def test_split(sections, axis):
    x = sample((6, 6))
    check(lambda v: tuple(np.split(v, sections, axis=axis)), lambda v: tuple(onp.split(v, sections, axis=axis)), x)


def test_split_uneven_sections_is_an_error():
    with pytest.raises(hb.ShapeError, match="does not divide"):
        np.split(np.ones((5,)), 2)


@pytest.mark.parametrize("indices, axis", [([2, 0, 2], 0), ([[1, 0], [3, 3]], 1), ([4], None), (2, 0)])
def test_take(indices, axis):
    idx = onp.array(indices, "int32")
    check(lambda v: np.take(v, idx, axis=axis), lambda v: onp.take(v, idx, axis=axis), sample((3, 5)))


def test_take_out_of_range_index_raises():
    with pytest.raises(IndexError, match="out of range"):
        np.take(np.ones((3, 2)), np.array([3]), axis=0)


def test_reshape_errors_name_shapes():
    with pytest.raises(hb.ShapeError, match=r"\(2, 3\).*\(4, -1\)"):
        np.ones((2, 3)).reshape(4, -1)
    with pytest.raises(hb.ShapeError, match="only one -1"):
        np.ones((2, 3)).reshape(-1, -1)
    with pytest.raises(hb.ShapeError, match="squeeze"):
        np.squeeze(np.ones((2, 3)), 0)


# -- indexing -------------------------------------------------------------------------------------
KEYS = [
    (slice(1, 3), slice(None, None, 2)),          # x[1:3, ::2]
    (slice(None), None),                          # x[:, None]
    (Ellipsis, -1),                               # x[..., -1]
    (None, Ellipsis, None),
    1, -1, (2, 3), (2, -1, 0),
    slice(None, None, -1),                        # x[::-1]
    (slice(None), slice(None, None, -2)),         # negative steps
    (slice(4, 0, -1), 2),
    (slice(-1, None, -3), slice(5, 1, -2), None),
    (slice(0, 3, -1),),                           # empty result
    (slice(10, 20),),                             # out-of-range slices clip like NumPy
    (slice(-100, 2), Ellipsis),
    onp.array([3, 0, 1], "int32"),                # integer array on axis 0
    [2, 2, -1 + 4],
    onp.array([[0, 1], [3, 2]], "int32"),
]


@pytest.mark.parametrize("key", KEYS, ids=[repr(k) for k in KEYS])
@pytest.mark.parametrize("dtype", ["float32", "int32", "bool"])
def test_getitem(key, dtype):
    check(lambda v: v[key], lambda v: v[key], sample((4, 6, 5), dtype))


@SETTINGS
@given(data=st.data())
def test_getitem_random_slices(data):
    shape = tuple(data.draw(st.lists(st.integers(1, 6), min_size=1, max_size=3)))
    key = []
    for size in shape:
        start = data.draw(st.one_of(st.none(), st.integers(-size - 1, size + 1)))
        stop = data.draw(st.one_of(st.none(), st.integers(-size - 1, size + 1)))
        step = data.draw(st.one_of(st.none(), st.integers(-3, 3).filter(bool)))
        key.append(slice(start, stop, step))
    key = tuple(key)
    check(lambda v: v[key], lambda v: v[key], sample(shape))


def test_getitem_with_index_array_as_ndarray():
    idx = np.array([1, 0], dtype="int32")
    check(lambda v: v[idx], lambda v: v[onp.array([1, 0])], sample((3, 2)))


def test_index_errors():
    x = np.ones((3, 4))
    with pytest.raises(IndexError, match="out of bounds"):
        x[3]
    with pytest.raises(IndexError, match="too many indices"):
        x[0, 0, 0]
    with pytest.raises(IndexError, match="single ellipsis"):
        x[..., ...]
    with pytest.raises(IndexError, match="does not match"):
        x[np.ones((4,)) > 0]
    with pytest.raises(IndexError, match="out of bounds"):
        x[:, [0, 4]]


def test_setitem_eager():
    x = np.zeros((3, 4))
    ref = onp.zeros((3, 4), "float32")
    x[1, ::2] = 5.0
    ref[1, ::2] = 5.0
    x[np.array([0, 2], dtype="int32")] = np.ones((2, 4))
    ref[[0, 2]] = 1.0
    onp.testing.assert_array_equal(x.asnumpy(), ref)


@pytest.mark.parametrize("src, mx_shape, shape", [   # MXNet 2's test_np_broadcast_to_npx cases
    ((5,), (3, 4, -2), (3, 4, 5)),
    ((5,), (0, -2), (0, 5)),
    ((1, 0), (2, -2, -2), (2, 1, 0)),
    ((3, 4), (1, 2, 3, -2), (1, 2, 3, 4)),
    ((3, 4), (1, 0, -2, 4), (1, 0, 3, 4)),
    ((2, 1), (-2, 6), (2, 6)),
])
def test_broadcast_to_minus_two_keeps_the_input_dimension(src, mx_shape, shape):
    # MXNet 2's np.broadcast_to reads -2 as "this dimension's size from the input" (aligned from the right)
    check(lambda v: np.broadcast_to(v, mx_shape), lambda v: onp.broadcast_to(v, shape), sample(src))
    check(lambda v: v.broadcast_to(mx_shape), lambda v: onp.broadcast_to(v, shape), sample(src))
    x = np.array(sample(src))
    x.attach_grad()
    with hb.autograd.record():
        y = np.broadcast_to(x, mx_shape)
    y.backward()   # each input element gets one unit of gradient for every copy made of it
    copies = onp.prod(shape) // max(onp.prod(src), 1) if onp.prod(src) else 0
    onp.testing.assert_array_equal(x.grad.asnumpy(), onp.full(src, copies, "float32"))


@pytest.mark.parametrize("src, mx_shape, where", [((5,), (-2, 3, 5), 0), ((), (3, -2), 1), ((2,), (-2, -2), 0)])
def test_broadcast_to_minus_two_without_an_input_dimension_is_an_error(src, mx_shape, where):
    message = (f"broadcast_to: -2 keeps the input's size, but dimension {where} of {mx_shape} has no input "
               f"dimension under it (input shape {src}, aligned from the right)")
    with pytest.raises(hb.errors.ShapeError, match=re.escape(message)) as info:
        np.broadcast_to(np.ones(src), mx_shape)
    assert "test_np_layout.py" in str(info.value)
