#ifndef SIGIL_CLIENT_REVOCATION_WATCHER_H_
#define SIGIL_CLIENT_REVOCATION_WATCHER_H_

#include <grpcpp/client_context.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "sigil/v1/identity.grpc.pb.h"
#include "token/clock.h"
#include "token/revocation_index.h"

namespace sigil::client {

// Holds a WatchRevocations stream on a thread of its own, applies every
// event to a RevocationIndex, and records when it last proved itself
// current (any message not marked `more`: its current_seq then covers every
// revocation before it). Reconnects with backoff, resuming after the last
// applied seq of the same store. When the authority starts over (reset),
// the new state is built aside and replaces the index in one step once
// caught up; until then the watcher is not current. Thread-safe.
class RevocationWatcher {
 public:
  // Called on the watcher's thread with the key_set_version of every
  // message that carries one, after the message was applied; the next
  // message is read once it returns.
  using KeySetVersionCallback = std::function<void(const std::string&)>;

  // `stub` and `clock` are not owned and must outlive the watcher.
  // `on_key_set_version` may be null.
  RevocationWatcher(sigil::v1::Identity::StubInterface* stub,
                    const token::Clock* clock,
                    KeySetVersionCallback on_key_set_version);
  ~RevocationWatcher();

  const token::RevocationIndex& index() const { return index_; }
  // True when every event up to a point at most `max_staleness` before
  // `now` has been applied.
  bool IsCurrent(absl::Time now, absl::Duration max_staleness) const;
  uint64_t applied_seq() const { return applied_seq_.load(); }
  // Revocation events applied since construction, resets included.
  uint64_t events_applied() const { return events_applied_.load(); }
  // When the watcher last proved itself current (a reset does not undo a
  // past proof); InfinitePast before the first.
  absl::Time last_proof() const;

 private:
  void Run();
  // Reads one stream until it ends; false when it carried an event this
  // watcher cannot apply.
  bool Follow(grpc::ClientContext& context);

  sigil::v1::Identity::StubInterface* const stub_;
  const token::Clock* const clock_;
  const KeySetVersionCallback on_key_set_version_;
  token::RevocationIndex index_;
  std::atomic<uint64_t> applied_seq_{0};
  // The store applied_seq_ counts in; only the watcher thread touches it.
  std::string store_id_;
  // Unix micros of the last proof of currency; 0 before the first.
  std::atomic<int64_t> current_at_us_{0};
  std::atomic<int64_t> last_proof_us_{0};
  std::atomic<uint64_t> events_applied_{0};

  absl::Mutex mu_;
  grpc::ClientContext* context_ ABSL_GUARDED_BY(mu_) = nullptr;
  absl::Notification stopping_;
  std::thread thread_;
};

}  // namespace sigil::client

#endif  // SIGIL_CLIENT_REVOCATION_WATCHER_H_
