// Validation, ISA dispatch and the split of C across threads for the GEMM
// (gemm.h). The loops live in gemm_impl.h, compiled once per ISA.
#include "gemm.h"

#include <algorithm>
#include <string>

namespace zoo {

const GemmKernels& gemm_kernels_for(Isa isa) {
  switch (isa) {
#if defined(ZOO_HAVE_AVX512)
    case Isa::avx512: return avx512::gemm_kernels;
#endif
#if defined(ZOO_HAVE_AVX2)
    case Isa::avx2: return avx2::gemm_kernels;
#endif
    default: return scalar::gemm_kernels;
  }
}

namespace {

std::string dims(int64_t r, int64_t c) { return std::to_string(r) + "x" + std::to_string(c); }

void check(const Gemm& g) {
  ZOO_CHECK(g.m >= 0 && g.n >= 0 && g.k >= 0,
            "GEMM sizes must be >= 0, got M=" + std::to_string(g.m) + " N=" +
                std::to_string(g.n) + " K=" + std::to_string(g.k));
  // Keep every index product inside int64 (and far from it).
  constexpr int64_t kMaxDim = int64_t{1} << 31;
  ZOO_CHECK(g.m < kMaxDim && g.n < kMaxDim && g.k < kMaxDim, "GEMM size above 2^31");
  if (g.m > 0 && g.n > 0) {
    ZOO_CHECK(g.c != nullptr, "GEMM output pointer is null");
    ZOO_CHECK(g.ldc >= g.n, "ldc " + std::to_string(g.ldc) + " is less than N " + std::to_string(g.n));
    if (g.preact)
      ZOO_CHECK(g.ldp >= g.n, "ldp " + std::to_string(g.ldp) + " is less than N " + std::to_string(g.n));
  }
  if (g.m > 0 && g.k > 0) {
    ZOO_CHECK(g.a != nullptr, "GEMM A pointer is null");
    const int64_t need = g.trans_a ? g.m : g.k;
    ZOO_CHECK(g.lda >= need, "lda " + std::to_string(g.lda) + " too small for A^" +
                                 (g.trans_a ? "T " : " ") + dims(g.m, g.k));
  }
  if (g.k > 0 && g.n > 0) {
    ZOO_CHECK(g.b != nullptr, "GEMM B pointer is null");
    const int64_t need = g.trans_b ? g.k : g.n;
    ZOO_CHECK(g.ldb >= need, "ldb " + std::to_string(g.ldb) + " too small for B^" +
                                 (g.trans_b ? "T " : " ") + dims(g.k, g.n));
  }
  check_act_params(g.act);
}

// How many tasks along M and N. A task under ~3 MFLOP (~30 us on one core)
// costs more to hand to another thread than it saves; above, one task per
// thread, split so that the redundant packing
// (each M-slice packs all of its B columns, each N-slice all of its A rows)
// is smallest. K is never split (see gemm.h), so the choice cannot change
// results.
void split(const Gemm& g, const GemmKernels& kr, int threads, int64_t* tm, int64_t* tn) {
  const double flops = 2.0 * g.m * g.n * g.k;
  const int64_t mblocks = (g.m + kr.mr - 1) / kr.mr, nblocks = (g.n + kr.nr - 1) / kr.nr;
  int64_t want = std::min<int64_t>(threads, std::max<int64_t>(1, static_cast<int64_t>(flops / 3e6)));
  want = std::min(want, mblocks * nblocks);
  *tm = 1;
  *tn = 1;
  double best = -1.0;
  for (int64_t a = 1; a <= want; ++a) {
    if (want % a) continue;
    const int64_t b = want / a;
    if (a > mblocks || b > nblocks) continue;
    const double cost = static_cast<double>(g.m) * g.k * b + static_cast<double>(g.k) * g.n * a;
    if (best < 0 || cost < best) {
      best = cost;
      *tm = a;
      *tn = b;
    }
  }
}

}  // namespace

void gemm(const Gemm& g, const Parallel& par) {
  check(g);
  if (g.m == 0 || g.n == 0) return;
  const GemmKernels& kr = gemm_kernels_for(active_isa());
  int64_t tm, tn;
  split(g, kr, par.num_threads(), &tm, &tn);
  // Slices are whole register tiles, so only the last slice has edge tiles.
  const int64_t mstep = (g.m + kr.mr - 1) / kr.mr / tm * kr.mr + ((g.m + kr.mr - 1) / kr.mr % tm ? kr.mr : 0);
  const int64_t nstep = (g.n + kr.nr - 1) / kr.nr / tn * kr.nr + ((g.n + kr.nr - 1) / kr.nr % tn ? kr.nr : 0);
  const int64_t tasks_m = (g.m + mstep - 1) / mstep, tasks_n = (g.n + nstep - 1) / nstep;
  par.run(tasks_m * tasks_n, [&](int64_t t) {
    const int64_t i0 = (t / tasks_n) * mstep, j0 = (t % tasks_n) * nstep;
    kr.block(g, i0, std::min(g.m, i0 + mstep), j0, std::min(g.n, j0 + nstep));
  });
}

}  // namespace zoo
