"""CUDA source generation, compiled with nvcc (no GPU needed): every kernel of every model-zoo
model, plain (opt 0) and fused (opt 2), plus graphs that exercise the remaining kernel kinds
(f16 tensor-core GEMM, pooling, argmax, random, layout ops, sort, svd/eigh), for sm_80 and sm_90. All programs
go into one .cu per architecture; the two architectures compile in parallel."""
from __future__ import annotations

import os
import subprocess
from concurrent.futures import ThreadPoolExecutor

import ml_dtypes
import numpy
import pytest

import hybrid as hb
from hybrid import np, npx, passes
from hybrid.codegen.cuda import compiler
from hybrid.codegen.cuda.program import build_program, write_dump
from hybrid.codegen.cuda.prelude import PRELUDE
from hybrid.model_zoo import ZOO

NVCC = compiler.find_nvcc()
needs_nvcc = pytest.mark.skipif(NVCC is None, reason="nvcc not found (install the CUDA toolkit); "
                                                      "CUDA source compile checks skipped")


def _extra_graphs():
    """Kernel kinds the float32 model zoo does not reach."""
    rng = numpy.random.RandomState(0)
    a16 = rng.randn(40, 24).astype("float16")
    b16 = rng.randn(24, 33).astype("float16")
    x = rng.randn(2, 3, 9, 9).astype("float32")
    rows = rng.randn(6, 70).astype("float32")
    idx = numpy.array([[0, 2], [1, 1]], dtype="int32")
    return {
        "f16_gemm": (lambda a, b: npx.relu(a @ b + 1), (a16, b16)),
        # bfloat16 (__nv_bfloat16): GEMM with epilogue, row reductions, sort, casts from every width
        "bf16": (lambda a, b, r: (npx.relu(a @ b + 1), np.sum(a, axis=1), npx.softmax(a), np.sort(a),
                                  r.astype("int64").astype("bfloat16"), r.astype("float64").astype("bfloat16"),
                                  r.astype("uint64").astype("bfloat16"), r.astype("int32").astype("bfloat16"),
                                  a.astype("int8"), a.astype("float16"), npx.bitcast(a, "int16"), npx.bitcast(r.astype("int16"), "bfloat16")),
                 (a16.astype(ml_dtypes.bfloat16), b16.astype(ml_dtypes.bfloat16), rows)),
        "pool": (lambda x: (npx.pooling(x, 3, 2, 1, "max"), npx.pooling(x, 2, 2, 0, "avg")), (x,)),
        "argmax": (lambda r: (np.argmax(r, axis=1), r.max(axis=0), np.sum(r)), (rows,)),
        "random": (lambda r: npx.dropout(r, 0.5, training=True), (rows,)),
        "layout": (lambda x, i: (np.concatenate([x, np.pad(x, ((0, 0), (0, 0), (1, 1), (0, 0)))[:, :, 1:10]], axis=1),
                                 np.transpose(x, (0, 2, 3, 1))[:, ::2], np.take(x, i, axis=1)), (x, idx)),
        "softmax_long": (lambda r: npx.softmax(np.concatenate([r] * 40, axis=1)), (rows,)),
        # JAX's static-size nonzero/unique (cumsum scan, (size, n) comparison, sort)
        "static_size": (lambda r: np.nonzero(r > 0.5, size=9) + np.unique(r[0], size=6, return_counts=True),
                        (rows,)),
        # the argsort kernel (one thread per row), sort/top-k as gathers through it, f16 and int keys
        "sort": (lambda r: (np.sort(r), np.argsort(r, axis=0), npx.topk(r, k=3, ret_typ="both"),
                            np.sort(r.astype("float16")), np.argsort(r.astype("int32"))), (rows,)),
        # complex arithmetic, matmul, elementary functions (passes/complex_math.py) and FFTs (short:
        # DFT products; 64: Cooley-Tukey steps, passes/fourier.py) as real (re, im) pairs
        "complex": (lambda r: (lambda z: (np.fft.fft(z), np.abs(z @ z.T), np.fft.irfft(z / (z + 1.0)),
                                          np.fft.rfft(r), np.fft.fft(r[:, :64] * (1 + 2j)), np.sqrt(z),
                                          np.log(z), np.tanh(z), np.arcsinh(z), np.arccos(z), z ** (z * 0.5)))(
            r[:, :8] + 1j * r[:, 8:16]), (rows,)),
        # svd/eigh: Jacobi rotations, a thread per matrix (cuda/jacobi.py), f32, f64 and c64, all packings
        "linalg": (lambda r: (np.linalg.svd(r[:, :5]), np.linalg.svd(r[:4, :9].astype("float64"), full_matrices=False),
                              np.linalg.svdvals(r[:3]), np.linalg.eigh(r[:, :6], UPLO="U"),
                              np.linalg.eigvalsh(r[:5, :5].astype("float64")), np.linalg.pinv(r[:, :4]),
                              np.linalg.svd(r[:3, :5] + 1j * r[3:, :5]), np.linalg.svdvals(r[:, :3] * 1j),
                              np.linalg.eigh(r[:4, :4] + 1j * r[:4, 4:8], UPLO="U")), (rows,)),
        # traced QR: Householder reflections unrolled over the columns
        "qr": (lambda r: np.linalg.qr(r[:, :5]), (rows,)),
        # control flow: every region's kernels go into the one source
        "control_flow": (lambda r: hb.lax.scan(lambda c, x: (hb.lax.cond(x.sum() > 0, lambda c: np.tanh(c + x),
                                                                          lambda c: c * 0.5, c), c.max()),
                                               r[0], r), (rows,)),
    }


