#ifndef SIGIL_BENCH_LOAD_RESULT_H_
#define SIGIL_BENCH_LOAD_RESULT_H_

#include <grpcpp/support/status.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "sigil/v1/identity.pb.h"

namespace sigil::bench {

// What one finished call reports: its RPC status, the verdict's reason for
// a Verify whose RPC succeeded, and the method, for the per-method counts.
struct Outcome {
  const char* method = "";
  grpc::StatusCode code = grpc::StatusCode::OK;
  v1::Reason reason = v1::REASON_UNSPECIFIED;
  // The RPC's error message, kept for the first failure only.
  std::string message;
};

// Latencies and counts of the calls one slot made. Not thread-safe: each
// slot has its own, touched only by its own (sequential) callbacks.
class Recorder {
 public:
  void Add(int64_t latency_ns, const Outcome& outcome);
  // A sample without a call (a watch delivery).
  void AddLatency(int64_t latency_ns) { latencies_ns_.push_back(latency_ns); }

 private:
  friend struct Result;
  std::vector<int64_t> latencies_ns_;
  std::map<grpc::StatusCode, int64_t> codes_;
  std::map<v1::Reason, int64_t> reasons_;
  std::map<std::string, int64_t> methods_;
  std::string first_error_;
};

// One scenario's run, as the report prints it.
struct Result {
  std::string scenario;
  std::string target;
  int concurrency = 0;
  int channels = 0;
  // Watch only: the number of WatchRevocations streams.
  int subscribers = 0;
  // Calls asked for (watch: revocations times subscribers, the deliveries
  // expected).
  int64_t requested = 0;
  absl::Duration elapsed;
  // The wall-clock cap stopped the run before `requested`.
  bool hit_time_cap = false;
  // Sorted once Finish() ran; a latency per call (watch: per delivery).
  std::vector<int64_t> latencies_ns;
  std::map<std::string, int64_t> status_counts;
  std::map<std::string, int64_t> verdict_counts;
  std::map<std::string, int64_t> method_counts;
  std::string first_error;

  void Merge(const Recorder& recorder);
  void Finish();
  int64_t completed() const { return latencies_ns.size(); }
  // Completed per second of elapsed wall-clock time.
  double Throughput() const;
  // The q-quantile (0..1) in milliseconds, nearest rank; 0 when empty.
  double QuantileMs(double q) const;
  double MeanMs() const;
};

// "OK", "UNAVAILABLE", ...: the names the verdict's code uses too.
std::string CodeName(grpc::StatusCode code);

}  // namespace sigil::bench

#endif  // SIGIL_BENCH_LOAD_RESULT_H_
