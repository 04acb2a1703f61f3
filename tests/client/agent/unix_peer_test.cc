// sigil-agent's own unix socket listener: callers are known by their uid
// through gRPC's "fd:N" peer string, and open connections are capped.
// A real gRPC server fed by a real UnixListener, over real sockets.

#include "client/agent/unix_peer.h"

#include <grpcpp/grpcpp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sigil/v1/identity.grpc.pb.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace sigil::client::agent {
namespace {

using ::sigil::testing::IsOk;
using ::testing::MatchesRegex;

// Remembers the peer string of every GetJwks.
class RecordingService final : public sigil::v1::Identity::Service {
 public:
  grpc::Status GetJwks(grpc::ServerContext* context,
                       const sigil::v1::GetJwksRequest*,
                       sigil::v1::GetJwksResponse*) override {
    absl::MutexLock lock(&mu_);
    peers_.push_back(context->peer());
    return grpc::Status::OK;
  }
  std::vector<std::string> peers() const {
    absl::MutexLock lock(&mu_);
    return peers_;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<std::string> peers_ ABSL_GUARDED_BY(mu_);
};

class UnixPeerTest : public ::testing::Test {
 protected:
  void Start(UnixListener::Limits limits) {
    grpc::ServerBuilder builder;
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    auto listener = UnixListener::Listen(path_, limits);
    ASSERT_THAT(listener, IsOk());
    listener_ = *std::move(listener);
    listener_->Serve(server_.get());
  }

  void TearDown() override {
    if (listener_ != nullptr) listener_->Stop();
    if (server_ != nullptr) server_->Shutdown();
  }

  // A raw connection to the listener, which sends the HTTP/2 client
  // preface unless `silent`; -1 on failure.
  int Connect(bool silent = false) const {
    const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::memcpy(address.sun_path, path_.data(), path_.size());
    if (connect(fd, reinterpret_cast<const sockaddr*>(&address),
                sizeof(address)) != 0) {
      close(fd);
      return -1;
    }
    // The HTTP/2 client preface, so that a served connection surely
    // answers (its SETTINGS); a refused one may already be closed.
    static constexpr char kPreface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    if (!silent) send(fd, kPreface, sizeof(kPreface) - 1, MSG_NOSIGNAL);
    return fd;
  }

  // Whether the listener closed `fd` at once (EOF, or a reset since the
  // preface went unread) rather than handing it to gRPC, which answers.
  static bool ClosedByPeer(int fd) {
    pollfd ready{fd, POLLIN, 0};
    if (poll(&ready, 1, 10'000) != 1) return false;
    char byte;
    const ssize_t n = read(fd, &byte, 1);
    return n == 0 || (n < 0 && errno == ECONNRESET);
  }

  // Short enough for sun_path wherever the test's temp dir lies.
  testing::SocketDir sockets_;
  const std::string path_ = sockets_.path() + "/agent.sock";
  RecordingService service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<UnixListener> listener_;
};

// Follow-up finding 6 of issue 19: the uid scheme rests on gRPC naming a
// call on an fd channel "fd:N". If an upgrade changes that, every unix
// caller would silently become "<anonymous>": this fails instead.
TEST_F(UnixPeerTest, GrpcNamesAnFdChannelsPeerFdN) {
  Start({});
  auto stub = sigil::v1::Identity::NewStub(grpc::CreateChannel(
      absl::StrCat("unix:", path_), grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  sigil::v1::GetJwksResponse response;
  ASSERT_THAT(stub->GetJwks(&context, {}, &response), IsOk());
  const std::vector<std::string> peers = service_.peers();
  ASSERT_EQ(peers.size(), 1u);
  EXPECT_THAT(peers[0], MatchesRegex("fd:[0-9]+"))
      << "gRPC no longer names an fd channel's peer \"fd:N\"; UnixPeerUid "
         "must learn the new form";
  EXPECT_EQ(UnixPeerUid(peers[0]), getuid()) << peers[0];
}

TEST(UnixPeerUidTest, OnlyAnFdOfAUnixSocketHasAUid) {
  for (const std::string peer : {"ipv4:127.0.0.1:5000", "unix:/tmp/x",
                                 "fd:", "fd:-1", "fd:x", "fd:999999"}) {
    EXPECT_EQ(UnixPeerUid(peer), std::nullopt) << peer;
  }
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  EXPECT_EQ(UnixPeerUid(absl::StrCat("fd:", fd)), std::nullopt);
  close(fd);
}

// Follow-up finding 5: a uid holds at most max_connections_per_uid open
// connections; one more is closed at once and counted, and a slot frees
// when gRPC closes a connection.
TEST_F(UnixPeerTest, AConnectionBeyondTheCapIsClosedAndCounted) {
  Start({/*max_connections=*/1024, /*max_connections_per_uid=*/2});
  const int first = Connect();
  const int second = Connect();
  ASSERT_GE(first, 0);
  ASSERT_GE(second, 0);
  EXPECT_FALSE(ClosedByPeer(first));
  EXPECT_FALSE(ClosedByPeer(second));
  const int third = Connect();
  ASSERT_GE(third, 0);
  EXPECT_TRUE(ClosedByPeer(third));
  close(third);
  EXPECT_EQ(listener_->refused(), 1u);
  EXPECT_EQ(listener_->open_connections(), 2u);

  // Once gRPC has closed the first (asynchronously), a new one is served.
  close(first);
  bool served = false;
  for (int attempt = 0; attempt < 100 && !served; ++attempt) {
    const int next = Connect();
    ASSERT_GE(next, 0);
    served = !ClosedByPeer(next);
    close(next);
    if (!served) absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_TRUE(served);
  close(second);
}

TEST_F(UnixPeerTest, TheTotalCapCountsEveryUid) {
  Start({/*max_connections=*/1, /*max_connections_per_uid=*/256});
  const int first = Connect();
  ASSERT_GE(first, 0);
  EXPECT_FALSE(ClosedByPeer(first));
  const int second = Connect();
  ASSERT_GE(second, 0);
  EXPECT_TRUE(ClosedByPeer(second));
  EXPECT_EQ(listener_->refused(), 1u);
  EXPECT_TRUE(listener_->accepting());
  close(first);
  close(second);
}

// Follow-up finding 5: a connection that sends nothing is closed at the
// handshake timeout, before gRPC sees it, and frees its slot.
TEST_F(UnixPeerTest, ASilentConnectionIsClosedAtTheHandshakeTimeout) {
  UnixListener::Limits limits;
  limits.max_connections_per_uid = 1;
  limits.handshake_timeout = absl::Milliseconds(200);
  Start(limits);
  const int silent = Connect(/*silent=*/true);
  ASSERT_GE(silent, 0);
  EXPECT_TRUE(ClosedByPeer(silent));  // within poll's 10 s
  close(silent);
  EXPECT_EQ(listener_->timed_out(), 1u);
  EXPECT_EQ(listener_->open_connections(), 0u);
  const int next = Connect();
  ASSERT_GE(next, 0);
  EXPECT_FALSE(ClosedByPeer(next));
  EXPECT_EQ(listener_->refused(), 0u);
  close(next);
}

}  // namespace
}  // namespace sigil::client::agent
