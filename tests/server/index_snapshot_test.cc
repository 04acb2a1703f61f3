// The revocation index snapshot (server/index_snapshot.h): loading one and
// replaying the events after it gives the index the full scan gives, entry
// by entry; a snapshot that is truncated, altered, of another store, or
// ahead of the store is refused and the scan used instead; a writer killed
// mid-write leaves the previous snapshot. Against a real RocksDB store in
// a temp dir; the clock is fake.

#include "server/index_snapshot.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "server/sigil_server.h"
#include "server/store/rocks_store.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "token/clock.h"

namespace sigil::server {
namespace {

using ::sigil::testing::IsOk;
using ::sigil::testing::StatusIs;
using token::Revocation;
using token::RevocationIndex;
using token::RevocationScope;

const absl::Time kStart = absl::FromUnixSeconds(1800000000);

// An index's entries, sorted, as comparable tuples.
using Row = std::tuple<int, std::string, std::string, int64_t, int64_t>;
std::vector<Row> Rows(const RevocationIndex& index, absl::Time now) {
  std::vector<Row> rows;
  for (size_t shard = 0; shard < RevocationIndex::kShards; ++shard) {
    index.ForEachInShard(shard, now, [&](const RevocationIndex::EntryView& e) {
      rows.emplace_back(static_cast<int>(e.scope), std::string(e.key),
                        std::string(e.system), e.not_before_us,
                        absl::ToUnixMicros(e.expires_at));
    });
  }
  std::sort(rows.begin(), rows.end());
  return rows;
}

token::JwtClaims ClaimsOf(std::string token_id, std::string subject = "u") {
  token::JwtClaims claims;
  claims.subject = std::move(subject);
  claims.audience = {"A"};
  claims.token_id = std::move(token_id);
  claims.session_id = "some-session";
  claims.issued_at_us = 1;
  return claims;
}

class IndexSnapshotTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = store::RocksStore::Open(dir_.Sub("data"), &clock_);
    ASSERT_THAT(store.status(), IsOk());
    store_ = *std::move(store);
    path_ = dir_.Sub("index.snapshot");
  }

  // Appends `n` revocations of every scope, named by `tag`; some keys
  // repeat, so the table holds merged entries.
  void Append(int n, const std::string& tag) {
    std::vector<Revocation> batch;
    for (int i = 0; i < n; ++i) {
      Revocation r;
      r.not_before_us = absl::ToUnixMicros(clock_.Now()) + i;
      r.expires_at = clock_.Now() + absl::Hours(1) + absl::Seconds(i);
      switch (i % 4) {
        case 0:
          r.scope = RevocationScope::kToken;
          r.token_id = absl::StrCat(tag, "-token-", i);
          break;
        case 1:
          r.scope = RevocationScope::kSession;
          r.session_id = absl::StrCat(tag, "-session-", i % 10);
          break;
        case 2:
          r.scope = RevocationScope::kSubjectSystem;
          r.subject = absl::StrCat(tag, "-user-", i % 7);
          r.system = absl::StrCat("S", i % 3);
          break;
        default:
          r.scope = RevocationScope::kSubject;
          r.subject = absl::StrCat(tag, "-user-", i % 5);
          break;
      }
      batch.push_back(r);
    }
    ASSERT_THAT(store_->AppendRevocations(batch).status(), IsOk());
  }

  void RevokeToken(const std::string& token_id) {
    Revocation r;
    r.scope = RevocationScope::kToken;
    r.token_id = token_id;
    r.not_before_us = absl::ToUnixMicros(clock_.Now());
    r.expires_at = clock_.Now() + absl::Hours(1);
    ASSERT_THAT(store_->AppendRevocation(r).status(), IsOk());
  }

  // The index a start without snapshot builds.
  std::unique_ptr<RevocationIndex> Scan() {
    auto index = std::make_unique<RevocationIndex>();
    auto load = LoadIndex(store_.get(), clock_.Now(), "", index.get());
    EXPECT_THAT(load.status(), IsOk());
    return index;
  }

  // A snapshot of the whole store now, at path_.
  void WriteSnapshot() {
    std::unique_ptr<RevocationIndex> index = Scan();
    ASSERT_THAT(
        WriteIndexSnapshot(*index, store_->Id(), clock_.Now(), path_).status(),
        IsOk());
  }

