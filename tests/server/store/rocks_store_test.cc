// What RocksStore does of its own, beyond the Store contract: its data
// dir on disk, the lock, the format version, corruption, compaction and the
// layout of its column families. The contract itself, which every Store
// keeps, is tested in store_conformance_test.cc.

#include "server/store/rocks_store.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rocksdb/db.h"
#include "server/store/layout.h"
#include "tests/server/store/store_testing.h"
#include "tests/testing/status_matchers.h"
#include "token/clock.h"
#include "token/revocation_index.h"

namespace sigil::server::store {
namespace {

using ::sigil::testing::IsOk;
using test_support::Is;
using test_support::kStart;
using test_support::MakeSession;
using test_support::Message;
using test_support::Micros;
using test_support::Put;
using test_support::Seqs;
using test_support::SubjectRevocation;
using test_support::SubjectSystemRevocation;
using test_support::TokenRevocation;
using test_support::WithSeq;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::UnorderedElementsAre;
using token::Revocation;

// Opens the store's RocksDB directly (only after the store is closed), to
// inspect or tamper with the layout the Store interface hides.
class RawDb {
 public:
  static std::unique_ptr<RawDb> Open(const std::string& data_dir,
                                     bool read_only) {
    const std::string path = absl::StrCat(data_dir, "/", kDbSubdir);
    rocksdb::DBOptions options;
    std::vector<std::string> names;
    rocksdb::Status listed =
        rocksdb::DB::ListColumnFamilies(options, path, &names);
    EXPECT_TRUE(listed.ok()) << listed.ToString();
    std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
    for (const std::string& name : names) {
      descriptors.emplace_back(name, rocksdb::ColumnFamilyOptions());
    }
    auto raw = std::unique_ptr<RawDb>(new RawDb());
    rocksdb::DB* db = nullptr;
    rocksdb::Status opened =
        read_only ? rocksdb::DB::OpenForReadOnly(options, path, descriptors,
                                                 &raw->handles_, &db)
                  : rocksdb::DB::Open(options, path, descriptors,
                                      &raw->handles_, &db);
    EXPECT_TRUE(opened.ok()) << opened.ToString();
    if (!opened.ok()) return nullptr;
    raw->db_.reset(db);
    return raw;
  }

  ~RawDb() {
    for (rocksdb::ColumnFamilyHandle* handle : handles_) {
      db_->DestroyColumnFamilyHandle(handle);
    }
  }

  std::vector<std::string> Keys(const std::string& family) {
    std::vector<std::string> keys;
    std::unique_ptr<rocksdb::Iterator> it(
        db_->NewIterator(rocksdb::ReadOptions(), Handle(family)));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      keys.push_back(it->key().ToString());
    }
    EXPECT_TRUE(it->status().ok()) << it->status().ToString();
    return keys;
  }

  void Put(const std::string& family, const std::string& key,
           const std::string& value) {
    rocksdb::Status put =
        db_->Put(rocksdb::WriteOptions(), Handle(family), key, value);
    EXPECT_TRUE(put.ok()) << put.ToString();
  }

 private:
  RawDb() = default;

  rocksdb::ColumnFamilyHandle* Handle(const std::string& family) {
    for (rocksdb::ColumnFamilyHandle* handle : handles_) {
      if (handle->GetName() == family) return handle;
    }
    ADD_FAILURE() << "no column family " << family;
    return db_->DefaultColumnFamily();
  }

  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
};

class RocksStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = absl::StrCat(::testing::TempDir(), "/store.XXXXXX");
    ASSERT_NE(mkdtemp(pattern.data()), nullptr) << std::strerror(errno);
    root_ = pattern;
    data_dir_ = root_ + "/data";
  }

  void TearDown() override { std::filesystem::remove_all(root_); }

  std::unique_ptr<RocksStore> OpenStore() {
    auto store = RocksStore::Open(data_dir_, &clock_);
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? *std::move(store) : nullptr;
  }

  std::vector<Revocation> AllRevocations(Store& store) {
    std::vector<Revocation> all;
    absl::Status status = store.ForEachRevocation(
        [&all](const Revocation& r) { all.push_back(r); });
    EXPECT_TRUE(status.ok()) << status;
    return all;
  }

  std::vector<Revocation> AllEvents(Store& store) {
    auto events = store.ReadEvents(0, std::numeric_limits<size_t>::max());
    EXPECT_TRUE(events.ok()) << events.status();
    return events.ok() ? *events : std::vector<Revocation>();
  }

  // Appends and returns the sessions the revocation ended.
  int64_t Append(Store& store, const Revocation& r) {
    auto appended = store.AppendRevocation(r);
    EXPECT_TRUE(appended.ok()) << appended.status();
    return appended.ok() ? appended->revoked_sessions : -1;
  }

  token::FakeClock clock_{kStart};
  std::string root_;
  std::string data_dir_;
};

