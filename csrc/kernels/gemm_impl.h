// Per-ISA body of the GEMM (see gemm.h for the loop nest). Included by
// gemm_scalar.cc, gemm_avx2.cc and gemm_avx512.cc, each compiled with its own
// -m flags and defining ZOO_ISA_NS; the register tile and cache blocking are
// template parameters chosen in those files.
//
// Packed layouts (both zero-padded to whole panels, so the microkernel never
// branches on edges inside its K loop):
//   A block (mc x kc): panels of MR rows; panel r holds, for each p, the MR
//                      values A(i0 + r*MR .. +MR, p) next to each other.
//   B slab  (kc x nc): panels of NR columns; panel q holds, for each p, the NR
//                      values B(p, j0 + q*NR .. +NR) next to each other.
// The microkernel then reads one broadcast of A and NR/W vectors of B per p.
#pragma once

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>

#include "activation.h"
#include "gemm.h"
#include "workspace.h"

#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

#ifndef ZOO_ISA_NS
#error "define ZOO_ISA_NS before including gemm_impl.h"
#endif

namespace zoo::ZOO_ISA_NS {
namespace gemm_detail {

// ----------------------------------------------------------------------------
// The few vector operations the microkernel needs, for this TU's ISA.

#if defined(__AVX512F__)
using V = __m512;
constexpr int kW = 16;
inline V vzero() { return _mm512_setzero_ps(); }
inline V vload(const float* p) { return _mm512_loadu_ps(p); }
inline void vstore(float* p, V v) { _mm512_storeu_ps(p, v); }
inline V vbcast(const float* p) { return _mm512_set1_ps(*p); }
inline V vfma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
inline V vadd(V a, V b) { return _mm512_add_ps(a, b); }
#elif defined(__AVX2__)
using V = __m256;
constexpr int kW = 8;
inline V vzero() { return _mm256_setzero_ps(); }
inline V vload(const float* p) { return _mm256_loadu_ps(p); }
inline void vstore(float* p, V v) { _mm256_storeu_ps(p, v); }
inline V vbcast(const float* p) { return _mm256_broadcast_ss(p); }
inline V vfma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
inline V vadd(V a, V b) { return _mm256_add_ps(a, b); }
#else
// Portable path: one float per "vector"; the compiler may still use SSE2.
using V = float;
constexpr int kW = 1;
inline V vzero() { return 0.0f; }
inline V vload(const float* p) { return *p; }
inline void vstore(float* p, V v) { *p = v; }
inline V vbcast(const float* p) { return *p; }
inline V vfma(V a, V b, V c) { return a * b + c; }
inline V vadd(V a, V b) { return a + b; }
#endif

// ----------------------------------------------------------------------------
// Packing.

#if defined(__AVX2__)
// dst[i * ldd + r] = src[r * lds + i] for an 8 x 8 block: the in-register
// transpose that both "transposing" packs (A row-major, B^T) are made of, so
// they read whole rows and write whole panel rows instead of scattering.
inline void transpose8x8(const float* src, int64_t lds, float* dst, int64_t ldd) {
  __m256 r[8], t[8];
  for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(src + i * lds);
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 8; i += 4) {
    r[i] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
    r[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
    r[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
    r[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  // r[q] (q < 4) now holds column q of rows 0-3 in its low lane and column
  // q + 4 in its high lane; r[q + 4] the same for rows 4-7. Join the lanes.
  for (int q = 0; q < 4; ++q) {
    _mm256_storeu_ps(dst + q * ldd, _mm256_permute2f128_ps(r[q], r[q + 4], 0x20));
    _mm256_storeu_ps(dst + (q + 4) * ldd, _mm256_permute2f128_ps(r[q], r[q + 4], 0x31));
  }
}
constexpr bool kHaveTranspose8 = true;
#else
inline void transpose8x8(const float* src, int64_t lds, float* dst, int64_t ldd) {
  for (int i = 0; i < 8; ++i)
    for (int r = 0; r < 8; ++r) dst[i * ldd + r] = src[r * lds + i];
}
constexpr bool kHaveTranspose8 = false;
#endif

template <int MR>
void pack_a(const Gemm& g, int64_t i0, int64_t mc, int64_t p0, int64_t kc, float* __restrict dst) {
  for (int64_t r0 = 0; r0 < mc; r0 += MR, dst += MR * kc) {
    const int rows = static_cast<int>(std::min<int64_t>(MR, mc - r0));
    if (g.trans_a) {
      // A(i, p) = a[p * lda + i]: each p gives `rows` contiguous values.
      const float* src = g.a + p0 * g.lda + i0 + r0;
      if (rows == MR) {
        // A trip count known at compile time: a few vector moves, where the
        // variable one below became a memmove call per p (4 % of a recurrent
        // layer's backward, whose dU GEMM packs the time-major states this way).
        for (int64_t p = 0; p < kc; ++p, src += g.lda)
          for (int r = 0; r < MR; ++r) dst[p * MR + r] = src[r];
        continue;
      }
      for (int64_t p = 0; p < kc; ++p, src += g.lda) {
        float* d = dst + p * MR;
        for (int r = 0; r < rows; ++r) d[r] = src[r];
        for (int r = rows; r < MR; ++r) d[r] = 0.0f;
      }
    } else if (kHaveTranspose8 && MR % 8 == 0 && rows == MR) {
      // Row-major A: 8 x 8 transposes turn 8 rows into 8 panel rows.
      const float* src = g.a + (i0 + r0) * g.lda + p0;
      int64_t p = 0;
      for (; p + 8 <= kc; p += 8)
        for (int r = 0; r < MR; r += 8) transpose8x8(src + r * g.lda + p, g.lda, dst + p * MR + r, MR);
      for (; p < kc; ++p)
        for (int r = 0; r < MR; ++r) dst[p * MR + r] = src[r * g.lda + p];
    } else {
      // Rows are contiguous along p: read each row once, scatter with stride MR.
      for (int r = 0; r < rows; ++r) {
        const float* __restrict src = g.a + (i0 + r0 + r) * g.lda + p0;
        for (int64_t p = 0; p < kc; ++p) dst[p * MR + r] = src[p];
      }
      for (int r = rows; r < MR; ++r)
        for (int64_t p = 0; p < kc; ++p) dst[p * MR + r] = 0.0f;
    }
  }
}

template <int NR>
void pack_b(const Gemm& g, int64_t p0, int64_t kc, int64_t j0, int64_t nc, float* __restrict dst) {
  for (int64_t c0 = 0; c0 < nc; c0 += NR, dst += NR * kc) {
    const int cols = static_cast<int>(std::min<int64_t>(NR, nc - c0));
    if (!g.trans_b) {
      // B(p, j) = b[p * ldb + j]: each p gives `cols` contiguous values.
      const float* src = g.b + p0 * g.ldb + j0 + c0;
      if (cols == NR && NR % kW == 0) {
        // Vector copies, not memcpy: a library call per 64- or 128-byte row
        // cost 4-5 % of a recurrent layer's backward (its large dU GEMM).
        for (int64_t p = 0; p < kc; ++p, src += g.ldb)
          for (int c = 0; c < NR; c += kW) vstore(dst + p * NR + c, vload(src + c));
      } else {
        for (int64_t p = 0; p < kc; ++p, src += g.ldb) {
          float* d = dst + p * NR;
          for (int c = 0; c < cols; ++c) d[c] = src[c];
          for (int c = cols; c < NR; ++c) d[c] = 0.0f;
        }
      }
    } else if (kHaveTranspose8 && cols == NR && NR % 8 == 0) {
      // B(p, j) = b[j * ldb + p]: columns of B are rows in memory; 8 x 8
      // transposes turn 8 of them into 8 panel rows at a time.
      const float* src = g.b + (j0 + c0) * g.ldb + p0;
      int64_t p = 0;
      for (; p + 8 <= kc; p += 8)
        for (int c = 0; c < NR; c += 8) transpose8x8(src + c * g.ldb + p, g.ldb, dst + p * NR + c, NR);
      for (; p < kc; ++p)
        for (int c = 0; c < NR; ++c) dst[p * NR + c] = src[c * g.ldb + p];
    } else {
      // B(p, j) = b[j * ldb + p]: columns of B are rows in memory.
      for (int c = 0; c < cols; ++c) {
        const float* __restrict src = g.b + (j0 + c0 + c) * g.ldb + p0;
        for (int64_t p = 0; p < kc; ++p) dst[p * NR + c] = src[p];
      }
      for (int c = cols; c < NR; ++c)
        for (int64_t p = 0; p < kc; ++p) dst[p * NR + c] = 0.0f;
    }
  }
}

// ----------------------------------------------------------------------------
// Microkernel: the MR x NR tile C(ct) (+)= [bias +] A @ Bpanel over kc, held in
// MR * NR / kW accumulators. B rows are ldbp floats apart (NR when packed, ldb
// when read in place). Only m x n of the tile are stored (edges).
//
// A comes packed (DirectA false: a is the MR-tall panel) or, for a small
// row-major block, read in place (DirectA true: row i of the tile at a + i * lda;
// rows past m repeat row m - 1, so nothing outside A is read, and their sums
// are never stored). bias (n values, or nullptr) starts the accumulators: the
// bias then costs nothing per tile, where a separate pass over the stored tile
// cost as much as a short-K product itself (the recurrent layers' per-step
// input projections have K = the feature count, often 1-16).

template <int MR, int NV, bool DirectA>
inline void micro(int64_t kc, const float* __restrict a, int64_t lda, const float* __restrict b,
                  int64_t ldbp, float* __restrict c, int64_t ldc, int m, int n, bool accumulate,
                  const float* __restrict bias) {
  constexpr int NR = NV * kW;
  V acc[MR][NV];
  if (bias) {
    alignas(64) float padded[NR];
    const float* bs = bias;
    if (n < NR) {  // edge tile: bias has only n values here
      // Two loops, not a select: `j < n ? bias[j] : 0` vectorises to a masked
      // load (tests/test_rnn.py keeps those out of the library).
      for (int j = 0; j < n; ++j) padded[j] = bias[j];
      for (int j = n; j < NR; ++j) padded[j] = 0.0f;
      bs = padded;
    }
    V bv[NV];
#pragma GCC unroll 8
    for (int j = 0; j < NV; ++j) bv[j] = vload(bs + j * kW);
#pragma GCC unroll 32
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
      for (int j = 0; j < NV; ++j) acc[i][j] = bv[j];
  } else {
#pragma GCC unroll 32
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
      for (int j = 0; j < NV; ++j) acc[i][j] = vzero();
  }

  const float* rows[MR];
  if constexpr (DirectA) {
#pragma GCC unroll 32
    for (int i = 0; i < MR; ++i) rows[i] = a + (i < m ? i : m - 1) * lda;
  }
  for (int64_t p = 0; p < kc; ++p) {
    V bv[NV];
#pragma GCC unroll 8
    for (int j = 0; j < NV; ++j) bv[j] = vload(b + j * kW);
#pragma GCC unroll 32
    for (int i = 0; i < MR; ++i) {
      const V av = DirectA ? vbcast(rows[i] + p) : vbcast(a + p * MR + i);
#pragma GCC unroll 8
      for (int j = 0; j < NV; ++j) acc[i][j] = vfma(av, bv[j], acc[i][j]);
    }
    b += ldbp;
  }

  if (m == MR && n == NR) {
#pragma GCC unroll 32
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
      for (int j = 0; j < NV; ++j) {
        float* cp = c + i * ldc + j * kW;
        vstore(cp, accumulate ? vadd(vload(cp), acc[i][j]) : acc[i][j]);
      }
    return;
  }
  // Edge tile: spill to the stack, copy the valid part.
  alignas(64) float t[MR * NR];
#pragma GCC unroll 32
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
    for (int j = 0; j < NV; ++j) vstore(t + i * NR + j * kW, acc[i][j]);
  for (int i = 0; i < m; ++i) {
    float* cr = c + i * ldc;
    const float* tr = t + i * NR;
    if (accumulate) {
      for (int j = 0; j < n; ++j) cr[j] += tr[j];
    } else {
      for (int j = 0; j < n; ++j) cr[j] = tr[j];
    }
  }
}

// A tile of A read in place with at most four rows (a dense layer serving
// one to four samples, a recurrent layer's batch of one, a thread's remainder
// of a split batch) runs a four-row tile, so its FMAs are not MR / 4 times
// the useful ones (the full tile repeats its last row). Not fewer rows: a
// one- or two-row tile has too few accumulator chains and ran twice as slow
// as the full one where B's rows lie 4 KB apart (1 x 512 x 1024: 155 against
// 78 us on Zen 4); four rows ran at 73. Every C element is the same chain of
// FMAs over p in either tile, so which one runs (the batch split across
// threads decides) never changes a result.
template <int MR, int NV>
inline void micro_in_place(int64_t kc, const float* a, int64_t lda, const float* b, int64_t ldbp,
                           float* c, int64_t ldc, int m, int n, bool accumulate, const float* bias) {
  constexpr int kSmall = static_cast<int>(kGemmSmallRows);
  if (MR > kSmall && m <= kSmall)
    micro<kSmall, NV, true>(kc, a, lda, b, ldbp, c, ldc, m, n, accumulate, bias);
  else
    micro<MR, NV, true>(kc, a, lda, b, ldbp, c, ldc, m, n, accumulate, bias);
}

// ----------------------------------------------------------------------------
// Epilogue on one finished m x n tile of C (in L1; the bias is already in it,
// from the microkernel): pre-activation copy, activation. Instantiated per
// activation so the inner loops have no switch.

using EpilogueFn = void (*)(float*, int64_t, int, int, float*, int64_t, const ActParams&);

template <Act K>
void epilogue_t(float* c, int64_t ldc, int m, int n, float* z, int64_t ldz, const ActParams& prm) {
  for (int i = 0; i < m; ++i) {
    float* __restrict row = c + i * ldc;
    if (z) std::memcpy(z + i * ldz, row, static_cast<size_t>(n) * sizeof(float));
    if constexpr (K != Act::linear) {
#pragma omp simd
      for (int j = 0; j < n; ++j) row[j] = act::forward<K>(row[j], prm);
    }
  }
}

inline EpilogueFn pick_epilogue(const Gemm& g) {
  if (g.act.kind == Act::linear && !g.preact) return nullptr;
  return dispatch_act(g.act.kind, [](auto k) -> EpilogueFn { return &epilogue_t<decltype(k)::value>; });
}

// ----------------------------------------------------------------------------
// The blocked loop nest over one C block [i0, i1) x [j0, j1).
//
// When the block has few rows (a small batch) and B is row-major, full B
// panels are read in place (stride ldb) instead of packed: each panel is then
// used by at most kGemmDirectRows / MR microkernel calls, too few to repay a copy
// of all of W per call (measured on Zen 4: 32 x 1024 x 1024 goes from ~71 to
// ~98 GFLOP/s per core; at 256 rows packing wins again).

template <int MR, int NV, int64_t MC, int64_t KC, int64_t NC>
void block(const Gemm& g, int64_t i0, int64_t i1, int64_t j0, int64_t j1) {
  static_assert(MC % MR == 0, "MC must be a multiple of MR");
  constexpr int NR = NV * kW;
  static_assert(NC % NR == 0, "NC must be a multiple of NR");
  // Per-thread packing panels, grown on demand and kept: a GEMM call should
  // not pay for allocation, and 64-byte alignment keeps each panel row in one line.
  thread_local KeptBuffer a_buf, b_buf;
  float* abuf = a_buf.floats(static_cast<size_t>(MC * KC));
  float* bbuf = b_buf.floats(static_cast<size_t>(KC * NC));
  const EpilogueFn epi = pick_epilogue(g);
  const bool direct_b = !g.trans_b && (i1 - i0) <= kGemmDirectRows;
  // A small row-major A is read in place too (see micro): its MR rows of at
  // most kGemmDirectDepth floats stay in L1 across the jr loop, and packing it
  // took 7 % of a recurrent layer's time (h re-packed every step, each panel used
  // by a dozen column panels at most).
  // A block of at most kGemmSmallRows rows is read in place at any depth:
  // each microkernel call reads kc <= KC floats of a row, and packing a row
  // or two costs as much as using it.
  const bool direct_a = !g.trans_a && (((i1 - i0) <= kGemmDirectRows && g.k <= kGemmDirectDepth) ||
                                       (i1 - i0) <= kGemmSmallRows);

  for (int64_t jc = j0; jc < j1; jc += NC) {
    const int64_t nc = std::min(NC, j1 - jc);
    // K == 0 still takes one pass (kc = 0) so C gets zeros and the epilogue.
    for (int64_t pc = 0;; pc += KC) {
      const int64_t kc = std::min(KC, g.k - pc);
      const bool first = pc == 0, last = pc + KC >= g.k;
      if (!direct_b) pack_b<NR>(g, pc, kc, jc, nc, bbuf);
      for (int64_t ic = i0; ic < i1; ic += MC) {
        const int64_t mc = std::min(MC, i1 - ic);
        if (!direct_a) pack_a<MR>(g, ic, mc, pc, kc, abuf);
        for (int64_t jr = 0; jr < nc; jr += NR) {
          const int n = static_cast<int>(std::min<int64_t>(NR, nc - jr));
          const float* bp = bbuf + jr * kc;
          int64_t ldbp = NR;
          if (direct_b) {
            if (n == NR) {
              bp = g.b + pc * g.ldb + jc + jr;
              ldbp = g.ldb;
            } else {
              pack_b<NR>(g, pc, kc, jc + jr, n, bbuf);
              bp = bbuf;
            }
          }
          for (int64_t ir = 0; ir < mc; ir += MR) {
            const int m = static_cast<int>(std::min<int64_t>(MR, mc - ir));
            const int64_t row = ic + ir, col = jc + jr;
            float* ct = g.c + row * g.ldc + col;
            const float* bias = first && g.bias ? g.bias + col : nullptr;
            if (direct_a)
              micro_in_place<MR, NV>(kc, g.a + row * g.lda + pc, g.lda, bp, ldbp, ct, g.ldc, m, n,
                                     !first || g.accumulate, bias);
            else
              micro<MR, NV, false>(kc, abuf + ir * kc, MR, bp, ldbp, ct, g.ldc, m, n,
                                   !first || g.accumulate, bias);
            if (last && epi)
              epi(ct, g.ldc, m, n, g.preact ? g.preact + row * g.ldp + col : nullptr, g.ldp, g.act);
          }
        }
      }
      if (last) break;
    }
  }
}

}  // namespace gemm_detail
}  // namespace zoo::ZOO_ISA_NS
