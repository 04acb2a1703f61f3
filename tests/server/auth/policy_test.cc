#include "server/auth/policy.h"

#include <fstream>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/auth/caller.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace sigil::server::auth {
namespace {

using ::sigil::testing::IsOk;
using ::sigil::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Not;

const char kExamplePath[] = SIGIL_SOURCE_DIR "/deploy/policy.example.textproto";

// The example policy in JSON form, to show both formats mean the same.
const char kExampleJson[] = R"json({
  "grants": [
    {"principal": "spiffe://example.org/login",
     "issuer": {"systems": ["A", "B", "C"]}},
    {"principal": "spiffe://example.org/system/A", "system": {"name": "A"}},
    {"principal": "spiffe://example.org/system/B", "system": {"name": "B"}},
    {"principal": "spiffe://example.org/system/C", "system": {"name": "C"}},
    {"principal": "spiffe://example.org/system/A/agent",
     "system": {"name": "A"}, "agent": true},
    {"principal": "spiffe://example.org/system/B/agent",
     "system": {"name": "B"}, "agent": true},
    {"principal": "spiffe://example.org/system/C/agent",
     "system": {"name": "C"}, "agent": true},
    {"principal": "spiffe://example.org/admin", "admin": true}
  ]
})json";

void WriteFile(const std::string& path, const std::string& contents) {
  std::ofstream out(path, std::ios::binary);
  out << contents;
  ASSERT_TRUE(out.good()) << path;
}

Identity Uri(std::string name) {
  return Identity{IdentityKind::kUri, std::move(name)};
}
Identity Dns(std::string name) {
  return Identity{IdentityKind::kDns, std::move(name)};
}

// A certificate's caller: names with a ':' are URI SANs, others DNS SANs.
Caller Authenticated(const std::vector<std::string>& names) {
  Caller caller;
  caller.authenticated = true;
  for (const std::string& name : names) {
    caller.identities.push_back(
        name.find(':') == std::string::npos ? Dns(name) : Uri(name));
  }
  return caller;
}

struct Query {
  std::string name;
  std::function<absl::Status(const Policy&, const Caller&)> ask;
};

std::vector<Query> AllQueries() {
  using Systems = std::vector<std::string>;
  return {
      {"issue A", [](const Policy& p,
                     const Caller& c) { return p.MayIssue(c, Systems{"A"}); }},
      {"issue A B C",
       [](const Policy& p, const Caller& c) {
         return p.MayIssue(c, Systems{"A", "B", "C"});
       }},
      {"issue A D",
       [](const Policy& p, const Caller& c) {
         return p.MayIssue(c, Systems{"A", "D"});
       }},
      {"refresh A",
       [](const Policy& p, const Caller& c) {
         return p.MayRefresh(c, Systems{"A"});
       }},
      {"refresh B C",
       [](const Policy& p, const Caller& c) {
         return p.MayRefresh(c, Systems{"B", "C"});
       }},
      {"verify A",
       [](const Policy& p, const Caller& c) { return p.MayVerify(c, "A"); }},
      {"verify B",
       [](const Policy& p, const Caller& c) { return p.MayVerify(c, "B"); }},
      {"logout A",
       [](const Policy& p, const Caller& c) {
         return p.MayLogoutFromSystem(c, "A");
       }},
      {"logout B",
       [](const Policy& p, const Caller& c) {
         return p.MayLogoutFromSystem(c, "B");
       }},
      {"token for A",
       [](const Policy& p, const Caller& c) {
         return p.MayActForTokenAudience(c, Systems{"A"});
       }},
      {"token for B C",
       [](const Policy& p, const Caller& c) {
         return p.MayActForTokenAudience(c, Systems{"B", "C"});
       }},
      {"token for A B",
       [](const Policy& p, const Caller& c) {
         return p.MayActForTokenAudience(c, Systems{"A", "B"});
       }},
      {"watch", [](const Policy& p, const Caller& c) { return p.MayWatch(c); }},
      {"admin", [](const Policy& p, const Caller& c) { return p.IsAdmin(c); }},
  };
}

