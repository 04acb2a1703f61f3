// sdk_cache_memory: what the SDK's verdict cache costs in memory
// (bench/scale.sh). An in-process authority issues --tokens distinct
// tokens (held in a vector before measuring), then a local-mode
// sigil::Client verifies each once, filling its cache; the growth of the
// process's RSS and of malloc's bytes in use across that loop, divided by
// the entries cached, is the cost per cached verdict. Prints one JSON
// object.

#include <grpcpp/grpcpp.h>
#include <malloc.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/client.h"
#include "server/sigil_server.h"
#include "tests/testing/temp_dir.h"
#include "token/clock.h"

ABSL_FLAG(int, tokens, 100000, "Distinct tokens to cache.");

namespace {

// VmRSS of this process in bytes.
int64_t RssBytes() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) != 0) continue;
    std::string digits;
    for (char c : line) {
      if (c >= '0' && c <= '9') digits += c;
    }
    int64_t kib = 0;
    if (absl::SimpleAtoi(digits, &kib)) return kib * 1024;
  }
  return -1;
}

int64_t HeapBytes() { return static_cast<int64_t>(mallinfo2().uordblks); }

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "sdk_cache_memory [--tokens=N]: memory per cached verdict in the SDK");
  absl::ParseCommandLine(argc, argv);
  const int count = absl::GetFlag(FLAGS_tokens);

  sigil::testing::TempDir dir;
  sigil::server::ServerOptions options;
  options.listen = "127.0.0.1:0";
  options.data_dir = dir.Sub("data");
  auto server =
      sigil::server::SigilServer::Start(options, &sigil::token::RealClock());
  if (!server.ok()) {
    std::fprintf(stderr, "%s\n", server.status().ToString().c_str());
    return 1;
  }
  auto channel =
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", (*server)->port()),
                          grpc::InsecureChannelCredentials());
  sigil::client::ClientOptions client_options;
  client_options.system = "A";
  // Room for every token: a full shard would evict instead of growing.
  client_options.cache_capacity = 2 * static_cast<size_t>(count);
  auto client = sigil::client::Client::Create(channel, client_options);
  if (!client.ok()) {
    std::fprintf(stderr, "%s\n", client.status().ToString().c_str());
    return 1;
  }

  std::vector<std::string> tokens;
  tokens.reserve(count);
  size_t token_bytes = 0;
  sigil::server::IssueParams params{"", {"A"}, {"orders.read"}, {}};
  for (int i = 0; i < count; ++i) {
    params.subject = absl::StrCat("user-", i);
    auto issued = (*server)->authority().Issue(params);
    if (!issued.ok()) {
      std::fprintf(stderr, "%s\n", issued.status().ToString().c_str());
      return 1;
    }
    token_bytes += issued->access_token.size();
    tokens.push_back(std::move(issued->access_token));
  }
  while (!(*client)->IsCurrent()) absl::SleepFor(absl::Milliseconds(5));
  // One verify first, so one-time allocations (key set, thread state) are
  // not counted.
  if (!(*client)->Verify(tokens[0]).ok()) return 1;
  malloc_trim(0);

  const int64_t rss_before = RssBytes();
  const int64_t heap_before = HeapBytes();
  const absl::Time start = absl::Now();
  for (const std::string& token : tokens) {
    auto verified = (*client)->Verify(token);
    if (!verified.ok()) {
      std::fprintf(stderr, "%s\n", verified.status().ToString().c_str());
      return 1;
    }
  }
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  const int64_t rss_after = RssBytes();
  const int64_t heap_after = HeapBytes();
  const size_t cached = (*client)->stats().cache.size;
  const double added = static_cast<double>(cached > 0 ? cached - 1 : 1);

  std::printf(
      "{\"tokens\": %d, \"cached\": %zu, \"mean_token_bytes\": %.0f, "
      "\"verify_seconds\": %.3f, \"rss_growth_bytes\": %lld, "
      "\"heap_growth_bytes\": %lld, \"rss_bytes_per_entry\": %.0f, "
      "\"heap_bytes_per_entry\": %.0f}\n",
      count, cached, static_cast<double>(token_bytes) / count, seconds,
      static_cast<long long>(rss_after - rss_before),
      static_cast<long long>(heap_after - heap_before),
      (rss_after - rss_before) / added, (heap_after - heap_before) / added);
  return 0;
}
