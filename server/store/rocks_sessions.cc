// The session side of RocksStoreImpl (see rocks_store_impl.h): sessions,
// their refresh tokens and the per-subject session counters.

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "rocksdb/comparator.h"
#include "rocksdb/db.h"
#include "rocksdb/iterator.h"
#include "rocksdb/options.h"
#include "rocksdb/slice.h"
#include "rocksdb/utilities/write_batch_with_index.h"
#include "server/store/layout.h"
#include "server/store/records.h"
#include "server/store/rocks_store_impl.h"
#include "server/store/store.h"

namespace sigil::server::store::internal {

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
                          revocation.not_before_us, 0};
    int64_t alive = 0;
    if (counter.has_value()) {
      if (counter->expires_us > now_us) alive = counter->sessions;
      marked.expires_us = std::max(marked.expires_us, counter->expires_us);
      marked.logged_out_us =
          std::max(marked.logged_out_us, counter->logged_out_us);
      // The logins stay as they were: their tokens may yet be logged out
      // of again, once this logout is forgotten.
      marked.tokens_until_us = counter->tokens_until_us;
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
  return AliveSession(std::move(session), counters, clock_->Now());
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
  // A refresh mints a token while the session lives, for access_ttl: none
  // of its tokens outlives this.
  const int64_t tokens_until_us =
      absl::ToUnixMicros(session.expires_at + session.access_ttl);
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
    SessionCounter counter{0, expires_us, 0, tokens_until_us};
    if (previous->has_value()) {
      const SessionCounter& before = **previous;
      // A logout marker stays: this session may predate it. It must then
      // outlive this session.
      counter.logged_out_us = before.logged_out_us;
      counter.expires_us = std::max(expires_us, before.expires_us);
      counter.tokens_until_us =
          std::max(tokens_until_us, before.tokens_until_us);
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

absl::StatusOr<std::vector<Session>> RocksStoreImpl::ListSessionsAfter(
    absl::string_view subject, absl::string_view after, size_t limit) {
  auto counters = ReadCounters(subject, nullptr);
  if (!counters.ok()) return counters.status();
  const std::string prefix = SessionPrefix(subject);
  std::string limit_key = prefix;
  limit_key.back() = '\x01';
  const rocksdb::Slice upper_bound(limit_key);
  rocksdb::ReadOptions options;
  options.iterate_upper_bound = &upper_bound;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(options, sessions_));
  std::vector<Session> sessions;
  // Keys sort by session id within the subject: a page starts right after
  // the last id of the one before.
  for (it->Seek(SessionKey(subject, after));
       it->Valid() && sessions.size() < limit; it->Next()) {
    const absl::string_view key(it->key().data(), it->key().size());
    if (!absl::StartsWith(key, prefix)) break;
    if (key.substr(prefix.size()) <= after) continue;
    std::optional<Session> session = DecodeSession(
        absl::string_view(it->value().data(), it->value().size()));
    if (!session.has_value()) return Corrupt(kSessionsFamily, key);
    std::optional<Session> alive = Alive(*std::move(session), *counters);
    if (alive.has_value()) sessions.push_back(*std::move(alive));
  }
  if (!it->status().ok()) return Failed("cannot read sessions", it->status());
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

}  // namespace sigil::server::store::internal
