#include "server/store/rocks_store.h"

#include <openssl/rand.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "rocksdb/comparator.h"
#include "rocksdb/db.h"
#include "rocksdb/iterator.h"
#include "rocksdb/options.h"
#include "rocksdb/utilities/write_batch_with_index.h"
#include "server/store/expiry_filter.h"
#include "server/store/group_commit.h"
#include "server/store/layout.h"
#include "server/store/records.h"

namespace sigil::server::store {
namespace {

// RocksDB reports its LOCK file held by another process as "While lock file:
// ...", and held by another DB object of this process as "lock hold by
// current process ...". Failing to create the LOCK file at all is a
// different IOError and is not "in use".
bool IsLockHeld(const rocksdb::Status& status) {
  if (!status.IsIOError()) return false;
  const std::string text = status.ToString();
  return absl::StrContains(text, "While lock file") ||
         absl::StrContains(text, "lock hold by current process");
}

absl::Status CreateDataDir(const std::string& data_dir) {
  if (mkdir(data_dir.c_str(), 0700) == 0) return absl::OkStatus();
  const int error = errno;
  if (error == ENOENT) {
    return absl::UnavailableError(absl::StrCat(
        "cannot create data dir ", data_dir, ": parent directory is missing"));
  }
  if (error != EEXIST) {
    return absl::UnavailableError(absl::StrCat(
        "cannot create data dir ", data_dir, ": ", std::strerror(error)));
  }
  struct stat info;
  if (stat(data_dir.c_str(), &info) != 0 || !S_ISDIR(info.st_mode)) {
    return absl::UnavailableError(
        absl::StrCat("data dir ", data_dir, " is not a directory"));
  }
  return absl::OkStatus();
}

bool IsSubjectLevel(token::RevocationScope scope) {
  return scope == token::RevocationScope::kSubjectSystem ||
         scope == token::RevocationScope::kSubject;
}

// Counter and revocation keys end the subject with '\0' (see layout.h).
absl::Status CheckSubject(const std::string& subject) {
  if (subject.find('\0') != std::string::npos) {
    return absl::InvalidArgumentError("subject contains a nul byte");
  }
  return absl::OkStatus();
}

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

  absl::StatusOr<std::vector<AppendResult>> AppendRevocations(
      absl::Span<const token::Revocation> revocations) override;
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
  absl::StatusOr<std::vector<Session>> ListSessions(
      absl::string_view subject) override;
  absl::StatusOr<std::optional<RefreshToken>> GetRefreshToken(
      absl::string_view hash) override;
  absl::Status RotateRefreshToken(const Session& session,
                                  const RefreshToken& spent,
                                  const std::string& successor_hash,
                                  absl::Time now) override;
  absl::Status PutKey(const KeyRecord& key) override;
  absl::StatusOr<std::vector<KeyRecord>> ListKeys() override;
  absl::Status UpdateKeys(const std::vector<KeyRecord>& put,
                          const std::vector<std::string>& remove) override;
  absl::Status ReserveTicks(int64_t until_us) override;
  int64_t TickFloor() const override { return tick_floor_.load(); }
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

