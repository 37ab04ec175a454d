// Test driver for the kernel core, with no Python, TensorFlow or JAX in the
// process, so that it can run under AddressSanitizer, UndefinedBehaviorSanitizer
// and ThreadSanitizer (tests/test_sanitizers.py builds and runs it).
//
// Every kernel (bias_act forward and backward for every activation and dtype,
// the GEMM, dense forward and backward) runs on every ISA this CPU and build
// support, over edge shapes: zero, one, odd, vector width +-1, across the
// chunk and cache-block boundaries, and large enough for several threads and
// for streaming stores. Results are compared with the plain float64 reference
// in this file; invalid arguments must throw zoo::Error and leave the outputs
// untouched.
//
//   kernel_tests [all|kernels|errors|threads]     exit status 0: all passed
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "../kernels/activation.h"
#include "../kernels/bias_act.h"
#include "../kernels/common.h"
#include "../kernels/cpu_features.h"
#include "../kernels/dense.h"
#include "../kernels/gemm.h"
#include "../kernels/workspace.h"
#include "../python/thread_pool.h"

namespace {

using zoo::Act;
using zoo::ActParams;
using zoo::DType;
using zoo::Isa;

// ----------------------------------------------------------------------------
// Bookkeeping: count checks, print the first failures with their context.

long g_checks = 0, g_failures = 0;
std::string g_context;  // what is being tested, printed with a failure
// ZOO_TEST_TRACE=1 prints each case before it runs, so that a sanitizer report
// (which ends the process) can be traced to its case.
const bool g_trace = std::getenv("ZOO_TEST_TRACE") != nullptr;

void trace() {
  if (g_trace) std::fprintf(stderr, "case: %s\n", g_context.c_str());
}

void fail(const std::string& what) {
  ++g_failures;
  if (g_failures <= 40) std::fprintf(stderr, "FAIL [%s] %s\n", g_context.c_str(), what.c_str());
}

void expect(bool ok, const std::string& what) {
  ++g_checks;
  if (!ok) fail(what);
}

// Runs fn, which must throw zoo::Error (and nothing else).
void expect_error(const char* what, const std::function<void()>& fn) {
  ++g_checks;
  try {
    fn();
  } catch (const zoo::Error&) {
    return;
  } catch (const std::exception& e) {
    fail(std::string(what) + ": threw a non-zoo::Error: " + e.what());
    return;
  }
  fail(std::string(what) + ": did not throw");
}

// splitmix64: small, seeded, the same sequence everywhere.
struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed) {}
  uint64_t next() {
    uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  double uniform(double lo, double hi) { return lo + (hi - lo) * (next() >> 11) * 0x1p-53; }
};

// ----------------------------------------------------------------------------
// float16 / bfloat16 written independently of convert.h: inputs are drawn as
// bit patterns and decoded exactly, outputs decoded the same way.

double f16_value(uint16_t h) {
  const int sign = h >> 15, e = (h >> 10) & 31, m = h & 1023;
  double v;
  if (e == 0) v = std::ldexp(m, -24);
  else if (e == 31) v = m ? std::numeric_limits<double>::quiet_NaN() : INFINITY;
  else v = std::ldexp(1024 + m, e - 25);
  return sign ? -v : v;
}

