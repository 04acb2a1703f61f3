// sigild's Verify with min_seq (read-your-logout), against the in-process
// authority on a real socket: a seq not yet applied is waited for up to the
// call's deadline and then answered UNAVAILABLE, never with a verdict from
// older state; one applied (or 0) answers at once; a shutdown ends the wait.

#include <future>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server/service_fixture.h"
#include "tests/testing/status_matchers.h"

namespace sigil::server {
namespace {

using ::sigil::testing::IsOk;
using ::sigil::testing::StatusIs;
using ::testing::HasSubstr;

class MinSeqTest : public ServiceTest {
 protected:
  grpc::Status VerifyAt(const std::string& token, uint64_t min_seq,
                        absl::Duration deadline,
                        sigil::v1::VerifyResponse* response) {
    sigil::v1::VerifyRequest request;
    request.set_token(token);
    request.set_system("A");
    request.set_min_seq(min_seq);
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + deadline));
    return stub_->Verify(&context, request, response);
  }
};

TEST_F(MinSeqTest, AnAppliedSeqOrZeroAnswersAtOnce) {
  const std::string token = Login("u", {"A"}).access_token();
  Login("other", {"A"});
  const uint64_t seq = LogoutSubject("other", "A").revocation_seq();
  ASSERT_GT(seq, 0u);
  for (uint64_t min_seq : {uint64_t{0}, seq}) {
    sigil::v1::VerifyResponse response;
    ASSERT_THAT(VerifyAt(token, min_seq, absl::Seconds(5), &response), IsOk())
        << "min_seq " << min_seq;
    EXPECT_EQ(Outcome(response), "OK VALID") << "min_seq " << min_seq;
  }
}

TEST_F(MinSeqTest, ASeqAheadIsWaitedForAndAnsweredWithIt) {
  const std::string token = Login("u", {"A"}).access_token();
  sigil::v1::VerifyResponse response;
  auto call = std::async(std::launch::async, [&] {
    return VerifyAt(token, 1, absl::Seconds(10), &response);
  });
  EXPECT_EQ(call.wait_for(std::chrono::milliseconds(300)),
            std::future_status::timeout);
  ASSERT_EQ(LogoutSubject("u", "A").revocation_seq(), 1u);
  ASSERT_THAT(call.get(), IsOk());
  EXPECT_EQ(Outcome(response), "UNAUTHENTICATED LOGGED_OUT");
}

TEST_F(MinSeqTest, ASeqThatNeverComesIsUnavailableBeforeTheDeadline) {
  const std::string token = Login("u", {"A"}).access_token();
  sigil::v1::VerifyResponse response;
  const absl::Time start = absl::Now();
  EXPECT_THAT(VerifyAt(token, 1000, absl::Seconds(1), &response),
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr("revocation seq 1000")));
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(800));
  EXPECT_FALSE(response.has_verdict());
}

TEST_F(MinSeqTest, AShutdownEndsTheWaitUnavailable) {
  const std::string token = Login("u", {"A"}).access_token();
  sigil::v1::VerifyResponse response;
  auto call = std::async(std::launch::async, [&] {
    return VerifyAt(token, 1000, absl::Seconds(20), &response);
  });
  ASSERT_EQ(call.wait_for(std::chrono::milliseconds(300)),
            std::future_status::timeout);
  const absl::Time start = absl::Now();
  server_->Shutdown(absl::Seconds(10));
  EXPECT_THAT(call.get(), StatusIs(absl::StatusCode::kUnavailable));
  // Answered by the shutdown, not held for the grace or the deadline.
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
}

}  // namespace
}  // namespace sigil::server
