#ifndef SIGIL_BENCH_LOAD_SCENARIO_H_
#define SIGIL_BENCH_LOAD_SCENARIO_H_

#include <grpcpp/channel.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "bench/load/result.h"

namespace sigil::bench {

// One slot's calls: the driver keeps one request of each slot in flight.
// Start is never called again before the previous call's `done` ran, so a
// Call needs no lock of its own.
class Call {
 public:
  virtual ~Call() = default;
  // Starts the slot's next request; `done` runs once, on a gRPC thread.
  virtual void Start(std::function<void(const Outcome&)> done) = 0;
};

// A request pattern. Prepare (blocking) makes what the calls need, such
// as tokens; then the driver asks for each slot's Call. A slot keeps its
// Call (and its state, such as a refresh token chain) from one Drive to
// the next, so a warm-up run hands over to the measured one.
class Scenario {
 public:
  virtual ~Scenario() = default;
  virtual absl::Status Prepare(int slots) = 0;
  // Owned by the scenario; the same Call for the same slot.
  virtual Call& SlotCall(int slot) = 0;
};

struct ScenarioOptions {
  // The system tokens are issued for and verified at.
  std::string system = "A";
  // verify_distinct: how many different tokens the slots cycle through.
  int tokens = 1000;
};

// The unary scenarios by name: issue, verify, verify_distinct,
// verify_invalid, mix, logout, refresh, health. Slot i uses channels[i % size].
// INVALID_ARGUMENT for an unknown name (watch runs through RunWatch).
absl::StatusOr<std::unique_ptr<Scenario>> MakeScenario(
    const std::string& name,
    std::vector<std::shared_ptr<grpc::Channel>> channels,
    const ScenarioOptions& options);

// The names MakeScenario knows, plus watch, for --help and errors.
const std::vector<std::string>& ScenarioNames();

}  // namespace sigil::bench

#endif  // SIGIL_BENCH_LOAD_SCENARIO_H_