double bf16_value(uint16_t h) {
  const uint32_t u = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// A random finite value of the dtype with magnitude in about [2^lo, 2^hi].
struct Buffer {
  DType dt;
  std::vector<uint8_t> bytes;
  Buffer(DType d, int64_t n) : dt(d), bytes(static_cast<size_t>(n * zoo::dtype_size(d)) + 1) {}
  void* data() { return bytes.data(); }
  int64_t size() const { return static_cast<int64_t>(bytes.size() - 1) / zoo::dtype_size(dt); }
  double get(int64_t i) const {
    if (dt == DType::f32) {
      float f;
      std::memcpy(&f, bytes.data() + 4 * i, 4);
      return f;
    }
    uint16_t h;
    std::memcpy(&h, bytes.data() + 2 * i, 2);
    return dt == DType::f16 ? f16_value(h) : bf16_value(h);
  }
  void set_bits16(int64_t i, uint16_t h) { std::memcpy(bytes.data() + 2 * i, &h, 2); }
  void set_f32(int64_t i, float f) { std::memcpy(bytes.data() + 4 * i, &f, 4); }
  // Uniform-ish in sign and binary exponent between 2^lo and 2^hi.
  void fill(Rng& r, int lo, int hi) {
    for (int64_t i = 0; i < size(); ++i) {
      const bool neg = r.next() & 1;
      const int e = lo + static_cast<int>(r.next() % static_cast<uint64_t>(hi - lo + 1));
      if (dt == DType::f32) {
        const float v = static_cast<float>(std::ldexp(r.uniform(1.0, 2.0), e));
        set_f32(i, neg ? -v : v);
      } else if (dt == DType::f16) {
        set_bits16(i, static_cast<uint16_t>((neg << 15) | ((e + 15) << 10) | (r.next() & 1023)));
      } else {
        set_bits16(i, static_cast<uint16_t>((neg << 15) | ((e + 127) << 7) | (r.next() & 127)));
      }
    }
  }
};

// ----------------------------------------------------------------------------
// Reference activations in float64, straight from the Keras formulas.

double sigmoid(double z) { return 1.0 / (1.0 + std::exp(-z)); }
double hsig(double z) { return std::min(1.0, std::max(0.0, z / 6.0 + 0.5)); }
double softplus(double z) { return std::max(z, 0.0) + std::log1p(std::exp(-std::fabs(z))); }
constexpr double kSeluAlpha = 1.6732632423543772, kSeluScale = 1.0507009873554805;

double ref_act(Act k, double z, const ActParams& p) {
  switch (k) {
    case Act::linear: return z;
    case Act::relu:
      if (z < p.threshold) return p.alpha * (z - p.threshold);
      if (z == p.threshold && p.threshold != 0) return 0.0;
      return std::min<double>(z, p.max_value);
    case Act::elu: return z > 0 ? z : p.alpha * std::expm1(z);
    case Act::selu: return kSeluScale * (z > 0 ? z : kSeluAlpha * std::expm1(z));
    case Act::gelu: return 0.5 * z * std::erfc(-z / std::sqrt(2.0));
    case Act::gelu_tanh:
      return 0.5 * z * (1 + std::tanh(std::sqrt(2 / M_PI) * (z + 0.044715 * z * z * z)));
    case Act::silu: return z * sigmoid(z);
    case Act::sigmoid: return sigmoid(z);
    case Act::tanh: return std::tanh(z);
    case Act::softplus: return softplus(z);
    case Act::mish: return z * std::tanh(softplus(z));
    case Act::hard_sigmoid: return hsig(z);
    case Act::hard_silu: return z * hsig(z);
    default: break;
  }
  return NAN;
}

double ref_grad(Act k, double z, const ActParams& p) {
  switch (k) {
    case Act::linear: return 1.0;
    case Act::relu:
      return z > p.threshold ? ((z < p.max_value || std::isinf(p.max_value)) ? 1.0 : 0.0)
                             : (z < p.threshold ? p.alpha : 0.0);
    case Act::elu: return z > 0 ? 1.0 : p.alpha * std::exp(z);
    case Act::selu: return kSeluScale * (z > 0 ? 1.0 : kSeluAlpha * std::exp(z));
    case Act::gelu:
      return 0.5 * std::erfc(-z / std::sqrt(2.0)) + z * std::exp(-0.5 * z * z) / std::sqrt(2 * M_PI);
    case Act::gelu_tanh: {
      const double c = std::sqrt(2 / M_PI), u = c * (z + 0.044715 * z * z * z), t = std::tanh(u);
      return 0.5 * (1 + t) + 0.5 * z * (1 - t * t) * c * (1 + 3 * 0.044715 * z * z);
    }
    case Act::silu: return sigmoid(z) * (1 + z * (1 - sigmoid(z)));
    case Act::sigmoid: return sigmoid(z) * (1 - sigmoid(z));
    case Act::tanh: return 1 - std::tanh(z) * std::tanh(z);
    case Act::softplus: return sigmoid(z);
    case Act::mish: {
      const double t = std::tanh(softplus(z));
      return t + z * sigmoid(z) * (1 - t * t);
    }
    case Act::hard_sigmoid: return (z > -3 && z < 3) ? 1.0 / 6 : 0.0;
    case Act::hard_silu: return hsig(z) + ((z > -3 && z < 3) ? z / 6 : 0.0);
    default: break;
  }
  return NAN;
}

// Tolerances: float32 outputs within a few ulp (exact gelu: 1.3e-6 absolute,
// vmath.h); half outputs are float32 results rounded once, so 1.5 ulp of the
// output type.
struct Tol {
  double rtol, atol;
};
Tol tol_for(DType dt, bool backward) {
  if (dt == DType::f16) return {1.5 * 0x1p-10, 2e-6};
  if (dt == DType::bf16) return {1.5 * 0x1p-7, 2e-6};
  return backward ? Tol{5e-5, 5e-6} : Tol{2e-5, 2e-6};
}

bool close(double got, double want, Tol t) {
  if (std::isnan(want)) return std::isnan(got);
  if (std::isinf(want)) return got == want;
  return std::fabs(got - want) <= t.atol + t.rtol * std::fabs(want);
}

std::string fmt(const char* f, double a, double b, int64_t i) {
  char s[160];
  std::snprintf(s, sizeof s, f, static_cast<long long>(i), a, b);
  return s;
}

const Act kAllActs[] = {Act::linear, Act::relu, Act::elu, Act::selu, Act::gelu, Act::gelu_tanh,
                        Act::silu, Act::sigmoid, Act::tanh, Act::softplus, Act::mish,
                        Act::hard_sigmoid, Act::hard_silu};

// The parameter sets tried per activation: Keras' defaults, and for relu and
// elu the variants with slope, cap and threshold.
std::vector<ActParams> params_for(Act k) {
  ActParams p;
  p.kind = k;
  p.alpha = zoo::default_alpha(k);
  std::vector<ActParams> v{p};
  if (k == Act::relu) {
    ActParams q = p;
    q.alpha = 0.1f;
    q.max_value = 3.0f;
    q.threshold = 0.5f;
    v.push_back(q);
    q.alpha = 0.2f;  // leaky_relu
    q.max_value = zoo::vm::kInf;
    q.threshold = 0.0f;
    v.push_back(q);
    q.alpha = 0.0f;  // relu6
    q.max_value = 6.0f;
    v.push_back(q);
  }
  if (k == Act::elu) {
    ActParams q = p;
    q.alpha = 0.3f;
    v.push_back(q);
  }
  return v;
}

std::string act_label(const ActParams& p, DType dt) {
  char s[160];
  std::snprintf(s, sizeof s, "%s(alpha=%g max=%g t=%g) %s", zoo::act_name(p.kind), p.alpha,
                p.max_value, p.threshold, zoo::dtype_name(dt));
  return s;
}

// ----------------------------------------------------------------------------
// bias_act

struct Shape {
  int64_t rows, channels;
};

// Zero, one, odd, vector widths +-1 (AVX2 8, AVX-512 16), the 512-element
// tile, the 32K-element chunk (several tasks) and a long single row.
const Shape kBiasShapes[] = {{0, 1},   {0, 7},   {1, 1},    {1, 7},   {3, 7},    {4, 8},
                             {5, 9},   {3, 15},  {3, 16},   {3, 17},  {2, 31},   {2, 32},
                             {2, 33},  {5, 63},  {5, 64},   {5, 65},  {3, 100},  {1, 511},
                             {1, 512}, {1, 513}, {2, 1000}, {97, 1031}, {1, (1 << 17) + 3}};

// Checks one forward and one backward call of bias_act on x (rows x channels).
// With `in_place` the output overwrites x (forward) and dy (backward).
void check_bias_act(const ActParams& p, DType dt, Shape s, bool with_bias, bool in_place,
                    const zoo::Parallel& par, Rng& rng) {
  trace();
  const int64_t n = s.rows * s.channels, c = s.channels;
  const bool half = dt != DType::f32;
  Buffer x(dt, n), b(dt, c), dy(dt, n), y(dt, n), dx(dt, n), db(dt, c);
  x.fill(rng, -3, half ? 2 : 4);
  b.fill(rng, -3, 1);
  dy.fill(rng, -2, 1);
  // z = x + bias as the kernel forms it: float32 sum of the two inputs.
  std::vector<double> z(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i)
    z[i] = static_cast<float>(static_cast<float>(x.get(i)) +
                              (with_bias ? static_cast<float>(b.get(i % c)) : 0.0f));
  std::vector<double> dy_in(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) dy_in[i] = dy.get(i);

  zoo::BiasActForward f;
  Buffer x_copy = x;
  f.x = x.data();
  f.bias = with_bias ? b.data() : nullptr;
  f.y = in_place ? x.data() : y.data();
  f.n = n;
  f.channels = c;
  f.dtype = dt;
  f.act = p;
  zoo::bias_act_forward(f, par);
  const Buffer& out = in_place ? x : y;
  const Tol tf = tol_for(dt, false);
  int bad = 0;
  for (int64_t i = 0; i < n && bad < 3; ++i) {
    const double want = ref_act(p.kind, z[i], p), got = out.get(i);
    if (!close(got, want, tf)) {
      ++bad;
      expect(false, fmt("forward y[%lld] = %.9g, want %.9g", got, want, i));
    }
  }
  expect(out.bytes.back() == 0, "forward wrote past the end of y");

  zoo::BiasActBackward g;
  g.dy = dy.data();
  g.x = x_copy.data();
  g.bias = with_bias ? b.data() : nullptr;
  g.dx = in_place ? dy.data() : dx.data();
  g.dbias = with_bias ? db.data() : nullptr;
  g.n = n;
  g.channels = c;
  g.dtype = dt;
  g.act = p;
  zoo::bias_act_backward(g, par);
  const Buffer& gout = in_place ? dy : dx;
  const Tol tb = tol_for(dt, true);
  std::vector<double> dbias(static_cast<size_t>(c), 0.0), dbias_abs(static_cast<size_t>(c), 0.0);
  bad = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double want = dy_in[i] * ref_grad(p.kind, z[i], p), got = gout.get(i);
    dbias[i % c] += want;
    dbias_abs[i % c] += std::fabs(want);
    if (bad < 3 && !close(got, want, tb)) {
      ++bad;
      expect(false, fmt("backward dx[%lld] = %.9g, want %.9g", got, want, i));
    }
  }
  if (with_bias) {
    for (int64_t j = 0; j < c; ++j) {
      // float32 partial sums: error grows with the row count.
      const Tol t{tb.rtol, tb.atol + 2e-6 * dbias_abs[j]};
      if (!close(db.get(j), dbias[j], t)) {
        expect(false, fmt("dbias[%lld] = %.9g, want %.9g", db.get(j), dbias[j], j));
        break;
      }
    }
  }
  expect(gout.bytes.back() == 0 && db.bytes.back() == 0, "backward wrote past an output");
  ++g_checks;
}

