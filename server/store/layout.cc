#include "server/store/layout.h"

#include "absl/strings/str_cat.h"

namespace sigil::server::store {

std::string EncodeFixed64(uint64_t value) {
  std::string out(8, '\0');
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<char>(value & 0xff);
    value >>= 8;
  }
  return out;
}

bool DecodeFixed64(absl::string_view in, uint64_t* value) {
  if (in.size() != 8) return false;
  uint64_t v = 0;
  for (char c : in) v = (v << 8) | static_cast<unsigned char>(c);
  *value = v;
  return true;
}

std::string Frame(int64_t expires_us, absl::string_view record) {
  return absl::StrCat(EncodeFixed64(static_cast<uint64_t>(expires_us)), record);
}

bool Unframe(absl::string_view value, int64_t* expires_us,
             absl::string_view* record) {
  uint64_t expires = 0;
  if (!DecodeFixed64(value.substr(0, 8), &expires)) return false;
  *expires_us = static_cast<int64_t>(expires);
  *record = value.substr(8);
  return true;
}

std::string RevocationKey(const token::Revocation& revocation) {
  switch (revocation.scope) {
    case token::RevocationScope::kToken:
      return absl::StrCat("t/", revocation.token_id);
    case token::RevocationScope::kSession:
      return absl::StrCat("s/", revocation.session_id);
    case token::RevocationScope::kSubjectSystem:
      return absl::StrCat("x/", revocation.subject, absl::string_view("\0", 1),
                          revocation.system);
    case token::RevocationScope::kSubject:
      return absl::StrCat("u/", revocation.subject);
  }
  return std::string();
}

absl::Status CheckSubject(absl::string_view subject) {
  if (subject.find('\0') != absl::string_view::npos) {
    return absl::InvalidArgumentError("subject contains a nul byte");
  }
  return absl::OkStatus();
}

std::string SessionKey(absl::string_view subject,
                       absl::string_view session_id) {
  return absl::StrCat(SessionPrefix(subject), session_id);
}

std::string SessionPrefix(absl::string_view subject) {
  return absl::StrCat("s/", subject, absl::string_view("\0", 1));
}

std::string RefreshKey(absl::string_view hash) {
  return absl::StrCat("r/", hash);
}

std::string CounterKey(absl::string_view subject, absl::string_view system) {
  return absl::StrCat(CounterPrefix(subject), system);
}

std::string CounterPrefix(absl::string_view subject) {
  return absl::StrCat("c/", subject, absl::string_view("\0", 1));
}

}  // namespace sigil::server::store
