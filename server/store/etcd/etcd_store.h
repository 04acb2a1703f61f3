#ifndef SIGIL_SERVER_STORE_ETCD_ETCD_STORE_H_
#define SIGIL_SERVER_STORE_ETCD_ETCD_STORE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/store/etcd/etcd_client.h"
#include "server/store/store.h"
#include "token/clock.h"
#include "token/revocation_index.h"

namespace sigil::server::store {

// The Store on an etcd cluster, shared by any number of sigild replicas.
// Every read-modify-write is one etcd Txn whose compares check, inside the
// write, that what was read is still current; a failed compare reads again
// and retries. The order of logouts and logins comes from etcd's commit
// order, never from the replicas' clocks (see docs/design.md, "Replicas on
// etcd"):
//  - a logout's Txn requires every instant any replica has issued to lie
//    below its not_before, and raises the store's floor to it;
//  - a login's or refresh's Txn requires the floor to lie below the
//    instant of the tokens it hands out.
// So for any login and logout, the one committed first is the one ordered
// first, whatever the replicas' clocks say.
//
// Differences from RocksStore, each allowed by the Store contract:
//  - AppendRevocations may raise a revocation's not_before (and its
//    expires_at by as much) above another replica's newest instant;
//    AppendResult carries what was recorded. Contention is retried inside.
//  - PutSession and RotateRefreshToken answer ABORTED "instant below a
//    logout" when a logout at another replica has moved the floor past the
//    instant they were stamped with; TickFloor() has moved too, so the
//    caller stamps again and retries.
//  - ReserveTicks writes nothing: every instant handed out is recorded in
//    the replica's row of issued instants before its token leaves, and
//    TickFloor() is the highest of them (and of the floor) at start.
//  - A batch of revocations larger than one Txn (128 operations) is
//    written as several Txns, each all-or-nothing. A call that fails may
//    have recorded a prefix of its revocations; that only revokes more.
//  - A call that times out may still have committed (etcd cannot tell).
//    Writes are resent after such a failure only because their compares
//    fail once applied; the write then reads again and is planned anew, so
//    a logout whose answer was lost can be recorded twice (two seqs, the
//    same effect) and a login counted twice in its counters.
//
// Errors: UNAVAILABLE when etcd cannot be reached within the call's
// deadline or a record cannot be decoded. Thread-safe.
class EtcdStore : public Store {
 public:
  struct Options {
    // Every key lives under this prefix.
    std::string prefix = "/sigil/";
    // Names this process's row of issued instants; random when empty.
    std::string replica_id;
    // Read-modify-writes that lose to concurrent writers this many times in
    // a row fail with UNAVAILABLE.
    int max_attempts = 32;
  };

  // Follows the event log: calls `on_events` with every event of seq
  // above `after_seq` that any replica commits, this one included, in seq
  // order and each once, on a thread of its own, until the returned handle
  // is destroyed (which waits for a call in progress). Seqs may have gaps
  // (events that expired). It reads the log from the KV first and then
  // watches it; when etcd cancels the watch (compaction, a member lost) it
  // reads again from where it was, so nothing is skipped. LastSeq() and
  // LogoutFloor() rise with what it sees.
  class Follower {
   public:
    virtual ~Follower() = default;
  };
  using OnEvents = std::function<void(std::vector<token::Revocation> events)>;
  virtual absl::StatusOr<std::unique_ptr<Follower>> Follow(
      uint64_t after_seq, OnEvents on_events) = 0;

  // Connects through `client` (not owned, must outlive the store), creates
  // the store's metadata on first use and reads it otherwise. `clock`
  // decides expiry, as in RocksStore. FAILED_PRECONDITION for a newer
  // format version under the prefix.
  static absl::StatusOr<std::unique_ptr<EtcdStore>> Open(
      etcd::EtcdClient* client, const token::Clock* clock,
      const Options& options);
};

}  // namespace sigil::server::store

#endif  // SIGIL_SERVER_STORE_ETCD_ETCD_STORE_H_
