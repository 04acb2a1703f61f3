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
#include <vector>

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
// Follows one of several addresses of the authority (replicas of one store,
// which count the same seqs): when a stream ends, or stays silent for
// silence_timeout (a stopped or cut-off peer; heartbeats come every 250 ms),
// it goes to the next address at once, resuming after the last applied seq
// of the same store, so neither the index nor the proof is dropped. Only
// when every address has failed in a row does it back off (50 to 250 ms,
// so a peer that is back is found within about a quarter second more than
// its channel's own reconnect backoff). When the authority starts over
// (reset: another store, or one behind what was applied), the new state is
// built aside and replaces the index in one step once caught up; until then
// the watcher is not current. Prunes expired revocations from the index every
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
    // A stream that delivers nothing for this long (real time) is cancelled
    // and the next address tried.
    absl::Duration silence_timeout = absl::Seconds(1);
    absl::Duration prune_interval = absl::Minutes(1);
    // Revocations are pruned this long after they stopped covering any
    // live token, so a small backward step of the wall clock does not bring
    // back a token whose revocation is gone.
    absl::Duration prune_margin = absl::Minutes(5);
  };

  // `stubs` (one per address, at least one) and `clock` are not owned and
  // must outlive the watcher. `on_key_set_version` may be null. Nothing is
  // read before Start.
  RevocationWatcher(std::vector<sigil::v1::Identity::StubInterface*> stubs,
                    const token::Clock* clock,
                    KeySetVersionCallback on_key_set_version, Options options);
  RevocationWatcher(sigil::v1::Identity::StubInterface* stub,
                    const token::Clock* clock,
                    KeySetVersionCallback on_key_set_version, Options options)
      : RevocationWatcher(
            std::vector<sigil::v1::Identity::StubInterface*>{stub}, clock,
            std::move(on_key_set_version), options) {}
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
  // Read-your-logout: true once every revocation up to `seq` has been
  // applied (at once when it already is), false if that has not happened
  // by `deadline`. Blocks the caller, not the watcher.
  bool WaitForSeq(uint64_t seq, absl::Time deadline);
  // The index, in the stubs given, of the address whose stream last
  // delivered a message (0 before any): where calls are most likely to
  // succeed.
  size_t address() const { return address_.load(); }
  // Revocation events applied since construction, resets included.
  uint64_t events_applied() const { return events_applied_.load(); }
  // The monotonic reading (Clock::MonotonicNow) as of which the watcher
  // last proved itself current (a reset does not undo a past proof);
  // nullopt before the first.
  std::optional<absl::Duration> last_proof() const;

 private:
  void Run();
  // Reads one stream from address `at` until it ends; true when it
  // delivered a message and no event this watcher cannot apply.
  bool Follow(size_t at, grpc::ClientContext& context);
  // Cancels the stream once it has been silent for silence_timeout.
  void WatchdogLoop();
  void SetAppliedSeq(uint64_t seq);
  static bool SeqReached(std::pair<const RevocationWatcher*, uint64_t>* arg) {
    return arg->first->applied_seq_.load() >= arg->second;
  }
  // The next probe: the monotonic reading in µs, never 0.
  uint64_t NextProbe() const;
  void MaybePrune();

  const std::vector<sigil::v1::Identity::StubInterface*> stubs_;
  const token::Clock* const clock_;
  const KeySetVersionCallback on_key_set_version_;
  const Options options_;
  token::RevocationIndex index_;
  // Written under seq_mu_, so that WaitForSeq wakes; read anywhere.
  std::atomic<uint64_t> applied_seq_{0};
  absl::Mutex seq_mu_;
  std::atomic<size_t> address_{0};
  // Steady-clock nanoseconds of the stream's last message (or its start).
  std::atomic<int64_t> last_heard_ns_{0};
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
  std::thread watchdog_;
};

}  // namespace sigil::client

#endif  // SIGIL_CLIENT_REVOCATION_WATCHER_H_
