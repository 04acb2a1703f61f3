#include "token/json.h"

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace sigil::token {
namespace {

using ::sigil::testing::IsOk;
using ::sigil::testing::StatusIs;
using ::testing::Not;

// Names a case by its input with unprintable bytes escaped.
std::string Describe(absl::string_view name, absl::string_view input) {
  return absl::StrCat(name, ": \"", absl::CHexEscape(input.substr(0, 80)),
                      input.size() > 80 ? "..." : "", "\"");
}

std::string Nested(int depth, absl::string_view open, absl::string_view inner,
                   absl::string_view close) {
  std::string s;
  for (int i = 0; i < depth; ++i) absl::StrAppend(&s, open);
  absl::StrAppend(&s, inner);
  for (int i = 0; i < depth; ++i) absl::StrAppend(&s, close);
  return s;
}

struct AcceptCase {
  std::string name;
  std::string input;
  std::string serialized;
  JsonLimits limits = {};
};

TEST(JsonTest, AcceptsAndSerializesCompactly) {
  const std::vector<AcceptCase> cases = {
      {"empty object", "{}", "{}"},
      {"empty array", "[]", "[]"},
      {"whitespace everywhere", " \t\r\n{ \"a\" :\n1 , \"b\"\t:[ ] }\r\n ",
       "{\"a\":1,\"b\":[]}"},
      {"members keep input order", "{\"z\":1,\"a\":2,\"m\":3}",
       "{\"z\":1,\"a\":2,\"m\":3}"},
      {"nested values", "{\"a\":1,\"b\":[true,false,null,{\"c\":\"d\"}]}",
       "{\"a\":1,\"b\":[true,false,null,{\"c\":\"d\"}]}"},
      {"same name in different objects", "{\"a\":{\"a\":1},\"b\":{\"a\":2}}",
       "{\"a\":{\"a\":1},\"b\":{\"a\":2}}"},
      {"names differing only in case", "{\"a\":1,\"A\":2}",
       "{\"a\":1,\"A\":2}"},
      {"top-level string", "\"x\"", "\"x\""},
      {"top-level true", "true", "true"},
      {"top-level false", "false", "false"},
      {"top-level null", "null", "null"},
      {"zero", "0", "0"},
      {"negative zero", "-0", "-0"},
      {"integer", "1234567890", "1234567890"},
      {"negative integer", "-42", "-42"},
      {"fraction", "1.5", "1.5"},
      {"zero fraction", "0.25", "0.25"},
      {"exponent", "-1.5e10", "-1.5e10"},
      {"exponent plus", "1E+2", "1E+2"},
      {"exponent minus", "1e-2", "1e-2"},
      {"zero exponent", "0e0", "0e0"},
      {"huge literal kept verbatim", "123456789012345678901234567890",
       "123456789012345678901234567890"},
      {"short escapes", "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"",
       "\"\\\"\\\\/\\b\\f\\n\\r\\t\""},
      {"escaped control character", "\"\\u0001\"", "\"\\u0001\""},
      {"escaped unit separator", "\"\\u001F\"", "\"\\u001f\""},
      {"escaped ascii", "\"\\u0041\\u007a\"", "\"Az\""},
      {"escaped two-byte", "\"\\u00e9\"", "\"\xc3\xa9\""},
      {"escaped three-byte", "\"\\u20AC\"", "\"\xe2\x82\xac\""},
      {"escaped surrogate pair", "\"\\ud83d\\ude00\"", "\"\xf0\x9f\x98\x80\""},
      {"escaped highest code point", "\"\\udbff\\udfff\"",
       "\"\xf4\x8f\xbf\xbf\""},
      {"raw del", "\"\x7f\"", "\"\x7f\""},
      {"raw two-byte", "\"\xc3\xa9\"", "\"\xc3\xa9\""},
      {"raw lowest two-byte", "\"\xc2\x80\"", "\"\xc2\x80\""},
      {"raw three-byte", "\"\xe2\x82\xac\"", "\"\xe2\x82\xac\""},
      {"raw lowest three-byte", "\"\xe0\xa0\x80\"", "\"\xe0\xa0\x80\""},
      {"raw U+D7FF", "\"\xed\x9f\xbf\"", "\"\xed\x9f\xbf\""},
      {"raw U+E000", "\"\xee\x80\x80\"", "\"\xee\x80\x80\""},
      {"raw U+FFFF", "\"\xef\xbf\xbf\"", "\"\xef\xbf\xbf\""},
      {"raw four-byte", "\"\xf0\x9f\x98\x80\"", "\"\xf0\x9f\x98\x80\""},
      {"raw lowest four-byte", "\"\xf0\x90\x80\x80\"", "\"\xf0\x90\x80\x80\""},
      {"raw U+10FFFF", "\"\xf4\x8f\xbf\xbf\"", "\"\xf4\x8f\xbf\xbf\""},
      {"arrays at max depth", Nested(8, "[", "1", "]"),
       Nested(8, "[", "1", "]")},
      {"objects at max depth", Nested(8, "{\"a\":", "1", "}"),
       Nested(8, "{\"a\":", "1", "}")},
      {"flat object at depth limit 1", "{\"a\":1,\"b\":\"c\"}",
       "{\"a\":1,\"b\":\"c\"}", JsonLimits{8 * 1024, 1}},
      {"scalar at depth limit 0", "7", "7", JsonLimits{8 * 1024, 0}},
      {"exactly max bytes", "\"" + std::string(8190, 'x') + "\"",
       "\"" + std::string(8190, 'x') + "\""},
  };
  for (const AcceptCase& c : cases) {
    SCOPED_TRACE(Describe(c.name, c.input));
    absl::StatusOr<JsonValue> value = ParseJson(c.input, c.limits);
    ASSERT_THAT(value, IsOk());
    EXPECT_EQ(value->Serialize(), c.serialized);
  }
}

struct RejectCase {
  std::string name;
  std::string input;
  JsonLimits limits = {};
};

TEST(JsonTest, RejectsMalformedOrAmbiguousInput) {
  const std::vector<RejectCase> cases = {
      // Document structure.
      {"empty input", ""},
      {"whitespace only", " \n\t "},
      {"trailing garbage", "{} x"},
      {"two documents", "{}{}"},
      {"two scalars", "1 2"},
      {"literal with extra letter", "nulll"},
      {"leading bom", "\xef\xbb\xbf{}"},
      {"trailing nul", std::string("{}\0", 3)},
      {"leading nul", std::string("\0{}", 3)},
      {"vertical tab whitespace", "\v{}"},
      {"form feed whitespace", "\f{}"},
      {"non-breaking space whitespace", "\xc2\xa0{}"},
      {"non-ascii outside string", "{\"a\":\xc3\xa9}"},
      {"comment", "{} // c"},
      {"block comment", "/* c */ {}"},
      // Objects and arrays.
      {"unterminated object", "{"},
      {"unterminated object after member", "{\"a\":1"},
      {"unterminated array", "["},
      {"unterminated array after item", "[1"},
      {"lone close brace", "}"},
      {"lone close bracket", "]"},
      {"member without value", "{\"a\"}"},
      {"member with empty value", "{\"a\":}"},
      {"member without colon", "{\"a\" 1}"},
      {"trailing comma in object", "{\"a\":1,}"},
      {"trailing comma in array", "[1,]"},
      {"leading comma in array", "[,1]"},
      {"comma only object", "{,}"},
      {"missing comma in array", "[1 2]"},
      {"missing comma in object", "{\"a\":1 \"b\":2}"},
      {"number as name", "{1:2}"},
      {"single-quoted name", "{'a':1}"},
      {"unquoted name", "{a:1}"},
      {"mismatched brackets", "[}"},
      {"mismatched braces", "{]"},
      // Duplicate names.
      {"duplicate name", "{\"a\":1,\"a\":2}"},
      {"duplicate name with equal values", "{\"a\":1,\"a\":1}"},
      {"duplicate name after unescaping", "{\"a\":1,\"\\u0061\":2}"},
      {"duplicate name via solidus escape", "{\"a/b\":1,\"a\\/b\":2}"},
      {"duplicate name non-adjacent", "{\"a\":1,\"b\":2,\"a\":3}"},
      {"duplicate alg", "{\"alg\":\"ES256\",\"alg\":\"none\"}"},
      {"nested duplicate name", "{\"x\":{\"b\":1,\"b\":1}}"},
      {"duplicate in object inside array", "[{\"b\":1,\"b\":2}]"},
      {"duplicate empty name", "{\"\":1,\"\":2}"},
      // Invalid UTF-8 in strings.
      {"overlong slash", "\"\xc0\xaf\""},
      {"overlong two-byte max", "\"\xc1\xbf\""},
      {"overlong three-byte", "\"\xe0\x80\xaf\""},
      {"overlong three-byte max", "\"\xe0\x9f\xbf\""},
      {"overlong four-byte", "\"\xf0\x80\x80\xaf\""},
      {"overlong four-byte max", "\"\xf0\x8f\xbf\xbf\""},
      {"overlong nul", "\"\xc0\x80\""},
      {"utf-8 encoded high surrogate", "\"\xed\xa0\x80\""},
      {"utf-8 encoded low surrogate", "\"\xed\xbf\xbf\""},
      {"above U+10FFFF", "\"\xf4\x90\x80\x80\""},
      {"lead byte f5", "\"\xf5\x80\x80\x80\""},
      {"lead byte ff", "\"\xff\""},
      {"lead byte fe", "\"\xfe\""},
      {"lone continuation byte", "\"\x80\""},
      {"truncated two-byte at end of string", "\"\xc3\""},
      {"truncated three-byte", "\"\xe2\x82\""},
      {"truncated four-byte", "\"\xf0\x9f\x98\""},
      {"truncated at end of input", "\"\xe2\x82"},
      {"bad continuation byte", "\"\xc3\x28\""},
      {"ascii where continuation expected", "\"\xe2\x82x\""},
      {"invalid utf-8 in name", "{\"\xc0\xaf\":1}"},
      // Surrogate escapes.
      {"lone high surrogate", "\"\\ud800\""},
      {"lone low surrogate", "\"\\udc00\""},
      {"high surrogate then text", "\"\\ud800x\""},
      {"high surrogate then non-surrogate escape", "\"\\ud800\\u0041\""},
      {"high surrogate then short escape", "\"\\ud800\\n\""},
      {"two high surrogates", "\"\\ud800\\ud800\""},
      {"reversed pair", "\"\\udc00\\ud800\""},
      {"high surrogate at end of input", "\"\\udbff"},
      // Control characters and NUL.
      {"raw nul in string", std::string("\"a\0b\"", 5)},
      {"escaped nul", "\"\\u0000\""},
      {"escaped nul in name", "{\"a\\u0000\":1}"},
      {"raw soh", "\"\x01\""},
      {"raw newline", "\"a\nb\""},
      {"raw tab", "\"a\tb\""},
      {"raw carriage return", "\"\r\""},
      {"raw unit separator", "\"\x1f\""},
      {"raw control in name", "{\"a\x01\":1}"},
      // Escapes.
      {"unknown escape x", "\"\\x41\""},
      {"unknown escape a", "\"\\a\""},
      {"single quote escape", "\"\\'\""},
      {"upper-case U escape", "\"\\U0041\""},
      {"short unicode escape", "\"\\u12\""},
      {"non-hex unicode escape", "\"\\u12G4\""},
      {"unicode escape with sign", "\"\\u+123\""},
      {"escape at end of input", "\"\\"},
      {"unterminated string", "\"abc"},
      {"unterminated name", "{\"abc"},
      // Numbers.
      {"leading zero", "01"},
      {"negative leading zero", "-01"},
      {"double zero", "00"},
      {"leading zero in array", "[01]"},
      {"plus sign", "+1"},
      {"leading dot", ".5"},
      {"trailing dot", "1."},
      {"dot before exponent", "1.e5"},
      {"empty exponent", "1e"},
      {"signed empty exponent", "1e+"},
      {"minus alone", "-"},
      {"minus then letter", "-a"},
      {"double minus", "--1"},
      {"nan", "NaN"},
      {"infinity", "Infinity"},
      {"negative infinity", "-Infinity"},
      {"hex", "0x10"},
      {"digit separator", "1_000"},
      {"number in object followed by junk", "{\"exp\":1e5x}"},
      // Literals.
      {"capitalized true", "True"},
      {"truncated null", "nul"},
      {"truncated true", "tru"},
      {"undefined", "undefined"},
      // Limits.
      {"arrays beyond max depth", Nested(9, "[", "1", "]")},
      {"objects beyond max depth", Nested(9, "{\"a\":", "1", "}")},
      {"mixed beyond max depth", Nested(5, "[{\"a\":", "1", "}]")},
      {"empty containers beyond max depth", Nested(9, "[", "", "]")},
      {"nested object with depth limit 1", "{\"a\":{}}",
       JsonLimits{8 * 1024, 1}},
      {"nested array with depth limit 1", "{\"a\":[]}",
       JsonLimits{8 * 1024, 1}},
      {"object with depth limit 0", "{}", JsonLimits{8 * 1024, 0}},
      {"one byte over max bytes", "\"" + std::string(8191, 'x') + "\""},
      {"over custom max bytes", "[1,2]", JsonLimits{4, 8}},
  };
  for (const RejectCase& c : cases) {
    SCOPED_TRACE(Describe(c.name, c.input));
    absl::StatusOr<JsonValue> value = ParseJson(c.input, c.limits);
    EXPECT_THAT(value, StatusIs(absl::StatusCode::kInvalidArgument))
        << (value.ok() ? value->Serialize() : "");
  }
}

// The size cap must hold before any parsing, so a huge hostile input costs
// nothing beyond its length check.
TEST(JsonTest, SizeIsCheckedBeforeParsing) {
  const std::vector<RejectCase> cases = {
      {"deep nesting", std::string(9000, '[')},
      {"invalid utf-8", std::string(9000, '\xff')},
      {"valid but large", "\"" + std::string(9000, 'x') + "\""},
  };
  for (const RejectCase& c : cases) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<JsonValue> value = ParseJson(c.input, c.limits);
    ASSERT_THAT(value, Not(IsOk()));
    EXPECT_NE(value.status().message().find("too large"), std::string::npos)
        << value.status();
  }
}

TEST(JsonTest, DecodesStringsAndTypes) {
  absl::StatusOr<JsonValue> value = ParseJson(
      "{\"s\":\"a\\u00e9\\ud83d\\ude00\\n\",\"n\":-12,\"t\":true,"
      "\"z\":null,\"arr\":[1,\"x\"],\"o\":{}}");
  ASSERT_THAT(value, IsOk());
  ASSERT_TRUE(value->is_object());
  ASSERT_EQ(value->members().size(), 6u);
  EXPECT_EQ(value->members()[0].first, "s");

  const JsonValue* s = value->Find("s");
  ASSERT_NE(s, nullptr);
  ASSERT_TRUE(s->is_string());
  EXPECT_EQ(s->string_value(), "a\xc3\xa9\xf0\x9f\x98\x80\n");

  const JsonValue* n = value->Find("n");
  ASSERT_NE(n, nullptr);
  EXPECT_EQ(n->type(), JsonValue::Type::kNumber);
  EXPECT_EQ(n->string_value(), "-12");
  EXPECT_EQ(n->AsInt64(), -12);

  const JsonValue* t = value->Find("t");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->type(), JsonValue::Type::kBool);
  EXPECT_TRUE(t->bool_value());

  const JsonValue* z = value->Find("z");
  ASSERT_NE(z, nullptr);
  EXPECT_EQ(z->type(), JsonValue::Type::kNull);

  const JsonValue* arr = value->Find("arr");
  ASSERT_NE(arr, nullptr);
  ASSERT_TRUE(arr->is_array());
  ASSERT_EQ(arr->items().size(), 2u);
  EXPECT_EQ(arr->items()[1].string_value(), "x");

  const JsonValue* o = value->Find("o");
  ASSERT_NE(o, nullptr);
  EXPECT_TRUE(o->is_object());
  EXPECT_TRUE(o->members().empty());

  EXPECT_EQ(value->Find("missing"), nullptr);
  EXPECT_EQ(value->Find("S"), nullptr);
}

