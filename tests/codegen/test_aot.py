"""Ahead-of-time libraries: hb.compile_library -> .so + .h, loaded with ctypes (no llvmlite)
and called from the C example program; bad input indices make a run fail as in the JIT."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import numpy
import pytest

import hybrid as hb
from hybrid import init, nn, np
from hybrid.codegen import library
from hybrid.errors import IndexOutOfRangeError
from hybrid.model_zoo import BasicBlock, LeNet5

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CC = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
pytestmark = pytest.mark.skipif(CC is None, reason="no C compiler on this machine: AOT linking needs one")


@pytest.fixture(scope="module")
def lenet_library(tmp_path_factory):
    folder = tmp_path_factory.mktemp("aot")
    np.random.seed(0)
    net = LeNet5()
    net.initialize(init.Xavier())
    x = numpy.random.default_rng(0).normal(size=(2, 1, 28, 28)).astype("float32")
    expected = net(np.array(x)).asnumpy()
    info = hb.compile_library(net, [x], str(folder / "model.so"))
    return folder, x, expected, info


def test_library_matches_eager_and_has_header(lenet_library):
    folder, x, expected, info = lenet_library
    lib = hb.load_library(str(folder / "model.so"))
    numpy.testing.assert_allclose(lib([x])[0], expected, rtol=1e-4, atol=1e-6)
    header = (folder / "model.h").read_text()
    assert "int model_run(const void* const* inputs, void* const* outputs, void* workspace);" in header
    assert f"#define MODEL_WORKSPACE_BYTES {info['workspace_bytes']}ULL" in header
    assert "#define MODEL_INPUT0_BYTES 6272ULL" in header and "#define MODEL_OUTPUT0_BYTES 80ULL" in header
    with pytest.raises(hb.HybridError, match=r"input 0 must be float32\[2, 1, 28, 28\]"):
        lib([x[:1]])


def test_loading_needs_no_llvmlite(lenet_library):
    folder, x, expected, _ = lenet_library
    numpy.save(folder / "x.npy", x)
    script = (f"import sys; sys.modules['llvmlite'] = None\n"
              f"import numpy, hybrid\n"
              f"lib = hybrid.load_library({str(folder / 'model.so')!r})\n"
              f"numpy.save({str(folder / 'y.npy')!r}, lib([numpy.load({str(folder / 'x.npy')!r})])[0])\n"
              f"assert 'llvmlite.binding' not in sys.modules\n")
    subprocess.run([sys.executable, "-c", script], check=True, cwd=ROOT)
    numpy.testing.assert_allclose(numpy.load(folder / "y.npy"), expected, rtol=1e-4, atol=1e-6)


def test_c_program_runs_the_library(lenet_library):
    folder, x, expected, _ = lenet_library
    exe = folder / "run_model"
    subprocess.run([CC, "-O2", f"-I{folder}", os.path.join(ROOT, "examples", "c_api", "main.c"),
                    str(folder / "model.so"), f"-Wl,-rpath,{folder}", "-o", str(exe)], check=True)
    x.tofile(folder / "input.bin")
    for threads in ("1", "2"):   # model_run's default thread count comes from HYBRID_NUM_THREADS
        subprocess.run([str(exe), str(folder / "input.bin"), str(folder / "output.bin")], check=True,
                       env=dict(os.environ, HYBRID_NUM_THREADS=threads))
        got = numpy.fromfile(folder / "output.bin", dtype="float32").reshape(expected.shape)
        numpy.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6, err_msg=f"{threads} threads")


def test_function_library_and_wrong_name(tmp_path):
    def f(a, b):
        return np.tanh(a * b + 1).sum(axis=1), a + 0

    a = numpy.random.default_rng(1).normal(size=(3, 17)).astype("float32")
    b = numpy.random.default_rng(2).normal(size=(17,)).astype("float32")
    hb.compile_library(f, [a, b], str(tmp_path / "fn.so"))
    outs = hb.load_library(str(tmp_path / "fn.so"))([a, b])
    numpy.testing.assert_allclose(outs[0], numpy.tanh(a * b + 1).sum(axis=1), rtol=1e-5)
    numpy.testing.assert_array_equal(outs[1], a)
    shutil.copy(tmp_path / "fn.so", tmp_path / "renamed.so")
    with pytest.raises(hb.FormatError, match="pass name="):
        hb.load_library(str(tmp_path / "renamed.so"))
    assert hb.load_library(str(tmp_path / "renamed.so"), name="fn")([a, b])[1].shape == a.shape


def test_block_export_with_library(tmp_path):
    np.random.seed(1)
    net = LeNet5()
    net.initialize(init.Xavier())
    x = numpy.random.default_rng(3).normal(size=(1, 1, 28, 28)).astype("float32")
    net.hybridize()
    expected = net(np.array(x)).asnumpy()
    files = net.export(str(tmp_path / "lenet"), library=True)
    assert files[-1].endswith("lenet.so") and (tmp_path / "lenet.h").exists()
    numpy.testing.assert_allclose(hb.load_library(files[-1])([x])[0], expected, rtol=1e-4, atol=1e-6)


def _median_ms(lib, inputs, runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        lib(inputs)
        times.append((time.perf_counter() - start) * 1e3)
    return sorted(times)[runs // 2]


def test_library_runs_on_several_threads(tmp_path):
    """A ResNet block (parallel conv stages) gives the eager answer on 1 and 2 threads; the
    timing is printed, not asserted (the machine is shared)."""
    np.random.seed(2)
    net = BasicBlock(64, in_channels=64)
    net.initialize(init.Xavier())
    x = numpy.random.default_rng(4).normal(size=(2, 64, 56, 56)).astype("float32")
    expected = net(np.array(x)).asnumpy()
    hb.compile_library(net, [x], str(tmp_path / "block.so"))
    header = (tmp_path / "block.h").read_text()
    assert "int block_run_threads(const void* const* inputs, void* const* outputs, void* workspace, " \
           "int num_threads);" in header
    times = {}
    for threads in (1, 2):
        lib = hb.load_library(str(tmp_path / "block.so"), num_threads=threads)
        numpy.testing.assert_allclose(lib([x])[0], expected, rtol=1e-4, atol=1e-4, err_msg=f"{threads} threads")
        times[threads] = _median_ms(lib, [x])
    print(f"ResNet basic block 2x64x56x56 from the .so: 1 thread {times[1]:.1f} ms, 2 threads {times[2]:.1f} ms")


def test_threaded_library_copies_outputs_after_every_thread(tmp_path):
    """Outputs that repeat another output or an input are copied by thread 0 once all threads
    have written theirs (a barrier in the generated part)."""
    def f(a, b):
        y = np.maximum(np.dot(a, b), 0)
        return y, y, a + 0

    a = numpy.random.default_rng(5).normal(size=(512, 256)).astype("float32")
    b = numpy.random.default_rng(6).normal(size=(256, 384)).astype("float32")
    hb.compile_library(f, [a, b], str(tmp_path / "dup.so"))
    outs = hb.load_library(str(tmp_path / "dup.so"), num_threads=3)([a, b])
    expected = numpy.maximum(a @ b, 0)
    for k in (0, 1):
        numpy.testing.assert_allclose(outs[k], expected, rtol=1e-4, atol=1e-3, err_msg=f"output {k}")
    numpy.testing.assert_array_equal(outs[2], a)


def test_concurrent_callers_share_the_thread_pool(tmp_path):
    """Python threads calling one library at once: one call at a time gets the pool, the others
    run on their own thread; every answer is right."""
    import threading

    a = numpy.random.default_rng(7).normal(size=(4, 384, 256)).astype("float32")
    b = numpy.random.default_rng(8).normal(size=(256, 256)).astype("float32")
    hb.compile_library(lambda x, w: np.tanh(np.dot(x, w)), [a[0], b], str(tmp_path / "mm.so"))
    lib = hb.load_library(str(tmp_path / "mm.so"), num_threads=2)
    errors = []

    def caller(i):
        for _ in range(10):
            got = lib([a[i], b])[0]
            if not numpy.allclose(got, numpy.tanh(a[i] @ b), rtol=1e-4, atol=1e-4):
                errors.append(i)
    threads = [threading.Thread(target=caller, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def _gather(x, idx):
    return np.take(x, idx, axis=0)                          # the line the library's error names


def test_library_raises_on_a_bad_index_like_the_jit(tmp_path):
    """A bad index makes the library's run return a nonzero status; load_library raises the JIT's
    exception and message (op, value, range, operands, line); the next good call is right."""
    x = numpy.arange(12, dtype=numpy.float32).reshape(4, 3)
    good = numpy.array([3, 0], numpy.int32)
    info = hb.compile_library(_gather, [x, good], str(tmp_path / "gather.so"))
    assert [c["check"]["op"] for c in info["checks"]] == ["take"]
    assert "#define GATHER_STATUS_BAD_INDEX 1" in (tmp_path / "gather.h").read_text()
    for threads in (1, 2):
        lib = hb.load_library(str(tmp_path / "gather.so"), num_threads=threads)
        numpy.testing.assert_array_equal(lib([x, good])[0], x[good])
        for bad in (4, -5):
            with pytest.raises(IndexOutOfRangeError) as raised:
                lib([x, numpy.array([1, bad], numpy.int32)])
            message = str(raised.value)
            assert f"take at test_aot.py:{_gather.__code__.co_firstlineno + 1}" in message
            assert f"index {bad} is out of range [0, 4) for axis 0 of a f32[4,3] array (indices i32[2])" in message
            numpy.testing.assert_array_equal(lib([x, numpy.array([2, 1], numpy.int32)])[0], x[[2, 1]])



def test_library_raises_on_a_negative_integer_exponent(tmp_path):
    a, b = numpy.array([2, 3], numpy.int32), numpy.array([1, 2], numpy.int32)
    hb.compile_library(lambda a, b: np.power(a, b), [a, b], str(tmp_path / "ipow.so"))
    assert "#define IPOW_STATUS_BAD_EXPONENT 2" in (tmp_path / "ipow.h").read_text()
    lib = hb.load_library(str(tmp_path / "ipow.so"))
    with pytest.raises(hb.errors.DomainError, match="exponent -2 in an i32"):
        lib([a, numpy.array([1, -2], numpy.int32)])
    numpy.testing.assert_array_equal(lib([a, b])[0], a ** b)

@pytest.fixture(scope="module")
def embedding_library(tmp_path_factory):
    """An Embedding (vocabulary 10) compiled into model.so, the name examples/c_api/main.c expects."""
    folder = tmp_path_factory.mktemp("embedding")
    np.random.seed(3)
    layer = nn.Embedding(10, 4)
    layer.initialize()
    tokens = numpy.array([[1, 9], [0, 5]], numpy.int32)
    hb.compile_library(layer, [tokens], str(folder / "model.so"))
    return folder, layer.weight.data().asnumpy(), tokens


def test_embedding_library_names_the_token(embedding_library):
    folder, weight, tokens = embedding_library
    lib = hb.load_library(str(folder / "model.so"))
    numpy.testing.assert_array_equal(lib([tokens])[0], weight[tokens])
    with pytest.raises(IndexOutOfRangeError, match=r"index 10 is out of range \[0, 10\)"):
        lib([numpy.array([[1, 10], [0, 5]], numpy.int32)])
    numpy.testing.assert_array_equal(lib([tokens[::-1].copy()])[0], weight[tokens[::-1]])


def test_bad_index_error_needs_no_llvmlite(embedding_library):
    folder, *_ = embedding_library
    script = (f"import sys; sys.modules['llvmlite'] = None\n"
              f"import numpy, hybrid\n"
              f"lib = hybrid.load_library({str(folder / 'model.so')!r})\n"
              f"try:\n"
              f"    lib([numpy.array([[1, 2], [3, 11]], numpy.int32)])\n"
              f"except hybrid.errors.IndexOutOfRangeError as e:\n"
              f"    assert 'index 11 is out of range [0, 10)' in str(e), e\n"
              f"else:\n"
              f"    raise AssertionError('no error')\n"
              f"assert 'llvmlite.binding' not in sys.modules\n")
    subprocess.run([sys.executable, "-c", script], check=True, cwd=ROOT)


def test_c_program_sees_the_bad_index_status(embedding_library):
    folder, weight, tokens = embedding_library
    exe = folder / "run_model"
    subprocess.run([CC, "-O2", f"-I{folder}", os.path.join(ROOT, "examples", "c_api", "main.c"),
                    str(folder / "model.so"), f"-Wl,-rpath,{folder}", "-o", str(exe)], check=True)
    tokens.tofile(folder / "good.bin")
    numpy.array([[1, 2], [12, 0]], numpy.int32).tofile(folder / "bad.bin")
    ok = subprocess.run([str(exe), str(folder / "good.bin"), str(folder / "out.bin")], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    numpy.testing.assert_array_equal(numpy.fromfile(folder / "out.bin", numpy.float32).reshape(2, 2, 4), weight[tokens])
    failed = subprocess.run([str(exe), str(folder / "bad.bin"), str(folder / "bad_out.bin")], capture_output=True,
                            text=True)
    assert failed.returncode == 3 and "status 1: an index is out of range" in failed.stderr, failed.stderr
    assert not (folder / "bad_out.bin").exists()


def test_library_of_another_format_version_is_rejected(lenet_library, monkeypatch):
    folder, *_ = lenet_library
    monkeypatch.setattr(library, "FORMAT_VERSION", library.FORMAT_VERSION + 1)
    with pytest.raises(hb.FormatError, match=f"library format {library.FORMAT_VERSION - 1}, this hybrid reads version "
                                             f"{library.FORMAT_VERSION}; recompile it"):
        hb.load_library(str(folder / "model.so"))
