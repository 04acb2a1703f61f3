#include "server/store/rocks_store.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rocksdb/db.h"
#include "server/store/layout.h"
#include "tests/testing/status_matchers.h"
#include "token/clock.h"
#include "token/revocation_index.h"

namespace sigil::token {

// Readable failure messages for the matchers below.
void PrintTo(const Revocation& r, std::ostream* os) {
  *os << "{seq=" << r.seq << " scope=" << static_cast<int>(r.scope)
      << " subject=" << r.subject << " system=" << r.system
      << " session_id=" << r.session_id << " token_id=" << r.token_id
      << " not_before_us=" << r.not_before_us
      << " expires_at=" << absl::FormatTime(r.expires_at) << "}";
}

}  // namespace sigil::token

namespace sigil::server::store {
namespace {

using ::sigil::testing::IsOk;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::Field;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::UnorderedElementsAre;
using ::testing::UnorderedElementsAreArray;
using token::Revocation;
using token::RevocationScope;

const absl::Time kStart = absl::FromUnixSeconds(1700000000);

int64_t Micros(absl::Time t) { return absl::ToUnixMicros(t); }

Revocation TokenRevocation(std::string token_id, absl::Time not_before,
                           absl::Time expires_at) {
  Revocation r;
  r.scope = RevocationScope::kToken;
  r.subject = "alice";
  r.token_id = std::move(token_id);
  r.not_before_us = Micros(not_before);
  r.expires_at = expires_at;
  return r;
}

Revocation SessionRevocation(std::string session_id, absl::Time not_before,
                             absl::Time expires_at) {
  Revocation r;
  r.scope = RevocationScope::kSession;
  r.subject = "alice";
  r.session_id = std::move(session_id);
  r.not_before_us = Micros(not_before);
  r.expires_at = expires_at;
  return r;
}

Revocation SubjectSystemRevocation(std::string subject, std::string system,
                                   absl::Time not_before,
                                   absl::Time expires_at) {
  Revocation r;
  r.scope = RevocationScope::kSubjectSystem;
  r.subject = std::move(subject);
  r.system = std::move(system);
  r.not_before_us = Micros(not_before);
  r.expires_at = expires_at;
  return r;
}

Revocation SubjectRevocation(std::string subject, absl::Time not_before,
                             absl::Time expires_at) {
  Revocation r;
  r.scope = RevocationScope::kSubject;
  r.subject = std::move(subject);
  r.not_before_us = Micros(not_before);
  r.expires_at = expires_at;
  return r;
}

Revocation WithSeq(Revocation r, uint64_t seq) {
  r.seq = seq;
  return r;
}

::testing::Matcher<const Revocation&> Is(const Revocation& r) {
  return ::testing::AllOf(
      Field("seq", &Revocation::seq, r.seq),
      Field("scope", &Revocation::scope, r.scope),
      Field("subject", &Revocation::subject, r.subject),
      Field("system", &Revocation::system, r.system),
      Field("session_id", &Revocation::session_id, r.session_id),
      Field("token_id", &Revocation::token_id, r.token_id),
      Field("not_before_us", &Revocation::not_before_us, r.not_before_us),
      Field("expires_at", &Revocation::expires_at, r.expires_at));
}

// A session created at kStart (authority instant `created_us`).
Session MakeSession(std::string id, std::string subject,
                    std::vector<std::string> systems, absl::Time expires_at,
                    int64_t created_us = Micros(kStart)) {
  Session session;
  session.session_id = std::move(id);
  session.subject = std::move(subject);
  session.systems = std::move(systems);
  session.scopes = {"orders.read"};
  session.created = kStart;
  session.created_us = created_us;
  session.idle_expires_at = expires_at;
  session.expires_at = expires_at;
  session.access_ttl = absl::Minutes(15);
  session.refresh_secret = "secret";
  return session;
}

// Records `session` with a refresh token hash named after it.
absl::Status Put(Store& store, const Session& session) {
  return store.PutSession(session, "hash-" + session.session_id);
}

std::vector<std::string> SystemsOf(
    const absl::StatusOr<std::optional<Session>>& session) {
  if (!session.ok() || !session->has_value()) return {"<none>"};
  return (*session)->systems;
}

// As a std::string, so that failures print it as text.
std::string Message(const absl::Status& status) {
  return std::string(status.message());
}

std::vector<uint64_t> Seqs(const std::vector<Revocation>& events) {
  std::vector<uint64_t> seqs;
  for (const Revocation& e : events) seqs.push_back(e.seq);
  return seqs;
}

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

TEST_F(RocksStoreTest, RevocationsAndEventsSurviveReopen) {
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
  {
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    EXPECT_EQ(store->LastSeq(), 0);
    for (size_t i = 0; i < appended.size(); ++i) {
      auto result = store->AppendRevocation(appended[i]);
      ASSERT_TRUE(result.ok()) << result.status();
      EXPECT_EQ(result->seq, i + 1);
      expected.push_back(Is(WithSeq(appended[i], i + 1)));
    }
  }
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->LastSeq(), appended.size());
  EXPECT_THAT(AllRevocations(*store), UnorderedElementsAreArray(expected));
  EXPECT_THAT(AllEvents(*store), ElementsAreArray(expected));

