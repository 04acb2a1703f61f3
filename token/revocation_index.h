#ifndef SIGIL_TOKEN_REVOCATION_INDEX_H_
#define SIGIL_TOKEN_REVOCATION_INDEX_H_

#include <atomic>
#include <cstdint>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "base/striped_mutex.h"
#include "token/jwt.h"
#include "token/reason.h"

namespace sigil::token {

enum class RevocationScope {
  kToken,          // one token, by token_id (jti)
  kSession,        // one session, by session_id (sid)
  kSubjectSystem,  // one subject at one system
  kSubject,        // one subject everywhere
};

// One revocation as recorded by the authority and streamed to verifiers.
// It covers tokens of its scope whose issued_at_us is below not_before_us
// (for kToken: the one token, whatever its issue time). Once expires_at has
// passed, every covered token has expired and the entry is garbage.
struct Revocation {
  uint64_t seq = 0;
  RevocationScope scope = RevocationScope::kToken;
  std::string subject;
  std::string system;
  std::string session_id;
  std::string token_id;
  int64_t not_before_us = 0;
  absl::Time expires_at;
};

// The in-memory revocation table every verifier consults after the
// signature check. Lookups are hash probes without allocation: cost does
// not depend on the number of revocations. Thread-safe; Check takes a
// shared lock on its thread's stripe only, so concurrent checks contend on
// nothing.
class RevocationIndex {
 public:
  // Records `r`, keeping the strictest (latest not_before, latest expiry)
  // entry per key. Applying the same revocation twice changes nothing.
  void Apply(const Revocation& r);
  // The same for many, under one lock: for loading a table at start.
  void ApplyAll(absl::Span<const Revocation> revocations);

  // Exchanges the contents of the two indexes in one step, so a reader of
  // either never sees a half-built table.
  void Swap(RevocationIndex& other);

  // Changes (after the change is visible to Check) whenever the index may
  // cover a token it did not cover before. A verdict checked while
  // generation() was g needs no new Check while generation() is still g:
  // verifiers use this to keep the shared lock off their cache hits.
  uint64_t generation() const {
    return generation_.load(std::memory_order_acquire);
  }

  // kValid, or the reason the token is revoked when verified at `system`.
  // Where several levels apply the strictest wins: token, session and
  // subject-wide revocations and a logout from every system the token names
  // are UNAUTHENTICATED reasons; a logout from `system` alone, for a token
  // that still authenticates at other systems, is kLoggedOutOfSystem.
  Reason Check(const JwtClaims& claims, absl::string_view system) const;

  // Drops entries whose expires_at is at or before `now`.
  void Prune(absl::Time now);

  size_t size() const;
  // The highest seq applied, 0 when none.
  uint64_t last_seq() const;

 private:
  struct Entry {
    int64_t not_before_us = 0;
    absl::Time expires_at;
  };
  // absl's string hash and equality are transparent: string_view probes
  // need no copy of the key.
  using Table = absl::flat_hash_map<std::string, Entry>;

  static void Merge(Table& table, absl::string_view key, const Revocation& r);
  void ApplyLocked(const Revocation& r) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SwapLocked(RevocationIndex& other)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_, other.mu_);
  // Drops expired entries of `table`; true when it is left empty.
  static bool PruneTable(Table& table, absl::Time now);

  mutable base::StripedMutex mu_;
  Table tokens_ ABSL_GUARDED_BY(mu_);
  Table sessions_ ABSL_GUARDED_BY(mu_);
  // subject -> system -> entry.
  absl::flat_hash_map<std::string, Table> subject_systems_ ABSL_GUARDED_BY(mu_);
  Table subjects_ ABSL_GUARDED_BY(mu_);
  uint64_t last_seq_ ABSL_GUARDED_BY(mu_) = 0;
  std::atomic<uint64_t> generation_{0};
};

}  // namespace sigil::token

#endif  // SIGIL_TOKEN_REVOCATION_INDEX_H_
