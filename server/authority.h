#ifndef SIGIL_SERVER_AUTHORITY_H_
#define SIGIL_SERVER_AUTHORITY_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "server/index_snapshot.h"
#include "server/key_manager.h"
#include "server/revocation_feed.h"
#include "server/store/group_commit.h"
#include "server/store/store.h"
#include "server/tick_source.h"
#include "token/claims_cache.h"
#include "token/clock.h"
#include "token/jwt.h"
#include "token/reason.h"
#include "token/revocation_index.h"

namespace sigil::server {

struct AuthorityOptions {
  std::string issuer = "sigil";
  // Lifetime of a token when Issue names none.
  absl::Duration default_ttl = absl::Minutes(15);
  // The longest lifetime Issue grants. Revocations are kept this long, so
  // it must not shrink across restarts while older tokens are alive.
  absl::Duration max_ttl = absl::Hours(24);
  // A session (and its refresh token) dies when not refreshed for
  // refresh_idle_ttl, and in any case refresh_ttl after its Issue.
  absl::Duration refresh_idle_ttl = absl::Hours(24);
  absl::Duration refresh_ttl = absl::Hours(24 * 7);
  // A spent refresh token presented again within this window gets the same
  // successor (a client retrying a refresh whose reply it lost); later, it
  // is reuse and ends the session.
  absl::Duration refresh_grace = absl::Seconds(2);
  // MaintainKeys rotates the keys once the active key has signed this long;
  // zero never.
  absl::Duration key_rotation_period = absl::ZeroDuration();
  // Tokens whose signatures verified are remembered (until their exp, this
  // many at most) so that Verify checks a signature once per token, not
  // once per call.
  size_t verified_cache_capacity = 100000;
  // A snapshot of the revocation index to start from (IndexSnapshot, in
  // server/index_snapshot.h) when it checks out; empty: scan the store.
  std::string index_snapshot;
  // Set for replicas of a shared store (EtcdStore): revocations reach the
  // index and the feed only through ApplyFollowed, whoever recorded them,
  // and a revocation recorded here is answered once it has come back that
  // way (within followed_apply_timeout, else UNAVAILABLE: recorded, but not
  // yet in force here).
  bool followed = false;
  absl::Duration followed_apply_timeout = absl::Seconds(5);
};

struct IssueParams {
  std::string subject;
  std::vector<std::string> systems;
  std::vector<std::string> scopes;
  std::optional<absl::Duration> ttl;
};

struct IssuedToken {
  std::string access_token;
  std::string refresh_token;
  std::string token_id;
  std::string session_id;
  absl::Time expires_at;
  std::string subject;
  std::vector<std::string> systems;
};

// The outcome of verifying a token: data, not an error.
struct Verdict {
  token::Reason reason = token::Reason::kMalformed;
  std::string message;
  // Set when reason is kValid.
  std::optional<token::JwtClaims> claims;
  // Until when a verifier may reuse this verdict; unset when it must not.
  std::optional<absl::Time> cache_until;
};

// Who a logout is for: exactly one of an operator-named subject or the
// holder of a token (whose own token names the subject).
struct LogoutTarget {
  std::string subject;
  std::string token;
};

struct LogoutResult {
  int64_t revoked_sessions = 0;
  uint64_t revocation_seq = 0;
  std::string subject;
};

// What Revoke ended; empty when the token was unknown, invalid or already
// revoked.
struct Revoked {
  std::string subject;
  std::vector<std::string> systems;
  std::string session_id;
  std::string token_id;
};

// A caller's right to act on a token or session valid at `systems`, asked
// once the authority knows them and before anything changes: OK, or the
// status the call then fails with. Empty: allowed.
using Authorize =
    std::function<absl::Status(absl::Span<const std::string> systems)>;

// The authority's logic, in absl terms: the gRPC edge only translates.
// Requests are validated here (INVALID_ARGUMENT with what is wrong);
// storage failures are UNAVAILABLE and never turn into a permissive answer.
// Every revocation is synced to disk and applied to the in-memory index
// before the call returns. Thread-safe.
class Authority {
 public:
  // Loads the revocation table from `store` into memory (from
  // options.index_snapshot and the events after it when it checks out,
  // else by a scan of the table; index_load() says which). `store`, `clock`
  // and `feed` (which receives every recorded revocation) are not owned and
  // must outlive the Authority.
  static absl::StatusOr<std::unique_ptr<Authority>> Create(
      AuthorityOptions options, store::Store* store, const token::Clock* clock,
      std::unique_ptr<KeyManager> keys, RevocationFeed* feed);

