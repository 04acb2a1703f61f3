#ifndef SIGIL_TOKEN_REVOCATION_INDEX_H_
#define SIGIL_TOKEN_REVOCATION_INDEX_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/hash/hash.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "base/striped_mutex.h"
#include "token/jwt.h"
#include "token/reason.h"

namespace sigil::token {

enum class RevocationScope {
  kToken,          // one token, by token_id (jti)
  kSession,        // one session, by session_id (sid)
  kSubjectSystem,  // one subject at one system
  kSubject,        // one subject everywhere
};

// One revocation as recorded by the authority and streamed to verifiers.
// It covers tokens of its scope whose issued_at_us is below not_before_us
// (for kToken: the one token, whatever its issue time). Once expires_at has
// passed, every covered token has expired and the entry is garbage.
struct Revocation {
  uint64_t seq = 0;
  RevocationScope scope = RevocationScope::kToken;
  std::string subject;
  std::string system;
  std::string session_id;
  std::string token_id;
  int64_t not_before_us = 0;
  absl::Time expires_at;
};

// The in-memory revocation table every verifier consults after the
// signature check. Lookups are hash probes without allocation: cost does
// not depend on the number of revocations. Thread-safe; Check takes a
// shared lock on its thread's stripe only, so concurrent checks contend on
// nothing.
//
// The tables are split into kShards shards by a hash of each entry's
// primary key (token id, session id, or subject) that is the same in every
// process: a snapshot is written one shard at a time, holding the lock a
// few milliseconds per shard rather than for the whole table, and read
// back shard by shard on several threads (ShardBuilder, Load).
class RevocationIndex {
 public:
  static constexpr size_t kShards = 64;

  // The shard of an entry whose primary key is `key`: a pure function of
  // the bytes, the same in every process (unlike absl::Hash, seeded per
  // process).
  static size_t ShardOf(absl::string_view key);
  // The token id, session id or subject, by scope.
  static absl::string_view PrimaryKey(const Revocation& r);

  // Records `r`, keeping the strictest (latest not_before, latest expiry)
  // entry per key. Applying the same revocation twice changes nothing.
  void Apply(const Revocation& r);
  // The same for many, under one lock.
  void ApplyAll(absl::Span<const Revocation> revocations);

  // Exchanges the contents of the two indexes in one step, so a reader of
  // either never sees a half-built table.
  void Swap(RevocationIndex& other);

  // Changes (after the change is visible to Check) whenever the index may
  // cover a token it did not cover before. A verdict checked while
  // generation() was g needs no new Check while generation() is still g:
  // verifiers use this to keep the shared lock off their cache hits.
  uint64_t generation() const {
    return generation_.load(std::memory_order_acquire);
  }

  // kValid, or the reason the token is revoked when verified at `system`.
  // Where several levels apply the strictest wins: token, session and
  // subject-wide revocations and a logout from every system the token names
  // are UNAUTHENTICATED reasons; a logout from `system` alone, for a token
  // that still authenticates at other systems, is kLoggedOutOfSystem.
  Reason Check(const JwtClaims& claims, absl::string_view system) const;

  // Drops entries whose expires_at is at or before `now`.
  void Prune(absl::Time now);

  size_t size() const;
  // The highest seq applied, 0 when none.
  uint64_t last_seq() const;
  // Records that every revocation up to `seq` is reflected (a load that
  // read the whole store as of that seq). Never lowers it.
  void RaiseSeq(uint64_t seq);

  // One entry as held: the merge of every revocation of its key. `key` is
  // the primary key; `system` is set for kSubjectSystem only. The views
  // live as long as the call they are passed to.
  struct EntryView {
    RevocationScope scope = RevocationScope::kToken;
    absl::string_view key;
    absl::string_view system;
    int64_t not_before_us = 0;
    absl::Time expires_at;
  };
  // Calls `fn` for each entry of shard `shard` (< kShards) whose expiry is
  // after `now`, holding a shared lock: writers (Apply, Prune) wait for
  // this one shard, readers do not. `fn` must not call into the index.
  void ForEachInShard(size_t shard, absl::Time now,
                      const std::function<void(const EntryView&)>& fn) const;