// NaN and +-Inf inputs: the activation of a NaN is NaN; infinities map as
// the float64 function maps them.
void check_specials(const zoo::Parallel& par) {
  const float vals[] = {NAN, INFINITY, -INFINITY, 0.0f, -0.0f, 1e30f, -1e30f, 88.5f, -88.5f,
                        100.0f, -100.0f, 1e-40f, -1e-40f, 3.0f, -3.0f};
  const int64_t n = sizeof vals / sizeof vals[0];
  for (Act k : kAllActs) {
    for (const ActParams& p : params_for(k)) {
      g_context = std::string("specials ") + act_label(p, DType::f32) + " isa " +
                  zoo::isa_name(zoo::active_isa());
      trace();
      std::vector<float> y(n), dx(n), ones(n, 1.0f);
      zoo::BiasActForward f;
      f.x = vals;
      f.y = y.data();
      f.n = n;
      f.act = p;
      zoo::bias_act_forward(f, par);
      zoo::BiasActBackward g;
      g.dy = ones.data();
      g.x = vals;
      g.dx = dx.data();
      g.n = n;
      g.act = p;
      zoo::bias_act_backward(g, par);
      for (int64_t i = 0; i < n; ++i) {
        const double z = vals[i];
        if (std::isnan(z)) {
          expect(std::isnan(y[i]), "act(NaN) is not NaN");
          continue;
        }
        if (std::isinf(z)) {
          // Limits: compare with the float64 function where it has one. Every
          // derivative has a limit at +-inf (0, 1, a slope): never NaN.
          const double want = ref_act(k, z, p), dwant = ref_grad(k, z, p);
          if (!std::isnan(want))
            expect(close(y[i], want, {1e-5, 1e-6}), fmt("act(special %lld) = %.9g, want %.9g", y[i], want, i));
          if (!std::isnan(dwant))
            expect(close(dx[i], dwant, {1e-5, 1e-6}), fmt("act'(special %lld) = %.9g, want %.9g", dx[i], dwant, i));
          expect(!std::isnan(dx[i]), fmt("act'(special %lld) = %.9g at an infinity (%.0g)", dx[i], z, i));
          continue;
        }
        expect(close(y[i], ref_act(k, z, p), {2e-5, 2e-6}),
               fmt("act(special %lld) = %.9g, want %.9g", y[i], ref_act(k, z, p), i));
        const double dwant = ref_grad(k, z, p);
        if (std::fabs(z) != 3.0 || (k != Act::hard_sigmoid && k != Act::hard_silu))
          expect(close(dx[i], dwant, {5e-5, 5e-6}),
                 fmt("act'(special %lld) = %.9g, want %.9g", dx[i], dwant, i));
      }
    }
  }
}

void test_bias_act_all(const zoo::Parallel& serial, const zoo::Parallel& pool) {
  Rng rng(1234);
  const DType dtypes[] = {DType::f32, DType::f16, DType::bf16};
  for (Act k : kAllActs) {
    const std::vector<ActParams> variants = params_for(k);
    for (size_t v = 0; v < variants.size(); ++v) {
      const ActParams& p = variants[v];
      for (DType dt : dtypes) {
        int idx = 0;
        for (Shape s : kBiasShapes) {
          g_context = "bias_act " + act_label(p, dt) + " isa " + zoo::isa_name(zoo::active_isa()) +
                      " shape " + std::to_string(s.rows) + "x" + std::to_string(s.channels);
          const bool big = s.rows * s.channels > 50000;
          // Big shapes: through the pool (several tasks), only the default
          // parameters, to keep the sanitizer run short.
          if (big && v > 0) continue;
          check_bias_act(p, dt, s, /*with_bias=*/idx % 5 != 4, /*in_place=*/idx % 3 == 2,
                         big ? pool : serial, rng);
          ++idx;
        }
      }
    }
  }
  check_specials(serial);
}

// Outputs above half the last-level cache take the streaming-store path.
void test_bias_act_streaming(const zoo::Parallel& pool) {
  Rng rng(99);
  const int64_t c = 1000;
  for (DType dt : {DType::f32, DType::bf16}) {
    const int64_t want = zoo::last_level_cache_bytes() / 2 / zoo::dtype_size(dt) + 4 * c;
    const int64_t rows = (want + c - 1) / c;
    if (rows * c > (int64_t{24} << 20)) continue;  // a cache too large to test cheaply
    for (Act k : {Act::relu, Act::gelu_tanh}) {
      ActParams p;
      p.kind = k;
      g_context = "bias_act streaming " + act_label(p, dt) + " isa " + zoo::isa_name(zoo::active_isa());
      check_bias_act(p, dt, {rows, c}, true, false, pool, rng);
    }
  }
}

// ----------------------------------------------------------------------------
// GEMM

struct GemmCase {
  int64_t m, n, k;
};

