// Scratch memory taken from the device's stream-ordered pool for the duration
// of one call: allocated and freed on the caller's stream, so the memory is
// reused only after the kernels that use it have run, and the pool keeps it
// cached between calls (no device-wide synchronisation as with cudaFree).
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>

#include "cuda_check.h"

namespace zoo::cuda {

class StreamBuffer {
 public:
  StreamBuffer(size_t bytes, cudaStream_t stream) : stream_(stream) {
    if (bytes > 0) ZOO_CUDA_CHECK(cudaMallocAsync(&ptr_, bytes, stream));
  }
  ~StreamBuffer() {
    // A destructor must not throw; a failure here would already have been
    // reported by the call that used the buffer.
    if (ptr_) (void)cudaFreeAsync(ptr_, stream_);
  }
  StreamBuffer(const StreamBuffer&) = delete;
  StreamBuffer& operator=(const StreamBuffer&) = delete;
  void* get() const { return ptr_; }

 private:
  void* ptr_ = nullptr;
  cudaStream_t stream_;
};

// Either the caller's workspace (when big enough) or a pool allocation.
class Scratch {
 public:
  Scratch(size_t need, void* given, size_t given_bytes, cudaStream_t stream)
      : own_(given && given_bytes >= need ? 0 : need, stream),
        ptr_(given && given_bytes >= need ? given : own_.get()) {}
  void* get() const { return ptr_; }

 private:
  StreamBuffer own_;
  void* ptr_;
};

}  // namespace zoo::cuda
