// Several KeyManagers on one store, as sigild replicas share one: private
// keys sealed under a KEK into the records, one key set however many start
// or rotate at once, and reloads that pick up another manager's changes.
// Typed over RocksDB (one store object shared in-process) and etcd (a real
// member, one EtcdStore per manager on the same prefix), with real OpenSSL
// and a fake clock.

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/key_manager.h"
#include "server/key_vault.h"
#include "server/sigil_server.h"
#include "server/store/etcd/etcd_client.h"
#include "server/store/etcd/etcd_store.h"
#include "server/store/rocks_store.h"
#include "tests/testing/etcd_cluster.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "token/clock.h"
#include "token/jwt.h"
#include "token/reason.h"

namespace sigil::server {
namespace {

using ::sigil::testing::IsOk;
using ::sigil::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using Stage = store::KeyRecord::Stage;

const absl::Time kStart = absl::FromUnixSeconds(1700000000);
constexpr absl::Duration kMaxTtl = absl::Hours(24);
const std::string kKek(32, '\x3c');

// One RocksStore in the test's temp dir; every manager gets the same one
// (RocksDB admits one process per data dir, so replicas on it are
// in-process).
class RocksBackend {
 public:
  static constexpr char kName[] = "RocksStore";
  static void SetUpTestSuite() {}
  static void TearDownTestSuite() {}

  // From now on, stores of another, empty key set.
  void Fresh() {
    store_.reset();
    ++round_;
  }

  absl::StatusOr<store::Store*> StoreFor(int /*manager*/,
                                         const token::Clock* clock) {
    if (store_ == nullptr) {
      auto store =
          store::RocksStore::Open(dir_.Sub(absl::StrCat("db", round_)), clock);
      if (!store.ok()) return store.status();
      store_ = *std::move(store);
    }
    return store_.get();
  }

 private:
  sigil::testing::TempDir dir_;
  int round_ = 0;
  std::unique_ptr<store::RocksStore> store_;
};

// One etcd member for the suite; each manager gets an EtcdStore of its own
// (its own client) on the test's prefix, as replicas do.
class EtcdBackend {
 public:
  static constexpr char kName[] = "EtcdStore";
  static void SetUpTestSuite() {
    auto cluster = sigil::testing::EtcdCluster::Start();
    ASSERT_THAT(cluster, IsOk());
    cluster_ = cluster->release();
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }

  EtcdBackend() : test_(++tests_) {}
  void Fresh() { ++round_; }
  ~EtcdBackend() {
    // Stores before the clients they speak through.
    stores_.clear();
    clients_.clear();
  }

  absl::StatusOr<store::Store*> StoreFor(int /*manager*/,
                                         const token::Clock* clock) {
    if (cluster_ == nullptr) return absl::UnavailableError("no etcd cluster");
    auto client = cluster_->NewClient();
    if (!client.ok()) return client.status();
    store::EtcdStore::Options options;
    options.prefix = absl::StrCat("/key_sharing/", test_, "/", round_, "/");
    auto store = store::EtcdStore::Open(client->get(), clock, options);
    if (!store.ok()) return store.status();
    clients_.push_back(*std::move(client));
    stores_.push_back(*std::move(store));
    return stores_.back().get();
  }

 private:
  static inline sigil::testing::EtcdCluster* cluster_ = nullptr;
  static inline int tests_ = 0;
  const int test_;
  int round_ = 0;
  std::vector<std::unique_ptr<store::etcd::EtcdClient>> clients_;
  std::vector<std::unique_ptr<store::EtcdStore>> stores_;
};

struct BackendName {
  template <typename T>
  static std::string GetName(int) {
    return T::kName;
  }
};

template <typename Backend>
class KeySharingTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { Backend::SetUpTestSuite(); }
  static void TearDownTestSuite() { Backend::TearDownTestSuite(); }

  KeySharingTest() : clock_(kStart) {}

  // Manager `i`'s data dir: each replica has its own.
  std::string DataDir(int i) const { return dir_.Sub(absl::StrCat("r", i)); }

