#include "token/claims_cache.h"

#include <string>

#include "gtest/gtest.h"

namespace sigil::token {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1800000000);

ClaimsCache::Claims ClaimsUntil(absl::Time exp, std::string subject) {
  token::JwtClaims claims;
  claims.subject = std::move(subject);
  claims.expires_at = exp;
  return std::make_shared<const token::JwtClaims>(std::move(claims));
}

TEST(ClaimsCacheTest, HitsUntilExpiryKeyedByTheWholeToken) {
  ClaimsCache cache(100);
  cache.Insert("a.b.c", ClaimsUntil(kNow + absl::Minutes(1), "alice"), 7, kNow);
  ClaimsCache::Hit hit = cache.Find("a.b.c", kNow, 7);
  ASSERT_NE(hit.claims, nullptr);
  EXPECT_EQ(hit.claims->subject, "alice");
  EXPECT_TRUE(hit.checked);
  // Same header and payload, another signature: another token.
  EXPECT_EQ(cache.Find("a.b.d", kNow, 7).claims, nullptr);
  EXPECT_EQ(cache.Find("a.b.c", kNow + absl::Minutes(1), 7).claims, nullptr);
}

TEST(ClaimsCacheTest, ANewerGenerationAsksForACheck) {
  ClaimsCache cache(100);
  cache.Insert("t", ClaimsUntil(kNow + absl::Minutes(1), "alice"), 7, kNow);
  EXPECT_FALSE(cache.Find("t", kNow, 8).checked);
  cache.MarkChecked("t", 8);
  EXPECT_TRUE(cache.Find("t", kNow, 8).checked);
  // A slower caller's older check does not move the entry back.
  cache.MarkChecked("t", 7);
  EXPECT_TRUE(cache.Find("t", kNow, 8).checked);
  cache.Erase("t");
  EXPECT_EQ(cache.Find("t", kNow, 8).claims, nullptr);
}

TEST(ClaimsCacheTest, StatsCountHitsMissesAndExpiredAsMisses) {
  ClaimsCache cache(100);
  cache.Insert("t", ClaimsUntil(kNow + absl::Minutes(1), "alice"), 7, kNow);
  cache.Insert("u", ClaimsUntil(kNow + absl::Minutes(2), "bob"), 7, kNow);
  cache.Find("t", kNow, 7);                     // hit
  cache.Find("u", kNow, 8);                     // hit, to be checked
  cache.Find("v", kNow, 7);                     // miss
  cache.Find("t", kNow + absl::Minutes(1), 7);  // expired: a miss
  const ClaimsCache::Stats stats = cache.stats();
  EXPECT_EQ(stats.size, 2u);
  EXPECT_EQ(stats.hits, 2u);
  EXPECT_EQ(stats.misses, 2u);
}

TEST(ClaimsCacheTest, StaysWithinCapacity) {
  constexpr size_t kCapacity = 160;
  ClaimsCache cache(kCapacity);
  for (int i = 0; i < 10000; ++i) {
    cache.Insert("token-" + std::to_string(i),
                 ClaimsUntil(kNow + absl::Minutes(1), "u"), 0, kNow);
  }
  EXPECT_LE(cache.size(), kCapacity);
  EXPECT_GT(cache.size(), kCapacity / 2);
}

TEST(ClaimsCacheTest, LargeTokensStayWithinTheByteBound) {
  // Many 6 KB tokens, far below the count bound: the bytes bind first.
  constexpr size_t kMaxBytes = 1 << 20;
  ClaimsCache cache(100000, kMaxBytes);
  const std::string padding(6 * 1024, 'x');
  for (int i = 0; i < 1000; ++i) {
    cache.Insert(padding + std::to_string(i),
                 ClaimsUntil(kNow + absl::Minutes(1), "u"), 0, kNow);
  }
  const ClaimsCache::Stats stats = cache.stats();
  EXPECT_LE(stats.bytes, kMaxBytes);
  EXPECT_GE(stats.bytes, stats.size * padding.size());
  EXPECT_LT(stats.size, kMaxBytes / padding.size());
  EXPECT_GT(stats.size, kMaxBytes / padding.size() / 4);
}

TEST(ClaimsCacheTest, ReplacingAndErasingGiveTheirBytesBack) {
  ClaimsCache cache(100, 1 << 20);
  cache.Insert("t", ClaimsUntil(kNow + absl::Minutes(1), "alice"), 7, kNow);
  const size_t one = cache.stats().bytes;
  EXPECT_GT(one, 0u);
  cache.Insert("t", ClaimsUntil(kNow + absl::Minutes(1), "alice"), 8, kNow);
  EXPECT_EQ(cache.stats().bytes, one);
  cache.Erase("t");
  EXPECT_EQ(cache.stats().bytes, 0u);
}

TEST(ClaimsCacheTest, AnEntryLargerThanAShardsShareIsNotCached) {
  ClaimsCache cache(100, 16 * 1024);  // 1 KiB a shard
  const std::string huge(4 * 1024, 'x');
  cache.Insert(huge, ClaimsUntil(kNow + absl::Minutes(1), "u"), 0, kNow);
  EXPECT_EQ(cache.Find(huge, kNow, 0).claims, nullptr);
  EXPECT_EQ(cache.stats().bytes, 0u);
}

}  // namespace
}  // namespace sigil::token
