#include "client/revocation_watcher.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "wire/revocation_event.h"

namespace sigil::client {
namespace {

constexpr absl::Duration kMinBackoff = absl::Milliseconds(50);
constexpr absl::Duration kMaxBackoff = absl::Seconds(1);

}  // namespace

RevocationWatcher::RevocationWatcher(sigil::v1::Identity::StubInterface* stub,
                                     const token::Clock* clock,
                                     KeySetVersionCallback on_key_set_version,
                                     Options options)
    : stub_(stub),
      clock_(clock),
      on_key_set_version_(std::move(on_key_set_version)),
      options_(options),
      last_prune_(clock->MonotonicNow()) {}

void RevocationWatcher::Start() {
  thread_ = std::thread([this] { Run(); });
}

RevocationWatcher::~RevocationWatcher() {
  stopping_.Notify();
  {
    absl::MutexLock lock(&mu_);
    if (context_ != nullptr) context_->TryCancel();
  }
  if (thread_.joinable()) thread_.join();
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
  while (!stopping_.HasBeenNotified()) {
    grpc::ClientContext context;
    {
      absl::MutexLock lock(&mu_);
      if (stopping_.HasBeenNotified()) break;
      context_ = &context;
    }
    if (Follow(context)) backoff = kMinBackoff;
    {
      absl::MutexLock lock(&mu_);
      context_ = nullptr;
    }
    stopping_.WaitForNotificationWithTimeout(backoff);
    backoff = std::min(backoff * 2, kMaxBackoff);
  }
}

bool RevocationWatcher::Follow(grpc::ClientContext& context) {
  auto stream = stub_->WatchRevocations(&context);
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
      applied_seq_.store(response.current_seq());
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
