"""Random programs (hypothesis): chains of elementwise, broadcast, reduction and layout ops with
shared subexpressions and repeated constants run eagerly and hybridized on the interp backend at
every optimization level. Catches trace, CSE, folding, simplification and fusion mistakes that
single-op tests cannot."""
import numpy as onp
from hypothesis import given, settings, strategies as st

import hybrid as hb
from hybrid import np, npx

SHAPES = [(3, 4), (4,), (3, 1), (1, 4), ()]

UNARY = [
    lambda v: np.tanh(v), lambda v: npx.relu(v), lambda v: -v, lambda v: np.abs(v), lambda v: npx.sigmoid(v),
    lambda v: np.sqrt(np.abs(v) + 1.0), lambda v: np.log(np.abs(v) + 1.0), lambda v: np.exp(np.tanh(v)),
    lambda v: v * 0.5 + 1.0, lambda v: v * 1.0 + 0.0, lambda v: (v - v) + v, lambda v: np.stop_gradient(v),
    lambda v: npx.gelu(v), lambda v: v.astype("int32").astype("float32"),
]
BINARY = [
    lambda a, b: a + b, lambda a, b: a - b, lambda a, b: np.tanh(a * b), lambda a, b: np.maximum(a, b),
    lambda a, b: np.minimum(a, b), lambda a, b: np.where(a > b, a, b * 2.0), lambda a, b: a / (np.abs(b) + 1.0),
    lambda a, b: a * b - a * b + a,
]


def full_shape(v):
    return np.broadcast_to(v, (3, 4))


RESHAPING = [
    lambda v: np.sum(full_shape(v), axis=-1, keepdims=True),
    lambda v: np.mean(full_shape(v), axis=0, keepdims=True),
    lambda v: np.max(full_shape(v), axis=1, keepdims=True),
    lambda v: np.reshape(np.reshape(full_shape(v), (12,)), (3, 4)),
    lambda v: np.transpose(np.transpose(full_shape(v))),
    lambda v: npx.softmax(full_shape(v), axis=-1),
    lambda v: npx.layer_norm(full_shape(v)) * 0.1,
    lambda v: np.concatenate([full_shape(v)[:, :2], full_shape(v)[:, 2:]], axis=1),
    lambda v: np.sum(v),
    lambda v: np.concatenate([full_shape(v)[:, 3:], full_shape(v)[:, :3]], axis=1),
    lambda v: full_shape(v)[::-1],
    lambda v: np.flip(full_shape(v), 1),
    lambda v: full_shape(v)[onp.array([2, 0, 0], "int32")],
    lambda v: np.pad(full_shape(v)[:, 1:], ((0, 0), (1, 0)), constant_values=0.5),
    lambda v: np.tile(full_shape(v)[:, :2], (1, 2)),
    lambda v: np.repeat(full_shape(v)[:, 1::2], 2, axis=1),
    lambda v: np.tril(full_shape(v)),
    lambda v: npx.one_hot(np.argmax(full_shape(v), 1), 4),
    lambda v: np.swapaxes(np.expand_dims(full_shape(v), 0), 0, 1)[:, 0],
    lambda v: np.tanh(np.matmul(np.matmul(full_shape(v), np.transpose(full_shape(v))), full_shape(v)) * 0.1),
]


@st.composite
def programs(draw):
    steps = []
    for _ in range(draw(st.integers(2, 10))):
        kind = draw(st.sampled_from(["unary", "binary", "reshaping"]))
        table = {"unary": UNARY, "binary": BINARY, "reshaping": RESHAPING}[kind]
        steps.append((kind, draw(st.integers(0, len(table) - 1)), draw(st.integers(0, 100)),
                      draw(st.integers(0, 100))))
    outputs = draw(st.lists(st.integers(0, 100), min_size=1, max_size=3))
    return steps, outputs


def make_program(steps, outputs):
    def program(x, y):
        values = [x, y, x * 2.0]
        for kind, index, a, b in steps:
            if kind == "unary":
                values.append(UNARY[index](values[a % len(values)]))
            elif kind == "binary":
                values.append(BINARY[index](values[a % len(values)], values[b % len(values)]))
            else:
                values.append(RESHAPING[index](values[a % len(values)]))
        return tuple(values[-1 - (o % len(values))] for o in outputs)
    return program


@settings(max_examples=30, deadline=None)
@given(program=programs(), seed=st.integers(0, 2**31 - 1), shapes=st.tuples(st.sampled_from(SHAPES),
                                                                           st.sampled_from(SHAPES)))
def test_random_program_eager_equals_hybridized(program, seed, shapes):
    fn = make_program(*program)
    rng = onp.random.default_rng(seed)
    x, y = (np.array(rng.normal(size=s).astype("float32")) for s in shapes)
    eager = [o.asnumpy() for o in fn(x, y)]
    for level in (0, 1, 2):
        compiled = hb.hybridize(fn, backend="interp", opt_level=level)
        got = [o.asnumpy() for o in compiled(x, y)]
        for e, g in zip(eager, got):
            assert e.shape == g.shape and e.dtype == g.dtype
            onp.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-5, err_msg=f"opt_level={level}\n{compiled.ir()}")
        graph = hb.ir.parse(compiled.ir())
        hb.ir.verify(graph)
