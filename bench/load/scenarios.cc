// The unary scenarios. Each Call owns its stub and the request, response
// and context of its one call in flight; ClientContext cannot be reused,
// so each request gets a new one.

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/load/driver.h"
#include "bench/load/scenario.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "sigil/v1/identity.grpc.pb.h"
#include "token/base64url.h"
#include "token/json.h"

namespace sigil::bench {
namespace {

using ChannelList = std::vector<std::shared_ptr<grpc::Channel>>;
using Done = std::function<void(const Outcome&)>;

// Long enough never to cut a call on a loaded machine; a stuck server
// still ends the run.
constexpr absl::Duration kCallDeadline = absl::Seconds(30);
// Prepare issues tokens with this many requests in flight.
constexpr int kPrepareConcurrency = 32;

std::unique_ptr<grpc::ClientContext> NewContext() {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(absl::ToChronoTime(absl::Now() + kCallDeadline));
  return context;
}

Outcome FromStatus(const char* method, const grpc::Status& status) {
  Outcome outcome;
  outcome.method = method;
  outcome.code = status.error_code();
  if (!status.ok()) outcome.message = status.error_message();
  return outcome;
}

class HealthCall : public Call {
 public:
  explicit HealthCall(std::shared_ptr<grpc::Channel> channel)
      : stub_(grpc::health::v1::Health::NewStub(std::move(channel))) {}

  void Start(Done done) override {
    context_ = NewContext();
    stub_->async()->Check(context_.get(), &request_, &response_,
                          [done = std::move(done)](grpc::Status status) {
                            done(FromStatus("Check", status));
                          });
  }

 private:
  std::unique_ptr<grpc::health::v1::Health::Stub> stub_;
  std::unique_ptr<grpc::ClientContext> context_;
  grpc::health::v1::HealthCheckRequest request_;
  grpc::health::v1::HealthCheckResponse response_;
};

// Issue for `system`, a new subject each time; `sink` (optional) sees
// every successful response.
class IssueCall : public Call {
 public:
  using Sink = std::function<void(const v1::IssueResponse&)>;
  IssueCall(std::shared_ptr<grpc::Channel> channel, int slot,
            const std::string& system, absl::Duration ttl, Sink sink)
      : stub_(v1::Identity::NewStub(std::move(channel))),
        prefix_(absl::StrCat("bench-", absl::ToUnixMicros(absl::Now()), "-",
                             slot, "-")),
        sink_(std::move(sink)) {
    request_.add_systems(system);
    request_.add_scopes("bench.read");
    if (ttl > absl::ZeroDuration()) {
      request_.mutable_ttl()->set_seconds(absl::ToInt64Seconds(ttl));
    }
  }

  void Start(Done done) override {
    context_ = NewContext();
    request_.set_subject(absl::StrCat(prefix_, next_++));
    stub_->async()->Issue(context_.get(), &request_, &response_,
                          [this, done = std::move(done)](grpc::Status status) {
                            if (status.ok() && sink_) sink_(response_);
                            done(FromStatus("Issue", status));
                          });
  }

 private:
  std::unique_ptr<v1::Identity::Stub> stub_;
  const std::string prefix_;
  const Sink sink_;
  int64_t next_ = 0;
  std::unique_ptr<grpc::ClientContext> context_;
  v1::IssueRequest request_;
  v1::IssueResponse response_;
};

Outcome FromVerify(const grpc::Status& status,
                   const v1::VerifyResponse& response) {
  Outcome outcome = FromStatus("Verify", status);
  if (status.ok()) outcome.reason = response.verdict().reason();
  return outcome;
}

// Verify, cycling through `tokens` from a per-slot offset.
class VerifyCall : public Call {
 public:
  VerifyCall(std::shared_ptr<grpc::Channel> channel, int slot,
             const std::string& system,
             std::shared_ptr<const std::vector<std::string>> tokens)
      : stub_(v1::Identity::NewStub(std::move(channel))),
        tokens_(std::move(tokens)),
        next_(static_cast<size_t>(slot) * 7919) {
    request_.set_system(system);
  }

  void Start(Done done) override {
    context_ = NewContext();
    request_.set_token((*tokens_)[next_++ % tokens_->size()]);
    stub_->async()->Verify(context_.get(), &request_, &response_,
                           [this, done = std::move(done)](grpc::Status status) {
                             done(FromVerify(status, response_));
                           });
  }

