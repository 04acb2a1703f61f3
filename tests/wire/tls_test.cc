#include "wire/tls.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace sigil::wire {
namespace {

using ::sigil::testing::IsOk;
using ::sigil::testing::StatusIs;
using ::testing::Not;

TEST(TlsTest, OnlyUnixSocketsAndLoopbackAreLocal) {
  struct Case {
    const char* listen;
    bool local;
  };
  const Case cases[] = {
      {"unix:/run/sigil.sock", true},
      {"127.0.0.1:50051", true},
      {"127.8.9.10:1", true},
      {"localhost:50051", true},
      {"[::1]:50051", true},
      {"0.0.0.0:50051", false},
      {"[::]:50051", false},
      {"10.0.0.7:50051", false},
      {"127.0.0.1.example.com:50051", false},
      {"128.0.0.1:50051", false},
      {"localhost.example.com:1", false},
      {"[::1:50051", false},
      // Only a whole IP address counts: a name whose first label looks
      // like 127 is whatever DNS says it is.
      {"127.a.evil.invalid:47099", false},
      {"127.0.0.1.:1", false},
      {"127.1:1", false},
      {"127.0.0.256:1", false},
      {"[::ffff:127.0.0.1]:1", true},
      {"[::ffff:10.0.0.1]:1", false},
      {"[::2]:1", false},
      {"", false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.listen);
    EXPECT_EQ(IsLocalAddress(c.listen), c.local);
  }
}

TEST(TlsTest, UnusableFilesAreNamed) {
  testing::TempDir dir;
  const std::string missing = dir.Sub("missing.pem");
  struct Case {
    const char* name;
    TlsFiles files;
    const char* error;
  };
  const Case cases[] = {
      {"cert without key", {missing, "", ""}, "given together"},
      {"key without cert", {"", missing, ""}, "given together"},
      {"missing cert", {missing, missing, ""}, "missing.pem"},
      {"CA without a server certificate", {"", "", missing}, "client CA"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    auto credentials = ServerCredentialsFor(c.files);
    ASSERT_THAT(credentials, StatusIs(absl::StatusCode::kFailedPrecondition));
    EXPECT_NE(credentials.status().message().find(c.error), std::string::npos)
        << credentials.status();
  }
  EXPECT_THAT(ServerCredentialsFor({}), IsOk());
  EXPECT_THAT(ChannelCredentialsFor({}), IsOk());
  EXPECT_THAT(ChannelCredentialsFor({"", "", missing}), Not(IsOk()));
}

}  // namespace
}  // namespace sigil::wire
