#include "mailslot/server/disk_pool.hpp"

#include <gtest/gtest.h>

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
