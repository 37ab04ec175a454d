// See sequence_mask.h. Memory-bound: one compare-and-reduce per row, then a
// copy or a clear; compiled for the baseline ISA (the loads, not the compares,
// set its speed).
#include "sequence_mask.h"

#include <algorithm>
#include <cstring>
#include <string>

namespace zoo {

namespace {

// Rows per parallel task: below ~1M elements one thread is faster than waking another.
constexpr int64_t kElementsPerTask = int64_t{1} << 20;

void mask_rows(const SequenceMask& a, int64_t r0, int64_t r1) {
  const int64_t f = a.features;
  const float v = a.value;
  for (int64_t r = r0; r < r1; ++r) {
    const float* __restrict row = a.x + r * f;
    int differs = 0;
#pragma omp simd reduction(| : differs)
    for (int64_t j = 0; j < f; ++j) differs |= !(row[j] == v);  // NaN: differs
    a.mask[r] = differs ? 1 : 0;
    if (!a.y) continue;
    float* dst = a.y + r * f;
    if (differs)
      std::memcpy(dst, row, static_cast<size_t>(f) * sizeof(float));
    else
      std::memset(dst, 0, static_cast<size_t>(f) * sizeof(float));
  }
}

}  // namespace

void sequence_mask(const SequenceMask& a, const Parallel& par) {
  ZOO_CHECK(a.rows >= 0 && a.features >= 0,
            "sequence_mask sizes must be >= 0, got rows=" + std::to_string(a.rows) +
                " features=" + std::to_string(a.features));
  if (a.rows == 0) return;
  ZOO_CHECK(a.mask != nullptr, "sequence_mask: mask pointer is null");
  ZOO_CHECK(a.features == 0 || a.x != nullptr, "sequence_mask: x pointer is null");
  if (a.features == 0) {  // no feature differs: every row is masked
    std::memset(a.mask, 0, static_cast<size_t>(a.rows));
    return;
  }
  const int64_t elements = a.rows * a.features;
  const int64_t tasks = std::max<int64_t>(
      1, std::min<int64_t>({par.num_threads(), a.rows, elements / kElementsPerTask}));
  par.run(tasks, [&](int64_t i) { mask_rows(a, a.rows * i / tasks, a.rows * (i + 1) / tasks); });
}

}  // namespace zoo