  // Opens a session for the subject at the systems named, with its first
  // refresh token.
  absl::StatusOr<IssuedToken> Issue(const IssueParams& params);

  // Trades a refresh token for a new access token (the session's live
  // systems and scopes) and the token's successor. UNAUTHENTICATED for an
  // unknown token, an ended or expired session, and reuse: a spent token
  // presented after the grace window ends its session (a session
  // revocation, streamed like any other) before the answer. A revocation
  // racing the call is never undone by it: the rotation is written only if
  // the session is still alive and unchanged (see Store::RotateRefreshToken);
  // ABORTED in the unlikely case that it changed at every one of a few
  // reads, which the caller may retry.
  absl::StatusOr<IssuedToken> Refresh(absl::string_view refresh_token,
                                      const Authorize& authorize = {});

  // The subject's live sessions, each with the systems it is still logged
  // in at.
  absl::StatusOr<std::vector<store::Session>> ListSessions(
      absl::string_view subject);
  // One page of them, in session id order: `page_size` sessions (0: 100,
  // at most 1000) after `page_token` (empty: from the first), and the token
  // of the next page, empty after the last. INVALID_ARGUMENT for a token
  // this authority did not hand out (it is a session id) or a negative
  // size.
  struct SessionPage {
    std::vector<store::Session> sessions;
    std::string next_page_token;
  };
  absl::StatusOr<SessionPage> ListSessionsPage(absl::string_view subject,
                                               absl::string_view page_token,
                                               int32_t page_size);

  // INVALID_ARGUMENT for an empty token or system or a malformed scope;
  // everything wrong with the token itself is a Verdict.
  absl::StatusOr<Verdict> Verify(
      absl::string_view token, absl::string_view system,
      absl::Span<const std::string> required_scopes) const;

  // A target given by token must verify (any revocation state); for
  // LogoutFromSystem the token must be issued for `system`. A bad token is
  // UNAUTHENTICATED, a token for other systems PERMISSION_DENIED. A logout
  // by subject of a subject who has no token that may still be alive at
  // `system` (no login there within a token's lifetime) records nothing
  // and answers 0 sessions, seq 0: it costs no state anywhere.
  absl::StatusOr<LogoutResult> LogoutFromSystem(absl::string_view system,
                                                const LogoutTarget& target);
  // For a target given by token, `authorize` is asked about the systems
  // the token is still valid at (not about those it was logged out of).
  absl::StatusOr<LogoutResult> LogoutAll(const LogoutTarget& target,
                                         const Authorize& authorize = {});

  // RFC 7009: revoking an invalid, expired or already revoked token
  // succeeds and changes nothing. An access token is revoked alone; a
  // refresh token ends its whole session; `authorize` is asked first about
  // the systems the access token is still valid at (all of its audience
  // when it is valid nowhere), or the session's live systems.
  absl::StatusOr<Revoked> Revoke(absl::string_view token,
                                 const Authorize& authorize = {});

  // The signing and published keys now, with their version.
  std::shared_ptr<const KeySnapshot> keys() const { return keys_->Current(); }
  // Promotes the next key, retires the active one, stages a new next key
  // and tells WatchRevocations streams. Returns the keys after it.
  // UNAVAILABLE when the store fails; the keys are then unchanged.
  absl::StatusOr<std::vector<KeyInfo>> RotateKeys();
  std::vector<KeyInfo> ListKeys() const;
  // Periodic: removes retired keys past their time and rotates when
  // key_rotation_period is due.
  absl::Status MaintainKeys();

