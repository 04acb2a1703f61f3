// Revocation precedence end to end: tokens issued before and after every
// kind of revocation the API offers (Revoke, LogoutFromSystem, LogoutAll, by
// subject and by token), alone and combined, verified through the real
// authority against an oracle that restates docs/design.md's "strictest wins".
// Session revocations have no RPC of their own; the index-level matrix in
// tests/token/revocation_index_precedence_test.cc covers them.

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server/service_fixture.h"
#include "tests/testing/status_matchers.h"

namespace sigil::server {
namespace {

using ::sigil::testing::IsOk;

enum class Op { kIssue, kLogoutFromSystem, kLogoutAll, kRevoke };

// One call in a scripted history of one subject.
struct Step {
  Op op;
  // kIssue: the token's systems; kLogoutFromSystem: the one system.
  std::vector<std::string> systems;
  // kIssue: the name the token goes by in later steps and in failures;
  // kRevoke: the token revoked.
  std::string token;
  // Logouts: the subject is named by a token of theirs, not by an operator.
  bool by_token = false;
};

Step Issue(std::string name, std::vector<std::string> systems) {
  return {Op::kIssue, std::move(systems), std::move(name)};
}
Step LogoutFrom(std::string system, bool by_token) {
  return {Op::kLogoutFromSystem, {std::move(system)}, "", by_token};
}
Step LogoutEverywhere(bool by_token) {
  return {Op::kLogoutAll, {}, "", by_token};
}
Step Revoke(std::string name) { return {Op::kRevoke, {}, std::move(name)}; }

class RpcRevocationPrecedenceTest : public ServiceTest {
 protected:
  struct Issued {
    std::string name;
    std::string jwt;
    std::vector<std::string> systems;
    // How many revocations the history held when it was issued: those
    // after it are the ones that can cover it.
    size_t revocations_before;
  };
  struct RevocationCall {
    Op op;
    std::string system;  // kLogoutFromSystem
    std::string token;   // kRevoke
  };
  struct History {
    std::vector<Issued> tokens;
    std::vector<RevocationCall> revocations;
  };

  // Plays `steps` for `subject` onto `history`, moving the fake clock by
  // `clock_step` before each call.
  void Play(const std::string& subject, const std::vector<Step>& steps,
            absl::Duration clock_step, History& history) {
    auto issue = [&](std::string name, std::vector<std::string> systems) {
      history.tokens.push_back({std::move(name),
                                Login(subject, systems).access_token(), systems,
                                history.revocations.size()});
      return history.tokens.back().jwt;
    };
    for (const Step& step : steps) {
      clock_.Advance(clock_step);
      // A logout by token presents a fresh token of the subject, which is
      // then checked like every other.
      const std::string credential_name =
          absl::StrCat("credential#", history.tokens.size());
      switch (step.op) {
        case Op::kIssue:
          issue(step.token, step.systems);
          break;
        case Op::kLogoutFromSystem: {
          const std::string& system = step.systems.front();
          if (step.by_token) {
            sigil::v1::LogoutFromSystemRequest request;
            request.set_token(issue(credential_name, {system}));
            request.set_system(system);
            sigil::v1::LogoutResponse response;
            const grpc::Status status =
                stub_->LogoutFromSystem(Context().get(), request, &response);
            EXPECT_THAT(status, IsOk());
          } else {
            LogoutSubject(subject, system);
          }
          history.revocations.push_back({step.op, system, ""});
          break;
        }
        case Op::kLogoutAll:
          if (step.by_token) {
            sigil::v1::LogoutAllRequest request;
            request.set_token(issue(credential_name, {"A"}));
            sigil::v1::LogoutResponse response;
            const grpc::Status status =
                stub_->LogoutAll(Context().get(), request, &response);
            EXPECT_THAT(status, IsOk());
          } else {
            LogoutSubjectEverywhere(subject);
          }
          history.revocations.push_back({step.op, "", ""});
          break;
        case Op::kRevoke: {
          auto revoked = std::find_if(
              history.tokens.begin(), history.tokens.end(),
              [&](const Issued& t) { return t.name == step.token; });
          if (revoked == history.tokens.end()) {
            ADD_FAILURE() << "no token named " << step.token;
            break;
          }
          sigil::v1::RevokeRequest request;
          request.set_token(revoked->jwt);
          sigil::v1::RevokeResponse response;
          const grpc::Status status =
              stub_->Revoke(Context().get(), request, &response);
          EXPECT_THAT(status, IsOk());
          history.revocations.push_back({step.op, "", step.token});
          break;
        }
      }
    }
  }

