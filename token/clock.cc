#include "token/clock.h"

#include <chrono>

namespace sigil::token {
namespace {

class SystemClock : public Clock {
 public:
  absl::Time Now() const override { return absl::Now(); }
  absl::Duration MonotonicNow() const override {
    // Offset by one second so the reading is positive from the start.
    return absl::FromChrono(std::chrono::steady_clock::now() - origin_) +
           absl::Seconds(1);
  }

 private:
  const std::chrono::steady_clock::time_point origin_ =
      std::chrono::steady_clock::now();
};

}  // namespace

const Clock& RealClock() {
  // Never destroyed, so threads still running during static destruction can
  // keep reading the time.
  static const Clock* const clock = new SystemClock();
  return *clock;
}

absl::Time FakeClock::Now() const {
  absl::MutexLock lock(&mu_);
  return now_;
}

absl::Duration FakeClock::MonotonicNow() const {
  absl::MutexLock lock(&mu_);
  return monotonic_;
}

void FakeClock::Advance(absl::Duration d) {
  absl::MutexLock lock(&mu_);
  now_ += d;
  // The monotonic reading never goes back, even when told to.
  if (d > absl::ZeroDuration()) monotonic_ += d;
}

void FakeClock::Set(absl::Time t) {
  absl::MutexLock lock(&mu_);
  now_ = t;
}

}  // namespace sigil::token
