// The Store contract (server/store/store.h) in executable form: typed tests
// that every Store implementation runs. What one implementation does of its
// own (files on disk, locks, format versions, compaction) is tested beside
// it, as rocks_store_test does for RocksStore.
//
// A store joins the suite with a factory added to StoreFactories below, a
// struct with:
//   static constexpr char kName[];       names the instantiation
//   static void SetUpTestSuite();        suite-wide resources (a cluster),
//   static void TearDownTestSuite();     or nothing
//   absl::StatusOr<std::unique_ptr<Store>> Open(absl::string_view name,
//                                               const token::Clock* clock);
//     the store `name` of this test: empty on its first Open, and after
//     the previous store of that name was destroyed, opened again on what
//     it left, as a restarted sigild would. Stores of different names
//     share nothing.
//   a default constructor, and a destructor that removes what Open made.
// One factory lives for one test. The clock is the tests' FakeClock: no
// test sleeps.

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/store/etcd/etcd_client.h"
#include "server/store/etcd/etcd_store.h"
#include "server/store/rocks_store.h"
#include "server/store/store.h"
#include "tests/server/store/store_testing.h"
#include "tests/testing/etcd_cluster.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "token/clock.h"
#include "token/revocation_index.h"

namespace sigil::server::store {
namespace {

using ::sigil::testing::IsOk;
using ::sigil::testing::StatusIs;
using test_support::FirstRefreshHash;
using test_support::Is;
using test_support::kStart;
using test_support::MakeSession;
using test_support::Micros;
using test_support::Put;
using test_support::Seqs;
using test_support::SessionRevocation;
using test_support::SubjectRevocation;
using test_support::SubjectSystemRevocation;
using test_support::SystemsOf;
using test_support::TokenRevocation;
using test_support::WithSeq;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAreArray;
using token::Revocation;
using RecordIf = Store::RecordIf;

// RocksStore, each named store in a data dir of its own under the test's
// temp dir.
class RocksStoreFactory {
 public:
  static constexpr char kName[] = "RocksStore";
  // Orders a login against a logout by their instants alone: a login
  // stamped before a logout but recorded after it is taken and narrowed.
  static constexpr bool kOrdersByCommit = false;
  static void SetUpTestSuite() {}
  static void TearDownTestSuite() {}

  absl::StatusOr<std::unique_ptr<Store>> Open(absl::string_view name,
                                              const token::Clock* clock) {
    auto store = RocksStore::Open(dir_.Sub(std::string(name)), clock);
    if (!store.ok()) return store.status();
    return std::unique_ptr<Store>(*std::move(store));
  }

 private:
  sigil::testing::TempDir dir_;
};

// EtcdStore on one real etcd member shared by the suite; each test's
// stores live under a prefix of their own, each named store under its own
// prefix within it.
class EtcdStoreFactory {
 public:
  static constexpr char kName[] = "EtcdStore";
  // Orders a login against a logout by which committed first: a login
  // stamped at or below a recorded logout is refused (ABORTED), and a
  // logout is raised above every instant recorded before it.
  static constexpr bool kOrdersByCommit = true;
  static void SetUpTestSuite() {
    auto cluster = sigil::testing::EtcdCluster::Start();
    ASSERT_THAT(cluster, IsOk());
    cluster_ = cluster->release();
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }

  EtcdStoreFactory() : test_(++tests_) {}

  absl::StatusOr<std::unique_ptr<Store>> Open(absl::string_view name,
                                              const token::Clock* clock) {
    if (cluster_ == nullptr) return absl::UnavailableError("no etcd cluster");
    auto client = cluster_->NewClient();
    if (!client.ok()) return client.status();
    EtcdStore::Options options;
    options.prefix = absl::StrCat("/conformance/", test_, "/", name, "/");
    auto store = EtcdStore::Open(client->get(), clock, options);
    if (!store.ok()) return store.status();
    clients_.push_back(*std::move(client));
    return std::unique_ptr<Store>(*std::move(store));
  }

 private:
  static inline sigil::testing::EtcdCluster* cluster_ = nullptr;
  static inline int tests_ = 0;
  const int test_;
  // Outlive the stores, which the test destroys first.
  std::vector<std::unique_ptr<etcd::EtcdClient>> clients_;
};

// Every Store implementation; the suite runs once for each.
using StoreFactories = ::testing::Types<RocksStoreFactory, EtcdStoreFactory>;

struct FactoryName {
  template <typename Factory>
  static std::string GetName(int) {
    return Factory::kName;
  }
};

constexpr char kMain[] = "main";

template <typename Factory>
class StoreConformanceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { Factory::SetUpTestSuite(); }
  static void TearDownTestSuite() { Factory::TearDownTestSuite(); }

  void SetUp() override { store_ = Open(kMain); }

  std::unique_ptr<Store> Open(absl::string_view name) {
    auto store = factory_.Open(name, &clock_);
    EXPECT_THAT(store, IsOk()) << "opening store " << name;
    return store.ok() ? *std::move(store) : nullptr;
  }

  // Destroys the test's store and opens it again, as a restart would.
  void Reopen() {
    store_.reset();
    store_ = Open(kMain);
  }

  Store& store() { return *store_; }

  // An instant as the authority stamps one: strictly increasing, from
  // kStart on, and above every logout the store has recorded.
  // Thread-safe.
  int64_t Tick() {
    int64_t last = last_tick_.load();
    while (true) {
      const int64_t next =
          std::max({last + 1, Micros(kStart), store().LogoutFloor() + 1});
      if (last_tick_.compare_exchange_weak(last, next)) return next;
    }
  }

  // Records `session` stamped by Tick, stamping again while the store
  // refuses the instant (a logout overtook it), as Authority::Issue does.
  absl::Status PutStamped(Session session) {
    absl::Status put = absl::OkStatus();
    for (int attempt = 0; attempt < 16; ++attempt) {
      session.created_us = Tick();
      put = Put(store(), session);
      if (put.code() != absl::StatusCode::kAborted) return put;
    }
    return put;
  }

  std::vector<Revocation> AllRevocations(Store& store) {
    std::vector<Revocation> all;
    EXPECT_THAT(store.ForEachRevocation(
                    [&all](const Revocation& r) { all.push_back(r); }),
                IsOk());
    return all;
  }
  std::vector<Revocation> AllRevocations() { return AllRevocations(store()); }

  std::vector<Revocation> AllEvents(Store& store) {
    auto events = store.ReadEvents(0, std::numeric_limits<size_t>::max());
    EXPECT_THAT(events, IsOk());
    return events.ok() ? *events : std::vector<Revocation>();
  }
  std::vector<Revocation> AllEvents() { return AllEvents(store()); }

  // Appends and returns the sessions the revocation ended; -1 on error.
  int64_t Append(const Revocation& r) {
    auto appended = store().AppendRevocation(r);
    EXPECT_THAT(appended, IsOk()) << "subject " << r.subject;
    return appended.ok() ? appended->revoked_sessions : -1;
  }

  // One subject-system logout appended kIfLoggedIn.
  absl::StatusOr<Store::AppendResult> LogoutIfLoggedIn(
      const Revocation& logout) {
    const RecordIf if_logged_in[] = {RecordIf::kIfLoggedIn};
    auto appended = store().AppendRevocations(absl::MakeConstSpan(&logout, 1),
                                              if_logged_in);
    if (!appended.ok()) return appended.status();
    return appended->front();
  }

  // Records `session` and reads it back, as a refresh would before
  // rotating.
  std::optional<Session> PutAndRead(const Session& session) {
    EXPECT_THAT(Put(store(), session), IsOk()) << session.session_id;
    auto read = store().GetSession(session.subject, session.session_id);
    EXPECT_THAT(read, IsOk()) << session.session_id;
    return read.ok() ? *read : std::nullopt;
  }

  // A rotation as Authority::Refresh makes it, over the session as read:
  // `spent_hash` traded for `successor` at `now`, idle expiry 45 minutes on.
  absl::Status Rotate(const Session& read, absl::Time now,
                      const std::string& successor,
                      const std::string& spent_hash = "") {
    auto spent = store().GetRefreshToken(
        spent_hash.empty() ? FirstRefreshHash(read.session_id) : spent_hash);
    if (!spent.ok()) return spent.status();
    if (!spent->has_value()) return absl::NotFoundError("no refresh token");
    Session refreshed = read;
    refreshed.last_refreshed = now;
    refreshed.idle_expires_at = now + absl::Minutes(45);
    // The new access token's instant, as the authority stamps it.
    refreshed.refreshed_us = Tick();
    return store().RotateRefreshToken(refreshed, **spent, successor, now);
  }

  // Whether a refresh token with `hash` is recorded.
  bool Known(const std::string& hash) {
    auto token = store().GetRefreshToken(hash);
    EXPECT_THAT(token, IsOk()) << hash;
    return token.ok() && token->has_value();
  }

  // The ids ListSessions gives for `subject`, in its order.
  std::vector<std::string> LiveIds(const std::string& subject) {
    std::vector<std::string> ids;
    auto listed = store().ListSessions(subject);
    EXPECT_THAT(listed, IsOk()) << subject;
    if (listed.ok()) {
      for (const Session& s : *listed) ids.push_back(s.session_id);
    }
    return ids;
  }

