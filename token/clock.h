#ifndef SIGIL_TOKEN_CLOCK_H_
#define SIGIL_TOKEN_CLOCK_H_

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace sigil::token {

// The source of "now" for everything that compares times (expiry, revocation
// ordering, garbage collection), so tests drive time instead of sleeping.
// Implementations are thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  // The wall clock: what token times (iat, exp) and revocations compare
  // with. It may step, backwards too.
  virtual absl::Time Now() const = 0;
  // A monotonic reading: time since an arbitrary origin fixed for the
  // process, always positive, never going back. Ages that a security bound
  // rests on (the SDK's staleness) are measured on it, so a step of the
  // wall clock cannot make an old proof look new.
  virtual absl::Duration MonotonicNow() const = 0;
};

// The wall clock. The returned object lives forever.
const Clock& RealClock();

// A clock that only moves when told to. Advance moves both readings; Set
// steps the wall clock alone, as an operator or NTP would. Thread-safe.
class FakeClock : public Clock {
 public:
  explicit FakeClock(absl::Time start) : now_(start) {}
  absl::Time Now() const override;
  absl::Duration MonotonicNow() const override;
  void Advance(absl::Duration d);
  void Set(absl::Time t);

 private:
  mutable absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
  absl::Duration monotonic_ ABSL_GUARDED_BY(mu_) = absl::Seconds(1);
};

}  // namespace sigil::token

#endif  // SIGIL_TOKEN_CLOCK_H_
