// End-to-end tests of sigil-agent's HTTP side and of what both binaries
// take from a flag file: a real sigild and agent, each started with
// --flagfile only, the agent with --http_listen on a free port and JSON
// logs. /metrics is scraped and parsed as Prometheus text, /readyz watched
// while the authority is SIGSTOPped.

#include <grpcpp/grpcpp.h>
#include <httplib.h>
#include <signal.h>

#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "sigil/v1/identity.grpc.pb.h"
#include "tests/e2e/sigil_process.h"
#include "tests/testing/temp_dir.h"
#include "token/json.h"

namespace sigil::e2e {
namespace {

using ::sigil::v1::Identity;

constexpr char kSigildPath[] = SIGIL_BINARY_DIR "/server/sigild";
constexpr char kAgentPath[] = SIGIL_BINARY_DIR "/client/agent/sigil-agent";
constexpr char kIssuer[] = "https://sigil.e2e.test";
constexpr absl::Duration kMaxStaleness = absl::Seconds(1);
constexpr absl::Duration kCallDeadline = absl::Seconds(10);
constexpr absl::Duration kPollLimit = absl::Seconds(10);

std::unique_ptr<grpc::ClientContext> Context() {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(absl::ToChronoTime(absl::Now() + kCallDeadline));
  return context;
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
}

// The JSON log lines of `log`; a line that is not a JSON object fails the
// test, since every line of a --log_format=json process must be one.
std::vector<token::JsonValue> JsonLines(const std::string& log) {
  std::vector<token::JsonValue> lines;
  for (absl::string_view line : absl::StrSplit(log, '\n', absl::SkipEmpty())) {
    auto parsed = token::ParseJson(line);
    EXPECT_TRUE(parsed.ok() && parsed->is_object())
        << "not a JSON log line: " << line;
    if (parsed.ok()) lines.push_back(*std::move(parsed));
  }
  return lines;
}

std::string StringAt(const token::JsonValue& object, absl::string_view name) {
  const token::JsonValue* value = object.Find(name);
  return value != nullptr && value->is_string() ? value->string_value() : "";
}

// One scrape, parsed: every sample line by its series (name{labels}), and
// the TYPE of every family. Lines that are neither a sample, a HELP nor a
// TYPE fail the test.
struct Scrape {
  std::map<std::string, double> samples;
  std::map<std::string, std::string> types;

  double Value(const std::string& series) const {
    auto it = samples.find(series);
    return it == samples.end() ? 0 : it->second;
  }
};

Scrape Parse(const std::string& text) {
  static const std::regex kSample(
      R"(([a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})?) (\S+))");
  static const std::regex kHelp(R"(# HELP [a-zA-Z_:][a-zA-Z0-9_:]* .*)");
  static const std::regex kType(
      R"(# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram))");
  Scrape scrape;
  for (absl::string_view view : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    const std::string line(view);
    std::smatch match;
    if (std::regex_match(line, match, kType)) {
      scrape.types[match[1]] = match[2];
    } else if (std::regex_match(line, match, kSample)) {
      double value = 0;
      EXPECT_TRUE(absl::SimpleAtod(match[5].str(), &value)) << line;
      scrape.samples[match[1]] = value;
    } else {
      EXPECT_TRUE(std::regex_match(line, kHelp))
          << "not Prometheus text: " << line;
    }
  }
  return scrape;
}

class AgentHttpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string authority = sockets_.Address("sigild.sock");
    WriteFile(dir_.Sub("sigild.flags"),
              absl::StrCat("# sigild for the agent's HTTP test\n", "--listen=",
                           authority, "\n--data_dir=", dir_.Sub("data"),
                           "\n--issuer=", kIssuer, "\n--log_format=json\n"));
    sigild_ = std::make_unique<SigilProcess>(
        kSigildPath,
        std::vector<std::string>{
            absl::StrCat("--flagfile=", dir_.Sub("sigild.flags"))},
        authority, dir_.Sub("sigild.log"));
    ASSERT_TRUE(sigild_->Spawn());
    ASSERT_TRUE(sigild_->WaitReady());
    authority_ = Identity::NewStub(
        grpc::CreateChannel(authority, grpc::InsecureChannelCredentials()));

