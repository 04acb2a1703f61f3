#include "client/client.h"

#include <grpcpp/create_channel.h>

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "token/reason.h"
#include "wire/claims.h"
#include "wire/status.h"
#include "wire/verdict.h"

namespace sigil::client {
namespace {

// When a wait for a min_seq gives up: shortly before `deadline`, so that
// the answer (UNAVAILABLE) still reaches a caller bound by it.
absl::Time MinSeqWaitDeadline(absl::Time deadline, absl::Time now) {
  constexpr absl::Duration kMargin = absl::Milliseconds(100);
  const absl::Duration left = deadline - now;
  return deadline - std::min(kMargin, left / 10);
}

RevocationWatcher::Options WatcherOptions(const ClientOptions& options) {
  RevocationWatcher::Options watcher;
  // Silent for half the staleness bound (two heartbeats at least): move to
  // another address while the last proof still holds.
  watcher.silence_timeout = std::clamp(
      options.max_staleness / 2, absl::Milliseconds(500), absl::Seconds(1));
  return watcher;
}

}  // namespace

grpc::ChannelArguments AuthorityChannelArguments() {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 250);
  args.SetLoadBalancingPolicyName("round_robin");
  return args;
}

absl::StatusOr<std::vector<std::shared_ptr<grpc::ChannelInterface>>>
AuthorityChannels(
    absl::string_view addresses,
    const std::shared_ptr<grpc::ChannelCredentials>& credentials) {
  std::vector<std::shared_ptr<grpc::ChannelInterface>> channels;
  for (absl::string_view entry : absl::StrSplit(addresses, ',')) {
    entry = absl::StripAsciiWhitespace(entry);
    if (entry.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the authority's addresses \"", addresses,
          "\" hold an empty entry: give host:port or unix:PATH, comma "
          "separated"));
    }
    channels.push_back(grpc::CreateCustomChannel(
        std::string(entry), credentials, AuthorityChannelArguments()));
  }
  return channels;
}

absl::StatusOr<std::unique_ptr<Client>> Client::Create(
    std::shared_ptr<grpc::ChannelInterface> channel, ClientOptions options) {
  std::vector<std::shared_ptr<grpc::ChannelInterface>> channels;
  channels.push_back(std::move(channel));
  return Create(std::move(channels), std::move(options));
}

absl::StatusOr<std::unique_ptr<Client>> Client::Create(
    std::vector<std::shared_ptr<grpc::ChannelInterface>> channels,
    ClientOptions options) {
  if (options.system.empty()) {
    return absl::InvalidArgumentError("client options need a system");
  }
  if (channels.empty()) {
    return absl::InvalidArgumentError("client needs an authority address");
  }
  std::vector<std::unique_ptr<sigil::v1::Identity::StubInterface>> stubs;
  for (const auto& channel : channels) {
    stubs.push_back(sigil::v1::Identity::NewStub(channel));
  }
  std::unique_ptr<Client> client(
      new Client(std::move(stubs), std::move(options)));
  if (client->options_.mode == ClientOptions::Mode::kLocal) {
    absl::Status fetched = client->RefreshKeys();
    if (!fetched.ok()) return fetched;
  }
  // After the first key set: a stream message naming it proves currency at
  // once, rather than wait for the key fetcher and the next message.
  client->watcher_.Start();
  return client;
}

Client::Client(
    std::vector<std::unique_ptr<sigil::v1::Identity::StubInterface>> stubs,
    ClientOptions options)
    : options_(std::move(options)),
      clock_(options_.clock != nullptr ? options_.clock : &token::RealClock()),
      created_(clock_->MonotonicNow()),
      stubs_(std::move(stubs)),
      verifier_(token::JwtVerifierOptions{options_.issuer, clock_,
                                          options_.max_token_ttl}),
      cache_(options_.cache_capacity),
      watcher_(StubPointers(), clock_,
               options_.mode == ClientOptions::Mode::kLocal
                   ? [this](const std::string& v) { return OnKeySetVersion(v); }
                   : RevocationWatcher::KeySetVersionCallback(),
               WatcherOptions(options_)) {
  if (options_.mode == ClientOptions::Mode::kLocal) {
    key_fetcher_ = std::thread([this] { FetchLoop(); });
  }
}

