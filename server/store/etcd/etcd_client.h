#ifndef SIGIL_SERVER_STORE_ETCD_ETCD_CLIENT_H_
#define SIGIL_SERVER_STORE_ETCD_ETCD_CLIENT_H_

// A small client of etcd's v3 gRPC API (proto/etcd/): KV, Lease, Watch and
// Maintenance.Status over one channel per member, with failover between
// members. There is no C++ etcd client library to lean on, so failover and
// retries are this file's.
//
// Failover and retries. A call goes to the member that last answered, with
// gRPC metadata "hasleader: true" (a member without a leader refuses it at
// once rather than queueing it) and a deadline of its own, the attempt
// timeout, within the caller's deadline. When the attempt fails with
// UNAVAILABLE or its attempt timeout passes, the call moves to the next
// member, if it may be retried, until the caller's deadline; it then fails
// UNAVAILABLE. Which calls may be retried:
//   - Range, LeaseKeepAliveOnce, LeaseTimeToLive, MemberStatus: always
//     (reads, or renewals that give the same result twice).
//   - LeaseGrant: always; a lease granted by an attempt whose answer was
//     lost holds no key and expires on its own.
//   - LeaseRevoke, Compact: always; the retry of one that took effect
//     answers NOT_FOUND (lease) or OUT_OF_RANGE (compacted): the state the
//     caller asked for holds either way.
//   - Put, DeleteRange and Txn: an attempt that may have reached the
//     leader may have been applied even though its answer was lost, so
//     sending it again could apply it twice. With Retry::kAtMostOnce they
//     are retried only after a refusal that proves nothing was applied
//     (etcd's "no leader" and the like); any other failure returns
//     UNAVAILABLE and the outcome is unknown. With Retry::kIdempotent the
//     caller vouches that applying it twice is harmless, which for a Txn
//     means its compares fail once it has been applied (for instance a
//     mod_revision or create_revision compare on a key the success branch
//     writes); the caller then learns from the failure branch, and should
//     read back, that an earlier attempt won. The store's Txns are all
//     compare-guarded this way.
//
// Errors are absl::Status: etcd's own errors keep their gRPC code and
// message (wire/status.h converts), e.g. OUT_OF_RANGE for a compacted
// revision, INVALID_ARGUMENT for a Txn over --max-txn-ops or a request over
// --max-request-bytes, NOT_FOUND for a lease that is gone; UNAVAILABLE for a
// cluster that did not answer in time (the caller fails closed).
//
// Thread-safe: every method may be called from any thread at once. Watches
// and in-flight calls must end before the client is destroyed.

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "etcd/kv.pb.h"
#include "etcd/rpc.grpc.pb.h"
#include "etcd/rpc.pb.h"

namespace sigil::server::store::etcd {

struct EtcdClientOptions {
  // Members' client addresses, host:port. At least one.
  std::vector<std::string> endpoints;
  // TLS to etcd: all empty for plaintext. ca_file is the CA the members'
  // certificates must chain to (the system roots when empty but a cert is
  // given); cert_file and key_file, together, a client certificate.
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  // A call given no deadline of its own gets now + call_timeout.
  absl::Duration call_timeout = absl::Seconds(5);
  // How long one member may take to answer one attempt before the call
  // takes it for down and (if it may be retried) tries the next member. A
  // stopped member accepts connections but never answers; without this a
  // call would wait out its whole deadline on it.
  absl::Duration attempt_timeout = absl::Seconds(1);
  // A large Range or watch response must fit; gRPC's default (4 MiB) does
  // not. etcd sends any size.
  int max_receive_bytes = 256 << 20;
};

// Whether a mutation may be sent again after an attempt whose outcome is
// unknown (see the top of this file).
enum class Retry { kAtMostOnce, kIdempotent };

// The exclusive end of the range of every key that starts with `prefix`
// (etcd's range_end for a prefix); "\0" (every key) for an empty prefix or
// one of 0xff bytes only.
std::string PrefixEnd(const std::string& prefix);

// A watch on a range of keys, from a revision on, delivering every event
// once, in revision order, across member failures. Made by
// EtcdClient::Watch; runs on threads of its own until destroyed.
struct WatchOptions {
  // The range [key, range_end); range_end empty: the prefix `key`.
  std::string key;
  std::string range_end;
  // The first revision delivered (inclusive); 0 for changes from now on.
  int64_t start_revision = 0;
  // Liveness: a progress request is sent this often, and a stream that
  // brings nothing at all (no event, progress or answer) for
  // silence_timeout is taken for dead: the watch moves to the next member.
  absl::Duration progress_interval = absl::Milliseconds(500);
  absl::Duration silence_timeout = absl::Seconds(2);
};

// What a watch delivers: the events of one or more whole revisions (a
// revision is never split between batches), in revision order; or, with no
// events, a progress notification from the member.
struct WatchBatch {
  std::vector<mvccpb::Event> events;
  // Every event of the range at or below this revision has been delivered,
  // in this batch or an earlier one: the last event's mod_revision, or for
  // a progress notification the member's revision when it sent it.
  int64_t revision = 0;
};

// How a watch ended for good; no callback follows this one.
struct WatchEnd {
  // Set when the revision to start or resume from has been compacted away:
  // the oldest revision etcd still holds. The caller must read the range
  // again (at a revision >= this) and watch from after that read.
  int64_t compact_revision = 0;
  // Why: OUT_OF_RANGE for a compaction; FAILED_PRECONDITION with the
  // member's cancel_reason for a watch it refused (permissions, a bad
  // range).
  absl::Status status;
};

class EtcdWatch {
 public:
  using OnBatch = std::function<void(WatchBatch)>;
  using OnEnd = std::function<void(const WatchEnd&)>;