 private:
  std::unique_ptr<v1::Identity::Stub> stub_;
  const std::shared_ptr<const std::vector<std::string>> tokens_;
  size_t next_;
  std::unique_ptr<grpc::ClientContext> context_;
  v1::VerifyRequest request_;
  v1::VerifyResponse response_;
};

// A user's visit, one call per Start: log in (Issue), Verify three times,
// log out of the system with the user's own token, Verify once more (the
// verdict is then LOGGED_OUT), and again with a new subject.
class MixCall : public Call {
 public:
  MixCall(std::shared_ptr<grpc::Channel> channel, int slot,
          const std::string& system)
      : stub_(v1::Identity::NewStub(std::move(channel))),
        system_(system),
        prefix_(absl::StrCat("bench-mix-", absl::ToUnixMicros(absl::Now()), "-",
                             slot, "-")) {}

  void Start(Done done) override {
    context_ = NewContext();
    const int step = step_;
    step_ = (step_ + 1) % 6;
    if (step == 0) {
      issue_request_.Clear();
      issue_request_.set_subject(absl::StrCat(prefix_, next_subject_++));
      issue_request_.add_systems(system_);
      stub_->async()->Issue(
          context_.get(), &issue_request_, &issue_response_,
          [this, done = std::move(done)](grpc::Status status) {
            // Without a token the visit starts over.
            if (!status.ok()) step_ = 0;
            done(FromStatus("Issue", status));
          });
    } else if (step == 4) {
      logout_request_.set_system(system_);
      logout_request_.set_token(issue_response_.access_token());
      stub_->async()->LogoutFromSystem(
          context_.get(), &logout_request_, &logout_response_,
          [done = std::move(done)](grpc::Status status) {
            done(FromStatus("LogoutFromSystem", status));
          });
    } else {
      verify_request_.set_system(system_);
      verify_request_.set_token(issue_response_.access_token());
      stub_->async()->Verify(
          context_.get(), &verify_request_, &verify_response_,
          [this, done = std::move(done)](grpc::Status status) {
            done(FromVerify(status, verify_response_));
          });
    }
  }

 private:
  std::unique_ptr<v1::Identity::Stub> stub_;
  const std::string system_;
  const std::string prefix_;
  int step_ = 0;
  int64_t next_subject_ = 0;
  std::unique_ptr<grpc::ClientContext> context_;
  v1::IssueRequest issue_request_;
  v1::IssueResponse issue_response_;
  v1::VerifyRequest verify_request_;
  v1::VerifyResponse verify_response_;
  v1::LogoutFromSystemRequest logout_request_;
  v1::LogoutResponse logout_response_;
};

// An operator's logout of one subject from the system, cycling through
// subjects logged in there beforehand: a logout of a subject that holds no
// live token there records nothing, so each call here is a revocation, a
// synced write.
class LogoutCall : public Call {
 public:
  LogoutCall(std::shared_ptr<grpc::Channel> channel, int slot,
             const std::string& system,
             std::shared_ptr<const std::vector<std::string>> subjects)
      : stub_(v1::Identity::NewStub(std::move(channel))),
        subjects_(std::move(subjects)),
        next_(static_cast<size_t>(slot)) {
    request_.set_system(system);
  }

  void Start(Done done) override {
    context_ = NewContext();
    request_.set_subject((*subjects_)[next_++ % subjects_->size()]);
    stub_->async()->LogoutFromSystem(
        context_.get(), &request_, &response_,
        [done = std::move(done)](grpc::Status status) {
          done(FromStatus("LogoutFromSystem", status));
        });
  }

 private:
  std::unique_ptr<v1::Identity::Stub> stub_;
  const std::shared_ptr<const std::vector<std::string>> subjects_;
  size_t next_;
  std::unique_ptr<grpc::ClientContext> context_;
  v1::LogoutFromSystemRequest request_;
  v1::LogoutResponse response_;
};

// Refresh along one session's chain: each answer's refresh token is the
// next request's.
class RefreshCall : public Call {
 public:
  RefreshCall(std::shared_ptr<grpc::Channel> channel, std::string token)
      : stub_(v1::Identity::NewStub(std::move(channel))) {
    request_.set_refresh_token(std::move(token));
  }

  void Start(Done done) override {
    context_ = NewContext();
    stub_->async()->Refresh(
        context_.get(), &request_, &response_,
        [this, done = std::move(done)](grpc::Status status) {
          if (status.ok())
            request_.set_refresh_token(response_.refresh_token());
          done(FromStatus("Refresh", status));
        });
  }

