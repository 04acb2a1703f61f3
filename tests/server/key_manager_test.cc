// KeyManager over a real RocksStore in a temporary directory, real key
// files and OpenSSL, and a fake clock.

#include "server/key_manager.h"

#include <sys/stat.h>

#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/store/rocks_store.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "token/clock.h"
#include "token/jwt.h"
#include "token/key.h"
#include "token/reason.h"

namespace sigil::server {
namespace {

using ::sigil::testing::IsOk;
using ::testing::ElementsAre;
using ::testing::UnorderedElementsAre;
using Stage = store::KeyRecord::Stage;

const absl::Time kStart = absl::FromUnixSeconds(1700000000);
constexpr absl::Duration kMaxTtl = absl::Hours(24);
// KeyManager's margin past max_ttl before a retired key leaves.
constexpr absl::Duration kMargin = absl::Minutes(1);

// "stage kid" for each key in listing order.
std::vector<std::string> Stages(const KeySnapshot& keys) {
  std::vector<std::string> out;
  for (const KeyInfo& key : keys.keys) {
    out.push_back(
        absl::StrCat(StageName(key.record.stage), " ", key.record.kid));
  }
  return out;
}

std::vector<std::string> PublishedKids(const KeySnapshot& keys) {
  std::vector<std::string> kids;
  for (const token::PublicKey& key : keys.public_keys.keys()) {
    kids.push_back(key.kid());
  }
  return kids;
}

std::string KidOf(const KeySnapshot& keys, Stage stage) {
  for (const KeyInfo& key : keys.keys) {
    if (key.record.stage == stage) return key.record.kid;
  }
  return "";
}

class KeyManagerTest : public ::testing::Test {
 protected:
  KeyManagerTest() : clock_(kStart) {}

  void SetUp() override { ASSERT_NO_FATAL_FAILURE(OpenStore()); }

  void OpenStore() {
    store_.reset();
    auto store = store::RocksStore::Open(data_dir(), &clock_);
    ASSERT_THAT(store, IsOk());
    store_ = *std::move(store);
  }

  std::unique_ptr<KeyManager> Load() {
    auto keys = KeyManager::Load(data_dir(), token::Algorithm::kES256, kMaxTtl,
                                 store_.get(), &clock_);
    EXPECT_THAT(keys, IsOk());
    return keys.ok() ? *std::move(keys) : nullptr;
  }

  std::string data_dir() const { return dir_.Sub("data"); }
  std::string KeyFile(const std::string& kid) const {
    return absl::StrCat(data_dir(), "/keys/", kid, ".pem");
  }
  bool KeyFileExists(const std::string& kid) const {
    struct stat st;
    return stat(KeyFile(kid).c_str(), &st) == 0;
  }

  std::string Sign(const KeySnapshot& keys, absl::Duration ttl) {
    token::JwtClaims claims;
    claims.issuer = "sigil";
    claims.subject = "u";
    claims.audience = {"A"};
    claims.issued_at = clock_.Now();
    claims.expires_at = clock_.Now() + ttl;
    claims.token_id = "jti";
    claims.session_id = "sid";
    claims.issued_at_us = absl::ToUnixMicros(clock_.Now());
    auto token = keys.signer.Sign(claims);
    EXPECT_THAT(token, IsOk());
    return token.ok() ? *token : "";
  }

  // "OK" or the verdict's reason.
  std::string Check(const std::string& token, const KeySnapshot& keys) {
    const token::JwtVerifier verifier({"sigil", &clock_});
    auto verified = verifier.Verify(token, keys.public_keys, "A");
    if (verified.ok()) return "OK";
    return std::string(token::ReasonName(token::ReasonOf(verified.status())));
  }

