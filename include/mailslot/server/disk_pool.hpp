// The blocking-I/O worker pool. Disk work (open, write, fsync, link) runs here, never on the
// event loop; the awaiting coroutine resumes on its own executor (its connection's strand).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <functional>
#include <latch>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <type_traits>
#include <vector>

#include "mailslot/server/asio.hpp"
#include "mailslot/server/metrics.hpp"

namespace mailslot::server {

// The disk pool's threads. A job goes to the thread that became idle most recently (LIFO), not to
// the one idle the longest, as a condition variable shared by all would pick: with fewer jobs in
// flight than threads (8 sessions on 64 threads) the same few threads do the work, their stacks
// and caches warm (issue #3: 7 % less CPU per delivery at 8 sessions, docs/performance.md).
// Jobs are move-only callables; one that finds every thread busy waits in a FIFO queue.
class Workers {
 public:
  explicit Workers(unsigned threads);
  ~Workers() { join(); }
  Workers(const Workers&) = delete;
  Workers& operator=(const Workers&) = delete;

  template <typename F>
  void post(F f) {
    push(std::make_unique<Job<F>>(std::move(f)));
  }
  // Runs what is queued, then ends the threads and waits for them. Idempotent; nothing posted
  // afterwards runs.
  void join();
  // Threads waiting for a job now (tests).
  std::size_t idle_threads() {
    const std::lock_guard lock(mutex_);
    return idle_.size();
  }

 private:
  struct JobBase {
    virtual ~JobBase() = default;
    virtual void run() = 0;
  };
  template <typename F>
  struct Job final : JobBase {
    explicit Job(F fn) : f(std::move(fn)) {}
    void run() override { f(); }
    F f;
  };
  // One per thread, owned here (not on the thread's stack), so a notify may follow the unlock.
  struct Slot {
    std::condition_variable wake;
    std::unique_ptr<JobBase> job;  // handed over by push() to this idle thread
  };

  void push(std::unique_ptr<JobBase> job);
  void work(Slot& me);

  std::mutex mutex_;
  std::deque<std::unique_ptr<JobBase>> queue_;  // jobs that found no idle thread
  std::vector<Slot*> idle_;                     // most recently idle last
  bool stopping_ = false;
  std::vector<std::unique_ptr<Slot>> slots_;
  std::vector<std::thread> threads_;
  std::mutex join_mutex_;
};

class DiskPool {
 public:
  // Sized for I/O latency, not cores: fsync sleeps, and overlapping fsyncs is what makes an MDA fast.
  // `queue_limit`: how many jobs may be queued or running before admits_new_work() says no (0: no
  // limit). The pool itself never refuses a job: a transaction already under way always gets its
  // disk work done; the limit is for the owner to refuse new transactions (451 4.3.2).
  explicit DiskPool(unsigned threads, std::size_t queue_limit = 0) : pool_(threads), limit_(queue_limit) {}
  ~DiskPool() { join(); }

  void join() { pool_.join(); }

  // Start-up only (issue #5, privilege drop): runs f once on each of the `threads` workers and
  // returns when all have. Per-thread kernel state (PR_SET_KEEPCAPS, capabilities) must be set
  // on every thread; each job waits for the others so no worker runs two of them.
  void run_on_every_thread(unsigned threads, const std::function<void()>& f) {
    std::latch started(threads), done(threads);
    std::mutex mu;
    std::exception_ptr error;  // the first failure, rethrown here (a worker must not throw)
    for (unsigned i = 0; i < threads; ++i) {
      pool_.post([&] {
        started.arrive_and_wait();
        try {
          f();
        } catch (...) {
          const std::lock_guard lock(mu);
          if (!error) error = std::current_exception();
        }
        done.count_down();
      });
    }
    done.wait();
    if (error) std::rethrow_exception(error);
  }

  // Jobs queued or running now.
  std::size_t pending() const { return pending_.load(std::memory_order_relaxed); }
  // False while `queue_limit` jobs or more are queued or running: a slow or stuck disk must turn
  // into "try again later" for new mail, not into an ever longer queue (and the memory of every
  // message waiting in it).
  bool admits_new_work() const { return limit_ == 0 || pending() < limit_; }

  // Queue depth and busy workers are counted here when set (before the first job).
  void set_metrics(Metrics* m) { metrics_ = m; }

  // Runs f() on the pool and resumes the caller with its result. An exception thrown by f is
  // rethrown in the caller. Capture state by reference or raw pointer only (the caller is
  // suspended until f has run): g++ 12 destroys the captures of a lambda passed through a
  // coroutine parameter twice, and that includes a copyable shared_ptr (a double release: heap
  // corruption under test_concurrency when the commit job captured one).
  template <typename F, typename R = std::invoke_result_t<F&>>
  awaitable<R> run(F f) {
    if constexpr (std::is_void_v<R>) {
      co_await run_impl<bool>([f = std::move(f)]() mutable {
        f();
        return true;
      });
      co_return;
    } else {
      co_return co_await run_impl<R>(std::move(f));
    }
  }

 private:
  template <typename R, typename F>
  awaitable<R> run_impl(F f) {
    std::optional<R> result = co_await asio::async_initiate<decltype(asio::use_awaitable),
                                                            void(std::exception_ptr, std::optional<R>)>(
        [this, f = std::move(f)](auto handler) mutable {
          // Keep the caller's io_context alive while the work is away from it. The guard is on the
          // io_context itself, not on the caller's strand: the pool thread must hold no reference to
          // the strand once the guard is released, or an io_context destroyed right after its last
          // handler would leave the pool thread destroying a strand of a dead service (ASan saw it).
          auto ex = asio::get_associated_executor(handler);
          auto& ioc = static_cast<asio::io_context&>(asio::query(ex, asio::execution::context));
          auto work = asio::make_work_guard(ioc);
          pending_.fetch_add(1, std::memory_order_relaxed);
          if (metrics_ != nullptr) metrics_->disk_queued.fetch_add(1, std::memory_order_relaxed);
          pool_.post([this, fn = std::optional<F>(std::move(f)), handler = std::move(handler), ex = std::move(ex),
                      work = std::move(work)]() mutable {
            if (metrics_ != nullptr) {
              metrics_->disk_queued.fetch_sub(1, std::memory_order_relaxed);
              metrics_->disk_running.fetch_add(1, std::memory_order_relaxed);
            }
            std::exception_ptr error;
            std::optional<R> r;
            try {
              r.emplace((*fn)());
            } catch (...) {
              error = std::current_exception();
            }
            fn.reset();  // whatever the job owned goes now, while the io_context surely lives
            pending_.fetch_sub(1, std::memory_order_relaxed);
            if (metrics_ != nullptr) metrics_->disk_running.fetch_sub(1, std::memory_order_relaxed);
            {
              auto target = std::move(ex);  // the last strand reference on this thread ends with this block
              asio::post(target, [handler = std::move(handler), error, r = std::move(r)]() mutable {
                std::move(handler)(error, std::move(r));
              });
            }
            work.reset();  // only now may the caller's io_context run out of work
          });
        },
        asio::use_awaitable);
    co_return std::move(*result);
  }

  Workers pool_;
  const std::size_t limit_;
  std::atomic<std::size_t> pending_{0};
  Metrics* metrics_ = nullptr;
};

}  // namespace mailslot::server
