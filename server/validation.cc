#include "server/validation.h"

#include "absl/container/flat_hash_set.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "token/utf8.h"

namespace sigil::server {
namespace {

constexpr size_t kMaxSubjectBytes = 256;
constexpr size_t kMaxSystemBytes = 128;
constexpr size_t kMaxScopeBytes = 128;
constexpr size_t kMaxSystems = 32;
constexpr size_t kMaxScopes = 64;

// Well-formed UTF-8 without C0/C1 controls or DEL.
bool IsPrintableUtf8(absl::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const size_t len = token::Utf8SequenceLength(s, i);
    if (len == 0) return false;
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (len == 1 && (c < 0x20 || c == 0x7f)) return false;
    // U+0080..U+009F are 0xc2 0x80..0x9f.
    if (len == 2 && c == 0xc2 && static_cast<unsigned char>(s[i + 1]) < 0xa0) {
      return false;
    }
    i += len;
  }
  return true;
}

bool IsSystemChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '.' || c == '_' || c == ':' ||
         c == '/' || c == '-';
}

}  // namespace

absl::Status ValidateSubject(absl::string_view subject) {
  if (subject.empty()) return absl::InvalidArgumentError("subject is required");
  if (subject.size() > kMaxSubjectBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("subject is longer than ", kMaxSubjectBytes, " bytes"));
  }
  if (!IsPrintableUtf8(subject)) {
    return absl::InvalidArgumentError(
        "subject must be UTF-8 without control characters");
  }
  return absl::OkStatus();
}

absl::Status ValidateSystem(absl::string_view system) {
  if (system.empty()) return absl::InvalidArgumentError("system is required");
  if (system.size() > kMaxSystemBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("system is longer than ", kMaxSystemBytes, " bytes"));
  }
  for (char c : system) {
    if (!IsSystemChar(c)) {
      return absl::InvalidArgumentError(
          absl::StrCat("system \"", absl::CHexEscape(system),
                       "\" may only contain letters, digits and . _ : / -"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateScope(absl::string_view scope) {
  if (scope.empty()) return absl::InvalidArgumentError("scope is empty");
  if (scope.size() > kMaxScopeBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("scope is longer than ", kMaxScopeBytes, " bytes"));
  }
  for (char c : scope) {
    if (c <= 0x20 || c >= 0x7f || c == '"' || c == '\\') {
      return absl::InvalidArgumentError(
          absl::StrCat("scope \"", absl::CHexEscape(scope),
                       "\" has a character outside RFC 6749 scope-token"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateIssue(absl::string_view subject,
                           absl::Span<const std::string> systems,
                           absl::Span<const std::string> scopes) {
  absl::Status valid = ValidateSubject(subject);
  if (!valid.ok()) return valid;
  if (systems.empty()) {
    return absl::InvalidArgumentError("at least one system is required");
  }
  if (systems.size() > kMaxSystems) {
    return absl::InvalidArgumentError(
        absl::StrCat("at most ", kMaxSystems, " systems per token"));
  }
  if (scopes.size() > kMaxScopes) {
    return absl::InvalidArgumentError(
        absl::StrCat("at most ", kMaxScopes, " scopes per token"));
  }
  absl::flat_hash_set<absl::string_view> seen;
  for (const std::string& system : systems) {
    valid = ValidateSystem(system);
    if (!valid.ok()) return valid;
    if (!seen.insert(system).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("system \"", system, "\" is listed twice"));
    }
  }
  for (const std::string& scope : scopes) {
    valid = ValidateScope(scope);
    if (!valid.ok()) return valid;
  }
  return absl::OkStatus();
}

}  // namespace sigil::server
