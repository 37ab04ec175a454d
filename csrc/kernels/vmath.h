// Branch-free float32 math for the activation kernels.
//
// Written as straight-line code with selects (ternaries) and no libm calls, so
// that the same source auto-vectorises under -mavx2 / -mavx512f when a loop is
// marked `#pragma omp simd`, stays correct on the scalar path, and compiles as
// CUDA device code. Accuracy goal: a few float32 ulp against float64, with NaN
// propagated and +-Inf mapped as the float64 function maps them. One measured
// exception, taken for speed: phi (exact gelu) is bounded in absolute error,
// see there.
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

// exp(x): Cody-Waite reduction x = n ln2 + r, |r| <= ln2/2, a degree-6
// polynomial for e^r fitted for least maximum relative error on that interval
// (3.6e-9 with these float32 coefficients, far below float32's 6e-8 ulp), then
// scaling by 2^n built in the exponent bits.
//
// Range without selects: x is clamped to [-88, 89] first (NaN passes through
// both clamps). Above 88.38 n reaches 128, whose exponent field 255 is +Inf;
// below -87.9 n is -127, whose exponent field 0 makes the scale +0 (results
// that would be float32 subnormals flush to 0, as before). Clamping costs two
// instructions where the former range selects cost six.
ZOO_HD float exp(float x) {
  x = x > 89.0f ? 89.0f : x;
  x = x < -88.0f ? -88.0f : x;
  // Round to nearest with the 1.5*2^23 trick: exact for |v| < 2^22 and it
  // vectorises on every ISA (no roundps on the baseline).
  const float magic = 12582912.0f;
  const float n = (x * 1.44269504088896341f + magic) - magic;
  float r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.381453942e-03f;
  p = p * r + 8.368745446e-03f;
  p = p * r + 4.166838899e-02f;
  p = p * r + 1.666652113e-01f;
  p = p * r + 4.999999404e-01f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  // n is in [-127, 128] here: the biased exponent n + 127 is in [0, 255].
  // A NaN x makes n NaN, and converting NaN to an integer is undefined
  // behaviour (UBSan, float-cast-overflow): scale by 2^0 instead; p is NaN.
  const float nn = n == n ? n : 0.0f;
  const uint32_t nb = static_cast<uint32_t>(static_cast<int32_t>(nn) + 127);
  return p * as_float(nb << 23);
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

// tanh(x) as x P(x^2) / Q(x^2), degrees 12/6 in x, fitted here for least
// maximum relative error on [0, 9] (6.7e-9 in float64; beyond 9 tanh is 1 in
// float32). One division and nine FMAs against tanh's two polynomials, an exp
// and a division above: 1.35x faster in the LSTM forward pass. Its float32
// error is larger, at most 3.3e-7 relative (6 ulp, next to +-1 where P and Q
// are large), so only the recurrent kernels use it, whose outputs are held to
// 1e-5 of Keras'; bias_act keeps tanh above. Saturated inputs (|x| >= 8.3,
// +-inf) give +-1 within 2 ulp, not exactly; the result is clamped to [-1, 1]
// (P/Q can overshoot by an ulp); NaN passes through every select.
ZOO_HD float tanh_rational(float x) {
  x = x > 9.0f ? 9.0f : x;
  x = x < -9.0f ? -9.0f : x;
  const float s = x * x;
  float p = -8.486753780e-14f;
  p = p * s + 5.277267859e-11f;
  p = p * s - 2.022399315e-08f;
  p = p * s + 1.115404302e-05f;
  p = p * s + 3.103933297e-03f;
  p = p * s + 1.308398992e-01f;
  p = p * s + 1.0f;
  float q = 2.546110481e-04f;
  q = q * s + 2.449508943e-02f;
  q = q * s + 4.641731679e-01f;
  q = q * s + 1.0f;
  float t = x * p / q;
  t = t > 1.0f ? 1.0f : t;
  return t < -1.0f ? -1.0f : t;
}

// softplus(x) = log(1 + e^x) = max(x, 0) + log1p(e^-|x|): no overflow.
ZOO_HD float softplus(float x) {
  const float a = abs(x);
  const float mx = x > 0.0f ? x : 0.0f;
  return mx + log1p_pos(exp(-a));  // NaN in: exp(NaN) is NaN
}

// The standard normal CDF Phi(z) = (1 + erf(z / sqrt 2)) / 2, with erf(x) on
// |x| <= 4 as x P(x^2) / Q(x^2), a rational function fitted here for least
// maximum absolute error (4.2e-7 evaluated in float32; 2/sqrt(pi) exact at 0,
// so small |x| keeps its relative accuracy). Beyond |x| = 3.9 erf is +-1 to
// float32 precision and Phi is set to exactly 0 or 1, so z * Phi(z) is -0 for
// very negative z, never a large product of a tiny error.
// Measured over z in [-12, 12] against float64: gelu = z Phi(z) within 1.3e-6
// absolute (3 ulp for z > 0; TF's Erfc-based gelu: 3.8e-7). For z < -2, where
// |gelu| < 0.05, the 1 + erf cancellation makes that bound absolute rather than
// relative. It replaced an erfc + exp formulation that was exact to a few ulp
// everywhere but took 1.7x the time forward (30 operations against 18).
ZOO_HD float phi(float z) {
  float x = z * 0.7071067811865476f;
  x = x > 4.0f ? 4.0f : x;
  x = x < -4.0f ? -4.0f : x;
  const float s = x * x;
  float p = 1.905507574e-08f;
  p = p * s - 1.951888180e-06f;
  p = p * s + 1.497834746e-04f;
  p = p * s + 4.093139898e-03f;
  p = p * s + 5.184897408e-02f;
  p = p * s + 2.095028758e-01f;
  p = p * s + 1.128379226e+00f;
  float q = 1.046069083e-03f;
  q = q * s + 1.516615599e-02f;
  q = q * s + 1.189613566e-01f;
  q = q * s + 5.189984441e-01f;
  q = q * s + 1.0f;
  const float h = 0.5f + 0.5f * (x * p / q);
  return x < -3.9f ? 0.0f : (x > 3.9f ? 1.0f : h);
}

}  // namespace zoo::vm
