#include "server/store/rocks_store.h"

#include <openssl/rand.h>

#include <algorithm>
#include <atomic>
#include <limits>
#include <optional>
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
#include "server/store/data_dir.h"
#include "server/store/expiry_filter.h"
#include "server/store/layout.h"
#include "server/store/records.h"
#include "server/store/rocks_store_impl.h"

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

bool IsSubjectLevel(token::RevocationScope scope) {
  return scope == token::RevocationScope::kSubjectSystem ||
         scope == token::RevocationScope::kSubject;
}

}  // namespace

namespace internal {

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
    absl::Span<const token::Revocation> revocations,
    absl::Span<const RecordIf> conditions) {
  if (!conditions.empty() && conditions.size() != revocations.size()) {
    return absl::InvalidArgumentError("one condition per revocation, or none");
  }
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
  const int64_t now_us = absl::ToUnixMicros(clock_->Now());
  for (size_t i = 0; i < revocations.size(); ++i) {
    token::Revocation revocation = revocations[i];
    AppendResult& result = results.emplace_back();
    if (!conditions.empty() && conditions[i] == RecordIf::kIfLoggedIn &&
        revocation.scope == token::RevocationScope::kSubjectSystem) {
      // Decided here, under counters_mu_ held from this read to the write
      // below, the lock every login takes to count itself: a login whose
      // count is written before this read is seen; one written after it
      // was still in flight (Issue answers only once its count is
      // written), so ordering it after this logout is what its caller
      // could have seen anyway. Its token is then valid, as its session
      // is, at the authority and at every verifier alike. A login whose
      // tokens may still live (its watermark) always gets the logout.
      counters_mu_.AssertHeld();
      auto counter = ReadCounter(
          CounterKey(revocation.subject, revocation.system), &batch);
      if (!counter.ok()) return counter.status();
      if (!counter->has_value() || (*counter)->tokens_until_us <= now_us) {
        result.recorded = false;
        continue;
      }
    }
    result.seq = ++seq;
    revocation.seq = result.seq;
    result.not_before_us = revocation.not_before_us;
    result.expires_at = revocation.expires_at;

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
      // Taken above for any subject-level revocation of the call.
      counters_mu_.AssertHeld();
      auto ended = EndSessions(revocation, &batch);
      if (!ended.ok()) return ended.status();
      result.revoked_sessions = *ended;
    }
  }
  // Nothing recorded (every one conditional and unneeded): nothing to sync.
  if (batch.GetWriteBatch()->Count() == 0) return results;
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

absl::Status RocksStoreImpl::PutKey(const KeyRecord& key) {
  absl::MutexLock lock(&keys_mu_);
  auto version = ReadMeta(kKeysVersionKey);
  if (!version.ok()) return version.status();
  rocksdb::WriteBatch batch;
  batch.Put(keys_, key.kid, EncodeKey(key));
  batch.Put(meta_, kKeysVersionKey, EncodeFixed64(version->value_or(0) + 1));
  // Synced: tokens signed with this key right after must stay verifiable
  // after a crash, which takes the record that points at its file.
  return WriteSynced(&batch, "cannot record key");
}

absl::StatusOr<KeyRecords> RocksStoreImpl::ListKeys() {
  absl::MutexLock lock(&keys_mu_);
  auto version = ReadMeta(kKeysVersionKey);
  if (!version.ok()) return version.status();
  KeyRecords records;
  records.version = version->value_or(0);
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(rocksdb::ReadOptions(), keys_));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    std::optional<KeyRecord> key =
        DecodeKey(absl::string_view(it->value().data(), it->value().size()));
    if (!key.has_value()) return Corrupt(kKeysFamily, it->key().ToString());
    records.keys.push_back(*std::move(key));
  }
  if (!it->status().ok()) return Failed("cannot read keys", it->status());
  return records;
}

absl::StatusOr<uint64_t> RocksStoreImpl::UpdateKeys(
    const std::vector<KeyRecord>& put, const std::vector<std::string>& remove,
    uint64_t version) {
  // The compare and the write under one lock: two managers that read the
  // same version cannot both write over it.
  absl::MutexLock lock(&keys_mu_);
  auto stored = ReadMeta(kKeysVersionKey);
  if (!stored.ok()) return stored.status();
  const uint64_t current = stored->value_or(0);
  if (current != version) {
    return absl::AbortedError(
        absl::StrCat("the keys changed since they were read (version ", version,
                     ", now ", current, ")"));
  }
  rocksdb::WriteBatch batch;
  for (const KeyRecord& key : put) batch.Put(keys_, key.kid, EncodeKey(key));
  for (const std::string& kid : remove) batch.Delete(keys_, kid);
  batch.Put(meta_, kKeysVersionKey, EncodeFixed64(current + 1));
  // Synced: a rotation reported done must not come undone in a crash, with
  // the retired key signing again.
  absl::Status written = WriteSynced(&batch, "cannot update keys");
  if (!written.ok()) return written;
  return current + 1;
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
  logout_floor_.store(max_not_before_);
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

}  // namespace internal

absl::StatusOr<std::unique_ptr<RocksStore>> RocksStore::Open(
    const std::string& data_dir, const token::Clock* clock) {
  return Open(data_dir, clock, Options());
}

absl::StatusOr<std::unique_ptr<RocksStore>> RocksStore::Open(
    const std::string& data_dir, const token::Clock* clock,
    const Options& options) {
  auto store =
      std::make_unique<internal::RocksStoreImpl>(data_dir, clock, options);
  absl::Status initialized = store->Init();
  if (!initialized.ok()) return initialized;
  return std::unique_ptr<RocksStore>(std::move(store));
}

}  // namespace sigil::server::store
