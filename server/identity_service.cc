#include "server/identity_service.h"

#include <algorithm>
#include <functional>
#include <iterator>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "server/validation.h"
#include "server/watch_reactor.h"
#include "telemetry/log.h"
#include "wire/claims.h"
#include "wire/status.h"
#include "wire/timestamp.h"
#include "wire/verdict.h"

namespace sigil::server {
namespace {

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
  *out->mutable_expires_at() = wire::ToTimestamp(issued.expires_at);
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
    *out->mutable_created() = wire::ToTimestamp(key.record.created);
    if (key.record.activated != absl::InfinitePast()) {
      *out->mutable_activated() = wire::ToTimestamp(key.record.activated);
    }
    if (key.record.retired != absl::InfinitePast()) {
      *out->mutable_retired() = wire::ToTimestamp(key.record.retired);
    }
    if (key.remove_after != absl::InfinitePast()) {
      *out->mutable_remove_after() = wire::ToTimestamp(key.remove_after);
    }
  }
}

// A stream refused before it starts: finishes at once, then deletes itself.
class RefusedWatch final
    : public grpc::ServerBidiReactor<sigil::v1::WatchRevocationsRequest,
                                     sigil::v1::WatchRevocationsResponse> {
 public:
  explicit RefusedWatch(const grpc::Status& status) { Finish(status); }
  void OnDone() override { delete this; }
};

// When a Verify waiting for its min_seq gives up: shortly before the
// call's deadline, so that the caller reads this server's UNAVAILABLE rather
// than its own DEADLINE_EXCEEDED; without a deadline, after a minute.
absl::Time MinSeqWaitDeadline(absl::Time call_deadline, absl::Time now) {
  constexpr absl::Duration kLongest = absl::Minutes(1);
  constexpr absl::Duration kMargin = absl::Milliseconds(100);
  const absl::Duration left = std::min(call_deadline - now, kLongest);
  return now + left - std::min(kMargin, left / 10);
}

// Ends a callback handler's call with `status`.
grpc::ServerUnaryReactor* Answer(grpc::CallbackServerContext* context,
                                 const grpc::Status& status) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(status);
  return reactor;
}

// The kActingForSystemHeader of the call: "" when absent, else a valid
// system name (INVALID_ARGUMENT otherwise, and for several values).
absl::StatusOr<std::string> ActingForSystem(
    const grpc::ServerContextBase& context) {
  const auto range =
      context.client_metadata().equal_range(auth::kActingForSystemHeader);
  if (range.first == range.second) return std::string();
  if (std::next(range.first) != range.second) {
    return absl::InvalidArgumentError(
        absl::StrCat(auth::kActingForSystemHeader, " is given more than once"));
  }
  std::string system(range.first->second.data(), range.first->second.size());
  absl::Status valid = ValidateSystem(system);
  if (!valid.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(auth::kActingForSystemHeader, ": ", valid.message()));
  }
  return system;
}

// OK unless the caller acts for `system` and `valid_at` (where the token
// is still valid, or a refresh token's live session systems) lacks it: a
// caller capped at one system acts only on tokens that still authenticate
// there, as sigild requires of a system's own certificate.
absl::Status StillValidAt(const std::string& system,
                          absl::Span<const std::string> valid_at) {
  if (system.empty()) return absl::OkStatus();
  for (const std::string& at : valid_at) {
    if (at == system) return absl::OkStatus();
  }
  return absl::PermissionDeniedError(
      absl::StrCat("the token is not valid at system \"", system,
                   "\" that the caller acts for"));
}

}  // namespace

auth::Caller IdentityService::CallerOf(
    const grpc::ServerContextBase& context) const {
  auth::Caller caller = auth::CallerOf(*context.auth_context());
  if (!caller.authenticated && access_.dev_mode) {
    caller = auth::InsecureDevCaller();
  }
  const auto& metadata = context.client_metadata();
  const auto named = metadata.find(auth::kOnBehalfOfHeader);
  if (named != metadata.end()) {
    // Only an agent's word about its own caller is recorded, and only in
    // the audit line: rights stay those of the calling principal.
    // In the escaped form only (printable ASCII, bounded), so that the
    // audit line holds no bytes an agent was not meant to send.
    const absl::string_view value(named->second.data(), named->second.size());
    if (access_.policy->IsAgent(caller) && auth::IsEscapedOnBehalfOf(value)) {
      caller.on_behalf_of.assign(named->second.data(), named->second.size());
    } else {
      ignored_on_behalf_of_.fetch_add(1, std::memory_order_relaxed);
    }
  }
  return caller;
}

