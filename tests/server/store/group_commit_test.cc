#include "server/store/group_commit.h"

#include <atomic>
#include <map>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sigil::server::store {
namespace {

using ::testing::ElementsAre;
using Doubler = GroupCommit<int, int>;

// What each commit saw, in order.
class Recorder {
 public:
  void Record(absl::Span<Doubler::Slot* const> batch) {
    std::vector<int> ops;
    for (Doubler::Slot* slot : batch) {
      ops.push_back(slot->op);
      slot->result = 2 * slot->op;
    }
    absl::MutexLock lock(&mu_);
    batches_.push_back(ops);
  }
  std::vector<std::vector<int>> batches() const {
    absl::MutexLock lock(&mu_);
    return batches_;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<std::vector<int>> batches_;
};

TEST(GroupCommitTest, ALoneCallerCommitsAtOnce) {
  Recorder recorder;
  Doubler commits([&](auto batch) { recorder.Record(batch); });
  EXPECT_EQ(commits.Submit(21), 42);
  EXPECT_EQ(commits.Submit(5), 10);
  EXPECT_THAT(recorder.batches(), ElementsAre(ElementsAre(21), ElementsAre(5)));
}

TEST(GroupCommitTest, CallersArrivingDuringACommitShareTheNextOne) {
  constexpr int kFollowers = 5;
  Recorder recorder;
  absl::Notification first_started;
  absl::Notification release_first;
  Doubler commits([&](auto batch) {
    if (!first_started.HasBeenNotified()) {
      first_started.Notify();
      release_first.WaitForNotification();
    }
    recorder.Record(batch);
  });

  std::thread leader([&] { EXPECT_EQ(commits.Submit(0), 0); });
  first_started.WaitForNotification();
  std::vector<std::thread> followers;
  std::vector<int> results(kFollowers + 1, -1);
  for (int i = 1; i <= kFollowers; ++i) {
    followers.emplace_back([&, i] { results[i] = commits.Submit(i); });
  }
  // Queued behind the running commit: nothing but waiting can move them on.
  while (commits.queued() < kFollowers) std::this_thread::yield();
  release_first.Notify();
  leader.join();
  for (std::thread& follower : followers) follower.join();

  const std::vector<std::vector<int>> batches = recorder.batches();
  ASSERT_EQ(batches.size(), 2u) << "the followers were not committed as one";
  EXPECT_THAT(batches[0], ElementsAre(0));
  EXPECT_THAT(batches[1], ::testing::UnorderedElementsAre(1, 2, 3, 4, 5));
  for (int i = 1; i <= kFollowers; ++i) EXPECT_EQ(results[i], 2 * i) << i;
}

// Many callers at once: every operation committed exactly once with its own
// result, commits never overlap, and each caller's operations keep their
// order.
TEST(GroupCommitTest, ConcurrentCallersEachGetTheirOwnResult) {
  constexpr int kThreads = 8;
  constexpr int kOpsPerThread = 500;
  Recorder recorder;
  std::atomic<int> running{0};
  std::atomic<bool> overlapped{false};
  Doubler commits([&](auto batch) {
    if (running.fetch_add(1) != 0) overlapped = true;
    recorder.Record(batch);
    running.fetch_sub(1);
  });
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kOpsPerThread; ++i) {
        const int op = t * kOpsPerThread + i;
        ASSERT_EQ(commits.Submit(op), 2 * op);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();

  EXPECT_FALSE(overlapped);
  std::map<int, int> seen;
  std::vector<int> last(kThreads, -1);
  for (const std::vector<int>& batch : recorder.batches()) {
    for (int op : batch) {
      ++seen[op];
      const int thread = op / kOpsPerThread;
      EXPECT_GT(op, last[thread]) << "thread " << thread << " out of order";
      last[thread] = op;
    }
  }
  EXPECT_EQ(seen.size(), static_cast<size_t>(kThreads * kOpsPerThread));
  for (const auto& [op, times] : seen) EXPECT_EQ(times, 1) << op;
}

}  // namespace
}  // namespace sigil::server::store
