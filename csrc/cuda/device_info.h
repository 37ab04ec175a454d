// What the CUDA build contains and what the machine offers, for build_info and
// `zoo doctor`. None of these throw: a machine without a driver or GPU is an
// answer (0 devices), not an error.
#pragma once

#include <string>
#include <vector>

namespace zoo::cuda {

// Architectures the kernels were compiled for, e.g. "sm_80,sm_90,compute_90":
// real ones carry machine code, compute_* PTX that the driver compiles for
// newer GPUs.
std::string compiled_archs();
// CUDA runtime version the kernels were built against, e.g. "13.0".
std::string runtime_version();

struct DeviceInfo {
  int ordinal = 0;
  std::string name;
  int major = 0, minor = 0;  // compute capability
  size_t memory_bytes = 0;
  int multiprocessors = 0;
  bool runnable = false;  // an SASS or PTX target here can run on it
};

// Number of visible CUDA devices; 0 with `why` set when there is no driver or
// no device.
int device_count(std::string* why = nullptr);
std::vector<DeviceInfo> devices();
// Installed driver's CUDA version ("13.0"), or "" without a driver.
std::string driver_version();

}  // namespace zoo::cuda
