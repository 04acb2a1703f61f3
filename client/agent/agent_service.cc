#include "client/agent/agent_service.h"

#include <chrono>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "client/agent/unix_peer.h"
#include "token/base64url.h"
#include "token/json.h"
#include "token/reason.h"
#include "wire/claims.h"
#include "wire/status.h"
#include "wire/timestamp.h"
#include "wire/verdict.h"

namespace sigil::client::agent {
namespace {

namespace auth = ::sigil::server::auth;

// The "aud" of a compact JWS's payload, decoded but not verified; nullopt
// when `token` is not one (an opaque refresh token, or garbage for sigild to
// refuse).
std::optional<std::vector<std::string>> UnverifiedAudience(
    const std::string& token) {
  const std::vector<absl::string_view> parts = absl::StrSplit(token, '.');
  if (parts.size() != 3) return std::nullopt;
  auto payload = token::Base64UrlDecode(parts[1]);
  if (!payload.ok()) return std::nullopt;
  auto claims = token::ParseJson(*payload, token::JsonLimits());
  if (!claims.ok() || !claims->is_object()) return std::nullopt;
  const token::JsonValue* aud = claims->Find("aud");
  if (aud == nullptr) return std::nullopt;
  std::vector<std::string> audience;
  if (aud->is_string()) {
    audience.push_back(aud->string_value());
  } else if (aud->is_array()) {
    for (const token::JsonValue& item : aud->items()) {
      if (item.is_string()) audience.push_back(item.string_value());
    }
  }
  return audience;
}

}  // namespace

auth::Caller AgentService::CallerOf(const grpc::ServerContext& context) {
  auth::Caller caller = auth::CallerOf(*context.auth_context());
  if (caller.authenticated || !caller.refusal.empty()) return caller;
  if (std::optional<uint32_t> uid = UnixPeerUid(context.peer())) {
    return auth::UnixPeerCaller(*uid);
  }
  // Plain TCP, or TLS without a usable certificate name: no one in
  // particular, granted only what the policy gives "<anonymous>".
  return auth::AnonymousCaller();
}

grpc::Status AgentService::Refused(const absl::Status& denial) const {
  return wire::ToGrpcStatus(absl::Status(
      denial.code(),
      absl::StrCat("sigil-agent of system ", system_, ": ", denial.message())));
}

grpc::Status AgentService::Beyond(const auth::Caller& caller,
                                  absl::string_view what) const {
  return Refused(absl::PermissionDeniedError(absl::StrCat(
      "caller \"", absl::CHexEscape(auth::PrincipalOf(caller)), "\" may not ",
      what, " through the agent of system ", system_)));
}

grpc::Status AgentService::CheckTokenAudience(const auth::Caller& caller,
                                              const std::string& token) const {
  const std::optional<std::vector<std::string>> audience =
      UnverifiedAudience(token);
  // Fail closed: what cannot be read here is not forwarded, so the cap
  // never depends on sigild's parser agreeing with this one.
  if (!audience.has_value()) {
    return Refused(absl::UnauthenticatedError(
        "token is not a valid credential: not a readable JWT"));
  }
  for (const std::string& system : *audience) {
    if (system == system_) return grpc::Status::OK;
  }
  return Beyond(caller, "act on a token not issued for this system");
}

template <typename Request, typename Response>
grpc::Status AgentService::Forward(
    grpc::Status (sigil::v1::Identity::StubInterface::*method)(
        grpc::ClientContext*, const Request&, Response*),
    const auth::Caller& caller, const Request& request, Response* response) {
  // Escaped: a certificate name may hold bytes no metadata value may.
  const std::string on_behalf_of =
      auth::EscapeOnBehalfOf(auth::PrincipalOf(caller));
  return client_->CallAuthority([&](sigil::v1::Identity::StubInterface& stub,
                                    grpc::ClientContext& context) {
    context.AddMetadata(auth::kOnBehalfOfHeader, on_behalf_of);
    // sigild then acts on a token only where it is still valid at this
    // system (LogoutAll and Revoke by token; ignored by the other calls).
    context.AddMetadata(auth::kActingForSystemHeader, system_);
    response->Clear();
    return (stub.*method)(&context, request, response);
  });
}

grpc::Status AgentService::Verify(grpc::ServerContext* context,
                                  const sigil::v1::VerifyRequest* request,
                                  sigil::v1::VerifyResponse* response) {
  if (!request->system().empty() && request->system() != system_) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        absl::StrCat("this agent verifies for system ", system_,
                                     ", not ", request->system()));
  }
  const std::vector<std::string> scopes(request->required_scopes().begin(),
                                        request->required_scopes().end());
  VerifyOptions verify;
  verify.min_seq = request->min_seq();
  // The caller's deadline bounds the wait for min_seq; none: the client's.
  if (context->deadline() != std::chrono::system_clock::time_point::max()) {
    verify.deadline = absl::FromChrono(context->deadline());
  }
  auto verified = client_->Verify(request->token(), scopes, verify);
  if (verified.ok()) {
    *response->mutable_verdict() = wire::ToVerdict(token::Reason::kValid, "");
    *response->mutable_claims() = wire::ToClaims(verified->claims());
    *response->mutable_cache_until() =
        wire::ToTimestamp(verified->claims().expires_at);
    return grpc::Status::OK;
  }
  if (!token::IsVerdict(verified.status())) {
    // Undecidable (UNAVAILABLE) or a bad request: a call failure, never a
    // verdict.
    return wire::ToGrpcStatus(verified.status());
  }
  *response->mutable_verdict() = wire::ToVerdict(
      token::ReasonOf(verified.status()), verified.status().message());
  return grpc::Status::OK;
}