// Zero sizes, K = 0 (C = act(bias)), the register tiles (scalar 4x8, AVX2
// 6x16, AVX-512 8x32) and their +-1, the direct-B row limit (128), and the
// cache blocks: KC (256/384), MC (64/96), NC (1024).
const GemmCase kGemmCases[] = {{0, 5, 3},    {5, 0, 3},     {5, 3, 0},    {1, 1, 1},
                               {4, 8, 5},    {3, 7, 9},     {6, 16, 8},   {5, 15, 7},
                               {7, 17, 33},  {8, 32, 16},   {9, 33, 17},  {13, 47, 385},
                               {97, 65, 257}, {129, 31, 20}, {130, 1030, 24}, {200, 100, 400},
                               {1, 70, 800},  {2, 33, 390},  {3, 100, 20}, {4, 64, 1000}};

// C = act(op(A) @ op(B) [+ C] + bias), with padded leading dimensions whose
// padding holds NaN (a kernel reading it would spread NaN) and, in C, a
// sentinel that must survive.
void check_gemm(const GemmCase& gc, bool ta, bool tb, int pad, bool with_bias, bool with_preact,
                bool accumulate, const ActParams& p, const zoo::Parallel& par, Rng& rng) {
  trace();
  const int64_t m = gc.m, n = gc.n, k = gc.k;
  const int64_t lda = (ta ? m : k) + pad, ldb = (tb ? k : n) + pad, ldc = n + pad, ldp = n + 2 * pad;
  const int64_t arows = ta ? k : m, brows = tb ? n : k;
  const float kNan = NAN, kSentinel = 12345.0f;
  std::vector<float> a(static_cast<size_t>(std::max<int64_t>(1, arows * lda)), kNan);
  std::vector<float> b(static_cast<size_t>(std::max<int64_t>(1, brows * ldb)), kNan);
  std::vector<float> bias(static_cast<size_t>(std::max<int64_t>(1, n)));
  std::vector<float> c(static_cast<size_t>(std::max<int64_t>(1, m * ldc)), kSentinel);
  std::vector<float> z(static_cast<size_t>(std::max<int64_t>(1, m * ldp)), kSentinel);
  auto A = [&](int64_t i, int64_t q) -> float& { return ta ? a[q * lda + i] : a[i * lda + q]; };
  auto B = [&](int64_t q, int64_t j) -> float& { return tb ? b[j * ldb + q] : b[q * ldb + j]; };
  for (int64_t i = 0; i < m; ++i)
    for (int64_t q = 0; q < k; ++q) A(i, q) = static_cast<float>(rng.uniform(-1, 1));
  for (int64_t q = 0; q < k; ++q)
    for (int64_t j = 0; j < n; ++j) B(q, j) = static_cast<float>(rng.uniform(-1, 1));
  for (auto& v : bias) v = static_cast<float>(rng.uniform(-1, 1));
  std::vector<float> c0(static_cast<size_t>(std::max<int64_t>(1, m * n)), 0.0f);
  if (accumulate) {
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) c[i * ldc + j] = c0[i * n + j] = static_cast<float>(rng.uniform(-1, 1));
  }

  zoo::Gemm g;
  g.m = m;
  g.n = n;
  g.k = k;
  g.a = a.data();
  g.lda = lda;
  g.trans_a = ta;
  g.b = b.data();
  g.ldb = ldb;
  g.trans_b = tb;
  g.c = c.data();
  g.ldc = ldc;
  g.accumulate = accumulate;
  g.bias = with_bias ? bias.data() : nullptr;
  g.preact = with_preact ? z.data() : nullptr;
  g.ldp = ldp;
  g.act = p;
  zoo::gemm(g, par);

  int bad = 0;
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double s = (with_bias ? bias[j] : 0.0) + c0[i * n + j];
      double sa = std::fabs(with_bias ? bias[j] : 0.0) + std::fabs(c0[i * n + j]);
      for (int64_t q = 0; q < k; ++q) {
        s += static_cast<double>(A(i, q)) * B(q, j);
        sa += std::fabs(static_cast<double>(A(i, q)) * B(q, j));
      }
      // float32 sums over K terms: bound by K ulp of the absolute sum.
      const Tol tz{2e-5, 1e-6 + 1.2e-7 * (k + 1) * sa};
      const double got = c[i * ldc + j];
      // With a pre-activation copy, act is checked on the kernel's own z
      // (no kink falls between z and its float32 rounding); else on the exact z.
      double want;
      if (with_preact) {
        const double zk = z[i * ldp + j];
        if (bad < 3 && !close(zk, s, tz)) {
          ++bad;
          expect(false, fmt("gemm z[%lld] = %.9g, want %.9g", zk, s, i * n + j));
        }
        want = ref_act(p.kind, zk, p);
      } else {
        want = ref_act(p.kind, s, p);
      }
      const Tol tc{2e-5, 2e-6 + (with_preact ? 0.0 : 1.2 * tz.atol)};
      if (bad < 3 && !close(got, want, tc)) {
        ++bad;
        expect(false, fmt("gemm c[%lld] = %.9g, want %.9g", got, want, i * n + j));
      }
    }
    for (int64_t j = n; j < ldc; ++j)
      if (bad < 3 && c[i * ldc + j] != kSentinel) {
        ++bad;
        expect(false, "gemm wrote into C's padding");
      }
  }
  ++g_checks;
}

void test_gemm_all(const zoo::Parallel& serial, const zoo::Parallel& pool) {
  Rng rng(42);
  ActParams lin, gelu, relu_t, elu;
  gelu.kind = Act::gelu;
  relu_t.kind = Act::relu;
  relu_t.alpha = 0.1f;
  relu_t.max_value = 2.0f;
  relu_t.threshold = 0.25f;
  elu.kind = Act::elu;
  elu.alpha = 1.0f;
  int idx = 0;
  for (const GemmCase& gc : kGemmCases) {
    for (int t = 0; t < 4; ++t) {
      const bool ta = t & 1, tb = t & 2;
      const ActParams& p = (idx % 4 == 0) ? lin : (idx % 4 == 1) ? gelu : (idx % 4 == 2) ? relu_t : elu;
      const bool preact = idx % 3 != 0 || p.kind == Act::relu;  // relu's jumps need the kernel's z
      g_context = "gemm " + std::to_string(gc.m) + "x" + std::to_string(gc.n) + "x" +
                  std::to_string(gc.k) + (ta ? " A^T" : "") + (tb ? " B^T" : "") + " " +
                  zoo::act_name(p.kind) + " isa " + zoo::isa_name(zoo::active_isa());
      const bool big = gc.m * gc.n * gc.k > 100000;
      check_gemm(gc, ta, tb, idx % 2 ? 3 : 0, idx % 5 != 1, preact, idx % 3 == 1, p,
                 big ? pool : serial, rng);
      ++idx;
    }
  }
}

