// A small persistent pool implementing zoo::Parallel for the Python binding.
// Threads are started once and sleep between calls; the calling thread takes
// part in the work, so one-task calls never wake anybody.
//
// Before sleeping, a worker spins for a short while (kSpin) watching for the
// next call, and the caller likewise spins for its workers to finish before
// waiting on the condition variable: a recurrent layer's backward makes five
// parallel calls in a row, and a futex sleep and wake-up costs 7-10 us each
// way, several percent of a small layer's step. The locked protocol below is
// unchanged; the spins only read atomics and then take the same locks.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "../kernels/common.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace zoo::threads {

// How long a thread spins before it sleeps.
constexpr std::chrono::microseconds kSpin{50};

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#endif
}

// Spins until done() or kSpin has passed; true if done() became true.
template <typename Pred>
bool spin_until(Pred&& done) {
  const auto end = std::chrono::steady_clock::now() + kSpin;
  for (int i = 0;; ++i) {
    if (done()) return true;
    cpu_relax();
    if ((i & 63) == 63 && std::chrono::steady_clock::now() >= end) return done();
  }
}

class ThreadPool final : public Parallel {
 public:
  explicit ThreadPool(int threads) : nthreads_(std::max(1, threads)) {
    for (int i = 1; i < nthreads_; ++i) workers_.emplace_back([this] { worker(); });
  }
  ~ThreadPool() override {
    {
      std::lock_guard<std::mutex> lk(mu_);
      stop_ = true;
      stopping_.store(true, std::memory_order_relaxed);
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
  }

  int num_threads() const override { return nthreads_; }

  // Tasks may throw: the first exception is rethrown here once every task has
  // finished (a worker must never see a task whose caller has returned).
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
      next_.store(0, std::memory_order_relaxed);
      done_ = 0;
      generation_.fetch_add(1, std::memory_order_release);
    }
    cv_.notify_all();
    const int64_t mine = drain(task, n);
    spin_until([&] {
      return done_.load(std::memory_order_acquire) + mine == n &&
             active_.load(std::memory_order_acquire) == 0;
    });
    std::unique_lock<std::mutex> lk(mu_);
    done_ += mine;
    // Wait for every task, and for every worker that joined this call to have
    // left it: one still inside drain() would otherwise claim indices of the
    // next call with this call's task and size (found by ThreadSanitizer).
    done_cv_.wait(lk, [&] { return done_ == total_ && active_ == 0; });
    task_ = nullptr;
    if (error_) {
      std::exception_ptr e = error_;
      error_ = nullptr;
      std::rethrow_exception(e);
    }
  }

 private:
  // Runs tasks [0, total) until none are left; returns how many this thread ran.
  int64_t drain(const std::function<void(int64_t)>& task, int64_t total) const {
    int64_t finished = 0;
    for (int64_t i; (i = next_.fetch_add(1, std::memory_order_relaxed)) < total; ++finished) {
      try {
        task(i);
      } catch (...) {
        std::lock_guard<std::mutex> lk(mu_);
        if (!error_) error_ = std::current_exception();
      }
    }
    return finished;
  }

  void worker() const {
    uint64_t seen = 0;
    for (;;) {
      const std::function<void(int64_t)>* task;
      int64_t total;
      spin_until([&] {
        return generation_.load(std::memory_order_acquire) != seen ||
               stopping_.load(std::memory_order_relaxed);
      });
      {
        // The call's task and size are read under the lock, with the
        // generation, so they always belong together.
        std::unique_lock<std::mutex> lk(mu_);
        cv_.wait(lk, [&] { return stop_ || (generation_ != seen && task_ != nullptr); });
        if (stop_) return;
        seen = generation_;
        task = task_;
        total = total_;
        ++active_;
      }
      const int64_t finished = drain(*task, total);
      std::lock_guard<std::mutex> lk(mu_);
      done_ += finished;
      --active_;
      if (done_ == total_ && active_ == 0) done_cv_.notify_all();
    }
  }

  int nthreads_;
  std::vector<std::thread> workers_;
  mutable std::mutex mu_, call_mu_;
  mutable std::condition_variable cv_, done_cv_;
  mutable const std::function<void(int64_t)>* task_ = nullptr;
  // Written under mu_; atomic so that the spins may read them without it.
  mutable int64_t total_ = 0;
  mutable std::atomic<int64_t> done_{0};
  mutable std::atomic<int> active_{0};  // workers inside drain() for the current call
  mutable std::atomic<uint64_t> generation_{0};
  mutable std::exception_ptr error_;
  mutable std::atomic<int64_t> next_{0};
  bool stop_ = false;
  std::atomic<bool> stopping_{false};
};

}  // namespace zoo::threads
