#include "mailslot/server/disk_pool.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <latch>
#include <memory>
#include <set>
#include <stdexcept>
#include <thread>

namespace mailslot::server {
namespace {

// Runs one coroutine on a strand of a single-threaded io_context until it finishes.
template <typename F>
void run_on_strand(F body) {
  asio::io_context ioc;
  auto strand = asio::make_strand(ioc);
  bool finished = false;
  std::exception_ptr failure;
  asio::co_spawn(strand, body(strand), [&](std::exception_ptr e) {
    finished = true;
    failure = e;
  });
  ioc.run();
  ASSERT_TRUE(finished) << "the io_context ran out of work before the coroutine finished";
  if (failure) std::rethrow_exception(failure);
}

TEST(DiskPool, RunsOffTheLoopAndResumesOnTheCallersStrand) {
  DiskPool pool(2);
  run_on_strand([&](auto strand) -> awaitable<void> {
    const auto loop_thread = std::this_thread::get_id();
    std::thread::id worker;
    int r = co_await pool.run([&] {
      worker = std::this_thread::get_id();
      return 42;
    });
    EXPECT_EQ(r, 42);
    EXPECT_NE(worker, loop_thread);                    // the work did not block the loop
    EXPECT_EQ(std::this_thread::get_id(), loop_thread);  // and we are back on it
    EXPECT_TRUE(strand.running_in_this_thread());
  });
}

TEST(DiskPool, ExceptionsReachTheCaller) {
  DiskPool pool(1);
  run_on_strand([&](auto) -> awaitable<void> {
    bool caught = false;
    try {
      co_await pool.run([]() -> int { throw std::runtime_error("disk on fire"); });
    } catch (const std::runtime_error& e) {
      caught = std::string(e.what()) == "disk on fire";
    }
    EXPECT_TRUE(caught);
  });
}

TEST(DiskPool, VoidJobsAndMoveOnlyResults) {
  DiskPool pool(1);
  run_on_strand([&](auto) -> awaitable<void> {
    int side_effect = 0;
    co_await pool.run([&] { side_effect = 7; });
    EXPECT_EQ(side_effect, 7);
    auto p = co_await pool.run([] { return std::make_unique<int>(9); });
    EXPECT_TRUE(p && *p == 9);  // (no ASSERT_*: they return, and this is a coroutine)
  });
}

// The caller's io_context must not run out of work (and return) while a job is away on the pool.
TEST(DiskPool, KeepsTheLoopAliveWhileAJobRuns) {
  DiskPool pool(1);
  run_on_strand([&](auto) -> awaitable<void> {
    int r = co_await pool.run([] {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));  // a slow fsync
      return 1;
    });
    EXPECT_EQ(r, 1);
  });
}

TEST(DiskPool, ManyConcurrentJobsAllComplete) {
  DiskPool pool(4);
  asio::io_context ioc;
  int done = 0;
  for (int i = 0; i < 200; ++i) {
    asio::co_spawn(
        asio::make_strand(ioc),
        [&, i]() -> awaitable<void> {
          int r = co_await pool.run([i] { return i * 2; });
          EXPECT_EQ(r, i * 2);
          ++done;  // each coroutine resumes on the single loop thread: no race
        },
        asio::detached);
  }
  ioc.run();
  EXPECT_EQ(done, 200);
}

}  // namespace
}  // namespace mailslot::server

namespace mailslot::server {
namespace {

// Issue #3: one job at a time goes to the thread that was idle most recently, so a light load
// keeps to one or two warm threads instead of cycling through all of them.
TEST(Workers, OneJobAtATimeStaysOnTheMostRecentlyIdleThread) {
  Workers workers(8);
  // Waits until all 8 threads wait for work (a thread starting late, or one still returning from
  // its job, would be the most recently idle one).
  const auto all_idle = [&workers] {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (workers.idle_threads() < 8 && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
    return workers.idle_threads() == 8;
  };
  std::set<std::thread::id> used;
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(all_idle());
    std::promise<std::thread::id> ran;
    auto done = ran.get_future();
    workers.post([&ran] { ran.set_value(std::this_thread::get_id()); });
    used.insert(done.get());
  }
  // A shared condition variable would have woken the thread idle the longest: all 8 in turn.
  EXPECT_EQ(used.size(), 1u);
}

TEST(Workers, JoinRunsWhatIsQueuedThenNothingMore) {
  std::atomic<int> ran{0};
  Workers workers(2);
  std::latch release(1);
  workers.post([&] { release.wait(); });
  workers.post([&] { release.wait(); });
  for (int i = 0; i < 50; ++i) workers.post([&] { ran.fetch_add(1); });  // queued: both threads busy
  release.count_down();
  workers.join();
  EXPECT_EQ(ran.load(), 50);
  workers.post([&] { ran.fetch_add(1); });
  workers.join();  // idempotent
  EXPECT_EQ(ran.load(), 50);
}

TEST(Workers, MoveOnlyJobs) {
  Workers workers(1);
  std::promise<int> result;
  auto value = std::make_unique<int>(42);
  workers.post([&result, v = std::move(value)] { result.set_value(*v); });
  EXPECT_EQ(result.get_future().get(), 42);
}

}  // namespace
}  // namespace mailslot::server
