// float16 / bfloat16 <-> float32 conversion of whole tiles. The kernels compute
// in float32 on a small stack tile and convert on load and store; these loops
// vectorise (bit arithmetic, or F16C instructions where the TU enables them).
// Rounding is round-to-nearest-even, NaN stays NaN, overflow goes to Inf: the
// same as TensorFlow's casts.
#pragma once

#include <cstdint>

#include "common.h"
#include "vmath.h"

#if defined(__F16C__) && !defined(__CUDACC__)
#include <immintrin.h>
#endif

namespace zoo::cvt {

ZOO_HD float bf16_to_f32(uint16_t h) { return vm::as_float(static_cast<uint32_t>(h) << 16); }

ZOO_HD uint16_t f32_to_bf16(float f) {
  const uint32_t u = vm::as_bits(f);
  const uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
  const bool nan = (u & 0x7fffffffu) > 0x7f800000u;
  return static_cast<uint16_t>(nan ? ((u >> 16) | 0x40u) : rounded);
}

ZOO_HD float f16_to_f32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t em = h & 0x7fffu;
  const uint32_t normal = (em << 13) + 0x38000000u;                   // rebias 15 -> 127
  const uint32_t infnan = 0x7f800000u | ((em & 0x3ffu) << 13);
  const float sub = static_cast<float>(em) * 5.9604644775390625e-8f;  // em * 2^-24
  const uint32_t mag = em >= 0x7c00u ? infnan : (em >= 0x0400u ? normal : vm::as_bits(sub));
  return vm::as_float(sign | mag);
}

ZOO_HD uint16_t f32_to_f16(float f) {
  uint32_t x = vm::as_bits(f);
  const uint32_t sign = (x >> 16) & 0x8000u;
  x &= 0x7fffffffu;
  const uint32_t infnan = x > 0x7f800000u ? 0x7e00u : 0x7c00u;
  // |f| < 2^-14: adding 0.5 puts the half subnormal's bits at the bottom of
  // the float mantissa, rounded to nearest even by the FPU.
  const uint32_t sub = vm::as_bits(vm::as_float(x) + 0.5f) - 0x3f000000u;
  const uint32_t normal = (x + 0xc8000fffu + ((x >> 13) & 1u)) >> 13;
  const uint32_t mag = x >= 0x7f800000u ? infnan
                       : x >= 0x477ff000u ? 0x7c00u      // rounds past 65504
                       : x < 0x38800000u ? sub : normal;
  return static_cast<uint16_t>(sign | mag);
}

// ----------------------------------------------------------------------------
// Tile loads and stores.

inline void load(const void* src, DType dt, int64_t n, float* dst) {
  if (dt == DType::f32) {
    const float* s = static_cast<const float*>(src);
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) dst[i] = s[i];
  } else if (dt == DType::bf16) {
    const uint16_t* s = static_cast<const uint16_t*>(src);
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(s[i]);
  } else {
    const uint16_t* s = static_cast<const uint16_t*>(src);
    int64_t i = 0;
#if defined(__F16C__) && !defined(__CUDACC__)
    for (; i + 8 <= n; i += 8)
      _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i))));
#endif
#pragma omp simd
    for (int64_t j = i; j < n; ++j) dst[j] = f16_to_f32(s[j]);
  }
}

inline void store(const float* src, int64_t n, DType dt, void* dst) {
  if (dt == DType::f32) {
    float* d = static_cast<float*>(dst);
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) d[i] = src[i];
  } else if (dt == DType::bf16) {
    uint16_t* d = static_cast<uint16_t*>(dst);
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) d[i] = f32_to_bf16(src[i]);
  } else {
    uint16_t* d = static_cast<uint16_t*>(dst);
    int64_t i = 0;
#if defined(__F16C__) && !defined(__CUDACC__)
    for (; i + 8 <= n; i += 8)
      _mm_storeu_si128(reinterpret_cast<__m128i*>(d + i),
                       _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
#endif
#pragma omp simd
    for (int64_t j = i; j < n; ++j) d[j] = f32_to_f16(src[j]);
  }
}

}  // namespace zoo::cvt
