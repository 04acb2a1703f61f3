#include "server/auth/policy.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <initializer_list>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/json_util.h"
#include "sigil/v1/policy.pb.h"
#include "token/json.h"

namespace sigil::server::auth {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::TextFormat;

// SPIFFE IDs are at most 2048 bytes; DNS names far less.
constexpr size_t kMaxPrincipalBytes = 2048;
// The rule of server/validation.h's ValidateSystem, so that a policy cannot
// name a system that no request can.
constexpr size_t kMaxSystemBytes = 128;

std::string Quote(absl::string_view s) {
  return absl::StrCat("\"", absl::CHexEscape(s), "\"");
}

// URI and DNS SANs are IA5String, and the ones a CA issues are printable
// ASCII: anything else in a policy is a mistake (or a look-alike).
bool IsPrincipalChar(char c) { return c > ' ' && c < 0x7f; }

bool IsSystemChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '.' || c == '_' || c == ':' ||
         c == '/' || c == '-';
}

// Empty when `system` is a valid system name, else what is wrong with it.
std::string SystemProblem(absl::string_view system) {
  if (system.empty()) return "is empty";
  if (system.size() > kMaxSystemBytes) {
    return absl::StrCat("is longer than ", kMaxSystemBytes, " bytes");
  }
  for (char c : system) {
    if (!IsSystemChar(c)) {
      return absl::StrCat(Quote(system),
                          " may hold only letters, digits and . _ : / -");
    }
  }
  return "";
}

absl::Status ReadFile(const std::string& path, std::string* out) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return absl::ErrnoToStatus(errno,
                               absl::StrCat("cannot open policy ", path));
  }
  char buffer[1 << 14];
  for (;;) {
    const ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      const int error = errno;
      close(fd);
      return absl::ErrnoToStatus(error,
                                 absl::StrCat("cannot read policy ", path));
    }
    out->append(buffer, static_cast<size_t>(n));
  }
  close(fd);
  return absl::OkStatus();
}

// Keeps the first error only: later ones are usually its consequences.
class FirstError : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, google::protobuf::io::ColumnNumber column,
                const std::string& message) override {
    if (error_.empty()) {
      error_ = absl::StrCat(line + 1, ":", column + 1, ": ", message);
    }
  }
  const std::string& error() const { return error_; }

 private:
  std::string error_;
};

absl::Status ParseText(const std::string& path, const std::string& text,
                       sigil::v1::Policy* policy,
                       TextFormat::ParseInfoTree* locations) {
  FirstError errors;
  TextFormat::Parser parser;
  parser.RecordErrorsTo(&errors);
  parser.WriteLocationsTo(locations);
  if (!parser.ParseFromString(text, policy)) {
    return absl::InvalidArgumentError(absl::StrCat(path, ":", errors.error()));
  }
  return absl::OkStatus();
}

absl::Status ParseJsonPolicy(const std::string& path, const std::string& text,
                             sigil::v1::Policy* policy) {
  // Protobuf's JSON parser lets a repeated name override the first one; the
  // strict parser refuses it (and invalid UTF-8) first.
  token::JsonLimits limits;
  limits.max_bytes = text.size();
  limits.max_depth = 16;
  if (auto parsed = token::ParseJson(text, limits); !parsed.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", parsed.status().message()));
  }
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  const auto status =
      google::protobuf::util::JsonStringToMessage(text, policy, options);
  if (!status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", std::string(status.message())));
  }
  return absl::OkStatus();
}

// Error prefixes: "FILE:LINE: " for text format, where the parser recorded
// where each field was, and "FILE: " for JSON.
class Where {
 public:
  using Step = std::pair<const FieldDescriptor*, int>;  // field, index or -1

  Where(const std::string& path, const TextFormat::ParseInfoTree* locations)
      : path_(path), locations_(locations) {}

  // The line (1-based) of the deepest field along `steps` that the text
  // names, or 0 when unknown (JSON).
  int Line(std::initializer_list<Step> steps) const {
    int line = -1;
    const TextFormat::ParseInfoTree* tree = locations_;
    for (const Step& step : steps) {
      if (tree == nullptr) break;
      const int here = tree->GetLocation(step.first, step.second).line;
      if (here >= 0) line = here;
      tree = step.first->type() == FieldDescriptor::TYPE_MESSAGE
                 ? tree->GetTreeForNested(step.first, step.second)
                 : nullptr;
    }
    return line + 1;
  }

