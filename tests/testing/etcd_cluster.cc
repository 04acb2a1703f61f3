#include "tests/testing/etcd_cluster.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

extern char** environ;

namespace sigil::testing {
namespace {

using server::store::etcd::EtcdClient;
using server::store::etcd::EtcdClientOptions;

absl::Status ErrnoStatus(const std::string& what) {
  return absl::InternalError(absl::StrCat(what, ": ", std::strerror(errno)));
}

// `etcd` from PATH, else Debian's path; empty when neither exists.
std::string FindEtcd() {
  const char* path = std::getenv("PATH");
  if (path != nullptr) {
    for (absl::string_view dir : absl::StrSplit(path, ':')) {
      if (dir.empty()) continue;
      std::string candidate = absl::StrCat(dir, "/etcd");
      if (access(candidate.c_str(), X_OK) == 0) return candidate;
    }
  }
  if (access("/usr/bin/etcd", X_OK) == 0) return "/usr/bin/etcd";
  return "";
}

// `count` distinct loopback ports that were free a moment ago. All are
// held open until the last is picked, so none is handed out twice; another
// process may still take one before etcd binds it (then the start fails
// and says so).
absl::StatusOr<std::vector<int>> FreePorts(int count) {
  std::vector<int> fds;
  std::vector<int> ports;
  absl::Status status;
  for (int i = 0; i < count && status.ok(); ++i) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
      status = ErrnoStatus("socket");
      break;
    }
    fds.push_back(fd);
    sockaddr_in address = {};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = 0;
    socklen_t length = sizeof(address);
    if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
        getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      status = ErrnoStatus("bind 127.0.0.1:0");
      break;
    }
    ports.push_back(ntohs(address.sin_port));
  }
  for (int fd : fds) close(fd);
  if (!status.ok()) return status;
  return ports;
}

std::string Tail(const std::string& text, size_t lines) {
  size_t pos = text.size();
  for (size_t seen = 0; pos > 0 && seen <= lines; --pos) {
    if (text[pos - 1] == '\n') ++seen;
  }
  return text.substr(pos);
}

}  // namespace

EtcdCluster::EtcdCluster(EtcdClusterOptions options)
    : options_(std::move(options)) {}

absl::StatusOr<std::unique_ptr<EtcdCluster>> EtcdCluster::Start(
    EtcdClusterOptions options) {
  if (options.members < 1) {
    return absl::InvalidArgumentError("EtcdCluster: at least one member");
  }
  std::unique_ptr<EtcdCluster> cluster(new EtcdCluster(options));
  cluster->binary_ = FindEtcd();
  if (cluster->binary_.empty()) {
    return absl::FailedPreconditionError(
        "etcd not found on PATH nor at /usr/bin/etcd: install etcd-server "
        "(scripts/install-deps.sh)");
  }
  absl::StatusOr<std::vector<int>> ports = FreePorts(2 * options.members);
  if (!ports.ok()) return ports.status();
  std::vector<std::string> peers;
  for (int i = 0; i < options.members; ++i) {
    Member member;
    member.name = absl::StrCat("m", i);
    member.data_dir = cluster->dir_.Sub(member.name);
    member.log_path = cluster->dir_.Sub(member.name + ".log");
    member.client_port = (*ports)[2 * i];
    member.peer_port = (*ports)[2 * i + 1];
    peers.push_back(
        absl::StrCat(member.name, "=http://127.0.0.1:", member.peer_port));
    cluster->endpoints_.push_back(
        absl::StrCat("127.0.0.1:", member.client_port));
    cluster->members_.push_back(std::move(member));
  }
  cluster->initial_cluster_ = absl::StrJoin(peers, ",");
  if (options.tls) {
    absl::StatusOr<TestPki> pki = TestPki::Create(cluster->dir_.path(), "etcd");
    if (!pki.ok()) return pki.status();
    absl::StatusOr<IssuedCert> server = pki->IssueServer("etcd-server");
    if (!server.ok()) return server.status();
    ClientNames names;
    names.common_name = "sigild";
    absl::StatusOr<IssuedCert> client = pki->IssueClient("etcd-client", names);
    if (!client.ok()) return client.status();
    cluster->ca_file_ = pki->ca_cert_path();
    cluster->server_cert_file_ = server->cert_path;
    cluster->server_key_file_ = server->key_path;
    cluster->client_cert_file_ = client->cert_path;
    cluster->client_key_file_ = client->key_path;
  }
  // A cluster token of its own: members of two test clusters never join.
  cluster->token_ =
      absl::StrCat("sigil-test-", std::random_device()(), "-", getpid());
  absl::StatusOr<std::unique_ptr<EtcdClient>> client = cluster->NewClient();
  if (!client.ok()) return client.status();
  cluster->client_ = *std::move(client);
  for (int i = 0; i < options.members; ++i) {
    absl::Status spawned = cluster->Spawn(i, /*existing=*/false);
    if (!spawned.ok()) return spawned;
  }
  absl::Status healthy = cluster->WaitHealthy(options.start_timeout);
  if (!healthy.ok()) {
    std::string logs;
    for (int i = 0; i < options.members; ++i) {
      absl::StrAppend(&logs, "\n---- ", cluster->members_[i].name, " ----\n",
                      Tail(cluster->Log(i), 20));
    }
    return absl::Status(healthy.code(), absl::StrCat(healthy.message(), logs));
  }
  return cluster;
}

