#include "token/base64url.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace sigil::token {
namespace {

using ::sigil::testing::IsOk;
using ::sigil::testing::StatusIs;

struct RoundTripCase {
  const char* name;
  std::string data;
  std::string encoded;
};

TEST(Base64UrlTest, CanonicalRoundTrips) {
  const RoundTripCase cases[] = {
      {"empty", "", ""},
      {"rfc4648 f", "f", "Zg"},
      {"rfc4648 fo", "fo", "Zm8"},
      {"rfc4648 foo", "foo", "Zm9v"},
      {"rfc4648 foob", "foob", "Zm9vYg"},
      {"rfc4648 fooba", "fooba", "Zm9vYmE"},
      {"rfc4648 foobar", "foobar", "Zm9vYmFy"},
      {"single zero byte", std::string(1, '\0'), "AA"},
      {"two zero bytes", std::string(2, '\0'), "AAA"},
      {"url-safe characters", "\xfb\xff", "-_8"},
      {"all ones", "\xff\xff\xff", "____"},
      {"high bit bytes", "\x80\x81\x82\x83", "gIGCgw"},
      {"jose header", "{\"alg\":\"ES256\"}", "eyJhbGciOiJFUzI1NiJ9"},
  };
  for (const RoundTripCase& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(Base64UrlEncode(c.data), c.encoded);
    absl::StatusOr<std::string> decoded = Base64UrlDecode(c.encoded);
    ASSERT_THAT(decoded, IsOk());
    EXPECT_EQ(*decoded, c.data);
  }
}

TEST(Base64UrlTest, EveryLengthZeroToTenRoundTrips) {
  for (size_t len = 0; len <= 10; ++len) {
    SCOPED_TRACE(::testing::Message() << "length " << len);
    std::string data;
    for (size_t i = 0; i < len; ++i) {
      data.push_back(static_cast<char>(0xf0 - 37 * i));
    }
    std::string encoded = Base64UrlEncode(data);
    EXPECT_EQ(encoded.size(), (len * 4 + 2) / 3);
    EXPECT_EQ(encoded.find('='), std::string::npos);
    absl::StatusOr<std::string> decoded = Base64UrlDecode(encoded);
    ASSERT_THAT(decoded, IsOk());
    EXPECT_EQ(*decoded, data);
  }
}

TEST(Base64UrlTest, EveryByteValueRoundTrips) {
  std::string data;
  for (int b = 0; b < 256; ++b) data.push_back(static_cast<char>(b));
  for (size_t offset = 0; offset < 3; ++offset) {
    SCOPED_TRACE(::testing::Message() << "offset " << offset);
    std::string slice = data.substr(offset);
    absl::StatusOr<std::string> decoded =
        Base64UrlDecode(Base64UrlEncode(slice));
    ASSERT_THAT(decoded, IsOk());
    EXPECT_EQ(*decoded, slice);
  }
}

struct RejectCase {
  const char* name;
  std::string text;
};

TEST(Base64UrlTest, RejectsNonCanonicalInput) {
  const RejectCase cases[] = {
      {"padding", "Zg=="},
      {"single padding", "Zm8="},
      {"padding only", "===="},
      {"plus", "+_8"},
      {"slash", "-/8"},
      {"standard alphabet", "+/8A"},
      {"space inside", "Zm 9v"},
      {"leading space", " Zm9v"},
      {"trailing newline", "Zm9v\n"},
      {"tab", "Zm9v\tYg"},
      {"carriage return", "Zm9v\r"},
      {"length 1", "Z"},
      {"length 1, zero bits", "A"},
      {"length 5, zero bits in tail", "Zm9vA"},
      {"length 5", "Zm9vY"},
      {"length 9", "Zm9vYmFyZ"},
      {"trailing bits of 1-byte tail", "Zh"},
      {"trailing bits of 1-byte tail, max", "Z_"},
      {"trailing bits of 2-byte tail", "Zm9"},
      {"trailing bits of 2-byte tail, low bit", "AAB"},
      {"dot", "Zm9v.Yg"},
      {"nul byte", std::string("Zm\0v", 4)},
      {"non-ascii", "Zm9v\xc3\xa9"},
  };
  for (const RejectCase& c : cases) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<std::string> decoded = Base64UrlDecode(c.text);
    EXPECT_THAT(decoded, StatusIs(absl::StatusCode::kInvalidArgument));
  }
}

}  // namespace
}  // namespace sigil::token
