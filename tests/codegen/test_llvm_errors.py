"""Bad input values in compiled code raise what eager code raises (never a silent clamp or 0):
take / Embedding / x[idx] with an index outside [0, n) (eager hybrid does not wrap negative
indices either), the gradient of take, and integer pow with a negative exponent. The kernels
record the extreme values seen; the runtime raises after the call (LLVM JIT, compiled
training, CUDA on the host emulator)."""
from __future__ import annotations

import shutil

import numpy
import pytest

import hybrid as hb
from hybrid import gluon, nn
from hybrid.codegen import build
from hybrid.errors import DomainError, HybridError, IndexOutOfRangeError

X = numpy.arange(12, dtype=numpy.float32).reshape(4, 3)


def _ints(values) -> hb.np.ndarray:
    return hb.np.array(numpy.array(values, numpy.int32))


def _gather(x, idx):
    return hb.np.take(x, idx, axis=0)                       # the line the error names


def _gather_fused(x, idx):
    return hb.np.take(x * 2.0, idx + 1, axis=0) + 1.0       # take inside a fused elementwise kernel


def _gather_indexing(x, idx):
    return x[idx]


@pytest.mark.parametrize("bad", [4, 7, -5, -9])  # -1..-4 count from the end, as in NumPy
def test_take_out_of_range_raises_like_eager_with_a_clear_message(bad):
    with pytest.raises(IndexError, match="out of range"):
        _gather(hb.np.array(X), _ints([0, bad]))            # eager
    f = hb.hybridize(_gather, backend="llvm")
    with pytest.raises(IndexOutOfRangeError) as info:
        f(hb.np.array(X), _ints([0, bad]))
    message = str(info.value)
    assert isinstance(info.value, (HybridError, IndexError))
    assert f"take at test_llvm_errors.py:{_gather.__code__.co_firstlineno + 1}" in message
    assert f"index {bad} is out of range [0, 4)" in message
    assert "axis 0 of a f32[4,3] array (indices i32[2])" in message
    assert "outputs were discarded" in message


def test_executable_still_correct_after_an_error():
    f = hb.hybridize(_gather, backend="llvm")
    numpy.testing.assert_array_equal(f(hb.np.array(X), _ints([3, 0])).asnumpy(), X[[3, 0]])
    with pytest.raises(IndexOutOfRangeError):
        f(hb.np.array(X), _ints([1, 4]))
    numpy.testing.assert_array_equal(f(hb.np.array(X), _ints([2, 1])).asnumpy(), X[[2, 1]])


@pytest.mark.parametrize("fn, passed, seen", [(_gather_fused, 3, 4), (_gather_indexing, 9, 9)])
def test_take_in_fused_kernels_and_indexing(fn, passed, seen):
    f = hb.hybridize(fn, backend="llvm")
    good = [0, 2]
    numpy.testing.assert_allclose(f(hb.np.array(X), _ints(good)).asnumpy(),
                                  fn(hb.np.array(X), _ints(good)).asnumpy(), rtol=0, atol=0)
    with pytest.raises(IndexOutOfRangeError, match=f"index {seen} is out of range"):   # _gather_fused adds 1
        f(hb.np.array(X), _ints([0, passed]))


def test_embedding_hybridized_names_the_token():
    layer = nn.Embedding(10, 4)
    layer.initialize()
    layer.hybridize(backend="llvm")
    ok = numpy.array([[1, 9], [0, 1]], numpy.int32)
    numpy.testing.assert_array_equal(layer(hb.np.array(ok)).asnumpy(), layer.weight.data().asnumpy()[ok])
    with pytest.raises(IndexOutOfRangeError, match=r"index 10 is out of range \[0, 10\)"):
        layer(hb.np.array(numpy.array([[1, 10], [0, 1]], numpy.int32)))
    with pytest.raises(IndexOutOfRangeError, match=r"index -3 is out of range \[0, 10\)"):
        hb.hybridize(lambda i, w: hb.npx.embedding(i, w), backend="llvm")(_ints([-3]), layer.weight.data())