  // Revocations in the in-memory index (expired ones until the next prune).
  size_t live_revocations() const { return index_.size(); }
  // The index, for writing snapshots of it; how it was loaded at start.
  const token::RevocationIndex& index() const { return index_; }
  const IndexLoad& index_load() const { return index_load_; }

  // With options.followed: applies events of the store's log to the index
  // and publishes them, in seq order; seqs already applied are skipped.
  // Called by the store's follower only (one thread at a time).
  void ApplyFollowed(std::vector<token::Revocation> events);
  // The highest seq applied to the index.
  uint64_t applied_seq() const;

  // Drops revocations that no longer cover any unexpired token from memory
  // (the store's compaction filter does the same on disk).
  void PruneExpired();

 private:
  Authority(AuthorityOptions options, store::Store* store,
            const token::Clock* clock, std::unique_ptr<KeyManager> keys,
            RevocationFeed* feed);

  // The token's claims once its signature, type, issuer and times check
  // out, whatever its audience; from verified_ after the first call.
  absl::StatusOr<token::ClaimsCache::Claims> VerifySignature(
      absl::string_view token) const;
  // One read of the refresh token and its session, and a rotation
  // conditional on that read: ABORTED when the session changed meanwhile.
  absl::StatusOr<IssuedToken> TryRefresh(absl::string_view refresh_token,
                                         const Authorize& authorize);
  // The token's audience less the systems where the revocation index
  // refuses it: where it is still a credential.
  std::vector<std::string> ValidAt(const token::JwtClaims& claims) const;
  absl::StatusOr<std::string> SubjectOf(const LogoutTarget& target,
                                        absl::string_view system,
                                        const Authorize& authorize) const;
  // Stamps, appends, applies and publishes a revocation; concurrent ones
  // share one synced write.
  // `condition` kIfLoggedIn: see Store::AppendRevocations; a logout not
  // recorded answers 0 sessions and seq 0.
  absl::StatusOr<LogoutResult> Record(
      token::Revocation revocation,
      store::Store::RecordIf condition = store::Store::RecordIf::kAlways);
  struct Pending {
    token::Revocation revocation;
    store::Store::RecordIf condition;
  };
  using Revocations = store::GroupCommit<Pending, absl::StatusOr<LogoutResult>>;
  void CommitRevocations(absl::Span<Revocations::Slot* const> batch);
  // Appends the batch in one write; should that fail, each revocation
  // alone, so that one bad revocation fails only its own call.
  void Append(absl::Span<Revocations::Slot* const> batch)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(record_mu_);
  // Signs an access token of `session` at `systems`, stamped `tick`.
  absl::StatusOr<IssuedToken> Mint(const store::Session& session,
                                   const std::vector<std::string>& systems,
                                   int64_t tick);
  // Ends a session by a session revocation.
  absl::Status EndSession(const store::Session& session);

  const AuthorityOptions options_;
  store::Store* const store_;
  const token::Clock* const clock_;
  const std::unique_ptr<KeyManager> keys_;
  const token::JwtVerifier verifier_;
  // Claims of tokens whose signatures verified, for any audience. A key
  // leaves the key set only once every token it signed has expired, so an
  // entry never outlives its key.
  mutable token::ClaimsCache verified_;
  RevocationFeed* const feed_;
  TickSource ticks_;
  token::RevocationIndex index_;
  IndexLoad index_load_;
  // Held exclusively to order stamp, append, apply and publish, so the
  // feed sees seqs in order. Refresh holds it shared from reading its
  // session to taking its tick: a logout is then either seen in the session
  // or stamped after the refreshed token, which it covers.
  absl::Mutex record_mu_;
  Revocations revocations_;
  // With options.followed: the highest seq ApplyFollowed has applied and
  // published, which a recording call waits for.
  mutable absl::Mutex applied_mu_;
  uint64_t applied_seq_ ABSL_GUARDED_BY(applied_mu_) = 0;
};

}  // namespace sigil::server

#endif  // SIGIL_SERVER_AUTHORITY_H_
