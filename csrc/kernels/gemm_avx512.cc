// GEMM compiled for the avx512 path (flags set in CMakeLists.txt).
// Register tile 8 x 32: 16 zmm accumulators, 2 zmm of B and one broadcast of A
// per step of K. Zen 4 retires one 512-bit FMA per cycle with a 4-cycle
// latency, so 16 independent chains keep it busy with room for the loads.
// KC = 256 keeps an A panel (8 KB) and a B panel (32 KB) near L1 and the
// MC x KC block of A (128 KB) in L2.
#define ZOO_ISA_NS avx512
#include "gemm_impl.h"

namespace zoo::avx512 {
const GemmKernels gemm_kernels = {8, 32, gemm_detail::block<8, 2, 128, 256, 2048>};
}  // namespace zoo::avx512
