#include "server/random_id.h"

#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "gtest/gtest.h"

namespace sigil::server {
namespace {

TEST(RandomIdTest, IdsAre32HexDigitsAndNeverRepeat) {
  std::set<std::string> seen;
  for (int i = 0; i < 20000; ++i) {
    const std::string id = RandomId();
    ASSERT_EQ(id.size(), 32u) << id;
    for (char c : id) {
      ASSERT_TRUE(absl::ascii_isdigit(c) || (c >= 'a' && c <= 'f')) << id;
    }
    ASSERT_TRUE(seen.insert(id).second) << "repeated: " << id;
  }
}

// Draws of every size, across the pool's refills: the bytes look random
// (all 256 values, no run of zeros from a wiped pool) and no chunk repeats.
TEST(RandomIdTest, BytesOfEverySizeAreFreshAcrossRefills) {
  const size_t sizes[] = {1, 7, 16, 32, 4095, 4096, 4097, 10000};
  std::set<std::string> chunks;
  std::vector<int> counts(256, 0);
  for (int round = 0; round < 4; ++round) {
    for (size_t size : sizes) {
      std::string chunk(size, '\0');
      RandomBytes(reinterpret_cast<unsigned char*>(chunk.data()), size);
      if (size >= 16) {
        EXPECT_TRUE(chunks.insert(chunk).second) << "size " << size;
        EXPECT_NE(chunk.find_first_not_of('\0'), std::string::npos)
            << "all zero, size " << size;
      }
      for (unsigned char c : chunk) ++counts[c];
    }
  }
  for (int value = 0; value < 256; ++value) {
    EXPECT_GT(counts[value], 0) << "byte value " << value << " never drawn";
  }
}

TEST(RandomIdTest, ThreadsDrawDifferentIds) {
  constexpr int kThreads = 4;
  constexpr int kIds = 5000;
  std::vector<std::vector<std::string>> drawn(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&drawn, t] {
      for (int i = 0; i < kIds; ++i) drawn[t].push_back(RandomId());
    });
  }
  for (std::thread& thread : threads) thread.join();
  std::set<std::string> all;
  for (const auto& ids : drawn) all.insert(ids.begin(), ids.end());
  EXPECT_EQ(all.size(), static_cast<size_t>(kThreads * kIds));
}

}  // namespace
}  // namespace sigil::server