  // Declared first: the stores use the clock, and the factory's resources
  // hold the stores.
  token::FakeClock clock_{kStart};
  std::atomic<int64_t> last_tick_{0};
  Factory factory_;
  std::unique_ptr<Store> store_;
};

TYPED_TEST_SUITE(StoreConformanceTest, StoreFactories, FactoryName);

// `r` as its event reads back: its seq, and the instants the store
// recorded, which may lie after its own (see AppendResult).
Revocation Recorded(Revocation r, const Store::AppendResult& result) {
  r.seq = result.seq;
  r.not_before_us = result.not_before_us;
  r.expires_at = result.expires_at;
  return r;
}

// --- Revocations and the event log ---

TYPED_TEST(StoreConformanceTest, AppendsAssignIncreasingSeqsInOrder) {
  ASSERT_NE(this->store_, nullptr);
  const absl::Time expiry = kStart + absl::Hours(1);
  const std::vector<std::vector<Revocation>> calls = {
      {SubjectRevocation("bob", kStart, expiry),
       TokenRevocation("jti-1", kStart, expiry),
       SubjectSystemRevocation("carol", "a", kStart, expiry),
       SessionRevocation("sid-1", kStart, expiry)},
      {TokenRevocation("jti-2", kStart, expiry)},
      {SubjectSystemRevocation("dave", "b", kStart, expiry),
       TokenRevocation("jti-3", kStart, expiry)},
  };
  std::vector<::testing::Matcher<const Revocation&>> expected;
  uint64_t next = 1;
  for (size_t c = 0; c < calls.size(); ++c) {
    SCOPED_TRACE(absl::StrCat("call ", c, " of ", calls[c].size()));
    auto appended = this->store().AppendRevocations(calls[c]);
    ASSERT_THAT(appended, IsOk());
    ASSERT_EQ(appended->size(), calls[c].size());
    for (size_t i = 0; i < calls[c].size(); ++i) {
      const Store::AppendResult& result = (*appended)[i];
      EXPECT_EQ(result.seq, next) << "revocation " << i;
      EXPECT_TRUE(result.recorded) << "revocation " << i;
      EXPECT_GE(result.not_before_us, calls[c][i].not_before_us)
          << "revocation " << i;
      EXPECT_GE(result.expires_at, calls[c][i].expires_at)
          << "revocation " << i;
      expected.push_back(Is(Recorded(calls[c][i], result)));
      ++next;
    }
    EXPECT_EQ(this->store().LastSeq(), next - 1);
  }
  EXPECT_THAT(this->AllEvents(), ElementsAreArray(expected));
}

TYPED_TEST(StoreConformanceTest, AnEmptyCallAppendsNothing) {
  ASSERT_NE(this->store_, nullptr);
  auto appended = this->store().AppendRevocations({});
  ASSERT_THAT(appended, IsOk());
  EXPECT_THAT(*appended, IsEmpty());
  EXPECT_EQ(this->store().LastSeq(), 0u);
  EXPECT_THAT(this->AllEvents(), IsEmpty());
}

TYPED_TEST(StoreConformanceTest, RevocationsAndEventsSurviveReopen) {
  ASSERT_NE(this->store_, nullptr);
  const std::vector<Revocation> appended = {
      TokenRevocation("jti-1", kStart, kStart + absl::Hours(1)),
      SessionRevocation("sid-1", kStart + absl::Microseconds(1),
                        kStart + absl::Hours(2)),
      SubjectSystemRevocation("alice", "billing",
                              kStart + absl::Microseconds(2),
                              kStart + absl::Hours(3)),
      SubjectRevocation("bob", kStart + absl::Microseconds(3),
                        kStart + absl::Hours(4)),
  };
  std::vector<::testing::Matcher<const Revocation&>> expected;
  EXPECT_EQ(this->store().LastSeq(), 0u);
  for (size_t i = 0; i < appended.size(); ++i) {
    auto result = this->store().AppendRevocation(appended[i]);
    ASSERT_THAT(result, IsOk()) << "revocation " << i;
    EXPECT_EQ(result->seq, i + 1) << "revocation " << i;
    expected.push_back(Is(WithSeq(appended[i], i + 1)));
  }
  this->Reopen();
  ASSERT_NE(this->store_, nullptr);
  EXPECT_EQ(this->store().LastSeq(), appended.size());
  EXPECT_THAT(this->AllRevocations(), UnorderedElementsAreArray(expected));
  EXPECT_THAT(this->AllEvents(), ElementsAreArray(expected));

  auto next = this->store().AppendRevocation(
      TokenRevocation("jti-2", kStart, kStart + absl::Hours(1)));
  ASSERT_THAT(next, IsOk());
  EXPECT_EQ(next->seq, appended.size() + 1);
  EXPECT_EQ(this->store().LastSeq(), appended.size() + 1);
}

TYPED_TEST(StoreConformanceTest, ReadEventsHonoursAfterSeqAndLimit) {
  ASSERT_NE(this->store_, nullptr);
  for (int i = 0; i < 5; ++i) {
    this->Append(TokenRevocation(absl::StrCat("jti-", i), kStart,
                                 kStart + absl::Hours(1)));
  }
  struct Case {
    uint64_t after_seq;
    size_t limit;
    std::vector<uint64_t> seqs;
  };
  const Case cases[] = {
      {0, 100, {1, 2, 3, 4, 5}},
      {0, 2, {1, 2}},
      {2, 100, {3, 4, 5}},
      {3, 1, {4}},
      {5, 100, {}},
      {7, 100, {}},
      {0, 0, {}},
      {std::numeric_limits<uint64_t>::max(), 100, {}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(absl::StrCat("after_seq=", c.after_seq, " limit=", c.limit));
    auto events = this->store().ReadEvents(c.after_seq, c.limit);
    ASSERT_THAT(events, IsOk());
    EXPECT_THAT(Seqs(*events), ElementsAreArray(c.seqs));
  }
}

// A subscriber catching up reads page after page from the last seq it
// holds: every event once, in seq order, whatever the page size.
TYPED_TEST(StoreConformanceTest, ReadEventsPagesThroughTheLogInSeqOrder) {
  ASSERT_NE(this->store_, nullptr);
  const absl::Time expiry = kStart + absl::Hours(1);
  std::vector<std::string> jtis;
  for (int call = 0; call < 3; ++call) {
    std::vector<Revocation> batch;
    for (int i = 0; i <= call; ++i) {
      jtis.push_back(absl::StrCat("jti-", call, "-", i));
      batch.push_back(TokenRevocation(jtis.back(), kStart, expiry));
    }
    ASSERT_THAT(this->store().AppendRevocations(batch), IsOk());
  }
  for (size_t limit : {1, 2, 4, 6, 100}) {
    SCOPED_TRACE(absl::StrCat("limit=", limit));
    std::vector<std::string> read;
    uint64_t after = 0;
    for (int page = 0; page <= 10; ++page) {
      auto events = this->store().ReadEvents(after, limit);
      ASSERT_THAT(events, IsOk()) << "after_seq=" << after;
      if (events->empty()) break;
      EXPECT_LE(events->size(), limit) << "after_seq=" << after;
      for (const Revocation& e : *events) {
        EXPECT_GT(e.seq, after) << "after_seq=" << after;
        after = e.seq;
        read.push_back(e.token_id);
      }
    }
    EXPECT_EQ(read, jtis);
    EXPECT_EQ(after, this->store().LastSeq());
  }
}

TYPED_TEST(StoreConformanceTest, RevocationOfSameTargetMergesStrictest) {
  ASSERT_NE(this->store_, nullptr);
  struct Case {
    std::string name;
    int64_t first_not_before_s, first_expires_s;
    int64_t second_not_before_s, second_expires_s;
    int64_t merged_not_before_s, merged_expires_s;
  };
  const Case cases[] = {
      {"later_both", 10, 100, 20, 200, 20, 200},
      {"earlier_both", 20, 200, 10, 100, 20, 200},
      {"later_not_before_earlier_expiry", 10, 200, 20, 100, 20, 200},
      {"earlier_not_before_later_expiry", 20, 100, 10, 200, 20, 200},
      {"same", 10, 100, 10, 100, 10, 100},
  };
  std::map<std::string, Revocation> merged;
  for (const Case& c : cases) {
    const auto at = [](int64_t s) { return kStart + absl::Seconds(s); };
    const Revocation first = SubjectSystemRevocation(
        c.name, "billing", at(c.first_not_before_s), at(c.first_expires_s));
    const Revocation second = SubjectSystemRevocation(
        c.name, "billing", at(c.second_not_before_s), at(c.second_expires_s));
    this->Append(first);
    auto appended = this->store().AppendRevocation(second);
    ASSERT_THAT(appended, IsOk()) << c.name;
    merged[c.name] = WithSeq(
        SubjectSystemRevocation(c.name, "billing", at(c.merged_not_before_s),
                                at(c.merged_expires_s)),
        appended->seq);
  }
  std::map<std::string, Revocation> table;
  for (const Revocation& r : this->AllRevocations()) table[r.subject] = r;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    ASSERT_EQ(table.count(c.name), 1u);
    EXPECT_THAT(table[c.name], Is(merged[c.name]));
  }
  // The event log keeps every append as it was made.
  EXPECT_EQ(this->AllEvents().size(), 2 * std::size(cases));
}

TYPED_TEST(StoreConformanceTest, DistinctTargetsDoNotMerge) {
  ASSERT_NE(this->store_, nullptr);
  const absl::Time expiry = kStart + absl::Hours(1);
  // Pairs that share a string but name different targets.
  const std::vector<Revocation> revocations = {
      TokenRevocation("x", kStart, expiry),
      SessionRevocation("x", kStart, expiry),
      SubjectRevocation("x", kStart, expiry),
      SubjectSystemRevocation("x", "a", kStart, expiry),
      SubjectSystemRevocation("x", "b", kStart, expiry),
      SubjectSystemRevocation("xa", "", kStart, expiry),
  };
  for (const Revocation& r : revocations) this->Append(r);
  std::vector<::testing::Matcher<const Revocation&>> expected;
  for (size_t i = 0; i < revocations.size(); ++i) {
    expected.push_back(Is(WithSeq(revocations[i], i + 1)));
  }
  EXPECT_THAT(this->AllRevocations(), UnorderedElementsAreArray(expected));
}

// A batch is the same revocations appended one by one: same seqs, same
// sessions reported ended, same merged table and events, same sessions left.
TYPED_TEST(StoreConformanceTest, OneCallAppendsAsManyCallsInARow) {
  ASSERT_NE(this->store_, nullptr);
  const absl::Time expiry = kStart + absl::Hours(1);
  const absl::Time later = kStart + absl::Hours(2);
  const Session sessions[] = {
      MakeSession("s1", "alice", {"a"}, expiry),
      MakeSession("s2", "alice", {"a", "b"}, expiry),
      MakeSession("s3", "alice", {"c"}, expiry),
      MakeSession("s4", "bob", {"a"}, expiry),
      MakeSession("s5", "carol", {"a", "b"}, expiry),
  };
  const std::vector<Revocation> batch = {
      SubjectSystemRevocation("alice", "a", kStart, expiry),
      // The same target again: merged with the one just before.
      SubjectSystemRevocation("alice", "a", kStart + absl::Seconds(1), later),
      TokenRevocation("jti", kStart, expiry),
      TokenRevocation("jti", kStart, later),
      SessionRevocation("s5", kStart, expiry, "carol"),
      SubjectRevocation("alice", kStart, expiry),
      SubjectRevocation("alice", kStart, expiry),
      SubjectSystemRevocation("bob", "a", kStart, expiry),
      SubjectSystemRevocation("carol", "b", kStart, expiry),
  };

  Store& one_by_one = this->store();
  std::unique_ptr<Store> together = this->Open("together");
  ASSERT_NE(together, nullptr);
  for (const Session& session : sessions) {
    ASSERT_THAT(Put(one_by_one, session), IsOk()) << session.session_id;
    ASSERT_THAT(Put(*together, session), IsOk()) << session.session_id;
  }
  std::vector<Store::AppendResult> expected;
  for (const Revocation& r : batch) {
    auto appended = one_by_one.AppendRevocation(r);
    ASSERT_THAT(appended, IsOk()) << r.subject;
    expected.push_back(*appended);
  }
  auto appended = together->AppendRevocations(batch);
  ASSERT_THAT(appended, IsOk());

  ASSERT_EQ(appended->size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    SCOPED_TRACE(absl::StrCat("revocation ", i, ": ", batch[i].subject, " at '",
                              batch[i].system, "'"));
    EXPECT_EQ((*appended)[i].seq, expected[i].seq);
    EXPECT_EQ((*appended)[i].revoked_sessions, expected[i].revoked_sessions);
  }
  EXPECT_EQ(together->LastSeq(), one_by_one.LastSeq());
  EXPECT_EQ(together->TickFloor(), one_by_one.TickFloor());
  const auto matchers = [](const std::vector<Revocation>& revocations) {
    std::vector<::testing::Matcher<const Revocation&>> each;
    for (const Revocation& r : revocations) each.push_back(Is(r));
    return each;
  };
  // The table in the store's own order; the events in seq order.
  EXPECT_THAT(
      this->AllRevocations(*together),
      UnorderedElementsAreArray(matchers(this->AllRevocations(one_by_one))));
  EXPECT_THAT(this->AllEvents(*together),
              ElementsAreArray(matchers(this->AllEvents(one_by_one))));
  // Each live session as "id: systems".
  const auto live = [](Store& store, const std::string& subject) {
    std::vector<std::string> out;
    auto listed = store.ListSessions(subject);
    EXPECT_THAT(listed, IsOk()) << subject;
    if (!listed.ok()) return out;
    for (const Session& session : *listed) {
      out.push_back(absl::StrCat(session.session_id, ": ",
                                 absl::StrJoin(session.systems, ",")));
    }
    return out;
  };
  for (const std::string subject : {"alice", "bob", "carol"}) {
    EXPECT_EQ(live(*together, subject), live(one_by_one, subject)) << subject;
  }
}

// All or nothing: one revocation the store refuses, last in its call,
// leaves no trace of the others.
TYPED_TEST(StoreConformanceTest, ABatchWithOneBadRevocationAppendsNothing) {
  ASSERT_NE(this->store_, nullptr);
  const absl::Time expiry = kStart + absl::Hours(1);
  ASSERT_THAT(Put(this->store(), MakeSession("s1", "alice", {"a"}, expiry)),
              IsOk());
  const std::vector<Revocation> batch = {
      TokenRevocation("jti", kStart + absl::Seconds(5), expiry),
      SessionRevocation("s1", kStart + absl::Seconds(5), expiry),
      SubjectRevocation("alice", kStart + absl::Seconds(5), expiry),
      SubjectRevocation(std::string("bo\0b", 4), kStart, expiry),
  };
  EXPECT_THAT(this->store().AppendRevocations(batch),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(this->store().LastSeq(), 0u);
  EXPECT_THAT(this->AllRevocations(), IsEmpty());
  EXPECT_THAT(this->AllEvents(), IsEmpty());
  EXPECT_EQ(this->store().TickFloor(), 0);
  EXPECT_EQ(SystemsOf(this->store().GetSession("alice", "s1")),
            std::vector<std::string>{"a"})
      << "session s1 was ended by a refused call";
  // Nothing was counted as logged out either.
  EXPECT_EQ(this->Append(SubjectRevocation("alice", kStart, expiry)), 1);
  EXPECT_EQ(this->store().LastSeq(), 1u);
}

TYPED_TEST(StoreConformanceTest, ConditionsOfAnotherCountAreRefused) {
  ASSERT_NE(this->store_, nullptr);
  const absl::Time expiry = kStart + absl::Hours(1);
  const std::vector<Revocation> batch = {
      TokenRevocation("jti-1", kStart, expiry),
      TokenRevocation("jti-2", kStart, expiry),
  };
  const std::vector<RecordIf> conditions = {RecordIf::kAlways};
  EXPECT_THAT(this->store().AppendRevocations(batch, conditions),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(this->store().LastSeq(), 0u);
  EXPECT_THAT(this->AllEvents(), IsEmpty());
}

TYPED_TEST(StoreConformanceTest, SubjectWithNulIsRejected) {
  ASSERT_NE(this->store_, nullptr);
  const std::string subject("al\0ice", 6);
  const absl::Time expiry = kStart + absl::Hours(1);
  EXPECT_THAT(Put(this->store(), MakeSession("s1", subject, {"a"}, expiry)),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(this->store().AppendRevocation(
                  SubjectRevocation(subject, kStart, expiry)),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(this->store().AppendRevocation(
                  SubjectSystemRevocation(subject, "a", kStart, expiry)),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(this->store().LastSeq(), 0u);
}

TYPED_TEST(StoreConformanceTest, ConcurrentAppendsGetUniqueConsecutiveSeqs) {
  ASSERT_NE(this->store_, nullptr);
  constexpr int kThreads = 4;
  constexpr int kPerThread = 25;
  Store& store = this->store();
  std::vector<std::vector<std::pair<uint64_t, std::string>>> results(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const std::string jti = absl::StrCat("jti-", t, "-", i);
        auto appended = store.AppendRevocation(
            TokenRevocation(jti, kStart, kStart + absl::Hours(1)));
        EXPECT_THAT(appended, IsOk()) << jti;
        if (appended.ok()) results[t].emplace_back(appended->seq, jti);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();

  std::map<uint64_t, std::string> jti_by_seq;
  for (const auto& per_thread : results) {
    for (const auto& [seq, jti] : per_thread) {
      EXPECT_TRUE(jti_by_seq.emplace(seq, jti).second)
          << "seq " << seq << " given twice, the second time to " << jti;
    }
  }
  constexpr uint64_t kTotal = kThreads * kPerThread;
  ASSERT_EQ(jti_by_seq.size(), kTotal);
  EXPECT_EQ(jti_by_seq.begin()->first, 1u);
  EXPECT_EQ(jti_by_seq.rbegin()->first, kTotal);
  EXPECT_EQ(store.LastSeq(), kTotal);

  const std::vector<Revocation> events = this->AllEvents();
  ASSERT_EQ(events.size(), kTotal);
  for (size_t i = 0; i < events.size(); ++i) {
    SCOPED_TRACE(absl::StrCat("event ", i));
    EXPECT_EQ(events[i].seq, i + 1);
    EXPECT_EQ(events[i].token_id, jti_by_seq[i + 1]);
  }
}

// --- Store identity ---

TYPED_TEST(StoreConformanceTest, IdIsKeptForLifeAndDiffersBetweenStores) {
  ASSERT_NE(this->store_, nullptr);
  const std::string id = this->store().Id();
  EXPECT_FALSE(id.empty());
  this->Reopen();
  ASSERT_NE(this->store_, nullptr);
  EXPECT_EQ(this->store().Id(), id);

  std::unique_ptr<Store> other = this->Open("other");
  ASSERT_NE(other, nullptr);
  EXPECT_FALSE(other->Id().empty());
  EXPECT_NE(other->Id(), id);
}

// --- Logouts and the sessions they end ---

TYPED_TEST(StoreConformanceTest, LogoutsReportSessionsOpenedSinceLastLogout) {
  ASSERT_NE(this->store_, nullptr);
  const absl::Time expiry = kStart + absl::Hours(1);
  const Session sessions[] = {
      MakeSession("s1", "alice", {"a"}, expiry),
      MakeSession("s2", "alice", {"a", "b"}, expiry),
      // A system listed twice is one session at that system.
      MakeSession("s3", "alice", {"c", "c"}, expiry),
      MakeSession("s4", "bob", {"a"}, expiry),
      // Subjects sharing a prefix stay apart.
      MakeSession("s5", "alice2", {"a"}, expiry),
      MakeSession("s6", "al", {"ice"}, expiry),
  };
  for (const Session& s : sessions) {
    ASSERT_THAT(Put(this->store(), s), IsOk()) << s.session_id;
  }
  struct Step {
    Revocation revocation;
    int64_t ended;
  };
  const Step steps[] = {
      {SubjectSystemRevocation("alice", "a", kStart, expiry), 2},
      {SubjectSystemRevocation("alice", "a", kStart, expiry), 0},
      {SubjectSystemRevocation("alice", "nowhere", kStart, expiry), 0},
      {TokenRevocation("jti", kStart, expiry), 0},
      {SessionRevocation("s2", kStart, expiry), 0},
      // Once per system: b (s2) and c (s3).
      {SubjectRevocation("alice", kStart, expiry), 2},
      {SubjectRevocation("alice", kStart, expiry), 0},
      {SubjectSystemRevocation("bob", "a", kStart, expiry), 1},
      {SubjectRevocation("alice2", kStart, expiry), 1},
      {SubjectRevocation("al", kStart, expiry), 1},
  };
  for (size_t i = 0; i < std::size(steps); ++i) {
    SCOPED_TRACE(absl::StrCat("step ", i, ": ", steps[i].revocation.subject,
                              " at '", steps[i].revocation.system, "'"));
    EXPECT_EQ(this->Append(steps[i].revocation), steps[i].ended);
  }
}

// "An earlier revocation of the same call counts as previous".
TYPED_TEST(StoreConformanceTest, AnEarlierLogoutOfTheSameCallCountsAsPrevious) {
  ASSERT_NE(this->store_, nullptr);
  const absl::Time expiry = kStart + absl::Hours(1);
  ASSERT_THAT(Put(this->store(), MakeSession("s1", "alice", {"a"}, expiry)),
              IsOk());
  ASSERT_THAT(
      Put(this->store(), MakeSession("s2", "alice", {"a", "b"}, expiry)),
      IsOk());
  const std::vector<Revocation> batch = {
      SubjectSystemRevocation("alice", "a", kStart, expiry),
      SubjectSystemRevocation("alice", "a", kStart, expiry),
      SubjectRevocation("alice", kStart, expiry),
      SubjectRevocation("alice", kStart, expiry),
  };
  auto appended = this->store().AppendRevocations(batch);
  ASSERT_THAT(appended, IsOk());
  std::vector<int64_t> ended;
  for (const Store::AppendResult& result : *appended) {
    ended.push_back(result.revoked_sessions);
  }
  // a: s1 and s2; a again: none; everywhere: s2 at b only; again: none.
  EXPECT_THAT(ended, ElementsAre(2, 0, 1, 0));
}

TYPED_TEST(StoreConformanceTest, SessionsOpenedAfterLogoutCountForTheNext) {
  ASSERT_NE(this->store_, nullptr);
  const absl::Time expiry = kStart + absl::Hours(1);
  ASSERT_THAT(Put(this->store(), MakeSession("s1", "alice", {"a"}, expiry)),
              IsOk());
  EXPECT_EQ(this->Append(SubjectRevocation("alice", kStart, expiry)), 1)
      << "first logout, after s1";
  ASSERT_THAT(this->PutStamped(MakeSession("s2", "alice", {"a"}, expiry)),
              IsOk());
  ASSERT_THAT(this->PutStamped(MakeSession("s3", "alice", {"b"}, expiry)),
              IsOk());
  EXPECT_EQ(this->Append(SubjectRevocation("alice", kStart, expiry)), 2)
      << "second logout, after s2 and s3";
}

TYPED_TEST(StoreConformanceTest, ExpiredSessionsAreNotReportedAsEnded) {
  ASSERT_NE(this->store_, nullptr);
  ASSERT_THAT(Put(this->store(), MakeSession("s1", "alice", {"a", "b"},
                                             kStart + absl::Hours(1))),
              IsOk());
  this->clock_.Advance(absl::Hours(2));
  // A new session after the old counter expired starts a fresh count.
  ASSERT_THAT(Put(this->store(),
                  MakeSession("s2", "alice", {"b"}, kStart + absl::Hours(3))),
              IsOk());
  const absl::Time expiry = kStart + absl::Hours(4);
  EXPECT_EQ(this->Append(SubjectSystemRevocation("alice", "a", kStart, expiry)),
            0)
      << "alice out of a, where only expired s1 was";
  EXPECT_EQ(this->Append(SubjectRevocation("alice", kStart, expiry)), 1)
      << "alice out everywhere, s2 live at b";
}

TYPED_TEST(StoreConformanceTest, LogoutsNarrowAndEndSessionsCreatedBeforeThem) {
  ASSERT_NE(this->store_, nullptr);
  Store& store = this->store();
  const absl::Time expiry = kStart + absl::Hours(1);
  const int64_t t0 = Micros(kStart);
  ASSERT_THAT(
      Put(store, MakeSession("s1", "alice", {"a", "b"}, expiry, t0 + 10)),
      IsOk());
  ASSERT_THAT(Put(store, MakeSession("s2", "alice", {"b"}, expiry, t0 + 30)),
              IsOk());
  ASSERT_THAT(Put(store, MakeSession("s3", "bob", {"a"}, expiry, t0 + 10)),
              IsOk());

  auto at = [](int64_t us) { return absl::FromUnixMicros(us); };
  struct Step {
    const char* name;
    std::optional<Revocation> revocation;
    std::vector<std::string> s1, s2, s3;
  };
  const Step steps[] = {
      {"nothing yet", std::nullopt, {"a", "b"}, {"b"}, {"a"}},
      {"alice out of a at 20",
       SubjectSystemRevocation("alice", "a", at(t0 + 20), expiry),
       {"b"},
       {"b"},
       {"a"}},
      // Between s1 and s2: only s1 is older. A store that orders by
      // commit raises the logout above s2, recorded before it.
      {"alice out of b at 20",
       SubjectSystemRevocation("alice", "b", at(t0 + 20), expiry),
       {"<none>"},
       TypeParam::kOrdersByCommit ? std::vector<std::string>{"<none>"}
                                  : std::vector<std::string>{"b"},
       {"a"}},
      // The same instant as s2's creation does not cover it, unless the
      // store orders the logout after every login recorded before it.
      {"alice out everywhere at 30",
       SubjectRevocation("alice", at(t0 + 30), expiry),
       {"<none>"},
       TypeParam::kOrdersByCommit ? std::vector<std::string>{"<none>"}
                                  : std::vector<std::string>{"b"},
       {"a"}},
      {"alice out everywhere at 31",
       SubjectRevocation("alice", at(t0 + 31), expiry),
       {"<none>"},
       {"<none>"},
       {"a"}},
  };
  for (const Step& step : steps) {
    SCOPED_TRACE(step.name);
    if (step.revocation.has_value()) this->Append(*step.revocation);
    EXPECT_EQ(SystemsOf(store.GetSession("alice", "s1")), step.s1);
    EXPECT_EQ(SystemsOf(store.GetSession("alice", "s2")), step.s2);
    EXPECT_EQ(SystemsOf(store.GetSession("bob", "s3")), step.s3);
  }

  // A login racing a logout may be recorded after it, yet predate it: it
  // is narrowed, or refused so that its caller stamps it again.
  const absl::Status late =
      Put(store, MakeSession("late", "alice", {"c"}, expiry, t0 + 25));
  if (TypeParam::kOrdersByCommit) {
    EXPECT_THAT(late, StatusIs(absl::StatusCode::kAborted));
    EXPECT_GE(store.LogoutFloor(), t0 + 25);
  } else {
    ASSERT_THAT(late, IsOk());
  }
  EXPECT_EQ(SystemsOf(store.GetSession("alice", "late")),
            std::vector<std::string>{"<none>"})
      << "session created at t0+25, recorded after a logout at t0+31";
  ASSERT_THAT(
      Put(store, MakeSession("new", "alice", {"a", "c"}, expiry, t0 + 40)),
      IsOk());
  auto listed = store.ListSessions("alice");
  ASSERT_THAT(listed, IsOk());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].session_id, "new");
  EXPECT_EQ((*listed)[0].systems, (std::vector<std::string>{"a", "c"}));
  EXPECT_EQ((*listed)[0].scopes, (std::vector<std::string>{"orders.read"}));
  EXPECT_EQ((*listed)[0].access_ttl, absl::Minutes(15));
  EXPECT_EQ((*listed)[0].refresh_secret, "secret");
}

// Logged out of a, a session at a and b still refreshes (for b); one at a
// alone has ended, its refresh token with it.
TYPED_TEST(StoreConformanceTest,
           ALogoutAtOneSystemLeavesTheSessionRefreshableAtTheOthers) {
  ASSERT_NE(this->store_, nullptr);
  const absl::Time expiry = kStart + absl::Hours(1);
  const std::optional<Session> both =
      this->PutAndRead(MakeSession("both", "alice", {"a", "b"}, expiry));
  const std::optional<Session> only_a =
      this->PutAndRead(MakeSession("only-a", "alice", {"a"}, expiry));
  ASSERT_TRUE(both.has_value() && only_a.has_value());
  this->Append(
      SubjectSystemRevocation("alice", "a", kStart + absl::Seconds(1), expiry));
  const absl::Time now = kStart + absl::Minutes(1);
  EXPECT_THAT(this->Rotate(*both, now, "next-both"), IsOk())
      << "session at a and b";
  EXPECT_THAT(this->Rotate(*only_a, now, "next-only-a"),
              StatusIs(absl::StatusCode::kAborted))
      << "session at a only";
  EXPECT_FALSE(this->Known("next-only-a"));
  EXPECT_EQ(SystemsOf(this->store().GetSession("alice", "both")),
            std::vector<std::string>{"b"});
}

TYPED_TEST(StoreConformanceTest, ASessionRevocationEndsTheSessionAndItsTokens) {
  ASSERT_NE(this->store_, nullptr);
  const absl::Time expiry = kStart + absl::Hours(1);
  const std::optional<Session> ended =
      this->PutAndRead(MakeSession("ended", "alice", {"a", "b"}, expiry));
  const std::optional<Session> kept =
      this->PutAndRead(MakeSession("kept", "alice", {"a", "b"}, expiry));
  ASSERT_TRUE(ended.has_value() && kept.has_value());
  // One rotation first: the revocation ends the session's current refresh
  // token, not only its first.
  ASSERT_THAT(this->Rotate(*ended, kStart + absl::Minutes(1), "ended-2"),
              IsOk());
  auto current = this->store().GetSession("alice", "ended");
  ASSERT_THAT(current, IsOk());
  ASSERT_TRUE(current->has_value());

  this->Append(SessionRevocation("ended", kStart + absl::Minutes(2),
                                 expiry + absl::Minutes(15)));
  EXPECT_EQ(SystemsOf(this->store().GetSession("alice", "ended")),
            std::vector<std::string>{"<none>"});
  EXPECT_EQ(this->LiveIds("alice"), std::vector<std::string>{"kept"});
  EXPECT_THAT(
      this->Rotate(**current, kStart + absl::Minutes(3), "ended-3", "ended-2"),
      StatusIs(absl::StatusCode::kAborted))
      << "refresh token ended-2 of the revoked session";
  EXPECT_FALSE(this->Known("ended-3"));
  EXPECT_THAT(this->Rotate(*kept, kStart + absl::Minutes(3), "kept-2"), IsOk())
      << "the subject's other session";
}

TYPED_TEST(StoreConformanceTest, SessionsEndWhenIdleOrExpiredOrRevoked) {
  ASSERT_NE(this->store_, nullptr);
  Session idle = MakeSession("idle", "alice", {"a"}, kStart + absl::Hours(2));
  idle.idle_expires_at = kStart + absl::Minutes(30);
  ASSERT_THAT(Put(this->store(), idle), IsOk());
  ASSERT_THAT(Put(this->store(), MakeSession("short", "alice", {"a"},
                                             kStart + absl::Minutes(40))),
              IsOk());
  ASSERT_THAT(Put(this->store(), MakeSession("revoked", "alice", {"a"},
                                             kStart + absl::Hours(2))),
              IsOk());
  ASSERT_THAT(Put(this->store(),
                  MakeSession("kept", "alice", {"a"}, kStart + absl::Hours(2))),
              IsOk());
  this->Append(SessionRevocation("revoked", kStart, kStart + absl::Hours(1)));
  EXPECT_EQ(SystemsOf(this->store().GetSession("alice", "revoked")),
            std::vector<std::string>{"<none>"});

  EXPECT_EQ(this->LiveIds("alice"),
            (std::vector<std::string>{"idle", "kept", "short"}))
      << "at start";
  this->clock_.Advance(absl::Minutes(30));
  EXPECT_EQ(this->LiveIds("alice"), (std::vector<std::string>{"kept", "short"}))
      << "at 30 minutes";
  this->clock_.Advance(absl::Minutes(10));
  EXPECT_EQ(this->LiveIds("alice"), std::vector<std::string>{"kept"})
      << "at 40 minutes";
}

// Each expiry is exclusive: a session is alive up to the microsecond
// before it, by the store's (injected) clock.
TYPED_TEST(StoreConformanceTest, GetSessionEndsAtIdleOrAbsoluteExpiry) {
  ASSERT_NE(this->store_, nullptr);
  struct Case {
    std::string name;
    absl::Duration idle, absolute, read_at;
    bool alive;
  };
  const absl::Duration us = absl::Microseconds(1);
  const Case cases[] = {
      {"before_idle", absl::Minutes(30), absl::Hours(2), absl::Minutes(30) - us,
       true},
      {"at_idle", absl::Minutes(30), absl::Hours(2), absl::Minutes(30), false},
      {"after_idle", absl::Minutes(30), absl::Hours(2), absl::Hours(1), false},
      {"before_absolute", absl::Hours(3), absl::Hours(1), absl::Hours(1) - us,
       true},
      {"at_absolute", absl::Hours(3), absl::Hours(1), absl::Hours(1), false},
      {"after_both", absl::Minutes(30), absl::Hours(1), absl::Hours(5), false},
  };
  for (const Case& c : cases) {
    Session session = MakeSession(c.name, "alice", {"a"}, kStart + c.absolute);
    session.idle_expires_at = kStart + c.idle;
    ASSERT_THAT(Put(this->store(), session), IsOk()) << c.name;
  }
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    this->clock_.Set(kStart + c.read_at);
    auto read = this->store().GetSession("alice", c.name);
    ASSERT_THAT(read, IsOk());
    EXPECT_EQ(read->has_value(), c.alive);
  }
}

// A rotation stores the new idle expiry: the session outlives the old one.
TYPED_TEST(StoreConformanceTest, ARotationMovesTheIdleExpiry) {
  ASSERT_NE(this->store_, nullptr);
  Session session = MakeSession("s1", "alice", {"a"}, kStart + absl::Hours(2));
  session.idle_expires_at = kStart + absl::Minutes(30);
  const std::optional<Session> read = this->PutAndRead(session);
  ASSERT_TRUE(read.has_value());
  this->clock_.Advance(absl::Minutes(20));
  // Rotate sets the idle expiry 45 minutes on: at 65 minutes.
  ASSERT_THAT(this->Rotate(*read, this->clock_.Now(), "hash-2"), IsOk());
  this->clock_.Advance(absl::Minutes(20));
  auto at_40 = this->store().GetSession("alice", "s1");
  ASSERT_THAT(at_40, IsOk());
  ASSERT_TRUE(at_40->has_value()) << "ended at 40 minutes, old idle expiry";
  EXPECT_EQ((*at_40)->idle_expires_at, kStart + absl::Minutes(65));
  this->clock_.Advance(absl::Minutes(25));
  EXPECT_EQ(SystemsOf(this->store().GetSession("alice", "s1")),
            std::vector<std::string>{"<none>"})
      << "alive at 65 minutes, new idle expiry";
}

TYPED_TEST(StoreConformanceTest, ListSessionsAfterPagesInSessionIdOrder) {
  ASSERT_NE(this->store_, nullptr);
  const absl::Time expiry = kStart + absl::Hours(1);
  // Recorded out of order; s3 is ended, and subjects sharing a prefix with
  // alice stay apart.
  for (const char* id : {"s4", "s0", "s6", "s2", "s3", "s5", "s1"}) {
    ASSERT_THAT(Put(this->store(), MakeSession(id, "alice", {"a"}, expiry)),
                IsOk())
        << id;
  }
  ASSERT_THAT(Put(this->store(), MakeSession("s7", "alice2", {"a"}, expiry)),
              IsOk());
  ASSERT_THAT(Put(this->store(), MakeSession("x", "al", {"ice"}, expiry)),
              IsOk());
  this->Append(SessionRevocation("s3", kStart, expiry));
  const std::vector<std::string> live = {"s0", "s1", "s2", "s4", "s5", "s6"};

  for (size_t limit : {1, 2, 4, 100}) {
    SCOPED_TRACE(absl::StrCat("limit=", limit));
    std::vector<std::string> read;
    std::string after;
    for (int page = 0; page <= 10; ++page) {
      auto sessions = this->store().ListSessionsAfter("alice", after, limit);
      ASSERT_THAT(sessions, IsOk()) << "after=" << after;
      if (sessions->empty()) break;
      EXPECT_LE(sessions->size(), limit) << "after=" << after;
      for (const Session& s : *sessions) {
        EXPECT_GT(s.session_id, after);
        EXPECT_EQ(s.subject, "alice");
        after = s.session_id;
        read.push_back(s.session_id);
      }
    }
    EXPECT_EQ(read, live);
  }
  struct Case {
    std::string after;
    size_t limit;
    std::vector<std::string> ids;
  };
  const Case cases[] = {
      {"s2", 2, {"s4", "s5"}},  // past the ended s3
      {"s25", 1, {"s4"}},       // an id no session has
      {"s6", 10, {}},
      {"", 0, {}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(absl::StrCat("after='", c.after, "' limit=", c.limit));
    auto sessions = this->store().ListSessionsAfter("alice", c.after, c.limit);
    ASSERT_THAT(sessions, IsOk());
    std::vector<std::string> ids;
    for (const Session& s : *sessions) ids.push_back(s.session_id);
    EXPECT_EQ(ids, c.ids);
  }
  EXPECT_EQ(this->LiveIds("alice2"), std::vector<std::string>{"s7"});
  EXPECT_EQ(this->LiveIds("al"), std::vector<std::string>{"x"});
  EXPECT_THAT(this->LiveIds("nobody"), IsEmpty());
}

TYPED_TEST(StoreConformanceTest,
           ConcurrentLoginsAndLogoutsCountEverySessionOnce) {
  ASSERT_NE(this->store_, nullptr);
  constexpr int kLoginThreads = 8;
  constexpr int kSessionsPerThread = 40;
  constexpr int kLogouts = 10;
  Store& store = this->store();
  const absl::Time expiry = kStart + absl::Hours(1);
  std::atomic<int64_t> ended{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kLoginThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kSessionsPerThread; ++i) {
        const std::string id = absl::StrCat("s", t, "-", i);
        const std::string system = i % 2 == 0 ? "a" : "b";
        EXPECT_THAT(
            this->PutStamped(MakeSession(id, "alice", {system}, expiry)),
            IsOk())
            << id;
      }
    });
  }
  threads.emplace_back([&] {
    for (int i = 0; i < kLogouts; ++i) {
      auto appended =
          store.AppendRevocation(SubjectRevocation("alice", kStart, expiry));
      EXPECT_THAT(appended, IsOk()) << "logout " << i;
      if (appended.ok()) ended += appended->revoked_sessions;
    }
  });
  for (std::thread& thread : threads) thread.join();
  ended += this->Append(SubjectRevocation("alice", kStart, expiry));
  EXPECT_EQ(ended.load(), kLoginThreads * kSessionsPerThread);
}

// --- Logouts appended kIfLoggedIn ---

TYPED_TEST(StoreConformanceTest, ALogoutIfLoggedInOfNoLoginIsNotRecorded) {
  ASSERT_NE(this->store_, nullptr);
  const absl::Time expiry = kStart + absl::Hours(1);
  ASSERT_THAT(Put(this->store(), MakeSession("s1", "alice", {"b"}, expiry)),
              IsOk());
  const absl::Time later = kStart + absl::Seconds(5);
  const std::vector<Revocation> logouts = {
      SubjectSystemRevocation("ghost", "a", later, expiry),
      SubjectSystemRevocation("alice", "a", later, expiry),
  };
  const std::vector<RecordIf> conditions = {RecordIf::kIfLoggedIn,
                                            RecordIf::kIfLoggedIn};
  auto appended = this->store().AppendRevocations(logouts, conditions);
  ASSERT_THAT(appended, IsOk());
  ASSERT_EQ(appended->size(), logouts.size());
  for (size_t i = 0; i < logouts.size(); ++i) {
    SCOPED_TRACE(absl::StrCat(logouts[i].subject, " at ", logouts[i].system));
    EXPECT_FALSE((*appended)[i].recorded);
    EXPECT_EQ((*appended)[i].seq, 0u);
  }
  EXPECT_EQ(this->store().LastSeq(), 0u);
  EXPECT_THAT(this->AllRevocations(), IsEmpty());
  EXPECT_THAT(this->AllEvents(), IsEmpty());
  EXPECT_EQ(this->store().TickFloor(), 0) << "an unrecorded not_before";
  // Took no seq: the next append has the first.
  auto next =
      this->store().AppendRevocation(TokenRevocation("jti", kStart, expiry));
  ASSERT_THAT(next, IsOk());
  EXPECT_EQ(next->seq, 1u);
}

TYPED_TEST(StoreConformanceTest,
           ALogoutIfLoggedInIsRecordedWhileTheLoginsTokensLive) {
  ASSERT_NE(this->store_, nullptr);
  const absl::Time expiry = kStart + absl::Hours(1);
  ASSERT_THAT(Put(this->store(), MakeSession("s1", "alice", {"a"}, expiry)),
              IsOk());
  auto logout = [&](absl::Time at) {
    return this->LogoutIfLoggedIn(
        SubjectSystemRevocation("alice", "a", at, at + absl::Hours(24)));
  };
  auto first = logout(kStart + absl::Seconds(1));
  ASSERT_THAT(first, IsOk());
  EXPECT_TRUE(first->recorded) << "during the session";
  EXPECT_EQ(first->seq, 1u);
  EXPECT_EQ(first->revoked_sessions, 1);

  // A token refreshed at the session's last moment lives 15 minutes more.
  this->clock_.Advance(absl::Hours(1) + absl::Minutes(14));
  auto late = logout(this->clock_.Now());
  ASSERT_THAT(late, IsOk());
  EXPECT_TRUE(late->recorded) << "14 minutes after the session's end";
  EXPECT_EQ(late->seq, 2u);

  this->clock_.Advance(absl::Minutes(1));
  auto after = logout(this->clock_.Now());
  ASSERT_THAT(after, IsOk());
  EXPECT_FALSE(after->recorded) << "15 minutes after the session's end";
  EXPECT_EQ(after->seq, 0u);
  EXPECT_EQ(this->store().LastSeq(), 2u);
}

// Conditions are per revocation: an unneeded one is skipped, the others
// take consecutive seqs around it.
TYPED_TEST(StoreConformanceTest, AnUnrecordedLogoutTakesNoSeqInAMixedCall) {
  ASSERT_NE(this->store_, nullptr);
  const absl::Time expiry = kStart + absl::Hours(1);
  ASSERT_THAT(Put(this->store(), MakeSession("s1", "alice", {"a"}, expiry)),
              IsOk());
  const std::vector<Revocation> batch = {
      TokenRevocation("jti", kStart, expiry),
      SubjectSystemRevocation("ghost", "a", kStart, expiry),
      SubjectSystemRevocation("alice", "a", kStart + absl::Seconds(1), expiry),
      SubjectSystemRevocation("ghost", "b", kStart, expiry),
  };
  const std::vector<RecordIf> conditions = {
      RecordIf::kIfLoggedIn, RecordIf::kIfLoggedIn, RecordIf::kIfLoggedIn,
      RecordIf::kAlways};
  auto appended = this->store().AppendRevocations(batch, conditions);
  ASSERT_THAT(appended, IsOk());
  ASSERT_EQ(appended->size(), batch.size());
  // A token revocation is recorded whatever its condition says: only
  // subject-system logouts depend on a login.
  const bool recorded[] = {true, false, true, true};
  const uint64_t seqs[] = {1, 0, 2, 3};
  const int64_t revoked[] = {0, 0, 1, 0};
  for (size_t i = 0; i < batch.size(); ++i) {
    SCOPED_TRACE(absl::StrCat("revocation ", i, ": ", batch[i].subject, " at '",
                              batch[i].system, "'"));
    EXPECT_EQ((*appended)[i].recorded, recorded[i]);
    EXPECT_EQ((*appended)[i].seq, seqs[i]);
    EXPECT_EQ((*appended)[i].revoked_sessions, revoked[i]);
  }
  EXPECT_THAT(this->AllEvents(),
              ElementsAre(Is(Recorded(batch[0], (*appended)[0])),
                          Is(Recorded(batch[2], (*appended)[2])),
                          Is(Recorded(batch[3], (*appended)[3]))));
  EXPECT_EQ(this->store().LastSeq(), 3u);
}

// --- Refresh token rotation ---

TYPED_TEST(StoreConformanceTest, RefreshTokenRotationIsDurable) {
  ASSERT_NE(this->store_, nullptr);
  const Session session =
      MakeSession("s1", "alice", {"a"}, kStart + absl::Hours(1));
  ASSERT_THAT(Put(this->store(), session), IsOk());
  auto first = this->store().GetRefreshToken("hash-s1");
  ASSERT_THAT(first, IsOk());
  ASSERT_TRUE(first->has_value());
  EXPECT_EQ((*first)->hash, "hash-s1");
  EXPECT_EQ((*first)->subject, "alice");
  EXPECT_EQ((*first)->session_id, "s1");
  EXPECT_FALSE((*first)->spent());

  Session refreshed = session;
  refreshed.last_refreshed = kStart + absl::Minutes(5);
  refreshed.idle_expires_at = kStart + absl::Minutes(50);
  refreshed.refreshed_us = this->Tick();
  ASSERT_THAT(this->store().RotateRefreshToken(refreshed, **first, "hash-2",
                                               kStart + absl::Minutes(5)),
              IsOk());
  this->Reopen();
  ASSERT_NE(this->store_, nullptr);
  auto spent = this->store().GetRefreshToken("hash-s1");
  ASSERT_THAT(spent, IsOk());
  ASSERT_TRUE(spent->has_value());
  EXPECT_EQ((*spent)->rotated_at, kStart + absl::Minutes(5));
  auto successor = this->store().GetRefreshToken("hash-2");
  ASSERT_THAT(successor, IsOk());
  ASSERT_TRUE(successor->has_value());
  EXPECT_FALSE((*successor)->spent());
  EXPECT_EQ((*successor)->subject, "alice");
  EXPECT_EQ((*successor)->session_id, "s1");
  auto stored = this->store().GetSession("alice", "s1");
  ASSERT_THAT(stored, IsOk());
  ASSERT_TRUE(stored->has_value());
  EXPECT_EQ((*stored)->last_refreshed, kStart + absl::Minutes(5));
  EXPECT_EQ((*stored)->idle_expires_at, kStart + absl::Minutes(50));
  EXPECT_FALSE(this->Known("hash-unknown"));
}

TYPED_TEST(StoreConformanceTest, RotationBumpsTheSessionRevision) {
  ASSERT_NE(this->store_, nullptr);
  const std::optional<Session> read = this->PutAndRead(
      MakeSession("s1", "alice", {"a"}, kStart + absl::Hours(1)));
  ASSERT_TRUE(read.has_value());
  EXPECT_EQ(read->revision, 0u);
  ASSERT_THAT(this->Rotate(*read, kStart + absl::Minutes(1), "hash-2"), IsOk());
  auto after = this->store().GetSession("alice", "s1");
  ASSERT_THAT(after, IsOk());
  ASSERT_TRUE(after->has_value());
  EXPECT_EQ((*after)->revision, 1u);
  EXPECT_EQ((*after)->last_refreshed, kStart + absl::Minutes(1));
  // The next rotation, over the session read again, goes through.
  ASSERT_THAT(
      this->Rotate(**after, kStart + absl::Minutes(2), "hash-3", "hash-2"),
      IsOk());
  auto again = this->store().GetSession("alice", "s1");
  ASSERT_THAT(again, IsOk());
  ASSERT_TRUE(again->has_value());
  EXPECT_EQ((*again)->revision, 2u);
}

TYPED_TEST(StoreConformanceTest,
           RotationOverAStaleReadIsAbortedAndWritesNothing) {
  ASSERT_NE(this->store_, nullptr);
  const std::optional<Session> read = this->PutAndRead(
      MakeSession("s1", "alice", {"a"}, kStart + absl::Hours(1)));
  ASSERT_TRUE(read.has_value());
  ASSERT_THAT(this->Rotate(*read, kStart + absl::Minutes(1), "hash-2"), IsOk());
  // The same read again, as a concurrent refresh that lost would write.
  EXPECT_THAT(this->Rotate(*read, kStart + absl::Minutes(2), "hash-3"),
              StatusIs(absl::StatusCode::kAborted))
      << "rotation over revision " << read->revision;
  EXPECT_FALSE(this->Known("hash-3"));
  auto after = this->store().GetSession("alice", "s1");
  ASSERT_THAT(after, IsOk());
  ASSERT_TRUE(after->has_value());
  EXPECT_EQ((*after)->last_refreshed, kStart + absl::Minutes(1));
  EXPECT_EQ((*after)->revision, 1u);
}

TYPED_TEST(StoreConformanceTest,
           RotationOfAnEndedSessionIsAbortedAndWritesNothing) {
  ASSERT_NE(this->store_, nullptr);
  // Each ending for a subject of its own, after the rotation's read.
  const absl::Time later = kStart + absl::Seconds(1);
  const absl::Time kept = kStart + absl::Hours(2);
  const std::vector<std::pair<std::string, Revocation>> endings = {
      {"alice", SessionRevocation("s-alice", later, kept)},
      {"bob", SubjectSystemRevocation("bob", "a", later, kept)},
      {"carol", SubjectRevocation("carol", later, kept)},
  };
  for (const auto& [subject, revocation] : endings) {
    SCOPED_TRACE(subject);
    const std::string id = "s-" + subject;
    const std::optional<Session> read = this->PutAndRead(
        MakeSession(id, subject, {"a"}, kStart + absl::Hours(1), this->Tick()));
    ASSERT_TRUE(read.has_value());
    // After the session, as the authority stamps it.
    Revocation stamped = revocation;
    stamped.not_before_us = this->Tick();
    this->Append(stamped);
    EXPECT_THAT(
        this->Rotate(*read, kStart + absl::Minutes(1), "next-" + subject),
        StatusIs(absl::StatusCode::kAborted));
    auto session = this->store().GetSession(subject, id);
    ASSERT_THAT(session, IsOk());
    EXPECT_FALSE(session->has_value()) << "the rotation revived the session";
    EXPECT_FALSE(this->Known("next-" + subject));
  }
}

TYPED_TEST(StoreConformanceTest, RotationOfAnExpiredSessionIsAborted) {
  ASSERT_NE(this->store_, nullptr);
  struct Case {
    std::string name;
    absl::Duration idle, absolute;
  };
  const Case cases[] = {
      {"idle", absl::Minutes(10), absl::Hours(2)},
      {"absolute", absl::Hours(2), absl::Minutes(10)},
  };
  std::map<std::string, Session> reads;
  for (const Case& c : cases) {
    Session session = MakeSession(c.name, "alice", {"a"}, kStart + c.absolute);
    session.idle_expires_at = kStart + c.idle;
    const std::optional<Session> read = this->PutAndRead(session);
    ASSERT_TRUE(read.has_value()) << c.name;
    reads[c.name] = *read;
  }
  this->clock_.Advance(absl::Minutes(10));
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_THAT(
        this->Rotate(reads[c.name], this->clock_.Now(), "next-" + c.name),
        StatusIs(absl::StatusCode::kAborted));
    EXPECT_FALSE(this->Known("next-" + c.name));
    EXPECT_EQ(SystemsOf(this->store().GetSession("alice", c.name)),
              std::vector<std::string>{"<none>"});
  }
}

// Two refreshes of one token at once, as two replicas or two threads make
// them: both read the session, both rotate, exactly one wins. Started
// together, many rounds, so that they land in one write as well as in two.
TYPED_TEST(StoreConformanceTest, ConcurrentRotationsOfOneReadLetExactlyOneIn) {
  ASSERT_NE(this->store_, nullptr);
  constexpr int kRounds = 20;
  constexpr int kThreads = 4;
  const absl::Time now = kStart + absl::Minutes(1);
  for (int round = 0; round < kRounds; ++round) {
    SCOPED_TRACE(absl::StrCat("round ", round));
    const std::string id = absl::StrCat("s", round);
    const std::optional<Session> read = this->PutAndRead(
        MakeSession(id, "alice", {"a"}, kStart + absl::Hours(1)));
    ASSERT_TRUE(read.has_value());
    absl::Notification go;
    std::vector<absl::Status> results(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        go.WaitForNotification();
        results[t] = this->Rotate(*read, now, absl::StrCat(id, "-next-", t));
      });
    }
    go.Notify();
    for (std::thread& thread : threads) thread.join();

