#include "workspace.h"

#include <cstdlib>
#include <new>

#include "common.h"

namespace zoo {

namespace {

constexpr size_t kAlign = 64;

size_t round_up(size_t bytes) { return (bytes + kAlign - 1) / kAlign * kAlign; }

size_t aligned_bytes(int64_t floats) { return round_up(static_cast<size_t>(floats) * sizeof(float)); }

// aligned_alloc wants a multiple of the alignment (and not 0).
void* allocate(size_t bytes) {
  void* p = std::aligned_alloc(kAlign, bytes < kAlign ? kAlign : round_up(bytes));
  if (!p) throw std::bad_alloc();
  return p;
}

// The kept region of the calling thread: grown to the largest request seen
// (up to kKeptWorkspaceBytes) and freed when the thread ends.
thread_local KeptBuffer kept;

}  // namespace

KeptBuffer::~KeptBuffer() { std::free(p_); }

void* KeptBuffer::at_least(size_t bytes) {
  if (bytes > bytes_) {
    std::free(p_);
    p_ = nullptr;
    bytes_ = 0;
    p_ = allocate(bytes);
    bytes_ = round_up(bytes);
  }
  return p_;
}

Workspace::Workspace(std::initializer_list<int64_t> floats) {
  ZOO_CHECK(floats.size() <= kMaxSlices, "workspace: too many slices");
  size_t total = 0;
  for (int64_t n : floats) {
    ZOO_CHECK(n >= 0, "workspace: negative size");
    total += aligned_bytes(n);
  }
  char* base;
  if (total <= kKeptWorkspaceBytes) {
    base = static_cast<char*>(kept.at_least(total));
  } else {
    owned_ = allocate(total);
    base = static_cast<char*>(owned_);
  }
  size_t offset = 0, i = 0;
  for (int64_t n : floats) {
    slices_[i++] = reinterpret_cast<float*>(base + offset);
    offset += aligned_bytes(n);
  }
}

Workspace::~Workspace() { std::free(owned_); }

size_t Workspace::kept_bytes() { return kept.bytes(); }

}  // namespace zoo
