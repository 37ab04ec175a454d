// Validation, work splitting and ISA dispatch for bias+activation. The loops
// themselves live in bias_act_impl.h, compiled once per ISA.
#include "bias_act.h"

#include <algorithm>
#include <string>
#include <vector>

#include "convert.h"
#include "isa_table.h"

namespace zoo {

const IsaKernels& kernels_for(Isa isa) {
  switch (isa) {
#if defined(ZOO_HAVE_AVX512)
    case Isa::avx512: return avx512::kernels;
#endif
#if defined(ZOO_HAVE_AVX2)
    case Isa::avx2: return avx2::kernels;
#endif
    default: return scalar::kernels;
  }
}

namespace {

// Chunk size depends on n only (never on the thread count), so results,
// dbias's summation order included, are the same whatever the pool size.
// At most 256 chunks; at least 32K elements each, below which threads cost
// more than they save; a multiple of 512 elements so that every tile of a
// chunk starts on a cache line.
int64_t chunk_size(int64_t n) {
  const int64_t c = std::max<int64_t>(32768, (n + 255) / 256);
  return (c + 511) / 512 * 512;
}

// Outputs larger than half the last-level cache are written with streaming
// stores: they cannot stay cached for the next op anyway, and skipping the
// read-for-ownership of each destination line saves a third of the traffic.
bool stream_output(int64_t n, DType dt) {
  return n * dtype_size(dt) > static_cast<int64_t>(last_level_cache_bytes() / 2);
}

// The bias repeated to a float32 pattern of length channels * k >= 64.
std::vector<float> bias_pattern(const void* bias, int64_t channels, DType dt) {
  const int64_t reps = (64 + channels - 1) / channels;
  std::vector<float> pattern(static_cast<size_t>(channels * reps));
  cvt::load(bias, dt, channels, pattern.data());
  for (int64_t r = 1; r < reps; ++r)
    std::copy_n(pattern.data(), channels, pattern.data() + r * channels);
  return pattern;
}

}  // namespace

void check_bias_act_args(const void* x, int64_t n, int64_t channels, DType dt,
                         const ActParams& act) {
  ZOO_CHECK(dt == DType::f32 || dt == DType::f16 || dt == DType::bf16,
            "dtype must be float32, float16 or bfloat16");
  ZOO_CHECK(n >= 0, "element count must be >= 0");
  ZOO_CHECK(channels >= 1, "channels (last-axis length) must be >= 1");
  // Far above any buffer, and low enough that no size arithmetic overflows.
  constexpr int64_t kMaxCount = int64_t{1} << 56;
  ZOO_CHECK(n < kMaxCount && channels < kMaxCount, "element count or channels above 2^56");
  ZOO_CHECK(n % channels == 0, "element count " + std::to_string(n) +
                                   " is not a multiple of the last-axis length " +
                                   std::to_string(channels));
  ZOO_CHECK(n == 0 || x != nullptr, "input pointer is null");
  check_act_params(act);
}

namespace {

// What forward and backward share: the float32 bias pattern and the chunking
// of [0, n) into tasks.
struct Plan {
  std::vector<float> pattern;  // empty without a bias
  int64_t n, chunk, tasks;

  Plan(const void* bias, int64_t channels, DType dt, int64_t n_)
      : n(n_), chunk(chunk_size(n_)), tasks(n_ == 0 ? 0 : (n_ + chunk - 1) / chunk) {
    if (bias && n_ > 0) pattern = bias_pattern(bias, channels, dt);  // no elements: bias unread
  }
  const float* pat() const { return pattern.empty() ? nullptr : pattern.data(); }
  int64_t plen() const { return static_cast<int64_t>(pattern.size()); }
  int64_t begin(int64_t t) const { return t * chunk; }
  int64_t end(int64_t t) const { return std::min(n, (t + 1) * chunk); }
};

}  // namespace

void bias_act_forward(const BiasActForward& a, const Parallel& par) {
  check_bias_act_args(a.x, a.n, a.channels, a.dtype, a.act);
  ZOO_CHECK(a.n == 0 || a.y != nullptr, "output pointer is null");
  const IsaKernels& k = kernels_for(active_isa());
  const Plan plan(a.bias, a.channels, a.dtype, a.n);
  const bool stream = stream_output(a.n, a.dtype) && a.y != a.x;
  par.run(plan.tasks, [&](int64_t t) {
    k.forward_chunk(a, plan.pat(), plan.plen(), plan.begin(t), plan.end(t), stream);
  });
}

void bias_act_backward(const BiasActBackward& a, const Parallel& par) {
  check_bias_act_args(a.x, a.n, a.channels, a.dtype, a.act);
  ZOO_CHECK(a.n == 0 || (a.dy != nullptr && a.dx != nullptr), "gradient pointer is null");
  ZOO_CHECK(a.dbias == nullptr || a.bias != nullptr, "dbias requested without a bias");
  const IsaKernels& k = kernels_for(active_isa());
  const Plan plan(a.bias, a.channels, a.dtype, a.n);
  const int64_t plen = plan.plen();
  // One float32 accumulator row per chunk, summed in chunk order afterwards.
  std::vector<float> partial(a.dbias ? static_cast<size_t>(plan.tasks * plen) : 0, 0.0f);
  const bool stream = stream_output(a.n, a.dtype) && a.dx != a.dy;
  par.run(plan.tasks, [&](int64_t t) {
    float* acc = a.dbias ? partial.data() + t * plen : nullptr;
    k.backward_chunk(a, plan.pat(), plen, plan.begin(t), plan.end(t), acc, stream);
  });
  if (a.dbias) {
    std::vector<double> sum(static_cast<size_t>(a.channels), 0.0);
    for (int64_t t = 0; t < plan.tasks; ++t)
      for (int64_t j = 0; j < plen; ++j) sum[j % a.channels] += partial[t * plen + j];
    std::vector<float> out(sum.begin(), sum.end());
    cvt::store(out.data(), a.channels, a.dtype, a.dbias);
  }
}

void act_forward_f32(float* z, int64_t n, const ActParams& act) {
  check_act_params(act);
  kernels_for(active_isa()).act_forward(z, n, act);
}

void act_backward_f32(float* g, const float* z, int64_t n, const ActParams& act) {
  check_act_params(act);
  kernels_for(active_isa()).act_backward(g, z, n, act);
}

}  // namespace zoo
