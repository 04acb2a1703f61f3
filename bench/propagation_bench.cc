// Logout propagation: how long after the LogoutFromSystem reply each of N
// subscribers (SDK clients in local mode, each on a TCP connection of its
// own) has applied the revocation, i.e. no longer trusts its cached verdict.
// The authority runs in-process on loopback. Prints a table on stderr and,
// with --json, one JSON object on stdout; exits non-zero when a subscriber
// still accepts a logged-out token or a round overruns --round_timeout.

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <numeric>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/client.h"
#include "server/sigil_server.h"
#include "sigil/v1/identity.grpc.pb.h"
#include "tests/testing/temp_dir.h"
#include "token/clock.h"

ABSL_FLAG(int, subscribers, 100, "Number of SDK clients watching revocations.");
ABSL_FLAG(int, rounds, 30, "Number of logouts to time.");
ABSL_FLAG(int, warmup_rounds, 3,
          "Logouts run first and not timed: the first events through fresh "
          "connections pay for allocations no later one does.");
ABSL_FLAG(absl::Duration, round_timeout, absl::Seconds(5),
          "A round whose logout has not reached every subscriber by then "
          "fails the run.");
ABSL_FLAG(absl::Duration, start_timeout, absl::Seconds(30),
          "How long the subscribers may take to become current at start.");
ABSL_FLAG(bool, json, false, "Also print the figures as JSON on stdout.");

namespace sigil {
namespace {

using SteadyClock = std::chrono::steady_clock;

constexpr char kSystem[] = "A";
// Below this many samples the 99.9th percentile is just the maximum.
constexpr size_t kMinSamplesForP999 = 1000;

struct Results {
  // One sample per subscriber and round: from the reply to the applied
  // event.
  std::vector<absl::Duration> samples;
  // The same, from just before the LogoutFromSystem request: what a user
  // waits from "log me out" until no verifier accepts the token, including
  // the authority's synced write.
  std::vector<absl::Duration> from_request;
  std::vector<absl::Duration> round_max;
  // Samples already applied at the first look after the reply: the
  // authority publishes before it replies, so the stream can win the race.
  size_t at_first_sweep = 0;
};

// Channels with equal arguments otherwise share one subchannel, and so one
// TCP connection: each subscriber must be a peer of its own, as it would be
// in its own process.
std::shared_ptr<grpc::Channel> OwnChannel(const std::string& target) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(),
                                   args);
}

// Nearest rank over sorted samples.
absl::Duration Percentile(const std::vector<absl::Duration>& sorted,
                          double fraction) {
  const size_t rank = static_cast<size_t>(
      std::ceil(fraction * static_cast<double>(sorted.size())));
  return sorted[std::max<size_t>(rank, 1) - 1];
}

double Millis(absl::Duration d) { return absl::ToDoubleMilliseconds(d); }

