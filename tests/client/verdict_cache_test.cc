#include "client/verdict_cache.h"

#include <string>

#include "gtest/gtest.h"

namespace sigil::client {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1800000000);

VerdictCache::Claims ClaimsUntil(absl::Time exp, std::string subject) {
  token::JwtClaims claims;
  claims.subject = std::move(subject);
  claims.expires_at = exp;
  return std::make_shared<const token::JwtClaims>(std::move(claims));
}

TEST(VerdictCacheTest, HitsUntilExpiryKeyedByTheWholeToken) {
  VerdictCache cache(100);
  cache.Insert("a.b.c", ClaimsUntil(kNow + absl::Minutes(1), "alice"), kNow);
  auto hit = cache.Find("a.b.c", kNow);
  ASSERT_NE(hit, nullptr);
  EXPECT_EQ(hit->subject, "alice");
  // Same header and payload, another signature: another token.
  EXPECT_EQ(cache.Find("a.b.d", kNow), nullptr);
  EXPECT_EQ(cache.Find("a.b.c", kNow + absl::Minutes(1)), nullptr);
}

TEST(VerdictCacheTest, StaysWithinCapacity) {
  constexpr size_t kCapacity = 160;
  VerdictCache cache(kCapacity);
  for (int i = 0; i < 10000; ++i) {
    cache.Insert("token-" + std::to_string(i),
                 ClaimsUntil(kNow + absl::Minutes(1), "u"), kNow);
  }
  EXPECT_LE(cache.size(), kCapacity);
  EXPECT_GT(cache.size(), kCapacity / 2);
}

}  // namespace
}  // namespace sigil::client