  // Stops the watch: no callback runs once the destructor has returned.
  // Must not be called from a callback.
  ~EtcdWatch();
  EtcdWatch(const EtcdWatch&) = delete;
  EtcdWatch& operator=(const EtcdWatch&) = delete;

  // The revision the watch resumes from after a member failure: one past
  // the last revision delivered.
  int64_t next_revision() const;
  // How many times the stream has been (re)created, the first included.
  int streams_opened() const;

 private:
  friend class EtcdClient;
  class Impl;
  explicit EtcdWatch(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

class EtcdClient {
 public:
  // INVALID_ARGUMENT without endpoints; FAILED_PRECONDITION naming a
  // TLS file that cannot be read, or for a cert without a key. Connects
  // lazily: an unreachable cluster shows up in the first call.
  static absl::StatusOr<std::unique_ptr<EtcdClient>> Create(
      EtcdClientOptions options);
  ~EtcdClient();
  EtcdClient(const EtcdClient&) = delete;
  EtcdClient& operator=(const EtcdClient&) = delete;

  // deadline: nullopt for now + call_timeout.
  using Deadline = std::optional<absl::Time>;
  using PageCallback = std::function<absl::Status(
      const google::protobuf::RepeatedPtrField<mvccpb::KeyValue>&)>;

  absl::StatusOr<etcdserverpb::RangeResponse> Range(
      const etcdserverpb::RangeRequest& request, Deadline deadline = {});
  absl::StatusOr<etcdserverpb::PutResponse> Put(
      const etcdserverpb::PutRequest& request, Retry retry = Retry::kAtMostOnce,
      Deadline deadline = {});
  absl::StatusOr<etcdserverpb::DeleteRangeResponse> DeleteRange(
      const etcdserverpb::DeleteRangeRequest& request,
      Retry retry = Retry::kAtMostOnce, Deadline deadline = {});
  // Whether the compares held is TxnResponse.succeeded, not the status.
  absl::StatusOr<etcdserverpb::TxnResponse> Txn(
      const etcdserverpb::TxnRequest& request, Retry retry,
      Deadline deadline = {});
  absl::StatusOr<etcdserverpb::CompactionResponse> Compact(
      int64_t revision, bool physical, Deadline deadline = {});

  // Every key with `prefix`, read in pages of at most page_size keys, all
  // at one revision (the first page's, or `revision` when not 0), so the
  // pages form one consistent snapshot however long the scan takes. The
  // deadline holds for each page.
  // on_page sees each page's keys in key order; an error from it stops the
  // scan and is returned. Returns the revision read at. OUT_OF_RANGE when
  // that revision is compacted during the scan.
  absl::StatusOr<int64_t> ScanPrefix(const std::string& prefix,
                                     int64_t page_size,
                                     const PageCallback& on_page,
                                     int64_t revision = 0,
                                     Deadline deadline = {});

  // ttl in seconds (etcd raises it to its minimum, 2 s). The lease's id.
  absl::StatusOr<etcdserverpb::LeaseGrantResponse> LeaseGrant(
      int64_t ttl_seconds, Deadline deadline = {});
  // Renews the lease once (one request on the LeaseKeepAlive stream); the
  // TTL it now has. NOT_FOUND when the lease has expired or was revoked.
  absl::StatusOr<int64_t> LeaseKeepAliveOnce(int64_t lease_id,
                                             Deadline deadline = {});
  absl::Status LeaseRevoke(int64_t lease_id, Deadline deadline = {});
  absl::StatusOr<etcdserverpb::LeaseTimeToLiveResponse> LeaseTimeToLive(
      int64_t lease_id, bool keys, Deadline deadline = {});

  // Maintenance.Status of the member at endpoints()[index], asked of that
  // member alone (no failover, no hasleader): its id is header.member_id,
  // the leader it knows is `leader` (0 for none).
  absl::StatusOr<etcdserverpb::StatusResponse> MemberStatus(
      size_t index, Deadline deadline = {});

  // Starts a watch; on_batch and on_end run on the watch's own thread, one
  // at a time, and must not destroy the watch. INVALID_ARGUMENT for an
  // empty key.
  absl::StatusOr<std::unique_ptr<EtcdWatch>> Watch(WatchOptions options,
                                                   EtcdWatch::OnBatch on_batch,
                                                   EtcdWatch::OnEnd on_end);

  const std::vector<std::string>& endpoints() const {
    return options_.endpoints;
  }

 private:
  struct Member {
    std::string endpoint;
    std::shared_ptr<grpc::Channel> channel;
    std::unique_ptr<etcdserverpb::KV::Stub> kv;
    std::unique_ptr<etcdserverpb::Lease::Stub> lease;
    std::unique_ptr<etcdserverpb::Watch::Stub> watch;
    std::unique_ptr<etcdserverpb::Maintenance::Stub> maintenance;
  };

  // One attempt on one member, given a context with its deadline and
  // metadata set.
  using Attempt = std::function<grpc::Status(Member&, grpc::ClientContext&)>;
  // What a failed attempt allows: the retry rules above.
  enum class Idempotence { kRetryable, kAtMostOnce };

  explicit EtcdClient(EtcdClientOptions options);

  absl::Status Call(const char* method, Idempotence idempotence,
                    Deadline deadline, const Attempt& attempt);
  absl::Time DeadlineOf(Deadline deadline) const;

  const EtcdClientOptions options_;
  std::vector<Member> members_;
  // The member the next call starts with: the last that answered.
  std::atomic<size_t> preferred_{0};
};

}  // namespace sigil::server::store::etcd

#endif  // SIGIL_SERVER_STORE_ETCD_ETCD_CLIENT_H_
