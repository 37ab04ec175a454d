// Run-time ISA detection and the process-wide ISA choice.
#include "cpu_features.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>

#include <unistd.h>

#include "common.h"

namespace zoo {

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::scalar: return "scalar";
    case Isa::avx2: return "avx2";
    case Isa::avx512: return "avx512";
  }
  return "unknown";
}

Isa isa_from_name(const std::string& name) {
  if (name == "scalar") return Isa::scalar;
  if (name == "avx2") return Isa::avx2;
  if (name == "avx512") return Isa::avx512;
  throw Error("unknown ISA '" + name + "'; expected scalar, avx2 or avx512");
}

std::string compiled_isas() {
  std::string s = "scalar";
#if defined(ZOO_HAVE_AVX2)
  s += ",avx2";
#endif
#if defined(ZOO_HAVE_AVX512)
  s += ",avx512";
#endif
  return s;
}

Isa detected_isa() {
#if defined(__x86_64__) || defined(__i386__)
  // libgcc's cpu model also checks XCR0, so an OS that does not save the
  // AVX-512 state reports the feature as absent.
  __builtin_cpu_init();
#if defined(ZOO_HAVE_AVX512)
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c"))
    return Isa::avx512;
#endif
#if defined(ZOO_HAVE_AVX2)
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
      __builtin_cpu_supports("f16c"))
    return Isa::avx2;
#endif
#endif
  return Isa::scalar;
}

namespace {
// -1: not chosen yet.
std::atomic<int> g_isa{-1};

int initial_isa() {
  Isa isa = detected_isa();
  if (const char* env = std::getenv("ZOO_ISA"); env && *env) {
    Isa want = isa_from_name(env);
    if (static_cast<int>(want) < static_cast<int>(isa)) isa = want;
  }
  return static_cast<int>(isa);
}
}  // namespace

Isa active_isa() {
  int v = g_isa.load(std::memory_order_relaxed);
  if (v < 0) {
    try {
      v = initial_isa();
    } catch (const Error&) {
      v = static_cast<int>(detected_isa());  // a bad ZOO_ISA is reported by the bindings
    }
    g_isa.store(v, std::memory_order_relaxed);
  }
  return static_cast<Isa>(v);
}

void set_isa(Isa isa) {
  if (static_cast<int>(isa) > static_cast<int>(detected_isa()))
    throw Error(std::string("this CPU or build cannot run the ") + isa_name(isa) +
                " kernels (best available: " + isa_name(detected_isa()) + ")");
  g_isa.store(static_cast<int>(isa), std::memory_order_relaxed);
}

void reset_isa() { g_isa.store(static_cast<int>(detected_isa()), std::memory_order_relaxed); }

long last_level_cache_bytes() {
  // sysfs first: it describes the cache this CPU shares (what lscpu prints),
  // where sysconf may report the sum over a virtual machine's host.
  static const long bytes = [] {
    for (const char* path : {"/sys/devices/system/cpu/cpu0/cache/index3/size",
                             "/sys/devices/system/cpu/cpu0/cache/index2/size"}) {
      if (std::FILE* f = std::fopen(path, "r")) {
        long kib = 0;
        const int got = std::fscanf(f, "%ldK", &kib);
        std::fclose(f);
        if (got == 1 && kib > 0) return kib * 1024;
      }
    }
    const long v = sysconf(_SC_LEVEL3_CACHE_SIZE);
    return v > 0 ? v : 8L << 20;
  }();
  return bytes;
}

}  // namespace zoo
