// RevocationWatcher's proof of currency: it rests on echoes of the probes it
// sent, read on the monotonic clock, so neither messages without a fresh
// echo nor a step of the wall clock make a stale watcher current. And it
// prunes expired revocations. Against an authority that misbehaves on
// purpose (echoes withheld), and against the real in-process authority.

#include "client/revocation_watcher.h"

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "tests/server/service_fixture.h"
#include "tests/testing/status_matchers.h"

namespace sigil::client {
namespace {

using sigil::v1::WatchRevocationsRequest;
using sigil::v1::WatchRevocationsResponse;

constexpr absl::Duration kMaxStaleness = absl::Seconds(2);
constexpr absl::Duration kWaitLimit = absl::Seconds(10);

// Polls `done` (bounded by kWaitLimit of real time).
template <typename F>
bool Eventually(F done) {
  const absl::Time give_up = absl::Now() + kWaitLimit;
  while (!done()) {
    if (absl::Now() > give_up) return false;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return true;
}

// An authority whose stream sends a heartbeat every 20 ms and echoes probes
// as told: the latest, none, or forever the first one (a stuck or replaying
// path). The fault is the point; everything else is the real wire.
class EchoingAuthority final : public sigil::v1::Identity::Service {
 public:
  enum class Echo { kLatest, kNone, kFirst };

  void set_echo(Echo echo) { echo_.store(echo); }
  uint64_t messages_sent() const { return sent_.load(); }

  grpc::Status WatchRevocations(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<WatchRevocationsResponse,
                               WatchRevocationsRequest>* stream) override {
    WatchRevocationsRequest first;
    if (!stream->Read(&first)) return grpc::Status::CANCELLED;
    std::atomic<uint64_t> latest{first.probe()};
    std::thread reader([&] {
      WatchRevocationsRequest request;
      while (stream->Read(&request)) {
        if (request.probe() != 0) latest.store(request.probe());
      }
    });
    bool opening = true;
    while (!context->IsCancelled()) {
      WatchRevocationsResponse response;
      response.set_key_set_version("v1");
      if (opening) response.set_store_id("echoing-authority");
      opening = false;
      switch (echo_.load()) {
        case Echo::kLatest:
          response.set_probe_echo(latest.load());
          break;
        case Echo::kNone:
          break;
        case Echo::kFirst:
          response.set_probe_echo(first.probe());
          break;
      }
      if (!stream->Write(response)) break;
      sent_.fetch_add(1);
      absl::SleepFor(absl::Milliseconds(20));
    }
    context->TryCancel();
    reader.join();
    return grpc::Status::OK;
  }

 private:
  std::atomic<Echo> echo_{Echo::kLatest};
  std::atomic<uint64_t> sent_{0};
};

class EchoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port);
    builder.RegisterService(&authority_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    stub_ = sigil::v1::Identity::NewStub(grpc::CreateChannel(
        absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));
    watcher_ =
        std::make_unique<RevocationWatcher>(stub_.get(), &clock_, nullptr);
    watcher_->Start();
    ASSERT_TRUE(Eventually([&] { return watcher_->IsCurrent(kMaxStaleness); }))
        << "never current with every probe echoed";
  }

  void TearDown() override {
    watcher_.reset();
    server_->Shutdown(std::chrono::system_clock::now() +
                      std::chrono::seconds(1));
  }

  // Waits (real time) until the authority has sent `n` more messages, so
  // the watcher has had them to read.
  void AwaitMessages(uint64_t n) {
    const uint64_t target = authority_.messages_sent() + n;
    ASSERT_TRUE(
        Eventually([&] { return authority_.messages_sent() >= target; }));
  }

