// Validation, buffers, ISA dispatch and the large GEMMs of the recurrent
// kernels (rnn.h); the per-step loops live in rnn_impl.h, compiled per ISA.
#include "rnn.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "cpu_features.h"
#include "gemm.h"
#include "workspace.h"

namespace zoo {

namespace {

const RnnKernels& rnn_kernels_for(Isa isa) {
  switch (isa) {
#if defined(ZOO_HAVE_AVX512)
    case Isa::avx512: return avx512::rnn_kernels;
#endif
#if defined(ZOO_HAVE_AVX2)
    case Isa::avx2: return avx2::rnn_kernels;
#endif
    default: return scalar::rnn_kernels;
  }
}

bool default_params(const ActParams& p) {
  return p.alpha == 0.0f && p.threshold == 0.0f && p.max_value == vm::kInf;
}

void check_config(const RnnConfig& c) {
  ZOO_CHECK(c.cell == RnnCell::lstm || c.cell == RnnCell::gru, "unknown recurrent cell");
  ZOO_CHECK(c.batch >= 0 && c.input >= 0, "batch and input sizes must be >= 0, got batch=" +
                                              std::to_string(c.batch) + " input=" + std::to_string(c.input));
  ZOO_CHECK(c.time >= 1, "a sequence needs at least one time step, got " + std::to_string(c.time));
  ZOO_CHECK(c.units >= 1, "units must be >= 1, got " + std::to_string(c.units));
  constexpr int64_t kMax = int64_t{1} << 31;
  ZOO_CHECK(c.batch < kMax && c.time < kMax && c.input < kMax && c.units < kMax / 4,
            "recurrent kernel size above 2^31");
  ZOO_CHECK(static_cast<double>(c.batch) * c.time * 4 * c.units < 1e15,
            "recurrent kernel buffers would exceed 2^50 floats");
  check_act_params(c.act);
  check_act_params(c.rec_act);
  ZOO_CHECK(rnn_supports(c.act.kind, c.rec_act.kind) && default_params(c.act) &&
                default_params(c.rec_act),
            std::string("recurrent kernels support activation and recurrent_activation among "
                        "linear, relu, sigmoid, tanh, hard_sigmoid (default parameters); got ") +
                act_name(c.act.kind) + " and " + act_name(c.rec_act.kind));
}

// Chunks of the batch for the recurrence: one per thread, at least 8 rows
// each (one AVX-512 register tile), so a small batch stays on one thread.
int64_t num_chunks(int64_t batch, int threads) {
  return std::max<int64_t>(1, std::min<int64_t>(threads, batch / 8));
}

template <typename Fn>
void run_chunks(int64_t batch, const Parallel& par, Fn&& fn) {
  if (batch == 0) return;
  const int64_t chunks = num_chunks(batch, par.num_threads());
  par.run(chunks, [&](int64_t i) { fn(batch * i / chunks, batch * (i + 1) / chunks); });
}

// Sums over the rows of an (rows x cols) matrix into out (cols), columns split
// across tasks; each column's order of additions is fixed (rnn_impl.h), so any
// thread count and any ISA agree.
void column_sums(const RnnKernels& kr, const float* m, int64_t rows, int64_t cols, int64_t ld,
                 float* out, const Parallel& par) {
  const int64_t tasks = std::max<int64_t>(1, std::min<int64_t>(par.num_threads(), cols / 64));
  par.run(tasks, [&](int64_t i) {
    const int64_t j0 = cols * i / tasks, j1 = cols * (i + 1) / tasks;
    kr.column_sums(m + j0, rows, j1 - j0, ld, out + j0);
  });
}

void gemm_call(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, bool ta,
               const float* b, int64_t ldb, bool tb, float* c, int64_t ldc, const float* bias,
               const Parallel& par) {
  Gemm g;
  g.m = m;
  g.n = n;
  g.k = k;
  g.a = a;
  g.lda = lda;
  g.trans_a = ta;
  g.b = b;
  g.ldb = ldb;
  g.trans_b = tb;
  g.c = c;
  g.ldc = ldc;
  g.bias = bias;
  gemm(g, par);
}

// Floats of per-row scratch the per-chunk loops use (rnn_impl.h lays it out).
int64_t scratch_per_row(const RnnConfig& c) { return 5 * c.units + 2 * rnn_gates(c) * c.units; }

// dst (cols x rows) = src (rows x cols)^T, both row-major.
void transpose(const float* src, int64_t rows, int64_t cols, float* dst) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < cols; ++j) dst[j * rows + r] = src[r * cols + j];
}

void need(bool ok, const char* what) { ZOO_CHECK(ok, std::string(what) + " pointer is null"); }

}  // namespace

int64_t rnn_gates(const RnnConfig& c) { return c.cell == RnnCell::lstm ? 4 : 3; }

int64_t rnn_bias_size(const RnnConfig& c) {
  if (c.cell == RnnCell::lstm) return 4 * c.units;
  return (c.reset_after ? 6 : 3) * c.units;
}

// Layout: P (B*T*GH), Hprev (B*T*H), extra (B*T*H).
int64_t rnn_reserve_floats(const RnnConfig& c) {
  return c.batch * c.time * (rnn_gates(c) + 2) * c.units;
}

bool rnn_supports(Act a, Act r) {
  auto ok = [](Act k) {
    return k == Act::linear || k == Act::relu || k == Act::sigmoid || k == Act::tanh ||
           k == Act::hard_sigmoid;
  };
  return ok(a) && ok(r);
}