  // docs/design.md's precedence over a history, strictest first. Every call
  // gets its own instant, so "after the token" is "later in the history";
  // a token revocation counts whenever it came.
  static std::string Expected(const History& history, const Issued& token,
                              const std::string& system) {
    auto revoked_later = [&](auto&& matches) {
      return std::any_of(history.revocations.begin() + token.revocations_before,
                         history.revocations.end(), matches);
    };
    auto logged_out_later_at = [&](const std::string& s) {
      return revoked_later([&](const RevocationCall& r) {
        return r.op == Op::kLogoutFromSystem && r.system == s;
      });
    };
    if (std::any_of(history.revocations.begin(), history.revocations.end(),
                    [&](const RevocationCall& r) {
                      return r.op == Op::kRevoke && r.token == token.name;
                    })) {
      return "UNAUTHENTICATED TOKEN_REVOKED";
    }
    if (revoked_later(
            [](const RevocationCall& r) { return r.op == Op::kLogoutAll; })) {
      return "UNAUTHENTICATED LOGGED_OUT_ALL";
    }
    if (!logged_out_later_at(system)) return "OK VALID";
    if (std::all_of(token.systems.begin(), token.systems.end(),
                    logged_out_later_at)) {
      return "UNAUTHENTICATED LOGGED_OUT";
    }
    return "PERMISSION_DENIED LOGGED_OUT_OF_SYSTEM";
  }