TEST_F(RocksStoreTest, CreatesDataDirWithMode0700) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  struct stat info;
  ASSERT_EQ(stat(data_dir_.c_str(), &info), 0) << std::strerror(errno);
  EXPECT_TRUE(S_ISDIR(info.st_mode));
  EXPECT_EQ(info.st_mode & 0777, 0700);
}

TEST_F(RocksStoreTest, MissingParentDirFails) {
  const std::string dir = root_ + "/missing/data";
  auto store = RocksStore::Open(dir, &clock_);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(Message(store.status()), HasSubstr(dir));
  EXPECT_THAT(Message(store.status()), HasSubstr("parent directory"));
}

TEST_F(RocksStoreTest, SecondOpenInSameProcessFails) {
  auto first = OpenStore();
  ASSERT_NE(first, nullptr);
  auto second = RocksStore::Open(data_dir_, &clock_);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(Message(second.status()),
              HasSubstr(absl::StrCat("data dir ", data_dir_,
                                     " is in use by another sigild")));
  first.reset();
  EXPECT_NE(OpenStore(), nullptr);
}

TEST_F(RocksStoreTest, OpenFailsWhileAnotherProcessHoldsTheLock) {
  ASSERT_NE(OpenStore(), nullptr);
  const std::string lock_path =
      absl::StrCat(data_dir_, "/", kDbSubdir, "/LOCK");
  int ready[2];
  int release[2];
  ASSERT_EQ(pipe(ready), 0);
  ASSERT_EQ(pipe(release), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0) << std::strerror(errno);
  if (child == 0) {
    // Only async-signal-safe calls between fork and _exit.
    close(ready[0]);
    close(release[1]);
    const int fd = open(lock_path.c_str(), O_RDWR);
    struct flock lock = {};
    lock.l_type = F_WRLCK;
    lock.l_whence = SEEK_SET;
    if (fd < 0 || fcntl(fd, F_SETLK, &lock) != 0) _exit(1);
    if (write(ready[1], "r", 1) != 1) _exit(2);
    char byte;
    while (read(release[0], &byte, 1) > 0) {
    }
    _exit(0);
  }
  close(ready[1]);
  close(release[0]);
  char byte = 0;
  const bool locked = read(ready[0], &byte, 1) == 1;
  close(ready[0]);
  if (locked) {
    auto store = RocksStore::Open(data_dir_, &clock_);
    ASSERT_FALSE(store.ok());
    EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(Message(store.status()),
                HasSubstr(absl::StrCat("data dir ", data_dir_,
                                       " is in use by another sigild")));
  }
  close(release[1]);
  int wait_status = 0;
  ASSERT_EQ(waitpid(child, &wait_status, 0), child);
  ASSERT_TRUE(WIFEXITED(wait_status));
  ASSERT_EQ(WEXITSTATUS(wait_status), 0) << "child could not take the lock";
  ASSERT_TRUE(locked);
  EXPECT_NE(OpenStore(), nullptr);
}

TEST_F(RocksStoreTest, NewerFormatVersionFails) {
  ASSERT_NE(OpenStore(), nullptr);
  {
    auto raw = RawDb::Open(data_dir_, /*read_only=*/false);
    ASSERT_NE(raw, nullptr);
    raw->Put(kMetaFamily, kFormatVersionKey, EncodeFixed64(kFormatVersion + 1));
  }
  auto store = RocksStore::Open(data_dir_, &clock_);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(Message(store.status()), HasSubstr(data_dir_));
  EXPECT_THAT(Message(store.status()),
              HasSubstr(absl::StrCat("format version ", kFormatVersion + 1)));
}

TEST_F(RocksStoreTest, CorruptStoreIsUnavailable) {
  ASSERT_NE(OpenStore(), nullptr);
  {
    std::FILE* current = std::fopen(
        absl::StrCat(data_dir_, "/", kDbSubdir, "/CURRENT").c_str(), "w");
    ASSERT_NE(current, nullptr);
    std::fputs("garbage", current);
    std::fclose(current);
  }
  auto store = RocksStore::Open(data_dir_, &clock_);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(Message(store.status()), HasSubstr(data_dir_));
}