  std::string At(std::initializer_list<Step> steps) const {
    const int line = Line(steps);
    if (line == 0) return absl::StrCat(path_, ": ");
    return absl::StrCat(path_, ":", line, ": ");
  }

 private:
  const std::string& path_;
  const TextFormat::ParseInfoTree* locations_;
};

}  // namespace

template <typename HasRight, typename Lack>
absl::Status Policy::Check(const Caller& caller, HasRight has_right,
                           Lack lack) const {
  if (allow_all_) return absl::OkStatus();
  if (!caller.authenticated) {
    return absl::UnauthenticatedError(
        "caller presented no verified client certificate with a URI or DNS "
        "subject alternative name");
  }
  for (const std::string& identity : caller.identities) {
    const auto it = grants_.find(identity);
    if (it == grants_.end()) continue;
    if (it->second.admin || has_right(it->second)) return absl::OkStatus();
  }
  return absl::PermissionDeniedError(
      absl::StrCat("caller ", Quote(PrincipalOf(caller)), " ", lack()));
}

absl::StatusOr<Policy> Policy::Load(const std::string& path) {
  std::string text;
  if (absl::Status status = ReadFile(path, &text); !status.ok()) {
    return status;
  }
  sigil::v1::Policy proto;
  TextFormat::ParseInfoTree locations;
  const TextFormat::ParseInfoTree* where_fields = nullptr;
  absl::Status parsed;
  if (absl::EndsWith(path, ".textproto") || absl::EndsWith(path, ".txtpb") ||
      absl::EndsWith(path, ".pbtxt")) {
    parsed = ParseText(path, text, &proto, &locations);
    where_fields = &locations;
  } else if (absl::EndsWith(path, ".json")) {
    parsed = ParseJsonPolicy(path, text, &proto);
  } else {
    parsed = absl::InvalidArgumentError(absl::StrCat(
        path,
        ": unknown policy format: name the file *.textproto, *.txtpb, "
        "*.pbtxt (text format) or *.json"));
  }
  if (!parsed.ok()) return parsed;

  const Where where(path, where_fields);
  const auto* policy_fields = sigil::v1::Policy::descriptor();
  const auto* grant_fields = sigil::v1::Grant::descriptor();
  const FieldDescriptor* grants_field =
      policy_fields->FindFieldByName("grants");
  const FieldDescriptor* principal_field =
      grant_fields->FindFieldByName("principal");
  const FieldDescriptor* issuer_field = grant_fields->FindFieldByName("issuer");
  const FieldDescriptor* system_field = grant_fields->FindFieldByName("system");
  const FieldDescriptor* issuer_systems_field =
      sigil::v1::IssuerRole::descriptor()->FindFieldByName("systems");
  const FieldDescriptor* system_name_field =
      sigil::v1::SystemRole::descriptor()->FindFieldByName("name");

  Policy policy;
  absl::flat_hash_map<std::string, int> first_grant;  // principal -> index
  for (int i = 0; i < proto.grants_size(); ++i) {
    const sigil::v1::Grant& grant = proto.grants(i);
    const std::string name = absl::StrCat("grants[", i, "]");
    const auto error = [&](std::initializer_list<Where::Step> steps,
                           absl::string_view message) {
      return absl::InvalidArgumentError(
          absl::StrCat(where.At(steps), name, message));
    };
    const Where::Step at_grant{grants_field, i};
    const Where::Step at_principal{principal_field, -1};

    const std::string& principal = grant.principal();
    if (principal.empty()) {
      return error({at_grant, at_principal}, ".principal is empty");
    }
    if (principal.size() > kMaxPrincipalBytes) {
      return error({at_grant, at_principal},
                   absl::StrCat(".principal is longer than ",
                                kMaxPrincipalBytes, " bytes"));
    }
    for (char c : principal) {
      if (!IsPrincipalChar(c)) {
        return error({at_grant, at_principal},
                     absl::StrCat(".principal ", Quote(principal),
                                  " may hold only printable ASCII without "
                                  "spaces, as a URI or DNS name does"));
      }
    }
    if (const auto [it, fresh] = first_grant.emplace(principal, i); !fresh) {
      const int first_line = where.Line({{grants_field, it->second}});
      return error(
          {at_grant, at_principal},
          absl::StrCat(
              ".principal ", Quote(principal), " already has a grant: grants[",
              it->second, "]",
              first_line == 0 ? "" : absl::StrCat(" at line ", first_line),
              "; give each principal one grant with all "
              "its roles"));
    }
    if (!grant.has_issuer() && !grant.has_system() && !grant.admin()) {
      return error({at_grant},
                   absl::StrCat(" (", Quote(principal),
                                ") grants no role: set issuer, system or "
                                "admin"));
    }

    Roles roles;
    roles.admin = grant.admin();
    if (grant.has_issuer()) {
      const Where::Step at_issuer{issuer_field, -1};
      if (grant.issuer().systems().empty()) {
        return error({at_grant, at_issuer},
                     ".issuer lists no systems: name the systems it may "
                     "issue for");
      }
      for (int k = 0; k < grant.issuer().systems_size(); ++k) {
        const std::string& system = grant.issuer().systems(k);
        const Where::Step at_system{issuer_systems_field, k};
        if (std::string problem = SystemProblem(system); !problem.empty()) {
          return error({at_grant, at_issuer, at_system},
                       absl::StrCat(".issuer.systems[", k, "] ", problem));
        }
        if (!roles.issuer_for.insert(system).second) {
          return error({at_grant, at_issuer, at_system},
                       absl::StrCat(".issuer.systems[", k, "] ", Quote(system),
                                    " is listed twice"));
        }
      }
    }
    if (grant.has_system()) {
      const std::string& system = grant.system().name();
      if (std::string problem = SystemProblem(system); !problem.empty()) {
        return error({at_grant, {system_field, -1}, {system_name_field, -1}},
                     absl::StrCat(".system.name ", problem));
      }
      roles.system = system;
    }
    policy.grants_.emplace(principal, std::move(roles));
  }
  return policy;
}

