#ifndef SIGIL_SERVER_IDENTITY_SERVICE_H_
#define SIGIL_SERVER_IDENTITY_SERVICE_H_

#include <atomic>
#include <cstdint>
#include <functional>

#include "server/auth/audit_log.h"
#include "server/auth/caller.h"
#include "server/auth/policy.h"
#include "server/authority.h"
#include "server/revocation_feed.h"
#include "server/seq_waiter.h"
#include "server/worker_pool.h"
#include "sigil/v1/identity.grpc.pb.h"
#include "telemetry/metrics.h"
#include "token/clock.h"

namespace sigil::server {

// Who may call what, and where state changes are recorded.
struct Access {
  const auth::Policy* policy = nullptr;  // required
  // Dev mode (AllowAll on loopback): a peer without a certificate is
  // audited as auth::InsecureDevCaller().
  bool dev_mode = false;
  // Every state-changing call, allowed or not, is recorded here; a call
  // whose record cannot be written fails UNAVAILABLE. Null: no audit.
  auth::AuditLog* audit = nullptr;
};

// sigil.v1.Identity over gRPC: authorizes each call against the policy,
// translates messages to Authority calls and statuses back
// (ToGrpcStatus), and audits state changes; no token logic of its own.
// Thread-safe.
// The frequent calls are on gRPC's callback API, free of the sync
// server's per-call thread hand-off, which would cost Verify more than its
// work. Verify and WatchRevocations never wait for the disk, and Issue
// writes its session unsynced; these run on gRPC's own threads. Issue can
// still wait behind a synced write now and then: when its tick passes the
// reserved horizon (a synced ReserveTicks, about once a minute) and while a
// logout of a subject holds the store's session counters across its synced
// write (see docs/design.md, "Locks"). Refresh, the logouts and Revoke,
// which wait for a synced write each, run on the service's writer threads,
// so they cannot hold up the others, and those arriving together share one
// write. The rare administrative calls stay synchronous.
class IdentityService final
    : public sigil::v1::Identity::WithCallbackMethod_Issue<
          sigil::v1::Identity::WithCallbackMethod_Verify<
              sigil::v1::Identity::WithCallbackMethod_WatchRevocations<
                  sigil::v1::Identity::WithCallbackMethod_Refresh<
                      sigil::v1::Identity::WithCallbackMethod_LogoutFromSystem<
                          sigil::v1::Identity::WithCallbackMethod_LogoutAll<
                              sigil::v1::Identity::WithCallbackMethod_Revoke<
                                  sigil::v1::Identity::Service>>>>>>> {
 public:
  // Nothing is owned; everything must outlive the service.
  // `propagation_lag`, when given, observes each live revocation's delay
  // to every stream.
  IdentityService(Authority* authority, RevocationFeed* feed,
                  const token::Clock* clock, Access access,
                  telemetry::Histogram* propagation_lag = nullptr)
      : authority_(authority),
        feed_(feed),
        clock_(clock),
        access_(access),
        propagation_lag_(propagation_lag),
        seq_waiter_(feed),
        writers_(kWriterThreads) {}

  // The start of a graceful shutdown, before the server's own: ends every
  // WatchRevocations stream (UNAVAILABLE, so subscribers resume at once
  // elsewhere or after the restart; an open stream would otherwise hold
  // the whole grace period), refuses new ones, and answers every Verify
  // still waiting for its min_seq UNAVAILABLE. Unary calls in flight
  // finish as usual.
  void BeginShutdown();

  grpc::ServerUnaryReactor* Issue(grpc::CallbackServerContext* context,
                                  const sigil::v1::IssueRequest* request,
                                  sigil::v1::IssueResponse* response) override;
  grpc::ServerUnaryReactor* Verify(
      grpc::CallbackServerContext* context,
      const sigil::v1::VerifyRequest* request,
      sigil::v1::VerifyResponse* response) override;
  grpc::ServerUnaryReactor* LogoutFromSystem(
      grpc::CallbackServerContext* context,
      const sigil::v1::LogoutFromSystemRequest* request,
      sigil::v1::LogoutResponse* response) override;
  grpc::ServerUnaryReactor* LogoutAll(
      grpc::CallbackServerContext* context,
      const sigil::v1::LogoutAllRequest* request,
      sigil::v1::LogoutResponse* response) override;
  grpc::ServerUnaryReactor* Revoke(
      grpc::CallbackServerContext* context,
      const sigil::v1::RevokeRequest* request,
      sigil::v1::RevokeResponse* response) override;
  grpc::Status GetJwks(grpc::ServerContext* context,
                       const sigil::v1::GetJwksRequest* request,
                       sigil::v1::GetJwksResponse* response) override;
  grpc::Status RotateKeys(grpc::ServerContext* context,
                          const sigil::v1::RotateKeysRequest* request,
                          sigil::v1::KeysResponse* response) override;
  grpc::Status ListKeys(grpc::ServerContext* context,
                        const sigil::v1::ListKeysRequest* request,
                        sigil::v1::KeysResponse* response) override;
  // On the callback API: streams hold no thread while idle.
  grpc::ServerBidiReactor<sigil::v1::WatchRevocationsRequest,
                          sigil::v1::WatchRevocationsResponse>*
  WatchRevocations(grpc::CallbackServerContext* context) override;
  grpc::ServerUnaryReactor* Refresh(
      grpc::CallbackServerContext* context,
      const sigil::v1::RefreshRequest* request,
      sigil::v1::IssueResponse* response) override;
  grpc::Status ListSessions(grpc::ServerContext* context,
                            const sigil::v1::ListSessionsRequest* request,
                            sigil::v1::ListSessionsResponse* response) override;

  // Calls whose sigil-on-behalf-of header was ignored: sent by a principal
  // the policy does not mark as an agent, or over 4 KiB.
  uint64_t ignored_on_behalf_of() const {
    return ignored_on_behalf_of_.load(std::memory_order_relaxed);
  }

 private:
  // The transport's caller, with the on-behalf-of name an agent gave.
  auth::Caller CallerOf(const grpc::ServerContextBase& context) const;
  // The work of the callback handlers, whose reactors answer with it.
  grpc::Status HandleIssue(const grpc::ServerContextBase& context,
                           const sigil::v1::IssueRequest& request,
                           sigil::v1::IssueResponse* response);
  grpc::Status HandleVerify(const grpc::ServerContextBase& context,
                            const sigil::v1::VerifyRequest& request,
                            sigil::v1::VerifyResponse* response) const;
  grpc::Status HandleRefresh(const grpc::ServerContextBase& context,
                             const sigil::v1::RefreshRequest& request,
                             sigil::v1::IssueResponse* response);
  grpc::Status HandleLogoutFromSystem(
      const grpc::ServerContextBase& context,
      const sigil::v1::LogoutFromSystemRequest& request,
      sigil::v1::LogoutResponse* response);
  grpc::Status HandleLogoutAll(const grpc::ServerContextBase& context,
                               const sigil::v1::LogoutAllRequest& request,
                               sigil::v1::LogoutResponse* response);
  grpc::Status HandleRevoke(const grpc::ServerContextBase& context,
                            const sigil::v1::RevokeRequest& request,
                            sigil::v1::RevokeResponse* response);
  // Runs `handle` on a writer thread and answers the call with its status.
  grpc::ServerUnaryReactor* Offload(grpc::CallbackServerContext* context,
                                    std::function<grpc::Status()> handle);
  // Records the call (when audited) and returns its status as gRPC's; an
  // unwritable record turns it into UNAVAILABLE.
  grpc::Status Audit(const auth::Caller& caller, auth::AuditAction action,
                     auth::AuditEvent event, const absl::Status& result) const;

  Authority* const authority_;
  RevocationFeed* const feed_;
  const token::Clock* const clock_;
  const Access access_;
  telemetry::Histogram* const propagation_lag_;
  // Set by BeginShutdown; read by every WatchReactor.
  std::atomic<bool> ending_{false};
  // Verify calls whose min_seq is not applied yet.
  SeqWaiter seq_waiter_;
  mutable std::atomic<uint64_t> ignored_on_behalf_of_{0};
  // Enough for the writes of this many calls to share one fsync; further
  // calls queue.
  static constexpr int kWriterThreads = 32;
  // Last: destroyed first, running what is queued while the rest is alive.
  WorkerPool writers_;
};

}  // namespace sigil::server

#endif  // SIGIL_SERVER_IDENTITY_SERVICE_H_
