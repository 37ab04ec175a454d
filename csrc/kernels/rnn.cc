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

// Chunks of the batch for the recurrence: one per thread, at least
// kGemmSmallRows (4) rows each, the GEMM's smallest register tile (fewer rows
// would do a whole tile's FMAs for them anyway), so a batch under 8 stays on
// one thread. Not 8 (the full AVX-512 tile) since that small tile exists:
// batch 8-15 on two threads, LSTM of 128 units at batch 8 1.9x faster forward.
int64_t num_chunks(int64_t batch, int threads) {
  return std::max<int64_t>(1, std::min<int64_t>(threads, batch / kGemmSmallRows));
}

template <typename Fn>
void run_chunks(int64_t batch, const Parallel& par, Fn&& fn) {
  if (batch == 0) return;
  const int64_t chunks = num_chunks(batch, par.num_threads());
  par.run(chunks, [&](int64_t i) { fn(batch * i / chunks, batch * (i + 1) / chunks); });
}

// C (m x n, ldc) [+]= A^T B on this thread, A (k x m, lda) and B (k x n, ldb)
// row-major: the weight gradients' products over the (time, batch) rows.
void gemm_at_b(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b,
               int64_t ldb, float* c, int64_t ldc, bool accumulate) {
  Gemm g;
  g.m = m;
  g.n = n;
  g.k = k;
  g.a = a;
  g.lda = lda;
  g.trans_a = true;
  g.b = b;
  g.ldb = ldb;
  g.c = c;
  g.ldc = ldc;
  g.accumulate = accumulate;
  gemm(g, Serial());
}

// ---- The weight gradients, in one pass over the gate gradients.
//
// dW = X^T dG, dU = Hprev^T dG and db = the column sums of dG, over all B*T
// (time, batch) rows (GRU reset_after: dU and the recurrent bias row from dG2;
// GRU reset_after=False: dU's candidate columns from (r * h)^T dG). As three
// separate products they read the B*T x G*H gate gradients from memory three
// times (3.3 MB each for one lstm_classifier layer) and synchronised the
// threads four times. Here the columns are split across tasks once, and each
// task walks the rows in blocks of kWgradRows, forming every product of a
// block while the block is in its core's L2. A column's sums run over the rows
// in order whatever the task count, so results do not depend on it; the bias
// sums are column_sums_add's groups, as in one call over all rows.
constexpr int64_t kWgradRows = 4 * kColumnSumRows;

int64_t wgrad_tasks(int64_t gh, const Parallel& par) {
  return std::max<int64_t>(1, std::min<int64_t>(par.num_threads(), gh / 64));
}

// Floats of scratch per task: a block of x in time-major order and two rows
// of double bias sums (GRU reset_after has two bias rows). Even, so that each
// task's doubles are 8-byte aligned.
int64_t wgrad_scratch_floats(const RnnConfig& c) {
  return kWgradRows * c.input + 4 * rnn_gates(c) * c.units;
}

