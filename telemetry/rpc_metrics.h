#ifndef SIGIL_TELEMETRY_RPC_METRICS_H_
#define SIGIL_TELEMETRY_RPC_METRICS_H_

#include <grpcpp/support/server_interceptor.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "telemetry/metrics.h"

namespace sigil::telemetry {

// Bucket upper bounds of sigil_grpc_server_handling_seconds: Verify sits in
// the sub-millisecond ones, synced writes (logouts) in the milliseconds.
inline constexpr double kLatencyBounds[] = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
    0.025,  0.05,    0.1,    0.25,  1,      2.5,   10};

// Counts every finished call by service, method and status code
// (sigil_grpc_server_handled_total), times it from the interceptor's
// creation to its status (sigil_grpc_server_handling_seconds), and counts
// sigil.v1.Identity/Verify verdicts by reason (sigil_verify_verdicts_total).
// Calls to methods of services other than `services` (default: sigil.v1
// Identity, grpc.health.v1 Health, server reflection) are counted as
// service and method "unknown", so callers cannot mint label values.
// Every series is looked up once, not per call: a call takes no lock and
// allocates nothing but its interceptor. `registry` is not owned and must
// outlive every server using the factory.
class RpcMetricsInterceptorFactory
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit RpcMetricsInterceptorFactory(
      MetricsRegistry* registry,
      const std::vector<std::string>& services = DefaultServices());
  ~RpcMetricsInterceptorFactory() override;
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override;

  static std::vector<std::string> DefaultServices();

  // The series of one method. Created with the factory and never changed
  // after, apart from the atomics that fill in on first use.
  class MethodSeries;

 private:
  absl::flat_hash_map<std::string, std::unique_ptr<MethodSeries>> methods_;
  std::unique_ptr<MethodSeries> unknown_;
};

}  // namespace sigil::telemetry

#endif  // SIGIL_TELEMETRY_RPC_METRICS_H_
