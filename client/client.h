#ifndef SIGIL_CLIENT_CLIENT_H_
#define SIGIL_CLIENT_CLIENT_H_

#include <grpcpp/channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "client/revocation_watcher.h"
#include "sigil/v1/identity.grpc.pb.h"
#include "token/claims_cache.h"
#include "token/clock.h"
#include "token/jwt.h"
#include "token/key_set.h"

namespace sigil::client {

struct ClientOptions {
  // The system this client verifies for: tokens must name it in "aud".
  std::string system;
  // Local: verify signatures with the authority's key set. Remote: ask the
  // authority's Verify. Either way verdicts are cached until exp.
  enum class Mode { kLocal, kRemote };
  Mode mode = Mode::kLocal;
  // Local mode: the issuer tokens must carry (sigild's --issuer).
  std::string issuer = "sigil";
  // Local mode: the issuer's longest access-token lifetime (sigild's
  // --max_token_ttl); a token claiming a longer one is refused.
  absl::Duration max_token_ttl = absl::Hours(24);
  size_t cache_capacity = 100000;
  // Past this without proof that every revocation has been applied, the
  // cache and the local index are not trusted (docs/design.md, section 9).
  absl::Duration max_staleness = absl::Seconds(2);
  // Of each call to the authority (all its addresses tried within it), and
  // of a Verify's wait for its min_seq when the caller gives no deadline.
  absl::Duration deadline = absl::Seconds(2);
  // An unknown kid refetches the key set at most this often; within it, a
  // token of an unknown kid is UNAVAILABLE (its key may be too new to be
  // held), not refused. Rotations do not wait for it: the revocation stream
  // names the key set version, and a new one is fetched (off the stream's
  // thread) as soon as it appears.
  absl::Duration jwks_refetch_interval = absl::Seconds(10);
  // Token times are read on its wall clock, staleness on its monotonic
  // reading. RealClock() when null; not owned.
  const token::Clock* clock = nullptr;
};

// The channel arguments of AuthorityChannels: a reconnect backoff of 100 ms
// growing to at most 250 ms (gRPC's default grows from 1 s to 120 s, which
// left an agent failing for seconds after its authority was back), and
// round_robin over every address a name resolves to, so that a DNS name of
// several replicas spreads calls and skips one that is down.
grpc::ChannelArguments AuthorityChannelArguments();

// One channel per entry of `addresses`, a comma-separated list of the
// authority's replicas (host:port, unix:PATH, dns:///name:port, or any
// gRPC target; blanks around entries are ignored), for Client::Create and
// sigil-agent's --authority. INVALID_ARGUMENT for an empty list or entry.
absl::StatusOr<std::vector<std::shared_ptr<grpc::ChannelInterface>>>
AuthorityChannels(absl::string_view addresses,
                  const std::shared_ptr<grpc::ChannelCredentials>& credentials);

// How Verify may be asked to wait (read-your-logout).
struct VerifyOptions {
  // A LogoutResponse.revocation_seq: Verify first waits until the client
  // has applied every revocation up to it, then answers as usual; when that
  // does not happen in time, UNAVAILABLE. 0: no wait.
  uint64_t min_seq = 0;
  // Until when to wait; a little before it, so that an agent's caller
  // reads the UNAVAILABLE rather than its own DEADLINE_EXCEEDED. Infinite:
  // the client's deadline option from now.
  absl::Time deadline = absl::InfiniteFuture();
};

// A token this client has verified; only the Client creates one.
class VerifiedToken {
 public:
  const token::JwtClaims& claims() const { return *claims_; }