std::set<std::string> AllQueryNames() {
  std::set<std::string> names;
  for (const Query& q : AllQueries()) names.insert(q.name);
  return names;
}

struct CallerCase {
  std::string name;
  Caller caller;
  // Every other query is answered with `denied`.
  std::set<std::string> allowed;
  absl::StatusCode denied = absl::StatusCode::kPermissionDenied;
};

// What the example grants, caller by caller.
std::vector<CallerCase> ExampleCases() {
  return {
      {"login",
       Authenticated({"spiffe://example.org/login"}),
       {"issue A", "issue A B C", "refresh A", "refresh B C"}},
      {"system A",
       Authenticated({"spiffe://example.org/system/A"}),
       {"verify A", "logout A", "token for A", "token for A B", "watch"}},
      {"system B",
       Authenticated({"spiffe://example.org/system/B"}),
       {"verify B", "logout B", "token for B C", "token for A B", "watch"}},
      {"system C",
       Authenticated({"spiffe://example.org/system/C"}),
       {"token for B C", "watch"}},
      {"system A's agent",
       Authenticated({"spiffe://example.org/system/A/agent"}),
       {"verify A", "logout A", "token for A", "token for A B", "watch"}},
      {"admin", Authenticated({"spiffe://example.org/admin"}), AllQueryNames()},
      {"identity without a grant",
       Authenticated({"spiffe://example.org/system/D"}),
       {}},
      {"dns name of nobody", Authenticated({"login.example.org"}), {}},
      {"principal differing in case",
       Authenticated({"SPIFFE://example.org/admin"}),
       {}},
      {"principal with a trailing slash",
       Authenticated({"spiffe://example.org/admin/"}),
       {}},
      {"a granted identity among others",
       Authenticated(
           {"spiffe://example.org/system/D", "spiffe://example.org/system/A"}),
       {"verify A", "logout A", "token for A", "token for A B", "watch"}},
      {"identities add up",
       Authenticated(
           {"spiffe://example.org/system/A", "spiffe://example.org/login"}),
       {"issue A", "issue A B C", "refresh A", "refresh B C", "verify A",
        "logout A", "token for A", "token for A B", "watch"}},
      {"unauthenticated", Caller{}, {}, absl::StatusCode::kUnauthenticated},
      {"unauthenticated naming the admin",
       Caller{{Uri("spiffe://example.org/admin")}, false, "", ""},
       {},
       absl::StatusCode::kUnauthenticated},
      {"dev caller",
       InsecureDevCaller(),
       {},
       absl::StatusCode::kUnauthenticated},
  };
}

void ExpectExampleDecisions(const Policy& policy) {
  for (const CallerCase& c : ExampleCases()) {
    for (const Query& q : AllQueries()) {
      SCOPED_TRACE(absl::StrCat(c.name, ": ", q.name));
      const absl::Status status = q.ask(policy, c.caller);
      EXPECT_THAT(
          status,
          StatusIs(c.allowed.count(q.name) ? absl::StatusCode::kOk : c.denied));
    }
  }
}

TEST(PolicyTest, ExampleTextprotoGrantsWhatItSays) {
  auto policy = Policy::Load(kExamplePath, Policy::Reader::kSigild);
  ASSERT_THAT(policy, IsOk());
  ExpectExampleDecisions(*policy);
}

TEST(PolicyTest, EveryFormatAndExtensionMeansTheSame) {
  std::ifstream in(kExamplePath);
  const std::string text((std::istreambuf_iterator<char>(in)),
                         std::istreambuf_iterator<char>());
  ASSERT_FALSE(text.empty());
  testing::TempDir dir;
  for (const auto& [file_name, contents] :
       std::vector<std::pair<std::string, std::string>>{
           {"policy.txtpb", text},
           {"policy.pbtxt", text},
           {"policy.json", kExampleJson}}) {
    SCOPED_TRACE(file_name);
    WriteFile(dir.Sub(file_name), contents);
    auto policy = Policy::Load(dir.Sub(file_name), Policy::Reader::kAgent);
    ASSERT_THAT(policy, IsOk());
    ExpectExampleDecisions(*policy);
  }
}

