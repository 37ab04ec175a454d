// Plain C entry points of the JAX binding, reached with ctypes: its copy of
// the kernel core chooses its own ISA and thread count.
#include "ffi_common.h"
#include "../kernels/cpu_features.h"

ZOO_JAX_EXPORT int zoo_jax_set_isa(const char* name) {
  try {
    if (name == nullptr || *name == 0) {
      zoo::reset_isa();
    } else {
      zoo::set_isa(zoo::isa_from_name(name));
    }
    return 0;
  } catch (const zoo::Error&) {
    return 1;
  }
}

ZOO_JAX_EXPORT const char* zoo_jax_get_isa() { return zoo::isa_name(zoo::active_isa()); }

ZOO_JAX_EXPORT int zoo_jax_num_threads() { return zoo::jaxffi::pool().num_threads(); }