 private:
  friend class Client;
  explicit VerifiedToken(token::ClaimsCache::Claims claims)
      : claims_(std::move(claims)) {}
  token::ClaimsCache::Claims claims_;
};

// The Sigil SDK: verifies tokens for one system, caching verdicts until the
// token's exp and dropping them as revocations stream in; when it cannot
// show it is current within max_staleness it asks the authority, and
// answers UNAVAILABLE when it cannot. Thread-safe; a cache hit takes one
// shard lock and reads the index generation, and takes the index's shared
// lock only for the first hit after a revocation arrived.
class Client {
 public:
  // Fetches the key set (local mode) and starts the revocation stream.
  static absl::StatusOr<std::unique_ptr<Client>> Create(
      std::shared_ptr<grpc::ChannelInterface> channel, ClientOptions options);
  // The same over several addresses of one authority (its replicas, which
  // count the same revocation seqs; AuthorityChannels makes them): the
  // stream follows one and moves to the next as soon as it breaks or goes
  // silent, resuming where it was (no reset, the cache kept); calls go
  // first to the address the stream last heard from and, when that fails
  // UNAVAILABLE, to each other one within the same deadline. A retried
  // logout or Revoke is harmless (the same revocation again), a retried
  // Refresh gets the same successor within sigild's --refresh_grace, and a
  // retried Issue may open a session that is never used.
  static absl::StatusOr<std::unique_ptr<Client>> Create(
      std::vector<std::shared_ptr<grpc::ChannelInterface>> channels,
      ClientOptions options);
  ~Client();

  // OK with the claims; UNAUTHENTICATED or PERMISSION_DENIED carrying the
  // token::Reason (token::ReasonOf); UNAVAILABLE when no answer within the
  // staleness bound is possible; INVALID_ARGUMENT for an empty token.
  absl::StatusOr<VerifiedToken> Verify(
      absl::string_view token,
      absl::Span<const std::string> required_scopes = {});
  // With options.min_seq, first waits for that seq (VerifyOptions); the
  // authority, if asked, is asked with the same min_seq.
  absl::StatusOr<VerifiedToken> Verify(
      absl::string_view token, absl::Span<const std::string> required_scopes,
      const VerifyOptions& options);

  // Verify for event-loop servers: `done` runs exactly once, inline when
  // the answer needs no call to the authority (a cache hit, or local
  // verification while current; a key-set refetch on an unknown kid still
  // blocks), otherwise on a gRPC thread when the authority answers. The
  // client must outlive the call.
  using VerifyCallback =
      std::function<void(absl::StatusOr<VerifiedToken> result)>;
  void VerifyAsync(std::string token, std::vector<std::string> required_scopes,
                   VerifyCallback done);

  // Thin wrappers over the authority's RPCs.
  absl::StatusOr<sigil::v1::IssueResponse> Issue(
      const sigil::v1::IssueRequest& request);
  absl::StatusOr<sigil::v1::LogoutResponse> LogoutFromSystem(
      const sigil::v1::LogoutFromSystemRequest& request);
  absl::StatusOr<sigil::v1::LogoutResponse> LogoutAll(
      const sigil::v1::LogoutAllRequest& request);
  absl::StatusOr<sigil::v1::IssueResponse> Refresh(
      const sigil::v1::RefreshRequest& request);
  absl::Status Revoke(const sigil::v1::RevokeRequest& request);
  // One page of a subject's sessions (an admin's call): pass the reply's
  // next_page_token back as page_token until it comes back empty.
  absl::StatusOr<sigil::v1::ListSessionsResponse> ListSessions(
      const sigil::v1::ListSessionsRequest& request);
  // Every live session of `subject`, page after page, in session id order.
  absl::StatusOr<std::vector<sigil::v1::Session>> ListAllSessions(
      const std::string& subject);

  // Any other call to the authority, with the failover of the wrappers:
  // `call` is run with the stub of one address and a fresh context
  // carrying the client's deadline (add metadata to it as needed), then
  // again on each other address while it fails UNAVAILABLE and time is
  // left.
  using AuthorityCall = std::function<grpc::Status(
      sigil::v1::Identity::StubInterface& stub, grpc::ClientContext& context)>;
  grpc::Status CallAuthority(const AuthorityCall& call);

  // The authority's key set as last fetched (local mode; keys are null in
  // remote mode), and the authority's key_set_version of it.
  struct FetchedKeys {
    std::shared_ptr<const token::KeySet> keys;
    std::string version;
  };
  FetchedKeys fetched_keys();

  // Whether the revocation state is proven current now: every revocation
  // as of at most max_staleness ago, measured on the monotonic clock from
  // when this client sent the probe the authority echoed.
  bool IsCurrent() const;
  // The highest revocation seq applied (LogoutResponse.revocation_seq is
  // comparable to it).
  uint64_t applied_seq() const { return watcher_.applied_seq(); }

