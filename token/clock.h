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
  virtual absl::Time Now() const = 0;
};

// The wall clock. The returned object lives forever.
const Clock& RealClock();

// A clock that only moves when told to. Thread-safe.
class FakeClock : public Clock {
 public:
  explicit FakeClock(absl::Time start) : now_(start) {}
  absl::Time Now() const override;
  void Advance(absl::Duration d);
  void Set(absl::Time t);

 private:
  mutable absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
};

}  // namespace sigil::token

#endif  // SIGIL_TOKEN_CLOCK_H_