grpc::Status IdentityService::Audit(const auth::Caller& caller,
                                    auth::AuditAction action,
                                    auth::AuditEvent event,
                                    const absl::Status& result) const {
  if (access_.audit == nullptr) return wire::ToGrpcStatus(result);
  event.principal = auth::PrincipalOf(caller);
  event.on_behalf_of = caller.on_behalf_of;
  event.action = action;
  event.result = result;
  absl::Status recorded = access_.audit->Record(event);
  if (!recorded.ok()) {
    // Fail closed: a state change no one can account for is not handed
    // out. A logout has taken effect nonetheless, and a retry is harmless.
    telemetry::Log(telemetry::LogLevel::kError, "audit log write failed",
                   {{"error", std::string(recorded.message())}});
    return wire::ToGrpcStatus(absl::UnavailableError(
        absl::StrCat("the audit log cannot be written: ", recorded.message())));
  }
  return wire::ToGrpcStatus(result);
}

grpc::ServerUnaryReactor* IdentityService::Offload(
    grpc::CallbackServerContext* context,
    std::function<grpc::Status()> handle) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  writers_.Schedule(
      [reactor, handle = std::move(handle)] { reactor->Finish(handle()); });
  return reactor;
}

grpc::ServerUnaryReactor* IdentityService::Issue(
    grpc::CallbackServerContext* context,
    const sigil::v1::IssueRequest* request,
    sigil::v1::IssueResponse* response) {
  return Answer(context, HandleIssue(*context, *request, response));
}

grpc::Status IdentityService::HandleIssue(
    const grpc::ServerContextBase& context,
    const sigil::v1::IssueRequest& request,
    sigil::v1::IssueResponse* response) {
  const auth::Caller caller = CallerOf(context);
  IssueParams params;
  params.subject = request.subject();
  params.systems.assign(request.systems().begin(), request.systems().end());
  params.scopes.assign(request.scopes().begin(), request.scopes().end());
  auth::AuditEvent event;
  event.subject = params.subject;
  event.systems = params.systems;
  // Validated before anything else, so a malformed request costs the audit
  // log one bounded line (see AuditLimits), whoever sends it.
  absl::Status valid =
      ValidateIssue(params.subject, params.systems, params.scopes);
  if (!valid.ok()) {
    return Audit(caller, auth::AuditAction::kIssue, event, valid);
  }
  absl::Status allowed = access_.policy->MayIssue(caller, params.systems);
  if (!allowed.ok()) {
    return Audit(caller, auth::AuditAction::kIssue, event, allowed);
  }
  auto ttl = TtlOf(request);
  if (!ttl.ok()) {
    return Audit(caller, auth::AuditAction::kIssue, event, ttl.status());
  }
  params.ttl = *ttl;
  auto issued = authority_->Issue(params);
  if (!issued.ok()) {
    return Audit(caller, auth::AuditAction::kIssue, event, issued.status());
  }
  event.session_id = issued->session_id;
  event.token_id = issued->token_id;
  grpc::Status status =
      Audit(caller, auth::AuditAction::kIssue, event, absl::OkStatus());
  if (status.ok()) FillIssued(*std::move(issued), response);
  return status;
}

grpc::ServerUnaryReactor* IdentityService::Refresh(
    grpc::CallbackServerContext* context,
    const sigil::v1::RefreshRequest* request,
    sigil::v1::IssueResponse* response) {
  return Offload(context, [this, context, request, response] {
    return HandleRefresh(*context, *request, response);
  });
}