  // Verifies every token of `history` at each of its systems.
  void ExpectVerdicts(const History& history) {
    for (const Issued& token : history.tokens) {
      for (const std::string& system : token.systems) {
        EXPECT_EQ(Outcome(Check(token.jwt, system)),
                  Expected(history, token, system))
            << token.name << " at " << system;
      }
    }
  }
};

// Where a revocation falls relative to the token's issue.
struct When {
  const char* name;
  bool happens;
  bool after_issue;
};

constexpr When kLogoutWhens[] = {
    {"none", false, false},
    {"before", true, false},
    {"after", true, true},
};
// A token cannot be revoked before it exists.
constexpr When kRevokeWhens[] = {
    {"none", false, false},
    {"after", true, true},
};

struct Audience {
  const char* name;
  bool names_b;
};

constexpr Audience kAudiences[] = {{"A", false}, {"A+B", true}};

struct Logouts {
  const char* name;
  bool by_token;
};

constexpr Logouts kLogouts[] = {{"subject", false}, {"token", true}};

// Frozen, every call of a case happens in one instant of the fake clock and
// only the authority's ticks order them; stepping, each step comes a second
// after the one before.
struct ClockMode {
  const char* name;
  absl::Duration step;
};

const ClockMode kClockModes[] = {
    {"frozen", absl::ZeroDuration()},
    {"1s_per_call", absl::Seconds(1)},
};

struct Order {
  const char* name;
  bool strictest_first;
};

constexpr Order kOrders[] = {{"strictest_first", true},
                             {"weakest_first", false}};

struct Case {
  const ClockMode* clock;
  const Logouts* logouts;
  const Audience* audience;
  const When* revoke;
  const When* logout_all;
  const When* logout_a;
  const When* logout_b;
  const Order* order;
};

std::string CaseName(const Case& c) {
  return absl::StrCat("clock:", c.clock->name, " logout_by:", c.logouts->name,
                      " aud:", c.audience->name, " revoke:", c.revoke->name,
                      " logout_all:", c.logout_all->name,
                      " logout_from_system:A=", c.logout_a->name,
                      ",B=", c.logout_b->name, " order:", c.order->name);
}

std::vector<Case> AllCases() {
  std::vector<Case> cases;
  for (const ClockMode& clock : kClockModes) {
    for (const Logouts& logouts : kLogouts) {
      for (const Audience& audience : kAudiences) {
        for (const When& revoke : kRevokeWhens) {
          for (const When& logout_all : kLogoutWhens) {
            for (const When& logout_a : kLogoutWhens) {
              for (const When& logout_b : kLogoutWhens) {
                for (const Order& order : kOrders) {
                  cases.push_back({&clock, &logouts, &audience, &revoke,
                                   &logout_all, &logout_a, &logout_b, &order});
                }
              }
            }
          }
        }
      }
    }
  }
  return cases;
}

// The revocations of `c` before the token's issue, the issue, then those
// after, each group in the case's order.
std::vector<Step> StepsOf(const Case& c) {
  const bool by_token = c.logouts->by_token;
  std::vector<std::pair<const When*, Step>> revocations = {
      {c.revoke, Revoke("token")},
      {c.logout_all, LogoutEverywhere(by_token)},
      {c.logout_a, LogoutFrom("A", by_token)},
      {c.logout_b, LogoutFrom("B", by_token)},
  };
  if (!c.order->strictest_first) {
    std::reverse(revocations.begin(), revocations.end());
  }
  std::vector<Step> steps;
  for (const auto& [when, step] : revocations) {
    if (when->happens && !when->after_issue) steps.push_back(step);
  }
  std::vector<std::string> systems = {"A"};
  if (c.audience->names_b) systems.push_back("B");
  steps.push_back(Issue("token", systems));
  for (const auto& [when, step] : revocations) {
    if (when->happens && when->after_issue) steps.push_back(step);
  }
  return steps;
}

TEST_F(RpcRevocationPrecedenceTest, StrictestLevelWinsInEveryCombination) {
  const std::vector<Case> cases = AllCases();
  for (size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE(CaseName(cases[i]));
    // A subject per case: no earlier case's logout can reach its tokens.
    History history;
    Play(absl::StrCat("subject-", i), StepsOf(cases[i]), cases[i].clock->step,
         history);
    ExpectVerdicts(history);
  }
  RecordProperty("cases", static_cast<int>(cases.size()));
}

TEST_F(RpcRevocationPrecedenceTest, InterleavedHistoryInOneInstant) {
  // The fake clock never moves: the authority's ticks alone put each of
  // these tokens before or after each revocation. Every round issues a
  // token of each shape; the revocations between rounds stack up two and
  // three levels, repeat a level, and revoke tokens already logged out.
  const std::vector<Step> revocations = {
      LogoutFrom("A", false), Revoke("A+B#1"),        LogoutFrom("B", true),
      Revoke("A+B#0"),        LogoutFrom("C", false), LogoutEverywhere(true),
      LogoutFrom("A", true),  Revoke("B#7"),          LogoutEverywhere(false),
  };
  History history;
  for (size_t round = 0; round <= revocations.size(); ++round) {
    SCOPED_TRACE(absl::StrCat("round ", round));
    if (round > 0) {
      Play("alice", {revocations[round - 1]}, absl::ZeroDuration(), history);
    }
    Play("alice",
         {Issue(absl::StrCat("A#", round), {"A"}),
          Issue(absl::StrCat("B#", round), {"B"}),
          Issue(absl::StrCat("A+B#", round), {"A", "B"}),
          Issue(absl::StrCat("A+B+C#", round), {"A", "B", "C"})},
         absl::ZeroDuration(), history);
    // Every token so far, not just the new ones: a later logout-everywhere
    // would hide what the earlier levels did.
    ExpectVerdicts(history);
  }
}

}  // namespace
}  // namespace sigil::server