TEST(JsonTest, AsInt64AcceptsOnlyPlainIntegersInRange) {
  const struct {
    const char* literal;
    std::optional<int64_t> want;
  } cases[] = {
      {"0", 0},
      {"-0", 0},
      {"1700000000", 1700000000},
      {"-5", -5},
      {"9223372036854775807", std::numeric_limits<int64_t>::max()},
      {"-9223372036854775808", std::numeric_limits<int64_t>::min()},
      {"9223372036854775808", std::nullopt},
      {"-9223372036854775809", std::nullopt},
      {"100000000000000000000", std::nullopt},
      {"1.0", std::nullopt},
      {"1.5", std::nullopt},
      {"1e3", std::nullopt},
      {"1E3", std::nullopt},
      {"-0.0", std::nullopt},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.literal);
    absl::StatusOr<JsonValue> value = ParseJson(c.literal);
    ASSERT_THAT(value, IsOk());
    EXPECT_EQ(value->AsInt64(), c.want);
  }
}

TEST(JsonTest, AsInt64OfNonNumbers) {
  const char* cases[] = {"\"1\"", "true", "null", "[1]", "{\"a\":1}"};
  for (const char* input : cases) {
    SCOPED_TRACE(input);
    absl::StatusOr<JsonValue> value = ParseJson(input);
    ASSERT_THAT(value, IsOk());
    EXPECT_EQ(value->AsInt64(), std::nullopt);
  }
}

