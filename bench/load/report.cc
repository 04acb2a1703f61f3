#include "bench/load/report.h"

#include <cstdint>
#include <map>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace sigil::bench {
namespace {

std::string JsonString(absl::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          absl::StrAppendFormat(&out, "\\u%04x", c);
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

std::string JsonCounts(const std::map<std::string, int64_t>& counts) {
  return absl::StrCat("{",
                      absl::StrJoin(counts, ", ",
                                    [](std::string* out, const auto& entry) {
                                      absl::StrAppend(out,
                                                      JsonString(entry.first),
                                                      ": ", entry.second);
                                    }),
                      "}");
}

std::string TableCounts(const std::map<std::string, int64_t>& counts) {
  if (counts.empty()) return "-";
  return absl::StrJoin(counts, "  ", [](std::string* out, const auto& entry) {
    absl::StrAppend(out, entry.first, " ", entry.second);
  });
}

}  // namespace

std::string FormatTable(const Result& r) {
  std::string out = absl::StrFormat(
      "scenario     %s on %s, concurrency %d, %d channel(s)%s\n", r.scenario,
      r.target, r.concurrency, r.channels,
      r.subscribers > 0 ? absl::StrCat(", ", r.subscribers, " subscribers")
                        : "");
  absl::StrAppendFormat(&out, "completed    %d of %d in %.2f s%s\n",
                        r.completed(), r.requested,
                        absl::ToDoubleSeconds(r.elapsed),
                        r.hit_time_cap ? " (stopped by the time cap)" : "");
  absl::StrAppendFormat(&out, "throughput   %.0f/s\n", r.Throughput());
  absl::StrAppendFormat(
      &out,
      "latency ms   p50 %.3f  p99 %.3f  p99.9 %.3f  max %.3f  mean %.3f\n",
      r.QuantileMs(0.5), r.QuantileMs(0.99), r.QuantileMs(0.999),
      r.QuantileMs(1), r.MeanMs());
  absl::StrAppend(&out, "status       ", TableCounts(r.status_counts), "\n");
  absl::StrAppend(&out, "verdict      ", TableCounts(r.verdict_counts), "\n");
  absl::StrAppend(&out, "calls        ", TableCounts(r.method_counts), "\n");
  if (!r.first_error.empty()) {
    absl::StrAppend(&out, "first error  ", r.first_error, "\n");
  }
  return out;
}

std::string FormatJson(const Result& r) {
  return absl::StrCat(
      "{\"scenario\": ", JsonString(r.scenario),
      ", \"target\": ", JsonString(r.target),
      ", \"concurrency\": ", r.concurrency, ", \"channels\": ", r.channels,
      ", \"subscribers\": ", r.subscribers, ", \"requested\": ", r.requested,
      ", \"completed\": ", r.completed(),
      absl::StrFormat(", \"elapsed_s\": %.6f",
                      absl::ToDoubleSeconds(r.elapsed)),
      ", \"hit_time_cap\": ", r.hit_time_cap ? "true" : "false",
      absl::StrFormat(", \"throughput\": %.3f", r.Throughput()),
      absl::StrFormat(", \"latency_ms\": {\"p50\": %.6f, \"p99\": %.6f, "
                      "\"p999\": %.6f, \"max\": %.6f, \"mean\": %.6f}",
                      r.QuantileMs(0.5), r.QuantileMs(0.99),
                      r.QuantileMs(0.999), r.QuantileMs(1), r.MeanMs()),
      ", \"status\": ", JsonCounts(r.status_counts),
      ", \"verdict\": ", JsonCounts(r.verdict_counts),
      ", \"method\": ", JsonCounts(r.method_counts),
      ", \"first_error\": ", JsonString(r.first_error), "}\n");
}

}  // namespace sigil::bench