EtcdCluster::~EtcdCluster() {
  const bool failed = ::testing::Test::HasFailure();
  for (int i = 0; i < size(); ++i) {
    if (Running(i)) {
      Signal(i, SIGKILL).IgnoreError();
      Reap(i, /*block=*/true);
    }
    if (members_[i].pidfd >= 0) close(members_[i].pidfd);
    if (failed) {
      std::cerr << "---- etcd " << members_[i].name << " (" << endpoints_[i]
                << ") log tail ----\n"
                << Tail(Log(i), 30) << "----\n";
    }
  }
}

absl::Status EtcdCluster::Spawn(int i, bool existing) {
  Member& member = members_[i];
  const std::string client_url = absl::StrCat(
      options_.tls ? "https" : "http", "://127.0.0.1:", member.client_port);
  const std::string peer_url =
      absl::StrCat("http://127.0.0.1:", member.peer_port);
  std::vector<std::string> args = {
      binary_,
      "--name",
      member.name,
      "--data-dir",
      member.data_dir,
      "--listen-client-urls",
      client_url,
      "--advertise-client-urls",
      client_url,
      "--listen-peer-urls",
      peer_url,
      "--initial-advertise-peer-urls",
      peer_url,
      "--initial-cluster",
      initial_cluster_,
      "--initial-cluster-token",
      token_,
      "--initial-cluster-state",
      existing ? "existing" : "new",
      "--heartbeat-interval",
      absl::StrCat(options_.heartbeat_ms),
      "--election-timeout",
      absl::StrCat(options_.election_ms),
      // Small: a test writes little, and a full quota raises an alarm
      // that refuses writes, which a test would notice.
      "--quota-backend-bytes",
      absl::StrCat(256 << 20),
      // A lease's remaining TTL survives a leader change.
      "--experimental-enable-lease-checkpoint",
      "--experimental-watch-progress-notify-interval",
      absl::StrCat(absl::ToInt64Milliseconds(options_.progress_notify_interval),
                   "ms"),
      "--logger",
      "zap",
      "--log-outputs",
      "stderr",
  };
  if (options_.tls) {
    for (std::string flag :
         {"--cert-file=" + server_cert_file_, "--key-file=" + server_key_file_,
          "--trusted-ca-file=" + ca_file_, std::string("--client-cert-auth")}) {
      args.push_back(std::move(flag));
    }
  }
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO,
                                   member.log_path.c_str(),
                                   O_WRONLY | O_CREAT | O_APPEND, 0600);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  pid_t pid = -1;
  const int error = posix_spawn(&pid, binary_.c_str(), &actions, nullptr,
                                argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (error != 0) {
    return absl::InternalError(
        absl::StrCat("posix_spawn ", binary_, ": ", std::strerror(error)));
  }
  member.pid = pid;
  member.stopped = false;
  if (member.pidfd >= 0) close(member.pidfd);
  // Signals go through a pidfd: never to a recycled pid.
  member.pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (member.pidfd < 0) return ErrnoStatus("pidfd_open");
  return absl::OkStatus();
}

absl::Status EtcdCluster::Signal(int i, int signal_number) {
  if (i < 0 || i >= size()) {
    return absl::InvalidArgumentError(absl::StrCat("no etcd member ", i));
  }
  if (!Running(i)) {
    return absl::FailedPreconditionError(
        absl::StrCat("etcd member ", i, " is not running"));
  }
  if (syscall(SYS_pidfd_send_signal, members_[i].pidfd, signal_number, nullptr,
              0) != 0) {
    return ErrnoStatus(
        absl::StrCat("signal ", signal_number, " to member ", i));
  }
  return absl::OkStatus();
}

bool EtcdCluster::Running(int i) {
  Reap(i, /*block=*/false);
  return members_[i].pid > 0;
}

void EtcdCluster::Reap(int i, bool block) {
  Member& member = members_[i];
  if (member.pid <= 0) return;
  int status = 0;
  pid_t reaped;
  do {
    reaped = waitpid(member.pid, &status, block ? 0 : WNOHANG);
  } while (reaped < 0 && errno == EINTR);
  if (reaped == member.pid) {
    member.pid = -1;
    member.stopped = false;
  }
}

bool EtcdCluster::Usable(int i) { return Running(i) && !members_[i].stopped; }

absl::Status EtcdCluster::Kill(int i) {
  absl::Status sent = Signal(i, SIGKILL);
  if (!sent.ok()) return sent;
  Reap(i, /*block=*/true);
  return absl::OkStatus();
}

