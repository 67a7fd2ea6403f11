// src/parallel.cpp — the pool behind detail::parallel_for: workers sleep on a condition variable
// between jobs; a job is a body, a range and an atomic counter the threads take chunks from.
#include "parallel.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include <cblas.h>

namespace nabla::detail {

namespace {

thread_local bool t_inside = false;  // this thread is running a parallel_for body

class Pool {
 public:
  ~Pool() {
    {
      std::lock_guard lock(m_);
      stop_ = true;
    }
    wake_.notify_all();
    for (std::thread& t : workers_) t.join();
  }

  /// Runs the job with `helpers` workers besides the caller; false if the pool is busy.
  bool run(std::int64_t n, std::int64_t grain, const std::function<void(std::int64_t, std::int64_t)>& body,
           int helpers) {
    std::unique_lock busy(busy_, std::try_to_lock);
    if (!busy.owns_lock()) return false;
    {
      std::lock_guard lock(m_);
      while (static_cast<int>(workers_.size()) < helpers) {
        const int id = static_cast<int>(workers_.size());
        workers_.emplace_back([this, id] { work(id); });
      }
      body_ = &body;
      n_ = n;
      grain_ = grain;
      next_.store(0, std::memory_order_relaxed);
      helpers_ = helpers;
      pending_ = helpers;
      ++generation_;
    }
    wake_.notify_all();
    take_chunks();
    std::unique_lock lock(m_);
    done_.wait(lock, [this] { return pending_ == 0; });
    body_ = nullptr;
    if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
    return true;
  }

 private:
  void take_chunks() {
    t_inside = true;
    for (std::int64_t b = next_.fetch_add(grain_); b < n_; b = next_.fetch_add(grain_)) {
      try {
        (*body_)(b, std::min(n_, b + grain_));
      } catch (...) {  // kept for the caller; the other chunks are skipped
        std::lock_guard lock(m_);
        if (!error_) error_ = std::current_exception();
        next_.store(n_);
      }
    }
    t_inside = false;
  }

  void work(int id) {
    std::uint64_t seen = 0;
    std::unique_lock lock(m_);
    for (;;) {
      wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
      if (id >= helpers_) continue;  // a job that asked for fewer threads
      lock.unlock();
      take_chunks();
      lock.lock();
      if (--pending_ == 0) done_.notify_one();
    }
  }

  std::mutex busy_;  // one job at a time
  std::mutex m_;
  std::condition_variable wake_, done_;
  std::vector<std::thread> workers_;
  bool stop_ = false;
  std::uint64_t generation_ = 0;
  const std::function<void(std::int64_t, std::int64_t)>* body_ = nullptr;
  std::int64_t n_ = 0, grain_ = 1;
  std::atomic<std::int64_t> next_{0};
  int helpers_ = 0, pending_ = 0;
  std::exception_ptr error_;
};

Pool& pool() {
  static Pool p;
  return p;
}

}  // namespace

void parallel_for(std::int64_t n, std::int64_t grain, const std::function<void(std::int64_t, std::int64_t)>& body) {
  if (n <= 0) return;
  grain = std::max<std::int64_t>(grain, 1);
  // One thread count for both pools: OpenBLAS's, which nabla::set_num_threads sets.
  const int threads = std::min<std::int64_t>(openblas_get_num_threads(), (n + grain - 1) / grain);
  if (threads <= 1 || t_inside || !pool().run(n, grain, body, threads - 1)) {
    body(0, n);
  }
}

}  // namespace nabla::detail