  IndexLoad LoadWithSnapshot(RevocationIndex* index) {
    auto load = LoadIndex(store_.get(), clock_.Now(), path_, index);
    EXPECT_THAT(load.status(), IsOk());
    return load.ok() ? *load : IndexLoad();
  }

  // Loading with the (bad) snapshot at path_ falls back to the scan, says
  // why, and gives the scan's index.
  void ExpectRefused(absl::string_view why) {
    RevocationIndex index;
    IndexLoad load = LoadWithSnapshot(&index);
    EXPECT_FALSE(load.from_snapshot);
    EXPECT_TRUE(absl::StrContains(load.snapshot_refused, why))
        << load.snapshot_refused;
    EXPECT_EQ(Rows(index, clock_.Now()), Rows(*Scan(), clock_.Now()));
    EXPECT_EQ(index.last_seq(), store_->LastSeq());
    EXPECT_EQ(index.Check(ClaimsOf("revoked-token"), "A"),
              token::Reason::kTokenRevoked);
  }

  std::string ReadFile() {
    std::ifstream in(path_, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  void WriteFile(const std::string& bytes) {
    std::ofstream out(path_, std::ios::binary | std::ios::trunc);
    out << bytes;
  }

  testing::TempDir dir_;
  token::FakeClock clock_{kStart};
  std::unique_ptr<store::RocksStore> store_;
  std::string path_;
};

TEST_F(IndexSnapshotTest, RoundTripGivesTheFullScanEntryByEntry) {
  Append(400, "a");
  RevokeToken("revoked-token");
  WriteSnapshot();

  RevocationIndex loaded;
  IndexLoad load = LoadWithSnapshot(&loaded);
  EXPECT_TRUE(load.from_snapshot) << load.snapshot_refused;
  EXPECT_EQ(load.replayed_events, 0u);
  EXPECT_EQ(load.snapshot_seq, store_->LastSeq());
  const std::vector<Row> scanned = Rows(*Scan(), clock_.Now());
  EXPECT_GT(scanned.size(), 100u);
  EXPECT_EQ(Rows(loaded, clock_.Now()), scanned);
  EXPECT_EQ(loaded.last_seq(), store_->LastSeq());
}

TEST_F(IndexSnapshotTest, LogoutsAfterTheSnapshotAreReplayed) {
  Append(100, "a");
  WriteSnapshot();
  RevokeToken("revoked-token");
  Append(20, "b");

  RevocationIndex loaded;
  IndexLoad load = LoadWithSnapshot(&loaded);
  EXPECT_TRUE(load.from_snapshot) << load.snapshot_refused;
  EXPECT_EQ(load.replayed_events, 21u);
  EXPECT_EQ(loaded.Check(ClaimsOf("revoked-token"), "A"),
            token::Reason::kTokenRevoked);
  EXPECT_EQ(Rows(loaded, clock_.Now()), Rows(*Scan(), clock_.Now()));
  EXPECT_EQ(loaded.last_seq(), store_->LastSeq());
}

TEST_F(IndexSnapshotTest, ExpiredEntriesAreLeftOut) {
  Append(40, "a");
  clock_.Advance(absl::Hours(1) + absl::Seconds(20));
  WriteSnapshot();
  RevocationIndex loaded;
  IndexLoad load = LoadWithSnapshot(&loaded);
  EXPECT_TRUE(load.from_snapshot) << load.snapshot_refused;
  // Entries expire at 1 h + i s: those with i > 20 are left.
  EXPECT_EQ(Rows(loaded, clock_.Now()), Rows(*Scan(), clock_.Now()));
  EXPECT_LT(loaded.size(), 40u);
  EXPECT_GT(loaded.size(), 0u);
}

TEST_F(IndexSnapshotTest, NoSnapshotMeansTheScanWithoutComplaint) {
  RevokeToken("revoked-token");
  RevocationIndex loaded;
  IndexLoad load = LoadWithSnapshot(&loaded);
  EXPECT_FALSE(load.from_snapshot);
  EXPECT_EQ(load.snapshot_refused, "");
  EXPECT_EQ(loaded.Check(ClaimsOf("revoked-token"), "A"),
            token::Reason::kTokenRevoked);
}

TEST_F(IndexSnapshotTest, TruncatedSnapshotIsRefused) {
  Append(100, "a");
  RevokeToken("revoked-token");
  WriteSnapshot();
  const std::string bytes = ReadFile();
  for (size_t keep :
       {bytes.size() - 1, bytes.size() / 2, size_t{40}, size_t{0}}) {
    SCOPED_TRACE(absl::StrCat("truncated to ", keep, " of ", bytes.size()));
    WriteFile(bytes.substr(0, keep));
    ExpectRefused("snapshot");
  }
}

// A flipped byte anywhere: the header, the section table, a section's
// entries, the last byte.
class FlippedByteTest : public IndexSnapshotTest,
                        public ::testing::WithParamInterface<double> {};

TEST_P(FlippedByteTest, IsRefused) {
  Append(100, "a");
  RevokeToken("revoked-token");
  WriteSnapshot();
  std::string bytes = ReadFile();
  const size_t at = std::min(bytes.size() - 1,
                             static_cast<size_t>(GetParam() * bytes.size()));
  SCOPED_TRACE(absl::StrCat("byte ", at, " of ", bytes.size()));
  bytes[at] = static_cast<char>(bytes[at] ^ 0x01);
  WriteFile(bytes);
  ExpectRefused("snapshot");
}

INSTANTIATE_TEST_SUITE_P(Positions, FlippedByteTest,
                         ::testing::Values(0.0, 0.01, 0.05, 0.3, 0.7, 1.0));

TEST_F(IndexSnapshotTest, SnapshotOfAnotherStoreIsRefused) {
  Append(100, "a");
  RevokeToken("revoked-token");
  std::unique_ptr<RevocationIndex> index = Scan();
  ASSERT_THAT(
      WriteIndexSnapshot(*index, "another-store", clock_.Now(), path_).status(),
      IsOk());
  ExpectRefused("another-store");
}

TEST_F(IndexSnapshotTest, SnapshotAheadOfTheStoreIsRefused) {
  Append(100, "a");
  RevokeToken("revoked-token");
  // As after restoring an older data dir next to a newer snapshot.
  std::unique_ptr<RevocationIndex> index = Scan();
  Revocation later;
  later.seq = store_->LastSeq() + 5;
  later.token_id = "not-in-this-store";
  later.expires_at = clock_.Now() + absl::Hours(1);
  index->Apply(later);
  ASSERT_THAT(
      WriteIndexSnapshot(*index, store_->Id(), clock_.Now(), path_).status(),
      IsOk());
  ExpectRefused("ahead of the store");
}

TEST_F(IndexSnapshotTest, GapInTheEventLogFallsBackToTheScan) {
  Append(40, "a");
  WriteSnapshot();
  // One short-lived event after the snapshot, dropped by compaction once
  // expired: the log no longer reaches from the snapshot to the last seq.
  Revocation brief;
  brief.token_id = "brief";
  brief.not_before_us = absl::ToUnixMicros(clock_.Now());
  brief.expires_at = clock_.Now() + absl::Seconds(1);
  ASSERT_THAT(store_->AppendRevocation(brief).status(), IsOk());
  RevokeToken("revoked-token");
  clock_.Advance(absl::Seconds(2));
  ASSERT_THAT(store_->CompactAll(), IsOk());
  ExpectRefused("gap");
}

TEST_F(IndexSnapshotTest, StaleTempFileIsIgnored) {
  Append(50, "a");
  RevokeToken("revoked-token");
  WriteSnapshot();
  // What a writer killed mid-write leaves next to the snapshot.
  std::ofstream(path_ + ".tmp", std::ios::binary) << "SIGILIDX half written";
  RevocationIndex loaded;
  IndexLoad load = LoadWithSnapshot(&loaded);
  EXPECT_TRUE(load.from_snapshot) << load.snapshot_refused;
  EXPECT_EQ(loaded.Check(ClaimsOf("revoked-token"), "A"),
            token::Reason::kTokenRevoked);
}

// SIGKILL of a process writing snapshots, at several moments: the path
// always holds a whole snapshot, the previous one or the new one.
TEST(IndexSnapshotKillTest, KilledWriterLeavesAWholeSnapshot) {
  testing::TempDir dir;
  const std::string path = dir.Sub("index.snapshot");
  const absl::Time now = kStart;
  RevocationIndex index;
  std::vector<Revocation> revocations;
  for (int i = 0; i < 100000; ++i) {
    Revocation r;
    r.seq = static_cast<uint64_t>(i + 1);
    r.token_id = absl::StrCat("token-", i);
    r.expires_at = now + absl::Hours(1);
    revocations.push_back(r);
  }
  index.ApplyAll(revocations);
  ASSERT_THAT(WriteIndexSnapshot(index, "store", now, path).status(), IsOk());
  const std::vector<Row> expected = Rows(index, now);

  for (int delay_ms : {1, 5, 15, 40, 80}) {
    SCOPED_TRACE(absl::StrCat("killed after ", delay_ms, " ms"));
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      while (true) {
        if (!WriteIndexSnapshot(index, "store", now, path).ok()) _exit(1);
      }
    }
    absl::SleepFor(absl::Milliseconds(delay_ms));
    ASSERT_EQ(kill(child, SIGKILL), 0);
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFSIGNALED(status)) << "the writer failed: " << status;
    RevocationIndex loaded;
    auto read = ReadIndexSnapshot(path, "store", 100000, now, 2, &loaded);
    ASSERT_THAT(read.status(), IsOk());
    EXPECT_EQ(Rows(loaded, now), expected);
  }
}

