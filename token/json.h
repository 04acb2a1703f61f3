#ifndef SIGIL_TOKEN_JSON_H_
#define SIGIL_TOKEN_JSON_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sigil::token {

// A parsed JSON value (RFC 8259). Objects keep their members in input order
// and never hold duplicate names. Numbers keep their literal text so that
// callers decide what they accept (see AsInt64).
class JsonValue {
 public:
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };
  using Member = std::pair<std::string, JsonValue>;

  JsonValue() = default;  // null
  static JsonValue Bool(bool b);
  static JsonValue Number(int64_t n);
  static JsonValue String(std::string s);
  static JsonValue Array(std::vector<JsonValue> items);
  static JsonValue Object(std::vector<Member> members);

  Type type() const { return type_; }
  bool is_string() const { return type_ == Type::kString; }
  bool is_object() const { return type_ == Type::kObject; }
  bool is_array() const { return type_ == Type::kArray; }

  bool bool_value() const { return bool_; }
  // String contents (kString) or the number literal (kNumber).
  const std::string& string_value() const { return text_; }
  const std::vector<JsonValue>& items() const { return items_; }
  const std::vector<Member>& members() const { return members_; }

  // The member named `name` of an object, or nullptr.
  const JsonValue* Find(absl::string_view name) const;

  // A number written as a plain integer (optional '-', digits, no fraction
  // or exponent) that fits in int64; nullopt for anything else.
  std::optional<int64_t> AsInt64() const;

  // Compact serialization; strings are escaped per RFC 8259.
  std::string Serialize() const;

  // Used only by the parser.
  static JsonValue NumberLiteral(std::string literal);

 private:
  Type type_ = Type::kNull;
  bool bool_ = false;
  std::string text_;
  std::vector<JsonValue> items_;
  std::vector<Member> members_;
};

struct JsonLimits {
  size_t max_bytes = 8 * 1024;
  int max_depth = 8;
};

// Strict parsing: exactly one value with optional surrounding whitespace,
// no duplicate object names (compared after unescaping), valid UTF-8 only,
// no NUL or other control characters in strings or escapes producing NUL,
// no lone surrogates, input and nesting within `limits`. INVALID_ARGUMENT
// with a short message otherwise.
absl::StatusOr<JsonValue> ParseJson(absl::string_view text,
                                    const JsonLimits& limits = {});

}  // namespace sigil::token

#endif  // SIGIL_TOKEN_JSON_H_
