// The disk pool's threads (disk_pool.hpp): most recently idle first.
#include "mailslot/server/disk_pool.hpp"

#include <algorithm>

namespace mailslot::server {

Workers::Workers(unsigned threads) {
  if (threads == 0) threads = 1;
  for (unsigned i = 0; i < threads; ++i) slots_.push_back(std::make_unique<Slot>());
  for (unsigned i = 0; i < threads; ++i) threads_.emplace_back([this, slot = slots_[i].get()] { work(*slot); });
}

void Workers::push(std::unique_ptr<JobBase> job) {
  Slot* idle = nullptr;
  {
    const std::lock_guard lock(mutex_);
    if (stopping_ && threads_.empty()) return;  // joined: nothing runs any more
    if (idle_.empty()) {
      queue_.push_back(std::move(job));
      return;
    }
    idle = idle_.back();
    idle_.pop_back();
    idle->job = std::move(job);
  }
  idle->wake.notify_one();  // the slot outlives its thread: safe after the unlock
}

void Workers::work(Slot& me) {
  std::unique_lock lock(mutex_);
  for (;;) {
    std::unique_ptr<JobBase> job;
    if (me.job) {
      job = std::move(me.job);
    } else if (!queue_.empty()) {
      job = std::move(queue_.front());
      queue_.pop_front();
    } else if (stopping_) {
      return;
    } else {
      idle_.push_back(&me);
      me.wake.wait(lock, [&] { return me.job != nullptr || stopping_; });
      if (!me.job) std::erase(idle_, &me);  // woken to stop: no longer idle
      continue;
    }
    lock.unlock();
    job->run();  // DiskPool's jobs catch their own exceptions
    job.reset();
    lock.lock();
  }
}

void Workers::join() {
  const std::lock_guard serial(join_mutex_);  // a second join() waits for the first
  {
    const std::lock_guard lock(mutex_);
    if (stopping_ && threads_.empty()) return;
    stopping_ = true;
  }
  for (const auto& slot : slots_) slot->wake.notify_all();
  for (auto& t : threads_) t.join();
  const std::lock_guard lock(mutex_);
  threads_.clear();
}

}  // namespace mailslot::server
