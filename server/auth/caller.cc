#include "server/auth/caller.h"

#include <grpc/grpc_security_constants.h>

#include "absl/strings/str_join.h"

namespace sigil::server::auth {
namespace {

void AppendProperty(const grpc::AuthContext& context, const char* name,
                    std::vector<std::string>* out) {
  for (const grpc::string_ref& value : context.FindPropertyValues(name)) {
    out->emplace_back(value.data(), value.size());
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
  AppendProperty(context, GRPC_PEER_URI_PROPERTY_NAME, &caller.identities);
  AppendProperty(context, GRPC_PEER_DNS_PROPERTY_NAME, &caller.identities);
  caller.authenticated = !caller.identities.empty();
  return caller;
}

Caller InsecureDevCaller() { return Caller{{kInsecureDevPrincipal}, false}; }

std::string PrincipalOf(const Caller& caller) {
  if (caller.identities.empty()) return kUnauthenticatedPrincipal;
  return absl::StrJoin(caller.identities, " ");
}

}  // namespace sigil::server::auth
