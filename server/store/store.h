#ifndef SIGIL_SERVER_STORE_STORE_H_
#define SIGIL_SERVER_STORE_STORE_H_

#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "token/revocation_index.h"

namespace sigil::server::store {

// A login: one Issue call, for one subject at one or more systems, kept
// alive by refreshes until its idle or absolute lifetime runs out.
struct Session {
  std::string session_id;
  std::string subject;
  // As read back: only the systems no logout has ended it at since it was
  // created.
  std::vector<std::string> systems;
  std::vector<std::string> scopes;
  absl::Time created;
  // The authority's instant of the Issue: a logout stamped later ends it.
  int64_t created_us = 0;
  absl::Time last_refreshed = absl::InfinitePast();
  absl::Time idle_expires_at;
  absl::Time expires_at;  // absolute
  // Lifetime of each access token the session hands out.
  absl::Duration access_ttl;
  // Keys the derivation of each refresh token from its predecessor, so two
  // concurrent refreshes of one token get the same successor.
  std::string refresh_secret;
  // The store's count of the session's refresh rotations: what
  // RotateRefreshToken compares to know the session is unchanged since it
  // was read.
  uint64_t revision = 0;
  // The instant of the access token a refresh hands out, set by the caller
  // of RotateRefreshToken: a replicated store orders it after every logout
  // it commits after. Not stored.
  int64_t refreshed_us = 0;
};

// A refresh token, known by the SHA-256 of its text only.
struct RefreshToken {
  std::string hash;
  std::string subject;
  std::string session_id;
  // Set once the token has been traded for its successor.
  absl::Time rotated_at = absl::InfinitePast();
  bool spent() const { return rotated_at != absl::InfinitePast(); }
};

// A signing key's metadata and, when the key manager has a key-encryption
// key, its private key sealed under it (KeyVault); otherwise the private key
// lives in a file of its own (mode 0600) under the data directory.
struct KeyRecord {
  // kUnstaged marks a record written before keys had stages; the key
  // manager derives its stage from its age.
  enum class Stage { kUnstaged, kNext, kActive, kRetired };

  std::string kid;
  std::string algorithm;  // "ES256", "EdDSA" or "RS256"
  absl::Time created;
  Stage stage = Stage::kUnstaged;
  // InfinitePast until the key becomes active / retired.
  absl::Time activated = absl::InfinitePast();
  absl::Time retired = absl::InfinitePast();
  // KeyVault::Seal of the PKCS#8 PEM private key; empty for a file key.
  std::string sealed_private_key = "";
};

// Every key record and the version of the key set they were read at.
struct KeyRecords {
  std::vector<KeyRecord> keys;
  // Changes with every key update (PutKey, UpdateKeys): what UpdateKeys
  // compares. 0 for a store no key update has reached.
  uint64_t version = 0;
};

// What the authority keeps durably. Every operation maps onto a small etcd
// transaction (a few keys, expiry as a lease, the event log as a revision
// range), so a replicated implementation can sit behind the same interface.
//
// Errors: UNAVAILABLE when the storage layer fails; callers fail closed.
// Thread-safe.
class Store {
 public:
  virtual ~Store() = default;

  // Assigns the next seqs to `revocations`, in order, records them in the
  // revocation table and the event log, and returns only after the write is
  // synced to disk: all of them or, on error, none. One result a
  // revocation, in the same order. A session revocation ends that session
  // (its refresh tokens with it). The subject-level scopes end the covered
  // sessions at the covered systems, and report how many sessions opened
  // there since the previous logout that covered them were alive (an
  // earlier revocation of the same call counts as previous). Cost is
  // bounded by the subjects' numbers of systems, never their sessions; one
  // call pays for one synced write, however many it holds.
  //
  // A subject-system logout appended kIfLoggedIn is recorded only while
  // the subject may hold a live token there: a login at that system whose
  // tokens, refreshed ones included, can still be alive (the counter's
  // login watermark). Otherwise it takes no seq, writes nothing and comes
  // back with recorded false. The check is made under the lock that orders
  // logins and logouts, inside the write. `conditions` is empty (all
  // kAlways) or one per revocation.
  enum class RecordIf { kAlways, kIfLoggedIn };
  struct AppendResult {
    uint64_t seq = 0;
    int64_t revoked_sessions = 0;
    bool recorded = true;
    // The not_before and expiry recorded, when recorded: the revocation's
    // own, or later ones where the store had to order the revocation after
    // instants it had not seen (see EtcdStore).
    int64_t not_before_us = 0;
    absl::Time expires_at;
  };
  virtual absl::StatusOr<std::vector<AppendResult>> AppendRevocations(
      absl::Span<const token::Revocation> revocations,
      absl::Span<const RecordIf> conditions) = 0;
  absl::StatusOr<std::vector<AppendResult>> AppendRevocations(
      absl::Span<const token::Revocation> revocations) {
    return AppendRevocations(revocations, {});
  }
  // The same for one revocation.
  absl::StatusOr<AppendResult> AppendRevocation(
      const token::Revocation& revocation) {
    auto appended = AppendRevocations(absl::MakeConstSpan(&revocation, 1));
    if (!appended.ok()) return appended.status();
    return appended->front();
  }

