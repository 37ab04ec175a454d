// zoo::Parallel over the op's intra-op thread pool, so the kernels share TF's
// threads instead of competing with them.
#pragma once

#include "tensorflow/core/framework/op_kernel.h"
#include "../kernels/common.h"

namespace zoo::tf {

class TfParallel final : public Parallel {
 public:
  explicit TfParallel(tensorflow::OpKernelContext* ctx)
      : pool_(ctx->device()->tensorflow_cpu_worker_threads()->workers),
        threads_(ctx->device()->tensorflow_cpu_worker_threads()->num_threads) {}
  int num_threads() const override { return threads_; }
  void run(int64_t n, const std::function<void(int64_t)>& task) const override {
    if (n <= 1) {
      for (int64_t i = 0; i < n; ++i) task(i);
      return;
    }
    // Each task is a chunk of >= 32K elements: tell the pool it is expensive so
    // it hands out one task per shard.
    pool_->ParallelFor(n, /*cost_per_unit=*/1 << 20, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) task(i);
    });
  }

 private:
  tsl::thread::ThreadPool* pool_;
  int threads_;
};

// Runs fn, turning zoo::Error into an InvalidArgument status on the context.
template <typename Fn>
void run_checked(tensorflow::OpKernelContext* ctx, Fn&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    ctx->CtxFailure(__FILE__, __LINE__, tensorflow::errors::InvalidArgument(e.what()));
  }
}

}  // namespace zoo::tf
