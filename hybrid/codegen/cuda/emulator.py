"""Host emulator of the CUDA runtime, for testing generated kernels where no GPU exists.

The generated source, unchanged, is compiled with g++ -fopenmp after a shim header that maps
CUDA's names onto the host: a thread block is an OpenMP team (one OS thread per CUDA thread),
__syncthreads is a team barrier, warp shuffles go through a shared slot array between two
barriers, shared memory is function-static storage, WMMA fragments are full 16x16 tiles held
by every thread. Blocks run one after another. It is slow and only meant for small shapes,
but it runs exactly the kernels, launch configurations, arena offsets and argument lists a GPU
would, so their numerics are tested in CI. Memory is host memory; "device pointers" are
host addresses.
"""
from __future__ import annotations

import ctypes
import hashlib
import os
import re
import stat
import subprocess
import tempfile

import numpy

from ...config import config
from ...errors import HybridError
from . import compiler

SHIM = r"""
#define HB_EMULATE 1
#include <cmath>
#include <cstring>
#include <cstdio>
#include <cstdlib>
#include <utility>
#include <omp.h>
using std::fmod;
struct hb_dim3 { unsigned x, y, z; };
static thread_local hb_dim3 threadIdx;
static hb_dim3 blockIdx, blockDim, gridDim;
#define __global__
#define __device__
#define __forceinline__ inline
#define __shared__ static
#define __launch_bounds__(n)
#define __align__(n) __attribute__((aligned(n)))
#define __syncthreads() _Pragma("omp barrier")
typedef _Float16 __half;
static inline float __half2float(__half x) { return (float)x; }
static inline __half __float2half(float x) { return (__half)x; }
// cuda_bf16.h's storage type and its two conversions (round to nearest even, NaN kept quiet)
struct __nv_bfloat16 { unsigned short bits; };
static inline float __bfloat162float(__nv_bfloat16 h) {
  const unsigned u = (unsigned)h.bits << 16; float f; std::memcpy(&f, &u, 4); return f;
}
static inline __nv_bfloat16 __float2bfloat16(float f) {
  unsigned u; std::memcpy(&u, &f, 4);
  u = (f != f) ? (u | 0x400000u) : u + 0x7fffu + ((u >> 16) & 1u);
  return __nv_bfloat16{(unsigned short)(u >> 16)};
}
static inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
struct alignas(16) float4 { float x, y, z, w; };
struct alignas(16) int4 { int x, y, z, w; };
struct alignas(16) uint4 { unsigned x, y, z, w; };
static inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }
static inline int4 make_int4(int x, int y, int z, int w) { return {x, y, z, w}; }
static inline uint4 make_uint4(unsigned x, unsigned y, unsigned z, unsigned w) { return {x, y, z, w}; }
static unsigned long long hb_slots[1024];
template <typename T> static T __shfl_xor_sync(unsigned, T v, int mask) {
  static_assert(sizeof(T) <= 8, "shuffle of a wide type");
  std::memcpy(&hb_slots[threadIdx.x], &v, sizeof(T));
  _Pragma("omp barrier")
  T r;
  std::memcpy(&r, &hb_slots[threadIdx.x ^ mask], sizeof(T));
  _Pragma("omp barrier")
  return r;
}
namespace nvcuda { namespace wmma {
struct matrix_a {}; struct matrix_b {}; struct accumulator {}; struct row_major {};
enum layout_t { mem_row_major };
template <typename Use, int M, int N, int K, typename T, typename Layout = void> struct fragment { T x[256]; };
template <typename F, typename T> void fill_fragment(F& f, T v) { for (auto& e : f.x) e = v; }
template <typename Use, typename T, typename L>
void load_matrix_sync(fragment<Use, 16, 16, 16, T, L>& f, const T* p, unsigned ld) {
  for (int r = 0; r < 16; ++r) for (int c = 0; c < 16; ++c) f.x[r * 16 + c] = p[r * ld + c];
}
template <typename A, typename B>
void mma_sync(fragment<accumulator, 16, 16, 16, float>& d, const A& a, const B& b,
              const fragment<accumulator, 16, 16, 16, float>& c) {
  float out[256];
  for (int r = 0; r < 16; ++r) for (int n = 0; n < 16; ++n) {
    float s = c.x[r * 16 + n];
    for (int k = 0; k < 16; ++k) s += (float)a.x[r * 16 + k] * (float)b.x[k * 16 + n];
    out[r * 16 + n] = s;
  }
  std::memcpy(d.x, out, sizeof(out));
}
inline void store_matrix_sync(float* p, const fragment<accumulator, 16, 16, 16, float>& f, unsigned ld, layout_t) {
  if ((threadIdx.x & 31) == 0)
    for (int r = 0; r < 16; ++r) for (int c = 0; c < 16; ++c) p[r * ld + c] = f.x[r * 16 + c];
}
}}
template <typename... P, size_t... I>
static void hb_invoke(void (*f)(P...), void** a, std::index_sequence<I...>) { f(static_cast<P>(a[I])...); }
template <typename... P>
static void hb_run(void (*f)(P...), unsigned gx, unsigned gy, unsigned gz, unsigned bx, void** args) {
  omp_set_dynamic(0);
  gridDim = {gx, gy, gz};
  blockDim = {bx, 1, 1};
  for (unsigned z = 0; z < gz; ++z) for (unsigned y = 0; y < gy; ++y) for (unsigned x = 0; x < gx; ++x) {
    blockIdx = {x, y, z};
#pragma omp parallel num_threads(bx)
    {
      if ((unsigned)omp_get_num_threads() != bx) { std::fprintf(stderr, "emulator: team too small\n"); std::abort(); }
      threadIdx = {(unsigned)omp_get_thread_num(), 0, 0};
      hb_invoke(f, args, std::index_sequence_for<P...>{});
    }
  }
}
"""

