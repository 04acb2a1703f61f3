#include "server/identity_service.h"

#include <google/protobuf/util/time_util.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "server/watch_reactor.h"
#include "wire/claims.h"
#include "wire/status.h"
#include "wire/verdict.h"

namespace sigil::server {
namespace {

void SetTimestamp(absl::Time t, google::protobuf::Timestamp* out) {
  *out = google::protobuf::util::TimeUtil::MicrosecondsToTimestamp(
      absl::ToUnixMicros(t));
}

absl::StatusOr<std::optional<absl::Duration>> TtlOf(
    const sigil::v1::IssueRequest& request) {
  if (!request.has_ttl()) return std::optional<absl::Duration>();
  const google::protobuf::Duration& ttl = request.ttl();
  if (ttl.seconds() < 0 || ttl.nanos() < 0 || ttl.nanos() > 999999999) {
    return absl::InvalidArgumentError("ttl must be a positive duration");
  }
  return std::optional<absl::Duration>(absl::Seconds(ttl.seconds()) +
                                       absl::Nanoseconds(ttl.nanos()));
}

void FillIssued(IssuedToken issued, sigil::v1::IssueResponse* out) {
  out->set_access_token(std::move(issued.access_token));
  out->set_refresh_token(std::move(issued.refresh_token));
  out->set_token_id(std::move(issued.token_id));
  out->set_session_id(std::move(issued.session_id));
  SetTimestamp(issued.expires_at, out->mutable_expires_at());
}

void FillLogout(const LogoutResult& result, sigil::v1::LogoutResponse* out) {
  out->set_revoked_sessions(result.revoked_sessions);
  out->set_revocation_seq(result.revocation_seq);
}

sigil::v1::KeyStage ToStage(store::KeyRecord::Stage stage) {
  switch (stage) {
    case store::KeyRecord::Stage::kNext:
      return sigil::v1::NEXT;
    case store::KeyRecord::Stage::kActive:
      return sigil::v1::ACTIVE;
    case store::KeyRecord::Stage::kRetired:
      return sigil::v1::RETIRED;
    case store::KeyRecord::Stage::kUnstaged:
      break;
  }
  return sigil::v1::KEY_STAGE_UNSPECIFIED;
}

void FillKeys(const std::vector<KeyInfo>& keys,
              sigil::v1::KeysResponse* response) {
  for (const KeyInfo& key : keys) {
    sigil::v1::KeyInfo* out = response->add_keys();
    out->set_kid(key.record.kid);
    out->set_alg(key.record.algorithm);
    out->set_stage(ToStage(key.record.stage));
    SetTimestamp(key.record.created, out->mutable_created());
    if (key.record.activated != absl::InfinitePast()) {
      SetTimestamp(key.record.activated, out->mutable_activated());
    }
    if (key.record.retired != absl::InfinitePast()) {
      SetTimestamp(key.record.retired, out->mutable_retired());
    }
    if (key.remove_after != absl::InfinitePast()) {
      SetTimestamp(key.remove_after, out->mutable_remove_after());
    }
  }
}

}  // namespace

grpc::Status IdentityService::Issue(grpc::ServerContext*,
                                    const sigil::v1::IssueRequest* request,
                                    sigil::v1::IssueResponse* response) {
  auto ttl = TtlOf(*request);
  if (!ttl.ok()) return wire::ToGrpcStatus(ttl.status());
  IssueParams params;
  params.subject = request->subject();
  params.systems.assign(request->systems().begin(), request->systems().end());
  params.scopes.assign(request->scopes().begin(), request->scopes().end());
  params.ttl = *ttl;
  auto issued = authority_->Issue(params);
  if (!issued.ok()) return wire::ToGrpcStatus(issued.status());
  FillIssued(*std::move(issued), response);
  return grpc::Status::OK;
}

grpc::Status IdentityService::Refresh(grpc::ServerContext*,
                                      const sigil::v1::RefreshRequest* request,
                                      sigil::v1::IssueResponse* response) {
  auto issued = authority_->Refresh(request->refresh_token());
  if (!issued.ok()) return wire::ToGrpcStatus(issued.status());
  FillIssued(*std::move(issued), response);
  return grpc::Status::OK;
}

grpc::Status IdentityService::ListSessions(
    grpc::ServerContext*, const sigil::v1::ListSessionsRequest* request,
    sigil::v1::ListSessionsResponse* response) {
  auto sessions = authority_->ListSessions(request->subject());
  if (!sessions.ok()) return wire::ToGrpcStatus(sessions.status());
  for (const store::Session& session : *sessions) {
    sigil::v1::Session* out = response->add_sessions();
    out->set_session_id(session.session_id);
    out->set_subject(session.subject);
    for (const std::string& system : session.systems) out->add_systems(system);
    for (const std::string& scope : session.scopes) out->add_scopes(scope);
    SetTimestamp(session.created, out->mutable_created());
    if (session.last_refreshed != absl::InfinitePast()) {
      SetTimestamp(session.last_refreshed, out->mutable_last_refreshed());
    }
    SetTimestamp(session.expires_at, out->mutable_expires_at());
    SetTimestamp(session.idle_expires_at, out->mutable_idle_expires_at());
  }
  return grpc::Status::OK;
}

grpc::Status IdentityService::Verify(grpc::ServerContext*,
                                     const sigil::v1::VerifyRequest* request,
                                     sigil::v1::VerifyResponse* response) {
  const std::vector<std::string> scopes(request->required_scopes().begin(),
                                        request->required_scopes().end());
  auto verdict =
      authority_->Verify(request->token(), request->system(), scopes);
  if (!verdict.ok()) return wire::ToGrpcStatus(verdict.status());

  *response->mutable_verdict() =
      wire::ToVerdict(verdict->reason, verdict->message);
  if (verdict->claims.has_value()) {
    *response->mutable_claims() = wire::ToClaims(*verdict->claims);
  }
  if (verdict->cache_until.has_value()) {
    SetTimestamp(*verdict->cache_until, response->mutable_cache_until());
  }
  return grpc::Status::OK;
}

grpc::Status IdentityService::LogoutFromSystem(
    grpc::ServerContext*, const sigil::v1::LogoutFromSystemRequest* request,
    sigil::v1::LogoutResponse* response) {
  auto result = authority_->LogoutFromSystem(
      request->system(), LogoutTarget{request->subject(), request->token()});
  if (!result.ok()) return wire::ToGrpcStatus(result.status());
  FillLogout(*result, response);
  return grpc::Status::OK;
}

grpc::Status IdentityService::LogoutAll(
    grpc::ServerContext*, const sigil::v1::LogoutAllRequest* request,
    sigil::v1::LogoutResponse* response) {
  auto result =
      authority_->LogoutAll(LogoutTarget{request->subject(), request->token()});
  if (!result.ok()) return wire::ToGrpcStatus(result.status());
  FillLogout(*result, response);
  return grpc::Status::OK;
}

grpc::Status IdentityService::Revoke(grpc::ServerContext*,
                                     const sigil::v1::RevokeRequest* request,
                                     sigil::v1::RevokeResponse*) {
  return wire::ToGrpcStatus(authority_->Revoke(request->token()));
}

grpc::Status IdentityService::GetJwks(grpc::ServerContext*,
                                      const sigil::v1::GetJwksRequest*,
                                      sigil::v1::GetJwksResponse* response) {
  const std::shared_ptr<const KeySnapshot> keys = authority_->keys();
  *response = wire::ToJwksResponse(keys->public_keys);
  response->set_key_set_version(keys->version);
  return grpc::Status::OK;
}

grpc::Status IdentityService::RotateKeys(grpc::ServerContext*,
                                         const sigil::v1::RotateKeysRequest*,
                                         sigil::v1::KeysResponse* response) {
  auto keys = authority_->RotateKeys();
  if (!keys.ok()) return wire::ToGrpcStatus(keys.status());
  FillKeys(*keys, response);
  return grpc::Status::OK;
}

grpc::Status IdentityService::ListKeys(grpc::ServerContext*,
                                       const sigil::v1::ListKeysRequest*,
                                       sigil::v1::KeysResponse* response) {
  FillKeys(authority_->ListKeys(), response);
  return grpc::Status::OK;
}

grpc::ServerWriteReactor<sigil::v1::WatchRevocationsResponse>*
IdentityService::WatchRevocations(
    grpc::CallbackServerContext*,
    const sigil::v1::WatchRevocationsRequest* request) {
  return new WatchReactor(
      feed_, clock_,
      [authority = authority_] { return authority->keys()->version; },
      *request);
}

}  // namespace sigil::server
