// WatchRevocations: resumable, live, with heartbeats, for many subscribers
// at once.

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server/service_fixture.h"
#include "tests/testing/status_matchers.h"

namespace sigil::server {
namespace {

using ::sigil::testing::IsOk;
using sigil::v1::WatchRevocationsRequest;
using sigil::v1::WatchRevocationsResponse;
using ::testing::Not;

class WatchRevocationsTest : public ServiceTest {
 protected:
  // A logout at one system that records an event: the subject logs in
  // there first (a stranger's logout records nothing).
  sigil::v1::LogoutResponse LogoutSubject(const std::string& subject,
                                          const std::string& system) {
    Login(subject, {system});
    return ServiceTest::LogoutSubject(subject, system);
  }

  struct Watch {
    std::unique_ptr<grpc::ClientContext> context;
    std::unique_ptr<grpc::ClientReaderWriter<WatchRevocationsRequest,
                                             WatchRevocationsResponse>>
        reader;
  };

  // Opens a stream; the subscriber's side stays open for probes.
  Watch Subscribe(uint64_t after_seq, std::string store_id = "",
                  uint64_t probe = 0) {
    Watch watch{Context(), nullptr};
    WatchRevocationsRequest request;
    request.set_after_seq(after_seq);
    request.set_store_id(std::move(store_id));
    request.set_probe(probe);
    watch.reader = stub_->WatchRevocations(watch.context.get());
    EXPECT_TRUE(watch.reader->Write(request));
    return watch;
  }

  static void Probe(Watch& watch, uint64_t probe) {
    WatchRevocationsRequest request;
    request.set_probe(probe);
    ASSERT_TRUE(watch.reader->Write(request)) << "probe " << probe;
  }

  // Reads until the message echoing `probe`; fails if the stream ends.
  static WatchRevocationsResponse ReadEcho(Watch& watch, uint64_t probe) {
    WatchRevocationsResponse response;
    while (watch.reader->Read(&response)) {
      if (response.probe_echo() == probe) return response;
    }
    ADD_FAILURE() << "stream ended before the echo of " << probe;
    return response;
  }

