#ifndef SIGIL_TESTS_SERVER_STORE_STORE_TESTING_H_
#define SIGIL_TESTS_SERVER_STORE_STORE_TESTING_H_

// What the Store tests share: revocations, sessions and matchers built the
// same way for the conformance suite (every Store) and the tests of one
// implementation's own behaviour (rocks_store_test). Header-only; every
// function is a pure builder, safe from any thread.

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "server/store/store.h"
#include "token/revocation_index.h"

namespace sigil::token {

// Readable failure messages for the matchers below.
inline void PrintTo(const Revocation& r, std::ostream* os) {
  *os << "{seq=" << r.seq << " scope=" << static_cast<int>(r.scope)
      << " subject=" << r.subject << " system=" << r.system
      << " session_id=" << r.session_id << " token_id=" << r.token_id
      << " not_before_us=" << r.not_before_us
      << " expires_at=" << absl::FormatTime(r.expires_at) << "}";
}

}  // namespace sigil::token

namespace sigil::server::store::test_support {

inline const absl::Time kStart = absl::FromUnixSeconds(1700000000);

inline int64_t Micros(absl::Time t) { return absl::ToUnixMicros(t); }

inline token::Revocation TokenRevocation(std::string token_id,
                                         absl::Time not_before,
                                         absl::Time expires_at) {
  token::Revocation r;
  r.scope = token::RevocationScope::kToken;
  r.subject = "alice";
  r.token_id = std::move(token_id);
  r.not_before_us = Micros(not_before);
  r.expires_at = expires_at;
  return r;
}

inline token::Revocation SessionRevocation(std::string session_id,
                                           absl::Time not_before,
                                           absl::Time expires_at,
                                           std::string subject = "alice") {
  token::Revocation r;
  r.scope = token::RevocationScope::kSession;
  r.subject = std::move(subject);
  r.session_id = std::move(session_id);
  r.not_before_us = Micros(not_before);
  r.expires_at = expires_at;
  return r;
}

inline token::Revocation SubjectSystemRevocation(std::string subject,
                                                 std::string system,
                                                 absl::Time not_before,
                                                 absl::Time expires_at) {
  token::Revocation r;
  r.scope = token::RevocationScope::kSubjectSystem;
  r.subject = std::move(subject);
  r.system = std::move(system);
  r.not_before_us = Micros(not_before);
  r.expires_at = expires_at;
  return r;
}

inline token::Revocation SubjectRevocation(std::string subject,
                                           absl::Time not_before,
                                           absl::Time expires_at) {
  token::Revocation r;
  r.scope = token::RevocationScope::kSubject;
  r.subject = std::move(subject);
  r.not_before_us = Micros(not_before);
  r.expires_at = expires_at;
  return r;
}

inline token::Revocation WithSeq(token::Revocation r, uint64_t seq) {
  r.seq = seq;
  return r;
}

// Every field of `r`, seq included.
inline ::testing::Matcher<const token::Revocation&> Is(
    const token::Revocation& r) {
  using ::testing::Field;
  using token::Revocation;
  return ::testing::AllOf(
      Field("seq", &Revocation::seq, r.seq),
      Field("scope", &Revocation::scope, r.scope),
      Field("subject", &Revocation::subject, r.subject),
      Field("system", &Revocation::system, r.system),
      Field("session_id", &Revocation::session_id, r.session_id),
      Field("token_id", &Revocation::token_id, r.token_id),
      Field("not_before_us", &Revocation::not_before_us, r.not_before_us),
      Field("expires_at", &Revocation::expires_at, r.expires_at));
}

// A session created at kStart (authority instant `created_us`), idle and
// absolute expiry both at `expires_at`, 15-minute access tokens.
inline Session MakeSession(std::string id, std::string subject,
                           std::vector<std::string> systems,
                           absl::Time expires_at,
                           int64_t created_us = Micros(kStart)) {
  Session session;
  session.session_id = std::move(id);
  session.subject = std::move(subject);
  session.systems = std::move(systems);
  session.scopes = {"orders.read"};
  session.created = kStart;
  session.created_us = created_us;
  session.idle_expires_at = expires_at;
  session.expires_at = expires_at;
  session.access_ttl = absl::Minutes(15);
  session.refresh_secret = "secret";
  return session;
}

// The refresh token hash Put records with `session_id`.
inline std::string FirstRefreshHash(const std::string& session_id) {
  return "hash-" + session_id;
}

// Records `session` with its first refresh token, FirstRefreshHash.
inline absl::Status Put(Store& store, const Session& session) {
  return store.PutSession(session, FirstRefreshHash(session.session_id));
}

// The systems of a session as read, {"<none>"} when it has ended (or the
// read failed).
inline std::vector<std::string> SystemsOf(
    const absl::StatusOr<std::optional<Session>>& session) {
  if (!session.ok() || !session->has_value()) return {"<none>"};
  return (*session)->systems;
}

inline std::vector<uint64_t> Seqs(
    const std::vector<token::Revocation>& events) {
  std::vector<uint64_t> seqs;
  for (const token::Revocation& e : events) seqs.push_back(e.seq);
  return seqs;
}

// As a std::string, so that failures print it as text.
inline std::string Message(const absl::Status& status) {
  return std::string(status.message());
}

}  // namespace sigil::server::store::test_support

#endif  // SIGIL_TESTS_SERVER_STORE_STORE_TESTING_H_
