#include "server/store/etcd/etcd_client.h"

#include <grpc/grpc.h>

#include <algorithm>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "wire/status.h"
#include "wire/tls.h"

namespace sigil::server::store::etcd {
namespace {

using etcdserverpb::WatchRequest;
using etcdserverpb::WatchResponse;

// Makes a member without a leader refuse a request at once ("etcdserver: no
// leader") instead of queueing it until a leader appears, and cancel a
// watch stream once it has had no leader for three election timeouts: a
// watch must never go silent on a partitioned member.
constexpr char kRequireLeaderKey[] = "hasleader";
constexpr char kRequireLeaderValue[] = "true";

// etcd's refusals made before a request is proposed to raft: such an
// attempt cannot have been applied, so even an at-most-once write may be
// sent to another member.
bool RefusedBeforeProposal(const grpc::Status& status) {
  if (status.error_code() != grpc::StatusCode::UNAVAILABLE) return false;
  const std::string& message = status.error_message();
  return message == "etcdserver: no leader" ||
         message == "etcdserver: not capable" ||
         message == "etcdserver: rpc not supported for learner";
}

// A failure of the member or of the way to it rather than an answer about
// the request: another member may do better.
bool MemberFailed(const grpc::Status& status) {
  return status.error_code() == grpc::StatusCode::UNAVAILABLE ||
         status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED;
}

grpc::ChannelArguments ChannelArgs(const EtcdClientOptions& options) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(options.max_receive_bytes);
  // Each client its own connections: another client's reconnect backoff
  // to the same member must not hold this one back.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  // A restarted member is used again within a second, not after gRPC's
  // default backoff of up to two minutes. (GRPC_ARG_MIN_RECONNECT_BACKOFF_MS
  // is left alone: it is the time a connection attempt gets, and a short
  // one fails handshakes on a busy machine.)
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  // In gRPC 1.51 a channel whose address failed reconnects only after the
  // resolver runs again, at most every 30 s by default: without this a
  // member that was down when the channel first tried stays unreachable
  // for up to 30 s after it is back.
  args.SetInt(GRPC_ARG_DNS_MIN_TIME_BETWEEN_RESOLUTIONS_MS, 100);
  return args;
}

}  // namespace