// ----------------------------------------------------------------------------
// Dense forward and backward against the float64 reference.

void check_dense(int64_t m, int64_t k, int64_t n, const ActParams& p, bool with_bias,
                 bool pass_preact, const zoo::Parallel& par, Rng& rng) {
  trace();
  auto vec = [](int64_t len) { return std::vector<float>(static_cast<size_t>(std::max<int64_t>(1, len))); };
  std::vector<float> x = vec(m * k), w = vec(k * n), b = vec(n), y = vec(m * n), z = vec(m * n),
                     dy = vec(m * n), dx = vec(m * k), dw = vec(k * n), db = vec(n);
  for (auto& v : x) v = static_cast<float>(rng.uniform(-1, 1));
  for (auto& v : w) v = static_cast<float>(rng.uniform(-1, 1));
  for (auto& v : b) v = static_cast<float>(rng.uniform(-1, 1));
  for (auto& v : dy) v = static_cast<float>(rng.uniform(-1, 1));
  zoo::DenseForward f;
  f.x = x.data();
  f.w = w.data();
  f.bias = with_bias ? b.data() : nullptr;
  f.y = y.data();
  f.preact = z.data();
  f.m = m;
  f.k = k;
  f.n = n;
  f.act = p;
  zoo::dense_forward(f, par);
  zoo::DenseBackward g;
  g.dy = dy.data();
  g.x = x.data();
  g.w = w.data();
  g.bias = with_bias ? b.data() : nullptr;
  g.preact = pass_preact ? z.data() : nullptr;
  g.dx = dx.data();
  g.dw = dw.data();
  g.db = with_bias ? db.data() : nullptr;
  g.m = m;
  g.k = k;
  g.n = n;
  g.act = p;
  zoo::dense_backward(g, par);

  // Reference from the kernel's own z (checked against the exact z first).
  std::vector<double> dz(static_cast<size_t>(m * n));
  int bad = 0;
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double s = with_bias ? b[j] : 0.0, sa = std::fabs(s);
      for (int64_t q = 0; q < k; ++q) {
        s += static_cast<double>(x[i * k + q]) * w[q * n + j];
        sa += std::fabs(static_cast<double>(x[i * k + q]) * w[q * n + j]);
      }
      const double zk = z[i * n + j];
      if (bad < 3 && !close(zk, s, {2e-5, 1e-6 + 1.2e-7 * (k + 1) * sa})) {
        ++bad;
        expect(false, fmt("dense z[%lld] = %.9g, want %.9g", zk, s, i * n + j));
      }
      if (bad < 3 && !close(y[i * n + j], ref_act(p.kind, zk, p), {2e-5, 2e-6})) {
        ++bad;
        expect(false, fmt("dense y[%lld] = %.9g, want %.9g", y[i * n + j], ref_act(p.kind, zk, p), i * n + j));
      }
      dz[i * n + j] = dy[i * n + j] * ref_grad(p.kind, zk, p);
    }
  for (int64_t i = 0; i < m && bad < 3; ++i)
    for (int64_t q = 0; q < k; ++q) {
      double s = 0, sa = 0;
      for (int64_t j = 0; j < n; ++j) {
        s += dz[i * n + j] * w[q * n + j];
        sa += std::fabs(dz[i * n + j] * w[q * n + j]);
      }
      if (bad < 3 && !close(dx[i * k + q], s, {5e-5, 1e-6 + 2.4e-7 * (n + 1) * sa})) {
        ++bad;
        expect(false, fmt("dense dx[%lld] = %.9g, want %.9g", dx[i * k + q], s, i * k + q));
      }
    }
  for (int64_t q = 0; q < k; ++q)
    for (int64_t j = 0; j < n; ++j) {
      double s = 0, sa = 0;
      for (int64_t i = 0; i < m; ++i) {
        s += static_cast<double>(x[i * k + q]) * dz[i * n + j];
        sa += std::fabs(x[i * k + q] * dz[i * n + j]);
      }
      if (bad < 3 && !close(dw[q * n + j], s, {5e-5, 1e-6 + 2.4e-7 * (m + 1) * sa})) {
        ++bad;
        expect(false, fmt("dense dW[%lld] = %.9g, want %.9g", dw[q * n + j], s, q * n + j));
      }
    }
  if (with_bias)
    for (int64_t j = 0; j < n; ++j) {
      double s = 0, sa = 0;
      for (int64_t i = 0; i < m; ++i) {
        s += dz[i * n + j];
        sa += std::fabs(dz[i * n + j]);
      }
      if (bad < 3 && !close(db[j], s, {5e-5, 1e-6 + 2.4e-7 * (m + 1) * sa})) {
        ++bad;
        expect(false, fmt("dense db[%lld] = %.9g, want %.9g", db[j], s, j));
      }
    }
  ++g_checks;
}

void test_dense_all(const zoo::Parallel& serial, const zoo::Parallel& pool) {
  Rng rng(7);
  struct D {
    int64_t m, k, n;
  };
  const D cases[] = {{0, 3, 4}, {3, 0, 4}, {3, 4, 0}, {1, 1, 1}, {5, 7, 9},   {8, 16, 32},
                     {9, 17, 33}, {7, 15, 31}, {33, 65, 17}, {130, 40, 70}, {300, 64, 129}};
  int idx = 0;
  for (const D& d : cases) {
    for (Act k : {Act::linear, Act::relu, Act::gelu, Act::tanh, Act::elu}) {
      ActParams p;
      p.kind = k;
      p.alpha = zoo::default_alpha(k);
      g_context = "dense " + std::to_string(d.m) + "x" + std::to_string(d.k) + "x" +
                  std::to_string(d.n) + " " + zoo::act_name(k) + " isa " + zoo::isa_name(zoo::active_isa());
      const bool big = d.m * d.k * d.n > 100000;
      check_dense(d.m, d.k, d.n, p, idx % 4 != 3, idx % 2 == 0, big ? pool : serial, rng);
      ++idx;
    }
  }
}

// ----------------------------------------------------------------------------
// Invalid arguments: zoo::Error, outputs untouched.