// Issues a token, has every subscriber cache it, logs its subject out of
// the system and times each subscriber until it has applied the event.
absl::Status RunRound(int round, server::SigilServer& server,
                      sigil::v1::Identity::Stub& control,
                      std::vector<std::unique_ptr<client::Client>>& subscribers,
                      absl::Duration timeout, Results& results) {
  const std::string subject = absl::StrCat("propagation-", round);
  auto issued =
      server.authority().Issue(server::IssueParams{subject, {kSystem}, {}, {}});
  if (!issued.ok()) return issued.status();
  const std::string& token = issued->access_token;
  for (size_t i = 0; i < subscribers.size(); ++i) {
    auto verified = subscribers[i]->Verify(token);
    if (!verified.ok()) {
      return absl::InternalError(absl::StrCat(
          "round ", round, ": subscriber ", i,
          " rejected a fresh token: ", verified.status().ToString()));
    }
  }

  sigil::v1::LogoutFromSystemRequest request;
  request.set_system(kSystem);
  request.set_subject(subject);
  sigil::v1::LogoutResponse reply;
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  const SteadyClock::time_point requested = SteadyClock::now();
  const grpc::Status status =
      control.LogoutFromSystem(&context, request, &reply);
  const SteadyClock::time_point t0 = SteadyClock::now();
  if (!status.ok()) {
    return absl::UnavailableError(
        absl::StrCat("round ", round,
                     ": LogoutFromSystem failed: ", status.error_message()));
  }
  const uint64_t seq = reply.revocation_seq();

  std::vector<size_t> pending(subscribers.size());
  std::iota(pending.begin(), pending.end(), 0);
  absl::Duration slowest = absl::ZeroDuration();
  bool first_sweep = true;
  while (!pending.empty()) {
    if (SteadyClock::now() - t0 > absl::ToChronoNanoseconds(timeout)) {
      return absl::DeadlineExceededError(absl::StrFormat(
          "round %d: %d of %d subscribers had not applied seq %d after %s",
          round, pending.size(), subscribers.size(), seq,
          absl::FormatDuration(timeout)));
    }
    auto still = std::remove_if(pending.begin(), pending.end(), [&](size_t i) {
      if (subscribers[i]->applied_seq() < seq) return false;
      // Read after the check: an upper bound that includes the sweep.
      const SteadyClock::time_point seen = SteadyClock::now();
      const absl::Duration took = absl::FromChrono(seen - t0);
      results.samples.push_back(took);
      results.from_request.push_back(absl::FromChrono(seen - requested));
      slowest = std::max(slowest, took);
      if (first_sweep) ++results.at_first_sweep;
      return true;
    });
    pending.erase(still, pending.end());
    first_sweep = false;
    // The watcher threads share the cores with this loop.
    if (!pending.empty()) std::this_thread::yield();
  }
  results.round_max.push_back(slowest);

  for (size_t i = 0; i < subscribers.size(); ++i) {
    auto verified = subscribers[i]->Verify(token);
    if (verified.ok()) {
      return absl::InternalError(absl::StrCat(
          "round ", round, ": subscriber ", i,
          " still accepts the token after applying the logout (seq ", seq,
          ")"));
    }
    if (!absl::IsUnauthenticated(verified.status())) {
      return absl::InternalError(
          absl::StrCat("round ", round, ": subscriber ", i,
                       " answered a logged-out token with ",
                       verified.status().ToString(), ", not UNAUTHENTICATED"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<Results> Run(int subscriber_count, int warmup_rounds, int rounds,
                            absl::Duration round_timeout,
                            absl::Duration start_timeout) {
  testing::TempDir dir;
  server::ServerOptions options;
  options.listen = "127.0.0.1:0";
  options.data_dir = dir.Sub("data");
  auto server = server::SigilServer::Start(options, &token::RealClock());
  if (!server.ok()) return server.status();
  const std::string target = absl::StrCat("127.0.0.1:", (*server)->port());
  auto control = sigil::v1::Identity::NewStub(OwnChannel(target));

  // Declared after the server, so they stop watching before it goes away.
  std::vector<std::unique_ptr<client::Client>> subscribers;
  client::ClientOptions client_options;
  client_options.system = kSystem;
  for (int i = 0; i < subscriber_count; ++i) {
    auto subscriber =
        client::Client::Create(OwnChannel(target), client_options);
    if (!subscriber.ok()) return subscriber.status();
    subscribers.push_back(*std::move(subscriber));
  }
  const absl::Time start_deadline = absl::Now() + start_timeout;
  for (const auto& subscriber : subscribers) {
    while (!subscriber->IsCurrent()) {
      if (absl::Now() > start_deadline) {
        return absl::DeadlineExceededError(
            absl::StrCat("subscribers not current after ",
                         absl::FormatDuration(start_timeout)));
      }
      absl::SleepFor(absl::Milliseconds(5));
    }
  }

  Results warmup;
  Results results;
  for (int round = 0; round < warmup_rounds + rounds; ++round) {
    absl::Status status =
        RunRound(round, **server, *control, subscribers, round_timeout,
                 round < warmup_rounds ? warmup : results);
    if (!status.ok()) return status;
  }
  return results;
}

void Report(int subscriber_count, int rounds, Results results, bool json) {
  std::vector<absl::Duration> sorted = results.samples;
  std::sort(sorted.begin(), sorted.end());
  const absl::Duration p50 = Percentile(sorted, 0.50);
  const absl::Duration p99 = Percentile(sorted, 0.99);
  const std::optional<absl::Duration> p999 =
      sorted.size() >= kMinSamplesForP999
          ? std::optional<absl::Duration>(Percentile(sorted, 0.999))
          : std::nullopt;
  const absl::Duration max = sorted.back();
  std::vector<absl::Duration> from_request = results.from_request;
  std::sort(from_request.begin(), from_request.end());
  const absl::Duration request_p50 = Percentile(from_request, 0.50);
  const absl::Duration request_p99 = Percentile(from_request, 0.99);

  std::fprintf(stderr,
               "LogoutFromSystem reply -> event applied, %d subscribers x %d "
               "rounds (%zu samples), ms\n",
               subscriber_count, rounds, sorted.size());
  std::fprintf(stderr, "  p50    %8.3f\n  p99    %8.3f\n", Millis(p50),
               Millis(p99));
  if (p999.has_value()) {
    std::fprintf(stderr, "  p99.9  %8.3f\n", Millis(*p999));
  }
  std::fprintf(stderr,
               "  max    %8.3f\n  %zu samples applied at the first look after "
               "the reply\nper-round max, ms:\n",
               Millis(max), results.at_first_sweep);
  std::fprintf(stderr,
               "LogoutFromSystem request -> event applied, ms\n  p50    "
               "%8.3f\n  p99    %8.3f\n",
               Millis(request_p50), Millis(request_p99));
  for (size_t round = 0; round < results.round_max.size(); ++round) {
    std::fprintf(stderr, "  round %3zu  %8.3f\n", round,
                 Millis(results.round_max[round]));
  }

  if (!json) return;
  std::vector<std::string> round_max;
  for (absl::Duration d : results.round_max) {
    round_max.push_back(absl::StrFormat("%.3f", Millis(d)));
  }
  const std::string p999_json =
      p999.has_value() ? absl::StrFormat("%.3f", Millis(*p999)) : "null";
  std::printf(
      "%s\n",
      absl::StrFormat("{\"subscribers\": %d, \"rounds\": %d, \"samples\": %d, "
                      "\"p50_ms\": %.3f, \"p99_ms\": %.3f, \"p999_ms\": %s, "
                      "\"max_ms\": %.3f, \"at_first_sweep\": %d, "
                      "\"request_p50_ms\": %.3f, \"request_p99_ms\": %.3f, "
                      "\"round_max_ms\": [%s]}",
                      subscriber_count, rounds, sorted.size(), Millis(p50),
                      Millis(p99), p999_json, Millis(max),
                      results.at_first_sweep, Millis(request_p50),
                      Millis(request_p99), absl::StrJoin(round_max, ", "))
          .c_str());
}

}  // namespace
}  // namespace sigil

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "times logout propagation from the authority to N SDK subscribers.\n"
      "Usage: propagation_bench [--subscribers=100] [--rounds=30] [--json]");
  absl::ParseCommandLine(argc, argv);
  const int subscribers = absl::GetFlag(FLAGS_subscribers);
  const int rounds = absl::GetFlag(FLAGS_rounds);
  if (subscribers < 1 || rounds < 1 || absl::GetFlag(FLAGS_warmup_rounds) < 0) {
    std::fprintf(stderr,
                 "propagation_bench: --subscribers and --rounds must be at "
                 "least 1, --warmup_rounds at least 0\n");
    return 2;
  }
  auto results = sigil::Run(subscribers, absl::GetFlag(FLAGS_warmup_rounds),
                            rounds, absl::GetFlag(FLAGS_round_timeout),
                            absl::GetFlag(FLAGS_start_timeout));
  if (!results.ok()) {
    std::fprintf(stderr, "propagation_bench: %s\n",
                 results.status().ToString().c_str());
    return 1;
  }
  sigil::Report(subscribers, rounds, *std::move(results),
                absl::GetFlag(FLAGS_json));
  return 0;
}
