#include "telemetry/rpc_metrics.h"

#include <google/protobuf/descriptor.h>

#include <iterator>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "sigil/v1/identity.pb.h"

namespace sigil::telemetry {
namespace {

constexpr absl::string_view kVerifyMethod = "/sigil.v1.Identity/Verify";

const std::vector<double>& LatencyBounds() {
  static const auto* const bounds = new std::vector<double>(
      std::begin(kLatencyBounds), std::end(kLatencyBounds));
  return *bounds;
}

class RpcMetricsInterceptor : public grpc::experimental::Interceptor {
 public:
  RpcMetricsInterceptor(MetricsRegistry* registry, std::string service,
                        std::string method, bool is_verify)
      : registry_(registry),
        service_(std::move(service)),
        method_(std::move(method)),
        is_verify_(is_verify),
        start_(absl::Now()) {}

  void Intercept(
      grpc::experimental::InterceptorBatchMethods* methods) override {
    using grpc::experimental::InterceptionHookPoints;
    if (is_verify_ && methods->QueryInterceptionHookPoint(
                          InterceptionHookPoints::PRE_SEND_MESSAGE)) {
      // The sync and callback servers hand over the response object itself;
      // a serialized one carries no verdict to read.
      const auto* response = static_cast<const sigil::v1::VerifyResponse*>(
          methods->GetSendMessage());
      if (response != nullptr) {
        registry_
            ->GetCounter(
                "sigil_verify_verdicts_total", "Verify verdicts by reason.",
                {{"reason",
                  sigil::v1::Reason_Name(response->verdict().reason())}})
            ->Increment();
      }
    }
    if (methods->QueryInterceptionHookPoint(
            InterceptionHookPoints::PRE_SEND_STATUS)) {
      const std::string code = absl::StatusCodeToString(
          static_cast<absl::StatusCode>(methods->GetSendStatus().error_code()));
      registry_
          ->GetCounter("sigil_grpc_server_handled_total",
                       "Finished gRPC calls by method and status code.",
                       {{"grpc_service", service_},
                        {"grpc_method", method_},
                        {"grpc_code", code}})
          ->Increment();
      registry_
          ->GetHistogram(
              "sigil_grpc_server_handling_seconds",
              "gRPC call duration from arrival to status, by method.",
              LatencyBounds(),
              {{"grpc_service", service_}, {"grpc_method", method_}})
          ->Observe(absl::ToDoubleSeconds(absl::Now() - start_));
    }
    methods->Proceed();
  }

 private:
  MetricsRegistry* const registry_;
  const std::string service_;
  const std::string method_;
  const bool is_verify_;
  const absl::Time start_;
};

}  // namespace

grpc::experimental::Interceptor*
RpcMetricsInterceptorFactory::CreateServerInterceptor(
    grpc::experimental::ServerRpcInfo* info) {
  // "/package.Service/Method"
  const absl::string_view path = info->method() ? info->method() : "";
  std::string service = "unknown";
  std::string method = "unknown";
  const size_t slash = path.rfind('/');
  if (path.size() > 1 && path[0] == '/' && slash != 0 &&
      slash != absl::string_view::npos) {
    const std::string full_service(path.substr(1, slash - 1));
    const std::string name(path.substr(slash + 1));
    const google::protobuf::ServiceDescriptor* descriptor =
        google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
            full_service);
    if (descriptor != nullptr && descriptor->FindMethodByName(name)) {
      service = full_service;
      method = name;
    }
  }
  return new RpcMetricsInterceptor(registry_, std::move(service),
                                   std::move(method), path == kVerifyMethod);
}

}  // namespace sigil::telemetry