  auto next = store->AppendRevocation(
      TokenRevocation("jti-2", kStart, kStart + absl::Hours(1)));
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->seq, appended.size() + 1);
  EXPECT_EQ(store->LastSeq(), appended.size() + 1);
}

TEST_F(RocksStoreTest, ReadEventsHonoursAfterSeqAndLimit) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  for (int i = 0; i < 5; ++i) {
    Append(*store, TokenRevocation(absl::StrCat("jti-", i), kStart,
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
    auto events = store->ReadEvents(c.after_seq, c.limit);
    ASSERT_TRUE(events.ok()) << events.status();
    EXPECT_THAT(Seqs(*events), ElementsAreArray(c.seqs));
  }
}

TEST_F(RocksStoreTest, RevocationOfSameTargetMergesStrictest) {
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
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  std::map<std::string, Revocation> merged;
  for (const Case& c : cases) {
    const auto at = [](int64_t s) { return kStart + absl::Seconds(s); };
    const Revocation first = SubjectSystemRevocation(
        c.name, "billing", at(c.first_not_before_s), at(c.first_expires_s));
    const Revocation second = SubjectSystemRevocation(
        c.name, "billing", at(c.second_not_before_s), at(c.second_expires_s));
    Append(*store, first);
    auto appended = store->AppendRevocation(second);
    ASSERT_TRUE(appended.ok()) << appended.status();
    merged[c.name] = WithSeq(
        SubjectSystemRevocation(c.name, "billing", at(c.merged_not_before_s),
                                at(c.merged_expires_s)),
        appended->seq);
  }
  std::map<std::string, Revocation> table;
  for (const Revocation& r : AllRevocations(*store)) table[r.subject] = r;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    ASSERT_EQ(table.count(c.name), 1);
    EXPECT_THAT(table[c.name], Is(merged[c.name]));
  }
  // The event log keeps every append as it was made.
  EXPECT_EQ(AllEvents(*store).size(), 2 * std::size(cases));
}

TEST_F(RocksStoreTest, DistinctTargetsDoNotMerge) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
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
  for (const Revocation& r : revocations) Append(*store, r);
  EXPECT_EQ(AllRevocations(*store).size(), revocations.size());
}

