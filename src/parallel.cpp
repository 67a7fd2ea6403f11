// src/parallel.cpp — the pool behind detail::parallel_for. A job is a body, a range and an atomic
// counter the threads take chunks from. Workers spin for a while after a job (a training step runs
// many short jobs, and waking a sleeping thread costs tens of microseconds, more on a virtual
// machine), then sleep on a condition variable. A worker joins a job only while it is open; the
// caller closes it when it has run out of chunks and waits only for the workers that joined.
#include "parallel.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include <cblas.h>
#include <fmt/format.h>

#include "nabla/cpu.hpp"
#include "nabla/error.hpp"

namespace nabla::detail {

namespace {

[[gnu::tls_model("initial-exec")]] thread_local bool t_inside = false;  // this thread is running a parallel_for body

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#else
  std::this_thread::yield();
#endif
}

// How long an idle worker polls for the next job before it sleeps.
constexpr auto kSpin = std::chrono::microseconds(1000);

class Pool {
 public:
  ~Pool() {
    {
      std::lock_guard lock(m_);
      stop_.store(true);
    }
    wake_.notify_all();
    for (std::thread& t : workers_) t.join();
  }

  /// Runs the job with up to `helpers` workers besides the caller; false if the pool is busy.
  bool run(std::int64_t n, std::int64_t grain, const std::function<void(std::int64_t, std::int64_t)>& body,
           int helpers) {
    std::unique_lock busy(busy_, std::try_to_lock);
    if (!busy.owns_lock()) return false;
    while (static_cast<int>(workers_.size()) < helpers) {
      workers_.emplace_back([this] { work(); });
    }
    // No worker of the last job is still inside it (the caller waited for every one that joined),
    // and none can join this one before the state below opens it.
    body_.store(&body, std::memory_order_relaxed);
    n_.store(n, std::memory_order_relaxed);
    grain_.store(grain, std::memory_order_relaxed);
    helpers_.store(helpers, std::memory_order_relaxed);
    next_.store(0, std::memory_order_relaxed);
    finished_.store(0, std::memory_order_relaxed);
    error_ = nullptr;
    const std::uint64_t gen = ++generation_;
    {
      std::lock_guard lock(m_);  // a worker about to sleep sees the new state or gets the notify
      state_.store(gen << kGenShift, std::memory_order_release);
    }
    wake_.notify_all();
    take_chunks();
    // Closed: from here no worker joins, and the caller waits for the ones that did.
    const std::uint64_t s = state_.fetch_or(kClosed, std::memory_order_acq_rel);
    const std::uint64_t joined = s & kCountMask;
    for (int i = 0; finished_.load(std::memory_order_acquire) != joined; ++i) {
      if (i < 20000) {
        cpu_relax();
        continue;
      }
      std::unique_lock lock(m_);
      done_.wait(lock, [&] { return finished_.load(std::memory_order_acquire) == joined; });
    }
    if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
    return true;
  }

 private:
  static constexpr int kGenShift = 32;
  static constexpr std::uint64_t kClosed = std::uint64_t(1) << 31;
  static constexpr std::uint64_t kCountMask = kClosed - 1;

  void take_chunks() {
    t_inside = true;
    const auto& body = *body_.load(std::memory_order_relaxed);
    const std::int64_t n = n_.load(std::memory_order_relaxed), grain = grain_.load(std::memory_order_relaxed);
    for (std::int64_t b = next_.fetch_add(grain); b < n; b = next_.fetch_add(grain)) {
      try {
        body(b, std::min(n, b + grain));
      } catch (...) {  // kept for the caller; the other chunks are skipped
        std::lock_guard lock(m_);
        if (!error_) error_ = std::current_exception();
        next_.store(n);
      }
    }
    t_inside = false;
  }

  /// Joins the open job of state s (one more worker, while it wants more); false if it is closed,
  /// full or gone.
  bool join(std::uint64_t s) {
    const std::uint64_t gen = s >> kGenShift;
    while ((s >> kGenShift) == gen && (s & kClosed) == 0 &&
           (s & kCountMask) < static_cast<std::uint64_t>(helpers_.load(std::memory_order_relaxed))) {
      if (state_.compare_exchange_weak(s, s + 1, std::memory_order_acq_rel)) return true;
    }
    return false;
  }

  void work() {
    std::uint64_t seen = 0;  // the last generation this worker looked at
    for (;;) {
      std::uint64_t s = state_.load(std::memory_order_acquire);
      auto since = std::chrono::steady_clock::now();
      for (int i = 0; (s >> kGenShift) == seen && !stop_.load(std::memory_order_relaxed); ++i) {
        cpu_relax();
        if ((i & 255) == 255 && std::chrono::steady_clock::now() - since > kSpin) {
          std::unique_lock lock(m_);
          wake_.wait(lock, [&] {
            return stop_.load(std::memory_order_relaxed) || (state_.load(std::memory_order_acquire) >> kGenShift) != seen;
          });
          since = std::chrono::steady_clock::now();
        }
        s = state_.load(std::memory_order_acquire);
      }
      if (stop_.load()) return;
      seen = s >> kGenShift;
      if (!join(s)) continue;
      take_chunks();
      finished_.fetch_add(1, std::memory_order_acq_rel);
      {
        std::lock_guard lock(m_);  // the caller may be asleep in done_.wait
      }
      done_.notify_one();
    }
  }

  std::mutex busy_;  // one job at a time
  std::mutex m_;
  std::condition_variable wake_, done_;
  std::vector<std::thread> workers_;
  std::atomic<bool> stop_{false};
  std::uint64_t generation_ = 0;       // the caller's count of jobs
  std::atomic<std::uint64_t> state_{0};  // generation << 32 | closed | workers joined
  std::atomic<const std::function<void(std::int64_t, std::int64_t)>*> body_{nullptr};
  std::atomic<std::int64_t> n_{0}, grain_{1}, next_{0};
  std::atomic<int> helpers_{0};
  std::atomic<std::uint64_t> finished_{0};
  std::exception_ptr error_;
};

Pool& pool() {
  static Pool p;
  return p;
}

std::atomic<int>& count() {
  // OpenBLAS's own default (OPENBLAS_NUM_THREADS, else the CPUs) becomes nabla's; OpenBLAS then runs
  // every call on the calling thread, and blas.cpp splits the large products over this pool.
  static std::atomic<int> n{[] {
    const int blas = openblas_get_num_threads();
    openblas_set_num_threads(1);
    return std::max(blas, 1);
  }()};
  return n;
}

}  // namespace

int thread_count() { return count().load(std::memory_order_relaxed); }
void set_thread_count(int n) { count().store(std::max(n, 1), std::memory_order_relaxed); }

void parallel_for(std::int64_t n, std::int64_t grain, const std::function<void(std::int64_t, std::int64_t)>& body) {
  if (n <= 0) return;
  grain = std::max<std::int64_t>(grain, 1);
  const int threads = static_cast<int>(std::min<std::int64_t>(thread_count(), (n + grain - 1) / grain));
  if (threads <= 1 || t_inside || !pool().run(n, grain, body, threads - 1)) {
    body(0, n);
  }
}

}  // namespace nabla::detail

namespace nabla {

void set_num_threads(int n) {
  if (n < 1) throw ValueError(fmt::format("set_num_threads: need at least 1 thread, got {}", n));
  detail::set_thread_count(n);
}

int num_threads() { return detail::thread_count(); }

}  // namespace nabla
