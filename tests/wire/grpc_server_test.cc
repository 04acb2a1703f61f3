// The transport limits StartGrpcServer applies, tried from a real client
// over loopback TCP against a test-only sigil.v1.Identity whose Verify
// echoes the token, or holds its handler for the token "block".

#include "wire/grpc_server.h"

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sigil/v1/identity.grpc.pb.h"
#include "tests/testing/status_matchers.h"
#include "token/jwt.h"

namespace sigil::wire {
namespace {

using ::sigil::testing::IsOk;
using ::sigil::testing::StatusIs;
using sigil::v1::Identity;
using sigil::v1::VerifyRequest;
using sigil::v1::VerifyResponse;

constexpr char kBlock[] = "block";
// How long a test waits for something that must happen promptly; only a
// failing test ever waits this long.
constexpr absl::Duration kPatience = absl::Seconds(10);

// Verify echoes request.token into verdict.message; for kBlock it counts
// itself in and waits until Release() or until its call is cancelled.
class EchoService final : public Identity::Service {
 public:
  grpc::Status Verify(grpc::ServerContext* context,
                      const VerifyRequest* request,
                      VerifyResponse* response) override {
    if (request->token() == kBlock) {
      {
        absl::MutexLock lock(&mu_);
        ++entered_;
      }
      // The sync API has no cancellation callback; IsCancelled is how a
      // handler observes it.
      while (!released_.WaitForNotificationWithTimeout(absl::Milliseconds(2))) {
        if (context->IsCancelled()) {
          absl::MutexLock lock(&mu_);
          ++cancelled_;
          return grpc::Status(grpc::StatusCode::CANCELLED, "observed");
        }
      }
    }
    response->mutable_verdict()->set_message(request->token());
    return grpc::Status::OK;
  }

  // Waits until `n` blocking calls have entered the handler in total.
  bool AwaitEntered(int n) { return AwaitAtLeast(&entered_, n); }

  // Waits until `n` blocking calls have seen their cancellation.
  bool AwaitCancelled(int n) { return AwaitAtLeast(&cancelled_, n); }

  int entered() {
    absl::MutexLock lock(&mu_);
    return entered_;
  }

  void Release() {
    if (!released_.HasBeenNotified()) released_.Notify();
  }

 private:
  bool AwaitAtLeast(const int* counter, int n) {
    absl::MutexLock lock(&mu_);
    auto reached = [counter, n] { return *counter >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&reached), kPatience);
  }

  absl::Mutex mu_;
  int entered_ ABSL_GUARDED_BY(mu_) = 0;
  int cancelled_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Notification released_;
};

// A channel with its own subchannel pool: its own TCP connection, never
// shared with another channel to the same address.
std::shared_ptr<grpc::Channel> NewConnection(
    int port, grpc::ChannelArguments args = grpc::ChannelArguments()) {
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", port),
                                   grpc::InsecureChannelCredentials(), args);
}

std::unique_ptr<grpc::ClientContext> Context(
    absl::Duration timeout = kPatience) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  return context;
}

grpc::Status Echo(Identity::Stub& stub, const std::string& token,
                  grpc::ClientContext* context) {
  VerifyRequest request;
  request.set_token(token);
  VerifyResponse response;
  grpc::Status status = stub.Verify(context, request, &response);
  if (status.ok() && response.verdict().message() != token) {
    return grpc::Status(grpc::StatusCode::DATA_LOSS, "echo differs");
  }
  return status;
}

grpc::Status Echo(Identity::Stub& stub, const std::string& token) {
  return Echo(stub, token, Context().get());
}

// `n` calls of kBlock, each on a thread of its own. A call that is never
// released ends at its deadline, so joining always ends.
class BlockedCalls {
 public:
  BlockedCalls(Identity::Stub* stub, int n) : stub_(stub), statuses_(n) {
    for (int i = 0; i < n; ++i) {
      threads_.emplace_back([this, i] {
        grpc::Status status = Echo(*stub_, kBlock);
        absl::MutexLock lock(&mu_);
        statuses_[i] = std::move(status);
      });
    }
  }
  ~BlockedCalls() { Join(); }

  // Waits for every call; their statuses in start order.
  std::vector<grpc::Status> Join() {
    for (std::thread& t : threads_) t.join();
    threads_.clear();
    absl::MutexLock lock(&mu_);
    return statuses_;
  }

 private:
  Identity::Stub* const stub_;
  std::vector<std::thread> threads_;
  absl::Mutex mu_;
  std::vector<grpc::Status> statuses_ ABSL_GUARDED_BY(mu_);
};