void test_errors() {
  const zoo::Serial serial;
  g_context = "errors";
  std::vector<float> x(64, 1.0f), y(64, 7.0f), w(64, 1.0f);
  auto untouched = [&] { return std::all_of(y.begin(), y.end(), [](float v) { return v == 7.0f; }); };
  auto fwd = [&] {
    zoo::BiasActForward f;
    f.x = x.data();
    f.y = y.data();
    f.n = 64;
    f.channels = 8;
    return f;
  };
  auto bwd = [&] {
    zoo::BiasActBackward g;
    g.dy = x.data();
    g.x = x.data();
    g.dx = y.data();
    g.n = 64;
    g.channels = 8;
    return g;
  };
  auto bad_fwd = [&](const char* what, const std::function<void(zoo::BiasActForward&)>& edit) {
    zoo::BiasActForward f = fwd();
    edit(f);
    expect_error(what, [&] { zoo::bias_act_forward(f, serial); });
    expect(untouched(), std::string(what) + ": output written before the error");
  };
  bad_fwd("negative n", [](auto& f) { f.n = -8; });
  bad_fwd("zero channels", [](auto& f) { f.channels = 0; });
  bad_fwd("negative channels", [](auto& f) { f.channels = -1; });
  bad_fwd("n not a multiple of channels", [](auto& f) { f.channels = 7; });
  bad_fwd("null x", [](auto& f) { f.x = nullptr; });
  bad_fwd("null y", [](auto& f) { f.y = nullptr; });
  bad_fwd("bad dtype", [](auto& f) { f.dtype = static_cast<DType>(7); });
  bad_fwd("bad activation kind", [](auto& f) { f.act.kind = static_cast<Act>(99); });
  bad_fwd("negative activation kind", [](auto& f) { f.act.kind = static_cast<Act>(-1); });
  bad_fwd("relu NaN max_value", [](auto& f) { f.act.kind = Act::relu; f.act.max_value = NAN; });
  bad_fwd("relu zero max_value", [](auto& f) { f.act.kind = Act::relu; f.act.max_value = 0.0f; });
  bad_fwd("relu negative max_value", [](auto& f) { f.act.kind = Act::relu; f.act.max_value = -1.0f; });
  bad_fwd("relu negative slope", [](auto& f) { f.act.kind = Act::relu; f.act.alpha = -0.5f; });
  bad_fwd("relu NaN slope", [](auto& f) { f.act.kind = Act::relu; f.act.alpha = NAN; });
  bad_fwd("relu NaN threshold", [](auto& f) { f.act.kind = Act::relu; f.act.threshold = NAN; });
  bad_fwd("relu negative threshold", [](auto& f) { f.act.kind = Act::relu; f.act.threshold = -1.0f; });
  bad_fwd("relu infinite threshold", [](auto& f) { f.act.kind = Act::relu; f.act.threshold = INFINITY; });
  bad_fwd("huge n", [](auto& f) { f.n = int64_t{1} << 62; f.channels = 1; });
  bad_fwd("huge channels", [](auto& f) { f.n = 0; f.channels = INT64_MAX; });
  bad_fwd("elu NaN alpha", [](auto& f) { f.act.kind = Act::elu; f.act.alpha = NAN; });
  bad_fwd("elu infinite alpha", [](auto& f) { f.act.kind = Act::elu; f.act.alpha = INFINITY; });

  auto bad_bwd = [&](const char* what, const std::function<void(zoo::BiasActBackward&)>& edit) {
    zoo::BiasActBackward g = bwd();
    edit(g);
    expect_error(what, [&] { zoo::bias_act_backward(g, serial); });
    expect(untouched(), std::string(what) + ": output written before the error");
  };
  bad_bwd("backward null dy", [](auto& g) { g.dy = nullptr; });
  bad_bwd("backward null dx", [](auto& g) { g.dx = nullptr; });
  bad_bwd("backward dbias without bias", [&](auto& g) { g.dbias = w.data(); });
  bad_bwd("backward n not a multiple", [](auto& g) { g.n = 63; });
  bad_bwd("backward bad kind", [](auto& g) { g.act.kind = Act::count_; });

  auto gemm = [&] {
    zoo::Gemm g;
    g.m = 8;
    g.n = 8;
    g.k = 8;
    g.a = x.data();
    g.lda = 8;
    g.b = w.data();
    g.ldb = 8;
    g.c = y.data();
    g.ldc = 8;
    return g;
  };
  auto bad_gemm = [&](const char* what, const std::function<void(zoo::Gemm&)>& edit) {
    zoo::Gemm g = gemm();
    edit(g);
    expect_error(what, [&] { zoo::gemm(g, serial); });
    expect(untouched(), std::string(what) + ": output written before the error");
  };
  bad_gemm("gemm negative m", [](auto& g) { g.m = -1; });
  bad_gemm("gemm negative n", [](auto& g) { g.n = -1; });
  bad_gemm("gemm negative k", [](auto& g) { g.k = -1; });
  bad_gemm("gemm huge m", [](auto& g) { g.m = int64_t{1} << 40; });
  bad_gemm("gemm huge k", [](auto& g) { g.k = int64_t{1} << 40; });
  bad_gemm("gemm lda too small", [](auto& g) { g.lda = 7; });
  bad_gemm("gemm lda too small (A^T)", [](auto& g) { g.trans_a = true; g.m = 4; g.lda = 3; });
  bad_gemm("gemm ldb too small", [](auto& g) { g.ldb = 7; });
  bad_gemm("gemm ldb too small (B^T)", [](auto& g) { g.trans_b = true; g.ldb = 7; });
  bad_gemm("gemm ldc too small", [](auto& g) { g.ldc = 7; });
  bad_gemm("gemm ldp too small", [&](auto& g) { g.preact = w.data(); g.ldp = 4; });
  bad_gemm("gemm null a", [](auto& g) { g.a = nullptr; });
  bad_gemm("gemm null b", [](auto& g) { g.b = nullptr; });
  bad_gemm("gemm null c", [](auto& g) { g.c = nullptr; });
  bad_gemm("gemm bad activation", [](auto& g) { g.act.kind = static_cast<Act>(42); });
  bad_gemm("gemm relu NaN cap", [](auto& g) { g.act.kind = Act::relu; g.act.max_value = NAN; });

  auto dense_f = [&] {
    zoo::DenseForward f;
    f.x = x.data();
    f.w = w.data();
    f.y = y.data();
    f.m = 8;
    f.k = 8;
    f.n = 8;
    return f;
  };
  auto bad_dense = [&](const char* what, const std::function<void(zoo::DenseForward&)>& edit) {
    zoo::DenseForward f = dense_f();
    edit(f);
    expect_error(what, [&] { zoo::dense_forward(f, serial); });
    expect(untouched(), std::string(what) + ": output written before the error");
  };
  bad_dense("dense negative m", [](auto& f) { f.m = -2; });
  bad_dense("dense negative k", [](auto& f) { f.k = -2; });
  bad_dense("dense negative n", [](auto& f) { f.n = -2; });
  bad_dense("dense huge sizes", [](auto& f) { f.m = int64_t{1} << 40; f.n = int64_t{1} << 40; });
  bad_dense("dense null x", [](auto& f) { f.x = nullptr; });
  bad_dense("dense null w", [](auto& f) { f.w = nullptr; });
  bad_dense("dense null y", [](auto& f) { f.y = nullptr; });
  bad_dense("dense bad activation", [](auto& f) { f.act.kind = static_cast<Act>(13); });

  auto dense_b = [&] {
    zoo::DenseBackward g;
    g.dy = x.data();
    g.x = w.data();
    g.w = w.data();
    g.dx = y.data();
    g.m = 8;
    g.k = 8;
    g.n = 8;
    return g;
  };
  auto bad_dense_b = [&](const char* what, const std::function<void(zoo::DenseBackward&)>& edit) {
    zoo::DenseBackward g = dense_b();
    edit(g);
    expect_error(what, [&] { zoo::dense_backward(g, serial); });
    expect(untouched(), std::string(what) + ": output written before the error");
  };
  bad_dense_b("dense backward negative m", [](auto& g) { g.m = -1; });
  bad_dense_b("dense backward huge sizes", [](auto& g) { g.m = int64_t{1} << 40; g.n = int64_t{1} << 40; });
  bad_dense_b("dense backward null dy", [](auto& g) { g.dy = nullptr; });
  bad_dense_b("dense backward null x", [](auto& g) { g.x = nullptr; });
  bad_dense_b("dense backward null w", [](auto& g) { g.w = nullptr; });
  bad_dense_b("dense backward dx aliases x", [&](auto& g) { g.x = y.data(); });
  bad_dense_b("dense backward bad activation", [](auto& g) { g.act.kind = Act::count_; });
  bad_dense_b("dense backward elu NaN alpha", [](auto& g) { g.act.kind = Act::elu; g.act.alpha = NAN; });

  {
    // No elements: valid, and the bias (here a dangling pointer) is not read.
    zoo::BiasActForward f = fwd();
    f.n = 0;
    f.channels = 5;
    f.bias = reinterpret_cast<const void*>(uintptr_t{16});
    zoo::bias_act_forward(f, serial);
    zoo::BiasActBackward g = bwd();
    g.n = 0;
    g.channels = 5;
    g.bias = f.bias;
    g.dbias = y.data();
    zoo::bias_act_backward(g, serial);
    expect(std::all_of(y.begin(), y.begin() + 5, [](float v) { return v == 0.0f; }),
           "dbias of zero rows is not zero");
    std::fill(y.begin(), y.end(), 7.0f);
  }
  expect_error("act_from_name unknown", [] { zoo::act_from_name("swishy"); });
  expect_error("act_from_name empty", [] { zoo::act_from_name(""); });
  expect_error("isa_from_name unknown", [] { zoo::isa_from_name("sse9"); });
  expect(std::string(zoo::act_name(static_cast<Act>(77))) == "unknown", "act_name out of range");
  if (zoo::detected_isa() != Isa::avx512)
    expect_error("set_isa above the CPU", [] { zoo::set_isa(Isa::avx512); });
  float one = 1.0f;
  expect_error("act_forward_f32 bad kind", [&] {
    ActParams p;
    p.kind = static_cast<Act>(50);
    zoo::act_forward_f32(&one, 1, p);
  });
  expect(one == 1.0f, "act_forward_f32 wrote before the error");
}

