// DiskPool's queue bound: admits_new_work() says no while `queue_limit` jobs are queued or running,
// and yes again once they are done; the pool itself still runs every job it is given.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>

#include "mailslot/server/disk_pool.hpp"

namespace mailslot::server {
namespace {

TEST(DiskPoolQueue, AdmitsNewWorkUntilTheLimitAndAgainWhenDrained) {
  DiskPool pool(1, 2);
  asio::io_context ioc;
  std::promise<void> release;
  std::shared_future<void> gate = release.get_future().share();
  std::atomic<int> done{0};
  EXPECT_TRUE(pool.admits_new_work());
  for (int i = 0; i < 3; ++i) {  // one more than the limit: the pool never refuses a job itself
    asio::co_spawn(
        ioc,
        [&]() -> awaitable<void> {
          co_await pool.run([&] {
            gate.wait();  // a stuck disk
            return 0;
          });
          ++done;
        },
        asio::detached);
  }
  // Run the loop until the three jobs are posted (bounded: the spawns run at once).
  for (int i = 0; i < 100 && pool.pending() < 3; ++i) ioc.run_for(std::chrono::milliseconds(10));
  EXPECT_EQ(pool.pending(), 3u);
  EXPECT_FALSE(pool.admits_new_work());
  release.set_value();
  for (int i = 0; i < 500 && done < 3; ++i) ioc.run_for(std::chrono::milliseconds(10));
  EXPECT_EQ(done.load(), 3);
  EXPECT_EQ(pool.pending(), 0u);
  EXPECT_TRUE(pool.admits_new_work());
}

TEST(DiskPoolQueue, ZeroMeansNoLimit) {
  DiskPool pool(1);
  EXPECT_TRUE(pool.admits_new_work());
  DiskPool unlimited(1, 0);
  EXPECT_TRUE(unlimited.admits_new_work());
}

}  // namespace
}  // namespace mailslot::server