// Issue 19 finding 7: a logout of a subject who never logged in at the
// system, appended kIfLoggedIn, leaves no key behind, not even a counter
// (the conformance suite checks that it takes no seq).
TEST_F(RocksStoreTest, ALogoutIfLoggedInOfNoLoginWritesNothing) {
  using RecordIf = Store::RecordIf;
  const absl::Time expiry = kStart + absl::Hours(1);
  {
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    ASSERT_THAT(Put(*store, MakeSession("s1", "alice", {"b"}, expiry)), IsOk());
    const std::vector<Revocation> logouts = {
        SubjectSystemRevocation("ghost", "a", kStart, expiry),
        SubjectSystemRevocation("alice", "a", kStart, expiry),
    };
    const std::vector<RecordIf> conditions = {RecordIf::kIfLoggedIn,
                                              RecordIf::kIfLoggedIn};
    ASSERT_THAT(store->AppendRevocations(logouts, conditions), IsOk());
  }
  auto raw = RawDb::Open(data_dir_, /*read_only=*/true);
  ASSERT_NE(raw, nullptr);
  EXPECT_THAT(raw->Keys(kRevocationsFamily), IsEmpty());
  EXPECT_THAT(raw->Keys(kEventsFamily), IsEmpty());
  EXPECT_THAT(raw->Keys(kSessionsFamily),
              Not(Contains(CounterKey("ghost", "a"))));
  EXPECT_THAT(raw->Keys(kSessionsFamily),
              Not(Contains(CounterKey("alice", "a"))));
}

TEST_F(RocksStoreTest, CompactionDropsOnlyExpiredEntries) {
  const Revocation short_lived =
      TokenRevocation("jti-1", kStart, kStart + absl::Hours(1));
  const Revocation long_lived =
      SubjectRevocation("bob", kStart, kStart + absl::Hours(3));
  const KeyRecord key{"00ff", "ES256", kStart};
  const int64_t tick_lease = Micros(kStart + absl::Seconds(5));
  {
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    Append(*store, short_lived);
    Append(*store, long_lived);
    ASSERT_TRUE(
        Put(*store, MakeSession("s1", "carol", {"a"}, kStart + absl::Hours(1)))
            .ok());
    ASSERT_TRUE(store->PutKey(key).ok());
    ASSERT_TRUE(store->ReserveTicks(tick_lease).ok());

    ASSERT_TRUE(store->CompactAll().ok());
    EXPECT_THAT(AllRevocations(*store),
                UnorderedElementsAre(Is(WithSeq(short_lived, 1)),
                                     Is(WithSeq(long_lived, 2))));
    EXPECT_THAT(Seqs(AllEvents(*store)), ElementsAre(1, 2));

    // Past carol's session and the 15-minute tokens it could still mint
    // at its end (its counter's login watermark).
    clock_.Advance(absl::Hours(1) + absl::Minutes(15));
    ASSERT_TRUE(store->CompactAll().ok());
    EXPECT_THAT(AllRevocations(*store),
                ElementsAre(Is(WithSeq(long_lived, 2))));
    EXPECT_THAT(Seqs(AllEvents(*store)), ElementsAre(2));
    EXPECT_EQ(store->LastSeq(), 2);
  }
  {
    auto raw = RawDb::Open(data_dir_, /*read_only=*/true);
    ASSERT_NE(raw, nullptr);
    // Carol's session, its refresh token and counter have expired; bob's
    // logout everywhere stays as long as the revocation does.
    EXPECT_THAT(raw->Keys(kSessionsFamily), ElementsAre(CounterKey("bob", "")));
    EXPECT_THAT(raw->Keys(kKeysFamily), ElementsAre(key.kid));
    EXPECT_THAT(
        raw->Keys(kMetaFamily),
        UnorderedElementsAre(kFormatVersionKey, kLastSeqKey, kTickLeaseKey,
                             kMaxNotBeforeKey, kStoreIdKey, kKeysVersionKey));
  }
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->LastSeq(), 2);
  EXPECT_EQ(store->TickFloor(), tick_lease);
  auto keys = store->ListKeys();
  ASSERT_TRUE(keys.ok()) << keys.status();
  ASSERT_EQ(keys->keys.size(), 1);
  EXPECT_EQ(keys->keys[0].kid, key.kid);
  auto next = store->AppendRevocation(
      TokenRevocation("jti-2", kStart, kStart + absl::Hours(5)));
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->seq, 3);

  clock_.Advance(absl::Hours(2));
  ASSERT_TRUE(store->CompactAll().ok());
  EXPECT_THAT(Seqs(AllRevocations(*store)), ElementsAre(3));
  EXPECT_THAT(Seqs(AllEvents(*store)), ElementsAre(3));
}

// The layout's store_id: 32 hex digits (the conformance suite checks that
// it is kept for life and differs between stores).
TEST_F(RocksStoreTest, IdIs32HexDigits) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  const std::string& id = store->Id();
  EXPECT_EQ(id.size(), 32u) << id;
  for (char c : id) EXPECT_TRUE(absl::ascii_isxdigit(c)) << id;
}

}  // namespace
}  // namespace sigil::server::store