// ----------------------------------------------------------------------------
// Thread pool: every task runs exactly once, for any task count, from several
// calling threads at once; kernels give bit-identical results on the pool and
// serially (chunking depends on sizes only), also while other threads use it.

void test_pool_tasks(const zoo::Parallel& pool) {
  g_context = "thread pool: each task once";
  // Many small calls: a worker that wakes late for one call must not see the next.
  std::vector<std::atomic<int>> hits(64);
  for (int rep = 0; rep < 3000; ++rep) {
    const int64_t n = rep % 65;
    for (int64_t i = 0; i < n; ++i) hits[i].store(0, std::memory_order_relaxed);
    pool.run(n, [&](int64_t i) { hits[i].fetch_add(1, std::memory_order_relaxed); });
    for (int64_t i = 0; i < n; ++i)
      if (hits[i].load() != 1) {
        expect(false, "task " + std::to_string(i) + " of " + std::to_string(n) + " ran " +
                          std::to_string(hits[i].load()) + " times");
        return;
      }
  }
  ++g_checks;
  g_context = "thread pool: concurrent callers";
  std::atomic<long> wrong{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < 4; ++t)
    callers.emplace_back([&, t] {
      std::vector<int> mine(40);  // plain ints: each task writes only its own slot
      for (int rep = 0; rep < 300; ++rep) {
        const int64_t n = (rep + t) % 41;
        std::fill(mine.begin(), mine.end(), 0);
        pool.run(n, [&](int64_t i) { mine[i] += 1; });
        for (int64_t i = 0; i < 40; ++i)
          if (mine[i] != (i < n ? 1 : 0)) wrong.fetch_add(1);
      }
    });
  for (auto& c : callers) c.join();
  expect(wrong.load() == 0, std::to_string(wrong.load()) + " wrong task counts with concurrent callers");
}

std::vector<float> run_bias_act_f32(const zoo::Parallel& par, const std::vector<float>& x,
                                    const std::vector<float>& b, Act k) {
  std::vector<float> y(x.size()), dx(x.size()), db(b.size());
  zoo::BiasActForward f;
  f.x = x.data();
  f.bias = b.data();
  f.y = y.data();
  f.n = static_cast<int64_t>(x.size());
  f.channels = static_cast<int64_t>(b.size());
  f.act.kind = k;
  zoo::bias_act_forward(f, par);
  zoo::BiasActBackward g;
  g.dy = y.data();
  g.x = x.data();
  g.bias = b.data();
  g.dx = dx.data();
  g.dbias = db.data();
  g.n = f.n;
  g.channels = f.channels;
  g.act.kind = k;
  zoo::bias_act_backward(g, par);
  y.insert(y.end(), dx.begin(), dx.end());
  y.insert(y.end(), db.begin(), db.end());
  return y;
}

std::vector<float> run_dense(const zoo::Parallel& par, const std::vector<float>& x,
                             const std::vector<float>& w, int64_t m, int64_t k, int64_t n) {
  std::vector<float> y(m * n), dx(m * k), dw(k * n), db(n);
  std::vector<float> b(w.begin(), w.begin() + n);
  zoo::DenseForward f;
  f.x = x.data();
  f.w = w.data();
  f.bias = b.data();
  f.y = y.data();
  f.m = m;
  f.k = k;
  f.n = n;
  f.act.kind = Act::silu;
  zoo::dense_forward(f, par);
  zoo::DenseBackward g;
  g.dy = y.data();
  g.x = x.data();
  g.w = w.data();
  g.bias = b.data();
  g.dx = dx.data();
  g.dw = dw.data();
  g.db = db.data();
  g.m = m;
  g.k = k;
  g.n = n;
  g.act.kind = Act::silu;
  zoo::dense_backward(g, par);
  for (auto* v : {&dx, &dw, &db}) y.insert(y.end(), v->begin(), v->end());
  return y;
}