def test_compiled_training_step_raises_and_keeps_the_weights():
    net = nn.HybridSequential()
    net.add(nn.Embedding(6, 4), nn.Flatten(), nn.Dense(3))
    net.initialize()
    step = hb.compile_step(net, gluon.loss.SoftmaxCrossEntropyLoss(),
                           gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1}), backend="llvm")
    labels = hb.np.array(numpy.array([0, 2], numpy.int32))
    step(_ints([[1, 5], [0, 3]]), labels)
    before = {k: p.data().asnumpy().copy() for k, p in net.collect_params().items()}
    with pytest.raises(IndexOutOfRangeError, match=r"index 6 is out of range \[0, 6\)"):
        step(_ints([[1, 6], [0, 3]]), labels)
    for k, p in net.collect_params().items():
        numpy.testing.assert_array_equal(p.data().asnumpy(), before[k], err_msg=k)
    loss = step(_ints([[1, 5], [0, 3]]), labels)
    assert numpy.isfinite(loss.asnumpy()).all()


def test_take_grad_checks_its_indices():
    """take_grad alone (a graph with no forward take): the scatter would drop a bad index."""
    from hybrid.ir.graph import Graph
    from hybrid.ir.types import TensorType

    graph = Graph("tg")
    g = graph.add_input("g", TensorType((2, 3), "f32"))
    i = graph.add_input("i", TensorType((2,), "i32"))
    graph.outputs = list(graph.add_node("take_grad", [g, i], {"axis": 0, "size": 4}).outputs)
    ones = numpy.ones((2, 3), numpy.float32)
    exe = build(graph, "llvm")
    expected = numpy.zeros((4, 3), numpy.float32)
    expected[[1, 3]] = 1
    numpy.testing.assert_array_equal(exe([ones, numpy.array([1, 3], numpy.int32)])[0], expected)
    with pytest.raises(IndexOutOfRangeError, match=r"take_grad .*index 4 is out of range \[0, 4\)"):
        exe([ones, numpy.array([1, 4], numpy.int32)])


def _int_pow(a, b):
    return a ** b


def test_integer_pow_negative_exponent_raises_like_numpy():
    a, good, bad = _ints([2, 3, -2]), _ints([0, 2, 3]), _ints([1, -1, 2])
    with pytest.raises(ValueError, match="negative integer powers"):
        _int_pow(a, bad)                                    # eager (NumPy's message)
    f = hb.hybridize(_int_pow, backend="llvm")
    numpy.testing.assert_array_equal(f(a, good).asnumpy(), numpy.array([1, 9, -8], numpy.int32))
    with pytest.raises(DomainError, match=r"pow at test_llvm_errors.py:\d+: integers to negative integer powers "
                                          r"are not allowed \(exponent -1 in an i32\[3\] exponent\)"):
        f(a, bad)
    assert isinstance(DomainError("x"), ValueError)
    numpy.testing.assert_array_equal(f(a, good).asnumpy(), numpy.array([1, 9, -8], numpy.int32))


@pytest.mark.skipif(shutil.which("g++") is None, reason="g++ not found: the CUDA emulator needs it")
def test_cuda_emulator_raises_the_same_error():
    from hybrid.ir.graph import Graph
    from hybrid.ir.types import TensorType

    graph = Graph("take")
    x = graph.add_input("x", TensorType((4, 3), "f32"))
    i = graph.add_input("i", TensorType((2,), "i32"))
    graph.outputs = list(graph.add_node("take", [x, i], {"axis": 0}).outputs)
    exe = build(graph, "cuda", runtime="emulator")
    numpy.testing.assert_array_equal(exe([X, numpy.array([3, 1], numpy.int32)])[0], X[[3, 1]])
    with pytest.raises(IndexOutOfRangeError, match=r"index -2 is out of range \[0, 4\)"):
        exe([X, numpy.array([-2, 1], numpy.int32)])
    numpy.testing.assert_array_equal(exe([X, numpy.array([0, 2], numpy.int32)])[0], X[[0, 2]])
