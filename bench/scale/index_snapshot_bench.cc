// index_snapshot_bench: the cost of the revocation index snapshot
// (server/index_snapshot.h) without a store: builds an index of --count
// revocations shaped like populate_revocations' (one in --subject_every a
// subject logout, the rest single tokens with random ids), writes it as a
// snapshot to --path, and reads it back on 1 and on --threads threads.
// Prints one JSON object of seconds and bytes. For finding where start-up
// time goes (run it under perf); bench/scale.sh measures sigild itself.

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "server/index_snapshot.h"
#include "server/random_id.h"
#include "token/revocation_index.h"

ABSL_FLAG(int64_t, count, 1000000, "Revocations in the index.");
ABSL_FLAG(int64_t, subject_every, 100,
          "Every Nth revocation logs a subject out; 0 for none.");
ABSL_FLAG(std::string, path, "", "Where the snapshot is written (removed).");
ABSL_FLAG(int32_t, threads, 2, "Reader threads of the second read.");
ABSL_FLAG(bool, read_only, false,
          "Only read the snapshot already at --path (written by a run with "
          "--keep), on --threads threads: for profiling the load alone.");
ABSL_FLAG(bool, keep, false, "Leave the snapshot at --path.");

namespace {

using sigil::token::Revocation;
using sigil::token::RevocationIndex;
using sigil::token::RevocationScope;

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "index_snapshot_bench --count=N --path=FILE: times writing and reading "
      "a revocation index snapshot of N entries");
  absl::ParseCommandLine(argc, argv);
  const int64_t count = absl::GetFlag(FLAGS_count);
  const int64_t subject_every = absl::GetFlag(FLAGS_subject_every);
  const std::string path = absl::GetFlag(FLAGS_path);
  if (path.empty() || count < 0 || subject_every < 0) {
    std::fprintf(stderr, "need --path, --count >= 0, --subject_every >= 0\n");
    return 2;
  }
  const absl::Time now = absl::Now();
  if (absl::GetFlag(FLAGS_read_only)) {
    RevocationIndex loaded;
    const absl::Time start = absl::Now();
    auto read = sigil::server::ReadIndexSnapshot(
        path, "bench", UINT64_MAX, now, absl::GetFlag(FLAGS_threads), &loaded);
    if (!read.ok()) {
      std::fprintf(stderr, "%s\n", read.status().ToString().c_str());
      return 1;
    }
    std::printf("{\"entries\": %zu, \"read_seconds\": %.3f}\n", loaded.size(),
                absl::ToDoubleSeconds(absl::Now() - start));
    return 0;
  }
  std::vector<Revocation> revocations;
  revocations.reserve(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) {
    Revocation r;
    r.seq = static_cast<uint64_t>(i + 1);
    r.not_before_us = absl::ToUnixMicros(now);
    r.expires_at = now + absl::Hours(24);
    if (subject_every > 0 && i % subject_every == subject_every - 1) {
      const int64_t n = i / subject_every;
      r.subject = absl::StrCat("scale-user-", n);
      r.scope = n % 10 == 0 ? RevocationScope::kSubject
                            : RevocationScope::kSubjectSystem;
      if (r.scope == RevocationScope::kSubjectSystem) r.system = "A";
    } else {
      r.token_id = sigil::server::RandomId();
    }
    revocations.push_back(std::move(r));
  }

  absl::Time start = absl::Now();
  RevocationIndex index;
  for (size_t i = 0; i < revocations.size(); i += 4096) {
    const size_t n = std::min<size_t>(4096, revocations.size() - i);
    index.ApplyAll(absl::MakeConstSpan(revocations.data() + i, n));
  }
  const double apply_seconds = absl::ToDoubleSeconds(absl::Now() - start);
  revocations.clear();
  revocations.shrink_to_fit();

  start = absl::Now();
  auto written = sigil::server::WriteIndexSnapshot(index, "bench", now, path);
  const double write_seconds = absl::ToDoubleSeconds(absl::Now() - start);
  if (!written.ok()) {
    std::fprintf(stderr, "%s\n", written.status().ToString().c_str());
    return 1;
  }
  double read_seconds[2] = {0, 0};
  const int threads[2] = {1, absl::GetFlag(FLAGS_threads)};
  for (int i = 0; i < 2; ++i) {
    RevocationIndex loaded;
    start = absl::Now();
    auto read = sigil::server::ReadIndexSnapshot(path, "bench", written->seq,
                                                 now, threads[i], &loaded);
    read_seconds[i] = absl::ToDoubleSeconds(absl::Now() - start);
    if (!read.ok() || loaded.size() != index.size()) {
      std::fprintf(stderr, "read back: %s, %zu of %zu entries\n",
                   read.status().ToString().c_str(), loaded.size(),
                   index.size());
      return 1;
    }
  }
  if (!absl::GetFlag(FLAGS_keep)) unlink(path.c_str());
  std::printf(
      "{\"count\": %lld, \"entries\": %llu, \"bytes\": %llu, "
      "\"apply_all_seconds\": %.3f, \"write_seconds\": %.3f, "
      "\"read_1_thread_seconds\": %.3f, \"read_%d_threads_seconds\": %.3f}\n",
      static_cast<long long>(count),
      static_cast<unsigned long long>(written->entries),
      static_cast<unsigned long long>(written->bytes), apply_seconds,
      write_seconds, read_seconds[0], threads[1], read_seconds[1]);
  return 0;
}
