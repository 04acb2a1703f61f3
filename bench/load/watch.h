#ifndef SIGIL_BENCH_LOAD_WATCH_H_
#define SIGIL_BENCH_LOAD_WATCH_H_

#include <grpcpp/channel.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "bench/load/result.h"

namespace sigil::bench {

struct WatchOptions {
  // WatchRevocations streams held open (subscriber i on channel i % size).
  int subscribers = 100;
  // Revocations made, one after another (LogoutFromSystem by subject).
  int64_t revocations = 100;
  std::string system = "A";
  absl::Duration max_time = absl::Seconds(60);
};

// Fan-out: opens the streams, waits until every one has caught up, then
// makes the revocations and records, for each event at each subscriber,
// the time from just before its LogoutFromSystem request until the stream
// delivered it. `result` gets a latency per delivery and the status of
// each LogoutFromSystem. An error when the streams never caught up.
absl::Status RunWatch(
    const std::vector<std::shared_ptr<grpc::Channel>>& channels,
    const WatchOptions& opts, Result& result);

}  // namespace sigil::bench

#endif  // SIGIL_BENCH_LOAD_WATCH_H_
