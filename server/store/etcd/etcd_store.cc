#include "server/store/etcd/etcd_store.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "etcd/kv.pb.h"
#include "etcd/rpc.pb.h"
#include "openssl/rand.h"
#include "server/store/group_commit.h"
#include "server/store/layout.h"
#include "server/store/records.h"
#include "server/store/store.h"
#include "token/revocation_index.h"

namespace sigil::server::store {
namespace {

using etcd::EtcdClient;
using etcd::PrefixEnd;
using etcd::Retry;
using etcdserverpb::Compare;
using etcdserverpb::RangeRequest;
using etcdserverpb::RequestOp;
using etcdserverpb::TxnRequest;
using etcdserverpb::TxnResponse;
using mvccpb::KeyValue;

// The format this code writes under the prefix, and the newest it reads.
constexpr int64_t kEtcdFormatVersion = 1;
// etcd's default --max-txn-ops; a Txn never carries more.
constexpr int kMaxTxnOps = 128;
// Records expiring within one bucket share one lease: etcd expires leases
// at about 1,000 a second, so one per record would fall behind.
constexpr absl::Duration kLeaseBucket = absl::Minutes(1);
// Expiry is checked on reading as well, so a lease may outlive its records
// by this much without harm; it keeps clocks' small disagreements from
// dropping a record early.
constexpr absl::Duration kLeaseSlack = absl::Minutes(1);

bool IsSubjectLevel(token::RevocationScope scope) {
  return scope == token::RevocationScope::kSubjectSystem ||
         scope == token::RevocationScope::kSubject;
}

// Instants and seqs as 16 lower-case hex digits: etcd compares values as
// bytes, and this encoding sorts as the numbers do (all are non-negative).
std::string Hex16(int64_t value) {
  return absl::StrFormat("%016x", static_cast<uint64_t>(value));
}

std::optional<int64_t> ParseHex16(absl::string_view text) {
  if (text.size() != 16) return std::nullopt;
  uint64_t value = 0;
  for (const char c : text) {
    int digit;
    if (c >= '0' && c <= '9') {
      digit = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      digit = c - 'a' + 10;
    } else {
      return std::nullopt;
    }
    value = (value << 4) | static_cast<uint64_t>(digit);
  }
  if (value > static_cast<uint64_t>(INT64_MAX)) return std::nullopt;
  return static_cast<int64_t>(value);
}

void AddRange(TxnRequest* txn, const std::string& key,
              const std::string& range_end = "") {
  RangeRequest* range = txn->add_success()->mutable_request_range();
  range->set_key(key);
  if (!range_end.empty()) range->set_range_end(range_end);
}

void AddPut(TxnRequest* txn, const std::string& key, const std::string& value,
            int64_t lease = 0) {
  etcdserverpb::PutRequest* put = txn->add_success()->mutable_request_put();
  put->set_key(key);
  put->set_value(value);
  if (lease != 0) put->set_lease(lease);
}

void AddDelete(TxnRequest* txn, const std::string& key) {
  txn->add_success()->mutable_request_delete_range()->set_key(key);
}

// etcd refuses a Txn that writes one key twice: keeps the last put of each
// key (a counter rewritten by each login of its subject, an entry merged by
// each revocation of its target).
void KeepLastPuts(TxnRequest* txn) {
  std::map<std::string, int> last;
  for (int i = 0; i < txn->success_size(); ++i) {
    if (txn->success(i).has_request_put()) {
      last[txn->success(i).request_put().key()] = i;
    }
  }
  google::protobuf::RepeatedPtrField<RequestOp> kept;
  for (int i = 0; i < txn->success_size(); ++i) {
    const RequestOp& op = txn->success(i);
    if (!op.has_request_put() || last[op.request_put().key()] == i) {
      *kept.Add() = op;
    }
  }
  txn->mutable_success()->Swap(&kept);
}

// Requires every key of [key, range_end) (or `key` alone) to be unmodified
// since `revision`: a key created or changed later fails the Txn.
void RequireUnchangedSince(TxnRequest* txn, const std::string& key,
                           int64_t revision,
                           const std::string& range_end = "") {
  Compare* compare = txn->add_compare();
  compare->set_target(Compare::MOD);
  compare->set_result(Compare::LESS);
  compare->set_key(key);
  compare->set_mod_revision(revision + 1);
  if (!range_end.empty()) compare->set_range_end(range_end);
}

// Requires the value of `key` (of every key in [key, range_end)) to sort
// below `value`. Fails when no such key exists, so the keys compared this
// way are created with the store.
void RequireValueBelow(TxnRequest* txn, const std::string& key,
                       const std::string& value,
                       const std::string& range_end = "") {
  Compare* compare = txn->add_compare();
  compare->set_target(Compare::VALUE);
  compare->set_result(Compare::LESS);
  compare->set_key(key);
  compare->set_value(value);
  if (!range_end.empty()) compare->set_range_end(range_end);
}

absl::Status Contended(absl::string_view what) {
  return absl::UnavailableError(
      absl::StrCat(what, ": lost to concurrent writers too many times"));
}

class EtcdStoreImpl final : public EtcdStore {
 public:
  EtcdStoreImpl(EtcdClient* client, const token::Clock* clock,
                const Options& options)
      : client_(client),
        clock_(clock),
        prefix_(options.prefix),
        replica_id_(options.replica_id),
        max_attempts_(options.max_attempts),
        session_puts_([this](absl::Span<SessionPuts::Slot* const> batch) {
          CommitSessions(batch);
        }),
        rotations_([this](absl::Span<Rotations::Slot* const> batch) {
          CommitRotations(batch);
        }) {}

  absl::Status Init();

  using Store::AppendRevocations;
  absl::StatusOr<std::vector<AppendResult>> AppendRevocations(
      absl::Span<const token::Revocation> revocations,
      absl::Span<const RecordIf> conditions) override;
  absl::Status ForEachRevocation(
      const std::function<void(const token::Revocation&)>& fn) override;
  absl::StatusOr<std::vector<token::Revocation>> ReadEvents(
      uint64_t after_seq, size_t limit) override;
  uint64_t LastSeq() const override;
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
  absl::Status RecordInstant(int64_t instant_us) override;
  int64_t TickFloor() const override;
  absl::StatusOr<std::unique_ptr<Follower>> Follow(uint64_t after_seq,
                                                   OnEvents on_events) override;
  int64_t LogoutFloor() const override;

 private:
  // Keys, all under prefix_.
  std::string MetaKey(absl::string_view name) const {
    return absl::StrCat(prefix_, "meta/", name);
  }
  std::string HeadKey() const { return MetaKey("head"); }
  std::string FloorKey() const { return MetaKey("floor"); }
  // "issued/" itself holds 0, so that the range is never empty (a value
  // compare over an empty range fails).
  std::string IssuedPrefix() const { return absl::StrCat(prefix_, "issued/"); }
  std::string IssuedKey() const { return IssuedPrefix() + replica_id_; }
  std::string RevocationsPrefix() const { return absl::StrCat(prefix_, "r/"); }
  std::string EventsPrefix() const { return absl::StrCat(prefix_, "e/"); }
  std::string EventKey(uint64_t seq) const {
    return EventsPrefix() + Hex16(static_cast<int64_t>(seq));
  }
  std::string SessionsKey(absl::string_view key) const {
    return absl::StrCat(prefix_, "s/", key);
  }
  std::string KeysPrefix() const { return absl::StrCat(prefix_, "k/"); }
  // Rewritten by every key update: its mod_revision is the key set's
  // version, which UpdateKeys compares.
  std::string KeysVersionKey() const { return MetaKey("keys"); }

