#include "tests/e2e/sigil_process.h"

#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "sigil/v1/identity.grpc.pb.h"

extern char** environ;

namespace sigil::e2e {
namespace {

using ::testing::AssertionFailure;
using ::testing::AssertionResult;
using ::testing::AssertionSuccess;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

std::string Describe(int wait_status) {
  if (WIFEXITED(wait_status)) {
    return absl::StrCat("exit ", WEXITSTATUS(wait_status));
  }
  if (WIFSIGNALED(wait_status)) {
    return absl::StrCat("signal ", WTERMSIG(wait_status));
  }
  return absl::StrCat("wait status ", wait_status);
}

}  // namespace

SigilProcess::SigilProcess(std::string binary, std::vector<std::string> args,
                           std::string listen, std::string log_path,
                           std::string probe_system)
    : binary_(std::move(binary)),
      name_(std::filesystem::path(binary_).filename().string()),
      args_(std::move(args)),
      listen_(std::move(listen)),
      log_path_(std::move(log_path)),
      probe_system_(std::move(probe_system)) {}

SigilProcess::~SigilProcess() {
  if (running()) Kill9();
  if (pidfd_ >= 0) close(pidfd_);
  if (::testing::Test::HasFailure()) {
    std::cerr << "---- " << log_path_ << " ----\n" << Log() << "----\n";
  }
}

AssertionResult SigilProcess::Spawn() {
  std::vector<std::string> args = {binary_};
  args.insert(args.end(), args_.begin(), args_.end());
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log_path_.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  const int error = posix_spawn(&pid_, binary_.c_str(), &actions, nullptr,
                                argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (error != 0) {
    pid_ = -1;
    return AssertionFailure()
           << "posix_spawn " << binary_ << ": " << strerror(error);
  }
  pidfd_ = static_cast<int>(syscall(SYS_pidfd_open, pid_, 0));
  if (pidfd_ < 0) {
    return AssertionFailure() << "pidfd_open: " << strerror(errno);
  }
  return AssertionSuccess();
}

AssertionResult SigilProcess::WaitReady(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (!running()) {
      return AssertionFailure() << name_ << " ended before serving ("
                                << Describe(wait_status_) << "): " << Log();
    }
    auto stub = sigil::v1::Identity::NewStub(
        grpc::CreateChannel(listen_, grpc::InsecureChannelCredentials()));
    grpc::ClientContext context;
    context.set_wait_for_ready(true);
    context.set_deadline(
        absl::ToChronoTime(absl::Now() + absl::Milliseconds(200)));
    sigil::v1::VerifyRequest request;
    request.set_token("probe");
    request.set_system(probe_system_);
    sigil::v1::VerifyResponse response;
    if (stub->Verify(&context, request, &response).ok()) {
      return AssertionSuccess();
    }
  }
  return AssertionFailure() << name_ << " not serving on " << listen_
                            << " after " << timeout << ": " << Log();
}

std::optional<int> SigilProcess::WaitExit(absl::Duration timeout) {
  if (pid_ > 0) {
    pollfd fd = {pidfd_, POLLIN, 0};
    const int ms = static_cast<int>(absl::ToInt64Milliseconds(timeout));
    int ready;
    do {
      ready = poll(&fd, 1, ms);
    } while (ready < 0 && errno == EINTR);
    if (ready <= 0) return std::nullopt;
    Reap(0);
  }
  if (WIFEXITED(wait_status_)) return WEXITSTATUS(wait_status_);
  return 128 + WTERMSIG(wait_status_);
}

int SigilProcess::Stop() {
  if (!Signal(SIGTERM)) return -1;
  std::optional<int> code = WaitExit(kExitTimeout);
  if (!code.has_value()) {
    Kill9();
    return -1;
  }
  return *code;
}

AssertionResult SigilProcess::Kill9() {
  AssertionResult sent = Signal(SIGKILL);
  if (sent) Reap(0);
  return sent;
}

AssertionResult SigilProcess::Signal(int signal_number) {
  if (!running()) {
    return AssertionFailure()
           << name_ << " was not running (" << Describe(wait_status_) << ")";
  }
  if (syscall(SYS_pidfd_send_signal, pidfd_, signal_number, nullptr, 0) != 0) {
    return AssertionFailure() << "signal " << signal_number << " to " << name_
                              << ": " << strerror(errno);
  }
  return AssertionSuccess();
}

bool SigilProcess::running() {
  if (pid_ > 0) Reap(WNOHANG);
  return pid_ > 0;
}

std::string SigilProcess::Log() const { return ReadFile(log_path_); }

void SigilProcess::Reap(int options) {
  int status = 0;
  pid_t reaped;
  do {
    reaped = waitpid(pid_, &status, options);
  } while (reaped < 0 && errno == EINTR);
  if (reaped == pid_) {
    wait_status_ = status;
    pid_ = -1;
  }
}

}  // namespace sigil::e2e