  // Serializes the read-modify-writes of the session counters, so that
  // concurrent logins are all counted and a logout resets exactly what it
  // reports.
  absl::Mutex counters_mu_ ABSL_ACQUIRED_AFTER(mu_);
  // Logins arriving together share one write, and so do rotations.
  SessionPuts session_puts_;
  Rotations rotations_;
};

RocksStoreImpl::~RocksStoreImpl() {
  if (db_ == nullptr) return;
  // A bulk load leaves its writes durable once the store is gone.
  if (!sync_) db_->SyncWAL().PermitUncheckedError();
  for (rocksdb::ColumnFamilyHandle* handle : handles_) {
    db_->DestroyColumnFamilyHandle(handle);
  }
  // Every acknowledged write is already in the WAL; a failure to close
  // cleanly loses nothing that the next open does not recover.
  db_->Close().PermitUncheckedError();
}

absl::Status RocksStoreImpl::Init() {
  absl::Status created = CreateDataDir(data_dir_);
  if (!created.ok()) return created;
  const std::string db_path = absl::StrCat(data_dir_, "/", kDbSubdir);

  rocksdb::DBOptions db_options;
  db_options.create_if_missing = true;
  db_options.create_missing_column_families = true;
  // RocksDB's info logs, not the WAL: keep an operator's recent history
  // without letting them pile up over months.
  db_options.keep_log_file_num = 10;

  std::vector<std::string> families = {rocksdb::kDefaultColumnFamilyName,
                                       kSessionsFamily,
                                       kRevocationsFamily,
                                       kEventsFamily,
                                       kKeysFamily,
                                       kMetaFamily};
  // A newer sigild may have added families; opening them too lets the format
  // version check below, rather than RocksDB, explain what is wrong. Listing
  // fails for a new store, which has none to add.
  std::vector<std::string> existing;
  if (rocksdb::DB::ListColumnFamilies(db_options, db_path, &existing).ok()) {
    for (const std::string& name : existing) {
      if (std::find(families.begin(), families.end(), name) == families.end()) {
        families.push_back(name);
      }
    }
  }
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const std::string& name : families) {
    rocksdb::ColumnFamilyOptions options;
    if (name == kSessionsFamily || name == kRevocationsFamily ||
        name == kEventsFamily) {
      options.compaction_filter = &expiry_filter_;
    }
    descriptors.emplace_back(name, options);
  }

  rocksdb::DB* db = nullptr;
  rocksdb::Status opened =
      rocksdb::DB::Open(db_options, db_path, descriptors, &handles_, &db);
  if (!opened.ok()) {
    if (IsLockHeld(opened)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "data dir ", data_dir_, " is in use by another sigild (lock held)"));
    }
    return Failed("cannot open store", opened);
  }
  db_.reset(db);
  sessions_ = handles_[1];
  revocations_ = handles_[2];
  events_ = handles_[3];
  keys_ = handles_[4];
  meta_ = handles_[5];
  return LoadMeta();
}

absl::StatusOr<std::optional<uint64_t>> RocksStoreImpl::ReadMeta(
    const char* key) {
  std::string value;
  rocksdb::Status got = db_->Get(rocksdb::ReadOptions(), meta_, key, &value);
  if (got.IsNotFound()) return std::optional<uint64_t>();
  if (!got.ok()) return Failed("cannot read metadata", got);
  uint64_t decoded = 0;
  if (!DecodeFixed64(value, &decoded)) return Corrupt(kMetaFamily, key);
  return std::optional<uint64_t>(decoded);
}

absl::Status RocksStoreImpl::LoadId() {
  rocksdb::Status got =
      db_->Get(rocksdb::ReadOptions(), meta_, kStoreIdKey, &id_);
  if (got.ok()) {
    if (id_.size() != 32) return Corrupt(kMetaFamily, kStoreIdKey);
    return absl::OkStatus();
  }
  if (!got.IsNotFound()) return Failed("cannot read metadata", got);
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) {
    return absl::InternalError("cannot draw a store id from the CSPRNG");
  }
  id_ = absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(bytes), sizeof(bytes)));
  return PutSynced(meta_, kStoreIdKey, id_, "cannot write store id");
}

