#include "base/striped_mutex.h"

#include <atomic>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace sigil::base {
namespace {

// Readers of different threads are inside together: the lock does not
// serialize them.
TEST(StripedMutexTest, ReadersOfManyThreadsHoldItAtOnce) {
  constexpr int kReaders = 4;
  StripedMutex striped;
  absl::Mutex mu;
  int inside = 0;
  std::atomic<int> met{0};
  std::vector<std::thread> readers;
  for (int i = 0; i < kReaders; ++i) {
    readers.emplace_back([&] {
      StripedReaderLock lock(&striped);
      absl::MutexLock count_lock(&mu);
      ++inside;
      // The timeout keeps a lock that serializes readers from hanging the
      // suite; it then fails below.
      if (mu.AwaitWithTimeout(
              absl::Condition(
                  +[](int* n) { return *n == kReaders; }, &inside),
              absl::Seconds(30))) {
        ++met;
      }
    });
  }
  for (std::thread& reader : readers) reader.join();
  EXPECT_EQ(met.load(), kReaders);
}

// Writers update two values together; readers, each on its own stripe,
// must never see one without the other.
TEST(StripedMutexTest, WritersExcludeReadersOfEveryStripe) {
  constexpr int kReaders = 4;
  constexpr int kWrites = 500;
  StripedMutex striped;
  int64_t first = 0;
  int64_t second = 0;
  std::atomic<bool> done{false};
  std::atomic<int64_t> torn{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kReaders; ++i) {
    threads.emplace_back([&] {
      while (!done.load()) {
        StripedReaderLock lock(&striped);
        if (first != second) ++torn;
      }
    });
  }
  threads.emplace_back([&] {
    for (int i = 1; i <= kWrites; ++i) {
      StripedWriterLock lock(&striped);
      first = i;
      second = i;
    }
    done = true;
  });
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(torn.load(), 0);
  EXPECT_EQ(first, kWrites);
}

}  // namespace
}  // namespace sigil::base
