#ifndef SIGIL_SERVER_AUTH_CALLER_H_
#define SIGIL_SERVER_AUTH_CALLER_H_

#include <grpcpp/security/auth_context.h>

#include <cstddef>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace sigil::server::auth {

// How an identity was proven. A policy principal matches an identity of
// its own kind only, so a DNS SAN spelled like a URI, or a URI SAN spelled
// "unix-uid:0", never takes another kind's grant.
enum class IdentityKind {
  kUri,          // a URI SAN of a verified client certificate
  kDns,          // a DNS SAN of a verified client certificate
  kUnixUid,      // the peer credentials of a unix socket (sigil-agent)
  kAnonymous,    // no identity at all (sigil-agent's kAnonymousPrincipal)
  kInsecureDev,  // sigild's dev mode label; no policy grants it
};

struct Identity {
  IdentityKind kind = IdentityKind::kUri;
  // As a policy principal spells it: the SAN, "unix-uid:1000", or one of
  // the bracketed labels below.
  std::string name;

  friend bool operator==(const Identity& a, const Identity& b) {
    return a.kind == b.kind && a.name == b.name;
  }
};

// Who is calling, as proven by the transport. A plain value: copy freely.
struct Caller {
  // The URI SAN (at most one), then every DNS SAN, of the peer's
  // certificate; never its CN. For InsecureDevCaller() and AnonymousCaller()
  // only their label; for a unix peer its uid.
  std::vector<Identity> identities;
  // True for a TLS peer whose certificate carries a usable name, and for a
  // unix peer named by its uid. Policy grants match an unauthenticated
  // caller only through an explicit kAnonymousPrincipal grant.
  bool authenticated = false;
  // Why a certificate that passed the handshake still names no one (more
  // than one URI SAN); empty otherwise.
  std::string refusal;
  // sigild: the caller a policy-marked agent forwards this call for (its
  // kOnBehalfOfHeader), for the audit log only; never consulted to
  // authorize. Empty otherwise.
  std::string on_behalf_of;
};

// The metadata key by which sigil-agent names its own caller to sigild,
// in the form EscapeOnBehalfOf writes.
inline constexpr char kOnBehalfOfHeader[] = "sigil-on-behalf-of";
// The metadata key by which a caller (sigil-agent: always, its --system)
// tells sigild the one system it acts for on LogoutAll and Revoke by token:
// sigild then requires the token (or a refresh token's session) to be still
// valid at that system. It only ever narrows what the caller may do.
inline constexpr char kActingForSystemHeader[] = "sigil-acting-for-system";
// The longest sigil-on-behalf-of value, escaped.
inline constexpr size_t kMaxOnBehalfOfBytes = 4096;

// Audit names that no certificate name can equal ('<' is valid in neither
// a URI nor a DNS name).
inline constexpr char kUnauthenticatedPrincipal[] = "<unauthenticated>";
inline constexpr char kInsecureDevPrincipal[] = "<insecure-dev>";
// The principal a policy names to grant callers that show no identity at
// all (sigil-agent only: sigild refuses them before reading grants).
inline constexpr char kAnonymousPrincipal[] = "<anonymous>";
// The prefix of unix peer principals: "unix-uid:" and the decimal uid.
inline constexpr char kUnixUidPrefix[] = "unix-uid:";

// The caller of a call, from ServerContext::auth_context(). Relies on the
// server's credentials to have verified the client certificate against the
// client CA (GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY): the
// auth context says what the peer presented, not whether it was checked. A
// plaintext peer, or a certificate with only a CN, is unauthenticated. A
// certificate with more than one URI SAN is unauthenticated with a
// `refusal`: a SPIFFE certificate carries exactly one, and taking the union
// of several would let one certificate act as several principals.
Caller CallerOf(const grpc::AuthContext& context);

// The caller sigild records in dev mode (no policy, loopback, everything
// allowed) for a peer that has no certificate, so that audit lines show the
// call was let through without authentication.
Caller InsecureDevCaller();

// A caller that shows no identity (sigil-agent: plain TCP without a
// certificate): only a kAnonymousPrincipal grant applies to it.
Caller AnonymousCaller();

// A unix socket peer whose kernel-reported uid is `uid`: "unix-uid:UID".
Caller UnixPeerCaller(unsigned int uid);

// The caller's name in audit lines and denial messages: its identities'
// names separated by spaces, or kUnauthenticatedPrincipal when it has none.
std::string PrincipalOf(const Caller& caller);

// `principal` as a sigil-on-behalf-of value: every byte outside '!'..'~',
// and '%' itself, as "%XX" (uppercase hex), so that a certificate name with
// a control or non-ASCII byte cannot make invalid metadata (which gRPC may
// refuse or abort on); cut to at most kMaxOnBehalfOfBytes, never inside an
// escape, ending in "..." when cut.
std::string EscapeOnBehalfOf(absl::string_view principal);

// Whether `value` has the form EscapeOnBehalfOf writes: 1 to
// kMaxOnBehalfOfBytes bytes of '!'..'~', each '%' starting "%XX". sigild
// records nothing else.
bool IsEscapedOnBehalfOf(absl::string_view value);

}  // namespace sigil::server::auth

#endif  // SIGIL_SERVER_AUTH_CALLER_H_