absl::Status RocksStoreImpl::LoadMeta() {
  auto version = ReadMeta(kFormatVersionKey);
  if (!version.ok()) return version.status();
  if (!version->has_value()) {
    absl::Status put =
        PutSynced(meta_, kFormatVersionKey, EncodeFixed64(kFormatVersion),
                  "cannot write format version");
    if (!put.ok()) return put;
  } else if (**version > kFormatVersion) {
    return absl::FailedPreconditionError(absl::StrCat(
        "data dir ", data_dir_, " has store format version ", **version,
        "; this sigild reads up to version ", kFormatVersion));
  }

  absl::Status id = LoadId();
  if (!id.ok()) return id;
  auto last_seq = ReadMeta(kLastSeqKey);
  if (!last_seq.ok()) return last_seq.status();
  auto tick_lease = ReadMeta(kTickLeaseKey);
  if (!tick_lease.ok()) return tick_lease.status();
  auto max_not_before = ReadMeta(kMaxNotBeforeKey);
  if (!max_not_before.ok()) return max_not_before.status();

  absl::MutexLock lock(&mu_);
  last_seq_.store(last_seq->value_or(0));
  tick_lease_ = static_cast<int64_t>(tick_lease->value_or(0));
  max_not_before_ = static_cast<int64_t>(max_not_before->value_or(0));
  PublishTickFloor();
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Store::AppendResult>>
RocksStoreImpl::AppendRevocations(
    absl::Span<const token::Revocation> revocations) {
  bool subject_level = false;
  for (const token::Revocation& revocation : revocations) {
    if (!IsSubjectLevel(revocation.scope)) continue;
    subject_level = true;
    absl::Status checked = CheckSubject(revocation.subject);
    if (!checked.ok()) return checked;
  }
  std::vector<AppendResult> results;
  if (revocations.empty()) return results;
  results.reserve(revocations.size());

  absl::MutexLock lock(&mu_);
  // Held until the batch is written, so no login slips between reading the
  // counters and marking them.
  std::optional<absl::MutexLock> counters_lock;
  if (subject_level) counters_lock.emplace(&counters_mu_);
  // Indexed, so that each revocation merges with what an earlier one of the
  // same call wrote.
  rocksdb::WriteBatchWithIndex batch(rocksdb::BytewiseComparator(), 0,
                                     /*overwrite_key=*/true);
  uint64_t seq = last_seq_.load();
  int64_t max_not_before = max_not_before_;
  for (token::Revocation revocation : revocations) {
    AppendResult& result = results.emplace_back();
    result.seq = ++seq;
    revocation.seq = result.seq;

    const std::string key = RevocationKey(revocation);
    token::Revocation entry = revocation;
    std::string existing;
    rocksdb::Status got = batch.GetFromBatchAndDB(
        db_.get(), rocksdb::ReadOptions(), revocations_, key, &existing);
    if (got.ok()) {
      std::optional<token::Revocation> previous = DecodeRevocation(existing);
      if (!previous.has_value()) return Corrupt(kRevocationsFamily, key);
      entry.not_before_us =
          std::max(entry.not_before_us, previous->not_before_us);
      entry.expires_at = std::max(entry.expires_at, previous->expires_at);
    } else if (!got.IsNotFound()) {
      return Failed("cannot read revocation", got);
    }
    batch.Put(revocations_, key, EncodeRevocation(entry));
    batch.Put(events_, EncodeFixed64(result.seq), EncodeRevocation(revocation));
    max_not_before = std::max(max_not_before, revocation.not_before_us);

    if (revocation.scope == token::RevocationScope::kSession &&
        !revocation.subject.empty()) {
      batch.Delete(sessions_,
                   SessionKey(revocation.subject, revocation.session_id));
    }
    if (IsSubjectLevel(revocation.scope)) {
      auto ended = EndSessions(revocation, &batch);
      if (!ended.ok()) return ended.status();
      result.ended_sessions = *ended;
    }
  }
  batch.Put(meta_, kLastSeqKey, EncodeFixed64(seq));
  if (max_not_before != max_not_before_) {
    batch.Put(meta_, kMaxNotBeforeKey,
              EncodeFixed64(static_cast<uint64_t>(max_not_before)));
  }

  absl::Status written =
      WriteSynced(batch.GetWriteBatch(), "cannot append revocation");
  if (!written.ok()) return written;
  last_seq_.store(seq);
  max_not_before_ = max_not_before;
  PublishTickFloor();
  return results;
}

absl::StatusOr<std::optional<SessionCounter>> RocksStoreImpl::ReadCounter(
    const std::string& key, rocksdb::WriteBatchWithIndex* pending) {
  std::string value;
  rocksdb::Status got =
      pending == nullptr
          ? db_->Get(rocksdb::ReadOptions(), sessions_, key, &value)
          : pending->GetFromBatchAndDB(db_.get(), rocksdb::ReadOptions(),
                                       sessions_, key, &value);
  if (got.IsNotFound()) return std::optional<SessionCounter>();
  if (!got.ok()) return Failed("cannot read session counter", got);
  std::optional<SessionCounter> counter = DecodeCounter(value);
  if (!counter.has_value()) return Corrupt(kSessionsFamily, key);
  return counter;
}

absl::Status RocksStoreImpl::ScanSessions(
    const std::string& prefix, rocksdb::WriteBatchWithIndex* pending,
    const std::function<bool(absl::string_view suffix,
                             absl::string_view value)>& fn) {
  // Prefixes end with the subject's '\0' terminator: its successor bounds
  // the scan to that one subject.
  std::string limit = prefix;
  limit.back() = '\x01';
  const rocksdb::Slice upper_bound(limit);
  rocksdb::ReadOptions options;
  options.iterate_upper_bound = &upper_bound;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(options, sessions_));
  if (pending != nullptr) {
    it.reset(pending->NewIteratorWithBase(sessions_, it.release(), &options));
  }
  for (it->Seek(prefix); it->Valid(); it->Next()) {
    const absl::string_view key(it->key().data(), it->key().size());
    // The batch's own entries are not bounded by the read options.
    if (!absl::StartsWith(key, prefix)) break;
    if (!fn(key.substr(prefix.size()),
            absl::string_view(it->value().data(), it->value().size()))) {
      return Corrupt(kSessionsFamily, key);
    }
  }
  if (!it->status().ok()) return Failed("cannot read sessions", it->status());
  return absl::OkStatus();
}