    int ok = 0;
    for (int t = 0; t < kThreads; ++t) {
      if (results[t].ok()) {
        ++ok;
        EXPECT_TRUE(this->Known(absl::StrCat(id, "-next-", t)));
      } else {
        EXPECT_THAT(results[t], StatusIs(absl::StatusCode::kAborted))
            << "thread " << t;
        EXPECT_FALSE(this->Known(absl::StrCat(id, "-next-", t)))
            << "thread " << t << " lost yet wrote its successor";
      }
    }
    EXPECT_EQ(ok, 1);
    auto after = this->store().GetSession("alice", id);
    ASSERT_THAT(after, IsOk());
    ASSERT_TRUE(after->has_value());
    EXPECT_EQ((*after)->revision, 1u);
  }
}

// A rotation and a revocation of its session at once, in either order:
// the session is ended afterwards, never revived by the rotation.
TYPED_TEST(StoreConformanceTest, ARotationRacingARevocationNeverRevivesIt) {
  ASSERT_NE(this->store_, nullptr);
  constexpr int kRounds = 30;
  const absl::Time expiry = kStart + absl::Hours(1);
  const absl::Time now = kStart + absl::Minutes(1);
  for (int round = 0; round < kRounds; ++round) {
    // A subject per round, ended by each kind of revocation in turn.
    const std::string subject = absl::StrCat("user", round);
    const std::string id = absl::StrCat("s", round);
    Revocation revocation;
    switch (round % 3) {
      case 0:
        revocation = SessionRevocation(id, now, expiry, subject);
        break;
      case 1:
        revocation = SubjectSystemRevocation(subject, "a", now, expiry);
        break;
      default:
        revocation = SubjectRevocation(subject, now, expiry);
    }
    const char* const kinds[] = {"session revocation", "logout of a",
                                 "logout of all"};
    SCOPED_TRACE(
        absl::StrCat("round ", round, ": ", kinds[round % 3], " of ", subject));
    const std::optional<Session> read =
        this->PutAndRead(MakeSession(id, subject, {"a"}, expiry, this->Tick()));
    ASSERT_TRUE(read.has_value());
    revocation.not_before_us = this->Tick();
    absl::Notification go;
    absl::Status rotated;
    absl::StatusOr<Store::AppendResult> appended;
    std::thread rotation([&] {
      go.WaitForNotification();
      rotated = this->Rotate(*read, now, id + "-next");
    });
    std::thread logout([&] {
      go.WaitForNotification();
      appended = this->store().AppendRevocation(revocation);
    });
    go.Notify();
    rotation.join();
    logout.join();
    ASSERT_THAT(appended, IsOk());
    if (!rotated.ok()) {
      EXPECT_THAT(rotated, StatusIs(absl::StatusCode::kAborted));
    }
    EXPECT_EQ(SystemsOf(this->store().GetSession(subject, id)),
              std::vector<std::string>{"<none>"})
        << "rotation " << rotated;
  }
}

