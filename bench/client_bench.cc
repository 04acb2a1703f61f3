// The SDK's hot paths: a cached Verify, and a local Verify on a cache miss
// (the signature check) for each algorithm. bench/run.sh puts the miss
// rates beside `openssl speed` from the same run.

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "client/client.h"
#include "server/sigil_server.h"
#include "tests/testing/temp_dir.h"
#include "token/jwt.h"
#include "token/key_set.h"

namespace sigil {
namespace {

// One authority and one client for the whole run.
struct Fixture {
  Fixture() {
    server::ServerOptions options;
    options.listen = "127.0.0.1:0";
    options.data_dir = dir.Sub("data");
    server = *server::SigilServer::Start(options, &token::RealClock());
    client::ClientOptions client_options;
    client_options.system = "A";
    client = *client::Client::Create(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", server->port()),
                            grpc::InsecureChannelCredentials()),
        client_options);
    server::IssueParams params{"bench-user", {"A"}, {"orders.read"}, {}};
    token = server->authority().Issue(params)->access_token;
    while (!client->IsCurrent()) absl::SleepFor(absl::Milliseconds(5));
  }
  testing::TempDir dir;
  std::unique_ptr<server::SigilServer> server;
  std::unique_ptr<client::Client> client;
  std::string token;
};

Fixture& Shared() {
  static Fixture* fixture = new Fixture();
  return *fixture;
}

void BM_CachedVerify(benchmark::State& state) {
  Fixture& f = Shared();
  for (auto _ : state) {
    auto verified = f.client->Verify(f.token);
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

}  // namespace
}  // namespace sigil

BENCHMARK_MAIN();