std::string PrefixEnd(const std::string& prefix) {
  std::string end = prefix;
  while (!end.empty()) {
    unsigned char last = static_cast<unsigned char>(end.back());
    if (last < 0xff) {
      end.back() = static_cast<char>(last + 1);
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');
}

// ---------------------------------------------------------------------------
// EtcdWatch

// Two threads: the runner opens a stream, reads it and delivers; the
// monitor sends progress requests and cancels a stream that has gone
// silent, which is what ends the runner's blocking Read on a member that
// stopped answering.
class EtcdWatch::Impl {
 public:
  struct Target {
    std::string endpoint;
    etcdserverpb::Watch::Stub* stub;
  };

  Impl(std::vector<Target> targets, size_t first, WatchOptions options,
       OnBatch on_batch, OnEnd on_end)
      : targets_(std::move(targets)),
        options_(std::move(options)),
        on_batch_(std::move(on_batch)),
        on_end_(std::move(on_end)),
        next_index_(first),
        next_revision_(options_.start_revision) {
    if (options_.range_end.empty()) {
      options_.range_end = PrefixEnd(options_.key);
    }
  }

  ~Impl() { Stop(); }

  void Start() {
    runner_ = std::thread([this] { Run(); });
    monitor_ = std::thread([this] { Monitor(); });
  }

  void Stop() {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
      if (context_ != nullptr) context_->TryCancel();
    }
    if (runner_.joinable()) runner_.join();
    if (monitor_.joinable()) monitor_.join();
  }

  int64_t next_revision() const { return next_revision_.load(); }
  int streams_opened() const { return streams_opened_.load(); }

 private:
  using Stream = grpc::ClientReaderWriter<WatchRequest, WatchResponse>;

  // What one stream came to.
  enum class Outcome { kFailed, kEnded, kStopped };

  void Run() {
    absl::Duration pause = absl::Milliseconds(50);
    int failures_in_a_row = 0;
    while (true) {
      bool created = false;
      WatchEnd end;
      const absl::Time opened = absl::Now();
      const int64_t resume_from = next_revision_.load();
      const Outcome outcome = RunStream(next_index_, &created, &end);
      if (outcome == Outcome::kStopped) return;
      if (outcome == Outcome::kEnded) {
        on_end_(end);
        return;
      }
      // The stream broke or went silent: the next member, resuming where
      // the delivered events end.
      next_index_ = (next_index_ + 1) % targets_.size();
      // A stream that was of use (it moved the watch on, or served a
      // while) starts the backoff afresh; one that a member accepts and
      // then always fails (a response it cannot take) does not.
      if (created && (next_revision_.load() != resume_from ||
                      absl::Now() - opened > options_.silence_timeout)) {
        failures_in_a_row = 0;
        pause = absl::Milliseconds(50);
      }
      ++failures_in_a_row;
      // Once every member has failed in turn, wait before the next round
      // (an election, a restart), so a dead cluster is not spun on.
      if (failures_in_a_row % targets_.size() == 0) {
        absl::MutexLock lock(&mu_);
        if (mu_.AwaitWithTimeout(absl::Condition(&stopping_), pause)) return;
        pause = std::min(pause * 2, absl::Seconds(1));
      }
    }
  }

  Outcome RunStream(size_t index, bool* created, WatchEnd* end) {
    grpc::ClientContext context;
    context.AddMetadata(kRequireLeaderKey, kRequireLeaderValue);
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return Outcome::kStopped;
      // Published before the first write: a member that never answers is
      // cancelled by the monitor even while the create request hangs.
      context_ = &context;
      last_heard_ = absl::Now();
    }
    streams_opened_.fetch_add(1);
    std::unique_ptr<Stream> stream = targets_[index].stub->Watch(&context);
    WatchRequest create;
    etcdserverpb::WatchCreateRequest* request = create.mutable_create_request();
    request->set_key(options_.key);
    request->set_range_end(options_.range_end);
    request->set_start_revision(next_revision_.load());
    request->set_progress_notify(true);
    // A response over etcd's request limit (1.5 MiB by default) comes in
    // pieces that each fit a client's receive limit; without this a
    // catch-up batch over the limit would fail the stream on every retry.
    request->set_fragment(true);
    Outcome outcome = Outcome::kFailed;
    if (stream->Write(create)) {
      {
        absl::MutexLock lock(&mu_);
        stream_ = stream.get();
      }
      outcome = ReadStream(*stream, index, created, end);
    }
    // Unpublish, then end the call: after this the monitor neither writes
    // to the stream nor cancels the context, both about to go away.
    context.TryCancel();
    {
      absl::MutexLock lock(&mu_);
      context_ = nullptr;
      stream_ = nullptr;
      if (stopping_) outcome = Outcome::kStopped;
    }
    stream->Finish().IgnoreError();
    return outcome;
  }

  Outcome ReadStream(Stream& stream, size_t index, bool* created,
                     WatchEnd* end) {
    WatchResponse response;
    // The fragments of one response read so far: delivered together, as
    // the one response they are, once the last arrives.
    WatchResponse pieces;
    while (stream.Read(&response)) {
      {
        absl::MutexLock lock(&mu_);
        last_heard_ = absl::Now();
        if (stopping_) return Outcome::kStopped;
      }
      if (response.canceled()) {
        end->compact_revision = response.compact_revision();
        end->status =
            response.compact_revision() > 0
                ? absl::OutOfRangeError(absl::StrCat(
                      "etcd watch: revision ", next_revision_.load(),
                      " is compacted; the oldest held is ",
                      response.compact_revision()))
                : absl::FailedPreconditionError(absl::StrCat(
                      "etcd watch canceled by ", targets_[index].endpoint, ": ",
                      response.cancel_reason()));
        return Outcome::kEnded;
      }
      if (response.created()) {
        *created = true;
        // "From now on" becomes a revision at once, so that a resume
        // elsewhere misses nothing written after the watch began.
        if (next_revision_.load() == 0) {
          next_revision_.store(response.header().revision() + 1);
        }
        continue;
      }
      // The answer to a progress request: in 3.4 its revision is the
      // store's, not necessarily this watch's, so it only shows liveness.
      if (response.watch_id() == -1) continue;
      if (response.fragment()) {
        for (mvccpb::Event& event : *response.mutable_events()) {
          *pieces.add_events() = std::move(event);
        }
        continue;
      }
      if (pieces.events_size() > 0) {
        for (mvccpb::Event& event : *response.mutable_events()) {
          *pieces.add_events() = std::move(event);
        }
        response.mutable_events()->Swap(pieces.mutable_events());
        pieces.Clear();
      }
      Deliver(response);
    }
    return Outcome::kFailed;
  }

  void Deliver(const WatchResponse& response) {
    const int64_t next = next_revision_.load();
    WatchBatch batch;
    if (response.events().empty()) {
      // A progress notification of this watch: the member sends it only
      // while the watch is caught up, so every event at or below its
      // revision has been sent before it.
      if (response.header().revision() < next) return;
      batch.revision = response.header().revision();
    } else {
      // A revision's events always arrive in one response, so a resume
      // from next_revision_ neither repeats nor skips any; an event below
      // it would be a repeat and is dropped.
      for (const mvccpb::Event& event : response.events()) {
        if (event.kv().mod_revision() >= next) batch.events.push_back(event);
      }
      if (batch.events.empty()) return;
      batch.revision = batch.events.back().kv().mod_revision();
    }
    next_revision_.store(batch.revision + 1);
    on_batch_(std::move(batch));
  }

  void Monitor() {
    WatchRequest progress;
    progress.mutable_progress_request();
    absl::MutexLock lock(&mu_);
    while (!mu_.AwaitWithTimeout(absl::Condition(&stopping_),
                                 options_.progress_interval)) {
      if (context_ == nullptr) continue;
      if (absl::Now() - last_heard_ > options_.silence_timeout) {
        context_->TryCancel();
        continue;
      }
      // Written under the lock: a write blocks only once the member has
      // left tens of kilobytes of these unread, minutes after the silence
      // timeout has cancelled the stream.
      if (stream_ != nullptr) stream_->Write(progress);
    }
  }

  const std::vector<Target> targets_;
  WatchOptions options_;
  const OnBatch on_batch_;
  const OnEnd on_end_;
  // Runner thread only.
  size_t next_index_;
  std::atomic<int64_t> next_revision_;
  std::atomic<int> streams_opened_{0};

  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  grpc::ClientContext* context_ ABSL_GUARDED_BY(mu_) = nullptr;
  Stream* stream_ ABSL_GUARDED_BY(mu_) = nullptr;
  absl::Time last_heard_ ABSL_GUARDED_BY(mu_);

  std::thread runner_;
  std::thread monitor_;
};