// A batch is the same revocations appended one by one: same seqs, same
// sessions reported ended, same merged table and events, same sessions left.
TEST_F(RocksStoreTest, OneCallAppendsAsManyCallsInARow) {
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
      SessionRevocation("s5", kStart, expiry),
      SubjectRevocation("alice", kStart, expiry),
      SubjectRevocation("alice", kStart, expiry),
      SubjectSystemRevocation("bob", "a", kStart, expiry),
      SubjectSystemRevocation("carol", "b", kStart, expiry),
  };

  auto one_by_one = OpenStore();
  ASSERT_NE(one_by_one, nullptr);
  auto together = RocksStore::Open(root_ + "/together", &clock_);
  ASSERT_TRUE(together.ok()) << together.status();
  for (const Session& session : sessions) {
    ASSERT_TRUE(Put(*one_by_one, session).ok()) << session.session_id;
    ASSERT_TRUE(Put(**together, session).ok()) << session.session_id;
  }
  std::vector<Store::AppendResult> expected;
  for (const Revocation& r : batch) {
    auto appended = one_by_one->AppendRevocation(r);
    ASSERT_TRUE(appended.ok()) << appended.status();
    expected.push_back(*appended);
  }
  auto appended = (*together)->AppendRevocations(batch);
  ASSERT_TRUE(appended.ok()) << appended.status();

  ASSERT_EQ(appended->size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    SCOPED_TRACE(absl::StrCat("revocation ", i, ": ", batch[i].subject, " at '",
                              batch[i].system, "'"));
    EXPECT_EQ((*appended)[i].seq, expected[i].seq);
    EXPECT_EQ((*appended)[i].revoked_sessions, expected[i].revoked_sessions);
  }
  EXPECT_EQ((*together)->LastSeq(), one_by_one->LastSeq());
  EXPECT_EQ((*together)->TickFloor(), one_by_one->TickFloor());
  const auto all_of = [](const std::vector<Revocation>& revocations) {
    std::vector<::testing::Matcher<const Revocation&>> matchers;
    for (const Revocation& r : revocations) matchers.push_back(Is(r));
    return ElementsAreArray(matchers);
  };
  EXPECT_THAT(AllRevocations(**together), all_of(AllRevocations(*one_by_one)));
  EXPECT_THAT(AllEvents(**together), all_of(AllEvents(*one_by_one)));
  // Each live session as "id: systems".
  const auto live = [](Store& store, const std::string& subject) {
    std::vector<std::string> out;
    auto sessions = store.ListSessions(subject);
    EXPECT_TRUE(sessions.ok()) << sessions.status();
    if (!sessions.ok()) return out;
    for (const Session& session : *sessions) {
      out.push_back(absl::StrCat(session.session_id, ": ",
                                 absl::StrJoin(session.systems, ",")));
    }
    return out;
  };
  for (const std::string subject : {"alice", "bob", "carol"}) {
    EXPECT_EQ(live(**together, subject), live(*one_by_one, subject)) << subject;
  }
}

TEST_F(RocksStoreTest, ABatchWithOneBadRevocationAppendsNothing) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  const absl::Time expiry = kStart + absl::Hours(1);
  const std::vector<Revocation> batch = {
      SubjectRevocation("alice", kStart, expiry),
      SubjectRevocation(std::string("bo\0b", 4), kStart, expiry),
  };
  auto appended = store->AppendRevocations(batch);
  EXPECT_EQ(appended.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store->LastSeq(), 0);
  EXPECT_THAT(AllRevocations(*store), IsEmpty());
  EXPECT_THAT(AllEvents(*store), IsEmpty());
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

// Another process holds the data dir the way a running sigild does: an
// fcntl write lock on RocksDB's LOCK file.
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

TEST_F(RocksStoreTest, LogoutsReportSessionsOpenedSinceLastLogout) {
  const absl::Time expiry = kStart + absl::Hours(1);
  {
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
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
      ASSERT_TRUE(Put(*store, s).ok()) << s.session_id;
    }
  }
  // Sessions are not synced, but the WAL still carries them across a close.
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
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
      {SubjectRevocation("alice", kStart, expiry), 2},
      {SubjectRevocation("alice", kStart, expiry), 0},
      {SubjectSystemRevocation("bob", "a", kStart, expiry), 1},
      {SubjectRevocation("alice2", kStart, expiry), 1},
      {SubjectRevocation("al", kStart, expiry), 1},
  };
  for (size_t i = 0; i < std::size(steps); ++i) {
    SCOPED_TRACE(absl::StrCat("step ", i, ": ", steps[i].revocation.subject,
                              " at '", steps[i].revocation.system, "'"));
    EXPECT_EQ(Append(*store, steps[i].revocation), steps[i].ended);
  }
}

TEST_F(RocksStoreTest, SessionsOpenedAfterLogoutCountForTheNext) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  const absl::Time expiry = kStart + absl::Hours(1);
  ASSERT_TRUE(Put(*store, MakeSession("s1", "alice", {"a"}, expiry)).ok());
  EXPECT_EQ(Append(*store, SubjectRevocation("alice", kStart, expiry)), 1);
  ASSERT_TRUE(Put(*store, MakeSession("s2", "alice", {"a"}, expiry)).ok());
  ASSERT_TRUE(Put(*store, MakeSession("s3", "alice", {"b"}, expiry)).ok());
  EXPECT_EQ(Append(*store, SubjectRevocation("alice", kStart, expiry)), 2);
}

