#ifndef SIGIL_TOKEN_REVOCATION_INDEX_H_
#define SIGIL_TOKEN_REVOCATION_INDEX_H_

#include <cstdint>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
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
// signature check. Lookups are hash probes: cost does not depend on the
// number of revocations. Thread-safe; Check takes a shared lock.
class RevocationIndex {
 public:
  // Records `r`, keeping the strictest (latest not_before, latest expiry)
  // entry per key. Applying the same revocation twice changes nothing.
  void Apply(const Revocation& r);

  // kValid, or the reason the token is revoked when verified at `system`.
  // Where several levels apply the strictest wins: token, session and
  // subject-wide revocations and a logout from every system the token names
  // are UNAUTHENTICATED reasons; a logout from `system` alone, for a token
  // that still authenticates at other systems, is kLoggedOutOfSystem.
  Reason Check(const JwtClaims& claims, absl::string_view system) const;

  // Forgets everything, for a subscriber whose authority started over.
  void Clear();

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
  using Table = absl::flat_hash_map<std::string, Entry>;

  static void Merge(Table& table, std::string key, const Revocation& r);

  mutable absl::Mutex mu_;
  Table tokens_ ABSL_GUARDED_BY(mu_);
  Table sessions_ ABSL_GUARDED_BY(mu_);
  Table subject_systems_ ABSL_GUARDED_BY(mu_);
  Table subjects_ ABSL_GUARDED_BY(mu_);
  uint64_t last_seq_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace sigil::token

#endif  // SIGIL_TOKEN_REVOCATION_INDEX_H_