Client::~Client() {
  {
    absl::MutexLock lock(&keys_mu_);
    stopping_fetch_ = true;
  }
  if (key_fetcher_.joinable()) key_fetcher_.join();
}

std::vector<sigil::v1::Identity::StubInterface*> Client::StubPointers() const {
  std::vector<sigil::v1::Identity::StubInterface*> stubs;
  for (const auto& stub : stubs_) stubs.push_back(stub.get());
  return stubs;
}

std::unique_ptr<grpc::ClientContext> Client::Context() const {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(absl::ToChronoTime(absl::Now() + options_.deadline));
  return context;
}

sigil::v1::Identity::StubInterface& Client::PreferredStub() const {
  return *stubs_[watcher_.address() % stubs_.size()];
}

grpc::Status Client::CallAuthority(const AuthorityCall& call) {
  const absl::Time deadline = absl::Now() + options_.deadline;
  const size_t first = watcher_.address();
  grpc::Status status;
  for (size_t i = 0; i < stubs_.size(); ++i) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(deadline));
    status = call(*stubs_[(first + i) % stubs_.size()], context);
    // Only UNAVAILABLE moves on: the address is down or cannot serve now
    // (sigild answers it only when nothing was written). Any other answer
    // is the authority's.
    if (status.error_code() != grpc::StatusCode::UNAVAILABLE ||
        absl::Now() >= deadline) {
      break;
    }
  }
  return status;
}

bool Client::IsCurrent() const {
  return watcher_.IsCurrent(options_.max_staleness);
}

absl::StatusOr<VerifiedToken> Client::Verify(
    absl::string_view token, absl::Span<const std::string> required_scopes) {
  return Verify(token, required_scopes, VerifyOptions());
}

absl::StatusOr<VerifiedToken> Client::Verify(
    absl::string_view token, absl::Span<const std::string> required_scopes,
    const VerifyOptions& verify) {
  if (token.empty()) return absl::InvalidArgumentError("token is required");
  if (verify.min_seq != 0 && watcher_.applied_seq() < verify.min_seq) {
    // Read-your-logout: until that seq is applied, the index may lack the
    // very logout the caller just made, and any verdict could be a stale
    // OK.
    const absl::Time real_now = absl::Now();
    const absl::Time deadline = verify.deadline == absl::InfiniteFuture()
                                    ? real_now + options_.deadline
                                    : verify.deadline;
    if (!watcher_.WaitForSeq(verify.min_seq,
                             MinSeqWaitDeadline(deadline, real_now))) {
      return absl::UnavailableError(absl::StrCat(
          "revocation seq ", verify.min_seq,
          " is not applied here yet (applied ", watcher_.applied_seq(), ")"));
    }
  }
  const absl::Time now = clock_->Now();
  if (!watcher_.IsCurrent(options_.max_staleness)) {
    // Neither the cache nor the index can be trusted: only the authority
    // can say whether the token was revoked in the meantime.
    auto claims = VerifyRemotely(token, verify.min_seq);
    if (!claims.ok()) return claims.status();
    return Judge(std::make_shared<const token::JwtClaims>(*std::move(claims)),
                 required_scopes);
  }
  // Read before any check, so a revocation applied meanwhile shows up as a
  // newer generation at the next hit.
  const uint64_t generation = watcher_.index().generation();
  token::ClaimsCache::Hit hit = cache_.Find(token, now, generation);
  if (hit.claims != nullptr) {
    return FromCache(token, std::move(hit), generation, required_scopes);
  }
  auto claims = options_.mode == ClientOptions::Mode::kLocal
                    ? VerifyLocally(token)
                    : VerifyRemotely(token);
  if (!claims.ok()) return claims.status();
  auto shared = std::make_shared<const token::JwtClaims>(*std::move(claims));
  absl::Status revoked = CheckRevocation(*shared);
  if (!revoked.ok()) return revoked;
  cache_.Insert(token, shared, generation, now);
  return Grant(std::move(shared), required_scopes);
}