  // One atomic read of several keys or ranges: a Txn with no compares.
  absl::StatusOr<TxnResponse> Read(const TxnRequest& reads);
  // Every key-value under [key, range_end), in pages, at one revision.
  absl::StatusOr<std::vector<KeyValue>> ReadAll(const std::string& key,
                                                const std::string& range_end,
                                                int64_t* revision);
  // The lease of records expiring at `expires`, granted once per bucket.
  absl::StatusOr<int64_t> LeaseFor(absl::Time expires);
  // Forgets every granted lease (one was not found: etcd lost or expired
  // it), so the next LeaseFor grants anew.
  void ForgetLeases();
  absl::StatusOr<TxnResponse> Commit(const TxnRequest& txn);

  // Every event above `after_seq` at one revision, which it returns.
  absl::StatusOr<int64_t> ReadEventsAfter(
      uint64_t after_seq, std::vector<token::Revocation>* events);
  friend class EventFollower;

  void RaiseFloor(int64_t floor);
  // Adds to `txn` the raise of this replica's issued instant to `instant`,
  // never a lowering: logins and rotations commit in any order, and a
  // lower value would let a later logout miss an instant handed out
  // earlier. A nested Txn, since the compare is only about this key.
  void RaiseIssued(TxnRequest* txn, int64_t instant) const;
  void RaiseLastSeq(uint64_t seq);

  absl::StatusOr<std::map<std::string, SessionCounter>> DecodeCounters(
      const std::vector<KeyValue>& kvs, size_t prefix_size) const;
  std::optional<Session> Alive(
      Session session, const std::map<std::string, SessionCounter>& counters);
  absl::Status Corrupt(absl::string_view key) const;

  // One revocation's share of an append, planned against one read.
  absl::Status AppendChunk(absl::Span<const token::Revocation> revocations,
                           absl::Span<const RecordIf> conditions,
                           absl::Span<AppendResult> results);

  struct SessionPut {
    const Session* session;
    const std::string* refresh_hash;
  };
  using SessionPuts = GroupCommit<SessionPut, absl::Status>;
  void CommitSessions(absl::Span<SessionPuts::Slot* const> batch);
  absl::Status TrySessions(absl::Span<SessionPuts::Slot* const> batch,
                           bool* retry);

  struct Rotation {
    const Session* session;
    const RefreshToken* spent;
    const std::string* successor_hash;
    absl::Time now;
  };
  using Rotations = GroupCommit<Rotation, absl::Status>;
  void CommitRotations(absl::Span<Rotations::Slot* const> batch);
  absl::Status TryRotation(const Rotation& rotation, bool* retry);

  EtcdClient* const client_;
  const token::Clock* const clock_;
  const std::string prefix_;
  std::string replica_id_;  // set once by Init
  const int max_attempts_;
  std::string id_;  // set once by Init

  mutable absl::Mutex mu_;
  // The highest seq and floor this process has seen committed.
  uint64_t last_seq_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t floor_ ABSL_GUARDED_BY(mu_) = 0;
  // The highest instant any replica had issued when this process started.
  int64_t issued_at_start_ ABSL_GUARDED_BY(mu_) = 0;

  absl::Mutex leases_mu_ ABSL_ACQUIRED_AFTER(mu_);
  std::map<int64_t, int64_t> leases_ ABSL_GUARDED_BY(leases_mu_);

