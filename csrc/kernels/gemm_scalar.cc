// GEMM compiled for the portable path (baseline x86-64 or any other CPU): the
// same loop nest with a 4 x 8 tile of plain floats, which the compiler may
// still map onto SSE2.
#define ZOO_ISA_NS scalar
#include "gemm_impl.h"

namespace zoo::scalar {
const GemmKernels gemm_kernels = {4, 8, gemm_detail::block<4, 8, 64, 256, 1024>};
}  // namespace zoo::scalar