  // Manager `i` on the shared store; with `kek` empty, no vault.
  absl::StatusOr<std::unique_ptr<KeyManager>> Load(
      int i, const std::string& kek = kKek) {
    auto store = backend_.StoreFor(i, &clock_);
    if (!store.ok()) return store.status();
    std::unique_ptr<const KeyVault> vault;
    if (!kek.empty()) {
      auto made = KeyVault::FromKek(kek);
      if (!made.ok()) return made.status();
      vault = *std::move(made);
    }
    return KeyManager::Load(DataDir(i), token::Algorithm::kES256, kMaxTtl,
                            *store, &clock_, std::move(vault));
  }

  // Names in manager i's key dir ("" entries skipped); empty if absent.
  std::vector<std::string> KeyFiles(int i) const {
    std::vector<std::string> names;
    DIR* dir = opendir((DataDir(i) + "/keys").c_str());
    if (dir == nullptr) return names;
    while (dirent* entry = readdir(dir)) {
      const std::string name = entry->d_name;
      if (name != "." && name != "..") names.push_back(name);
    }
    closedir(dir);
    return names;
  }

  std::string Sign(const KeySnapshot& keys) {
    token::JwtClaims claims;
    claims.issuer = "sigil";
    claims.subject = "u";
    claims.audience = {"A"};
    claims.issued_at = clock_.Now();
    claims.expires_at = clock_.Now() + absl::Minutes(5);
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

  static std::string KidOf(const KeySnapshot& keys, Stage stage) {
    for (const KeyInfo& key : keys.keys) {
      if (key.record.stage == stage) return key.record.kid;
    }
    return "";
  }

  // The stored records as "stage kid", sorted.
  std::vector<std::string> Stored() {
    std::vector<std::string> out;
    auto store = backend_.StoreFor(99, &clock_);
    EXPECT_THAT(store, IsOk());
    if (!store.ok()) return out;
    auto records = (*store)->ListKeys();
    EXPECT_THAT(records, IsOk());
    if (!records.ok()) return out;
    for (const store::KeyRecord& record : records->keys) {
      out.push_back(absl::StrCat(StageName(record.stage), " ", record.kid));
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  sigil::testing::TempDir dir_;
  token::FakeClock clock_;
  Backend backend_;
};

using Backends = ::testing::Types<RocksBackend, EtcdBackend>;
TYPED_TEST_SUITE(KeySharingTest, Backends, BackendName);

TYPED_TEST(KeySharingTest, SealedKeysLeaveNoFileAndServeASecondManager) {
  auto first = this->Load(0);
  ASSERT_THAT(first, IsOk());
  EXPECT_THAT(this->KeyFiles(0), IsEmpty());
  auto store = this->backend_.StoreFor(99, &this->clock_);
  ASSERT_THAT(store, IsOk());
  auto records = (*store)->ListKeys();
  ASSERT_THAT(records, IsOk());
  ASSERT_EQ(records->keys.size(), 2u);
  for (const store::KeyRecord& record : records->keys) {
    EXPECT_FALSE(record.sealed_private_key.empty()) << record.kid;
  }

  // Another replica: its own data dir, empty, and the same KEK.
  auto second = this->Load(1);
  ASSERT_THAT(second, IsOk());
  const auto a = (*first)->Current();
  const auto b = (*second)->Current();
  EXPECT_EQ(b->version, a->version);
  EXPECT_EQ(this->KidOf(*b, Stage::kActive), this->KidOf(*a, Stage::kActive));
  EXPECT_EQ(this->Check(this->Sign(*b), *a), "OK") << "signed by the second";
  EXPECT_EQ(this->Check(this->Sign(*a), *b), "OK") << "signed by the first";
  EXPECT_THAT(this->KeyFiles(1), IsEmpty());
}

TYPED_TEST(KeySharingTest, SealedKeysNeedTheirKek) {
  ASSERT_THAT(this->Load(0), IsOk());
  EXPECT_THAT(this->Load(1, ""), StatusIs(absl::StatusCode::kFailedPrecondition,
                                          HasSubstr("--kek_file")));
  EXPECT_THAT(this->Load(2, std::string(32, '\x3d')),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("does not authenticate")));
}

// Replicas starting together on an empty store: each would create a key
// set; one lands, the others load it.
TYPED_TEST(KeySharingTest, FirstStartsTogetherEndWithOneKeySet) {
  constexpr int kManagers = 6;
  // Rounds on fresh stores: the starts must overlap to test anything, and
  // one round may happen not to.
  constexpr int kRounds = 5;
  for (int round = 0; round < kRounds; ++round) {
    SCOPED_TRACE(absl::StrCat("round ", round));
    this->backend_.Fresh();
    // Every store first, so the managers' loads are what run together.
    for (int i = 0; i < kManagers; ++i) {
      ASSERT_THAT(this->backend_.StoreFor(i, &this->clock_), IsOk());
    }
    std::vector<absl::StatusOr<std::unique_ptr<KeyManager>>> managers;
    for (int i = 0; i < kManagers; ++i) {
      managers.push_back(absl::UnknownError("not run"));
    }
    absl::Notification go;
    std::vector<std::thread> threads;
    for (int i = 0; i < kManagers; ++i) {
      threads.emplace_back([&, i] {
        go.WaitForNotification();
        managers[i] = this->Load(i);
      });
    }
    go.Notify();
    for (std::thread& thread : threads) thread.join();
    std::string version;
    for (int i = 0; i < kManagers; ++i) {
      ASSERT_THAT(managers[i], IsOk()) << "manager " << i;
      const auto keys = (*managers[i])->Current();
      if (i == 0) version = keys->version;
      EXPECT_EQ(keys->version, version) << "manager " << i;
    }
    const std::vector<std::string> stored = this->Stored();
    ASSERT_EQ(stored.size(), 2u) << ::testing::PrintToString(stored);
    EXPECT_THAT(stored[0], HasSubstr("active "));
    EXPECT_THAT(stored[1], HasSubstr("next "));
  }
}

// Both managers hold the same keys and rotate: one rotation is recorded;
// the other manager does not rotate again but reports the stored keys.
TYPED_TEST(KeySharingTest, RotationsAtOnceRotateOnce) {
  auto first = this->Load(0);
  ASSERT_THAT(first, IsOk());
  auto second = this->Load(1);
  ASSERT_THAT(second, IsOk());
  const std::string next = this->KidOf(*(*first)->Current(), Stage::kNext);
  this->clock_.Advance(absl::Hours(1));
  absl::StatusOr<std::shared_ptr<const KeySnapshot>> rotated[2] = {
      absl::UnknownError("not run"), absl::UnknownError("not run")};
  absl::Notification go;
  std::thread a([&] {
    go.WaitForNotification();
    rotated[0] = (*first)->Rotate();
  });
  std::thread b([&] {
    go.WaitForNotification();
    rotated[1] = (*second)->Rotate();
  });
  go.Notify();
  a.join();
  b.join();
  ASSERT_THAT(rotated[0], IsOk());
  ASSERT_THAT(rotated[1], IsOk());
  EXPECT_EQ((*rotated[0])->version, (*rotated[1])->version);
  EXPECT_EQ(this->KidOf(**rotated[0], Stage::kActive), next);
  EXPECT_EQ(this->KidOf(**rotated[1], Stage::kActive), next);
  EXPECT_EQ((*first)->Current()->version, (*second)->Current()->version);
  EXPECT_EQ(this->Stored().size(), 3u)
      << ::testing::PrintToString(this->Stored());
}

TYPED_TEST(KeySharingTest, DueRotationOnTwoManagersHappensOnce) {
  auto first = this->Load(0);
  ASSERT_THAT(first, IsOk());
  auto second = this->Load(1);
  ASSERT_THAT(second, IsOk());
  this->clock_.Advance(absl::Hours(2));
  auto a = (*first)->RotateIfDue(absl::Hours(1));
  auto b = (*second)->RotateIfDue(absl::Hours(1));
  ASSERT_THAT(a, IsOk());
  ASSERT_THAT(b, IsOk());
  EXPECT_NE(*a, *b) << "first rotated " << *a << ", second " << *b;
  EXPECT_EQ((*first)->Current()->version, (*second)->Current()->version);
  EXPECT_EQ(this->Stored().size(), 3u)
      << ::testing::PrintToString(this->Stored());
}

TYPED_TEST(KeySharingTest, ReloadPicksUpAnotherManagersRotation) {
  auto first = this->Load(0);
  ASSERT_THAT(first, IsOk());
  auto second = this->Load(1);
  ASSERT_THAT(second, IsOk());
  EXPECT_THAT((*second)->Reload(), ::sigil::testing::IsOkAndHolds(false));
  auto rotated = (*first)->Rotate();
  ASSERT_THAT(rotated, IsOk());
  ASSERT_NE((*second)->Current()->version, (*rotated)->version);

  EXPECT_THAT((*second)->Reload(), ::sigil::testing::IsOkAndHolds(true));
  const auto keys = (*second)->Current();
  EXPECT_EQ(keys->version, (*rotated)->version);
  EXPECT_EQ(this->KidOf(*keys, Stage::kNext),
            this->KidOf(**rotated, Stage::kNext));
  // The reloaded manager signs with the new active key, which the first
  // verifies, and the key staged by the first is one it can open.
  EXPECT_EQ(this->Check(this->Sign(*keys), **rotated), "OK");
  EXPECT_THAT((*second)->Reload(), ::sigil::testing::IsOkAndHolds(false));
  auto again = (*second)->Rotate();
  ASSERT_THAT(again, IsOk());
  EXPECT_EQ(this->KidOf(**again, Stage::kActive),
            this->KidOf(**rotated, Stage::kNext));
}

// sigild's wiring: replicas on etcd need the KEK, and one replica's
// rotation reaches another through its periodic reload.
class ReplicaKeysTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto cluster = sigil::testing::EtcdCluster::Start();
    ASSERT_THAT(cluster, IsOk());
    cluster_ = cluster->release();
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }

  ServerOptions Options(int replica) {
    ServerOptions options;
    options.listen = "127.0.0.1:0";
    options.data_dir = dir_.Sub(absl::StrCat("replica", replica));
    options.store = ServerOptions::StoreKind::kEtcd;
    options.etcd.endpoints = cluster_->endpoints();
    options.etcd.prefix = absl::StrCat("/replica_keys/", ++prefixes_, "/");
    options.kek_file = dir_.Sub("kek");
    options.key_reload_interval = absl::Milliseconds(50);
    options.index_snapshot_interval = absl::ZeroDuration();
    return options;
  }

  void SetUp() override {
    ASSERT_NE(cluster_, nullptr);
    std::ofstream(dir_.Sub("kek"), std::ios::binary) << kKek;
    chmod(dir_.Sub("kek").c_str(), 0600);
  }

  static inline sigil::testing::EtcdCluster* cluster_ = nullptr;
  static inline int prefixes_ = 0;
  sigil::testing::TempDir dir_;
};

TEST_F(ReplicaKeysTest, EtcdStoreWithoutAKekIsRefused) {
  ServerOptions options = Options(0);
  options.kek_file.clear();
  EXPECT_THAT(
      SigilServer::Start(options, &token::RealClock()),
      StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("--kek_file")));
}

TEST_F(ReplicaKeysTest, AnotherReplicasRotationReachesThisOne) {
  ServerOptions first_options = Options(0);
  ServerOptions second_options = first_options;
  second_options.data_dir = dir_.Sub("replica1");
  auto first = SigilServer::Start(first_options, &token::RealClock());
  ASSERT_THAT(first, IsOk());
  auto second = SigilServer::Start(second_options, &token::RealClock());
  ASSERT_THAT(second, IsOk());
  EXPECT_EQ((*second)->authority().keys()->version,
            (*first)->authority().keys()->version);

  auto rotated = (*first)->authority().RotateKeys();
  ASSERT_THAT(rotated, IsOk());
  const std::string version = (*first)->authority().keys()->version;
  // The contract is "within a reload interval"; the bound is generous for
  // a loaded machine.
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while ((*second)->authority().keys()->version != version &&
         absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_EQ((*second)->authority().keys()->version, version);
}

}  // namespace
}  // namespace sigil::server