TEST(PolicyTest, AllowAllAllowsEveryCallerEverything) {
  const Policy policy = Policy::AllowAll();
  for (const Caller& caller :
       {Caller{}, InsecureDevCaller(),
        Authenticated({"spiffe://example.org/system/D"})}) {
    for (const Query& q : AllQueries()) {
      SCOPED_TRACE(absl::StrCat(PrincipalOf(caller), ": ", q.name));
      EXPECT_THAT(q.ask(policy, caller), IsOk());
    }
  }
}

TEST(PolicyTest, AnEmptyPolicyDeniesEveryone) {
  testing::TempDir dir;
  WriteFile(dir.Sub("empty.textproto"), "# nobody yet\n");
  auto policy =
      Policy::Load(dir.Sub("empty.textproto"), Policy::Reader::kAgent);
  ASSERT_THAT(policy, IsOk());
  for (const Query& q : AllQueries()) {
    SCOPED_TRACE(q.name);
    EXPECT_THAT(q.ask(*policy, Authenticated({"spiffe://example.org/admin"})),
                StatusIs(absl::StatusCode::kPermissionDenied));
  }
}

TEST(PolicyTest, IssuingForNoSystemStillTakesAnIssuer) {
  auto policy = Policy::Load(kExamplePath, Policy::Reader::kSigild);
  ASSERT_THAT(policy, IsOk());
  EXPECT_THAT(
      policy->MayIssue(Authenticated({"spiffe://example.org/login"}), {}),
      IsOk());
  EXPECT_THAT(
      policy->MayIssue(Authenticated({"spiffe://example.org/system/A"}), {}),
      StatusIs(absl::StatusCode::kPermissionDenied));
}

struct DenialCase {
  std::string name;
  std::function<absl::Status(const Policy&)> ask;
  std::vector<std::string> message_parts;
};

TEST(PolicyTest, DenialsNameTheCallerAndWhatItLacks) {
  auto policy = Policy::Load(kExamplePath, Policy::Reader::kSigild);
  ASSERT_THAT(policy, IsOk());
  const Caller login = Authenticated({"spiffe://example.org/login"});
  const Caller a = Authenticated({"spiffe://example.org/system/A"});
  const Caller b = Authenticated({"spiffe://example.org/system/B"});
  const std::vector<DenialCase> cases = {
      {"issuer for another system",
       [&](const Policy& p) {
         return p.MayIssue(login, std::vector<std::string>{"A", "D"});
       },
       {"caller \"spiffe://example.org/login\"",
        "may not issue for system \"D\"", "no issuer grant"}},
      {"system issuing",
       [&](const Policy& p) {
         return p.MayIssue(a, std::vector<std::string>{"A"});
       },
       {"\"spiffe://example.org/system/A\"", "may not issue for system \"A\""}},
      {"refresh",
       [&](const Policy& p) {
         return p.MayRefresh(a, std::vector<std::string>{"A"});
       },
       {"\"spiffe://example.org/system/A\"",
        "may not refresh for system \"A\""}},
      {"B logging users out of A",
       [&](const Policy& p) { return p.MayLogoutFromSystem(b, "A"); },
       {"\"spiffe://example.org/system/B\"",
        "may not log subjects out of system \"A\"", "no system grant"}},
      {"A verifying as B",
       [&](const Policy& p) { return p.MayVerify(a, "B"); },
       {"\"spiffe://example.org/system/A\"",
        "may not verify for system \"B\""}},
      {"token of other systems",
       [&](const Policy& p) {
         return p.MayActForTokenAudience(a, std::vector<std::string>{"B", "C"});
       },
       {"\"spiffe://example.org/system/A\"",
        "may not act on a token for \"B\", \"C\""}},
      {"issuer watching",
       [&](const Policy& p) { return p.MayWatch(login); },
       {"\"spiffe://example.org/login\"", "may not watch revocations"}},
      {"system as admin",
       [&](const Policy& p) { return p.IsAdmin(b); },
       {"\"spiffe://example.org/system/B\" is not an admin"}},
      {"several identities",
       [&](const Policy& p) {
         return p.IsAdmin(
             Authenticated({"spiffe://example.org/system/D", "d.example.org"}));
       },
       {"\"spiffe://example.org/system/D d.example.org\""}},
      {"hostile system name is escaped",
       [&](const Policy& p) { return p.MayVerify(a, "B\n\"x"); },
       {"\"B\\n\\\"x\""}},
      {"unauthenticated",
       [&](const Policy& p) { return p.MayVerify(Caller{}, "A"); },
       {"no verified client certificate"}},
  };
  for (const DenialCase& c : cases) {
    SCOPED_TRACE(c.name);
    const absl::Status status = c.ask(*policy);
    ASSERT_THAT(status, Not(IsOk()));
    for (const std::string& part : c.message_parts) {
      EXPECT_THAT(std::string(status.message()), HasSubstr(part));
    }
  }
}