absl::StatusOr<std::map<std::string, SessionCounter>>
RocksStoreImpl::ReadCounters(absl::string_view subject,
                             rocksdb::WriteBatchWithIndex* pending) {
  std::map<std::string, SessionCounter> counters;
  absl::Status scanned = ScanSessions(
      CounterPrefix(subject), pending,
      [&](absl::string_view system, absl::string_view value) {
        std::optional<SessionCounter> counter = DecodeCounter(value);
        if (!counter.has_value()) return false;
        counters.emplace(std::string(system), *counter);
        return true;
      });
  if (!scanned.ok()) return scanned;
  return counters;
}

absl::StatusOr<int64_t> RocksStoreImpl::EndSessions(
    const token::Revocation& revocation, rocksdb::WriteBatchWithIndex* batch) {
  const int64_t now_us = absl::ToUnixMicros(clock_->Now());
  // A marker is written even where no session is counted: a login racing
  // this logout may be about to count one, created before it.
  auto mark = [&](const std::string& system,
                  std::optional<SessionCounter> counter) -> int64_t {
    SessionCounter marked{0, absl::ToUnixMicros(revocation.expires_at),
                          revocation.not_before_us};
    int64_t alive = 0;
    if (counter.has_value()) {
      if (counter->expires_us > now_us) alive = counter->sessions;
      marked.expires_us = std::max(marked.expires_us, counter->expires_us);
      marked.logged_out_us =
          std::max(marked.logged_out_us, counter->logged_out_us);
    }
    batch->Put(sessions_, CounterKey(revocation.subject, system),
               EncodeCounter(marked));
    return alive;
  };

  if (revocation.scope == token::RevocationScope::kSubjectSystem) {
    auto counter =
        ReadCounter(CounterKey(revocation.subject, revocation.system), batch);
    if (!counter.ok()) return counter.status();
    return mark(revocation.system, *counter);
  }

  // One counter per system the subject used: the scan is bounded by the
  // number of systems, never by the number of tokens or sessions.
  auto counters = ReadCounters(revocation.subject, batch);
  if (!counters.ok()) return counters.status();
  int64_t ended = 0;
  for (const auto& [system, counter] : *counters) {
    if (!system.empty()) ended += mark(system, counter);
  }
  auto everywhere = counters->find("");
  mark("", everywhere == counters->end()
               ? std::nullopt
               : std::optional<SessionCounter>(everywhere->second));
  return ended;
}

