// bias+activation kernels compiled for the scalar path (flags set in CMakeLists.txt).
#define ZOO_ISA_NS scalar
#include "bias_act_impl.h"
#include "isa_table.h"

namespace zoo::scalar {
const IsaKernels kernels = {forward_chunk, backward_chunk, act_forward, act_backward};
}  // namespace zoo::scalar