absl::StatusOr<VerifiedToken> Client::FromCache(
    absl::string_view token, token::ClaimsCache::Hit hit, uint64_t generation,
    absl::Span<const std::string> required_scopes) {
  if (!hit.checked) {
    absl::Status revoked = CheckRevocation(*hit.claims);
    if (!revoked.ok()) {
      cache_.Erase(token);
      return revoked;
    }
    cache_.MarkChecked(token, generation);
  }
  return Grant(std::move(hit.claims), required_scopes);
}

absl::Status Client::CheckRevocation(const token::JwtClaims& claims) const {
  const token::Reason revoked = watcher_.index().Check(claims, options_.system);
  if (revoked != token::Reason::kValid) {
    return token::VerdictError(revoked, "revoked");
  }
  return absl::OkStatus();
}

absl::StatusOr<VerifiedToken> Client::Grant(
    token::ClaimsCache::Claims claims, absl::Span<const std::string> scopes) {
  absl::Status granted = token::CheckScopes(*claims, scopes);
  if (!granted.ok()) return granted;
  return VerifiedToken(std::move(claims));
}

absl::StatusOr<VerifiedToken> Client::Judge(
    token::ClaimsCache::Claims claims,
    absl::Span<const std::string> scopes) const {
  absl::Status revoked = CheckRevocation(*claims);
  if (!revoked.ok()) return revoked;
  return Grant(std::move(claims), scopes);
}

absl::StatusOr<token::JwtClaims> Client::VerifyLocally(
    absl::string_view token) {
  auto jwt = verifier_.Verify(token, *fetched_keys().keys, options_.system);
  if (!jwt.ok() &&
      token::ReasonOf(jwt.status()) == token::Reason::kUnknownKey) {
    absl::Status refreshed = RefreshKeys();
    if (!refreshed.ok()) {
      // The key set was fetched moments ago, or cannot be fetched now: the
      // kid may belong to a key newer than the set held, so the token can
      // be neither accepted nor refused as invalid yet.
      return absl::UnavailableError(absl::StrCat(
          "unknown signing key; the key set cannot be refetched now: ",
          refreshed.message()));
    }
    jwt = verifier_.Verify(token, *fetched_keys().keys, options_.system);
  }
  if (!jwt.ok()) return jwt.status();
  return jwt->claims();
}

absl::Status Client::RefreshKeys() {
  {
    absl::MutexLock lock(&keys_mu_);
    const absl::Time now = clock_->Now();
    if (keys_.keys != nullptr &&
        now - keys_fetched_at_ < options_.jwks_refetch_interval) {
      return absl::ResourceExhaustedError("key set was fetched recently");
    }
    keys_fetched_at_ = now;
  }
  return FetchKeys();
}

absl::Status Client::FetchKeys() {
  sigil::v1::GetJwksResponse response;
  absl::Status status = wire::FromGrpcStatus(
      CallAuthority([&response](sigil::v1::Identity::StubInterface& stub,
                                grpc::ClientContext& context) {
        return stub.GetJwks(&context, sigil::v1::GetJwksRequest(), &response);
      }));
  if (!status.ok()) return status;
  auto keys = token::KeySet::FromJwksJson(response.jwks_json());
  if (!keys.ok()) return keys.status();
  // Two fetches may finish out of order and leave the older set held; its
  // version then differs from the next stream message's, which fetches
  // again.
  absl::MutexLock lock(&keys_mu_);
  keys_ = FetchedKeys{std::make_shared<const token::KeySet>(*std::move(keys)),
                      response.key_set_version()};
  return absl::OkStatus();
}

bool Client::OnKeySetVersion(const std::string& version) {
  absl::MutexLock lock(&keys_mu_);
  if (keys_.version == version) return true;
  // Not fetched here: a slow GetJwks on the stream's thread would leave
  // messages piling up behind it. The watcher holds its proof back until
  // the set is in.
  wanted_version_ = version;
  return false;
}

