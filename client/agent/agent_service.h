#ifndef SIGIL_CLIENT_AGENT_AGENT_SERVICE_H_
#define SIGIL_CLIENT_AGENT_AGENT_SERVICE_H_

#include <string>

#include "client/client.h"
#include "sigil/v1/identity.grpc.pb.h"

namespace sigil::client::agent {

// sigil.v1.Identity as a sidecar serves it: Verify and GetJwks from the SDK
// (local mode, cached, revocations applied), Issue, Refresh, the logouts
// and Revoke forwarded to the authority. WatchRevocations is the authority's
// alone. Thread-safe.
class AgentService final : public sigil::v1::Identity::Service {
 public:
  // `client` is not owned and must outlive the service.
  explicit AgentService(Client* client, std::string system)
      : client_(client), system_(std::move(system)) {}

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

 private:
  Client* const client_;
  const std::string system_;
};

}  // namespace sigil::client::agent

#endif  // SIGIL_CLIENT_AGENT_AGENT_SERVICE_H_