 private:
  std::unique_ptr<v1::Identity::Stub> stub_;
  std::unique_ptr<grpc::ClientContext> context_;
  v1::RefreshRequest request_;
  v1::IssueResponse response_;
};

// Any scenario as two functions: what Prepare makes, and a Call per slot.
class FunctionScenario : public Scenario {
 public:
  using PrepareFn = std::function<absl::Status(int slots)>;
  using CallFn = std::function<std::unique_ptr<Call>(int slot)>;
  FunctionScenario(PrepareFn prepare, CallFn call)
      : prepare_(std::move(prepare)), call_(std::move(call)) {}

  absl::Status Prepare(int slots) override { return prepare_(slots); }
  Call& SlotCall(int slot) override {
    if (static_cast<size_t>(slot) >= calls_.size()) calls_.resize(slot + 1);
    if (calls_[slot] == nullptr) calls_[slot] = call_(slot);
    return *calls_[slot];
  }

 private:
  PrepareFn prepare_;
  CallFn call_;
  std::vector<std::unique_ptr<Call>> calls_;
};

// Issues `n` tokens for `system` through the driver itself (so preparing
// many tokens is quick) and returns the responses.
absl::StatusOr<std::vector<v1::IssueResponse>> IssueMany(
    const ChannelList& channels, int n, const std::string& system,
    absl::Duration ttl = absl::ZeroDuration()) {
  absl::Mutex mu;
  std::vector<v1::IssueResponse> issued;
  auto sink = [&](const v1::IssueResponse& response) {
    absl::MutexLock lock(&mu);
    issued.push_back(response);
  };
  FunctionScenario issue([](int) { return absl::OkStatus(); },
                         [&](int slot) {
                           return std::make_unique<IssueCall>(
                               channels[slot % channels.size()], slot, system,
                               ttl, sink);
                         });
  Result result;
  DriveOptions opts;
  opts.concurrency = std::min(n, kPrepareConcurrency);
  opts.count = n;
  Drive(issue, opts, result);
  if (static_cast<int>(issued.size()) != n) {
    return absl::UnavailableError(
        absl::StrCat("preparing: ", n - issued.size(), " of ", n,
                     " Issue calls failed; first: ", result.first_error));
  }
  return issued;
}

// The "sub" of a token the bench was just issued, read without verifying.
absl::StatusOr<std::string> SubjectOf(const std::string& token) {
  std::vector<std::string> parts = absl::StrSplit(token, '.');
  if (parts.size() != 3) {
    return absl::InternalError("the issued token is not a compact JWS");
  }
  absl::StatusOr<std::string> payload = token::Base64UrlDecode(parts[1]);
  if (!payload.ok()) return payload.status();
  absl::StatusOr<token::JsonValue> claims = token::ParseJson(*payload);
  if (!claims.ok()) return claims.status();
  const token::JsonValue* sub = claims->Find("sub");
  if (sub == nullptr || !sub->is_string()) {
    return absl::InternalError("the issued token has no subject");
  }
  return sub->string_value();
}

// Tokens that must never verify, each for another reason: not a JWT, a
// bad signature, alg none, an unknown kid, expired, for another system.
absl::StatusOr<std::vector<std::string>> InvalidTokens(
    const ChannelList& channels, const std::string& system) {
  auto valid = IssueMany(channels, 1, system);
  if (!valid.ok()) return valid.status();
  auto other = IssueMany(channels, 1, system + "-other");
  if (!other.ok()) return other.status();
  auto expiring = IssueMany(channels, 1, system, absl::Seconds(1));
  if (!expiring.ok()) return expiring.status();

  const std::string& token = (*valid)[0].access_token();
  std::vector<std::string> parts = absl::StrSplit(token, '.');
  if (parts.size() != 3 || parts[2].size() < 20) {
    return absl::InternalError("the issued token is not a compact JWS");
  }
  std::string tampered = parts[2];
  tampered[10] = tampered[10] == 'A' ? 'B' : 'A';
  std::vector<std::string> tokens = {
      "not-a-jwt",
      absl::StrJoin({parts[0], parts[1], tampered}, "."),
      absl::StrCat(token::Base64UrlEncode(R"({"alg":"none","typ":"at+jwt"})"),
                   ".", parts[1], "."),
      absl::StrCat(token::Base64UrlEncode(
                       R"({"alg":"ES256","typ":"at+jwt","kid":"no-such-key"})"),
                   ".", parts[1], ".", parts[2]),
      (*other)[0].access_token(),
      (*expiring)[0].access_token(),
  };
  // exp is whole seconds and is "now or past" at expiry.
  absl::SleepFor(absl::Milliseconds(2100));
  return tokens;
}

}  // namespace

const std::vector<std::string>& ScenarioNames() {
  static const auto* const kNames = new std::vector<std::string>{
      "issue",  "verify",  "verify_distinct", "verify_invalid", "mix",
      "logout", "refresh", "watch",           "health"};
  return *kNames;
}

absl::StatusOr<std::unique_ptr<Scenario>> MakeScenario(
    const std::string& name, ChannelList channels,
    const ScenarioOptions& options) {
  if (channels.empty()) return absl::InvalidArgumentError("no channel");
  const std::string system = options.system;
  auto channel_for = [channels](int slot) {
    return channels[slot % channels.size()];
  };
  if (name == "health") {
    return std::make_unique<FunctionScenario>(
        [](int) { return absl::OkStatus(); },
        [channel_for](int slot) {
          return std::make_unique<HealthCall>(channel_for(slot));
        });
  }
  if (name == "issue") {
    return std::make_unique<FunctionScenario>(
        [](int) { return absl::OkStatus(); },
        [channel_for, system](int slot) {
          return std::make_unique<IssueCall>(channel_for(slot), slot, system,
                                             absl::ZeroDuration(), nullptr);
        });
  }
  if (name == "mix") {
    return std::make_unique<FunctionScenario>(
        [](int) { return absl::OkStatus(); },
        [channel_for, system](int slot) {
          return std::make_unique<MixCall>(channel_for(slot), slot, system);
        });
  }
  if (name == "logout") {
    auto subjects = std::make_shared<std::vector<std::string>>();
    const int logged_in = std::max(options.tokens, 1);
    return std::make_unique<FunctionScenario>(
        [channels, system, subjects, logged_in](int) -> absl::Status {
          auto issued = IssueMany(channels, logged_in, system);
          if (!issued.ok()) return issued.status();
          for (const auto& response : *issued) {
            absl::StatusOr<std::string> subject =
                SubjectOf(response.access_token());
            if (!subject.ok()) return subject.status();
            subjects->push_back(*std::move(subject));
          }
          return absl::OkStatus();
        },
        [channel_for, system, subjects](int slot) {
          return std::make_unique<LogoutCall>(channel_for(slot), slot, system,
                                              subjects);
        });
  }
  if (name == "verify" || name == "verify_distinct" ||
      name == "verify_invalid") {
    auto tokens = std::make_shared<std::vector<std::string>>();
    const int distinct = name == "verify_distinct" ? options.tokens : 1;
    const bool invalid = name == "verify_invalid";
    return std::make_unique<FunctionScenario>(
        [channels, system, tokens, distinct, invalid](int) -> absl::Status {
          if (invalid) {
            auto made = InvalidTokens(channels, system);
            if (!made.ok()) return made.status();
            *tokens = *std::move(made);
            return absl::OkStatus();
          }
          auto issued = IssueMany(channels, std::max(distinct, 1), system);
          if (!issued.ok()) return issued.status();
          for (const auto& response : *issued) {
            tokens->push_back(response.access_token());
          }
          return absl::OkStatus();
        },
        [channel_for, system, tokens](int slot) {
          return std::make_unique<VerifyCall>(channel_for(slot), slot, system,
                                              tokens);
        });
  }
  if (name == "refresh") {
    auto refresh_tokens = std::make_shared<std::vector<std::string>>();
    return std::make_unique<FunctionScenario>(
        [channels, system, refresh_tokens](int slots) -> absl::Status {
          auto issued = IssueMany(channels, slots, system);
          if (!issued.ok()) return issued.status();
          for (const auto& response : *issued) {
            refresh_tokens->push_back(response.refresh_token());
          }
          return absl::OkStatus();
        },
        [channel_for, refresh_tokens](int slot) {
          return std::make_unique<RefreshCall>(channel_for(slot),
                                               (*refresh_tokens)[slot]);
        });
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown scenario ", name, " (one of ",
                   absl::StrJoin(ScenarioNames(), ", "), ")"));
}

}  // namespace sigil::bench
