// Plain C entry points of the op library, reached with ctypes: the library
// links its own copy of the kernel core, so its ISA choice is set here.
#include <cstring>

#include "../kernels/common.h"
#include "../kernels/cpu_features.h"

extern "C" {

__attribute__((visibility("default"))) int zoo_tf_set_isa(const char* name) {
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

__attribute__((visibility("default"))) const char* zoo_tf_get_isa() {
  return zoo::isa_name(zoo::active_isa());
}

}
