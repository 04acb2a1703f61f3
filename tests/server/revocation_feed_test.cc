// RevocationFeed::EventsAfter over its in-memory buffer: a caught-up
// subscriber (every heartbeat of an idle stream) costs no scan of the
// buffer, and resuming from any seq, skipped or pruned, gives exactly the
// events after it. Against a real RocksDB store in a temp dir.

#include "server/revocation_feed.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "server/store/rocks_store.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "token/clock.h"

namespace sigil::server {
namespace {

using ::sigil::testing::IsOk;

// The feed's in-memory buffer size (revocation_feed.h).
constexpr uint64_t kBuffered = 4096;

token::Revocation RevocationOf(uint64_t seq, absl::Time now) {
  token::Revocation r;
  r.seq = seq;
  r.scope = token::RevocationScope::kSubject;
  r.subject = absl::StrCat("u", seq);
  r.not_before_us = absl::ToUnixMicros(now);
  r.expires_at = now + absl::Hours(1);
  return r;
}

std::vector<uint64_t> Seqs(const std::vector<token::Revocation>& events) {
  std::vector<uint64_t> seqs;
  for (const token::Revocation& r : events) seqs.push_back(r.seq);
  return seqs;
}

class RevocationFeedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = store::RocksStore::Open(dir_.path(), &clock_);
    ASSERT_THAT(store.status(), IsOk());
    store_ = *std::move(store);
    // No heartbeats during a test: nothing here subscribes.
    feed_ = std::make_unique<RevocationFeed>(store_.get(), absl::Hours(1));
  }

  // Seqs in memory only, as the authority publishes them after the store
  // assigned them (here with gaps, as expired events leave).
  void PublishSeqs(const std::vector<uint64_t>& seqs) {
    for (uint64_t seq : seqs) feed_->Publish(RevocationOf(seq, clock_.Now()));
  }

  std::vector<uint64_t> After(uint64_t after_seq, size_t limit = 512) {
    auto events = feed_->EventsAfter(after_seq, limit);
    EXPECT_THAT(events.status(), IsOk()) << "after " << after_seq;
    return events.ok() ? Seqs(*events) : std::vector<uint64_t>();
  }

  sigil::testing::TempDir dir_;
  token::FakeClock clock_{absl::FromUnixSeconds(1700000000)};
  std::unique_ptr<store::RocksStore> store_;
  std::unique_ptr<RevocationFeed> feed_;
};

TEST_F(RevocationFeedTest, CaughtUpSubscriberExaminesNoBufferedEntry) {
  std::vector<uint64_t> seqs;
  for (uint64_t seq = 1; seq <= kBuffered; ++seq) seqs.push_back(seq);
  PublishSeqs(seqs);
  const uint64_t before = feed_->entries_examined_for_testing();
  for (int beat = 0; beat < 100; ++beat) {
    EXPECT_TRUE(After(kBuffered).empty());
  }
  EXPECT_EQ(feed_->entries_examined_for_testing(), before);
}

TEST_F(RevocationFeedTest, ResumingNearTheEndExaminesAboutTheEventsSent) {
  std::vector<uint64_t> seqs;
  for (uint64_t seq = 1; seq <= kBuffered; ++seq) seqs.push_back(seq);
  PublishSeqs(seqs);
  const uint64_t before = feed_->entries_examined_for_testing();
  EXPECT_EQ(After(kBuffered - 3),
            (std::vector<uint64_t>{kBuffered - 2, kBuffered - 1, kBuffered}));
  // A bisection of 4,096 entries, plus the three copied; a scan is 4,096.
  EXPECT_LE(feed_->entries_examined_for_testing() - before, 3u + 14u);
}

TEST_F(RevocationFeedTest, ResumesFromAnySeqOfAGappedBuffer) {
  PublishSeqs({1, 2, 4, 7, 8});
  struct Case {
    uint64_t after;
    size_t limit;
    std::vector<uint64_t> want;
  };
  const Case cases[] = {
      {0, 512, {1, 2, 4, 7, 8}},
      {1, 512, {2, 4, 7, 8}},
      {3, 512, {4, 7, 8}},  // 3 was skipped
      {4, 512, {7, 8}},
      {5, 512, {7, 8}},  // 5 and 6 were skipped
      {7, 512, {8}},
      {8, 512, {}},
      {100, 512, {}},  // ahead of the feed
      {1, 2, {2, 4}},  // limited
  };
  for (const Case& c : cases) {
    EXPECT_EQ(After(c.after, c.limit), c.want)
        << "after " << c.after << " limit " << c.limit;
  }
}

TEST_F(RevocationFeedTest, SeqsPrunedFromTheBufferAreReadFromTheStore) {
  // More than the buffer holds, through the store as the authority does.
  constexpr uint64_t kTotal = kBuffered + 10;
  std::vector<token::Revocation> revocations;
  for (uint64_t i = 1; i <= kTotal; ++i) {
    revocations.push_back(RevocationOf(0, clock_.Now()));
  }
  auto appended = store_->AppendRevocations(revocations);
  ASSERT_THAT(appended.status(), IsOk());
  for (size_t i = 0; i < revocations.size(); ++i) {
    revocations[i].seq = (*appended)[i].seq;
    feed_->Publish(revocations[i]);
  }
  ASSERT_EQ(revocations.back().seq, kTotal);
  EXPECT_EQ(After(0, 3), (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_EQ(After(9, 2), (std::vector<uint64_t>{10, 11}));
  // The first seq still buffered, and the one before it.
  EXPECT_EQ(After(10, 2), (std::vector<uint64_t>{11, 12}));
  EXPECT_EQ(After(11, 2), (std::vector<uint64_t>{12, 13}));
  EXPECT_EQ(After(kTotal - 1), (std::vector<uint64_t>{kTotal}));
  EXPECT_TRUE(After(kTotal).empty());
}

}  // namespace
}  // namespace sigil::server
