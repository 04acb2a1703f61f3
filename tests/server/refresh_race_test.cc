// A refresh racing a revocation of its own session: whichever lands first,
// the session stays ended and nothing the refresh hands out works. The
// interleaving is forced by a store wrapper that runs the revocation right
// before (or right after) the refresh's rotation reaches the store, inside
// the refresh call, where the race window is.

#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "server/authority.h"
#include "server/key_manager.h"
#include "server/revocation_feed.h"
#include "server/store/rocks_store.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "token/algorithm.h"
#include "token/clock.h"

namespace sigil::server {
namespace {

using ::sigil::testing::IsOk;
using ::sigil::testing::StatusIs;

// A Store that forwards to another and can run one action of the test's,
// once, right before or right after the next refresh rotation.
class HookedStore : public store::Store {
 public:
  explicit HookedStore(store::Store* inner) : inner_(inner) {}

  std::function<void()> before_rotation;
  std::function<void()> after_rotation;

  absl::Status RotateRefreshToken(const store::Session& session,
                                  const store::RefreshToken& spent,
                                  const std::string& successor_hash,
                                  absl::Time now) override {
    RunOnce(before_rotation);
    absl::Status rotated =
        inner_->RotateRefreshToken(session, spent, successor_hash, now);
    if (rotated.ok()) RunOnce(after_rotation);
    return rotated;
  }

  using store::Store::AppendRevocations;
  absl::StatusOr<std::vector<AppendResult>> AppendRevocations(
      absl::Span<const token::Revocation> revocations,
      absl::Span<const RecordIf> conditions) override {
    return inner_->AppendRevocations(revocations, conditions);
  }
  absl::Status ForEachRevocation(
      const std::function<void(const token::Revocation&)>& fn) override {
    return inner_->ForEachRevocation(fn);
  }
  absl::StatusOr<std::vector<token::Revocation>> ReadEvents(
      uint64_t after_seq, size_t limit) override {
    return inner_->ReadEvents(after_seq, limit);
  }
  uint64_t LastSeq() const override { return inner_->LastSeq(); }
  const std::string& Id() const override { return inner_->Id(); }
  absl::Status PutSession(const store::Session& session,
                          const std::string& refresh_hash) override {
    return inner_->PutSession(session, refresh_hash);
  }
  absl::StatusOr<std::optional<store::Session>> GetSession(
      absl::string_view subject, absl::string_view session_id) override {
    return inner_->GetSession(subject, session_id);
  }
  absl::StatusOr<std::vector<store::Session>> ListSessionsAfter(
      absl::string_view subject, absl::string_view after,
      size_t limit) override {
    return inner_->ListSessionsAfter(subject, after, limit);
  }
  absl::StatusOr<std::optional<store::RefreshToken>> GetRefreshToken(
      absl::string_view hash) override {
    return inner_->GetRefreshToken(hash);
  }
  absl::Status PutKey(const store::KeyRecord& key) override {
    return inner_->PutKey(key);
  }
  absl::StatusOr<store::KeyRecords> ListKeys() override {
    return inner_->ListKeys();
  }
  absl::StatusOr<uint64_t> UpdateKeys(const std::vector<store::KeyRecord>& put,
                                      const std::vector<std::string>& remove,
                                      uint64_t version) override {
    return inner_->UpdateKeys(put, remove, version);
  }
  absl::Status ReserveTicks(int64_t until_us) override {
    return inner_->ReserveTicks(until_us);
  }
  int64_t TickFloor() const override { return inner_->TickFloor(); }
  int64_t LogoutFloor() const override { return inner_->LogoutFloor(); }
  absl::Status RecordInstant(int64_t instant_us) override {
    return inner_->RecordInstant(instant_us);
  }

 private:
  // Disarmed before it runs: the action may refresh too.
  static void RunOnce(std::function<void()>& action) {
    std::function<void()> run = std::move(action);
    action = nullptr;
    if (run) run();
  }