std::optional<Session> RocksStoreImpl::Alive(
    Session session, const std::map<std::string, SessionCounter>& counters) {
  const absl::Time now = clock_->Now();
  if (now >= session.expires_at || now >= session.idle_expires_at) {
    return std::nullopt;
  }
  auto logged_out_us = [&](const std::string& system) -> int64_t {
    auto it = counters.find(system);
    return it == counters.end() ? 0 : it->second.logged_out_us;
  };
  const int64_t everywhere = logged_out_us("");
  // A logout covers sessions created strictly before its instant, as it
  // covers tokens.
  session.systems.erase(
      std::remove_if(session.systems.begin(), session.systems.end(),
                     [&](const std::string& system) {
                       return session.created_us <
                              std::max(everywhere, logged_out_us(system));
                     }),
      session.systems.end());
  if (session.systems.empty()) return std::nullopt;
  return session;
}

absl::Status RocksStoreImpl::ForEachRevocation(
    const std::function<void(const token::Revocation&)>& fn) {
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(rocksdb::ReadOptions(), revocations_));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    std::optional<token::Revocation> revocation = DecodeRevocation(
        absl::string_view(it->value().data(), it->value().size()));
    if (!revocation.has_value()) {
      return Corrupt(kRevocationsFamily, it->key().ToString());
    }
    fn(*revocation);
  }
  if (!it->status().ok())
    return Failed("cannot read revocations", it->status());
  return absl::OkStatus();
}

absl::StatusOr<std::vector<token::Revocation>> RocksStoreImpl::ReadEvents(
    uint64_t after_seq, size_t limit) {
  std::vector<token::Revocation> events;
  if (limit == 0 || after_seq == std::numeric_limits<uint64_t>::max()) {
    return events;
  }
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(rocksdb::ReadOptions(), events_));
  for (it->Seek(EncodeFixed64(after_seq + 1));
       it->Valid() && events.size() < limit; it->Next()) {
    std::optional<token::Revocation> event = DecodeRevocation(
        absl::string_view(it->value().data(), it->value().size()));
    if (!event.has_value()) return Corrupt(kEventsFamily, it->key().ToString());
    events.push_back(*std::move(event));
  }
  if (!it->status().ok()) return Failed("cannot read events", it->status());
  return events;
}

absl::Status RocksStoreImpl::PutSession(const Session& session,
                                        const std::string& refresh_hash) {
  absl::Status checked = CheckSubject(session.subject);
  if (!checked.ok()) return checked;
  return session_puts_.Submit(SessionPut{&session, &refresh_hash});
}

void RocksStoreImpl::CommitSessions(
    absl::Span<SessionPuts::Slot* const> batch) {
  absl::MutexLock lock(&counters_mu_);
  // Indexed, so that logins of one subject in the same batch count each
  // other.
  rocksdb::WriteBatchWithIndex writes(rocksdb::BytewiseComparator(), 0,
                                      /*overwrite_key=*/true);
  for (SessionPuts::Slot* slot : batch) {
    writes.SetSavePoint();
    slot->result =
        AddSession(*slot->op.session, *slot->op.refresh_hash, &writes);
    rocksdb::Status kept = slot->result.ok() ? writes.PopSavePoint()
                                             : writes.RollbackToSavePoint();
    kept.PermitUncheckedError();
  }
  if (writes.GetWriteBatch()->Count() == 0) return;
  rocksdb::Status written =
      db_->Write(rocksdb::WriteOptions(), writes.GetWriteBatch());
  if (written.ok()) return;
  for (SessionPuts::Slot* slot : batch) {
    if (slot->result.ok())
      slot->result = Failed("cannot record session", written);
  }
}

