#ifndef SIGIL_BENCH_LOAD_REPORT_H_
#define SIGIL_BENCH_LOAD_REPORT_H_

#include <string>

#include "bench/load/result.h"

namespace sigil::bench {

// A few aligned lines for a person at a terminal.
std::string FormatTable(const Result& result);

// One JSON object (the fields bench/ scripts and tests read):
// scenario, target, concurrency, channels, subscribers, requested,
// completed, elapsed_s, hit_time_cap, throughput, latency_ms {p50, p99,
// p999, max, mean}, status {CODE: n}, verdict {REASON: n}, method
// {name: n}, first_error.
std::string FormatJson(const Result& result);

}  // namespace sigil::bench

#endif  // SIGIL_BENCH_LOAD_REPORT_H_
