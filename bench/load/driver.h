#ifndef SIGIL_BENCH_LOAD_DRIVER_H_
#define SIGIL_BENCH_LOAD_DRIVER_H_

#include <cstdint>

#include "absl/time/time.h"
#include "bench/load/result.h"
#include "bench/load/scenario.h"

namespace sigil::bench {

struct DriveOptions {
  // Requests kept in flight (one per slot).
  int concurrency = 16;
  // Requests in all; the run ends at this count or at max_time, whichever
  // comes first (calls in flight at the cap still finish and count).
  int64_t count = 10000;
  absl::Duration max_time = absl::Seconds(60);
};

// Runs `scenario` (already prepared for opts.concurrency slots): latencies
// and counts of every finished call go into `result`; elapsed and
// hit_time_cap are set. Blocks until the last call finished.
void Drive(Scenario& scenario, const DriveOptions& opts, Result& result);

}  // namespace sigil::bench

#endif  // SIGIL_BENCH_LOAD_DRIVER_H_
