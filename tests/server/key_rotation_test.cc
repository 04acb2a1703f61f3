// Key rotation through sigil.v1.Identity: RotateKeys, ListKeys, GetJwks and
// the key set version on WatchRevocations, against an in-process authority.

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server/service_fixture.h"
#include "tests/testing/status_matchers.h"
#include "token/jws.h"

namespace sigil::server {
namespace {

using ::sigil::testing::IsOk;
using sigil::v1::KeysResponse;
using sigil::v1::KeyStage;
using ::testing::Contains;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::UnorderedElementsAre;

std::string KidOf(const std::string& token) {
  auto jws = token::ParseJwsCompact(token, token::kDefaultMaxJwsBytes);
  if (!jws.ok() || !jws->header.kid.has_value()) return "";
  return *jws->header.kid;
}

std::string KidIn(const KeysResponse& keys, KeyStage stage) {
  for (const sigil::v1::KeyInfo& key : keys.keys()) {
    if (key.stage() == stage) return key.kid();
  }
  return "";
}

std::vector<std::string> KidsOf(const sigil::v1::GetJwksResponse& jwks) {
  std::vector<std::string> kids;
  for (const sigil::v1::Jwk& key : jwks.keys()) kids.push_back(key.kid());
  return kids;
}

class KeyRotationTest : public ServiceTest {
 protected:
  KeysResponse Rotate() {
    KeysResponse response;
    grpc::Status status = stub_->RotateKeys(
        Context().get(), sigil::v1::RotateKeysRequest(), &response);
    EXPECT_THAT(status, IsOk());
    return response;
  }

  KeysResponse List() {
    KeysResponse response;
    grpc::Status status = stub_->ListKeys(
        Context().get(), sigil::v1::ListKeysRequest(), &response);
    EXPECT_THAT(status, IsOk());
    return response;
  }

