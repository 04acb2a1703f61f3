#ifndef SIGIL_TELEMETRY_METRICS_H_
#define SIGIL_TELEMETRY_METRICS_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace sigil::telemetry {

// Label names and values of one series, in the order given.
using Labels = std::vector<std::pair<std::string, std::string>>;

// A monotonically increasing count. Lock-free; safe from any thread.
class Counter {
 public:
  void Increment(uint64_t n = 1) {
    value_.fetch_add(n, std::memory_order_relaxed);
  }
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

// Observations counted into fixed buckets given by their upper bounds
// (ascending), plus their sum. Lock-free; safe from any thread. The count
// is the buckets' total, so a scrape never sees them disagree.
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void Observe(double value);

  const std::vector<double>& bounds() const { return bounds_; }
  // Per bucket, not cumulative; the last one is above every bound.
  std::vector<uint64_t> BucketCounts() const;
  double sum() const { return sum_.load(std::memory_order_relaxed); }

 private:
  const std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;
  std::atomic<double> sum_{0};
};

// Named metric families in the Prometheus text exposition format (0.0.4).
// Thread-safe: lookups share a reader lock, creation takes it exclusively,
// and values are atomics. Returned counters and histograms live as long as
// the registry. A name keeps the type, help and buckets of its first use.
class MetricsRegistry {
 public:
  Counter* GetCounter(absl::string_view name, absl::string_view help,
                      const Labels& labels = {});
  Histogram* GetHistogram(absl::string_view name, absl::string_view help,
                          const std::vector<double>& bounds,
                          const Labels& labels = {});
  // Values read at each scrape from `read`, which must be thread-safe and
  // outlive the registry's scrapes. `counter` says whether the value only
  // grows (TYPE counter) or may go down (TYPE gauge).
  void AddCallback(absl::string_view name, absl::string_view help, bool counter,
                   std::function<double()> read);
  // A gauge of value 1 whose labels are read at each scrape from `read`
  // (thread-safe, outliving the scrapes): the Prometheus "info" idiom for
  // a value that is a string, such as a version.
  void AddInfoCallback(absl::string_view name, absl::string_view help,
                       std::function<Labels()> read);

  // Every family sorted by name, its series sorted by labels.
  std::string Render() const;

 private:
  enum class Type { kCounter, kGauge, kHistogram };
  struct Family {
    Type type;
    std::string help;
    std::vector<double> bounds;
    // Keyed by the rendered label set ({a="x",b="y"} or empty).
    std::map<std::string, std::unique_ptr<Counter>> counters;
    std::map<std::string, std::unique_ptr<Histogram>> histograms;
    std::function<double()> read;
    std::function<Labels()> read_labels;
  };

  Family* FindLocked(absl::string_view name) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  std::map<std::string, std::unique_ptr<Family>, std::less<>> families_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace sigil::telemetry

#endif  // SIGIL_TELEMETRY_METRICS_H_
