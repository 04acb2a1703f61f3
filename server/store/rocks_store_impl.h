#ifndef SIGIL_SERVER_STORE_ROCKS_STORE_IMPL_H_
#define SIGIL_SERVER_STORE_ROCKS_STORE_IMPL_H_

// Internal to the store library, and not installed: the class behind
// RocksStore::Open, shared by the files that implement it. rocks_store.cc
// opens the store and holds its metadata, revocations and events, keys,
// tick reservations, stats and compaction; rocks_sessions.cc holds sessions,
// refresh tokens and the per-subject session counters.

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "rocksdb/db.h"
#include "rocksdb/status.h"
#include "rocksdb/utilities/write_batch_with_index.h"
#include "rocksdb/write_batch.h"
#include "server/store/expiry_filter.h"
#include "server/store/group_commit.h"
#include "server/store/records.h"
#include "server/store/rocks_store.h"
#include "server/store/store.h"
#include "token/clock.h"
#include "token/revocation_index.h"

namespace sigil::server::store::internal {

class RocksStoreImpl final : public RocksStore {
 public:
  RocksStoreImpl(std::string data_dir, const token::Clock* clock,
                 const Options& options)
      : data_dir_(std::move(data_dir)),
        clock_(clock),
        sync_(options.sync),
        expiry_filter_(clock),
        session_puts_([this](absl::Span<SessionPuts::Slot* const> batch) {
          CommitSessions(batch);
        }),
        rotations_([this](absl::Span<Rotations::Slot* const> batch) {
          CommitRotations(batch);
        }) {}
  ~RocksStoreImpl() override;

  absl::Status Init();

  using Store::AppendRevocations;
  absl::StatusOr<std::vector<AppendResult>> AppendRevocations(
      absl::Span<const token::Revocation> revocations,
      absl::Span<const RecordIf> conditions) override;
  absl::Status ForEachRevocation(
      const std::function<void(const token::Revocation&)>& fn) override;
  absl::StatusOr<std::vector<token::Revocation>> ReadEvents(
      uint64_t after_seq, size_t limit) override;
  uint64_t LastSeq() const override { return last_seq_.load(); }
  const std::string& Id() const override { return id_; }
  absl::Status PutSession(const Session& session,
                          const std::string& refresh_hash) override;
  absl::StatusOr<std::optional<Session>> GetSession(
      absl::string_view subject, absl::string_view session_id) override;
  absl::StatusOr<std::vector<Session>> ListSessionsAfter(
      absl::string_view subject, absl::string_view after,
      size_t limit) override;
  absl::StatusOr<std::optional<RefreshToken>> GetRefreshToken(
      absl::string_view hash) override;
  absl::Status RotateRefreshToken(const Session& session,
                                  const RefreshToken& spent,
                                  const std::string& successor_hash,
                                  absl::Time now) override;
  absl::Status PutKey(const KeyRecord& key) override;
  absl::StatusOr<KeyRecords> ListKeys() override;
  absl::StatusOr<uint64_t> UpdateKeys(const std::vector<KeyRecord>& put,
                                      const std::vector<std::string>& remove,
                                      uint64_t version) override;
  absl::Status ReserveTicks(int64_t until_us) override;
  int64_t TickFloor() const override { return tick_floor_.load(); }
  int64_t LogoutFloor() const override { return logout_floor_.load(); }
  absl::Status RecordInstant(int64_t) override { return absl::OkStatus(); }
  absl::Status CompactAll() override;
  Stats GetStats() const override;

 private:
  absl::Status LoadMeta();
  // nullopt when the key is absent.
  absl::StatusOr<std::optional<uint64_t>> ReadMeta(const char* key);
  // Reads the store id, picking and recording one for a store without.
  absl::Status LoadId();
  // Readers below take `pending`, a batch not yet written, to read through
  // it to the database; nullptr reads the database alone.