TEST_F(RocksStoreTest, ExpiredSessionsAreNotReportedAsEnded) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(Put(*store, MakeSession("s1", "alice", {"a", "b"},
                                      kStart + absl::Hours(1)))
                  .ok());
  clock_.Advance(absl::Hours(2));
  // A new session after the old counter expired starts a fresh count.
  ASSERT_TRUE(
      Put(*store, MakeSession("s2", "alice", {"b"}, kStart + absl::Hours(3)))
          .ok());
  const absl::Time expiry = kStart + absl::Hours(4);
  EXPECT_EQ(
      Append(*store, SubjectSystemRevocation("alice", "a", kStart, expiry)), 0);
  EXPECT_EQ(Append(*store, SubjectRevocation("alice", kStart, expiry)), 1);
}

TEST_F(RocksStoreTest, LogoutsNarrowAndEndSessionsCreatedBeforeThem) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  const absl::Time expiry = kStart + absl::Hours(1);
  const int64_t t0 = Micros(kStart);
  ASSERT_TRUE(
      Put(*store, MakeSession("s1", "alice", {"a", "b"}, expiry, t0 + 10))
          .ok());
  ASSERT_TRUE(
      Put(*store, MakeSession("s2", "alice", {"b"}, expiry, t0 + 30)).ok());
  ASSERT_TRUE(
      Put(*store, MakeSession("s3", "bob", {"a"}, expiry, t0 + 10)).ok());

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
      // Between s1 and s2: only s1 is older.
      {"alice out of b at 20",
       SubjectSystemRevocation("alice", "b", at(t0 + 20), expiry),
       {"<none>"},
       {"b"},
       {"a"}},
      // The same instant as s2's creation does not cover it.
      {"alice out everywhere at 30",
       SubjectRevocation("alice", at(t0 + 30), expiry),
       {"<none>"},
       {"b"},
       {"a"}},
      {"alice out everywhere at 31",
       SubjectRevocation("alice", at(t0 + 31), expiry),
       {"<none>"},
       {"<none>"},
       {"a"}},
  };
  for (const Step& step : steps) {
    SCOPED_TRACE(step.name);
    if (step.revocation.has_value()) Append(*store, *step.revocation);
    EXPECT_EQ(SystemsOf(store->GetSession("alice", "s1")), step.s1);
    EXPECT_EQ(SystemsOf(store->GetSession("alice", "s2")), step.s2);
    EXPECT_EQ(SystemsOf(store->GetSession("bob", "s3")), step.s3);
  }

  // A login racing a logout may be recorded after it, yet predate it.
  ASSERT_TRUE(
      Put(*store, MakeSession("late", "alice", {"c"}, expiry, t0 + 25)).ok());
  EXPECT_EQ(SystemsOf(store->GetSession("alice", "late")),
            std::vector<std::string>{"<none>"});
  ASSERT_TRUE(
      Put(*store, MakeSession("new", "alice", {"a", "c"}, expiry, t0 + 40))
          .ok());
  auto listed = store->ListSessions("alice");
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].session_id, "new");
  EXPECT_EQ((*listed)[0].systems, (std::vector<std::string>{"a", "c"}));
  EXPECT_EQ((*listed)[0].scopes, (std::vector<std::string>{"orders.read"}));
  EXPECT_EQ((*listed)[0].access_ttl, absl::Minutes(15));
  EXPECT_EQ((*listed)[0].refresh_secret, "secret");
}

