// Fused dense forward and backward over the GEMM core: the argument checks,
// the dz/db pass and the three GEMM calls (see dense.h).
#include "dense.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "bias_act.h"
#include "gemm.h"

namespace zoo {

namespace {

void check_sizes(int64_t m, int64_t k, int64_t n) {
  ZOO_CHECK(m >= 0 && k >= 0 && n >= 0,
            "dense sizes must be >= 0, got M=" + std::to_string(m) + " K=" + std::to_string(k) +
                " N=" + std::to_string(n));
  // The GEMM's limit, checked before M * N is formed (it would overflow int64
  // for sizes no buffer has: UBSan found that in dense_backward).
  constexpr int64_t kMaxDim = int64_t{1} << 31;
  ZOO_CHECK(m < kMaxDim && k < kMaxDim && n < kMaxDim, "dense size above 2^31");
}

void need(bool ok, const char* what) {
  ZOO_CHECK(ok, std::string(what) + " pointer is null");
}

// Rows per dz/db chunk: a function of M alone (at most 256 chunks), so db's
// summation order is the same for every thread count.
int64_t rows_per_chunk(int64_t m, int64_t n) {
  const int64_t by_size = std::max<int64_t>(1, 16384 / std::max<int64_t>(n, 1));
  return std::max(by_size, (m + 255) / 256);
}

}  // namespace

void dense_forward(const DenseForward& a, const Parallel& par) {
  check_sizes(a.m, a.k, a.n);
  check_act_params(a.act);
  if (a.m > 0 && a.n > 0) need(a.y != nullptr, "y");
  if (a.m > 0 && a.k > 0) need(a.x != nullptr, "x");
  if (a.k > 0 && a.n > 0) need(a.w != nullptr, "W");
  Gemm g;
  g.m = a.m;
  g.n = a.n;
  g.k = a.k;
  g.a = a.x;
  g.lda = a.k;
  g.b = a.w;
  g.ldb = a.n;
  g.c = a.y;
  g.ldc = a.n;
  g.bias = a.bias;
  g.preact = a.preact;
  g.ldp = a.n;
  g.act = a.act;
  gemm(g, par);
}

void dense_backward(const DenseBackward& a, const Parallel& par) {
  check_sizes(a.m, a.k, a.n);
  check_act_params(a.act);
  const bool linear = a.act.kind == Act::linear;
  const int64_t mn = a.m * a.n;
  if (mn > 0) need(a.dy != nullptr, "dy");
  if (a.m > 0 && a.k > 0) need(a.x != nullptr, "x");
  if (a.k > 0 && a.n > 0) need(a.w != nullptr, "W");
  if (a.dx) ZOO_CHECK(a.m * a.k == 0 || a.dx != a.x, "dx must not alias x");

  // z, when it must be recomputed: one GEMM with the bias epilogue only.
  std::vector<float> zbuf;
  const float* z = a.preact;
  if (!linear && !z && mn > 0) {
    zbuf.resize(static_cast<size_t>(mn));
    DenseForward f;
    f.x = a.x;
    f.w = a.w;
    f.bias = a.bias;
    f.y = zbuf.data();
    f.m = a.m;
    f.k = a.k;
    f.n = a.n;
    dense_forward(f, par);
    z = zbuf.data();
  }

  // dz = dy * act'(z) and db's per-chunk partial sums in one pass over row
  // chunks (each chunk stays in cache between the two). Linear: dz is dy.
  std::vector<float> dzbuf;
  const float* dz = a.dy;
  if (!linear && mn > 0) dzbuf.resize(static_cast<size_t>(mn));
  const int64_t rows = rows_per_chunk(a.m, a.n);
  const int64_t chunks = a.m == 0 ? 0 : (a.m + rows - 1) / rows;
  std::vector<float> partial(a.db ? static_cast<size_t>(chunks * a.n) : 0, 0.0f);
  if (mn > 0 && (!linear || a.db)) {
    par.run(chunks, [&](int64_t t) {
      const int64_t r0 = t * rows, r1 = std::min(a.m, r0 + rows);
      const float* src = a.dy + r0 * a.n;
      if (!linear) {
        float* dst = dzbuf.data() + r0 * a.n;
        std::memcpy(dst, src, static_cast<size_t>((r1 - r0) * a.n) * sizeof(float));
        act_backward_f32(dst, z + r0 * a.n, (r1 - r0) * a.n, a.act);
        src = dst;
      }
      if (a.db) {
        float* acc = partial.data() + t * a.n;
        for (int64_t r = r0; r < r1; ++r, src += a.n) {
#pragma omp simd
          for (int64_t j = 0; j < a.n; ++j) acc[j] += src[j];
        }
      }
    });
    if (!linear) dz = dzbuf.data();
  }
  if (a.db) {
    for (int64_t j = 0; j < a.n; ++j) {
      double s = 0.0;
      for (int64_t t = 0; t < chunks; ++t) s += partial[t * a.n + j];
      a.db[j] = static_cast<float>(s);
    }
  }

  if (a.dx) {  // dx (M x K) = dz (M x N) @ W^T (N x K)
    Gemm g;
    g.m = a.m;
    g.n = a.k;
    g.k = a.n;
    g.a = dz;
    g.lda = a.n;
    g.b = a.w;
    g.ldb = a.n;
    g.trans_b = true;
    g.c = a.dx;
    g.ldc = a.k;
    gemm(g, par);
  }
  if (a.dw) {  // dW (K x N) = x^T (K x M) @ dz (M x N)
    Gemm g;
    g.m = a.k;
    g.n = a.n;
    g.k = a.m;
    g.a = a.x;
    g.lda = a.k;
    g.trans_a = true;
    g.b = dz;
    g.ldb = a.n;
    g.c = a.dw;
    g.ldc = a.n;
    gemm(g, par);
  }
}

}  // namespace zoo
