// Branch-free float32 math for the activation kernels.
//
// Written as straight-line code with selects (ternaries) and no libm calls, so
// that the same source auto-vectorises under -mavx2 / -mavx512f when a loop is
// marked `#pragma omp simd`, stays correct on the scalar path, and compiles as
// CUDA device code. Accuracy goal: a few float32 ulp against float64, with NaN
// propagated and +-Inf mapped as the float64 function maps them.
#pragma once

#include <cstdint>

#include "common.h"

namespace zoo::vm {

ZOO_HD float as_float(uint32_t u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  float f;
  __builtin_memcpy(&f, &u, sizeof f);
  return f;
#endif
}

ZOO_HD uint32_t as_bits(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(f);
#else
  uint32_t u;
  __builtin_memcpy(&u, &f, sizeof u);
  return u;
#endif
}

ZOO_HD float abs(float x) { return as_float(as_bits(x) & 0x7fffffffu); }
ZOO_HD float copysign(float mag, float sgn) {
  return as_float((as_bits(mag) & 0x7fffffffu) | (as_bits(sgn) & 0x80000000u));
}
constexpr float kInf = __builtin_huge_valf();

// exp(x): Cody-Waite reduction x = n ln2 + r, |r| <= ln2/2, degree-7 Taylor
// polynomial for e^r (truncation < 1e-8 relative), then scaling by 2^n built in
// the exponent bits. No clamping on the way: out-of-range lanes compute
// garbage that the two final selects replace (Inf above 88.376, where 2^n
// would leave the exponent range, 0 below FLT_MIN). The kernels only need exp
// to be right where it is finite and normal; NaN flows through r into p.
ZOO_HD float exp(float x) {
  // Round to nearest with the 1.5*2^23 trick: exact for |v| < 2^22 and it
  // vectorises on every ISA (no roundps on the baseline).
  const float magic = 12582912.0f;
  const float n = (x * 1.44269504088896341f + magic) - magic;
  float r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  // Out-of-range n wraps harmlessly here (unsigned), the selects below win.
  const uint32_t nb = static_cast<uint32_t>(static_cast<int32_t>(n)) + 127u;
  const float y = p * as_float(nb << 23);
  return x > 88.3762626647949f ? kInf : (x < -87.33654022216797f ? 0.0f : y);
}

// exp(x) - 1 without the cancellation near 0 (tanh, elu, selu need it).
ZOO_HD float expm1(float x) {
  float p = 1.0f / 40320.0f;
  p = p * x + 1.0f / 5040.0f;
  p = p * x + 1.0f / 720.0f;
  p = p * x + 1.0f / 120.0f;
  p = p * x + 1.0f / 24.0f;
  p = p * x + 1.0f / 6.0f;
  p = p * x + 0.5f;
  p = p * x * x + x;
  return abs(x) < 0.5f ? p : exp(x) - 1.0f;
}

// log(x) for x > 0 finite: x = 2^e * m with m in [sqrt(1/2), sqrt(2)),
// log m = 2 atanh(s), s = (m-1)/(m+1), |s| < 0.172, odd series to s^11.
ZOO_HD float log(float x) {
  const uint32_t bits = as_bits(x);
  int32_t e = static_cast<int32_t>((bits >> 23) & 0xff) - 127;
  float m = as_float((bits & 0x007fffffu) | 0x3f800000u);  // [1, 2)
  const bool big = m > 1.41421356f;
  m = big ? m * 0.5f : m;
  e = big ? e + 1 : e;
  const float s = (m - 1.0f) / (m + 1.0f);
  const float s2 = s * s;
  float p = 2.0f / 11.0f;
  p = p * s2 + 2.0f / 9.0f;
  p = p * s2 + 2.0f / 7.0f;
  p = p * s2 + 2.0f / 5.0f;
  p = p * s2 + 2.0f / 3.0f;
  p = p * s2 + 2.0f;
  return static_cast<float>(e) * 0.693147180559945f + p * s;
}

// log(1 + x) for x >= 0, with the rounding of 1 + x compensated.
ZOO_HD float log1p_pos(float x) {
  const float u = 1.0f + x;
  const float corr = (u - 1.0f) - x;  // rounding error of u
  // corr / u, with 1/u ~ 2 - u: corr is below one ulp of 1, and the
  // approximation's error (corr * (u-1)^2) stays under an ulp of the result.
  const float l = log(u) - corr * (2.0f - u);
  return u == 1.0f ? x : l;
}

ZOO_HD float sigmoid(float x) { return 1.0f / (1.0f + exp(-x)); }

// tanh through expm1 so small |x| keeps its relative accuracy.
ZOO_HD float tanh(float x) {
  const float e = expm1(-2.0f * abs(x));
  const float t = -e / (2.0f + e);
  return copysign(t, x);  // NaN in: expm1(NaN) is NaN
}

// softplus(x) = log(1 + e^x) = max(x, 0) + log1p(e^-|x|): no overflow.
ZOO_HD float softplus(float x) {
  const float a = abs(x);
  const float mx = x > 0.0f ? x : 0.0f;
  return mx + log1p_pos(exp(-a));  // NaN in: exp(NaN) is NaN
}

// erfc(z), Chebyshev fit from Numerical Recipes (erfcc): fractional error below
// 1.2e-7 for every z, so the tail used by exact gelu stays accurate.
ZOO_HD float erfc(float z) {
  const float a = abs(z);
  const float t = 1.0f / (1.0f + 0.5f * a);
  float p = 0.17087277f;
  p = p * t - 0.82215223f;
  p = p * t + 1.48851587f;
  p = p * t - 1.13520398f;
  p = p * t + 0.27886807f;
  p = p * t - 0.18628806f;
  p = p * t + 0.09678418f;
  p = p * t + 0.37409196f;
  p = p * t + 1.00002368f;
  p = p * t - 1.26551223f;
  const float r = t * exp(-a * a + p);
  return z >= 0.0f ? r : (z < 0.0f ? 2.0f - r : z);
}

}  // namespace zoo::vm
