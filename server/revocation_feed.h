#ifndef SIGIL_SERVER_REVOCATION_FEED_H_
#define SIGIL_SERVER_REVOCATION_FEED_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "server/store/store.h"
#include "token/revocation_index.h"

namespace sigil::server {

// Fans revocation events out to WatchRevocations streams without a thread
// per stream: publishing wakes every subscriber, and one ticker wakes them
// all for heartbeats. Recent events are served from memory; older ones from
// the store. Thread-safe.
class RevocationFeed {
 public:
  class Subscriber {
   public:
    virtual ~Subscriber() = default;
    // Something may be ready to send: new events, or (heartbeat) a beat is
    // due. Called without feed locks that Events or last_seq take; must not
    // block and must not call Subscribe or Unsubscribe.
    virtual void Wake(bool heartbeat) = 0;
  };

  // `store` is not owned and must outlive the feed.
  RevocationFeed(store::Store* store, absl::Duration heartbeat_interval);
  ~RevocationFeed();

  // Records a durable revocation. Calls must come in seq order.
  void Publish(const token::Revocation& revocation);

  // Heartbeats every subscriber now rather than at the next tick: messages
  // carry the key set version, and it just changed.
  void Beat() { WakeAll(true); }

  // Events with seq > after_seq in seq order, at most `limit`. From memory
  // when the recent buffer reaches back to after_seq: O(1) for a caught-up
  // subscriber, O(log n + returned) otherwise; else from the store.
  absl::StatusOr<std::vector<token::Revocation>> EventsAfter(uint64_t after_seq,
                                                             size_t limit);
  // For tests: buffered entries EventsAfter has examined or copied so far.
  uint64_t entries_examined_for_testing() const {
    return entries_examined_.load();
  }
  // The highest seq published or stored.
  uint64_t last_seq() const { return last_seq_.load(); }
  // The store's id, which names what the seqs count.
  const std::string& store_id() const { return store_->Id(); }

  // A subscriber is woken from Subscribe until Unsubscribe returns; after
  // that it is never called again.
  void Subscribe(Subscriber* subscriber);
  void Unsubscribe(Subscriber* subscriber);
  size_t subscriber_count() const;

 private:
  static constexpr size_t kRecentEvents = 4096;

  void WakeAll(bool heartbeat);
  void TickLoop(absl::Duration interval);

  store::Store* const store_;
  std::atomic<uint64_t> last_seq_;

  absl::Mutex events_mu_;
  // In strictly increasing seq order.
  std::deque<token::Revocation> recent_ ABSL_GUARDED_BY(events_mu_);
  std::atomic<uint64_t> entries_examined_{0};

  mutable absl::Mutex subscribers_mu_;
  absl::flat_hash_set<Subscriber*> subscribers_
      ABSL_GUARDED_BY(subscribers_mu_);

  absl::Notification stopping_;
  std::thread ticker_;
};

}  // namespace sigil::server

#endif  // SIGIL_SERVER_REVOCATION_FEED_H_
