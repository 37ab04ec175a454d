// GEMM compiled for the avx2 path (flags set in CMakeLists.txt).
// Register tile 6 x 16: 12 ymm accumulators, 2 ymm of B and one broadcast of A
// per step of K (15 of the 16 ymm registers). Cache blocking as for AVX-512
// (gemm_avx512.cc), with MC a multiple of 6.
#define ZOO_ISA_NS avx2
#include "gemm_impl.h"

namespace zoo::avx2 {
const GemmKernels gemm_kernels = {6, 16, gemm_detail::block<6, 2, 96, 384, 1024>};
}  // namespace zoo::avx2