  // Adds to `batch` the reset of the session counters `revocation` covers,
  // and returns how many sessions they count that have not expired.
  absl::StatusOr<int64_t> EndSessions(const token::Revocation& revocation,
                                      rocksdb::WriteBatchWithIndex* batch)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(counters_mu_);
  absl::StatusOr<std::optional<SessionCounter>> ReadCounter(
      const std::string& key, rocksdb::WriteBatchWithIndex* pending);
  // Calls `fn` with the rest of the key and the value of every sessions
  // family entry under `prefix`; `fn` returns false for a value it cannot
  // decode, which is reported as corruption of that key.
  absl::Status ScanSessions(
      const std::string& prefix, rocksdb::WriteBatchWithIndex* pending,
      const std::function<bool(absl::string_view suffix,
                               absl::string_view value)>& fn);
  // The subject's counters by system ("" for the subject-wide one).
  absl::StatusOr<std::map<std::string, SessionCounter>> ReadCounters(
      absl::string_view subject, rocksdb::WriteBatchWithIndex* pending);
  // Adds `session`, its refresh token and its counts to `batch`.
  absl::Status AddSession(const Session& session,
                          const std::string& refresh_hash,
                          rocksdb::WriteBatchWithIndex* batch)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(counters_mu_);
  struct SessionPut {
    const Session* session;
    const std::string* refresh_hash;
  };
  using SessionPuts = GroupCommit<SessionPut, absl::Status>;
  void CommitSessions(absl::Span<SessionPuts::Slot* const> batch);
  struct Rotation {
    const Session* session;
    const RefreshToken* spent;
    const std::string* successor_hash;
    absl::Time now;
  };
  using Rotations = GroupCommit<Rotation, absl::Status>;
  void CommitRotations(absl::Span<Rotations::Slot* const> batch);
  // Adds `rotation` to `batch` if its session is alive and unchanged since
  // it was read; ABORTED otherwise.
  absl::Status AddRotation(const Rotation& rotation,
                           rocksdb::WriteBatchWithIndex* batch)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // `session` with only its live systems, or nullopt when it has none left
  // or has expired.
  std::optional<Session> Alive(
      Session session, const std::map<std::string, SessionCounter>& counters);
  void PublishTickFloor() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Writes `batch` synced to disk, as the Store contract promises for every
  // write but a login's (unless Options::sync says otherwise); UNAVAILABLE
  // "`what` ..." on failure.
  absl::Status WriteSynced(rocksdb::WriteBatch* batch, absl::string_view what);
  absl::Status PutSynced(rocksdb::ColumnFamilyHandle* family,
                         absl::string_view key, absl::string_view value,
                         absl::string_view what);

  absl::Status Failed(absl::string_view what,
                      const rocksdb::Status& status) const;
  absl::Status Corrupt(absl::string_view family, absl::string_view key) const;

  const std::string data_dir_;
  const token::Clock* const clock_;
  // What the synced writes of the Store contract set (see Options::sync).
  const bool sync_;
  // Referenced by the column family options: must outlive db_.
  const ExpiryFilter expiry_filter_;
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  rocksdb::ColumnFamilyHandle* sessions_ = nullptr;
  rocksdb::ColumnFamilyHandle* revocations_ = nullptr;
  rocksdb::ColumnFamilyHandle* events_ = nullptr;
  rocksdb::ColumnFamilyHandle* keys_ = nullptr;
  rocksdb::ColumnFamilyHandle* meta_ = nullptr;
  std::string id_;  // set once by Init

  // Serializes appends, so that seqs are written in order and the merge
  // with an existing revocation entry reads what the last append wrote;
  // tick reservations, which share the tick floor; and refresh rotations,
  // which check the session they write inside the write.
  absl::Mutex mu_;
  int64_t tick_lease_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t max_not_before_ ABSL_GUARDED_BY(mu_) = 0;
  // Published once the write that raised them is durable; read without
  // mu_ so that readers never wait behind a synced append.
  std::atomic<uint64_t> last_seq_{0};
  std::atomic<int64_t> tick_floor_{0};
  std::atomic<int64_t> logout_floor_{0};

  // Serializes the read-modify-writes of the session counters, so that
  // concurrent logins are all counted and a logout resets exactly what it
  // reports.
  absl::Mutex counters_mu_ ABSL_ACQUIRED_AFTER(mu_);
  // Serializes key writes from the read of kKeysVersionKey to the write
  // that bumps it, and keeps ListKeys from reading between the two.
  absl::Mutex keys_mu_;
  // Logins arriving together share one write, and so do rotations.
  SessionPuts session_puts_;
  Rotations rotations_;
};

}  // namespace sigil::server::store::internal

#endif  // SIGIL_SERVER_STORE_ROCKS_STORE_IMPL_H_