  // Builds one shard's tables outside the index and its lock, for a bulk
  // load: each builder is used by one thread at a time, different builders
  // by different threads at once. Not thread-safe itself.
  class ShardBuilder {
   public:
    ShardBuilder();
    ~ShardBuilder();
    ShardBuilder(ShardBuilder&&) noexcept;
    ShardBuilder& operator=(ShardBuilder&&) noexcept;

    // Room for this many entries of each scope, so the tables do not grow
    // (and rehash) while they are filled.
    void Reserve(size_t tokens, size_t sessions, size_t subject_systems,
                 size_t subjects);
    // Merges like Apply. False, and nothing added, when the entry does not
    // belong in shard `shard` (ShardOf of its key): a snapshot written with
    // another hash must not put a revocation where Check never looks.
    bool Add(size_t shard, const EntryView& entry);

   private:
    friend class RevocationIndex;
    struct Tables;
    std::unique_ptr<Tables> tables_;
  };
  // Replaces the whole contents with `shards` (kShards builders, builder i
  // for shard i; consumed) and sets last_seq to `seq`, in one step under
  // the lock. False, changing nothing, for another number of builders.
  bool Load(std::vector<ShardBuilder>& shards, uint64_t seq);

 private:
  struct Entry {
    int64_t not_before_us = 0;
    absl::Time expires_at;
  };
  // A table key, its bytes inline up to kInline (token and session ids are
  // 32 hex digits), on the heap beyond: a bulk load of ids allocates
  // nothing per entry. Never assigned (map keys are const).
  class Key {
   public:
    explicit Key(absl::string_view bytes);
    Key(const Key& other) : Key(other.view()) {}
    Key(Key&& other) noexcept;
    Key& operator=(const Key&) = delete;
    Key& operator=(Key&&) = delete;
    ~Key();
    absl::string_view view() const;

   private:
    static constexpr size_t kInline = 39;
    static constexpr unsigned char kOnHeap = 0xff;
    // Inline: the bytes. On the heap: a char* and a size_t, by memcpy.
    char bytes_[kInline];
    unsigned char size_;
  };
  // Transparent: string_view and std::string probes need no Key.
  struct KeyHash {
    using is_transparent = void;
    size_t operator()(absl::string_view s) const {
      return absl::Hash<absl::string_view>()(s);
    }
    size_t operator()(const Key& k) const { return (*this)(k.view()); }
  };
  struct KeyEq {
    using is_transparent = void;
    static absl::string_view View(absl::string_view s) { return s; }
    static absl::string_view View(const Key& k) { return k.view(); }
    template <typename A, typename B>
    bool operator()(const A& a, const B& b) const {
      return View(a) == View(b);
    }
  };
  using Table = absl::flat_hash_map<Key, Entry, KeyHash, KeyEq>;
  struct Shard {
    Table tokens;
    Table sessions;
    // subject -> system -> entry.
    absl::flat_hash_map<Key, Table, KeyHash, KeyEq> subject_systems;
    Table subjects;
  };

  static void Merge(Table& table, absl::string_view key, int64_t not_before_us,
                    absl::Time expires_at);
  static void MergeInto(Shard& shard, const EntryView& entry);
  void ApplyLocked(const Revocation& r) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SwapLocked(RevocationIndex& other)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_, other.mu_);
  // Drops expired entries of `table`; true when it is left empty.
  static bool PruneTable(Table& table, absl::Time now);

  mutable base::StripedMutex mu_;
  std::array<Shard, kShards> shards_ ABSL_GUARDED_BY(mu_);
  uint64_t last_seq_ ABSL_GUARDED_BY(mu_) = 0;
  std::atomic<uint64_t> generation_{0};
};

}  // namespace sigil::token

#endif  // SIGIL_TOKEN_REVOCATION_INDEX_H_
