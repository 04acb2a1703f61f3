#include "wire/graceful_shutdown.h"

#include <grpc/grpc.h>

#include <thread>

#include "absl/synchronization/notification.h"

namespace sigil::wire {

class CallTracker::Counted final : public grpc::experimental::Interceptor {
 public:
  explicit Counted(std::atomic<int64_t>* in_flight) : in_flight_(in_flight) {
    in_flight_->fetch_add(1);
  }
  ~Counted() override { in_flight_->fetch_sub(1); }
  void Intercept(
      grpc::experimental::InterceptorBatchMethods* methods) override {
    methods->Proceed();
  }

 private:
  std::atomic<int64_t>* const in_flight_;
};

class CallTracker::Factory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit Factory(std::atomic<int64_t>* in_flight) : in_flight_(in_flight) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo*) override {
    return new Counted(in_flight_);
  }

 private:
  std::atomic<int64_t>* const in_flight_;
};

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
CallTracker::InterceptorFactory() {
  return std::make_unique<Factory>(&in_flight_);
}

void ShutdownGracefully(grpc::Server& server, const CallTracker& calls,
                        absl::Duration grace) {
  constexpr absl::Duration kPoll = absl::Milliseconds(10);
  const absl::Time deadline = absl::Now() + grace;
  absl::Notification stopped;
  std::thread stopper([&] {
    server.Shutdown(absl::ToChronoTime(deadline));
    stopped.Notify();
  });
  // Closing connections while no call runs cuts nothing. Repeated, since a
  // connection made just before Shutdown took effect is closed only by a
  // later round; at the deadline Shutdown cancels whatever is left itself.
  while (!stopped.WaitForNotificationWithTimeout(kPoll) &&
         absl::Now() < deadline) {
    if (calls.in_flight() == 0) grpc_server_cancel_all_calls(server.c_server());
  }
  stopper.join();
}

}  // namespace sigil::wire