grpc::Status IdentityService::HandleRefresh(
    const grpc::ServerContextBase& context,
    const sigil::v1::RefreshRequest& request,
    sigil::v1::IssueResponse* response) {
  const auth::Caller caller = CallerOf(context);
  auth::AuditEvent event;
  if (!request.system().empty()) {
    absl::Status valid = ValidateSystem(request.system());
    if (!valid.ok()) {
      return Audit(caller, auth::AuditAction::kRefresh, event, valid);
    }
  }
  auto issued = authority_->Refresh(
      request.refresh_token(), [&](absl::Span<const std::string> systems) {
        // A caller acting for one system (sigil-agent) refreshes only a
        // session of that system alone: a session for [A, B] would hand
        // A's agent a token valid at B, which it may not issue. Refused
        // before the rotation, so the session and its token are untouched.
        if (!request.system().empty()) {
          for (const std::string& system : systems) {
            if (system != request.system()) {
              return absl::PermissionDeniedError(
                  absl::StrCat("the session is for system \"", system,
                               "\", beyond system \"", request.system(),
                               "\" that the caller acts for"));
            }
          }
        }
        return access_.policy->MayRefresh(caller, systems);
      });
  if (!issued.ok()) {
    return Audit(caller, auth::AuditAction::kRefresh, event, issued.status());
  }
  event.subject = issued->subject;
  event.systems = issued->systems;
  event.session_id = issued->session_id;
  event.token_id = issued->token_id;
  grpc::Status status =
      Audit(caller, auth::AuditAction::kRefresh, event, absl::OkStatus());
  if (status.ok()) FillIssued(*std::move(issued), response);
  return status;
}

grpc::Status IdentityService::ListSessions(
    grpc::ServerContext* context, const sigil::v1::ListSessionsRequest* request,
    sigil::v1::ListSessionsResponse* response) {
  absl::Status allowed = access_.policy->IsAdmin(CallerOf(*context));
  if (!allowed.ok()) return wire::ToGrpcStatus(allowed);
  auto page = authority_->ListSessionsPage(
      request->subject(), request->page_token(), request->page_size());
  if (!page.ok()) return wire::ToGrpcStatus(page.status());
  response->set_next_page_token(page->next_page_token);
  for (const store::Session& session : page->sessions) {
    sigil::v1::Session* out = response->add_sessions();
    out->set_session_id(session.session_id);
    out->set_subject(session.subject);
    for (const std::string& system : session.systems) out->add_systems(system);
    for (const std::string& scope : session.scopes) out->add_scopes(scope);
    *out->mutable_created() = wire::ToTimestamp(session.created);
    if (session.last_refreshed != absl::InfinitePast()) {
      *out->mutable_last_refreshed() =
          wire::ToTimestamp(session.last_refreshed);
    }
    *out->mutable_expires_at() = wire::ToTimestamp(session.expires_at);
    *out->mutable_idle_expires_at() =
        wire::ToTimestamp(session.idle_expires_at);
  }
  return grpc::Status::OK;
}

grpc::ServerUnaryReactor* IdentityService::Verify(
    grpc::CallbackServerContext* context,
    const sigil::v1::VerifyRequest* request,
    sigil::v1::VerifyResponse* response) {
  const uint64_t min_seq = request->min_seq();
  if (min_seq == 0 || feed_->last_seq() >= min_seq) {
    return Answer(context, HandleVerify(*context, *request, response));
  }
  // Read-your-logout: this server has not applied every revocation up to
  // min_seq (a replica still catching up), so any verdict now could be a
  // stale OK. Allowed callers only may hold a wait.
  absl::Status allowed =
      access_.policy->MayVerify(CallerOf(*context), request->system());
  if (!allowed.ok()) return Answer(context, wire::ToGrpcStatus(allowed));
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  seq_waiter_.Wait(
      min_seq,
      MinSeqWaitDeadline(absl::FromChrono(context->deadline()), absl::Now()),
      [this, context, request, response, reactor, min_seq](bool reached) {
        if (!reached) {
          reactor->Finish(
              grpc::Status(grpc::StatusCode::UNAVAILABLE,
                           absl::StrCat("revocation seq ", min_seq,
                                        " is not applied here yet (applied ",
                                        feed_->last_seq(), ")")));
          return;
        }
        reactor->Finish(HandleVerify(*context, *request, response));
      });
  return reactor;
}

void IdentityService::BeginShutdown() {
  ending_.store(true);
  // Wakes every stream, which then sees ending_.
  feed_->Beat();
  seq_waiter_.Stop();
}

