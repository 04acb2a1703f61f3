#ifndef SIGIL_SERVER_AUTH_CALLER_H_
#define SIGIL_SERVER_AUTH_CALLER_H_

#include <grpcpp/security/auth_context.h>

#include <string>
#include <vector>

namespace sigil::server::auth {

// Who is calling, as proven by the transport. A plain value: copy freely.
struct Caller {
  // Every URI SAN, then every DNS SAN, of the peer's certificate; never its
  // CN. For InsecureDevCaller(), only the dev label.
  std::vector<std::string> identities;
  // True only for a TLS peer whose certificate carries at least one of
  // those names. Policy grants never match an unauthenticated caller.
  bool authenticated = false;
};

// Audit names that no certificate name can equal ('<' is valid in neither
// a URI nor a DNS name).
inline constexpr char kUnauthenticatedPrincipal[] = "<unauthenticated>";
inline constexpr char kInsecureDevPrincipal[] = "<insecure-dev>";

// The caller of a call, from ServerContext::auth_context(). Relies on the
// server's credentials to have verified the client certificate against the
// client CA (GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY): the
// auth context says what the peer presented, not whether it was checked. A
// plaintext peer, or a certificate with only a CN, is unauthenticated.
Caller CallerOf(const grpc::AuthContext& context);

// The caller sigild records in dev mode (no policy, loopback, everything
// allowed) for a peer that has no certificate, so that audit lines show the
// call was let through without authentication.
Caller InsecureDevCaller();

// The caller's name in audit lines and denial messages: its identities
// separated by spaces, or kUnauthenticatedPrincipal when it has none.
std::string PrincipalOf(const Caller& caller);

}  // namespace sigil::server::auth

#endif  // SIGIL_SERVER_AUTH_CALLER_H_