TEST_F(RocksStoreTest, SessionsEndWhenIdleOrExpiredOrRevoked) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  Session idle = MakeSession("idle", "alice", {"a"}, kStart + absl::Hours(2));
  idle.idle_expires_at = kStart + absl::Minutes(30);
  ASSERT_TRUE(Put(*store, idle).ok());
  ASSERT_TRUE(Put(*store, MakeSession("short", "alice", {"a"},
                                      kStart + absl::Minutes(40)))
                  .ok());
  ASSERT_TRUE(Put(*store, MakeSession("revoked", "alice", {"a"},
                                      kStart + absl::Hours(2)))
                  .ok());
  ASSERT_TRUE(
      Put(*store, MakeSession("kept", "alice", {"a"}, kStart + absl::Hours(2)))
          .ok());
  Append(*store, SessionRevocation("revoked", kStart, kStart + absl::Hours(1)));
  EXPECT_EQ(SystemsOf(store->GetSession("alice", "revoked")),
            std::vector<std::string>{"<none>"});

  auto ids = [&] {
    std::vector<std::string> out;
    auto listed = store->ListSessions("alice");
    EXPECT_TRUE(listed.ok()) << listed.status();
    if (listed.ok()) {
      for (const Session& s : *listed) out.push_back(s.session_id);
    }
    std::sort(out.begin(), out.end());
    return out;
  };
  EXPECT_EQ(ids(), (std::vector<std::string>{"idle", "kept", "short"}));
  clock_.Advance(absl::Minutes(30));
  EXPECT_EQ(ids(), (std::vector<std::string>{"kept", "short"}));
  clock_.Advance(absl::Minutes(10));
  EXPECT_EQ(ids(), (std::vector<std::string>{"kept"}));
}

TEST_F(RocksStoreTest, RefreshTokenRotationIsDurable) {
  const Session session =
      MakeSession("s1", "alice", {"a"}, kStart + absl::Hours(1));
  {
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(Put(*store, session).ok());
    auto first = store->GetRefreshToken("hash-s1");
    ASSERT_TRUE(first.ok() && first->has_value()) << first.status();
    EXPECT_EQ((*first)->subject, "alice");
    EXPECT_EQ((*first)->session_id, "s1");
    EXPECT_FALSE((*first)->spent());

    Session refreshed = session;
    refreshed.last_refreshed = kStart + absl::Minutes(5);
    refreshed.idle_expires_at = kStart + absl::Minutes(50);
    ASSERT_TRUE(store
                    ->RotateRefreshToken(refreshed, **first, "hash-2",
                                         kStart + absl::Minutes(5))
                    .ok());
  }
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  auto spent = store->GetRefreshToken("hash-s1");
  ASSERT_TRUE(spent.ok() && spent->has_value());
  EXPECT_EQ((*spent)->rotated_at, kStart + absl::Minutes(5));
  auto successor = store->GetRefreshToken("hash-2");
  ASSERT_TRUE(successor.ok() && successor->has_value());
  EXPECT_FALSE((*successor)->spent());
  EXPECT_EQ((*successor)->session_id, "s1");
  auto stored = store->GetSession("alice", "s1");
  ASSERT_TRUE(stored.ok() && stored->has_value());
  EXPECT_EQ((*stored)->last_refreshed, kStart + absl::Minutes(5));
  EXPECT_EQ((*stored)->idle_expires_at, kStart + absl::Minutes(50));
  auto unknown = store->GetRefreshToken("hash-unknown");
  ASSERT_TRUE(unknown.ok());
  EXPECT_FALSE(unknown->has_value());
}

// A rotation as Authority::Refresh makes it: over the session as read.
absl::Status Rotate(Store& store, const Session& read, absl::Time now,
                    const std::string& successor) {
  auto spent = store.GetRefreshToken("hash-" + read.session_id);
  if (!spent.ok()) return spent.status();
  if (!spent->has_value()) return absl::NotFoundError("no refresh token");
  Session refreshed = read;
  refreshed.last_refreshed = now;
  refreshed.idle_expires_at = now + absl::Minutes(45);
  return store.RotateRefreshToken(refreshed, **spent, successor, now);
}

// Records `session` and reads it back, as a refresh would before rotating.
std::optional<Session> PutAndRead(Store& store, const Session& session) {
  EXPECT_THAT(Put(store, session), IsOk());
  auto read = store.GetSession(session.subject, session.session_id);
  EXPECT_THAT(read, IsOk());
  return read.ok() ? *read : std::nullopt;
}

