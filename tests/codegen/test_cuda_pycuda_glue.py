"""The PyCUDA runtime's glue (context, arch, compile, module loading, copies, packed launches)
against a stand-in `pycuda` package whose calls have PyCUDA 2026.1's signatures and run on the
host emulator. It checks the code between our executable and PyCUDA on machines without a GPU;
the real thing runs in test_cuda_gpu.py."""
from __future__ import annotations

import shutil
import sys
import textwrap

import numpy
import pytest

import hybrid as hb
from hybrid import npx, passes
from hybrid.codegen import build
from hybrid.codegen.cuda.runtime import _RUNTIMES

FAKE_DRIVER = '''
import ctypes
import struct

from hybrid.codegen.cuda.emulator import EmulatorRuntime

_emu = EmulatorRuntime()
calls = []


def init():
    calls.append("init")


class _Context:
    def push(self):
        calls.append("push")

    def pop(self):
        pass


class Device:
    @staticmethod
    def count():
        return 1

    def __init__(self, index):
        self.index = index

    def compute_capability(self):
        return (9, 0)

    def name(self):
        return "Stand-in H100"

    def retain_primary_context(self):
        return _Context()


class Stream:
    def synchronize(self):
        calls.append("sync")


class DeviceAllocation:
    def __init__(self, nbytes):
        self._owner, self._ptr = _emu.malloc(nbytes)

    def __int__(self):
        return self._ptr


def mem_alloc(nbytes):
    return DeviceAllocation(nbytes)


def _buffer(array):
    assert array.flags.c_contiguous
    return array.ctypes.data, array.nbytes


def memcpy_htod_async(dest, src, stream=None):
    assert isinstance(stream, Stream)
    ptr, n = _buffer(src)
    ctypes.memmove(int(dest), ptr, n)
    calls.append("htod")


def memcpy_dtoh_async(dest, src, stream=None):
    assert isinstance(stream, Stream)
    ptr, n = _buffer(dest)
    ctypes.memmove(ptr, int(src), n)
    calls.append("dtoh")


def memcpy_dtod_async(dest, src, size, stream=None):
    assert isinstance(stream, Stream)
    ctypes.memmove(int(dest), int(src), size)
    calls.append("dtod")


class _Function:
    def __init__(self, source, name):
        self.launch = _emu.load_module(source, [name])[name]

    def _launch_kernel(self, grid, block, packed, shared, stream):
        assert isinstance(grid, tuple) and isinstance(block, tuple) and shared == 0 and isinstance(stream, Stream)
        args = struct.unpack("P" * (len(packed) // struct.calcsize("P")), packed)
        arr = (ctypes.c_void_p * max(len(args), 1))(*args)
        self.launch(grid[0], grid[1], grid[2], block[0], arr)
        calls.append("launch")


class _Module:
    def __init__(self, source):
        self.source = source

    def get_function(self, name):
        return _Function(self.source, name)


def module_from_buffer(cubin):
    return _Module(cubin.decode())
'''

FAKE_COMPILER = '''
def compile(source, nvcc="nvcc", options=None, keep=False, no_extern_c=False, arch=None, code=None,
            cache_dir=None, include_dirs=None, target="cubin"):
    assert no_extern_c and arch == "sm_90" and target == "cubin" and "-O3" in options and cache_dir
    return source.encode()
'''

needs_gxx = pytest.mark.skipif(shutil.which("g++") is None, reason="g++ not found: the CUDA emulator needs it")


@pytest.fixture
def fake_pycuda(tmp_path, monkeypatch):
    import importlib.util
    if importlib.util.find_spec("pycuda") is not None:
        pytest.skip("the real PyCUDA is installed here: test_cuda_gpu.py exercises the glue for real")
    package = tmp_path / "pycuda"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "driver.py").write_text(textwrap.dedent(FAKE_DRIVER))
    (package / "compiler.py").write_text(textwrap.dedent(FAKE_COMPILER))
    (package / "_pvt_struct.py").write_text("from struct import pack  # noqa: F401\n")
    for name in [m for m in sys.modules if m == "pycuda" or m.startswith("pycuda.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("HYBRID_CUDA_RUNTIME", raising=False)
    _RUNTIMES.clear()
    import pycuda.driver
    yield pycuda.driver
    _RUNTIMES.clear()
    for name in [m for m in sys.modules if m == "pycuda" or m.startswith("pycuda.")]:
        del sys.modules[name]


@needs_gxx
def test_pycuda_runtime_runs_a_graph(fake_pycuda):
    x, w = numpy.random.RandomState(0).randn(6, 40).astype("float32"), numpy.ones((40, 8), "float32")
    graph = passes.optimize(hb.trace(lambda a, b: npx.softmax(a @ b) + npx.layer_norm(a).sum(axis=1,
                                                                                              keepdims=True),
                                     x, w), opt_level=2).graph
    exe = build(graph, "cuda")
    assert exe.runtime.describe() == "Stand-in H100 (sm_90)"
    fake_pycuda.calls.clear()
    got = exe([x, w])
    numpy.testing.assert_allclose(got[0], build(graph, "interp")([x, w])[0], rtol=1e-5, atol=1e-6)
    # inputs up, every kernel launched, outputs down, one synchronisation at the end
    assert fake_pycuda.calls == ["htod"] * 2 + ["launch"] * len(exe.calls) + ["dtoh"] + ["sync"]


@needs_gxx
def test_pycuda_device_arrays(fake_pycuda):
    from hybrid.core.context import DeviceNDArray

    f = hb.hybridize(lambda a: npx.relu(a * 2 - 1), backend="cuda")
    x = numpy.random.RandomState(1).randn(5, 8).astype("float32")
    xd = hb.NDArray(x).as_in_context(hb.gpu(0))
    fake_pycuda.calls.clear()
    out = f(xd)
    assert isinstance(out, DeviceNDArray)
    assert "htod" not in fake_pycuda.calls and "dtod" in fake_pycuda.calls
    numpy.testing.assert_allclose(out.asnumpy(), numpy.maximum(x * 2 - 1, 0), rtol=1e-6)