  store::Store* const inner_;
};

// What ends the session while its refresh token is being traded.
enum class Racer {
  kRevokeRefreshToken,
  kReuseOfSpentToken,
  kLogoutOfEverySystem,
  kLogoutAll,
};

// Where the ending lands relative to the refresh's rotation.
enum class Order { kBeforeRefresh, kDuringRotation, kAfterRotation };

std::string RacerName(Racer racer) {
  switch (racer) {
    case Racer::kRevokeRefreshToken:
      return "RevokeRefreshToken";
    case Racer::kReuseOfSpentToken:
      return "ReuseOfSpentToken";
    case Racer::kLogoutOfEverySystem:
      return "LogoutOfEverySystem";
    case Racer::kLogoutAll:
      return "LogoutAll";
  }
  return "Unknown";
}

std::string OrderName(Order order) {
  switch (order) {
    case Order::kBeforeRefresh:
      return "BeforeRefresh";
    case Order::kDuringRotation:
      return "DuringRotation";
    case Order::kAfterRotation:
      return "AfterRotation";
  }
  return "Unknown";
}

// An authority on a real RocksDB in a temp dir, through a HookedStore.
class HookedAuthorityTest : public ::testing::Test {
 protected:
  HookedAuthorityTest() : clock_(absl::FromUnixSeconds(1700000000)) {}

  void SetUp() override {
    auto rocks = store::RocksStore::Open(dir_.path(), &clock_);
    ASSERT_THAT(rocks.status(), IsOk());
    rocks_ = *std::move(rocks);
    store_ = std::make_unique<HookedStore>(rocks_.get());
    auto keys = KeyManager::Load(dir_.path(), token::Algorithm::kES256,
                                 options_.max_ttl, store_.get(), &clock_);
    ASSERT_THAT(keys.status(), IsOk());
    feed_ = std::make_unique<RevocationFeed>(store_.get(), absl::Seconds(1));
    auto authority = Authority::Create(options_, store_.get(), &clock_,
                                       *std::move(keys), feed_.get());
    ASSERT_THAT(authority.status(), IsOk());
    authority_ = *std::move(authority);
  }

  void TearDown() override {
    authority_.reset();
    feed_.reset();
  }

  // Ends the session the way `racer` does. `spent` is a refresh token
  // traded earlier, past the grace window; `current` its successor.
  void End(Racer racer, const std::string& spent, const std::string& current) {
    switch (racer) {
      case Racer::kRevokeRefreshToken: {
        auto revoked = authority_->Revoke(current);
        ASSERT_THAT(revoked.status(), IsOk());
        EXPECT_EQ(revoked->session_id, session_id_);
        return;
      }
      case Racer::kReuseOfSpentToken:
        EXPECT_THAT(authority_->Refresh(spent).status(),
                    StatusIs(absl::StatusCode::kUnauthenticated));
        return;
      case Racer::kLogoutOfEverySystem:
        for (const std::string& system : kSystems) {
          ASSERT_THAT(
              authority_->LogoutFromSystem(system, LogoutTarget{kSubject, ""})
                  .status(),
              IsOk());
        }
        return;
      case Racer::kLogoutAll:
        ASSERT_THAT(authority_->LogoutAll(LogoutTarget{kSubject, ""}).status(),
                    IsOk());
        return;
    }
  }

  static constexpr char kSubject[] = "alice";
  const std::vector<std::string> kSystems = {"mail", "wiki"};