  sigil::v1::GetJwksResponse Jwks() {
    sigil::v1::GetJwksResponse response;
    grpc::Status status =
        stub_->GetJwks(Context().get(), sigil::v1::GetJwksRequest(), &response);
    EXPECT_THAT(status, IsOk());
    return response;
  }
};

TEST_F(KeyRotationTest, NewTokensTakeTheNextKeyAndOldTokensStillVerify) {
  const KeysResponse before = List();
  ASSERT_EQ(before.keys_size(), 2) << before.DebugString();
  const std::string first = KidIn(before, sigil::v1::ACTIVE);
  const std::string staged = KidIn(before, sigil::v1::NEXT);
  const std::string version = Jwks().key_set_version();
  const std::string old_token = Login("u", {"A"}).access_token();
  ASSERT_EQ(KidOf(old_token), first);

  const KeysResponse after = Rotate();
  const std::string upcoming = KidIn(after, sigil::v1::NEXT);
  EXPECT_EQ(KidIn(after, sigil::v1::ACTIVE), staged);
  EXPECT_EQ(KidIn(after, sigil::v1::RETIRED), first);
  EXPECT_EQ(after.DebugString(), List().DebugString());

  const std::string new_token = Login("u", {"A"}).access_token();
  EXPECT_EQ(KidOf(new_token), staged);
  EXPECT_EQ(Outcome(Check(old_token, "A")), "OK VALID");
  EXPECT_EQ(Outcome(Check(new_token, "A")), "OK VALID");
  const sigil::v1::GetJwksResponse jwks = Jwks();
  EXPECT_THAT(KidsOf(jwks), UnorderedElementsAre(upcoming, staged, first));
  EXPECT_NE(jwks.key_set_version(), version);
}

TEST_F(KeyRotationTest, TokenVerifiesThroughTwoRotationsUntilExpiry) {
  const absl::Time issued = clock_.Now();
  const std::string token = Login("u", {"A"}).access_token();
  const std::string first = KidOf(token);
  Rotate();
  clock_.Advance(absl::Minutes(1));
  Rotate();
  EXPECT_EQ(Outcome(Check(token, "A")), "OK VALID");
  clock_.Set(issued + kTtl - absl::Seconds(1));
  EXPECT_EQ(Outcome(Check(token, "A")), "OK VALID");
  clock_.Set(issued + kTtl);
  EXPECT_EQ(Outcome(Check(token, "A")), "UNAUTHENTICATED EXPIRED");

  // Published until the longest token lifetime (and a minute) has passed
  // since it retired.
  const absl::Time leaves =
      issued + options_.authority.max_ttl + absl::Minutes(1);
  clock_.Set(leaves - absl::Seconds(1));
  ASSERT_THAT(server_->authority().MaintainKeys(), IsOk());
  EXPECT_THAT(KidsOf(Jwks()), Contains(first));
  clock_.Set(leaves);
  ASSERT_THAT(server_->authority().MaintainKeys(), IsOk());
  EXPECT_THAT(KidsOf(Jwks()), Not(Contains(first)));
  EXPECT_EQ(List().keys_size(), 3);
}

TEST_F(KeyRotationTest, KeysAndStagesSurviveARestart) {
  const std::string old_token = Login("u", {"A"}).access_token();
  clock_.Advance(absl::Minutes(1));
  const KeysResponse before = Rotate();
  const std::string version = Jwks().key_set_version();

  StopServer();
  StartServer();
  EXPECT_EQ(List().DebugString(), before.DebugString());
  EXPECT_EQ(Jwks().key_set_version(), version);
  EXPECT_EQ(Outcome(Check(old_token, "A")), "OK VALID");
  EXPECT_EQ(KidOf(Login("u", {"A"}).access_token()),
            KidIn(before, sigil::v1::ACTIVE));
}

TEST_F(KeyRotationTest, IssueNeverFailsWhileKeysRotate) {
  constexpr int kThreads = 4;
  constexpr int kTokensEach = 25;
  constexpr int kRotations = 10;
  absl::Mutex mu;
  std::vector<std::string> tokens;
  std::vector<std::string> failures;
  std::atomic<int> finished{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kTokensEach; ++i) {
        sigil::v1::IssueRequest request;
        request.set_subject(absl::StrCat("u", t, "-", i));
        request.add_systems("A");
        sigil::v1::IssueResponse response;
        grpc::Status status = stub_->Issue(Context().get(), request, &response);
        absl::MutexLock lock(&mu);
        if (status.ok()) {
          tokens.push_back(response.access_token());
        } else {
          failures.push_back(status.error_message());
        }
      }
      ++finished;
    });
  }
  // Rotations overlap the issuing from its first call to its last.
  int rotations = 0;
  while (rotations < kRotations || finished.load() < kThreads) {
    Rotate();
    ++rotations;
  }
  for (std::thread& thread : threads) thread.join();

  EXPECT_THAT(failures, IsEmpty());
  ASSERT_EQ(tokens.size(), kThreads * kTokensEach);
  for (const std::string& token : tokens) {
    SCOPED_TRACE(KidOf(token));
    EXPECT_EQ(Outcome(Check(token, "A")), "OK VALID");
  }
}

TEST_F(KeyRotationTest, StreamsCarryTheKeySetVersion) {
  auto context = Context();
  auto reader = stub_->WatchRevocations(context.get());
  ASSERT_TRUE(reader->Write(sigil::v1::WatchRevocationsRequest()));
  sigil::v1::WatchRevocationsResponse response;
  ASSERT_TRUE(reader->Read(&response));
  EXPECT_EQ(response.key_set_version(), Jwks().key_set_version());

  const std::string before = response.key_set_version();
  Rotate();
  const std::string after = Jwks().key_set_version();
  ASSERT_NE(after, before);
  do {
    ASSERT_TRUE(reader->Read(&response));
  } while (response.key_set_version() == before);
  EXPECT_EQ(response.key_set_version(), after);
  context->TryCancel();
  reader->Finish();
}

TEST_F(KeyRotationTest, RotatesOnItsOwnOnceThePeriodIsDue) {
  StopServer();
  options_.authority.key_rotation_period = absl::Hours(6);
  options_.maintenance_interval = absl::Milliseconds(5);
  StartServer();
  const std::string first = KidIn(List(), sigil::v1::ACTIVE);
  clock_.Advance(absl::Hours(6));

  // Bounded wait for the maintenance thread.
  const absl::Time give_up = absl::Now() + absl::Seconds(10);
  KeysResponse keys = List();
  while (KidIn(keys, sigil::v1::ACTIVE) == first && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(5));
    keys = List();
  }
  EXPECT_EQ(KidIn(keys, sigil::v1::RETIRED), first);
  EXPECT_EQ(keys.keys_size(), 3) << keys.DebugString();
}

}  // namespace
}  // namespace sigil::server
