// The etcd client against real etcd members (tests/testing/etcd_cluster.h):
// one single-member cluster for what needs no failure, one three-member
// cluster for failover, each shared by its suite.

#include "server/store/etcd/etcd_client.h"

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/etcd_cluster.h"
#include "tests/testing/status_matchers.h"

namespace sigil::server::store::etcd {
namespace {

using ::sigil::testing::EtcdCluster;
using ::sigil::testing::EtcdClusterOptions;
using ::sigil::testing::IsOk;
using ::sigil::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

etcdserverpb::PutRequest PutOf(const std::string& key, const std::string& value,
                               int64_t lease = 0) {
  etcdserverpb::PutRequest put;
  put.set_key(key);
  put.set_value(value);
  put.set_lease(lease);
  return put;
}

etcdserverpb::RangeRequest KeyOf(const std::string& key) {
  etcdserverpb::RangeRequest range;
  range.set_key(key);
  return range;
}

// The value of `key`, "" when it is absent.
std::string ValueOf(EtcdClient& client, const std::string& key) {
  auto read = client.Range(KeyOf(key));
  EXPECT_THAT(read, IsOk()) << key;
  if (!read.ok() || read->kvs().empty()) return "";
  return read->kvs(0).value();
}

// Writes `key` only if it does not exist: applying it twice is harmless,
// so it may be retried on any member.
etcdserverpb::TxnRequest CreateOnce(const std::string& key,
                                    const std::string& value) {
  etcdserverpb::TxnRequest txn;
  etcdserverpb::Compare* absent = txn.add_compare();
  absent->set_key(key);
  absent->set_target(etcdserverpb::Compare::CREATE);
  absent->set_result(etcdserverpb::Compare::EQUAL);
  absent->set_create_revision(0);
  *txn.add_success()->mutable_request_put() = PutOf(key, value);
  return txn;
}

// What a watch delivered, for the test thread to wait on.
class WatchLog {
 public:
  EtcdWatch::OnBatch OnBatch() {
    return [this](WatchBatch batch) {
      absl::MutexLock lock(&mu_);
      batches_.push_back(std::move(batch));
    };
  }
  EtcdWatch::OnEnd OnEnd() {
    return [this](const WatchEnd& end) {
      absl::MutexLock lock(&mu_);
      end_ = end;
      ended_ = true;
    };
  }
  // Waits until a batch reaches `revision`.
  bool WaitRevision(int64_t revision, absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    auto reached = [&]() {
      mu_.AssertReaderHeld();
      return !batches_.empty() && batches_.back().revision >= revision;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&reached), timeout);
  }
  bool WaitEnd(absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    return mu_.AwaitWithTimeout(absl::Condition(&ended_), timeout);
  }
  std::vector<WatchBatch> batches() {
    absl::MutexLock lock(&mu_);
    return batches_;
  }
  WatchEnd end() {
    absl::MutexLock lock(&mu_);
    return end_;
  }

 private:
  absl::Mutex mu_;
  std::vector<WatchBatch> batches_ ABSL_GUARDED_BY(mu_);
  WatchEnd end_ ABSL_GUARDED_BY(mu_);
  bool ended_ ABSL_GUARDED_BY(mu_) = false;
};

// ---------------------------------------------------------------------------
// One member: the API itself.

class EtcdClientTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto cluster = EtcdCluster::Start();
    ASSERT_THAT(cluster, IsOk());
    cluster_ = cluster->release();
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(cluster_, nullptr);
    auto client = cluster_->NewClient();
    ASSERT_THAT(client, IsOk());
    client_ = *std::move(client);
    // Each test its own keys.
    prefix_ = absl::StrCat(
        "/test/",
        ::testing::UnitTest::GetInstance()->current_test_info()->name(), "/");
  }

  static EtcdCluster* cluster_;
  std::unique_ptr<EtcdClient> client_;
  std::string prefix_;
};

EtcdCluster* EtcdClientTest::cluster_ = nullptr;

TEST_F(EtcdClientTest, PutThenRangeReadsTheValueBack) {
  const std::string key = prefix_ + "alice";
  auto put = client_->Put(PutOf(key, "v1"));
  ASSERT_THAT(put, IsOk());

  auto read = client_->Range(KeyOf(key));
  ASSERT_THAT(read, IsOk());
  ASSERT_EQ(read->kvs_size(), 1) << key;
  EXPECT_EQ(read->kvs(0).value(), "v1");
  EXPECT_EQ(read->kvs(0).mod_revision(), put->header().revision());
  EXPECT_EQ(read->kvs(0).version(), 1);
}