EtcdWatch::EtcdWatch(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

EtcdWatch::~EtcdWatch() { impl_->Stop(); }

int64_t EtcdWatch::next_revision() const { return impl_->next_revision(); }

int EtcdWatch::streams_opened() const { return impl_->streams_opened(); }

// ---------------------------------------------------------------------------
// EtcdClient

absl::StatusOr<std::unique_ptr<EtcdClient>> EtcdClient::Create(
    EtcdClientOptions options) {
  if (options.endpoints.empty()) {
    return absl::InvalidArgumentError("etcd client: no endpoints");
  }
  wire::TlsFiles tls;
  tls.cert = options.cert_file;
  tls.key = options.key_file;
  tls.ca = options.ca_file;
  auto credentials = wire::ChannelCredentialsFor(tls);
  if (!credentials.ok()) return credentials.status();
  const grpc::ChannelArguments args = ChannelArgs(options);
  std::unique_ptr<EtcdClient> client(new EtcdClient(std::move(options)));
  for (const std::string& endpoint : client->options_.endpoints) {
    Member member;
    member.endpoint = endpoint;
    member.channel = grpc::CreateCustomChannel(endpoint, *credentials, args);
    member.kv = etcdserverpb::KV::NewStub(member.channel);
    member.lease = etcdserverpb::Lease::NewStub(member.channel);
    member.watch = etcdserverpb::Watch::NewStub(member.channel);
    member.maintenance = etcdserverpb::Maintenance::NewStub(member.channel);
    client->members_.push_back(std::move(member));
  }
  return client;
}

EtcdClient::EtcdClient(EtcdClientOptions options)
    : options_(std::move(options)) {}

EtcdClient::~EtcdClient() = default;

absl::Time EtcdClient::DeadlineOf(Deadline deadline) const {
  return deadline.has_value() ? *deadline : absl::Now() + options_.call_timeout;
}

absl::Status EtcdClient::Call(const char* method, Idempotence idempotence,
                              Deadline deadline_or, const Attempt& attempt) {
  const absl::Time deadline = DeadlineOf(deadline_or);
  const size_t count = members_.size();
  size_t index = preferred_.load() % count;
  absl::Duration pause = absl::Milliseconds(20);
  grpc::Status last;
  std::string last_endpoint;
  int attempts = 0;
  while (true) {
    Member& member = members_[index];
    // A member whose channel is failing is passed over without an attempt
    // while another remains to try in this round.
    const bool failing =
        member.channel->GetState(true) == GRPC_CHANNEL_TRANSIENT_FAILURE;
    if (!failing || attempts % count == count - 1) {
      grpc::ClientContext context;
      context.set_deadline(absl::ToChronoTime(
          std::min(deadline, absl::Now() + options_.attempt_timeout)));
      context.AddMetadata(kRequireLeaderKey, kRequireLeaderValue);
      last = attempt(member, context);
      last_endpoint = member.endpoint;
      if (last.ok()) {
        preferred_.store(index);
        return absl::OkStatus();
      }
      if (!MemberFailed(last)) return wire::FromGrpcStatus(last);
      // The next call starts elsewhere.
      size_t expected = index;
      preferred_.compare_exchange_strong(expected, (index + 1) % count);
      if (idempotence == Idempotence::kAtMostOnce &&
          !RefusedBeforeProposal(last)) {
        return absl::UnavailableError(
            absl::StrCat("etcd ", method, " on ", member.endpoint,
                         " failed and may or may not have been applied: ",
                         last.error_message()));
      }
    }
    ++attempts;
    index = (index + 1) % count;
    if (absl::Now() >= deadline) break;
    if (attempts % count == 0) {
      // Every member has failed in this round: an election or restart is
      // under way. Wait a little, within the deadline.
      absl::SleepFor(std::min(pause, deadline - absl::Now()));
      pause = std::min(pause * 2, absl::Milliseconds(200));
      if (absl::Now() >= deadline) break;
    }
  }
  return absl::UnavailableError(
      absl::StrCat("etcd ", method, ": no member answered in time (", attempts,
                   " attempts over ", count, " members); last from ",
                   last_endpoint, ": ", last.error_message()));
}

absl::StatusOr<etcdserverpb::RangeResponse> EtcdClient::Range(
    const etcdserverpb::RangeRequest& request, Deadline deadline) {
  etcdserverpb::RangeResponse response;
  absl::Status status =
      Call("Range", Idempotence::kRetryable, deadline,
           [&](Member& member, grpc::ClientContext& context) {
             response.Clear();
             return member.kv->Range(&context, request, &response);
           });
  if (!status.ok()) return status;
  return response;
}

absl::StatusOr<etcdserverpb::PutResponse> EtcdClient::Put(
    const etcdserverpb::PutRequest& request, Retry retry, Deadline deadline) {
  etcdserverpb::PutResponse response;
  absl::Status status =
      Call("Put",
           retry == Retry::kIdempotent ? Idempotence::kRetryable
                                       : Idempotence::kAtMostOnce,
           deadline, [&](Member& member, grpc::ClientContext& context) {
             response.Clear();
             return member.kv->Put(&context, request, &response);
           });
  if (!status.ok()) return status;
  return response;
}

absl::StatusOr<etcdserverpb::DeleteRangeResponse> EtcdClient::DeleteRange(
    const etcdserverpb::DeleteRangeRequest& request, Retry retry,
    Deadline deadline) {
  etcdserverpb::DeleteRangeResponse response;
  absl::Status status =
      Call("DeleteRange",
           retry == Retry::kIdempotent ? Idempotence::kRetryable
                                       : Idempotence::kAtMostOnce,
           deadline, [&](Member& member, grpc::ClientContext& context) {
             response.Clear();
             return member.kv->DeleteRange(&context, request, &response);
           });
  if (!status.ok()) return status;
  return response;
}

absl::StatusOr<etcdserverpb::TxnResponse> EtcdClient::Txn(
    const etcdserverpb::TxnRequest& request, Retry retry, Deadline deadline) {
  etcdserverpb::TxnResponse response;
  absl::Status status =
      Call("Txn",
           retry == Retry::kIdempotent ? Idempotence::kRetryable
                                       : Idempotence::kAtMostOnce,
           deadline, [&](Member& member, grpc::ClientContext& context) {
             response.Clear();
             return member.kv->Txn(&context, request, &response);
           });
  if (!status.ok()) return status;
  return response;
}

absl::StatusOr<etcdserverpb::CompactionResponse> EtcdClient::Compact(
    int64_t revision, bool physical, Deadline deadline) {
  etcdserverpb::CompactionRequest request;
  request.set_revision(revision);
  request.set_physical(physical);
  etcdserverpb::CompactionResponse response;
  absl::Status status =
      Call("Compact", Idempotence::kRetryable, deadline,
           [&](Member& member, grpc::ClientContext& context) {
             response.Clear();
             return member.kv->Compact(&context, request, &response);
           });
  if (!status.ok()) return status;
  return response;
}

absl::StatusOr<int64_t> EtcdClient::ScanPrefix(const std::string& prefix,
                                               int64_t page_size,
                                               const PageCallback& on_page,
                                               int64_t revision,
                                               Deadline deadline) {
  if (page_size <= 0) {
    return absl::InvalidArgumentError("etcd ScanPrefix: page_size must be > 0");
  }
  etcdserverpb::RangeRequest request;
  request.set_key(prefix);
  request.set_range_end(PrefixEnd(prefix));
  request.set_limit(page_size);
  request.set_revision(revision);
  while (true) {
    absl::StatusOr<etcdserverpb::RangeResponse> page = Range(request, deadline);
    if (!page.ok()) return page.status();
    // Every later page reads the first one's revision: one snapshot.
    if (request.revision() == 0) {
      request.set_revision(page->header().revision());
    }
    absl::Status accepted = on_page(page->kvs());
    if (!accepted.ok()) return accepted;
    if (!page->more() || page->kvs().empty()) break;
    // The next page starts right after the last key read.
    request.set_key(page->kvs().rbegin()->key() + std::string(1, '\0'));
  }
  return request.revision();
}

absl::StatusOr<etcdserverpb::LeaseGrantResponse> EtcdClient::LeaseGrant(
    int64_t ttl_seconds, Deadline deadline) {
  etcdserverpb::LeaseGrantRequest request;
  request.set_ttl(ttl_seconds);
  etcdserverpb::LeaseGrantResponse response;
  absl::Status status =
      Call("LeaseGrant", Idempotence::kRetryable, deadline,
           [&](Member& member, grpc::ClientContext& context) {
             response.Clear();
             return member.lease->LeaseGrant(&context, request, &response);
           });
  if (!status.ok()) return status;
  if (!response.error().empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("etcd LeaseGrant: ", response.error()));
  }
  return response;
}

