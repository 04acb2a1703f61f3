#include "server/http/http_server.h"

#include <httplib.h>

#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/sigil_server.h"
#include "telemetry/metrics.h"
#include "tests/server/service_fixture.h"
#include "tests/testing/status_matchers.h"
#include "token/json.h"

namespace sigil::server::http {
namespace {

using ::sigil::testing::IsOk;
using ::sigil::testing::StatusIs;
using ::testing::HasSubstr;

// A stand-alone HttpServer with a fixed key set, for what the authority
// does not decide: routing, readiness, public_url, a taken port.
class HttpServerTest : public ::testing::Test {
 protected:
  std::unique_ptr<HttpServer> Start(const std::string& public_url = "") {
    HttpServerOptions options;
    options.listen = "127.0.0.1:0";
    options.issuer = "https://issuer.test";
    options.public_url = public_url;
    options.metrics = &metrics_;
    options.jwks = [] {
      return JwksDocument{"{\"keys\":[]}", "0123456789abcdef", {"ES256"}};
    };
    auto server = HttpServer::Start(std::move(options));
    EXPECT_THAT(server, IsOk());
    return server.ok() ? *std::move(server) : nullptr;
  }

  telemetry::MetricsRegistry metrics_;
};

TEST_F(HttpServerTest, EndpointsAnswerGetWithTheirContentType) {
  metrics_.GetCounter("probe_total", "P.")->Increment();
  std::unique_ptr<HttpServer> server = Start();
  ASSERT_NE(server, nullptr);
  httplib::Client client("127.0.0.1", server->port());
  struct Case {
    std::string path;
    int status;
    std::string content_type;
    std::string body_part;
  };
  const std::vector<Case> cases = {
      {"/.well-known/openid-configuration", 200, "application/json",
       "\"issuer\":\"https://issuer.test\""},
      {"/.well-known/jwks.json", 200, "application/jwk-set+json",
       "{\"keys\":[]}"},
      {"/healthz", 200, "text/plain", "ok"},
      {"/readyz", 200, "text/plain", "ready"},
      {"/metrics", 200, "text/plain; version=0.0.4; charset=utf-8",
       "probe_total 1\n"},
      {"/nothing-here", 404, "", ""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.path);
    httplib::Result result = client.Get(c.path.c_str());
    ASSERT_TRUE(result) << httplib::to_string(result.error());
    EXPECT_EQ(result->status, c.status);
    if (!c.content_type.empty()) {
      EXPECT_EQ(result->get_header_value("Content-Type"), c.content_type);
    }
    EXPECT_THAT(result->body, HasSubstr(c.body_part));
  }
  httplib::Result post = client.Post("/healthz", "x", "text/plain");
  ASSERT_TRUE(post);
  EXPECT_NE(post->status, 200);
}

TEST_F(HttpServerTest, ReadyzIs503OnceNotReadyWhileHealthzStaysUp) {
  std::unique_ptr<HttpServer> server = Start();
  ASSERT_NE(server, nullptr);
  server->SetNotReady();
  httplib::Client client("127.0.0.1", server->port());
  httplib::Result ready = client.Get("/readyz");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 503);
  httplib::Result health = client.Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
}

TEST_F(HttpServerTest, JwksUriComesFromPublicUrlNeverFromHost) {
  struct Case {
    std::string public_url;
    bool use_port;  // the want is http://127.0.0.1:<port>
    std::string want;
  };
  const std::vector<Case> cases = {
      {"", true, ""},
      {"https://keys.example.org", false,
       "https://keys.example.org/.well-known/jwks.json"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.public_url);
    std::unique_ptr<HttpServer> server = Start(c.public_url);
    ASSERT_NE(server, nullptr);
    const std::string want =
        c.use_port ? "http://127.0.0.1:" + std::to_string(server->port()) +
                         "/.well-known/jwks.json"
                   : c.want;
    httplib::Client client("127.0.0.1", server->port());
    httplib::Result result = client.Get("/.well-known/openid-configuration",
                                        {{"Host", "evil.example"}});
    ASSERT_TRUE(result);
    auto document = token::ParseJson(result->body);
    ASSERT_THAT(document, IsOk());
    const token::JsonValue* jwks_uri = document->Find("jwks_uri");
    ASSERT_NE(jwks_uri, nullptr);
    EXPECT_EQ(jwks_uri->string_value(), want);
  }
}

TEST_F(HttpServerTest, TakenOrMalformedAddressFailsAtStart) {
  std::unique_ptr<HttpServer> first = Start();
  ASSERT_NE(first, nullptr);
  const std::vector<std::string> listens = {
      "127.0.0.1:" + std::to_string(first->port()), "127.0.0.1", ":80",
      "127.0.0.1:99999", "127.0.0.1:http"};
  for (const std::string& listen : listens) {
    SCOPED_TRACE(listen);
    HttpServerOptions options;
    options.listen = listen;
    options.metrics = &metrics_;
    options.jwks = [] { return JwksDocument{}; };
    auto second = HttpServer::Start(std::move(options));
    ASSERT_THAT(second, StatusIs(absl::StatusCode::kFailedPrecondition));
    EXPECT_THAT(second.status().message(), HasSubstr(listen));
  }
}

// sigild's HTTP side in process: what it publishes is what gRPC serves,
// and its metrics count real calls.
class SigilHttpTest : public ServiceTest {
 protected:
  SigilHttpTest() { options_.http_listen = "127.0.0.1:0"; }

