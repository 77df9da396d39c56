"""Tracing: the decorator forms, hb.trace, the signature cache and its recompile log and limit,
and the errors for Python control flow on traced values and for shape mismatches."""
import logging
import os
import subprocess
import sys
import textwrap

import numpy as onp
import pytest

import hybrid as hb
from hybrid import autograd, np, npx, nn

THIS_FILE = os.path.basename(__file__)


def test_decorator_bare_and_with_arguments():
    @hb.hybridize
    def f(a, b):
        return np.tanh(a * b + 1).sum(axis=1)

    @hb.hybridize(backend="interp")
    def g(a, b):
        return np.tanh(a * b + 1).sum(axis=1)

    a, b = np.array(onp.arange(6.0).reshape(2, 3), dtype="float32"), np.ones((2, 3))
    expected = onp.tanh(onp.arange(6.0).reshape(2, 3) + 1).sum(axis=1)
    onp.testing.assert_allclose(f(a, b).asnumpy(), expected, rtol=1e-6)
    onp.testing.assert_allclose(g(a, b).asnumpy(), expected, rtol=1e-6)
    assert g.__name__ == "g"
    ir = g.ir()
    assert ir.startswith("graph @g(%a: f32[2,3], %b: f32[2,3]) -> f32[2] {")
    for op in ("mul(", "add(", "tanh(", "sum("):
        assert op in ir
    assert f"# {THIS_FILE}:" in ir  # every node names the user's line


def test_ir_before_compiling_is_an_error():
    f = hb.hybridize(lambda x: x, backend="interp")
    with pytest.raises(hb.HybridError, match="not been compiled yet"):
        f.ir()
    net = nn.Dense(2, in_units=2)
    with pytest.raises(hb.HybridError, match="not hybridized"):
        net.ir()


def test_trace_function_and_block():
    graph = hb.trace(lambda x, y: npx.relu(x @ y), np.ones((2, 3)), np.ones((3, 4)))
    assert isinstance(graph, hb.ir.Graph)
    assert [n.op for n in graph.nodes] == ["matmul", "relu"]
    assert [v.type for v in graph.outputs] == [hb.ir.TensorType((2, 4), "f32")]
    net = nn.Dense(3)
    net.initialize()
    graph = hb.trace(net, onp.ones((5, 4), "float32"))  # deferred shapes are resolved first
    assert [v.name for v in graph.params] == ["weight", "bias"]
    assert graph.params[0].type == hb.ir.TensorType((3, 4), "f32")


def test_static_python_arguments_are_part_of_the_signature():
    traces = []

    @hb.hybridize(backend="interp")
    def scale(x, factor):
        traces.append(factor)
        return x * factor

    x = np.ones((2,))
    assert scale(x, 2.0).asnumpy().tolist() == [2.0, 2.0]
    assert scale(x, 3.0).asnumpy().tolist() == [3.0, 3.0]
    assert scale(x, 2.0).asnumpy().tolist() == [2.0, 2.0]
    assert traces == [2.0, 3.0]


def test_equal_static_values_of_different_types_trace_separately():
    scale = hb.hybridize(lambda x, k: x * k, backend="interp")
    x = np.array([1, 2], dtype="int32")
    assert scale(x, 2.0).dtype == onp.float32   # a float scalar promotes the int array
    assert scale(x, 2).dtype == onp.int32       # 2 == 2.0, but it must not reuse the float graph
    assert len(scale.compiled.cache) == 2


def test_unhashable_static_argument_is_an_error():
    with pytest.raises(hb.HybridError, match="neither an array nor hashable"):
        hb.hybridize(lambda x, k: x, backend="interp")(np.ones(2), [1, 2])


def test_keyword_arguments():
    @hb.hybridize(backend="interp")
    def affine(x, scale=2.0, shift=None):
        return x * scale + (shift if shift is not None else 0.0)

    x, shift = np.ones((2,)), np.array([1.0, 2.0])
    assert affine(x).asnumpy().tolist() == [2.0, 2.0]
    assert affine(x, shift=shift).asnumpy().tolist() == [3.0, 4.0]
    assert affine(x, 3.0, shift=shift).asnumpy().tolist() == [4.0, 5.0]
    assert affine(shift=shift, x=x, scale=1.0).asnumpy().tolist() == [2.0, 3.0]
    with pytest.raises(TypeError, match="affine.*unexpected keyword argument 'bias'"):
        affine(x, bias=1.0)

    class Scaled(nn.HybridBlock):
        def forward(self, x, scale=1.0):
            return x * scale

    net = Scaled()
    net.hybridize(backend="interp")
    assert net(x, scale=4.0).asnumpy().tolist() == [4.0, 4.0]
    assert net(x=x).asnumpy().tolist() == [1.0, 1.0]

    @hb.hybridize(backend="interp")
    def keyword_only(x, *, k=1.0):
        return x * k

    with pytest.raises(hb.HybridError, match="pass k positionally"):
        keyword_only(x, k=2.0)


