// GEMM compiled for the avx512 path (flags set in CMakeLists.txt).
// Register tile 8 x 32: 16 zmm accumulators, 2 zmm of B and one broadcast of A
// per step of K. Zen 4 retires one 512-bit FMA per cycle with a 4-cycle
// latency, so 16 independent chains keep it busy with room for the loads;
// measured in L1 this tile runs at ~113 GFLOP/s per core.
// Blocking (measured on Zen 4, 1 MB L2 per core; KC 128..512, MC 48..384 and
// NC 512..4096 tried): KC = 384 halves the C-tile reloads of KC = 128 while
// an A panel (12 KB) and a B panel (48 KB) still stream from L1/L2; the
// MC x KC block of A (144 KB) stays in L2 and the KC x NC slab of B (1.5 MB)
// in L3.
#define ZOO_ISA_NS avx512
#include "gemm_impl.h"

namespace zoo::avx512 {
const GemmKernels gemm_kernels = {8, 32, gemm_detail::block<8, 2, 96, 384, 1024>};
}  // namespace zoo::avx512