  httplib::Result Get(const std::string& path,
                      const httplib::Headers& headers = {}) {
    httplib::Client client("127.0.0.1", server_->http_port());
    return client.Get(path.c_str(), headers);
  }
};

TEST_F(SigilHttpTest, JwksIsGetJwksWithVersionAsETag) {
  grpc::ClientContext context;
  sigil::v1::GetJwksResponse jwks;
  ASSERT_THAT(stub_->GetJwks(&context, {}, &jwks), IsOk());
  httplib::Result result = Get("/.well-known/jwks.json");
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 200);
  EXPECT_EQ(result->body, jwks.jwks_json());
  const std::string etag = "\"" + jwks.key_set_version() + "\"";
  EXPECT_EQ(result->get_header_value("ETag"), etag);
  EXPECT_EQ(result->get_header_value("Cache-Control"), "public, max-age=60");

  httplib::Result unchanged =
      Get("/.well-known/jwks.json", {{"If-None-Match", etag}});
  ASSERT_TRUE(unchanged);
  EXPECT_EQ(unchanged->status, 304);
  EXPECT_TRUE(unchanged->body.empty());
}

TEST_F(SigilHttpTest, DiscoveryNamesTheIssuerAndTheKeysAlgorithms) {
  httplib::Result result = Get("/.well-known/openid-configuration");
  ASSERT_TRUE(result);
  auto document = token::ParseJson(result->body);
  ASSERT_THAT(document, IsOk());
  const token::JsonValue* issuer = document->Find("issuer");
  const token::JsonValue* jwks_uri = document->Find("jwks_uri");
  ASSERT_NE(issuer, nullptr);
  ASSERT_NE(jwks_uri, nullptr);
  EXPECT_EQ(issuer->string_value(), options_.authority.issuer);
  EXPECT_EQ(jwks_uri->string_value(),
            "http://127.0.0.1:" + std::to_string(server_->http_port()) +
                "/.well-known/jwks.json");
  const token::JsonValue* algs =
      document->Find("id_token_signing_alg_values_supported");
  ASSERT_NE(algs, nullptr);
  ASSERT_EQ(algs->items().size(), 1u);
  EXPECT_EQ(algs->items()[0].string_value(), "ES256");
}

TEST_F(SigilHttpTest, MetricsCountCallsVerdictsRevocationsSubscribersAndStore) {
  const sigil::v1::IssueResponse issued = Login("alice", {"A"});
  // Logged in, so that the logout below records something.
  Login("bob", {"A"});
  Check(issued.access_token(), "A");
  Check(issued.access_token(), "B");
  Check("not-a-token", "A");
  LogoutSubject("alice", "A");
  grpc::ClientContext bad_context;
  sigil::v1::IssueRequest bad_request;
  bad_request.add_systems("A");
  sigil::v1::IssueResponse bad_response;
  ASSERT_EQ(stub_->Issue(&bad_context, bad_request, &bad_response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);

  grpc::ClientContext watch_context;
  sigil::v1::WatchRevocationsRequest watch_request;
  auto watch = stub_->WatchRevocations(&watch_context);
  ASSERT_TRUE(watch->Write(watch_request));
  sigil::v1::WatchRevocationsResponse first;
  ASSERT_TRUE(watch->Read(&first));
  // A logout the stream sees live: its delay lands in the lag histogram.
  LogoutSubject("bob", "A");
  sigil::v1::WatchRevocationsResponse live;
  do {
    ASSERT_TRUE(watch->Read(&live));
  } while (live.events_size() == 0);

  httplib::Result result = Get("/metrics");
  ASSERT_TRUE(result);
  const std::vector<std::string> wants = {
      "sigil_grpc_server_handled_total{grpc_service=\"sigil.v1.Identity\","
      "grpc_method=\"Issue\",grpc_code=\"OK\"} 2\n",
      "sigil_grpc_server_handled_total{grpc_service=\"sigil.v1.Identity\","
      "grpc_method=\"Issue\",grpc_code=\"INVALID_ARGUMENT\"} 1\n",
      "sigil_grpc_server_handled_total{grpc_service=\"sigil.v1.Identity\","
      "grpc_method=\"Verify\",grpc_code=\"OK\"} 3\n",
      "sigil_grpc_server_handling_seconds_count{grpc_service=\"sigil.v1."
      "Identity\",grpc_method=\"Verify\"} 3\n",
      "sigil_verify_verdicts_total{reason=\"VALID\"} 1\n",
      "sigil_verify_verdicts_total{reason=\"WRONG_AUDIENCE\"} 1\n",
      "sigil_verify_verdicts_total{reason=\"MALFORMED\"} 1\n",
      "sigil_revocations_recorded_total 2\n",
      "sigil_revocation_last_seq 2\n",
      "sigil_revocations_live 2\n",
      "sigil_watch_subscribers 1\n",
      "sigil_watch_propagation_seconds_count 1\n",
      "# TYPE sigil_rocksdb_live_data_bytes gauge\n",
      "# TYPE sigil_rocksdb_memtable_bytes gauge\n",
  };
  for (const std::string& want : wants) {
    SCOPED_TRACE(want);
    EXPECT_THAT(result->body, HasSubstr(want));
  }
  watch_context.TryCancel();
  while (watch->Read(&first)) {
  }
  watch->Finish();
}

}  // namespace
}  // namespace sigil::server::http