TEST_F(RocksStoreTest, RotationBumpsTheSessionRevision) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  const std::optional<Session> read = PutAndRead(
      *store, MakeSession("s1", "alice", {"a"}, kStart + absl::Hours(1)));
  ASSERT_TRUE(read.has_value());
  EXPECT_EQ(read->revision, 0u);
  ASSERT_TRUE(Rotate(*store, *read, kStart + absl::Minutes(1), "hash-2").ok());
  auto after = store->GetSession("alice", "s1");
  ASSERT_TRUE(after.ok() && after->has_value()) << after.status();
  EXPECT_EQ((*after)->revision, 1u);
  EXPECT_EQ((*after)->last_refreshed, kStart + absl::Minutes(1));
}

TEST_F(RocksStoreTest, RotationOverAStaleReadIsAbortedAndWritesNothing) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  const std::optional<Session> read = PutAndRead(
      *store, MakeSession("s1", "alice", {"a"}, kStart + absl::Hours(1)));
  ASSERT_TRUE(read.has_value());
  ASSERT_TRUE(Rotate(*store, *read, kStart + absl::Minutes(1), "hash-2").ok());
  // The same read again, as a concurrent refresh that lost would write.
  absl::Status stale =
      Rotate(*store, *read, kStart + absl::Minutes(2), "hash-3");
  EXPECT_EQ(stale.code(), absl::StatusCode::kAborted) << stale;
  auto unknown = store->GetRefreshToken("hash-3");
  ASSERT_TRUE(unknown.ok()) << unknown.status();
  EXPECT_FALSE(unknown->has_value());
  auto after = store->GetSession("alice", "s1");
  ASSERT_TRUE(after.ok() && after->has_value()) << after.status();
  EXPECT_EQ((*after)->last_refreshed, kStart + absl::Minutes(1));
}

TEST_F(RocksStoreTest, RotationOfAnEndedSessionIsAbortedAndWritesNothing) {
  // Each ending for a subject of its own, after the rotation's read.
  const absl::Time later = kStart + absl::Seconds(1);
  const absl::Time kept = kStart + absl::Hours(2);
  Revocation session_revocation = SessionRevocation("s-alice", later, kept);
  const std::vector<std::pair<std::string, Revocation>> endings = {
      {"alice", session_revocation},
      {"bob", SubjectSystemRevocation("bob", "a", later, kept)},
      {"carol", SubjectRevocation("carol", later, kept)},
  };
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  for (const auto& [subject, revocation] : endings) {
    SCOPED_TRACE(subject);
    const std::string id = "s-" + subject;
    const std::optional<Session> read = PutAndRead(
        *store, MakeSession(id, subject, {"a"}, kStart + absl::Hours(1)));
    ASSERT_TRUE(read.has_value());
    Append(*store, revocation);
    absl::Status rotated =
        Rotate(*store, *read, kStart + absl::Minutes(1), "next-" + subject);
    EXPECT_EQ(rotated.code(), absl::StatusCode::kAborted) << rotated;
    auto session = store->GetSession(subject, id);
    ASSERT_TRUE(session.ok()) << session.status();
    EXPECT_FALSE(session->has_value()) << "the rotation revived the session";
    auto successor = store->GetRefreshToken("next-" + subject);
    ASSERT_TRUE(successor.ok()) << successor.status();
    EXPECT_FALSE(successor->has_value());
  }
}

TEST_F(RocksStoreTest, SubjectWithNulIsRejected) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  const std::string subject("al\0ice", 6);
  const absl::Time expiry = kStart + absl::Hours(1);
  EXPECT_EQ(Put(*store, MakeSession("s1", subject, {"a"}, expiry)).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store->AppendRevocation(SubjectRevocation(subject, kStart, expiry))
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store
                ->AppendRevocation(
                    SubjectSystemRevocation(subject, "a", kStart, expiry))
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store->LastSeq(), 0);
}

// Issue 19 finding 7: a logout of a subject who never logged in at the
// system costs nothing when appended kIfLoggedIn.
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
    auto appended = store->AppendRevocations(logouts, conditions);
    ASSERT_THAT(appended, IsOk());
    for (const Store::AppendResult& result : *appended) {
      EXPECT_FALSE(result.recorded);
      EXPECT_EQ(result.seq, 0u);
    }
    EXPECT_EQ(store->LastSeq(), 0u);
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

