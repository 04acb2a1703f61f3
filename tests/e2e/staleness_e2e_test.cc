// The staleness bound end to end, against real sigild and sigil-agent
// binaries: the agent reaches sigild through a loopback TCP proxy written
// here, which forwards both directions and can hold every byte back for a
// delay switched at run time. However slow the path (an 8 s delay, or a link
// frozen outright) and whatever the agent's wall clock does (stepped back
// 600 s with libfaketime), the agent stops answering VALID and /readyz
// turns 503 within max_staleness plus one heartbeat of the path going bad.

#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <deque>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "sigil/v1/identity.grpc.pb.h"
#include "tests/e2e/sigil_process.h"
#include "tests/testing/temp_dir.h"

namespace sigil::e2e {
namespace {

using ::sigil::v1::Identity;

constexpr char kSigildPath[] = SIGIL_BINARY_DIR "/server/sigild";
constexpr char kAgentPath[] = SIGIL_BINARY_DIR "/client/agent/sigil-agent";
// Whether this build (and so the agent binary beside it) runs under
// AddressSanitizer: gcc says so with a macro, clang with __has_feature.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kUnderAddressSanitizer = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kUnderAddressSanitizer = true;
#else
constexpr bool kUnderAddressSanitizer = false;
#endif
#else
constexpr bool kUnderAddressSanitizer = false;
#endif
// Debian's libfaketime (package faketime, scripts/install-deps.sh).
constexpr char kLibFaketime[] =
    "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";
constexpr char kIssuer[] = "https://sigil.e2e.test";
constexpr absl::Duration kMaxStaleness = absl::Seconds(1);
// sigild's heartbeat interval (its default).
constexpr absl::Duration kHeartbeat = absl::Milliseconds(250);
// The contract: from this long after the path goes bad, never VALID.
const absl::Duration kBound = kMaxStaleness + kHeartbeat;
// How long after the path goes bad the agent is watched.
const absl::Duration kWatchFor = kBound + absl::Seconds(2);
constexpr absl::Duration kCallDeadline = absl::Seconds(5);
// The delaying path of finding 4 in issue 19.
constexpr absl::Duration kDelay = absl::Seconds(8);
constexpr absl::Duration kPollLimit = absl::Seconds(10);

// A loopback TCP listener that forwards every connection to a unix socket,
// in both directions, each chunk held until `delay` (as set when the chunk
// was read) has passed. Thread-safe.
class DelayProxy {
 public:
  explicit DelayProxy(std::string upstream) : upstream_(std::move(upstream)) {}
  ~DelayProxy() {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
      for (int fd : fds_) shutdown(fd, SHUT_RDWR);
    }
    for (std::thread& thread : threads_) thread.join();
    if (listen_fd_ >= 0) close(listen_fd_);
    for (int fd : fds_) close(fd);
  }

