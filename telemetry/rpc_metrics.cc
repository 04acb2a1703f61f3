#include "telemetry/rpc_metrics.h"

#include <google/protobuf/descriptor.h>

#include <array>
#include <atomic>
#include <iterator>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "sigil/v1/identity.pb.h"

namespace sigil::telemetry {
namespace {

constexpr absl::string_view kVerifyMethod = "/sigil.v1.Identity/Verify";
// grpc::StatusCode runs from OK (0) to UNAUTHENTICATED (16).
constexpr int kStatusCodes = 17;
// Verdict reasons the array below has room for; any beyond are counted
// through the registry.
constexpr int kReasonSlots = 32;

const std::vector<double>& LatencyBounds() {
  static const auto* const bounds = new std::vector<double>(
      std::begin(kLatencyBounds), std::end(kLatencyBounds));
  return *bounds;
}

}  // namespace

class RpcMetricsInterceptorFactory::MethodSeries {
 public:
  MethodSeries(MetricsRegistry* registry, std::string service,
               std::string method, bool is_verify)
      : registry_(registry),
        service_(std::move(service)),
        method_(std::move(method)),
        is_verify_(is_verify),
        latency_(registry->GetHistogram(
            "sigil_grpc_server_handling_seconds",
            "gRPC call duration from arrival to status, by method.",
            LatencyBounds(),
            {{"grpc_service", service_}, {"grpc_method", method_}})) {}

  bool is_verify() const { return is_verify_; }

  void Finished(int code, absl::Duration took) {
    Counter* handled = Resolve(handled_, code, kStatusCodes, [this](int c) {
      return registry_->GetCounter(
          "sigil_grpc_server_handled_total",
          "Finished gRPC calls by method and status code.",
          {{"grpc_service", service_},
           {"grpc_method", method_},
           {"grpc_code",
            absl::StatusCodeToString(static_cast<absl::StatusCode>(c))}});
    });
    handled->Increment();
    latency_->Observe(absl::ToDoubleSeconds(took));
  }

  void Verdict(int reason) {
    Resolve(verdicts_, reason, kReasonSlots, [this](int r) {
      return registry_->GetCounter(
          "sigil_verify_verdicts_total", "Verify verdicts by reason.",
          {{"reason",
            sigil::v1::Reason_Name(static_cast<sigil::v1::Reason>(r))}});
    })->Increment();
  }

 private:
  // The counter for `index`, asked of the registry on first use only: a
  // race asks twice and gets the same counter back.
  template <size_t N, typename Make>
  static Counter* Resolve(std::array<std::atomic<Counter*>, N>& slots,
                          int index, int limit, const Make& make) {
    if (index < 0 || index >= limit) return make(index);
    Counter* counter = slots[index].load(std::memory_order_acquire);
    if (counter == nullptr) {
      counter = make(index);
      slots[index].store(counter, std::memory_order_release);
    }
    return counter;
  }

  MetricsRegistry* const registry_;
  const std::string service_;
  const std::string method_;
  const bool is_verify_;
  Histogram* const latency_;
  std::array<std::atomic<Counter*>, kStatusCodes> handled_{};
  std::array<std::atomic<Counter*>, kReasonSlots> verdicts_{};
};

namespace {

class RpcMetricsInterceptor : public grpc::experimental::Interceptor {
 public:
  explicit RpcMetricsInterceptor(
      RpcMetricsInterceptorFactory::MethodSeries* series)
      : series_(series), start_(absl::Now()) {}

  void Intercept(
      grpc::experimental::InterceptorBatchMethods* methods) override {
    using grpc::experimental::InterceptionHookPoints;
    if (series_->is_verify() && methods->QueryInterceptionHookPoint(
                                    InterceptionHookPoints::PRE_SEND_MESSAGE)) {
      // The sync and callback servers hand over the response object itself;
      // a serialized one carries no verdict to read.
      const auto* response = static_cast<const sigil::v1::VerifyResponse*>(
          methods->GetSendMessage());
      if (response != nullptr) series_->Verdict(response->verdict().reason());
    }
    if (methods->QueryInterceptionHookPoint(
            InterceptionHookPoints::PRE_SEND_STATUS)) {
      series_->Finished(methods->GetSendStatus().error_code(),
                        absl::Now() - start_);
    }
    methods->Proceed();
  }

 private:
  RpcMetricsInterceptorFactory::MethodSeries* const series_;
  const absl::Time start_;
};

}  // namespace

std::vector<std::string> RpcMetricsInterceptorFactory::DefaultServices() {
  return {"sigil.v1.Identity", "grpc.health.v1.Health",
          "grpc.reflection.v1alpha.ServerReflection"};
}

RpcMetricsInterceptorFactory::RpcMetricsInterceptorFactory(
    MetricsRegistry* registry, const std::vector<std::string>& services)
    : unknown_(std::make_unique<MethodSeries>(registry, "unknown", "unknown",
                                              false)) {
  for (const std::string& service : services) {
    const google::protobuf::ServiceDescriptor* descriptor =
        google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
            service);
    if (descriptor == nullptr) continue;
    for (int i = 0; i < descriptor->method_count(); ++i) {
      const std::string& name = descriptor->method(i)->name();
      const std::string path = absl::StrCat("/", service, "/", name);
      methods_[path] = std::make_unique<MethodSeries>(registry, service, name,
                                                      path == kVerifyMethod);
    }
  }
}

RpcMetricsInterceptorFactory::~RpcMetricsInterceptorFactory() = default;

grpc::experimental::Interceptor*
RpcMetricsInterceptorFactory::CreateServerInterceptor(
    grpc::experimental::ServerRpcInfo* info) {
  // "/package.Service/Method"; the map is never written after construction.
  const absl::string_view path = info->method() ? info->method() : "";
  auto it = methods_.find(path);
  return new RpcMetricsInterceptor(it == methods_.end() ? unknown_.get()
                                                        : it->second.get());
}

}  // namespace sigil::telemetry