TEST_F(RocksStoreTest, ALogoutIfLoggedInIsRecordedWhileTheLoginsTokensLive) {
  using RecordIf = Store::RecordIf;
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  const absl::Time expiry = kStart + absl::Hours(1);
  ASSERT_THAT(Put(*store, MakeSession("s1", "alice", {"a"}, expiry)), IsOk());
  const RecordIf if_logged_in[] = {RecordIf::kIfLoggedIn};
  auto logout = [&](absl::Time at) {
    const Revocation r =
        SubjectSystemRevocation("alice", "a", at, at + absl::Hours(24));
    return store->AppendRevocations(absl::MakeConstSpan(&r, 1), if_logged_in);
  };
  auto first = logout(kStart + absl::Seconds(1));
  ASSERT_THAT(first, IsOk());
  EXPECT_TRUE(first->front().recorded);
  EXPECT_EQ(first->front().revoked_sessions, 1);

  // A token refreshed at the session's last moment lives 15 minutes more.
  clock_.Advance(absl::Hours(1) + absl::Minutes(14));
  auto late = logout(clock_.Now());
  ASSERT_THAT(late, IsOk());
  EXPECT_TRUE(late->front().recorded);

  clock_.Advance(absl::Minutes(1));
  auto after = logout(clock_.Now());
  ASSERT_THAT(after, IsOk());
  EXPECT_FALSE(after->front().recorded);
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
                             kMaxNotBeforeKey, kStoreIdKey));
  }
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->LastSeq(), 2);
  EXPECT_EQ(store->TickFloor(), tick_lease);
  auto keys = store->ListKeys();
  ASSERT_TRUE(keys.ok()) << keys.status();
  ASSERT_EQ(keys->size(), 1);
  EXPECT_EQ((*keys)[0].kid, key.kid);
  auto next = store->AppendRevocation(
      TokenRevocation("jti-2", kStart, kStart + absl::Hours(5)));
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->seq, 3);

  clock_.Advance(absl::Hours(2));
  ASSERT_TRUE(store->CompactAll().ok());
  EXPECT_THAT(Seqs(AllRevocations(*store)), ElementsAre(3));
  EXPECT_THAT(Seqs(AllEvents(*store)), ElementsAre(3));
}

TEST_F(RocksStoreTest, IdIsKeptForLifeAndDiffersBetweenStores) {
  std::string id;
  {
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    id = store->Id();
    EXPECT_EQ(id.size(), 32u);
  }
  auto reopened = OpenStore();
  ASSERT_NE(reopened, nullptr);
  EXPECT_EQ(reopened->Id(), id);

  auto other = RocksStore::Open(root_ + "/other", &clock_);
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_NE((*other)->Id(), id);
}

TEST_F(RocksStoreTest, KeysSurviveReopen) {
  const KeyRecord keys[] = {
      {"0a1b", "ES256", kStart},
      {"ff00", "EdDSA", kStart + absl::Seconds(1)},
      {"c3d4", "RS256", kStart + absl::Microseconds(7)},
  };
  {
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    for (const KeyRecord& key : keys) {
      ASSERT_TRUE(store->PutKey(key).ok()) << key.kid;
    }
  }
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  auto listed = store->ListKeys();
  ASSERT_TRUE(listed.ok()) << listed.status();
  std::map<std::string, KeyRecord> by_kid;
  for (const KeyRecord& key : *listed) by_kid[key.kid] = key;
  ASSERT_EQ(by_kid.size(), std::size(keys));
  for (const KeyRecord& key : keys) {
    SCOPED_TRACE(key.kid);
    ASSERT_EQ(by_kid.count(key.kid), 1);
    EXPECT_EQ(by_kid[key.kid].algorithm, key.algorithm);
    EXPECT_EQ(by_kid[key.kid].created, key.created);
  }
}

TEST_F(RocksStoreTest, KeyUpdatesWriteStagesAndRemoveInOneStep) {
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
  {
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store->PutKey(gone).ok());
    ASSERT_TRUE(store->UpdateKeys({retired, active, next}, {gone.kid}).ok());
  }
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  auto listed = store->ListKeys();
  ASSERT_TRUE(listed.ok()) << listed.status();
  std::map<std::string, KeyRecord> by_kid;
  for (const KeyRecord& key : *listed) by_kid[key.kid] = key;
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