  ::testing::AssertionResult Start() {
    listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(address);
    if (listen_fd_ < 0 ||
        bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), length) != 0 ||
        listen(listen_fd_, 16) != 0 ||
        getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address),
                    &length) != 0) {
      return ::testing::AssertionFailure()
             << "proxy listen: " << std::strerror(errno);
    }
    port_ = ntohs(address.sin_port);
    absl::MutexLock lock(&mu_);
    threads_.emplace_back([this] { AcceptLoop(); });
    return ::testing::AssertionSuccess();
  }

  int port() const { return port_; }
  void set_delay(absl::Duration delay) {
    absl::MutexLock lock(&mu_);
    delay_ = delay;
  }

 private:
  struct Chunk {
    absl::Time due;
    std::string bytes;
  };
  // One direction of one connection.
  struct Pipe {
    int from = -1;
    int to = -1;
    std::deque<Chunk> chunks;
    bool ended = false;
  };

  void AcceptLoop() {
    while (true) {
      {
        absl::MutexLock lock(&mu_);
        if (stopping_) return;
      }
      pollfd ready{listen_fd_, POLLIN, 0};
      if (poll(&ready, 1, 50) <= 0) continue;
      const int client = accept(listen_fd_, nullptr, nullptr);
      if (client < 0) continue;
      const int server = socket(AF_UNIX, SOCK_STREAM, 0);
      sockaddr_un address{};
      address.sun_family = AF_UNIX;
      std::strncpy(address.sun_path, upstream_.c_str(),
                   sizeof(address.sun_path) - 1);
      if (server < 0 || connect(server, reinterpret_cast<sockaddr*>(&address),
                                sizeof(address)) != 0) {
        close(client);
        if (server >= 0) close(server);
        continue;
      }
      absl::MutexLock lock(&mu_);
      if (stopping_) {
        close(client);
        close(server);
        return;
      }
      fds_.push_back(client);
      fds_.push_back(server);
      const std::pair<int, int> directions[] = {{client, server},
                                                {server, client}};
      for (const auto& [from, to] : directions) {
        pipes_.push_back(std::make_unique<Pipe>());
        Pipe* pipe = pipes_.back().get();
        pipe->from = from;
        pipe->to = to;
        threads_.emplace_back([this, pipe] { Read(pipe); });
        threads_.emplace_back([this, pipe] { Write(pipe); });
      }
    }
  }

  void Read(Pipe* pipe) {
    char buffer[16384];
    while (true) {
      const ssize_t n = read(pipe->from, buffer, sizeof(buffer));
      absl::MutexLock lock(&mu_);
      if (n <= 0) {
        pipe->ended = true;
        changed_.SignalAll();
        return;
      }
      pipe->chunks.push_back(
          Chunk{absl::Now() + delay_, std::string(buffer, n)});
      changed_.SignalAll();
    }
  }

  void Write(Pipe* pipe) {
    mu_.Lock();
    while (!stopping_) {
      if (pipe->chunks.empty()) {
        if (pipe->ended) {
          shutdown(pipe->to, SHUT_WR);
          break;
        }
        changed_.Wait(&mu_);
        continue;
      }
      const absl::Time due = pipe->chunks.front().due;
      if (absl::Now() < due) {
        changed_.WaitWithDeadline(&mu_, due);
        continue;
      }
      const std::string bytes = std::move(pipe->chunks.front().bytes);
      pipe->chunks.pop_front();
      mu_.Unlock();
      size_t sent = 0;
      while (sent < bytes.size()) {
        const ssize_t n =
            write(pipe->to, bytes.data() + sent, bytes.size() - sent);
        if (n <= 0) break;
        sent += n;
      }
      mu_.Lock();
      if (sent < bytes.size()) break;
    }
    mu_.Unlock();
  }

  const std::string upstream_;
  int listen_fd_ = -1;
  int port_ = 0;
  absl::Mutex mu_;
  absl::CondVar changed_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  absl::Duration delay_ ABSL_GUARDED_BY(mu_) = absl::ZeroDuration();
  std::vector<int> fds_ ABSL_GUARDED_BY(mu_);
  std::vector<std::unique_ptr<Pipe>> pipes_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> threads_ ABSL_GUARDED_BY(mu_);
};

std::unique_ptr<grpc::ClientContext> Context(absl::Duration deadline) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(absl::ToChronoTime(absl::Now() + deadline));
  return context;
}

// The status code of GET `path` on 127.0.0.1:`port`, 0 when it failed.
int HttpStatus(int port, const std::string& path) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  timeval timeout{2, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(port);
  int status = 0;
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) ==
      0) {
    const std::string request =
        absl::StrCat("GET ", path, " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
    if (write(fd, request.data(), request.size()) ==
        static_cast<ssize_t>(request.size())) {
      char buffer[64] = {};
      const ssize_t n = read(fd, buffer, sizeof(buffer) - 1);
      // "HTTP/1.x NNN ..."
      if (n < 12 || !absl::SimpleAtoi(std::string(buffer + 9, 3), &status)) {
        status = 0;
      }
    }
  }
  close(fd);
  return status;
}

// What the agent said at one moment: a Verify outcome and /readyz.
struct Observation {
  absl::Duration after;  // since the path went bad
  std::string verdict;
  int ready = 0;
};

class StalenessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    authority_path_ = absl::StrCat(sockets_.path(), "/sigild.sock");
    const std::string authority = sockets_.Address("sigild.sock");
    sigild_ = std::make_unique<SigilProcess>(
        kSigildPath,
        std::vector<std::string>{absl::StrCat("--listen=", authority),
                                 absl::StrCat("--data_dir=", dir_.Sub("data")),
                                 absl::StrCat("--issuer=", kIssuer)},
        authority, dir_.Sub("sigild.log"));
    ASSERT_TRUE(sigild_->Spawn());
    ASSERT_TRUE(sigild_->WaitReady());
    authority_ = Identity::NewStub(
        grpc::CreateChannel(authority, grpc::InsecureChannelCredentials()));
    proxy_ = std::make_unique<DelayProxy>(authority_path_);
    ASSERT_TRUE(proxy_->Start());
  }

  void TearDown() override {
    authority_.reset();
    at_agent_.reset();
    if (agent_ != nullptr && agent_->running()) {
      EXPECT_EQ(agent_->Stop(), 0) << "agent's exit";
    }
    // The proxy's connections go before sigild, whose shutdown waits for
    // its clients.
    proxy_.reset();
    if (sigild_ != nullptr && sigild_->running()) {
      EXPECT_EQ(sigild_->Stop(), 0) << "sigild's exit";
    }
  }

  // Starts the agent for system A through the proxy, after `prefix` (a
  // launcher and its arguments, e.g. env with libfaketime), and waits until
  // it is ready.
  void StartAgent(std::vector<std::string> prefix = {}) {
    const std::string listen = sockets_.Address("agent.sock");
    std::vector<std::string> args = {
        absl::StrCat("--authority=127.0.0.1:", proxy_->port()),
        absl::StrCat("--listen=", listen), "--system=A",
        absl::StrCat("--issuer=", kIssuer),
        absl::StrCat("--max_staleness=", absl::FormatDuration(kMaxStaleness)),
        // A stale agent asks sigild through the bad path: keep those
        // calls short.
        "--authority_deadline=500ms", "--http_listen=127.0.0.1:0",
        "--log_format=json"};
    std::string binary = kAgentPath;
    if (!prefix.empty()) {
      binary = prefix.front();
      prefix.erase(prefix.begin());
      prefix.push_back(kAgentPath);
      args.insert(args.begin(), prefix.begin(), prefix.end());
    }
    agent_ = std::make_unique<SigilProcess>(binary, args, listen,
                                            dir_.Sub("agent.log"));
    ASSERT_TRUE(agent_->Spawn());
    ASSERT_TRUE(agent_->WaitReady());
    at_agent_ = Identity::NewStub(
        grpc::CreateChannel(listen, grpc::InsecureChannelCredentials()));
    // The serving line names the HTTP port.
    const std::regex port_field("\"http_port\":\"([0-9]+)\"");
    const absl::Time give_up = absl::Now() + kPollLimit;
    std::smatch match;
    std::string log;
    while (!std::regex_search(log = agent_->Log(), match, port_field) &&
           absl::Now() < give_up) {
      absl::SleepFor(absl::Milliseconds(20));
    }
    ASSERT_TRUE(std::regex_search(log, match, port_field)) << log;
    ASSERT_TRUE(absl::SimpleAtoi(match[1].str(), &http_port_));
    while (HttpStatus(http_port_, "/readyz") != 200 && absl::Now() < give_up) {
      absl::SleepFor(absl::Milliseconds(20));
    }
    ASSERT_EQ(HttpStatus(http_port_, "/readyz"), 200) << agent_->Log();
  }

  std::string Issue(const std::string& subject) {
    sigil::v1::IssueRequest request;
    request.set_subject(subject);
    request.add_systems("A");
    sigil::v1::IssueResponse response;
    const grpc::Status status =
        authority_->Issue(Context(kCallDeadline).get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.access_token();
  }

  void Logout(const std::string& subject) {
    sigil::v1::LogoutFromSystemRequest request;
    request.set_subject(subject);
    request.set_system("A");
    sigil::v1::LogoutResponse response;
    const grpc::Status status = authority_->LogoutFromSystem(
        Context(kCallDeadline).get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
  }

  // "OK VALID", "UNAUTHENTICATED LOGGED_OUT", or "RPC <code>".
  std::string VerifyAtAgent(const std::string& token) {
    sigil::v1::VerifyRequest request;
    request.set_token(token);
    request.set_system("A");
    sigil::v1::VerifyResponse response;
    const grpc::Status status =
        at_agent_->Verify(Context(kCallDeadline).get(), request, &response);
    if (!status.ok()) return absl::StrCat("RPC ", status.error_code());
    return absl::StrCat(response.verdict().code(), " ",
                        sigil::v1::Reason_Name(response.verdict().reason()));
  }

  // Verify and /readyz, over and over, until `until` after `bad`.
  std::vector<Observation> Watch(const std::string& token, absl::Time bad,
                                 absl::Duration until = kWatchFor) {
    std::vector<Observation> seen;
    while (absl::Now() < bad + until) {
      Observation o;
      o.after = absl::Now() - bad;
      o.verdict = VerifyAtAgent(token);
      o.ready = HttpStatus(http_port_, "/readyz");
      seen.push_back(o);
      absl::SleepFor(absl::Milliseconds(50));
    }
    return seen;
  }

  // Every observation from kBound on refuses the token (or cannot decide)
  // and is not ready; and there were some.
  void ExpectStaleFromTheBoundOn(const std::vector<Observation>& seen) {
    // For the record: when the agent last said VALID and first said 503.
    absl::Duration last_valid = -absl::InfiniteDuration();
    absl::Duration first_unready = absl::InfiniteDuration();
    for (const Observation& o : seen) {
      if (o.verdict == "OK VALID") last_valid = o.after;
      if (o.ready == 503) first_unready = std::min(first_unready, o.after);
    }
    std::cout << "last VALID at +" << absl::FormatDuration(last_valid)
              << ", first /readyz 503 at +"
              << absl::FormatDuration(first_unready) << " (bound +"
              << absl::FormatDuration(kBound) << ")\n";
    int late = 0;
    for (const Observation& o : seen) {
      if (o.after < kBound) continue;
      ++late;
      EXPECT_NE(o.verdict, "OK VALID")
          << "at +" << absl::FormatDuration(o.after);
      EXPECT_EQ(o.ready, 503) << "at +" << absl::FormatDuration(o.after);
    }
    // A stale agent's Verify waits --authority_deadline for the bad path.
    EXPECT_GE(late, 3) << "too few observations after the bound";
  }

  sigil::testing::TempDir dir_;
  SocketDir sockets_;
  std::string authority_path_;
  std::unique_ptr<SigilProcess> sigild_;
  std::unique_ptr<DelayProxy> proxy_;
  std::unique_ptr<SigilProcess> agent_;
  std::unique_ptr<Identity::Stub> authority_;
  std::unique_ptr<Identity::Stub> at_agent_;
  int http_port_ = 0;
};

TEST_F(StalenessTest, DelayedPathMakesTheAgentStaleWithinTheBound) {
  StartAgent();
  if (HasFatalFailure()) return;
  const std::string token = Issue("u");
  ASSERT_EQ(VerifyAtAgent(token), "OK VALID");  // now cached

  // Every byte between agent and sigild now takes 8 s. Once the delayed
  // heartbeats flow again (a steady 4 a second, each 8 s old), the user is
  // logged out: the event follows 8 s later. Receipt times would call the
  // agent current all along; no probe comes back in time.
  const absl::Time bad = absl::Now();
  proxy_->set_delay(kDelay);
  std::vector<Observation> seen =
      Watch(token, bad, kDelay + absl::Milliseconds(500));
  Logout("u");
  for (const Observation& o :
       Watch(token, bad, kDelay + absl::Milliseconds(500) + kWatchFor)) {
    seen.push_back(o);
  }
  ExpectStaleFromTheBoundOn(seen);
}

TEST_F(StalenessTest, WallClockSteppedBackWithTheLinkFrozenStillGoesStale) {
  if (kUnderAddressSanitizer) {
    // ASan's runtime reads the clock before a preloaded libfaketime is
    // ready, and the agent then never starts. The gcc and Bazel builds of
    // the same test run it.
    GTEST_SKIP() << "libfaketime does not preload into an ASan binary";
  }
  ASSERT_EQ(access(kLibFaketime, R_OK), 0)
      << kLibFaketime << " is missing: install the faketime package "
      << "(scripts/install-deps.sh)";
  const std::string offset_file = dir_.Sub("faketime");
  std::ofstream(offset_file) << "+0\n";
  // Only the agent's wall clock is faked (CLOCK_REALTIME and friends), read
  // from the file on every call; its monotonic clock stays true.
  StartAgent({"/usr/bin/env", absl::StrCat("LD_PRELOAD=", kLibFaketime),
              absl::StrCat("FAKETIME_TIMESTAMP_FILE=", offset_file),
              "FAKETIME_NO_CACHE=1", "FAKETIME_DONT_FAKE_MONOTONIC=1"});
  if (HasFatalFailure()) return;
  const std::string token = Issue("u");
  ASSERT_EQ(VerifyAtAgent(token), "OK VALID");  // now cached

  const absl::Time bad = absl::Now();
  proxy_->set_delay(absl::Hours(1));  // frozen
  Logout("u");
  std::ofstream(offset_file) << "-600\n";
  ExpectStaleFromTheBoundOn(Watch(token, bad));

  // The step really happened: the agent's "stale" log line is stamped about
  // ten minutes in the past.
  const std::regex stale_line(
      "\"time\":\"([0-9T:.Z-]+)\",\"level\":\"[a-z]+\",\"message\":\"stale:");
  std::smatch match;
  const std::string log = agent_->Log();
  ASSERT_TRUE(std::regex_search(log, match, stale_line)) << log;
  absl::Time logged;
  std::string error;
  ASSERT_TRUE(absl::ParseTime("%Y-%m-%dT%H:%M:%E*SZ", match[1].str(),
                              absl::UTCTimeZone(), &logged, &error))
      << error;
  EXPECT_LT(logged, absl::Now() - absl::Minutes(9)) << match[1].str();
}

}  // namespace
}  // namespace sigil::e2e
