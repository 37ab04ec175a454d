// Build and device facts (device_info.h). Compiled by nvcc so that
// __CUDA_ARCH_LIST__, which nvcc defines from the -arch/-gencode options of
// this very compilation, names the architectures the kernels were built for.
#include "device_info.h"

#include <cuda_runtime_api.h>

#include <algorithm>
#include <string>

namespace zoo::cuda {
namespace {

// ZOO_CUDA_ARCHS comes from CMake ("80-real;90"): which architectures have
// PTX as well as machine code.
#ifndef ZOO_CUDA_ARCHS
#define ZOO_CUDA_ARCHS ""
#endif

std::vector<int> arch_list() {
#if defined(__CUDA_ARCH_LIST__)
  return {__CUDA_ARCH_LIST__};  // e.g. 800,900
#else
  return {};
#endif
}

// Whether the CMake list gives PTX for architecture `cc` ("90" or
// "90-virtual" do, "90-real" does not).
bool has_ptx(int cc) {
  const std::string spec = ZOO_CUDA_ARCHS, c = std::to_string(cc);
  size_t start = 0;
  while (start <= spec.size()) {
    const size_t end = std::min(spec.find(';', start), spec.size());
    const std::string entry = spec.substr(start, end - start);
    if (entry == c || entry == c + "-virtual") return true;
    start = end + 1;
  }
  return false;
}

std::string version_string(int v) {  // 13000 -> "13.0"
  return std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10);
}

}  // namespace

std::string compiled_archs() {
  std::string out;
  for (int a : arch_list()) {
    const std::string cc = std::to_string(a / 10);
    if (!out.empty()) out += ",";
    out += "sm_" + cc;
    if (has_ptx(a / 10)) out += ",compute_" + cc;
  }
  return out;
}

std::string runtime_version() { return version_string(CUDART_VERSION); }

int device_count(std::string* why) {
  int n = 0;
  const cudaError_t err = cudaGetDeviceCount(&n);
  if (err != cudaSuccess) {
    if (why) *why = std::string(cudaGetErrorName(err)) + ": " + cudaGetErrorString(err);
    (void)cudaGetLastError();  // not sticky; leave no error behind for later calls
    return 0;
  }
  return n;
}

std::vector<DeviceInfo> devices() {
  std::vector<DeviceInfo> out;
  const int n = device_count();
  const std::vector<int> archs = arch_list();
  for (int i = 0; i < n; ++i) {
    cudaDeviceProp p{};
    if (cudaGetDeviceProperties(&p, i) != cudaSuccess) {
      (void)cudaGetLastError();
      continue;
    }
    DeviceInfo d;
    d.ordinal = i;
    d.name = p.name;
    d.major = p.major;
    d.minor = p.minor;
    d.memory_bytes = p.totalGlobalMem;
    d.multiprocessors = p.multiProcessorCount;
    // Machine code runs on the same major with an equal or higher minor; PTX
    // runs on anything at least as new.
    const int cc = p.major * 10 + p.minor;
    for (int a : archs) {
      const int ac = a / 10;
      if (ac <= cc && (ac / 10 == p.major || has_ptx(ac))) d.runnable = true;
    }
    out.push_back(d);
  }
  return out;
}

std::string driver_version() {
  int v = 0;
  if (cudaDriverGetVersion(&v) != cudaSuccess || v == 0) {
    (void)cudaGetLastError();
    return "";
  }
  return version_string(v);
}

}  // namespace zoo::cuda
