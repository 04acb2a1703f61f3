// The SDK's hot paths: a cached Verify, and a local Verify on a cache miss
// (the signature check) for each algorithm. bench/run.sh puts the miss
// rates beside `openssl speed` from the same run. Also a remote Verify on a
// cache miss, beside an empty health Check on the same channel, so its cost
// reads as a multiple of a bare loopback RPC.

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "benchmark/benchmark.h"
#include "client/client.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "server/sigil_server.h"
#include "tests/testing/temp_dir.h"
#include "token/jwt.h"
#include "token/key_set.h"

namespace sigil {
namespace {

// Distinct tokens the remote client cycles through: far more than its
// cache holds, so every Verify is a miss.
constexpr int kRemoteTokens = 4096;
constexpr int kCachedThreads = 2;
constexpr int kCachedTokens = 64;

// One authority, a local and a remote client on one channel, for the whole
// run.
struct Fixture {
  Fixture() {
    server::ServerOptions options;
    options.listen = "127.0.0.1:0";
    options.data_dir = dir.Sub("data");
    server = *server::SigilServer::Start(options, &token::RealClock());
    channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", server->port()),
                                  grpc::InsecureChannelCredentials());
    client::ClientOptions client_options;
    client_options.system = "A";
    client = *client::Client::Create(channel, client_options);
    client::ClientOptions remote_options = client_options;
    remote_options.mode = client::ClientOptions::Mode::kRemote;
    // As small as the cache goes: one entry per shard.
    remote_options.cache_capacity = 1;
    remote_client = *client::Client::Create(channel, remote_options);
    health = grpc::health::v1::Health::NewStub(channel);
    server::IssueParams params{"bench-user", {"A"}, {"orders.read"}, {}};
    for (int t = 0; t < kCachedThreads; ++t) {
      for (int i = 0; i < kCachedTokens; ++i) {
        params.subject = absl::StrCat("user-", t, "-", i);
        cached_tokens[t].push_back(
            server->authority().Issue(params)->access_token);
      }
    }
    params.subject = "bench-user";
    for (int i = 0; i < kRemoteTokens; ++i) {
      remote_tokens.push_back(server->authority().Issue(params)->access_token);
    }
    while (!client->IsCurrent() || !remote_client->IsCurrent()) {
      absl::SleepFor(absl::Milliseconds(5));
    }
  }
  testing::TempDir dir;
  std::unique_ptr<server::SigilServer> server;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<client::Client> client;
  std::unique_ptr<client::Client> remote_client;
  std::unique_ptr<grpc::health::v1::Health::Stub> health;
  // Per thread, the tokens of its own users, as in a server where each
  // thread serves different requests.
  std::vector<std::string> cached_tokens[kCachedThreads];
  std::vector<std::string> remote_tokens;
};

Fixture& Shared() {
  static Fixture* fixture = new Fixture();
  return *fixture;
}

void BM_CachedVerify(benchmark::State& state) {
  Fixture& f = Shared();
  const std::vector<std::string>& tokens =
      f.cached_tokens[state.thread_index() % kCachedThreads];
  size_t i = 0;
  for (auto _ : state) {
    auto verified = f.client->Verify(tokens[i++ % tokens.size()]);
    if (!verified.ok()) state.SkipWithError("verify failed");
    benchmark::DoNotOptimize(verified);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_CachedVerify)->Threads(1)->Threads(2)->UseRealTime();

// Distinct tokens verified by the token library alone: what a cache miss
// costs in local mode.
void BM_LocalMiss(benchmark::State& state, token::Algorithm alg) {
  auto key = *token::PrivateKey::Generate(alg, "bench");
  token::KeySet keys;
  (void)keys.Add(key.public_key());
  token::JwtSigner signer(key);
  const absl::Time now = absl::Now();
  std::vector<std::string> tokens;
  for (int i = 0; i < 256; ++i) {
    token::JwtClaims claims;
    claims.issuer = "sigil";
    claims.subject = "bench-user";
    claims.audience = {"A"};
    claims.issued_at = absl::FromUnixSeconds(absl::ToUnixSeconds(now));
    claims.expires_at = claims.issued_at + absl::Hours(1);
    claims.token_id = absl::StrCat("jti-", i);
    claims.session_id = "sid";
    tokens.push_back(*signer.Sign(claims));
  }
  token::JwtVerifier verifier({"sigil", &token::RealClock()});
  size_t i = 0;
  for (auto _ : state) {
    auto jwt = verifier.Verify(tokens[i++ % tokens.size()], keys, "A");
    if (!jwt.ok()) state.SkipWithError("verify failed");
    benchmark::DoNotOptimize(jwt);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK_CAPTURE(BM_LocalMiss, ES256, token::Algorithm::kES256);
BENCHMARK_CAPTURE(BM_LocalMiss, EdDSA, token::Algorithm::kEdDSA);
BENCHMARK_CAPTURE(BM_LocalMiss, RS256, token::Algorithm::kRS256);

// Each iteration asks the authority: the tokens outnumber the cache.
void BM_RemoteVerify(benchmark::State& state) {
  Fixture& f = Shared();
  // Threads start at different tokens so they do not verify in lockstep.
  size_t i = state.thread_index() * f.remote_tokens.size() / state.threads();
  for (auto _ : state) {
    auto verified =
        f.remote_client->Verify(f.remote_tokens[i++ % f.remote_tokens.size()]);
    if (!verified.ok()) state.SkipWithError("verify failed");
    benchmark::DoNotOptimize(verified);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RemoteVerify)->Threads(1)->Threads(2)->UseRealTime();

// The floor under BM_RemoteVerify: an empty unary call on the same channel,
// with the same deadline as the client's calls.
void BM_HealthCheck(benchmark::State& state) {
  Fixture& f = Shared();
  const grpc::health::v1::HealthCheckRequest request;
  for (auto _ : state) {
    grpc::ClientContext context;
    context.set_deadline(
        absl::ToChronoTime(absl::Now() + client::ClientOptions().deadline));
    grpc::health::v1::HealthCheckResponse response;
    const grpc::Status status = f.health->Check(&context, request, &response);
    if (!status.ok() ||
        response.status() != grpc::health::v1::HealthCheckResponse::SERVING) {
      state.SkipWithError("health check failed");
    }
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_HealthCheck)->Threads(1)->Threads(2)->UseRealTime();

}  // namespace
}  // namespace sigil

BENCHMARK_MAIN();