  testing::TempDir dir_;
  token::FakeClock clock_;
  AuthorityOptions options_;
  std::unique_ptr<store::RocksStore> rocks_;
  std::unique_ptr<HookedStore> store_;
  std::unique_ptr<RevocationFeed> feed_;
  std::unique_ptr<Authority> authority_;
  std::string session_id_;
};

void PrintTo(Racer racer, std::ostream* os) { *os << RacerName(racer); }
void PrintTo(Order order, std::ostream* os) { *os << OrderName(order); }

class RefreshRaceTest
    : public HookedAuthorityTest,
      public ::testing::WithParamInterface<std::tuple<Racer, Order>> {};

TEST_P(RefreshRaceTest, EndedSessionStaysEnded) {
  const auto [racer, order] = GetParam();
  auto issued = authority_->Issue(IssueParams{kSubject, kSystems, {}, {}});
  ASSERT_THAT(issued.status(), IsOk());
  session_id_ = issued->session_id;
  const std::string first = issued->refresh_token;
  auto second = authority_->Refresh(first);
  ASSERT_THAT(second.status(), IsOk());
  // Past the grace window: presenting `first` again is reuse.
  clock_.Advance(options_.refresh_grace + absl::Seconds(1));

  const std::string current = second->refresh_token;
  auto end = [&, racer = racer] { End(racer, first, current); };
  switch (order) {
    case Order::kBeforeRefresh:
      end();
      break;
    case Order::kDuringRotation:
      store_->before_rotation = end;
      break;
    case Order::kAfterRotation:
      store_->after_rotation = end;
      break;
  }
  absl::StatusOr<IssuedToken> raced = authority_->Refresh(current);
  ASSERT_EQ(store_->before_rotation, nullptr) << "the hook never ran";
  ASSERT_EQ(store_->after_rotation, nullptr) << "the hook never ran";

  if (order == Order::kAfterRotation) {
    // The rotation won: its answer stands, but the ending covers it.
    ASSERT_THAT(raced.status(), IsOk());
    for (const std::string& system : kSystems) {
      auto verdict = authority_->Verify(raced->access_token, system, {});
      ASSERT_THAT(verdict.status(), IsOk());
      EXPECT_NE(verdict->reason, token::Reason::kValid)
          << "the access token of the rotation still verifies at " << system;
    }
    EXPECT_THAT(authority_->Refresh(raced->refresh_token).status(),
                StatusIs(absl::StatusCode::kUnauthenticated))
        << "the rotation's successor still refreshes";
  } else {
    // The ending won: the refresh must not bring the session back.
    EXPECT_THAT(raced.status(), StatusIs(absl::StatusCode::kUnauthenticated));
    if (raced.ok()) {
      auto verdict = authority_->Verify(raced->access_token, kSystems[0], {});
      ASSERT_THAT(verdict.status(), IsOk());
      EXPECT_NE(verdict->reason, token::Reason::kValid);
      EXPECT_THAT(authority_->Refresh(raced->refresh_token).status(),
                  StatusIs(absl::StatusCode::kUnauthenticated))
          << "a resurrected session's successor refreshes";
    }
  }
  auto sessions = authority_->ListSessions(kSubject);
  ASSERT_THAT(sessions.status(), IsOk());
  EXPECT_TRUE(sessions->empty()) << "the ended session is listed live again";
  EXPECT_THAT(authority_->Refresh(current).status(),
              StatusIs(absl::StatusCode::kUnauthenticated));
}

INSTANTIATE_TEST_SUITE_P(
    EveryEndingEveryOrder, RefreshRaceTest,
    ::testing::Combine(
        ::testing::Values(Racer::kRevokeRefreshToken, Racer::kReuseOfSpentToken,
                          Racer::kLogoutOfEverySystem, Racer::kLogoutAll),
        ::testing::Values(Order::kBeforeRefresh, Order::kDuringRotation,
                          Order::kAfterRotation)),
    [](const ::testing::TestParamInfo<std::tuple<Racer, Order>>& info) {
      return absl::StrCat(RacerName(std::get<0>(info.param)), "_",
                          OrderName(std::get<1>(info.param)));
    });

// Two refreshes of one token that both read the session before either
// rotates: the second finds the session moved on, reads again, and gets
// the same successor as a retry within the grace window would.
TEST_F(HookedAuthorityTest, ConcurrentRefreshOfOneTokenGetsOneSuccessor) {
  auto issued = authority_->Issue(IssueParams{kSubject, kSystems, {}, {}});
  ASSERT_THAT(issued.status(), IsOk());
  const std::string token = issued->refresh_token;
  absl::StatusOr<IssuedToken> inner;
  store_->before_rotation = [&] { inner = authority_->Refresh(token); };
  auto outer = authority_->Refresh(token);
  ASSERT_THAT(inner.status(), IsOk());
  ASSERT_THAT(outer.status(), IsOk());
  EXPECT_EQ(inner->refresh_token, outer->refresh_token);
  auto sessions = authority_->ListSessions(kSubject);
  ASSERT_THAT(sessions.status(), IsOk());
  ASSERT_EQ(sessions->size(), 1u);
  EXPECT_THAT(authority_->Refresh(outer->refresh_token).status(), IsOk());
}

}  // namespace
}  // namespace sigil::server