// --- Keys ---

TYPED_TEST(StoreConformanceTest, KeysSurviveReopen) {
  ASSERT_NE(this->store_, nullptr);
  const KeyRecord keys[] = {
      {"0a1b", "ES256", kStart},
      {"ff00", "EdDSA", kStart + absl::Seconds(1)},
      {"c3d4", "RS256", kStart + absl::Microseconds(7)},
  };
  for (const KeyRecord& key : keys) {
    ASSERT_THAT(this->store().PutKey(key), IsOk()) << key.kid;
  }
  this->Reopen();
  ASSERT_NE(this->store_, nullptr);
  auto listed = this->store().ListKeys();
  ASSERT_THAT(listed, IsOk());
  std::map<std::string, KeyRecord> by_kid;
  for (const KeyRecord& key : listed->keys) by_kid[key.kid] = key;
  ASSERT_EQ(by_kid.size(), std::size(keys));
  for (const KeyRecord& key : keys) {
    SCOPED_TRACE(key.kid);
    ASSERT_EQ(by_kid.count(key.kid), 1u);
    EXPECT_EQ(by_kid[key.kid].algorithm, key.algorithm);
    EXPECT_EQ(by_kid[key.kid].created, key.created);
    EXPECT_EQ(by_kid[key.kid].stage, KeyRecord::Stage::kUnstaged);
  }
}