struct MalformedCase {
  std::string name;
  std::string file_name;
  std::string contents;
  // Expected in the message, e.g. "FILE:LINE: field: problem".
  std::vector<std::string> message_parts;
};

TEST(PolicyTest, RejectsMalformedPoliciesNamingFileLineAndField) {
  const std::string long_system(129, 'a');
  const std::vector<MalformedCase> cases = {
      {"unknown top-level field",
       "unknown_top.textproto",
       "grant {\n  principal: \"x\"\n}\n",
       {"unknown_top.textproto:1:", "no field named \"grant\""}},
      {"unknown field in a grant",
       "unknown_field.textproto",
       "grants {\n  principal: \"x\"\n  issuer_for: \"A\"\n}\n",
       {"unknown_field.textproto:3:", "no field named \"issuer_for\""}},
      {"syntax error",
       "syntax.textproto",
       "grants {\n  principal: \"x\"\n  admin: true\n",
       {"syntax.textproto:4:"}},
      {"scalar given twice",
       "twice.textproto",
       "grants {\n  principal: \"a\"\n  principal: \"b\"\n  admin: true\n}\n",
       {"twice.textproto:3:", "principal"}},
      {"missing principal",
       "no_principal.textproto",
       "grants {\n  admin: true\n}\n",
       {"no_principal.textproto:1: grants[0].principal is empty"}},
      {"empty principal",
       "empty_principal.textproto",
       "grants {\n  principal: \"a\"\n  admin: true\n}\n"
       "grants {\n  principal: \"\"\n  admin: true\n}\n",
       {"empty_principal.textproto:6: grants[1].principal is empty"}},
      {"principal with a space",
       "space.textproto",
       "grants {\n  principal: \"spiffe://example.org/system A\"\n"
       "  admin: true\n}\n",
       {"space.textproto:2: grants[0].principal "
        "\"spiffe://example.org/system A\"",
        "printable ASCII"}},
      {"principal with a look-alike letter",
       "lookalike.textproto",
       "grants {\n  principal: \"spiffe://ex\xd0\xb0mple.org/admin\"\n"
       "  admin: true\n}\n",
       {"lookalike.textproto:2: grants[0].principal", "printable ASCII"}},
      {"duplicate principal",
       "duplicate.textproto",
       "grants {\n  principal: \"spiffe://example.org/system/A\"\n"
       "  system { name: \"A\" }\n}\n"
       "grants {\n  principal: \"spiffe://example.org/system/A\"\n"
       "  system { name: \"B\" }\n}\n",
       {"duplicate.textproto:6: grants[1].principal "
        "\"spiffe://example.org/system/A\" already has a grant: grants[0] at "
        "line 1"}},
      {"grant without a role",
       "no_role.textproto",
       "grants {\n  principal: \"x\"\n}\n",
       {"no_role.textproto:1: grants[0] (\"x\") grants no role"}},
      {"admin false is no role",
       "admin_false.textproto",
       "grants {\n  principal: \"x\"\n  admin: false\n}\n",
       {"admin_false.textproto:1: grants[0] (\"x\") grants no role"}},
      {"issuer without systems",
       "issuer_empty.textproto",
       "grants {\n  principal: \"x\"\n  issuer {}\n}\n",
       {"issuer_empty.textproto:3: grants[0].issuer lists no systems"}},
      {"issuer with an invalid system",
       "issuer_bad.textproto",
       "grants {\n  principal: \"x\"\n  issuer {\n    systems: \"A\"\n"
       "    systems: \"A B\"\n  }\n}\n",
       {"issuer_bad.textproto:5: grants[0].issuer.systems[1] \"A B\" may hold "
        "only"}},
      {"issuer with an empty system",
       "issuer_blank.textproto",
       "grants {\n  principal: \"x\"\n  issuer { systems: [\"\"] }\n}\n",
       {"issuer_blank.textproto:3: grants[0].issuer.systems[0] is empty"}},
      {"issuer listing a system twice",
       "issuer_twice.textproto",
       "grants {\n  principal: \"x\"\n  issuer { systems: [\"A\", \"A\"] "
       "}\n}\n",
       {"issuer_twice.textproto:3: grants[0].issuer.systems[1] \"A\" is "
        "listed twice"}},
      {"system role without a name",
       "system_empty.textproto",
       "grants {\n  principal: \"x\"\n  system {}\n}\n",
       {"system_empty.textproto:3: grants[0].system.name is empty"}},
      {"system name too long",
       "system_long.textproto",
       "grants {\n  principal: \"x\"\n  system {\n    name: \"" + long_system +
           "\"\n  }\n}\n",
       {"system_long.textproto:4: grants[0].system.name is longer than 128 "
        "bytes"}},
      {"system name with a control character",
       "system_control.textproto",
       "grants {\n  principal: \"x\"\n  system { name: \"A\\n\" }\n}\n",
       {"system_control.textproto:3: grants[0].system.name \"A\\n\" may hold "
        "only"}},
      {"json unknown field",
       "unknown.json",
       R"({"grants": [{"principal": "x", "admin": true, "extra": 1}]})",
       {"unknown.json: ", "extra"}},
      {"json duplicate name",
       "duplicate_name.json",
       R"({"grants": [{"principal": "x", "principal": "y", "admin": true}]})",
       {"duplicate_name.json: ", "duplicate"}},
      {"json empty principal",
       "empty_principal.json",
       R"({"grants": [{"admin": true}]})",
       {"empty_principal.json: grants[0].principal is empty"}},
      {"json issuer without systems",
       "issuer_empty.json",
       R"({"grants": [{"principal": "x", "issuer": {}}]})",
       {"issuer_empty.json: grants[0].issuer lists no systems"}},
      {"json syntax", "syntax.json", R"({"grants": [)", {"syntax.json: "}},
      {"json invalid utf-8",
       "utf8.json",
       "{\"grants\": [{\"principal\": \"\xff\", \"admin\": true}]}",
       {"utf8.json: "}},
      {"unix uid without digits",
       "uid_empty.textproto",
       "grants {\n  principal: \"unix-uid:\"\n  system { name: \"A\" }\n}\n",
       {"uid_empty.textproto:2:", "followed by a decimal uid"}},
      {"unix uid with a leading zero",
       "uid_zero.textproto",
       "grants {\n  principal: \"unix-uid:01000\"\n  system { name: \"A\" "
       "}\n}\n",
       {"uid_zero.textproto:2:", "followed by a decimal uid"}},
      {"unix uid out of range",
       "uid_range.textproto",
       "grants {\n  principal: \"unix-uid:4294967296\"\n  system { name: "
       "\"A\" }\n}\n",
       {"uid_range.textproto:2:", "followed by a decimal uid"}},
      {"agent without a role",
       "agent_alone.textproto",
       "grants {\n  principal: \"spiffe://example.org/agent\"\n  agent: "
       "true\n}\n",
       {"agent_alone.textproto:1: grants[0]", "grants no role"}},
      {"unknown extension",
       "policy.yaml",
       "grants: []\n",
       {"policy.yaml: unknown policy format", ".textproto", ".json"}},
  };
  testing::TempDir dir;
  for (const MalformedCase& c : cases) {
    SCOPED_TRACE(c.name);
    WriteFile(dir.Sub(c.file_name), c.contents);
    auto policy = Policy::Load(dir.Sub(c.file_name), Policy::Reader::kAgent);
    ASSERT_THAT(policy, StatusIs(absl::StatusCode::kInvalidArgument));
    EXPECT_THAT(std::string(policy.status().message()),
                HasSubstr(dir.Sub(c.file_name)));
    for (const std::string& part : c.message_parts) {
      EXPECT_THAT(std::string(policy.status().message()), HasSubstr(part));
    }
  }
}

