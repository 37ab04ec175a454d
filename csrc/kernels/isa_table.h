// The per-ISA entry points each bias_act_<isa>.cc exports, and the table
// bias_act.cc dispatches through.
#pragma once

#include "bias_act.h"

namespace zoo {

struct IsaKernels {
  // (args, bias pattern, pattern length, begin, end[, dbias accumulator], stream stores)
  void (*forward_chunk)(const BiasActForward&, const float*, int64_t, int64_t, int64_t, bool);
  void (*backward_chunk)(const BiasActBackward&, const float*, int64_t, int64_t, int64_t, float*,
                         bool);
  void (*act_forward)(float*, int64_t, const ActParams&);
  void (*act_backward)(float*, const float*, int64_t, const ActParams&);
};

namespace scalar { extern const IsaKernels kernels; }
namespace avx2 { extern const IsaKernels kernels; }
namespace avx512 { extern const IsaKernels kernels; }

const IsaKernels& kernels_for(Isa isa);

}  // namespace zoo