TYPED_TEST(StoreConformanceTest, PutKeyReplacesTheRecordOfItsKid) {
  ASSERT_NE(this->store_, nullptr);
  using Stage = KeyRecord::Stage;
  const KeyRecord next{"0a0a", "ES256", kStart, Stage::kNext};
  const KeyRecord active{"0a0a", "ES256", kStart, Stage::kActive,
                         kStart + absl::Seconds(1)};
  ASSERT_THAT(this->store().PutKey(next), IsOk());
  ASSERT_THAT(this->store().PutKey(active), IsOk());
  auto listed = this->store().ListKeys();
  ASSERT_THAT(listed, IsOk());
  ASSERT_EQ(listed->keys.size(), 1u);
  EXPECT_EQ(listed->keys[0].stage, Stage::kActive);
  EXPECT_EQ(listed->keys[0].activated, kStart + absl::Seconds(1));
}

TYPED_TEST(StoreConformanceTest, KeyUpdatesWriteStagesAndRemoveInOneStep) {
  ASSERT_NE(this->store_, nullptr);
  using Stage = KeyRecord::Stage;
  const KeyRecord gone{"0a0a", "ES256", kStart};
  const KeyRecord retired{"0b0b",
                          "ES256",
                          kStart,
                          Stage::kRetired,
                          kStart + absl::Seconds(1),
                          kStart + absl::Seconds(2)};
  const KeyRecord active{"0c0c", "EdDSA", kStart + absl::Seconds(1),
                         Stage::kActive, kStart + absl::Seconds(2)};
  const KeyRecord next{"0d0d", "RS256", kStart + absl::Seconds(2),
                       Stage::kNext};
  ASSERT_THAT(this->store().PutKey(gone), IsOk());
  auto before = this->store().ListKeys();
  ASSERT_THAT(before, IsOk());
  ASSERT_THAT(this->store().UpdateKeys({retired, active, next}, {gone.kid},
                                       before->version),
              IsOk());
  this->Reopen();
  ASSERT_NE(this->store_, nullptr);
  auto listed = this->store().ListKeys();
  ASSERT_THAT(listed, IsOk());
  std::map<std::string, KeyRecord> by_kid;
  for (const KeyRecord& key : listed->keys) by_kid[key.kid] = key;
  ASSERT_EQ(by_kid.size(), 3u);
  for (const KeyRecord& key : {retired, active, next}) {
    SCOPED_TRACE(key.kid);
    ASSERT_EQ(by_kid.count(key.kid), 1u);
    const KeyRecord& got = by_kid[key.kid];
    EXPECT_EQ(got.algorithm, key.algorithm);
    EXPECT_EQ(got.stage, key.stage);
    EXPECT_EQ(got.created, key.created);
    EXPECT_EQ(got.activated, key.activated);
    EXPECT_EQ(got.retired, key.retired);
  }
}

