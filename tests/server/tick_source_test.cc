#include "server/tick_source.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/store/rocks_store.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace sigil::server {
namespace {

using ::sigil::testing::IsOk;

const absl::Time kStart = absl::FromUnixSeconds(1800000000);

TEST(TickSourceTest, StrictlyIncreasesWhileTheClockStandsStill) {
  testing::TempDir dir;
  token::FakeClock clock(kStart);
  auto store = store::RocksStore::Open(dir.Sub("data"), &clock);
  ASSERT_THAT(store, IsOk());
  TickSource ticks(&clock, store->get());
  int64_t last = 0;
  for (int i = 0; i < 1000; ++i) {
    auto t = ticks.Next();
    ASSERT_THAT(t, IsOk());
    EXPECT_GT(*t, last);
    last = *t;
  }
  EXPECT_GE(last, absl::ToUnixMicros(kStart));
}

TEST(TickSourceTest, NeverRepeatsAfterARestartWithTheClockSteppedBack) {
  testing::TempDir dir;
  token::FakeClock clock(kStart);
  int64_t before_restart = 0;
  {
    auto store = store::RocksStore::Open(dir.Sub("data"), &clock);
    ASSERT_THAT(store, IsOk());
    TickSource ticks(&clock, store->get());
    for (int i = 0; i < 10; ++i) before_restart = *ticks.Next();
  }
  clock.Set(kStart - absl::Hours(1));
  auto store = store::RocksStore::Open(dir.Sub("data"), &clock);
  ASSERT_THAT(store, IsOk());
  TickSource ticks(&clock, store->get());
  auto after = ticks.Next();
  ASSERT_THAT(after, IsOk());
  EXPECT_GT(*after, before_restart);
}

}  // namespace
}  // namespace sigil::server
