// A small persistent pool implementing zoo::Parallel for the Python binding.
// Threads are started once and sleep between calls; the calling thread takes
// part in the work, so one-task calls never wake anybody.
#pragma once

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "../kernels/common.h"

namespace zoo::threads {

class ThreadPool final : public Parallel {
 public:
  explicit ThreadPool(int threads) : nthreads_(std::max(1, threads)) {
    for (int i = 1; i < nthreads_; ++i) workers_.emplace_back([this] { worker(); });
  }
  ~ThreadPool() override {
    {
      std::lock_guard<std::mutex> lk(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
  }

  int num_threads() const override { return nthreads_; }

  void run(int64_t n, const std::function<void(int64_t)>& task) const override {
    if (n <= 1 || nthreads_ == 1) {
      for (int64_t i = 0; i < n; ++i) task(i);
      return;
    }
    std::lock_guard<std::mutex> call(call_mu_);  // one parallel call at a time
    {
      std::lock_guard<std::mutex> lk(mu_);
      task_ = &task;
      total_ = n;
      next_.store(0);
      done_ = 0;
      ++generation_;
    }
    cv_.notify_all();
    drain();
    std::unique_lock<std::mutex> lk(mu_);
    done_cv_.wait(lk, [&] { return done_ == total_; });
    task_ = nullptr;
  }

 private:
  void drain() const {
    int64_t finished = 0;
    for (int64_t i; (i = next_.fetch_add(1)) < total_;) {
      (*task_)(i);
      ++finished;
    }
    if (finished) {
      std::lock_guard<std::mutex> lk(mu_);
      done_ += finished;
      if (done_ == total_) done_cv_.notify_all();
    }
  }

  void worker() const {
    uint64_t seen = 0;
    for (;;) {
      {
        std::unique_lock<std::mutex> lk(mu_);
        cv_.wait(lk, [&] { return stop_ || (generation_ != seen && task_ != nullptr); });
        if (stop_) return;
        seen = generation_;
      }
      drain();
    }
  }

  int nthreads_;
  std::vector<std::thread> workers_;
  mutable std::mutex mu_, call_mu_;
  mutable std::condition_variable cv_, done_cv_;
  mutable const std::function<void(int64_t)>* task_ = nullptr;
  mutable int64_t total_ = 0, done_ = 0;
  mutable std::atomic<int64_t> next_{0};
  mutable uint64_t generation_ = 0;
  bool stop_ = false;
};

}  // namespace zoo::threads