absl::StatusOr<int64_t> EtcdClient::LeaseKeepAliveOnce(int64_t lease_id,
                                                       Deadline deadline) {
  etcdserverpb::LeaseKeepAliveRequest request;
  request.set_id(lease_id);
  etcdserverpb::LeaseKeepAliveResponse response;
  absl::Status status = Call(
      "LeaseKeepAlive", Idempotence::kRetryable, deadline,
      [&](Member& member, grpc::ClientContext& context) {
        response.Clear();
        auto stream = member.lease->LeaseKeepAlive(&context);
        if (stream->Write(request) && stream->WritesDone() &&
            stream->Read(&response)) {
          // The one answer wanted: the call ends here, not when the member
          // closes its side.
          context.TryCancel();
          stream->Finish().IgnoreError();
          return grpc::Status::OK;
        }
        grpc::Status finished = stream->Finish();
        if (finished.ok()) {
          return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                              "keep-alive stream closed without an answer");
        }
        return finished;
      });
  if (!status.ok()) return status;
  if (response.ttl() <= 0) {
    return absl::NotFoundError(
        absl::StrCat("etcd lease ", lease_id, " has expired or was revoked"));
  }
  return response.ttl();
}

absl::Status EtcdClient::LeaseRevoke(int64_t lease_id, Deadline deadline) {
  etcdserverpb::LeaseRevokeRequest request;
  request.set_id(lease_id);
  etcdserverpb::LeaseRevokeResponse response;
  return Call("LeaseRevoke", Idempotence::kRetryable, deadline,
              [&](Member& member, grpc::ClientContext& context) {
                return member.lease->LeaseRevoke(&context, request, &response);
              });
}