absl::Status RocksStoreImpl::AddSession(const Session& session,
                                        const std::string& refresh_hash,
                                        rocksdb::WriteBatchWithIndex* batch) {
  const int64_t now_us = absl::ToUnixMicros(clock_->Now());
  const int64_t expires_us = absl::ToUnixMicros(session.expires_at);
  batch->Put(sessions_, SessionKey(session.subject, session.session_id),
             EncodeSession(session));
  batch->Put(sessions_, RefreshKey(refresh_hash),
             EncodeRefreshToken(RefreshToken{refresh_hash, session.subject,
                                             session.session_id},
                                session.expires_at));
  // A session lists each system once as far as logouts are concerned; the
  // subject-wide entry ("") is only kept alive, never counted in.
  std::set<std::string> systems(session.systems.begin(), session.systems.end());
  systems.insert("");
  for (const std::string& system : systems) {
    const std::string key = CounterKey(session.subject, system);
    auto previous = ReadCounter(key, batch);
    if (!previous.ok()) return previous.status();
    if (system.empty() && !previous->has_value()) continue;
    SessionCounter counter{0, expires_us, 0};
    if (previous->has_value()) {
      const SessionCounter& before = **previous;
      // A logout marker stays: this session may predate it. It must then
      // outlive this session.
      counter.logged_out_us = before.logged_out_us;
      counter.expires_us = std::max(expires_us, before.expires_us);
      // An expired counter only counts expired sessions.
      if (before.expires_us > now_us) counter.sessions = before.sessions;
    }
    if (!system.empty()) ++counter.sessions;
    batch->Put(sessions_, key, EncodeCounter(counter));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<Session>> RocksStoreImpl::GetSession(
    absl::string_view subject, absl::string_view session_id) {
  const std::string key = SessionKey(subject, session_id);
  std::string value;
  rocksdb::Status got =
      db_->Get(rocksdb::ReadOptions(), sessions_, key, &value);
  if (got.IsNotFound()) return std::optional<Session>();
  if (!got.ok()) return Failed("cannot read session", got);
  std::optional<Session> session = DecodeSession(value);
  if (!session.has_value()) return Corrupt(kSessionsFamily, key);
  auto counters = ReadCounters(subject, nullptr);
  if (!counters.ok()) return counters.status();
  return Alive(*std::move(session), *counters);
}

absl::StatusOr<std::vector<Session>> RocksStoreImpl::ListSessions(
    absl::string_view subject) {
  auto counters = ReadCounters(subject, nullptr);
  if (!counters.ok()) return counters.status();
  std::vector<Session> sessions;
  absl::Status scanned = ScanSessions(
      SessionPrefix(subject), nullptr,
      [&](absl::string_view, absl::string_view value) {
        std::optional<Session> session = DecodeSession(value);
        if (!session.has_value()) return false;
        std::optional<Session> alive = Alive(*std::move(session), *counters);
        if (alive.has_value()) sessions.push_back(*std::move(alive));
        return true;
      });
  if (!scanned.ok()) return scanned;
  return sessions;
}

absl::StatusOr<std::optional<RefreshToken>> RocksStoreImpl::GetRefreshToken(
    absl::string_view hash) {
  const std::string key = RefreshKey(hash);
  std::string value;
  rocksdb::Status got =
      db_->Get(rocksdb::ReadOptions(), sessions_, key, &value);
  if (got.IsNotFound()) return std::optional<RefreshToken>();
  if (!got.ok()) return Failed("cannot read refresh token", got);
  std::optional<RefreshToken> token = DecodeRefreshToken(hash, value);
  if (!token.has_value()) return Corrupt(kSessionsFamily, key);
  return token;
}

absl::Status RocksStoreImpl::RotateRefreshToken(
    const Session& session, const RefreshToken& spent,
    const std::string& successor_hash, absl::Time now) {
  return rotations_.Submit(Rotation{&session, &spent, &successor_hash, now});
}

void RocksStoreImpl::CommitRotations(absl::Span<Rotations::Slot* const> batch) {
  // Under mu_, which every append holds from reading to writing: a session
  // revocation or logout is either already in the database when a rotation
  // checks the session, or is written after the rotation and ends it then.
  absl::MutexLock lock(&mu_);
  // Indexed, so that a rotation sees an earlier one of the same batch.
  rocksdb::WriteBatchWithIndex writes(rocksdb::BytewiseComparator(), 0,
                                      /*overwrite_key=*/true);
  for (Rotations::Slot* slot : batch) {
    writes.SetSavePoint();
    slot->result = AddRotation(slot->op, &writes);
    rocksdb::Status kept = slot->result.ok() ? writes.PopSavePoint()
                                             : writes.RollbackToSavePoint();
    kept.PermitUncheckedError();
  }
  if (writes.GetWriteBatch()->Count() == 0) return;
  // Synced: a rotation forgotten in a crash would make the spent token
  // current again, and its reuse undetectable.
  absl::Status written =
      WriteSynced(writes.GetWriteBatch(), "cannot rotate refresh token");
  if (written.ok()) return;
  for (Rotations::Slot* slot : batch) {
    if (slot->result.ok()) slot->result = written;
  }
}

absl::Status RocksStoreImpl::AddRotation(const Rotation& rotation,
                                         rocksdb::WriteBatchWithIndex* batch) {
  const Session& read = *rotation.session;
  const absl::Status ended =
      absl::AbortedError("session ended while its refresh token was rotated");
  const std::string key = SessionKey(read.subject, read.session_id);
  std::string value;
  rocksdb::Status got = batch->GetFromBatchAndDB(
      db_.get(), rocksdb::ReadOptions(), sessions_, key, &value);
  // A session revocation deletes the record.
  if (got.IsNotFound()) return ended;
  if (!got.ok()) return Failed("cannot read session", got);
  std::optional<Session> stored = DecodeSession(value);
  if (!stored.has_value()) return Corrupt(kSessionsFamily, key);
  if (stored->revision != read.revision) {
    return absl::AbortedError(
        "session was refreshed concurrently; read it again");
  }
  auto counters = ReadCounters(read.subject, batch);
  if (!counters.ok()) return counters.status();
  // Logouts of every system of the session, or its expiry.
  if (!Alive(*stored, *counters).has_value()) return ended;

  // Only what a rotation changes; the systems stay as stored, logouts
  // narrow them on reading.
  stored->last_refreshed = read.last_refreshed;
  stored->idle_expires_at = read.idle_expires_at;
  ++stored->revision;
  RefreshToken rotated = *rotation.spent;
  rotated.rotated_at = rotation.now;
  batch->Put(sessions_, key, EncodeSession(*stored));
  batch->Put(sessions_, RefreshKey(rotated.hash),
             EncodeRefreshToken(rotated, stored->expires_at));
  batch->Put(
      sessions_, RefreshKey(*rotation.successor_hash),
      EncodeRefreshToken(RefreshToken{*rotation.successor_hash, stored->subject,
                                      stored->session_id},
                         stored->expires_at));
  return absl::OkStatus();
}

absl::Status RocksStoreImpl::PutKey(const KeyRecord& key) {
  // Synced: tokens signed with this key right after must stay verifiable
  // after a crash, which takes the record that points at its file.
  return PutSynced(keys_, key.kid, EncodeKey(key), "cannot record key");
}

absl::StatusOr<std::vector<KeyRecord>> RocksStoreImpl::ListKeys() {
  std::vector<KeyRecord> keys;
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(rocksdb::ReadOptions(), keys_));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    std::optional<KeyRecord> key =
        DecodeKey(absl::string_view(it->value().data(), it->value().size()));
    if (!key.has_value()) return Corrupt(kKeysFamily, it->key().ToString());
    keys.push_back(*std::move(key));
  }
  if (!it->status().ok()) return Failed("cannot read keys", it->status());
  return keys;
}