grpc::Status IdentityService::HandleVerify(
    const grpc::ServerContextBase& context,
    const sigil::v1::VerifyRequest& request,
    sigil::v1::VerifyResponse* response) const {
  absl::Status allowed =
      access_.policy->MayVerify(CallerOf(context), request.system());
  if (!allowed.ok()) return wire::ToGrpcStatus(allowed);
  const std::vector<std::string> scopes(request.required_scopes().begin(),
                                        request.required_scopes().end());
  auto verdict = authority_->Verify(request.token(), request.system(), scopes);
  if (!verdict.ok()) return wire::ToGrpcStatus(verdict.status());

  *response->mutable_verdict() =
      wire::ToVerdict(verdict->reason, verdict->message);
  if (verdict->claims.has_value()) {
    *response->mutable_claims() = wire::ToClaims(*verdict->claims);
  }
  if (verdict->cache_until.has_value()) {
    *response->mutable_cache_until() = wire::ToTimestamp(*verdict->cache_until);
  }
  return grpc::Status::OK;
}

grpc::ServerUnaryReactor* IdentityService::LogoutFromSystem(
    grpc::CallbackServerContext* context,
    const sigil::v1::LogoutFromSystemRequest* request,
    sigil::v1::LogoutResponse* response) {
  return Offload(context, [this, context, request, response] {
    return HandleLogoutFromSystem(*context, *request, response);
  });
}

grpc::Status IdentityService::HandleLogoutFromSystem(
    const grpc::ServerContextBase& context,
    const sigil::v1::LogoutFromSystemRequest& request,
    sigil::v1::LogoutResponse* response) {
  const auth::Caller caller = CallerOf(context);
  auth::AuditEvent event;
  event.subject = request.subject();
  event.systems = {request.system()};
  absl::Status valid = ValidateSystem(request.system());
  if (valid.ok() && !request.subject().empty()) {
    valid = ValidateSubject(request.subject());
  }
  if (!valid.ok()) {
    return Audit(caller, auth::AuditAction::kLogoutFromSystem, event, valid);
  }
  // By subject or with the user's own token, only the system itself may
  // end sessions there; the authority checks the token is for it.
  absl::Status allowed =
      access_.policy->MayLogoutFromSystem(caller, request.system());
  if (!allowed.ok()) {
    return Audit(caller, auth::AuditAction::kLogoutFromSystem, event, allowed);
  }
  auto result = authority_->LogoutFromSystem(
      request.system(), LogoutTarget{request.subject(), request.token()});
  if (!result.ok()) {
    return Audit(caller, auth::AuditAction::kLogoutFromSystem, event,
                 result.status());
  }
  event.subject = result->subject;
  grpc::Status status = Audit(caller, auth::AuditAction::kLogoutFromSystem,
                              event, absl::OkStatus());
  if (status.ok()) FillLogout(*result, response);
  return status;
}

grpc::ServerUnaryReactor* IdentityService::LogoutAll(
    grpc::CallbackServerContext* context,
    const sigil::v1::LogoutAllRequest* request,
    sigil::v1::LogoutResponse* response) {
  return Offload(context, [this, context, request, response] {
    return HandleLogoutAll(*context, *request, response);
  });
}

grpc::Status IdentityService::HandleLogoutAll(
    const grpc::ServerContextBase& context,
    const sigil::v1::LogoutAllRequest& request,
    sigil::v1::LogoutResponse* response) {
  const auth::Caller caller = CallerOf(context);
  auth::AuditEvent event;
  event.subject = request.subject();
  // Naming a subject ends it everywhere: an administrator's act. With the
  // user's own token, any system the token is valid at may do it for them.
  if (!request.subject().empty()) {
    absl::Status valid = ValidateSubject(request.subject());
    if (!valid.ok()) {
      return Audit(caller, auth::AuditAction::kLogoutAll, event, valid);
    }
    absl::Status allowed = access_.policy->IsAdmin(caller);
    if (!allowed.ok()) {
      return Audit(caller, auth::AuditAction::kLogoutAll, event, allowed);
    }
  }
  auto acting_for = ActingForSystem(context);
  if (!acting_for.ok()) {
    return Audit(caller, auth::AuditAction::kLogoutAll, event,
                 acting_for.status());
  }
  auto result = authority_->LogoutAll(
      LogoutTarget{request.subject(), request.token()},
      [&](absl::Span<const std::string> audience) {
        if (absl::Status at = StillValidAt(*acting_for, audience); !at.ok()) {
          return at;
        }
        return access_.policy->MayActForTokenAudience(caller, audience);
      });
  if (!result.ok()) {
    return Audit(caller, auth::AuditAction::kLogoutAll, event, result.status());
  }
  event.subject = result->subject;
  grpc::Status status =
      Audit(caller, auth::AuditAction::kLogoutAll, event, absl::OkStatus());
  if (status.ok()) FillLogout(*result, response);
  return status;
}

