#ifndef SIGIL_SERVER_SEQ_WAITER_H_
#define SIGIL_SERVER_SEQ_WAITER_H_

#include <cstdint>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/revocation_feed.h"

namespace sigil::server {

// Holds Verify calls that carry a min_seq (read-your-logout) until the feed
// has published that seq, that is until the revocation index has applied
// it, or until their deadline. One thread of its own serves every wait, so
// a wait holds neither a gRPC thread nor a writer thread (a logout being
// waited for may need one). Thread-safe.
class SeqWaiter final : public RevocationFeed::Subscriber {
 public:
  // `reached` is true once the seq is applied; false at the deadline or
  // when the waiter stops.
  using Done = std::function<void(bool reached)>;

  // `feed` is not owned and must outlive the waiter.
  explicit SeqWaiter(RevocationFeed* feed);
  // Stop, then unsubscribe.
  ~SeqWaiter() override;

  // Runs `done(true)` inline when `seq` is already applied; otherwise
  // later, on the waiter's thread: `done(true)` once it is, `done(false)`
  // at `deadline` or at Stop, whichever comes first. Exactly once.
  void Wait(uint64_t seq, absl::Time deadline, Done done);

  // Ends every pending wait with done(false), and every later one at once
  // (a server shutting down answers rather than hold calls open).
  void Stop();

  void Wake(bool heartbeat) override;

 private:
  struct Pending {
    uint64_t seq;
    absl::Time deadline;
    Done done;
  };

  void Loop();
  bool Signaled() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return signaled_ || stopping_;
  }

  RevocationFeed* const feed_;
  // A leaf: Wake takes it under the publisher's locks, and callbacks run
  // outside it.
  absl::Mutex mu_;
  std::vector<Pending> pending_ ABSL_GUARDED_BY(mu_);
  bool signaled_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // Whether the waiter is the feed's subscriber; only its thread (and the
  // destructor, after it) touches it.
  bool subscribed_ = false;
  std::thread thread_;
};

}  // namespace sigil::server

#endif  // SIGIL_SERVER_SEQ_WAITER_H_
