// Error handling shared by the CUDA kernels: every CUDA runtime and cuBLASLt
// call goes through one of the macros below, so a failure surfaces as a
// CudaError naming the call, the error code's own string and where it
// happened. Invalid arguments are still zoo::Error (checked before any launch);
// CudaError is for what the device or a library reported.
#pragma once

#include <cuda_runtime_api.h>

#include <stdexcept>
#include <string>

namespace zoo::cuda {

struct CudaError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

[[noreturn]] inline void throw_cuda(const char* call, cudaError_t err, const char* file, int line) {
  throw CudaError(std::string(call) + " failed: " + cudaGetErrorName(err) + " (" +
                  cudaGetErrorString(err) + ") at " + file + ":" + std::to_string(line));
}

// For cuBLASLt, whose status strings come from the dynamically loaded library
// (cublaslt.h), the caller passes the already-formatted description.
[[noreturn]] inline void throw_library(const char* call, const std::string& what,
                                       const char* file, int line) {
  throw CudaError(std::string(call) + " failed: " + what + " at " + file + ":" +
                  std::to_string(line));
}

}  // namespace zoo::cuda

#define ZOO_CUDA_CHECK(call)                                                \
  do {                                                                      \
    const cudaError_t zoo_err_ = (call);                                    \
    if (zoo_err_ != cudaSuccess)                                            \
      ::zoo::cuda::throw_cuda(#call, zoo_err_, __FILE__, __LINE__);         \
  } while (0)

// After a kernel launch: launch-configuration errors are reported here, while
// errors raised during execution appear at the next synchronising call.
#define ZOO_CUDA_CHECK_LAUNCH(name)                                         \
  do {                                                                      \
    const cudaError_t zoo_err_ = cudaGetLastError();                        \
    if (zoo_err_ != cudaSuccess)                                            \
      ::zoo::cuda::throw_cuda("launch of " name, zoo_err_, __FILE__, __LINE__); \
  } while (0)
