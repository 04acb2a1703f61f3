#include "client/revocation_watcher.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "wire/revocation_event.h"

namespace sigil::client {
namespace {

constexpr absl::Duration kMinBackoff = absl::Milliseconds(50);
// About one heartbeat: waiting longer only leaves a client stale after its
// authority is back. A failing attempt is cheap: a channel that cannot
// connect fails the call at once, without a round trip.
constexpr absl::Duration kMaxBackoff = absl::Milliseconds(250);

int64_t SteadyNowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

RevocationWatcher::RevocationWatcher(
    std::vector<sigil::v1::Identity::StubInterface*> stubs,
    const token::Clock* clock, KeySetVersionCallback on_key_set_version,
    Options options)
    : stubs_(std::move(stubs)),
      clock_(clock),
      on_key_set_version_(std::move(on_key_set_version)),
      options_(options),
      last_prune_(clock->MonotonicNow()) {}

void RevocationWatcher::Start() {
  thread_ = std::thread([this] { Run(); });
  watchdog_ = std::thread([this] { WatchdogLoop(); });
}

RevocationWatcher::~RevocationWatcher() {
  stopping_.Notify();
  {
    absl::MutexLock lock(&mu_);
    if (context_ != nullptr) context_->TryCancel();
  }
  if (thread_.joinable()) thread_.join();
  if (watchdog_.joinable()) watchdog_.join();
}

void RevocationWatcher::SetAppliedSeq(uint64_t seq) {
  absl::MutexLock lock(&seq_mu_);
  applied_seq_.store(seq);
}

bool RevocationWatcher::WaitForSeq(uint64_t seq, absl::Time deadline) {
  std::pair<const RevocationWatcher*, uint64_t> arg(this, seq);
  absl::MutexLock lock(&seq_mu_);
  return seq_mu_.AwaitWithDeadline(absl::Condition(&SeqReached, &arg),
                                   deadline);
}

void RevocationWatcher::WatchdogLoop() {
  const int64_t silence_ns = absl::ToInt64Nanoseconds(options_.silence_timeout);
  const absl::Duration tick =
      std::max(options_.silence_timeout / 8, absl::Milliseconds(10));
  while (!stopping_.WaitForNotificationWithTimeout(tick)) {
    absl::MutexLock lock(&mu_);
    if (context_ != nullptr &&
        SteadyNowNs() - last_heard_ns_.load() > silence_ns) {
      // A stopped, hung or cut-off peer: its connection may look alive for
      // minutes. The stream ends and Run goes to the next address.
      context_->TryCancel();
      // Once per silence, not at every tick until the stream unwinds.
      last_heard_ns_.store(SteadyNowNs());
    }
  }
}

bool RevocationWatcher::IsCurrent(absl::Duration max_staleness) const {
  const int64_t at = current_at_us_.load();
  return at != 0 &&
         clock_->MonotonicNow() - absl::Microseconds(at) <= max_staleness;
}

std::optional<absl::Duration> RevocationWatcher::last_proof() const {
  const int64_t at = last_proof_us_.load();
  if (at == 0) return std::nullopt;
  return absl::Microseconds(at);
}

uint64_t RevocationWatcher::NextProbe() const {
  const int64_t us = absl::ToInt64Microseconds(clock_->MonotonicNow());
  return static_cast<uint64_t>(std::max<int64_t>(us, 1));
}

void RevocationWatcher::MaybePrune() {
  const absl::Duration now = clock_->MonotonicNow();
  if (now - last_prune_ < options_.prune_interval) return;
  last_prune_ = now;
  index_.Prune(clock_->Now() - options_.prune_margin);
}

void RevocationWatcher::Run() {
  absl::Duration backoff = kMinBackoff;
  size_t at = 0;
  // Streams that ended without delivering anything since the last that
  // did.
  size_t failed = 0;
  while (!stopping_.HasBeenNotified()) {
    grpc::ClientContext context;
    {
      absl::MutexLock lock(&mu_);
      if (stopping_.HasBeenNotified()) break;
      last_heard_ns_.store(SteadyNowNs());
      context_ = &context;
    }
    if (Follow(at, context)) {
      backoff = kMinBackoff;
      failed = 0;
    } else {
      ++failed;
    }
    {
      absl::MutexLock lock(&mu_);
      context_ = nullptr;
    }
    // Another address at once: the one just followed broke, and every
    // address of the authority counts the same seqs. Wait only once all of
    // them failed in a row (or there is just one).
    at = (at + 1) % stubs_.size();
    if (failed == 0 || failed % stubs_.size() != 0) continue;
    stopping_.WaitForNotificationWithTimeout(backoff);
    backoff = std::min(backoff * 2, kMaxBackoff);
  }
}

bool RevocationWatcher::Follow(size_t at, grpc::ClientContext& context) {
  auto stream = stubs_[at]->WatchRevocations(&context);
  sigil::v1::WatchRevocationsRequest request;
  request.set_after_seq(applied_seq_.load());
  request.set_store_id(store_id_);
  // The highest probe sent on this stream: an echo above it is not ours.
  uint64_t probe = NextProbe();
  request.set_probe(probe);
  // When to probe is scheduled on the real steady clock (so a test's fake
  // clock need not move for probes to flow); what a probe proves is read
  // on clock_.
  auto probed = std::chrono::steady_clock::now();
  const auto probe_every = absl::ToChronoNanoseconds(options_.probe_interval);
  if (!stream->Write(request)) {
    stream->Finish().IgnoreError();
    return false;
  }
  sigil::v1::WatchRevocationsResponse response;
  // Set while a reset is caught up: the authority's state is built here,
  // and the index keeps the old (stricter or equal) state until then.
  std::unique_ptr<token::RevocationIndex> rebuilding;
  std::string store_id;
  // The latest probe echoed on this stream; 0 before the first.
  uint64_t echo = 0;
  bool heard = false;
  while (stream->Read(&response)) {
    heard = true;
    last_heard_ns_.store(SteadyNowNs());
    if (!response.store_id().empty()) store_id = response.store_id();
    if (response.reset()) {
      current_at_us_.store(0);
      rebuilding = std::make_unique<token::RevocationIndex>();
    }
    token::RevocationIndex& target = rebuilding ? *rebuilding : index_;
    for (const sigil::v1::RevocationEvent& event : response.events()) {
      // An event of an unknown scope cannot be applied safely; the watcher
      // stops proving currency until a stream without it.
      auto revocation = wire::FromEvent(event);
      if (!revocation.has_value()) {
        current_at_us_.store(0);
        context.TryCancel();
        stream->Finish().IgnoreError();
        return false;
      }
      target.Apply(*revocation);
      events_applied_.fetch_add(1, std::memory_order_relaxed);
    }
    if (response.probe_echo() != 0 && response.probe_echo() <= probe) {
      echo = std::max(echo, response.probe_echo());
    }
    // A key set still being fetched holds the proof back: the keys are part
    // of what the stream says is current.
    const bool keys_held = !on_key_set_version_ ||
                           response.key_set_version().empty() ||
                           on_key_set_version_(response.key_set_version());
    if (!response.more()) {
      if (rebuilding) {
        index_.Swap(*rebuilding);
        rebuilding.reset();
      }
      // Only now does the seq count in this stream's store: a stream broken
      // during a reset resumes from the old seq and is reset again.
      store_id_ = store_id;
      SetAppliedSeq(response.current_seq());
      address_.store(at);
      // Security: the proof is the SEND time of an echoed probe, on the
      // monotonic clock, never the time this message arrived. A delaying
      // path delays the echo too, so the proof ages with the delay; a
      // message without a new echo (a heartbeat, or old messages read from
      // a backlog) proves nothing new.
      if (echo != 0 && keys_held) {
        current_at_us_.store(static_cast<int64_t>(echo));
        last_proof_us_.store(static_cast<int64_t>(echo));
      }
    }
    MaybePrune();
    const auto now = std::chrono::steady_clock::now();
    if (now - probed >= probe_every) {
      probed = now;
      probe = std::max(probe, NextProbe());
      request.Clear();
      request.set_probe(probe);
      // A failed write means the stream is ending: the next Read says so.
      stream->Write(request);
    }
  }
  stream->Finish().IgnoreError();
  return heard;
}

}  // namespace sigil::client