class GrpcServerTest : public ::testing::Test {
 protected:
  void Start(const GrpcServerLimits& limits = GrpcServerLimits()) {
    absl::StatusOr<StartedServer> started = StartGrpcServer(
        "127.0.0.1:0", &service_, grpc::InsecureServerCredentials(), limits);
    ASSERT_THAT(started, IsOk());
    server_ = std::move(started->server);
    port_ = started->port;
    stub_ = Identity::NewStub(NewConnection(port_));
  }

  void TearDown() override {
    service_.Release();
    if (server_ != nullptr) {
      server_->Shutdown(absl::ToChronoTime(absl::Now()));
      server_->Wait();
    }
  }

  EchoService service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::unique_ptr<Identity::Stub> stub_;
};

std::string Repeat(char c, size_t n) { return std::string(n, c); }

TEST(GrpcServerLimitsTest, DefaultsFitTheLargestLegitimateRequests) {
  const GrpcServerLimits limits;
  // The server's own caps (server/validation.cc, server/authority.cc).
  VerifyRequest verify;
  verify.set_token(Repeat('t', token::JwtVerifierOptions().max_token_bytes));
  verify.set_system(Repeat('s', 128));
  for (int i = 0; i < 64; ++i) verify.add_required_scopes(Repeat('c', 128));
  sigil::v1::IssueRequest issue;
  issue.set_subject(Repeat('u', 256));
  for (int i = 0; i < 32; ++i) issue.add_systems(Repeat('s', 128));
  for (int i = 0; i < 64; ++i) issue.add_scopes(Repeat('c', 128));
  for (const auto* request :
       std::vector<const google::protobuf::Message*>{&verify, &issue}) {
    SCOPED_TRACE(request->GetTypeName());
    // At least twice the largest request: room for fields added later.
    EXPECT_LE(2 * request->ByteSizeLong(),
              static_cast<size_t>(limits.max_receive_message_bytes));
  }
}

TEST(GrpcServerLimitsTest, NonPositiveLimitsAreRefused) {
  struct Case {
    const char* name;
    void (*mutate)(GrpcServerLimits&);
  };
  const Case cases[] = {
      {"message size",
       [](GrpcServerLimits& l) { l.max_receive_message_bytes = 0; }},
      {"metadata size", [](GrpcServerLimits& l) { l.max_metadata_bytes = -1; }},
      {"streams", [](GrpcServerLimits& l) { l.max_concurrent_streams = 0; }},
      {"ping strikes", [](GrpcServerLimits& l) { l.max_ping_strikes = 0; }},
      {"threads", [](GrpcServerLimits& l) { l.max_threads = 0; }},
      {"memory", [](GrpcServerLimits& l) { l.max_memory_bytes = 0; }},
      {"ping interval",
       [](GrpcServerLimits& l) {
         l.min_client_ping_interval = absl::ZeroDuration();
       }},
      {"keepalive time",
       [](GrpcServerLimits& l) { l.keepalive_time = -absl::Seconds(1); }},
      {"keepalive timeout",
       [](GrpcServerLimits& l) { l.keepalive_timeout = absl::ZeroDuration(); }},
      {"handshake timeout",
       [](GrpcServerLimits& l) { l.handshake_timeout = absl::ZeroDuration(); }},
  };
  EchoService service;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    GrpcServerLimits limits;
    c.mutate(limits);
    EXPECT_THAT(StartGrpcServer("127.0.0.1:0", &service,
                                grpc::InsecureServerCredentials(), limits),
                StatusIs(absl::StatusCode::kInvalidArgument));
  }
}

TEST_F(GrpcServerTest, OversizedRequestIsResourceExhaustedAndServingGoesOn) {
  Start();
  const int limit = GrpcServerLimits().max_receive_message_bytes;
  // The token field's tag and length take a few bytes of the message.
  EXPECT_THAT(Echo(*stub_, Repeat('a', limit - 16)), IsOk());
  for (size_t size : {size_t(limit) + 1, size_t{1} << 20, size_t{16} << 20}) {
    SCOPED_TRACE(absl::StrCat(size, " byte token"));
    EXPECT_EQ(Echo(*stub_, Repeat('a', size)).error_code(),
              grpc::StatusCode::RESOURCE_EXHAUSTED);
    EXPECT_THAT(Echo(*stub_, "after"), IsOk());
  }
}