grpc::Status AgentService::GetJwks(grpc::ServerContext*,
                                   const sigil::v1::GetJwksRequest*,
                                   sigil::v1::GetJwksResponse* response) {
  Client::FetchedKeys keys = client_->fetched_keys();
  if (keys.keys == nullptr) {
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, "no key set yet");
  }
  *response = wire::ToJwksResponse(*keys.keys);
  response->set_key_set_version(keys.version);
  return grpc::Status::OK;
}

grpc::Status AgentService::Issue(grpc::ServerContext* context,
                                 const sigil::v1::IssueRequest* request,
                                 sigil::v1::IssueResponse* response) {
  const auth::Caller caller = CallerOf(*context);
  const std::vector<std::string> systems(request->systems().begin(),
                                         request->systems().end());
  absl::Status allowed = policy_->MayIssue(caller, systems);
  if (!allowed.ok()) return Refused(allowed);
  for (const std::string& system : systems) {
    if (system != system_) {
      return Beyond(caller, absl::StrCat("issue a token for system \"",
                                         absl::CHexEscape(system), "\""));
    }
  }
  return Forward(&sigil::v1::Identity::StubInterface::Issue, caller, *request,
                 response);
}

grpc::Status AgentService::Refresh(grpc::ServerContext* context,
                                   const sigil::v1::RefreshRequest* request,
                                   sigil::v1::IssueResponse* response) {
  const auth::Caller caller = CallerOf(*context);
  // The session's systems are known to sigild only: it refuses, before
  // rotating, a session naming any system but this one (see
  // RefreshRequest.system), whatever the agent's own grant there.
  absl::Status allowed = policy_->MayRefresh(caller, {system_});
  if (!allowed.ok()) return Refused(allowed);
  sigil::v1::RefreshRequest capped = *request;
  capped.set_system(system_);
  return Forward(&sigil::v1::Identity::StubInterface::Refresh, caller, capped,
                 response);
}

grpc::Status AgentService::LogoutFromSystem(
    grpc::ServerContext* context,
    const sigil::v1::LogoutFromSystemRequest* request,
    sigil::v1::LogoutResponse* response) {
  const auth::Caller caller = CallerOf(*context);
  absl::Status allowed =
      policy_->MayLogoutFromSystem(caller, request->system());
  if (!allowed.ok()) return Refused(allowed);
  if (request->system() != system_) {
    return Beyond(caller,
                  absl::StrCat("log subjects out of system \"",
                               absl::CHexEscape(request->system()), "\""));
  }
  return Forward(&sigil::v1::Identity::StubInterface::LogoutFromSystem, caller,
                 *request, response);
}

grpc::Status AgentService::LogoutAll(grpc::ServerContext* context,
                                     const sigil::v1::LogoutAllRequest* request,
                                     sigil::v1::LogoutResponse* response) {
  const auth::Caller caller = CallerOf(*context);
  // By subject it ends the user everywhere: an administrator's call to
  // sigild, beyond any one system, whatever the caller's grant.
  if (!request->subject().empty()) {
    return Beyond(caller, "log a subject out of every system by name");
  }
  absl::Status allowed = policy_->MayActForTokenAudience(caller, {system_});
  if (!allowed.ok()) return Refused(allowed);
  grpc::Status audience = CheckTokenAudience(caller, request->token());
  if (!audience.ok()) return audience;
  return Forward(&sigil::v1::Identity::StubInterface::LogoutAll, caller,
                 *request, response);
}

grpc::Status AgentService::Revoke(grpc::ServerContext* context,
                                  const sigil::v1::RevokeRequest* request,
                                  sigil::v1::RevokeResponse* response) {
  const auth::Caller caller = CallerOf(*context);
  absl::Status allowed = policy_->MayActForTokenAudience(caller, {system_});
  if (!allowed.ok()) return Refused(allowed);
  // A refresh token is opaque (no dots): sigild checks that its session is
  // still live at this system, from the header Forward adds.
  if (absl::StrContains(request->token(), '.')) {
    // An unreadable JWT revokes nothing: answered as sigild answers it
    // (RFC 7009: success, no change), never forwarded on a guess.
    if (!UnverifiedAudience(request->token()).has_value()) {
      return grpc::Status::OK;
    }
    grpc::Status audience = CheckTokenAudience(caller, request->token());
    if (!audience.ok()) return audience;
  }
  return Forward(&sigil::v1::Identity::StubInterface::Revoke, caller, *request,
                 response);
}

}  // namespace sigil::client::agent
