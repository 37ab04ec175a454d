// bias+activation kernels compiled for the avx512 path (flags set in CMakeLists.txt).
#define ZOO_ISA_NS avx512
#include "bias_act_impl.h"
#include "isa_table.h"

namespace zoo::avx512 {
const IsaKernels kernels = {forward_chunk, backward_chunk, act_forward, act_backward};
}  // namespace zoo::avx512
