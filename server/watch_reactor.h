#ifndef SIGIL_SERVER_WATCH_REACTOR_H_
#define SIGIL_SERVER_WATCH_REACTOR_H_

#include <grpcpp/support/server_callback.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "server/revocation_feed.h"
#include "sigil/v1/identity.pb.h"
#include "telemetry/metrics.h"
#include "token/clock.h"

namespace sigil::server {

// One WatchRevocations stream on gRPC's callback API: it holds no thread
// while waiting. Once the first request is read it writes every event after
// the requested seq in batches, then what the feed publishes, and a
// heartbeat when the feed's ticker says one is due and nothing else was
// sent. Later requests carry probes: each is echoed at once (a heartbeat
// when nothing else is due), in the first message that covers every event
// the feed held when the probe was read. A subscriber that closes its side
// after the first request still gets the stream. Deletes itself when the
// call ends. Wake never waits for the stream's lock: a publisher (a logout
// waiting for its reply) is not held up by a lagging stream reading the
// store.
class WatchReactor final
    : public grpc::ServerBidiReactor<sigil::v1::WatchRevocationsRequest,
                                     sigil::v1::WatchRevocationsResponse>,
      public RevocationFeed::Subscriber {
 public:
  // No pointer is owned; all outlive the call. `key_set_version` gives the
  // GetJwks key_set_version now, for every message. `lag`, if given,
  // observes how long after its record each event is written, once the
  // stream follows live. Once `ending` (if given) is true, the next wake
  // ends the stream UNAVAILABLE: a server shutting down ends its streams at
  // once (then Beats the feed) rather than wait out its grace on them.
  WatchReactor(RevocationFeed* feed, const token::Clock* clock,
               std::function<std::string()> key_set_version,
               telemetry::Histogram* lag = nullptr,
               const std::atomic<bool>* ending = nullptr);

  void Wake(bool heartbeat) override;
  void OnReadDone(bool ok) override;
  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  static constexpr size_t kBatch = 512;

  // The first request: where the stream starts.
  void Open() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Runs Pump for pending wakes whenever the lock is free; a holder calls
  // it after unlocking, so a wake that found the lock taken is not lost.
  void Drain() ABSL_LOCKS_EXCLUDED(mu_);
  // Starts the next write if one is due and none is in flight.
  void Pump() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void FinishOnce(const grpc::Status& status)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  RevocationFeed* const feed_;
  const token::Clock* const clock_;
  const std::function<std::string()> key_set_version_;
  telemetry::Histogram* const lag_;
  const std::atomic<bool>* const ending_;
  std::atomic<bool> wake_pending_{false};
  std::atomic<bool> heartbeat_wanted_{false};
  absl::Mutex mu_;
  // Only the read in flight touches it, and reads come one at a time.
  sigil::v1::WatchRevocationsRequest request_;
  bool opened_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t sent_seq_ ABSL_GUARDED_BY(mu_) = 0;
  bool reset_ ABSL_GUARDED_BY(mu_) = false;
  bool first_ ABSL_GUARDED_BY(mu_) = true;
  bool heartbeat_due_ ABSL_GUARDED_BY(mu_) = false;
  // The latest probe not yet echoed (0 for none), and the feed's last seq
  // when it was read: the echo waits until the stream has sent that far.
  uint64_t probe_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t probe_horizon_ ABSL_GUARDED_BY(mu_) = 0;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  sigil::v1::WatchRevocationsResponse response_ ABSL_GUARDED_BY(mu_);
};

}  // namespace sigil::server

#endif  // SIGIL_SERVER_WATCH_REACTOR_H_