def test_tuple_and_list_outputs_keep_their_structure():
    @hb.hybridize(backend="interp")
    def f(x):
        return x + 1, [x * 2, x.sum()]

    a, (b, c) = f(np.ones((3,)))
    assert a.asnumpy().tolist() == [2.0] * 3 and b.asnumpy().tolist() == [2.0] * 3 and c.item() == 3.0


def test_returning_a_non_array_is_an_error():
    with pytest.raises(hb.HybridError, match="must return arrays"):
        hb.hybridize(lambda x: 3, backend="interp")(np.ones(2))


# -- the signature cache -----------------------------------------------------------------------
def counting(max_signatures=None):
    traces = []

    def fn(x):
        traces.append(x.shape)
        return x * 2
    options = {} if max_signatures is None else {"max_signatures": max_signatures}
    return hb.hybridize(fn, backend="interp", **options), traces


def test_cache_hits_on_a_repeated_signature():
    f, traces = counting()
    for _ in range(3):
        f(np.ones((2, 3)))
    f(onp.ones((2, 3), "float32"))  # a NumPy array of the same type hits the cache too
    assert traces == [(2, 3)]
    f(np.ones((4, 3)))
    f(np.ones((2, 3)))
    f(np.ones((2, 3), dtype="int32"))
    assert traces == [(2, 3), (4, 3), (2, 3)]  # one trace per new shape/dtype
    assert len(f.compiled.cache) == 3


def test_recompiles_are_logged_with_their_reason(monkeypatch, caplog):
    monkeypatch.setenv("HYBRID_LOG", "recompiles")
    f, _ = counting()
    with caplog.at_level(logging.INFO, logger="hybrid"):
        f(np.ones((2, 3)))
        f(np.ones((2, 3)))
        assert not caplog.records  # the first compile is not a recompile
        f(np.ones((5, 3)))
        f(np.ones((5, 3), dtype="int32"))
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2
    assert "recompiling" in messages[0] and "argument 0: f32[2,3] -> f32[5,3]" in messages[0]
    assert "signature 2" in messages[0]
    assert "argument 0: f32[5,3] -> i32[5,3]" in messages[1]


def test_training_flag_change_is_logged(monkeypatch, caplog):
    monkeypatch.setenv("HYBRID_LOG", "all")
    f, _ = counting()
    with caplog.at_level(logging.INFO, logger="hybrid"):
        f(np.ones((2,)))
        with autograd.train_mode():
            f(np.ones((2,)))
    assert any("training flag" in r.getMessage() for r in caplog.records)


def test_recompile_log_reaches_stderr():
    script = textwrap.dedent("""
        import hybrid as hb
        from hybrid import np
        f = hb.hybridize(lambda x: x + 1, backend="interp")
        f(np.ones((2,)))
        f(np.ones((3,)))
    """)
    env = dict(os.environ, HYBRID_LOG="recompiles")
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "[hybrid:recompiles] recompiling" in result.stderr and "f32[2] -> f32[3]" in result.stderr
    quiet = subprocess.run([sys.executable, "-c", script], env=dict(os.environ, HYBRID_LOG=""),
                           capture_output=True, text=True, timeout=120)
    assert "recompiling" not in quiet.stderr


def test_signature_limit_default_is_8():
    f, traces = counting()
    for n in range(1, 9):
        f(np.ones((n,)))
    with pytest.raises(hb.HybridError) as info:
        f(np.ones((9,)))
    msg = str(info.value)
    assert "8 signatures" in msg and "max_signatures" in msg and "f32[8] -> f32[9]" in msg
    assert len(traces) == 8
    f(np.ones((3,)))  # cached signatures still run


def test_signature_limit_is_configurable():
    f, _ = counting(max_signatures=2)
    f(np.ones((1,)))
    f(np.ones((2,)))
    with pytest.raises(hb.HybridError, match="2 signatures"):
        f(np.ones((3,)))
    net = nn.Dense(2, in_units=1)
    net.initialize()
    net.hybridize(backend="interp", max_signatures=1)
    net(np.ones((1, 1)))
    with pytest.raises(hb.HybridError, match="hybridize\\(max_signatures=N\\)"):
        net(np.ones((2, 1)))


# -- errors on Python control flow over traced values -----------------------------------------------
def _bool_control_flow(x):
    if x.sum() > 0:  # LINE: if
        return x
    return -x


