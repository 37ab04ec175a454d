// Scratch memory for one kernel call, carved from a per-thread region that is
// kept between calls.
//
// Why: a kernel that takes fresh buffers of a few MB on every call gets them
// from mmap, and the kernel then pays a page fault (and the zeroing of a 4 KB
// page) on first touch of each page, every call. For the recurrent kernels of
// one lstm_classifier training step that was 1,300-1,900 faults and 2-8 ms of
// a 20 ms step (benchmarks/RESULTS.md, "Persistent workspace and heap"). Keeping the
// region makes every call after the first fault-free.
//
// The region belongs to the calling thread (thread_local), so concurrent calls
// from different threads never share it; a call must not hold two Workspaces
// at once on one thread (the kernels here never nest). Requests above
// kKeptWorkspaceBytes are allocated for the call alone and returned after it,
// so a one-off huge call does not pin its memory for the thread's lifetime.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>

namespace zoo {

// A 64-byte aligned block grown on demand and kept until the object dies; the
// GEMM's per-thread packing panels and the workspace region below are both
// one. Defined out of line in workspace.cc (compiled for the baseline ISA), so
// the per-ISA translation units that use it share one definition.
class KeptBuffer {
 public:
  KeptBuffer() = default;
  KeptBuffer(const KeptBuffer&) = delete;
  KeptBuffer& operator=(const KeptBuffer&) = delete;
  ~KeptBuffer();
  // At least `bytes` bytes; contents are not preserved when it grows.
  void* at_least(size_t bytes);
  float* floats(size_t n) { return static_cast<float*>(at_least(n * sizeof(float))); }
  size_t bytes() const { return bytes_; }

 private:
  void* p_ = nullptr;
  size_t bytes_ = 0;
};

constexpr size_t kKeptWorkspaceBytes = size_t{256} << 20;  // per calling thread

class Workspace {
 public:
  // One slice per entry of `floats` (each >= 0), every slice 64-byte aligned;
  // contents are uninitialised.
  explicit Workspace(std::initializer_list<int64_t> floats);
  ~Workspace();
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;

  float* operator[](size_t i) const { return slices_[i]; }

  // Bytes the calling thread keeps between calls (for tests).
  static size_t kept_bytes();

 private:
  static constexpr size_t kMaxSlices = 8;
  float* slices_[kMaxSlices] = {};
  void* owned_ = nullptr;  // set when the request was too large to keep
};

}  // namespace zoo
