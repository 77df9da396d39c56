"""The LLVM backend's runtime: vectorized code, dumps, the disk cache, output buffers, threads."""
from __future__ import annotations

import glob
import logging
import os
import re
import threading

import numpy
import pytest

from hybrid.codegen import build
from hybrid import fileio
from hybrid.codegen.llvm import cache
from test_llvm_util import compare, graph_of, op

N = 1 << 16


def _ewise_graph(n: int = N):
    # relu(x*1.5+0.25)*sigmoid(x)+0.5*x plus the other inline math, all contiguous
    def body(g, x):
        c = lambda v: op(g, "constant", value=numpy.array(v, "f4"))
        y = op(g, "add", op(g, "mul", op(g, "relu", op(g, "add", op(g, "mul", x, c(1.5)), c(0.25))),
                            op(g, "sigmoid", x)), op(g, "mul", c(0.5), x))
        return [y, op(g, "tanh", x), op(g, "log", op(g, "abs", x)), op(g, "erf", x), op(g, "sin", x),
                op(g, "pow", op(g, "abs", x), x)]
    return graph_of({"x": ((n,), "f32")}, body, name="ewise")


@pytest.fixture(scope="module")
def dumped(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp("dump"))
    exe = build(_ewise_graph(), "llvm", dump=folder)
    return folder, exe


def test_dump_has_llvm_ir_and_assembly(dumped):
    folder, _ = dumped
    ll = glob.glob(os.path.join(folder, "*-llvm.ll"))
    asm = glob.glob(os.path.join(folder, "*-asm.s"))
    assert ll and asm
    assert "define void @hybrid_entry" in open(ll[0]).read()


def test_contiguous_elementwise_kernel_is_vectorized_without_libm_calls(dumped):
    folder, _ = dumped
    text = open(glob.glob(os.path.join(folder, "*-asm.s"))[0]).read()
    assert re.search(r"%[yz]mm\d+", text), "no 256/512-bit vector registers in the kernel"
    calls = set(re.findall(r"\bcall\w*\s+([\w@.]+)", text))
    libm = {c for c in calls if re.match(r"(exp|log|tanh|erf|sin|cos|pow)f?(@|$)", c)}
    assert not libm, f"scalar libm calls in the kernels: {libm}"
    assert re.search(r"vfmadd\w*ps\s+.*%[yz]mm", text), "the polynomial math is not vectorized"


