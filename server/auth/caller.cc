#include "server/auth/caller.h"

#include <grpc/grpc_security_constants.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"

namespace sigil::server::auth {
namespace {

void AppendProperty(const grpc::AuthContext& context, const char* name,
                    IdentityKind kind, std::vector<Identity>* out) {
  for (const grpc::string_ref& value : context.FindPropertyValues(name)) {
    out->push_back(Identity{kind, std::string(value.data(), value.size())});
  }
}

}  // namespace

Caller CallerOf(const grpc::AuthContext& context) {
  Caller caller;
  const std::vector<grpc::string_ref> security_type =
      context.FindPropertyValues(GRPC_TRANSPORT_SECURITY_TYPE_PROPERTY_NAME);
  if (security_type.size() != 1 ||
      security_type[0] != GRPC_SSL_TRANSPORT_SECURITY_TYPE) {
    return caller;
  }
  AppendProperty(context, GRPC_PEER_URI_PROPERTY_NAME, IdentityKind::kUri,
                 &caller.identities);
  const size_t uris = caller.identities.size();
  if (uris > 1) {
    // Refused rather than narrowed to one: which SAN the CA meant is not
    // ours to guess, and the union would be every grant at once.
    caller.identities.clear();
    caller.refusal = absl::StrCat(
        "the client certificate carries ", uris,
        " URI subject alternative names; a SPIFFE certificate carries "
        "exactly one");
    return caller;
  }
  AppendProperty(context, GRPC_PEER_DNS_PROPERTY_NAME, IdentityKind::kDns,
                 &caller.identities);
  caller.authenticated = !caller.identities.empty();
  return caller;
}

Caller InsecureDevCaller() {
  return Caller{{Identity{IdentityKind::kInsecureDev, kInsecureDevPrincipal}},
                false,
                "",
                ""};
}

Caller AnonymousCaller() {
  return Caller{
      {Identity{IdentityKind::kAnonymous, kAnonymousPrincipal}}, false, "", ""};
}

Caller UnixPeerCaller(unsigned int uid) {
  return Caller{
      {Identity{IdentityKind::kUnixUid, absl::StrCat(kUnixUidPrefix, uid)}},
      true,
      "",
      ""};
}

std::string PrincipalOf(const Caller& caller) {
  if (caller.identities.empty()) return kUnauthenticatedPrincipal;
  return absl::StrJoin(caller.identities, " ",
                       [](std::string* out, const Identity& identity) {
                         out->append(identity.name);
                       });
}

namespace {

bool IsPlainOnBehalfOfChar(char c) { return c > ' ' && c < 0x7f && c != '%'; }

bool IsUpperHex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F');
}

}  // namespace

std::string EscapeOnBehalfOf(absl::string_view principal) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  size_t full = 0;
  for (char c : principal) full += IsPlainOnBehalfOfChar(c) ? 1 : 3;
  // When cut, room is kept for "..." after the last whole byte.
  const size_t room =
      full <= kMaxOnBehalfOfBytes ? full : kMaxOnBehalfOfBytes - 3;
  std::string out;
  out.reserve(kMaxOnBehalfOfBytes);
  for (char c : principal) {
    const bool plain = IsPlainOnBehalfOfChar(c);
    if (out.size() + (plain ? 1 : 3) > room) break;
    if (plain) {
      out.push_back(c);
      continue;
    }
    const unsigned char byte = static_cast<unsigned char>(c);
    out.push_back('%');
    out.push_back(kHex[byte >> 4]);
    out.push_back(kHex[byte & 0xf]);
  }
  if (full > kMaxOnBehalfOfBytes) out.append("...");
  return out;
}

bool IsEscapedOnBehalfOf(absl::string_view value) {
  if (value.empty() || value.size() > kMaxOnBehalfOfBytes) return false;
  for (size_t i = 0; i < value.size(); ++i) {
    const char c = value[i];
    if (c == '%') {
      if (i + 2 >= value.size() || !IsUpperHex(value[i + 1]) ||
          !IsUpperHex(value[i + 2])) {
        return false;
      }
      i += 2;
      continue;
    }
    if (!IsPlainOnBehalfOfChar(c)) return false;
  }
  return true;
}

}  // namespace sigil::server::auth