absl::StatusOr<etcdserverpb::LeaseTimeToLiveResponse>
EtcdClient::LeaseTimeToLive(int64_t lease_id, bool keys, Deadline deadline) {
  etcdserverpb::LeaseTimeToLiveRequest request;
  request.set_id(lease_id);
  request.set_keys(keys);
  etcdserverpb::LeaseTimeToLiveResponse response;
  absl::Status status =
      Call("LeaseTimeToLive", Idempotence::kRetryable, deadline,
           [&](Member& member, grpc::ClientContext& context) {
             response.Clear();
             return member.lease->LeaseTimeToLive(&context, request, &response);
           });
  if (!status.ok()) return status;
  return response;
}

absl::StatusOr<etcdserverpb::StatusResponse> EtcdClient::MemberStatus(
    size_t index, Deadline deadline) {
  if (index >= members_.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("etcd MemberStatus: no endpoint ", index));
  }
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(DeadlineOf(deadline)));
  etcdserverpb::StatusResponse response;
  grpc::Status status = members_[index].maintenance->Status(
      &context, etcdserverpb::StatusRequest(), &response);
  if (!status.ok()) return wire::FromGrpcStatus(status);
  return response;
}

absl::StatusOr<std::unique_ptr<EtcdWatch>> EtcdClient::Watch(
    WatchOptions options, EtcdWatch::OnBatch on_batch,
    EtcdWatch::OnEnd on_end) {
  if (options.key.empty()) {
    return absl::InvalidArgumentError("etcd Watch: empty key");
  }
  std::vector<EtcdWatch::Impl::Target> targets;
  for (Member& member : members_) {
    targets.push_back({member.endpoint, member.watch.get()});
  }
  auto impl = std::make_unique<EtcdWatch::Impl>(
      std::move(targets), preferred_.load() % members_.size(),
      std::move(options), std::move(on_batch), std::move(on_end));
  impl->Start();
  return std::unique_ptr<EtcdWatch>(new EtcdWatch(std::move(impl)));
}

}  // namespace sigil::server::store::etcd