void test_pool_kernels(const zoo::Parallel& pool) {
  g_context = std::string("thread pool: kernels isa ") + zoo::isa_name(zoo::active_isa());
  const zoo::Serial serial;
  Rng rng(5);
  std::vector<float> x(200 * 1000), b(1000), wx(150 * 96), ww(96 * 200);
  for (auto* v : {&x, &b, &wx, &ww})
    for (auto& e : *v) e = static_cast<float>(rng.uniform(-2, 2));
  const std::vector<float> ba_want = run_bias_act_f32(serial, x, b, Act::gelu);
  const std::vector<float> d_want = run_dense(serial, wx, ww, 150, 96, 200);
  std::atomic<long> differ{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < 3; ++t)
    callers.emplace_back([&] {
      for (int rep = 0; rep < 2; ++rep) {
        if (run_bias_act_f32(pool, x, b, Act::gelu) != ba_want) differ.fetch_add(1);
        if (run_dense(pool, wx, ww, 150, 96, 200) != d_want) differ.fetch_add(1);
      }
    });
  for (auto& c : callers) c.join();
  expect(differ.load() == 0, "pool results differ from serial results (" +
                                 std::to_string(differ.load()) + " calls)");
}

// ----------------------------------------------------------------------------

std::vector<Isa> isas_to_test() {
  std::vector<Isa> v;
  for (Isa isa : {Isa::scalar, Isa::avx2, Isa::avx512})
    if (static_cast<int>(isa) <= static_cast<int>(zoo::detected_isa())) v.push_back(isa);
  return v;
}

}  // namespace

// The recurrent kernels' tanh (vmath.h): 3.3e-7 relative over the float32
// line, bounded by 1, odd, and the special values as tanh maps them.
void test_tanh_rational() {
  double worst = 0;
  bool bounded = true, odd = true;
  for (float x = -12.0f; x <= 12.0f; x += 1.0f / 4096) {
    const float t = zoo::vm::tanh_rational(x);
    const double want = std::tanh(static_cast<double>(x));
    if (want != 0) worst = std::max(worst, std::fabs(t - want) / std::fabs(want));
    bounded = bounded && t >= -1.0f && t <= 1.0f;
    odd = odd && zoo::vm::tanh_rational(-x) == -t;
  }
  for (float x = 1e-30f; x < 1e-3f; x *= 1.7f)  // small |x|: tanh(x) ~ x keeps relative accuracy
    worst = std::max(worst, std::fabs(zoo::vm::tanh_rational(x) - std::tanh(double(x))) / x);
  char msg[96];
  std::snprintf(msg, sizeof msg, "tanh_rational: max relative error %g (bound 4e-7)", worst);
  expect(worst <= 4e-7, msg);
  expect(bounded && odd, "tanh_rational within [-1, 1] and odd");
  const float inf = zoo::vm::kInf;
  // Saturated inputs land within the same bound of +-1 (P/Q rounds to 1 +- 2 ulp there).
  expect(std::fabs(zoo::vm::tanh_rational(inf) - 1.0f) <= 4e-7f &&
             zoo::vm::tanh_rational(-inf) == -zoo::vm::tanh_rational(inf),
         "tanh_rational(+-inf) = +-1 within the bound");
  expect(std::isnan(zoo::vm::tanh_rational(NAN)), "tanh_rational(NaN) is NaN");
  expect(std::signbit(zoo::vm::tanh_rational(-0.0f)), "tanh_rational(-0) = -0");
}

// The per-thread workspace: aligned, disjoint slices; the region is kept and
// reused between calls on a thread, each thread has its own, and a request
// above the kept limit is not kept.
void test_workspace() {
  auto aligned = [](const float* p) { return reinterpret_cast<uintptr_t>(p) % 64 == 0; };
  const float* first = nullptr;
  {
    zoo::Workspace ws({3, 0, 1000});
    expect(aligned(ws[0]) && aligned(ws[1]) && aligned(ws[2]), "workspace slices 64-byte aligned");
    expect(ws[1] >= ws[0] + 3 && ws[2] >= ws[1], "workspace slices disjoint");
    for (int i = 0; i < 1000; ++i) ws[2][i] = 1.0f;  // writable (ASan checks the bounds)
    first = ws[0];
  }
  const size_t kept = zoo::Workspace::kept_bytes();
  expect(kept >= 1003 * sizeof(float), "workspace region kept after the call");
  {
    zoo::Workspace ws({500});
    expect(ws[0] == first, "a smaller request reuses the kept region");
  }
  std::thread([&] {
    zoo::Workspace ws({8});
    expect(ws[0] != first, "another thread gets its own region");
  }).join();
  {
    const int64_t huge = static_cast<int64_t>(zoo::kKeptWorkspaceBytes / sizeof(float)) + 16;
    zoo::Workspace ws({huge});
    ws[0][huge - 1] = 2.0f;
    expect(ws[0] != first, "a request above the kept limit gets memory of its own");
  }
  expect(zoo::Workspace::kept_bytes() == kept, "a request above the kept limit is not kept");
}

int main(int argc, char** argv) {
  const std::string what = argc > 1 ? argv[1] : "all";
  if (what != "all" && what != "kernels" && what != "errors" && what != "threads") {
    std::fprintf(stderr, "usage: %s [all|kernels|errors|threads]\n", argv[0]);
    return 2;
  }
  std::printf("compiled ISAs: %s; detected: %s\n", zoo::compiled_isas().c_str(),
              zoo::isa_name(zoo::detected_isa()));
  // More threads than this machine's cores: the pool's hand-offs get exercised.
  const zoo::threads::ThreadPool pool(4);
  const zoo::Serial serial;
  for (Isa isa : isas_to_test()) {
    zoo::set_isa(isa);
    const long before = g_checks;
    if (what == "all" || what == "kernels") {
      test_bias_act_all(serial, pool);
      test_bias_act_streaming(pool);
      test_gemm_all(serial, pool);
      test_dense_all(serial, pool);
    }
    if (what == "all" || what == "errors") test_errors();
    if (what == "all" || what == "threads") test_pool_kernels(pool);
    std::printf("isa %s: %ld checks\n", zoo::isa_name(isa), g_checks - before);
    std::fflush(stdout);
  }
  zoo::reset_isa();
  if (what == "all" || what == "threads") test_pool_tasks(pool);
  if (what == "all" || what == "kernels") {
    test_workspace();
    test_tanh_rational();
  }
  std::printf("%ld checks, %ld failures\n", g_checks, g_failures);
  return g_failures == 0 ? 0 : 1;
}