// Two writers read the key set at one version; the second to write over it
// is refused and leaves the keys exactly as the first wrote them.
TYPED_TEST(StoreConformanceTest,
           UpdateKeysOverAStaleVersionIsAbortedAndWritesNothing) {
  ASSERT_NE(this->store_, nullptr);
  using Stage = KeyRecord::Stage;
  const KeyRecord active{"1a1a", "ES256", kStart, Stage::kActive, kStart};
  const KeyRecord next{"1b1b", "ES256", kStart, Stage::kNext};
  const KeyRecord other_next{"1c1c", "ES256", kStart, Stage::kNext};
  auto read = this->store().ListKeys();
  ASSERT_THAT(read, IsOk());
  auto first = this->store().UpdateKeys({active, next}, {}, read->version);
  ASSERT_THAT(first, IsOk());
  EXPECT_NE(*first, read->version);
  // The loser: the same version read, another key set.
  EXPECT_THAT(
      this->store().UpdateKeys({active, other_next}, {next.kid}, read->version),
      StatusIs(absl::StatusCode::kAborted))
      << "over version " << read->version << " after " << *first;
  auto listed = this->store().ListKeys();
  ASSERT_THAT(listed, IsOk());
  EXPECT_EQ(listed->version, *first);
  std::vector<std::string> kids;
  for (const KeyRecord& key : listed->keys) kids.push_back(key.kid);
  std::sort(kids.begin(), kids.end());
  EXPECT_EQ(kids, (std::vector<std::string>{active.kid, next.kid}));
  // Over the current version the write goes through.
  EXPECT_THAT(this->store().UpdateKeys({active, other_next}, {next.kid},
                                       listed->version),
              IsOk());
}