Policy Policy::AllowAll() {
  Policy policy;
  policy.allow_all_ = true;
  return policy;
}

absl::Status Policy::CheckIssuer(const Caller& caller,
                                 absl::Span<const std::string> systems,
                                 absl::string_view verb) const {
  if (systems.empty()) {
    return Check(
        caller, [](const Roles& roles) { return !roles.issuer_for.empty(); },
        [&] {
          return absl::StrCat("may not ", verb, ": it holds no issuer grant");
        });
  }
  for (const std::string& system : systems) {
    absl::Status status = Check(
        caller,
        [&](const Roles& roles) { return roles.issuer_for.contains(system); },
        [&] {
          return absl::StrCat("may not ", verb, " for system ", Quote(system),
                              ": it holds no issuer grant for it");
        });
    if (!status.ok()) return status;
  }
  return absl::OkStatus();
}

absl::Status Policy::MayIssue(const Caller& caller,
                              absl::Span<const std::string> systems) const {
  return CheckIssuer(caller, systems, "issue");
}

absl::Status Policy::MayRefresh(const Caller& caller,
                                absl::Span<const std::string> systems) const {
  return CheckIssuer(caller, systems, "refresh");
}

absl::Status Policy::MayVerify(const Caller& caller,
                               absl::string_view system) const {
  return Check(
      caller, [&](const Roles& roles) { return roles.system == system; },
      [&] {
        return absl::StrCat("may not verify for system ", Quote(system),
                            ": it holds no system grant for it");
      });
}

absl::Status Policy::MayLogoutFromSystem(const Caller& caller,
                                         absl::string_view system) const {
  return Check(
      caller, [&](const Roles& roles) { return roles.system == system; },
      [&] {
        return absl::StrCat("may not log subjects out of system ",
                            Quote(system), ": it holds no system grant for it");
      });
}

absl::Status Policy::MayActForTokenAudience(
    const Caller& caller, absl::Span<const std::string> audience) const {
  return Check(
      caller,
      [&](const Roles& roles) {
        if (roles.system.empty()) return false;
        for (const std::string& system : audience) {
          if (roles.system == system) return true;
        }
        return false;
      },
      [&] {
        return absl::StrCat(
            "may not act on a token for ",
            absl::StrJoin(audience, ", ",
                          [](std::string* out, const std::string& system) {
                            out->append(Quote(system));
                          }),
            ": it holds no system grant for any of them");
      });
}

absl::Status Policy::MayWatch(const Caller& caller) const {
  return Check(
      caller, [](const Roles& roles) { return !roles.system.empty(); },
      [] { return "may not watch revocations: it holds no system grant"; });
}

absl::Status Policy::IsAdmin(const Caller& caller) const {
  return Check(
      caller, [](const Roles&) { return false; },
      [] { return "is not an admin"; });
}

}  // namespace sigil::server::auth
