#ifndef SIGIL_TOKEN_CLAIMS_CACHE_H_
#define SIGIL_TOKEN_CLAIMS_CACHE_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "token/jwt.h"

namespace sigil::token {

// Verified claims keyed by the whole token string (never by signature
// bytes: ECDSA signatures are malleable), each until its token's exp, with
// the revocation index generation it was last checked at. Sharded, so
// concurrent hits on different tokens take different locks; bounded by
// `capacity` entries and by about `max_bytes` of memory in all (a count
// alone lets large tokens take gigabytes). Thread-safe.
class ClaimsCache {
 public:
  static constexpr size_t kDefaultMaxBytes = size_t{128} << 20;

  explicit ClaimsCache(size_t capacity, size_t max_bytes = kDefaultMaxBytes);

  // Shared, immutable claims: a hit copies a pointer, not the claims.
  using Claims = std::shared_ptr<const JwtClaims>;

  struct Hit {
    Claims claims;  // null on a miss
    // True when the claims were last checked against the revocation index
    // at the generation Find was given, so no revocation came since.
    bool checked = false;
  };

  // The claims cached for `token` if unexpired at `now`.
  Hit Find(absl::string_view token, absl::Time now, uint64_t generation) const;
  // Caches `claims` for `token`, checked at `generation`. When the shard is
  // full, by count or by bytes, it first drops the expired entries, then
  // arbitrary ones. An entry larger than a shard's share of `max_bytes` is
  // not cached.
  void Insert(absl::string_view token, Claims claims, uint64_t generation,
              absl::Time now);
  // Records that the entry for `token` passed a check at `generation`.
  void MarkChecked(absl::string_view token, uint64_t generation);
  void Erase(absl::string_view token);
  size_t size() const;

  // Entries held and their estimated bytes, and the Finds that found
  // unexpired claims or did not, since construction.
  struct Stats {
    size_t size = 0;
    size_t bytes = 0;
    uint64_t hits = 0;
    uint64_t misses = 0;
  };
  Stats stats() const;

 private:
  static constexpr size_t kShards = 16;

  // A token with its hash, computed once per call for both the shard and
  // the shard's table.
  struct HashedToken {
    absl::string_view token;
    size_t hash;
  };
  struct KeyHash {
    using is_transparent = void;
    size_t operator()(absl::string_view token) const;
    size_t operator()(const HashedToken& key) const { return key.hash; }
  };
  struct KeyEq {
    using is_transparent = void;
    static absl::string_view View(absl::string_view token) { return token; }
    static absl::string_view View(const HashedToken& key) { return key.token; }
    template <typename A, typename B>
    bool operator()(const A& a, const B& b) const {
      return View(a) == View(b);
    }
  };
  struct Entry {
    Claims claims;
    uint64_t checked_generation;
    size_t bytes;  // Cost() when inserted
  };
  struct Shard {
    mutable absl::Mutex mu;
    absl::flat_hash_map<std::string, Entry, KeyHash, KeyEq> entries
        ABSL_GUARDED_BY(mu);
    size_t bytes ABSL_GUARDED_BY(mu) = 0;  // sum of the entries' bytes
    mutable uint64_t hits ABSL_GUARDED_BY(mu) = 0;
    mutable uint64_t misses ABSL_GUARDED_BY(mu) = 0;
  };

  static HashedToken Hashed(absl::string_view token);
  // What an entry holds on the heap, estimated: the key, the claims' text
  // and a fixed overhead for the table slot, the shared block and the
  // containers.
  static size_t Cost(absl::string_view token, const JwtClaims& claims);
  Shard& ShardOf(const HashedToken& key) const;

  const size_t per_shard_;
  const size_t bytes_per_shard_;
  std::unique_ptr<std::array<Shard, kShards>> shards_;
};

}  // namespace sigil::token

#endif  // SIGIL_TOKEN_CLAIMS_CACHE_H_
