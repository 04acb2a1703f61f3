#ifndef SIGIL_TESTS_E2E_SIGIL_PROCESS_H_
#define SIGIL_TESTS_E2E_SIGIL_PROCESS_H_

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "tests/testing/temp_dir.h"

namespace sigil::e2e {

// Sockets of e2e tests live in a SocketDir (tests/testing/temp_dir.h).
using ::sigil::testing::SocketDir;

// Generous: the test machine is small and shared.
inline constexpr absl::Duration kStartTimeout = absl::Seconds(30);
inline constexpr absl::Duration kExitTimeout = absl::Seconds(30);

// One child process of ours serving sigil.v1.Identity over gRPC: sigild or
// sigil-agent. Its stdout and stderr go to a log file that is printed when
// the test has failed, so a failure shows what the binary said. Signals go
// through a pidfd, so they can never reach another process (a recycled pid,
// or every process for pid -1).
class SigilProcess {
 public:
  // `args` follow argv[0]; `listen` is the gRPC address the binary serves
  // and `probe_system` the system its readiness probe's Verify names (an
  // agent refuses any system but its own).
  SigilProcess(std::string binary, std::vector<std::string> args,
               std::string listen, std::string log_path,
               std::string probe_system = "A");
  // Kills the process if it still runs.
  ~SigilProcess();
  SigilProcess(const SigilProcess&) = delete;
  SigilProcess& operator=(const SigilProcess&) = delete;

  ::testing::AssertionResult Spawn();

  // Probes with a Verify call until the process answers one, it exits, or
  // `timeout` passes. Each probe uses a new channel so that gRPC's
  // reconnect backoff never stretches the wait.
  ::testing::AssertionResult WaitReady(absl::Duration timeout = kStartTimeout);

  // The exit code, 128 + signal for a signal, nullopt if still running
  // after `timeout`.
  std::optional<int> WaitExit(absl::Duration timeout);

  // SIGTERM and wait: the exit code, or -1 when the process was not running
  // or did not stop (it is then killed).
  int Stop();

  // SIGKILL and reap; fails when the process was no longer running.
  ::testing::AssertionResult Kill9();

  // Sends `signal_number` (SIGSTOP, SIGCONT, ...); fails when the process
  // was no longer running.
  ::testing::AssertionResult Signal(int signal_number);

  bool running();
  std::string Log() const;
  const std::string& listen() const { return listen_; }

 private:
  // Only called while pid_ is a live child of ours.
  void Reap(int options);

  const std::string binary_;
  const std::string name_;
  const std::vector<std::string> args_;
  const std::string listen_;
  const std::string log_path_;
  const std::string probe_system_;
  pid_t pid_ = -1;
  int pidfd_ = -1;
  int wait_status_ = 0;
};

}  // namespace sigil::e2e

#endif  // SIGIL_TESTS_E2E_SIGIL_PROCESS_H_