TEST_F(RocksStoreTest, TickFloorSurvivesReopen) {
  struct Step {
    std::string name;
    int64_t reserve_us;     // 0: no reservation
    int64_t not_before_us;  // 0: no revocation
    int64_t floor_us;
  };
  const int64_t base = Micros(kStart);
  const Step steps[] = {
      {"reserve", base + 100, 0, base + 100},
      {"lower_reservation_keeps_floor", base + 50, 0, base + 100},
      {"revocation_above_lease", 0, base + 150, base + 150},
      {"revocation_below_floor", 0, base + 120, base + 150},
      {"reservation_above_revocations", base + 200, 0, base + 200},
  };
  {
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    EXPECT_EQ(store->TickFloor(), 0);
  }
  for (const Step& step : steps) {
    SCOPED_TRACE(step.name);
    {
      auto store = OpenStore();
      ASSERT_NE(store, nullptr);
      if (step.reserve_us != 0) {
        ASSERT_TRUE(store->ReserveTicks(step.reserve_us).ok());
      }
      if (step.not_before_us != 0) {
        Revocation r = TokenRevocation(step.name, kStart, kStart);
        r.not_before_us = step.not_before_us;
        Append(*store, r);
      }
      EXPECT_EQ(store->TickFloor(), step.floor_us);
    }
    auto reopened = OpenStore();
    ASSERT_NE(reopened, nullptr);
    EXPECT_EQ(reopened->TickFloor(), step.floor_us);
  }
}

TEST_F(RocksStoreTest, ConcurrentAppendsGetUniqueConsecutiveSeqs) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 25;
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  std::vector<std::vector<std::pair<uint64_t, std::string>>> results(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const std::string jti = absl::StrCat("jti-", t, "-", i);
        auto appended = store->AppendRevocation(
            TokenRevocation(jti, kStart, kStart + absl::Hours(1)));
        if (appended.ok()) results[t].emplace_back(appended->seq, jti);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();

  std::map<uint64_t, std::string> jti_by_seq;
  for (const auto& per_thread : results) {
    ASSERT_EQ(per_thread.size(), kPerThread);
    for (const auto& [seq, jti] : per_thread) {
      EXPECT_TRUE(jti_by_seq.emplace(seq, jti).second) << "duplicate " << seq;
    }
  }
  constexpr uint64_t kTotal = kThreads * kPerThread;
  ASSERT_EQ(jti_by_seq.size(), kTotal);
  EXPECT_EQ(jti_by_seq.begin()->first, 1);
  EXPECT_EQ(jti_by_seq.rbegin()->first, kTotal);
  EXPECT_EQ(store->LastSeq(), kTotal);

  const std::vector<Revocation> events = AllEvents(*store);
  ASSERT_EQ(events.size(), kTotal);
  for (size_t i = 0; i < events.size(); ++i) {
    SCOPED_TRACE(absl::StrCat("event ", i));
    EXPECT_EQ(events[i].seq, i + 1);
    EXPECT_EQ(events[i].token_id, jti_by_seq[i + 1]);
  }
}

TEST_F(RocksStoreTest, ConcurrentLoginsAndLogoutsCountEverySessionOnce) {
  constexpr int kLoginThreads = 8;
  constexpr int kSessionsPerThread = 40;
  constexpr int kLogouts = 10;
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  const absl::Time expiry = kStart + absl::Hours(1);
  std::atomic<int64_t> ended{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kLoginThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kSessionsPerThread; ++i) {
        const std::string system = i % 2 == 0 ? "a" : "b";
        EXPECT_TRUE(Put(*store, MakeSession(absl::StrCat("s", t, "-", i),
                                            "alice", {system}, expiry))
                        .ok());
      }
    });
  }
  threads.emplace_back([&] {
    for (int i = 0; i < kLogouts; ++i) {
      auto appended =
          store->AppendRevocation(SubjectRevocation("alice", kStart, expiry));
      EXPECT_TRUE(appended.ok()) << appended.status();
      if (appended.ok()) ended += appended->revoked_sessions;
    }
  });
  for (std::thread& thread : threads) thread.join();
  ended += Append(*store, SubjectRevocation("alice", kStart, expiry));
  EXPECT_EQ(ended.load(), kLoginThreads * kSessionsPerThread);
}

}  // namespace
}  // namespace sigil::server::store
