// The precedence of revocation levels, generated: every level that can
// apply to a token (token, session, subject x system, subject), each absent
// or at every instant around the token's issue that matters, against an
// oracle restating docs/design.md's "strictest wins" rules. The hand-written
// Precedence table in revocation_index_test.cc names the cases a reader
// looks for first; this file shows there is no combination they miss.

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <iterator>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "token/jwt.h"
#include "token/reason.h"
#include "token/revocation_index.h"

namespace sigil::token {
namespace {

constexpr char kSubject[] = "alice";
constexpr char kTokenId[] = "jti-1";
constexpr char kSessionId[] = "sid-1";
// The system that verifies, and another one a multi-system token names.
constexpr char kHere[] = "A";
constexpr char kElsewhere[] = "B";

const absl::Time kFarFuture = absl::FromUnixSeconds(1700003600);

// Where a revocation's not_before falls relative to the token's issue
// instant. `covers` is docs/design.md's rule written out per row rather than
// computed, so the oracle does not share the index's comparison: a
// revocation covers the tokens issued strictly before it.
struct Timing {
  const char* name;
  bool present;
  int64_t offset_us;
  bool covers;
};

constexpr Timing kTimings[] = {
    {"none", false, 0, false},          {"older_1s", true, -1000000, false},
    {"older_999us", true, -999, false}, {"older_1us", true, -1, false},
    {"same_instant", true, 0, false},   {"newer_1us", true, 1, true},
    {"newer_999us", true, 999, true},   {"newer_1s", true, 1000000, true},
};

// The token is issued at the first or the last microsecond of a
// millisecond, so that 999 us later (from the first) and 999 us earlier
// (from the last) are still inside its millisecond: a clock of millisecond
// resolution could not order those revocations and the token.
struct IssueInstant {
  const char* name;
  int64_t issued_at_us;
};

constexpr IssueInstant kIssueInstants[] = {
    {"first_us_of_ms", 1700000000123000},
    {"last_us_of_ms", 1700000000123999},
};

struct Audience {
  const char* name;
  bool names_elsewhere;
};

constexpr Audience kAudiences[] = {
    {"A", false},
    {"A+B", true},
};

// One cell of the matrix. The subject x system level is two revocations:
// at the verifying system and at the other one, which a single-system
// token does not name.
struct Case {
  const IssueInstant* iat;
  const Audience* audience;
  const Timing* token;
  const Timing* session;
  const Timing* subject_system_here;
  const Timing* subject_system_elsewhere;
  const Timing* subject;
};

std::string CaseName(const Case& c) {
  return absl::StrCat("iat:", c.iat->name, " aud:", c.audience->name,
                      " token:", c.token->name, " session:", c.session->name,
                      " subject_system:A=", c.subject_system_here->name,
                      ",B=", c.subject_system_elsewhere->name,
                      " subject:", c.subject->name);
}

std::vector<Case> AllCases() {
  std::vector<Case> cases;
  for (const IssueInstant& iat : kIssueInstants) {
    for (const Audience& audience : kAudiences) {
      for (const Timing& token : kTimings) {
        for (const Timing& session : kTimings) {
          for (const Timing& here : kTimings) {
            for (const Timing& elsewhere : kTimings) {
              for (const Timing& subject : kTimings) {
                cases.push_back({&iat, &audience, &token, &session, &here,
                                 &elsewhere, &subject});
              }
            }
          }
        }
      }
    }
  }
  return cases;
}

// docs/design.md's precedence, strictest first: the first rule that applies
// gives the verdict. Rules read the case's description, never an index.
struct Rule {
  Reason reason;
  absl::StatusCode code;
  bool (*applies)(const Case&);
};

constexpr Rule kRules[] = {
    // A token revocation names the one token: its time does not matter.
    {Reason::kTokenRevoked, absl::StatusCode::kUnauthenticated,
     [](const Case& c) { return c.token->present; }},
    {Reason::kSessionRevoked, absl::StatusCode::kUnauthenticated,
     [](const Case& c) { return c.session->covers; }},
    {Reason::kLoggedOutAll, absl::StatusCode::kUnauthenticated,
     [](const Case& c) { return c.subject->covers; }},
    // Logged out of every system the token names: it authenticates nowhere.
    {Reason::kLoggedOut, absl::StatusCode::kUnauthenticated,
     [](const Case& c) {
       return c.subject_system_here->covers &&
              (!c.audience->names_elsewhere ||
               c.subject_system_elsewhere->covers);
     }},
    // Still a credential at B, but no longer for this system.
    {Reason::kLoggedOutOfSystem, absl::StatusCode::kPermissionDenied,
     [](const Case& c) { return c.subject_system_here->covers; }},
    {Reason::kValid, absl::StatusCode::kOk, [](const Case&) { return true; }},
};

const Rule& Expected(const Case& c) {
  return *std::find_if(std::begin(kRules), std::end(kRules),
                       [&c](const Rule& rule) { return rule.applies(c); });
}

std::string Outcome(absl::StatusCode code, Reason reason) {
  return absl::StrCat(absl::StatusCodeToString(code), " ", ReasonName(reason));
}

JwtClaims ClaimsOf(const Case& c) {
  JwtClaims claims;
  claims.issuer = "https://sigil.test";
  claims.subject = kSubject;
  claims.audience = {kHere};
  if (c.audience->names_elsewhere) claims.audience.push_back(kElsewhere);
  claims.token_id = kTokenId;
  claims.session_id = kSessionId;
  claims.issued_at_us = c.iat->issued_at_us;
  return claims;
}

// A revocation with its name in the case, so an order can be printed.
struct Named {
  std::string name;
  Revocation revocation;
};

// The case's revocations, strictest level first.
std::vector<Named> RevocationsOf(const Case& c) {
  std::vector<Named> out;
  auto add = [&](const char* name, const Timing& timing, RevocationScope scope,
                 const char* system) {
    if (!timing.present) return;
    Revocation r;
    r.scope = scope;
    r.subject = kSubject;
    r.system = system;
    r.not_before_us = c.iat->issued_at_us + timing.offset_us;
    r.expires_at = kFarFuture;
    if (scope == RevocationScope::kToken) r.token_id = kTokenId;
    if (scope == RevocationScope::kSession) r.session_id = kSessionId;
    out.push_back({name, std::move(r)});
  };
  add("token", *c.token, RevocationScope::kToken, "");
  add("session", *c.session, RevocationScope::kSession, "");
  add("subject", *c.subject, RevocationScope::kSubject, "");
  add("subject_system:A", *c.subject_system_here,
      RevocationScope::kSubjectSystem, kHere);
  add("subject_system:B", *c.subject_system_elsewhere,
      RevocationScope::kSubjectSystem, kElsewhere);
  return out;
}

// Applies `order` to an empty index and expects the verdict at kHere to be
// `want`; returns whether it was.
bool ExpectVerdict(const std::vector<const Named*>& order,
                   absl::string_view order_name, const JwtClaims& claims,
                   const std::string& want) {
  RevocationIndex index;
  for (const Named* named : order) index.Apply(named->revocation);
  const Reason reason = index.Check(claims, kHere);
  const std::string got = Outcome(CodeOf(reason), reason);
  EXPECT_EQ(got, want) << "order: " << order_name;
  return got == want;
}

// A wrong rule fails thousands of cells alike: the first ones name it, the
// rest would only bury them.
constexpr int kMaxMismatches = 20;

TEST(RevocationIndexPrecedenceTest, MatrixReachesEveryRule) {
  const std::vector<Case> cases = AllCases();
  constexpr size_t kTimingCount = std::size(kTimings);
  EXPECT_EQ(cases.size(), std::size(kIssueInstants) * std::size(kAudiences) *
                              kTimingCount * kTimingCount * kTimingCount *
                              kTimingCount * kTimingCount);
  // A rule no cell reaches would have its place in the order untested.
  for (const Rule& rule : kRules) {
    SCOPED_TRACE(ReasonName(rule.reason));
    EXPECT_TRUE(std::any_of(cases.begin(), cases.end(), [&](const Case& c) {
      return &Expected(c) == &rule;
    }));
  }
}

TEST(RevocationIndexPrecedenceTest, StrictestLevelWinsInEveryCombination) {
  const std::vector<Case> cases = AllCases();
  int mismatches = 0;
  for (const Case& c : cases) {
    SCOPED_TRACE(CaseName(c));
    const Rule& rule = Expected(c);
    const std::string want = Outcome(rule.code, rule.reason);
    const JwtClaims claims = ClaimsOf(c);
    const std::vector<Named> revocations = RevocationsOf(c);

    std::vector<const Named*> strictest_first;
    for (const Named& named : revocations) strictest_first.push_back(&named);
    const std::vector<const Named*> weakest_first(strictest_first.rbegin(),
                                                  strictest_first.rend());
    std::vector<const Named*> each_twice = weakest_first;
    each_twice.insert(each_twice.end(), strictest_first.begin(),
                      strictest_first.end());

    mismatches +=
        !ExpectVerdict(strictest_first, "strictest first", claims, want);
    mismatches += !ExpectVerdict(weakest_first, "weakest first", claims, want);
    mismatches += !ExpectVerdict(
        each_twice, "weakest first, then again strictest first", claims, want);
    if (mismatches >= kMaxMismatches) {
      FAIL() << "stopped after " << mismatches << " disagreements";
    }
  }
  RecordProperty("cases", static_cast<int>(cases.size()));
}

TEST(RevocationIndexPrecedenceTest, EveryOrderOfApplyingGivesTheSameVerdict) {
  // The timings next to the issue instant, where an order dependence would
  // flip the verdict, at every level and in every permutation.
  auto near_issue = [](const Timing* t) {
    return !t->present || std::abs(t->offset_us) <= 1;
  };
  int orders = 0;
  int mismatches = 0;
  for (const Case& c : AllCases()) {
    if (c.iat != &kIssueInstants[0] || !c.audience->names_elsewhere ||
        !near_issue(c.token) || !near_issue(c.session) ||
        !near_issue(c.subject_system_here) ||
        !near_issue(c.subject_system_elsewhere) || !near_issue(c.subject)) {
      continue;
    }
    SCOPED_TRACE(CaseName(c));
    const Rule& rule = Expected(c);
    const std::string want = Outcome(rule.code, rule.reason);
    const JwtClaims claims = ClaimsOf(c);
    const std::vector<Named> revocations = RevocationsOf(c);
    std::vector<const Named*> order;
    for (const Named& named : revocations) order.push_back(&named);
    auto by_name = [](const Named* a, const Named* b) {
      return a->name < b->name;
    };
    std::sort(order.begin(), order.end(), by_name);
    do {
      ++orders;
      std::vector<std::string> names;
      for (const Named* named : order) names.push_back(named->name);
      mismatches +=
          !ExpectVerdict(order, absl::StrJoin(names, ", "), claims, want);
    } while (std::next_permutation(order.begin(), order.end(), by_name));
    if (mismatches >= kMaxMismatches) {
      FAIL() << "stopped after " << mismatches << " disagreements";
    }
  }
  RecordProperty("orders", orders);
}

}  // namespace
}  // namespace sigil::token
