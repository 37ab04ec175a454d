// bias+activation kernels compiled for the avx2 path (flags set in CMakeLists.txt).
#define ZOO_ISA_NS avx2
#include "bias_act_impl.h"
#include "isa_table.h"

namespace zoo::avx2 {
const IsaKernels kernels = {forward_chunk, backward_chunk, act_forward, act_backward};
}  // namespace zoo::avx2