absl::Status RocksStoreImpl::UpdateKeys(
    const std::vector<KeyRecord>& put, const std::vector<std::string>& remove) {
  rocksdb::WriteBatch batch;
  for (const KeyRecord& key : put) batch.Put(keys_, key.kid, EncodeKey(key));
  for (const std::string& kid : remove) batch.Delete(keys_, kid);
  // Synced: a rotation reported done must not come undone in a crash, with
  // the retired key signing again.
  return WriteSynced(&batch, "cannot update keys");
}

absl::Status RocksStoreImpl::ReserveTicks(int64_t until_us) {
  absl::MutexLock lock(&mu_);
  if (until_us <= tick_lease_) return absl::OkStatus();
  absl::Status put = PutSynced(meta_, kTickLeaseKey,
                               EncodeFixed64(static_cast<uint64_t>(until_us)),
                               "cannot reserve ticks");
  if (!put.ok()) return put;
  tick_lease_ = until_us;
  PublishTickFloor();
  return absl::OkStatus();
}

absl::Status RocksStoreImpl::WriteSynced(rocksdb::WriteBatch* batch,
                                         absl::string_view what) {
  rocksdb::WriteOptions synced;
  synced.sync = sync_;
  rocksdb::Status written = db_->Write(synced, batch);
  if (!written.ok()) return Failed(what, written);
  return absl::OkStatus();
}

