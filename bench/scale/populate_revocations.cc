// populate_revocations: fills a sigild data dir with live revocations for
// the scale benchmarks (bench/scale.sh). Logging out millions of times
// through sigild's RPCs would take hours (each append is synced), so this
// opens the store directly, unsynced (RocksStore::Options::sync = false,
// for bulk loading only), and appends through Store::AppendRevocation: seqs,
// the event log and the tick floor stay exactly what sigild writes, and the
// dir is one sigild opens normally. Must not run while a sigild holds the
// dir (the store's lock refuses it).
//
// Every --subject_every-th revocation is a logout of subject
// "scale-user-N" (from system "A", or everywhere); the others revoke one
// random token id each. All expire --ttl from now.

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "server/random_id.h"
#include "server/store/rocks_store.h"
#include "token/clock.h"
#include "token/revocation_index.h"

ABSL_FLAG(std::string, data_dir, "", "The data dir to fill (created).");
ABSL_FLAG(int64_t, count, 1000, "Revocations to append.");
ABSL_FLAG(int64_t, subject_every, 100,
          "Every Nth revocation logs a subject out; 0 for none.");
ABSL_FLAG(absl::Duration, ttl, absl::Hours(24),
          "How long the revocations stay live.");
ABSL_FLAG(int64_t, batch, 1,
          "Revocations per AppendRevocations call (one write each): larger "
          "batches fill faster; the dir is the same.");
ABSL_FLAG(bool, compact, true,
          "Compact the store at the end, as a long-running sigild's would "
          "be, so sigild's start-up reads tables rather than replaying the "
          "WAL.");

namespace {

using sigil::server::store::RocksStore;
using sigil::token::Revocation;
using sigil::token::RevocationScope;

Revocation Make(int64_t i, int64_t subject_every, absl::Time now,
                absl::Duration ttl) {
  Revocation r;
  r.not_before_us = absl::ToUnixMicros(now);
  r.expires_at = now + ttl;
  if (subject_every > 0 && i % subject_every == subject_every - 1) {
    const int64_t n = i / subject_every;
    r.subject = absl::StrCat("scale-user-", n);
    // One in ten subject logouts is everywhere, the rest from system A.
    if (n % 10 == 0) {
      r.scope = RevocationScope::kSubject;
    } else {
      r.scope = RevocationScope::kSubjectSystem;
      r.system = "A";
    }
    return r;
  }
  r.scope = RevocationScope::kToken;
  r.token_id = sigil::server::RandomId();
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "populate_revocations --data_dir=DIR --count=N: appends N live "
      "revocations to a sigild data dir, unsynced, for benchmarks only");
  absl::ParseCommandLine(argc, argv);
  const std::string data_dir = absl::GetFlag(FLAGS_data_dir);
  const int64_t count = absl::GetFlag(FLAGS_count);
  const int64_t subject_every = absl::GetFlag(FLAGS_subject_every);
  const absl::Duration ttl = absl::GetFlag(FLAGS_ttl);
  if (data_dir.empty() || count < 0 || subject_every < 0 ||
      ttl <= absl::ZeroDuration()) {
    std::fprintf(stderr,
                 "need --data_dir, --count >= 0, --subject_every >= 0 and a "
                 "positive --ttl\n");
    return 2;
  }

  RocksStore::Options options;
  options.sync = false;
  auto store = RocksStore::Open(data_dir, &sigil::token::RealClock(), options);
  if (!store.ok()) {
    std::fprintf(stderr, "%s\n", store.status().ToString().c_str());
    return 1;
  }
  const int64_t batch = std::max<int64_t>(1, absl::GetFlag(FLAGS_batch));
  const absl::Time start = absl::Now();
  std::vector<Revocation> pending;
  for (int64_t i = 0; i < count; ++i) {
    pending.push_back(Make(i, subject_every, absl::Now(), ttl));
    if (static_cast<int64_t>(pending.size()) < batch && i + 1 < count) {
      continue;
    }
    auto appended = (*store)->AppendRevocations(pending);
    pending.clear();
    if (!appended.ok()) {
      std::fprintf(stderr, "%s\n", appended.status().ToString().c_str());
      return 1;
    }
    if ((i + 1) % 1000000 == 0) {
      std::fprintf(stderr, "%lld appended, %.0f s\n",
                   static_cast<long long>(i + 1),
                   absl::ToDoubleSeconds(absl::Now() - start));
    }
  }
  const absl::Duration appending = absl::Now() - start;
  if (absl::GetFlag(FLAGS_compact)) {
    absl::Status compacted = (*store)->CompactAll();
    if (!compacted.ok()) {
      std::fprintf(stderr, "%s\n", compacted.ToString().c_str());
      return 1;
    }
  }
  store->reset();  // syncs the WAL
  std::printf(
      "{\"count\": %lld, \"append_seconds\": %.3f, \"total_seconds\": %.3f}\n",
      static_cast<long long>(count), absl::ToDoubleSeconds(appending),
      absl::ToDoubleSeconds(absl::Now() - start));
  return 0;
}