_KERNEL = re.compile(r'extern "C" __global__ void (?:__launch_bounds__\(\d+\) )?(\w+)\(')



def _regular(path: str) -> bool:
    """A cached library is loaded only when it is a regular file, not a symlink (else rebuilt)."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return False
    if stat.S_ISREG(mode):
        return True
    os.remove(path)
    return False

class EmulatorRuntime:
    name = "emulator"
    arch = "host"

    def __init__(self):
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # 256 threads on 2 cores: sleep at barriers
        self._keep: list = []

    def describe(self) -> str:
        return "host emulator (g++ -fopenmp)"

    def malloc(self, nbytes: int) -> tuple:
        """(owner, address): host memory standing in for device memory, 256-byte aligned."""
        raw = numpy.zeros(int(nbytes) + 256, numpy.uint8)
        address = raw.ctypes.data
        return raw, address + (-address % 256)

    def htod(self, dst: int, src: numpy.ndarray) -> None:
        src = numpy.ascontiguousarray(src)
        ctypes.memmove(dst, src.ctypes.data, src.nbytes)

    def dtoh(self, dst: numpy.ndarray, src: int) -> None:
        ctypes.memmove(dst.ctypes.data, src, dst.nbytes)

    def dtod(self, dst: int, src: int, nbytes: int) -> None:
        ctypes.memmove(dst, src, nbytes)

    def load_module(self, source: str, names: list[str]) -> dict:
        launchers = "\n".join(
            f'extern "C" void hb_launch_{n}(unsigned gx, unsigned gy, unsigned gz, unsigned bx, void** a) '
            f"{{ hb_run({n}, gx, gy, gz, bx, a); }}" for n in _KERNEL.findall(source))
        full = SHIM + source + "\n" + launchers + "\n"
        flags = ["-O1", "-std=c++17", "-fopenmp", "-shared", "-fPIC", "-w"]
        flags += config.get("emulator_cflags")  # e.g. -fsanitize=address
        key = hashlib.sha256((full + " ".join(flags)).encode()).hexdigest()[:32]
        path = os.path.join(compiler.cache_dir(), f"emu-{key}.so")
        if not _regular(path):
            with tempfile.TemporaryDirectory(prefix="hybrid-emu-") as tmp:
                src = os.path.join(tmp, "kernels.cpp")
                with open(src, "w") as f:
                    f.write(full)
                out = os.path.join(tmp, "kernels.so")
                proc = subprocess.run(["g++", *flags, "-o", out, src],
                                      capture_output=True, text=True)
                if proc.returncode != 0:
                    raise HybridError(f"emulator: g++ failed:\n{proc.stderr[:4000]}")
                os.replace(out, path)
        lib = ctypes.CDLL(path)
        self._keep.append(lib)
        functions = {}
        for name in names:
            fn = getattr(lib, f"hb_launch_{name}")
            fn.argtypes = [ctypes.c_uint] * 4 + [ctypes.POINTER(ctypes.c_void_p)]
            fn.restype = None
            functions[name] = fn
        return functions

    def bind(self, fn, grid: tuple, block: tuple, args: list[int]):
        """A no-argument callable that runs the launch (arguments packed once)."""
        if block[1] != 1 or block[2] != 1:
            raise HybridError("emulator: only 1-d thread blocks are emulated")
        packed = (ctypes.c_void_p * max(len(args), 1))(*args)
        return lambda: fn(grid[0], grid[1], grid[2], block[0], packed)

    def synchronize(self) -> None:
        pass
