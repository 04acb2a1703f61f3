// End-to-end: hostile HTTP clients against a real sigild's --http_listen
// port (issue 19, findings 1 and 2). The header flood and the slow clients
// come from tests/telemetry/http_attack.h; sigild's memory is read from
// /proc/<pid>/status.

#include <httplib.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "tests/e2e/sigil_process.h"
#include "tests/telemetry/http_attack.h"
#include "tests/testing/temp_dir.h"

namespace sigil::e2e {
namespace {

using ::sigil::testing::FloodHeaders;
using ::sigil::testing::HeaderFlood;
using ::sigil::testing::ResidentKiB;
using ::sigil::testing::Trickle;

constexpr char kSigildPath[] = SIGIL_BINARY_DIR "/server/sigild";

class HttpFloodTest : public ::testing::Test {
 protected:
  void SetUp() override {
    sigild_ = std::make_unique<SigilProcess>(
        kSigildPath,
        std::vector<std::string>{
            absl::StrCat("--listen=", sockets_.Address("sigild.sock")),
            absl::StrCat("--data_dir=", dir_.Sub("data")),
            "--issuer=https://sigil.e2e.test", "--http_listen=127.0.0.1:0",
            "--log_format=json"},
        sockets_.Address("sigild.sock"), dir_.Sub("sigild.log"));
    ASSERT_TRUE(sigild_->Spawn());
    ASSERT_TRUE(sigild_->WaitReady());
    const std::optional<int> port = HttpPort();
    ASSERT_TRUE(port.has_value()) << sigild_->Log();
    port_ = *port;
    status_path_ = StatusPath();
    ASSERT_FALSE(status_path_.empty()) << "no process runs " << dir_.path();
  }

  void TearDown() override {
    if (sigild_ != nullptr && sigild_->running()) {
      EXPECT_EQ(sigild_->Stop(), 0) << "sigild's exit";
    }
  }

  // From sigild's JSON serving line.
  std::optional<int> HttpPort() {
    static const std::regex kPort(R"re("http_port":"(\d+)")re");
    const absl::Time deadline = absl::Now() + kStartTimeout;
    while (absl::Now() < deadline) {
      const std::string log = sigild_->Log();
      std::smatch match;
      int port = 0;
      if (std::regex_search(log, match, kPort) &&
          absl::SimpleAtoi(match[1].str(), &port)) {
        return port;
      }
      absl::SleepFor(absl::Milliseconds(20));
    }
    return std::nullopt;
  }

  // /proc/<pid>/status of the sigild whose command line names this test's
  // data directory: no other process can.
  std::string StatusPath() {
    const std::string data_dir = dir_.Sub("data");
    for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
      std::ifstream in(entry.path() / "cmdline");
      std::stringstream cmdline;
      cmdline << in.rdbuf();
      if (absl::StrContains(cmdline.str(), data_dir) &&
          absl::StrContains(cmdline.str(), "sigild")) {
        return (entry.path() / "status").string();
      }
    }
    return "";
  }

  int Status(const std::string& path) {
    httplib::Client client("127.0.0.1", port_);
    client.set_connection_timeout(5, 0);
    client.set_read_timeout(5, 0);
    httplib::Result result = client.Get(path.c_str());
    return result ? result->status : 0;
  }

  ::sigil::testing::TempDir dir_;
  SocketDir sockets_;
  std::unique_ptr<SigilProcess> sigild_;
  int port_ = 0;
  std::string status_path_;
};

// Before: one connection grew sigild from 30 MB to 805 MB.
TEST_F(HttpFloodTest, HeaderFloodLeavesSigildsMemoryFlatAndHealthzUp) {
  const long before = ResidentKiB(status_path_);
  ASSERT_GT(before, 0);
  // Four floods of up to 64 MiB each, one after another.
  for (int i = 0; i < 4; ++i) {
    const HeaderFlood flood = FloodHeaders(port_, 64 << 20);
    EXPECT_TRUE(flood.cut) << "flood " << i << " sent " << flood.sent;
    EXPECT_LT(flood.sent, size_t{1} << 20) << "flood " << i;
  }
  const long after = ResidentKiB(status_path_);
  EXPECT_LT(after - before, 20 * 1024)
      << "sigild's VmRSS " << before << " kB before, " << after << " kB after";
  EXPECT_EQ(Status("/healthz"), 200);
}

// Before: eight connections trickling bytes took every thread of the pool.
TEST_F(HttpFloodTest, SlowClientsLeaveSigildsProbesAndKeysAnswering) {
  std::vector<std::unique_ptr<Trickle>> slow;
  for (int i = 0; i < 16; ++i) {
    slow.push_back(std::make_unique<Trickle>(port_));
    ASSERT_TRUE(slow.back()->Step()) << "slow client " << i;
  }
  for (const char* path :
       {"/healthz", "/readyz", "/.well-known/jwks.json", "/metrics"}) {
    EXPECT_EQ(Status(path), 200) << path;
    for (auto& client : slow) client->Step();
  }
}

}  // namespace
}  // namespace sigil::e2e
