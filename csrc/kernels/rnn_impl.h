// Per-ISA body of the recurrent kernels (see rnn.h): the per-chunk loops over
// all time steps, each step one or two serial GEMMs and fused pointwise passes
// over the chunk's rows. Included by rnn_scalar.cc, rnn_avx2.cc and
// rnn_avx512.cc, each compiled with its own -m flags and defining ZOO_ISA_NS,
// so the `omp simd` loops over the units are vectorised per ISA.
//
// Each pointwise pass handles one batch row: a masked row takes a separate,
// cheap branch (copy the states, repeat or zero the output), so unmasked rows
// carry no per-element selects.
#pragma once

#include <algorithm>
#include <cstring>

#include "activation.h"
#include "gemm.h"
#include "rnn.h"

#ifndef ZOO_ISA_NS
#error "define ZOO_ISA_NS before including rnn_impl.h"
#endif

namespace zoo::ZOO_ISA_NS {
namespace rnn_detail {

// A gate's activation. tanh, two of an LSTM step's five activations, takes
// the rational form (vmath.h: about 3e-7 relative, the cheapest here).
template <Act K>
ZOO_HD float gate(float z, const ActParams& p) {
  if constexpr (K == Act::tanh)
    return vm::tanh_rational(z);
  else
    return act::forward<K>(z, p);
}

// f(z) and f'(z) together; sigmoid and tanh derive the slope from the value.
template <Act K>
ZOO_HD void value_and_slope(float z, const ActParams& p, float& y, float& d) {
  if constexpr (K == Act::sigmoid) {
    y = vm::sigmoid(z);
    d = y * (1.0f - y);
  } else if constexpr (K == Act::tanh) {
    y = vm::tanh_rational(z);
    d = 1.0f - y * y;
  } else {
    y = act::forward<K>(z, p);
    d = act::derivative<K>(z, p);
  }
}

// f'(z) from y = f(z), for the activations the recurrent kernels support
// (each one's slope is a function of its value): the forward pass in training
// keeps activated gates, so backward evaluates no exp.
template <Act K>
ZOO_HD float slope_of_value(float y) {
  if constexpr (K == Act::sigmoid) return y * (1.0f - y);
  if constexpr (K == Act::tanh) return 1.0f - y * y;
  if constexpr (K == Act::relu) return y > 0.0f ? 1.0f : 0.0f;
  if constexpr (K == Act::hard_sigmoid) return (y > 0.0f && y < 1.0f) ? 1.0f / 6.0f : 0.0f;
  return 1.0f;  // linear
}

inline void fill_rows(float* dst, const float* src, int64_t rows, int64_t cols) {
  // src: rows x cols (contiguous) or nullptr for zeros.
  if (src)
    std::memcpy(dst, src, static_cast<size_t>(rows * cols) * sizeof(float));
  else
    std::memset(dst, 0, static_cast<size_t>(rows * cols) * sizeof(float));
}

// C (m x n, ldc) [+]= A (m x k, lda) @ B (k x n, ldb) [+ bias], on this thread.
inline void step_gemm(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
                      const float* b, int64_t ldb, float* c, int64_t ldc, bool accumulate,
                      const float* bias = nullptr) {
  Gemm g;
  g.m = m;
  g.n = n;
  g.k = k;
  g.a = a;
  g.lda = lda;
  g.b = b;
  g.ldb = ldb;
  g.c = c;
  g.ldc = ldc;
  g.accumulate = accumulate;
  g.bias = bias;
  gemm(g, Serial());
}

// Column sums of an (rows x cols) matrix added into acc (cols doubles): per
// column, float partial sums over groups of kColumnSumRows rows, each added
// into the double (no more than kColumnSumRows terms rounded together in
// float). Strips of kSumStrip columns keep a strip's partial sums in a few
// vector registers while the rows stream past. Each column adds its rows in
// order, whatever the vector width: every ISA agrees, and a caller that feeds
// the rows in blocks of a multiple of kColumnSumRows gets the same sums as one
// call over all of them.
inline void column_sums_add(const float* m, int64_t rows, int64_t cols, int64_t ld,
                            double* acc) {
  constexpr int64_t kSumStrip = 64;
  for (int64_t j0 = 0; j0 < cols; j0 += kSumStrip) {
    const int64_t w = std::min(kSumStrip, cols - j0);
    for (int64_t r0 = 0; r0 < rows; r0 += kColumnSumRows) {
      float part[kSumStrip] = {};
      const int64_t r1 = std::min(rows, r0 + kColumnSumRows);
      if (w == kSumStrip) {
        for (int64_t r = r0; r < r1; ++r) {
          const float* __restrict row = m + r * ld + j0;
#pragma omp simd
          for (int64_t j = 0; j < kSumStrip; ++j) part[j] += row[j];
        }
      } else {
        for (int64_t r = r0; r < r1; ++r) {
          const float* __restrict row = m + r * ld + j0;
#pragma omp simd
          for (int64_t j = 0; j < w; ++j) part[j] += row[j];
        }
      }
      for (int64_t j = 0; j < w; ++j) acc[j0 + j] += part[j];
    }
  }
}

// Inputs narrower than this take narrow_dx for the input gradient: the GEMM
// pads its N axis (here the input width) to the register tile's 16 or 32
// columns, so at 4 inputs it computed 4-8x the useful products. The dot
// products' cost grows with the width and the GEMM's barely does; they meet
// near 8 (a GRU backward, batch 64, 64 units, one thread, avx512: 0.93 ms at
// 4 inputs and 1.02 ms at 7 by dot products, 1.05 ms at 8 by the GEMM).
constexpr int64_t kNarrowInput = 8;

// dx (n x I, ldx) = dG (n x GH) @ W^T with W the layer's kernel (I x GH,
// row-major): I dot products of length GH per row. Rows in pairs and inputs
// in fours give eight independent sums, enough to hide the FMA latency.
inline void narrow_dx(int64_t n, int64_t I, int64_t GH, const float* dg, const float* w,
                      float* dx, int64_t ldx) {
  int64_t r = 0;
  for (; r + 2 <= n; r += 2) {
    const float* __restrict g0 = dg + r * GH;
    const float* __restrict g1 = g0 + GH;
    for (int64_t i = 0; i < I; i += 4) {
      const float* __restrict w0 = w + i * GH;
      const float* __restrict w1 = i + 1 < I ? w0 + GH : w0;
      const float* __restrict w2 = i + 2 < I ? w0 + 2 * GH : w0;
      const float* __restrict w3 = i + 3 < I ? w0 + 3 * GH : w0;
      float a0 = 0, a1 = 0, a2 = 0, a3 = 0, b0 = 0, b1 = 0, b2 = 0, b3 = 0;
#pragma omp simd reduction(+ : a0, a1, a2, a3, b0, b1, b2, b3)
      for (int64_t p = 0; p < GH; ++p) {
        a0 += g0[p] * w0[p];
        a1 += g0[p] * w1[p];
        a2 += g0[p] * w2[p];
        a3 += g0[p] * w3[p];
        b0 += g1[p] * w0[p];
        b1 += g1[p] * w1[p];
        b2 += g1[p] * w2[p];
        b3 += g1[p] * w3[p];
      }
      const float ra[4] = {a0, a1, a2, a3}, rb[4] = {b0, b1, b2, b3};
      for (int64_t q = 0; q < 4 && i + q < I; ++q) {
        dx[r * ldx + i + q] = ra[q];
        dx[(r + 1) * ldx + i + q] = rb[q];
      }
    }
  }
  for (; r < n; ++r) {
    const float* __restrict g0 = dg + r * GH;
    for (int64_t i = 0; i < I; ++i) {
      const float* __restrict w0 = w + i * GH;
      float a0 = 0;
#pragma omp simd reduction(+ : a0)
      for (int64_t p = 0; p < GH; ++p) a0 += g0[p] * w0[p];
      dx[r * ldx + i] = a0;
    }
  }
}

// The output at a masked step: the previous output, or zero.
inline void masked_output(const float* prev, float* dst, bool zero, int64_t h) {
  if (zero)
    std::memset(dst, 0, static_cast<size_t>(h) * sizeof(float));
  else if (dst != prev)
    std::memcpy(dst, prev, static_cast<size_t>(h) * sizeof(float));
}

// carry += this step's output gradient (dys; nullptr: none at this step).
inline void add_output_grad(float* __restrict carry, const float* __restrict dys, int64_t h) {
  if (!dys) return;
#pragma omp simd
  for (int64_t j = 0; j < h; ++j) carry[j] += dys[j];
}

// Gradient reaching this step's output, and what passes on to the previous
// output: a masked step's output is the previous one (unless zeroed), so its
// gradient carries back. `carry` holds the carried gradient between steps.
inline void output_grad_masked(float* __restrict carry, const float* dys, bool zero, int64_t h) {
  if (zero)
    std::memset(carry, 0, static_cast<size_t>(h) * sizeof(float));
  else
    add_output_grad(carry, dys, h);
}

// ----------------------------------------------------------------------------
// Row passes.

// Save: training, where z's row is overwritten with the activated gates.
template <Act A, Act R, bool Save>
inline void lstm_fwd_row(float* __restrict z, const float* __restrict cp,
                         float* __restrict cn, float* __restrict hn, float* dst, int64_t H,
                         const ActParams& pa, const ActParams& pr) {
#pragma omp simd
  for (int64_t j = 0; j < H; ++j) {
    const float i = gate<R>(z[j], pr);
    const float f = gate<R>(z[H + j], pr);
    const float g = gate<A>(z[2 * H + j], pa);
    const float o = gate<R>(z[3 * H + j], pr);
    const float c = f * cp[j] + i * g;
    const float h = o * gate<A>(c, pa);
    cn[j] = c;
    hn[j] = h;
    dst[j] = h;
    if constexpr (Save) {
      z[j] = i;
      z[H + j] = f;
      z[2 * H + j] = g;
      z[3 * H + j] = o;
    }
  }
}

// z: the activated gates i, f, g, o the forward kept.
template <Act A, Act R>
inline void lstm_bwd_row(const float* __restrict z, const float* __restrict cp,
                         float* __restrict dh, float* __restrict dc, float* __restrict carry,
                         float* __restrict dg, int64_t H,
                         const ActParams& pa, const ActParams& pr) {
  (void)pr;
#pragma omp simd
  for (int64_t j = 0; j < H; ++j) {
    const float gh = dh[j] + carry[j];
    float tc, dtc;
    const float i = z[j], f = z[H + j], g = z[2 * H + j], o = z[3 * H + j];
    const float di = slope_of_value<R>(i), df = slope_of_value<R>(f);
    const float dgg = slope_of_value<A>(g), dO = slope_of_value<R>(o);
    const float c = f * cp[j] + i * g;
    value_and_slope<A>(c, pa, tc, dtc);
    const float dcn = gh * o * dtc + dc[j];
    dg[j] = dcn * g * di;
    dg[H + j] = dcn * cp[j] * df;
    dg[2 * H + j] = dcn * i * dgg;
    dg[3 * H + j] = gh * tc * dO;
    dc[j] = dcn * f;
    dh[j] = 0.0f;  // the recurrent GEMM adds dG @ U^T
    carry[j] = 0.0f;
  }
}

template <Act A, Act R, bool Save>
inline void gru_after_fwd_row(float* __restrict p, const float* __restrict s,
                              const float* __restrict hp, float* __restrict hn, float* dst,
                              float* __restrict inner, int64_t H, const ActParams& pa,
                              const ActParams& pr) {
#pragma omp simd
  for (int64_t j = 0; j < H; ++j) {
    const float zp = p[j] + s[j];
    const float rp = p[H + j] + s[H + j];
    const float z = gate<R>(zp, pr);
    const float r = gate<R>(rp, pr);
    const float hh = gate<A>(p[2 * H + j] + r * s[2 * H + j], pa);
    const float h = z * hp[j] + (1.0f - z) * hh;
    hn[j] = h;
    dst[j] = h;
    if constexpr (Save) {  // training: keep z, r, hh and the recurrent h-part for backward
      p[j] = z;
      p[H + j] = r;
      p[2 * H + j] = hh;
      inner[j] = s[2 * H + j];
    }
  }
}

template <Act A, Act R>
inline void gru_after_bwd_row(const float* __restrict p, const float* __restrict inner,
                              const float* __restrict hp, float* __restrict dh,
                              float* __restrict carry, float* __restrict dg,
                              float* __restrict dg2, int64_t H,
                              const ActParams& pa, const ActParams& pr) {
#pragma omp simd
  for (int64_t j = 0; j < H; ++j) {
    const float gh = dh[j] + carry[j];
    const float z = p[j], r = p[H + j], hh = p[2 * H + j], inh = inner[j];
    const float dz = slope_of_value<R>(z), dr = slope_of_value<R>(r), dhh = slope_of_value<A>(hh);
    const float dzp = gh * (hp[j] - hh) * dz;
    const float dhp = gh * (1.0f - z) * dhh;
    const float drp = dhp * inh * dr;
    dg[j] = dzp;
    dg[H + j] = drp;
    dg[2 * H + j] = dhp;
    dg2[j] = dzp;
    dg2[H + j] = drp;
    dg2[2 * H + j] = dhp * r;
    dh[j] = gh * z;
    carry[j] = 0.0f;
  }
}

// Both passes overwrite the pre-activations with the gates (kept in training).
template <Act R>
inline void gru_before_reset_row(float* __restrict p, const float* __restrict hp,
                                 float* __restrict rh, int64_t H, const ActParams& pr) {
#pragma omp simd
  for (int64_t j = 0; j < H; ++j) {
    const float r = gate<R>(p[H + j], pr);
    p[H + j] = r;
    rh[j] = r * hp[j];
  }
}

template <Act A, Act R>
inline void gru_before_fwd_row(float* __restrict p, const float* __restrict hp,
                               float* __restrict hn, float* dst, int64_t H, const ActParams& pa,
                               const ActParams& pr) {
#pragma omp simd
  for (int64_t j = 0; j < H; ++j) {
    const float z = gate<R>(p[j], pr);
    const float hh = gate<A>(p[2 * H + j], pa);
    const float h = z * hp[j] + (1.0f - z) * hh;
    hn[j] = h;
    dst[j] = h;
    p[j] = z;
    p[2 * H + j] = hh;
  }
}

template <Act A, Act R>
inline void gru_before_bwd_row1(const float* __restrict p, const float* __restrict hp,
                                float* __restrict dh, float* __restrict carry,
                                float* __restrict dg, int64_t H,
                                const ActParams& pa, const ActParams& pr) {
#pragma omp simd
  for (int64_t j = 0; j < H; ++j) {
    const float gh = dh[j] + carry[j];
    const float z = p[j], hh = p[2 * H + j];
    dg[j] = gh * (hp[j] - hh) * slope_of_value<R>(z);
    dg[2 * H + j] = gh * (1.0f - z) * slope_of_value<A>(hh);
    dh[j] = gh * z;
    carry[j] = 0.0f;
  }
}

template <Act R>
inline void gru_before_bwd_row2(const float* __restrict p, const float* __restrict hp,
                                const float* __restrict drh, float* __restrict dh,
                                float* __restrict dg, int64_t H, const ActParams& pr) {
#pragma omp simd
  for (int64_t j = 0; j < H; ++j) {
    const float r = p[H + j];
    dg[H + j] = drh[j] * hp[j] * slope_of_value<R>(r);
    dh[j] += drh[j] * r;
  }
}

// ----------------------------------------------------------------------------
// Per-chunk drivers. Row r of the chunk is batch row b0 + r. The user's arrays
// (x, y, dy, dx, mask) are batch-major, (b, t) at b * T + t; the kernel's own
// buffers (P, Hprev, extra, dG, dG2) are time-major, (b, t) at t * B + b, so
// one step's rows of a chunk are contiguous: the step GEMMs write a dense block
// and the pointwise pass walks consecutive rows instead of rows T * width apart
// (which cost L1 sets and a TLB entry per row).

struct Chunk {
  int64_t b0, n, B, T, H, gh;
  int64_t t_of(int64_t s, bool back) const { return back ? T - 1 - s : s; }
  int64_t user(int64_t r, int64_t t) const { return (b0 + r) * T + t; }  // batch-major
  int64_t own(int64_t r, int64_t t) const { return t * B + b0 + r; }     // time-major
};

template <Act A, Act R>
void forward_rows_t(const RnnForward& f, const RnnPlan& pl, int64_t b0, int64_t b1) {
  const RnnConfig& c = f.cfg;
  const Chunk k{b0, b1 - b0, c.batch, c.time, c.units, pl.gh};
  const int64_t n = k.n, H = k.H, T = k.T, GH = k.gh, I = c.input;
  const bool lstm = c.cell == RnnCell::lstm, after = c.reset_after;
  const bool train = pl.hprev != nullptr, rs = c.return_sequences, zero = c.zero_output_for_mask;
  float* base = pl.scratch + b0 * pl.scratch_per_row;
  float* hb[2] = {base, base + n * H};
  float* cb[2] = {base + 2 * n * H, base + 3 * n * H};
  float* out = base + 4 * n * H;       // previous output (zeros before the first step)
  float* tmp = base + 5 * n * H;       // GRU: n x GH (reset_after) or n x H (r * h)
  float* pbuf = tmp + n * GH;          // inference: this step's n x GH pre-activations
  fill_rows(hb[0], f.h0 ? f.h0 + b0 * H : nullptr, n, H);
  if (lstm) fill_rows(cb[0], f.c0 ? f.c0 + b0 * H : nullptr, n, H);
  std::memset(out, 0, static_cast<size_t>(n * H) * sizeof(float));

  for (int64_t s = 0; s < T; ++s) {
    const int64_t t = k.t_of(s, c.go_backwards);
    float* hp = hb[s & 1];
    float* hn = hb[(s + 1) & 1];
    float* cp = cb[s & 1];
    float* cn = cb[(s + 1) & 1];
    // This step's pre-activations, n x GH contiguous: kept in training.
    float* pt = train ? pl.p + k.own(0, t) * GH : pbuf;
    if (train) {
      std::memcpy(pl.hprev + k.own(0, t) * H, hp, static_cast<size_t>(n * H) * sizeof(float));
      if (lstm) std::memcpy(pl.extra + k.own(0, t) * H, cp, static_cast<size_t>(n * H) * sizeof(float));
    }
    // The input projection x_t W + b for this step's rows, then the recurrent
    // part onto it while the block is still in cache.
    step_gemm(n, GH, I, f.x ? f.x + k.user(0, t) * I : nullptr, T * I, f.kernel, GH, pt, GH,
              false, f.bias);
    if (lstm) {
      step_gemm(n, GH, H, hp, H, f.recurrent, GH, pt, GH, true);
    } else if (after) {
      step_gemm(n, GH, H, hp, H, f.recurrent, GH, tmp, GH, false, pl.rec_bias);
    } else {
      step_gemm(n, 2 * H, H, hp, H, f.recurrent, GH, pt, GH, true);
      float* rh = train ? pl.extra + k.own(0, t) * H : tmp;
      for (int64_t r = 0; r < n; ++r)
        gru_before_reset_row<R>(pt + r * GH, hp + r * H, rh + r * H, H, c.rec_act);
      step_gemm(n, H, H, rh, H, f.recurrent + 2 * H, GH, pt + 2 * H, GH, true);
    }
    for (int64_t r = 0; r < n; ++r) {
      float* prow = pt + r * GH;
      float* dst = rs ? f.y + k.user(r, s) * H : out + r * H;
      const float* prev = rs ? (s == 0 ? out + r * H : f.y + k.user(r, s - 1) * H) : dst;
      const bool m = !f.mask || f.mask[k.user(r, t)] != 0;
      if (!m) {
        std::memcpy(hn + r * H, hp + r * H, static_cast<size_t>(H) * sizeof(float));
        if (lstm) std::memcpy(cn + r * H, cp + r * H, static_cast<size_t>(H) * sizeof(float));
        masked_output(prev, dst, zero, H);
        continue;
      }
      if (lstm && train) {
        lstm_fwd_row<A, R, true>(prow, cp + r * H, cn + r * H, hn + r * H, dst, H, c.act, c.rec_act);
      } else if (lstm) {
        lstm_fwd_row<A, R, false>(prow, cp + r * H, cn + r * H, hn + r * H, dst, H, c.act, c.rec_act);
      } else if (after && train) {
        gru_after_fwd_row<A, R, true>(prow, tmp + r * GH, hp + r * H, hn + r * H, dst,
                                      pl.extra + k.own(r, t) * H, H, c.act, c.rec_act);
      } else if (after) {
        gru_after_fwd_row<A, R, false>(prow, tmp + r * GH, hp + r * H, hn + r * H, dst, nullptr,
                                       H, c.act, c.rec_act);
      } else {
        gru_before_fwd_row<A, R>(prow, hp + r * H, hn + r * H, dst, H, c.act, c.rec_act);
      }
    }
  }
  if (f.h_out) std::memcpy(f.h_out + b0 * H, hb[T & 1], static_cast<size_t>(n * H) * sizeof(float));
  if (lstm && f.c_out)
    std::memcpy(f.c_out + b0 * H, cb[T & 1], static_cast<size_t>(n * H) * sizeof(float));
  if (!rs) std::memcpy(f.y + b0 * H, out, static_cast<size_t>(n * H) * sizeof(float));
}

template <Act A, Act R>
void backward_rows_t(const RnnBackward& a, const RnnPlan& pl, int64_t b0, int64_t b1) {
  const RnnConfig& c = a.cfg;
  const Chunk k{b0, b1 - b0, c.batch, c.time, c.units, pl.gh};
  const int64_t n = k.n, H = k.H, T = k.T, GH = k.gh, I = c.input;
  const bool lstm = c.cell == RnnCell::lstm, after = c.reset_after;
  const bool rs = c.return_sequences, zero = c.zero_output_for_mask;
  float* base = pl.scratch + b0 * pl.scratch_per_row;
  float* dh = base;
  float* dc = base + n * H;
  float* carry = base + 2 * n * H;  // gradient on the previous output (see output_grad_masked)
  float* drh = base + 3 * n * H;
  fill_rows(dh, a.dh_out ? a.dh_out + b0 * H : nullptr, n, H);
  if (lstm) fill_rows(dc, a.dc_out ? a.dc_out + b0 * H : nullptr, n, H);
  // Without sequences, dy is the gradient on the last output.
  fill_rows(carry, !rs && a.dy ? a.dy + b0 * H : nullptr, n, H);

  for (int64_t s = T - 1; s >= 0; --s) {
    const int64_t t = k.t_of(s, c.go_backwards);
    const float* pt = pl.p + k.own(0, t) * GH;
    const float* ext = pl.extra + k.own(0, t) * H;
    const float* hpt = pl.hprev + k.own(0, t) * H;
    float* dgt = pl.dg + k.own(0, t) * GH;
    float* dg2t = pl.dg2 ? pl.dg2 + k.own(0, t) * GH : nullptr;
    for (int64_t r = 0; r < n; ++r) {
      const float* dys = rs && a.dy ? a.dy + k.user(r, s) * H : nullptr;
      float* dgr = dgt + r * GH;
      const bool m = !a.mask || a.mask[k.user(r, t)] != 0;
      if (!m) {
        output_grad_masked(carry + r * H, dys, zero, H);
        std::memset(dgr, 0, static_cast<size_t>(GH) * sizeof(float));
        if (dg2t) std::memset(dg2t + r * GH, 0, static_cast<size_t>(GH) * sizeof(float));
        continue;
      }
      const float* prow = pt + r * GH;
      // This step's output gradient joins the carried one first: the row
      // passes then read no pointer that may be null (a select on one would
      // vectorise to masked loads, which fault-assist on every null access).
      add_output_grad(carry + r * H, dys, H);
      if (lstm) {
        lstm_bwd_row<A, R>(prow, ext + r * H, dh + r * H, dc + r * H, carry + r * H, dgr, H,
                           c.act, c.rec_act);
      } else if (after) {
        gru_after_bwd_row<A, R>(prow, ext + r * H, hpt + r * H, dh + r * H, carry + r * H, dgr,
                                dg2t + r * GH, H, c.act, c.rec_act);
      } else {
        gru_before_bwd_row1<A, R>(prow, hpt + r * H, dh + r * H, carry + r * H, dgr, H, c.act,
                                  c.rec_act);
      }
    }
    if (lstm) {
      step_gemm(n, H, GH, dgt, GH, pl.ut, H, dh, H, true);
    } else if (after) {
      step_gemm(n, H, GH, dg2t, GH, pl.ut, H, dh, H, true);
    } else {
      // d(r*h) = dhh_pre @ U_h^T, then the reset gate's share, then dG_zr @ U_zr^T.
      step_gemm(n, H, H, dgt + 2 * H, GH, pl.ut + 2 * H * H, H, drh, H, false);
      for (int64_t r = 0; r < n; ++r) {
        if (a.mask && a.mask[k.user(r, t)] == 0) continue;
        gru_before_bwd_row2<R>(pt + r * GH, hpt + r * H, drh + r * H, dh + r * H, dgt + r * GH, H,
                               c.rec_act);
      }
      step_gemm(n, H, 2 * H, dgt, GH, pl.ut, H, dh, H, true);
    }
    // dx_t = dG_t W^T for this step's rows while dG_t is in cache (rows of a
    // fixed t are T * I apart in the batch-major dx).
    if (a.dx && I > 0) {
      if (I < kNarrowInput)
        narrow_dx(n, I, GH, dgt, a.kernel, a.dx + k.user(0, t) * I, T * I);
      else
        step_gemm(n, I, GH, dgt, GH, pl.wt, I, a.dx + k.user(0, t) * I, T * I, false);
    }
  }
  if (a.dh0) std::memcpy(a.dh0 + b0 * H, dh, static_cast<size_t>(n * H) * sizeof(float));
  if (lstm && a.dc0) std::memcpy(a.dc0 + b0 * H, dc, static_cast<size_t>(n * H) * sizeof(float));
}

// The activations with fused loops (rnn_supports in rnn.cc lists the same).
template <typename Fn>
void dispatch_rnn_act(Act kind, Fn&& fn) {
  switch (kind) {
    case Act::linear: return fn(std::integral_constant<Act, Act::linear>{});
    case Act::relu: return fn(std::integral_constant<Act, Act::relu>{});
    case Act::sigmoid: return fn(std::integral_constant<Act, Act::sigmoid>{});
    case Act::tanh: return fn(std::integral_constant<Act, Act::tanh>{});
    case Act::hard_sigmoid: return fn(std::integral_constant<Act, Act::hard_sigmoid>{});
    default: throw Error(std::string("recurrent kernels have no loop for activation ") +
                         act_name(kind));
  }
}

inline void forward_rows(const RnnForward& f, const RnnPlan& pl, int64_t b0, int64_t b1) {
  dispatch_rnn_act(f.cfg.act.kind, [&](auto a) {
    dispatch_rnn_act(f.cfg.rec_act.kind, [&](auto r) {
      forward_rows_t<decltype(a)::value, decltype(r)::value>(f, pl, b0, b1);
    });
  });
}

inline void backward_rows(const RnnBackward& b, const RnnPlan& pl, int64_t b0, int64_t b1) {
  dispatch_rnn_act(b.cfg.act.kind, [&](auto a) {
    dispatch_rnn_act(b.cfg.rec_act.kind, [&](auto r) {
      backward_rows_t<decltype(a)::value, decltype(r)::value>(b, pl, b0, b1);
    });
  });
}

}  // namespace rnn_detail
}  // namespace zoo::ZOO_ISA_NS