bool Client::FetchWantedOrStopping() const {
  return stopping_fetch_ ||
         (!wanted_version_.empty() && wanted_version_ != keys_.version);
}

void Client::FetchLoop() {
  constexpr absl::Duration kMinBackoff = absl::Milliseconds(50);
  constexpr absl::Duration kMaxBackoff = absl::Seconds(1);
  absl::Duration backoff = kMinBackoff;
  keys_mu_.Lock();
  while (true) {
    keys_mu_.Await(absl::Condition(this, &Client::FetchWantedOrStopping));
    if (stopping_fetch_) break;
    keys_mu_.Unlock();
    const absl::Status fetched = FetchKeys();
    keys_mu_.Lock();
    if (fetched.ok() && !FetchWantedOrStopping()) {
      backoff = kMinBackoff;
      continue;
    }
    // Failed, or the authority has moved on again: retry, not in a loop.
    keys_mu_.AwaitWithTimeout(absl::Condition(&stopping_fetch_), backoff);
    backoff = std::min(backoff * 2, kMaxBackoff);
  }
  keys_mu_.Unlock();
}

sigil::v1::VerifyRequest Client::RemoteRequest(absl::string_view token,
                                               uint64_t min_seq) const {
  sigil::v1::VerifyRequest request;
  request.set_token(std::string(token));
  request.set_system(options_.system);
  request.set_min_seq(min_seq);
  return request;
}

absl::StatusOr<token::JwtClaims> Client::VerifyRemotely(absl::string_view token,
                                                        uint64_t min_seq) {
  const sigil::v1::VerifyRequest request = RemoteRequest(token, min_seq);
  sigil::v1::VerifyResponse response;
  const grpc::Status status =
      CallAuthority([&](sigil::v1::Identity::StubInterface& stub,
                        grpc::ClientContext& context) {
        response.Clear();
        return stub.Verify(&context, request, &response);
      });
  return RemoteOutcome(status, response);
}

absl::StatusOr<token::JwtClaims> Client::RemoteOutcome(
    const grpc::Status& rpc, const sigil::v1::VerifyResponse& response) {
  absl::Status status = wire::FromGrpcStatus(rpc);
  if (!status.ok()) {
    // Whatever the call failed with, this client cannot decide.
    return absl::UnavailableError(
        absl::StrCat("the authority did not answer: ", status.message()));
  }
  const sigil::v1::Verdict& verdict = response.verdict();
  if (verdict.code() == "OK") {
    std::optional<token::JwtClaims> claims =
        wire::FromClaims(response.claims());
    if (!claims.has_value()) {
      return absl::UnavailableError("authority sent claims out of range");
    }
    return *std::move(claims);
  }
  const std::optional<token::Reason> reason =
      wire::FromReason(verdict.reason());
  if (!reason.has_value() || *reason == token::Reason::kValid) {
    return absl::UnavailableError("authority sent an unknown verdict");
  }
  return token::VerdictError(*reason, verdict.message());
}

void Client::VerifyAsync(std::string token, std::vector<std::string> scopes,
                         VerifyCallback done) {
  const absl::Time now = clock_->Now();
  const bool current = watcher_.IsCurrent(options_.max_staleness);
  const uint64_t generation = watcher_.index().generation();
  if (token.empty() ||
      (current && options_.mode == ClientOptions::Mode::kLocal)) {
    done(Verify(token, scopes));
    return;
  }
  if (current) {
    // Remote mode: a hit is answered from this one lookup, so the cache
    // counts it once, as Verify would.
    token::ClaimsCache::Hit hit = cache_.Find(token, now, generation);
    if (hit.claims != nullptr) {
      done(FromCache(token, std::move(hit), generation, scopes));
      return;
    }
  }
  struct Call {
    std::unique_ptr<grpc::ClientContext> context;
    sigil::v1::VerifyRequest request;
    sigil::v1::VerifyResponse response;
    std::vector<std::string> scopes;
    VerifyCallback done;
  };
  auto call = std::make_shared<Call>();
  call->context = Context();
  call->request = RemoteRequest(token);
  call->scopes = std::move(scopes);
  call->done = std::move(done);
  PreferredStub().async()->Verify(
      call->context.get(), &call->request, &call->response,
      [this, call, current, generation, now](grpc::Status status) {
        auto claims = RemoteOutcome(status, call->response);
        if (!claims.ok()) {
          call->done(claims.status());
          return;
        }
        auto shared =
            std::make_shared<const token::JwtClaims>(*std::move(claims));
        absl::Status revoked = CheckRevocation(*shared);
        if (!revoked.ok()) {
          call->done(revoked);
          return;
        }
        if (current) {
          cache_.Insert(call->request.token(), shared, generation, now);
        }
        call->done(Grant(std::move(shared), call->scopes));
      });
}