  token::FakeClock clock_{absl::FromUnixSeconds(1700000000)};
  EchoingAuthority authority_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<sigil::v1::Identity::Stub> stub_;
  std::unique_ptr<RevocationWatcher> watcher_;
};

TEST_F(EchoTest, FreshEchoesKeepItCurrentAsTimePasses) {
  for (int i = 0; i < 3; ++i) {
    SCOPED_TRACE(i);
    clock_.Advance(kMaxStaleness + absl::Seconds(1));
    // New probes carry the new monotonic reading; their echoes renew the
    // proof.
    EXPECT_TRUE(Eventually([&] { return watcher_->IsCurrent(kMaxStaleness); }));
  }
}

TEST_F(EchoTest, HeartbeatsWithoutAnEchoDoNotKeepItCurrent) {
  authority_.set_echo(EchoingAuthority::Echo::kNone);
  AwaitMessages(3);
  clock_.Advance(kMaxStaleness + absl::Milliseconds(500));
  // Heartbeats keep arriving after the bound; none proves anything.
  AwaitMessages(10);
  EXPECT_FALSE(watcher_->IsCurrent(kMaxStaleness));
}

TEST_F(EchoTest, HeartbeatsEchoingAnOldProbeDoNotKeepItCurrent) {
  authority_.set_echo(EchoingAuthority::Echo::kFirst);
  AwaitMessages(3);
  clock_.Advance(kMaxStaleness + absl::Milliseconds(500));
  AwaitMessages(10);
  EXPECT_FALSE(watcher_->IsCurrent(kMaxStaleness));
}

TEST_F(EchoTest, WallClockSteppedBackDoesNotMakeAStaleWatcherFresh) {
  authority_.set_echo(EchoingAuthority::Echo::kNone);
  AwaitMessages(3);
  clock_.Advance(kMaxStaleness + absl::Milliseconds(500));
  AwaitMessages(3);
  ASSERT_FALSE(watcher_->IsCurrent(kMaxStaleness));
  // The wall clock goes back ten minutes; the monotonic reading does not.
  clock_.Set(clock_.Now() - absl::Minutes(10));
  AwaitMessages(10);
  EXPECT_FALSE(watcher_->IsCurrent(kMaxStaleness));
}

TEST_F(EchoTest, KeySetStillToBeFetchedHoldsTheProofBack) {
  watcher_.reset();
  std::atomic<bool> held{false};
  std::atomic<int> asked{0};
  watcher_ = std::make_unique<RevocationWatcher>(
      stub_.get(), &clock_, [&](const std::string& version) {
        EXPECT_EQ(version, "v1");
        asked.fetch_add(1);
        return held.load();
      });
  watcher_->Start();
  // Echoes keep coming, but the stream names a key set not yet held: the
  // watcher asks (without waiting) and proves nothing meanwhile.
  AwaitMessages(10);
  EXPECT_GT(asked.load(), 0);
  EXPECT_FALSE(watcher_->IsCurrent(kMaxStaleness));
  held.store(true);
  EXPECT_TRUE(Eventually([&] { return watcher_->IsCurrent(kMaxStaleness); }));
  watcher_.reset();  // before the callback's state goes
}

// The real in-process authority: an expired revocation leaves the index.
class WatcherPruneTest : public server::ServiceTest {};

TEST_F(WatcherPruneTest, ExpiredRevocationsArePrunedAfterTheMargin) {
  RevocationWatcher::Options options;
  options.prune_interval = absl::Minutes(1);
  options.prune_margin = absl::Minutes(5);
  RevocationWatcher watcher(stub_.get(), &clock_, nullptr, options);
  watcher.Start();
  Login("u", {"A"});  // a subject with no live token leaves no revocation
  const uint64_t seq = LogoutSubject("u", "A").revocation_seq();
  ASSERT_TRUE(Eventually([&] {
    return watcher.applied_seq() >= seq && watcher.IsCurrent(kMaxStaleness);
  }));
  ASSERT_EQ(watcher.index().size(), 1u);

  // Expired, but within the margin: kept, however many prunes pass.
  clock_.Advance(options_.authority.max_ttl + absl::Minutes(2));
  ASSERT_TRUE(Eventually([&] { return watcher.IsCurrent(kMaxStaleness); }));
  clock_.Advance(absl::Minutes(2));
  ASSERT_TRUE(Eventually([&] { return watcher.IsCurrent(kMaxStaleness); }));
  EXPECT_EQ(watcher.index().size(), 1u);

  // Past the margin: the next prune drops it.
  clock_.Advance(absl::Minutes(2));
  EXPECT_TRUE(Eventually([&] { return watcher.index().size() == 0; }))
      << "size " << watcher.index().size();
}

}  // namespace
}  // namespace sigil::client
