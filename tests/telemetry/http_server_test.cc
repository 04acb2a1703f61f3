#include "telemetry/http_server.h"

#include <httplib.h>

#include <atomic>
#include <map>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "telemetry/metrics.h"
#include "tests/testing/status_matchers.h"

namespace sigil::telemetry {
namespace {

using ::sigil::testing::IsOk;
using ::testing::Not;

TEST(TelemetryHttpServerTest, ReadyzFollowsTheOwnersRuleUntilADrain) {
  MetricsRegistry metrics;
  std::atomic<bool> current{true};
  HttpServerOptions options;
  options.listen = "127.0.0.1:0";
  options.metrics = &metrics;
  options.ready = [&current] { return current.load(); };
  auto server = HttpServer::Start(std::move(options));
  ASSERT_THAT(server, IsOk());
  httplib::Client client("127.0.0.1", (*server)->port());

  struct Step {
    bool current;
    bool drain;
    int want;
    std::string body;
  };
  for (const Step& step : {Step{true, false, 200, "ready\n"},
                           Step{false, false, 503, "not ready\n"},
                           Step{true, false, 200, "ready\n"},
                           Step{true, true, 503, "shutting down\n"}}) {
    current.store(step.current);
    if (step.drain) (*server)->SetNotReady();
    httplib::Result ready = client.Get("/readyz");
    ASSERT_TRUE(ready) << httplib::to_string(ready.error());
    EXPECT_EQ(ready->status, step.want);
    EXPECT_EQ(ready->body, step.body);
    httplib::Result health = client.Get("/healthz");
    ASSERT_TRUE(health);
    EXPECT_EQ(health->status, 200);
  }
}

TEST(TelemetryHttpServerTest, OwnerRoutesKnowThePortAndReadHeaders) {
  MetricsRegistry metrics;
  metrics.GetCounter("probe_total", "P.")->Increment(2);
  HttpServerOptions options;
  options.listen = "127.0.0.1:0";
  options.metrics = &metrics;
  options.routes = [](int port) {
    std::map<std::string, HttpHandler> routes;
    routes["/echo"] = [port](const HttpRequest& request) {
      return HttpResponse{request.Header("X-Probe") == "yes" ? 200 : 404,
                          "text/plain",
                          absl::StrCat("port ", port),
                          {{"Cache-Control", "no-store"}}};
    };
    return routes;
  };
  auto server = HttpServer::Start(std::move(options));
  ASSERT_THAT(server, IsOk());
  httplib::Client client("127.0.0.1", (*server)->port());

  httplib::Result echo = client.Get("/echo", {{"X-Probe", "yes"}});
  ASSERT_TRUE(echo) << httplib::to_string(echo.error());
  EXPECT_EQ(echo->status, 200);
  EXPECT_EQ(echo->body, absl::StrCat("port ", (*server)->port()));
  EXPECT_EQ(echo->get_header_value("Cache-Control"), "no-store");
  httplib::Result without = client.Get("/echo");
  ASSERT_TRUE(without);
  EXPECT_EQ(without->status, 404);

  httplib::Result scraped = client.Get("/metrics");
  ASSERT_TRUE(scraped);
  EXPECT_NE(scraped->body.find("probe_total 2\n"), std::string::npos)
      << scraped->body;
}

TEST(TelemetryHttpServerTest, TakenPortFailsNamingTheAddress) {
  MetricsRegistry metrics;
  HttpServerOptions first;
  first.listen = "127.0.0.1:0";
  first.metrics = &metrics;
  auto server = HttpServer::Start(std::move(first));
  ASSERT_THAT(server, IsOk());
  HttpServerOptions second;
  second.listen = absl::StrCat("127.0.0.1:", (*server)->port());
  second.metrics = &metrics;
  auto taken = HttpServer::Start(std::move(second));
  ASSERT_THAT(taken, Not(IsOk()));
  EXPECT_NE(taken.status().message().find(
                absl::StrCat("cannot listen on 127.0.0.1:", (*server)->port())),
            std::string::npos)
      << taken.status();
}

}  // namespace
}  // namespace sigil::telemetry