template <typename Request, typename Response>
absl::StatusOr<Response> Client::Unary(
    grpc::Status (sigil::v1::Identity::StubInterface::*method)(
        grpc::ClientContext*, const Request&, Response*),
    const Request& request) {
  Response response;
  absl::Status status = wire::FromGrpcStatus(
      CallAuthority([&](sigil::v1::Identity::StubInterface& stub,
                        grpc::ClientContext& context) {
        response.Clear();
        return (stub.*method)(&context, request, &response);
      }));
  if (!status.ok()) return status;
  return response;
}

absl::StatusOr<sigil::v1::IssueResponse> Client::Issue(
    const sigil::v1::IssueRequest& request) {
  return Unary(&sigil::v1::Identity::StubInterface::Issue, request);
}

absl::StatusOr<sigil::v1::LogoutResponse> Client::LogoutFromSystem(
    const sigil::v1::LogoutFromSystemRequest& request) {
  return Unary(&sigil::v1::Identity::StubInterface::LogoutFromSystem, request);
}

absl::StatusOr<sigil::v1::LogoutResponse> Client::LogoutAll(
    const sigil::v1::LogoutAllRequest& request) {
  return Unary(&sigil::v1::Identity::StubInterface::LogoutAll, request);
}

absl::StatusOr<sigil::v1::IssueResponse> Client::Refresh(
    const sigil::v1::RefreshRequest& request) {
  return Unary(&sigil::v1::Identity::StubInterface::Refresh, request);
}

absl::Status Client::Revoke(const sigil::v1::RevokeRequest& request) {
  return Unary(&sigil::v1::Identity::StubInterface::Revoke, request).status();
}

absl::StatusOr<sigil::v1::ListSessionsResponse> Client::ListSessions(
    const sigil::v1::ListSessionsRequest& request) {
  return Unary(&sigil::v1::Identity::StubInterface::ListSessions, request);
}

absl::StatusOr<std::vector<sigil::v1::Session>> Client::ListAllSessions(
    const std::string& subject) {
  constexpr int kPageSize = 500;
  sigil::v1::ListSessionsRequest request;
  request.set_subject(subject);
  request.set_page_size(kPageSize);
  std::vector<sigil::v1::Session> sessions;
  do {
    auto page = ListSessions(request);
    if (!page.ok()) return page.status();
    for (sigil::v1::Session& session : *page->mutable_sessions()) {
      sessions.push_back(std::move(session));
    }
    request.set_page_token(page->next_page_token());
  } while (!request.page_token().empty());
  return sessions;
}

Client::FetchedKeys Client::fetched_keys() {
  absl::MutexLock lock(&keys_mu_);
  return keys_;
}

Client::Stats Client::stats() {
  Stats stats;
  stats.cache = cache_.stats();
  stats.revocation_events_applied = watcher_.events_applied();
  stats.applied_seq = watcher_.applied_seq();
  const std::optional<absl::Duration> proof = watcher_.last_proof();
  stats.staleness = clock_->MonotonicNow() - proof.value_or(created_);
  stats.current = watcher_.IsCurrent(options_.max_staleness);
  stats.key_set_version = fetched_keys().version;
  return stats;
}

}  // namespace sigil::client
