// What every XLA FFI handler of the JAX binding shares: the thread pool the
// kernels run on, zoo::Error -> ffi::Error, and the activation attributes.
//
// The handlers are plain exported C symbols (XLA_FFI_DEFINE_HANDLER_SYMBOL);
// Python wraps each in a PyCapsule (jax.ffi.pycapsule over ctypes) and
// registers it with jax.ffi.register_ffi_target, so this library links
// neither Python nor jaxlib: only XLA's header-only FFI API.
#pragma once

#include <cmath>
#include <cstdlib>
#include <string>
#include <string_view>
#include <thread>

#include "xla/ffi/api/ffi.h"
#include "../kernels/activation.h"
#include "../kernels/common.h"
#include "../python/thread_pool.h"

namespace zoo::jaxffi {

namespace ffi = xla::ffi;

// Threads for the kernels: ZOO_JAX_THREADS, else one per core.
inline int pool_threads() {
  if (const char* env = std::getenv("ZOO_JAX_THREADS"); env && *env) {
    const int n = std::atoi(env);
    if (n >= 1) return n;
  }
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

// One persistent pool for every handler. XLA may run two custom calls at once
// from its own threads; the pool serialises parallel calls, so that is safe.
// Leaked on purpose: joining threads during interpreter teardown can deadlock.
inline const Parallel& pool() {
  static Parallel* p = new ::zoo::threads::ThreadPool(pool_threads());
  return *p;
}

inline ffi::Error invalid(const std::string& msg) {
  return ffi::Error(ffi::ErrorCode::kInvalidArgument, msg);
}

// Runs fn, turning zoo::Error (raised before memory is touched) into an
// InvalidArgument error that JAX raises as a Python exception.
template <typename Fn>
ffi::Error run_checked(Fn&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return invalid(e.what());
  }
  return ffi::Error::Success();
}

// Activation attributes as zoo/ops passes them: the kernel name, alpha (NaN:
// the activation's Keras default), max_value (0 or inf: no cap), threshold.
inline ffi::Error read_act(std::string_view name, float alpha, float max_value, float threshold,
                           ActParams* act) {
  try {
    act->kind = act_from_name(std::string(name));
    act->alpha = alpha == alpha ? alpha : default_alpha(act->kind);
    act->max_value = max_value == 0.0f ? INFINITY : max_value;
    act->threshold = threshold;
    check_act_params(*act);
  } catch (const Error& e) {
    return invalid(e.what());
  }
  return ffi::Error::Success();
}

inline std::string dims_str(ffi::Span<const int64_t> d) {
  std::string s = "(";
  for (size_t i = 0; i < d.size(); ++i) s += (i ? ", " : "") + std::to_string(d[i]);
  return s + (d.size() == 1 ? ",)" : ")");
}

inline int64_t product(ffi::Span<const int64_t> d, size_t from, size_t to) {
  int64_t p = 1;
  for (size_t i = from; i < to; ++i) p *= d[i];
  return p;
}

}  // namespace zoo::jaxffi

// The binding's exported symbols: visible although the build hides the rest.
#define ZOO_JAX_EXPORT extern "C" __attribute__((visibility("default")))