def _programs():
    programs = []
    for name, (ctor, shape) in ZOO.items():
        net = ctor()
        net.initialize()
        graph = hb.trace(net, numpy.zeros(shape, "float32"))
        programs.append((name, graph))
    for name, (fn, args) in _extra_graphs().items():
        programs.append((name, hb.trace(fn, *args)))
    out = []
    for name, graph in programs:
        for level in (0, 2):
            optimized = passes.optimize(graph, opt_level=level).graph
            out.append((f"{name}_O{level}", build_program(optimized, prefix=f"{name}_O{level}_")))
    return out


@pytest.fixture(scope="module")
def programs():
    return _programs()


def test_every_kernel_kind_is_generated(programs):
    kinds = {launch.kind for _, p in programs for launch in p.launches()}
    notes = " ".join(launch.note for _, p in programs for launch in p.launches())
    assert kinds == {"elementwise", "row", "gemm", "sort", "jacobi"}
    for feature in ("WMMA", "SIMT", "implicit GEMM", "fused epilogue", "128-bit vector", "window reductions",
                    "a thread per row", "a warp per row", "256 threads per row", "row cached in registers",
                    "2 outputs", "one-sided Jacobi svd", "(values only)", "cyclic Jacobi eigh"):
        assert feature in notes, f"no generated kernel uses {feature!r}"


@needs_nvcc
def test_all_kernels_compile_for_sm80_and_sm90(programs, tmp_path):
    unique = {}  # kernels identical up to their name compile once
    for _, p in programs:
        for launch in p.launches():   # regions' kernels (control flow) included
            unique.setdefault(launch.source.replace(launch.name, "K"), launch.source)
    source = PRELUDE + "\n" + "\n".join(unique.values())
    path = tmp_path / "all.cu"
    path.write_text(source)

    def nvcc(arch):
        cmd = [NVCC, "-cubin", f"-arch={arch}", *compiler.NVCC_FLAGS, "-o", str(tmp_path / f"{arch}.cubin"),
               str(path)]
        return arch, subprocess.run(cmd, capture_output=True, text=True)

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(nvcc, ("sm_80", "sm_90")))
    count = sum(len(p.launches()) for _, p in programs)
    print(f"compiled the {count} kernels of {len(programs)} programs ({len(unique)} distinct) for sm_80 and sm_90")
    for arch, proc in results:
        assert proc.returncode == 0, f"nvcc {arch} failed:\n{proc.stderr[:6000]}"
        assert (tmp_path / f"{arch}.cubin").stat().st_size > 0


def test_dump_has_every_kernel_and_its_launch(programs, tmp_path):
    name, program = programs[0]
    (tmp_path / "00-traced.ir").write_text("")
    path = write_dump(program, str(tmp_path))
    assert os.path.basename(path) == "01-kernels.cu"
    text = open(path).read()
    for launch, _ in program.calls:
        assert f"void __launch_bounds__({launch.block[0]}) {launch.name}(" in text
        assert f"// {launch.name}: {launch.kind}, grid={launch.grid}, block={launch.block}" in text


