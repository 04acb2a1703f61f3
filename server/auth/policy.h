#ifndef SIGIL_SERVER_AUTH_POLICY_H_
#define SIGIL_SERVER_AUTH_POLICY_H_

#include <array>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "server/auth/caller.h"

namespace sigil::server::auth {

// Which caller may do what: the sigil.v1.Policy of proto/sigil/v1/policy.proto
// (--policy FILE of sigild and of sigil-agent), AllowAll() in sigild's dev
// mode, or DenyAll() for an agent without a policy. Deny by default: a
// caller gets the union of the grants of its identities and nothing else,
// each principal matching identities of its own kind only (URI principals
// URI SANs, DNS principals DNS SANs, "unix-uid:N" unix peers); an
// unauthenticated caller gets nothing, except what a "<anonymous>" grant
// gives an AnonymousCaller(). An admin passes every query.
//
// Every query returns OK, UNAUTHENTICATED for a caller without an identity
// (or with a refused certificate), or PERMISSION_DENIED naming the caller
// and the role it lacks. Messages never hold a token: the queries never see
// one.
//
// Immutable once built: const methods are safe from any number of threads.
class Policy {
 public:
  // Whose --policy a file is: principals that only sigil-agent can see
  // ("unix-uid:N", "<anonymous>") are refused in sigild's, where no caller
  // could ever match them and the grant would only mislead its reader.
  enum class Reader { kSigild, kAgent };

  // Reads the file as protobuf text format (.textproto, .txtpb, .pbtxt) or
  // JSON (.json), strictly: unknown fields, duplicate JSON names, empty or
  // duplicate principals, grants without a role, issuer roles without
  // systems, malformed system names and, for Reader::kSigild, agent-only
  // principals are INVALID_ARGUMENT, the message naming the file, the line
  // (text format) and the field. An unreadable file is the errno's status
  // naming the file.
  static absl::StatusOr<Policy> Load(const std::string& path, Reader reader);

  // Everything for everyone, authenticated or not: dev mode only.
  static Policy AllowAll();
  // No grant at all: every query is refused.
  static Policy DenyAll();

  // Issue a token valid at every one of `systems`: an issuer of all of them.
  absl::Status MayIssue(const Caller& caller,
                        absl::Span<const std::string> systems) const;
  // Refresh a session at `systems`: the same right as issuing for them.
  absl::Status MayRefresh(const Caller& caller,
                          absl::Span<const std::string> systems) const;
  // Verify tokens on behalf of `system`: that system itself.
  absl::Status MayVerify(const Caller& caller, absl::string_view system) const;
  // End a subject's sessions at `system`, naming the subject: that system.
  absl::Status MayLogoutFromSystem(const Caller& caller,
                                   absl::string_view system) const;
  // Act on a token whose "aud" is `audience` (Revoke, and logouts that
  // present the user's own token): a system the token is valid at.
  absl::Status MayActForTokenAudience(
      const Caller& caller, absl::Span<const std::string> audience) const;
  // Follow WatchRevocations: any system.
  absl::Status MayWatch(const Caller& caller) const;
  // Everything else (LogoutAll by subject, ListSessions, RotateKeys, ...).
  absl::Status IsAdmin(const Caller& caller) const;
  // Whether an authenticated identity of the caller has a grant marked
  // `agent: true`, whose sigil-on-behalf-of header sigild records. Never
  // under AllowAll(): dev mode trusts no one's word about someone else.
  bool IsAgent(const Caller& caller) const;

 private:
  struct Roles {
    absl::flat_hash_set<std::string> issuer_for;
    std::string system;  // empty: no system role
    bool admin = false;
    bool agent = false;
  };
  // One map per IdentityKind that a principal can name, by principal.
  static constexpr size_t kGrantKinds = 4;
  using Grants =
      std::array<absl::flat_hash_map<std::string, Roles>, kGrantKinds>;

  // The roles granted to `identity`, or null.
  const Roles* Find(const Identity& identity) const;

  Policy() = default;

  // OK when allow_all_, when the caller is an admin, or when the Roles of
  // one of its identities satisfy `has_right`; otherwise the denial, whose
  // text `lack()` builds only then (Verify calls this on its hot path).
  template <typename HasRight, typename Lack>
  absl::Status Check(const Caller& caller, HasRight has_right, Lack lack) const;

  // MayIssue and MayRefresh: an issuer of every one of `systems`.
  absl::Status CheckIssuer(const Caller& caller,
                           absl::Span<const std::string> systems,
                           absl::string_view verb) const;

  bool allow_all_ = false;
  Grants grants_;  // by IdentityKind, then principal
};

}  // namespace sigil::server::auth

#endif  // SIGIL_SERVER_AUTH_POLICY_H_