absl::Status EtcdCluster::Stop(int i) {
  absl::Status sent = Signal(i, SIGSTOP);
  if (sent.ok()) members_[i].stopped = true;
  return sent;
}

absl::Status EtcdCluster::Cont(int i) {
  absl::Status sent = Signal(i, SIGCONT);
  if (sent.ok()) members_[i].stopped = false;
  return sent;
}

absl::Status EtcdCluster::Restart(int i) {
  if (i < 0 || i >= size()) {
    return absl::InvalidArgumentError(absl::StrCat("no etcd member ", i));
  }
  if (Running(i)) {
    absl::Status killed = Kill(i);
    if (!killed.ok()) return killed;
  }
  absl::Status spawned = Spawn(i, /*existing=*/true);
  if (!spawned.ok()) return spawned;
  const absl::Time deadline = absl::Now() + options_.start_timeout;
  absl::Status last = absl::UnavailableError("not asked yet");
  while (absl::Now() < deadline) {
    if (!Running(i)) {
      return absl::InternalError(absl::StrCat(
          "etcd member ", i, " exited on restart: ", Tail(Log(i), 20)));
    }
    auto status = client_->MemberStatus(i, absl::Now() + absl::Seconds(1));
    if (status.ok() && status->leader() != 0) return absl::OkStatus();
    last =
        status.ok() ? absl::UnavailableError("no leader yet") : status.status();
    absl::SleepFor(absl::Milliseconds(50));
  }
  return absl::DeadlineExceededError(absl::StrCat(
      "etcd member ", i, " not back after restart: ", last.message(), "\n",
      Tail(Log(i), 20)));
}

absl::Status EtcdCluster::Heal() {
  for (int i = 0; i < size(); ++i) {
    absl::Status healed = absl::OkStatus();
    if (!Running(i)) {
      healed = Restart(i);
    } else if (members_[i].stopped) {
      healed = Cont(i);
    }
    if (!healed.ok()) return healed;
  }
  return WaitHealthy(options_.start_timeout);
}

absl::Status EtcdCluster::WaitHealthy(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  std::string last = "no member asked yet";
  while (absl::Now() < deadline) {
    bool agreed = true;
    uint64_t leader = 0;
    for (int i = 0; i < size() && agreed; ++i) {
      if (!Usable(i)) continue;
      auto status =
          client_->MemberStatus(i, absl::Now() + absl::Milliseconds(500));
      if (!status.ok()) {
        last = absl::StrCat("member ", i, ": ", status.status().ToString());
        agreed = false;
        break;
      }
      members_[i].id = status->header().member_id();
      if (status->leader() == 0 ||
          (leader != 0 && status->leader() != leader)) {
        last = absl::StrCat("member ", i, " knows leader ", status->leader(),
                            ", another ", leader);
        agreed = false;
        break;
      }
      leader = status->leader();
    }
    if (agreed && leader != 0) {
      // And a linearizable read goes through the leader.
      etcdserverpb::RangeRequest probe;
      probe.set_key("health");
      auto read = client_->Range(probe, absl::Now() + absl::Seconds(1));
      if (read.ok()) return absl::OkStatus();
      last = absl::StrCat("read: ", read.status().ToString());
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
  return absl::DeadlineExceededError(
      absl::StrCat("etcd cluster not healthy after ",
                   absl::FormatDuration(timeout), ": ", last));
}

absl::StatusOr<int> EtcdCluster::LeaderIndex(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  std::string last = "no member asked yet";
  while (absl::Now() < deadline) {
    // Member ids, as the members state them.
    for (int i = 0; i < size(); ++i) {
      if (!Usable(i) || members_[i].id != 0) continue;
      auto status =
          client_->MemberStatus(i, absl::Now() + absl::Milliseconds(500));
      if (status.ok()) members_[i].id = status->header().member_id();
    }
    for (int i = 0; i < size(); ++i) {
      if (!Usable(i)) continue;
      auto status =
          client_->MemberStatus(i, absl::Now() + absl::Milliseconds(500));
      if (!status.ok()) {
        last = absl::StrCat("member ", i, ": ", status.status().ToString());
        continue;
      }
      for (int j = 0; j < size(); ++j) {
        if (status->leader() != 0 && members_[j].id == status->leader() &&
            Usable(j)) {
          return j;
        }
      }
      last = absl::StrCat("member ", i, " knows no running leader (",
                          status->leader(), ")");
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
  return absl::DeadlineExceededError(absl::StrCat(
      "no etcd leader within ", absl::FormatDuration(timeout), ": ", last));
}

absl::StatusOr<std::unique_ptr<EtcdClient>> EtcdCluster::NewClient() const {
  EtcdClientOptions options;
  options.endpoints = endpoints_;
  options.ca_file = ca_file_;
  options.cert_file = client_cert_file_;
  options.key_file = client_key_file_;
  return EtcdClient::Create(options);
}

std::string EtcdCluster::Log(int i) const {
  std::ifstream in(members_[i].log_path, std::ios::binary);
  std::ostringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

}  // namespace sigil::testing