// Finding 7 of issue 19's follow-ups: sigild never sees a unix peer or an
// anonymous caller, so its policy refuses grants for them, naming the file
// and the entry, where sigil-agent's accepts them.
TEST(PolicyTest, SigildRefusesPrincipalsOnlyTheAgentCanSee) {
  testing::TempDir dir;
  for (const std::string principal : {"unix-uid:1000", "<anonymous>"}) {
    SCOPED_TRACE(principal);
    const std::string path = dir.Sub("sigild.textproto");
    WriteFile(path,
              absl::StrCat("grants {\n  principal: \"spiffe://example.org/x\"\n"
                           "  admin: true\n}\n"
                           "grants {\n  principal: \"",
                           principal, "\"\n  system { name: \"A\" }\n}\n"));
    auto sigild = Policy::Load(path, Policy::Reader::kSigild);
    ASSERT_THAT(sigild, StatusIs(absl::StatusCode::kInvalidArgument));
    const std::string message(sigild.status().message());
    EXPECT_THAT(message, HasSubstr(absl::StrCat(path, ":6: grants[1]")));
    EXPECT_THAT(message, HasSubstr(principal));
    EXPECT_THAT(Policy::Load(path, Policy::Reader::kAgent), IsOk());
  }
}

TEST(PolicyTest, AMissingFileIsNotFoundNamingIt) {
  testing::TempDir dir;
  auto policy =
      Policy::Load(dir.Sub("absent.textproto"), Policy::Reader::kAgent);
  ASSERT_THAT(policy, StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(std::string(policy.status().message()),
              HasSubstr(dir.Sub("absent.textproto")));
}

// Finding 9 of issue 19: principals match identities of their own kind.
TEST(PolicyTest, ADnsSanSpelledLikeAUriPrincipalGetsNothing) {
  auto policy = Policy::Load(kExamplePath, Policy::Reader::kSigild);
  ASSERT_THAT(policy, IsOk());
  const Caller dns_admin{{Dns("spiffe://example.org/admin")}, true, "", ""};
  for (const Query& q : AllQueries()) {
    SCOPED_TRACE(q.name);
    EXPECT_THAT(q.ask(*policy, dns_admin),
                StatusIs(absl::StatusCode::kPermissionDenied));
  }
}

TEST(PolicyTest, ADnsPrincipalMatchesNoUriSan) {
  testing::TempDir dir;
  WriteFile(dir.Sub("dns.textproto"),
            "grants { principal: \"admin.example.org\" admin: true }\n");
  auto policy = Policy::Load(dir.Sub("dns.textproto"), Policy::Reader::kAgent);
  ASSERT_THAT(policy, IsOk());
  EXPECT_THAT(policy->IsAdmin(Caller{{Dns("admin.example.org")}, true, "", ""}),
              IsOk());
  EXPECT_THAT(policy->IsAdmin(Caller{{Uri("admin.example.org")}, true, "", ""}),
              StatusIs(absl::StatusCode::kPermissionDenied));
}

TEST(PolicyTest, ARefusedCertificateIsUnauthenticatedWithTheReason) {
  auto policy = Policy::Load(kExamplePath, Policy::Reader::kSigild);
  ASSERT_THAT(policy, IsOk());
  const Caller refused{
      {}, false, "carries 2 URI subject alternative names", ""};
  const absl::Status status = policy->MayVerify(refused, "A");
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_THAT(std::string(status.message()), HasSubstr("2 URI"));
}

const char kAgentPolicy[] = R"pb(
  grants {
    principal: "unix-uid:1000"
    system { name: "A" }
  }
  grants {
    principal: "<anonymous>"
    issuer { systems: [ "A" ] }
  }
  grants {
    principal: "spiffe://example.org/agent/A"
    system { name: "A" }
    agent: true
  }
)pb";

