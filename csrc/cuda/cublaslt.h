// cuBLASLt, opened at run time with dlopen rather than linked.
//
// Why: the pybind11 module carries the CPU kernels too. Linked against
// libcublasLt, it would fail to import on any machine without that 500 MB
// library, taking the CPU path down with it; opened lazily, only the fused
// dense calls need it, and they say how to get it. It also lets the build need
// nothing but cublasLt.h. The library's C ABI is stable within a major
// version, which is the one the header names (CUBLAS_VER_MAJOR).
//
// Search order: $ZOO_CUBLASLT (a path to the .so), then libcublasLt.so.<major>
// through the normal loader path (a system CUDA, LD_LIBRARY_PATH, or one that
// PyTorch/CuPy already loaded), then the nvidia-cublas wheel's lib folder next
// to this module in site-packages.
#pragma once

#include <cublasLt.h>

#include <string>

namespace zoo::cuda {

struct CublasLt {
#define ZOO_LT_FN(name) decltype(&::name) name = nullptr;
  ZOO_LT_FN(cublasLtCreate)
  ZOO_LT_FN(cublasLtGetVersion)
  ZOO_LT_FN(cublasLtGetStatusName)
  ZOO_LT_FN(cublasLtGetStatusString)
  ZOO_LT_FN(cublasLtMatmulDescCreate)
  ZOO_LT_FN(cublasLtMatmulDescDestroy)
  ZOO_LT_FN(cublasLtMatmulDescSetAttribute)
  ZOO_LT_FN(cublasLtMatrixLayoutCreate)
  ZOO_LT_FN(cublasLtMatrixLayoutDestroy)
  ZOO_LT_FN(cublasLtMatmulPreferenceCreate)
  ZOO_LT_FN(cublasLtMatmulPreferenceDestroy)
  ZOO_LT_FN(cublasLtMatmulPreferenceSetAttribute)
  ZOO_LT_FN(cublasLtMatmulAlgoGetHeuristic)
  ZOO_LT_FN(cublasLtMatmul)
#undef ZOO_LT_FN
  std::string path;  // what was opened
};

// The loaded library; throws CudaError naming the places searched when absent.
const CublasLt& cublaslt();
// Non-throwing probe for build_info: the path opened, or "" with `why` set.
std::string cublaslt_probe(std::string* why);
// A cuBLASLt handle for the current device, created once and kept for the
// life of the process (destroying it at exit can race the driver's teardown).
cublasLtHandle_t cublaslt_handle();

}  // namespace zoo::cuda

#define ZOO_CUBLAS_CHECK(call)                                                          \
  do {                                                                                  \
    const cublasStatus_t zoo_st_ = (call);                                              \
    if (zoo_st_ != CUBLAS_STATUS_SUCCESS) {                                             \
      const auto& zoo_lt_ = ::zoo::cuda::cublaslt();                                    \
      ::zoo::cuda::throw_library(#call,                                                 \
                                 std::string(zoo_lt_.cublasLtGetStatusName(zoo_st_)) + \
                                     " (" + zoo_lt_.cublasLtGetStatusString(zoo_st_) + ")", \
                                 __FILE__, __LINE__);                                   \
    }                                                                                   \
  } while (0)