absl::Status RocksStoreImpl::PutSynced(rocksdb::ColumnFamilyHandle* family,
                                       absl::string_view key,
                                       absl::string_view value,
                                       absl::string_view what) {
  rocksdb::WriteBatch batch;
  rocksdb::Status put =
      batch.Put(family, rocksdb::Slice(key.data(), key.size()),
                rocksdb::Slice(value.data(), value.size()));
  if (!put.ok()) return Failed(what, put);
  return WriteSynced(&batch, what);
}

void RocksStoreImpl::PublishTickFloor() {
  tick_floor_.store(std::max(tick_lease_, max_not_before_));
}

RocksStore::Stats RocksStoreImpl::GetStats() const {
  auto sum = [this](const std::string& property) {
    uint64_t value = 0;
    return db_->GetAggregatedIntProperty(property, &value) ? value : 0;
  };
  Stats stats;
  stats.live_data_bytes = sum(rocksdb::DB::Properties::kEstimateLiveDataSize);
  stats.sst_file_bytes = sum(rocksdb::DB::Properties::kTotalSstFilesSize);
  stats.memtable_bytes = sum(rocksdb::DB::Properties::kCurSizeAllMemTables);
  stats.pending_compaction_bytes =
      sum(rocksdb::DB::Properties::kEstimatePendingCompactionBytes);
  stats.estimated_keys = sum(rocksdb::DB::Properties::kEstimateNumKeys);
  return stats;
}

absl::Status RocksStoreImpl::CompactAll() {
  rocksdb::CompactRangeOptions options;
  // The filter only sees the files a compaction rewrites: include the
  // bottommost level, where most data ends up.
  options.bottommost_level_compaction =
      rocksdb::BottommostLevelCompaction::kForce;
  for (rocksdb::ColumnFamilyHandle* handle : handles_) {
    rocksdb::Status compacted =
        db_->CompactRange(options, handle, nullptr, nullptr);
    if (!compacted.ok()) {
      return Failed(absl::StrCat("cannot compact ", handle->GetName()),
                    compacted);
    }
  }
  return absl::OkStatus();
}

absl::Status RocksStoreImpl::Failed(absl::string_view what,
                                    const rocksdb::Status& status) const {
  return absl::UnavailableError(
      absl::StrCat(what, " in data dir ", data_dir_, ": ", status.ToString()));
}

absl::Status RocksStoreImpl::Corrupt(absl::string_view family,
                                     absl::string_view key) const {
  return absl::UnavailableError(absl::StrCat("corrupt ", family, " record \"",
                                             absl::CHexEscape(key),
                                             "\" in data dir ", data_dir_));
}

}  // namespace

absl::StatusOr<std::unique_ptr<RocksStore>> RocksStore::Open(
    const std::string& data_dir, const token::Clock* clock) {
  return Open(data_dir, clock, Options());
}

absl::StatusOr<std::unique_ptr<RocksStore>> RocksStore::Open(
    const std::string& data_dir, const token::Clock* clock,
    const Options& options) {
  auto store = std::make_unique<RocksStoreImpl>(data_dir, clock, options);
  absl::Status initialized = store->Init();
  if (!initialized.ok()) return initialized;
  return std::unique_ptr<RocksStore>(std::move(store));
}

}  // namespace sigil::server::store
