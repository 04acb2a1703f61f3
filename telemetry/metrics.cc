#include "telemetry/metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace sigil::telemetry {
namespace {

// Label values are free text (a method name, a reason); the format allows
// any UTF-8 once backslash, quote and newline are escaped.
std::string EscapeLabelValue(absl::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string EscapeHelp(absl::string_view help) {
  std::string out;
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

// a="x",b="y": the key of a series within its family.
std::string LabelKey(const Labels& labels) {
  std::string out;
  for (const auto& [name, value] : labels) {
    if (!out.empty()) out += ",";
    absl::StrAppend(&out, name, "=\"", EscapeLabelValue(value), "\"");
  }
  return out;
}

std::string Braced(absl::string_view key) {
  return key.empty() ? "" : absl::StrCat("{", key, "}");
}

// Integers (counts, seqs) in full; other values with 15 significant
// digits, which gives bounds like 0.005 back as written.
std::string FormatValue(double value) {
  if (std::abs(value) < 9007199254740992.0 &&
      value == static_cast<double>(static_cast<int64_t>(value))) {
    return absl::StrCat(static_cast<int64_t>(value));
  }
  return absl::StrFormat("%.15g", value);
}

}  // namespace

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)),
      buckets_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  for (size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0);
}

void Histogram::Observe(double value) {
  const size_t bucket =
      std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin();
  buckets_[bucket].fetch_add(1, std::memory_order_relaxed);
  // std::atomic<double> has no fetch_add before C++20.
  double sum = sum_.load(std::memory_order_relaxed);
  while (!sum_.compare_exchange_weak(sum, sum + value,
                                     std::memory_order_relaxed)) {
  }
}

std::vector<uint64_t> Histogram::BucketCounts() const {
  std::vector<uint64_t> counts(bounds_.size() + 1);
  for (size_t i = 0; i < counts.size(); ++i) {
    counts[i] = buckets_[i].load(std::memory_order_relaxed);
  }
  return counts;
}

MetricsRegistry::Family* MetricsRegistry::FindLocked(
    absl::string_view name) const {
  auto it = families_.find(name);
  return it == families_.end() ? nullptr : it->second.get();
}

Counter* MetricsRegistry::GetCounter(absl::string_view name,
                                     absl::string_view help,
                                     const Labels& labels) {
  const std::string key = LabelKey(labels);
  {
    absl::ReaderMutexLock lock(&mu_);
    Family* family = FindLocked(name);
    if (family != nullptr) {
      auto it = family->counters.find(key);
      if (it != family->counters.end()) return it->second.get();
    }
  }
  absl::MutexLock lock(&mu_);
  std::unique_ptr<Family>& family = families_[std::string(name)];
  if (family == nullptr) {
    family = std::make_unique<Family>();
    family->type = Type::kCounter;
    family->help = std::string(help);
  }
  std::unique_ptr<Counter>& counter = family->counters[key];
  if (counter == nullptr) counter = std::make_unique<Counter>();
  return counter.get();
}

Histogram* MetricsRegistry::GetHistogram(absl::string_view name,
                                         absl::string_view help,
                                         const std::vector<double>& bounds,
                                         const Labels& labels) {
  const std::string key = LabelKey(labels);
  {
    absl::ReaderMutexLock lock(&mu_);
    Family* family = FindLocked(name);
    if (family != nullptr) {
      auto it = family->histograms.find(key);
      if (it != family->histograms.end()) return it->second.get();
    }
  }
  absl::MutexLock lock(&mu_);
  std::unique_ptr<Family>& family = families_[std::string(name)];
  if (family == nullptr) {
    family = std::make_unique<Family>();
    family->type = Type::kHistogram;
    family->help = std::string(help);
    family->bounds = bounds;
  }
  std::unique_ptr<Histogram>& histogram = family->histograms[key];
  if (histogram == nullptr) {
    histogram = std::make_unique<Histogram>(family->bounds);
  }
  return histogram.get();
}

void MetricsRegistry::AddCallback(absl::string_view name,
                                  absl::string_view help, bool counter,
                                  std::function<double()> read) {
  absl::MutexLock lock(&mu_);
  std::unique_ptr<Family>& family = families_[std::string(name)];
  if (family != nullptr) return;
  family = std::make_unique<Family>();
  family->type = counter ? Type::kCounter : Type::kGauge;
  family->help = std::string(help);
  family->read = std::move(read);
}

void MetricsRegistry::AddInfoCallback(absl::string_view name,
                                      absl::string_view help,
                                      std::function<Labels()> read) {
  absl::MutexLock lock(&mu_);
  std::unique_ptr<Family>& family = families_[std::string(name)];
  if (family != nullptr) return;
  family = std::make_unique<Family>();
  family->type = Type::kGauge;
  family->help = std::string(help);
  family->read_labels = std::move(read);
}

std::string MetricsRegistry::Render() const {
  absl::ReaderMutexLock lock(&mu_);
  std::string out;
  for (const auto& [name, family] : families_) {
    const char* type = family->type == Type::kHistogram ? "histogram"
                       : family->type == Type::kCounter ? "counter"
                                                        : "gauge";
    absl::StrAppend(&out, "# HELP ", name, " ", EscapeHelp(family->help),
                    "\n# TYPE ", name, " ", type, "\n");
    if (family->read) {
      absl::StrAppend(&out, name, " ", FormatValue(family->read()), "\n");
    }
    if (family->read_labels) {
      absl::StrAppend(&out, name, Braced(LabelKey(family->read_labels())),
                      " 1\n");
    }
    for (const auto& [key, counter] : family->counters) {
      absl::StrAppend(&out, name, Braced(key), " ", counter->value(), "\n");
    }
    for (const auto& [key, histogram] : family->histograms) {
      const std::vector<uint64_t> counts = histogram->BucketCounts();
      const std::string prefix = key.empty() ? "" : absl::StrCat(key, ",");
      uint64_t cumulative = 0;
      for (size_t i = 0; i < counts.size(); ++i) {
        cumulative += counts[i];
        const std::string le = i < family->bounds.size()
                                   ? FormatValue(family->bounds[i])
                                   : std::string("+Inf");
        absl::StrAppend(&out, name, "_bucket{", prefix, "le=\"", le, "\"} ",
                        cumulative, "\n");
      }
      absl::StrAppend(&out, name, "_sum", Braced(key), " ",
                      FormatValue(histogram->sum()), "\n", name, "_count",
                      Braced(key), " ", cumulative, "\n");
    }
  }
  return out;
}

}  // namespace sigil::telemetry