grpc::ServerUnaryReactor* IdentityService::Revoke(
    grpc::CallbackServerContext* context,
    const sigil::v1::RevokeRequest* request,
    sigil::v1::RevokeResponse* response) {
  return Offload(context, [this, context, request, response] {
    return HandleRevoke(*context, *request, response);
  });
}

grpc::Status IdentityService::HandleRevoke(
    const grpc::ServerContextBase& context,
    const sigil::v1::RevokeRequest& request, sigil::v1::RevokeResponse*) {
  const auth::Caller caller = CallerOf(context);
  auth::AuditEvent event;
  auto acting_for = ActingForSystem(context);
  if (!acting_for.ok()) {
    return Audit(caller, auth::AuditAction::kRevoke, event,
                 acting_for.status());
  }
  auto revoked = authority_->Revoke(
      request.token(), [&](absl::Span<const std::string> audience) {
        if (absl::Status at = StillValidAt(*acting_for, audience); !at.ok()) {
          return at;
        }
        return access_.policy->MayActForTokenAudience(caller, audience);
      });
  if (!revoked.ok()) {
    return Audit(caller, auth::AuditAction::kRevoke, event, revoked.status());
  }
  event.subject = revoked->subject;
  event.systems = revoked->systems;
  event.session_id = revoked->session_id;
  event.token_id = revoked->token_id;
  return Audit(caller, auth::AuditAction::kRevoke, event, absl::OkStatus());
}

grpc::Status IdentityService::GetJwks(grpc::ServerContext*,
                                      const sigil::v1::GetJwksRequest*,
                                      sigil::v1::GetJwksResponse* response) {
  const std::shared_ptr<const KeySnapshot> keys = authority_->keys();
  *response = wire::ToJwksResponse(keys->public_keys);
  response->set_key_set_version(keys->version);
  return grpc::Status::OK;
}

grpc::Status IdentityService::RotateKeys(grpc::ServerContext* context,
                                         const sigil::v1::RotateKeysRequest*,
                                         sigil::v1::KeysResponse* response) {
  const auth::Caller caller = CallerOf(*context);
  absl::Status allowed = access_.policy->IsAdmin(caller);
  if (!allowed.ok()) {
    return Audit(caller, auth::AuditAction::kRotateKeys, {}, allowed);
  }
  auto keys = authority_->RotateKeys();
  grpc::Status status =
      Audit(caller, auth::AuditAction::kRotateKeys, {}, keys.status());
  if (status.ok()) FillKeys(*keys, response);
  return status;
}

grpc::Status IdentityService::ListKeys(grpc::ServerContext* context,
                                       const sigil::v1::ListKeysRequest*,
                                       sigil::v1::KeysResponse* response) {
  absl::Status allowed = access_.policy->IsAdmin(CallerOf(*context));
  if (!allowed.ok()) return wire::ToGrpcStatus(allowed);
  FillKeys(authority_->ListKeys(), response);
  return grpc::Status::OK;
}

grpc::ServerBidiReactor<sigil::v1::WatchRevocationsRequest,
                        sigil::v1::WatchRevocationsResponse>*
IdentityService::WatchRevocations(grpc::CallbackServerContext* context) {
  absl::Status allowed = access_.policy->MayWatch(CallerOf(*context));
  if (!allowed.ok()) return new RefusedWatch(wire::ToGrpcStatus(allowed));
  if (ending_.load()) {
    return new RefusedWatch(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                         "the authority is shutting down"));
  }
  return new WatchReactor(
      feed_, clock_,
      [authority = authority_] { return authority->keys()->version; },
      propagation_lag_, &ending_);
}

}  // namespace sigil::server
