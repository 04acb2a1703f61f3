// sigil::Client against an in-process authority on a real socket.

#include "client/client.h"

#include <atomic>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server/service_fixture.h"
#include "tests/testing/status_matchers.h"
#include "token/base64url.h"
#include "token/reason.h"

namespace sigil::server {
namespace {

using client::Client;
using client::ClientOptions;
using ::sigil::testing::IsOk;
using ::sigil::testing::StatusIs;

std::string OutcomeOf(const absl::StatusOr<client::VerifiedToken>& result) {
  if (result.ok()) return "OK VALID";
  return absl::StrCat(absl::StatusCodeToString(result.status().code()), " ",
                      token::ReasonName(token::ReasonOf(result.status())));
}

class ClientTest : public ServiceTest {
 protected:
  // A logout at one system that records an event: the subject logs in
  // there first (a stranger's logout records nothing).
  sigil::v1::LogoutResponse LogoutSubject(const std::string& subject,
                                          const std::string& system) {
    Login(subject, {system});
    return ServiceTest::LogoutSubject(subject, system);
  }

  std::unique_ptr<Client> Connect(
      const std::string& system, ClientOptions::Mode mode,
      absl::Duration jwks_refetch_interval = absl::Seconds(10)) {
    ClientOptions options;
    options.jwks_refetch_interval = jwks_refetch_interval;
    options.system = system;
    options.mode = mode;
    options.issuer = options_.authority.issuer;
    options.clock = &clock_;
    auto client = Client::Create(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->port()),
                            grpc::InsecureChannelCredentials()),
        options);
    EXPECT_THAT(client, IsOk());
    return client.ok() ? *std::move(client) : nullptr;
  }

  // Waits (bounded) until `client` has applied revocations up to `seq`.
  static void AwaitSeq(const Client& client, uint64_t seq) {
    const absl::Time give_up = absl::Now() + absl::Seconds(10);
    while ((client.applied_seq() < seq || !client.IsCurrent()) &&
           absl::Now() < give_up) {
      absl::SleepFor(absl::Milliseconds(2));
    }
    ASSERT_GE(client.applied_seq(), seq);
    ASSERT_TRUE(client.IsCurrent());
  }
};

TEST_F(ClientTest, LocalVerifyCachesAndLogoutReachesTheCache) {
  auto client = Connect("A", ClientOptions::Mode::kLocal);
  ASSERT_NE(client, nullptr);
  AwaitSeq(*client, 0);
  const std::string a = Login("u", {"A"}, {"orders.read"}).access_token();
  const std::string other = Login("v", {"A"}).access_token();

  const token::ClaimsCache::Stats before = client->stats().cache;
  auto verified = client->Verify(a, {"orders.read"});
  ASSERT_THAT(verified, IsOk());
  EXPECT_EQ(verified->claims().subject, "u");
  const token::ClaimsCache::Stats first = client->stats().cache;
  EXPECT_EQ(first.misses, before.misses + 1);
  EXPECT_EQ(first.hits, before.hits);

  // The second verify is answered from the cache.
  EXPECT_EQ(OutcomeOf(client->Verify(a)), "OK VALID");
  const token::ClaimsCache::Stats second = client->stats().cache;
  EXPECT_EQ(second.hits, first.hits + 1);
  EXPECT_EQ(second.misses, first.misses);
  EXPECT_EQ(second.size, first.size);
  // So is a scope check on the cached claims.
  EXPECT_EQ(OutcomeOf(client->Verify(a, {"orders.write"})),
            "PERMISSION_DENIED INSUFFICIENT_SCOPE");
  EXPECT_EQ(client->stats().cache.hits, second.hits + 1);

  AwaitSeq(*client, LogoutSubject("u", "A").revocation_seq());
  EXPECT_EQ(OutcomeOf(client->Verify(a)), "UNAUTHENTICATED LOGGED_OUT");
  EXPECT_EQ(OutcomeOf(client->Verify(other)), "OK VALID");
  EXPECT_EQ(OutcomeOf(client->Verify(Login("u", {"A"}).access_token())),
            "OK VALID");
}

