#ifndef SIGIL_TESTS_TESTING_ETCD_CLUSTER_H_
#define SIGIL_TESTS_TESTING_ETCD_CLUSTER_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/store/etcd/etcd_client.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_pki.h"

namespace sigil::testing {

struct EtcdClusterOptions {
  int members = 1;
  // Raft timing in milliseconds: etcd's defaults, which a small, busy
  // machine keeps without spurious elections.
  int heartbeat_ms = 100;
  int election_ms = 1000;
  // How often a caught-up watch with progress_notify gets a progress
  // notification (etcd's default is 10 minutes).
  absl::Duration progress_notify_interval = absl::Milliseconds(500);
  absl::Duration start_timeout = absl::Seconds(20);
  // Clients must speak mutual TLS to the members (a throwaway CA made for
  // the cluster; members talk to each other in plaintext).
  bool tls = false;
};

// Real etcd members (Debian's etcd-server: `etcd` on PATH, else
// /usr/bin/etcd) on free loopback ports, with their data and logs in a
// temporary directory. Members are numbered 0..members-1; endpoints()[i]
// is member i's client address. The destructor kills every member and
// removes the directory; a failed test gets each member's log tail on
// stderr. Not thread-safe: one test thread drives it.
class EtcdCluster {
 public:
  // Starts the members and waits until they agree on a leader and a read
  // goes through. FAILED_PRECONDITION when etcd is not installed;
  // DEADLINE_EXCEEDED (with the logs) when the cluster does not form.
  static absl::StatusOr<std::unique_ptr<EtcdCluster>> Start(
      EtcdClusterOptions options = {});
  ~EtcdCluster();
  EtcdCluster(const EtcdCluster&) = delete;
  EtcdCluster& operator=(const EtcdCluster&) = delete;

  // host:port of each member's client listener, in member order.
  const std::vector<std::string>& endpoints() const { return endpoints_; }
  int size() const { return static_cast<int>(endpoints_.size()); }

  // SIGKILL and reap member i.
  absl::Status Kill(int i);
  // SIGSTOP / SIGCONT member i: it keeps its sockets but answers nothing.
  absl::Status Stop(int i);
  absl::Status Cont(int i);
  // Starts member i again on its data dir and ports (killing it first if
  // it runs), and waits until it knows a leader.
  absl::Status Restart(int i);

  // Continues stopped members, starts killed ones again, and waits until
  // the cluster is healthy: what a test that disturbed it leaves behind.
  absl::Status Heal();

  // The index of the member the running members take for the leader,
  // waiting up to `timeout` for one (an election may be under way).
  absl::StatusOr<int> LeaderIndex(absl::Duration timeout = absl::Seconds(10));

  // Waits until every running, unstopped member knows the same leader.
  absl::Status WaitHealthy(absl::Duration timeout);

  // With options.tls: the CA of the members' certificates, and a client
  // certificate and key they accept. Empty otherwise.
  const std::string& ca_file() const { return ca_file_; }
  const std::string& client_cert_file() const { return client_cert_file_; }
  const std::string& client_key_file() const { return client_key_file_; }

  // A client of all members (with the TLS files above), with the client's
  // default timeouts.
  absl::StatusOr<std::unique_ptr<server::store::etcd::EtcdClient>> NewClient()
      const;

  // Member i's output so far.
  std::string Log(int i) const;

 private:
  struct Member {
    std::string name;
    std::string data_dir;
    std::string log_path;
    int client_port = 0;
    int peer_port = 0;
    pid_t pid = -1;
    int pidfd = -1;
    bool stopped = false;
    uint64_t id = 0;  // etcd's member id, once seen
  };

  explicit EtcdCluster(EtcdClusterOptions options);
  absl::Status Spawn(int i, bool existing);
  absl::Status Signal(int i, int signal_number);
  bool Running(int i);
  void Reap(int i, bool block);
  bool Usable(int i);

  const EtcdClusterOptions options_;
  TempDir dir_;
  std::string binary_;
  std::string initial_cluster_;
  std::string token_;
  std::vector<Member> members_;
  std::vector<std::string> endpoints_;
  std::string ca_file_;
  std::string client_cert_file_;
  std::string client_key_file_;
  std::string server_cert_file_;
  std::string server_key_file_;
  std::unique_ptr<server::store::etcd::EtcdClient> client_;
};

}  // namespace sigil::testing

#endif  // SIGIL_TESTS_TESTING_ETCD_CLUSTER_H_