TEST_F(GrpcServerTest, OversizedMetadataIsRefusedAndServingGoesOn) {
  Start();
  const int limit = GrpcServerLimits().max_metadata_bytes;
  {
    auto context = Context();
    context->AddMetadata("authorization",
                         absl::StrCat("Bearer ", Repeat('t', 8 * 1024)));
    EXPECT_THAT(Echo(*stub_, "bearer", context.get()), IsOk());
  }
  for (size_t size : {size_t(limit) + 1, size_t{256} << 10}) {
    SCOPED_TRACE(absl::StrCat(size, " bytes of metadata"));
    auto context = Context();
    context->AddMetadata("x-padding", Repeat('m', size));
    const grpc::Status status = Echo(*stub_, "padded", context.get());
    EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
        << status.error_message();
    // gRPC may also close the connection that sent it (a call racing the
    // close fails UNAVAILABLE); a new connection is served.
    EXPECT_THAT(Echo(*Identity::NewStub(NewConnection(port_)), "after"),
                IsOk());
  }
}

TEST_F(GrpcServerTest, StreamsBeyondTheCapWaitAndOtherConnectionsAreServed) {
  GrpcServerLimits limits;
  limits.max_concurrent_streams = 2;
  Start(limits);
  BlockedCalls blocked(stub_.get(), 2);
  ASSERT_TRUE(service_.AwaitEntered(2));

  // A third stream on the same connection waits for a free slot: it never
  // reaches the handler before its deadline.
  const grpc::Status third =
      Echo(*stub_, kBlock, Context(absl::Milliseconds(300)).get());
  EXPECT_EQ(third.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED)
      << third.error_message();
  EXPECT_EQ(service_.entered(), 2);

  auto other = Identity::NewStub(NewConnection(port_));
  EXPECT_THAT(Echo(*other, "other connection"), IsOk());

  service_.Release();
  for (const grpc::Status& status : blocked.Join()) {
    EXPECT_THAT(status, IsOk());
  }
  EXPECT_THAT(Echo(*stub_, "after"), IsOk());
}

TEST_F(GrpcServerTest, ThreadExhaustionAnswersResourceExhaustedAtOnce) {
  GrpcServerLimits limits;
  limits.max_threads = 4;
  Start(limits);
  constexpr int kCalls = 12;
  BlockedCalls blocked(stub_.get(), kCalls);
  ASSERT_TRUE(service_.AwaitEntered(1));

  // Once the blocked calls hold every thread, a new call is refused at
  // once rather than queued until its deadline.
  grpc::Status refused;
  const absl::Time give_up = absl::Now() + kPatience;
  while (refused.ok() && absl::Now() < give_up) {
    refused = Echo(*stub_, "while saturated");
  }
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << refused.error_message();
  EXPECT_LT(service_.entered(), kCalls);

  service_.Release();
  int ok = 0;
  for (const grpc::Status& status : blocked.Join()) {
    if (status.ok()) {
      ++ok;
    } else {
      EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
          << status.error_message();
    }
  }
  EXPECT_EQ(ok, service_.entered());
  EXPECT_THAT(Echo(*stub_, "after"), IsOk());
}

TEST_F(GrpcServerTest, ExpiredDeadlineIsDeadlineExceeded) {
  Start();
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(absl::ToChronoTime(absl::Now() - absl::Seconds(1)));
  EXPECT_EQ(Echo(*stub_, kBlock, context.get()).error_code(),
            grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_EQ(service_.entered(), 0);
  EXPECT_THAT(Echo(*stub_, "after"), IsOk());
}

TEST_F(GrpcServerTest, DeadlineReachedInTheHandlerIsObserved) {
  Start();
  EXPECT_EQ(
      Echo(*stub_, kBlock, Context(absl::Milliseconds(500)).get()).error_code(),
      grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_TRUE(service_.AwaitCancelled(1));
  EXPECT_THAT(Echo(*stub_, "after"), IsOk());
}

TEST_F(GrpcServerTest, CancelledCallIsObserved) {
  Start();
  grpc::ClientContext context;
  grpc::Status status;
  std::thread call([&] { status = Echo(*stub_, kBlock, &context); });
  ASSERT_TRUE(service_.AwaitEntered(1));
  context.TryCancel();
  call.join();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_TRUE(service_.AwaitCancelled(1));
  EXPECT_THAT(Echo(*stub_, "after"), IsOk());
}

TEST_F(GrpcServerTest, ClientPingingTooOftenIsDisconnected) {
  Start();
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 20);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5000);
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  auto abusive = Identity::NewStub(NewConnection(port_, args));
  // A held call keeps the connection open while nothing but pings flows;
  // GOAWAY too_many_pings ends it.
  const grpc::Status status = Echo(*abusive, kBlock);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE)
      << status.error_message();
  EXPECT_THAT(Echo(*stub_, "other connection"), IsOk());
}

}  // namespace
}  // namespace sigil::wire