TEST_F(EtcdClientTest, TxnWhoseModRevisionCompareFailsTakesTheFailureBranch) {
  const std::string key = prefix_ + "session";
  const std::string marker = prefix_ + "marker";
  auto first = client_->Put(PutOf(key, "v1"));
  ASSERT_THAT(first, IsOk());
  // Changed since it was read: the compare on the old revision fails.
  ASSERT_THAT(client_->Put(PutOf(key, "v2")), IsOk());

  etcdserverpb::TxnRequest txn;
  etcdserverpb::Compare* unchanged = txn.add_compare();
  unchanged->set_key(key);
  unchanged->set_target(etcdserverpb::Compare::MOD);
  unchanged->set_result(etcdserverpb::Compare::EQUAL);
  unchanged->set_mod_revision(first->header().revision());
  *txn.add_success()->mutable_request_put() = PutOf(key, "v3");
  *txn.add_success()->mutable_request_put() = PutOf(marker, "written");
  *txn.add_failure()->mutable_request_range() = KeyOf(key);
  auto result = client_->Txn(txn, Retry::kIdempotent);
  ASSERT_THAT(result, IsOk());

  EXPECT_FALSE(result->succeeded());
  ASSERT_EQ(result->responses_size(), 1);
  ASSERT_TRUE(result->responses(0).has_response_range());
  EXPECT_EQ(result->responses(0).response_range().kvs(0).value(), "v2");
  EXPECT_EQ(ValueOf(*client_, key), "v2");
  EXPECT_EQ(ValueOf(*client_, marker), "") << "the success branch wrote";
}

// Values compare as bytes, so fixed-width decimal counters order as numbers.
TEST_F(EtcdClientTest, TxnValueCompareLessAndGreaterOnFixedWidthValues) {
  const std::string counter = prefix_ + "seq";
  ASSERT_THAT(client_->Put(PutOf(counter, "00000042")), IsOk());

  struct Case {
    etcdserverpb::Compare::CompareResult result;
    std::string against;
    bool holds;
  };
  const Case cases[] = {
      {etcdserverpb::Compare::LESS, "00000043", true},
      {etcdserverpb::Compare::LESS, "00000042", false},
      {etcdserverpb::Compare::LESS, "00000009", false},
      {etcdserverpb::Compare::GREATER, "00000041", true},
      {etcdserverpb::Compare::GREATER, "00000100", false},
  };
  int n = 0;
  for (const Case& c : cases) {
    const std::string written = absl::StrCat(prefix_, "written-", n++);
    etcdserverpb::TxnRequest txn;
    etcdserverpb::Compare* compare = txn.add_compare();
    compare->set_key(counter);
    compare->set_target(etcdserverpb::Compare::VALUE);
    compare->set_result(c.result);
    compare->set_value(c.against);
    *txn.add_success()->mutable_request_put() = PutOf(written, "yes");
    auto result = client_->Txn(txn, Retry::kAtMostOnce);
    ASSERT_THAT(result, IsOk()) << c.against;
    EXPECT_EQ(result->succeeded(), c.holds)
        << "00000042 compared " << c.result << " with " << c.against;
    EXPECT_EQ(ValueOf(*client_, written), c.holds ? "yes" : "")
        << "00000042 compared " << c.result << " with " << c.against;
  }
}

TEST_F(EtcdClientTest, ScanPrefixPagesThroughOneSnapshot) {
  std::vector<std::string> expected;
  for (int i = 0; i < 25; ++i) {
    const std::string key = absl::StrFormat("%sk%03d", prefix_, i);
    ASSERT_THAT(client_->Put(PutOf(key, absl::StrCat(i))), IsOk());
    expected.push_back(key);
  }
  // Just past the prefix: not part of the scan.
  ASSERT_THAT(client_->Put(PutOf(PrefixEnd(prefix_), "outside")), IsOk());

  std::vector<std::string> keys;
  std::vector<int> page_sizes;
  auto revision = client_->ScanPrefix(
      prefix_, 10,
      [&](const google::protobuf::RepeatedPtrField<mvccpb::KeyValue>& page) {
        page_sizes.push_back(page.size());
        for (const mvccpb::KeyValue& kv : page) keys.push_back(kv.key());
        if (page_sizes.size() == 1) {
          // Written after the first page: later pages read the first
          // page's revision and do not see it.
          EXPECT_THAT(client_->Put(PutOf(prefix_ + "zzz-late", "late")),
                      IsOk());
        }
        return absl::OkStatus();
      });
  ASSERT_THAT(revision, IsOk());

  EXPECT_THAT(page_sizes, ElementsAre(10, 10, 5));
  EXPECT_EQ(keys, expected);
}