  // Logins arriving together share one Txn, and so do rotations.
  SessionPuts session_puts_;
  Rotations rotations_;
};

absl::Status EtcdStoreImpl::Corrupt(absl::string_view key) const {
  return absl::UnavailableError(
      absl::StrCat("corrupt etcd record \"", absl::CHexEscape(key), "\""));
}

absl::StatusOr<TxnResponse> EtcdStoreImpl::Read(const TxnRequest& reads) {
  return client_->Txn(reads, Retry::kIdempotent);
}

absl::StatusOr<TxnResponse> EtcdStoreImpl::Commit(const TxnRequest& txn) {
  // Safe to resend: every write's compares fail once it has been applied,
  // and the caller then reads again.
  absl::StatusOr<TxnResponse> response = client_->Txn(txn, Retry::kIdempotent);
  // A lease etcd no longer knows (expired early, or lost with a restored
  // backup): grant new ones and let the caller plan again.
  if (!response.ok() &&
      response.status().code() == absl::StatusCode::kNotFound) {
    ForgetLeases();
    return absl::AbortedError(response.status().message());
  }
  return response;
}

absl::StatusOr<std::vector<KeyValue>> EtcdStoreImpl::ReadAll(
    const std::string& key, const std::string& range_end, int64_t* revision) {
  // Pages keep each answer far below gRPC's receive limit.
  constexpr int64_t kPage = 1024;
  std::vector<KeyValue> all;
  std::string from = key;
  int64_t at = 0;
  while (true) {
    RangeRequest range;
    range.set_key(from);
    range.set_range_end(range_end);
    range.set_limit(kPage);
    // Every page at the first page's revision: one consistent view.
    if (at != 0) range.set_revision(at);
    absl::StatusOr<etcdserverpb::RangeResponse> page = client_->Range(range);
    if (!page.ok()) return page.status();
    if (at == 0) at = page->header().revision();
    for (const KeyValue& kv : page->kvs()) all.push_back(kv);
    if (!page->more() || page->kvs().empty()) break;
    from = page->kvs(page->kvs_size() - 1).key() + std::string(1, '\0');
  }
  if (revision != nullptr) *revision = at;
  return all;
}

absl::StatusOr<int64_t> EtcdStoreImpl::LeaseFor(absl::Time expires) {
  const int64_t bucket = absl::ToInt64Seconds(
      absl::Ceil(expires - absl::UnixEpoch(), kLeaseBucket));
  absl::MutexLock lock(&leases_mu_);
  auto found = leases_.find(bucket);
  if (found != leases_.end()) return found->second;
  const absl::Time now = clock_->Now();
  const absl::Duration ttl = std::max(
      absl::FromUnixSeconds(bucket) + kLeaseSlack - now, absl::Seconds(10));
  absl::StatusOr<etcdserverpb::LeaseGrantResponse> granted =
      client_->LeaseGrant(
          absl::ToInt64Seconds(absl::Ceil(ttl, absl::Seconds(1))));
  if (!granted.ok()) return granted.status();
  // Buckets that have passed are of no further use.
  leases_.erase(leases_.begin(), leases_.lower_bound(absl::ToUnixSeconds(now)));
  leases_.emplace(bucket, granted->id());
  return granted->id();
}

void EtcdStoreImpl::ForgetLeases() {
  absl::MutexLock lock(&leases_mu_);
  leases_.clear();
}

void EtcdStoreImpl::RaiseIssued(TxnRequest* txn, int64_t instant) const {
  TxnRequest* raise = txn->add_success()->mutable_request_txn();
  RequireValueBelow(raise, IssuedKey(), Hex16(instant));
  AddPut(raise, IssuedKey(), Hex16(instant));
}

void EtcdStoreImpl::RaiseFloor(int64_t floor) {
  absl::MutexLock lock(&mu_);
  floor_ = std::max(floor_, floor);
}

void EtcdStoreImpl::RaiseLastSeq(uint64_t seq) {
  absl::MutexLock lock(&mu_);
  last_seq_ = std::max(last_seq_, seq);
}

uint64_t EtcdStoreImpl::LastSeq() const {
  absl::MutexLock lock(&mu_);
  return last_seq_;
}

int64_t EtcdStoreImpl::TickFloor() const {
  absl::MutexLock lock(&mu_);
  return std::max(floor_, issued_at_start_);
}

int64_t EtcdStoreImpl::LogoutFloor() const {
  absl::MutexLock lock(&mu_);
  return floor_;
}

absl::Status EtcdStoreImpl::ReserveTicks(int64_t) {
  // Nothing to reserve: every instant handed out is recorded in this
  // replica's issued/ row before its token leaves (PutSession,
  // RotateRefreshToken, RecordInstant), so TickFloor at start lies above
  // all of them. A reservation ahead of the clock would instead be read by
  // every logout, and each would push the instants further ahead.
  return absl::OkStatus();
}

absl::Status EtcdStoreImpl::RecordInstant(int64_t instant_us) {
  for (int attempt = 0; attempt < max_attempts_; ++attempt) {
    TxnRequest txn;
    RequireValueBelow(&txn, FloorKey(), Hex16(instant_us));
    RaiseIssued(&txn, instant_us);
    // On failure, the floor: what the caller must stamp above.
    txn.add_failure()->mutable_request_range()->set_key(FloorKey());
    absl::StatusOr<TxnResponse> committed = Commit(txn);
    if (!committed.ok()) {
      if (committed.status().code() == absl::StatusCode::kAborted) continue;
      return committed.status();
    }
    if (committed->succeeded()) return absl::OkStatus();
    const auto& floor = committed->responses(0).response_range().kvs();
    if (floor.size() != 1) return Corrupt(FloorKey());
    std::optional<int64_t> floor_us = ParseHex16(floor[0].value());
    if (!floor_us.has_value()) return Corrupt(FloorKey());
    RaiseFloor(*floor_us);
    return absl::AbortedError(
        "instant below a logout committed at another replica; stamp again");
  }
  return Contended("cannot record instant");
}

absl::Status EtcdStoreImpl::Init() {
  if (replica_id_.empty()) {
    unsigned char bytes[8];
    if (RAND_bytes(bytes, sizeof(bytes)) != 1) {
      return absl::InternalError("cannot draw a replica id from the CSPRNG");
    }
    replica_id_ = absl::BytesToHexString(
        absl::string_view(reinterpret_cast<const char*>(bytes), sizeof(bytes)));
  }
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) {
    return absl::InternalError("cannot draw a store id from the CSPRNG");
  }
  const std::string fresh_id = absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(bytes), sizeof(bytes)));

  // Creates the metadata if the id is absent, all in one Txn, so that two
  // replicas starting together agree on one id; reads it back either way.
  TxnRequest txn;
  Compare* absent = txn.add_compare();
  absent->set_target(Compare::CREATE);
  absent->set_result(Compare::EQUAL);
  absent->set_key(MetaKey("id"));
  absent->set_create_revision(0);
  AddPut(&txn, MetaKey("id"), fresh_id);
  AddPut(&txn, MetaKey("format"), absl::StrCat(kEtcdFormatVersion));
  AddPut(&txn, HeadKey(), Hex16(0));
  AddPut(&txn, FloorKey(), Hex16(0));
  AddPut(&txn, IssuedPrefix(), Hex16(0));
  absl::StatusOr<TxnResponse> created = client_->Txn(txn, Retry::kIdempotent);
  if (!created.ok()) return created.status();

  TxnRequest reads;
  AddRange(&reads, MetaKey("id"));
  AddRange(&reads, MetaKey("format"));
  AddRange(&reads, HeadKey());
  AddRange(&reads, FloorKey());
  AddRange(&reads, IssuedPrefix(), PrefixEnd(IssuedPrefix()));
  absl::StatusOr<TxnResponse> read = Read(reads);
  if (!read.ok()) return read.status();
  auto single = [&](int i) -> const KeyValue* {
    const auto& range = read->responses(i).response_range();
    return range.kvs_size() == 1 ? &range.kvs(0) : nullptr;
  };
  const KeyValue* id = single(0);
  const KeyValue* format = single(1);
  const KeyValue* head = single(2);
  const KeyValue* floor = single(3);
  int64_t version = 0;
  if (id == nullptr || id->value().size() != 32) return Corrupt(MetaKey("id"));
  if (format == nullptr || !absl::SimpleAtoi(format->value(), &version)) {
    return Corrupt(MetaKey("format"));
  }
  if (version > kEtcdFormatVersion) {
    return absl::FailedPreconditionError(absl::StrCat(
        "etcd prefix ", prefix_, " has store format version ", version,
        "; this sigild reads up to version ", kEtcdFormatVersion));
  }
  std::optional<int64_t> seq =
      head == nullptr ? std::nullopt : ParseHex16(head->value());
  if (!seq.has_value()) return Corrupt(HeadKey());
  std::optional<int64_t> floor_us =
      floor == nullptr ? std::nullopt : ParseHex16(floor->value());
  if (!floor_us.has_value()) return Corrupt(FloorKey());
  int64_t issued = 0;
  for (const KeyValue& kv : read->responses(4).response_range().kvs()) {
    std::optional<int64_t> instant = ParseHex16(kv.value());
    if (!instant.has_value()) return Corrupt(kv.key());
    issued = std::max(issued, *instant);
  }
  // This replica's row, which logins and rotations only ever raise (a value
  // compare needs the key to exist). Rows are never deleted: a replica
  // idle for long may still issue, and a raise of a row some other replica
  // had deleted would fail its compare and record nothing.
  TxnRequest row;
  Compare* new_row = row.add_compare();
  new_row->set_target(Compare::CREATE);
  new_row->set_result(Compare::EQUAL);
  new_row->set_key(IssuedKey());
  new_row->set_create_revision(0);
  AddPut(&row, IssuedKey(), Hex16(0));
  absl::StatusOr<TxnResponse> row_created = Commit(row);
  if (!row_created.ok()) return row_created.status();
  // Bound to etcd's cluster id, which a restore from a backup changes: the
  // restored store, whose seqs and floor went back, then has another id,
  // and every subscriber starts over instead of waiting for seqs it had
  // already seen.
  id_ = absl::StrCat(id->value().substr(0, 16),
                     absl::StrFormat("%016x", read->header().cluster_id()));
  absl::MutexLock lock(&mu_);
  last_seq_ = static_cast<uint64_t>(*seq);
  floor_ = *floor_us;
  issued_at_start_ = issued;
  return absl::OkStatus();
}

// Revocations.