@needs_nvcc
def test_cubin_cache_hit_and_key(tmp_path, monkeypatch):
    monkeypatch.setenv("HYBRID_CACHE_DIR", str(tmp_path))
    src = 'extern "C" __global__ void k(float* p) { p[threadIdx.x] = 1.0f; }\n'
    first = compiler.compile_cubin(src, "sm_90")
    assert first and len(os.listdir(tmp_path / "cuda")) == 1

    def no_nvcc(*a, **k):
        raise AssertionError("nvcc ran although the cubin is cached")
    monkeypatch.setattr(compiler.subprocess, "run", no_nvcc)
    assert compiler.compile_cubin(src, "sm_90") == first
    toolkit = compiler.nvcc_version(NVCC)
    keys = {compiler.cache_key(src, "sm_90", toolkit), compiler.cache_key(src, "sm_80", toolkit),
            compiler.cache_key(src + " ", "sm_90", toolkit), compiler.cache_key(src, "sm_90", toolkit + "x")}
    assert len(keys) == 4


@needs_nvcc
def test_compile_error_shows_the_source_line(tmp_path, monkeypatch):
    monkeypatch.setenv("HYBRID_CACHE_DIR", str(tmp_path))
    with pytest.raises(compiler.CompileError, match=r"(?s)nvcc failed for sm_90.*undefined_name"):
        compiler.compile_cubin('extern "C" __global__ void k(float* p) {\n  p[0] = undefined_name;\n}\n', "sm_90")


def test_cuda_without_pycuda_says_what_is_missing():
    try:
        import pycuda.driver  # noqa: F401
        pytest.skip("PyCUDA imports here; the missing-PyCUDA error cannot be provoked")
    except ImportError:
        pass
    from hybrid.codegen.cuda.runtime import CudaUnavailable, _RUNTIMES

    _RUNTIMES.clear()
    graph = hb.trace(lambda a: a + 1, numpy.ones(3, "float32"))
    with pytest.raises(CudaUnavailable, match=r"PyCUDA is not installed: `pip install hybrid\[cuda\]`"):
        hb.codegen.build(graph, "cuda")
    f = hb.hybridize(lambda a: a * 2, backend="cuda")
    with pytest.raises(CudaUnavailable, match="PyCUDA is not installed"):
        f(np.ones(3))


class _FakeDriver:
    """A stand-in for pycuda.driver on a machine with PyCUDA but no working driver or GPU."""

    def __init__(self, init_error=None, count=0):
        self.init_error, self.count = init_error, count

    def init(self):
        if self.init_error:
            raise RuntimeError(self.init_error)

    @property
    def Device(self):
        count = self.count

        class Device:
            @staticmethod
            def count():
                return count
        return Device


@pytest.mark.parametrize("driver, message", [
    (ImportError("libcuda.so.1: cannot open shared object file"), "NVIDIA driver library \\(libcuda.so\\) is missing"),
    (_FakeDriver(init_error="cuInit failed: no CUDA-capable device"), "the NVIDIA driver failed to initialize"),
    (_FakeDriver(count=0), "no GPU is visible"),
])
def test_cuda_unavailable_names_the_missing_piece(driver, message, monkeypatch):
    import builtins
    import sys
    import types
    from hybrid.codegen.cuda.runtime import CudaUnavailable, _RUNTIMES

    _RUNTIMES.clear()
    if isinstance(driver, ImportError):
        real_import = builtins.__import__

        def fake_import(name, *args, **kwargs):
            if name == "pycuda.driver":
                raise driver
            return real_import(name, *args, **kwargs)
        monkeypatch.setattr(builtins, "__import__", fake_import)
    else:
        package = types.ModuleType("pycuda")
        package.driver = driver
        monkeypatch.setitem(sys.modules, "pycuda", package)  # restored after the test
        monkeypatch.setitem(sys.modules, "pycuda.driver", driver)
    graph = hb.trace(lambda a: a + 1, numpy.ones(3, "float32"))
    with pytest.raises(CudaUnavailable, match=message):
        hb.codegen.build(graph, "cuda")
    _RUNTIMES.clear()


def test_no_vector_access_when_the_plan_does_not_align_to_16_bytes():
    a = numpy.ones((8, 64), "float32")
    graph = passes.optimize(hb.trace(lambda x, y: (npx.relu(x * 2 + y), x @ y.T), a, a), opt_level=2).graph
    assert graph.memory_plan is not None and graph.memory_plan.alignment % 16 == 0
    aligned = build_program(graph)
    assert any("128-bit" in launch.note for launch, _ in aligned.calls)
    assert any("float4" in launch.source for launch, _ in aligned.calls if launch.kind == "gemm")
    graph.memory_plan.alignment = 8
    unaligned = build_program(graph)
    assert not any("128-bit" in launch.note or "float4*>(p" in launch.source for launch, _ in unaligned.calls)
