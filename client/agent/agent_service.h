#ifndef SIGIL_CLIENT_AGENT_AGENT_SERVICE_H_
#define SIGIL_CLIENT_AGENT_AGENT_SERVICE_H_

#include <string>

#include "absl/time/time.h"
#include "client/client.h"
#include "server/auth/caller.h"
#include "server/auth/policy.h"
#include "sigil/v1/identity.grpc.pb.h"

namespace sigil::client::agent {

// sigil.v1.Identity as a sidecar serves it: Verify and GetJwks from the SDK
// (local mode, cached, revocations applied) to every caller; Issue, Refresh,
// the logouts and Revoke forwarded to the authority only for a caller the
// agent's own policy grants them, and never beyond what the agent's system
// may do. WatchRevocations is the authority's alone.
//
// Each forwarded call is authorized twice: here against `policy` for the
// agent's caller (a certificate's URI or DNS SAN, a unix peer's
// "unix-uid:N", else "<anonymous>"), capped at the agent's `system` (an
// Issue only for it, a LogoutFromSystem only of it, a token's logout or
// Revoke only for a token issued for it and still valid there, a Refresh
// only of a session for it alone, no LogoutAll by subject), then by sigild
// against the agent's own certificate. The caps that need the session or
// the revocation state are sigild's: the agent sends its system
// (RefreshRequest.system, the sigil-acting-for-system header). The agent names
// its caller to sigild in the sigil-on-behalf-of header, which sigild records
// in its audit log when its policy marks the agent as one; it never adds
// rights. Refusals are PERMISSION_DENIED naming the caller (UNAUTHENTICATED
// only for a certificate that names no one, as sigild does), their message
// starting "sigil-agent of system S: "; the caps on sessions and revocation
// state are sigild's, whose denials say so.
//
// Thread-safe.
class AgentService final : public sigil::v1::Identity::Service {
 public:
  // Nothing is owned; all must outlive the service. Forwarded calls go
  // through the client's CallAuthority: the address its stream follows
  // first, the others when that one is UNAVAILABLE, within the client's
  // deadline. A Verify with min_seq waits, up to the call's deadline, until
  // the client has applied that seq (UNAVAILABLE if it has not).
  AgentService(Client* client, const server::auth::Policy* policy,
               std::string system)
      : client_(client), policy_(policy), system_(std::move(system)) {}

  grpc::Status Verify(grpc::ServerContext* context,
                      const sigil::v1::VerifyRequest* request,
                      sigil::v1::VerifyResponse* response) override;
  grpc::Status GetJwks(grpc::ServerContext* context,
                       const sigil::v1::GetJwksRequest* request,
                       sigil::v1::GetJwksResponse* response) override;
  grpc::Status Issue(grpc::ServerContext* context,
                     const sigil::v1::IssueRequest* request,
                     sigil::v1::IssueResponse* response) override;
  grpc::Status LogoutFromSystem(
      grpc::ServerContext* context,
      const sigil::v1::LogoutFromSystemRequest* request,
      sigil::v1::LogoutResponse* response) override;
  grpc::Status LogoutAll(grpc::ServerContext* context,
                         const sigil::v1::LogoutAllRequest* request,
                         sigil::v1::LogoutResponse* response) override;
  grpc::Status Refresh(grpc::ServerContext* context,
                       const sigil::v1::RefreshRequest* request,
                       sigil::v1::IssueResponse* response) override;
  grpc::Status Revoke(grpc::ServerContext* context,
                      const sigil::v1::RevokeRequest* request,
                      sigil::v1::RevokeResponse* response) override;

  // Who is calling: the certificate's names, else a unix peer's uid, else
  // the anonymous caller.
  static server::auth::Caller CallerOf(const grpc::ServerContext& context);

 private:
  // `denial` (the agent's own policy's) with its message prefixed
  // "sigil-agent of system S: ", so that a caller can tell the agent's
  // refusals from sigild's.
  grpc::Status Refused(const absl::Status& denial) const;
  // PERMISSION_DENIED naming `caller`: the request goes beyond the agent's
  // system.
  grpc::Status Beyond(const server::auth::Caller& caller,
                      absl::string_view what) const;

  // OK when `token` is a JWT whose "aud" names the agent's system;
  // UNAUTHENTICATED when it is no readable JWT (never forwarded on a guess),
  // else PERMISSION_DENIED. Read without verifying: it only caps what is
  // forwarded, and sigild verifies the token before acting on it, and acts
  // only where it is still valid at the agent's system.
  grpc::Status CheckTokenAudience(const server::auth::Caller& caller,
                                  const std::string& token) const;

  // Calls the authority with the caller named in sigil-on-behalf-of
  // (escaped) and the agent's system in sigil-acting-for-system.
  template <typename Request, typename Response>
  grpc::Status Forward(
      grpc::Status (sigil::v1::Identity::StubInterface::*method)(
          grpc::ClientContext*, const Request&, Response*),
      const server::auth::Caller& caller, const Request& request,
      Response* response);

  Client* const client_;
  const server::auth::Policy* const policy_;
  const std::string system_;
};

}  // namespace sigil::client::agent

#endif  // SIGIL_CLIENT_AGENT_AGENT_SERVICE_H_
