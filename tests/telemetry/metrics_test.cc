#include "telemetry/metrics.h"

#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sigil::telemetry {
namespace {

using ::testing::HasSubstr;

TEST(MetricsRegistryTest, RendersCountersWithLabelsSortedAndEscaped) {
  MetricsRegistry registry;
  registry.GetCounter("calls_total", "Calls.", {{"code", "OK"}})->Increment(3);
  registry.GetCounter("calls_total", "ignored", {{"code", "ABORTED"}})
      ->Increment();
  registry
      .GetCounter("odd_total", "Back\\slash\nnewline.", {{"v", "a\"b\\c\nd"}})
      ->Increment();
  EXPECT_EQ(registry.Render(),
            "# HELP calls_total Calls.\n"
            "# TYPE calls_total counter\n"
            "calls_total{code=\"ABORTED\"} 1\n"
            "calls_total{code=\"OK\"} 3\n"
            "# HELP odd_total Back\\\\slash\\nnewline.\n"
            "# TYPE odd_total counter\n"
            "odd_total{v=\"a\\\"b\\\\c\\nd\"} 1\n");
}

TEST(MetricsRegistryTest, SameNameAndLabelsIsTheSameCounter) {
  MetricsRegistry registry;
  Counter* first = registry.GetCounter("c", "h", {{"a", "1"}, {"b", "2"}});
  EXPECT_EQ(registry.GetCounter("c", "h", {{"a", "1"}, {"b", "2"}}), first);
  EXPECT_NE(registry.GetCounter("c", "h", {{"a", "1"}, {"b", "3"}}), first);
}

TEST(MetricsRegistryTest, HistogramBucketsAreCumulativeWithInf) {
  MetricsRegistry registry;
  Histogram* histogram = registry.GetHistogram(
      "latency_seconds", "Latency.", {0.005, 0.1, 1}, {{"method", "Verify"}});
  for (double value : {0.001, 0.005, 0.05, 0.5, 7.0}) histogram->Observe(value);
  EXPECT_EQ(registry.Render(),
            "# HELP latency_seconds Latency.\n"
            "# TYPE latency_seconds histogram\n"
            "latency_seconds_bucket{method=\"Verify\",le=\"0.005\"} 2\n"
            "latency_seconds_bucket{method=\"Verify\",le=\"0.1\"} 3\n"
            "latency_seconds_bucket{method=\"Verify\",le=\"1\"} 4\n"
            "latency_seconds_bucket{method=\"Verify\",le=\"+Inf\"} 5\n"
            "latency_seconds_sum{method=\"Verify\"} 7.556\n"
            "latency_seconds_count{method=\"Verify\"} 5\n");
}

TEST(MetricsRegistryTest, UnlabelledHistogramHasOnlyLe) {
  MetricsRegistry registry;
  registry.GetHistogram("h", "H.", {1})->Observe(2);
  EXPECT_THAT(registry.Render(), HasSubstr("h_bucket{le=\"1\"} 0\n"
                                           "h_bucket{le=\"+Inf\"} 1\n"
                                           "h_sum 2\n"
                                           "h_count 1\n"));
}

TEST(MetricsRegistryTest, CallbacksAreReadAtEachScrape) {
  struct Case {
    bool counter;
    double value;
    std::string want;
  };
  const std::vector<Case> cases = {
      {true, 12, "# TYPE m counter\nm 12\n"},
      {false, 0, "# TYPE m gauge\nm 0\n"},
      {false, 18446744073709.0, "# TYPE m gauge\nm 18446744073709\n"},
      {false, 0.25, "# TYPE m gauge\nm 0.25\n"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.want);
    MetricsRegistry registry;
    double value = -1;
    registry.AddCallback("m", "M.", c.counter, [&value] { return value; });
    value = c.value;
    EXPECT_EQ(registry.Render(), "# HELP m M.\n" + c.want);
  }
}

TEST(MetricsRegistryTest, InfoCallbackRendersItsLabelsWithValueOne) {
  MetricsRegistry registry;
  std::string version = "00aa";
  registry.AddInfoCallback("keys_info", "Keys.", [&version] {
    return Labels{{"version", version}};
  });
  EXPECT_EQ(registry.Render(),
            "# HELP keys_info Keys.\n# TYPE keys_info gauge\n"
            "keys_info{version=\"00aa\"} 1\n");
  version = "bb\"11";
  EXPECT_THAT(registry.Render(),
              HasSubstr("keys_info{version=\"bb\\\"11\"} 1\n"));
}

TEST(MetricsRegistryTest, ConcurrentUpdatesAreAllCounted) {
  MetricsRegistry registry;
  constexpr int kThreads = 4;
  constexpr int kPerThread = 10000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&registry, t] {
      for (int i = 0; i < kPerThread; ++i) {
        registry.GetCounter("c", "C.", {{"code", i % 2 ? "OK" : "NOT_FOUND"}})
            ->Increment();
        registry.GetHistogram("h", "H.", {0.5})->Observe(t % 2 ? 1.0 : 0.0);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  const std::string text = registry.Render();
  EXPECT_THAT(text, HasSubstr("c{code=\"OK\"} 20000\n"));
  EXPECT_THAT(text, HasSubstr("c{code=\"NOT_FOUND\"} 20000\n"));
  EXPECT_THAT(text, HasSubstr("h_bucket{le=\"0.5\"} 20000\n"));
  EXPECT_THAT(text, HasSubstr("h_sum 20000\nh_count 40000\n"));
}

}  // namespace
}  // namespace sigil::telemetry
