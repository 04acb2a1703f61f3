#include "server/worker_pool.h"

#include <atomic>
#include <memory>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace sigil::server {
namespace {

TEST(WorkerPoolTest, DestructionRunsEveryTaskScheduledBefore) {
  constexpr int kTasks = 1000;
  std::atomic<int> ran{0};
  {
    WorkerPool pool(3);
    for (int i = 0; i < kTasks; ++i) pool.Schedule([&] { ++ran; });
  }
  EXPECT_EQ(ran.load(), kTasks);
}

// The point of the pool: as many calls as threads may wait (for a synced
// write) at once, none holding up the others.
TEST(WorkerPoolTest, AsManyTasksAsThreadsBlockSideBySide) {
  constexpr int kThreads = 4;
  absl::Mutex mu;
  int waiting = 0;
  std::atomic<int> met{0};
  {
    WorkerPool pool(kThreads);
    for (int i = 0; i < kThreads; ++i) {
      pool.Schedule([&] {
        absl::MutexLock lock(&mu);
        ++waiting;
        // Only met if every task is in here at the same time. The timeout
        // keeps a broken pool from hanging the suite.
        if (mu.AwaitWithTimeout(
                absl::Condition(
                    +[](int* n) { return *n == kThreads; }, &waiting),
                absl::Seconds(30))) {
          ++met;
        }
      });
    }
  }
  EXPECT_EQ(met.load(), kThreads);
}

}  // namespace
}  // namespace sigil::server