  sigil::testing::TempDir dir_;
  token::FakeClock clock_;
  std::unique_ptr<store::RocksStore> store_;
};

TEST_F(KeyManagerTest, FirstStartCreatesAnActiveAndANextKey) {
  auto manager = Load();
  ASSERT_NE(manager, nullptr);
  auto keys = manager->Current();
  const std::string next = KidOf(*keys, Stage::kNext);
  const std::string active = KidOf(*keys, Stage::kActive);
  EXPECT_THAT(Stages(*keys), ElementsAre("next " + next, "active " + active));
  EXPECT_THAT(PublishedKids(*keys), ElementsAre(next, active));
  EXPECT_EQ(keys->signer.key().kid(), active);
  EXPECT_EQ(keys->keys[1].record.activated, kStart);
  EXPECT_EQ(keys->keys[0].record.activated, absl::InfinitePast());
  for (const std::string& kid : {next, active}) {
    SCOPED_TRACE(kid);
    struct stat st;
    ASSERT_EQ(stat(KeyFile(kid).c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600);
  }
  EXPECT_EQ(keys->version.size(), 16u);
}

TEST_F(KeyManagerTest, RotationMovesEveryKeyOneStage) {
  auto manager = Load();
  ASSERT_NE(manager, nullptr);
  std::vector<std::string> history = {
      KidOf(*manager->Current(), Stage::kActive),
      KidOf(*manager->Current(), Stage::kNext)};
  std::vector<std::string> versions = {manager->Current()->version};
  for (int rotation = 1; rotation <= 3; ++rotation) {
    SCOPED_TRACE(absl::StrCat("rotation ", rotation));
    clock_.Advance(absl::Hours(1));
    auto rotated = manager->Rotate();
    ASSERT_THAT(rotated, IsOk());
    const KeySnapshot& keys = **rotated;
    EXPECT_EQ(manager->Current(), *rotated);
    history.push_back(KidOf(keys, Stage::kNext));

    // history: oldest first; the last is next, the one before active, the
    // rest retired, most recent first.
    std::vector<std::string> want = {"next " + history[rotation + 1],
                                     "active " + history[rotation]};
    for (int i = rotation - 1; i >= 0; --i) {
      want.push_back("retired " + history[i]);
    }
    EXPECT_EQ(Stages(keys), want);
    EXPECT_EQ(keys.signer.key().kid(), history[rotation]);
    EXPECT_EQ(keys.keys[1].record.activated, clock_.Now());
    EXPECT_EQ(keys.keys[2].record.retired, clock_.Now());
    EXPECT_EQ(keys.keys[2].remove_after, clock_.Now() + kMaxTtl + kMargin);
    EXPECT_EQ(keys.public_keys.keys().size(), want.size());
    for (const std::string& seen : versions) EXPECT_NE(keys.version, seen);
    versions.push_back(keys.version);
  }
}

TEST_F(KeyManagerTest, RetiredKeyVerifiesItsTokensUntilTheyExpireThenLeaves) {
  auto manager = Load();
  ASSERT_NE(manager, nullptr);
  const std::string first = KidOf(*manager->Current(), Stage::kActive);
  const std::string token = Sign(*manager->Current(), kMaxTtl);
  const absl::Time retired = kStart + absl::Minutes(1);

  clock_.Set(retired);
  ASSERT_THAT(manager->Rotate(), IsOk());
  EXPECT_EQ(Check(token, *manager->Current()), "OK");
  clock_.Advance(absl::Minutes(1));
  ASSERT_THAT(manager->Rotate(), IsOk());
  EXPECT_EQ(Check(token, *manager->Current()), "OK");

  clock_.Set(kStart + kMaxTtl - absl::Seconds(1));
  EXPECT_EQ(Check(token, *manager->Current()), "OK");
  clock_.Set(kStart + kMaxTtl);
  EXPECT_EQ(Check(token, *manager->Current()), "EXPIRED");

  clock_.Set(retired + kMaxTtl + kMargin - absl::Seconds(1));
  auto removed = manager->RemoveExpired();
  ASSERT_THAT(removed, IsOk());
  EXPECT_FALSE(*removed);
  EXPECT_NE(manager->Current()->public_keys.Find(first), nullptr);
  EXPECT_TRUE(KeyFileExists(first));

  clock_.Set(retired + kMaxTtl + kMargin);
  const std::string version = manager->Current()->version;
  removed = manager->RemoveExpired();
  ASSERT_THAT(removed, IsOk());
  EXPECT_TRUE(*removed);
  EXPECT_EQ(manager->Current()->public_keys.Find(first), nullptr);
  EXPECT_EQ(manager->Current()->keys.size(), 3u);
  EXPECT_NE(manager->Current()->version, version);
  EXPECT_FALSE(KeyFileExists(first));
  auto records = store_->ListKeys();
  ASSERT_THAT(records, IsOk());
  for (const store::KeyRecord& record : records->keys)
    EXPECT_NE(record.kid, first);
}

TEST_F(KeyManagerTest, KeysAndStagesSurviveReopen) {
  std::shared_ptr<const KeySnapshot> before;
  {
    auto manager = Load();
    ASSERT_NE(manager, nullptr);
    clock_.Advance(absl::Hours(1));
    ASSERT_THAT(manager->Rotate(), IsOk());
    before = manager->Current();
  }
  ASSERT_NO_FATAL_FAILURE(OpenStore());
  clock_.Advance(absl::Hours(1));
  auto manager = Load();
  ASSERT_NE(manager, nullptr);
  auto after = manager->Current();
  EXPECT_EQ(Stages(*after), Stages(*before));
  EXPECT_EQ(after->version, before->version);
  EXPECT_EQ(after->signer.key().kid(), before->signer.key().kid());
  ASSERT_EQ(after->keys.size(), before->keys.size());
  for (size_t i = 0; i < after->keys.size(); ++i) {
    SCOPED_TRACE(after->keys[i].record.kid);
    EXPECT_EQ(after->keys[i].record.created, before->keys[i].record.created);
    EXPECT_EQ(after->keys[i].record.activated,
              before->keys[i].record.activated);
    EXPECT_EQ(after->keys[i].record.retired, before->keys[i].record.retired);
  }
}

TEST_F(KeyManagerTest, RecordsWithoutStagesAreReadByAge) {
  // Written as sigild did before keys had stages: created three keys, the
  // newest signing.
  const absl::Time now = kStart + absl::Hours(72);
  struct Legacy {
    std::string kid;
    absl::Time created;
  };
  const std::vector<Legacy> legacy = {
      {"0a0a", now - absl::Hours(72)},  // retired at 0b0b's creation: gone
      {"0b0b", now - absl::Hours(47)},  // retired at 0c0c's creation
      {"0c0c", now - absl::Hours(1)},   // active
  };
  ASSERT_TRUE(::mkdir(dir_.Sub("data/keys").c_str(), 0700) == 0);
  for (const Legacy& key : legacy) {
    auto generated =
        token::PrivateKey::Generate(token::Algorithm::kES256, key.kid);
    ASSERT_THAT(generated, IsOk());
    {
      std::ofstream out(KeyFile(key.kid));
      out << generated->ToPem().value();
    }
    ASSERT_EQ(::chmod(KeyFile(key.kid).c_str(), 0600), 0);
    ASSERT_THAT(store_->PutKey({key.kid, "ES256", key.created}), IsOk());
  }

  clock_.Set(now);
  auto manager = Load();
  ASSERT_NE(manager, nullptr);
  auto keys = manager->Current();
  const std::string next = KidOf(*keys, Stage::kNext);
  EXPECT_THAT(Stages(*keys),
              ElementsAre("next " + next, "active 0c0c", "retired 0b0b"));
  EXPECT_EQ(keys->signer.key().kid(), "0c0c");
  EXPECT_EQ(keys->keys[1].record.activated, legacy[2].created);
  EXPECT_EQ(keys->keys[2].record.retired, legacy[2].created);
  EXPECT_FALSE(KeyFileExists("0a0a"));

  // The derived stages are recorded.
  auto records = store_->ListKeys();
  ASSERT_THAT(records, IsOk());
  std::vector<std::string> stored;
  for (const store::KeyRecord& record : records->keys) {
    stored.push_back(absl::StrCat(StageName(record.stage), " ", record.kid));
  }
  EXPECT_THAT(stored, UnorderedElementsAre("next " + next, "active 0c0c",
                                           "retired 0b0b"));
}

TEST_F(KeyManagerTest, RotateIfDueCountsFromActivationAcrossRestarts) {
  constexpr absl::Duration kPeriod = absl::Hours(6);
  std::string active;
  {
    auto manager = Load();
    ASSERT_NE(manager, nullptr);
    clock_.Advance(absl::Hours(1));
    ASSERT_THAT(manager->Rotate(), IsOk());
    active = KidOf(*manager->Current(), Stage::kActive);
  }
  const absl::Time activated = kStart + absl::Hours(1);
  ASSERT_NO_FATAL_FAILURE(OpenStore());
  clock_.Set(activated + kPeriod - absl::Seconds(1));
  auto manager = Load();
  ASSERT_NE(manager, nullptr);
  auto due = manager->RotateIfDue(kPeriod);
  ASSERT_THAT(due, IsOk());
  EXPECT_FALSE(*due);
  EXPECT_EQ(KidOf(*manager->Current(), Stage::kActive), active);

  clock_.Set(activated + kPeriod);
  due = manager->RotateIfDue(kPeriod);
  ASSERT_THAT(due, IsOk());
  EXPECT_TRUE(*due);
  EXPECT_EQ(KidOf(*manager->Current(), Stage::kRetired), active);
}

}  // namespace
}  // namespace sigil::server