TEST(JsonTest, BuildsAndSerializesValues) {
  const struct {
    const char* name;
    JsonValue value;
    std::string want;
  } cases[] = {
      {"null", JsonValue(), "null"},
      {"bool", JsonValue::Bool(false), "false"},
      {"int64 min", JsonValue::Number(std::numeric_limits<int64_t>::min()),
       "-9223372036854775808"},
      {"int64 max", JsonValue::Number(std::numeric_limits<int64_t>::max()),
       "9223372036854775807"},
      {"quote and backslash", JsonValue::String("a\"b\\c"), "\"a\\\"b\\\\c\""},
      {"short control escapes", JsonValue::String("\b\f\n\r\t"),
       "\"\\b\\f\\n\\r\\t\""},
      {"other control characters", JsonValue::String("\x01\x1f\x0b"),
       "\"\\u0001\\u001f\\u000b\""},
      {"solidus not escaped", JsonValue::String("a/b"), "\"a/b\""},
      {"non-ascii passes through", JsonValue::String("\xc3\xa9\xe2\x82\xac"),
       "\"\xc3\xa9\xe2\x82\xac\""},
      {"empty array", JsonValue::Array({}), "[]"},
      {"empty object", JsonValue::Object({}), "{}"},
      {"object with escaped name",
       JsonValue::Object(
           {{"k\"", JsonValue::Number(1)},
            {"arr", JsonValue::Array({JsonValue::Bool(true), JsonValue()})}}),
       "{\"k\\\"\":1,\"arr\":[true,null]}"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    std::string serialized = c.value.Serialize();
    EXPECT_EQ(serialized, c.want);
    absl::StatusOr<JsonValue> reparsed = ParseJson(serialized);
    ASSERT_THAT(reparsed, IsOk());
    EXPECT_EQ(reparsed->Serialize(), serialized);
  }
}

TEST(JsonTest, EveryControlCharacterRoundTrips) {
  for (int c = 1; c < 0x20; ++c) {
    SCOPED_TRACE(::testing::Message() << "byte " << c);
    std::string s = absl::StrCat("x", std::string(1, static_cast<char>(c)));
    absl::StatusOr<JsonValue> reparsed =
        ParseJson(JsonValue::String(s).Serialize());
    ASSERT_THAT(reparsed, IsOk());
    EXPECT_EQ(reparsed->string_value(), s);
  }
}

}  // namespace
}  // namespace sigil::token