TEST_F(EtcdClientTest, RangeLargerThanGrpcsDefaultReceiveLimit) {
  // Five values of 1 MiB each (under etcd's 1.5 MiB request limit): 5 MiB
  // to read back in one response, over gRPC's default 4 MiB.
  const std::string value(1 << 20, 'x');
  for (int i = 0; i < 5; ++i) {
    ASSERT_THAT(client_->Put(PutOf(absl::StrCat(prefix_, i), value)), IsOk());
  }
  etcdserverpb::RangeRequest all;
  all.set_key(prefix_);
  all.set_range_end(PrefixEnd(prefix_));
  auto read = client_->Range(all);
  ASSERT_THAT(read, IsOk());
  EXPECT_EQ(read->kvs_size(), 5);
}

// etcd's limits (--max-txn-ops 128, --max-request-bytes 1.5 MiB) are the
// caller's to respect: INVALID_ARGUMENT, not retried, nothing written.
TEST_F(EtcdClientTest, TxnOverEtcdsLimitsIsInvalidArgument) {
  etcdserverpb::TxnRequest too_many;
  for (int i = 0; i < 129; ++i) {
    *too_many.add_success()->mutable_request_put() =
        PutOf(absl::StrCat(prefix_, "op-", i), "v");
  }
  EXPECT_THAT(client_->Txn(too_many, Retry::kIdempotent),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(ValueOf(*client_, prefix_ + "op-0"), "") << "129 ops";

  etcdserverpb::TxnRequest too_large;
  *too_large.add_success()->mutable_request_put() =
      PutOf(prefix_ + "large", std::string(1600 << 10, 'x'));
  EXPECT_THAT(client_->Txn(too_large, Retry::kIdempotent),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(ValueOf(*client_, prefix_ + "large"), "") << "1600 KiB";
}

TEST_F(EtcdClientTest, LeaseExpiryRemovesItsKeys) {
  auto lease = client_->LeaseGrant(2);  // etcd's minimum TTL
  ASSERT_THAT(lease, IsOk());
  const std::string key = prefix_ + "short-lived";
  ASSERT_THAT(client_->Put(PutOf(key, "v", lease->id())), IsOk());
  auto ttl = client_->LeaseTimeToLive(lease->id(), /*keys=*/true);
  ASSERT_THAT(ttl, IsOk());
  EXPECT_THAT(ttl->keys(), ElementsAre(key));

  // Gone after the TTL; generous for a busy machine.
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (absl::Now() < deadline && !ValueOf(*client_, key).empty()) {
    absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_EQ(ValueOf(*client_, key), "") << "still there 10 s after a 2 s TTL";
  EXPECT_THAT(client_->LeaseKeepAliveOnce(lease->id()),
              StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(EtcdClientTest, LeaseKeepAliveRenewsAndRevokeRemovesKeysAtOnce) {
  auto lease = client_->LeaseGrant(30);
  ASSERT_THAT(lease, IsOk());
  const std::string key = prefix_ + "leased";
  ASSERT_THAT(client_->Put(PutOf(key, "v", lease->id())), IsOk());
  auto renewed = client_->LeaseKeepAliveOnce(lease->id());
  ASSERT_THAT(renewed, IsOk());
  EXPECT_EQ(*renewed, 30);

  ASSERT_THAT(client_->LeaseRevoke(lease->id()), IsOk());
  EXPECT_EQ(ValueOf(*client_, key), "");
  EXPECT_THAT(client_->LeaseKeepAliveOnce(lease->id()),
              StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(EtcdClientTest, WatchDeliversEventsInRevisionOrderThenProgress) {
  auto start = client_->Put(PutOf(prefix_ + "a", "1"));
  ASSERT_THAT(start, IsOk());
  // One Txn writing two keys: one revision, two events, one batch.
  etcdserverpb::TxnRequest both;
  *both.add_success()->mutable_request_put() = PutOf(prefix_ + "b", "2");
  *both.add_success()->mutable_request_put() = PutOf(prefix_ + "c", "3");
  auto pair = client_->Txn(both, Retry::kAtMostOnce);
  ASSERT_THAT(pair, IsOk());
  ASSERT_THAT(client_->Put(PutOf("/elsewhere", "not watched")), IsOk());

  WatchLog log;
  WatchOptions options;
  options.key = prefix_;
  options.start_revision = start->header().revision();
  auto watch = client_->Watch(options, log.OnBatch(), log.OnEnd());
  ASSERT_THAT(watch, IsOk());
  auto last = client_->Put(PutOf(prefix_ + "a", "4"));
  ASSERT_THAT(last, IsOk());
  ASSERT_TRUE(log.WaitRevision(last->header().revision(), absl::Seconds(10)));

  // (value, revision) of each event; a batch's revision is its last
  // event's, and the next batch starts past it: no revision is split.
  std::vector<std::pair<std::string, int64_t>> events;
  int64_t previous_batch = 0;
  for (const WatchBatch& batch : log.batches()) {
    if (batch.events.empty()) continue;  // a progress notification
    EXPECT_GT(batch.events.front().kv().mod_revision(), previous_batch);
    EXPECT_EQ(batch.events.back().kv().mod_revision(), batch.revision);
    previous_batch = batch.revision;
    for (const mvccpb::Event& event : batch.events) {
      events.emplace_back(event.kv().value(), event.kv().mod_revision());
    }
  }
  const int64_t txn_revision = pair->header().revision();
  EXPECT_THAT(
      events,
      ElementsAre(
          std::pair<std::string, int64_t>("1", start->header().revision()),
          std::pair<std::string, int64_t>("2", txn_revision),
          std::pair<std::string, int64_t>("3", txn_revision),
          std::pair<std::string, int64_t>("4", last->header().revision())));

  // Quiet now: the member's progress notification (every 500 ms here)
  // covers a later revision written elsewhere.
  auto unrelated = client_->Put(PutOf("/elsewhere", "again"));
  ASSERT_THAT(unrelated, IsOk());
  EXPECT_TRUE(
      log.WaitRevision(unrelated->header().revision(), absl::Seconds(10)));
  EXPECT_GT(watch->get()->next_revision(), unrelated->header().revision());
}

// A catch-up response larger than the client may receive arrives in
// fragments and is delivered whole.
TEST_F(EtcdClientTest, WatchReassemblesAResponseLargerThanItsReceiveLimit) {
  const std::string value(1 << 20, 'x');
  int64_t first = 0;
  int64_t last = 0;
  for (int i = 0; i < 3; ++i) {
    auto put = client_->Put(PutOf(absl::StrCat(prefix_, i), value));
    ASSERT_THAT(put, IsOk());
    if (i == 0) first = put->header().revision();
    last = put->header().revision();
  }
  // 3 MiB of events in one catch-up response; this client takes 2 MiB.
  EtcdClientOptions small;
  small.endpoints = cluster_->endpoints();
  small.max_receive_bytes = 2 << 20;
  auto watcher = EtcdClient::Create(small);
  ASSERT_THAT(watcher, IsOk());
  WatchLog log;
  WatchOptions options;
  options.key = prefix_;
  options.start_revision = first;
  auto watch = (*watcher)->Watch(options, log.OnBatch(), log.OnEnd());
  ASSERT_THAT(watch, IsOk());
  ASSERT_TRUE(log.WaitRevision(last, absl::Seconds(10)))
      << "streams opened: " << watch->get()->streams_opened();

  int events = 0;
  for (const WatchBatch& batch : log.batches()) {
    for (const mvccpb::Event& event : batch.events) {
      EXPECT_EQ(event.kv().mod_revision(), first + events);
      EXPECT_EQ(event.kv().value().size(), value.size());
      ++events;
    }
  }
  EXPECT_EQ(events, 3);
}

TEST_F(EtcdClientTest, WatchFromACompactedRevisionReportsCompactRevision) {
  auto old = client_->Put(PutOf(prefix_ + "k", "1"));
  ASSERT_THAT(old, IsOk());
  auto newer = client_->Put(PutOf(prefix_ + "k", "2"));
  ASSERT_THAT(newer, IsOk());
  ASSERT_THAT(client_->Compact(newer->header().revision(), /*physical=*/true),
              IsOk());

  WatchLog log;
  WatchOptions options;
  options.key = prefix_;
  options.start_revision = old->header().revision();
  auto watch = client_->Watch(options, log.OnBatch(), log.OnEnd());
  ASSERT_THAT(watch, IsOk());
  ASSERT_TRUE(log.WaitEnd(absl::Seconds(10)));

  EXPECT_EQ(log.end().compact_revision, newer->header().revision());
  EXPECT_THAT(log.end().status, StatusIs(absl::StatusCode::kOutOfRange));
  EXPECT_THAT(log.batches(), IsEmpty());
}

TEST_F(EtcdClientTest, AtMostOnceWriteToAClusterThatIsGoneFailsUnavailable) {
  // A port nothing listens on: the write fails at once, UNAVAILABLE, not
  // as the connection error it met.
  EtcdClientOptions options;
  options.endpoints = {"127.0.0.1:1"};
  auto client = EtcdClient::Create(options);
  ASSERT_THAT(client, IsOk());
  const absl::Time start = absl::Now();
  EXPECT_THAT((*client)->Put(PutOf("k", "v"), Retry::kAtMostOnce,
                             absl::Now() + absl::Milliseconds(500)),
              StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
}

// ---------------------------------------------------------------------------
// Three members: failover. Each test heals what it disturbed.

class EtcdFailoverTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    EtcdClusterOptions options;
    options.members = 3;
    auto cluster = EtcdCluster::Start(options);
    ASSERT_THAT(cluster, IsOk());
    cluster_ = cluster->release();
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }
  void SetUp() override { ASSERT_NE(cluster_, nullptr); }
  void TearDown() override {
    if (cluster_ != nullptr) {
      EXPECT_THAT(cluster_->Heal(), IsOk());
    }
  }

  // A client whose first choice is member `first`.
  std::unique_ptr<EtcdClient> ClientStartingAt(int first) {
    EtcdClientOptions options;
    for (int i = 0; i < cluster_->size(); ++i) {
      options.endpoints.push_back(
          cluster_->endpoints()[(first + i) % cluster_->size()]);
    }
    auto client = EtcdClient::Create(options);
    EXPECT_THAT(client, IsOk());
    return client.ok() ? *std::move(client) : nullptr;
  }

  static EtcdCluster* cluster_;
};

EtcdCluster* EtcdFailoverTest::cluster_ = nullptr;

// Guarded Txns through a follower (forwarded to the leader, as most of a
// replica's writes are): each applies once. Prints the round trip.
TEST_F(EtcdFailoverTest, GuardedTxnsThroughAFollowerApplyOnce) {
  auto leader = cluster_->LeaderIndex();
  ASSERT_THAT(leader, IsOk());
  auto client = ClientStartingAt((*leader + 1) % cluster_->size());
  ASSERT_NE(client, nullptr);
  constexpr int kTxns = 100;
  std::vector<absl::Duration> round_trips;
  for (int i = 0; i < kTxns; ++i) {
    const std::string key = absl::StrFormat("/failover/txn/%03d", i);
    const absl::Time start = absl::Now();
    auto result = client->Txn(CreateOnce(key, "v"), Retry::kIdempotent);
    round_trips.push_back(absl::Now() - start);
    ASSERT_THAT(result, IsOk()) << key;
    EXPECT_TRUE(result->succeeded()) << key;
    // Again: the compare now fails and nothing is written.
    auto again = client->Txn(CreateOnce(key, "w"), Retry::kIdempotent);
    ASSERT_THAT(again, IsOk()) << key;
    EXPECT_FALSE(again->succeeded()) << key;
  }
  int64_t keys = 0;
  auto scanned = client->ScanPrefix(
      "/failover/txn/", 1000,
      [&](const google::protobuf::RepeatedPtrField<mvccpb::KeyValue>& page) {
        for (const mvccpb::KeyValue& kv : page) {
          ++keys;
          EXPECT_EQ(kv.version(), 1) << kv.key();
          EXPECT_EQ(kv.value(), "v") << kv.key();
        }
        return absl::OkStatus();
      });
  ASSERT_THAT(scanned, IsOk());
  EXPECT_EQ(keys, kTxns);
  std::sort(round_trips.begin(), round_trips.end());
  std::printf("etcd guarded Txn via a follower, sequential: p50 %s p99 %s\n",
              absl::FormatDuration(round_trips[kTxns / 2]).c_str(),
              absl::FormatDuration(round_trips[kTxns * 99 / 100]).c_str());
}

TEST_F(EtcdFailoverTest, WatchResumesAfterItsMemberIsKilled) {
  auto client = ClientStartingAt(0);
  ASSERT_NE(client, nullptr);
  const std::string prefix = "/failover/watch/";
  auto begin = client->Put(PutOf("/failover/begin", ""));
  ASSERT_THAT(begin, IsOk());

  WatchLog log;
  WatchOptions options;
  options.key = prefix;
  options.start_revision = begin->header().revision() + 1;
  // The watch starts on member 0, the client's first choice.
  auto watch = client->Watch(options, log.OnBatch(), log.OnEnd());
  ASSERT_THAT(watch, IsOk());

  constexpr int kKeys = 40;
  for (int i = 0; i < kKeys; ++i) {
    if (i == kKeys / 2) {
      ASSERT_THAT(cluster_->Kill(0), IsOk());
    }
    const std::string key = absl::StrFormat("%s%03d", prefix, i);
    ASSERT_THAT(client->Txn(CreateOnce(key, "v"), Retry::kIdempotent), IsOk())
        << key;
  }
  // What was written, each key once, at the revision that created it.
  std::vector<std::pair<std::string, int64_t>> written;
  int64_t last_revision = 0;
  auto scanned = client->ScanPrefix(
      prefix, 100,
      [&](const google::protobuf::RepeatedPtrField<mvccpb::KeyValue>& page) {
        for (const mvccpb::KeyValue& kv : page) {
          written.emplace_back(kv.key(), kv.create_revision());
          last_revision = std::max(last_revision, kv.mod_revision());
        }
        return absl::OkStatus();
      });
  ASSERT_THAT(scanned, IsOk());
  ASSERT_EQ(written.size(), static_cast<size_t>(kKeys));
  std::sort(written.begin(), written.end(),
            [](const auto& a, const auto& b) { return a.second < b.second; });

  ASSERT_TRUE(log.WaitRevision(last_revision, absl::Seconds(15)))
      << "watch at " << watch->get()->next_revision() << ", want past "
      << last_revision;
  std::vector<std::pair<std::string, int64_t>> delivered;
  int64_t previous = 0;
  for (const WatchBatch& batch : log.batches()) {
    for (const mvccpb::Event& event : batch.events) {
      EXPECT_GT(event.kv().mod_revision(), previous) << event.kv().key();
      previous = event.kv().mod_revision();
      delivered.emplace_back(event.kv().key(), event.kv().mod_revision());
    }
  }
  EXPECT_EQ(delivered, written) << "lost, repeated or reordered events";
  EXPECT_GE(watch->get()->streams_opened(), 2) << "the watch never moved";
}

TEST_F(EtcdFailoverTest, WatchLeavesAStoppedMember) {
  auto client = ClientStartingAt(1);
  ASSERT_NE(client, nullptr);
  auto begin = client->Put(PutOf("/failover/stopped/begin", ""));
  ASSERT_THAT(begin, IsOk());
  WatchLog log;
  WatchOptions options;
  options.key = "/failover/stopped/";
  options.start_revision = begin->header().revision() + 1;
  auto watch = client->Watch(options, log.OnBatch(), log.OnEnd());
  ASSERT_THAT(watch, IsOk());
  // Let the stream on member 1 open before the member freezes.
  auto first = client->Put(PutOf("/failover/stopped/k1", "v"));
  ASSERT_THAT(first, IsOk());
  ASSERT_TRUE(log.WaitRevision(first->header().revision(), absl::Seconds(10)));

  ASSERT_THAT(cluster_->Stop(1), IsOk());
  // Member 1 keeps its sockets and answers nothing: the writes move on
  // after their attempt timeout, the watch after its silence timeout.
  auto second =
      client->Txn(CreateOnce("/failover/stopped/k2", "v"), Retry::kIdempotent);
  ASSERT_THAT(second, IsOk());
  EXPECT_TRUE(log.WaitRevision(second->header().revision(), absl::Seconds(10)))
      << "the watch stayed on the stopped member";
}

TEST_F(EtcdFailoverTest, WritesSurviveTheLeaderBeingKilled) {
  auto leader = cluster_->LeaderIndex();
  ASSERT_THAT(leader, IsOk());
  // The client starts at the leader, so the kill takes its member away.
  auto client = ClientStartingAt(*leader);
  ASSERT_NE(client, nullptr);

  constexpr int kWrites = 30;
  std::vector<absl::Time> done;
  absl::Time killed_at;
  for (int i = 0; i < kWrites; ++i) {
    if (i == 10) {
      killed_at = absl::Now();
      ASSERT_THAT(cluster_->Kill(*leader), IsOk());
    }
    const std::string key = absl::StrFormat("/failover/leader/%03d", i);
    // Each write must get through within its own deadline.
    auto result = client->Txn(CreateOnce(key, "v"), Retry::kIdempotent,
                              absl::Now() + absl::Seconds(8));
    ASSERT_THAT(result, IsOk()) << key;
    done.push_back(absl::Now());
  }
  // The write gap: from the kill to the first write acknowledged after it.
  const absl::Duration gap = done[10] - killed_at;
  std::printf("etcd leader SIGKILL: write gap %s\n",
              absl::FormatDuration(gap).c_str());
  RecordProperty("leader_kill_write_gap_ms",
                 static_cast<int>(absl::ToInt64Milliseconds(gap)));
  auto next_leader = cluster_->LeaderIndex();
  ASSERT_THAT(next_leader, IsOk());
  EXPECT_NE(*next_leader, *leader);
}

TEST_F(EtcdFailoverTest, QuorumLostMakesWritesUnavailableWithinTheirDeadline) {
  auto client = ClientStartingAt(0);
  ASSERT_NE(client, nullptr);
  ASSERT_THAT(client->Put(PutOf("/failover/quorum/before", "v")), IsOk());
  ASSERT_THAT(cluster_->Stop(1), IsOk());
  ASSERT_THAT(cluster_->Stop(2), IsOk());

  for (Retry retry : {Retry::kAtMostOnce, Retry::kIdempotent}) {
    const absl::Time start = absl::Now();
    const absl::Duration timeout = absl::Seconds(2);
    EXPECT_THAT(client->Txn(CreateOnce("/failover/quorum/after", "v"), retry,
                            start + timeout),
                StatusIs(absl::StatusCode::kUnavailable))
        << (retry == Retry::kIdempotent ? "idempotent" : "at most once");
    // Within the deadline, give or take the scheduling of a busy machine.
    EXPECT_LT(absl::Now() - start, timeout + absl::Seconds(1))
        << (retry == Retry::kIdempotent ? "idempotent" : "at most once");
  }
}

// ---------------------------------------------------------------------------
// Mutual TLS, as sigild's --etcd_ca, --etcd_cert and --etcd_key set it up.

TEST(EtcdTlsTest, ClientWithCertificateReadsAndWrites) {
  EtcdClusterOptions options;
  options.tls = true;
  auto cluster = EtcdCluster::Start(options);
  ASSERT_THAT(cluster, IsOk());
  auto client = (*cluster)->NewClient();
  ASSERT_THAT(client, IsOk());
  ASSERT_THAT((*client)->Put(PutOf("/tls/k", "v")), IsOk());
  EXPECT_EQ(ValueOf(**client, "/tls/k"), "v");

  // Without a client certificate the member refuses the handshake.
  EtcdClientOptions anonymous;
  anonymous.endpoints = (*cluster)->endpoints();
  anonymous.ca_file = (*cluster)->ca_file();
  auto refused = EtcdClient::Create(anonymous);
  ASSERT_THAT(refused, IsOk());
  EXPECT_THAT(
      (*refused)->Range(KeyOf("/tls/k"), absl::Now() + absl::Milliseconds(500)),
      StatusIs(absl::StatusCode::kUnavailable));
}

TEST(EtcdTlsTest, CertificateWithoutKeyIsRefusedAtCreate) {
  EtcdClientOptions options;
  options.endpoints = {"127.0.0.1:2379"};
  options.cert_file = "client.crt";
  EXPECT_THAT(EtcdClient::Create(options),
              StatusIs(absl::StatusCode::kFailedPrecondition));
}

}  // namespace
}  // namespace sigil::server::store::etcd
