#include "token/json.h"

#include <algorithm>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "token/utf8.h"

namespace sigil::token {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xc0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xe0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else {
    out->push_back(static_cast<char>(0xf0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  }
}

// Recursive descent over RFC 8259, refusing everything the RFC leaves to
// the implementation (duplicates, lone surrogates, invalid UTF-8) so that
// no two JOSE libraries can read the same bytes differently.
class Parser {
 public:
  Parser(absl::string_view text, const JsonLimits& limits)
      : text_(text), limits_(limits) {}

  absl::StatusOr<JsonValue> ParseDocument() {
    if (text_.size() > limits_.max_bytes) return Error("input too large");
    JsonValue value;
    absl::Status status = ParseValue(0, &value);
    if (!status.ok()) return status;
    SkipWhitespace();
    if (pos_ != text_.size()) return Error("trailing data");
    return value;
  }

 private:
  absl::Status Error(absl::string_view what) const {
    return absl::InvalidArgumentError(
        absl::StrCat("json: ", what, " at offset ", pos_));
  }

  bool AtEnd() const { return pos_ >= text_.size(); }
  char Peek() const { return text_[pos_]; }

  void SkipWhitespace() {
    while (!AtEnd()) {
      char c = Peek();
      if (c != ' ' && c != '\t' && c != '\n' && c != '\r') return;
      ++pos_;
    }
  }

  bool ConsumeLiteral(absl::string_view literal) {
    if (text_.substr(pos_, literal.size()) != literal) return false;
    pos_ += literal.size();
    return true;
  }

  // `depth` counts the arrays and objects enclosing the value.
  absl::Status ParseValue(int depth, JsonValue* out) {
    SkipWhitespace();
    if (AtEnd()) return Error("unexpected end of input");
    char c = Peek();
    switch (c) {
      case '{':
        return ParseObject(depth + 1, out);
      case '[':
        return ParseArray(depth + 1, out);
      case '"': {
        std::string s;
        absl::Status status = ParseString(&s);
        if (!status.ok()) return status;
        *out = JsonValue::String(std::move(s));
        return absl::OkStatus();
      }
      case 't':
        if (!ConsumeLiteral("true")) break;
        *out = JsonValue::Bool(true);
        return absl::OkStatus();
      case 'f':
        if (!ConsumeLiteral("false")) break;
        *out = JsonValue::Bool(false);
        return absl::OkStatus();
      case 'n':
        if (!ConsumeLiteral("null")) break;
        *out = JsonValue();
        return absl::OkStatus();
      default:
        if (c == '-' || IsDigit(c)) return ParseNumber(out);
        break;
    }
    return Error("unexpected character");
  }

  absl::Status ParseObject(int depth, JsonValue* out) {
    if (depth > limits_.max_depth) return Error("nesting too deep");
    ++pos_;  // '{'
    std::vector<JsonValue::Member> members;
    SkipWhitespace();
    if (!AtEnd() && Peek() == '}') {
      ++pos_;
      *out = JsonValue::Object(std::move(members));
      return absl::OkStatus();
    }
    while (true) {
      SkipWhitespace();
      if (AtEnd() || Peek() != '"') return Error("expected member name");
      std::string name;
      absl::Status status = ParseString(&name);
      if (!status.ok()) return status;
      SkipWhitespace();
      if (AtEnd() || Peek() != ':') return Error("expected ':'");
      ++pos_;
      JsonValue value;
      status = ParseValue(depth, &value);
      if (!status.ok()) return status;
      members.emplace_back(std::move(name), std::move(value));
      SkipWhitespace();
      if (AtEnd()) return Error("unterminated object");
      if (Peek() == ',') {
        ++pos_;
        continue;
      }
      if (Peek() == '}') {
        ++pos_;
        break;
      }
      return Error("expected ',' or '}'");
    }
    if (HasDuplicateName(members)) return Error("duplicate member name");
    *out = JsonValue::Object(std::move(members));
    return absl::OkStatus();
  }

  static bool HasDuplicateName(const std::vector<JsonValue::Member>& members) {
    std::vector<absl::string_view> names;
    names.reserve(members.size());
    for (const JsonValue::Member& m : members) names.push_back(m.first);
    std::sort(names.begin(), names.end());
    return std::adjacent_find(names.begin(), names.end()) != names.end();
  }