absl::StatusOr<std::vector<Store::AppendResult>>
EtcdStoreImpl::AppendRevocations(
    absl::Span<const token::Revocation> revocations,
    absl::Span<const RecordIf> conditions) {
  if (!conditions.empty() && conditions.size() != revocations.size()) {
    return absl::InvalidArgumentError("one condition per revocation, or none");
  }
  for (const token::Revocation& revocation : revocations) {
    if (IsSubjectLevel(revocation.scope)) {
      absl::Status checked = CheckSubject(revocation.subject);
      if (!checked.ok()) return checked;
    }
  }
  std::vector<AppendResult> results(revocations.size());
  // A revocation's operations: its table entry and event, a session's
  // record, or one counter per system of its subject (bounded by the
  // caller's validation); chunks stay well inside one Txn.
  constexpr size_t kChunk = 16;
  for (size_t begin = 0; begin < revocations.size(); begin += kChunk) {
    const size_t size = std::min(kChunk, revocations.size() - begin);
    absl::Status appended = AppendChunk(
        revocations.subspan(begin, size),
        conditions.empty() ? conditions : conditions.subspan(begin, size),
        absl::MakeSpan(results).subspan(begin, size));
    if (!appended.ok()) return appended;
  }
  return results;
}

absl::Status EtcdStoreImpl::AppendChunk(
    absl::Span<const token::Revocation> revocations,
    absl::Span<const RecordIf> conditions, absl::Span<AppendResult> results) {
  for (int attempt = 0; attempt < max_attempts_; ++attempt) {
    // Read everything the write depends on at one revision.
    TxnRequest reads;
    AddRange(&reads, HeadKey());
    AddRange(&reads, FloorKey());
    AddRange(&reads, IssuedPrefix(), PrefixEnd(IssuedPrefix()));
    std::vector<std::string> counter_prefixes;
    for (const token::Revocation& revocation : revocations) {
      AddRange(&reads, RevocationsPrefix() + RevocationKey(revocation));
      if (IsSubjectLevel(revocation.scope)) {
        const std::string prefix =
            SessionsKey(CounterPrefix(revocation.subject));
        counter_prefixes.push_back(prefix);
        AddRange(&reads, prefix, PrefixEnd(prefix));
      }
    }
    absl::StatusOr<TxnResponse> read = Read(reads);
    if (!read.ok()) return read.status();
    const int64_t revision = read->header().revision();
    auto kvs =
        [&](int i) -> const google::protobuf::RepeatedPtrField<KeyValue>& {
      return read->responses(i).response_range().kvs();
    };
    if (kvs(0).size() != 1) return Corrupt(HeadKey());
    std::optional<int64_t> head = ParseHex16(kvs(0)[0].value());
    if (!head.has_value()) return Corrupt(HeadKey());
    if (kvs(1).size() != 1) return Corrupt(FloorKey());
    std::optional<int64_t> floor = ParseHex16(kvs(1)[0].value());
    if (!floor.has_value()) return Corrupt(FloorKey());
    int64_t issued = 0;
    for (const KeyValue& kv : kvs(2)) {
      std::optional<int64_t> instant = ParseHex16(kv.value());
      if (!instant.has_value()) return Corrupt(kv.key());
      issued = std::max(issued, *instant);
    }
    const int64_t head_mod = kvs(0)[0].mod_revision();

    TxnRequest txn;
    // Seqs and revocation entries: no other append committed since the
    // read (every append rewrites the head).
    Compare* same_head = txn.add_compare();
    same_head->set_target(Compare::MOD);
    same_head->set_result(Compare::EQUAL);
    same_head->set_key(HeadKey());
    same_head->set_mod_revision(head_mod);
    const int64_t now_us = absl::ToUnixMicros(clock_->Now());
    uint64_t seq = static_cast<uint64_t>(*head);
    int64_t new_floor = *floor;
    int64_t lowest_not_before = INT64_MAX;
    // Entries written by this Txn, so that a later revocation of the same
    // target merges with an earlier one.
    std::map<std::string, token::Revocation> entries;
    std::map<std::string, SessionCounter> counters_written;
    int next_read = 3;
    size_t next_prefix = 0;
    absl::Status planned = absl::OkStatus();
    for (size_t i = 0; i < revocations.size() && planned.ok(); ++i) {
      token::Revocation revocation = revocations[i];
      AppendResult& result = results[i];
      result = AppendResult();
      const auto& existing = kvs(next_read++);
      std::map<std::string, SessionCounter> counters;
      std::string counter_prefix;
      if (IsSubjectLevel(revocation.scope)) {
        counter_prefix = counter_prefixes[next_prefix];
        auto decoded = DecodeCounters(
            std::vector<KeyValue>(kvs(next_read).begin(), kvs(next_read).end()),
            counter_prefix.size());
        ++next_read;
        ++next_prefix;
        if (!decoded.ok()) {
          planned = decoded.status();
          break;
        }
        counters = *std::move(decoded);
        // What an earlier revocation of this Txn wrote.
        for (const auto& [key, counter] : counters_written) {
          if (absl::StartsWith(key, counter_prefix)) {
            counters[key.substr(counter_prefix.size())] = counter;
          }
        }
        // Every counter of the subject, as read: a login counted after the
        // read fails the Txn, so none slips between the read and the
        // marks.
        RequireUnchangedSince(&txn, counter_prefix, revision,
                              PrefixEnd(counter_prefix));
      }
      if (!conditions.empty() && conditions[i] == RecordIf::kIfLoggedIn &&
          revocation.scope == token::RevocationScope::kSubjectSystem) {
        auto it = counters.find(revocation.system);
        if (it == counters.end() || it->second.tokens_until_us <= now_us) {
          result.recorded = false;
          continue;
        }
      }
      if (revocation.scope != token::RevocationScope::kToken) {
        // Ordered after every instant any replica has handed out, whatever
        // this replica's clock says; the Txn's compare below holds that
        // true up to the commit. Its expiry moves with it, since it counts
        // from the instant (see Authority::CommitRevocations).
        const int64_t ordered = std::max(revocation.not_before_us, issued + 1);
        revocation.expires_at +=
            absl::Microseconds(ordered - revocation.not_before_us);
        revocation.not_before_us = ordered;
        lowest_not_before = std::min(lowest_not_before, ordered);
      }
      result.seq = ++seq;
      revocation.seq = result.seq;
      result.not_before_us = revocation.not_before_us;
      result.expires_at = revocation.expires_at;
      new_floor = std::max(new_floor, revocation.not_before_us);

      const std::string key = RevocationsPrefix() + RevocationKey(revocation);
      token::Revocation entry = revocation;
      std::optional<token::Revocation> previous;
      auto earlier = entries.find(key);
      if (earlier != entries.end()) {
        previous = earlier->second;
      } else if (!existing.empty()) {
        previous = DecodeRevocation(existing[0].value());
        if (!previous.has_value()) {
          planned = Corrupt(key);
          break;
        }
      }
      if (previous.has_value()) {
        entry.not_before_us =
            std::max(entry.not_before_us, previous->not_before_us);
        entry.expires_at = std::max(entry.expires_at, previous->expires_at);
      }
      entries[key] = entry;
      absl::StatusOr<int64_t> entry_lease = LeaseFor(entry.expires_at);
      if (!entry_lease.ok()) return entry_lease.status();
      AddPut(&txn, key, EncodeRevocation(entry), *entry_lease);
      absl::StatusOr<int64_t> event_lease = LeaseFor(revocation.expires_at);
      if (!event_lease.ok()) return event_lease.status();
      AddPut(&txn, EventKey(result.seq), EncodeRevocation(revocation),
             *event_lease);

      if (revocation.scope == token::RevocationScope::kSession &&
          !revocation.subject.empty()) {
        AddDelete(&txn, SessionsKey(SessionKey(revocation.subject,
                                               revocation.session_id)));
      }
      if (IsSubjectLevel(revocation.scope)) {
        // As RocksStore's EndSessions: a marker at every covered system,
        // the live sessions counted there reported once.
        auto mark = [&](const std::string& system,
                        const SessionCounter* before) -> absl::Status {
          SessionCounter marked{0, absl::ToUnixMicros(revocation.expires_at),
                                revocation.not_before_us, 0};
          if (before != nullptr) {
            if (before->expires_us > now_us) {
              result.revoked_sessions += before->sessions;
            }
            marked.expires_us = std::max(marked.expires_us, before->expires_us);
            marked.logged_out_us =
                std::max(marked.logged_out_us, before->logged_out_us);
            marked.tokens_until_us = before->tokens_until_us;
          }
          const std::string key = counter_prefix + system;
          counters_written[key] = marked;
          absl::StatusOr<int64_t> lease = LeaseFor(absl::FromUnixMicros(
              std::max(marked.expires_us, marked.tokens_until_us)));
          if (!lease.ok()) return lease.status();
          AddPut(&txn, key, EncodeCounter(marked), *lease);
          return absl::OkStatus();
        };
        if (revocation.scope == token::RevocationScope::kSubjectSystem) {
          auto it = counters.find(revocation.system);
          planned = mark(revocation.system,
                         it == counters.end() ? nullptr : &it->second);
        } else {
          for (const auto& [system, counter] : counters) {
            if (system.empty()) continue;
            planned = mark(system, &counter);
            if (!planned.ok()) break;
          }
          if (planned.ok()) {
            // Not counted: the subject-wide entry is only a marker.
            auto everywhere = counters.find("");
            const int64_t counted = result.revoked_sessions;
            planned =
                mark("", everywhere == counters.end() ? nullptr
                                                      : &everywhere->second);
            result.revoked_sessions = counted;
          }
        }
      }
    }
    if (!planned.ok()) return planned;
    if (seq == static_cast<uint64_t>(*head)) return absl::OkStatus();
    if (lowest_not_before != INT64_MAX) {
      // Every instant handed out so far lies below this logout.
      RequireValueBelow(&txn, IssuedPrefix(), Hex16(lowest_not_before),
                        PrefixEnd(IssuedPrefix()));
    }
    AddPut(&txn, HeadKey(), Hex16(static_cast<int64_t>(seq)));
    AddPut(&txn, FloorKey(), Hex16(new_floor));
    KeepLastPuts(&txn);
    if (txn.success_size() > kMaxTxnOps) {
      return absl::InvalidArgumentError(
          "revocations need more operations than one etcd Txn takes");
    }
    absl::StatusOr<TxnResponse> committed = Commit(txn);
    if (!committed.ok()) {
      if (committed.status().code() == absl::StatusCode::kAborted) continue;
      return committed.status();
    }
    if (committed->succeeded()) {
      RaiseLastSeq(seq);
      RaiseFloor(new_floor);
      return absl::OkStatus();
    }
  }
  return Contended("cannot append revocation");
}

