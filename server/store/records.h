#ifndef SIGIL_SERVER_STORE_RECORDS_H_
#define SIGIL_SERVER_STORE_RECORDS_H_

// Encoding of the store's records as protos (sigil/v1/storage.proto and
// sigil.v1.RevocationEvent), framed with their expiry where they expire
// (see layout.h). Times are kept at microsecond precision. Decoders return
// nullopt for a value they cannot read; callers report it with the key.

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/store/store.h"
#include "token/revocation_index.h"

namespace sigil::server::store {

std::string EncodeRevocation(const token::Revocation& revocation);
std::optional<token::Revocation> DecodeRevocation(absl::string_view value);

std::string EncodeSession(const Session& session);
std::optional<Session> DecodeSession(absl::string_view value);

std::string EncodeRefreshToken(const RefreshToken& token, absl::Time expires);
std::optional<RefreshToken> DecodeRefreshToken(absl::string_view hash,
                                               absl::string_view value);

struct SessionCounter {
  int64_t sessions = 0;
  int64_t expires_us = 0;
  int64_t logged_out_us = 0;
  // See StoredSessionCounter.tokens_until_us; the record is kept until
  // both it and expires_us have passed.
  int64_t tokens_until_us = 0;
};
std::string EncodeCounter(const SessionCounter& counter);
std::optional<SessionCounter> DecodeCounter(absl::string_view value);

// `session` with only the systems no logout marker in `counters` (by
// system, "" for the subject-wide one) has ended it at, or nullopt when
// none is left or it has expired (absolute or idle) by `now`.
std::optional<Session> AliveSession(
    Session session, const std::map<std::string, SessionCounter>& counters,
    absl::Time now);

std::string EncodeKey(const KeyRecord& key);
std::optional<KeyRecord> DecodeKey(absl::string_view value);

}  // namespace sigil::server::store

#endif  // SIGIL_SERVER_STORE_RECORDS_H_