  // What an operator watches: the cache, the revocation stream and the
  // key set. Cheap enough for every scrape (it visits each cache shard).
  struct Stats {
    token::ClaimsCache::Stats cache;
    uint64_t revocation_events_applied = 0;
    uint64_t applied_seq = 0;
    // How long since the moment the stream last proved the client current
    // as of (monotonic); the time since Create before the first proof.
    absl::Duration staleness;
    bool current = false;
    std::string key_set_version;
  };
  Stats stats();

 private:
  Client(std::vector<std::unique_ptr<sigil::v1::Identity::StubInterface>> stubs,
         ClientOptions options);
  std::vector<sigil::v1::Identity::StubInterface*> StubPointers() const;

  absl::StatusOr<token::JwtClaims> VerifyLocally(absl::string_view token);
  absl::StatusOr<token::JwtClaims> VerifyRemotely(absl::string_view token,
                                                  uint64_t min_seq = 0);
  sigil::v1::VerifyRequest RemoteRequest(absl::string_view token,
                                         uint64_t min_seq = 0) const;
  // The claims of an OK verdict, the verdict's VerdictError, or UNAVAILABLE
  // when the call failed.
  static absl::StatusOr<token::JwtClaims> RemoteOutcome(
      const grpc::Status& rpc, const sigil::v1::VerifyResponse& response);
  // FetchKeys, unless the key set was fetched within jwks_refetch_interval.
  absl::Status RefreshKeys();
  absl::Status FetchKeys();
  // On the watcher's thread, off the Verify path: true when the key set of
  // `version` is held; otherwise asks the key fetcher for it and returns
  // false at once.
  bool OnKeySetVersion(const std::string& version);
  // The key fetcher's thread (local mode): fetches the key set whenever the
  // stream names a version other than the one held, with backoff.
  void FetchLoop();
  bool FetchWantedOrStopping() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(keys_mu_);
  // The answer for a cache hit found at `generation`: the claims are
  // checked against the index again (and dropped when revoked) unless they
  // were last checked at that generation.
  absl::StatusOr<VerifiedToken> FromCache(
      absl::string_view token, token::ClaimsCache::Hit hit, uint64_t generation,
      absl::Span<const std::string> required_scopes);
  // OK, or the reason the index says the token is revoked.
  absl::Status CheckRevocation(const token::JwtClaims& claims) const;
  static absl::StatusOr<VerifiedToken> Grant(
      token::ClaimsCache::Claims claims, absl::Span<const std::string> scopes);
  // CheckRevocation, then Grant.
  absl::StatusOr<VerifiedToken> Judge(
      token::ClaimsCache::Claims claims,
      absl::Span<const std::string> scopes) const;
  std::unique_ptr<grpc::ClientContext> Context() const;
  // The stub of the address the revocation stream last heard from.
  sigil::v1::Identity::StubInterface& PreferredStub() const;
  // One unary call to the authority with the client's deadline.
  template <typename Request, typename Response>
  absl::StatusOr<Response> Unary(
      grpc::Status (sigil::v1::Identity::StubInterface::*method)(
          grpc::ClientContext*, const Request&, Response*),
      const Request& request);

  const ClientOptions options_;
  const token::Clock* const clock_;
  // Monotonic reading at construction.
  const absl::Duration created_;
  // One per address of the authority; at least one.
  const std::vector<std::unique_ptr<sigil::v1::Identity::StubInterface>> stubs_;
  const token::JwtVerifier verifier_;
  token::ClaimsCache cache_;
  absl::Mutex keys_mu_;
  FetchedKeys keys_ ABSL_GUARDED_BY(keys_mu_);
  absl::Time keys_fetched_at_ ABSL_GUARDED_BY(keys_mu_) = absl::InfinitePast();
  // The version the stream last named that is not held; empty for none.
  std::string wanted_version_ ABSL_GUARDED_BY(keys_mu_);
  bool stopping_fetch_ ABSL_GUARDED_BY(keys_mu_) = false;
  std::thread key_fetcher_;
  // Last: its thread must stop before the rest goes away.
  RevocationWatcher watcher_;
};

}  // namespace sigil::client

#endif  // SIGIL_CLIENT_CLIENT_H_