  absl::Status ParseArray(int depth, JsonValue* out) {
    if (depth > limits_.max_depth) return Error("nesting too deep");
    ++pos_;  // '['
    std::vector<JsonValue> items;
    SkipWhitespace();
    if (!AtEnd() && Peek() == ']') {
      ++pos_;
      *out = JsonValue::Array(std::move(items));
      return absl::OkStatus();
    }
    while (true) {
      JsonValue item;
      absl::Status status = ParseValue(depth, &item);
      if (!status.ok()) return status;
      items.push_back(std::move(item));
      SkipWhitespace();
      if (AtEnd()) return Error("unterminated array");
      if (Peek() == ',') {
        ++pos_;
        continue;
      }
      if (Peek() == ']') {
        ++pos_;
        break;
      }
      return Error("expected ',' or ']'");
    }
    *out = JsonValue::Array(std::move(items));
    return absl::OkStatus();
  }

  // -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
  absl::Status ParseNumber(JsonValue* out) {
    size_t start = pos_;
    if (Peek() == '-') ++pos_;
    if (AtEnd() || !IsDigit(Peek())) return Error("invalid number");
    if (Peek() == '0') {
      ++pos_;
    } else {
      while (!AtEnd() && IsDigit(Peek())) ++pos_;
    }
    if (!AtEnd() && Peek() == '.') {
      ++pos_;
      if (AtEnd() || !IsDigit(Peek())) return Error("invalid number");
      while (!AtEnd() && IsDigit(Peek())) ++pos_;
    }
    if (!AtEnd() && (Peek() == 'e' || Peek() == 'E')) {
      ++pos_;
      if (!AtEnd() && (Peek() == '+' || Peek() == '-')) ++pos_;
      if (AtEnd() || !IsDigit(Peek())) return Error("invalid number");
      while (!AtEnd() && IsDigit(Peek())) ++pos_;
    }
    *out = JsonValue::NumberLiteral(
        std::string(text_.substr(start, pos_ - start)));
    return absl::OkStatus();
  }

  absl::Status ParseString(std::string* out) {
    ++pos_;  // '"'
    while (true) {
      if (AtEnd()) return Error("unterminated string");
      unsigned char c = static_cast<unsigned char>(Peek());
      if (c == '"') {
        ++pos_;
        return absl::OkStatus();
      }
      if (c == '\\') {
        absl::Status status = ParseEscape(out);
        if (!status.ok()) return status;
      } else if (c < 0x20) {
        return Error("control character in string");
      } else if (c < 0x80) {
        out->push_back(static_cast<char>(c));
        ++pos_;
      } else {
        size_t len = Utf8SequenceLength(text_, pos_);
        if (len == 0) return Error("invalid utf-8");
        out->append(text_.data() + pos_, len);
        pos_ += len;
      }
    }
  }

  // Reads the four hex digits after "\u" at pos_.
  bool ParseHex4(uint32_t* cp) {
    if (text_.size() - pos_ < 4) return false;
    uint32_t v = 0;
    for (size_t i = 0; i < 4; ++i) {
      int h = HexValue(text_[pos_ + i]);
      if (h < 0) return false;
      v = (v << 4) | static_cast<uint32_t>(h);
    }
    pos_ += 4;
    *cp = v;
    return true;
  }

  absl::Status ParseEscape(std::string* out) {
    ++pos_;  // '\'
    if (AtEnd()) return Error("unterminated string");
    char c = Peek();
    ++pos_;
    switch (c) {
      case '"':
      case '\\':
      case '/':
        out->push_back(c);
        return absl::OkStatus();
      case 'b':
        out->push_back('\b');
        return absl::OkStatus();
      case 'f':
        out->push_back('\f');
        return absl::OkStatus();
      case 'n':
        out->push_back('\n');
        return absl::OkStatus();
      case 'r':
        out->push_back('\r');
        return absl::OkStatus();
      case 't':
        out->push_back('\t');
        return absl::OkStatus();
      case 'u':
        break;
      default:
        return Error("invalid escape");
    }
    uint32_t cp;
    if (!ParseHex4(&cp)) return Error("invalid \\u escape");
    if (cp == 0) return Error("nul character in string");
    if (cp >= 0xdc00 && cp <= 0xdfff) return Error("unpaired surrogate");
    if (cp >= 0xd800 && cp <= 0xdbff) {
      uint32_t low;
      if (!ConsumeLiteral("\\u")) return Error("unpaired surrogate");
      if (!ParseHex4(&low)) return Error("invalid \\u escape");
      if (low < 0xdc00 || low > 0xdfff) return Error("unpaired surrogate");
      cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
    }
    AppendUtf8(cp, out);
    return absl::OkStatus();
  }

