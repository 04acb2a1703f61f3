#include "bench/load/result.h"

#include <algorithm>
#include <cmath>

namespace sigil::bench {

void Recorder::Add(int64_t latency_ns, const Outcome& outcome) {
  latencies_ns_.push_back(latency_ns);
  ++codes_[outcome.code];
  if (outcome.reason != v1::REASON_UNSPECIFIED) ++reasons_[outcome.reason];
  ++methods_[outcome.method];
  if (outcome.code != grpc::StatusCode::OK && first_error_.empty()) {
    first_error_ = std::string(outcome.method) + ": " + CodeName(outcome.code) +
                   ": " + outcome.message;
  }
}

void Result::Merge(const Recorder& recorder) {
  latencies_ns.insert(latencies_ns.end(), recorder.latencies_ns_.begin(),
                      recorder.latencies_ns_.end());
  for (const auto& [code, n] : recorder.codes_)
    status_counts[CodeName(code)] += n;
  for (const auto& [reason, n] : recorder.reasons_) {
    verdict_counts[v1::Reason_Name(reason)] += n;
  }
  for (const auto& [method, n] : recorder.methods_) method_counts[method] += n;
  if (first_error.empty()) first_error = recorder.first_error_;
}

void Result::Finish() { std::sort(latencies_ns.begin(), latencies_ns.end()); }

double Result::Throughput() const {
  const double seconds = absl::ToDoubleSeconds(elapsed);
  return seconds > 0 ? completed() / seconds : 0;
}

double Result::QuantileMs(double q) const {
  if (latencies_ns.empty()) return 0;
  const double rank = std::ceil(q * latencies_ns.size());
  const size_t index = std::clamp<size_t>(
      rank < 1 ? 0 : static_cast<size_t>(rank) - 1, 0, latencies_ns.size() - 1);
  return latencies_ns[index] / 1e6;
}

double Result::MeanMs() const {
  if (latencies_ns.empty()) return 0;
  double sum = 0;
  for (int64_t ns : latencies_ns) sum += ns;
  return sum / latencies_ns.size() / 1e6;
}

std::string CodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return "OK";
    case grpc::StatusCode::CANCELLED:
      return "CANCELLED";
    case grpc::StatusCode::UNKNOWN:
      return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND:
      return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS:
      return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION:
      return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED:
      return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE:
      return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED:
      return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL:
      return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE:
      return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS:
      return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED:
      return "UNAUTHENTICATED";
    default:
      return "CODE_" + std::to_string(static_cast<int>(code));
  }
}

}  // namespace sigil::bench
