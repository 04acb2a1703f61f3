// sigil-bench: a load generator for a sigild (or sigil-agent) on this
// machine. Keeps --concurrency requests in flight on gRPC's callback API
// until --count requests have finished or --max_time has passed, then
// prints throughput, latency quantiles and a count per status code and
// verdict reason (a table, or one JSON object with --json).

#include <grpcpp/grpcpp.h>

#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/load/driver.h"
#include "bench/load/report.h"
#include "bench/load/result.h"
#include "bench/load/scenario.h"
#include "bench/load/target.h"
#include "bench/load/watch.h"

ABSL_FLAG(std::string, target, "127.0.0.1:50051",
          "The server: HOST:PORT on loopback, or unix:PATH.");
ABSL_FLAG(std::string, scenario, "verify",
          "issue, verify (one token), verify_distinct (--tokens tokens), "
          "verify_invalid, mix (Issue, 3 Verify, LogoutFromSystem, Verify), "
          "logout (LogoutFromSystem of --tokens subjects logged in first, in "
          "turn), "
          "refresh, watch (--subscribers streams, --count revocations) or "
          "health (grpc.health.v1 Check).");
ABSL_FLAG(int64_t, count, 10000, "Requests to make (watch: revocations).");
ABSL_FLAG(absl::Duration, max_time, absl::Seconds(60),
          "Wall-clock cap on the measured run.");
ABSL_FLAG(int, concurrency, 16, "Requests kept in flight.");
ABSL_FLAG(int, channels, 1,
          "gRPC channels (each its own connection); slot i uses channel i "
          "modulo this.");
ABSL_FLAG(int64_t, warmup, 1000,
          "Requests made and not counted before the measured run.");
ABSL_FLAG(int, tokens, 1000,
          "verify_distinct: distinct tokens; logout: subjects logged in "
          "first and logged out in turn.");
ABSL_FLAG(int, subscribers, 100, "watch: WatchRevocations streams.");
ABSL_FLAG(std::string, system, "A", "The system tokens are issued for.");
ABSL_FLAG(bool, json, false, "Print one JSON object instead of a table.");

namespace sigil::bench {
namespace {

int Fail(const std::string& message, int code) {
  std::cerr << "sigil-bench: " << message << "\n";
  return code;
}

std::vector<std::shared_ptr<grpc::Channel>> Connect(const std::string& target,
                                                    int n) {
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (int i = 0; i < n; ++i) {
    grpc::ChannelArguments args;
    // Without these, channels to one target share one connection.
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetInt("sigil.bench.channel", i);
    channels.push_back(grpc::CreateCustomChannel(
        target, grpc::InsecureChannelCredentials(), args));
  }
  return channels;
}

int Main() {
  const std::string target = absl::GetFlag(FLAGS_target);
  const std::string scenario_name = absl::GetFlag(FLAGS_scenario);
  const int concurrency = absl::GetFlag(FLAGS_concurrency);
  const int channel_count = absl::GetFlag(FLAGS_channels);
  const int64_t count = absl::GetFlag(FLAGS_count);
  if (absl::Status status = CheckLoopback(target); !status.ok()) {
    return Fail(std::string(status.message()), 2);
  }
  if (concurrency < 1 || channel_count < 1 || count < 0 ||
      absl::GetFlag(FLAGS_warmup) < 0 || absl::GetFlag(FLAGS_subscribers) < 1) {
    return Fail(
        "--concurrency, --channels and --subscribers must be at least 1, "
        "--count and --warmup at least 0",
        2);
  }

  auto channels = Connect(target, channel_count);
  for (const auto& channel : channels) {
    if (!channel->WaitForConnected(
            absl::ToChronoTime(absl::Now() + absl::Seconds(10)))) {
      return Fail(absl::StrCat("cannot connect to ", target), 1);
    }
  }

  Result result;
  result.scenario = scenario_name;
  result.target = target;
  result.concurrency = concurrency;
  result.channels = channel_count;
  if (scenario_name == "watch") {
    WatchOptions opts;
    opts.subscribers = absl::GetFlag(FLAGS_subscribers);
    opts.revocations = count;
    opts.system = absl::GetFlag(FLAGS_system);
    opts.max_time = absl::GetFlag(FLAGS_max_time);
    result.concurrency = 1;
    result.subscribers = opts.subscribers;
    result.requested = count * opts.subscribers;
    if (absl::Status status = RunWatch(channels, opts, result); !status.ok()) {
      return Fail(std::string(status.message()), 1);
    }
  } else {
    ScenarioOptions options;
    options.system = absl::GetFlag(FLAGS_system);
    options.tokens = absl::GetFlag(FLAGS_tokens);
    auto scenario = MakeScenario(scenario_name, channels, options);
    if (!scenario.ok())
      return Fail(std::string(scenario.status().message()), 2);
    if (absl::Status status = (*scenario)->Prepare(concurrency); !status.ok()) {
      return Fail(std::string(status.message()), 1);
    }
    DriveOptions opts;
    opts.concurrency = concurrency;
    opts.max_time = absl::GetFlag(FLAGS_max_time);
    if (absl::GetFlag(FLAGS_warmup) > 0) {
      Result warmup;
      opts.count = absl::GetFlag(FLAGS_warmup);
      Drive(**scenario, opts, warmup);
    }
    opts.count = count;
    result.requested = count;
    Drive(**scenario, opts, result);
  }
  result.Finish();
  std::cout << (absl::GetFlag(FLAGS_json) ? FormatJson(result)
                                          : FormatTable(result));
  return 0;
}

}  // namespace
}  // namespace sigil::bench

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "load generator for a Sigil server on this machine\n"
      "  sigil-bench --target=127.0.0.1:50051 --scenario=verify "
      "--concurrency=16 --count=100000 [--json]");
  absl::ParseCommandLine(argc, argv);
  return sigil::bench::Main();
}