void rnn_forward(const RnnForward& f, const Parallel& par) {
  const RnnConfig& c = f.cfg;
  check_config(c);
  const int64_t B = c.batch, T = c.time, I = c.input, H = c.units, GH = rnn_gates(c) * H;
  if (B == 0) return;
  need(f.y != nullptr, "y");
  if (I > 0) need(f.x != nullptr, "x");
  if (I > 0) need(f.kernel != nullptr, "kernel");
  need(f.recurrent != nullptr, "recurrent kernel");

  RnnPlan pl;
  pl.gh = GH;
  if (f.reserve) {  // otherwise each chunk keeps one step's pre-activations in its scratch
    pl.p = f.reserve;
    pl.hprev = f.reserve + B * T * GH;
    pl.extra = pl.hprev + B * T * H;
  }
  const bool after = c.cell == RnnCell::gru && c.reset_after;
  if (after && f.bias) pl.rec_bias = f.bias + GH;
  // Uninitialised: every element is written before it is read.
  Workspace ws({B * scratch_per_row(c)});
  pl.scratch = ws[0];
  pl.scratch_per_row = scratch_per_row(c);

  const RnnKernels& kr = rnn_kernels_for(active_isa());
  run_chunks(B, par, [&](int64_t b0, int64_t b1) { kr.forward_rows(f, pl, b0, b1); });
}

void rnn_backward(const RnnBackward& a, const Parallel& par) {
  const RnnConfig& c = a.cfg;
  check_config(c);
  const int64_t B = c.batch, T = c.time, I = c.input, H = c.units, GH = rnn_gates(c) * H;
  const int64_t BT = B * T;
  need(a.recurrent != nullptr, "recurrent kernel");
  if (I > 0) need(a.kernel != nullptr, "kernel");
  if (B > 0 && I > 0) need(a.x != nullptr, "x");
  if (B > 0) need(a.reserve != nullptr, "reserve");
  const bool lstm = c.cell == RnnCell::lstm, after = !lstm && c.reset_after;

  RnnPlan pl;
  pl.gh = GH;
  pl.p = const_cast<float*>(a.reserve);  // read only in backward
  if (B > 0) {
    pl.hprev = pl.p + BT * GH;
    pl.extra = pl.hprev + BT * H;
  }
  // U^T (GH x H), so the per-step dh GEMM reads its B operand row-major in place.
  // W^T (GH x I) likewise for the per-step dx GEMM. All of it uninitialised:
  // every element is written before it is read (zero-filling B*T*GH floats
  // would cost a pass over memory per call).
  const bool want_dw = a.dkernel && BT > 0 && I > 0;
  Workspace ws({GH * H, GH * I, BT * GH, after ? BT * GH : 0, B * scratch_per_row(c),
                want_dw ? BT * I : 0});
  transpose(a.recurrent, H, GH, ws[0]);
  pl.ut = ws[0];
  if (a.dx && I > 0) transpose(a.kernel, I, GH, ws[1]);  // read by the dx GEMM only
  pl.wt = ws[1];
  pl.dg = ws[2];
  pl.dg2 = after ? ws[3] : nullptr;
  pl.scratch = ws[4];
  pl.scratch_per_row = scratch_per_row(c);

  const RnnKernels& kr = rnn_kernels_for(active_isa());
  run_chunks(B, par, [&](int64_t b0, int64_t b1) { kr.backward_rows(a, pl, b0, b1); });

  // The weight gradients over all (time, batch) rows, in the buffers' time-major
  // order: dW needs x in that order too.
  if (want_dw) {
    float* xt = ws[5];
    const int64_t tasks = std::max<int64_t>(1, std::min<int64_t>(par.num_threads(), T));
    par.run(tasks, [&](int64_t i) {
      // A loop, not memcpy: rows are I floats, often 1-16, and a library
      // call per row cost more than the copy.
      for (int64_t t = T * i / tasks; t < T * (i + 1) / tasks; ++t)
        for (int64_t b = 0; b < B; ++b) {
          float* __restrict d = xt + (t * B + b) * I;
          const float* __restrict src = a.x + (b * T + t) * I;
          for (int64_t j = 0; j < I; ++j) d[j] = src[j];
        }
    });
    gemm_call(I, GH, BT, xt, I, true, pl.dg, GH, false, a.dkernel, GH, nullptr, par);
  } else if (a.dkernel && I > 0) {
    std::fill(a.dkernel, a.dkernel + I * GH, 0.0f);
  }
  if (a.drecurrent) {
    if (lstm || after) {
      gemm_call(H, GH, BT, pl.hprev, H, true, after ? pl.dg2 : pl.dg, GH, false, a.drecurrent, GH,
                nullptr, par);
    } else {
      gemm_call(H, 2 * H, BT, pl.hprev, H, true, pl.dg, GH, false, a.drecurrent, GH, nullptr, par);
      gemm_call(H, H, BT, pl.extra, H, true, pl.dg + 2 * H, GH, false, a.drecurrent + 2 * H, GH,
                nullptr, par);
    }
  }
  if (a.dbias) {
    column_sums(kr, pl.dg, BT, GH, GH, a.dbias, par);
    if (after) column_sums(kr, pl.dg2, BT, GH, GH, a.dbias + GH, par);
  }
}

}  // namespace zoo
