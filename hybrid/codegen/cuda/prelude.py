"""The CUDA C prelude every generated source starts with: NumPy-exact scalar helpers, the
Threefry-2x32 generator of hybrid.ir.ops.source, and warp/block reductions.

Helpers are `hb_`-prefixed. The same text compiles under nvcc and, with HB_EMULATE defined,
under the host emulator's shim (emulator.py), so the emulator runs exactly these lines.
"""

PRELUDE = r"""
#ifndef HB_EMULATE
#include <cuda_fp16.h>
#include <cuda_bf16.h>
#include <mma.h>
#endif

// NumPy maximum/minimum propagate NaN (fmaxf does not).
template <typename T> __device__ __forceinline__ T hb_max(T a, T b) { return (a != a || a > b) ? a : b; }
template <typename T> __device__ __forceinline__ T hb_min(T a, T b) { return (a != a || a < b) ? a : b; }

// NumPy mod: the result takes the sign of the divisor; integer mod by zero is 0.
template <typename T> __device__ __forceinline__ T hb_fmod(T a, T b) {
  T r = fmod(a, b);
  if (r != 0 && ((r < 0) != (b < 0))) r += b;
  return r;
}
template <typename T> __device__ __forceinline__ T hb_imod(T a, T b) {
  if (b == 0 || ((T)-1 < (T)0 && b == (T)-1)) return 0;   // MIN % -1 overflows (SIGFPE on a CPU)
  T r = a % b;
  if (r != 0 && ((r < 0) != (b < 0))) r += b;
  return r;
}
// NumPy floor_divide: integers exactly (x // 0 == 0, MIN // -1 wraps); floats by NumPy's divmod rule.
template <typename T> __device__ __forceinline__ T hb_floordiv(T a, T b) {
  if (b == 0) return 0;
  if ((T)-1 < 0 && b == (T)-1) return (T)(0 - a);
  T q = a / b, r = a % b;
  return (r != 0 && ((r < 0) != (b < 0))) ? (T)(q - 1) : q;
}
template <typename T> __device__ __forceinline__ T hb_floordiv_f(T a, T b) {
  if (b == 0) return a / b;
  T m = fmod(a, b), d = (a - m) / b;
  if (m != 0 && ((b < 0) != (m < 0))) d -= 1;
  T f = floor(d);
  return (d - f > (T)0.5) ? f + 1 : f;
}
template <> __device__ __forceinline__ float hb_floordiv<float>(float a, float b) { return hb_floordiv_f(a, b); }
template <> __device__ __forceinline__ double hb_floordiv<double>(double a, double b) { return hb_floordiv_f(a, b); }
// NumPy shifts: an amount outside [0, bits) gives 0 (-1 for a negative signed value shifted right).
template <typename T> __device__ __forceinline__ T hb_shl(T a, T b) {
  return (unsigned long long)b < sizeof(T) * 8 ? (T)(a << b) : (T)0;
}
template <typename T> __device__ __forceinline__ T hb_shr(T a, T b) {
  return (unsigned long long)b < sizeof(T) * 8 ? (T)(a >> b) : (a < 0 ? (T)-1 : (T)0);
}
template <typename T> __device__ __forceinline__ T hb_ipow(T a, T b) {
  T r = 1;
  for (; b > 0; b >>= 1, a *= a)
    if (b & 1) r *= a;
  return r;
}
__device__ __forceinline__ float hb_round_half(float x) { return __half2float(__float2half(x)); }
#ifdef HB_EMULATE
__device__ __forceinline__ float hb_round_half_d(double x) { return (float)(__half)x; }
#else
__device__ __forceinline__ float hb_round_half_d(double x) { return __half2float(__double2half(x)); }
#endif
// Float -> int as hybrid.ir.ops.elementwise.float_to_int: truncate through int32 (i8/u8/i16/u16/i32)
// or int64 (i64/u32; u64 below 2**63, exact above); outside that range the minimum (u32: 0; u64:
// 2**63). C leaves those cases undefined.
__device__ __forceinline__ int hb_ftoi32(double x) {
  return (x >= -2147483648.0 && x < 2147483648.0) ? (int)x : (int)(-2147483647 - 1);
}
__device__ __forceinline__ long long hb_ftoi64(double x) {
  return (x >= -9223372036854775808.0 && x < 9223372036854775808.0) ? (long long)x : (-9223372036854775807LL - 1);
}
__device__ __forceinline__ unsigned hb_ftou32(double x) {
  return (x >= -9223372036854775808.0 && x < 4294967296.0) ? (unsigned)(long long)x : 0u;
}
__device__ __forceinline__ unsigned long long hb_ftou64(double x) {
  if (x >= -9223372036854775808.0 && x < 9223372036854775808.0) return (unsigned long long)(long long)x;
  return (x >= 9223372036854775808.0 && x < 18446744073709551616.0) ? (unsigned long long)x : 9223372036854775808ULL;
}

// The bits of one value as another type of the same size (BitCast).
template <typename To, typename From> __device__ __forceinline__ To hb_bitcast(From x) {
  static_assert(sizeof(To) == sizeof(From), "hb_bitcast needs types of one size");
  To y;
  memcpy(&y, &x, sizeof(To));
  return y;
}

// bfloat16 as ml_dtypes rounds it: once, to nearest even, from any dtype. Integer arithmetic on the
// float's bits (a NaN stays a quiet NaN of its sign). Wider sources are first rounded to odd
// (truncated, last bit set if inexact), which keeps enough bits for the final rounding to be exact.
__device__ __forceinline__ float hb_round_bf16(float x) {
  unsigned u = hb_bitcast<unsigned>(x);
  u = (x != x) ? (u | 0x400000u) : u + 0x7fffu + ((u >> 16) & 1u);
  return hb_bitcast<float>(u & 0xffff0000u);
}
__device__ __forceinline__ float hb_round_bf16_d(double x) {
  float f = (float)x;
  if ((double)f != x && x == x) {
    const unsigned u = hb_bitcast<unsigned>(f) - (fabs((double)f) > fabs(x) ? 1u : 0u);
    f = hb_bitcast<float>(u | 1u);
  }
  return hb_round_bf16(f);
}
// An unsigned 64-bit integer as a double rounded to odd: the two 32-bit halves are exact doubles,
// and their rounded sum's exact error (Fast2Sum) says whether and which way the sum rounded.
__device__ __forceinline__ double hb_u64_to_odd(unsigned long long m) {
  const double hi = (double)(unsigned)(m >> 32) * 4294967296.0, lo = (double)(unsigned)(m & 0xffffffffu);
  const double s = hi + lo, err = lo - (s - hi);
  if (err == 0) return s;
  return hb_bitcast<double>((hb_bitcast<unsigned long long>(s) - (err < 0 ? 1ull : 0ull)) | 1ull);
}
__device__ __forceinline__ float hb_round_bf16_ull(unsigned long long x) { return hb_round_bf16_d(hb_u64_to_odd(x)); }
__device__ __forceinline__ float hb_round_bf16_ll(long long x) {
  const double m = hb_u64_to_odd(x < 0 ? 0ull - (unsigned long long)x : (unsigned long long)x);
  return hb_round_bf16_d(x < 0 ? -m : m);
}

// Threefry-2x32, 20 rounds (hybrid.ir.ops.source.threefry2x32) of counter (c, 0): first word.
__device__ __forceinline__ unsigned hb_rotl(unsigned x, int r) { return (x << r) | (x >> (32 - r)); }
__device__ __forceinline__ unsigned hb_threefry(unsigned k0, unsigned k1, unsigned c) {
  const unsigned ks[3] = {k0, k1, k0 ^ k1 ^ 0x1BD11BDAu};
  const int rot[8] = {13, 15, 26, 6, 17, 29, 16, 24};
  unsigned x0 = c + ks[0], x1 = ks[1];
#pragma unroll
  for (int block = 0; block < 5; ++block) {
#pragma unroll
    for (int r = 0; r < 4; ++r) {
      x0 += x1;
      x1 = hb_rotl(x1, rot[(block % 2) * 4 + r]);
      x1 ^= x0;
    }
    x0 += ks[(block + 1) % 3];
    x1 += ks[(block + 2) % 3] + (unsigned)(block + 1);
  }
  return x0;
}

// Combiners of the reductions (registry: sum->add, prod->mul, max, min).
struct hb_add { template <typename T> __device__ __forceinline__ static T f(T a, T b) { return a + b; } };
struct hb_mul { template <typename T> __device__ __forceinline__ static T f(T a, T b) { return a * b; } };
struct hb_maxop { template <typename T> __device__ __forceinline__ static T f(T a, T b) { return hb_max(a, b); } };
struct hb_minop { template <typename T> __device__ __forceinline__ static T f(T a, T b) { return hb_min(a, b); } };

// argmax: (value, flat index) pairs; the first NaN wins, else the larger value, ties to the lower index.
template <typename T> struct hb_argpair { T v; int i; };
template <typename T> __device__ __forceinline__ hb_argpair<T> hb_argbest(hb_argpair<T> a, hb_argpair<T> b) {
  if (a.i < 0) return b;
  if (b.i < 0) return a;
  const bool an = a.v != a.v, bn = b.v != b.v;
  if (an || bn) return (an && (!bn || a.i < b.i)) ? a : b;
  return (a.v > b.v || (a.v == b.v && a.i < b.i)) ? a : b;
}

// Butterfly over a warp: every lane ends with the result.
template <typename Op, typename T> __device__ __forceinline__ T hb_warp_reduce(T v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = Op::f(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}
template <typename T> __device__ __forceinline__ hb_argpair<T> hb_warp_argmax(hb_argpair<T> p) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    hb_argpair<T> q;
    q.v = __shfl_xor_sync(0xffffffffu, p.v, o);
    q.i = __shfl_xor_sync(0xffffffffu, p.i, o);
    p = hb_argbest(p, q);
  }
  return p;
}

// Reduce over `lanes` threads (32: one warp per row; blockDim.x: the whole block); every
// thread ends with the result. Every thread of the block must call it (uniform control flow).
template <typename Op, typename T> __device__ T hb_row_reduce(T v, int lanes, T identity) {
  __shared__ T scratch[32];
  v = hb_warp_reduce<Op>(v);
  if (lanes <= 32) return v;
  __syncthreads();  // scratch may still be read by the previous call
  const int lane = threadIdx.x & 31, warps = blockDim.x >> 5;
  if (lane == 0) scratch[threadIdx.x >> 5] = v;
  __syncthreads();
  v = lane < warps ? scratch[lane] : identity;
  return hb_warp_reduce<Op>(v);
}
template <typename T> __device__ hb_argpair<T> hb_row_argmax(hb_argpair<T> p, int lanes) {
  __shared__ hb_argpair<T> scratch[32];
  p = hb_warp_argmax(p);
  if (lanes <= 32) return p;
  __syncthreads();
  const int lane = threadIdx.x & 31, warps = blockDim.x >> 5;
  if (lane == 0) scratch[threadIdx.x >> 5] = p;
  __syncthreads();
  if (lane < warps) p = scratch[lane]; else p.i = -1;
  return hb_warp_argmax(p);
}
"""
