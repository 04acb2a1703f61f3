#ifndef SIGIL_CLIENT_REVOCATION_WATCHER_H_
#define SIGIL_CLIENT_REVOCATION_WATCHER_H_

#include <grpcpp/client_context.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "sigil/v1/identity.grpc.pb.h"
#include "token/clock.h"
#include "token/revocation_index.h"

namespace sigil::client {

// Holds a WatchRevocations stream on a thread of its own, applies every
// event to a RevocationIndex, and proves on its own monotonic clock how
// current it is. It sends a probe (its monotonic reading, in µs) with the
// first request and then about every probe_interval; the authority echoes
// a probe after every revocation it held when it read it. So once a message
// that is not marked `more` and carries an echo is applied, the watcher
// holds every revocation as of the moment it SENT that probe: a slow or
// delaying network makes the proof older, never younger, and a step of the
// wall clock does not touch it. Receipt times and the authority's sent_at
// prove nothing here.
// Reconnects with backoff, resuming after the last applied seq of the same
// store. When the authority starts over (reset), the new state is built
// aside and replaces the index in one step once caught up; until then the
// watcher is not current. Prunes expired revocations from the index every
// prune_interval (on the wall clock: expiry is token time). Thread-safe.
class RevocationWatcher {
 public:
  // Called on the watcher's thread with the key_set_version of every
  // message that carries one, after its events were applied. Returns true
  // when the key set of that version is held, false while it is still to
  // be fetched (the callback must not block: it starts the fetch
  // elsewhere); such a message proves nothing, so the proof never gets
  // ahead of the keys actually applied.
  using KeySetVersionCallback = std::function<bool(const std::string&)>;

  struct Options {
    absl::Duration probe_interval = absl::Milliseconds(200);
    absl::Duration prune_interval = absl::Minutes(1);
    // Revocations are pruned this long after they stopped covering any
    // live token, so a small backward step of the wall clock does not bring
    // back a token whose revocation is gone.
    absl::Duration prune_margin = absl::Minutes(5);
  };

  // `stub` and `clock` are not owned and must outlive the watcher.
  // `on_key_set_version` may be null. Nothing is read before Start.
  RevocationWatcher(sigil::v1::Identity::StubInterface* stub,
                    const token::Clock* clock,
                    KeySetVersionCallback on_key_set_version, Options options);
  RevocationWatcher(sigil::v1::Identity::StubInterface* stub,
                    const token::Clock* clock,
                    KeySetVersionCallback on_key_set_version)
      : RevocationWatcher(stub, clock, std::move(on_key_set_version),
                          Options()) {}
  ~RevocationWatcher();

  // Starts following the stream on the watcher's thread. Call once; the
  // SDK calls it once its first key set is in, so the first message can
  // already prove currency.
  void Start();

  const token::RevocationIndex& index() const { return index_; }
  // True when every event as of a moment at most `max_staleness` ago (on
  // the clock's monotonic reading) has been applied.
  bool IsCurrent(absl::Duration max_staleness) const;
  uint64_t applied_seq() const { return applied_seq_.load(); }
  // Revocation events applied since construction, resets included.
  uint64_t events_applied() const { return events_applied_.load(); }
  // The monotonic reading (Clock::MonotonicNow) as of which the watcher
  // last proved itself current (a reset does not undo a past proof);
  // nullopt before the first.
  std::optional<absl::Duration> last_proof() const;

 private:
  void Run();
  // Reads one stream until it ends; false when it carried an event this
  // watcher cannot apply.
  bool Follow(grpc::ClientContext& context);
  // The next probe: the monotonic reading in µs, never 0.
  uint64_t NextProbe() const;
  void MaybePrune();

  sigil::v1::Identity::StubInterface* const stub_;
  const token::Clock* const clock_;
  const KeySetVersionCallback on_key_set_version_;
  const Options options_;
  token::RevocationIndex index_;
  std::atomic<uint64_t> applied_seq_{0};
  // The store applied_seq_ counts in; only the watcher thread touches it.
  std::string store_id_;
  // Monotonic µs of the current proof (0: none, e.g. during a reset) and
  // of the last one ever.
  std::atomic<int64_t> current_at_us_{0};
  std::atomic<int64_t> last_proof_us_{0};
  std::atomic<uint64_t> events_applied_{0};
  // Monotonic reading of the last prune; only the watcher thread uses it.
  absl::Duration last_prune_;

  absl::Mutex mu_;
  grpc::ClientContext* context_ ABSL_GUARDED_BY(mu_) = nullptr;
  absl::Notification stopping_;
  std::thread thread_;
};

}  // namespace sigil::client

#endif  // SIGIL_CLIENT_REVOCATION_WATCHER_H_
