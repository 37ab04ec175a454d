// Shared vocabulary of the kernel core: element types, errors, the parallel-for
// interface the bindings implement, and the host/device qualifier that lets the
// scalar math in activation.h compile for CPU and CUDA alike.
//
// Nothing here knows of Python or TensorFlow: the bindings translate zoo::Error
// into their own exception or Status type, and supply their own thread pool.
#pragma once

#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>

#if defined(__CUDACC__)
#define ZOO_HD __host__ __device__ __forceinline__
#else
#define ZOO_HD inline __attribute__((always_inline))
#endif

namespace zoo {

enum class DType : int { f32 = 0, f16 = 1, bf16 = 2 };

inline const char* dtype_name(DType d) {
  switch (d) {
    case DType::f32: return "float32";
    case DType::f16: return "float16";
    case DType::bf16: return "bfloat16";
  }
  return "unknown";
}

inline int64_t dtype_size(DType d) { return d == DType::f32 ? 4 : 2; }

// Every invalid argument the core detects is reported by throwing this, before
// any memory is read or written. Bindings map it to ValueError / InvalidArgument.
struct Error : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

#define ZOO_CHECK(cond, msg)                      \
  do {                                            \
    if (!(cond)) throw ::zoo::Error(std::string(msg)); \
  } while (0)

// Runs task(0) ... task(num_tasks - 1), possibly concurrently, and returns when
// all have finished. TensorFlow's binding maps this onto the op's intra-op pool,
// the Python binding onto a small persistent pool.
class Parallel {
 public:
  virtual ~Parallel() = default;
  virtual int num_threads() const = 0;
  virtual void run(int64_t num_tasks, const std::function<void(int64_t)>& task) const = 0;
};

class Serial final : public Parallel {
 public:
  int num_threads() const override { return 1; }
  void run(int64_t n, const std::function<void(int64_t)>& task) const override {
    for (int64_t i = 0; i < n; ++i) task(i);
  }
};

}  // namespace zoo
