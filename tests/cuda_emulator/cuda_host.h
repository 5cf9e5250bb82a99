// Stands in for what NVRTC provides implicitly, so that CuPy's generated kernel source (and its
// cupy/*.cuh headers) compile as ordinary host C++.  A "thread" is one call of the kernel function
// with blockIdx.x set to the thread's index (blockDim.x = 1, gridDim.x = the number of threads).
#pragma once
#include <cassert>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <initializer_list>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __noinline__ __attribute__((noinline))
#define __shared__ static
#define __restrict__ __restrict

struct uint3 { unsigned int x, y, z; };
struct dim3 { unsigned int x, y, z; };
static uint3 threadIdx = {0, 0, 0};
static uint3 blockIdx = {0, 0, 0};
static dim3 blockDim = {1, 1, 1};
static dim3 gridDim = {1, 1, 1};
static const int warpSize = 32;

inline void __syncthreads() {}

// CUDA's math library overloads the float functions in the global namespace: a float argument stays
// float.  Bring the same overloads in, so that -Wdouble-promotion flags what would compute in double.
using std::abs; using std::acos; using std::acosh; using std::asin; using std::asinh; using std::atan;
using std::atan2; using std::atanh; using std::cbrt; using std::ceil; using std::copysign; using std::cos;
using std::cosh; using std::erf; using std::erfc; using std::exp; using std::exp2; using std::expm1;
using std::fabs; using std::floor; using std::fma; using std::fmax; using std::fmin; using std::fmod;
using std::hypot; using std::isfinite; using std::isinf; using std::isnan; using std::lgamma; using std::log;
using std::log10; using std::log1p; using std::log2; using std::nearbyint; using std::pow; using std::round;
using std::signbit; using std::sin; using std::sinh; using std::sqrt; using std::tan; using std::tanh;
using std::tgamma; using std::trunc;
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline double rsqrt(double x) { return 1.0 / std::sqrt(x); }
inline float rsqrt(float x) { return 1.0f / std::sqrt(x); }

// The threads run one after another, so plain read-modify-write is atomic.
template <typename T> inline T atomicAdd(T* address, T val) { T old = *address; *address = old + val; return old; }
template <typename T> inline T atomicSub(T* address, T val) { T old = *address; *address = old - val; return old; }
template <typename T> inline T atomicExch(T* address, T val) { T old = *address; *address = val; return old; }
template <typename T> inline T atomicMax(T* address, T val) { T old = *address; if (val > old) *address = val; return old; }
template <typename T> inline T atomicMin(T* address, T val) { T old = *address; if (val < old) *address = val; return old; }
template <typename T> inline T atomicCAS(T* address, T compare, T val) {
  T old = *address; if (old == compare) *address = val; return old;
}
inline long long __double_as_longlong(double x) { long long r; __builtin_memcpy(&r, &x, sizeof r); return r; }
inline double __longlong_as_double(long long x) { double r; __builtin_memcpy(&r, &x, sizeof r); return r; }
inline int __float_as_int(float x) { int r; __builtin_memcpy(&r, &x, sizeof r); return r; }
inline float __int_as_float(int x) { float r; __builtin_memcpy(&r, &x, sizeof r); return r; }
inline unsigned int __float_as_uint(float x) { unsigned int r; __builtin_memcpy(&r, &x, sizeof r); return r; }
inline float __uint_as_float(unsigned int x) { float r; __builtin_memcpy(&r, &x, sizeof r); return r; }
inline int __popc(unsigned int x) { return __builtin_popcount(x); }
inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz(static_cast<unsigned int>(x)); }
inline int __clzll(long long x) { return x == 0 ? 64 : __builtin_clzll(static_cast<unsigned long long>(x)); }
inline int __ffs(int x) { return __builtin_ffs(x); }
inline int __ffsll(long long x) { return __builtin_ffsll(x); }
