#include "bench/load/driver.h"

#include <atomic>
#include <chrono>
#include <memory>
#include <vector>

#include "absl/synchronization/mutex.h"

namespace sigil::bench {
namespace {

using SteadyClock = std::chrono::steady_clock;

class Driver {
 public:
  Driver(Scenario& scenario, const DriveOptions& opts)
      : count_(opts.count),
        deadline_(SteadyClock::now() +
                  absl::ToChronoNanoseconds(opts.max_time)),
        slots_(opts.concurrency) {
    for (int i = 0; i < opts.concurrency; ++i) {
      slots_[i].call = &scenario.SlotCall(i);
    }
  }

  // Returns true when the wall-clock cap ended the run.
  bool Run() {
    {
      absl::MutexLock lock(&mu_);
      active_ = static_cast<int>(slots_.size());
    }
    for (Slot& slot : slots_) Launch(slot);
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](int* active) { return *active == 0; }, &active_));
    return hit_cap_.load();
  }

  void MergeInto(Result& result) const {
    for (const Slot& slot : slots_) result.Merge(slot.recorder);
  }

 private:
  struct Slot {
    Call* call;
    Recorder recorder;
    SteadyClock::time_point started;
  };

  void Launch(Slot& slot) {
    if (next_.fetch_add(1) >= count_) return Retire();
    if (SteadyClock::now() >= deadline_) {
      hit_cap_.store(true);
      return Retire();
    }
    slot.started = SteadyClock::now();
    slot.call->Start([this, &slot](const Outcome& outcome) {
      const auto latency = SteadyClock::now() - slot.started;
      slot.recorder.Add(
          std::chrono::duration_cast<std::chrono::nanoseconds>(latency).count(),
          outcome);
      Launch(slot);
    });
  }

  void Retire() {
    absl::MutexLock lock(&mu_);
    --active_;
  }

  const int64_t count_;
  const SteadyClock::time_point deadline_;
  std::vector<Slot> slots_;
  std::atomic<int64_t> next_{0};
  std::atomic<bool> hit_cap_{false};
  absl::Mutex mu_;
  int active_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace

void Drive(Scenario& scenario, const DriveOptions& opts, Result& result) {
  Driver driver(scenario, opts);
  const absl::Time start = absl::Now();
  result.hit_time_cap = driver.Run();
  result.elapsed = absl::Now() - start;
  driver.MergeInto(result);
}

}  // namespace sigil::bench