// An unconditional PutKey is a key update too: a writer that read before it
// is refused.
TYPED_TEST(StoreConformanceTest, PutKeyChangesTheKeysVersion) {
  ASSERT_NE(this->store_, nullptr);
  auto read = this->store().ListKeys();
  ASSERT_THAT(read, IsOk());
  ASSERT_THAT(this->store().PutKey({"2a2a", "ES256", kStart}), IsOk());
  auto listed = this->store().ListKeys();
  ASSERT_THAT(listed, IsOk());
  EXPECT_NE(listed->version, read->version);
  EXPECT_THAT(this->store().UpdateKeys({}, {"2a2a"}, read->version),
              StatusIs(absl::StatusCode::kAborted));
}

TYPED_TEST(StoreConformanceTest, SealedPrivateKeyRoundTrips) {
  ASSERT_NE(this->store_, nullptr);
  using Stage = KeyRecord::Stage;
  KeyRecord sealed{"3a3a", "ES256", kStart, Stage::kActive, kStart};
  // Any bytes: the store keeps them as they are, nul and high bytes too.
  sealed.sealed_private_key = std::string("\x01\x00\xff sealed", 10);
  const KeyRecord file{"3b3b", "ES256", kStart, Stage::kNext};
  auto read = this->store().ListKeys();
  ASSERT_THAT(read, IsOk());
  ASSERT_THAT(this->store().UpdateKeys({sealed, file}, {}, read->version),
              IsOk());
  this->Reopen();
  ASSERT_NE(this->store_, nullptr);
  auto listed = this->store().ListKeys();
  ASSERT_THAT(listed, IsOk());
  std::map<std::string, KeyRecord> by_kid;
  for (const KeyRecord& key : listed->keys) by_kid[key.kid] = key;
  ASSERT_EQ(by_kid.size(), 2u);
  EXPECT_EQ(by_kid[sealed.kid].sealed_private_key, sealed.sealed_private_key);
  EXPECT_EQ(by_kid[file.kid].sealed_private_key, "");
}