def test_disk_cache_hit_miss_and_corruption(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("HYBRID_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("HYBRID_LOG", "compile")
    graph = graph_of({"x": ((5,), "f32")}, lambda g, x: op(g, "exp", op(g, "neg", x)), name="cached")
    x = numpy.arange(5, dtype="f4")
    with caplog.at_level(logging.INFO, logger="hybrid"):
        first = build(graph, "llvm")([x])[0]
        entries = glob.glob(os.path.join(str(tmp_path), "*.o"))
        assert len(entries) == 1 and "compiled" in caplog.text
        caplog.clear()
        numpy.testing.assert_array_equal(build(graph, "llvm")([x])[0], first)
        assert "cache hit" in caplog.text and "compiled" not in caplog.text
        with open(entries[0], "r+b") as f:      # flip payload bytes
            f.seek(-16, 2)
            f.write(b"\xff" * 16)
        caplog.clear()
        numpy.testing.assert_array_equal(build(graph, "llvm")([x])[0], first)
        assert "corrupt" in caplog.text and "compiled" in caplog.text
    payload = open(entries[0], "rb").read()
    assert payload.startswith(fileio.SEAL_MAGIC)


def test_cache_key_depends_on_target_and_version():
    assert cache.cache_key("ir", "x86|znver3|+avx2") != cache.cache_key("ir", "x86|skylake|+avx2")
    assert cache.cache_key("ir", "t") != cache.cache_key("ir2", "t")


def test_gemm_cache_key_follows_the_resolved_implementation(monkeypatch):
    """An object that calls OpenBLAS must never be reused where scipy-openblas32 is missing
    (it would jump to an unresolved symbol): "auto" is keyed by what it resolves to."""
    from hybrid.codegen.llvm import gemm, module

    with_blas = module.sgemm_source_key("auto") if gemm.resolve_impl("auto") == "openblas" else None
    monkeypatch.setattr(gemm, "_openblas_function", lambda: None)
    without_blas = module.sgemm_source_key("auto")
    assert without_blas == module.sgemm_source_key("generated")
    if with_blas is not None:
        assert with_blas == module.sgemm_source_key("openblas") != without_blas


def test_gemm_cache_key_is_the_imported_source(monkeypatch):
    """The sgemm key hashes the generator's text as this process imported it: a file changed on disk under a
    running process (an upgrade, a checkout) must not relabel the objects the old code compiles. Changing
    the imported text changes the key."""
    import builtins

    from hybrid.codegen.llvm import gemm, module

    before = module.sgemm_source_key("generated")

    def no_file_reads(*args, **kwargs):
        raise AssertionError(f"sgemm_source_key read a file: {args[:1]}")

    monkeypatch.setattr(builtins, "open", no_file_reads)
    assert module.sgemm_source_key("generated") == before
    monkeypatch.setattr(gemm, "SOURCE_TEXT", gemm.SOURCE_TEXT + b"# changed")
    assert module.sgemm_source_key("generated") != before


def test_outputs_are_recycled_only_after_release():
    graph = graph_of({"x": ((1024,), "f32")}, lambda g, x: op(g, "add", x, x), name="alloc")
    exe = build(graph, "llvm")
    x = numpy.ones(1024, "f4")
    data = lambda out: numpy.asarray(out)   # an output NDArray's NumPy data, not a copy  # noqa: E731
    a = exe([x])[0]
    b = exe([x])[0]
    assert not numpy.shares_memory(data(a), data(b))
    a_addr = data(a).ctypes.data
    del a
    c = exe([x])[0]
    assert data(c).ctypes.data == a_addr, "a freed output buffer was not reused"
    assert not numpy.shares_memory(data(b), data(c))
    numpy.testing.assert_array_equal(b, 2 * x)
    view = data(c)[10:20]          # a view keeps the buffer alive too
    del c
    d = exe([x * 3])[0]
    assert not numpy.shares_memory(view, data(d))
    numpy.testing.assert_array_equal(view, 2 * x[10:20])


def test_bad_inputs_are_rejected_with_a_clear_error():
    graph = graph_of({"x": ((4,), "f32")}, lambda g, x: op(g, "neg", x), name="strict")
    exe = build(graph, "llvm")
    with pytest.raises(Exception, match=r"input %x .* must be float32\[4\], got float64\[4\]"):
        exe([numpy.ones(4)])
    with pytest.raises(Exception, match="takes 1 inputs"):
        exe([])
    numpy.testing.assert_array_equal(exe([numpy.arange(8, dtype="f4")[::2]])[0], -numpy.arange(0, 8, 2, dtype="f4"))


def _big_graph():
    """Several dependent kernels (elementwise, reduction, matmul) big enough to split across threads."""
    def body(g, x, w):
        h = op(g, "tanh", op(g, "matmul", x, w))
        s = op(g, "sum", h, axes=(1,), keepdims=True)
        return [op(g, "div", op(g, "exp", h), op(g, "exp", s)), op(g, "max", h, axes=(0,), keepdims=False)]
    return graph_of({"x": ((256, 300), "f32"), "w": ((300, 257), "f32")}, body, name="big")


@pytest.mark.parametrize("threads", [2, 3])
def test_multithreaded_results_match(threads):
    rng = numpy.random.default_rng(1)
    x = rng.standard_normal((256, 300)).astype("f4") * 0.1
    w = rng.standard_normal((300, 257)).astype("f4") * 0.1
    compare(_big_graph(), [x, w], rtol=2e-5, atol=1e-5, num_threads=threads)


def test_hybrid_num_threads_env(monkeypatch):
    monkeypatch.setenv("HYBRID_NUM_THREADS", "3")
    exe = build(_big_graph(), "llvm")
    assert exe.nthreads == 3
    small = build(graph_of({"x": ((4,), "f32")}, lambda g, x: op(g, "neg", x), name="tiny"), "llvm")
    assert small.nthreads == 1, "small graphs run on the calling thread only"


def test_concurrent_calls_from_python_threads():
    rng = numpy.random.default_rng(2)
    exe = build(_big_graph(), "llvm", num_threads=2)
    w = rng.standard_normal((300, 257)).astype("f4") * 0.1
    xs = [rng.standard_normal((256, 300)).astype("f4") * 0.1 for _ in range(4)]
    expected = [exe([x, w]) for x in xs]
    errors = []

    def worker(i):
        for _ in range(15):
            got = exe([xs[i], w])
            for a, b in zip(got, expected[i]):
                if not numpy.allclose(a, b, rtol=1e-6, atol=1e-7):
                    errors.append(i)
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_two_processes_compiling_the_same_graph(tmp_path, monkeypatch):
    """Both finish, both get working code, and the cache holds one complete entry (written by
    rename, never half-written)."""
    import subprocess
    import sys
    script = ("import numpy, sys; sys.path.insert(0, %r)\n"
              "from test_llvm_util import graph_of, op\n"
              "from hybrid.codegen import build\n"
              "g = graph_of({'x': ((33,), 'f32')}, lambda g, x: op(g, 'tanh', op(g, 'mul', x, x)), name='race')\n"
              "x = numpy.linspace(-2, 2, 33, dtype='f4')\n"
              "assert numpy.allclose(build(g, 'llvm')([x])[0], numpy.tanh(x * x), atol=1e-6)\n"
              % os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, HYBRID_CACHE_DIR=str(tmp_path))
    procs = [subprocess.Popen([sys.executable, "-c", script], env=env) for _ in range(2)]
    assert all(p.wait(timeout=300) == 0 for p in procs)
    entries = [n for n in os.listdir(tmp_path) if n.endswith(".o")]
    assert len(entries) == 1 and not [n for n in os.listdir(tmp_path) if n.startswith(".tmp")]
    monkeypatch.setenv("HYBRID_CACHE_DIR", str(tmp_path))
    assert cache.load(entries[0][:-2]) is not None


def test_batched_small_products_split_by_batch():
    """Many small GEMMs (attention-like) with an epilogue: threads take whole batch entries."""
    rng = numpy.random.default_rng(7)
    a = rng.standard_normal((3, 7, 40, 64)).astype("f4")
    b = rng.standard_normal((3, 7, 40, 64)).astype("f4")
    bias = rng.standard_normal((40,)).astype("f4")
    graph = graph_of({"a": ((3, 7, 40, 64), "f32"), "b": ((3, 7, 40, 64), "f32"), "bias": ((40,), "f32")},
                     lambda g, x, y, z: [op(g, "tanh", op(g, "add", op(g, "matmul", x, y, transpose_b=True), z))],
                     name="batched")
    compare(graph, [a, b, bias], rtol=1e-5, atol=1e-5, num_threads=3)