  absl::string_view text_;
  const JsonLimits& limits_;
  size_t pos_ = 0;
};

void AppendQuoted(absl::string_view s, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  for (char ch : s) {
    unsigned char c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\b':
        out->append("\\b");
        break;
      case '\f':
        out->append("\\f");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      default:
        if (c < 0x20) {
          out->append("\\u00");
          out->push_back(kHex[c >> 4]);
          out->push_back(kHex[c & 0xf]);
        } else {
          out->push_back(ch);
        }
    }
  }
  out->push_back('"');
}

void AppendValue(const JsonValue& v, std::string* out) {
  switch (v.type()) {
    case JsonValue::Type::kNull:
      out->append("null");
      return;
    case JsonValue::Type::kBool:
      out->append(v.bool_value() ? "true" : "false");
      return;
    case JsonValue::Type::kNumber:
      out->append(v.string_value());
      return;
    case JsonValue::Type::kString:
      AppendQuoted(v.string_value(), out);
      return;
    case JsonValue::Type::kArray: {
      out->push_back('[');
      bool first = true;
      for (const JsonValue& item : v.items()) {
        if (!first) out->push_back(',');
        first = false;
        AppendValue(item, out);
      }
      out->push_back(']');
      return;
    }
    case JsonValue::Type::kObject: {
      out->push_back('{');
      bool first = true;
      for (const JsonValue::Member& m : v.members()) {
        if (!first) out->push_back(',');
        first = false;
        AppendQuoted(m.first, out);
        out->push_back(':');
        AppendValue(m.second, out);
      }
      out->push_back('}');
      return;
    }
  }
}

}  // namespace

JsonValue JsonValue::Bool(bool b) {
  JsonValue v;
  v.type_ = Type::kBool;
  v.bool_ = b;
  return v;
}

JsonValue JsonValue::Number(int64_t n) {
  return NumberLiteral(absl::StrCat(n));
}

JsonValue JsonValue::NumberLiteral(std::string literal) {
  JsonValue v;
  v.type_ = Type::kNumber;
  v.text_ = std::move(literal);
  return v;
}

JsonValue JsonValue::String(std::string s) {
  JsonValue v;
  v.type_ = Type::kString;
  v.text_ = std::move(s);
  return v;
}

JsonValue JsonValue::Array(std::vector<JsonValue> items) {
  JsonValue v;
  v.type_ = Type::kArray;
  v.items_ = std::move(items);
  return v;
}

JsonValue JsonValue::Object(std::vector<Member> members) {
  JsonValue v;
  v.type_ = Type::kObject;
  v.members_ = std::move(members);
  return v;
}

const JsonValue* JsonValue::Find(absl::string_view name) const {
  for (const Member& m : members_) {
    if (m.first == name) return &m.second;
  }
  return nullptr;
}

std::optional<int64_t> JsonValue::AsInt64() const {
  if (type_ != Type::kNumber) return std::nullopt;
  absl::string_view digits = text_;
  if (!digits.empty() && digits.front() == '-') digits.remove_prefix(1);
  if (digits.empty() || !std::all_of(digits.begin(), digits.end(), IsDigit)) {
    return std::nullopt;
  }
  int64_t n;
  // SimpleAtoi fails on overflow, which is what rejects out-of-range values.
  if (!absl::SimpleAtoi(text_, &n)) return std::nullopt;
  return n;
}

std::string JsonValue::Serialize() const {
  std::string out;
  AppendValue(*this, &out);
  return out;
}

absl::StatusOr<JsonValue> ParseJson(absl::string_view text,
                                    const JsonLimits& limits) {
  return Parser(text, limits).ParseDocument();
}

}  // namespace sigil::token