// Readers listing keys while rotations run see each rotation whole: one
// active key, the next one after it, at most the one before it retired.
TYPED_TEST(StoreConformanceTest, AKeyRotationIsNeverSeenHalfDone) {
  ASSERT_NE(this->store_, nullptr);
  using Stage = KeyRecord::Stage;
  constexpr int kRotations = 30;
  constexpr int kReaders = 2;
  Store& store = this->store();
  const auto kid = [](int i) { return absl::StrCat("k", 100 + i); };
  const auto key = [&](int i, Stage stage) {
    return KeyRecord{kid(i), "ES256", kStart + absl::Seconds(i), stage};
  };
  auto first = store.UpdateKeys({key(0, Stage::kActive), key(1, Stage::kNext)},
                                {}, store.ListKeys()->version);
  ASSERT_THAT(first, IsOk());
  uint64_t version = *first;
  std::atomic<bool> done{false};
  // What a reader saw that no whole rotation leaves, or "".
  std::vector<std::string> torn(kReaders);
  std::vector<int> listings(kReaders, 0);
  std::vector<std::thread> readers;
  for (int r = 0; r < kReaders; ++r) {
    readers.emplace_back([&, r] {
      while (torn[r].empty()) {
        const bool last = done.load();
        auto listed = store.ListKeys();
        EXPECT_THAT(listed, IsOk()) << "reader " << r;
        if (!listed.ok()) return;
        ++listings[r];
        std::map<Stage, std::vector<std::string>> by_stage;
        std::vector<std::string> all;
        for (const KeyRecord& k : listed->keys) {
          by_stage[k.stage].push_back(k.kid);
          all.push_back(absl::StrCat(k.kid, ":", static_cast<int>(k.stage)));
        }
        const auto& active = by_stage[Stage::kActive];
        const auto& next = by_stage[Stage::kNext];
        const auto& retired = by_stage[Stage::kRetired];
        bool whole = active.size() == 1 && next.size() == 1 &&
                     retired.size() <= 1 && listed->keys.size() <= 3;
        if (whole) {
          const int i = std::stoi(active[0].substr(1)) - 100;
          whole = next[0] == kid(i + 1) &&
                  (i == 0 ? retired.empty()
                          : retired.size() == 1 && retired[0] == kid(i - 1));
        }
        if (!whole) torn[r] = absl::StrJoin(all, " ");
        if (last) return;
      }
    });
  }
  for (int i = 0; i < kRotations; ++i) {
    std::vector<std::string> remove;
    if (i > 0) remove.push_back(kid(i - 1));
    auto rotated =
        store.UpdateKeys({key(i, Stage::kRetired), key(i + 1, Stage::kActive),
                          key(i + 2, Stage::kNext)},
                         remove, version);
    ASSERT_THAT(rotated, IsOk()) << "rotation " << i;
    version = *rotated;
  }
  done = true;
  for (std::thread& reader : readers) reader.join();
  for (int r = 0; r < kReaders; ++r) {
    EXPECT_EQ(torn[r], "") << "reader " << r << " after " << listings[r]
                           << " listings";
  }
}

// --- Ticks ---

TYPED_TEST(StoreConformanceTest, TickFloorSurvivesReopen) {
  ASSERT_NE(this->store_, nullptr);
  struct Step {
    std::string name;
    int64_t reserve_us;     // 0: no reservation
    int64_t not_before_us;  // 0: no revocation
    int64_t floor_us;
    // A store that orders by commit records every instant it hands out
    // instead of reserving ahead: reservations leave its floor alone.
    int64_t commit_floor_us;
  };
  const int64_t base = Micros(kStart);
  const Step steps[] = {
      {"reserve", base + 100, 0, base + 100, 0},
      {"lower_reservation_keeps_floor", base + 50, 0, base + 100, 0},
      {"revocation_above_lease", 0, base + 150, base + 150, base + 150},
      {"revocation_below_floor", 0, base + 120, base + 150, base + 150},
      {"reservation_above_revocations", base + 200, 0, base + 200, base + 150},
  };
  EXPECT_EQ(this->store().TickFloor(), 0);
  for (const Step& step : steps) {
    SCOPED_TRACE(step.name);
    if (step.reserve_us != 0) {
      ASSERT_THAT(this->store().ReserveTicks(step.reserve_us), IsOk());
    }
    if (step.not_before_us != 0) {
      Revocation r = TokenRevocation(step.name, kStart, kStart);
      r.not_before_us = step.not_before_us;
      this->Append(r);
    }
    const int64_t floor_us =
        TypeParam::kOrdersByCommit ? step.commit_floor_us : step.floor_us;
    EXPECT_EQ(this->store().TickFloor(), floor_us);
    this->Reopen();
    ASSERT_NE(this->store_, nullptr);
    EXPECT_EQ(this->store().TickFloor(), floor_us) << "after reopening";
  }
}

TYPED_TEST(StoreConformanceTest, TickFloorCoversEveryNotBeforeOfACall) {
  ASSERT_NE(this->store_, nullptr);
  const int64_t base = Micros(kStart);
  const absl::Time expiry = kStart + absl::Hours(1);
  std::vector<Revocation> batch = {
      TokenRevocation("jti-1", kStart, expiry),
      SubjectRevocation("bob", kStart, expiry),
      SubjectSystemRevocation("carol", "a", kStart, expiry),
  };
  batch[0].not_before_us = base + 30;
  batch[1].not_before_us = base + 90;  // the highest, in the middle
  batch[2].not_before_us = base + 60;
  ASSERT_THAT(this->store().AppendRevocations(batch), IsOk());
  EXPECT_EQ(this->store().TickFloor(), base + 90);
  ASSERT_THAT(this->store().ReserveTicks(base + 50), IsOk());
  EXPECT_EQ(this->store().TickFloor(), base + 90) << "after reserving base+50";
  ASSERT_THAT(this->store().ReserveTicks(base + 120), IsOk());
  EXPECT_EQ(this->store().TickFloor(),
            TypeParam::kOrdersByCommit ? base + 90 : base + 120)
      << "after reserving base+120";
}

// A token handed out without a session write (a refresh retried within
// its grace window) is ordered before every later logout, and one stamped
// below a recorded logout is refused by a store that orders by commit.
TYPED_TEST(StoreConformanceTest, RecordedInstantsAreCoveredByLaterLogouts) {
  ASSERT_NE(this->store_, nullptr);
  const absl::Time expiry = kStart + absl::Hours(1);
  const int64_t instant = this->Tick() + 1000;
  ASSERT_THAT(this->store().RecordInstant(instant), IsOk());
  auto logout = this->store().AppendRevocation(
      SubjectRevocation("alice", kStart, expiry));
  ASSERT_THAT(logout, IsOk());
  if (TypeParam::kOrdersByCommit) {
    EXPECT_GT(logout->not_before_us, instant)
        << "a logout after a recorded instant";
    EXPECT_THAT(this->store().RecordInstant(instant),
                StatusIs(absl::StatusCode::kAborted))
        << "an instant below a recorded logout";
    EXPECT_GE(this->store().LogoutFloor(), logout->not_before_us);
  } else {
    EXPECT_EQ(logout->not_before_us, Micros(kStart));
    EXPECT_THAT(this->store().RecordInstant(instant), IsOk());
  }
}

// What a new instant must lie above: every recorded not_before, never a
// reservation (that is TickFloor's) nor a logout left unrecorded.
TYPED_TEST(StoreConformanceTest, LogoutFloorIsTheHighestRecordedNotBefore) {
  ASSERT_NE(this->store_, nullptr);
  const int64_t base = Micros(kStart);
  const absl::Time expiry = kStart + absl::Hours(1);
  EXPECT_EQ(this->store().LogoutFloor(), 0) << "empty store";
  ASSERT_THAT(this->store().ReserveTicks(base + 1000), IsOk());
  EXPECT_EQ(this->store().LogoutFloor(), 0) << "after reserving base+1000";

  std::vector<Revocation> batch = {
      TokenRevocation("jti-1", kStart, expiry),
      SubjectRevocation("bob", kStart, expiry),
      SubjectSystemRevocation("carol", "a", kStart, expiry),
  };
  batch[0].not_before_us = base + 30;
  batch[1].not_before_us = base + 90;
  batch[2].not_before_us = base + 60;
  auto appended = this->store().AppendRevocations(batch);
  ASSERT_THAT(appended, IsOk());
  int64_t highest = 0;
  for (const Store::AppendResult& result : *appended) {
    highest = std::max(highest, result.not_before_us);
  }
  EXPECT_GE(highest, base + 90);
  EXPECT_EQ(this->store().LogoutFloor(), highest)
      << "after not_befores base+30, base+90, base+60";

  auto unrecorded = this->LogoutIfLoggedIn(
      SubjectSystemRevocation("ghost", "a", kStart + absl::Seconds(5), expiry));
  ASSERT_THAT(unrecorded, IsOk());
  ASSERT_FALSE(unrecorded->recorded);
  EXPECT_EQ(this->store().LogoutFloor(), highest)
      << "after an unrecorded logout at base+5s";
}

}  // namespace
}  // namespace sigil::server::store