absl::Status EtcdStoreImpl::ForEachRevocation(
    const std::function<void(const token::Revocation&)>& fn) {
  absl::StatusOr<std::vector<KeyValue>> all =
      ReadAll(RevocationsPrefix(), PrefixEnd(RevocationsPrefix()), nullptr);
  if (!all.ok()) return all.status();
  for (const KeyValue& kv : *all) {
    std::optional<token::Revocation> revocation = DecodeRevocation(kv.value());
    if (!revocation.has_value()) return Corrupt(kv.key());
    fn(*revocation);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<token::Revocation>> EtcdStoreImpl::ReadEvents(
    uint64_t after_seq, size_t limit) {
  std::vector<token::Revocation> events;
  if (limit == 0 || after_seq >= static_cast<uint64_t>(INT64_MAX)) {
    return events;
  }
  RangeRequest range;
  range.set_key(EventKey(after_seq + 1));
  range.set_range_end(PrefixEnd(EventsPrefix()));
  range.set_limit(static_cast<int64_t>(std::min<size_t>(limit, 1024)));
  absl::StatusOr<etcdserverpb::RangeResponse> read = client_->Range(range);
  if (!read.ok()) return read.status();
  for (const KeyValue& kv : read->kvs()) {
    std::optional<token::Revocation> event = DecodeRevocation(kv.value());
    if (!event.has_value()) return Corrupt(kv.key());
    events.push_back(*std::move(event));
  }
  return events;
}

absl::StatusOr<int64_t> EtcdStoreImpl::ReadEventsAfter(
    uint64_t after_seq, std::vector<token::Revocation>* events) {
  int64_t revision = 0;
  absl::StatusOr<std::vector<KeyValue>> all =
      ReadAll(EventKey(after_seq + 1), PrefixEnd(EventsPrefix()), &revision);
  if (!all.ok()) return all.status();
  for (const KeyValue& kv : *all) {
    std::optional<token::Revocation> event = DecodeRevocation(kv.value());
    if (!event.has_value()) return Corrupt(kv.key());
    events->push_back(*std::move(event));
  }
  return revision;
}

// Reads the log, then watches it from the revision read; when the watch
// ends for good, reads again from the last seq delivered.
class EventFollower final : public EtcdStore::Follower {
 public:
  EventFollower(EtcdStoreImpl* store, EtcdClient* client, uint64_t after_seq,
                EtcdStore::OnEvents on_events)
      : store_(store),
        client_(client),
        on_events_(std::move(on_events)),
        delivered_(after_seq),
        thread_([this] { Run(); }) {}

  ~EventFollower() override {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
    }
    thread_.join();
  }

 private:
  void Run() {
    while (true) {
      {
        absl::MutexLock lock(&mu_);
        if (stopping_) return;
        watch_ended_ = false;
      }
      std::unique_ptr<etcd::EtcdWatch> watch;
      const bool started = Start(&watch).ok();
      {
        absl::MutexLock lock(&mu_);
        auto done = [this] {
          mu_.AssertHeld();
          return stopping_ || watch_ended_;
        };
        // Until the watch ends or the follower stops; a failed start (etcd
        // unreachable) is tried again after a pause.
        if (started) {
          mu_.Await(absl::Condition(&done));
        } else {
          mu_.AwaitWithTimeout(absl::Condition(&stopping_),
                               absl::Milliseconds(200));
        }
      }
      // Outside mu_: the watch's callbacks take it.
      watch.reset();
    }
  }

  absl::Status Start(std::unique_ptr<etcd::EtcdWatch>* watch) {
    std::vector<token::Revocation> events;
    uint64_t after;
    {
      absl::MutexLock lock(&deliver_mu_);
      after = delivered_;
    }
    absl::StatusOr<int64_t> revision = store_->ReadEventsAfter(after, &events);
    if (!revision.ok()) return revision.status();
    Deliver(std::move(events));
    etcd::WatchOptions options;
    options.key = store_->EventsPrefix();
    options.start_revision = *revision + 1;
    absl::StatusOr<std::unique_ptr<etcd::EtcdWatch>> started = client_->Watch(
        options,
        [this](etcd::WatchBatch batch) {
          std::vector<token::Revocation> events;
          for (const mvccpb::Event& event : batch.events) {
            // Deletions are events expiring with their lease.
            if (event.type() != mvccpb::Event::PUT) continue;
            std::optional<token::Revocation> decoded =
                DecodeRevocation(event.kv().value());
            if (decoded.has_value()) events.push_back(*std::move(decoded));
          }
          Deliver(std::move(events));
        },
        [this](const etcd::WatchEnd&) {
          absl::MutexLock lock(&mu_);
          watch_ended_ = true;
        });
    if (!started.ok()) return started.status();
    *watch = *std::move(started);
    return absl::OkStatus();
  }

  void Deliver(std::vector<token::Revocation> events) {
    absl::MutexLock lock(&deliver_mu_);
    // A read after a watch ended overlaps what the watch delivered.
    events.erase(std::remove_if(events.begin(), events.end(),
                                [this](const token::Revocation& event) {
                                  deliver_mu_.AssertHeld();
                                  return event.seq <= delivered_;
                                }),
                 events.end());
    if (events.empty()) return;
    int64_t floor = 0;
    for (const token::Revocation& event : events) {
      floor = std::max(floor, event.not_before_us);
    }
    delivered_ = events.back().seq;
    store_->RaiseLastSeq(delivered_);
    store_->RaiseFloor(floor);
    on_events_(std::move(events));
  }

  EtcdStoreImpl* const store_;
  EtcdClient* const client_;
  const EtcdStore::OnEvents on_events_;

  // Serializes deliveries (the catch-up read and the watch's thread).
  absl::Mutex deliver_mu_;
  uint64_t delivered_ ABSL_GUARDED_BY(deliver_mu_);

  absl::Mutex mu_ ABSL_ACQUIRED_AFTER(deliver_mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool watch_ended_ ABSL_GUARDED_BY(mu_) = false;

  std::thread thread_;
};

absl::StatusOr<std::unique_ptr<EtcdStore::Follower>> EtcdStoreImpl::Follow(
    uint64_t after_seq, OnEvents on_events) {
  return std::unique_ptr<Follower>(
      new EventFollower(this, client_, after_seq, std::move(on_events)));
}

// Sessions.

absl::StatusOr<std::map<std::string, SessionCounter>>
EtcdStoreImpl::DecodeCounters(const std::vector<KeyValue>& kvs,
                              size_t prefix_size) const {
  std::map<std::string, SessionCounter> counters;
  for (const KeyValue& kv : kvs) {
    std::optional<SessionCounter> counter = DecodeCounter(kv.value());
    if (!counter.has_value()) return Corrupt(kv.key());
    counters.emplace(kv.key().substr(prefix_size), *counter);
  }
  return counters;
}

std::optional<Session> EtcdStoreImpl::Alive(
    Session session, const std::map<std::string, SessionCounter>& counters) {
  return AliveSession(std::move(session), counters, clock_->Now());
}

absl::Status EtcdStoreImpl::PutSession(const Session& session,
                                       const std::string& refresh_hash) {
  absl::Status checked = CheckSubject(session.subject);
  if (!checked.ok()) return checked;
  return session_puts_.Submit(SessionPut{&session, &refresh_hash});
}

void EtcdStoreImpl::CommitSessions(absl::Span<SessionPuts::Slot* const> batch) {
  // As many logins per Txn as its operations allow: three puts and a
  // counter per system each, plus the Txn's own.
  size_t begin = 0;
  while (begin < batch.size()) {
    size_t end = begin;
    size_t ops = 1;
    while (end < batch.size()) {
      const size_t more = 3 + batch[end]->op.session->systems.size();
      if (end > begin && ops + more > kMaxTxnOps) break;
      ops += more;
      ++end;
    }
    const absl::Span<SessionPuts::Slot* const> group =
        batch.subspan(begin, end - begin);
    absl::Status done = Contended("cannot record session");
    for (int attempt = 0; attempt < max_attempts_; ++attempt) {
      bool retry = false;
      done = TrySessions(group, &retry);
      if (!retry) break;
      done = Contended("cannot record session");
    }
    for (SessionPuts::Slot* slot : group) {
      if (slot->result.ok() && !done.ok()) slot->result = done;
    }
    begin = end;
  }
}

absl::Status EtcdStoreImpl::TrySessions(
    absl::Span<SessionPuts::Slot* const> batch, bool* retry) {
  // The counters of every subject in the batch, and the floor, at one
  // revision.
  TxnRequest reads;
  AddRange(&reads, FloorKey());
  std::vector<std::string> subjects;
  for (SessionPuts::Slot* slot : batch) {
    subjects.push_back(slot->op.session->subject);
  }
  std::sort(subjects.begin(), subjects.end());
  subjects.erase(std::unique(subjects.begin(), subjects.end()), subjects.end());
  for (const std::string& subject : subjects) {
    const std::string prefix = SessionsKey(CounterPrefix(subject));
    AddRange(&reads, prefix, PrefixEnd(prefix));
  }
  absl::StatusOr<TxnResponse> read = Read(reads);
  if (!read.ok()) return read.status();
  const int64_t revision = read->header().revision();
  const auto& floor_kvs = read->responses(0).response_range().kvs();
  if (floor_kvs.size() != 1) return Corrupt(FloorKey());
  std::optional<int64_t> floor = ParseHex16(floor_kvs[0].value());
  if (!floor.has_value()) return Corrupt(FloorKey());
  RaiseFloor(*floor);
  std::map<std::string, SessionCounter> counters;  // by full key
  for (size_t i = 0; i < subjects.size(); ++i) {
    for (const KeyValue& kv :
         read->responses(static_cast<int>(i) + 1).response_range().kvs()) {
      std::optional<SessionCounter> counter = DecodeCounter(kv.value());
      if (!counter.has_value()) return Corrupt(kv.key());
      counters.emplace(kv.key(), *counter);
    }
  }

  TxnRequest txn;
  const int64_t now_us = absl::ToUnixMicros(clock_->Now());
  int64_t lowest = INT64_MAX;
  int64_t highest = 0;
  std::vector<SessionPuts::Slot*> included;
  for (SessionPuts::Slot* slot : batch) {
    const Session& session = *slot->op.session;
    // Stamped below a logout this replica had not yet seen: the caller
    // stamps again above the floor, now known.
    if (session.created_us <= *floor) {
      slot->result = absl::AbortedError(
          "instant below a logout committed at another replica; stamp again");
      continue;
    }
    slot->result = absl::OkStatus();
    included.push_back(slot);
    lowest = std::min(lowest, session.created_us);
    highest = std::max(highest, session.created_us);
    const int64_t expires_us = absl::ToUnixMicros(session.expires_at);
    const int64_t tokens_until_us =
        absl::ToUnixMicros(session.expires_at + session.access_ttl);
    absl::StatusOr<int64_t> lease = LeaseFor(session.expires_at);
    if (!lease.ok()) return lease.status();
    AddPut(&txn, SessionsKey(SessionKey(session.subject, session.session_id)),
           EncodeSession(session), *lease);
    AddPut(&txn, SessionsKey(RefreshKey(*slot->op.refresh_hash)),
           EncodeRefreshToken(RefreshToken{*slot->op.refresh_hash,
                                           session.subject, session.session_id},
                              session.expires_at),
           *lease);
    std::set<std::string> systems(session.systems.begin(),
                                  session.systems.end());
    systems.insert("");
    for (const std::string& system : systems) {
      const std::string key = SessionsKey(CounterKey(session.subject, system));
      auto previous = counters.find(key);
      if (system.empty() && previous == counters.end()) continue;
      SessionCounter counter{0, expires_us, 0, tokens_until_us};
      if (previous != counters.end()) {
        const SessionCounter& before = previous->second;
        counter.logged_out_us = before.logged_out_us;
        counter.expires_us = std::max(expires_us, before.expires_us);
        counter.tokens_until_us =
            std::max(tokens_until_us, before.tokens_until_us);
        if (before.expires_us > now_us) counter.sessions = before.sessions;
      }
      if (!system.empty()) ++counter.sessions;
      counters[key] = counter;
      absl::StatusOr<int64_t> counter_lease = LeaseFor(absl::FromUnixMicros(
          std::max(counter.expires_us, counter.tokens_until_us)));
      if (!counter_lease.ok()) return counter_lease.status();
      AddPut(&txn, key, EncodeCounter(counter), *counter_lease);
    }
  }
  if (included.empty()) return absl::OkStatus();
  KeepLastPuts(&txn);
  for (const std::string& subject : subjects) {
    const std::string prefix = SessionsKey(CounterPrefix(subject));
    RequireUnchangedSince(&txn, prefix, revision, PrefixEnd(prefix));
  }
  // No logout committed since these instants were stamped above the floor.
  RequireValueBelow(&txn, FloorKey(), Hex16(lowest));
  // Every logout from now on is ordered after these instants.
  RaiseIssued(&txn, highest);

  absl::StatusOr<TxnResponse> committed = Commit(txn);
  if (!committed.ok()) {
    if (committed.status().code() == absl::StatusCode::kAborted) {
      *retry = true;
      return absl::OkStatus();
    }
    return committed.status();
  }
  if (!committed->succeeded()) {
    *retry = true;
    return absl::OkStatus();
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<Session>> EtcdStoreImpl::GetSession(
    absl::string_view subject, absl::string_view session_id) {
  TxnRequest reads;
  AddRange(&reads, SessionsKey(SessionKey(subject, session_id)));
  const std::string prefix = SessionsKey(CounterPrefix(subject));
  AddRange(&reads, prefix, PrefixEnd(prefix));
  AddRange(&reads, FloorKey());
  absl::StatusOr<TxnResponse> read = Read(reads);
  if (!read.ok()) return read.status();
  // What a refresh stamps next must lie above every logout seen here.
  const auto& floor = read->responses(2).response_range().kvs();
  if (floor.size() == 1) {
    std::optional<int64_t> floor_us = ParseHex16(floor[0].value());
    if (floor_us.has_value()) RaiseFloor(*floor_us);
  }
  const auto& found = read->responses(0).response_range().kvs();
  if (found.empty()) return std::optional<Session>();
  std::optional<Session> session = DecodeSession(found[0].value());
  if (!session.has_value()) return Corrupt(found[0].key());
  const auto& counter_kvs = read->responses(1).response_range().kvs();
  auto counters = DecodeCounters(
      std::vector<KeyValue>(counter_kvs.begin(), counter_kvs.end()),
      prefix.size());
  if (!counters.ok()) return counters.status();
  return Alive(*std::move(session), *counters);
}

absl::StatusOr<std::vector<Session>> EtcdStoreImpl::ListSessionsAfter(
    absl::string_view subject, absl::string_view after, size_t limit) {
  const std::string counter_prefix = SessionsKey(CounterPrefix(subject));
  int64_t revision = 0;
  absl::StatusOr<std::vector<KeyValue>> counter_kvs =
      ReadAll(counter_prefix, PrefixEnd(counter_prefix), &revision);
  if (!counter_kvs.ok()) return counter_kvs.status();
  auto counters = DecodeCounters(*counter_kvs, counter_prefix.size());
  if (!counters.ok()) return counters.status();
  const std::string prefix = SessionsKey(SessionPrefix(subject));
  std::vector<Session> sessions;
  // Keys sort by session id within the subject: each page starts right
  // after the last id read.
  std::string from = SessionsKey(SessionKey(subject, after)) +
                     std::string(after.empty() ? 0 : 1, '\0');
  while (sessions.size() < limit) {
    RangeRequest range;
    range.set_key(from);
    range.set_range_end(PrefixEnd(prefix));
    range.set_limit(256);
    range.set_revision(revision);
    absl::StatusOr<etcdserverpb::RangeResponse> page = client_->Range(range);
    if (!page.ok()) return page.status();
    for (const KeyValue& kv : page->kvs()) {
      if (sessions.size() >= limit) break;
      std::optional<Session> session = DecodeSession(kv.value());
      if (!session.has_value()) return Corrupt(kv.key());
      std::optional<Session> alive = Alive(*std::move(session), *counters);
      if (alive.has_value()) sessions.push_back(*std::move(alive));
    }
    if (!page->more() || page->kvs().empty()) break;
    from = page->kvs(page->kvs_size() - 1).key() + std::string(1, '\0');
  }
  return sessions;
}

absl::StatusOr<std::optional<RefreshToken>> EtcdStoreImpl::GetRefreshToken(
    absl::string_view hash) {
  RangeRequest range;
  range.set_key(SessionsKey(RefreshKey(hash)));
  absl::StatusOr<etcdserverpb::RangeResponse> read = client_->Range(range);
  if (!read.ok()) return read.status();
  if (read->kvs().empty()) return std::optional<RefreshToken>();
  std::optional<RefreshToken> token =
      DecodeRefreshToken(hash, read->kvs(0).value());
  if (!token.has_value()) return Corrupt(read->kvs(0).key());
  return token;
}

absl::Status EtcdStoreImpl::RotateRefreshToken(
    const Session& session, const RefreshToken& spent,
    const std::string& successor_hash, absl::Time now) {
  return rotations_.Submit(Rotation{&session, &spent, &successor_hash, now});
}

void EtcdStoreImpl::CommitRotations(absl::Span<Rotations::Slot* const> batch) {
  // One Txn each: rotations of one session must see each other, and each
  // carries its own compares.
  for (Rotations::Slot* slot : batch) {
    slot->result = Contended("cannot rotate refresh token");
    for (int attempt = 0; attempt < max_attempts_; ++attempt) {
      bool retry = false;
      absl::Status done = TryRotation(slot->op, &retry);
      if (retry) continue;
      slot->result = done;
      break;
    }
  }
}

absl::Status EtcdStoreImpl::TryRotation(const Rotation& rotation, bool* retry) {
  const Session& read = *rotation.session;
  const absl::Status ended =
      absl::AbortedError("session ended while its refresh token was rotated");
  const std::string key =
      SessionsKey(SessionKey(read.subject, read.session_id));
  const std::string counter_prefix = SessionsKey(CounterPrefix(read.subject));
  TxnRequest reads;
  AddRange(&reads, key);
  AddRange(&reads, counter_prefix, PrefixEnd(counter_prefix));
  AddRange(&reads, FloorKey());
  absl::StatusOr<TxnResponse> got = Read(reads);
  if (!got.ok()) return got.status();
  const int64_t revision = got->header().revision();
  const auto& found = got->responses(0).response_range().kvs();
  // A session revocation deletes the record.
  if (found.empty()) return ended;
  std::optional<Session> stored = DecodeSession(found[0].value());
  if (!stored.has_value()) return Corrupt(key);
  if (stored->revision != read.revision) {
    return absl::AbortedError(
        "session was refreshed concurrently; read it again");
  }
  const auto& counter_kvs = got->responses(1).response_range().kvs();
  auto counters = DecodeCounters(
      std::vector<KeyValue>(counter_kvs.begin(), counter_kvs.end()),
      counter_prefix.size());
  if (!counters.ok()) return counters.status();
  if (!Alive(*stored, *counters).has_value()) return ended;
  const auto& floor = got->responses(2).response_range().kvs();
  if (floor.size() != 1) return Corrupt(FloorKey());
  std::optional<int64_t> floor_us = ParseHex16(floor[0].value());
  if (!floor_us.has_value()) return Corrupt(FloorKey());
  RaiseFloor(*floor_us);
  if (read.refreshed_us <= *floor_us) {
    return absl::AbortedError(
        "instant below a logout committed at another replica; stamp again");
  }

  stored->last_refreshed = read.last_refreshed;
  stored->idle_expires_at = read.idle_expires_at;
  ++stored->revision;
  RefreshToken rotated = *rotation.spent;
  rotated.rotated_at = rotation.now;
  absl::StatusOr<int64_t> lease = LeaseFor(stored->expires_at);
  if (!lease.ok()) return lease.status();

  TxnRequest txn;
  // The session and its counters as read: a logout, a session revocation
  // or another rotation committed since fails the Txn, and the next read
  // sees it.
  RequireUnchangedSince(&txn, key, revision);
  RequireUnchangedSince(&txn, counter_prefix, revision,
                        PrefixEnd(counter_prefix));
  Compare* exists = txn.add_compare();
  exists->set_target(Compare::CREATE);
  exists->set_result(Compare::GREATER);
  exists->set_key(key);
  exists->set_create_revision(0);
  RequireValueBelow(&txn, FloorKey(), Hex16(read.refreshed_us));
  AddPut(&txn, key, EncodeSession(*stored), *lease);
  AddPut(&txn, SessionsKey(RefreshKey(rotated.hash)),
         EncodeRefreshToken(rotated, stored->expires_at), *lease);
  AddPut(&txn, SessionsKey(RefreshKey(*rotation.successor_hash)),
         EncodeRefreshToken(RefreshToken{*rotation.successor_hash,
                                         stored->subject, stored->session_id},
                            stored->expires_at),
         *lease);
  RaiseIssued(&txn, read.refreshed_us);
  absl::StatusOr<TxnResponse> committed = Commit(txn);
  if (!committed.ok()) {
    if (committed.status().code() == absl::StatusCode::kAborted) {
      *retry = true;
      return absl::OkStatus();
    }
    return committed.status();
  }
  if (!committed->succeeded()) *retry = true;
  return absl::OkStatus();
}

// Keys.

absl::Status EtcdStoreImpl::PutKey(const KeyRecord& key) {
  TxnRequest txn;
  AddPut(&txn, KeysPrefix() + key.kid, EncodeKey(key));
  AddPut(&txn, KeysVersionKey(), "");
  absl::StatusOr<TxnResponse> committed = client_->Txn(txn, Retry::kIdempotent);
  if (!committed.ok()) return committed.status();
  return absl::OkStatus();
}

absl::StatusOr<KeyRecords> EtcdStoreImpl::ListKeys() {
  // One read of both, so the version is the one of these records. The key
  // set is a handful of records (retired keys leave after max_ttl), far
  // below one answer's size limit.
  TxnRequest reads;
  AddRange(&reads, KeysVersionKey());
  AddRange(&reads, KeysPrefix(), PrefixEnd(KeysPrefix()));
  absl::StatusOr<TxnResponse> read = Read(reads);
  if (!read.ok()) return read.status();
  KeyRecords records;
  const auto& version = read->responses(0).response_range();
  if (version.kvs_size() == 1) {
    records.version = static_cast<uint64_t>(version.kvs(0).mod_revision());
  }
  for (const KeyValue& kv : read->responses(1).response_range().kvs()) {
    std::optional<KeyRecord> key = DecodeKey(kv.value());
    if (!key.has_value()) return Corrupt(kv.key());
    records.keys.push_back(*std::move(key));
  }
  return records;
}

absl::StatusOr<uint64_t> EtcdStoreImpl::UpdateKeys(
    const std::vector<KeyRecord>& put, const std::vector<std::string>& remove,
    uint64_t version) {
  // The version key unchanged since the read (a mod_revision of 0 is an
  // absent key): of two replicas rotating at once, one commits.
  TxnRequest txn;
  Compare* compare = txn.add_compare();
  compare->set_target(Compare::MOD);
  compare->set_result(Compare::EQUAL);
  compare->set_key(KeysVersionKey());
  compare->set_mod_revision(static_cast<int64_t>(version));
  for (const KeyRecord& key : put) {
    AddPut(&txn, KeysPrefix() + key.kid, EncodeKey(key));
  }
  for (const std::string& kid : remove) AddDelete(&txn, KeysPrefix() + kid);
  AddPut(&txn, KeysVersionKey(), "");
  // Safe to resend: once applied, the compare fails. A resent update whose
  // first answer was lost thus reads ABORTED; the caller reloads and finds
  // its own write.
  absl::StatusOr<TxnResponse> committed = client_->Txn(txn, Retry::kIdempotent);
  if (!committed.ok()) return committed.status();
  if (!committed->succeeded()) {
    return absl::AbortedError(absl::StrCat(
        "the keys changed since they were read (version ", version, ")"));
  }
  // The put of the version key happened at the Txn's revision.
  return static_cast<uint64_t>(committed->header().revision());
}

}  // namespace

absl::StatusOr<std::unique_ptr<EtcdStore>> EtcdStore::Open(
    EtcdClient* client, const token::Clock* clock, const Options& options) {
  auto store = std::make_unique<EtcdStoreImpl>(client, clock, options);
  absl::Status initialized = store->Init();
  if (!initialized.ok()) return initialized;
  return std::unique_ptr<EtcdStore>(std::move(store));
}

}  // namespace sigil::server::store
