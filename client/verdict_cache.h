#ifndef SIGIL_CLIENT_VERDICT_CACHE_H_
#define SIGIL_CLIENT_VERDICT_CACHE_H_

#include <array>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "token/jwt.h"

namespace sigil::client {

// Verified claims keyed by the whole token string (never by signature
// bytes: ECDSA signatures are malleable), each until its token's exp.
// Sharded, so concurrent hits on different tokens take different locks;
// bounded by `capacity` entries in all. Revocation is not its business: the
// client checks every hit against its revocation index. Thread-safe.
class VerdictCache {
 public:
  explicit VerdictCache(size_t capacity);

  // Shared, immutable claims: a hit copies a pointer, not the claims.
  using Claims = std::shared_ptr<const token::JwtClaims>;

  // The claims cached for `token` if unexpired at `now`, else null.
  Claims Find(absl::string_view token, absl::Time now) const;
  // Caches `claims` for `token`. When the shard is full it first drops the
  // expired entries, then an arbitrary one.
  void Insert(absl::string_view token, Claims claims, absl::Time now);
  size_t size() const;

 private:
  static constexpr size_t kShards = 16;
  struct Shard {
    mutable absl::Mutex mu;
    absl::flat_hash_map<std::string, Claims> entries ABSL_GUARDED_BY(mu);
  };

  Shard& ShardOf(absl::string_view token) const;

  const size_t per_shard_;
  std::unique_ptr<std::array<Shard, kShards>> shards_;
};

}  // namespace sigil::client

#endif  // SIGIL_CLIENT_VERDICT_CACHE_H_