def _while_loop(x):
    while x.max() > 1:  # LINE: while
        x = x / 2
    return x


def _float_of(x):
    return x * float(x.mean())  # LINE: float


def _asnumpy_of(x):
    return np.array(x.asnumpy() * 2)  # LINE: asnumpy


def _item_of(x):
    return x * x.max().item()  # LINE: item


def _tolist_of(x):
    return np.array(x.tolist())  # LINE: tolist


def _numpy_asarray(x):
    return onp.asarray(x) + 1  # LINE: asarray


def _numpy_array_of_tracers(x):
    return onp.array([x[0], x[1]])  # LINE: array of tracers


def _numpy_function(x):
    return onp.packbits(x > 0)  # LINE: numpy function


def _int_index(x):
    return x[int(x[0, 0])]  # LINE: int


def _setitem(x):
    x[x.astype("int32")[0] % 2] = 1.0  # LINE: setitem
    return x


def _line_of(marker: str) -> int:
    with open(__file__) as f:
        for number, line in enumerate(f, 1):
            if line.rstrip().endswith(f"# LINE: {marker}"):
                return number
    raise AssertionError(marker)


@pytest.mark.parametrize("fn, marker, instead", [
    (_bool_control_flow, "if", "np.where"),
    (_while_loop, "while", "np.where"),
    (_float_of, "float", "return it from the function"),
    (_asnumpy_of, "asnumpy", "call .asnumpy() on the result"),
    (_item_of, "item", "call .item() on the result"),
    (_tolist_of, "tolist", "call .tolist() on the result"),
    (_numpy_asarray, "asarray", "Use hybrid.np functions"),
    (_numpy_function, "numpy function", "Use hybrid.np functions"),
    (_numpy_array_of_tracers, "array of tracers", "np.stack"),
    (_int_index, "int", "shapes (x.shape) are static"),
    (_setitem, "setitem", "boolean mask (x[mask] = v, i.e. np.where(mask, v, x))"),
])
def test_control_flow_on_a_tracer_names_the_line_and_the_fix(fn, marker, instead):
    x = np.array([[1.0, 2.0], [3.0, 4.0]])
    fn(np.array(x.asnumpy()))  # the code itself runs eagerly
    with pytest.raises(hb.TracingError) as info:
        hb.hybridize(fn, backend="interp")(x)
    msg = str(info.value)
    assert f'File "{__file__}", line {_line_of(marker)}' in msg, msg
    assert f"# LINE: {marker}" in msg  # the source text of the line is quoted
    assert "traced value" in msg and instead in msg, msg


def test_control_flow_error_inside_a_block_names_the_forward_line():
    class Gate(nn.HybridBlock):
        def forward(self, x):
            if x.mean() > 0:  # LINE: block if
                return x
            return x * 0

    net = Gate()
    net(np.ones((2,)))  # fine eagerly
    net.hybridize(backend="interp")
    with pytest.raises(hb.TracingError) as info:
        net(np.ones((2,)))
    assert f'line {_line_of("block if")}' in str(info.value) and THIS_FILE in str(info.value)


def test_shape_mismatch_at_trace_time_names_op_shapes_and_line():
    class Head(nn.HybridBlock):
        def __init__(self):
            super().__init__()
            self.fc = nn.Dense(4, in_units=3)

        def forward(self, x):
            h = self.fc(x)
            return h @ np.ones((5, 2))  # LINE: shape mismatch

    net = Head()
    net.initialize()
    net.hybridize(backend="interp")
    with pytest.raises(hb.ShapeError) as info:
        net(np.ones((2, 3)))
    msg = str(info.value)
    assert "matmul" in msg and "f32[2,4]" in msg and "f32[5,2]" in msg, msg
    assert f'File "{__file__}", line {_line_of("shape mismatch")}' in msg, msg
    assert "return h @ np.ones((5, 2))" in msg


def test_broadcast_mismatch_while_tracing():
    def fn(x):
        return x + np.ones((4,))  # LINE: broadcast
    with pytest.raises(hb.ShapeError) as info:
        hb.hybridize(fn, backend="interp")(np.ones((2, 3)))
    msg = str(info.value)
    assert "add(f32[2,3], f32[4])" in msg and "(2, 3)" in msg and "(4,)" in msg
    assert f"line {_line_of('broadcast')}" in msg


def test_tracer_leaking_out_of_its_trace_is_an_error():
    leaked = []

    @hb.hybridize(backend="interp")
    def keep(x):
        leaked.append(x)
        return x + 1

    keep(np.ones((2,)))

    @hb.hybridize(backend="interp")
    def use(x):
        return x + leaked[0]

    with pytest.raises(hb.HybridError, match="leaked"):
        use(np.ones((2,)))
