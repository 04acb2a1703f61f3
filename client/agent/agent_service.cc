#include "client/agent/agent_service.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "token/reason.h"
#include "wire/claims.h"
#include "wire/status.h"
#include "wire/timestamp.h"
#include "wire/verdict.h"

namespace sigil::client::agent {
namespace {

template <typename Response>
grpc::Status Forward(const absl::StatusOr<Response>& result, Response* out) {
  if (!result.ok()) return wire::ToGrpcStatus(result.status());
  *out = *result;
  return grpc::Status::OK;
}

}  // namespace

grpc::Status AgentService::Verify(grpc::ServerContext*,
                                  const sigil::v1::VerifyRequest* request,
                                  sigil::v1::VerifyResponse* response) {
  if (!request->system().empty() && request->system() != system_) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        absl::StrCat("this agent verifies for system ", system_,
                                     ", not ", request->system()));
  }
  const std::vector<std::string> scopes(request->required_scopes().begin(),
                                        request->required_scopes().end());
  auto verified = client_->Verify(request->token(), scopes);
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

grpc::Status AgentService::Issue(grpc::ServerContext*,
                                 const sigil::v1::IssueRequest* request,
                                 sigil::v1::IssueResponse* response) {
  return Forward(client_->Issue(*request), response);
}

grpc::Status AgentService::Refresh(grpc::ServerContext*,
                                   const sigil::v1::RefreshRequest* request,
                                   sigil::v1::IssueResponse* response) {
  return Forward(client_->Refresh(*request), response);
}

grpc::Status AgentService::LogoutFromSystem(
    grpc::ServerContext*, const sigil::v1::LogoutFromSystemRequest* request,
    sigil::v1::LogoutResponse* response) {
  return Forward(client_->LogoutFromSystem(*request), response);
}

grpc::Status AgentService::LogoutAll(grpc::ServerContext*,
                                     const sigil::v1::LogoutAllRequest* request,
                                     sigil::v1::LogoutResponse* response) {
  return Forward(client_->LogoutAll(*request), response);
}

grpc::Status AgentService::Revoke(grpc::ServerContext*,
                                  const sigil::v1::RevokeRequest* request,
                                  sigil::v1::RevokeResponse*) {
  return wire::ToGrpcStatus(client_->Revoke(*request));
}

}  // namespace sigil::client::agent