TEST(PolicyTest, UnixUidPrincipalsMatchUnixPeersOnly) {
  testing::TempDir dir;
  WriteFile(dir.Sub("agent.textproto"), kAgentPolicy);
  auto policy =
      Policy::Load(dir.Sub("agent.textproto"), Policy::Reader::kAgent);
  ASSERT_THAT(policy, IsOk());
  EXPECT_THAT(policy->MayLogoutFromSystem(UnixPeerCaller(1000), "A"), IsOk());
  EXPECT_THAT(policy->MayLogoutFromSystem(UnixPeerCaller(1001), "A"),
              StatusIs(absl::StatusCode::kPermissionDenied));
  // A certificate cannot pass for a unix peer by its spelling.
  EXPECT_THAT(policy->MayLogoutFromSystem(
                  Caller{{Uri("unix-uid:1000")}, true, "", ""}, "A"),
              StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_EQ(PrincipalOf(UnixPeerCaller(1000)), "unix-uid:1000");
}

TEST(PolicyTest, AnonymousGrantsReachOnlyTheAnonymousCaller) {
  testing::TempDir dir;
  WriteFile(dir.Sub("agent.textproto"), kAgentPolicy);
  auto policy =
      Policy::Load(dir.Sub("agent.textproto"), Policy::Reader::kAgent);
  ASSERT_THAT(policy, IsOk());
  EXPECT_THAT(policy->MayIssue(AnonymousCaller(), {"A"}), IsOk());
  EXPECT_THAT(policy->MayLogoutFromSystem(AnonymousCaller(), "A"),
              StatusIs(absl::StatusCode::kPermissionDenied));
  // sigild's unauthenticated callers are not anonymous ones.
  EXPECT_THAT(policy->MayIssue(Caller{}, {"A"}),
              StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_THAT(Policy::DenyAll().MayIssue(AnonymousCaller(), {"A"}),
              StatusIs(absl::StatusCode::kPermissionDenied));
}

TEST(PolicyTest, OnlyGrantsMarkedAgentAreAgents) {
  testing::TempDir dir;
  WriteFile(dir.Sub("agent.textproto"), kAgentPolicy);
  auto policy =
      Policy::Load(dir.Sub("agent.textproto"), Policy::Reader::kAgent);
  ASSERT_THAT(policy, IsOk());
  EXPECT_TRUE(policy->IsAgent(Authenticated({"spiffe://example.org/agent/A"})));
  EXPECT_FALSE(policy->IsAgent(UnixPeerCaller(1000)));
  EXPECT_FALSE(policy->IsAgent(AnonymousCaller()));
  EXPECT_FALSE(policy->IsAgent(Authenticated({"spiffe://example.org/x"})));
  EXPECT_FALSE(Policy::AllowAll().IsAgent(
      Authenticated({"spiffe://example.org/agent/A"})));
}

}  // namespace
}  // namespace sigil::server::auth