    const std::string listen = sockets_.Address("agent-A.sock");
    WriteFile(
        dir_.Sub("agent.flags"),
        absl::StrCat("--authority=", authority, "\n--listen=", listen,
                     "\n--system=A\n--issuer=", kIssuer,
                     "\n--max_staleness=", absl::FormatDuration(kMaxStaleness),
                     "\n--http_listen=127.0.0.1:0\n--log_format=json\n"
                     "--log_level=debug\n"));
    agent_ = std::make_unique<SigilProcess>(
        kAgentPath,
        std::vector<std::string>{
            absl::StrCat("--flagfile=", dir_.Sub("agent.flags"))},
        listen, dir_.Sub("agent.log"));
    ASSERT_TRUE(agent_->Spawn());
    ASSERT_TRUE(agent_->WaitReady());
    at_agent_ = Identity::NewStub(
        grpc::CreateChannel(listen, grpc::InsecureChannelCredentials()));
    const std::optional<int> port = AgentHttpPort();
    ASSERT_TRUE(port.has_value()) << agent_->Log();
    http_ = std::make_unique<httplib::Client>("127.0.0.1", *port);
    http_->set_read_timeout(kCallDeadline / absl::Seconds(1), 0);
    // Serving gRPC comes before the first proof of currency.
    const absl::Time deadline = absl::Now() + kPollLimit;
    while (Get("/readyz").first != 200 && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(20));
    }
    ASSERT_EQ(Get("/readyz").first, 200) << agent_->Log();
  }

  void TearDown() override {
    authority_.reset();
    at_agent_.reset();
    if (agent_ != nullptr && agent_->running()) {
      EXPECT_EQ(agent_->Stop(), 0) << "agent's exit";
    }
    if (sigild_ != nullptr && sigild_->running()) {
      EXPECT_TRUE(sigild_->Signal(SIGCONT));
      EXPECT_EQ(sigild_->Stop(), 0) << "sigild's exit";
    }
  }

  // From the agent's JSON serving line, which follows its start-up; the
  // gRPC side answers a moment before it is written.
  std::optional<int> AgentHttpPort() {
    const absl::Time deadline = absl::Now() + kStartTimeout;
    while (absl::Now() < deadline) {
      for (const token::JsonValue& line : JsonLines(agent_->Log())) {
        const token::JsonValue* fields = line.Find("fields");
        int port = 0;
        if (fields != nullptr &&
            absl::SimpleAtoi(StringAt(*fields, "http_port"), &port)) {
          return port;
        }
      }
      absl::SleepFor(absl::Milliseconds(20));
    }
    return std::nullopt;
  }

  std::string Issue(const std::string& subject) {
    sigil::v1::IssueRequest request;
    request.set_subject(subject);
    request.add_systems("A");
    sigil::v1::IssueResponse response;
    const grpc::Status status =
        authority_->Issue(Context().get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.access_token();
  }

  std::string VerifyAtAgent(const std::string& token) {
    sigil::v1::VerifyRequest request;
    request.set_token(token);
    request.set_system("A");
    sigil::v1::VerifyResponse response;
    const grpc::Status status =
        at_agent_->Verify(Context().get(), request, &response);
    if (!status.ok()) return absl::StrCat("RPC ", status.error_code());
    return absl::StrCat(response.verdict().code(), " ",
                        sigil::v1::Reason_Name(response.verdict().reason()));
  }

  // status and body of one GET; status 0 when the request failed.
  std::pair<int, std::string> Get(const std::string& path) {
    httplib::Result result = http_->Get(path.c_str());
    if (!result) return {0, httplib::to_string(result.error())};
    return {result->status, result->body};
  }

  // "LEVEL stale" or "LEVEL current" of the agent's last JSON log line
  // about its currency, once it is `want`; false when it is not within
  // kPollLimit.
  bool WaitForLastTransition(const std::string& want) {
    const absl::Time deadline = absl::Now() + kPollLimit;
    std::string last;
    do {
      for (const token::JsonValue& line : JsonLines(agent_->Log())) {
        const std::string message = StringAt(line, "message");
        if (absl::StartsWith(message, "stale:") ||
            absl::StartsWith(message, "current:")) {
          last = absl::StrCat(StringAt(line, "level"), " ",
                              message.substr(0, message.find(':')));
        }
      }
      if (last == want) return true;
      absl::SleepFor(absl::Milliseconds(20));
    } while (absl::Now() < deadline);
    return false;
  }

  Scrape Metrics() {
    const auto [status, body] = Get("/metrics");
    EXPECT_EQ(status, 200) << body;
    return Parse(body);
  }

  sigil::testing::TempDir dir_;
  // Declared before every process, so it outlives them all.
  SocketDir sockets_;
  std::unique_ptr<SigilProcess> sigild_;
  std::unique_ptr<SigilProcess> agent_;
  std::unique_ptr<Identity::Stub> authority_;
  std::unique_ptr<Identity::Stub> at_agent_;
  std::unique_ptr<httplib::Client> http_;
};

constexpr char kVerifyOk[] =
    "sigil_grpc_server_handled_total{grpc_service=\"sigil.v1.Identity\","
    "grpc_method=\"Verify\",grpc_code=\"OK\"}";
constexpr char kVerifyCount[] =
    "sigil_grpc_server_handling_seconds_count{grpc_service="
    "\"sigil.v1.Identity\",grpc_method=\"Verify\"}";
constexpr char kValid[] = "sigil_verify_verdicts_total{reason=\"VALID\"}";