// sigild end to end, in process: a snapshot is written at shutdown, the
// next start loads it, and logouts recorded after it (here: the snapshot
// of an earlier run put back, as after a crash) are replayed.
TEST(IndexSnapshotServerTest, RestartLoadsTheSnapshotAndReplaysLaterLogouts) {
  testing::TempDir dir;
  ServerOptions options;
  options.listen = "127.0.0.1:0";
  options.data_dir = dir.Sub("data");
  options.index_snapshot_interval = absl::Hours(1);
  token::FakeClock clock(absl::Now());
  auto issue_and_logout = [&](SigilServer& server,
                              const std::string& subject) -> std::string {
    auto issued = server.authority().Issue({subject, {"A"}, {}, std::nullopt});
    EXPECT_THAT(issued.status(), IsOk());
    EXPECT_THAT(
        server.authority().LogoutFromSystem("A", {subject, ""}).status(),
        IsOk());
    return issued.ok() ? issued->access_token : "";
  };
  auto verdict = [](SigilServer& server, const std::string& token) {
    auto verified = server.authority().Verify(token, "A", {});
    EXPECT_THAT(verified.status(), IsOk());
    return verified.ok() ? verified->reason : token::Reason::kValid;
  };

  std::string first;
  {
    auto server = SigilServer::Start(options, &clock);
    ASSERT_THAT(server.status(), IsOk());
    EXPECT_FALSE((*server)->authority().index_load().from_snapshot);
    first = issue_and_logout(**server, "alice");
    (*server)->Shutdown(absl::ZeroDuration());
  }
  const std::string path = options.data_dir + "/index.snapshot";
  ASSERT_TRUE(std::filesystem::exists(path));
  std::filesystem::copy_file(path, dir.Sub("first.snapshot"));

  std::string second;
  {
    auto server = SigilServer::Start(options, &clock);
    ASSERT_THAT(server.status(), IsOk());
    EXPECT_TRUE((*server)->authority().index_load().from_snapshot);
    EXPECT_EQ((*server)->authority().index_load().replayed_events, 0u);
    second = issue_and_logout(**server, "bob");
    (*server)->Shutdown(absl::ZeroDuration());
  }
  // Back to the first run's snapshot: bob's logout is after it.
  std::filesystem::copy_file(dir.Sub("first.snapshot"), path,
                             std::filesystem::copy_options::overwrite_existing);

  auto server = SigilServer::Start(options, &clock);
  ASSERT_THAT(server.status(), IsOk());
  const IndexLoad& load = (*server)->authority().index_load();
  EXPECT_TRUE(load.from_snapshot) << load.snapshot_refused;
  EXPECT_EQ(load.replayed_events, 1u);
  EXPECT_EQ(verdict(**server, first), token::Reason::kLoggedOut);
  EXPECT_EQ(verdict(**server, second), token::Reason::kLoggedOut);
}

}  // namespace
}  // namespace sigil::server