  // Calls `fn` for every revocation still in the table (expired entries
  // may be included until compaction drops them).
  virtual absl::Status ForEachRevocation(
      const std::function<void(const token::Revocation&)>& fn) = 0;

  // Events with seq > after_seq in seq order, at most `limit`. Seqs may
  // have gaps: an event past its expires_at covers only expired tokens and
  // may have been dropped.
  virtual absl::StatusOr<std::vector<token::Revocation>> ReadEvents(
      uint64_t after_seq, size_t limit) = 0;

  // The highest seq ever assigned (0 when none).
  virtual uint64_t LastSeq() const = 0;

  // A random name a new store picks once and keeps for life. Seqs count
  // within one store; a subscriber that followed another store (a replaced
  // or restored data dir) must start over, whatever its seq.
  virtual const std::string& Id() const = 0;

  // Records a new session and its first refresh token. Not synced: a
  // session lost in a crash only costs its holder a new login, never a
  // revocation. Concurrent calls may share one write. A store shared by
  // replicas refuses with ABORTED a session whose created_us a recorded
  // logout has reached (LogoutFloor() then says how far): the caller
  // stamps again above it.
  virtual absl::Status PutSession(const Session& session,
                                  const std::string& refresh_hash) = 0;

  // The session unless it was ended (a session revocation, or logouts at
  // every one of its systems) or has expired (absolute or idle) by the
  // store's clock.
  virtual absl::StatusOr<std::optional<Session>> GetSession(
      absl::string_view subject, absl::string_view session_id) = 0;
  // Such sessions of `subject` with ids above `after` ("" for all), in
  // session id order, at most `limit`; cost grows with the sessions read.
  virtual absl::StatusOr<std::vector<Session>> ListSessionsAfter(
      absl::string_view subject, absl::string_view after, size_t limit) = 0;
  // Every such session of `subject`.
  absl::StatusOr<std::vector<Session>> ListSessions(absl::string_view subject) {
    return ListSessionsAfter(subject, "", std::numeric_limits<size_t>::max());
  }

  virtual absl::StatusOr<std::optional<RefreshToken>> GetRefreshToken(
      absl::string_view hash) = 0;
  // Marks `spent` rotated at `now`, records `successor_hash` as the
  // session's live refresh token, and stores the session's new refresh and
  // idle instants with its revision bumped, in one synced write. The write
  // is conditional, checked inside it: the session must still be alive (no
  // session revocation, no logout of all its systems, not expired) and
  // still at `session.revision`, the revision it was read at. Otherwise
  // ABORTED and nothing is written: a revocation that lands between a
  // refresh's read and its rotation can never be undone by the rotation.
  // The caller reads again. Concurrent calls may share one write. A store
  // shared by replicas also answers ABORTED when a recorded logout has
  // reached `session.refreshed_us`.
  virtual absl::Status RotateRefreshToken(const Session& session,
                                          const RefreshToken& spent,
                                          const std::string& successor_hash,
                                          absl::Time now) = 0;

  // Writes one record unconditionally (a new version).
  virtual absl::Status PutKey(const KeyRecord& key) = 0;
  // Every record and the key set's version, read at one moment.
  virtual absl::StatusOr<KeyRecords> ListKeys() = 0;
  // Writes `put` and deletes the records of the kids in `remove` in one
  // synced write: a key rotation is never seen half done. The write is
  // conditional, checked inside it: the key set must still be at
  // `version` (from ListKeys); otherwise ABORTED and nothing is written,
  // so of two writers that read the same keys (replicas rotating at once)
  // exactly one wins and the other reads again. Returns the new version.
  virtual absl::StatusOr<uint64_t> UpdateKeys(
      const std::vector<KeyRecord>& put, const std::vector<std::string>& remove,
      uint64_t version) = 0;

  // Issue instants must stay above every instant handed out before a
  // restart, even if the wall clock steps back. The authority reserves a
  // horizon durably before issuing past it; TickFloor returns the highest
  // reserved horizon or revocation not_before ever recorded.
  virtual absl::Status ReserveTicks(int64_t until_us) = 0;
  virtual int64_t TickFloor() const = 0;
  // The highest not_before of a recorded revocation that this process
  // knows of: an instant handed out now must lie above it. Other replicas
  // of a shared store may raise it at any moment. Cheap.
  virtual int64_t LogoutFloor() const = 0;
  // Records that a token stamped `instant_us` is handed out without a
  // session write (a refresh retried within its grace window). A store
  // shared by replicas orders every later logout after it, or answers
  // ABORTED when a recorded logout has already reached it (stamp again);
  // a single-process store, whose logouts take their instants from the
  // same tick source, has nothing to record.
  virtual absl::Status RecordInstant(int64_t instant_us) = 0;
};

}  // namespace sigil::server::store

#endif  // SIGIL_SERVER_STORE_STORE_H_