TEST_F(AgentHttpTest, MetricsCountVerifiesCacheAndRevocations) {
  const std::string token = Issue("alice");
  const Scrape before = Metrics();
  ASSERT_EQ(VerifyAtAgent(token), "OK VALID");
  ASSERT_EQ(VerifyAtAgent(token), "OK VALID");
  const Scrape after = Metrics();

  EXPECT_EQ(after.Value(kVerifyOk) - before.Value(kVerifyOk), 2);
  EXPECT_EQ(after.Value(kVerifyCount) - before.Value(kVerifyCount), 2);
  EXPECT_EQ(after.Value(kValid) - before.Value(kValid), 2);
  EXPECT_EQ(after.types.at("sigil_grpc_server_handling_seconds"), "histogram");
  // The first Verify verified and cached the token; the second hit.
  EXPECT_EQ(after.Value("sigil_agent_cache_misses_total") -
                before.Value("sigil_agent_cache_misses_total"),
            1);
  EXPECT_EQ(after.Value("sigil_agent_cache_hits_total") -
                before.Value("sigil_agent_cache_hits_total"),
            1);
  EXPECT_GE(after.Value("sigil_agent_cache_entries"), 1);
  EXPECT_EQ(after.Value("sigil_agent_current"), 1);
  EXPECT_LE(after.Value("sigil_agent_staleness_seconds"),
            absl::ToDoubleSeconds(kMaxStaleness));

  sigil::v1::GetJwksResponse jwks;
  ASSERT_TRUE(
      authority_->GetJwks(Context().get(), sigil::v1::GetJwksRequest(), &jwks)
          .ok());
  EXPECT_EQ(after.Value(absl::StrCat("sigil_agent_key_set_info{key_set_version="
                                     "\"",
                                     jwks.key_set_version(), "\"}")),
            1)
      << "no key set info for " << jwks.key_set_version();

  sigil::v1::LogoutFromSystemRequest logout;
  logout.set_subject("alice");
  logout.set_system("A");
  sigil::v1::LogoutResponse logged_out;
  ASSERT_TRUE(
      authority_->LogoutFromSystem(Context().get(), logout, &logged_out).ok());
  const absl::Time deadline = absl::Now() + kPollLimit;
  Scrape applied;
  do {
    applied = Metrics();
  } while (applied.Value("sigil_agent_revocation_applied_seq") <
               logged_out.revocation_seq() &&
           absl::Now() < deadline);
  EXPECT_EQ(applied.Value("sigil_agent_revocation_applied_seq"),
            logged_out.revocation_seq());
  EXPECT_GE(applied.Value("sigil_agent_revocation_events_applied_total"), 1);
  EXPECT_EQ(VerifyAtAgent(token), "UNAUTHENTICATED LOGGED_OUT");
  EXPECT_EQ(
      Metrics().Value("sigil_verify_verdicts_total{reason=\"LOGGED_OUT\"}"), 1);
}

TEST_F(AgentHttpTest, ReadyzIs503WhileTheStoppedAuthorityMakesTheAgentStale) {
  ASSERT_EQ(Get("/readyz").first, 200);
  ASSERT_TRUE(sigild_->Signal(SIGSTOP));
  absl::Time deadline = absl::Now() + kPollLimit;
  std::pair<int, std::string> ready;
  do {
    ready = Get("/readyz");
  } while (ready.first == 200 && absl::Now() < deadline);
  EXPECT_EQ(ready.first, 503) << ready.second;
  EXPECT_EQ(Get("/healthz").first, 200);
  const Scrape stale = Metrics();
  EXPECT_EQ(stale.Value("sigil_agent_current"), 0);
  EXPECT_GT(stale.Value("sigil_agent_staleness_seconds"),
            absl::ToDoubleSeconds(kMaxStaleness));
  // The health loop samples every 100 ms: keep sigild stopped until it has
  // seen the agent stale, so the log shows the transition.
  EXPECT_TRUE(WaitForLastTransition("warning stale")) << agent_->Log();

  ASSERT_TRUE(sigild_->Signal(SIGCONT));
  deadline = absl::Now() + kPollLimit;
  do {
    ready = Get("/readyz");
  } while (ready.first != 200 && absl::Now() < deadline);
  EXPECT_EQ(ready.first, 200) << ready.second;
  EXPECT_TRUE(WaitForLastTransition("info current")) << agent_->Log();
}

TEST_F(AgentHttpTest, FlagFilesConfigureBothAndSigildLogsJson) {
  // SetUp started both from flag files alone: the sockets, the issuer and
  // the agent's HTTP port came from them.
  const std::string token = Issue("bob");
  EXPECT_EQ(VerifyAtAgent(token), "OK VALID");
  bool issue_logged = false;
  for (const token::JsonValue& line : JsonLines(sigild_->Log())) {
    EXPECT_FALSE(StringAt(line, "time").empty());
    EXPECT_FALSE(StringAt(line, "level").empty());
    if (StringAt(line, "message") == "issue") {
      const token::JsonValue* fields = line.Find("fields");
      ASSERT_NE(fields, nullptr);
      EXPECT_EQ(StringAt(*fields, "subject"), "bob");
      EXPECT_EQ(StringAt(*fields, "systems"), "A");
      issue_logged = true;
    }
  }
  EXPECT_TRUE(issue_logged) << sigild_->Log();
}

}  // namespace
}  // namespace sigil::e2e