  // Reads until every event up to `seq` has arrived; returns those events'
  // subjects in order.
  static std::vector<std::string> ReadUntil(Watch& watch, uint64_t seq) {
    std::vector<std::string> subjects;
    WatchRevocationsResponse response;
    while (watch.reader->Read(&response)) {
      for (const auto& event : response.events()) {
        subjects.push_back(event.subject());
      }
      if (response.current_seq() >= seq) return subjects;
    }
    ADD_FAILURE() << "stream ended before seq " << seq;
    return subjects;
  }
};

TEST_F(WatchRevocationsTest, NewSubscriberGetsEveryLiveRevocationThenLiveOnes) {
  LogoutSubject("a", "A");
  LogoutSubjectEverywhere("b");
  Watch watch = Subscribe(0);
  EXPECT_EQ(ReadUntil(watch, 2), (std::vector<std::string>{"a", "b"}));

  const uint64_t seq = LogoutSubject("c", "C").revocation_seq();
  WatchRevocationsResponse response;
  ASSERT_TRUE(watch.reader->Read(&response));
  ASSERT_EQ(response.events_size(), 1) << response.DebugString();
  const sigil::v1::RevocationEvent& event = response.events(0);
  EXPECT_EQ(event.seq(), seq);
  EXPECT_EQ(event.scope(), sigil::v1::SUBJECT_SYSTEM);
  EXPECT_EQ(event.subject(), "c");
  EXPECT_EQ(event.system(), "C");
  EXPECT_GE(event.not_before().seconds(), absl::ToUnixSeconds(clock_.Now()));
  EXPECT_EQ(event.expires_at().seconds() - event.not_before().seconds(),
            absl::ToInt64Seconds(options_.authority.max_ttl));
  EXPECT_EQ(response.current_seq(), seq);
  EXPECT_FALSE(response.reset());
}

TEST_F(WatchRevocationsTest, ResumesAfterTheGivenSeq) {
  LogoutSubject("a", "A");
  const uint64_t resume = LogoutSubject("b", "A").revocation_seq();
  LogoutSubject("c", "A");
  LogoutSubject("d", "A");
  Watch watch = Subscribe(resume);
  EXPECT_EQ(ReadUntil(watch, resume + 2), (std::vector<std::string>{"c", "d"}));
}

TEST_F(WatchRevocationsTest, ResumesFromTheStoreAfterARestart) {
  LogoutSubject("a", "A");
  LogoutSubject("b", "A");
  StopServer();
  StartServer();
  Watch watch = Subscribe(1);
  EXPECT_EQ(ReadUntil(watch, 2), (std::vector<std::string>{"b"}));
}

TEST_F(WatchRevocationsTest, SubscriberAheadOfTheAuthorityIsReset) {
  LogoutSubject("a", "A");
  Watch watch = Subscribe(1000);
  WatchRevocationsResponse response;
  ASSERT_TRUE(watch.reader->Read(&response));
  EXPECT_TRUE(response.reset());
  ASSERT_EQ(response.events_size(), 1);
  EXPECT_EQ(response.events(0).subject(), "a");
  EXPECT_EQ(response.current_seq(), 1u);
}

TEST_F(WatchRevocationsTest, SubscriberOfAnotherStoreIsReset) {
  LogoutSubject("a", "A");
  LogoutSubject("b", "A");
  std::string store_id;
  {
    Watch watch = Subscribe(0);
    WatchRevocationsResponse response;
    ASSERT_TRUE(watch.reader->Read(&response));
    EXPECT_FALSE(response.reset());
    store_id = response.store_id();
    EXPECT_EQ(store_id.size(), 32u);
  }
  struct Case {
    const char* name;
    std::string store_id;
    bool reset;
    std::vector<std::string> subjects;
  };
  const Case cases[] = {
      {"same store", store_id, false, {"b"}},
      {"unknown store", "", false, {"b"}},
      {"another store", std::string(32, '0'), true, {"a", "b"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    Watch watch = Subscribe(1, c.store_id);
    WatchRevocationsResponse response;
    ASSERT_TRUE(watch.reader->Read(&response));
    EXPECT_EQ(response.reset(), c.reset);
    EXPECT_EQ(response.store_id(), store_id);
    std::vector<std::string> subjects;
    for (const auto& event : response.events()) {
      subjects.push_back(event.subject());
    }
    EXPECT_EQ(subjects, c.subjects);
  }
}

TEST_F(WatchRevocationsTest, CatchUpIsMarkedMoreUntilTheLastBatch) {
  constexpr int kLogouts = 600;  // more than one batch
  for (int i = 0; i < kLogouts; ++i) LogoutSubject(absl::StrCat("u", i), "A");
  Watch watch = Subscribe(0);
  int events = 0;
  WatchRevocationsResponse response;
  while (watch.reader->Read(&response)) {
    events += response.events_size();
    // Only the message that completes the catch-up may prove currency.
    EXPECT_EQ(response.more(), events < kLogouts) << "after " << events;
    if (!response.more()) break;
  }
  EXPECT_EQ(events, kLogouts);
  EXPECT_EQ(response.current_seq(), static_cast<uint64_t>(kLogouts));
}

TEST_F(WatchRevocationsTest, IdleStreamCarriesHeartbeatsWithTheCurrentSeq) {
  const uint64_t seq = LogoutSubject("a", "A").revocation_seq();
  Watch watch = Subscribe(seq);
  // The first message answers at once; the next ones are heartbeats.
  for (int i = 0; i < 3; ++i) {
    SCOPED_TRACE(i);
    WatchRevocationsResponse response;
    ASSERT_TRUE(watch.reader->Read(&response));
    EXPECT_EQ(response.events_size(), 0);
    EXPECT_EQ(response.current_seq(), seq);
    EXPECT_EQ(response.sent_at().seconds(), absl::ToUnixSeconds(clock_.Now()));
  }
}

TEST_F(WatchRevocationsTest, ProbeIsEchoedAtOnceAfterEveryEventBeforeIt) {
  Watch watch = Subscribe(0);
  WatchRevocationsResponse first;
  ASSERT_TRUE(watch.reader->Read(&first));
  EXPECT_EQ(first.probe_echo(), 0u);
  const uint64_t seq = LogoutSubject("a", "A").revocation_seq();
  Probe(watch, 42);
  // The echo comes after the event the authority held when it read it.
  uint64_t seen = 0;
  WatchRevocationsResponse response;
  while (watch.reader->Read(&response)) {
    for (const auto& event : response.events()) seen = event.seq();
    if (response.probe_echo() != 0) break;
  }
  EXPECT_EQ(response.probe_echo(), 42u);
  EXPECT_EQ(seen, seq);
  EXPECT_GE(response.current_seq(), seq);
  EXPECT_FALSE(response.more());
}

TEST_F(WatchRevocationsTest, ProbeOfTheFirstRequestIsEchoedOnlyOnceCaughtUp) {
  constexpr int kLogouts = 600;  // more than one batch
  for (int i = 0; i < kLogouts; ++i) LogoutSubject(absl::StrCat("u", i), "A");
  Watch watch = Subscribe(0, "", 7);
  int events = 0;
  WatchRevocationsResponse response;
  while (watch.reader->Read(&response)) {
    events += response.events_size();
    // An echo promises every event the authority held when it read the
    // probe: not before the catch-up is complete.
    EXPECT_EQ(response.probe_echo(), events < kLogouts ? 0u : 7u)
        << "after " << events;
    if (response.probe_echo() != 0) break;
  }
  EXPECT_EQ(events, kLogouts);
}

TEST_F(WatchRevocationsTest, LatestProbeIsEchoed) {
  Watch watch = Subscribe(0, "", 1);
  ReadEcho(watch, 1);
  Probe(watch, 2);
  EXPECT_EQ(ReadEcho(watch, 2).probe_echo(), 2u);
  Probe(watch, 3);
  EXPECT_EQ(ReadEcho(watch, 3).probe_echo(), 3u);
}

TEST_F(WatchRevocationsTest, SubscriberThatClosesItsSideStillGetsTheStream) {
  // A subscriber built against the one-request form of the RPC.
  Watch watch = Subscribe(0);
  ASSERT_TRUE(watch.reader->WritesDone());
  WatchRevocationsResponse response;
  ASSERT_TRUE(watch.reader->Read(&response));
  const uint64_t seq = LogoutSubject("a", "A").revocation_seq();
  EXPECT_EQ(ReadUntil(watch, seq), (std::vector<std::string>{"a"}));
  // And heartbeats after that, without echoes.
  ASSERT_TRUE(watch.reader->Read(&response));
  EXPECT_EQ(response.events_size(), 0);
  EXPECT_EQ(response.probe_echo(), 0u);
}

TEST_F(WatchRevocationsTest, HundredsOfSubscribersEachGetTheEvent) {
  constexpr int kSubscribers = 300;
  std::vector<Watch> watches;
  for (int i = 0; i < kSubscribers; ++i) {
    watches.push_back(Subscribe(0));
    WatchRevocationsResponse first;
    ASSERT_TRUE(watches.back().reader->Read(&first)) << i;
  }
  const uint64_t seq = LogoutSubjectEverywhere("u").revocation_seq();
  for (int i = 0; i < kSubscribers; ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(ReadUntil(watches[i], seq), (std::vector<std::string>{"u"}));
  }
}

TEST_F(WatchRevocationsTest, ShutdownEndsOpenStreams) {
  Watch watch = Subscribe(0);
  WatchRevocationsResponse response;
  ASSERT_TRUE(watch.reader->Read(&response));
  server_->Shutdown(absl::Milliseconds(100));
  while (watch.reader->Read(&response)) {
  }
  EXPECT_THAT(watch.reader->Finish(), Not(IsOk()));
}

}  // namespace
}  // namespace sigil::server