TEST_F(ClientTest, MultiSystemTokenAfterLogoutOfThisSystemIsForbidden) {
  auto client = Connect("A", ClientOptions::Mode::kLocal);
  ASSERT_NE(client, nullptr);
  const std::string ab = Login("u", {"A", "B"}).access_token();
  AwaitSeq(*client, 0);
  EXPECT_EQ(OutcomeOf(client->Verify(ab)), "OK VALID");
  AwaitSeq(*client, LogoutSubject("u", "A").revocation_seq());
  EXPECT_EQ(OutcomeOf(client->Verify(ab)),
            "PERMISSION_DENIED LOGGED_OUT_OF_SYSTEM");
  AwaitSeq(*client, LogoutSubjectEverywhere("u").revocation_seq());
  EXPECT_EQ(OutcomeOf(client->Verify(ab)), "UNAUTHENTICATED LOGGED_OUT_ALL");
}

TEST_F(ClientTest, HostileAndForeignTokensAreUnauthenticated) {
  auto client = Connect("A", ClientOptions::Mode::kLocal);
  ASSERT_NE(client, nullptr);
  AwaitSeq(*client, 0);
  EXPECT_EQ(OutcomeOf(client->Verify("a.b.c")), "UNAUTHENTICATED MALFORMED");
  EXPECT_EQ(OutcomeOf(client->Verify(Login("u", {"B"}).access_token())),
            "UNAUTHENTICATED WRONG_AUDIENCE");
  EXPECT_THAT(client->Verify(""), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(ClientTest, RemoteModeAsksTheAuthorityAndAppliesRevocations) {
  auto client = Connect("A", ClientOptions::Mode::kRemote);
  ASSERT_NE(client, nullptr);
  AwaitSeq(*client, 0);
  const std::string a = Login("u", {"A"}).access_token();
  EXPECT_EQ(OutcomeOf(client->Verify(a)), "OK VALID");
  EXPECT_EQ(OutcomeOf(client->Verify("a.b.c")), "UNAUTHENTICATED MALFORMED");
  AwaitSeq(*client, LogoutSubject("u", "A").revocation_seq());
  EXPECT_EQ(OutcomeOf(client->Verify(a)), "UNAUTHENTICATED LOGGED_OUT");
}

TEST_F(ClientTest, StaleAndCutOffItFailsClosed) {
  auto client = Connect("A", ClientOptions::Mode::kLocal);
  ASSERT_NE(client, nullptr);
  const std::string a = Login("u", {"A"}).access_token();
  AwaitSeq(*client, 0);
  EXPECT_EQ(OutcomeOf(client->Verify(a)), "OK VALID");

  StopServer();
  // Within the bound the cached verdict still stands.
  clock_.Advance(absl::Seconds(1));
  EXPECT_EQ(OutcomeOf(client->Verify(a)), "OK VALID");
  // Past it, with the authority gone, nothing can be proven.
  clock_.Advance(absl::Seconds(2));
  EXPECT_FALSE(client->IsCurrent());
  EXPECT_THAT(client->Verify(a), StatusIs(absl::StatusCode::kUnavailable));
}

// Counts the answers one VerifyAsync gives, and learns when the client has
// let go of every copy of its callback: from then on no further answer can
// come, so the count is final without waiting for stragglers.
class AnswerProbe {
 public:
  // The callback to hand to VerifyAsync.
  Client::VerifyCallback Callback() {
    auto state = state_;
    auto release = std::make_shared<Release>(state);
    return [state, release](absl::StatusOr<client::VerifiedToken> result) {
      if (state->answers.fetch_add(1) == 0) {
        state->outcome = OutcomeOf(result);
        state->answered.Notify();
      }
    };
  }

  // Waits (bounded) until the callback and all its copies are destroyed.
  bool AwaitReleased() {
    return state_->released.WaitForNotificationWithTimeout(absl::Seconds(10));
  }
  bool answered() const { return state_->answered.HasBeenNotified(); }
  int answers() const { return state_->answers.load(); }
  // The first answer's outcome; read once answered() is true.
  const std::string& outcome() const { return state_->outcome; }

 private:
  struct State {
    std::atomic<int> answers{0};
    std::string outcome;  // written by the first answer only
    absl::Notification answered;
    absl::Notification released;
  };
  // Owned by the callback alone: destroyed with its last copy.
  struct Release {
    explicit Release(std::shared_ptr<State> state) : state(std::move(state)) {}
    ~Release() { state->released.Notify(); }
    std::shared_ptr<State> state;
  };

  std::shared_ptr<State> state_ = std::make_shared<State>();
};

TEST_F(ClientTest, AsyncVerifyAnswersOnceInBothModes) {
  for (auto mode :
       {ClientOptions::Mode::kLocal, ClientOptions::Mode::kRemote}) {
    SCOPED_TRACE(mode == ClientOptions::Mode::kLocal ? "local" : "remote");
    auto client = Connect("A", mode);
    ASSERT_NE(client, nullptr);
    AwaitSeq(*client, 0);
    const std::string a = Login("u", {"A"}, {"orders.read"}).access_token();
    struct Case {
      std::string token;
      std::vector<std::string> scopes;
      std::string outcome;
    };
    // In remote mode the first and the third go to the authority, the
    // second is a cache hit and the last is refused without a call.
    const std::vector<Case> cases = {
        {a, {"orders.read"}, "OK VALID"},
        {a, {"orders.write"}, "PERMISSION_DENIED INSUFFICIENT_SCOPE"},
        {"a.b.c", {}, "UNAUTHENTICATED MALFORMED"},
        {"", {}, "INVALID_ARGUMENT MALFORMED"},
    };
    for (const Case& c : cases) {
      SCOPED_TRACE(c.outcome);
      AnswerProbe probe;
      client->VerifyAsync(c.token, c.scopes, probe.Callback());
      // Once the callback is gone it cannot answer again: whatever count
      // it left is every answer there will be, in any build type.
      ASSERT_TRUE(probe.AwaitReleased());
      ASSERT_TRUE(probe.answered());
      EXPECT_EQ(probe.answers(), 1);
      EXPECT_EQ(probe.outcome(), c.outcome);
    }
  }
}

TEST_F(ClientTest, AsyncCacheHitIsAnsweredInlineAndCountedOnce) {
  for (auto mode :
       {ClientOptions::Mode::kLocal, ClientOptions::Mode::kRemote}) {
    SCOPED_TRACE(mode == ClientOptions::Mode::kLocal ? "local" : "remote");
    auto client = Connect("A", mode);
    ASSERT_NE(client, nullptr);
    AwaitSeq(*client, 0);
    const std::string a = Login("u", {"A"}).access_token();
    ASSERT_THAT(client->Verify(a), IsOk());  // a miss, now cached
    const token::ClaimsCache::Stats before = client->stats().cache;

    AnswerProbe probe;
    client->VerifyAsync(a, {}, probe.Callback());
    // A hit needs no call to the authority: the answer came before
    // VerifyAsync returned.
    EXPECT_TRUE(probe.answered());
    ASSERT_TRUE(probe.AwaitReleased());
    EXPECT_EQ(probe.answers(), 1);
    EXPECT_EQ(probe.outcome(), "OK VALID");

    const token::ClaimsCache::Stats after = client->stats().cache;
    EXPECT_EQ(after.hits, before.hits + 1);
    EXPECT_EQ(after.misses, before.misses);
  }
}

TEST_F(ClientTest, AuthorityWithANewKeyAndHistoryIsFollowed) {
  // Same address, fresh data dir: a new signing key and a new seq history.
  options_.listen = absl::StrCat("127.0.0.1:", server_->port());
  auto client = Connect("A", ClientOptions::Mode::kLocal, absl::ZeroDuration());
  ASSERT_NE(client, nullptr);
  const std::string old_token = Login("x", {"A"}).access_token();
  AwaitSeq(*client, LogoutSubject("y", "A").revocation_seq());

  StopServer();
  options_.data_dir = dir_.Sub("replaced");
  StartServer();
  AwaitSeq(*client, 0);
  // The unknown kid makes the client fetch the new key set.
  EXPECT_EQ(OutcomeOf(client->Verify(Login("u", {"A"}).access_token())),
            "OK VALID");
  // The old key is gone with the old authority.
  EXPECT_EQ(OutcomeOf(client->Verify(old_token)),
            "UNAUTHENTICATED UNKNOWN_KEY");
}

TEST_F(ClientTest, ReplacedStoreWithALongerHistoryIsFollowedFromScratch) {
  const std::string address = absl::StrCat("127.0.0.1:", server_->port());
  auto client = Connect("A", ClientOptions::Mode::kLocal, absl::ZeroDuration());
  ASSERT_NE(client, nullptr);
  AwaitSeq(*client, LogoutSubject("y", "A").revocation_seq());
  StopServer();

  // Elsewhere, a new store records two logouts: its seq 1 is not the seq 1
  // this client applied.
  options_.listen = "127.0.0.1:0";
  options_.data_dir = dir_.Sub("replaced");
  StartServer();
  const std::string token = Login("z", {"A"}).access_token();
  LogoutSubject("z", "A");
  const uint64_t last = LogoutSubject("w", "A").revocation_seq();
  ASSERT_EQ(last, 2u);
  StopServer();

  options_.listen = address;
  StartServer();
  AwaitSeq(*client, last);
  EXPECT_EQ(OutcomeOf(client->Verify(token)), "UNAUTHENTICATED LOGGED_OUT");
}

TEST_F(ClientTest, LearnsRotatedKeysFromTheStreamWithoutAFailedVerify) {
  // An unknown kid could not refetch the key set within the test: the
  // rotated keys must arrive by the stream's key set version.
  auto client = Connect("A", ClientOptions::Mode::kLocal, absl::Hours(1));
  ASSERT_NE(client, nullptr);
  AwaitSeq(*client, 0);
  const std::string before = Login("u", {"A"}).access_token();
  ASSERT_EQ(OutcomeOf(client->Verify(before)), "OK VALID");

  for (int rotation = 1; rotation <= 2; ++rotation) {
    SCOPED_TRACE(absl::StrCat("rotation ", rotation));
    sigil::v1::KeysResponse keys;
    ASSERT_THAT(stub_->RotateKeys(Context().get(),
                                  sigil::v1::RotateKeysRequest(), &keys),
                IsOk());
    ASSERT_EQ(keys.keys(0).stage(), sigil::v1::NEXT);
    const std::string upcoming = keys.keys(0).kid();
    // Bounded wait for the stream to bring the new version.
    const absl::Time give_up = absl::Now() + absl::Seconds(10);
    while (client->fetched_keys().keys->Find(upcoming) == nullptr &&
           absl::Now() < give_up) {
      absl::SleepFor(absl::Milliseconds(2));
    }
    ASSERT_NE(client->fetched_keys().keys->Find(upcoming), nullptr);
    EXPECT_EQ(OutcomeOf(client->Verify(Login("u", {"A"}).access_token())),
              "OK VALID");
    EXPECT_EQ(OutcomeOf(client->Verify(before)), "OK VALID");
  }
}

// `token` with its header's kid replaced by one no key set holds.
std::string WithUnknownKid(const std::string& token) {
  const size_t dot = token.find('.');
  auto header = token::Base64UrlDecode(token.substr(0, dot));
  EXPECT_THAT(header.status(), IsOk());
  const std::string json = header.value_or("");
  const std::string marker = "\"kid\":\"";
  const size_t start = json.find(marker);
  EXPECT_NE(start, std::string::npos) << json;
  const size_t end = json.find('"', start + marker.size());
  const std::string forged = absl::StrCat(json.substr(0, start + marker.size()),
                                          "no-such-key", json.substr(end));
  return absl::StrCat(token::Base64UrlEncode(forged), token.substr(dot));
}

TEST_F(ClientTest, UnknownKidWithinTheRefetchIntervalIsUnavailable) {
  auto client = Connect("A", ClientOptions::Mode::kLocal, absl::Seconds(10));
  ASSERT_NE(client, nullptr);
  AwaitSeq(*client, 0);
  // The key set was fetched at Create, moments ago: the kid may be a key
  // too new for it, so the token is not refused as invalid.
  const std::string token = WithUnknownKid(Login("u", {"A"}).access_token());
  EXPECT_THAT(client->Verify(token), StatusIs(absl::StatusCode::kUnavailable));
}

TEST_F(ClientTest, UnknownKidAfterARefetchIsRefused) {
  auto client = Connect("A", ClientOptions::Mode::kLocal, absl::Seconds(10));
  ASSERT_NE(client, nullptr);
  const std::string token = WithUnknownKid(Login("u", {"A"}).access_token());
  clock_.Advance(absl::Seconds(11));
  // Current again (a probe sent after the advance was echoed), so the
  // answer is the client's own: the refetched set has no such key either.
  AwaitSeq(*client, 0);
  EXPECT_EQ(OutcomeOf(client->Verify(token)), "UNAUTHENTICATED UNKNOWN_KEY");
}

TEST_F(ClientTest, ARevocationDropsAClaimsCachedBeforeIt) {
  auto client = Connect("A", ClientOptions::Mode::kLocal);
  ASSERT_NE(client, nullptr);
  AwaitSeq(*client, 0);
  const std::string kept = Login("kept", {"A"}).access_token();
  const std::string dropped = Login("dropped", {"A"}).access_token();
  ASSERT_THAT(client->Verify(kept), IsOk());
  ASSERT_THAT(client->Verify(dropped), IsOk());
  AwaitSeq(*client, LogoutSubject("dropped", "A").revocation_seq());
  // Both hits follow a revocation; only the covered one is refused, every
  // time.
  for (int i = 0; i < 3; ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(OutcomeOf(client->Verify(kept)), "OK VALID");
    EXPECT_EQ(OutcomeOf(client->Verify(dropped)), "UNAUTHENTICATED LOGGED_OUT");
  }
}

TEST_F(ClientTest, ManyThreadsVerifyConcurrently) {
  auto client = Connect("A", ClientOptions::Mode::kLocal);
  ASSERT_NE(client, nullptr);
  AwaitSeq(*client, 0);
  std::vector<std::string> tokens;
  for (int i = 0; i < 8; ++i) {
    tokens.push_back(Login(absl::StrCat("u", i), {"A"}).access_token());
  }
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 500; ++i) {
        if (client->Verify(tokens[i % tokens.size()]).ok()) ++ok;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(ok.load(), 4 * 500);
}

TEST_F(ClientTest, ListsSessionsAPageAtATimeOrAll) {
  auto client = Connect("A", ClientOptions::Mode::kRemote);
  ASSERT_NE(client, nullptr);
  std::set<std::string> issued;
  for (int i = 0; i < 3; ++i)
    issued.insert(Login("lister", {"A"}).session_id());

  sigil::v1::ListSessionsRequest request;
  request.set_subject("lister");
  request.set_page_size(2);
  auto first = client->ListSessions(request);
  ASSERT_THAT(first, IsOk());
  EXPECT_EQ(first->sessions_size(), 2);
  EXPECT_FALSE(first->next_page_token().empty());

  auto all = client->ListAllSessions("lister");
  ASSERT_THAT(all, IsOk());
  std::set<std::string> listed;
  for (const sigil::v1::Session& session : *all) {
    listed.insert(session.session_id());
  }
  EXPECT_EQ(listed, issued);
  EXPECT_EQ(all->size(), issued.size());
}

}  // namespace
}  // namespace sigil::server