void weight_gradients(const RnnBackward& a, const RnnPlan& pl, const RnnKernels& kr,
                      float* scratch, const Parallel& par) {
  const RnnConfig& c = a.cfg;
  const int64_t B = c.batch, T = c.time, I = c.input, H = c.units, GH = pl.gh, BT = B * T;
  const bool lstm = c.cell == RnnCell::lstm, after = !lstm && c.reset_after;
  float* dw = I > 0 ? a.dkernel : nullptr;
  if (BT == 0) {  // no rows: every gradient is zero
    if (dw) std::fill(dw, dw + I * GH, 0.0f);
    if (a.drecurrent) std::fill(a.drecurrent, a.drecurrent + H * GH, 0.0f);
    if (a.dbias) std::fill(a.dbias, a.dbias + rnn_bias_size(c), 0.0f);
    return;
  }
  if (!dw && !a.drecurrent && !a.dbias) return;
  const int64_t tasks = wgrad_tasks(GH, par), per_task = wgrad_scratch_floats(c);
  par.run(tasks, [&](int64_t task) {
    // Column bounds on multiples of 16 (the GEMM's register tile is 16 or 32 wide).
    auto bound = [&](int64_t i) { return i == tasks ? GH : (GH * i / tasks) / 16 * 16; };
    const int64_t j0 = bound(task), j1 = bound(task + 1), n = j1 - j0;
    float* xb = scratch + task * per_task;
    double* sums = reinterpret_cast<double*>(xb + kWgradRows * I);  // an even offset
    std::fill(sums, sums + 2 * n, 0.0);
    for (int64_t r0 = 0; r0 < BT; r0 += kWgradRows) {
      const int64_t rows = std::min(kWgradRows, BT - r0);
      const bool acc = r0 > 0;
      const float* g = pl.dg + r0 * GH + j0;
      if (dw) {
        // The block's rows of x, (t, b) at row t * B + b as the buffers hold them.
        // A loop, not memcpy: rows are I floats, often 1-16.
        for (int64_t r = 0; r < rows; ++r) {
          const int64_t t = (r0 + r) / B, b = (r0 + r) % B;
          const float* __restrict src = a.x + (b * T + t) * I;
          float* __restrict d = xb + r * I;
          for (int64_t j = 0; j < I; ++j) d[j] = src[j];
        }
        gemm_at_b(I, n, rows, xb, I, g, GH, dw + j0, GH, acc);
      }
      if (a.drecurrent) {
        const float* hp = pl.hprev + r0 * H;
        if (lstm) {
          gemm_at_b(H, n, rows, hp, H, g, GH, a.drecurrent + j0, GH, acc);
        } else if (after) {
          gemm_at_b(H, n, rows, hp, H, pl.dg2 + r0 * GH + j0, GH, a.drecurrent + j0, GH, acc);
        } else {  // gates z, r from h; the candidate from r * h (the reserve's extra)
          const int64_t split = std::clamp<int64_t>(2 * H, j0, j1);
          if (split > j0)
            gemm_at_b(H, split - j0, rows, hp, H, g, GH, a.drecurrent + j0, GH, acc);
          if (j1 > split)
            gemm_at_b(H, j1 - split, rows, pl.extra + r0 * H, H, pl.dg + r0 * GH + split, GH,
                      a.drecurrent + split, GH, acc);
        }
      }
      if (a.dbias) {
        kr.column_sums_add(g, rows, n, GH, sums);
        if (after) kr.column_sums_add(pl.dg2 + r0 * GH + j0, rows, n, GH, sums + n);
      }
    }
    if (a.dbias) {
      for (int64_t j = 0; j < n; ++j) a.dbias[j0 + j] = static_cast<float>(sums[j]);
      if (after)
        for (int64_t j = 0; j < n; ++j) a.dbias[GH + j0 + j] = static_cast<float>(sums[n + j]);
    }
  });
}

// Floats of per-row scratch the per-chunk loops use (rnn_impl.h lays it out).
int64_t scratch_per_row(const RnnConfig& c) { return 5 * c.units + 2 * rnn_gates(c) * c.units; }

// dst (cols x rows) = src (rows x cols)^T, both row-major, in square tiles:
// element by element, each store of a row of src lands `rows` floats from the
// last, a new cache line every time, and U^T of a 512-unit LSTM (4 MB) took
// 11 % of the layer's forward + backward that way. A tile's lines stay in L1
// while it is read and written. Tasks take whole column tiles.
void transpose(const float* src, int64_t rows, int64_t cols, float* dst, const Parallel& par) {
  constexpr int64_t kTile = 32;
  const int64_t col_tiles = (cols + kTile - 1) / kTile;
  // Below a few hundred KB a parallel call would cost more than it saves.
  const int64_t tasks = rows * cols < (int64_t{1} << 16)
                            ? 1
                            : std::min<int64_t>(par.num_threads(), col_tiles);
  auto body = [&](int64_t task) {
    const int64_t c_begin = col_tiles * task / tasks * kTile;
    const int64_t c_end = std::min(cols, col_tiles * (task + 1) / tasks * kTile);
    for (int64_t j0 = c_begin; j0 < c_end; j0 += kTile) {
      const int64_t j1 = std::min(c_end, j0 + kTile);
      for (int64_t r0 = 0; r0 < rows; r0 += kTile) {
        const int64_t r1 = std::min(rows, r0 + kTile);
        for (int64_t j = j0; j < j1; ++j)
          for (int64_t r = r0; r < r1; ++r) dst[j * rows + r] = src[r * cols + j];
      }
    }
  };
  if (tasks == 1)
    body(0);
  else
    par.run(tasks, body);
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
  const bool after = c.cell == RnnCell::gru && c.reset_after;

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
  Workspace ws({GH * H, GH * I, BT * GH, after ? BT * GH : 0, B * scratch_per_row(c),
                wgrad_tasks(GH, par) * wgrad_scratch_floats(c)});
  transpose(a.recurrent, H, GH, ws[0], par);
  pl.ut = ws[0];
  if (a.dx && I > 0) transpose(a.kernel, I, GH, ws[1], par);  // read by the dx GEMM only
  pl.wt = ws[1];
  pl.dg = ws[2];
  pl.dg2 = after ? ws[3] : nullptr;
  pl.scratch = ws[4];
  pl.scratch_per_row = scratch_per_row(c);

  const RnnKernels& kr = rnn_kernels_for(active_isa());
  run_chunks(B, par, [&](int64_t b0, int64_t b1) { kr.backward_rows(a, pl, b0, b1); });
  weight_gradients(a, pl, kr, ws[5], par);
}

}  // namespace zoo
